//! The pipeline: the one place that turns a received message into an action and an SMTP reply.
//!
//! [`Engine`] is the pure part (analyse → scan → decide), shared by `serve` and `check` so both run exactly
//! the same code. [`Pipeline`] adds the actions and owns the rule of rules: **`250` only when the message is
//! safe** — relayed and accepted by the next hop, or its bounce accepted by the next hop, or durably
//! quarantined. Every failure on the way becomes a `4xx` here, so Postfix keeps the message and retries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tracing::{info, warn};

use crate::bounce::{self, BounceSettings, DsnInput, Mailer, Reason};
use crate::config::{BounceMode, Config, ScanBackend};
use crate::envelope::{domain_of, Envelope};
use crate::message::{self, Analysis, Limits};
use crate::policy::{self, Decision, PolicySettings, ScanResult, Verdict};
use crate::quarantine::Quarantine;
use crate::rules::{OrgContext, RuleSet, RulesError};
use crate::scan::{BuiltinScanner, ClamdAddr, ClamdScanner, Scanner};
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
    /// Compile rules, load the scanner's hash list and the bounce templates. Nothing is half-applied: on
    /// error the caller keeps the engine it had.
    pub fn from_config(config: &Config) -> Result<Engine, EngineError> {
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
            policy: PolicySettings::from_config(config),
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
        })
    }

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

fn read_text(what: &'static str, path: &std::path::Path) -> Result<String, EngineError> {
    std::fs::read_to_string(path).map_err(|source| EngineError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
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

/// A queue id for log lines, bounces and quarantine entries: seconds since the epoch and a counter, in hex.
pub fn new_queue_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("MW{secs:X}{:05X}", n & 0xF_FFFF)
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
    /// Where traffic records go (set once by `serve`; unset in `check` and tests: nothing recorded).
    traffic: std::sync::OnceLock<crate::traffic::Recorder>,
}

/// What happened to a message, for the log line (also built by the milter, which logs the same line).
pub(crate) struct Outcome {
    pub(crate) reply: Reply,
    pub(crate) action: &'static str,
}

impl Pipeline {
    pub fn new(
        engine: Engine,
        next_hop: NextHop,
        mailer: Mailer,
        quarantine: Arc<dyn Quarantine>,
    ) -> Pipeline {
        Pipeline {
            inner: Arc::new(Inner {
                engine: ArcSwap::from_pointee(engine),
                next_hop,
                mailer,
                quarantine,
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
        let queue_id = new_queue_id();
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
                Outcome {
                    reply: Reply::new(
                        451,
                        "4.7.0",
                        format!("{queue_id} temporary failure: malware scan unavailable, try again later"),
                    ),
                    action: "tempfail",
                }
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
        crate::metrics::message(decision, size);
        if let Some(traffic) = self.inner.traffic.get() {
            let local_domains = &self.engine().org.local_domains;
            traffic.record(envelope, local_domains, size, attachments, decision);
        }
    }

    /// Pass the message on unchanged. Recipients the next hop refuses permanently while it accepts others
    /// get a DSN from us first (so none is silently lost); any temporary refusal defers the whole message.
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
            let reply = out
                .rcpt_replies
                .first()
                .cloned()
                .unwrap_or_else(|| Reply::new(550, "5.1.1", "rejected"));
            out.abort().await;
            return passed_back(queue_id, reply, "refused");
        }
        // Mixed: tell the sender about the refused recipients, then deliver to the others.
        out.abort().await;
        if let Some(sender) = &envelope.mail_from {
            let failed: Vec<String> = rejected.iter().map(|(a, _)| a.clone()).collect();
            if let Err(outcome) = self
                .notify_sender(msg, sender, &failed, Reason::Rejected(&rejected))
                .await
            {
                return outcome;
            }
        }
        let mut accepted = envelope.clone();
        accepted
            .rcpt_to
            .retain(|r| !rejected.iter().any(|(a, _)| *a == r.address));
        let out = match self.inner.next_hop.begin(&accepted).await {
            Ok(out) => out,
            Err(e) => return next_hop_down(queue_id, &e),
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
            };
        }
        self.send_data(queue_id, out, msg.data).await
    }

    async fn send_data(&self, queue_id: &str, out: Outbound, data: &[u8]) -> Outcome {
        match out.send_data(data).await {
            Ok(reply) if reply.is_positive() => Outcome {
                reply: Reply::new(
                    250,
                    "2.0.0",
                    format!("Ok: {queue_id} passed, next hop: {}", reply_summary(&reply)),
                ),
                action: "relayed",
            },
            Ok(reply) => passed_back(queue_id, reply, "refused"),
            Err(e) => next_hop_down(queue_id, &e),
        }
    }

    /// Send the message back to its sender (WereldKidz 6.5); recipients get nothing.
    async fn bounce(&self, msg: &InFlight<'_>, decision: &Decision) -> Outcome {
        let rules = msg.engine.hit_rules(decision);
        let reason = Reason::Rules(&rules);
        // Never bounce to a null sender or to automatic mail (no loops, no backscatter): refuse instead, and
        // Postfix handles it as it handles any refused bounce.
        let sender = match &msg.envelope.mail_from {
            Some(s) if msg.engine.bounce_mode == BounceMode::Dsn && !msg.auto_generated => s,
            _ => {
                return Outcome {
                    reply: bounce::reject_reply(&reason),
                    action: "rejected",
                }
            }
        };
        let failed: Vec<String> = msg.envelope.recipients().map(String::from).collect();
        match self.notify_sender(msg, sender, &failed, reason).await {
            Ok(()) => Outcome {
                reply: Reply::new(
                    250,
                    "2.7.0",
                    format!(
                        "Ok: {} not delivered, returned to sender (policy)",
                        msg.queue_id
                    ),
                ),
                action: "bounced",
            },
            Err(outcome) => outcome,
        }
    }

    /// Keep the infected message apart (WereldKidz 8.5), then tell the sender; recipients get nothing.
    async fn quarantine(&self, msg: &InFlight<'_>, decision: &Decision) -> Outcome {
        let queue_id = msg.queue_id;
        let stored = self.inner.quarantine.store(
            queue_id,
            msg.envelope,
            msg.data,
            &decision.detections,
            msg.received,
        );
        if let Err(e) = stored.await {
            warn!(queue_id, error = %e, "quarantine store failed");
            return internal_error(queue_id);
        }
        // The message is safe now; a failed notice must not make Postfix send it again.
        if let (Some(sender), false) = (&msg.envelope.mail_from, msg.auto_generated) {
            let failed: Vec<String> = msg.envelope.recipients().map(String::from).collect();
            let reason = Reason::Infected(&decision.detections);
            if self
                .notify_sender(msg, sender, &failed, reason)
                .await
                .is_err()
            {
                warn!(
                    queue_id,
                    "quarantined, but the notice to the sender could not be sent"
                );
            }
        }
        Outcome {
            reply: Reply::new(
                250,
                "2.7.0",
                format!("Ok: {queue_id} quarantined (infected), not delivered"),
            ),
            action: "quarantined",
        }
    }

    /// Build a DSN for `failed` and hand it to the next hop; the error is the outcome to answer with (a `4xx`).
    async fn notify_sender(
        &self,
        msg: &InFlight<'_>,
        sender: &str,
        failed: &[String],
        reason: Reason<'_>,
    ) -> Result<(), Outcome> {
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
                internal_error(queue_id)
            })?;
        self.inner.mailer.send(sender, &dsn).await.map_err(|e| {
            warn!(queue_id, error = %e, "bounce not accepted by next hop");
            Outcome {
                reply: Reply::new(
                    451,
                    "4.4.1",
                    format!("{queue_id} cannot hand the bounce to the next hop, try again later"),
                ),
                action: "deferred",
            }
        })
    }
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
    fn handle(&self, txn: Transaction) -> crate::scan::BoxFuture<'static, Reply> {
        let pipeline = self.clone();
        Box::pin(async move { pipeline.process(txn).await })
    }
}

fn internal_error(queue_id: &str) -> Outcome {
    Outcome {
        reply: Reply::new(
            451,
            "4.3.0",
            format!("{queue_id} internal error, try again later"),
        ),
        action: "deferred",
    }
}

fn next_hop_down(queue_id: &str, error: &crate::smtp::client::RelayError) -> Outcome {
    warn!(queue_id, error = %error, "next hop unavailable");
    crate::metrics::next_hop_error();
    Outcome {
        reply: Reply::new(
            451,
            "4.4.1",
            format!("{queue_id} next hop unavailable, try again later"),
        ),
        action: "deferred",
    }
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
    Outcome {
        reply: Reply::new(
            code,
            &status,
            format!("{queue_id} next hop said: {}", reply_summary(&reply)),
        ),
        action,
    }
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
    let verdict = match decision.verdict {
        Verdict::Pass => "pass",
        Verdict::Bounce => "bounce",
        Verdict::Quarantine => "quarantine",
        Verdict::Tempfail => "tempfail",
    };
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
        "message"
    );
}

/// How long the bounce mailer may take for one DSN.
pub const BOUNCE_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

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
