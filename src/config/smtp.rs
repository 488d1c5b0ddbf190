//! `[smtp]` (the content filter's listener and the next hop) and `[milter]` (the before-queue listener):
//! the raw sections, as the file has them; [`super::compile`] turns them into the servers' settings.

use serde::{Deserialize, Serialize};

use crate::milter::OnInfected;

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
