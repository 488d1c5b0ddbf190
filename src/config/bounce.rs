//! `[bounce]`: the notice sent back to the sender (names, templates, memory of notices sent).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
