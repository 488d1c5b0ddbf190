//! The filter: the one path from a received message to its verdict, action, answer and account, for both
//! modes (issue 13 step 4).
//!
//! - this file: [`Engine`], the pure part (analyse → scan → decide), shared by `serve` and `check` so both
//!   run exactly the same code; [`Filter`] with the front half both faces share (`decide`: queue id,
//!   analysis off the reactor, scan with its latency, verdict) and the one `account` (the log line, the
//!   metrics and the traffic record), a message refused for its size included.
//! - `after_queue`: the SMTP face (Postfix `content_filter`): relay, DSN or quarantine → SMTP reply.
//!   **`250` only when the message is safe** — relayed and accepted by the next hop, or its bounce accepted
//!   by the next hop, or durably quarantined (or, only when `[policy] on_unnotifiable = "discard"` says so,
//!   deliberately dropped and logged). Every failure on the way becomes a `4xx`, so Postfix retries.
//! - `before_queue`: the milter face (Postfix `smtpd_milters`): continue, reject or discard → milter reply.
//! - `replies`: every `250`/`4xx`/`5xx` text either face answers with.
//! - `alerts`: the notices and the daily digest to ICT about quarantined mail, sent from `account`.
//!
//! The servers (`crate::smtp::server`, `crate::milter::server`) are shells that call this through their
//! `Handler` traits, each behind the one panic guard ([`crate::util::guarded`]).
//!
//! Notices go only where [`bounce::may_notify`] allows (our own senders, never automatic mail: no
//! backscatter); a message that should go back to anyone else is kept per `[policy] on_unnotifiable`. Each
//! notice sent is remembered ([`NoticeMemory`]), so a message Postfix sends again does not cause another.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tracing::{info, warn};

use crate::bounce::{
    self, BounceError, BounceMode, BounceSettings, DsnInput, NoticeKey, NoticeMemory, NoticePolicy,
    OnUnnotifiable, Reason, Withheld,
};
use crate::envelope::{domain_of, Envelope};
use crate::message::{self, Analysis, Limits};
use crate::policy::{self, Decision, PolicySettings, ScanResult, Verdict};
use crate::quarantine::Quarantine;
use crate::rules::{OrgContext, RuleSet, RulesError};
use crate::scan::{Detection, Scanner};
use crate::smtp::client::{Deliver, Delivery};
use crate::smtp::{Handler, Reply, Transaction};
use crate::traffic::TOO_BIG;

mod after_queue;
pub mod alerts;
mod before_queue;
mod replies;

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
    /// Alerts to ICT about quarantined mail (`[quarantine] notify`, `digest`).
    pub alerts: alerts::AlertSettings,
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

    /// Ask the scanner about a tiny harmless message once, within `within`: `Ok` when it answered (clean or not),
    /// else why not (safe to log). For the start line: a clamd that is down shows at start, not at the
    /// first message.
    pub async fn probe_scanner(&self, within: Duration) -> Result<(), String> {
        let analysis = Analysis::default();
        let probe = b"Subject: mailwacht scanner probe\r\n\r\nprobe\r\n";
        match tokio::time::timeout(within, self.scanner.scan(probe, &analysis)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", within.as_secs())),
        }
    }

    /// Analyse and decide in one call, on the current thread (for `check` and tests).
    pub async fn check(&self, envelope: &Envelope, raw: &[u8]) -> (Analysis, Decision) {
        let analysis = message::analyse(raw, &self.limits);
        let decision = self.evaluate(envelope, raw, analysis.clone()).await;
        (analysis, decision)
    }

    /// The rules behind the enforced hits of a decision (the reasons a bounce gives; monitor-only hits are
    /// no reason), once each, in hit order.
    pub(crate) fn hit_rules<'a>(&'a self, decision: &Decision) -> Vec<&'a crate::rules::RuleInfo> {
        decision
            .enforced_rule_ids()
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

/// The filter stage: engine + next hop + quarantine. Cheap to clone.
#[derive(Clone)]
pub struct Filter {
    inner: Arc<Inner>,
}

struct Inner {
    engine: ArcSwap<Engine>,
    /// Where relayed mail and DSNs go: the one SMTP client ([`crate::smtp::NextHop`] in the daemon).
    next_hop: Arc<dyn Deliver>,
    quarantine: Arc<dyn Quarantine>,
    /// Notices already sent, so a retried message does not repeat them.
    memory: NoticeMemory,
    /// Where traffic records go (set once by `serve`; unset in `check` and tests: nothing recorded).
    traffic: std::sync::OnceLock<crate::traffic::Recorder>,
    /// Quarantined messages waiting for the next digest to ICT.
    digest: alerts::Pending,
}

/// What happened to a message, for the log line (both faces build one).
struct Outcome {
    /// The answer in SMTP terms (the before-queue face sends its code and text as the milter reply).
    reply: Reply,
    action: &'static str,
    /// What became of the notice to the sender.
    notice: Notice,
}

impl Outcome {
    /// An outcome that involved no notice.
    fn new(reply: Reply, action: &'static str) -> Outcome {
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
enum Notice {
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

impl Filter {
    pub fn new(
        engine: Engine,
        next_hop: Arc<dyn Deliver>,
        quarantine: Arc<dyn Quarantine>,
        memory: NoticeMemory,
    ) -> Filter {
        Filter {
            inner: Arc::new(Inner {
                engine: ArcSwap::from_pointee(engine),
                next_hop,
                quarantine,
                memory,
                traffic: std::sync::OnceLock::new(),
                digest: alerts::Pending::default(),
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

    /// The front half both faces share: give the message its queue id, analyse it (off the reactor when
    /// large), scan and decide, recording the scan latency. `Err` is the `451` for a failed analysis (the
    /// message is not accounted: nothing is known about it).
    async fn decide(&self, envelope: &Envelope, data: Vec<u8>) -> Result<Decided, Reply> {
        let queue_id = crate::queue_id::new();
        let received = SystemTime::now();
        let engine = self.engine();
        let size = data.len();
        let (data, mut analysis) = match analyse_off_reactor(&engine.limits, data).await {
            Ok(done) => done,
            Err(e) => {
                warn!(queue_id, error = %e, "analysis task failed");
                return Err(replies::internal_error(&queue_id));
            }
        };
        // Only the after-queue bounce uses the header block: moved out, not copied.
        let original_headers = std::mem::take(&mut analysis.headers.raw_header_block);
        let auto_generated = analysis.headers.auto_generated;
        let attachments = analysis.attachments.len();
        let scan_started = std::time::Instant::now();
        let decision = engine.evaluate(envelope, &data, analysis).await;
        crate::metrics::scan_latency(scan_started.elapsed());
        Ok(Decided {
            queue_id,
            received,
            engine,
            data,
            size,
            attachments,
            original_headers,
            auto_generated,
            decision,
        })
    }

    /// Everything that follows a decided message in either mode (after or before the queue): the one log
    /// line, the metrics and the traffic record (*verkeersgegevens*, never waits or fails: see
    /// [`crate::traffic`]).
    fn account(&self, decided: &Decided, envelope: &Envelope, outcome: &Outcome) {
        let Decided {
            queue_id,
            size,
            attachments,
            decision,
            ..
        } = decided;
        let (size, attachments) = (*size, *attachments);
        let line = Line {
            verdict: decision.verdict.name(),
            limit: None,
            size,
            attachments,
        };
        log_message(queue_id, envelope, &line, decision, outcome);
        crate::metrics::message(line.verdict, size);
        if decision.would == Some(Verdict::Bounce) {
            crate::metrics::monitored_bounce();
        }
        if let Some(traffic) = self.inner.traffic.get() {
            let local_domains = &self.engine().org.local_domains;
            traffic.record(envelope, local_domains, size, attachments, decision);
        }
        if outcome.action == "quarantined" {
            self.alert(decided, envelope);
        }
    }

    /// Tell ICT about a quarantined message ([`alerts`]): a notice on its own task (the message is safe
    /// already; a failure is logged and counted, never waited for) and/or a line in the next digest.
    fn alert(&self, decided: &Decided, envelope: &Envelope) {
        let settings = &decided.engine.alerts;
        if settings.notify.is_empty() {
            return;
        }
        let decision = &decided.decision;
        let detection = if decision.detections.is_empty() {
            let rules = decided.engine.hit_rules(decision);
            let named: Vec<String> = rules
                .iter()
                .map(|r| format!("{} [{}]", r.id, r.category))
                .collect();
            named.join(", ")
        } else {
            let names: Vec<&str> = decision
                .detections
                .iter()
                .map(|d| d.name.as_str())
                .collect();
            names.join(", ")
        };
        let alert = alerts::Alert {
            queue_id: decided.queue_id.clone(),
            detection,
            sender_domain: envelope
                .mail_from
                .as_deref()
                .and_then(domain_of)
                .unwrap_or_else(|| "<>".into()),
            size: decided.size,
            received: decided.received,
        };
        if settings.digest == alerts::Digest::Daily {
            self.inner.digest.push(alert.clone());
        }
        if settings.each {
            let message = alerts::build_notice(settings, &alert, SystemTime::now());
            let (filter, engine, queue_id) = (self.clone(), decided.engine.clone(), alert.queue_id);
            tokio::spawn(async move {
                let sent =
                    alerts::send(filter.inner.next_hop.as_ref(), &engine.alerts, &message).await;
                filter.alert_sent(&queue_id, "notice", sent);
            });
        }
    }

    /// Send the digest of what was quarantined since the last one, if anything was and a digest is on.
    pub async fn send_digest(&self) {
        let engine = self.engine();
        let (alerts, total) = self.inner.digest.take();
        if total == 0
            || engine.alerts.notify.is_empty()
            || engine.alerts.digest != alerts::Digest::Daily
        {
            return;
        }
        let message = alerts::build_digest(&engine.alerts, &alerts, total, SystemTime::now());
        let sent = alerts::send(self.inner.next_hop.as_ref(), &engine.alerts, &message).await;
        self.alert_sent("-", "digest", sent);
    }

    fn alert_sent(&self, queue_id: &str, kind: &'static str, sent: Result<(), String>) {
        match sent {
            Ok(()) => {
                crate::metrics::alert(true);
                info!(queue_id, kind, "alert to ICT sent");
            }
            Err(error) => {
                crate::metrics::alert(false);
                warn!(
                    queue_id,
                    kind, error, "alert to ICT not sent; the message stays in the quarantine"
                );
            }
        }
    }

    /// The account of a message refused for its size (`552`) in either mode: nothing was decided, so the
    /// verdict is [`TOO_BIG`], with `limit` (the size it went over) as its size; log line, metrics and
    /// traffic record as for any other message.
    fn account_too_big(&self, envelope: &Envelope, limit: usize) {
        let queue_id = crate::queue_id::new();
        let undecided = Decision::undecided();
        let line = Line {
            verdict: TOO_BIG,
            limit: Some(limit),
            size: limit,
            attachments: 0,
        };
        let outcome = Outcome::new(replies::too_big(), "rejected");
        log_message(&queue_id, envelope, &line, &undecided, &outcome);
        crate::metrics::message(TOO_BIG, limit);
        if let Some(traffic) = self.inner.traffic.get() {
            let local_domains = &self.engine().org.local_domains;
            traffic.record_too_big(envelope, local_domains, limit);
        }
    }
}

/// A decided message: what both faces act on and account for.
struct Decided {
    queue_id: String,
    received: SystemTime,
    /// The engine the decision was made with (a reload mid-message does not mix rule sets).
    engine: Arc<Engine>,
    /// The message exactly as received.
    data: Vec<u8>,
    /// Its size in bytes, as logged, counted and recorded.
    size: usize,
    attachments: usize,
    /// The header block, for the DSN's `text/rfc822-headers` part.
    original_headers: Vec<u8>,
    /// Automatic mail is never bounced to.
    auto_generated: bool,
    decision: Decision,
}

/// The scanner failed and the policy defers (both modes answer the same `451`).
fn tempfail(queue_id: &str, decision: &Decision) -> Outcome {
    // The reason names the scanner and its error (never content), for the operator.
    warn!(
        queue_id,
        reason = decision.tempfail_reason.as_deref().unwrap_or("-"),
        "malware scan failed; deferring"
    );
    Outcome::new(replies::scan_unavailable(queue_id), "tempfail")
}

/// The parts of the log line that do not come from the decision.
struct Line {
    verdict: &'static str,
    /// For a message refused for its size: the limit it went over.
    limit: Option<usize>,
    size: usize,
    attachments: usize,
}

/// One line per message: queue id, verdict, action, rule ids, categories, sizes and domains. Never subjects,
/// bodies, file names, matched words or local parts. In monitor mode `would` names the verdict enforcing
/// every rule would have given (`verdict=pass action=relayed would=bounce`) and `monitor_rules` the rules
/// that only reported.
fn log_message(
    queue_id: &str,
    envelope: &Envelope,
    line: &Line,
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
    let exempt = match decision.exempt {
        Some(policy::Exemption::Persoonlijk) => "persoonlijk",
        Some(policy::Exemption::Vertrouwenspersoon) => "vertrouwenspersoon",
        Some(policy::Exemption::Melding) => "melding",
        None => "-",
    };
    let detections: Vec<&str> = decision
        .detections
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    info!(
        queue_id,
        verdict = line.verdict,
        action = outcome.action,
        reply = outcome.reply.code,
        exempt,
        score = decision.score,
        rules = %decision.rule_ids().join(","),
        monitor_rules = %decision.monitor_rule_ids().join(","),
        would = decision.would.map(Verdict::name),
        categories = %decision.categories().join(","),
        detections = %detections.join(","),
        size = line.size,
        attachments = line.attachments,
        limit = line.limit.map(|l| l as u64),
        sender_domain = %sender_domain,
        rcpts = envelope.rcpt_to.len(),
        rcpt_domains = %rcpt_domains.join(","),
        notice = %outcome.notice,
        "message"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::QuarantineError;
    use crate::scan::Detection;
    use crate::smtp::RelayError;
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

    /// The filter's own test engine: the embedded rules and the built-in scanner, no configuration; `local`
    /// are the organisation's domains (whose senders are screened and may get notices).
    fn test_engine(local: &[&str]) -> Engine {
        Engine {
            rules: RuleSet::embedded().expect("embedded rules"),
            policy: PolicySettings {
                threshold: 5.0,
                screen_local_senders_only: true,
                counsellors: Vec::new(),
                report_to: crate::rules::address::Globs::new([""; 0]),
                quote_weight: 0.0,
                reported_speech_weight: 0.5,
                sensitivity: Vec::new(),
                subject_labels: Vec::new(),
                pass_unscanned: false,
                mode: crate::rules::Mode::Enforce,
                pupils: crate::rules::address::Globs::default(),
                staff: crate::rules::address::Globs::default(),
            },
            org: OrgContext {
                local_domains: local.iter().map(|d| d.to_string()).collect(),
                ..OrgContext::default()
            },
            limits: Limits::default(),
            scanner: Box::new(crate::scan::BuiltinScanner::embedded(Limits::default())),
            bounce: BounceSettings::default(),
            bounce_mode: BounceMode::Dsn,
            notices: NoticePolicy {
                local_domains: local.iter().map(|d| d.to_string()).collect(),
                ..NoticePolicy::default()
            },
            on_unnotifiable: OnUnnotifiable::Quarantine,
            remember: Duration::from_secs(86_400),
            alerts: alerts::AlertSettings::default(),
        }
    }

    /// The reply names the id the message is stored under, not the one it was received as (the id `quarantine
    /// show` knows). A null sender: no notice, so nothing is sent.
    #[tokio::test]
    async fn a_message_stored_under_a_new_id_is_answered_with_that_id() {
        let engine = test_engine(&[]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let pipeline = Filter::new(
            engine,
            Arc::new(crate::smtp::NextHop::new(crate::smtp::NextHopSettings {
                address: "127.0.0.1:9".into(),
                ..crate::smtp::NextHopSettings::default()
            })),
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

    /// One scripted answer of the fake next hop.
    type Answer = Result<Delivery, RelayError>;

    /// A next hop that answers from a script, in order, and records every transaction it was given.
    #[derive(Default)]
    struct FakeHop {
        answers: std::sync::Mutex<std::collections::VecDeque<Result<Delivery, RelayError>>>,
        sent: std::sync::Mutex<Vec<(Envelope, Vec<u8>)>>,
    }

    impl FakeHop {
        fn new(answers: Vec<Result<Delivery, RelayError>>) -> Arc<FakeHop> {
            Arc::new(FakeHop {
                answers: std::sync::Mutex::new(answers.into()),
                sent: std::sync::Mutex::default(),
            })
        }

        fn sent(&self) -> Vec<(Envelope, Vec<u8>)> {
            self.sent.lock().expect("lock").clone()
        }
    }

    impl Deliver for FakeHop {
        fn send<'a>(
            &'a self,
            envelope: &'a Envelope,
            data: &'a [u8],
        ) -> BoxFuture<'a, Result<Delivery, RelayError>> {
            self.sent
                .lock()
                .expect("lock")
                .push((envelope.clone(), data.to_vec()));
            let answer = self.answers.lock().expect("lock").pop_front();
            Box::pin(async move {
                answer.unwrap_or_else(|| {
                    Err(RelayError::Protocol {
                        stage: "test",
                        reply_text: "the script has no more answers".into(),
                    })
                })
            })
        }
    }

    fn ok() -> Reply {
        Reply::new(250, "2.0.0", "Ok")
    }

    /// The next hop's answer: MAIL accepted, `rcpts` for the recipients, and `data` for the content (sent only
    /// when no recipient was refused, as the real client does).
    fn answer(rcpts: &[Reply], data: Option<Reply>) -> Result<Delivery, RelayError> {
        Ok(Delivery {
            mail_reply: ok(),
            rcpt_replies: rcpts.to_vec(),
            data_reply: data,
        })
    }

    const SENDER: &str = "juf.anna@school.example";

    fn txn(rcpts: &[&str], body: &str) -> Transaction {
        let data = format!(
            "From: {SENDER}\r\nTo: {}\r\nSubject: Ouderavond\r\nMessage-ID: <t-1@school.example>\r\n\r\n{body}\r\n",
            rcpts.join(", ")
        );
        Transaction {
            peer: "127.0.0.1:25".parse().expect("addr"),
            helo: "localhost".into(),
            envelope: Envelope {
                mail_from: Some(SENDER.into()),
                rcpt_to: rcpts
                    .iter()
                    .map(|a| crate::envelope::Recipient {
                        address: a.to_string(),
                        params: vec![],
                    })
                    .collect(),
                ..Envelope::default()
            },
            data: data.into_bytes(),
        }
    }

    const CLEAN: &str = "Beste ouders, de ouderavond is donderdag.";
    const CURSE: &str = "Je bent een kankerlijer.";

    /// The filter with `hop` as its next hop; the tempdir holds the notice memory.
    fn filter(hop: Arc<FakeHop>) -> (Filter, tempfile::TempDir) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let filter = Filter::new(
            test_engine(&["school.example"]),
            hop,
            Arc::new(Renaming),
            NoticeMemory::new(tmp.path().join("notices")),
        );
        (filter, tmp)
    }

    /// What the next hop's answers to a relayed message mean for the reply to Postfix: `250` only when it
    /// accepted the content; its refusals passed back with their class; no answer is a `451`.
    #[tokio::test]
    async fn relay_replies_follow_the_next_hop() {
        let cases: Vec<(Answer, u16, &str)> = vec![
            (answer(&[ok()], Some(ok())), 250, "2.0.0"),
            (
                answer(&[ok()], Some(Reply::new(554, "5.7.1", "no"))),
                554,
                "5.7.1",
            ),
            (
                answer(&[ok()], Some(Reply::new(452, "4.3.1", "full"))),
                451,
                "4.3.1",
            ),
            (
                answer(&[Reply::new(450, "4.2.0", "grey")], None),
                451,
                "4.2.0",
            ),
            (
                answer(&[Reply::new(550, "5.1.1", "unknown")], None),
                550,
                "5.1.1",
            ),
            (
                Ok(Delivery {
                    mail_reply: Reply::new(553, "5.7.1", "sender"),
                    rcpt_replies: vec![Reply::new(553, "5.7.1", "sender")],
                    data_reply: None,
                }),
                553,
                "5.7.1",
            ),
            (Err(RelayError::Timeout { stage: "DATA" }), 451, "4.4.1"),
            (Err(RelayError::Closed { stage: "MAIL" }), 451, "4.4.1"),
        ];
        for (next_hop, code, status) in cases {
            let shown = format!("{next_hop:?}");
            let hop = FakeHop::new(vec![next_hop]);
            let (filter, _tmp) = filter(hop.clone());
            let txn = txn(&["ouder@example.org"], CLEAN);
            let data = txn.data.clone();
            let reply = filter.process(txn).await;
            assert_eq!(
                (reply.code, reply.status.as_str()),
                (code, status),
                "{shown}"
            );
            let sent = hop.sent();
            assert_eq!(sent.len(), 1, "{shown}");
            assert_eq!(sent[0].1, data, "the content byte for byte");
            assert_eq!(sent[0].0.mail_from.as_deref(), Some(SENDER));
        }
    }

    /// What the next hop's answer to a DSN means for the reply to Postfix: accepted → `250`; a temporary
    /// failure → `451` (Postfix retries, the message is not lost); a permanent refusal → the message is
    /// kept per `on_unnotifiable` and answered `250`. The DSN goes out with the null sender to the sender
    /// only, through the same next hop.
    #[tokio::test]
    async fn bounce_replies_follow_the_next_hops_answer_to_the_dsn() {
        let cases: Vec<(Answer, u16, &str, &str)> = vec![
            (
                answer(&[ok()], Some(ok())),
                250,
                "2.7.0",
                "returned to sender",
            ),
            (
                answer(&[ok()], Some(Reply::new(451, "4.3.0", "later"))),
                451,
                "4.4.1",
                "cannot hand the bounce",
            ),
            (
                answer(&[ok()], Some(Reply::new(251, "2.1.5", "forward"))),
                451,
                "4.4.1",
                "cannot hand the bounce",
            ),
            (
                Err(RelayError::Closed { stage: "DATA" }),
                451,
                "4.4.1",
                "cannot hand the bounce",
            ),
            (
                answer(&[Reply::new(550, "5.1.1", "unknown")], None),
                250,
                "2.7.0",
                "quarantined; sender not notified",
            ),
            (
                answer(&[ok()], Some(Reply::new(554, "5.7.1", "no"))),
                250,
                "2.7.0",
                "quarantined; sender not notified",
            ),
        ];
        for (next_hop, code, status, text) in cases {
            let shown = format!("{next_hop:?}");
            let hop = FakeHop::new(vec![next_hop]);
            let (filter, _tmp) = filter(hop.clone());
            let reply = filter.process(txn(&["ouder@example.org"], CURSE)).await;
            assert_eq!(
                (reply.code, reply.status.as_str()),
                (code, status),
                "{shown}"
            );
            assert!(reply.lines.join(" ").contains(text), "{shown}: {reply:?}");
            let sent = hop.sent();
            assert_eq!(sent.len(), 1, "only the DSN, never the message: {shown}");
            let (envelope, dsn) = &sent[0];
            assert_eq!(envelope.mail_from, None, "null sender");
            assert_eq!(envelope.recipients().collect::<Vec<_>>(), [SENDER]);
            assert!(envelope.xforward.is_empty());
            let dsn = String::from_utf8_lossy(dsn);
            assert!(
                dsn.contains("multipart/report; report-type=delivery-status"),
                "{dsn}"
            );
            assert!(!dsn.contains(CURSE), "the DSN never carries the body");
        }
    }

    /// A recipient refused for good while another is accepted: the sender gets a DSN for that one, then the
    /// message goes to the other in a second transaction; a changed answer then defers the whole message.
    #[tokio::test]
    async fn partial_refusal_sends_a_dsn_then_relays_to_the_rest() {
        let refused = Reply::new(550, "5.1.1", "unknown");
        let first = || answer(&[ok(), refused.clone()], None);
        let dsn_ok = || answer(&[ok()], Some(ok()));
        let cases: Vec<(Vec<Answer>, u16, &str)> = vec![
            (
                vec![first(), dsn_ok(), answer(&[ok()], Some(ok()))],
                250,
                "2.0.0",
            ),
            (
                vec![
                    first(),
                    dsn_ok(),
                    answer(&[Reply::new(450, "4.2.0", "grey")], None),
                ],
                451,
                "4.4.0",
            ),
            (
                vec![
                    first(),
                    answer(&[ok()], Some(Reply::new(421, "4.3.2", "bye"))),
                ],
                451,
                "4.4.1",
            ),
        ];
        for (script, code, status) in cases {
            let calls = script.len();
            let hop = FakeHop::new(script);
            let (filter, _tmp) = filter(hop.clone());
            let reply = filter
                .process(txn(&["ouder@example.org", "weg@example.net"], CLEAN))
                .await;
            assert_eq!(
                (reply.code, reply.status.as_str()),
                (code, status),
                "{reply:?}"
            );
            let sent = hop.sent();
            assert_eq!(sent.len(), calls);
            assert_eq!(sent[1].0.mail_from, None, "the DSN");
            assert_eq!(sent[1].0.recipients().collect::<Vec<_>>(), [SENDER]);
            if let Some((rest, _)) = sent.get(2) {
                assert_eq!(rest.recipients().collect::<Vec<_>>(), ["ouder@example.org"]);
            }
        }
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
