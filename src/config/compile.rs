//! Compiling: the loaded sections → [`Compiled`], what the daemon runs (as ripgrep's `hiargs.rs` turns
//! low-level flags into the expensive objects). Rules, scanner and templates are built here once, the next
//! hop and a notice are tried as mail would use them, and each component's settings are made from the
//! sections, so no component reads a raw section.

use std::time::Duration;

use super::Config;
use crate::bounce::{self, BounceSettings};
use crate::filter::{Engine, EngineError};
use crate::policy::{PolicySettings, ScanOnError, Screen};
use crate::rules::{Mode, RuleSet};
use crate::scan::{BuiltinScanner, ClamdAddr, ClamdScanner, ScanBackend, Scanner};

/// A configuration with everything the daemon builds from it: the one result of [`Config::compile`].
pub struct Compiled {
    /// The validated sections (what `mailwacht config` prints).
    pub config: Config,
    /// Rules, scanner, policy and notice settings (the bounce's among them), compiled once.
    pub engine: Engine,
    /// The SMTP server's settings (`[smtp]`).
    pub server: crate::smtp::ServerSettings,
    /// The milter server's settings (`[milter]`, with `[smtp]`'s size limit and grace).
    pub milter: crate::milter::MilterSettings,
    /// The next-hop client's settings (relaying, releases and notices go there).
    pub next_hop: crate::smtp::NextHopSettings,
    /// What the review service answers traffic questions with (`[traffic]`).
    pub traffic: crate::admin::TrafficSettings,
    /// Where it came from: the file, or [`super::EMBEDDED_NAME`] (the daemon's start line names it).
    pub name: String,
}

/// A configuration that loads but cannot run: every problem found, each naming its section and key.
#[derive(Debug, thiserror::Error)]
#[error("configuration {path}: {}", problems.join("; "))]
pub struct CompileError {
    /// The file (or [`super::EMBEDDED_NAME`]).
    pub path: String,
    /// One line per problem: `[section] key: what is wrong`, or the file that cannot be used.
    pub problems: Vec<String>,
}

impl Config {
    /// Compile rules, load the scanner's hash list and the bounce templates. Nothing is half-applied: on
    /// error the caller keeps the engine it had.
    pub fn engine(&self) -> Result<Engine, EngineError> {
        let config = self;
        let mut rules = match &config.rules.dir {
            Some(dir) => RuleSet::load_dir(dir)?,
            None => RuleSet::embedded()?,
        };
        for (key, patterns, mode) in [
            ("enforce", &config.rules.enforce, Mode::Enforce),
            ("monitor", &config.rules.monitor, Mode::Monitor),
        ] {
            rules
                .set_mode(patterns, mode)
                .map_err(|message| EngineError::Invalid {
                    path: format!("[rules] {key}"),
                    message,
                })?;
        }
        let scanner: Box<dyn Scanner> = match config.scan.backend {
            ScanBackend::Builtin => {
                let builtin = match &config.scan.hash_file {
                    Some(path) => {
                        let text = read_text("hash file", path)?;
                        let hashes = crate::scan::parse_hash_list(&text).map_err(|e| {
                            EngineError::Invalid {
                                path: path.display().to_string(),
                                message: e.to_string(),
                            }
                        })?;
                        BuiltinScanner::new(config.limits.clone(), hashes)
                    }
                    None => BuiltinScanner::embedded(config.limits.clone()),
                };
                Box::new(builtin)
            }
            ScanBackend::Clamd => {
                let addr =
                    ClamdAddr::parse(&config.scan.clamd).map_err(|e| EngineError::Invalid {
                        path: "[scan] clamd".into(),
                        message: e.to_string(),
                    })?;
                Box::new(ClamdScanner::new(
                    addr,
                    Duration::from_secs(config.scan.timeout_secs),
                    config.scan.max_stream,
                ))
            }
        };
        let mut templates = [None, None];
        for (slot, path) in templates
            .iter_mut()
            .zip([&config.bounce.template_nl, &config.bounce.template_en])
        {
            if let Some(path) = path {
                let text = read_text("bounce template", path)?;
                bounce::validate_template(&text).map_err(|e| EngineError::Invalid {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                *slot = Some(text);
            }
        }
        let [template_nl, template_en] = templates;
        Ok(Engine {
            rules,
            policy: config.policy_settings(),
            org: config.org_context(),
            limits: config.limits.clone(),
            scanner,
            bounce: BounceSettings {
                reporting_mta: config.bounce.reporting_mta.clone(),
                organisation: config.organisation.name.clone(),
                helpdesk: config.organisation.helpdesk.clone(),
                template_nl,
                template_en,
            },
            bounce_mode: config.policy.bounce_mode,
            notices: config.notice_policy(),
            on_unnotifiable: config.policy.on_unnotifiable,
            remember: Duration::from_secs(config.bounce.remember_days.saturating_mul(86_400)),
            alerts: crate::filter::alerts::AlertSettings {
                notify: config.quarantine.notify.clone(),
                each: config.quarantine.notify_each,
                digest: config.quarantine.digest,
                sender: config.quarantine.notify_sender.clone(),
                hostname: config.smtp.hostname.clone(),
                organisation: config.organisation.name.clone(),
            },
        })
    }

    /// The one step `mailwacht config`, `serve` and a reload (SIGHUP) all run, so what `config` accepts
    /// `serve` runs and a reload applies: compile the engine (rules, hash list, templates) and try what
    /// would otherwise fail only when mail flows: the next hop as the notice sender parses it, and a DSN
    /// built with `[bounce] reporting_mta` and the templates (a notice that cannot be built is a `451` for
    /// every bounced message). Every problem is reported, not only the first. (The host names themselves
    /// are checked when the file loads, with their lines.)
    pub fn compile(self, path: &str) -> Result<Compiled, CompileError> {
        let mut problems = Vec::new();
        // Checked as the notice sender parses it: `serve --next-hop` replaces the loaded value.
        if let Err(e) = bounce::check_next_hop(&self.smtp.next_hop) {
            problems.push(format!("[smtp] next_hop: {e}"));
        }
        let engine = match self.engine() {
            Ok(engine) => Some(engine),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        if let Some(engine) = &engine {
            if let Err(e) = bounce::probe_dsn(&engine.bounce) {
                problems.push(format!("[bounce]: a notice cannot be built: {e}"));
            }
        }
        match engine {
            Some(engine) if problems.is_empty() => Ok(Compiled {
                server: self.server_settings(),
                milter: self.milter_settings(),
                next_hop: self.next_hop_settings(),
                traffic: self.traffic_settings(),
                config: self,
                engine,
                name: path.to_string(),
            }),
            _ => Err(CompileError {
                path: path.to_string(),
                problems,
            }),
        }
    }
}

fn read_text(what: &'static str, path: &std::path::Path) -> Result<String, EngineError> {
    std::fs::read_to_string(path).map_err(|source| EngineError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
}

impl Config {
    /// The milter server's settings.
    pub fn milter_settings(&self) -> crate::milter::MilterSettings {
        crate::milter::MilterSettings {
            session: crate::milter::session::SessionSettings {
                max_message_size: self.smtp.max_message_size,
                add_header: self.milter.add_header,
                use_auth_sender: self.milter.use_auth_sender,
            },
            on_infected: self.milter.on_infected,
            max_connections: self.milter.max_connections,
            read_timeout: Duration::from_secs(self.milter.timeout_secs),
            shutdown_grace: Duration::from_secs(self.smtp.shutdown_grace_secs),
        }
    }

    /// The policy part: `[policy]`, `[exemptions]` and `[scan] on_error`.
    pub fn policy_settings(&self) -> PolicySettings {
        PolicySettings {
            threshold: self.policy.threshold,
            screen_local_senders_only: self.policy.screen == Screen::LocalSenders,
            counsellors: self.exemptions.counsellors.clone(),
            report_to: crate::rules::address::Globs::new(&self.exemptions.report_to),
            quote_weight: self.policy.quote_weight,
            reported_speech_weight: self.policy.reported_speech_weight,
            sensitivity: self.exemptions.sensitivity.clone(),
            subject_labels: self.exemptions.subject_labels.clone(),
            pass_unscanned: self.scan.on_error == ScanOnError::Pass,
            mode: self.policy.mode,
            pupils: crate::rules::address::Globs::new(&self.organisation.pupils),
            staff: crate::rules::address::Globs::new(&self.organisation.staff),
        }
    }

    /// What the review service answers traffic questions with: `[traffic]` and the organisation's name.
    pub fn traffic_settings(&self) -> crate::admin::TrafficSettings {
        crate::admin::TrafficSettings {
            retention_days: self.traffic.retention_days,
            k: self.traffic.k_anonymity,
            unit: self.traffic.summary_period,
            max_days: self.traffic.inquiry_max_days,
            notify_within_days: self.traffic.notify_within_days,
            organisation: self.organisation.name.clone(),
        }
    }

    /// The SMTP server's settings.
    pub fn server_settings(&self) -> crate::smtp::ServerSettings {
        crate::smtp::ServerSettings {
            hostname: self.smtp.hostname.clone(),
            max_message_size: self.smtp.max_message_size,
            max_recipients: self.smtp.max_recipients,
            max_connections: self.smtp.max_connections,
            read_timeout: Duration::from_secs(self.smtp.timeout_secs),
            command_timeout: Duration::from_secs(self.smtp.command_timeout_secs),
            data_timeout: Duration::from_secs(self.smtp.data_timeout_secs),
            shutdown_grace: Duration::from_secs(self.smtp.shutdown_grace_secs),
        }
    }

    /// The next-hop client's settings.
    pub fn next_hop_settings(&self) -> crate::smtp::NextHopSettings {
        crate::smtp::NextHopSettings {
            address: self.smtp.next_hop.clone(),
            helo_name: self.smtp.hostname.clone(),
            pool_size: self.smtp.pool_size,
            ..crate::smtp::NextHopSettings::default()
        }
    }

    /// Who may get a notice.
    pub fn notice_policy(&self) -> crate::bounce::NoticePolicy {
        crate::bounce::NoticePolicy {
            local_domains: self.organisation.local_domains.clone(),
            trust_local_source: self.bounce.notify_local_source,
        }
    }

    /// What the rules need to know about the organisation.
    pub fn org_context(&self) -> crate::rules::OrgContext {
        crate::rules::OrgContext {
            local_domains: self.organisation.local_domains.clone(),
            send_as: self
                .organisation
                .send_as
                .iter()
                .map(|p| (p.sender.clone(), p.from.clone()))
                .collect(),
        }
    }
}
