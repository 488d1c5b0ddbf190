//! Milter mode: the same policy before the queue (Postfix `smtpd_milters`), so suspect mail is refused while
//! the submitting client is still connected and never enters the queue.
//!
//! - `codec`: packets ↔ commands and responses (Sendmail milter protocol v6). No I/O.
//! - `session`: the per-connection state machine; rebuilds the message. No I/O.
//! - `server`: the TCP / unix-socket listener with connection cap, timeouts and graceful shutdown.
//! - this file: the settings and the [`Handler`] the server calls at end-of-message. Deciding and acting
//!   (pass → continue, bounce → `550 5.7.1` with the bounce text, quarantine → stored, then reject or
//!   discard, anything failing → `451`) is the filter's before-queue face, `crate::filter::before_queue`.
//!
//! The protocol is implemented here rather than with `indymilter` (GPL-3.0-or-later), which would bind the
//! project's EUPL-1.2 licence.
//!
//! Must not: send a DSN (Postfix tells the client), accept mail it could not evaluate, or log content or
//! local parts (the one log line per message is the filter's).

pub mod codec;
pub mod server;
pub mod session;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::util::BoxFuture;

use codec::Response;
use session::{Collected, SessionSettings};

/// The header added to passed mail when `[milter] add_header = true`.
pub const HEADER_NAME: &str = "X-Mailwacht";

/// Where the milter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// `host:port`.
    Tcp(String),
    /// `unix:/absolute/path`.
    Unix(PathBuf),
}

impl ListenAddr {
    /// `host:port` or `unix:/absolute/path`; `None` for anything else.
    pub fn parse(text: &str) -> Option<ListenAddr> {
        if let Some(path) = text.strip_prefix("unix:") {
            let path = PathBuf::from(path);
            return path.is_absolute().then_some(ListenAddr::Unix(path));
        }
        let (host, port) = text.rsplit_once(':')?;
        let host_ok = !host.is_empty() && !host.contains(char::is_whitespace);
        (host_ok && port.parse::<u16>().is_ok()).then(|| ListenAddr::Tcp(text.to_string()))
    }
}

/// What the milter answers for infected mail after quarantining it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInfected {
    Reject,
    Discard,
}

/// The milter's settings (from `[milter]` and `[smtp]`); read per new connection, so a reload applies to
/// new connections.
#[derive(Debug, Clone, PartialEq)]
pub struct MilterSettings {
    pub session: SessionSettings,
    pub on_infected: OnInfected,
    /// Connections served at once (read when the server starts).
    pub max_connections: usize,
    /// Idle limit between commands.
    pub read_timeout: Duration,
    /// How long shutdown waits for evaluations in flight.
    pub shutdown_grace: Duration,
}

/// What the milter server calls; the filter's before-queue face implements it ([`crate::filter`]). The
/// server stays a shell: it speaks the protocol, guards against panics and answers what the handler says.
pub trait Handler: Send + Sync + 'static {
    /// Decide about one message and return the responses to SMFIC_BODYEOB (modifications first, then the
    /// final answer).
    fn end_of_message(
        &self,
        msg: Collected,
        on_infected: OnInfected,
    ) -> BoxFuture<'static, Vec<Response>>;

    /// A message refused for its size (`552 5.3.4`, nothing evaluated): keep the account of it (log line,
    /// metrics, traffic record) as for any other message. `limit` is the size it went over.
    fn refused_too_big(&self, envelope: &Envelope, limit: usize);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let cases = [
            (
                "127.0.0.1:11332",
                Some(ListenAddr::Tcp("127.0.0.1:11332".into())),
            ),
            ("localhost:0", Some(ListenAddr::Tcp("localhost:0".into()))),
            ("[::1]:11332", Some(ListenAddr::Tcp("[::1]:11332".into()))),
            (
                "unix:/run/mailwacht/milter.sock",
                Some(ListenAddr::Unix("/run/mailwacht/milter.sock".into())),
            ),
            ("unix:milter.sock", None),
            ("11332", None),
            (":11332", None),
            ("host:port", None),
        ];
        for (text, want) in cases {
            assert_eq!(ListenAddr::parse(text), want, "{text}");
        }
    }
}
