//! Milter mode: the same policy before the queue (Postfix `smtpd_milters`), so suspect mail is refused while
//! the submitting client is still connected and never enters the queue.
//!
//! - `codec`: packets ↔ commands and responses (Sendmail milter protocol v6). No I/O.
//! - `session`: the per-connection state machine; rebuilds the message. No I/O.
//! - `server`: the TCP / unix-socket listener with connection cap, timeouts and graceful shutdown.
//! - this file: [`Milter`], which runs [`crate::filter::Engine::evaluate`] at end-of-message and turns
//!   the decision into the milter answer (pass → continue, bounce → `550 5.7.1` with the bounce text,
//!   quarantine → stored, then reject or discard, anything failing → `451`).
//!
//! The protocol is implemented here rather than with `indymilter` (GPL-3.0-or-later), which would bind the
//! project's EUPL-1.2 licence.
//!
//! Must not: send a DSN (Postfix tells the client), accept mail it could not evaluate, or log content or
//! local parts (the one log line per message is [`crate::filter::log_message`]'s).

pub mod codec;
pub mod server;
pub mod session;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::bounce::{self, Reason};
use crate::filter::{analyse_off_reactor, Outcome, Pipeline};
use crate::policy::Verdict;
use crate::quarantine::Quarantine;
use crate::smtp::reply::Reply;

use codec::Response;
use session::{reply_code, Collected, SessionSettings};

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

/// End-of-message evaluation: the pipeline's engine (reloaded with it) and the quarantine.
#[derive(Clone)]
pub struct Milter {
    pipeline: Pipeline,
    quarantine: Arc<dyn Quarantine>,
}

impl Milter {
    pub fn new(pipeline: Pipeline, quarantine: Arc<dyn Quarantine>) -> Milter {
        Milter {
            pipeline,
            quarantine,
        }
    }

    /// Decide about one message and return the responses to SMFIC_BODYEOB (modifications first, then the
    /// final answer). A panic inside becomes a tempfail, never an acceptance.
    pub async fn end_of_message(&self, msg: Collected, on_infected: OnInfected) -> Vec<Response> {
        let milter = self.clone();
        match tokio::spawn(async move { milter.evaluate(msg, on_infected).await }).await {
            Ok(responses) => responses,
            Err(e) => {
                tracing::error!(error = %e, "milter evaluation failed");
                vec![Response::ReplyCode(reply_code(&Reply::new(
                    451,
                    "4.3.0",
                    "Error: internal error, try again later",
                )))]
            }
        }
    }

    async fn evaluate(&self, msg: Collected, on_infected: OnInfected) -> Vec<Response> {
        let queue_id = crate::queue_id::new();
        let received = SystemTime::now();
        let engine = self.pipeline.engine();
        let size = msg.data.len();
        let Collected {
            envelope,
            policy_envelope,
            data,
            may_add_header,
            header_leading_space,
        } = msg;
        let (data, analysis) = match analyse_off_reactor(&engine.limits, data).await {
            Ok(done) => done,
            Err(e) => {
                warn!(queue_id, error = %e, "analysis task failed");
                return vec![internal_error(&queue_id)];
            }
        };
        let attachments = analysis.attachments.len();
        let decision = engine.evaluate(&policy_envelope, &data, analysis).await;
        let (responses, outcome) = match decision.verdict {
            Verdict::Pass => {
                let mut responses = Vec::new();
                if may_add_header {
                    // Postfix shows `Name:value` as given once HDR_LEADSPC is on, `Name: value` otherwise.
                    let space = if header_leading_space { " " } else { "" };
                    responses.push(Response::AddHeader {
                        name: HEADER_NAME.into(),
                        value: format!("{space}pass ({queue_id})"),
                    });
                }
                responses.push(Response::Continue);
                let reply = Reply::new(250, "2.0.0", format!("{queue_id} passed"));
                (responses, ("accepted", reply))
            }
            Verdict::Bounce => {
                let rules = engine.hit_rules(&decision);
                let reply = bounce::reject_reply(&Reason::Rules(&rules));
                (
                    vec![Response::ReplyCode(reply_code(&reply))],
                    ("rejected", reply),
                )
            }
            Verdict::Quarantine => {
                let stored = self
                    .quarantine
                    .store(&queue_id, &envelope, &data, &decision.detections, received)
                    .await
                    .inspect(|id| {
                        if *id != queue_id {
                            warn!(queue_id, stored_as = %id, "queue id already in the quarantine; stored under a new id");
                        }
                    });
                match (stored, on_infected) {
                    (Err(e), _) => {
                        warn!(queue_id, error = %e, "quarantine store failed");
                        let reply = internal_reply(&queue_id);
                        (
                            vec![Response::ReplyCode(reply_code(&reply))],
                            ("deferred", reply),
                        )
                    }
                    (Ok(_), OnInfected::Reject) => {
                        let reply = bounce::reject_reply(&Reason::Infected(&decision.detections));
                        (
                            vec![Response::ReplyCode(reply_code(&reply))],
                            ("quarantined", reply),
                        )
                    }
                    (Ok(stored_id), OnInfected::Discard) => {
                        let reply =
                            Reply::new(250, "2.7.0", format!("{stored_id} quarantined, discarded"));
                        (vec![Response::Discard], ("quarantined", reply))
                    }
                }
            }
            Verdict::Tempfail => {
                warn!(
                    queue_id,
                    reason = decision.tempfail_reason.as_deref().unwrap_or("-"),
                    "malware scan failed; deferring"
                );
                let reply = Reply::new(
                    451,
                    "4.7.0",
                    format!(
                        "{queue_id} temporary failure: malware scan unavailable, try again later"
                    ),
                );
                (
                    vec![Response::ReplyCode(reply_code(&reply))],
                    ("tempfail", reply),
                )
            }
        };
        let (action, reply) = outcome;
        self.pipeline.account(
            &queue_id,
            &policy_envelope,
            size,
            attachments,
            &decision,
            &Outcome::new(reply, action),
        );
        responses
    }
}

fn internal_reply(queue_id: &str) -> Reply {
    Reply::new(
        451,
        "4.3.0",
        format!("{queue_id} internal error, try again later"),
    )
}

fn internal_error(queue_id: &str) -> Response {
    Response::ReplyCode(reply_code(&internal_reply(queue_id)))
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
