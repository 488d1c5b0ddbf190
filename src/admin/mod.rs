//! The control side of the quarantine: ICT staff review infected mail (WereldKidz 8.5) through the daemon.
//!
//! The daemon owns the store (sled allows one process), so `mailwacht quarantine ...` sends a [`Request`]
//! over the admin unix socket ([`server`], JSON lines: one request object → one response object) and the
//! daemon answers with a [`Response`]; whoever can open the socket (mode 0660, `[admin] group`) is allowed
//! to review — that is the access control. When no daemon answers, the CLI opens the store itself and calls
//! the same [`Service::handle`] (offline mode), so both paths run the same code.
//!
//! Every content reveal (`show --raw`), export, release and delete needs a reason of substance
//! ([`check_reason`], enforced here so the socket and the CLI are held to the same rule) and is written to
//! the [`audit`] log before the content leaves (reveal, export) or once the action is done (release,
//! delete); if the audit entry cannot be written, content is not revealed. Must not: log content, subjects
//! or file names.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::envelope::{Envelope, Recipient};
use crate::message::{self, Limits, TextOrigin};
use crate::quarantine::{Entry, Status, Store};
use crate::smtp::client::NextHop;
use crate::smtp::NextHopSettings;

pub mod audit;
pub mod client;
pub mod server;
pub mod traffic;

pub use audit::{AuditEntry, AuditLog, Settled, Verification};
pub use traffic::{TrafficRequest, TrafficResponse, TrafficService};

/// One request on the admin socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Entries received at or after `since` (seconds since the epoch; all when absent).
    List { since: Option<u64> },
    /// Metadata and MIME structure; with `raw` also the original bytes (needs a `reason`; audited).
    Show {
        id: String,
        #[serde(default)]
        raw: bool,
        reason: Option<String>,
    },
    /// Re-inject the original to its recipients, or to `to` (an investigator), via the next hop.
    Release {
        id: String,
        reason: String,
        to: Option<String>,
    },
    /// The original bytes, for the CLI to write to a file (audited).
    Export { id: String, reason: Option<String> },
    /// Delete the entry (audited).
    Delete { id: String, reason: String },
    /// The audit log, with the chain verified.
    AuditList,
    /// Traffic summaries and targeted inquiries ([`traffic`]).
    Traffic(TrafficRequest),
}

/// One MIME part as shown to the reviewer (names are shown to ICT staff, never logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    /// Index in the message's part list (what detections' `part N` refers to).
    pub part: usize,
    /// `text`, `html` or `attachment`.
    pub kind: String,
    /// Declared content type.
    pub content_type: String,
    /// Attachment file name, if any.
    pub name: Option<String>,
    /// Decoded size in bytes.
    pub size: usize,
    /// Archive members listed.
    pub members: usize,
    /// Detections located in this part.
    pub detections: Vec<String>,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub enum Response {
    Entries {
        entries: Vec<Entry>,
    },
    Shown {
        entry: Entry,
        parts: Vec<PartInfo>,
        /// Detections for the message as a whole (location `message`).
        message_detections: Vec<String>,
        raw_base64: Option<String>,
    },
    Released {
        id: String,
        to: Vec<String>,
    },
    Exported {
        id: String,
        raw_base64: String,
    },
    Deleted {
        id: String,
    },
    Audit {
        entries: Vec<AuditEntry>,
        verification: Verification,
        /// SHA-256 of each entry's line, in the order of `entries` (compare with the shipped copy).
        #[serde(default)]
        hashes: Vec<String>,
    },
    Traffic(TrafficResponse),
    Error {
        message: String,
    },
}

/// The review operations over one store, audit log and next hop.
#[derive(Debug)]
pub struct Service {
    store: Store,
    audit: AuditLog,
    next_hop: NextHopSettings,
    limits: Limits,
    /// Absent when the traffic store is not open (then traffic requests are an error).
    traffic: Option<TrafficService>,
}

/// An error message for [`Response::Error`].
fn error(message: impl std::fmt::Display) -> String {
    message.to_string()
}

/// Shortest reason accepted for an action that reveals or moves content (the same bar as an inquiry's).
pub const REASON_MIN_CHARS: usize = 10;

/// The reason for `action`, trimmed, when it says something: at least [`REASON_MIN_CHARS`] characters with
/// a letter among them ("x", "." or "1234567890" say nothing an auditor can check later).
pub fn check_reason(reason: Option<&str>, action: &str) -> Result<String, String> {
    let reason = reason.map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(error(format!(
            "{action} needs --reason TEXT: why you need this message (it goes to the audit log)"
        )));
    }
    if reason.chars().count() < REASON_MIN_CHARS || !reason.chars().any(char::is_alphabetic) {
        return Err(error(format!(
            "{action}: --reason {reason:?} says too little; give the why in words, at least \
             {REASON_MIN_CHARS} characters (e.g. \"melding helpdesk 1234, bijlage naar CERT\")"
        )));
    }
    Ok(reason.to_string())
}

impl Service {
    /// A service over `store`, writing to `audit`, releasing via `next_hop`.
    pub fn new(
        store: Store,
        audit: AuditLog,
        next_hop: NextHopSettings,
        limits: Limits,
    ) -> Service {
        let service = Service {
            store,
            audit,
            next_hop,
            limits,
            traffic: None,
        };
        service.tell_audit_what_the_stores_hold();
        service
    }

    /// Also answer traffic requests from `traffic`.
    pub fn with_traffic(mut self, traffic: TrafficService) -> Service {
        self.traffic = Some(traffic);
        self.tell_audit_what_the_stores_hold();
        self
    }

    /// What the stores hold that implies an audit log existed ("the quarantine holds 3 messages"): with no
    /// log entries and no head, that means the log was deleted.
    fn stored_history(&self) -> Option<String> {
        let mut held = Vec::new();
        match self.store.list(UNIX_EPOCH) {
            Ok(entries) if entries.len() == 1 => held.push("the quarantine holds 1 message".into()),
            Ok(entries) if !entries.is_empty() => {
                held.push(format!("the quarantine holds {} messages", entries.len()))
            }
            Ok(_) => {}
            // Not evidence either way; the audit list says what it can.
            Err(e) => tracing::warn!(error = %e, "cannot count the quarantine for the audit check"),
        }
        match self.traffic.as_ref().map(|t| t.store().inquiries()) {
            Some(Ok(inquiries)) if inquiries.len() == 1 => held.push("1 inquiry was opened".into()),
            Some(Ok(inquiries)) if !inquiries.is_empty() => {
                held.push(format!("{} inquiries were opened", inquiries.len()))
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot count the inquiries for the audit check")
            }
            _ => {}
        }
        (!held.is_empty()).then(|| held.join(" and "))
    }

    fn tell_audit_what_the_stores_hold(&self) {
        if let Err(e) = self.audit.expect_history(self.stored_history()) {
            tracing::error!(error = %e, "audit log state");
        }
    }

    /// At daemon start: record any damage found in the audit log as break entries and anchor its head
    /// ([`AuditLog::settle`]), as `uid` (the daemon).
    pub fn settle_audit(&self, uid: u32, now: SystemTime) -> Result<Settled, String> {
        self.audit.settle(now, uid).map_err(error)
    }

    /// Retention (WereldKidz 6.7: nothing kept longer than needed): delete entries older than
    /// `retention_days` before `now`, each written to the audit log as `purge` by `uid` (the daemon).
    pub async fn purge(
        &self,
        uid: u32,
        now: SystemTime,
        retention_days: u64,
    ) -> Result<Vec<String>, String> {
        let purged = self.store.purge(now, retention_days).await.map_err(error)?;
        let reason = format!("retention {retention_days} days");
        for id in &purged {
            self.audit
                .append(now, uid, "purge", id, &reason, "")
                .map_err(error)?;
        }
        Ok(purged)
    }

    /// Close the inquiries whose window has ended, audited as `uid` (the daemon's hourly run; see
    /// [`TrafficService::close_ended`]). Returns their ids.
    pub fn close_ended_inquiries(&self, uid: u32, now: SystemTime) -> Result<Vec<u64>, String> {
        match &self.traffic {
            Some(t) => t.close_ended(&self.audit, uid, now),
            None => Ok(Vec::new()),
        }
    }

    /// Answer one request from `uid` at `now`.
    pub async fn handle(&self, uid: u32, request: Request, now: SystemTime) -> Response {
        match self.answer(uid, request, now).await {
            Ok(r) => r,
            Err(message) => Response::Error { message },
        }
    }

    async fn answer(
        &self,
        uid: u32,
        request: Request,
        now: SystemTime,
    ) -> Result<Response, String> {
        match request {
            Request::List { since } => {
                let since = UNIX_EPOCH + Duration::from_secs(since.unwrap_or(0));
                Ok(Response::Entries {
                    entries: self.store.list(since).map_err(error)?,
                })
            }
            Request::Show { id, raw, reason } => {
                let reason = if raw {
                    Some(check_reason(reason.as_deref(), "show --raw")?)
                } else {
                    None
                };
                let (entry, bytes) = self.get_raw(&id).await?;
                let raw_base64 = if let Some(reason) = reason {
                    self.audit
                        .append(now, uid, "show-raw", &id, &reason, "")
                        .map_err(error)?;
                    Some(base64::engine::general_purpose::STANDARD.encode(&bytes))
                } else {
                    None
                };
                let (entry, parts, message_detections) = {
                    let limits = self.limits.clone();
                    tokio::task::spawn_blocking(move || {
                        let (parts, whole) = structure(&entry, &bytes, &limits);
                        (entry, parts, whole)
                    })
                    .await
                    .map_err(error)?
                };
                Ok(Response::Shown {
                    entry,
                    parts,
                    message_detections,
                    raw_base64,
                })
            }
            Request::Export { id, reason } => {
                let reason = check_reason(reason.as_deref(), "export")?;
                let (_, bytes) = self.get_raw(&id).await?;
                self.audit
                    .append(now, uid, "export", &id, &reason, "")
                    .map_err(error)?;
                Ok(Response::Exported {
                    id,
                    raw_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
                })
            }
            Request::Delete { id, reason } => {
                let reason = check_reason(Some(&reason), "delete")?;
                self.store.get(&id).map_err(error)?;
                self.store.delete(&id).await.map_err(error)?;
                self.audit
                    .append(now, uid, "delete", &id, &reason, "")
                    .map_err(|e| error(format!("{id} deleted, but {e}")))?;
                Ok(Response::Deleted { id })
            }
            Request::Release { id, reason, to } => {
                let reason = check_reason(Some(&reason), "release")?;
                let (entry, bytes) = self.get_raw(&id).await?;
                let recipients = match to {
                    Some(to) => {
                        let to = to.trim().trim_matches(|c| c == '<' || c == '>').to_string();
                        if !to.contains('@') || to.contains(char::is_whitespace) {
                            return Err(error(format!("--to {to:?} is not an address")));
                        }
                        vec![to]
                    }
                    None => entry.rcpt_to.clone(),
                };
                self.release(&entry, &bytes, &recipients).await?;
                self.store
                    .set_status(&id, Status::Released)
                    .await
                    .map_err(|e| error(format!("{id} released, but {e}")))?;
                self.audit
                    .append(
                        now,
                        uid,
                        "release",
                        &id,
                        &reason,
                        &format!("to={}", recipients.join(",")),
                    )
                    .map_err(|e| error(format!("{id} released, but {e}")))?;
                Ok(Response::Released { id, to: recipients })
            }
            Request::Traffic(request) => match &self.traffic {
                Some(t) => t
                    .answer(&self.audit, uid, request, now)
                    .await
                    .map(Response::Traffic),
                None => Err(error("the traffic store is not open")),
            },
            Request::AuditList => {
                let report = self
                    .audit
                    .report(self.stored_history().as_deref())
                    .map_err(error)?;
                Ok(Response::Audit {
                    entries: report.entries,
                    verification: report.verification,
                    hashes: report.hashes,
                })
            }
        }
    }

    /// Read an entry and its bytes on the blocking pool (a message can be tens of MiB).
    async fn get_raw(&self, id: &str) -> Result<(Entry, Vec<u8>), String> {
        let store = self.store.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || store.get_raw(&id))
            .await
            .map_err(error)?
            .map_err(error)
    }

    /// Hand the original to the next hop; any refusal is an error and nothing changes.
    async fn release(&self, entry: &Entry, bytes: &[u8], to: &[String]) -> Result<(), String> {
        let envelope = Envelope {
            mail_from: entry.mail_from.clone(),
            mail_params: entry.mail_params.clone(),
            rcpt_to: to
                .iter()
                .map(|a| Recipient {
                    address: a.clone(),
                    params: Vec::new(),
                })
                .collect(),
            xforward: Vec::new(),
        };
        let hop = NextHop::new(NextHopSettings {
            pool_size: 0,
            ..self.next_hop.clone()
        });
        let down = |what: String| {
            error(format!(
                "next hop {} {what}; {} was not released and is unchanged",
                self.next_hop.address, entry.id
            ))
        };
        let out = hop
            .begin(&envelope)
            .await
            .map_err(|e| down(format!("is unavailable ({e})")))?;
        if !out.mail_reply.is_positive() || out.rcpt_replies.iter().any(|r| !r.is_positive()) {
            let refused = out
                .rcpt_replies
                .iter()
                .find(|r| !r.is_positive())
                .unwrap_or(&out.mail_reply)
                .code;
            out.abort().await;
            return Err(down(format!("refused the envelope ({refused})")));
        }
        match out.send_data(bytes).await {
            Ok(reply) if reply.is_positive() => Ok(()),
            Ok(reply) => Err(down(format!("refused the message ({})", reply.code))),
            Err(e) => Err(down(format!("failed ({e})"))),
        }
    }
}

/// The MIME structure of a stored message, with the detections placed on their parts.
pub fn structure(entry: &Entry, raw: &[u8], limits: &Limits) -> (Vec<PartInfo>, Vec<String>) {
    let analysis = message::analyse(raw, limits);
    let mut parts: Vec<PartInfo> = Vec::new();
    for t in &analysis.texts {
        let (part, kind, ct) = match t.origin {
            TextOrigin::Body { part } => (part, "text", "text/plain"),
            TextOrigin::Html { part } => (part, "html", "text/html"),
            _ => continue,
        };
        parts.push(PartInfo {
            part,
            kind: kind.into(),
            content_type: ct.into(),
            name: None,
            size: t.text.len(),
            members: 0,
            detections: Vec::new(),
        });
    }
    for a in &analysis.attachments {
        parts.push(PartInfo {
            part: a.part,
            kind: "attachment".into(),
            content_type: a.content_type.clone(),
            name: a.name.clone(),
            size: a.size,
            members: a.members.len(),
            detections: Vec::new(),
        });
    }
    parts.sort_by_key(|p| p.part);
    let mut whole = Vec::new();
    for d in &entry.detections {
        let located = d
            .location
            .strip_prefix("part ")
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.trim().parse::<usize>().ok());
        let label = format!("{} ({})", d.name, d.location);
        match located.and_then(|n| parts.iter_mut().find(|p| p.part == n)) {
            Some(p) => p.detections.push(label),
            None => whole.push(label),
        }
    }
    (parts, whole)
}

#[cfg(test)]
mod tests;
