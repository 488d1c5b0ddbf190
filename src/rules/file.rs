//! The rule-file format (TOML, `[[rule]]` tables), its validation, and the per-rule compiled form.
//!
//! Every mistake is reported with the file name and, where it has one, the rule id and the offending pattern;
//! TOML syntax and schema errors carry the line. Unknown keys are errors (`deny_unknown_fields`), and so are
//! keys that do not belong to the rule's `kind`. No I/O here: the caller reads the files.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

use super::address::Globs;
use super::attachment::AttachmentCheck;
use super::model::{Model, MAX_MIN_KNOWN, MIN_KNOWN};
use super::near::{Group, NearMatcher};
use super::privacy::BsnMatcher;
use super::roles::{RolesMatcher, RolesSpec};
use super::words::{parse_entry, AllowList, Compounds, Entry};
use super::{Action, RuleInfo, RulesError, Scope, Treatment};
use crate::message::{ArchiveProblem, Damage, FileKind, TextOrigin};

/// The categories a rule may have (fixed: reports and bounce texts group by them).
pub const CATEGORIES: &[&str] = &[
    "pornografisch",
    "racistisch",
    "discriminerend",
    "beledigend",
    "intimiderend",
    "haat-geweld",
    "kettingmail",
    "auteursrecht",
    "bijlage",
    "afzender",
    "bestemming",
    "privacy",
    "onleesbaar",
];

/// BSN keywords used when a `bsn` rule gives none.
pub const DEFAULT_BSN_KEYWORDS: &[&str] = &[
    "bsn",
    "b.s.n",
    "burgerservicenummer",
    "burgerservicenr",
    "sofinummer",
    "sofi-nummer",
    "sofinr",
    "persoonsgebondennummer",
    "pgn",
    "citizen service number",
];

/// One rule file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleDef>,
    /// Named word lists for `unless-contexts` (see [`Contexts`]).
    #[serde(default)]
    contexts: BTreeMap<String, Vec<String>>,
}

/// Named word lists declared once (`[contexts]` in any rule file) that the `unless` of every `near` and
/// `roles` rule of the rule set may name (`unless-contexts = ["spel", "sport"]`): a game, a sports result, a
/// lesson. A word added to a context reaches every rule that names it, instead of the one rule whose list a
/// wrong stop showed it missing from. A name is declared once in the whole rule set; a rule naming an unknown
/// one is an error.
#[derive(Debug, Default)]
struct Contexts {
    /// Name → (the file that declares it, its entries as written).
    map: BTreeMap<String, (String, Vec<String>)>,
}

impl Contexts {
    /// Add the contexts `file` declares; a name declared before, a bad name or a bad entry is an error.
    fn declare(
        &mut self,
        file: &str,
        declared: BTreeMap<String, Vec<String>>,
    ) -> Result<(), RulesError> {
        for (name, entries) in declared {
            let invalid = |message: String| RulesError::Context {
                file: file.to_string(),
                name: name.clone(),
                message,
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(invalid(
                    "a context name is lower-case letters, digits and `-`".to_string(),
                ));
            }
            if let Some((other, _)) = self.map.get(&name) {
                return Err(invalid(format!("declared twice (also in {other})")));
            }
            if entries.is_empty() {
                return Err(invalid("the list is empty".to_string()));
            }
            for entry in entries.iter().flat_map(|e| e.split('|')) {
                // `near` rules read entries in the word syntax only: a lemma would be a word to them.
                if entry.contains(':') {
                    return Err(invalid(format!(
                        "`{entry}`: a context holds words and phrases (with `*`), not lemmas"
                    )));
                }
                parse_entry(entry).map_err(|e| invalid(e.to_string()))?;
            }
            self.map.insert(name, (file.to_string(), entries));
        }
        Ok(())
    }

    /// The entries of the contexts `names`, in order.
    fn entries(&self, names: &[String], key: &str) -> Result<Vec<String>, String> {
        if names.is_empty() {
            return Err(format!("`{key}` is empty"));
        }
        let mut all = Vec::new();
        for name in names {
            let Some((_, entries)) = self.map.get(name) else {
                let known: Vec<&str> = self.map.keys().map(String::as_str).collect();
                return Err(format!(
                    "unknown context `{name}` in `{key}` (known: {})",
                    if known.is_empty() {
                        "none: declare it under `[contexts]` in a rule file".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            };
            all.extend(entries.iter().cloned());
        }
        Ok(all)
    }
}

/// The kinds of rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Words,
    Near,
    Sender,
    SenderMismatch,
    Destination,
    Attachment,
    Bsn,
    VisibleRecipients,
    Damage,
    /// Roles in a clause (see [`super::roles`]).
    Roles,
    /// A language model's score for one class (see [`super::model`]).
    Model,
}

impl Kind {
    /// The scope a rule of this kind has unless it says otherwise: text rules guard content, the others
    /// security and identity.
    fn default_scope(self) -> Scope {
        match self {
            Kind::Words | Kind::Near | Kind::Bsn | Kind::Roles | Kind::Model => Scope::Content,
            Kind::Sender
            | Kind::SenderMismatch
            | Kind::Destination
            | Kind::Attachment
            | Kind::VisibleRecipients
            | Kind::Damage => Scope::Security,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Words => "words",
            Kind::Near => "near",
            Kind::Sender => "sender",
            Kind::SenderMismatch => "sender-mismatch",
            Kind::Destination => "destination",
            Kind::Attachment => "attachment",
            Kind::Bsn => "bsn",
            Kind::VisibleRecipients => "visible-recipients",
            Kind::Damage => "damage",
            Kind::Roles => "roles",
            Kind::Model => "model",
        }
    }
}

/// One `[[rule]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RuleDef {
    id: String,
    kind: Kind,
    category: String,
    article: String,
    weight: Option<f64>,
    action: Option<Action>,
    scope: Option<Scope>,
    quote_weight: Option<f64>,
    /// `monitor`: hits are reported, never acted on (see [`super::Mode`]).
    mode: Option<super::Mode>,
    #[serde(rename = "message_nl")]
    message_nl: String,
    #[serde(rename = "message_en")]
    message_en: String,
    // words
    words: Option<Vec<String>>,
    compounds: Option<Vec<CompoundDef>>,
    regex: Option<Vec<String>>,
    allow: Option<Vec<String>>,
    #[serde(rename = "in")]
    places: Option<Vec<String>>,
    // sender, destination
    patterns: Option<Vec<String>>,
    domains: Option<Vec<String>>,
    // attachment
    extensions: Option<Vec<String>>,
    executables: Option<bool>,
    kinds: Option<Vec<String>>,
    archive_members: Option<bool>,
    archive_problems: Option<ProblemsDef>,
    // near
    groups: Option<Vec<Vec<String>>>,
    unless: Option<Vec<String>>,
    /// Names of [`Contexts`] whose words join `unless`.
    unless_contexts: Option<Vec<String>>,
    // bsn
    keywords: Option<Vec<String>>,
    window: Option<usize>,
    // visible-recipients
    max: Option<usize>,
    // damage
    damage: Option<Vec<String>>,
    // any kind: the envelope's direction (see `Direction`)
    sender_role: Option<Vec<String>>,
    recipient_role: Option<Vec<String>>,
    other_weight: Option<f64>,
    // words, near: a question about what is forwarded (see `Treatment::marks_report`)
    marks_report: Option<bool>,
    // roles (see `super::roles`)
    roles: Option<Vec<RoleDef>>,
    need: Option<usize>,
    require: Option<Vec<String>>,
    negate: Option<Vec<String>>,
    span: Option<usize>,
    /// `roles`: names of [`Contexts`] whose words cancel the rule in a text that opens with them (see
    /// [`super::roles`]).
    opening_contexts: Option<Vec<String>>,
    // model (see `super::model`)
    model: Option<String>,
    class: Option<String>,
    min_score: Option<f64>,
    min_known: Option<usize>,
}

/// One role of a `roles` rule: its name and its words and lemmas.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleDef {
    name: String,
    words: Vec<String>,
}

/// Who an address belongs to, as `[organisation] pupils` and `staff` say (see `policy::role_of`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A pupil's address (`[organisation] pupils`).
    Pupil,
    /// A staff address (`[organisation] staff`, or any other local address when that list is empty).
    Staff,
    /// Anyone else: outside the local domains, or local but neither pupil nor listed staff.
    Other,
}

impl Role {
    /// The names rule files use for the roles.
    const NAMED: [(&'static str, Role); 3] = [
        ("pupil", Role::Pupil),
        ("staff", Role::Staff),
        ("other", Role::Other),
    ];

    fn bit(self) -> u8 {
        match self {
            Role::Pupil => 1,
            Role::Staff => 2,
            Role::Other => 4,
        }
    }
}

/// A set of [`Role`]s (`sender-role = ["staff"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles(u8);

impl Roles {
    /// True when `role` is in the set.
    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    fn parse(names: &[String], key: &str) -> Result<Roles, String> {
        if names.is_empty() {
            return Err(format!("`{key}` is empty"));
        }
        let mut set = Roles::default();
        for name in names {
            let Some((_, role)) = Role::NAMED.iter().find(|(n, _)| *n == name.trim()) else {
                let known: Vec<&str> = Role::NAMED.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown role `{name}` in `{key}` (known: {})",
                    known.join(", ")
                ));
            };
            set.0 |= role.bit();
        }
        Ok(set)
    }
}

/// A rule that counts in full only in mail of one direction (`sender-role`, `recipient-role`): grooming
/// cues weigh most from staff to a pupil (SVOK B.4, WereldKidz 11.1–11.3: no private contact between staff
/// and pupils). Elsewhere the rule weighs `other_weight` (default 0: it does not count).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Direction {
    /// Roles the envelope sender must have; `None`: any sender.
    pub sender: Option<Roles>,
    /// Roles of which at least one envelope recipient must have one; `None`: any recipients.
    pub recipient: Option<Roles>,
    /// The rule's weight in mail of any other direction.
    pub other_weight: f64,
}

/// `archive-problems = true` (every problem) or a list of problem names (`["encrypted"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ProblemsDef {
    All(bool),
    Some(Vec<String>),
}

/// One `compounds` table of a `words` rule: every head followed by every tail.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompoundDef {
    heads: Vec<String>,
    tails: Vec<String>,
}

/// Where a text rule (`words`, `near`, `bsn`) looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Places {
    pub subject: bool,
    /// The sender's own text of text and HTML parts (reported speech included).
    pub body: bool,
    pub attachment_name: bool,
    /// Text extracted from attachments and archive members.
    pub attachment_text: bool,
    /// Text the sender quotes (counted with the quote weight, see `[policy] quote_weight`).
    pub quote: bool,
}

impl Places {
    pub const ALL: Places = Places {
        subject: true,
        body: true,
        attachment_name: true,
        attachment_text: true,
        quote: true,
    };

    /// The names `in` accepts.
    const NAMES: &'static str = "subject, body, attachment-name, attachment-text, quote";

    /// True when text from `origin` is to be searched.
    pub fn covers(self, origin: TextOrigin) -> bool {
        match origin {
            TextOrigin::Subject => self.subject,
            TextOrigin::Body { .. }
            | TextOrigin::Html { .. }
            | TextOrigin::ReportedSpeech { .. }
            | TextOrigin::Raw => self.body,
            TextOrigin::AttachmentName { .. } => self.attachment_name,
            TextOrigin::AttachmentText { .. } | TextOrigin::ReportedInAttachment { .. } => {
                self.attachment_text
            }
            TextOrigin::Quote { .. } | TextOrigin::ReportedInQuote { .. } => self.quote,
        }
    }
}

/// The compiled, kind-specific part of a rule.
#[derive(Debug)]
pub enum Check {
    Words {
        entries: Vec<Entry>,
        compounds: Vec<Compounds>,
        regexes: Vec<Regex>,
        allow: AllowList,
        /// Words that, in the hit's sentence or the one before it, cancel that hit (`unless` and the
        /// contexts of `unless-contexts`); the rule set looks for them ([`super::near::NearIndex::cancels`]).
        unless: Option<Group>,
        places: Places,
    },
    Near {
        matcher: NearMatcher,
        places: Places,
    },
    Roles {
        matcher: RolesMatcher,
        places: Places,
    },
    /// A language model judges a chunk of the text unwanted with at least `min_score`, most likely of
    /// `class`, knowing at least `min_known` of its words and word pairs.
    Model {
        /// The model's index in [`Models`].
        model: usize,
        class: usize,
        min_score: f64,
        min_known: usize,
        places: Places,
    },
    Sender {
        patterns: Globs,
    },
    SenderMismatch,
    Destination {
        domains: Vec<String>,
        patterns: Globs,
    },
    Attachment(AttachmentCheck),
    Bsn {
        matcher: BsnMatcher,
        places: Places,
    },
    VisibleRecipients {
        max: usize,
    },
    Damage {
        kinds: Vec<Damage>,
    },
}

impl Check {
    /// True for the checks that search the message's texts.
    pub fn reads_text(&self) -> bool {
        matches!(
            self,
            Check::Words { .. }
                | Check::Near { .. }
                | Check::Bsn { .. }
                | Check::Roles { .. }
                | Check::Model { .. }
        )
    }
}

/// A validated rule: what the user sees, and what the engine runs.
#[derive(Debug)]
pub struct Compiled {
    pub info: RuleInfo,
    pub check: Check,
    pub treatment: Treatment,
}

/// The 1-based line of byte offset `pos` in `src`.
fn line_of(src: &str, pos: usize) -> usize {
    src.as_bytes()
        .iter()
        .take(pos)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The language models beside the rule files (`*.model`), by file name; a `model` rule names one.
#[derive(Debug, Default, Clone)]
pub struct Models {
    /// (file name, model), in load order; shared, since the embedded model is parsed once per process.
    pub list: Vec<(String, std::sync::Arc<Model>)>,
}

impl Models {
    fn find(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|(n, _)| n == name)
    }

    /// The model with this index.
    pub fn get(&self, index: usize) -> Option<&Model> {
        self.list.get(index).map(|(_, m)| m.as_ref())
    }
}

/// Parse and validate one file with no models beside it; its rules see only its own contexts.
pub fn parse_file(file: &str, src: &str) -> Result<Vec<Compiled>, RulesError> {
    parse_files([(file.to_string(), src.to_string())], &Models::default())
}

/// Parse and validate rule files given as (file name, text), in order; `model` rules refer to `models`, and
/// every rule may name the contexts any of the files declares.
pub fn parse_files(
    sources: impl IntoIterator<Item = (String, String)>,
    models: &Models,
) -> Result<Vec<Compiled>, RulesError> {
    let mut files = Vec::new();
    let mut contexts = Contexts::default();
    for (file, src) in sources {
        let mut parsed: RuleFile = toml::from_str(&src).map_err(|e| {
            let place = e
                .span()
                .map(|s| format!("line {}: ", line_of(&src, s.start)))
                .unwrap_or_default();
            RulesError::Syntax {
                file: file.clone(),
                message: format!("{place}{}", e.message().trim()),
            }
        })?;
        contexts.declare(&file, std::mem::take(&mut parsed.contexts))?;
        files.push((file, parsed.rule));
    }
    let mut compiled = Vec::new();
    for (file, defs) in files {
        for def in defs {
            compiled.push(compile(&file, def, models, &contexts)?);
        }
    }
    Ok(compiled)
}

fn compile(
    file: &str,
    def: RuleDef,
    models: &Models,
    contexts: &Contexts,
) -> Result<Compiled, RulesError> {
    let invalid = |message: String| RulesError::Invalid {
        file: file.to_string(),
        rule_id: def.id.clone(),
        message,
    };
    if def.id.trim().is_empty() || def.id.chars().any(char::is_whitespace) {
        return Err(invalid(format!(
            "rule id `{}` must be non-empty without spaces",
            def.id
        )));
    }
    if !CATEGORIES.contains(&def.category.as_str()) {
        return Err(invalid(format!(
            "unknown category `{}` (known: {})",
            def.category,
            CATEGORIES.join(", ")
        )));
    }
    let weight = def.weight.unwrap_or(5.0);
    if !weight.is_finite() || weight < 0.0 {
        return Err(invalid(format!("weight {weight} must be a number ≥ 0")));
    }
    if let Some(q) = def.quote_weight {
        if !(0.0..=1.0).contains(&q) {
            return Err(invalid(format!(
                "quote-weight {q} must be between 0.0 and 1.0"
            )));
        }
    }
    for (key, value) in [
        ("article", &def.article),
        ("message_nl", &def.message_nl),
        ("message_en", &def.message_en),
    ] {
        if value.trim().is_empty() {
            return Err(invalid(format!("`{key}` is empty")));
        }
    }
    // Keys that belong to another kind are mistakes, not silently ignored options.
    let present: [(&str, bool, &[Kind]); 32] = [
        ("model", def.model.is_some(), &[Kind::Model]),
        ("class", def.class.is_some(), &[Kind::Model]),
        ("min-score", def.min_score.is_some(), &[Kind::Model]),
        ("min-known", def.min_known.is_some(), &[Kind::Model]),
        ("words", def.words.is_some(), &[Kind::Words]),
        ("compounds", def.compounds.is_some(), &[Kind::Words]),
        ("regex", def.regex.is_some(), &[Kind::Words]),
        ("allow", def.allow.is_some(), &[Kind::Words]),
        (
            "in",
            def.places.is_some(),
            &[Kind::Words, Kind::Near, Kind::Bsn, Kind::Roles, Kind::Model],
        ),
        ("groups", def.groups.is_some(), &[Kind::Near]),
        (
            "marks-report",
            def.marks_report.is_some(),
            &[Kind::Words, Kind::Near, Kind::Roles],
        ),
        (
            "unless",
            def.unless.is_some(),
            &[Kind::Words, Kind::Near, Kind::Roles],
        ),
        (
            "unless-contexts",
            def.unless_contexts.is_some(),
            &[Kind::Words, Kind::Near, Kind::Roles],
        ),
        ("roles", def.roles.is_some(), &[Kind::Roles]),
        ("need", def.need.is_some(), &[Kind::Roles]),
        ("require", def.require.is_some(), &[Kind::Roles]),
        ("negate", def.negate.is_some(), &[Kind::Roles]),
        ("span", def.span.is_some(), &[Kind::Roles]),
        (
            "opening-contexts",
            def.opening_contexts.is_some(),
            &[Kind::Roles],
        ),
        (
            "quote-weight",
            def.quote_weight.is_some(),
            &[Kind::Words, Kind::Near, Kind::Bsn, Kind::Roles, Kind::Model],
        ),
        (
            "patterns",
            def.patterns.is_some(),
            &[Kind::Sender, Kind::Destination],
        ),
        ("domains", def.domains.is_some(), &[Kind::Destination]),
        ("extensions", def.extensions.is_some(), &[Kind::Attachment]),
        (
            "executables",
            def.executables.is_some(),
            &[Kind::Attachment],
        ),
        (
            "archive-members",
            def.archive_members.is_some(),
            &[Kind::Attachment],
        ),
        (
            "archive-problems",
            def.archive_problems.is_some(),
            &[Kind::Attachment],
        ),
        ("kinds", def.kinds.is_some(), &[Kind::Attachment]),
        ("keywords", def.keywords.is_some(), &[Kind::Bsn]),
        ("window", def.window.is_some(), &[Kind::Near, Kind::Bsn]),
        ("max", def.max.is_some(), &[Kind::VisibleRecipients]),
        ("damage", def.damage.is_some(), &[Kind::Damage]),
        (
            "other-weight",
            def.other_weight.is_some() && def.sender_role.is_none() && def.recipient_role.is_none(),
            &[],
        ),
    ];
    for (key, is_set, kinds) in present {
        if is_set && kinds.is_empty() {
            return Err(invalid(format!(
                "key `{key}` needs `sender-role` or `recipient-role`"
            )));
        }
        if is_set && !kinds.contains(&def.kind) {
            return Err(invalid(format!(
                "key `{key}` does not apply to kind `{}`",
                def.kind.name()
            )));
        }
    }
    let direction = direction(&def, weight).map_err(invalid)?;
    let marks_report = def.marks_report.unwrap_or(false);
    if marks_report && (weight != 0.0 || def.action == Some(Action::Bounce)) {
        return Err(invalid(
            "a `marks-report` rule only marks the message: give it `weight = 0.0` and no action"
                .to_string(),
        ));
    }
    let places = match &def.places {
        None => Places::ALL,
        Some(list) => {
            let mut p = Places::default();
            for place in list {
                match place.as_str() {
                    "subject" => p.subject = true,
                    "body" => p.body = true,
                    "attachment-name" => p.attachment_name = true,
                    "attachment-text" => p.attachment_text = true,
                    "quote" => p.quote = true,
                    other => {
                        return Err(invalid(format!(
                            "unknown place `{other}` in `in` (known: {})",
                            Places::NAMES
                        )))
                    }
                }
            }
            if p == Places::default() {
                return Err(invalid("`in` is empty".to_string()));
            }
            p
        }
    };
    // The rule's own `unless` words, then those of the contexts it names.
    let unless = match (&def.unless, &def.unless_contexts) {
        (None, None) => None,
        (own, names) => {
            let mut all = own.clone().unwrap_or_default();
            if let Some(names) = names {
                all.extend(
                    contexts
                        .entries(names, "unless-contexts")
                        .map_err(invalid)?,
                );
            }
            Some(all)
        }
    };
    let check = match def.kind {
        Kind::Words => {
            let words = def.words.clone().unwrap_or_default();
            let regex_src = def.regex.clone().unwrap_or_default();
            let compounds = def
                .compounds
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    if c.heads.is_empty() || c.tails.is_empty() {
                        return Err(invalid("compounds: empty `heads` or `tails`".to_string()));
                    }
                    Compounds::new(&c.heads, &c.tails)
                        .map_err(|e| invalid(format!("compounds: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if words.is_empty() && regex_src.is_empty() && compounds.is_empty() {
                return Err(invalid(
                    "empty word list (give `words`, `compounds` and/or `regex`)".to_string(),
                ));
            }
            let entries = words
                .iter()
                .map(|w| parse_entry(w).map_err(|e| invalid(format!("word list: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            let mut regexes = Vec::with_capacity(regex_src.len());
            for r in &regex_src {
                let re = regex::RegexBuilder::new(r)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        invalid(format!("bad regex `{r}`: {}", one_line(&e.to_string())))
                    })?;
                regexes.push(re);
            }
            let allow = def
                .allow
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|w| parse_entry(w).map_err(|e| invalid(format!("allow list: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            let allow = AllowList::new(allow)
                .map_err(|e| invalid(format!("allow list: {}", one_line(&e.to_string()))))?;
            let unless = match &unless {
                None => None,
                Some(u) => Some(Group::parse(u).map_err(|e| invalid(format!("unless: {e}")))?),
            };
            Check::Words {
                entries,
                compounds,
                regexes,
                allow,
                unless,
                places,
            }
        }
        Kind::Near => {
            let raw = def.groups.clone().unwrap_or_default();
            if raw.len() < 2 {
                return Err(invalid(
                    "`groups` needs at least two groups of words".to_string(),
                ));
            }
            let groups = raw
                .iter()
                .enumerate()
                .map(|(n, g)| Group::parse(g).map_err(|e| invalid(format!("group {}: {e}", n + 1))))
                .collect::<Result<Vec<_>, _>>()?;
            let unless = match &unless {
                None => None,
                Some(u) => Some(Group::parse(u).map_err(|e| invalid(format!("unless: {e}")))?),
            };
            let window = def.window.unwrap_or(8);
            if window < groups.len() || window > 50 {
                return Err(invalid(format!(
                    "window {window} must be at least the number of groups ({}) and at most 50 words",
                    groups.len()
                )));
            }
            Check::Near {
                matcher: NearMatcher::new(groups, unless, window),
                places,
            }
        }
        Kind::Roles => {
            let spec = RolesSpec {
                roles: def
                    .roles
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| (r.name, r.words))
                    .collect(),
                unless: unless.unwrap_or_default(),
                opening: match &def.opening_contexts {
                    None => Vec::new(),
                    Some(names) => contexts
                        .entries(names, "opening-contexts")
                        .map_err(invalid)?,
                },
                need: def.need,
                require: def.require.clone().unwrap_or_default(),
                negate: def.negate.clone().unwrap_or_default(),
                span: def.span,
            };
            Check::Roles {
                matcher: RolesMatcher::new(&spec).map_err(invalid)?,
                places,
            }
        }
        Kind::Model => {
            let name = def.model.as_deref().unwrap_or_default();
            let Some(model) = models.find(name) else {
                let known: Vec<&str> = models.list.iter().map(|(n, _)| n.as_str()).collect();
                return Err(invalid(format!(
                    "unknown model `{name}` (give `model` as the name of a `*.model` file beside the rules; known: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )));
            };
            let class_name = def.class.as_deref().unwrap_or_default();
            let classes = models.get(model).map(Model::classes).unwrap_or_default();
            let Some(class) = classes.iter().position(|c| c == class_name) else {
                return Err(invalid(format!(
                    "model `{name}` has no class `{class_name}` (known: {})",
                    classes.join(", ")
                )));
            };
            let min_score = def.min_score.unwrap_or(0.9);
            if !(0.5..1.0).contains(&min_score) {
                return Err(invalid(format!(
                    "min-score {min_score} must be at least 0.5 and below 1.0"
                )));
            }
            let min_known = def.min_known.unwrap_or(MIN_KNOWN);
            if !(MIN_KNOWN..=MAX_MIN_KNOWN).contains(&min_known) {
                return Err(invalid(format!(
                    "min-known {min_known} must be {MIN_KNOWN} to {MAX_MIN_KNOWN}"
                )));
            }
            Check::Model {
                model,
                class,
                min_score,
                min_known,
                places,
            }
        }
        Kind::Sender => {
            let patterns = lower_nonempty(def.patterns.clone(), "patterns").map_err(invalid)?;
            Check::Sender {
                patterns: Globs::new(patterns),
            }
        }
        Kind::SenderMismatch => Check::SenderMismatch,
        Kind::Destination => {
            let domains: Vec<String> = def
                .domains
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|d| {
                    d.trim()
                        .trim_start_matches('@')
                        .trim_end_matches('.')
                        .to_lowercase()
                })
                .collect();
            if let Some(bad) = domains
                .iter()
                .find(|d| d.is_empty() || d.contains(['@', '*', ' ']))
            {
                return Err(invalid(format!(
                    "bad domain `{bad}` (plain domain names; use `patterns` for globs)"
                )));
            }
            let patterns = Globs::new(def.patterns.clone().unwrap_or_default());
            if patterns.has_empty() {
                return Err(invalid("`patterns` holds an empty pattern".to_string()));
            }
            if domains.is_empty() && patterns.is_empty() {
                return Err(invalid("give `domains` and/or `patterns`".to_string()));
            }
            Check::Destination { domains, patterns }
        }
        Kind::Attachment => {
            let extensions: Vec<String> = def
                .extensions
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|e| e.trim().trim_start_matches('.').to_lowercase())
                .collect();
            if let Some(bad) = extensions
                .iter()
                .find(|e| e.is_empty() || e.contains(['.', '/', '*', ' ']))
            {
                return Err(invalid(format!(
                    "bad extension `{bad}` (write `exe`, not `*.exe`)"
                )));
            }
            let mut kinds = Vec::new();
            for name in def.kinds.clone().unwrap_or_default() {
                match FileKind::NAMED.iter().find(|(n, _)| *n == name) {
                    Some((_, kind)) => kinds.push(*kind),
                    None => {
                        let known: Vec<&str> = FileKind::NAMED.iter().map(|(n, _)| *n).collect();
                        return Err(invalid(format!(
                            "unknown file kind `{name}` in `kinds` (known: {})",
                            known.join(", ")
                        )));
                    }
                }
            }
            let archive_problems = match def.archive_problems.clone() {
                None | Some(ProblemsDef::All(false)) => Vec::new(),
                Some(ProblemsDef::All(true)) => ArchiveProblem::ALL.to_vec(),
                Some(ProblemsDef::Some(names)) => {
                    let mut list = Vec::new();
                    for name in names {
                        match ArchiveProblem::ALL.iter().find(|p| p.name() == name) {
                            Some(p) => list.push(*p),
                            None => {
                                let known: Vec<&str> =
                                    ArchiveProblem::ALL.iter().map(|p| p.name()).collect();
                                return Err(invalid(format!(
                                    "unknown archive problem `{name}` in `archive-problems` (known: {})",
                                    known.join(", ")
                                )));
                            }
                        }
                    }
                    list
                }
            };
            let check = AttachmentCheck {
                extensions,
                executables: def.executables.unwrap_or(false),
                kinds,
                archive_members: def.archive_members.unwrap_or(false),
                archive_problems,
            };
            if check.extensions.is_empty()
                && !check.executables
                && check.kinds.is_empty()
                && check.archive_problems.is_empty()
            {
                return Err(invalid(
                    "nothing to check: give `extensions`, `executables = true`, `kinds` or `archive-problems`".to_string(),
                ));
            }
            Check::Attachment(check)
        }
        Kind::Bsn => {
            let keywords: Vec<String> = match &def.keywords {
                Some(k) => k.iter().map(|w| w.trim().to_lowercase()).collect(),
                None => DEFAULT_BSN_KEYWORDS.iter().map(|s| s.to_string()).collect(),
            };
            if keywords.is_empty() || keywords.iter().any(String::is_empty) {
                return Err(invalid(
                    "`keywords` is empty or holds an empty keyword".to_string(),
                ));
            }
            let window = def.window.unwrap_or(80);
            let matcher = BsnMatcher::new(&keywords, window).map_err(|e| invalid(e.to_string()))?;
            Check::Bsn { matcher, places }
        }
        Kind::VisibleRecipients => Check::VisibleRecipients {
            max: def.max.unwrap_or(10),
        },
        Kind::Damage => {
            let names = def.damage.clone().unwrap_or_default();
            if names.is_empty() {
                return Err(invalid("`damage` is empty".to_string()));
            }
            let kinds = names
                .iter()
                .map(|n| {
                    damage_kind(n).ok_or_else(|| invalid(format!("unknown damage kind `{n}`")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Check::Damage { kinds }
        }
    };
    let info = RuleInfo {
        id: def.id,
        category: def.category,
        article: def.article,
        weight,
        action: def.action.unwrap_or_default(),
        message_nl: def.message_nl.trim().to_string(),
        message_en: def.message_en.trim().to_string(),
        file: file.to_string(),
    };
    let treatment = Treatment {
        scope: def.scope.unwrap_or(def.kind.default_scope()),
        quote_weight: def.quote_weight,
        mode: def.mode.unwrap_or_default(),
        direction,
        marks_report,
        personal_data: def.kind == Kind::Bsn,
    };
    Ok(Compiled {
        info,
        check,
        treatment,
    })
}

/// The rule's [`Direction`], if it names roles; `other-weight` must not exceed the rule's weight (a direction
/// makes a rule count more where it is graver, never less).
fn direction(def: &RuleDef, weight: f64) -> Result<Option<Direction>, String> {
    let sender = def
        .sender_role
        .as_deref()
        .map(|r| Roles::parse(r, "sender-role"))
        .transpose()?;
    let recipient = def
        .recipient_role
        .as_deref()
        .map(|r| Roles::parse(r, "recipient-role"))
        .transpose()?;
    if sender.is_none() && recipient.is_none() {
        return Ok(None);
    }
    let other_weight = def.other_weight.unwrap_or(0.0);
    if !other_weight.is_finite() || !(0.0..=weight).contains(&other_weight) {
        return Err(format!(
            "other-weight {other_weight} must be between 0 and the rule's weight ({weight})"
        ));
    }
    Ok(Some(Direction {
        sender,
        recipient,
        other_weight,
    }))
}

fn lower_nonempty(list: Option<Vec<String>>, key: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = list
        .unwrap_or_default()
        .iter()
        .map(|p| p.trim().to_lowercase())
        .collect();
    if list.is_empty() {
        return Err(format!("`{key}` is empty"));
    }
    if list.iter().any(String::is_empty) {
        return Err(format!("`{key}` holds an empty pattern"));
    }
    Ok(list)
}

/// The damage kind named as in the message module's serialisation.
fn damage_kind(name: &str) -> Option<Damage> {
    Some(match name {
        "unparseable" => Damage::Unparseable,
        "too-many-parts" => Damage::TooManyParts,
        "too-deep" => Damage::TooDeep,
        "text-truncated" => Damage::TextTruncated,
        "boundary-mid-line" => Damage::BoundaryMidLine,
        _ => return None,
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "category = \"beledigend\"\narticle = \"SOML 2.1\"\nmessage_nl = \"nl\"\nmessage_en = \"en\"\n";

    fn rule(id: &str, body: &str) -> String {
        format!("[[rule]]\nid = \"{id}\"\n{HEAD}{body}\n")
    }

    #[test]
    fn good_rule_compiles() {
        let src = rule("T-1", "kind = \"words\"\nwords = [\"kanker*\"]\nallow = [\"kankerbestrijding\"]\nin = [\"subject\"]");
        let c = parse_file("t.toml", &src).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].info.weight, 5.0);
        assert_eq!(c[0].info.file, "t.toml");
        assert!(
            matches!(&c[0].check, Check::Words { places, .. } if places.subject && !places.body)
        );
    }

    #[test]
    fn direction_compiles() {
        let src = rule(
            "T-1",
            "kind = \"words\"\nwords = [\"a\"]\nweight = 2.5\nsender-role = [\"staff\"]\nrecipient-role = [\"pupil\", \"other\"]",
        );
        let c = parse_file("t.toml", &src).unwrap();
        let d = c[0].treatment.direction.expect("a direction");
        assert!(d
            .sender
            .is_some_and(|r| r.contains(Role::Staff) && !r.contains(Role::Pupil)));
        assert!(d
            .recipient
            .is_some_and(|r| r.contains(Role::Pupil) && r.contains(Role::Other)));
        assert_eq!(d.other_weight, 0.0);
        let plain =
            parse_file("t.toml", &rule("T-2", "kind = \"words\"\nwords = [\"a\"]")).unwrap();
        assert_eq!(plain[0].treatment.direction, None);
    }

    #[test]
    fn model_rules_name_their_model_and_class() {
        let models = Models {
            list: vec![(
                "taal.model".to_string(),
                std::sync::Arc::new(
                    Model::parse("classes\tdreiging\tketting\nbias\t0\t0\n").unwrap(),
                ),
            )],
        };
        let ok = rule(
            "T-1",
            "kind = \"model\"\nmodel = \"taal.model\"\nclass = \"ketting\"\nmin-score = 0.8\nmin-known = 20",
        );
        let c = parse_files([("f.toml".to_string(), ok.clone())], &models).unwrap();
        match &c[0].check {
            Check::Model {
                model,
                class,
                min_score,
                min_known,
                places,
            } => {
                assert_eq!((*model, *class, *min_score, *min_known), (0, 1, 0.8, 20));
                assert_eq!(*places, Places::ALL);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c[0].treatment.scope, Scope::Content);
        for (body, want) in [
            (
                "kind = \"model\"\nmodel = \"other.model\"\nclass = \"ketting\"",
                "unknown model `other.model`",
            ),
            (
                "kind = \"model\"\nmodel = \"taal.model\"\nclass = \"porno\"",
                "model `taal.model` has no class `porno` (known: dreiging, ketting)",
            ),
            (
                "kind = \"model\"\nmodel = \"taal.model\"\nclass = \"ketting\"\nmin-score = 0.3",
                "min-score 0.3 must be at least 0.5",
            ),
            (
                "kind = \"model\"\nmodel = \"taal.model\"\nclass = \"ketting\"\nmin-known = 5",
                "min-known 5 must be 12 to 100",
            ),
            (
                "kind = \"words\"\nwords = [\"a\"]\nmin-known = 20",
                "key `min-known` does not apply to kind `words`",
            ),
            (
                "kind = \"words\"\nwords = [\"a\"]\nmin-score = 0.8",
                "key `min-score` does not apply to kind `words`",
            ),
        ] {
            let err = parse_files([("f.toml".to_string(), rule("T-2", body))], &models)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let src = format!(
            "{}\n[[rule]\nid = \"x\"\n",
            rule("T-1", "kind = \"words\"\nwords = [\"a b\"]")
        );
        let err = parse_file("10-x.toml", &src).unwrap_err().to_string();
        assert!(err.starts_with("10-x.toml: line 10"), "{err}");
    }

    #[test]
    fn unknown_key_names_line() {
        let src = rule(
            "T-1",
            "kind = \"words\"\nwords = [\"a\"]\nwoorden = [\"b\"]",
        );
        let err = parse_file("f.toml", &src).unwrap_err().to_string();
        assert!(
            err.contains("f.toml: line 9") && err.contains("woorden"),
            "{err}"
        );
    }

    #[test]
    fn invalid_rules_table() {
        let cases: &[(&str, &str)] = &[
            ("kind = \"words\"\nwords = []", "empty word list"),
            (
                "kind = \"words\"\nwords = [\"a\"]\nregex = [\"(unclosed\"]",
                "bad regex `(unclosed`",
            ),
            (
                "kind = \"words\"\nwords = [\"a\"]\nin = [\"footer\"]",
                "unknown place `footer`",
            ),
            (
                "kind = \"words\"\nwords = [\"a\"]\nweight = -1.0",
                "weight -1",
            ),
            ("kind = \"words\"\nwords = [\"ka*nker\"]", "ka*nker"),
            ("kind = \"words\"\nwords = [\"...\"]", "`...` is empty"),
            ("kind = \"sender\"\npatterns = []", "`patterns` is empty"),
            (
                "kind = \"sender\"\nwords = [\"a\"]\npatterns = [\"a@*\"]",
                "key `words` does not apply to kind `sender`",
            ),
            ("kind = \"destination\"", "give `domains`"),
            (
                "kind = \"destination\"\ndomains = [\"*.onion\"]",
                "bad domain `*.onion`",
            ),
            (
                "kind = \"attachment\"\nextensions = [\"*.exe\"]",
                "bad extension `*.exe`",
            ),
            ("kind = \"attachment\"", "nothing to check"),
            (
                "kind = \"damage\"\ndamage = [\"kapot\"]",
                "unknown damage kind `kapot`",
            ),
            ("kind = \"bsn\"\nkeywords = []", "`keywords` is empty"),
            (
                "kind = \"words\"\nwords = [\"a\"]\nsender-role = [\"leraar\"]",
                "unknown role `leraar` in `sender-role` (known: pupil, staff, other)",
            ),
            (
                "kind = \"words\"\nwords = [\"a\"]\nmarks-report = true",
                "give it `weight = 0.0` and no action",
            ),
            (
                "kind = \"sender\"\npatterns = [\"a@*\"]\nmarks-report = true",
                "key `marks-report` does not apply to kind `sender`",
            ),
            (
                "kind = \"words\"\nwords = [\"a\"]\nrecipient-role = []",
                "`recipient-role` is empty",
            ),
            (
                "kind = \"words\"\nwords = [\"a\"]\nother-weight = 1.0",
                "key `other-weight` needs `sender-role` or `recipient-role`",
            ),
            (
                "kind = \"words\"\nwords = [\"a\"]\nweight = 2.0\nsender-role = [\"staff\"]\nother-weight = 3.0",
                "other-weight 3 must be between 0 and the rule's weight (2)",
            ),
        ];
        for (body, want) in cases {
            let err = parse_file("f.toml", &rule("T-9", body))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("f.toml: rule T-9: "), "{err}");
            assert!(err.contains(want), "{body}: {err}");
        }
        let bad_cat = "[[rule]]\nid = \"C\"\nkind = \"damage\"\ndamage = [\"too-deep\"]\ncategory = \"vies\"\narticle = \"a\"\nmessage_nl = \"n\"\nmessage_en = \"e\"\n";
        assert!(parse_file("f.toml", bad_cat)
            .unwrap_err()
            .to_string()
            .contains("unknown category `vies`"));
    }

    #[test]
    fn line_numbers() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
