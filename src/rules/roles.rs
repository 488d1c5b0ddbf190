//! The `roles` rule kind: a message is judged by the *roles* its words play in a clause, not by fixed
//! combinations of words.
//!
//! A threat is a speaker's intent (or a future, a condition, an imperative) + a harm act + a target; incitement
//! is a group + a harm act or dehumanising predicate + a call; grooming is two or more of secrecy, a private
//! channel or meeting, a photo or body remark, a special bond. Each role is a list of words and lemmas
//! (`v:steken` gives every form of the verb, `v:af/maken` the separable verb joined and apart, `n:foto` plurals
//! and diminutives: see [`super::lemma`]), so a new way of saying the same thing fills a role that is already
//! there instead of needing a new combination. A rule hits when at least `need` of its roles (and all of its
//! `require`d ones) occur within `span` consecutive sentences; an `unless` word in those sentences or in the
//! one just before them (`In Minecraft bouwden we de school na. Groep 2 blies de gymzaal op.`) cancels it,
//! and for the roles listed in `negate` a negation right beside the word (`ik sla je niet`, `nooit slaan`)
//! drops that word — but not the negation of a condition (`als je niet oppast, steek ik je neer`).
//! A word of its `opening-contexts` cancels the rule in the whole text, but only where the text opens with it
//! (its first [`OPENING`] sentences): a greeting to a class (`Hallo klas, Beste leerlingen,`) says who the
//! text is for, however far below it a sentence reads as grooming.
//!
//! Matching: every form of every role of every roles rule is one entry of one hash index, keyed by its first
//! word (exact, or a prefix/suffix for `word*`/`*word`); the text is folded sentence by sentence once (the
//! same [`FoldedSentences`] the word rules use) and each word is looked up once. Pure, never panics.

use rustc_hash::FxHashMap as HashMap;

use super::lemma::{self, LemmaError};
use super::near::FoldedSentences;
use super::normalize::fold_entry;

/// Words that negate the word beside them.
const NEGATORS: &[&str] = &[
    "niet", "nooit", "geen", "niks", "nimmer", "not", "never", "nie",
];
/// The [`NEGATORS`] that also negate a word before them (`ik sla je niet`). `geen` and `niks` negate only
/// what follows them: in `activator, werkt 100%, geen virus` the activator is not denied.
const NEGATORS_AFTER: &[&str] = &["niet", "nooit", "nimmer", "not", "never", "nie"];
/// Modal particles and degree words Dutch puts between the words of any phrase (`ik sla je helemaal verrot`,
/// `ik denk heel vaak aan je`, `zeg het maar tegen niemand`): a closed class, skipped inside a phrase.
const FILLERS: &[&str] = &[
    "heel", "echt", "zo", "erg", "wel", "toch", "maar", "even", "ff", "nog", "ook", "helemaal",
    "gewoon", "eens", "nou", "hoor", "vaak", "best", "super", "keihard", "enorm", "zeer", "totaal",
    "compleet", "steeds", "altijd", "eventjes", "really", "so",
];
/// At most this many [`FILLERS`] inside one phrase.
const MAX_FILLERS: usize = 2;
/// Words that make a following negation part of a condition (`als je niet oppast`).
const CONDITIONS: &[&str] = &[
    "als", "tenzij", "zolang", "wanneer", "indien", "if", "unless", "anders", "of",
];
/// How many words after a separable verb's finite form its particle may stand (`ik maak je echt helemaal
/// af`).
const PARTICLE_REACH: usize = 10;
/// At most this many roles in one rule (they are bits of a mask, one more each for `unless` and
/// `opening-contexts`).
pub const MAX_ROLES: usize = 16;
/// The bit of the `opening-contexts` words (after `unless`'s [`MAX_ROLES`]).
const OPENING_BIT: u8 = MAX_ROLES as u8 + 1;
/// How many sentences open a text: a greeting line or two and the first sentence.
const OPENING: u32 = 3;

/// One word of an alternative, with its wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    text: String,
    /// `word*`: any word starting with `text`.
    prefix: bool,
    /// `*word`: any word ending with `text`.
    suffix: bool,
}

impl Word {
    fn matches(&self, token: &str) -> bool {
        match (self.prefix, self.suffix) {
            (false, false) => token == self.text,
            (true, false) => token.starts_with(&self.text),
            (false, true) => token.ends_with(&self.text),
            (true, true) => token.contains(&self.text),
        }
    }
}

/// One alternative of a role: its words (a phrase has several) and, for a separable verb used apart, the
/// particle that must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Alt {
    words: Vec<Word>,
    particle: Option<String>,
}

/// An entry that cannot be compiled into a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error(transparent)]
    Lemma(#[from] LemmaError),
    #[error("`{0}` is empty once folded")]
    Empty(String),
    #[error("role `{0}` has no words")]
    NoWords(String),
}

/// Parse the alternatives of one role: each item is `alt|alt|…`, each alternative a word, a phrase,
/// `word*`, `*word`, `*word*`, or a lemma (`v:…`, `n:…`).
fn parse_alts(name: &str, items: &[String]) -> Result<Vec<Alt>, RoleError> {
    let mut alts = Vec::new();
    for item in items {
        for raw in item.split('|') {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            for form in lemma::expand(raw)? {
                let prefix = form.text.ends_with('*');
                let suffix = form.text.starts_with('*');
                let folded = fold_entry(form.text.trim_matches('*'));
                let mut words: Vec<Word> = folded
                    .split(' ')
                    .filter(|w| !w.is_empty())
                    .map(|w| Word {
                        text: w.to_string(),
                        prefix: false,
                        suffix: false,
                    })
                    .collect();
                if words.is_empty() {
                    return Err(RoleError::Empty(raw.to_string()));
                }
                if let Some(first) = words.first_mut() {
                    first.suffix = suffix;
                }
                if let Some(last) = words.last_mut() {
                    last.prefix = prefix;
                }
                let particle = form.particle.map(|p| fold_entry(&p));
                let alt = Alt { words, particle };
                if !alts.contains(&alt) {
                    alts.push(alt);
                }
            }
        }
    }
    if alts.is_empty() {
        return Err(RoleError::NoWords(name.to_string()));
    }
    Ok(alts)
}

/// A compiled `roles` rule.
#[derive(Debug, Clone)]
pub struct RolesMatcher {
    /// The roles' names, in rule order (for explanations and `require`/`negate`).
    names: Vec<String>,
    /// The alternatives of each role, parallel to `names`.
    roles: Vec<Vec<Alt>>,
    /// Words that cancel a hit in the sentences it spans.
    unless: Vec<Alt>,
    /// Words that cancel every hit in a text that opens with them.
    opening: Vec<Alt>,
    /// How many distinct roles must occur.
    need: usize,
    /// Roles that must be among them (bit mask over `roles`).
    require: u32,
    /// Roles whose words a negation beside them drops (bit mask).
    negate: u32,
    /// In how many consecutive sentences the roles must occur (1: one sentence).
    span: usize,
}

/// How a rule file describes a roles rule (after TOML parsing).
#[derive(Debug, Clone, Default)]
pub struct RolesSpec {
    /// (name, items) per role.
    pub roles: Vec<(String, Vec<String>)>,
    pub unless: Vec<String>,
    /// The words of `opening-contexts`: they cancel the rule in a text that opens with them.
    pub opening: Vec<String>,
    /// Default: every role.
    pub need: Option<usize>,
    pub require: Vec<String>,
    pub negate: Vec<String>,
    /// Default 1.
    pub span: Option<usize>,
}

impl RolesMatcher {
    /// Compile and validate; errors name the role and the entry.
    pub fn new(spec: &RolesSpec) -> Result<RolesMatcher, String> {
        if spec.roles.len() < 2 || spec.roles.len() > MAX_ROLES {
            return Err(format!(
                "`roles` needs 2 to {MAX_ROLES} roles, not {}",
                spec.roles.len()
            ));
        }
        let mut names = Vec::new();
        let mut roles = Vec::new();
        for (name, items) in &spec.roles {
            if name.trim().is_empty() || names.contains(name) {
                return Err(format!("role name `{name}` is empty or used twice"));
            }
            let alts = parse_alts(name, items).map_err(|e| format!("role `{name}`: {e}"))?;
            names.push(name.clone());
            roles.push(alts);
        }
        let unless = if spec.unless.is_empty() {
            Vec::new()
        } else {
            parse_alts("unless", &spec.unless).map_err(|e| format!("unless: {e}"))?
        };
        let opening = if spec.opening.is_empty() {
            Vec::new()
        } else {
            parse_alts("opening-contexts", &spec.opening)
                .map_err(|e| format!("opening-contexts: {e}"))?
        };
        let mask = |list: &[String], key: &str| -> Result<u32, String> {
            let mut m = 0u32;
            for n in list {
                let Some(i) = names.iter().position(|x| x == n) else {
                    return Err(format!("`{key}` names `{n}`, which is not a role"));
                };
                m |= 1 << i;
            }
            Ok(m)
        };
        let require = mask(&spec.require, "require")?;
        let negate = mask(&spec.negate, "negate")?;
        let need = spec.need.unwrap_or(roles.len());
        if need < 2 || need > roles.len() {
            return Err(format!(
                "need {need} must be at least 2 and at most the number of roles ({})",
                roles.len()
            ));
        }
        if (require.count_ones() as usize) > need {
            return Err(format!(
                "`require` names {} roles, more than need = {need}",
                require.count_ones()
            ));
        }
        let span = spec.span.unwrap_or(1);
        if !(1..=10).contains(&span) {
            return Err(format!("span {span} must be 1 to 10 sentences"));
        }
        Ok(RolesMatcher {
            names,
            roles,
            unless,
            opening,
            need,
            require,
            negate,
            span,
        })
    }

    /// The roles' names, in rule order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Where one alternative of one rule's role is kept in the index.
#[derive(Debug, Clone)]
struct Slot {
    /// Index into [`RolesIndex::rules`].
    rule: u32,
    /// The role's bit number; [`MAX_ROLES`] for `unless`, [`OPENING_BIT`] for `opening-contexts`.
    role: u8,
    alt: Alt,
}

#[derive(Debug, Clone)]
struct IndexedRule {
    /// The rule's index in the rule set.
    rule: usize,
    need: usize,
    require: u32,
    negate: u32,
    span: usize,
}

/// Every roles rule's alternatives in one index keyed by their first word.
#[derive(Debug, Default)]
pub struct RolesIndex {
    exact: HashMap<String, Vec<u32>>,
    /// Phrases by their first two words (both exact): a token that starts many phrases (`je`, `ik`, `de`)
    /// tries only those whose second word follows it.
    pairs: HashMap<String, HashMap<String, Vec<u32>>>,
    prefix: HashMap<String, Vec<u32>>,
    suffix: HashMap<String, Vec<u32>>,
    /// `*word*` first words: few, checked one by one.
    infix: Vec<u32>,
    /// Lengths of the prefix and suffix keys, for the lookups of one token.
    affix_lengths: Vec<usize>,
    slots: Vec<Slot>,
    rules: Vec<IndexedRule>,
}

/// One role word found: rule (index into `rules`), sentence, role bit.
type Found = (u32, u32, u8);

impl RolesIndex {
    /// Add the roles rule with index `rule` in the rule set.
    pub fn add(&mut self, rule: usize, m: &RolesMatcher) {
        let id = self.rules.len() as u32;
        self.rules.push(IndexedRule {
            rule,
            need: m.need,
            require: m.require,
            negate: m.negate,
            span: m.span,
        });
        let all = m
            .roles
            .iter()
            .enumerate()
            .map(|(i, alts)| (i as u8, alts))
            .chain(std::iter::once((MAX_ROLES as u8, &m.unless)))
            .chain(std::iter::once((OPENING_BIT, &m.opening)));
        for (role, alts) in all {
            for alt in alts {
                let Some(first) = alt.words.first() else {
                    continue;
                };
                let slot = self.slots.len() as u32;
                let key = first.text.clone();
                let second = alt.words.get(1).filter(|w| !w.prefix && !w.suffix);
                match (first.prefix && alt.words.len() == 1, first.suffix) {
                    (false, false) => match second {
                        Some(second) => self
                            .pairs
                            .entry(key)
                            .or_default()
                            .entry(second.text.clone())
                            .or_default()
                            .push(slot),
                        None => self.exact.entry(key).or_default().push(slot),
                    },
                    (true, false) => {
                        self.affix_lengths.push(key.len());
                        self.prefix.entry(key).or_default().push(slot);
                    }
                    (false, true) => {
                        self.affix_lengths.push(key.len());
                        self.suffix.entry(key).or_default().push(slot);
                    }
                    (true, true) => self.infix.push(slot),
                }
                self.slots.push(Slot {
                    rule: id,
                    role,
                    alt: alt.clone(),
                });
            }
        }
        self.affix_lengths.sort_unstable();
        self.affix_lengths.dedup();
    }

    /// True when no roles rule was added.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule-set indexes of the roles rules that hit in this text, of those `wanted` accepts.
    pub fn find(&self, sentences: &FoldedSentences, wanted: impl Fn(usize) -> bool) -> Vec<usize> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        let want: Vec<bool> = self.rules.iter().map(|r| wanted(r.rule)).collect();
        if !want.iter().any(|w| *w) {
            return Vec::new();
        }
        // Per rule, its words found, in sentence order (each role once per sentence, by `seen`): what
        // [`holds`] reads, with no sort.
        let mut found: Vec<Vec<Found>> = vec![Vec::new(); self.rules.len()];
        let mut tokens: Vec<&str> = Vec::new();
        // Per token of the sentence: its range of `cached` and its [`class`].
        let mut keyed: Vec<Keyed> = Vec::new();
        // The roles (bits) of each rule already found in this sentence: a role found once is not looked
        // for again there (`je`, `u`, `morgen` start many alternatives and occur often).
        let mut seen: Vec<u32> = vec![0; self.rules.len()];
        // The slots a word's exact and affix keys give and its class, looked up once per distinct word of the
        // text (a word's affix keys take a hash lookup per prefix and suffix length; most words recur): each
        // word maps to a range of `cached`.
        let mut distinct: HashMap<&str, Keyed> = HashMap::default();
        let mut cached: Vec<u32> = Vec::new();
        for (si, sentence) in sentences.iter().enumerate() {
            tokens.clear();
            split_words(sentence, &mut tokens);
            keyed.clear();
            keyed.extend(tokens.iter().map(|&token| {
                *distinct.entry(token).or_insert_with(|| {
                    let from = cached.len() as u32;
                    self.keyed_slots(token, &mut cached);
                    Keyed {
                        from,
                        to: cached.len() as u32,
                        class: class(token),
                    }
                })
            }));
            let words = Words {
                tokens: &tokens,
                keyed: &keyed,
            };
            seen.fill(0);
            for (p, k) in keyed.iter().enumerate() {
                // `first_known`: the slot came by its first word's key, so that word matches here.
                let mut consider = |slot: u32, first_known: bool| {
                    let Some(s) = self.slots.get(slot as usize) else {
                        return;
                    };
                    if !want.get(s.rule as usize).copied().unwrap_or(false) {
                        return;
                    }
                    let Some(roles_seen) = seen.get_mut(s.rule as usize) else {
                        return;
                    };
                    let bit = 1u32 << s.role;
                    // An opening word counts only where the text opens: not looked for further down.
                    let past_opening = s.role == OPENING_BIT && si as u32 >= OPENING;
                    if *roles_seen & bit != 0
                        || past_opening
                        || !self.alt_at(s, words, p, first_known)
                    {
                        return;
                    }
                    *roles_seen |= bit;
                    if let Some(list) = found.get_mut(s.rule as usize) {
                        list.push((s.rule, si as u32, s.role));
                    }
                };
                if let Some(list) = cached.get(k.from as usize..k.to as usize) {
                    list.iter().for_each(|&s| consider(s, true));
                }
                let seconds = tokens.get(p).and_then(|token| self.pairs.get(*token));
                if let Some(seconds) = seconds {
                    // The second word right after, or after fillers as [`phrase_at`] allows.
                    let after = (p + 1..tokens.len()).take(MAX_FILLERS + 1);
                    for (next, filler) in after.map(|i| (tokens.get(i), words.is(i, FILLER))) {
                        if let Some(list) = next.and_then(|next| seconds.get(*next)) {
                            list.iter().for_each(|&s| consider(s, true));
                        }
                        if !filler {
                            break;
                        }
                    }
                }
                for &s in &self.infix {
                    consider(s, false);
                }
            }
        }
        let mut hits = Vec::new();
        for (r, list) in self.rules.iter().zip(&found) {
            if !list.is_empty() && holds(r, list) {
                hits.push(r.rule);
            }
        }
        hits
    }

    /// Append the slots whose first word is `token` exactly, or a prefix or suffix key of it.
    fn keyed_slots(&self, token: &str, out: &mut Vec<u32>) {
        if let Some(list) = self.exact.get(token) {
            out.extend_from_slice(list);
        }
        for &k in &self.affix_lengths {
            if k > token.len() {
                break;
            }
            if let Some(list) = token.get(..k).and_then(|h| self.prefix.get(h)) {
                out.extend_from_slice(list);
            }
            if let Some(list) = token
                .get(token.len() - k..)
                .and_then(|t| self.suffix.get(t))
            {
                out.extend_from_slice(list);
            }
        }
    }

    /// Does slot `s`'s alternative occur at word `p`, with its particle after it, and not negated?
    /// `first_known`: its first word is known to match there.
    fn alt_at(&self, s: &Slot, words: Words, p: usize, first_known: bool) -> bool {
        let alt = &s.alt;
        let Some(end) = phrase_at(&alt.words, words, p, first_known) else {
            return false;
        };
        if let Some(particle) = &alt.particle {
            let from = end;
            let to = (from + PARTICLE_REACH).min(words.tokens.len());
            if !words
                .tokens
                .get(from..to)
                .is_some_and(|rest| rest.iter().any(|t| t == particle))
            {
                return false;
            }
        }
        let negatable = usize::from(s.role) < MAX_ROLES
            && self
                .rules
                .get(s.rule as usize)
                .is_some_and(|r| r.negate & (1 << s.role) != 0);
        !(negatable && negated(words, p, end))
    }
}

/// A word's slots (a range of the cache of [`RolesIndex::find`]) and its [`class`].
#[derive(Debug, Clone, Copy)]
struct Keyed {
    from: u32,
    to: u32,
    class: u8,
}

/// The closed word classes the matcher reads around a phrase, as bits of [`class`].
const FILLER: u8 = 1;
const NEGATOR: u8 = 2;
const NEGATOR_AFTER: u8 = 4;
const CONDITION: u8 = 8;

/// Which of the closed classes ([`FILLERS`], [`NEGATORS`], [`NEGATORS_AFTER`], [`CONDITIONS`]) a word is in:
/// looked up once per distinct word of a text, so the checks around a phrase compare bits, not strings.
fn class(token: &str) -> u8 {
    [
        (FILLERS, FILLER),
        (NEGATORS, NEGATOR),
        (NEGATORS_AFTER, NEGATOR_AFTER),
        (CONDITIONS, CONDITION),
    ]
    .iter()
    .filter(|(list, _)| list.contains(&token))
    .fold(0, |c, (_, bit)| c | bit)
}

/// One sentence's words and, side by side, their slots and [`class`]es.
#[derive(Debug, Clone, Copy)]
struct Words<'a> {
    tokens: &'a [&'a str],
    keyed: &'a [Keyed],
}

impl Words<'_> {
    /// Is word `i` in the class `bit`? False past the end.
    fn is(&self, i: usize, bit: u8) -> bool {
        self.keyed.get(i).is_some_and(|k| k.class & bit != 0)
    }
}

/// Append the words of a folded sentence (split at spaces, none empty) to `out`.
fn split_words<'a>(sentence: &'a str, out: &mut Vec<&'a str>) {
    let mut start = 0;
    for (i, b) in sentence.bytes().enumerate() {
        if b == b' ' {
            if let Some(word) = sentence.get(start..i).filter(|w| !w.is_empty()) {
                out.push(word);
            }
            start = i + 1;
        }
    }
    if let Some(word) = sentence.get(start..).filter(|w| !w.is_empty()) {
        out.push(word);
    }
}

/// Where the phrase `words` starting at word `p` ends (one past its last token), when it occurs there: its
/// words in order, with up to [`MAX_FILLERS`] of the [`FILLERS`] between two of them (`ik denk heel vaak aan
/// je` is `denk aan je`, `ik sla je helemaal verrot` is `sla je verrot`). `first_known`: the first word is
/// known to match at `p`.
fn phrase_at(phrase: &[Word], words: Words, p: usize, first_known: bool) -> Option<usize> {
    let mut at = p;
    let mut skipped = 0;
    for (i, w) in phrase.iter().enumerate() {
        if i == 0 && first_known {
            at += 1;
            continue;
        }
        loop {
            let t = words.tokens.get(at)?;
            if w.matches(t) {
                break;
            }
            if i == 0 || skipped == MAX_FILLERS || !words.is(at, FILLER) {
                return None;
            }
            skipped += 1;
            at += 1;
        }
        at += 1;
    }
    Some(at)
}

/// A negator within two words before or (one that negates backwards) three after `start..end`, not part of
/// a condition.
fn negated(words: Words, start: usize, end: usize) -> bool {
    let before = (start.saturating_sub(2)..start).map(|i| (i, NEGATOR));
    let after = (end..(end + 3).min(words.tokens.len())).map(|i| (i, NEGATOR_AFTER));
    before.chain(after).any(|(i, negator)| {
        words.is(i, negator) && !(i.saturating_sub(3)..i).any(|j| words.is(j, CONDITION))
    })
}

/// Does one rule's found words (in sentence order) satisfy it in some run of `span` sentences? One pass:
/// the window's roles are counted as it slides from one sentence with a found word to the next.
fn holds(r: &IndexedRule, found: &[Found]) -> bool {
    let unless_bit = 1u32 << MAX_ROLES;
    if found.iter().any(|f| f.2 == OPENING_BIT && f.1 < OPENING) {
        return false;
    }
    let all = found.iter().fold(0u32, |m, f| m | (1 << f.2)) & !unless_bit & !(1 << OPENING_BIT);
    if (all.count_ones() as usize) < r.need || all & r.require != r.require {
        return false;
    }
    let mut counts = [0u32; MAX_ROLES + 1];
    let mut mask = 0u32;
    let (mut start, mut end) = (0, 0);
    // Only windows starting at a sentence with a found word: any satisfied window can be moved there.
    while let Some(&(_, first, _)) = found.get(start) {
        let last = first + r.span as u32;
        while let Some(&(_, _, role)) = found.get(end).filter(|f| f.1 < last) {
            if let Some(c) = counts.get_mut(usize::from(role)) {
                *c += 1;
                mask |= 1 << role;
            }
            end += 1;
        }
        // Context words cancel in the window and in the sentence before it (a topic set up front).
        let unless_before = || {
            found.get(..start).is_some_and(|b| {
                b.iter()
                    .rev()
                    .take_while(|f| f.1 + 1 == first)
                    .any(|f| usize::from(f.2) == MAX_ROLES)
            })
        };
        if mask & unless_bit == 0
            && (mask.count_ones() as usize) >= r.need
            && mask & r.require == r.require
            && !unless_before()
        {
            return true;
        }
        while let Some(&(_, _, role)) = found.get(start).filter(|f| f.1 == first) {
            if let Some(c) = counts.get_mut(usize::from(role)) {
                *c -= 1;
                if *c == 0 {
                    mask &= !(1 << role);
                }
            }
            start += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(roles: &[(&str, &[&str])]) -> RolesSpec {
        RolesSpec {
            roles: roles
                .iter()
                .map(|(n, items)| (n.to_string(), items.iter().map(|s| s.to_string()).collect()))
                .collect(),
            ..RolesSpec::default()
        }
    }

    fn hits(m: &RolesMatcher, text: &str) -> bool {
        let mut index = RolesIndex::default();
        index.add(7, m);
        let sentences = FoldedSentences::new(text);
        index.find(&sentences, |_| true) == vec![7]
    }

    fn expect(m: &RolesMatcher, cases: &[(&str, bool)]) {
        for (text, want) in cases {
            assert_eq!(hits(m, text), *want, "{text}");
        }
    }

    fn threat() -> RolesMatcher {
        let mut s = spec(&[
            ("intent", &["ik|we|wij|gaan|ga|zal|zullen"]),
            (
                "harm",
                &["v:steken|v:neer/steken|v:af/maken|v:slaan|v:in/slaan"],
            ),
            ("target", &["je|jou|jullie|u"]),
        ]);
        s.negate = vec!["harm".to_string()];
        s.unless = vec!["game|spel*|zin".to_string()];
        RolesMatcher::new(&s).unwrap()
    }

    #[test]
    fn roles_in_any_order_and_form() {
        expect(
            &threat(),
            &[
                ("Als je dat nog een keer doet, dan steek ik je neer.", true),
                ("Ik maak je af.", true),
                ("Wij maakten jullie helemaal af!", true),
                ("ik ga je helemaal in elkaar slaan", true),
                ("We hebben je gisteren neergestoken", true),
                ("Ik steek je niet neer, beloofd.", false),
                // `geen` after a word denies what follows it, not the word.
                ("Ik steek je neer, geen grap.", true),
                ("Ik ga je geen pijn doen, ik ga je slaan.", true),
                ("Ik ga je nooit meer slaan.", false),
                ("Als je niet oppast, steek ik je neer.", true),
                ("In de game steek ik je neer.", false),
                ("Ik maak je zin af.", false),
                ("Ik maak je huiswerk.", false),
                ("Jullie maken de zinnen af.", false),
            ],
        );
    }

    #[test]
    fn need_require_and_span() {
        let mut s = spec(&[
            ("secret", &["niet vertellen|ons geheimpje|v:verwijderen"]),
            ("meet", &["alleen|na school|n:lokaal"]),
            ("photo", &["n:foto|n:selfie|webcam"]),
        ]);
        s.need = Some(2);
        s.span = Some(2);
        s.require = vec!["secret".to_string()];
        s.unless = vec!["les".to_string()];
        let m = RolesMatcher::new(&s).unwrap();
        expect(
            &m,
            &[
                ("Stuur me een fotootje. Wel niet vertellen hoor.", true),
                ("Kom na school naar mijn lokaal.", false),
                ("Dit is ons geheimpje. Kom je na school even langs?", true),
                (
                    "Dit is ons geheimpje. Tot morgen. Kom je na school even langs?",
                    false,
                ),
                // `unless` in the sentence before the window cancels too.
                ("Dit is voor de les. Niet vertellen. Kom na school.", false),
                (
                    "Dit is voor de les. Tot zo. Niet vertellen. Kom na school.",
                    true,
                ),
                ("Stuur je selfies. Dat mag niet.", false),
            ],
        );
    }

    #[test]
    fn a_text_that_opens_with_a_greeting_to_a_group_is_for_the_group() {
        let mut s = spec(&[
            ("meet", &["'s nachts|alleen thuis"]),
            ("body", &["slaapkamer|in bed"]),
        ]);
        s.opening = vec!["hallo klas|beste leerlingen".to_string()];
        let m = RolesMatcher::new(&s).unwrap();
        expect(
            &m,
            &[
                ("Hoi Sanne, laad je accu nooit 's nachts op in je slaapkamer.", true),
                // The greeting is two sentences above the hit: the `unless` of a sentence would not reach.
                (
                    "Hallo klas,\nBeste leerlingen,\nDe brandweer komt. Laad je accu nooit 's nachts op in je slaapkamer.",
                    false,
                ),
                // Only where the text opens with it: a greeting further down is no greeting.
                (
                    "Hoi Sanne. Tot morgen. Fijn weekend. Groetjes. Zeg maar hallo klas. Kom 's nachts in bed.",
                    true,
                ),
            ],
        );
    }

    #[test]
    fn wildcards_phrases_and_many_rules_in_one_index() {
        let a = RolesMatcher::new(&spec(&[("x", &["kanker*"]), ("y", &["*joden"])])).unwrap();
        let b = RolesMatcher::new(&spec(&[("p", &["in de fik"]), ("q", &["v:steken"])])).unwrap();
        let mut index = RolesIndex::default();
        index.add(1, &a);
        index.add(4, &b);
        let s = FoldedSentences::new("Die kankerjoden. Wij steken het in de fik.");
        assert_eq!(index.find(&s, |_| true), vec![1, 4]);
        assert_eq!(index.find(&s, |r| r == 4), vec![4]);
        let s = FoldedSentences::new("Wij steken het in de tuin aan.");
        assert!(index.find(&s, |_| true).is_empty());
    }

    #[test]
    fn phrases_take_fillers_between_their_words() {
        let mut s = spec(&[
            ("secret", &["tegen niemand|blijft tussen ons"]),
            ("bond", &["denk aan je|in elkaar"]),
        ]);
        s.negate = vec!["bond".to_string()];
        s.span = Some(2);
        let m = RolesMatcher::new(&s).unwrap();
        expect(
            &m,
            &[
                (
                    "Ik denk heel vaak aan je. Zeg het maar tegen niemand.",
                    true,
                ),
                ("Ik denk aan je, het blijft echt wel tussen ons.", true),
                // Two fillers at most, only fillers, and not before the phrase's first word.
                ("Ik denk heel erg vaak aan je. Tegen niemand.", false),
                ("Ik denk morgen aan je. Tegen niemand.", false),
                // A negation right after the phrase still drops it.
                ("Ik denk echt aan je niet. Tegen niemand.", false),
            ],
        );
    }

    /// Every slot tried at every word, with no index, no pruning, no word classes and a window tried at
    /// every sentence: what [`RolesIndex::find`] must equal.
    fn find_plainly(index: &RolesIndex, sentences: &FoldedSentences) -> Vec<usize> {
        let mut found: Vec<Found> = Vec::new();
        for (si, sentence) in sentences.iter().enumerate() {
            let tokens: Vec<&str> = sentence.split(' ').filter(|t| !t.is_empty()).collect();
            for p in 0..tokens.len() {
                for s in &index.slots {
                    if alt_at_plainly(index, s, &tokens, p) {
                        found.push((s.rule, si as u32, s.role));
                    }
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found.sort_by_key(|f| (f.0, f.1));
        found
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|chunk| holds_plainly(&index.rules[chunk[0].0 as usize], chunk))
            .map(|chunk| index.rules[chunk[0].0 as usize].rule)
            .collect()
    }

    /// [`RolesIndex::alt_at`] by string comparisons: the phrase's words in order with up to two fillers
    /// between them, its particle within reach, no negator beside it (unless it belongs to a condition).
    fn alt_at_plainly(index: &RolesIndex, s: &Slot, tokens: &[&str], p: usize) -> bool {
        let mut at = p;
        let mut skipped = 0;
        for (i, w) in s.alt.words.iter().enumerate() {
            loop {
                let Some(t) = tokens.get(at) else {
                    return false;
                };
                if w.matches(t) {
                    break;
                }
                if i == 0 || skipped == MAX_FILLERS || !FILLERS.contains(t) {
                    return false;
                }
                skipped += 1;
                at += 1;
            }
            at += 1;
        }
        let end = at;
        if let Some(particle) = &s.alt.particle {
            let rest = &tokens[end..(end + PARTICLE_REACH).min(tokens.len())];
            if !rest.iter().any(|t| t == particle) {
                return false;
            }
        }
        let negatable = usize::from(s.role) < MAX_ROLES
            && index.rules[s.rule as usize].negate & (1 << s.role) != 0;
        let before = (p.saturating_sub(2)..p).map(|i| (i, NEGATORS));
        let after = (end..(end + 3).min(tokens.len())).map(|i| (i, NEGATORS_AFTER));
        let negated = before.chain(after).any(|(i, negators)| {
            negators.contains(&tokens[i])
                && !tokens[i.saturating_sub(3)..i]
                    .iter()
                    .any(|t| CONDITIONS.contains(t))
        });
        !(negatable && negated)
    }

    /// [`holds`] by trying every window of `span` sentences from every sentence with a found word.
    fn holds_plainly(r: &IndexedRule, found: &[Found]) -> bool {
        let unless_bit = 1u32 << MAX_ROLES;
        let opened = found.iter().any(|f| f.2 == OPENING_BIT && f.1 < OPENING);
        !opened
            && found.iter().any(|&(_, first, _)| {
                let last = first + r.span as u32;
                let mask = found
                    .iter()
                    .filter(|f| f.1 >= first && f.1 < last && f.2 != OPENING_BIT)
                    .fold(0u32, |m, f| m | (1 << f.2));
                let unless_before = found
                    .iter()
                    .any(|f| f.1 + 1 == first && usize::from(f.2) == MAX_ROLES);
                mask & unless_bit == 0
                    && !unless_before
                    && (mask.count_ones() as usize) >= r.need
                    && mask & r.require == r.require
            })
    }

    proptest::proptest! {
        /// The index (first word, first two words, affixes, roles already found in a sentence) finds what
        /// trying every alternative everywhere finds, over texts of the rules' own words, fillers and
        /// negations in any order.
        #[test]
        fn the_index_finds_what_a_plain_search_finds(
            words in proptest::collection::vec(0usize..26, 0..60)
        ) {
            const VOCAB: [&str; 26] = [
                "ik", "je", "jou", "steek", "neer", "maak", "af", "heel", "echt", "niet", "als", "game",
                "denk", "aan", "vaak", "tegen", "niemand", "kankerlijer", "joden", "in", "de", "fik", ".",
                "zin", "hoi", "allemaal",
            ];
            let mut index = RolesIndex::default();
            let mut t = threat();
            index.add(0, &t);
            let mut s = spec(&[
                ("secret", &["tegen niemand|niet vertellen"]),
                ("bond", &["denk aan je|in elkaar|kanker*|*joden|in de fik"]),
            ]);
            s.opening = vec!["hoi allemaal".to_string()];
            t = RolesMatcher::new(&s).unwrap();
            index.add(1, &t);
            let text = words.iter().map(|&i| VOCAB[i]).collect::<Vec<_>>().join(" ");
            let sentences = FoldedSentences::new(&text);
            proptest::prop_assert_eq!(index.find(&sentences, |_| true), find_plainly(&index, &sentences));
        }
    }

    #[test]
    fn bad_specs_are_errors() {
        assert!(RolesMatcher::new(&spec(&[("a", &["x"])])).is_err());
        assert!(RolesMatcher::new(&spec(&[("a", &["x"]), ("a", &["y"])])).is_err());
        assert!(RolesMatcher::new(&spec(&[("a", &["x"]), ("b", &["v:loop"])])).is_err());
        let mut s = spec(&[("a", &["x"]), ("b", &["y"])]);
        s.require = vec!["c".to_string()];
        assert!(RolesMatcher::new(&s).is_err());
        let mut s = spec(&[("a", &["x"]), ("b", &["y"])]);
        s.need = Some(3);
        assert!(RolesMatcher::new(&s).is_err());
    }
}
