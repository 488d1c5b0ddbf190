//! *Verkeersgegevens*: one traffic record per message the filter handles, kept 28 days (WereldKidz 6.7),
//! read only as k-anonymous aggregates of whole periods (SOML/ProCon 8.2, Uniek 3.2.5b) or by a time-limited targeted
//! inquiry on one person (SOML/ProCon 8.3, WereldKidz 6.6).
//!
//! ## The record, field by field ([`Record`])
//!
//! | field | meaning | why it cannot reveal content |
//! |---|---|---|
//! | `time` | seconds since the epoch when the message was handled | time only (art. 8.7) |
//! | `sender` | HMAC-SHA256 of the lowercased envelope sender under the key of the record's key period, hex | keyed pseudonym: without the key ([`keys`]: kept outside the data directory, rotated per key period, deleted with the period's last record) the address cannot be computed back; an inquiry re-identifies one address by computing its pseudonym under each key |
//! | `sender_domain` | domain of the envelope sender (`<>` for the null sender) | a domain, not a person |
//! | `rcpt_local` / `rcpt_external` | number of recipients inside / outside `[organisation] local_domains` | counts |
//! | `rcpt_domains` | distinct recipient domains, sorted | never the local parts |
//! | `size` | message size in bytes (art. 8.8) | a number |
//! | `attachments` | number of attachments | never their names |
//! | `verdict` | `pass`, `bounce`, `quarantine` or `tempfail` | the outcome |
//! | `categories` | categories of the rules that fired (e.g. `privacy`) | never the words that matched |
//! | `exempt` | `persoonlijk`, `vertrouwenspersoon` or none | the kind only |
//!
//! Never stored: subject, body, file names, recipient local parts, matched words, the sender address itself.
//!
//! ## Paths
//! [`Record::from_message`] is pure. The pipeline hands records to a [`Recorder`] (bounded channel,
//! `try_send`): when the channel is full or the writer is gone the record is dropped, counted and logged —
//! recording never delays or fails mail. A writer task ([`spawn_writer`]) pseudonymises them (the sender
//! address travels only through that channel, in memory) and puts them in the [`store`] in batches: it lets
//! records gather for [`GATHER`] after the first one and handles them with one trip to the blocking pool
//! (where a new key period's key file is created), so that under load a message costs no thread wake-up
//! of its own and the pipeline never touches the disk. [`Recorder::flush`]
//! waits until everything recorded before it is written (shutdown).
//! Must not: store or log anything from the message content, or block the pipeline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::envelope::{domain_of, is_local, Envelope};
use crate::policy::{Decision, Exemption};

pub mod backend;
pub mod inquiry;
pub mod keys;
pub mod postgres;
pub mod report;
pub mod store;
pub mod summary;

pub use backend::Traffic;
pub use inquiry::{Inquiry, InquiryError};
pub use keys::{EpochKey, KeyError, KeyRing};
pub use store::{StoreError, TrafficStore};
pub use summary::{Group, Summary, Unit};

/// Seconds in a day.
pub const DAY: u64 = 86_400;

/// One traffic record (see the module docs for each field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Seconds since the epoch.
    pub time: u64,
    /// Keyed pseudonym of the envelope sender (64 hex digits).
    pub sender: String,
    /// Domain of the envelope sender, `<>` for the null sender.
    pub sender_domain: String,
    /// Recipients in the organisation's own domains.
    pub rcpt_local: u32,
    /// Recipients elsewhere.
    pub rcpt_external: u32,
    /// Distinct recipient domains, sorted.
    pub rcpt_domains: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// Number of attachments.
    pub attachments: u32,
    /// `pass`, `bounce`, `quarantine` or `tempfail`.
    pub verdict: String,
    /// Categories of the rules that fired, sorted, distinct.
    pub categories: Vec<String>,
    /// `persoonlijk` or `vertrouwenspersoon` when exempt.
    pub exempt: Option<String>,
    /// In monitor mode: the verdict enforcing every rule would have given (`bounce`), when it differs.
    /// Absent in records written before monitor mode existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would: Option<String>,
}

impl Record {
    /// The record for one handled message. Pure: the time and the pseudonym key are passed in.
    pub fn from_message(
        time: u64,
        key: &PseudonymKey,
        envelope: &Envelope,
        local_domains: &[String],
        size: usize,
        attachments: usize,
        decision: &Decision,
    ) -> Record {
        let mut record =
            Record::unkeyed(time, envelope, local_domains, size, attachments, decision);
        record.sender = key.pseudonym(envelope.mail_from.as_deref().unwrap_or(""));
        record
    }

    /// The record without its pseudonym (`sender` empty): the writer adds it under the key of the record's
    /// key period.
    fn unkeyed(
        time: u64,
        envelope: &Envelope,
        local_domains: &[String],
        size: usize,
        attachments: usize,
        decision: &Decision,
    ) -> Record {
        let sender = envelope.mail_from.as_deref().unwrap_or("");
        let mut rcpt_domains: Vec<String> = envelope.recipients().filter_map(domain_of).collect();
        rcpt_domains.sort();
        rcpt_domains.dedup();
        let local = envelope
            .recipients()
            .filter(|r| is_local(r, local_domains))
            .count();
        let total = envelope.rcpt_to.len();
        Record {
            time,
            sender: String::new(),
            sender_domain: domain_of(sender).unwrap_or_else(|| "<>".into()),
            rcpt_local: u32::try_from(local).unwrap_or(u32::MAX),
            rcpt_external: u32::try_from(total.saturating_sub(local)).unwrap_or(u32::MAX),
            rcpt_domains,
            size: size as u64,
            attachments: u32::try_from(attachments).unwrap_or(u32::MAX),
            verdict: decision.verdict.name().into(),
            categories: decision
                .categories()
                .into_iter()
                .map(str::to_string)
                .collect(),
            exempt: decision.exempt.map(|e| {
                match e {
                    Exemption::Persoonlijk => "persoonlijk",
                    Exemption::Vertrouwenspersoon => "vertrouwenspersoon",
                    Exemption::Melding => "melding",
                }
                .to_string()
            }),
            would: decision.would.map(|v| v.name().to_string()),
        }
    }
}

/// The secret key of the sender pseudonyms of one key period (see [`keys`]).
#[derive(Clone)]
pub struct PseudonymKey {
    /// HMAC-SHA256 already keyed: the key's inner and outer blocks are hashed once, not per message.
    /// `None` only if the HMAC refused the key, which it never does (any key length is accepted).
    mac: Option<hmac::Hmac<sha2::Sha256>>,
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

impl PseudonymKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> PseudonymKey {
        PseudonymKey {
            mac: hmac::Hmac::<sha2::Sha256>::new_from_slice(&bytes).ok(),
        }
    }

    /// The pseudonym of an address: HMAC-SHA256(key, lowercased trimmed address), hex.
    pub fn pseudonym(&self, address: &str) -> String {
        let normal = address
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_lowercase();
        // HMAC accepts keys of any length, so the keyed state always exists.
        let Some(mut mac) = self.mac.clone() else {
            return String::new();
        };
        mac.update(normal.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(2 * tag.len());
        for b in tag {
            for nibble in [b >> 4, b & 0xf] {
                hex.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
            }
        }
        hex
    }
}

/// The pipeline's handle: turns a handled message into a record and queues it without waiting.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: tokio::sync::mpsc::Sender<Queued>,
    dropped: Arc<AtomicU64>,
}

/// What travels from the [`Recorder`] to the writer, in order.
#[derive(Debug)]
enum Queued {
    /// A record still without its pseudonym, and the sender address it is computed from (boxed: the queue's
    /// slots stay small).
    Record(Box<Unkeyed>),
    /// Answered once every record queued before it has been written (or failed).
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// A record on its way to the writer: the pseudonym is computed there, under its key period's key.
struct Unkeyed {
    record: Record,
    sender: String,
}

impl std::fmt::Debug for Unkeyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The address stays out of any debug output.
        f.debug_struct("Unkeyed")
            .field("time", &self.record.time)
            .finish_non_exhaustive()
    }
}

/// The verdict of a message refused for its size (`552`) before it was decided, as logs, metrics and
/// traffic records spell it.
pub const TOO_BIG: &str = "too-big";

/// How many records may wait for the writer before new ones are dropped.
pub const QUEUE: usize = 4096;

/// How long the writer lets records gather after the first of a batch. Records carry their own time, so
/// this only delays when a record becomes visible to summaries and inquiries; it saves a wake-up of the
/// writer and of a blocking-pool thread per message under load.
pub const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

impl Recorder {
    /// Record one handled message now. Never waits and never fails: a full queue or a stopped writer drops
    /// the record, counts it and logs a warning (no address in the log).
    pub fn record(
        &self,
        envelope: &Envelope,
        local_domains: &[String],
        size: usize,
        attachments: usize,
        decision: &Decision,
    ) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let record = Record::unkeyed(now, envelope, local_domains, size, attachments, decision);
        self.queue(record, envelope);
    }

    /// Record a message refused for its size before it was decided: verdict [`TOO_BIG`], no categories,
    /// no attachments, `limit` (the size it went over) as its size. Never waits and never fails.
    pub fn record_too_big(&self, envelope: &Envelope, local_domains: &[String], limit: usize) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let undecided = Decision::undecided();
        let mut record = Record::unkeyed(now, envelope, local_domains, limit, 0, &undecided);
        record.verdict = TOO_BIG.into();
        self.queue(record, envelope);
    }

    fn queue(&self, record: Record, envelope: &Envelope) {
        let sender = envelope.mail_from.clone().unwrap_or_default();
        if let Err(e) = self
            .tx
            .try_send(Queued::Record(Box::new(Unkeyed { record, sender })))
        {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            crate::metrics::traffic_dropped();
            let why = match e {
                tokio::sync::mpsc::error::TrySendError::Full(_) => "queue full",
                tokio::sync::mpsc::error::TrySendError::Closed(_) => "writer stopped",
            };
            warn!(why, dropped, "traffic record dropped");
        }
    }

    /// Waits until every record recorded before this call has been written (or counted as failed);
    /// returns at once when the writer has stopped.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(Queued::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Records dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Start the writer task: records from the returned [`Recorder`] are pseudonymised under the key of their
/// key period from `keys` and go into `store`, in batches (see [`GATHER`]); failures (also a key that
/// cannot be created) are counted and logged, never passed back to mail.
pub fn spawn_writer(
    store: Traffic,
    keys: Arc<KeyRing>,
    capacity: usize,
) -> (Recorder, tokio::task::JoinHandle<()>) {
    let capacity = capacity.max(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Queued>(capacity);
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    let task = tokio::spawn(async move {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, capacity).await > 0 {
            let flush_asked = batch.iter().any(|q| matches!(q, Queued::Flush(_)));
            if !flush_asked {
                // Records that arrive meanwhile wake nobody: the writer is not waiting on the channel.
                tokio::time::sleep(GATHER).await;
                while batch.len() < capacity {
                    match rx.try_recv() {
                        Ok(queued) => batch.push(queued),
                        Err(_) => break,
                    }
                }
            }
            let queued = std::mem::take(&mut batch);
            let records = queued
                .iter()
                .filter(|q| matches!(q, Queued::Record(_)))
                .count();
            let Written { errors, flushes } = match &store {
                Traffic::Embedded(store) => {
                    let (store, keys) = (store.clone(), keys.clone());
                    tokio::task::spawn_blocking(move || write_batch(&store, &keys, queued))
                        .await
                        .unwrap_or_else(|e| Written {
                            errors: vec![e.to_string(); records],
                            flushes: Vec::new(),
                        })
                }
                Traffic::Postgres(store) => write_shared(store, &keys, queued).await,
            };
            for error in errors {
                let dropped = counter.fetch_add(1, Ordering::Relaxed) + 1;
                crate::metrics::traffic_dropped();
                warn!(error, dropped, "traffic record not written");
            }
            // Answered only now, so whoever flushed sees every failure of the batch counted.
            for done in flushes {
                let _ = done.send(());
            }
        }
    });
    (Recorder { tx, dropped }, task)
}

/// What writing a batch left: the error of every record that could not be written, and the batch's flush
/// requests, answered by the writer once it has counted those errors (a batch's senders that went with a
/// failed task see their channel closed, which also ends their wait).
struct Written {
    errors: Vec<String>,
    flushes: Vec<tokio::sync::oneshot::Sender<()>>,
}

/// Writes a batch in order.
fn write_batch(store: &TrafficStore, keys: &KeyRing, batch: Vec<Queued>) -> Written {
    let (mut errors, mut flushes) = (Vec::new(), Vec::new());
    for queued in batch {
        match queued {
            Queued::Record(unkeyed) => {
                let Unkeyed { mut record, sender } = *unkeyed;
                match keys.key_for(record.time) {
                    Ok(key) => record.sender = key.pseudonym(&sender),
                    Err(e) => {
                        errors.push(e.to_string());
                        continue;
                    }
                }
                if let Err(e) = store.insert(&record) {
                    errors.push(e.to_string());
                }
            }
            Queued::Flush(done) => flushes.push(done),
        }
    }
    Written { errors, flushes }
}

/// [`write_batch`] for the shared store: the pseudonyms are computed on the blocking pool (a new key
/// period's key is read from or made in the shared database there), then the batch goes to PostgreSQL in
/// one transaction. A database that cannot be reached fails the whole batch: each record is counted as
/// dropped, mail is not affected.
async fn write_shared(
    store: &postgres::PgTraffic,
    keys: &Arc<KeyRing>,
    batch: Vec<Queued>,
) -> Written {
    let keys = keys.clone();
    let keyed = tokio::task::spawn_blocking(move || {
        let (mut records, mut flushes, mut errors) = (Vec::new(), Vec::new(), Vec::new());
        for queued in batch {
            match queued {
                Queued::Record(unkeyed) => {
                    let Unkeyed { mut record, sender } = *unkeyed;
                    match keys.key_for(record.time) {
                        Ok(key) => {
                            record.sender = key.pseudonym(&sender);
                            records.push(record);
                        }
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                Queued::Flush(done) => flushes.push(done),
            }
        }
        (records, flushes, errors)
    })
    .await;
    let Ok((records, flushes, mut errors)) = keyed else {
        // The batch's senders went with the failed task; its flush requests see their channel closed.
        return Written {
            errors: vec!["pseudonymising a batch of traffic records failed".into()],
            flushes: Vec::new(),
        };
    };
    if let Err(e) = store.insert_many(&records).await {
        errors.extend(std::iter::repeat_n(e.to_string(), records.len()));
    }
    Written { errors, flushes }
}

#[cfg(test)]
mod tests;
