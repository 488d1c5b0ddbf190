//! The filter: the one place that turns a received message into an action and an SMTP reply.
//!
//! [`Engine`] is the pure part (analyse → scan → decide), shared by `serve` and `check` so both run exactly
//! the same code. [`Pipeline`] adds the actions and owns the rule of rules: **`250` only when the message is
//! safe** — relayed and accepted by the next hop, or its bounce accepted by the next hop, or durably
//! quarantined (or, only when `[policy] on_unnotifiable = "discard"` says so, deliberately dropped and
//! logged). Every failure on the way becomes a `4xx` here, so Postfix keeps the message and retries.
//!
//! Notices go only where [`bounce::may_notify`] allows (our own senders, never automatic mail: no
//! backscatter); a message that should go back to anyone else is kept per `[policy] on_unnotifiable`. Each
//! notice sent is remembered ([`NoticeMemory`]), so a message Postfix sends again does not cause another.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tracing::{info, warn};

use crate::bounce::{
    self, BounceError, BounceMode, BounceSettings, DsnInput, Mailer, NoticeKey, NoticeMemory,
    NoticePolicy, OnUnnotifiable, Reason, Withheld,
};
use crate::envelope::{domain_of, Envelope};
use crate::message::{self, Analysis, Limits};
use crate::policy::{self, Decision, PolicySettings, ScanResult, Verdict};
use crate::quarantine::Quarantine;
use crate::rules::{OrgContext, RuleSet, RulesError};
use crate::scan::{Detection, Scanner};
use crate::smtp::client::{NextHop, Outbound};
use crate::smtp::{Handler, Reply, Transaction};

/// Messages larger than this are analysed on the blocking pool so a big message never stalls the reactor.
/// With the default single worker thread every other session waits while a message is analysed inline, so
/// the limit is low: most mail is smaller, and a larger message's analysis dwarfs the hand-off (measured on
/// the realistic set: 721 → 796 msg/s at c=10 and 1,136 → 1,318–1,376 at c=50 with 64 KiB instead of 256).
const INLINE_ANALYSIS_LIMIT: usize = 64 * 1024;

/// Everything needed to decide about a message; built from the configuration, replaced whole on reload.
pub struct Engine {
    pub rules: RuleSet,
    pub policy: PolicySettings,
    pub org: OrgContext,
    pub limits: Limits,
    pub scanner: Box<dyn Scanner>,
    pub bounce: BounceSettings,
    pub bounce_mode: BounceMode,
    /// Who may get a notice (`[organisation] local_domains`, `[bounce] notify_local_source`).
    pub notices: NoticePolicy,
    /// What happens to a message whose sender may not get its notice.
    pub on_unnotifiable: OnUnnotifiable,
    /// How long a sent notice is remembered (`[bounce] remember_days`).
    pub remember: Duration,
}

/// A configuration whose rules, hash list or templates cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Engine {
    /// Analyse, scan and decide. Pure apart from the scanner (which may talk to a daemon).
    pub async fn evaluate(&self, envelope: &Envelope, raw: &[u8], analysis: Analysis) -> Decision {
        let scan: ScanResult = self.scanner.scan(raw, &analysis).await.into();
        if matches!(scan, ScanResult::Failed(_)) {
            crate::metrics::scan_error();
        }
        if let (ScanResult::Failed(reason), true) = (&scan, self.policy.pass_unscanned) {
            // [scan] on_error = "pass": delivered unscanned, never silently (the reason names the scanner).
            warn!(
                reason,
                "malware scan failed; passing unscanned as configured"
            );
        }
        policy::decide(
            &self.rules,
            &self.policy,
            &self.org,
            envelope,
            &analysis,
            &scan,
        )
    }

    /// Analyse and decide in one call, on the current thread (for `check` and tests).
    pub async fn check(&self, envelope: &Envelope, raw: &[u8]) -> (Analysis, Decision) {
        let analysis = message::analyse(raw, &self.limits);
        let decision = self.evaluate(envelope, raw, analysis.clone()).await;
        (analysis, decision)
    }

    /// The rules behind the hits of a decision, once each, in hit order.
    pub(crate) fn hit_rules<'a>(&'a self, decision: &Decision) -> Vec<&'a crate::rules::RuleInfo> {
        decision
            .rule_ids()
            .into_iter()
            .filter_map(|id| self.rules.rule(id))
            .collect()
    }
}

/// Analyse a message; one larger than [`INLINE_ANALYSIS_LIMIT`] on the blocking pool, so that a big message
/// never stalls the reactor. The data is handed back with its analysis.
pub(crate) async fn analyse_off_reactor(
    limits: &Limits,
    data: Vec<u8>,
) -> Result<(Vec<u8>, Analysis), tokio::task::JoinError> {
    if data.len() <= INLINE_ANALYSIS_LIMIT {
        let analysis = message::analyse(&data, limits);
        return Ok((data, analysis));
    }
    let limits = limits.clone();
    tokio::task::spawn_blocking(move || {
        let analysis = message::analyse(&data, &limits);
        (data, analysis)
    })
    .await
}

/// The filter stage: engine + next hop + bounce mailer + quarantine. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    engine: ArcSwap<Engine>,
    next_hop: NextHop,
    mailer: Mailer,
    quarantine: Arc<dyn Quarantine>,
    /// Notices already sent, so a retried message does not repeat them.
    memory: NoticeMemory,
    /// Where traffic records go (set once by `serve`; unset in `check` and tests: nothing recorded).
    traffic: std::sync::OnceLock<crate::traffic::Recorder>,
}

/// What happened to a message, for the log line (also built by the milter, which logs the same line).
pub(crate) struct Outcome {
    pub(crate) reply: Reply,
    pub(crate) action: &'static str,
    /// What became of the notice to the sender.
    pub(crate) notice: Notice,
}

impl Outcome {
    /// An outcome that involved no notice.
    pub(crate) fn new(reply: Reply, action: &'static str) -> Outcome {
        Outcome {
            reply,
            action,
            notice: Notice::None,
        }
    }

    /// The same outcome, with what became of the notice.
    fn with_notice(self, notice: Notice) -> Outcome {
        Outcome { notice, ..self }
    }
}

/// What became of the notice to the sender, for the log line (`notice=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    /// None was due.
    None,
    /// Handed to the next hop now.
    Sent,
    /// Handed to the next hop on an earlier attempt of the same message (Postfix retried it).
    AlreadySent,
    /// `bounce_mode = "reject"`: the `550` makes Postfix write it.
    ByPostfix,
    /// Due, but could not be sent; the message was safe already (quarantined).
    Failed,
    /// Not sent to this sender, and why.
    Withheld(Withheld),
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::None => f.write_str("-"),
            Notice::Sent => f.write_str("sent"),
            Notice::AlreadySent => f.write_str("already-sent"),
            Notice::ByPostfix => f.write_str("by-postfix"),
            Notice::Failed => f.write_str("failed"),
            Notice::Withheld(why) => write!(f, "withheld:{}", why.as_str()),
        }
    }
}

/// The kinds of notice, as the first part of a [`NoticeKey`].
const NOTICE_BOUNCE: &[u8] = b"bounce";
const NOTICE_INFECTED: &[u8] = b"infected";
const NOTICE_REFUSED: &[u8] = b"refused";

impl Pipeline {
    pub fn new(
        engine: Engine,
        next_hop: NextHop,
        mailer: Mailer,
        quarantine: Arc<dyn Quarantine>,
        memory: NoticeMemory,
    ) -> Pipeline {
        Pipeline {
            inner: Arc::new(Inner {
                engine: ArcSwap::from_pointee(engine),
                next_hop,
                mailer,
                quarantine,
                memory,
                traffic: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Record *verkeersgegevens* for every handled message from now on (set once; later calls are ignored).
    pub fn set_traffic(&self, recorder: crate::traffic::Recorder) {
        let _ = self.inner.traffic.set(recorder);
    }

    /// Replace the engine (SIGHUP). Transactions in flight finish with the engine they started with.
    pub fn reload(&self, engine: Engine) {
        self.inner.engine.store(Arc::new(engine));
    }

    /// The engine in use now.
    pub fn engine(&self) -> Arc<Engine> {
        self.inner.engine.load_full()
    }

    /// Decide about one received message, act, and return the reply to the final dot.
    pub async fn process(&self, txn: Transaction) -> Reply {
        let queue_id = crate::queue_id::new();
        let received = SystemTime::now();
        let engine = self.engine();
        let size = txn.data.len();
        let (data, mut analysis) = match analyse_off_reactor(&engine.limits, txn.data).await {
            Ok(done) => done,
            Err(e) => {
                warn!(queue_id, error = %e, "analysis task failed");
                return internal_error(&queue_id).reply;
            }
        };
        let msg = InFlight {
            engine: &engine,
            queue_id: &queue_id,
            envelope: &txn.envelope,
            data: &data,
            // Only the bounce uses the header block: moved out, not copied.
            original_headers: std::mem::take(&mut analysis.headers.raw_header_block),
            auto_generated: analysis.headers.auto_generated,
            received,
        };
        let attachments = analysis.attachments.len();
        let scan_started = std::time::Instant::now();
        let decision = engine.evaluate(&txn.envelope, &data, analysis).await;
        crate::metrics::scan_latency(scan_started.elapsed());
        let outcome = match decision.verdict {
            Verdict::Pass => {
                let started = std::time::Instant::now();
                let outcome = self.relay(&msg).await;
                crate::metrics::relay_latency(started.elapsed());
                outcome
            }
            Verdict::Bounce => self.bounce(&msg, &decision).await,
            Verdict::Quarantine => self.quarantine(&msg, &decision).await,
            Verdict::Tempfail => {
                // The reason names the scanner and its error (never content), for the operator.
                warn!(
                    queue_id,
                    reason = decision.tempfail_reason.as_deref().unwrap_or("-"),
                    "malware scan failed; deferring"
                );
                Outcome::new(
                    Reply::new(
                        451,
                        "4.7.0",
                        format!("{queue_id} temporary failure: malware scan unavailable, try again later"),
                    ),
                    "tempfail",
                )
            }
        };
        self.account(
            &queue_id,
            &txn.envelope,
            size,
            attachments,
            &decision,
            &outcome,
        );
        outcome.reply
    }

    /// Everything that follows a decided message in either mode (SMTP relay or milter): the one log line,
    /// the metrics and the traffic record (*verkeersgegevens*, never waits or fails: see [`crate::traffic`]).
    pub(crate) fn account(
        &self,
        queue_id: &str,
        envelope: &Envelope,
        size: usize,
        attachments: usize,
        decision: &Decision,
        outcome: &Outcome,
    ) {
        log_message(queue_id, envelope, size, attachments, decision, outcome);
        crate::metrics::message(decision.verdict.name(), size);
        if let Some(traffic) = self.inner.traffic.get() {
            let local_domains = &self.engine().org.local_domains;
            traffic.record(envelope, local_domains, size, attachments, decision);
        }
    }

    /// Pass the message on unchanged. Recipients the next hop refuses permanently while it accepts others
    /// are dealt with first ([`Pipeline::refused_part`]: a notice to the sender, or kept per
    /// `on_unnotifiable`), then the message goes to the others; any temporary refusal defers the whole
    /// message.
    async fn relay(&self, msg: &InFlight<'_>) -> Outcome {
        let (queue_id, envelope) = (msg.queue_id, msg.envelope);
        let out = match self.inner.next_hop.begin(envelope).await {
            Ok(out) => out,
            Err(e) => return next_hop_down(queue_id, &e),
        };
        if !out.mail_reply.is_positive() {
            let reply = out.mail_reply.clone();
            out.abort().await;
            return passed_back(queue_id, reply, "refused");
        }
        let transient = out.rcpt_replies.iter().find(|r| r.is_transient()).cloned();
        if let Some(reply) = transient {
            out.abort().await;
            return passed_back(queue_id, reply, "deferred");
        }
        let rejected: Vec<(String, Reply)> = envelope
            .rcpt_to
            .iter()
            .zip(&out.rcpt_replies)
            .filter(|(_, r)| r.is_permanent())
            .map(|(rcpt, r)| (rcpt.address.clone(), r.clone()))
            .collect();
        if rejected.is_empty() {
            return self.send_data(queue_id, out, msg.data).await;
        }
        if rejected.len() == envelope.rcpt_to.len() {
            // The next hop's own refusal of the whole message goes back to Postfix unchanged; Postfix then
            // applies its own bounce rules, as for any refusal by a next hop.
            let reply = out
                .rcpt_replies
                .first()
                .cloned()
                .unwrap_or_else(|| Reply::new(550, "5.1.1", "rejected"));
            out.abort().await;
            return passed_back(queue_id, reply, "refused");
        }
        // Mixed: deal with the refused recipients, then deliver to the others.
        out.abort().await;
        let notice = match self.refused_part(msg, &rejected).await {
            Ok(notice) => notice,
            Err(outcome) => return outcome,
        };
        let mut accepted = envelope.clone();
        accepted
            .rcpt_to
            .retain(|r| !rejected.iter().any(|(a, _)| *a == r.address));
        let out = match self.inner.next_hop.begin(&accepted).await {
            Ok(out) => out,
            Err(e) => return next_hop_down(queue_id, &e).with_notice(notice),
        };
        if !out.mail_reply.is_positive() || out.rcpt_replies.iter().any(|r| !r.is_positive()) {
            out.abort().await;
            return Outcome {
                reply: Reply::new(
                    451,
                    "4.4.0",
                    format!("{queue_id} next hop changed its answer, try again later"),
                ),
                action: "deferred",
                notice,
            };
        }
        self.send_data(queue_id, out, msg.data)
            .await
            .with_notice(notice)
    }

    /// The recipients the next hop refused permanently while it accepted others: tell the sender (RFC 3464),
    /// or, when the sender may not be notified or the notice is refused for good, keep that part of the
    /// message per `on_unnotifiable` (quarantined for exactly those recipients, or dropped) — never silently.
    /// Done once per message: a retry of the same message finds it in the notice memory and skips it.
    /// `Err` is the outcome to answer with (a `4xx`: nothing has been delivered yet).
    async fn refused_part(
        &self,
        msg: &InFlight<'_>,
        rejected: &[(String, Reply)],
    ) -> Result<Notice, Outcome> {
        let queue_id = msg.queue_id;
        let failed: Vec<String> = rejected.iter().map(|(a, _)| a.clone()).collect();
        let mut domains: Vec<String> = failed.iter().filter_map(|a| domain_of(a)).collect();
        domains.sort();
        domains.dedup();
        let key = notice_key(NOTICE_REFUSED, msg, &failed);
        let notice = if self.remembered(msg, key).await {
            Notice::AlreadySent
        } else {
            let withheld = match self.may_notify(msg) {
                Err(why) => Some(why),
                Ok(sender) => {
                    match self
                        .send_dsn(msg, sender, &failed, Reason::Rejected(rejected))
                        .await
                    {
                        Ok(()) => None,
                        Err(e) if e.is_permanent() => Some(Withheld::NoticeRefused),
                        Err(_) => return Err(notice_deferred(queue_id)),
                    }
                }
            };
            if withheld.is_some() {
                let mut part = msg.envelope.clone();
                part.rcpt_to
                    .retain(|r| rejected.iter().any(|(a, _)| *a == r.address));
                let detections: Vec<Detection> = msg
                    .envelope
                    .recipients()
                    .enumerate()
                    .filter_map(|(i, rcpt)| {
                        let (_, reply) = rejected.iter().find(|(a, _)| a == rcpt)?;
                        Some(Detection {
                            name: format!(
                                "refused by the next hop ({})",
                                bounce::refusal_code(reply)
                            ),
                            location: format!("envelope recipient {}", i + 1),
                        })
                    })
                    .collect();
                self.keep_unnotifiable(msg, &part, &detections).await?;
            }
            self.remember(msg, key).await;
            withheld.map_or(Notice::Sent, Notice::Withheld)
        };
        // Refused recipients are never dropped without a trace (domains only: no local parts in logs).
        warn!(
            queue_id,
            refused = failed.len(),
            refused_domains = %domains.join(","),
            notice = %notice,
            kept = if matches!(notice, Notice::Withheld(_)) {
                on_unnotifiable_name(msg.engine.on_unnotifiable)
            } else {
                "-"
            },
            "next hop refused some recipients permanently; delivering to the others"
        );
        Ok(notice)
    }

    async fn send_data(&self, queue_id: &str, out: Outbound, data: &[u8]) -> Outcome {
        match out.send_data(data).await {
            Ok(reply) if reply.is_positive() => Outcome::new(
                Reply::new(
                    250,
                    "2.0.0",
                    format!("Ok: {queue_id} passed, next hop: {}", reply_summary(&reply)),
                ),
                "relayed",
            ),
            Ok(reply) => passed_back(queue_id, reply, "refused"),
            Err(e) => next_hop_down(queue_id, &e),
        }
    }

    /// Send the message back to its sender (WereldKidz 6.5); recipients get nothing. A sender who may not be
    /// notified gets nothing either: the message is kept per `on_unnotifiable`.
    async fn bounce(&self, msg: &InFlight<'_>, decision: &Decision) -> Outcome {
        let rules = msg.engine.hit_rules(decision);
        let reason = Reason::Rules(&rules);
        let sender = match self.may_notify(msg) {
            Ok(sender) => sender,
            Err(why) => return self.unnotifiable(msg, decision, why).await,
        };
        if msg.engine.bounce_mode == BounceMode::Reject {
            // Postfix writes the bounce on this 550 (after the queue); the sender may get it.
            return Outcome {
                reply: bounce::reject_reply(&reason),
                action: "rejected",
                notice: Notice::ByPostfix,
            };
        }
        let failed: Vec<String> = msg.envelope.recipients().map(String::from).collect();
        let key = notice_key(NOTICE_BOUNCE, msg, &failed);
        let notice = if self.remembered(msg, key).await {
            Notice::AlreadySent
        } else {
            match self.send_dsn(msg, sender, &failed, reason).await {
                Ok(()) => {
                    self.remember(msg, key).await;
                    Notice::Sent
                }
                Err(e) if e.is_permanent() => {
                    return self
                        .unnotifiable(msg, decision, Withheld::NoticeRefused)
                        .await
                }
                Err(_) => return notice_deferred(msg.queue_id),
            }
        };
        Outcome {
            reply: Reply::new(
                250,
                "2.7.0",
                format!(
                    "Ok: {} not delivered, returned to sender (policy)",
                    msg.queue_id
                ),
            ),
            action: "bounced",
            notice,
        }
    }

    /// A policy bounce whose sender may not be notified: quarantined with the rules that hit (ICT can
    /// release a mistake) or, when configured, dropped. `250` either way: a notice can never go out, so a
    /// retry would not help.
    async fn unnotifiable(
        &self,
        msg: &InFlight<'_>,
        decision: &Decision,
        why: Withheld,
    ) -> Outcome {
        let mut detections: Vec<Detection> = Vec::new();
        for hit in &decision.hits {
            let d = Detection {
                name: format!("{} [{}]", hit.rule_id, hit.category),
                location: hit.location.to_string(),
            };
            if !detections.contains(&d) {
                detections.push(d);
            }
        }
        if let Err(outcome) = self.keep_unnotifiable(msg, msg.envelope, &detections).await {
            return outcome;
        }
        let (text, action) = match msg.engine.on_unnotifiable {
            OnUnnotifiable::Quarantine => ("quarantined", "quarantined"),
            OnUnnotifiable::Discard => ("discarded", "discarded"),
        };
        Outcome {
            reply: Reply::new(
                250,
                "2.7.0",
                format!(
                    "Ok: {} not delivered (policy), {text}; sender not notified",
                    msg.queue_id
                ),
            ),
            action,
            notice: Notice::Withheld(why),
        }
    }

    /// Keep (the part of) a message that cannot go back to its sender, per `on_unnotifiable`: stored durably
    /// in the quarantine for `envelope`'s recipients with `detections` as the reason, or nothing. `Err` is
    /// the `4xx` to answer when the store fails.
    async fn keep_unnotifiable(
        &self,
        msg: &InFlight<'_>,
        envelope: &Envelope,
        detections: &[Detection],
    ) -> Result<(), Outcome> {
        if msg.engine.on_unnotifiable == OnUnnotifiable::Discard {
            return Ok(());
        }
        let stored =
            self.inner
                .quarantine
                .store(msg.queue_id, envelope, msg.data, detections, msg.received);
        let stored_id = stored.await.map_err(|e| {
            warn!(queue_id = msg.queue_id, error = %e, "quarantine store failed");
            internal_error(msg.queue_id)
        })?;
        // The id was taken by an entry of an earlier process: the quarantine chose a new one.
        if stored_id != msg.queue_id {
            warn!(queue_id = msg.queue_id, stored_as = %stored_id, "queue id already in the quarantine; stored under a new id");
        }
        Ok(())
    }

    /// Keep the infected message apart (WereldKidz 8.5), then tell the sender if they may be told;
    /// recipients get nothing.
    async fn quarantine(&self, msg: &InFlight<'_>, decision: &Decision) -> Outcome {
        let queue_id = msg.queue_id;
        let stored = self.inner.quarantine.store(
            queue_id,
            msg.envelope,
            msg.data,
            &decision.detections,
            msg.received,
        );
        let stored_id = match stored.await {
            Ok(id) => id,
            Err(e) => {
                warn!(queue_id, error = %e, "quarantine store failed");
                return internal_error(queue_id);
            }
        };
        // The id was taken by an entry of an earlier process: the quarantine chose a new one, and the reply
        // and the notice name the id the message is stored under.
        let renamed;
        let msg = if stored_id == queue_id {
            msg
        } else {
            warn!(queue_id, stored_as = %stored_id, "queue id already in the quarantine; stored under a new id");
            renamed = InFlight {
                queue_id: &stored_id,
                original_headers: msg.original_headers.clone(),
                ..*msg
            };
            &renamed
        };
        let queue_id = msg.queue_id;
        // The message is safe now; a failed notice must not make Postfix send it again.
        let notice = match self.may_notify(msg) {
            Err(why) => Notice::Withheld(why),
            Ok(sender) => {
                let failed: Vec<String> = msg.envelope.recipients().map(String::from).collect();
                let key = notice_key(NOTICE_INFECTED, msg, &failed);
                if self.remembered(msg, key).await {
                    Notice::AlreadySent
                } else {
                    let reason = Reason::Infected(&decision.detections);
                    match self.send_dsn(msg, sender, &failed, reason).await {
                        Ok(()) => {
                            self.remember(msg, key).await;
                            Notice::Sent
                        }
                        Err(_) => Notice::Failed,
                    }
                }
            }
        };
        Outcome {
            reply: Reply::new(
                250,
                "2.7.0",
                format!("Ok: {queue_id} quarantined (infected), not delivered"),
            ),
            action: "quarantined",
            notice,
        }
    }

    /// May this message's sender get a notice? The sender's address when yes.
    fn may_notify<'m>(&self, msg: &InFlight<'m>) -> Result<&'m str, Withheld> {
        let sender = msg.envelope.mail_from.as_deref();
        bounce::may_notify(
            &msg.engine.notices,
            sender,
            &msg.envelope.xforward,
            msg.auto_generated,
        )?;
        sender.ok_or(Withheld::NullSender)
    }

    /// Build a DSN for `failed` and hand it to the next hop. Errors are logged here (no addresses);
    /// [`BounceError::is_permanent`] tells the caller whether a retry could help.
    async fn send_dsn(
        &self,
        msg: &InFlight<'_>,
        sender: &str,
        failed: &[String],
        reason: Reason<'_>,
    ) -> Result<(), BounceError> {
        let queue_id = msg.queue_id;
        let input = DsnInput {
            queue_id,
            envelope_sender: sender,
            failed_recipients: failed,
            original_headers: &msg.original_headers,
            arrival: msg.received,
            reason,
        };
        let dsn =
            bounce::build_dsn(&msg.engine.bounce, &input, SystemTime::now()).map_err(|e| {
                warn!(queue_id, error = %e, "cannot build bounce");
                e
            })?;
        self.inner.mailer.send(sender, &dsn).await.map_err(|e| {
            warn!(queue_id, error = %e, permanent = e.is_permanent(), "bounce not accepted by next hop");
            e
        })
    }

    /// True when this notice was sent on an earlier attempt of the message. A memory that cannot be read
    /// counts as "not sent": at worst the sender hears twice, and the message is never held up.
    async fn remembered(&self, msg: &InFlight<'_>, key: NoticeKey) -> bool {
        let seen = self
            .inner
            .memory
            .seen(key, SystemTime::now(), msg.engine.remember)
            .await;
        seen.unwrap_or_else(|e| {
            warn!(queue_id = msg.queue_id, error = %e, "notice memory unreadable; the notice is sent");
            false
        })
    }

    /// Remember a notice as sent. A failure is logged and otherwise ignored: the message goes on, and a
    /// retry of it may repeat the notice.
    async fn remember(&self, msg: &InFlight<'_>, key: NoticeKey) {
        let written = self
            .inner
            .memory
            .remember(key, SystemTime::now(), msg.engine.remember)
            .await;
        if let Err(e) = written {
            warn!(
                queue_id = msg.queue_id,
                error = %e,
                "notice memory not written; a retry of this message may repeat the notice"
            );
        }
    }
}

/// What identifies a notice: its kind, the message bytes, the envelope (sender, recipients, and the XFORWARD
/// attributes, whose `IDENT` is Postfix's queue id), and the recipients it is about. Postfix sends the same
/// queue file with the same attributes on every retry, so a retry gets the same key; two messages Postfix
/// queued separately never do (each got its own `Received:` line and queue id).
fn notice_key(kind: &[u8], msg: &InFlight<'_>, failed: &[String]) -> NoticeKey {
    let envelope = msg.envelope;
    let sender = envelope.mail_from.as_deref().unwrap_or("");
    let rcpts = (envelope.rcpt_to.len() as u64).to_be_bytes();
    let attributes = (envelope.xforward.len() as u64).to_be_bytes();
    let parts = [kind, msg.data, sender.as_bytes(), &rcpts]
        .into_iter()
        .chain(envelope.recipients().map(str::as_bytes))
        .chain(std::iter::once(attributes.as_slice()))
        .chain(
            envelope
                .xforward
                .iter()
                .flat_map(|(name, value)| [name.as_bytes(), value.as_bytes()]),
        )
        .chain(failed.iter().map(|f| f.as_bytes()));
    NoticeKey::new(parts)
}

fn on_unnotifiable_name(on: OnUnnotifiable) -> &'static str {
    match on {
        OnUnnotifiable::Quarantine => "quarantined",
        OnUnnotifiable::Discard => "discarded",
    }
}

/// A notice that could not be handed on (yet): Postfix keeps the message and retries.
fn notice_deferred(queue_id: &str) -> Outcome {
    Outcome::new(
        Reply::new(
            451,
            "4.4.1",
            format!("{queue_id} cannot hand the bounce to the next hop, try again later"),
        ),
        "deferred",
    )
}

/// One message on its way through the pipeline: what the actions need besides the decision.
struct InFlight<'a> {
    /// The engine the decision was made with (a reload mid-message does not mix rule sets).
    engine: &'a Engine,
    queue_id: &'a str,
    envelope: &'a Envelope,
    /// The message exactly as received.
    data: &'a [u8],
    /// The header block, for the DSN's `text/rfc822-headers` part.
    original_headers: Vec<u8>,
    /// Automatic mail is never bounced to.
    auto_generated: bool,
    received: SystemTime,
}

impl Handler for Pipeline {
    fn handle(&self, txn: Transaction) -> crate::util::BoxFuture<'static, Reply> {
        let pipeline = self.clone();
        Box::pin(async move { pipeline.process(txn).await })
    }
}

fn internal_error(queue_id: &str) -> Outcome {
    Outcome::new(
        Reply::new(
            451,
            "4.3.0",
            format!("{queue_id} internal error, try again later"),
        ),
        "deferred",
    )
}

fn next_hop_down(queue_id: &str, error: &crate::smtp::client::RelayError) -> Outcome {
    warn!(queue_id, error = %error, "next hop unavailable");
    crate::metrics::next_hop_error();
    Outcome::new(
        Reply::new(
            451,
            "4.4.1",
            format!("{queue_id} next hop unavailable, try again later"),
        ),
        "deferred",
    )
}

/// A next-hop refusal passed back upstream with its class kept (4xx stays 4xx, 5xx stays 5xx).
fn passed_back(queue_id: &str, reply: Reply, action: &'static str) -> Outcome {
    let code = if reply.is_permanent() {
        reply.code
    } else {
        451
    };
    let status = match (reply.status.is_empty(), reply.is_permanent()) {
        (false, _) => reply.status.clone(),
        (true, true) => "5.0.0".to_string(),
        (true, false) => "4.0.0".to_string(),
    };
    let action = if reply.is_permanent() {
        action
    } else {
        "deferred"
    };
    Outcome::new(
        Reply::new(
            code,
            &status,
            format!("{queue_id} next hop said: {}", reply_summary(&reply)),
        ),
        action,
    )
}

/// The next hop's reply in one line, bounded.
fn reply_summary(reply: &Reply) -> String {
    let mut text = format!("{} {}", reply.code, reply.lines.join(" "));
    if text.len() > 200 {
        let mut cut = 200;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// One line per message: queue id, verdict, action, rule ids, categories, sizes and domains. Never subjects,
/// bodies, file names, matched words or local parts.
pub(crate) fn log_message(
    queue_id: &str,
    envelope: &Envelope,
    size: usize,
    attachments: usize,
    decision: &Decision,
    outcome: &Outcome,
) {
    let sender_domain = envelope
        .mail_from
        .as_deref()
        .and_then(domain_of)
        .unwrap_or_else(|| "<>".into());
    let mut rcpt_domains: Vec<String> = envelope.recipients().filter_map(domain_of).collect();
    rcpt_domains.sort();
    rcpt_domains.dedup();
    let verdict = decision.verdict.name();
    let exempt = match decision.exempt {
        Some(policy::Exemption::Persoonlijk) => "persoonlijk",
        Some(policy::Exemption::Vertrouwenspersoon) => "vertrouwenspersoon",
        None => "-",
    };
    let detections: Vec<&str> = decision
        .detections
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    info!(
        queue_id,
        verdict,
        action = outcome.action,
        reply = outcome.reply.code,
        exempt,
        score = decision.score,
        rules = %decision.rule_ids().join(","),
        categories = %decision.categories().join(","),
        detections = %detections.join(","),
        size,
        attachments,
        sender_domain = %sender_domain,
        rcpts = envelope.rcpt_to.len(),
        rcpt_domains = %rcpt_domains.join(","),
        notice = %outcome.notice,
        "message"
    );
}

/// How long the bounce mailer may take for one DSN.
pub const BOUNCE_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::QuarantineError;
    use crate::scan::Detection;
    use crate::util::BoxFuture;

    /// A quarantine that stores every message under another id, as after a clash with an earlier process.
    struct Renaming;

    impl Quarantine for Renaming {
        fn store<'a>(
            &'a self,
            _id: &'a str,
            _envelope: &'a Envelope,
            _raw: &'a [u8],
            _detections: &'a [Detection],
            _received: SystemTime,
        ) -> BoxFuture<'a, Result<String, QuarantineError>> {
            Box::pin(async { Ok("MWRENAMED".to_string()) })
        }
    }

    /// The reply names the id the message is stored under, not the one it was received as (the id `quarantine
    /// show` knows). A null sender: no notice, so nothing is sent.
    #[tokio::test]
    async fn a_message_stored_under_a_new_id_is_answered_with_that_id() {
        // The filter's own test: an engine of embedded rules and the built-in scanner, no configuration.
        let engine = Engine {
            rules: RuleSet::embedded().expect("embedded rules"),
            policy: PolicySettings {
                threshold: 5.0,
                screen_local_senders_only: true,
                counsellors: Vec::new(),
                sensitivity: Vec::new(),
                subject_labels: Vec::new(),
                pass_unscanned: false,
            },
            org: OrgContext::default(),
            limits: Limits::default(),
            scanner: Box::new(crate::scan::BuiltinScanner::embedded(Limits::default())),
            bounce: BounceSettings::default(),
            bounce_mode: BounceMode::Dsn,
            notices: NoticePolicy::default(),
            on_unnotifiable: OnUnnotifiable::Quarantine,
            remember: Duration::from_secs(86_400),
        };
        let unused = "127.0.0.1:9";
        let mailer = Mailer::new(unused, "localhost", Duration::from_secs(1)).expect("mailer");
        let tmp = tempfile::tempdir().expect("tempdir");
        let pipeline = Pipeline::new(
            engine,
            NextHop::new(crate::smtp::NextHopSettings::default()),
            mailer,
            Arc::new(Renaming),
            NoticeMemory::new(tmp.path().join("notices")),
        );
        let eicar = [
            &b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"[..],
            b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
        ]
        .concat();
        let mut data = b"Subject: rapport\r\n\r\n".to_vec();
        data.extend_from_slice(&eicar);
        data.extend_from_slice(b"\r\n");
        let txn = Transaction {
            peer: "127.0.0.1:25".parse().expect("addr"),
            helo: "localhost".into(),
            envelope: Envelope {
                mail_from: None,
                rcpt_to: vec![crate::envelope::Recipient {
                    address: "ouder@example.org".into(),
                    params: vec![],
                }],
                ..Envelope::default()
            },
            data,
        };
        let reply = pipeline.process(txn).await;
        assert_eq!(reply.code, 250, "{reply:?}");
        assert!(reply.lines.join(" ").contains("MWRENAMED"), "{reply:?}");
    }

    /// Inline or on the blocking pool, a message gets the same analysis and comes back unchanged.
    #[tokio::test]
    async fn analysis_is_the_same_inline_and_off_the_reactor() {
        let limits = Limits::default();
        for size in [INLINE_ANALYSIS_LIMIT - 100, INLINE_ANALYSIS_LIMIT + 100] {
            let mut raw = b"From: juf@school.example\r\nSubject: x\r\n\r\n".to_vec();
            while raw.len() < size {
                raw.extend_from_slice(b"Beste ouders, de ouderavond is donderdag.\r\n");
            }
            let direct = message::analyse(&raw, &limits);
            let (back, analysis) = analyse_off_reactor(&limits, raw.clone())
                .await
                .expect("analysis");
            assert_eq!(back, raw);
            assert_eq!(
                serde_json::to_value(&analysis).expect("json"),
                serde_json::to_value(&direct).expect("json"),
                "{size} bytes"
            );
        }
    }
}
