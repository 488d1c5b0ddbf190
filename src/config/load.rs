//! Loading: the TOML file (or the embedded defaults) → the raw sections, normalised and checked key by
//! key, every problem reported at once with its file, section, key and line.

use std::net::SocketAddr;
use std::path::Path;

use super::{Config, MAX_REMEMBER_DAYS, MAX_WORKER_THREADS};
use crate::bounce;

/// A configuration that cannot be used. Messages name the file (and line, via the TOML parser).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("configuration file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("configuration file {path}: {}", join(problems))]
    Invalid {
        path: String,
        /// Every problem found, in the order of the sections.
        problems: Vec<Problem>,
    },
}

/// One key with a value that cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub section: &'static str,
    pub key: &'static str,
    /// The key's line in the file, when it is written there (a default has none).
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        write!(f, "[{}] {}: {}", self.section, self.key, self.message)
    }
}

fn join(problems: &[Problem]) -> String {
    let texts: Vec<String> = problems.iter().map(Problem::to_string).collect();
    texts.join("; ")
}

/// The line (1-based) where `key` is set in `[section]` of `text`, or where its array of tables
/// `[[section.key]]` starts. A plain scan of the TOML lines: enough to point at the value.
fn line_of(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = "";
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_start_matches('[');
            let header = header.split(']').next().unwrap_or_default().trim();
            if header == format!("{section}.{key}") {
                return Some(i + 1);
            }
            current = header;
            continue;
        }
        if current == section {
            if let Some(rest) = line.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return Some(i + 1);
                }
            }
        }
    }
    None
}

/// The name used in messages for the embedded defaults.
pub const EMBEDDED_NAME: &str = "(embedded defaults)";

impl Config {
    /// Load `path` (every key optional, merged with the defaults) or, with `None`, the embedded defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            None => {
                let config = Config::default();
                config.validate(EMBEDDED_NAME, "")?;
                Ok(config)
            }
            Some(path) => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: name.clone(),
                    source,
                })?;
                Config::parse(&text, &name)
            }
        }
    }

    /// Parse configuration text; `name` is used in error messages.
    pub fn parse(text: &str, name: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: name.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.normalise();
        config.validate(name, text)?;
        Ok(config)
    }

    /// Lowercase what is compared case-insensitively, once.
    fn normalise(&mut self) {
        for d in &mut self.organisation.local_domains {
            *d = d.trim().trim_start_matches('@').to_lowercase();
        }
        for c in &mut self.exemptions.counsellors {
            *c = c.trim().to_lowercase();
        }
        for r in &mut self.exemptions.report_to {
            *r = r.trim().to_lowercase();
        }
        for s in &mut self.exemptions.sensitivity {
            *s = s.trim().to_lowercase();
        }
        for s in &mut self.exemptions.subject_labels {
            *s = s.trim().to_lowercase();
        }
        // Pupil and staff address patterns (rules' `sender-role`/`recipient-role`).
        for a in self
            .organisation
            .pupils
            .iter_mut()
            .chain(self.organisation.staff.iter_mut())
        {
            *a = a.trim().to_lowercase();
        }
        for p in &mut self.organisation.send_as {
            p.sender = p.sender.trim().to_lowercase();
            p.from = p.from.trim().to_lowercase();
        }
    }

    /// Check every key; all problems are reported at once, each with its line in `text` when found there.
    fn validate(&self, name: &str, text: &str) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut invalid = |section: &'static str, key: &'static str, message: String| {
            problems.push(Problem {
                line: line_of(text, section, key),
                section,
                key,
                message,
            });
        };
        for (key, value) in [
            ("listen", &self.smtp.listen),
            ("next_hop", &self.smtp.next_hop),
        ] {
            if value.parse::<SocketAddr>().is_err() && !looks_like_host_port(value) {
                invalid("smtp", key, format!("{value:?} is not host:port"));
            }
        }
        for (key, value) in [
            ("max_message_size", self.smtp.max_message_size as u64),
            ("max_recipients", self.smtp.max_recipients as u64),
            ("max_connections", self.smtp.max_connections as u64),
            ("timeout_secs", self.smtp.timeout_secs),
            ("command_timeout_secs", self.smtp.command_timeout_secs),
            ("data_timeout_secs", self.smtp.data_timeout_secs),
            ("pool_size", self.smtp.pool_size as u64),
        ] {
            if value == 0 {
                invalid("smtp", key, "must be greater than 0".into());
            }
        }
        if self.runtime.worker_threads > MAX_WORKER_THREADS {
            invalid(
                "runtime",
                "worker_threads",
                format!(
                    "{} is more than {MAX_WORKER_THREADS} (0 means one per CPU core)",
                    self.runtime.worker_threads
                ),
            );
        }
        if crate::milter::ListenAddr::parse(&self.milter.listen).is_none() {
            invalid(
                "milter",
                "listen",
                format!(
                    "{:?} is not host:port or unix:/absolute/path",
                    self.milter.listen
                ),
            );
        }
        for (key, value) in [
            ("max_connections", self.milter.max_connections as u64),
            ("timeout_secs", self.milter.timeout_secs),
        ] {
            if value == 0 {
                invalid("milter", key, "must be greater than 0".into());
            }
        }
        if let Err(e) = crate::scan::ClamdAddr::parse(&self.scan.clamd) {
            invalid("scan", "clamd", e.to_string());
        }
        for (key, value) in [
            ("timeout_secs", self.scan.timeout_secs),
            ("max_stream", self.scan.max_stream),
        ] {
            if value == 0 {
                invalid("scan", key, "must be greater than 0".into());
            }
        }
        if !(1..=MAX_REMEMBER_DAYS).contains(&self.bounce.remember_days) {
            invalid(
                "bounce",
                "remember_days",
                format!(
                    "{} is not between 1 and {MAX_REMEMBER_DAYS} (Postfix's maximal_queue_lifetime, default 5)",
                    self.bounce.remember_days
                ),
            );
        }
        for (key, message) in self.storage.validate() {
            invalid("storage", key, message);
        }
        if self.quarantine.retention_days == 0 {
            invalid(
                "quarantine",
                "retention_days",
                "must be greater than 0".into(),
            );
        }
        let alert_addresses = self.quarantine.notify.iter().map(|a| ("notify", a));
        for (key, address) in alert_addresses.chain(
            self.quarantine
                .notify_sender
                .iter()
                .map(|a| ("notify_sender", a)),
        ) {
            if let Err(e) = bounce::check_address(address) {
                invalid(
                    "quarantine",
                    key,
                    format!("{address:?} is not a usable address ({e:?})"),
                );
            }
        }
        if let Err((key, message)) = self.web.validate() {
            invalid("web", key, message);
        }
        if let Err((key, message)) = self.validate_traffic() {
            invalid("traffic", key, message);
        }
        if let Some(listen) = &self.metrics.listen {
            match listen.parse::<SocketAddr>() {
                Ok(a) if a.ip().is_loopback() => {}
                Ok(_) => invalid(
                    "metrics",
                    "listen",
                    format!("{listen:?} is not a loopback address (use 127.0.0.1 or [::1])"),
                ),
                Err(_) => invalid("metrics", "listen", format!("{listen:?} is not ip:port")),
            }
        }
        // As the notice sender and the DSN use them (a name Postfix cannot take in EHLO, or one no notice
        // can carry in Reporting-MTA, stopped serve or made every bounce a 451).
        for (section, key, name) in [
            ("smtp", "hostname", &self.smtp.hostname),
            ("bounce", "reporting_mta", &self.bounce.reporting_mta),
        ] {
            if bounce::check_host_name(name).is_err() {
                let rule = "letters, digits, '-' and '.', or an address literal in brackets";
                invalid(
                    section,
                    key,
                    format!("{name:?} is not a host name ({rule})"),
                );
            }
        }
        if !(self.policy.threshold.is_finite() && self.policy.threshold > 0.0) {
            invalid(
                "policy",
                "threshold",
                format!("{} must be a number above 0", self.policy.threshold),
            );
        }
        for d in &self.organisation.local_domains {
            if d.is_empty() || d.contains('@') || d.contains(char::is_whitespace) {
                invalid(
                    "organisation",
                    "local_domains",
                    format!("{d:?} is not a domain"),
                );
            }
        }
        for (key, list, what) in [
            ("counsellors", &self.exemptions.counsellors, "an address"),
            (
                "report_to",
                &self.exemptions.report_to,
                "an address or *@domain",
            ),
        ] {
            for bad in list.iter().filter(|a| !a.contains('@')) {
                invalid("exemptions", key, format!("{bad:?} is not {what}"));
            }
        }
        // Pupil and staff address patterns: an address or a glob with an `@`.
        for (key, list) in [
            ("pupils", &self.organisation.pupils),
            ("staff", &self.organisation.staff),
        ] {
            for bad in list.iter().filter(|a| !a.contains('@')) {
                invalid(
                    "organisation",
                    key,
                    format!("{bad:?} is not an address or *@domain"),
                );
            }
        }
        for (key, w) in [
            ("quote_weight", self.policy.quote_weight),
            ("reported_speech_weight", self.policy.reported_speech_weight),
        ] {
            if !(0.0..=1.0).contains(&w) {
                invalid("policy", key, format!("{w} is not between 0.0 and 1.0"));
            }
        }
        for p in &self.organisation.send_as {
            for side in [&p.sender, &p.from] {
                if side != "*" && !side.contains('@') {
                    invalid(
                        "organisation",
                        "send_as",
                        format!("{side:?} is not an address, *@domain or *"),
                    );
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                path: name.to_string(),
                problems,
            })
        }
    }
}

/// `host:port` with a name rather than an IP address (e.g. `localhost:10026`).
fn looks_like_host_port(value: &str) -> bool {
    match value.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains(char::is_whitespace) && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}
