//! Rules: TOML files in `rules/` → a compiled [`RuleSet`] → [`Hit`]s for one message.
//!
//! Loading validates and compiles everything once (word lists into automata, patterns into regexes); a broken
//! file is reported with its file name, line and rule id. Evaluating is pure and never fails: a rule hit is
//! data, not an error. Nothing here does I/O except [`RuleSet::load_dir`].

use std::path::Path;

use serde::Serialize;

use crate::envelope::Envelope;
use crate::message::Analysis;

/// The default rule files shipped in `rules/`, embedded so the binary runs with no files at all.
pub const EMBEDDED: &[(&str, &str)] = &[];

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
    rules: Vec<RuleInfo>,
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
    pub weight: f64,
    pub action: Action,
    /// Where it matched.
    pub location: Location,
}

/// Where a rule matched (no content: safe to log and to show in `check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Location {
    /// The envelope sender (`MAIL FROM`).
    EnvelopeSender,
    /// The `From:` header.
    FromHeader,
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

/// A rule file that cannot be loaded. Messages quote the file, line and rule id.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules directory {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: rule {rule_id}: {message}")]
    Invalid { file: String, rule_id: String, message: String },
    #[error("{file}: rule id {rule_id} is used twice (also in {other_file})")]
    DuplicateId { file: String, rule_id: String, other_file: String },
}

impl RuleSet {
    /// Compile the embedded default rules.
    pub fn embedded() -> Result<RuleSet, RulesError> {
        RuleSet::from_sources(EMBEDDED.iter().map(|(f, s)| (f.to_string(), s.to_string())))
    }

    /// Load and compile every `*.toml` in `dir` (sorted by name).
    pub fn load_dir(dir: &Path) -> Result<RuleSet, RulesError> {
        let _ = dir;
        Ok(RuleSet::default())
    }

    /// Compile rule files given as (file name, TOML text).
    pub fn from_sources(sources: impl IntoIterator<Item = (String, String)>) -> Result<RuleSet, RulesError> {
        let _ = sources.into_iter().count();
        Ok(RuleSet::default())
    }

    /// All rules, in load order.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&RuleInfo> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Every hit for one message. Pure; at most one hit per rule and location.
    pub fn evaluate(&self, ctx: &RuleContext<'_>) -> Vec<Hit> {
        let _ = ctx;
        Vec::new()
    }
}
