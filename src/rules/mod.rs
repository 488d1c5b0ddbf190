//! Rules: TOML files in `rules/` → a compiled [`RuleSet`] → [`Hit`]s for one message.
//!
//! Loading validates and compiles everything once (word lists into automata, patterns into regexes); a broken
//! file is reported with its file name, line and rule id. Evaluating is pure and never fails: a rule hit is
//! data, not an error. Nothing here does I/O except [`RuleSet::load_dir`].
//!
//! Layout: [`file`] (the TOML format and its validation), [`normalize`] (text folding), [`words`] (the word
//! matcher and allow lists), [`privacy`] (BSN, visible recipients), [`attachment`] (extensions, disguised
//! executables, archives), [`address`] (sender, sender mismatch, destination), `bytes` (run scanning shared by
//! the text rules). This file ties them together.
//! Hits never carry matched words or text, only the rule and a [`Location`].

use std::path::Path;

use serde::Serialize;

use crate::envelope::{is_local, Envelope};
use crate::message::{Analysis, Text};

pub mod address;
pub mod attachment;
mod bytes;
pub mod file;
pub mod lemma;
pub mod model;
pub mod near;
pub mod normalize;
pub mod privacy;
pub mod roles;
pub mod unmask;
pub mod words;

#[cfg(test)]
mod tests;

use file::{Check, Compiled};
use words::{WordMatcher, WordMatcherBuilder};

/// The default rule files shipped in `rules/`, embedded so the binary runs with no files at all.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "05-contexten.toml",
        include_str!("../../rules/05-contexten.toml"),
    ),
    (
        "10-beledigend.toml",
        include_str!("../../rules/10-beledigend.toml"),
    ),
    (
        "20-racistisch-discriminerend.toml",
        include_str!("../../rules/20-racistisch-discriminerend.toml"),
    ),
    (
        "30-pornografisch.toml",
        include_str!("../../rules/30-pornografisch.toml"),
    ),
    (
        "40-intimiderend-haat-geweld.toml",
        include_str!("../../rules/40-intimiderend-haat-geweld.toml"),
    ),
    ("45-rollen.toml", include_str!("../../rules/45-rollen.toml")),
    ("85-taal.model", include_str!("../../rules/85-taal.model")),
    ("85-taal.toml", include_str!("../../rules/85-taal.toml")),
    (
        "50-kettingmail.toml",
        include_str!("../../rules/50-kettingmail.toml"),
    ),
    (
        "60-auteursrecht.toml",
        include_str!("../../rules/60-auteursrecht.toml"),
    ),
    (
        "70-bijlagen.toml",
        include_str!("../../rules/70-bijlagen.toml"),
    ),
    (
        "80-privacy.toml",
        include_str!("../../rules/80-privacy.toml"),
    ),
    (
        "90-afzender-bestemming.toml",
        include_str!("../../rules/90-afzender-bestemming.toml"),
    ),
    (
        "95-onleesbaar.toml",
        include_str!("../../rules/95-onleesbaar.toml"),
    ),
];

/// What the organisation's configuration tells the rules (from `[organisation]` and `[policy]`).
#[derive(Debug, Clone, Default)]
pub struct OrgContext {
    /// Domains that are "ours" (lowercase). Empty means: every address counts as external.
    pub local_domains: Vec<String>,
    /// Allowed (envelope sender, From address) pairs for shared mailboxes and send-as aliases; either side may
    /// be `*@domain` or `*`.
    pub send_as: Vec<(String, String)>,
}

/// Everything a rule may look at for one message.
#[derive(Debug, Clone, Copy)]
pub struct RuleContext<'a> {
    pub envelope: &'a Envelope,
    pub analysis: &'a Analysis,
    pub org: &'a OrgContext,
}

/// A compiled, validated rule set.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// The user-facing part of every rule, in load order (file name order, then order in the file).
    rules: Vec<RuleInfo>,
    /// The kind-specific compiled checks, parallel to `rules`.
    checks: Vec<Check>,
    /// Scope and quote weight of each rule, parallel to `rules`.
    treatments: Vec<Treatment>,
    /// The word entries of all `words` rules and the group alternatives of all `near` rules in one automaton
    /// (one pass over each text).
    words: WordMatcher,
    /// The `near` rules by their distinct groups, which the word automaton reports; it also holds the
    /// `unless` groups of the `words` rules.
    near: near::NearIndex,
    /// The `unless` group of each `words` rule (its id in `near`), parallel to `rules`.
    word_unless: Vec<Option<u32>>,
    /// The `roles` rules' words and lemma forms, one index keyed by word.
    roles: roles::RolesIndex,
    /// The language models the `model` rules score with (`*.model` files).
    models: file::Models,
}

/// The user-facing description of one rule (what the bounce shows).
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    /// Stable id, e.g. `MW-BELEDIGEND-01`.
    pub id: String,
    /// Category, e.g. `beledigend`, `privacy`, `bijlage`.
    pub category: String,
    /// The article(s) of the codes of conduct it implements, e.g. `SOML/ProCon 2.1; WereldKidz 5.7g`.
    pub article: String,
    /// Score added when it hits.
    pub weight: f64,
    /// `Score` (add the weight) or `Bounce` (bounce whatever the score).
    pub action: Action,
    /// Explanation for the sender, Dutch.
    pub message_nl: String,
    /// Explanation for the sender, English.
    pub message_en: String,
    /// The file it came from.
    pub file: String,
}

/// How the engine treats a rule's hits, beside what the user sees in [`RuleInfo`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Treatment {
    /// Content or security: what the *persoonlijk* and counsellor exemptions lift (content only).
    pub scope: Scope,
    /// This rule's own weight factor for hits in quoted text and reported speech, instead of `[policy]
    /// quote_weight` / `reported_speech_weight`.
    pub quote_weight: Option<f64>,
    /// `monitor`: the rule's hits are reported (log line, metrics, traffic record, `check`) but decide
    /// nothing, so a new rule can be tried while the rest enforce.
    pub mode: Mode,
    /// The envelope direction in which the rule counts in full (`sender-role`, `recipient-role`), applied
    /// by `policy::decide`; `None`: every direction.
    pub direction: Option<file::Direction>,
    /// `marks-report`: a hit in the sender's own text (`is dit echt?` above a forwarded chain letter) makes
    /// what the message quotes a report, weighed as reported speech by `policy::decide`.
    pub marks_report: bool,
    /// A `bsn` rule: personal data, which a quote does not make harmless when it goes to someone other than
    /// the person quoted (a parent's mail with the child's BSN forwarded to a sports club), see
    /// `policy::decide`.
    pub personal_data: bool,
}

/// Whether hits act or are only reported: `[policy] mode` for all rules, a rule file's `mode` for one.
/// Monitor mode is Exchange's "audit mode" or rspamd's `no_action`: a way to roll out without bouncing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Hits decide the verdict (the default).
    #[default]
    Enforce,
    /// Hits are reported with the verdict they would have given; the message goes on unchanged.
    Monitor,
}

impl Mode {
    /// The lowercase name, as configuration, logs and `check` spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        }
    }
}

/// What a rule guards, which decides whether an exemption lifts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// What a message says: words, phrases, word combinations, a BSN in text. Lifted by *persoonlijk*
    /// (WereldKidz 6.8), by the counsellor exemption (6.9) and for reporting destinations.
    Content,
    /// Whether a message is safe and who sent it: attachment types and archives, sender and From,
    /// destinations, visible recipients, damage. Never lifted (WereldKidz 8.5, 4.2a).
    Security,
}

/// What a hit does to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Add the rule's weight to the score.
    #[default]
    Score,
    /// Bounce regardless of the score.
    Bounce,
}

/// One rule that fired, and where. Never carries the matched words or text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub rule_id: String,
    pub category: String,
    /// What the hit adds to the score: the rule's weight, times the quote weight for quoted text.
    pub weight: f64,
    pub action: Action,
    /// Where it matched.
    pub location: Location,
    /// The kind of place, for people and `check --json`: `subject`, `body`, `quote`, `reported-speech`,
    /// `attachment-name`, `attachment-text`, `archive-member`, `attachment`, `envelope`, `headers`, `message`.
    pub place: Place,
    /// False for a hit that adds nothing (quoted text under a quote weight of 0): shown, but not a reason.
    pub counted: bool,
    /// True for a hit of a rule in monitor mode (or of any rule under `[policy] mode = "monitor"`): it
    /// counts towards the verdict that *would* have been given, not towards the one applied.
    pub monitor: bool,
}

/// The kind of place a hit is in (see [`Hit::place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Place {
    Subject,
    Body,
    Quote,
    ReportedSpeech,
    AttachmentName,
    AttachmentText,
    ArchiveMember,
    Attachment,
    Envelope,
    Headers,
    Message,
}

impl Location {
    /// The kind of place this location is.
    pub fn place(&self) -> Place {
        use crate::message::TextOrigin;
        match self {
            Location::EnvelopeSender | Location::Recipient { .. } => Place::Envelope,
            Location::FromHeader | Location::RecipientHeaders => Place::Headers,
            Location::Message => Place::Message,
            Location::Attachment { .. } => Place::Attachment,
            Location::ArchiveMember { .. } => Place::ArchiveMember,
            Location::Text { origin } => match origin {
                TextOrigin::Subject => Place::Subject,
                TextOrigin::Body { .. } | TextOrigin::Html { .. } | TextOrigin::Raw => Place::Body,
                TextOrigin::Quote { .. } | TextOrigin::ReportedInQuote { .. } => Place::Quote,
                TextOrigin::ReportedSpeech { .. } | TextOrigin::ReportedInAttachment { .. } => {
                    Place::ReportedSpeech
                }
                TextOrigin::AttachmentName { .. } => Place::AttachmentName,
                TextOrigin::AttachmentText { member: None, .. } => Place::AttachmentText,
                TextOrigin::AttachmentText {
                    member: Some(_), ..
                } => Place::ArchiveMember,
            },
        }
    }
}

/// Where a rule matched (no content: safe to log and to show in `check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Location {
    /// The envelope sender (`MAIL FROM`).
    EnvelopeSender,
    /// The `From:` header.
    FromHeader,
    /// The message as a whole (damage: too complex to inspect).
    Message,
    /// An envelope recipient (index into the recipient list).
    Recipient { index: usize },
    /// The visible recipient headers (`To:`/`Cc:`).
    RecipientHeaders,
    /// Decoded text, see [`crate::message::TextOrigin`].
    Text { origin: crate::message::TextOrigin },
    /// An attachment (part index).
    Attachment { part: usize },
    /// A member of an archive attachment (part index of the archive).
    ArchiveMember { part: usize },
}

impl std::fmt::Display for Location {
    /// A short English description for people (`mailwacht check`); never content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::message::TextOrigin;
        match self {
            Location::EnvelopeSender => write!(f, "envelope sender"),
            Location::FromHeader => write!(f, "From header"),
            Location::Message => write!(f, "the message as a whole"),
            Location::Recipient { index } => write!(f, "envelope recipient {}", index + 1),
            Location::RecipientHeaders => write!(f, "To/Cc headers"),
            Location::Text { origin } => match origin {
                TextOrigin::Subject => write!(f, "subject"),
                TextOrigin::Body { part } => write!(f, "text of part {part}"),
                TextOrigin::Html { part } => write!(f, "HTML text of part {part}"),
                TextOrigin::AttachmentName { part } => write!(f, "attachment name in part {part}"),
                TextOrigin::Quote { part } => write!(f, "quoted text of part {part}"),
                TextOrigin::ReportedSpeech { part } => {
                    write!(f, "reported speech in the text of part {part}")
                }
                TextOrigin::ReportedInQuote { part } => {
                    write!(f, "reported speech in the quoted text of part {part}")
                }
                TextOrigin::AttachmentText { part, member: None } => {
                    write!(f, "text of the attachment in part {part}")
                }
                TextOrigin::AttachmentText {
                    part,
                    member: Some(m),
                } => write!(
                    f,
                    "text of archive member {} of the attachment in part {part}",
                    m + 1
                ),
                TextOrigin::ReportedInAttachment { part, member: None } => {
                    write!(f, "reported speech in the attachment in part {part}")
                }
                TextOrigin::ReportedInAttachment {
                    part,
                    member: Some(m),
                } => write!(
                    f,
                    "reported speech in archive member {} of the attachment in part {part}",
                    m + 1
                ),
                TextOrigin::Raw => write!(f, "raw message body"),
            },
            Location::Attachment { part } => write!(f, "attachment in part {part}"),
            Location::ArchiveMember { part } => {
                write!(f, "archive member of the attachment in part {part}")
            }
        }
    }
}

/// A rule file that cannot be loaded. Messages quote the file, line and rule id.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules directory {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: rule {rule_id}: {message}")]
    Invalid {
        file: String,
        rule_id: String,
        message: String,
    },
    #[error("{file}: context `{name}`: {message}")]
    Context {
        file: String,
        name: String,
        message: String,
    },
    #[error("{file}: rule id {rule_id} is used twice (also in {other_file})")]
    DuplicateId {
        file: String,
        rule_id: String,
        other_file: String,
    },
}

/// Parse language models given as (file name, text).
fn parse_models(
    sources: impl IntoIterator<Item = (String, String)>,
) -> Result<file::Models, RulesError> {
    let mut models = file::Models::default();
    for (name, text) in sources {
        let model = model::Model::parse(&text).map_err(|message| RulesError::Syntax {
            file: name.clone(),
            message,
        })?;
        models.list.push((name, std::sync::Arc::new(model)));
    }
    Ok(models)
}

impl RuleSet {
    /// Compile the embedded default rules. The embedded language model is parsed once per process (it is
    /// the largest file, and a reload or a test compiles the rules again).
    pub fn embedded() -> Result<RuleSet, RulesError> {
        static MODELS: std::sync::OnceLock<Result<file::Models, (String, String)>> =
            std::sync::OnceLock::new();
        let is_model = |name: &str| name.ends_with(".model");
        let models = MODELS.get_or_init(|| {
            parse_models(
                EMBEDDED
                    .iter()
                    .filter(|(f, _)| is_model(f))
                    .map(|(f, s)| (f.to_string(), s.to_string())),
            )
            .map_err(|e| match e {
                RulesError::Syntax { file, message } => (file, message),
                other => (String::new(), other.to_string()),
            })
        });
        let models = models
            .clone()
            .map_err(|(file, message)| RulesError::Syntax { file, message })?;
        RuleSet::compile(
            EMBEDDED
                .iter()
                .filter(|(f, _)| !is_model(f))
                .map(|(f, s)| (f.to_string(), s.to_string())),
            models,
        )
    }

    /// Load and compile every `*.toml` in `dir` (sorted by name), with the language models (`*.model`) beside
    /// them.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, RulesError> {
        let io = |source| RulesError::Io {
            path: dir.display().to_string(),
            source,
        };
        let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml" || x == "model") && p.is_file())
            .collect();
        paths.sort();
        let mut sources = Vec::with_capacity(paths.len());
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|source| RulesError::Io {
                path: p.display().to_string(),
                source,
            })?;
            let name = p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            sources.push((name, text));
        }
        RuleSet::from_sources(sources)
    }

    /// Compile rule files given as (file name, text): TOML rule files, and language models (`*.model`),
    /// which every rule file may name.
    pub fn from_sources(
        sources: impl IntoIterator<Item = (String, String)>,
    ) -> Result<RuleSet, RulesError> {
        let mut rule_sources = Vec::new();
        let mut model_sources = Vec::new();
        for (name, text) in sources {
            if name.ends_with(".model") {
                model_sources.push((name, text));
            } else {
                rule_sources.push((name, text));
            }
        }
        RuleSet::compile(rule_sources, parse_models(model_sources)?)
    }

    /// Compile TOML rule files whose `model` rules refer to `models`.
    fn compile(
        rule_sources: impl IntoIterator<Item = (String, String)>,
        models: file::Models,
    ) -> Result<RuleSet, RulesError> {
        let mut compiled: Vec<Compiled> = Vec::new();
        for rule in file::parse_files(rule_sources, &models)? {
            if let Some(other) = compiled.iter().find(|c| c.info.id == rule.info.id) {
                return Err(RulesError::DuplicateId {
                    file: rule.info.file.clone(),
                    rule_id: rule.info.id.clone(),
                    other_file: other.info.file.clone(),
                });
            }
            compiled.push(rule);
        }
        let mut builder = WordMatcherBuilder::default();
        let mut near = near::NearIndex::default();
        let mut roles = roles::RolesIndex::default();
        let mut word_unless = vec![None; compiled.len()];
        for (i, c) in compiled.iter().enumerate() {
            match &c.check {
                Check::Words {
                    entries,
                    compounds,
                    unless,
                    ..
                } => {
                    for e in entries {
                        builder.add(i, e);
                    }
                    for (k, c) in compounds.iter().enumerate() {
                        builder.add_heads(i, k, c);
                    }
                    if let (Some(slot), Some(g)) = (word_unless.get_mut(i), unless) {
                        *slot = Some(near.add_unless(g));
                    }
                }
                // Every group, each distinct group once.
                Check::Near { matcher, .. } => {
                    for (id, group) in near.add(i, matcher) {
                        for e in group.entries() {
                            builder.add_group(id, e);
                        }
                    }
                }
                Check::Roles { matcher, .. } => roles.add(i, matcher),
                _ => {}
            }
        }
        let invalid = |e: aho_corasick::BuildError| RulesError::Invalid {
            file: "(all files)".to_string(),
            rule_id: "(word lists)".to_string(),
            message: format!("cannot compile the word lists: {e}"),
        };
        let words = builder.build().map_err(invalid)?;
        near.build().map_err(invalid)?;
        let treatments = compiled.iter().map(|c| c.treatment).collect();
        let (rules, checks) = compiled.into_iter().map(|c| (c.info, c.check)).unzip();
        Ok(RuleSet {
            rules,
            checks,
            treatments,
            words,
            near,
            word_unless,
            roles,
            models,
        })
    }

    /// All rules, in load order.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&RuleInfo> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Set the mode of every rule whose id matches a pattern: an id, or a prefix ending in `*`
    /// (`MW-TAAL-*`), as `[rules] enforce` and `monitor` say. A pattern that matches no rule is an error (a
    /// misspelt id would otherwise leave a rule as it was, silently).
    pub fn set_mode(&mut self, patterns: &[String], mode: Mode) -> Result<(), String> {
        for pattern in patterns {
            let matches = |id: &str| match pattern.strip_suffix('*') {
                Some(prefix) => id.starts_with(prefix),
                None => id == pattern,
            };
            let mut any = false;
            for (info, t) in self.rules.iter().zip(self.treatments.iter_mut()) {
                if matches(&info.id) {
                    t.mode = mode;
                    any = true;
                }
            }
            if !any {
                return Err(format!("`{pattern}` matches no rule"));
            }
        }
        Ok(())
    }

    /// How the engine treats the hits of the rule with this id.
    pub fn treatment(&self, id: &str) -> Option<Treatment> {
        let i = self.rules.iter().position(|r| r.id == id)?;
        self.treatments.get(i).copied()
    }

    /// Every hit for one message, in rule order. Pure; at most one hit per rule and location.
    pub fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Hit> {
        self.evaluate_scoped(ctx, true)
    }

    /// Like [`RuleSet::evaluate`], with the content rules left out when `content` is false (exempt mail:
    /// only security and identity rules apply).
    pub fn evaluate_scoped(&self, ctx: &RuleContext<'_>, content: bool) -> Vec<Hit> {
        let mut found: Vec<(usize, Location)> = Vec::new();
        let applies = |i: usize| {
            content
                || self
                    .treatments
                    .get(i)
                    .is_some_and(|t| t.scope == Scope::Security)
        };
        let text_rules_apply = self
            .checks
            .iter()
            .enumerate()
            .any(|(i, c)| c.reads_text() && applies(i));
        if text_rules_apply {
            for text in &ctx.analysis.texts {
                self.evaluate_text(text, &mut found);
            }
        }
        for (i, check) in self.checks.iter().enumerate() {
            if applies(i) {
                self.evaluate_check(i, check, ctx, &mut found);
            }
        }
        found.retain(|(i, _)| applies(*i));
        // Rule order, then the order found: stable and easy to read in `check` output.
        found.sort_by_key(|(i, _)| *i);
        let mut hits: Vec<Hit> = Vec::with_capacity(found.len());
        for (i, location) in found {
            let Some(info) = self.rules.get(i) else {
                continue;
            };
            if hits
                .iter()
                .any(|h| h.rule_id == info.id && h.location == location)
            {
                continue;
            }
            hits.push(Hit {
                rule_id: info.id.clone(),
                category: info.category.clone(),
                weight: info.weight,
                action: info.action,
                location,
                place: location.place(),
                counted: true,
                monitor: self
                    .treatments
                    .get(i)
                    .is_some_and(|t| t.mode == Mode::Monitor),
            });
        }
        hits
    }

    /// Word and regex rules over one text: fold once, one automaton pass for all rules.
    fn evaluate_text(&self, text: &Text, found: &mut Vec<(usize, Location)>) {
        let location = Location::Text {
            origin: text.origin,
        };
        let needs_words = self.checks.iter().any(|c| match c {
            Check::Words { places, .. }
            | Check::Near { places, .. }
            | Check::Roles { places, .. }
            | Check::Model { places, .. } => places.covers(text.origin),
            _ => false,
        });
        let mut seen = vec![false; self.checks.len()];
        if needs_words {
            // Folded sentence by sentence, so that a near rule's group hits fall in their sentence.
            let sentences = near::FoldedSentences::new(&text.text);
            let folded = &sentences.folded;
            let near_applies = self
                .checks
                .iter()
                .any(|c| matches!(c, Check::Near { places, .. } if places.covers(text.origin)));
            // Where the near rules' groups occur, per piece of the scan (see `WordMatcher::find_all`).
            // Room for a group word every 16 bytes (ordinary school mail has one every 25 or so): untouched
            // capacity costs nothing, while growing the lists copies them.
            let room = if near_applies {
                folded.text.len() / 16 / words::STREAMS + 8
            } else {
                0
            };
            let mut groups: [Vec<near::GroupHit>; words::STREAMS] =
                std::array::from_fn(|_| Vec::with_capacity(room));
            let mut cancels = near::Cancels::default();
            self.scan_words(
                &sentences,
                text.origin,
                &mut seen,
                near_applies.then_some(&mut groups),
                Some(&mut cancels),
            );
            // Words with masked or look-alike letters, read every way they can be (sentence by sentence too,
            // so that no phrase or compound runs over a sentence end there either). A reading stands on a
            // line of its own, away from its sentence: no `unless` word cancels it (masking a word is the
            // writer's choice, not a topic).
            // The roles rules read them too: a line read backwards or upside down is a whole sentence.
            if let Some(readings) = unmask::readings(&text.text) {
                let readings = near::FoldedSentences::new(&readings);
                self.scan_words(&readings, text.origin, &mut seen, None, None);
                self.scan_roles(&readings, text.origin, &mut seen);
            }
            if near_applies {
                let wanted = |rule: usize| {
                    !seen.get(rule).copied().unwrap_or(true)
                        && matches!(self.checks.get(rule),
                            Some(Check::Near { places, .. }) if places.covers(text.origin))
                };
                for rule in self.near.find(&self.words, &sentences, &groups, wanted) {
                    if let Some(s) = seen.get_mut(rule) {
                        *s = true;
                    }
                }
            }
            // Roles in a clause (`roles` rules): one lookup per word of the same folded sentences.
            self.scan_roles(&sentences, text.origin, &mut seen);
            self.score_models(&sentences, text.origin, &mut seen);
            for (i, check) in self.checks.iter().enumerate() {
                let Check::Words {
                    regexes,
                    allow,
                    places,
                    ..
                } = check
                else {
                    continue;
                };
                if seen.get(i).copied().unwrap_or(true)
                    || regexes.is_empty()
                    || !places.covers(text.origin)
                {
                    continue;
                }
                let unless = self.word_unless.get(i).copied().flatten();
                let hit = regexes.iter().any(|re| {
                    re.find_iter(&folded.text).any(|m| {
                        !allow.covers(folded, m.start(), m.end())
                            && !unless.is_some_and(|u| {
                                cancels.get(
                                    &self.near,
                                    &sentences,
                                    sentences.index_at(m.start()),
                                    u,
                                )
                            })
                    })
                });
                if hit {
                    if let Some(s) = seen.get_mut(i) {
                        *s = true;
                    }
                }
            }
        }
        for (i, check) in self.checks.iter().enumerate() {
            if let Check::Bsn { matcher, places } = check {
                if places.covers(text.origin) && matcher.matches(&text.text) {
                    if let Some(s) = seen.get_mut(i) {
                        *s = true;
                    }
                }
            }
        }
        found.extend(
            seen.iter()
                .enumerate()
                .filter(|(_, s)| **s)
                .map(|(i, _)| (i, location)),
        );
    }

    /// The `model` rules over one folded text: each model that a rule wants here judges the text once; the
    /// rule of the class it finds most likely hits when the text is unwanted with at least its `min-score`, in
    /// a chunk with at least its `min-known` words and pairs the model knows.
    fn score_models(
        &self,
        sentences: &near::FoldedSentences,
        origin: crate::message::TextOrigin,
        seen: &mut [bool],
    ) {
        let mut judged: Vec<Option<model::Judgement>> = Vec::new();
        judged.resize_with(self.models.list.len(), || None);
        for (i, check) in self.checks.iter().enumerate() {
            let Check::Model {
                model,
                class,
                min_score,
                min_known,
                places,
            } = check
            else {
                continue;
            };
            if seen.get(i).copied().unwrap_or(true) || !places.covers(origin) {
                continue;
            }
            let (Some(slot), Some(m)) = (judged.get_mut(*model), self.models.get(*model)) else {
                continue;
            };
            let j = slot.get_or_insert_with(|| m.judge(sentences));
            if j.class == Some(*class) && j.unwanted >= *min_score && j.known >= *min_known {
                if let Some(s) = seen.get_mut(i) {
                    *s = true;
                }
            }
        }
    }

    /// Mark the `roles` rules that hit in text folded sentence by sentence: one lookup per word.
    fn scan_roles(
        &self,
        sentences: &near::FoldedSentences,
        origin: crate::message::TextOrigin,
        seen: &mut [bool],
    ) {
        if self.roles.is_empty() {
            return;
        }
        let wanted = |rule: usize| {
            !seen.get(rule).copied().unwrap_or(true)
                && matches!(self.checks.get(rule),
                    Some(Check::Roles { places, .. }) if places.covers(origin))
        };
        for rule in self.roles.find(sentences, wanted) {
            if let Some(s) = seen.get_mut(rule) {
                *s = true;
            }
        }
    }

    /// One automaton pass over text folded sentence by sentence: mark the word rules that hit (compound heads
    /// with their tail, allow lists applied; nothing read across a sentence end) and, when `groups` is given,
    /// collect where the near rules' groups occur. With `cancels`, a rule's `unless` words in a hit's
    /// sentence or the one before cancel that hit.
    fn scan_words(
        &self,
        sentences: &near::FoldedSentences,
        origin: crate::message::TextOrigin,
        seen: &mut [bool],
        mut groups: Option<&mut [Vec<near::GroupHit>; words::STREAMS]>,
        mut cancels: Option<&mut near::Cancels>,
    ) {
        let folded = &sentences.folded;
        self.words.find_all(
            folded,
            sentences.ends(),
            |rule, start, end, head| {
                if seen.get(rule).copied().unwrap_or(true) {
                    return;
                }
                let Some(Check::Words {
                    allow,
                    places,
                    compounds,
                    ..
                }) = self.checks.get(rule)
                else {
                    return;
                };
                if !places.covers(origin) {
                    return;
                }
                // A compound head counts with its tail, the whole compound then being the hit.
                let end = match head {
                    None => Some(end),
                    Some(k) => compounds
                        .get(k)
                        .and_then(|c| c.tail_end_in(folded, end, sentences.ends())),
                };
                let Some(end) = end else {
                    return;
                };
                if allow.covers(folded, start, end) {
                    return;
                }
                if let (Some(c), Some(u)) = (
                    cancels.as_deref_mut(),
                    self.word_unless.get(rule).copied().flatten(),
                ) {
                    if c.get(&self.near, sentences, sentences.index_at(start), u) {
                        return;
                    }
                }
                if let Some(s) = seen.get_mut(rule) {
                    *s = true;
                }
            },
            |stream, pattern, start, end| {
                if let Some(list) = groups.as_deref_mut().and_then(|g| g.get_mut(stream)) {
                    list.push(near::GroupHit {
                        pattern,
                        start,
                        end,
                    });
                }
            },
        );
    }

    /// The checks that look at the envelope, headers, attachments and damage.
    fn evaluate_check(
        &self,
        i: usize,
        check: &Check,
        ctx: &RuleContext<'_>,
        found: &mut Vec<(usize, Location)>,
    ) {
        let env = ctx.envelope;
        let headers = &ctx.analysis.headers;
        let local = &ctx.org.local_domains;
        match check {
            Check::Words { .. }
            | Check::Near { .. }
            | Check::Roles { .. }
            | Check::Model { .. } => {}
            Check::Bsn { .. } => {
                // The texts were searched in `evaluate_text`; a BSN only counts in mail that leaves the
                // organisation (ProCon 10.3: the leak is the BSN going outside).
                let external = env
                    .recipients()
                    .any(|r| local.is_empty() || !is_local(r, local));
                if !external {
                    found.retain(|(r, _)| *r != i);
                }
            }
            Check::Sender { patterns } => {
                if let Some(sender) = env.mail_from.as_deref() {
                    if patterns.matches(sender) {
                        found.push((i, Location::EnvelopeSender));
                    }
                }
                if headers.from.iter().any(|f| patterns.matches(f)) {
                    found.push((i, Location::FromHeader));
                }
            }
            Check::SenderMismatch => {
                let mismatch = headers.from.iter().any(|f| {
                    address::sender_mismatch(env.mail_from.as_deref(), f, local, &ctx.org.send_as)
                });
                if mismatch {
                    found.push((i, Location::FromHeader));
                }
            }
            Check::Destination { domains, patterns } => {
                for (index, r) in env.recipients().enumerate() {
                    if address::on_domain(r, domains) || patterns.matches(r) {
                        found.push((i, Location::Recipient { index }));
                    }
                }
            }
            Check::Attachment(a) => {
                for att in &ctx.analysis.attachments {
                    if a.forbidden(att.name.as_deref(), att.sniffed) {
                        found.push((i, Location::Attachment { part: att.part }));
                    }
                    if att
                        .archive_problems
                        .iter()
                        .any(|p| a.archive_problems.contains(p))
                    {
                        found.push((i, Location::Attachment { part: att.part }));
                    }
                    if a.archive_members
                        && att
                            .members
                            .iter()
                            .any(|m| a.forbidden(Some(&m.path), m.sniffed))
                    {
                        found.push((i, Location::ArchiveMember { part: att.part }));
                    }
                }
            }
            Check::VisibleRecipients { max } => {
                if privacy::visible_external(&headers.to, &headers.cc, local) > *max {
                    found.push((i, Location::RecipientHeaders));
                }
            }
            Check::Damage { kinds } => {
                if ctx.analysis.damage.iter().any(|d| kinds.contains(d)) {
                    found.push((i, Location::Message));
                }
            }
        }
    }
}
