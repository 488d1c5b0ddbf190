//! Configuration: one TOML file, or none at all (every key has an embedded default), validated once and
//! split into the section structs each component needs. No component sees clap types.
//!
//! Flow: CLI flags → [`Config::load`] (read, merge with defaults, validate each key) → [`Config::compile`]
//! (rules, scanner and templates compiled, host names and the next hop checked as the notice sender uses
//! them, a notice built once) → [`Compiled`]. `mailwacht config`, `serve` and a reload (SIGHUP) all run
//! `compile`, so what `config` accepts `serve` runs, and a reload that fails keeps the old configuration.
//! The enums the components act on live with them (`policy::Screen`, `bounce::BounceMode`, …); the
//! sections embed them.
//! Unknown keys are errors that name the file and line (`deny_unknown_fields`), so typos don't pass silently.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bounce::{self, BounceMode, BounceSettings, OnUnnotifiable};
use crate::filter::{Engine, EngineError};
use crate::message::Limits;
use crate::milter::OnInfected;
use crate::policy::{PolicySettings, ScanOnError, Screen};
use crate::rules::RuleSet;
use crate::scan::{BuiltinScanner, ClamdAddr, ClamdScanner, ScanBackend, Scanner};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub organisation: Organisation,
    pub exemptions: Exemptions,
    pub smtp: Smtp,
    pub policy: Policy,
    pub rules: Rules,
    pub scan: Scan,
    pub bounce: Bounce,
    pub limits: Limits,
    pub storage: Storage,
    pub quarantine: QuarantineSection,
    pub admin: Admin,
    pub traffic: TrafficSection,
    pub metrics: MetricsSection,
    pub milter: MilterSection,
    pub runtime: RuntimeSection,
    pub log: LogSection,
    pub web: crate::web::settings::WebSection,
}

/// `[organisation]`: who "we" are.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Organisation {
    /// Name used in bounce texts ("de school").
    pub name: String,
    /// The school board's own mail domains. Mail from these is screened; recipients outside them are
    /// external (BSN and visible-recipient rules). Empty: every sender is screened, every recipient external.
    pub local_domains: Vec<String>,
    /// How senders reach the ICT desk, shown in bounces.
    pub helpdesk: String,
    /// Allowed From addresses that differ from the envelope sender (shared mailboxes, send-as aliases).
    pub send_as: Vec<SendAs>,
}

impl Default for Organisation {
    fn default() -> Self {
        Organisation {
            name: "de school".into(),
            local_domains: Vec::new(),
            helpdesk: "de ICT-servicedesk".into(),
            send_as: Vec::new(),
        }
    }
}

/// One allowed (envelope sender, From) pair; either side may be `*@domain` or `*`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendAs {
    pub sender: String,
    pub from: String,
}

/// `[exemptions]`: WereldKidz 6.8 (*persoonlijk*) and 6.9 (*vertrouwenspersoon*).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Exemptions {
    /// *Vertrouwenspersonen*: mail from them, and mail to them alone, skips the content rules (WereldKidz 6.9);
    /// security and identity rules still apply.
    pub counsellors: Vec<String>,
    /// Reporting destinations (police, the inspectorate's meldpunt, Veilig Thuis, management): mail whose
    /// every recipient is one of these (or a counsellor) skips the content rules. Addresses or globs
    /// (`*@politie.nl`).
    pub report_to: Vec<String>,
    /// `Sensitivity:` header values that mark mail *persoonlijk* (Outlook's Persoonlijk/Privé labels).
    pub sensitivity: Vec<String>,
    /// Subject labels that mark mail *persoonlijk*: `[label]`, `(label)`, `label:` or `label -` at the start
    /// of the subject (after `Re:`/`Fw:` prefixes), or `[label]` anywhere. Case-insensitive.
    pub subject_labels: Vec<String>,
}

impl Default for Exemptions {
    fn default() -> Self {
        Exemptions {
            counsellors: Vec::new(),
            report_to: Vec::new(),
            sensitivity: vec!["personal".into(), "private".into()],
            subject_labels: vec!["persoonlijk".into(), "privé".into()],
        }
    }
}

/// `[smtp]`: the listener Postfix talks to and the next hop mailwacht relays to.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smtp {
    /// Run the SMTP content-filter listener. `false` with `[milter] enabled = true`: milter mode only.
    pub enabled: bool,
    /// Where the content filter listens (Postfix's `content_filter` target).
    pub listen: String,
    /// Postfix's re-injection smtpd (`127.0.0.1:10026` in the usual master.cf).
    pub next_hop: String,
    /// Name in the greeting and EHLO. Must differ from Postfix's own `myhostname`.
    pub hostname: String,
    /// Largest message in bytes (SIZE); larger is refused with `552 5.3.4`.
    pub max_message_size: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// Connections served at once (keep ≥ the filter transport's maxproc in master.cf).
    pub max_connections: usize,
    /// Idle seconds allowed while waiting for a command or DATA.
    pub timeout_secs: u64,
    /// Seconds one command line may take from its first byte to its end (slow-sending clients).
    pub command_timeout_secs: u64,
    /// Seconds a whole DATA phase may take.
    pub data_timeout_secs: u64,
    /// Idle next-hop connections kept open; at most the next hop's maxproc (10 in a usual master.cf).
    pub pool_size: usize,
    /// Seconds SIGTERM waits for in-flight transactions.
    pub shutdown_grace_secs: u64,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            enabled: true,
            listen: "127.0.0.1:10025".into(),
            next_hop: "127.0.0.1:10026".into(),
            hostname: "localhost".into(),
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 1000,
            max_connections: 100,
            timeout_secs: 300,
            command_timeout_secs: 60,
            data_timeout_secs: 600,
            pool_size: 8,
            shutdown_grace_secs: 60,
        }
    }
}

/// `[policy]`: how hits become a verdict.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Score at or above which a message bounces (rules add their weight once each).
    pub threshold: f64,
    /// `dsn`: mailwacht sends the bounce (RFC 3464) and answers 250; `reject`: answer `550 5.7.1` and let
    /// Postfix write the bounce.
    pub bounce_mode: BounceMode,
    /// `local-senders`: content rules apply to mail from the local domains (outgoing and internal mail);
    /// `all`: to every message. Malware scanning always applies to all.
    pub screen: Screen,
    /// What a hit in text the sender quotes (reply quotes, forwarded mail) weighs, as a fraction of the
    /// rule's weight. 0.0: quotes never bounce on their own; a rule may set its own `quote-weight`.
    pub quote_weight: f64,
    /// The same for speech the sender reports in their own text (`hij riep: "…"`).
    pub reported_speech_weight: f64,
    /// A message that should go back to a sender who may not get a notice (not one of ours, automatic mail,
    /// an unusable address; see [`crate::bounce::may_notify`]): `quarantine` (held for ICT) or `discard`
    /// (dropped and logged). After-queue mode only; the milter refuses such mail with `550`.
    pub on_unnotifiable: OnUnnotifiable,
    /// `enforce` (the default) or `monitor`: every message is screened and accounted, the log line,
    /// metrics and traffic record say what *would* have happened, and the mail goes on unchanged. Malware
    /// is still quarantined. A rule file's `mode = "monitor"` does the same for one rule.
    pub mode: crate::policy::Mode,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            threshold: 5.0,
            bounce_mode: BounceMode::Dsn,
            screen: Screen::LocalSenders,
            quote_weight: 0.0,
            reported_speech_weight: 0.5,
            on_unnotifiable: OnUnnotifiable::Quarantine,
            mode: crate::policy::Mode::Enforce,
        }
    }
}

/// `[rules]`: where the rule files come from.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// A directory of `*.toml` rule files replacing the embedded default rules.
    pub dir: Option<PathBuf>,
}

/// `[scan]`: malware scanning (WereldKidz 8.5).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scan {
    /// What to do when the scanner cannot answer: `tempfail` (451, Postfix retries) or `pass` (unscanned).
    pub on_error: ScanOnError,
    /// A file of SHA-256 hashes for the built-in scanner, replacing the embedded `rules/malware-sha256.txt`.
    pub hash_file: Option<PathBuf>,
    /// `builtin` (EICAR + hash list; NOT an antivirus) or `clamd` (ClamAV, the production choice).
    pub backend: ScanBackend,
    /// Where clamd listens: `host:port` or `unix:/run/clamav/clamd.ctl`.
    pub clamd: String,
    /// Seconds allowed for connecting to clamd, and for each scan exchange.
    pub timeout_secs: u64,
    /// clamd's `StreamMaxLength` in bytes (keep both equal). Larger messages are scanned part by part; a
    /// single part larger than this is a scan error.
    pub max_stream: u64,
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            on_error: ScanOnError::Tempfail,
            hash_file: None,
            backend: ScanBackend::Builtin,
            clamd: "127.0.0.1:3310".into(),
            timeout_secs: 30,
            max_stream: crate::scan::clamd::DEFAULT_MAX_STREAM,
        }
    }
}

/// `[quarantine]`: keeping infected mail (WereldKidz 8.5).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuarantineSection {
    /// Entries older than this many days are purged (at start and every hour).
    pub retention_days: u64,
    // --- alerts to ICT (issue 15; see `crate::filter::alerts`) ---
    /// ICT's addresses for alerts about quarantined mail; empty: none.
    pub notify: Vec<String>,
    /// A notice per quarantined message (with `notify`).
    pub notify_each: bool,
    /// `daily`: one summary a day as well (or instead, with `notify_each = false`).
    pub digest: crate::filter::alerts::Digest,
    /// The alerts' envelope sender and `From:`; unset: the null sender.
    pub notify_sender: Option<String>,
}

impl Default for QuarantineSection {
    fn default() -> Self {
        QuarantineSection {
            retention_days: 30,
            notify: Vec::new(),
            notify_each: true,
            digest: crate::filter::alerts::Digest::Off,
            notify_sender: None,
        }
    }
}

/// `[traffic]`: *verkeersgegevens* (traffic records), auditor summaries and targeted inquiries.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficSection {
    /// Days a traffic record is kept (WereldKidz 6.7: logging data no longer than 28 days).
    pub retention_days: u64,
    /// A summary cell involving fewer distinct senders than this is suppressed (SOML/ProCon 8.2).
    pub k_anonymity: u64,
    /// The one period unit of all summaries: whole ISO weeks (default) or days, UTC.
    pub summary_period: crate::traffic::summary::Unit,
    /// Longest window of a targeted inquiry, in days (SOML/ProCon 8.3: a fixed, short period); also the
    /// most inquiry days on one person within any `max(retention_days, 2 × inquiry_max_days)` days.
    pub inquiry_max_days: u64,
    /// Days after an inquiry's end within which the person must be informed (WereldKidz 6.6); later, `audit
    /// list` warns.
    pub notify_within_days: u64,
    /// Where the pseudonym keys live; never inside `[storage] data_dir`. Default: a sibling of the data
    /// directory named `<data_dir>-keys` (`/var/lib/mailwacht` → `/var/lib/mailwacht-keys`).
    pub key_dir: Option<PathBuf>,
    /// Why this installation sets privacy settings beyond the codes of conduct (see
    /// [`Config::code_deviations`]). Without it such settings are refused; with it they are accepted and
    /// warned about at every start.
    pub code_of_conduct_deviation: Option<String>,
}

impl Default for TrafficSection {
    fn default() -> Self {
        TrafficSection {
            retention_days: 28,
            k_anonymity: 5,
            summary_period: crate::traffic::summary::Unit::Week,
            inquiry_max_days: 14,
            notify_within_days: 14,
            key_dir: None,
            code_of_conduct_deviation: None,
        }
    }
}

/// The codes of conduct's bounds for the `[traffic]` privacy settings: beyond them only with
/// `[traffic] code_of_conduct_deviation`. Longest retention (WereldKidz 6.7).
pub const CODE_RETENTION_DAYS: u64 = 28;
/// Smallest *k* (SOML/ProCon 8.2: aggregates not traceable to a person; 5 is the usual threshold of
/// statistical disclosure control).
pub const CODE_MIN_K: u64 = 5;
/// Longest inquiry window (SOML/ProCon 8.3: a fixed, short period).
pub const CODE_INQUIRY_MAX_DAYS: u64 = 14;
/// Longest term to inform the person after an inquiry (WereldKidz 6.6: as soon as possible).
pub const CODE_NOTIFY_WITHIN_DAYS: u64 = 28;
/// Bounds that hold even with a deviation: records at most this many days…
pub const HARD_MAX_RETENTION_DAYS: u64 = 90;
/// …and the person informed within this many days. (*k* only has to be at least 1 then: a test
/// installation may declare `k_anonymity = 1` to see single senders' figures, warned about at every start.)
pub const HARD_MAX_NOTIFY_WITHIN_DAYS: u64 = 90;

/// `[metrics]`: the Prometheus endpoint (aggregates only).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Where `/metrics` is served (a loopback `ip:port`); unset: off.
    pub listen: Option<String>,
}

/// `[admin]`: the control socket ICT staff's `mailwacht quarantine ...` commands talk to.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// The unix socket (mode 0660). Default: `<data_dir>/admin.sock`.
    pub socket: Option<PathBuf>,
    /// A group given access to the socket (chown); members may review the quarantine.
    pub group: Option<String>,
}

/// `[log]`: how the daemon's log lines look. Read at start; a reload keeps the running value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `text` (one readable line per event) or `json` (one JSON object per line, the same fields).
    pub format: LogFormat,
}

/// The shape of a log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[runtime]`: the threads the daemon runs on. Read at start; a reload keeps the running value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSection {
    /// Threads that run the SMTP and milter sessions and the rule checks; 0: one per CPU core. Large
    /// messages, disk writes and other blocking work use a separate pool either way.
    pub worker_threads: usize,
}

impl Default for RuntimeSection {
    /// One thread: it handles thousands of messages a second, more than the Postfix in front of it, and
    /// uses less CPU per message than several (no hand-offs between threads), which leaves the other cores
    /// to Postfix and clamd (measured in BENCHMARKS.md).
    fn default() -> Self {
        RuntimeSection { worker_threads: 1 }
    }
}

/// Most worker threads accepted (a typo such as `10000` must not start ten thousand threads).
pub const MAX_WORKER_THREADS: usize = 256;

/// `[milter]`: the before-queue integration (Postfix `smtpd_milters`), same policy as the content filter.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MilterSection {
    /// Run the milter listener.
    pub enabled: bool,
    /// `host:port` (Postfix `inet:host:port`) or `unix:/path` (Postfix `unix:/path`).
    pub listen: String,
    /// A group given access to a unix socket (mode 0660), e.g. `postfix`.
    pub group: Option<String>,
    /// Add an `X-Mailwacht` header to mail that passes.
    pub add_header: bool,
    /// Use Postfix's `{auth_authen}` (the SASL login, when it is an address) as the sender identity for
    /// the exemptions and rules instead of the envelope sender.
    pub use_auth_sender: bool,
    /// Infected mail, once quarantined: `reject` (550, the client sees it) or `discard` (accepted, dropped).
    pub on_infected: OnInfected,
    /// Milter connections served at once (one per Postfix smtpd process).
    pub max_connections: usize,
    /// Idle seconds allowed between milter commands (a whole SMTP session can be slow).
    pub timeout_secs: u64,
}

impl Default for MilterSection {
    fn default() -> Self {
        MilterSection {
            enabled: false,
            listen: "127.0.0.1:11332".into(),
            group: None,
            add_header: false,
            use_auth_sender: false,
            on_infected: OnInfected::Reject,
            max_connections: 100,
            timeout_secs: 1800,
        }
    }
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

    /// The admin socket path in effect.
    pub fn admin_socket(&self) -> PathBuf {
        self.admin
            .socket
            .clone()
            .unwrap_or_else(|| self.storage.data_dir.join("admin.sock"))
    }

    /// The pseudonym key directory in effect: `[traffic] key_dir`, or `<data_dir>-keys` beside the data
    /// directory (never inside it: a copy of the data directory must not hold the key).
    pub fn key_dir(&self) -> PathBuf {
        if let Some(dir) = &self.traffic.key_dir {
            return dir.clone();
        }
        let data = &self.storage.data_dir;
        let name = data
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mailwacht".into());
        let parent = data
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        parent.join(format!("{name}-keys"))
    }

    /// The `[traffic]` settings beyond the codes of conduct's bounds: the key and why (Dutch, then English),
    /// e.g. `("retention_days", "60 gaat verder dan de gedragscode (...) / goes beyond ...")`. Accepted only
    /// with `[traffic] code_of_conduct_deviation`, and then warned about at every start.
    pub fn code_deviations(&self) -> Vec<(&'static str, String)> {
        let t = &self.traffic;
        let mut out = Vec::new();
        let mut beyond = |key: &'static str, value: u64, nl: String, en: String| {
            out.push((
                key,
                format!("{value} gaat verder dan de gedragscode ({nl}) / {value} goes beyond the code of conduct ({en})"),
            ))
        };
        if t.retention_days > CODE_RETENTION_DAYS {
            beyond(
                "retention_days",
                t.retention_days,
                format!("hoogstens {CODE_RETENTION_DAYS} dagen, WereldKidz 6.7"),
                format!("at most {CODE_RETENTION_DAYS} days, WereldKidz 6.7"),
            );
        }
        if t.k_anonymity < CODE_MIN_K {
            beyond(
                "k_anonymity",
                t.k_anonymity,
                format!("minstens {CODE_MIN_K} afzenders per cel, SOML/ProCon 8.2"),
                format!("at least {CODE_MIN_K} senders per cell, SOML/ProCon 8.2"),
            );
        }
        if t.inquiry_max_days > CODE_INQUIRY_MAX_DAYS {
            beyond(
                "inquiry_max_days",
                t.inquiry_max_days,
                format!("hoogstens {CODE_INQUIRY_MAX_DAYS} dagen, SOML/ProCon 8.3"),
                format!("at most {CODE_INQUIRY_MAX_DAYS} days, SOML/ProCon 8.3"),
            );
        }
        if t.notify_within_days > CODE_NOTIFY_WITHIN_DAYS {
            beyond(
                "notify_within_days",
                t.notify_within_days,
                format!(
                    "hoogstens {CODE_NOTIFY_WITHIN_DAYS} dagen, WereldKidz 6.6: zo snel mogelijk"
                ),
                format!(
                    "at most {CODE_NOTIFY_WITHIN_DAYS} days, WereldKidz 6.6: as soon as possible"
                ),
            );
        }
        out
    }
}

/// `[bounce]`: the notice sent back to the sender.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bounce {
    /// Name in `Reporting-MTA` and the bounce's `From: MAILER-DAEMON@…`.
    pub reporting_mta: String,
    /// A Dutch template file replacing the embedded one.
    pub template_nl: Option<PathBuf>,
    /// An English template file replacing the embedded one.
    pub template_en: Option<PathBuf>,
    /// Also notify senders outside `local_domains` when Postfix marked the message `XFORWARD SOURCE=LOCAL`
    /// (pickup, or a client in its `local_header_rewrite_clients`). Off by default: internet mail that
    /// reaches Postfix from the machine itself (fetchmail, a local proxy or filter in front) is "local" too.
    pub notify_local_source: bool,
    /// Days a sent notice is remembered, so Postfix's retries of the same message do not repeat it. At
    /// least Postfix's `maximal_queue_lifetime` (5 days).
    pub remember_days: u64,
}

impl Default for Bounce {
    fn default() -> Self {
        Bounce {
            reporting_mta: "localhost".into(),
            template_nl: None,
            template_en: None,
            notify_local_source: false,
            remember_days: 5,
        }
    }
}

/// Longest `[bounce] remember_days` accepted (Postfix caps `maximal_queue_lifetime` at 100 days).
pub const MAX_REMEMBER_DAYS: u64 = 100;

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Where the quarantine, the traffic records and the audit log live. Default: `$XDG_STATE_HOME/mailwacht`,
    /// else `~/.local/state/mailwacht`, else `./mailwacht-data`; the Debian package uses `/var/lib/mailwacht`.
    pub data_dir: PathBuf,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            data_dir: default_data_dir(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(state).join("mailwacht");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(home).join(".local/state/mailwacht");
    }
    PathBuf::from("mailwacht-data")
}

/// A configuration with everything the daemon builds from it: the one result of [`Config::compile`].
pub struct Compiled {
    /// The validated sections (what `mailwacht config` prints).
    pub config: Config,
    /// Rules, scanner, policy and notice settings, compiled once.
    pub engine: Engine,
}

/// A configuration that loads but cannot run: every problem found, each naming its section and key.
#[derive(Debug, thiserror::Error)]
#[error("configuration {path}: {}", problems.join("; "))]
pub struct CompileError {
    /// The file (or [`EMBEDDED_NAME`]).
    pub path: String,
    /// One line per problem: `[section] key: what is wrong`, or the file that cannot be used.
    pub problems: Vec<String>,
}

impl Config {
    /// Compile rules, load the scanner's hash list and the bounce templates. Nothing is half-applied: on
    /// error the caller keeps the engine it had.
    pub fn engine(&self) -> Result<Engine, EngineError> {
        let config = self;
        let rules = match &config.rules.dir {
            Some(dir) => RuleSet::load_dir(dir)?,
            None => RuleSet::embedded()?,
        };
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
                config: self,
                engine,
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

    /// The `[traffic]` guardrails: hard bounds always, the codes of conduct's bounds unless a deviation is
    /// declared (with a reason of substance).
    fn validate_traffic(&self) -> Result<(), (&'static str, String)> {
        let t = &self.traffic;
        for (key, value) in [
            ("retention_days", t.retention_days),
            ("k_anonymity", t.k_anonymity),
            ("inquiry_max_days", t.inquiry_max_days),
            ("notify_within_days", t.notify_within_days),
        ] {
            if value == 0 {
                return Err((key, "must be greater than 0".into()));
            }
        }
        if t.retention_days > HARD_MAX_RETENTION_DAYS {
            return Err((
                "retention_days",
                format!(
                    "{} days is more than the {HARD_MAX_RETENTION_DAYS} days allowed at all (WereldKidz 6.7: {CODE_RETENTION_DAYS})",
                    t.retention_days
                ),
            ));
        }
        if t.inquiry_max_days > t.retention_days {
            return Err((
                "inquiry_max_days",
                format!(
                    "{} is longer than retention_days ({})",
                    t.inquiry_max_days, t.retention_days
                ),
            ));
        }
        if t.notify_within_days > HARD_MAX_NOTIFY_WITHIN_DAYS {
            return Err((
                "notify_within_days",
                format!(
                    "{} days is more than the {HARD_MAX_NOTIFY_WITHIN_DAYS} days allowed at all (WereldKidz 6.6: as soon as possible)",
                    t.notify_within_days
                ),
            ));
        }
        if let Some(dir) = &t.key_dir {
            let data = &self.storage.data_dir;
            if dir.starts_with(data) || data.starts_with(dir) {
                return Err((
                    "key_dir",
                    format!(
                        "{} lies inside or around [storage] data_dir {}: the pseudonym keys must be kept apart from the records",
                        dir.display(),
                        data.display()
                    ),
                ));
            }
        }
        match &t.code_of_conduct_deviation {
            Some(why) if why.chars().filter(|c| !c.is_whitespace()).count() < 10 => Err((
                "code_of_conduct_deviation",
                format!("{why:?} is not a reason: say who decided what and why (at least 10 characters)"),
            )),
            Some(_) => Ok(()),
            None => match self.code_deviations().into_iter().next() {
                Some((key, why)) => Err((
                    key,
                    format!(
                        "{why}; alleen met [traffic] code_of_conduct_deviation = \"<besluit en reden>\" / only with [traffic] code_of_conduct_deviation = \"<decision and reason>\""
                    ),
                )),
                None => Ok(()),
            },
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

/// `host:port` with a name rather than an IP address (e.g. `localhost:10026`).
fn looks_like_host_port(value: &str) -> bool {
    match value.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains(char::is_whitespace) && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid() {
        let c = Config::load(None).expect("defaults");
        assert_eq!(c.smtp.listen, "127.0.0.1:10025");
        assert_eq!(c.smtp.next_hop, "127.0.0.1:10026");
        assert_eq!(c.policy.threshold, 5.0);
    }

    #[test]
    fn partial_file_merges_with_defaults() {
        let c = Config::parse(
            "[organisation]\nlocal_domains = [\"School.Example\"]\n[exemptions]\ncounsellors = [\"VP@school.example\"]\n",
            "t.toml",
        )
        .expect("valid");
        assert_eq!(c.organisation.local_domains, vec!["school.example"]);
        assert_eq!(c.exemptions.counsellors, vec!["vp@school.example"]);
        assert_eq!(c.smtp.listen, "127.0.0.1:10025");
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            (
                "[smtp]\nlisten = \"127.0.0.1:10025\"\nlistne = \"x\"\n",
                "line 3",
            ),
            ("[smtpp]\n", "line 1"),
            ("[smtp]\nmax_message_size = \"big\"\n", "line 2"),
            ("[policy]\nbounce_mode = \"shout\"\n", "line 2"),
        ];
        for (text, want) in cases {
            let err = Config::parse(text, "bad.toml").expect_err(text).to_string();
            assert!(
                err.contains("bad.toml") && err.contains(want),
                "{text:?} gave {err}"
            );
        }
    }

    #[test]
    fn invalid_values_are_refused() {
        let cases = [
            ("[smtp]\nlisten = \"nowhere\"\n", "listen"),
            ("[smtp]\npool_size = 0\n", "pool_size"),
            ("[scan]\nclamd = \"unix:relative\"\n", "clamd"),
            ("[scan]\nclamd = \"nohost\"\n", "clamd"),
            ("[scan]\ntimeout_secs = 0\n", "timeout_secs"),
            ("[scan]\nmax_stream = 0\n", "max_stream"),
            ("[quarantine]\nretention_days = 0\n", "retention_days"),
            ("[quarantine]\nnotify = [\"ict\"]\n", "notify"),
            ("[quarantine]\nnotify_sender = \"a b@c\"\n", "notify_sender"),
            ("[quarantine]\ndigest = \"weekly\"\n", "digest"),
            ("[policy]\nmode = \"audit\"\n", "mode"),
            ("[scan]\nbackend = \"norton\"\n", "backend"),
            ("[milter]\nlisten = \"unix:relative.sock\"\n", "listen"),
            ("[milter]\nlisten = \"11332\"\n", "listen"),
            ("[milter]\non_infected = \"ignore\"\n", "on_infected"),
            ("[milter]\ntimeout_secs = 0\n", "timeout_secs"),
            ("[policy]\nthreshold = 0.0\n", "threshold"),
            ("[policy]\nquote_weight = 1.5\n", "quote_weight"),
            (
                "[policy]\nreported_speech_weight = -0.1\n",
                "reported_speech_weight",
            ),
            ("[exemptions]\nreport_to = [\"politie.nl\"]\n", "report_to"),
            (
                "[policy]\non_unnotifiable = \"bounce\"\n",
                "on_unnotifiable",
            ),
            ("[bounce]\nremember_days = 0\n", "remember_days"),
            ("[bounce]\nremember_days = 1000\n", "remember_days"),
            (
                "[organisation]\nlocal_domains = [\"a@b\"]\n",
                "local_domains",
            ),
            ("[exemptions]\ncounsellors = [\"nobody\"]\n", "counsellors"),
            (
                "[[organisation.send_as]]\nsender = \"x\"\nfrom = \"*\"\n",
                "send_as",
            ),
        ];
        for (text, key) in cases {
            let err = Config::parse(text, "bad.toml").expect_err(text).to_string();
            assert!(err.contains(key), "{text:?} gave {err}");
        }
    }

    /// What used to pass `mailwacht config`: a `reporting_mta` that made every notice fail (every bounce a
    /// `451`) and a `hostname` `serve` then refused. Both are named at once, each with its line.
    #[test]
    fn every_problem_is_reported_at_once_with_its_line() {
        let text = "[smtp]\nhostname = \"mail_gw\"\npool_size = 0\n[bounce]\n  reporting_mta = \"mail gw\"\n\
                    [[organisation.send_as]]\nsender = \"x\"\nfrom = \"*\"\n";
        let Err(ConfigError::Invalid { path, problems }) = Config::parse(text, "t.toml") else {
            panic!("accepted");
        };
        assert_eq!(path, "t.toml");
        let found: Vec<(&str, &str, Option<usize>)> = problems
            .iter()
            .map(|p| (p.section, p.key, p.line))
            .collect();
        assert_eq!(
            found,
            [
                ("smtp", "pool_size", Some(3)),
                ("smtp", "hostname", Some(2)),
                ("bounce", "reporting_mta", Some(5)),
                ("organisation", "send_as", Some(6)),
            ]
        );
        assert!(problems[1].to_string().contains("mail_gw"), "{problems:?}");
        let good = Config::parse("[bounce]\nreporting_mta = \"mail.school.example\"\n", "t")
            .expect("loads");
        assert!(good.compile("t").is_ok());
    }

    /// `compile` tries what the loaded keys alone cannot show (a `--next-hop` flag, a template file) and
    /// names every problem.
    #[test]
    fn compile_reports_every_problem_that_would_stop_serve_or_every_notice() {
        let mut config = Config::load(None).expect("defaults");
        config.smtp.next_hop = "no port".into();
        config.bounce.template_nl = Some(PathBuf::from("/nonexistent/nl.txt"));
        let Err(err) = config.compile("t.toml") else {
            panic!("compiled");
        };
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(err.problems[0].starts_with("[smtp] next_hop: "), "{err}");
        assert!(err.problems[1].contains("/nonexistent/nl.txt"), "{err}");
        assert!(
            err.to_string().starts_with("configuration t.toml: "),
            "{err}"
        );
    }

    /// Every configuration the project ships or uses as an example compiles, and a notice can be built
    /// with each (the DSN's `Reporting-MTA`, `From:` and `Message-ID` come from it).
    #[test]
    fn every_shipped_and_example_configuration_compiles_and_builds_a_notice() {
        fn configs(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    configs(&path, out);
                } else if path.extension().is_some_and(|e| e == "toml") {
                    // Rule files live beside configurations in fixtures/; they are not configurations.
                    let text = std::fs::read_to_string(&path).expect("read");
                    if !text.contains("[[rule]]") {
                        out.push(path);
                    }
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![root.join("deploy/mailwacht.toml")];
        configs(&root.join("fixtures"), &mut files);
        assert!(files.len() >= 2, "{files:?}");
        for file in files {
            let name = file.display().to_string();
            let config = Config::load(Some(&file)).unwrap_or_else(|e| panic!("{e}"));
            let compiled = config.compile(&name).unwrap_or_else(|e| panic!("{e}"));
            crate::bounce::probe_dsn(&compiled.engine.bounce)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let defaults = Config::load(None).expect("defaults");
        let compiled = defaults.compile(EMBEDDED_NAME).expect("defaults compile");
        crate::bounce::probe_dsn(&compiled.engine.bounce).expect("a notice from the defaults");
    }

    #[test]
    fn shipped_example_configuration_is_valid() {
        let text = include_str!("../deploy/mailwacht.toml");
        let c = Config::parse(text, "deploy/mailwacht.toml").expect("example config");
        assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/mailwacht"));
        // The directory the systemd unit creates (StateDirectory=mailwacht mailwacht-keys).
        assert_eq!(c.key_dir(), PathBuf::from("/var/lib/mailwacht-keys"));
        let unit = include_str!("../deploy/mailwacht.service");
        assert!(unit.contains("StateDirectory=mailwacht mailwacht-keys"));
        // Apart from the example values it documents, the file shows the defaults.
        let mut defaults = Config::default();
        defaults.organisation.local_domains = vec!["school.example".into()];
        defaults.storage.data_dir = c.storage.data_dir.clone();
        // The package's admin socket: in the unit's RuntimeDirectory, for the group postinst creates.
        defaults.admin.socket = Some(PathBuf::from("/run/mailwacht/admin.sock"));
        defaults.admin.group = Some("mailwacht-ict".into());
        assert!(unit.contains("RuntimeDirectory=mailwacht\n"));
        assert_eq!(c, defaults);
    }

    #[test]
    fn worker_threads_are_bounded() {
        assert!(Config::parse("[runtime]\nworker_threads = 2\n", "t").is_ok());
        let err = Config::parse("[runtime]\nworker_threads = 10000\n", "t")
            .expect_err("10000 threads")
            .to_string();
        assert!(err.contains("worker_threads"), "{err}");
    }

    #[test]
    fn metrics_listen_must_be_loopback() {
        let table = [
            ("127.0.0.1:9425", true),
            ("[::1]:9425", true),
            ("0.0.0.0:9425", false),
            ("192.168.1.5:9425", false),
            ("localhost:9425", false),
            ("9425", false),
        ];
        for (listen, ok) in table {
            let text = format!("[metrics]\nlisten = \"{listen}\"\n");
            let r = Config::parse(&text, "t");
            assert_eq!(r.is_ok(), ok, "{listen}: {r:?}");
        }
    }

    #[test]
    fn traffic_settings_are_checked() {
        for bad in [
            "[traffic]\nretention_days = 0\n",
            "[traffic]\nk_anonymity = 0\n",
            "[traffic]\ninquiry_max_days = 30\n",
            "[traffic]\nnotify_within_days = 0\n",
        ] {
            assert!(Config::parse(bad, "t").is_err(), "{bad}");
        }
        let deviation = "code_of_conduct_deviation = \"besluit bestuur 2026-04: 60 dagen\"\n";
        let c = Config::parse(
            &format!("[traffic]\nretention_days = 60\ninquiry_max_days = 30\n{deviation}"),
            "t",
        )
        .unwrap();
        assert_eq!((c.traffic.retention_days, c.traffic.k_anonymity), (60, 5));
        let keys: Vec<&str> = c.code_deviations().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["retention_days", "inquiry_max_days"]);
        assert!(Config::default().code_deviations().is_empty());
    }

    #[test]
    fn privacy_guardrails_need_a_declared_deviation_or_are_refused() {
        let deviation = "code_of_conduct_deviation = \"besluit bestuur 2026-04, zie notulen\"\n";
        // (setting, refused without a deviation, refused even with one, key named in the error)
        let table = [
            ("k_anonymity = 0", true, true, "k_anonymity"),
            ("k_anonymity = 1", true, false, "k_anonymity"),
            ("k_anonymity = 4", true, false, "k_anonymity"),
            ("k_anonymity = 5", false, false, ""),
            ("retention_days = 100000", true, true, "retention_days"),
            ("retention_days = 91", true, true, "retention_days"),
            ("retention_days = 29", true, false, "retention_days"),
            ("retention_days = 7\ninquiry_max_days = 3", false, false, ""),
            ("retention_days = 7\ninquiry_max_days = 7", false, false, ""),
            (
                "retention_days = 7\ninquiry_max_days = 8",
                true,
                true,
                "inquiry_max_days",
            ),
            ("inquiry_max_days = 15", true, false, "inquiry_max_days"),
            ("inquiry_max_days = 29", true, true, "inquiry_max_days"),
            ("notify_within_days = 28", false, false, ""),
            ("notify_within_days = 29", true, false, "notify_within_days"),
            ("notify_within_days = 91", true, true, "notify_within_days"),
        ];
        for (setting, refused, always, key) in table {
            let plain = format!("[traffic]\n{setting}\n");
            match Config::parse(&plain, "t") {
                Ok(_) => assert!(!refused, "{setting} accepted"),
                Err(e) => {
                    assert!(refused, "{setting}: {e}");
                    assert!(e.to_string().contains(key), "{setting}: {e}");
                    if !always {
                        assert!(e.to_string().contains("code_of_conduct_deviation"), "{e}");
                    }
                }
            }
            let declared = format!("{plain}{deviation}");
            assert_eq!(
                Config::parse(&declared, "t").is_err(),
                always,
                "{setting} with a deviation"
            );
        }
        // A deviation needs a reason of substance.
        assert!(Config::parse(
            "[traffic]\nretention_days = 30\ncode_of_conduct_deviation = \"ja\"\n",
            "t"
        )
        .is_err());
    }

    #[test]
    fn the_key_dir_lies_beside_the_data_dir_never_inside() {
        let mut c = Config::default();
        c.storage.data_dir = PathBuf::from("/var/lib/mailwacht");
        assert_eq!(c.key_dir(), PathBuf::from("/var/lib/mailwacht-keys"));
        c.storage.data_dir = PathBuf::from("mailwacht-data");
        assert_eq!(c.key_dir(), PathBuf::from("./mailwacht-data-keys"));
        let inside = "[storage]\ndata_dir = \"/srv/mw\"\n[traffic]\nkey_dir = \"/srv/mw/keys\"\n";
        let e = Config::parse(inside, "t").unwrap_err().to_string();
        assert!(e.contains("key_dir"), "{e}");
        let apart =
            "[storage]\ndata_dir = \"/srv/mw\"\n[traffic]\nkey_dir = \"/etc/mailwacht/keys\"\n";
        assert_eq!(
            Config::parse(apart, "t").unwrap().key_dir(),
            PathBuf::from("/etc/mailwacht/keys")
        );
    }

    #[test]
    fn host_names_are_accepted_as_next_hop() {
        assert!(Config::parse("[smtp]\nnext_hop = \"localhost:10026\"\n", "t").is_ok());
    }

    #[test]
    fn summaries_are_per_week_or_per_day_only() {
        use crate::traffic::summary::Unit;
        assert_eq!(Config::default().traffic.summary_period, Unit::Week);
        let c = Config::parse("[traffic]\nsummary_period = \"day\"\n", "t").unwrap();
        assert_eq!(c.traffic.summary_period, Unit::Day);
        for bad in ["hour", "month", "Week"] {
            let text = format!("[traffic]\nsummary_period = \"{bad}\"\n");
            assert!(Config::parse(&text, "t").is_err(), "{bad}");
        }
    }
}
