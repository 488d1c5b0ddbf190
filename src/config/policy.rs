//! `[policy]` (how hits become a verdict), `[rules]` (where the rule files come from) and `[scan]`
//! (malware scanning): the raw sections; the enums are the components' own (`policy::Screen`,
//! `bounce::BounceMode`, `scan::ScanBackend`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::bounce::{BounceMode, OnUnnotifiable};
use crate::policy::{ScanOnError, Screen};
use crate::scan::ScanBackend;

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
    /// Rules whose hits decide, whatever their file's `mode` says: ids, or prefixes ending in `*`.
    pub enforce: Vec<String>,
    /// Rules whose hits are only reported (`mode = "monitor"`), by id or prefix: a rule a school wants to
    /// watch before it decides (`["MW-TAAL-*"]`: the language model). Applied after `enforce`.
    pub monitor: Vec<String>,
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
