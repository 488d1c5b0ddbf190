//! Policy: exemptions and the verdict. One pure function, [`decide`], turns the compiled rules, the envelope,
//! the analysed message and the scan result into a [`Decision`]. No I/O, no clock.
//!
//! - *Persoonlijk* (WereldKidz 6.8): mail labelled personal is spared from content rules.
//! - *Vertrouwenspersoon* (WereldKidz 6.9): mail from a confidential counsellor, and mail to counsellors
//!   alone, is excluded from content rules: the confidential channel works both ways.
//! - *Melding*: mail to reporting destinations alone (`[exemptions] report_to`: police, the inspectorate,
//!   Veilig Thuis, management) is excluded from content rules, so that a report may quote what it reports.
//! - Exemptions are scoped: they lift the content rules only. Security and identity rules (attachment types
//!   and archives, sender/From, destinations, visible recipients, damage) still apply, and so does malware
//!   scanning (WereldKidz 8.5, 4.2a): a label in the subject must not let an executable or a forged
//!   director's From through.
//! - Text the sender quotes counts with `[policy] quote_weight` times a rule's weight (default 0: quotes
//!   never bounce on their own), speech the sender reports with `reported_speech_weight` (default 0.5); a
//!   rule may set its own `quote-weight` (the BSN rule counts quotes in full: forwarding a BSN leaks it).
//! - Monitor mode (`[policy] mode = "monitor"`, or a rule's own `mode`): monitor hits count towards the
//!   verdict that *would* have been given ([`Decision::would`]), not towards the one applied, so a rollout
//!   or a new rule can be watched without bouncing. Malware is quarantined in every mode (WereldKidz 8.5),
//!   and a scanner failure still defers: monitoring lifts the content and security rules, never the scan.

use serde::{Deserialize, Serialize};

use crate::envelope::{is_local, Envelope};
use crate::message::{Analysis, TextOrigin};
use crate::rules::address::Globs;
use crate::rules::file::{Direction, Role};
pub use crate::rules::Mode;
use crate::rules::{Action, Hit, Location, OrgContext, Place, RuleContext, RuleSet};
use crate::scan::Detection;

/// Why a message skipped the content rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exemption {
    /// Labelled *persoonlijk* (`Sensitivity: Personal`/`Private`, or a subject label). WereldKidz 6.8.
    Persoonlijk,
    /// Sent by a *vertrouwenspersoon* (confidential counsellor), or sent to counsellors (and reporting
    /// destinations) only. WereldKidz 6.9.
    Vertrouwenspersoon,
    /// Sent to reporting destinations only (`[exemptions] report_to`): a report about abuse.
    Melding,
}

/// What happens to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Pass on to the next hop, unchanged.
    Pass,
    /// Send back to the sender (WereldKidz 6.5), do not deliver.
    Bounce,
    /// Infected: keep apart (WereldKidz 8.5), do not deliver.
    Quarantine,
    /// Cannot decide now (scanner down): temporary failure, Postfix retries.
    Tempfail,
}

impl Verdict {
    /// Every verdict, in the order summaries and metrics list them.
    pub const ALL: [Verdict; 4] = [
        Verdict::Pass,
        Verdict::Bounce,
        Verdict::Quarantine,
        Verdict::Tempfail,
    ];

    /// The lowercase names of [`Verdict::ALL`], as logs, metrics and traffic records spell them.
    pub const NAMES: [&'static str; 4] = [
        Verdict::Pass.name(),
        Verdict::Bounce.name(),
        Verdict::Quarantine.name(),
        Verdict::Tempfail.name(),
    ];

    /// The lowercase name (`pass`, `bounce`, `quarantine`, `tempfail`).
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Bounce => "bounce",
            Verdict::Quarantine => "quarantine",
            Verdict::Tempfail => "tempfail",
        }
    }
}

/// The decision for one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub exempt: Option<Exemption>,
    pub score: f64,
    pub hits: Vec<Hit>,
    pub detections: Vec<Detection>,
    /// For [`Verdict::Tempfail`]: why (safe to log).
    pub tempfail_reason: Option<String>,
    /// The verdict enforcing every rule would have given, when monitor mode made it differ from
    /// [`Decision::verdict`] (`bounce` while the message passes). `None` when nothing was held back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would: Option<Verdict>,
}

/// The policy settings (from `[policy]`, `[exemptions]` and `[scan]` of the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySettings {
    /// Score at or above which a message bounces.
    pub threshold: f64,
    /// Content rules apply only to mail from local senders (false: to all mail).
    pub screen_local_senders_only: bool,
    /// *Vertrouwenspersonen* (lowercase addresses).
    pub counsellors: Vec<String>,
    /// Reporting destinations (lowercase addresses or globs such as `*@politie.nl`).
    pub report_to: Globs,
    /// Weight factor for hits in quoted text (see the module docs).
    pub quote_weight: f64,
    /// Weight factor for hits in reported speech.
    pub reported_speech_weight: f64,
    /// `Sensitivity:` values that mean *persoonlijk* (lowercase).
    pub sensitivity: Vec<String>,
    /// Subject labels that mean *persoonlijk* (lowercase).
    pub subject_labels: Vec<String>,
    /// Pass unscanned mail when the scanner fails (false: tempfail, the default).
    pub pass_unscanned: bool,
    /// `[policy] mode`: `monitor` makes every rule a monitor rule (see the module docs).
    pub mode: Mode,
    /// `[organisation] pupils`: pupils' addresses (lowercase globs), for rules with a direction.
    pub pupils: Globs,
    /// `[organisation] staff`: staff addresses (lowercase globs); empty: every local non-pupil address.
    pub staff: Globs,
}

/// Which mail the content rules apply to (`[policy] screen`); malware scanning always applies to all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Screen {
    LocalSenders,
    All,
}

/// What happens when the scanner cannot answer (`[scan] on_error`): `tempfail` (451, Postfix retries) or
/// `pass` (unscanned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanOnError {
    Tempfail,
    Pass,
}

/// The scanners' result as policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanResult {
    Clean,
    Infected(Vec<Detection>),
    /// The scanner could not answer (safe-to-log reason).
    Failed(String),
}

impl From<Result<crate::scan::ScanOutcome, crate::scan::ScanError>> for ScanResult {
    fn from(result: Result<crate::scan::ScanOutcome, crate::scan::ScanError>) -> Self {
        match result {
            Ok(crate::scan::ScanOutcome::Clean) => ScanResult::Clean,
            Ok(crate::scan::ScanOutcome::Infected(d)) => ScanResult::Infected(d),
            Err(e) => ScanResult::Failed(e.to_string()),
        }
    }
}

/// Which exemption, if any, applies. All three lift the content rules only; the first that applies is
/// named: mail from a counsellor, then mail to counsellors and reporting destinations only (named
/// *vertrouwenspersoon* when a counsellor is among them, else *melding*), then the *persoonlijk* label.
///
/// Mixed recipients: when any recipient is neither a counsellor nor a reporting destination, the message is
/// screened as usual, for that recipient reads it too.
pub fn exemption(
    settings: &PolicySettings,
    envelope: &Envelope,
    analysis: &Analysis,
) -> Option<Exemption> {
    if let Some(sender) = &envelope.mail_from {
        let sender = sender.to_lowercase();
        if settings.counsellors.contains(&sender) {
            return Some(Exemption::Vertrouwenspersoon);
        }
    }
    let mut recipients = envelope.recipients().map(str::to_lowercase).peekable();
    if recipients.peek().is_some() {
        let (mut counsellor, mut all_protected) = (false, true);
        for r in recipients {
            let is_counsellor = settings.counsellors.contains(&r);
            counsellor |= is_counsellor;
            all_protected &= is_counsellor || settings.report_to.matches(&r);
        }
        if all_protected {
            return Some(if counsellor {
                Exemption::Vertrouwenspersoon
            } else {
                Exemption::Melding
            });
        }
    }
    if let Some(value) = &analysis.headers.sensitivity {
        let value = value.trim().to_lowercase();
        if settings.sensitivity.contains(&value) {
            return Some(Exemption::Persoonlijk);
        }
    }
    if let Some(subject) = &analysis.headers.subject {
        if subject_is_labelled(subject, &settings.subject_labels) {
            return Some(Exemption::Persoonlijk);
        }
    }
    None
}

/// True when the subject carries one of `labels` as a tag: `[label]` anywhere, or `(label)`, `label:`,
/// `label -` at the start after reply/forward prefixes (a dash that joins a compound, `Privé-galerij`, is not
/// a label), or the label in capitals as the first word
/// (`PERSOONLIJK weekend`; `Persoonlijk gesprek` is a subject, not a label).
pub fn subject_is_labelled(subject: &str, labels: &[String]) -> bool {
    let lower = subject.to_lowercase();
    let mut rest = lower.trim_start();
    // Strip any number of reply/forward prefixes (English, Dutch and Outlook's variants).
    loop {
        let before = rest;
        for prefix in [
            "re:", "fw:", "fwd:", "aw:", "antw:", "doorst:", "tr:", "wg:",
        ] {
            if let Some(r) = rest.strip_prefix(prefix) {
                rest = r.trim_start();
            }
        }
        if rest == before {
            break;
        }
    }
    // The same place in the subject as written (lowercasing kept every byte where it was).
    let written = (subject.len() == lower.len())
        .then(|| subject.get(lower.len() - rest.len()..))
        .flatten()
        .unwrap_or_default();
    labels.iter().filter(|l| !l.is_empty()).any(|label| {
        let shouted = label.to_uppercase();
        written
            .strip_prefix(shouted.as_str())
            .is_some_and(|after| after.starts_with(char::is_whitespace))
            || lower.contains(&format!("[{label}]"))
            || rest.starts_with(&format!("({label})"))
            || rest.strip_prefix(label.as_str()).is_some_and(|after| {
                let after = after.trim_start();
                after.starts_with(':')
                    || after.starts_with('|')
                    // A dash that stands apart (`persoonlijk - …`, `persoonlijk- …`, `persoonlijk–…`):
                    // `Privé-galerij` and `Persoonlijk-ontwikkelingsplan` are compound words, not labels.
                    || after.starts_with(['–', '—'])
                    || after.strip_prefix('-').is_some_and(|dash| {
                        dash.is_empty() || dash.starts_with(|c: char| c.is_whitespace() || c == '-')
                    })
            })
    })
}

/// True when content rules apply to mail from this sender under the configured scope.
fn in_scope(settings: &PolicySettings, org: &OrgContext, envelope: &Envelope) -> bool {
    if !settings.screen_local_senders_only || org.local_domains.is_empty() {
        return true;
    }
    match &envelope.mail_from {
        Some(sender) => is_local(sender, &org.local_domains),
        // Null-sender mail (bounces) passing through is screened as the organisation's own.
        None => true,
    }
}

/// The role of `address` for rules with a direction (`sender-role`, `recipient-role`): a pupil when it
/// matches `[organisation] pupils`; staff when it matches `staff`, or, with no `staff` list, when it is local;
/// anyone else is [`Role::Other`].
pub fn role_of(settings: &PolicySettings, org: &OrgContext, address: &str) -> Role {
    let address = address.to_lowercase();
    if settings.pupils.matches(&address) {
        Role::Pupil
    } else if settings.staff.matches(&address)
        || (settings.staff.is_empty() && is_local(&address, &org.local_domains))
    {
        Role::Staff
    } else {
        Role::Other
    }
}

/// Whether the envelope runs in `direction`: the sender has one of its sender roles, and at least one
/// recipient one of its recipient roles. A null sender has no role.
/// Whether the quoted text at `location` names its author (`Van:`/`From:` in its header block, or the `From:`
/// of the attached message it is part of) and no recipient of the envelope is that author: the earlier mail
/// goes on to someone else. A reply quote without a header block names no author here and counts as a reply.
fn forwarded_to_others(analysis: &Analysis, envelope: &Envelope, location: &Location) -> bool {
    let Location::Text { origin } = location else {
        return false;
    };
    let attached = match origin {
        TextOrigin::Quote { part } | TextOrigin::ReportedInQuote { part } => Some(*part),
        _ => None,
    };
    let authors: Vec<String> = analysis
        .texts
        .iter()
        .filter(|t| t.origin == *origin)
        .flat_map(|t| t.text.lines())
        .filter_map(quoted_author)
        .chain(
            analysis
                .forwarded_from
                .iter()
                .filter(|(part, _)| Some(*part) == attached)
                .map(|(_, author)| author.clone()),
        )
        .collect();
    !authors.is_empty()
        && !envelope.rcpt_to.iter().any(|r| {
            authors
                .iter()
                .any(|a| a.eq_ignore_ascii_case(r.address.trim()))
        })
}

/// The address on a quoted header block's author line (`Van: Said <s@example.com>`, `*From:* s@example.com`).
fn quoted_author(line: &str) -> Option<String> {
    let line = line.trim().trim_start_matches('*');
    let rest = ["van:", "from:", "van :", "from :"]
        .iter()
        .find_map(|field| {
            line.get(..field.len())
                .filter(|head| head.eq_ignore_ascii_case(field))
                .and_then(|_| line.get(field.len()..))
        })?;
    let rest = rest.trim_start_matches('*').trim();
    let address = match (rest.rfind('<'), rest.rfind('>')) {
        (Some(open), Some(close)) if open < close => rest.get(open + 1..close)?,
        _ => rest.split_whitespace().find(|w| w.contains('@'))?,
    };
    let address = address.trim_matches(|c: char| c == '<' || c == '>' || c.is_whitespace());
    address.contains('@').then(|| address.to_string())
}

fn runs_in(
    settings: &PolicySettings,
    org: &OrgContext,
    envelope: &Envelope,
    direction: &Direction,
) -> bool {
    let sender_ok = direction.sender.is_none_or(|roles| {
        envelope
            .mail_from
            .as_deref()
            .is_some_and(|s| roles.contains(role_of(settings, org, s)))
    });
    let recipient_ok = direction.recipient.is_none_or(|roles| {
        envelope
            .recipients()
            .any(|r| roles.contains(role_of(settings, org, r)))
    });
    sender_ok && recipient_ok
}

/// The verdict for one message. Order: malware first (it applies to exempt mail too, art. 8.5), then the
/// exemptions (art. 6.8, 6.9), which lift the content rules, then the rules, whose weights add up once per
/// rule (a rule hit in several places counts its largest weight).
pub fn decide(
    rules: &RuleSet,
    settings: &PolicySettings,
    org: &OrgContext,
    envelope: &Envelope,
    analysis: &Analysis,
    scan: &ScanResult,
) -> Decision {
    let exempt = exemption(settings, envelope, analysis);
    let mut decision = Decision {
        verdict: Verdict::Pass,
        exempt,
        score: 0.0,
        hits: Vec::new(),
        detections: Vec::new(),
        tempfail_reason: None,
        would: None,
    };
    match scan {
        ScanResult::Infected(detections) => {
            decision.verdict = Verdict::Quarantine;
            decision.detections = detections.clone();
            return decision;
        }
        ScanResult::Failed(reason) if !settings.pass_unscanned => {
            decision.verdict = Verdict::Tempfail;
            decision.tempfail_reason = Some(reason.clone());
            return decision;
        }
        ScanResult::Failed(_) | ScanResult::Clean => {}
    }
    if !in_scope(settings, org, envelope) {
        return decision;
    }
    let mut hits = rules.evaluate_scoped(
        &RuleContext {
            envelope,
            analysis,
            org,
        },
        exempt.is_none(),
    );
    // A question about what is forwarded in the sender's own words (`is dit echt?`, a `marks-report` rule):
    // the quoted text is then a report, counted like reported speech even where a rule counts quotes in
    // full (a chain letter forwarded to ICT to ask about it is not the chain letter sent on).
    let asks_about_quote = hits.iter().any(|h| {
        matches!(h.place, Place::Body | Place::Subject)
            && rules.treatment(&h.rule_id).is_some_and(|t| t.marks_report)
    });
    // The applied verdict counts enforced hits; the one that would have been given counts all.
    let (mut forced, mut forced_all) = (false, false);
    // (rule id, largest weight it adds, whether that weight was reduced as quoted or reported, monitor only)
    let mut counted: Vec<(&str, f64, bool, bool)> = Vec::new();
    // The hits whose weight a quote or reported-speech factor reduced.
    let mut reduced = vec![false; hits.len()];
    for (hit, reduced) in hits.iter_mut().zip(reduced.iter_mut()) {
        hit.monitor |= settings.mode == Mode::Monitor;
        let treatment = rules.treatment(&hit.rule_id);
        // A rule with a direction counts in full only in mail of that direction (grooming cues from staff to
        // a pupil, SVOK B.4); elsewhere it weighs its `other-weight` and never forces a bounce.
        if let Some(direction) = treatment.and_then(|t| t.direction) {
            if !runs_in(settings, org, envelope, &direction) {
                hit.weight = hit.weight.min(direction.other_weight);
                hit.action = Action::Score;
                hit.counted &= hit.weight > 0.0;
            }
        }
        if treatment.is_some_and(|t| t.marks_report) {
            // A marker, not a finding: shown, never counted.
            hit.counted = false;
            continue;
        }
        let own_factor = treatment.and_then(|t| t.quote_weight);
        let reported_in_quote = matches!(
            hit.location,
            Location::Text {
                origin: TextOrigin::ReportedInQuote { .. }
            }
        );
        let factor = match hit.place {
            // Personal data (a BSN) in quoted mail sent to someone other than its author: the parent's own
            // mail with the child's BSN, forwarded to a sports club, leaks it as much as the sender's own text.
            // Quoted back to its author in a reply, it tells them nothing new.
            Place::Quote
                if treatment.is_some_and(|t| t.personal_data)
                    && forwarded_to_others(analysis, envelope, &hit.location) =>
            {
                1.0
            }
            // Speech reported inside quoted text, or a quote the sender asks about: a report, never more than
            // the quote itself weighs.
            Place::Quote if asks_about_quote || reported_in_quote => own_factor
                .unwrap_or(settings.quote_weight)
                .min(settings.reported_speech_weight),
            Place::Quote => own_factor.unwrap_or(settings.quote_weight),
            // A rule's own quote weight is for what is forwarded or quoted (a chain letter sent on is the chain
            // letter); speech reported or mentioned in the sender's sentence weighs at most the reported weight
            // (`we nemen de kettingbrief '…' als voorbeeld` sends no chain letter on).
            Place::ReportedSpeech => own_factor.map_or(settings.reported_speech_weight, |f| {
                f.min(settings.reported_speech_weight)
            }),
            _ => 1.0,
        };
        if factor < 1.0 {
            // Quoted text never forces a bounce; it adds its share of the weight.
            hit.weight *= factor;
            hit.action = Action::Score;
            hit.counted = hit.weight > 0.0;
            *reduced = true;
        }
    }
    for (hit, &was_reduced) in hits.iter().zip(&reduced).filter(|(h, _)| h.counted) {
        forced_all |= hit.action == Action::Bounce;
        forced |= hit.action == Action::Bounce && !hit.monitor;
        match counted.iter_mut().find(|c| c.0 == hit.rule_id) {
            Some(c) if hit.weight > c.1 => (c.1, c.2) = (hit.weight, was_reduced),
            Some(_) => {}
            None => counted.push((&hit.rule_id, hit.weight, was_reduced, hit.monitor)),
        }
    }
    // The sender's own words count rule by rule. What they quote or report counts once, with its largest
    // reduced weight: several rules hitting the same reported words (a slur list and a generalisation rule
    // on `vuile makak`) must not add up to a bounce the sender's own text does not earn (issue 14).
    let score = |enforced_only: bool| {
        let counts = counted.iter().filter(|c| !(enforced_only && c.3));
        let own = counts
            .clone()
            .filter(|c| !c.2)
            .map(|c| c.1)
            .fold(0.0, |a, b| a + b);
        let reported = counts.filter(|c| c.2).map(|c| c.1).fold(0.0, f64::max);
        own + reported
    };
    // The score as screened (every counted hit), so monitor mode shows what enforcing would add up to.
    decision.score = score(false);
    if forced || score(true) >= settings.threshold {
        decision.verdict = Verdict::Bounce;
    } else if forced_all || decision.score >= settings.threshold {
        decision.would = Some(Verdict::Bounce);
    }
    decision.hits = hits;
    decision
}

impl Decision {
    /// The distinct categories of the hits that count, sorted.
    pub fn categories(&self) -> Vec<&str> {
        let mut c: Vec<&str> = self
            .hits
            .iter()
            .filter(|h| h.counted)
            .map(|h| h.category.as_str())
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    }

    /// The distinct rule ids of the hits that count, in order of first hit (monitor hits included).
    pub fn rule_ids(&self) -> Vec<&str> {
        self.rule_ids_where(|_| true)
    }

    /// The rule ids of [`Decision::rule_ids`] whose hits are monitor only: reported, not acted on.
    pub fn monitor_rule_ids(&self) -> Vec<&str> {
        self.rule_ids_where(|h| h.monitor)
    }

    /// The rule ids of [`Decision::rule_ids`] that decided the verdict (the reasons a bounce gives).
    pub fn enforced_rule_ids(&self) -> Vec<&str> {
        self.rule_ids_where(|h| !h.monitor)
    }

    fn rule_ids_where(&self, keep: impl Fn(&Hit) -> bool) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for h in self.hits.iter().filter(|h| h.counted && keep(h)) {
            if !ids.contains(&h.rule_id.as_str()) {
                ids.push(&h.rule_id);
            }
        }
        ids
    }

    /// A decision about a message that was not decided (refused for its size first): pass, nothing found.
    pub fn undecided() -> Decision {
        Decision {
            verdict: Verdict::Pass,
            exempt: None,
            score: 0.0,
            hits: Vec::new(),
            detections: Vec::new(),
            tempfail_reason: None,
            would: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Recipient;
    use crate::message::HeaderView;

    pub(super) fn settings() -> PolicySettings {
        PolicySettings {
            threshold: 5.0,
            screen_local_senders_only: true,
            counsellors: vec!["vp@school.example".into()],
            report_to: Globs::new(["*@politie.nl", "directie@school.example"]),
            quote_weight: 0.0,
            reported_speech_weight: 0.5,
            sensitivity: vec!["personal".into(), "private".into()],
            subject_labels: vec!["persoonlijk".into()],
            pass_unscanned: false,
            mode: Mode::Enforce,
            pupils: Globs::new(["*@leerling.school.example"]),
            staff: Globs::default(),
        }
    }

    pub(super) fn envelope(from: &str) -> Envelope {
        Envelope {
            mail_from: Some(from.into()),
            rcpt_to: vec![Recipient {
                address: "ouder@example.org".into(),
                params: vec![],
            }],
            ..Envelope::default()
        }
    }

    fn analysis(subject: Option<&str>, sensitivity: Option<&str>) -> Analysis {
        Analysis {
            headers: HeaderView {
                subject: subject.map(String::from),
                sensitivity: sensitivity.map(String::from),
                ..HeaderView::default()
            },
            ..Analysis::default()
        }
    }

    #[test]
    fn exemptions() {
        let s = settings();
        // (envelope sender, subject, Sensitivity header, expected exemption)
        type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<Exemption>);
        let cases: &[Case] = &[
            (
                "juf@school.example",
                None,
                Some("Personal"),
                Some(Exemption::Persoonlijk),
            ),
            (
                "juf@school.example",
                None,
                Some(" private "),
                Some(Exemption::Persoonlijk),
            ),
            ("juf@school.example", None, Some("Confidential"), None),
            (
                "juf@school.example",
                Some("[Persoonlijk] verjaardag"),
                None,
                Some(Exemption::Persoonlijk),
            ),
            (
                "juf@school.example",
                Some("Persoonlijk: verjaardag"),
                None,
                Some(Exemption::Persoonlijk),
            ),
            (
                "juf@school.example",
                Some("RE: Fw: persoonlijk - bericht"),
                None,
                Some(Exemption::Persoonlijk),
            ),
            (
                "juf@school.example",
                Some("Uitnodiging (persoonlijk)"),
                None,
                None,
            ),
            (
                "juf@school.example",
                Some("Een persoonlijk gesprek"),
                None,
                None,
            ),
            (
                "juf@school.example",
                Some("PERSOONLIJK weekend"),
                None,
                Some(Exemption::Persoonlijk),
            ),
            (
                "juf@school.example",
                Some("RE: PERSOONLIJK weekend"),
                None,
                Some(Exemption::Persoonlijk),
            ),
            (
                "juf@school.example",
                Some("Persoonlijk gesprek"),
                None,
                None,
            ),
            (
                "juf@school.example",
                Some("Persoonlijk-ontwikkelingsplan"),
                None,
                None,
            ),
            (
                "juf@school.example",
                Some("Persoonlijk- verjaardag"),
                None,
                Some(Exemption::Persoonlijk),
            ),
            (
                "juf@school.example",
                Some("Persoonlijk–verjaardag"),
                None,
                Some(Exemption::Persoonlijk),
            ),
            (
                "juf@school.example",
                Some("PERSOONLIJKE ontwikkeling"),
                None,
                None,
            ),
            (
                "juf@school.example",
                Some("Persoonlijke ontwikkeling"),
                None,
                None,
            ),
            (
                "VP@School.Example",
                None,
                None,
                Some(Exemption::Vertrouwenspersoon),
            ),
            (
                "vp@school.example",
                None,
                Some("Personal"),
                Some(Exemption::Vertrouwenspersoon),
            ),
            ("vp@other.example", None, None, None),
        ];
        for (from, subject, sensitivity, want) in cases {
            let got = exemption(&s, &envelope(from), &analysis(*subject, *sensitivity));
            assert_eq!(got, *want, "{from} {subject:?} {sensitivity:?}");
        }
    }

    fn envelope_to(from: &str, rcpts: &[&str]) -> Envelope {
        Envelope {
            mail_from: Some(from.into()),
            rcpt_to: rcpts
                .iter()
                .map(|r| Recipient {
                    address: (*r).into(),
                    params: vec![],
                })
                .collect(),
            ..Envelope::default()
        }
    }

    /// WereldKidz 6.9 both ways, and reports: the exemption depends on every recipient.
    #[test]
    fn exemptions_by_recipient() {
        let s = settings();
        let cases: &[(&[&str], Option<Exemption>)] = &[
            (&["vp@school.example"], Some(Exemption::Vertrouwenspersoon)),
            (&["VP@School.Example"], Some(Exemption::Vertrouwenspersoon)),
            (
                &["vp@school.example", "directie@school.example"],
                Some(Exemption::Vertrouwenspersoon),
            ),
            (&["wijkagent@politie.nl"], Some(Exemption::Melding)),
            (
                &["wijkagent@politie.nl", "directie@school.example"],
                Some(Exemption::Melding),
            ),
            // Anyone else among the recipients reads the message too: screened.
            (&["vp@school.example", "vriend@example.org"], None),
            (&["wijkagent@politie.nl", "ouder@example.org"], None),
            (&["agent@politie.nl.example.org"], None),
            (&[], None),
        ];
        for (rcpts, want) in cases {
            let got = exemption(
                &s,
                &envelope_to("leerling@school.example", rcpts),
                &analysis(None, None),
            );
            assert_eq!(got, *want, "{rcpts:?}");
        }
    }

    #[test]
    fn malware_applies_to_exempt_mail_and_errors_tempfail() {
        let rules = RuleSet::default();
        let org = OrgContext::default();
        let env = envelope("vp@school.example");
        let a = analysis(None, Some("Personal"));
        let infected = ScanResult::Infected(vec![Detection {
            name: "Eicar".into(),
            location: "part 1".into(),
        }]);
        let d = decide(&rules, &settings(), &org, &env, &a, &infected);
        assert_eq!(d.verdict, Verdict::Quarantine);
        assert_eq!(d.exempt, Some(Exemption::Vertrouwenspersoon));
        let failed = ScanResult::Failed("down".into());
        assert_eq!(
            decide(&rules, &settings(), &org, &env, &a, &failed).verdict,
            Verdict::Tempfail
        );
        let lenient = PolicySettings {
            pass_unscanned: true,
            ..settings()
        };
        assert_eq!(
            decide(&rules, &lenient, &org, &env, &a, &failed).verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn scope_of_content_rules() {
        let org = OrgContext {
            local_domains: vec!["school.example".into()],
            ..OrgContext::default()
        };
        let s = settings();
        assert!(in_scope(&s, &org, &envelope("juf@school.example")));
        assert!(!in_scope(&s, &org, &envelope("iemand@example.org")));
        assert!(in_scope(
            &s,
            &OrgContext::default(),
            &envelope("iemand@example.org")
        ));
        let all = PolicySettings {
            screen_local_senders_only: false,
            ..settings()
        };
        assert!(in_scope(&all, &org, &envelope("iemand@example.org")));
    }

    fn word_rule(id: &str, word: &str, weight: f64, action: &str) -> String {
        format!(
            "[[rule]]\nid = \"{id}\"\nkind = \"words\"\ncategory = \"beledigend\"\narticle = \"SOML 2.1\"\n\
             weight = {weight:.1}\naction = \"{action}\"\nwords = [\"{word}\"]\nmessage_nl = \"x\"\nmessage_en = \"x\"\n"
        )
    }

    #[test]
    fn weights_count_once_per_rule_and_add_up_across_rules() {
        let rules = RuleSet::from_sources([(
            "t.toml".to_string(),
            [
                word_rule("T-ZWAK-1", "appelflap", 3.0, "score"),
                word_rule("T-ZWAK-2", "boterkoek", 3.0, "score"),
                word_rule("T-HARD", "stroopwafel", 0.0, "bounce"),
            ]
            .concat(),
        )])
        .expect("rules");
        let org = OrgContext::default();
        let decide_text = |subject: &str, body: &str| {
            let mut a = analysis(Some(subject), None);
            a.texts = vec![
                crate::message::Text {
                    origin: crate::message::TextOrigin::Subject,
                    text: subject.into(),
                },
                crate::message::Text {
                    origin: crate::message::TextOrigin::Body { part: 0 },
                    text: body.into(),
                },
            ];
            decide(
                &rules,
                &settings(),
                &org,
                &envelope("juf@school.example"),
                &a,
                &ScanResult::Clean,
            )
        };
        // One weak rule, hit in subject and body: counted once, below the threshold.
        let d = decide_text("appelflap", "nog een appelflap");
        assert_eq!((d.verdict, d.score, d.hits.len()), (Verdict::Pass, 3.0, 2));
        // Two weak rules together reach it.
        let d = decide_text("appelflap", "en boterkoek");
        assert_eq!((d.verdict, d.score), (Verdict::Bounce, 6.0));
        assert_eq!(d.rule_ids(), vec!["T-ZWAK-1", "T-ZWAK-2"]);
        // A rule with action = "bounce" bounces whatever its weight.
        let d = decide_text("hallo", "een stroopwafel");
        assert_eq!((d.verdict, d.score), (Verdict::Bounce, 0.0));
        assert_eq!(d.categories(), vec!["beledigend"]);
        // Exempt mail is not screened for content.
        let mut a = analysis(Some("hallo"), Some("Personal"));
        a.texts = vec![crate::message::Text {
            origin: crate::message::TextOrigin::Body { part: 0 },
            text: "stroopwafel".into(),
        }];
        let d = decide(
            &rules,
            &settings(),
            &org,
            &envelope("juf@school.example"),
            &a,
            &ScanResult::Clean,
        );
        assert_eq!(
            (d.verdict, d.exempt, d.hits.len()),
            (Verdict::Pass, Some(Exemption::Persoonlijk), 0)
        );
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;
    use crate::message::{Attachment, HeaderView, Text, TextOrigin};

    const RULES: &str = r#"
[[rule]]
id = "T-WOORD"
kind = "words"
category = "beledigend"
article = "SOML 2.1"
words = ["stroopwafel"]
message_nl = "x"
message_en = "x"

[[rule]]
id = "T-DREIGING"
kind = "words"
category = "intimiderend"
article = "SOML 2.2"
action = "bounce"
words = ["appelflap"]
message_nl = "x"
message_en = "x"

[[rule]]
id = "T-LEK"
kind = "words"
category = "privacy"
article = "AVG"
quote-weight = 1.0
words = ["boterkoek"]
message_nl = "x"
message_en = "x"

[[rule]]
id = "T-EXE"
kind = "attachment"
category = "bijlage"
article = "WereldKidz 5.7k"
extensions = ["exe"]
message_nl = "x"
message_en = "x"

[[rule]]
id = "T-WOORD-IN-NAAM"
kind = "words"
category = "bijlage"
article = "WereldKidz 5.7k"
scope = "security"
in = ["attachment-name"]
words = ["factuur"]
message_nl = "x"
message_en = "x"
"#;

    fn settings() -> PolicySettings {
        PolicySettings {
            threshold: 5.0,
            screen_local_senders_only: true,
            counsellors: vec!["vp@school.example".into()],
            report_to: Globs::new(["*@politie.nl"]),
            quote_weight: 0.0,
            reported_speech_weight: 0.5,
            sensitivity: vec!["personal".into()],
            subject_labels: vec!["persoonlijk".into()],
            pass_unscanned: false,
            mode: Mode::Enforce,
            pupils: Globs::new(["*@leerling.school.example"]),
            staff: Globs::default(),
        }
    }

    fn decide_with(
        s: &PolicySettings,
        sensitivity: Option<&str>,
        texts: &[(TextOrigin, &str)],
        exe: bool,
    ) -> Decision {
        let rules =
            RuleSet::from_sources([("t.toml".to_string(), RULES.to_string())]).expect("rules");
        let analysis = Analysis {
            headers: HeaderView {
                sensitivity: sensitivity.map(String::from),
                ..HeaderView::default()
            },
            texts: texts
                .iter()
                .map(|(origin, text)| Text {
                    origin: *origin,
                    text: (*text).into(),
                })
                .collect(),
            attachments: if exe {
                vec![Attachment {
                    part: 2,
                    name: Some("factuur.exe".into()),
                    ..Attachment::default()
                }]
            } else {
                vec![]
            },
            ..Analysis::default()
        };
        let env = super::tests::envelope("juf@school.example");
        let org = OrgContext {
            local_domains: vec!["school.example".into()],
            ..OrgContext::default()
        };
        decide(&rules, s, &org, &env, &analysis, &ScanResult::Clean)
    }

    const BODY: TextOrigin = TextOrigin::Body { part: 1 };
    const QUOTE: TextOrigin = TextOrigin::Quote { part: 1 };
    const REPORTED: TextOrigin = TextOrigin::ReportedSpeech { part: 1 };
    const IN_QUOTE: TextOrigin = TextOrigin::ReportedInQuote { part: 1 };
    const NAME: TextOrigin = TextOrigin::AttachmentName { part: 2 };

    /// WereldKidz 6.8: the label lifts content rules, not the attachment and identity rules.
    #[test]
    fn exemptions_lift_content_rules_only() {
        let s = settings();
        let d = decide_with(
            &s,
            Some("Personal"),
            &[(BODY, "stroopwafel appelflap"), (NAME, "factuur.exe")],
            true,
        );
        assert_eq!(
            (d.verdict, d.exempt),
            (Verdict::Bounce, Some(Exemption::Persoonlijk))
        );
        assert_eq!(d.rule_ids(), vec!["T-EXE", "T-WOORD-IN-NAAM"]);
        let d = decide_with(
            &s,
            Some("Personal"),
            &[(BODY, "stroopwafel appelflap")],
            false,
        );
        assert_eq!((d.verdict, d.hits.len()), (Verdict::Pass, 0));
        let d = decide_with(&s, None, &[(BODY, "stroopwafel")], false);
        assert_eq!(d.verdict, Verdict::Bounce);
    }

    /// (texts, verdict, score, counted rule ids, hits shown)
    #[test]
    fn quotes_and_reported_speech_have_their_own_weight() {
        let s = settings();
        type Case<'a> = (
            &'a [(TextOrigin, &'a str)],
            Verdict,
            f64,
            &'a [&'a str],
            usize,
        );
        let cases: &[Case] = &[
            // A quoted insult or threat alone does not bounce; it is shown, not counted.
            (
                &[(QUOTE, "stroopwafel appelflap")],
                Verdict::Pass,
                0.0,
                &[],
                2,
            ),
            // Reported speech counts half and never forces a bounce.
            (
                &[(REPORTED, "stroopwafel")],
                Verdict::Pass,
                2.5,
                &["T-WOORD"],
                1,
            ),
            (
                &[(REPORTED, "appelflap")],
                Verdict::Pass,
                2.5,
                &["T-DREIGING"],
                1,
            ),
            // Two rules on reported words count once, with the larger share: reported speech alone never
            // bounces however many rules its words hit.
            (
                &[(REPORTED, "stroopwafel appelflap")],
                Verdict::Pass,
                2.5,
                &["T-WOORD", "T-DREIGING"],
                2,
            ),
            // With the sender's own words it still adds up.
            (
                &[(BODY, "stroopwafel"), (REPORTED, "appelflap")],
                Verdict::Bounce,
                7.5,
                &["T-WOORD", "T-DREIGING"],
                2,
            ),
            // The sender's own words count in full, whatever the quote holds.
            (
                &[(BODY, "stroopwafel"), (QUOTE, "stroopwafel")],
                Verdict::Bounce,
                5.0,
                &["T-WOORD"],
                2,
            ),
            (
                &[(BODY, "appelflap")],
                Verdict::Bounce,
                5.0,
                &["T-DREIGING"],
                1,
            ),
            // A rule with its own quote weight counts quoted text in full …
            (&[(QUOTE, "boterkoek")], Verdict::Bounce, 5.0, &["T-LEK"], 1),
            // … but what the sender reports or mentions at most at the reported-speech weight.
            (
                &[(REPORTED, "boterkoek")],
                Verdict::Pass,
                2.5,
                &["T-LEK"],
                1,
            ),
            // Speech reported inside quoted text weighs the lower of the two: the reported weight for a rule
            // with its own quote weight, the quote weight (0) for the others.
            (
                &[(IN_QUOTE, "boterkoek")],
                Verdict::Pass,
                2.5,
                &["T-LEK"],
                1,
            ),
            (&[(IN_QUOTE, "stroopwafel")], Verdict::Pass, 0.0, &[], 1),
        ];
        for (texts, verdict, score, ids, shown) in cases {
            let d = decide_with(&s, None, texts, false);
            assert_eq!(
                (d.verdict, d.score, d.rule_ids(), d.hits.len()),
                (*verdict, *score, ids.to_vec(), *shown),
                "{texts:?}"
            );
        }
        // A quote weight of 1 treats quotes as the sender's own text.
        let full = PolicySettings {
            quote_weight: 1.0,
            ..settings()
        };
        assert_eq!(
            decide_with(&full, None, &[(QUOTE, "appelflap")], false).verdict,
            Verdict::Bounce
        );
    }
    /// `[policy] mode = "monitor"`: hits are counted and shown as they would act, the message passes.
    /// (texts, verdict, would, monitor rule ids)
    #[test]
    fn monitor_mode_passes_what_would_bounce() {
        let monitor = PolicySettings {
            mode: Mode::Monitor,
            ..settings()
        };
        type Case<'a> = (&'a [(TextOrigin, &'a str)], Option<Verdict>, &'a [&'a str]);
        let cases: &[Case] = &[
            (
                &[(BODY, "stroopwafel")],
                Some(Verdict::Bounce),
                &["T-WOORD"],
            ),
            (
                &[(BODY, "appelflap")],
                Some(Verdict::Bounce),
                &["T-DREIGING"],
            ),
            // Below the threshold nothing would have happened either.
            (&[(REPORTED, "stroopwafel")], None, &["T-WOORD"]),
            (&[(BODY, "ouderavond")], None, &[]),
        ];
        for (texts, would, monitored) in cases {
            let d = decide_with(&monitor, None, texts, false);
            assert_eq!(
                (d.verdict, d.would, d.monitor_rule_ids()),
                (Verdict::Pass, *would, monitored.to_vec()),
                "{texts:?}"
            );
            assert!(d.enforced_rule_ids().is_empty(), "{texts:?}");
            // Enforcing gives the verdict monitor mode said it would.
            let enforced = decide_with(&settings(), None, texts, false);
            assert_eq!(enforced.verdict, would.unwrap_or(Verdict::Pass));
            assert_eq!((enforced.would, d.score), (None, enforced.score));
        }
    }

    /// A rule file's `mode = "monitor"`: that rule only reports; the others still decide, on their own
    /// score (the monitor rule's weight does not push them over the threshold).
    #[test]
    fn a_monitor_rule_reports_while_the_others_enforce() {
        let rules = format!(
            "{RULES}\n[[rule]]\nid = \"T-NIEUW\"\nkind = \"words\"\ncategory = \"beledigend\"\n\
             article = \"SOML 2.1\"\nmode = \"monitor\"\nwords = [\"spekkoek\"]\n\
             message_nl = \"x\"\nmessage_en = \"x\"\n"
        );
        let rules = RuleSet::from_sources([("t.toml".to_string(), rules)]).expect("rules");
        let org = OrgContext {
            local_domains: vec!["school.example".into()],
            ..OrgContext::default()
        };
        let env = super::tests::envelope("juf@school.example");
        let decide_text = |text: &str| {
            let analysis = Analysis {
                texts: vec![Text {
                    origin: TextOrigin::Body { part: 0 },
                    text: text.into(),
                }],
                ..Analysis::default()
            };
            decide(
                &rules,
                &PolicySettings {
                    threshold: 10.0,
                    ..settings()
                },
                &org,
                &env,
                &analysis,
                &ScanResult::Clean,
            )
        };
        // Threshold 10: 5 enforced + 5 monitor would bounce; it passes.
        let d = decide_text("stroopwafel spekkoek");
        assert_eq!(
            (d.verdict, d.would, d.score),
            (Verdict::Pass, Some(Verdict::Bounce), 10.0)
        );
        assert_eq!(d.monitor_rule_ids(), vec!["T-NIEUW"]);
        assert_eq!(d.enforced_rule_ids(), vec!["T-WOORD"]);
        // Enforced hits alone over the threshold still bounce, the monitor hit only shown.
        let d = decide_text("stroopwafel appelflap spekkoek");
        assert_eq!((d.verdict, d.would), (Verdict::Bounce, None));
        assert_eq!(d.enforced_rule_ids(), vec!["T-WOORD", "T-DREIGING"]);
        assert_eq!(d.monitor_rule_ids(), vec!["T-NIEUW"]);
    }
}

/// Rules with a direction (`sender-role`, `recipient-role`): grooming cues count from staff to a pupil only.
#[cfg(test)]
mod direction_tests {
    use super::*;
    use crate::envelope::Recipient;
    use crate::message::{Text, TextOrigin};

    const RULES: &str = r#"
[[rule]]
id = "T-KUS"
kind = "words"
category = "intimiderend"
article = "SVOK B.4"
weight = 2.5
sender-role = ["staff"]
recipient-role = ["pupil"]
words = ["kusje"]
message_nl = "x"
message_en = "x"

[[rule]]
id = "T-GEHEIM"
kind = "words"
category = "intimiderend"
article = "SVOK B.4"
weight = 2.5
sender-role = ["staff", "other"]
other-weight = 1.0
words = ["ons geheimpje"]
message_nl = "x"
message_en = "x"

[[rule]]
id = "T-FOTO"
kind = "words"
category = "intimiderend"
article = "SVOK B.4"
weight = 5.0
action = "bounce"
sender-role = ["staff"]
recipient-role = ["pupil"]
other-weight = 2.0
words = ["stuur een foto"]
message_nl = "x"
message_en = "x"
"#;

    pub(super) fn settings(pupils: &[&str], staff: &[&str]) -> PolicySettings {
        PolicySettings {
            threshold: 5.0,
            screen_local_senders_only: true,
            counsellors: vec!["vp@school.example".into()],
            report_to: Globs::default(),
            quote_weight: 0.0,
            reported_speech_weight: 0.5,
            sensitivity: Vec::new(),
            subject_labels: Vec::new(),
            pass_unscanned: false,
            mode: Mode::Enforce,
            pupils: Globs::new(pupils),
            staff: Globs::new(staff),
        }
    }

    fn decide_for(s: &PolicySettings, from: &str, to: &[&str], text: &str) -> Decision {
        let rules =
            RuleSet::from_sources([("t.toml".to_string(), RULES.to_string())]).expect("rules");
        let analysis = Analysis {
            texts: vec![Text {
                origin: TextOrigin::Body { part: 1 },
                text: text.into(),
            }],
            ..Analysis::default()
        };
        let env = Envelope {
            mail_from: Some(from.into()),
            rcpt_to: to
                .iter()
                .map(|r| Recipient {
                    address: (*r).into(),
                    params: vec![],
                })
                .collect(),
            ..Envelope::default()
        };
        let org = OrgContext {
            local_domains: vec!["school.example".into()],
            ..OrgContext::default()
        };
        decide(&rules, s, &org, &env, &analysis, &ScanResult::Clean)
    }

    #[test]
    fn roles_from_the_configuration() {
        let org = OrgContext {
            local_domains: vec!["school.example".into()],
            ..OrgContext::default()
        };
        let s = settings(&["*@leerling.school.example"], &[]);
        // (address, role) with pupils configured and no staff list: every other local address is staff.
        let cases = [
            ("Sem@Leerling.School.Example", Role::Pupil),
            ("juf@school.example", Role::Staff),
            ("ouder@example.org", Role::Other),
        ];
        for (address, want) in cases {
            assert_eq!(role_of(&s, &org, address), want, "{address}");
        }
        // A staff list narrows staff; a local address on neither list is `other`.
        let s = settings(
            &["*@leerling.school.example"],
            &["*@personeel.school.example"],
        );
        assert_eq!(
            role_of(&s, &org, "j.jansen@personeel.school.example"),
            Role::Staff
        );
        assert_eq!(role_of(&s, &org, "info@school.example"), Role::Other);
    }

    /// (sender, recipients, text, verdict, score)
    #[test]
    fn cues_count_by_direction() {
        let s = settings(&["*@leerling.school.example"], &[]);
        let staff = "meester@school.example";
        let pupil = "sem@leerling.school.example";
        let other_pupil = "lisa@leerling.school.example";
        type Case<'a> = (&'a str, &'a [&'a str], &'a str, Verdict, f64);
        let cases: &[Case] = &[
            // Staff → pupil: two classes reach the threshold.
            (
                staff,
                &[pupil],
                "ons geheimpje, kusje",
                Verdict::Bounce,
                5.0,
            ),
            // One recipient of several being a pupil is enough.
            (
                staff,
                &["collega@school.example", pupil],
                "ons geheimpje, kusje",
                Verdict::Bounce,
                5.0,
            ),
            // Pupil → pupil: the kiss weighs nothing, the secret 1.
            (
                pupil,
                &[other_pupil],
                "ons geheimpje, kusje",
                Verdict::Pass,
                1.0,
            ),
            // Staff → staff: the kiss weighs nothing, the secret in full.
            (
                staff,
                &["collega@school.example"],
                "ons geheimpje, kusje",
                Verdict::Pass,
                2.5,
            ),
            // A bouncing rule outside its direction weighs its `other-weight` and does not force a bounce.
            (pupil, &[other_pupil], "stuur een foto", Verdict::Pass, 2.0),
            (staff, &[pupil], "stuur een foto", Verdict::Bounce, 5.0),
        ];
        for (from, to, text, verdict, score) in cases {
            let d = decide_for(&s, from, to, text);
            assert_eq!(
                (d.verdict, d.score),
                (*verdict, *score),
                "{from} → {to:?}: {text}"
            );
        }
    }

    /// With no pupils configured (the default) nobody is a pupil: staff → pupil rules never count, and rules
    /// that spare pupils weigh as before for every local sender.
    #[test]
    fn without_pupils_configured_nothing_changes() {
        let s = settings(&[], &[]);
        let d = decide_for(
            &s,
            "meester@school.example",
            &["sem@leerling.school.example"],
            "ons geheimpje, kusje",
        );
        assert_eq!((d.verdict, d.score), (Verdict::Pass, 2.5));
        let d = decide_for(
            &s,
            "sem@leerling.school.example",
            &["lisa@leerling.school.example"],
            "ons geheimpje",
        );
        assert_eq!(d.score, 2.5);
    }
}

/// `marks-report`: a question about the forwarded text in the sender's own words makes the quote a report.
#[cfg(test)]
mod marks_report_tests {
    use super::*;
    use crate::message::{Text, TextOrigin};

    const RULES: &str = r#"
[[rule]]
id = "T-KETTING"
kind = "words"
category = "kettingmail"
article = "WereldKidz 5.7i"
weight = 5.0
quote-weight = 1.0
words = ["stuur door"]
message_nl = "x"
message_en = "x"

[[rule]]
id = "T-VRAAG"
kind = "words"
category = "kettingmail"
article = "WereldKidz 5.7i"
weight = 0.0
marks-report = true
in = ["body"]
words = ["is dit echt"]
message_nl = "x"
message_en = "x"
"#;

    /// (own text, quoted text, verdict, score)
    #[test]
    fn a_question_makes_the_quote_a_report() {
        let rules =
            RuleSet::from_sources([("t.toml".to_string(), RULES.to_string())]).expect("rules");
        let settings = PolicySettings {
            screen_local_senders_only: false,
            ..super::direction_tests::settings(&[], &[])
        };
        let cases: &[(&str, &str, Verdict, f64)] = &[
            (
                "Hoi ICT, is dit echt?",
                "Gratis! Stuur door!",
                Verdict::Pass,
                2.5,
            ),
            (
                "Leuk, lees maar.",
                "Gratis! Stuur door!",
                Verdict::Bounce,
                5.0,
            ),
            // The chain letter in the sender's own text counts in full, question or not.
            ("Is dit echt? Stuur door!", "", Verdict::Bounce, 5.0),
            // The question alone adds nothing.
            ("Is dit echt?", "", Verdict::Pass, 0.0),
        ];
        for (own, quoted, verdict, score) in cases {
            let analysis = Analysis {
                texts: vec![
                    Text {
                        origin: TextOrigin::Body { part: 1 },
                        text: (*own).into(),
                    },
                    Text {
                        origin: TextOrigin::Quote { part: 1 },
                        text: (*quoted).into(),
                    },
                ],
                ..Analysis::default()
            };
            let d = decide(
                &rules,
                &settings,
                &OrgContext::default(),
                &Envelope::default(),
                &analysis,
                &ScanResult::Clean,
            );
            assert_eq!((d.verdict, d.score), (*verdict, *score), "{own} / {quoted}");
            // The marker itself is never a counted hit.
            assert!(
                d.hits.iter().all(|h| h.rule_id != "T-VRAAG" || !h.counted),
                "{own}"
            );
        }
    }
}

/// Personal data in quoted mail: a BSN quoted back to its author is no leak; forwarded to someone else it is.
#[cfg(test)]
mod forwarded_personal_data_tests {
    use super::*;
    use crate::envelope::Recipient;
    use crate::message::{Text, TextOrigin};

    const PARENT_MAIL: &str = "Van: Said Amrani <s.amrani@example.com>\nVerzonden: woensdag 1 september 2025 \
                               09:47\nAan: Juf <juf@school.example>\nOnderwerp: gegevens\n\nHierbij de gegevens \
                               van onze zoon: Sem, BSN 123456782.";

    /// The verdict on `analysis` sent by the teacher to `recipient`.
    fn decide_for(recipient: &str, analysis: &Analysis) -> Decision {
        let rules = RuleSet::embedded().expect("rules");
        let settings = super::tests::settings();
        let org = OrgContext {
            local_domains: vec!["school.example".into()],
            ..OrgContext::default()
        };
        let envelope = Envelope {
            mail_from: Some("juf@school.example".into()),
            rcpt_to: vec![Recipient {
                address: recipient.into(),
                params: vec![],
            }],
            ..Envelope::default()
        };
        decide(
            &rules,
            &settings,
            &org,
            &envelope,
            analysis,
            &ScanResult::Clean,
        )
    }

    fn decide_to(recipient: &str, quoted: &str) -> Decision {
        let analysis = Analysis {
            texts: vec![
                Text {
                    origin: TextOrigin::Body { part: 0 },
                    text: "Hieronder de mail van thuis.".into(),
                },
                Text {
                    origin: TextOrigin::Quote { part: 0 },
                    text: quoted.into(),
                },
            ],
            ..Analysis::default()
        };
        decide_for(recipient, &analysis)
    }

    #[test]
    fn a_quoted_bsn_counts_when_the_mail_goes_to_someone_else() {
        // Forwarded to the sports club: the child's BSN leaves the school.
        let d = decide_to("info@sportclub.example", PARENT_MAIL);
        assert_eq!(d.verdict, Verdict::Bounce);
        assert!(d
            .hits
            .iter()
            .any(|h| h.rule_id == "MW-PRIVACY-01" && h.counted));
        // A reply to the parent, in any case of the address: their own data, back to them.
        for to in ["s.amrani@example.com", "S.Amrani@Example.com"] {
            let d = decide_to(to, PARENT_MAIL);
            assert_eq!(d.verdict, Verdict::Pass, "{to}");
            assert!(d.hits.iter().all(|h| !h.counted), "{to}");
        }
        // A reply quote without a header block names no author: counted as a reply.
        let d = decide_to("info@sportclub.example", "Sem, BSN 123456782.");
        assert_eq!(d.verdict, Verdict::Pass);
    }

    /// A parent's mail attached whole (`message/rfc822`) and sent on: its `From:` names the author.
    fn forward_attached(recipient: &str) -> Decision {
        let raw = format!(
            "From: Juf <juf@school.example>\r\nTo: <{recipient}>\r\nSubject: Fwd: gegevens\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nDoorgestuurd naar mijn eigen adres.\r\n--b\r\n\
             Content-Type: message/rfc822\r\n\r\nFrom: Said Amrani <S.Amrani@example.com>\r\n\
             To: Juf <juf@school.example>\r\nSubject: gegevens\r\n\r\n\
             Hierbij de gegevens van onze zoon: Sem, BSN 123456782.\r\n--b--\r\n"
        );
        let analysis = crate::message::analyse(raw.as_bytes(), &crate::message::Limits::default());
        decide_for(recipient, &analysis)
    }

    #[test]
    fn an_attached_mail_names_its_author_by_its_from() {
        // Sent on to the teacher's private address: the BSN leaves the school.
        let d = forward_attached("juf1976@example.net");
        assert_eq!(d.verdict, Verdict::Bounce);
        assert!(d
            .hits
            .iter()
            .any(|h| h.rule_id == "MW-PRIVACY-01" && h.counted));
        // Sent back to the parent who wrote it: no leak.
        let d = forward_attached("s.amrani@example.com");
        assert_eq!(d.verdict, Verdict::Pass);
        assert!(d.hits.iter().all(|h| !h.counted));
    }

    #[test]
    fn the_author_line_of_a_quoted_header_block() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "Van: Said Amrani <s.amrani@example.com>",
                Some("s.amrani@example.com"),
            ),
            ("*From:* ouder@example.org", Some("ouder@example.org")),
            (
                "  From: \"Ouder, Een\" <een@example.org> ",
                Some("een@example.org"),
            ),
            ("Van: de directie", None),
            ("Aan: Juf <juf@school.example>", None),
            ("Vanaf morgen: x@example.org", None),
        ];
        for (line, want) in cases {
            assert_eq!(quoted_author(line).as_deref(), *want, "{line}");
        }
    }
}
