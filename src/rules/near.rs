//! The `near` rule kind: word combinations in free order within a window of words, in one sentence.
//!
//! Fixed phrases miss normal Dutch: inversion after a subordinate clause (`…, dan steek ik je neer`), an extra
//! word (`ik sla je helemaal verrot`), a plural or another verb form. A `near` rule names groups of words
//! instead, each word with its forms (`steek|steken|gestoken`); it hits when one word of every group occurs
//! within `window` words of each other, in any order, inside one sentence. An optional `unless` group
//! cancels the hit when one of its words is anywhere in that sentence or in the one before (a topic set up
//! front): context words (`les`, `game`, `geadresseerde`) seldom sit right beside the words they excuse
//! (`bent u niet de juiste geadresseerde, verwijder dit bericht dan en informeer de afzender`).
//!
//! Alternatives use the word-list syntax of [`super::words`]: `word`, `word*` (word start), `*word` (word end),
//! `*word*`, and phrases (`in elkaar`). Text and alternatives are folded the same way ([`super::normalize`]).
//!
//! Speed: every alternative of every group of every near rule goes into the one automaton of all word lists,
//! written with the spaces its mode asks for (` u `, so that `u` inside `ouders` is never reported), which
//! runs once over the text folded sentence by sentence ([`FoldedSentences`], itself one pass) and reports each
//! match once, however many groups share the word; groups that several rules share (`je|jou|jullie|u`) are
//! one group. Then [`NearIndex::find`] sorts the hits by group (they come in text order already) and, per
//! rule, walks the
//! hits of the group that is rarest *in this text*, checking the other groups only in those sentences: a rule
//! one of whose groups is absent costs nothing, and a sentence is checked in full only when every group
//! occurs in it. The `unless` words have an automaton of their own, run only over a sentence that would
//! otherwise hit. No per-token hashing, no rescan per rule.
//!
//! Pure, never panics; a text without group words allocates nothing here.

use super::normalize::{fold_seamed, Folded};
use super::words::{parse_entry, Entry, EntryError, WordMatcher, WordMatcherBuilder};

/// The alternatives of one group, as parsed entries (folded text and mode).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    entries: Vec<Entry>,
}

impl Group {
    /// Parse a group: each item is `alt|alt|…`.
    pub fn parse(items: &[String]) -> Result<Group, EntryError> {
        let mut g = Group::default();
        for item in items {
            for alt in item.split('|') {
                g.entries.push(parse_entry(alt)?);
            }
        }
        if g.entries.is_empty() {
            return Err(EntryError::Empty(items.join(", ")));
        }
        Ok(g)
    }

    /// The entries of this group (for the shared automaton).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// A compiled `near` rule.
#[derive(Debug, Clone)]
pub struct NearMatcher {
    groups: Vec<Group>,
    unless: Option<Group>,
    window: usize,
}

impl NearMatcher {
    /// Compile from parsed groups; `window` is in words (≥ the number of groups, ≤ 50).
    pub fn new(groups: Vec<Group>, unless: Option<Group>, window: usize) -> NearMatcher {
        NearMatcher {
            groups,
            unless,
            window,
        }
    }

    /// The groups, in rule order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The `unless` group, if any.
    pub fn unless(&self) -> Option<&Group> {
        self.unless.as_ref()
    }

    /// The window in words.
    pub fn window(&self) -> usize {
        self.window
    }
}

/// One near rule in a [`NearIndex`]: its groups as ids of distinct groups.
#[derive(Debug, Clone)]
struct IndexedRule {
    /// The rule's index in the rule set (what [`NearIndex::find`] reports).
    rule: usize,
    /// Ids of its groups among the distinct groups (the word automaton reports these).
    groups: Vec<u32>,
    /// Id of its `unless` group among the distinct `unless` groups (only [`NearIndex`]'s own automaton
    /// knows these: they are looked for only in a sentence that would otherwise hit).
    unless: Option<u32>,
    window: usize,
}

/// The groups of all near rules, each distinct group once, for the shared scan; and the `unless` groups in
/// an automaton of their own. Context words (`les`, `ouders`, `rapport`) fill ordinary school mail: reported
/// on every occurrence they would cost more than everything else, and they matter only in the rare sentence
/// where a rule's groups all occur within its window.
#[derive(Debug, Default)]
pub struct NearIndex {
    /// Distinct groups (their entries), in id order.
    distinct: Vec<Group>,
    /// Distinct `unless` groups, in id order.
    distinct_unless: Vec<Group>,
    /// The alternatives of the `unless` groups, until [`NearIndex::build`].
    unless_builder: WordMatcherBuilder,
    /// The `unless` groups' automaton (built by [`NearIndex::build`]).
    unless_words: WordMatcher,
    rules: Vec<IndexedRule>,
}

/// Where one alternative of one or more groups matched in the folded text: `start..end` bytes; `pattern` is
/// the word automaton's pattern, whose groups [`WordMatcher::groups_of`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupHit {
    pub pattern: u32,
    pub start: usize,
    pub end: usize,
}

/// A group hit placed in its sentence (index into [`FoldedSentences`]).
#[derive(Debug, Clone, Copy, Default)]
struct Placed {
    sentence: usize,
    start: usize,
    end: usize,
}

/// The id of `g` among `distinct`, adding it when new (then also returned in `new`).
fn id_of(distinct: &mut Vec<Group>, g: &Group, new: &mut Vec<(u32, Group)>) -> u32 {
    let at = match distinct.iter().position(|d| d == g) {
        Some(at) => at,
        None => {
            distinct.push(g.clone());
            let at = distinct.len() - 1;
            new.push((u32::try_from(at).unwrap_or(u32::MAX), g.clone()));
            at
        }
    };
    u32::try_from(at).unwrap_or(u32::MAX)
}

impl NearIndex {
    /// Add near rule `rule`; returns its groups that are new (id and group), whose entries the caller puts
    /// into the word automaton under that id ([`WordMatcherBuilder::add_group`]).
    pub fn add(&mut self, rule: usize, matcher: &NearMatcher) -> Vec<(u32, Group)> {
        let mut new = Vec::new();
        let groups = matcher
            .groups
            .iter()
            .map(|g| id_of(&mut self.distinct, g, &mut new))
            .collect();
        let unless = matcher.unless.as_ref().map(|g| self.add_unless(g));
        self.rules.push(IndexedRule {
            rule,
            groups,
            unless,
            window: matcher.window,
        });
        new
    }

    /// The id of `unless` group `g` (added when new), for [`NearIndex::cancels`]: a `near` rule's, or a
    /// `words` rule's that the rule set keeps itself.
    pub fn add_unless(&mut self, g: &Group) -> u32 {
        let mut fresh = Vec::new();
        let id = id_of(&mut self.distinct_unless, g, &mut fresh);
        for (id, g) in fresh {
            for e in g.entries() {
                self.unless_builder.add_group(id, e);
            }
        }
        id
    }

    /// Compile the `unless` automaton once every rule is added.
    pub fn build(&mut self) -> Result<(), aho_corasick::BuildError> {
        self.unless_words = std::mem::take(&mut self.unless_builder).build()?;
        Ok(())
    }

    /// How many distinct groups there are (`unless` groups apart).
    pub fn group_count(&self) -> usize {
        self.distinct.len()
    }

    /// The near rules that hit, given the group hits of `words` (the automaton that holds this index's
    /// groups) over `sentences.folded` (`streams`: one list per piece of the scan, each in order of `end`, the
    /// pieces in text order). `wanted(rule)` says whether a rule still needs an answer (its places cover the
    /// text, it has not hit yet). Returns the rules that hit.
    pub fn find(
        &self,
        words: &WordMatcher,
        sentences: &FoldedSentences,
        streams: &[Vec<GroupHit>],
        wanted: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        if streams.iter().all(Vec::is_empty) || self.rules.is_empty() {
            return Vec::new();
        }
        // How often each group occurs: a rule one of whose groups is absent cannot hit.
        let groups = self.distinct.len();
        let mut counts = vec![0usize; groups];
        for h in streams.iter().flatten() {
            for &g in words.groups_of(h.pattern) {
                if let Some(c) = counts.get_mut(g as usize) {
                    *c += 1;
                }
            }
        }
        let count = |g: u32| counts.get(g as usize).copied().unwrap_or(0);
        let live: Vec<&IndexedRule> = self
            .rules
            .iter()
            .filter(|r| wanted(r.rule) && r.groups.iter().all(|&g| count(g) > 0))
            .collect();
        if live.is_empty() {
            return Vec::new();
        }
        // The hits of the groups the live rules need, by group (a stable counting sort: each group's hits
        // stay in text order), each placed in its sentence; a hit across a sentence end (a phrase over the
        // seam) is no hit.
        let mut needed = vec![false; groups];
        for g in live.iter().flat_map(|r| &r.groups) {
            if let Some(n) = needed.get_mut(*g as usize) {
                *n = true;
            }
        }
        let mut offsets = vec![0usize; groups + 1];
        let mut sum = 0;
        for (g, o) in offsets.iter_mut().enumerate() {
            *o = sum;
            if needed.get(g).copied().unwrap_or(false) {
                sum += counts.get(g).copied().unwrap_or(0);
            }
        }
        let mut by_group = vec![Placed::default(); sum];
        let mut next = offsets.clone();
        let mut filled = vec![0usize; groups];
        let ends = &sentences.ends;
        let mut s = 0;
        for h in streams.iter().flatten() {
            let groups_of = words.groups_of(h.pattern);
            if !groups_of
                .iter()
                .any(|&g| needed.get(g as usize).copied().unwrap_or(false))
            {
                continue;
            }
            while ends.get(s).is_some_and(|&e| e < h.end) {
                s += 1;
            }
            let sentence_start = s
                .checked_sub(1)
                .and_then(|p| ends.get(p))
                .map_or(0, |e| e + 1);
            if h.start < sentence_start {
                continue;
            }
            for &g in groups_of {
                let g = g as usize;
                if !needed.get(g).copied().unwrap_or(false) {
                    continue;
                }
                if let (Some(n), Some(f)) = (next.get_mut(g), filled.get_mut(g)) {
                    if let Some(slot) = by_group.get_mut(*n) {
                        *slot = Placed {
                            sentence: s,
                            start: h.start,
                            end: h.end,
                        };
                        *n += 1;
                        *f += 1;
                    }
                }
            }
        }
        let hits_of = |g: u32| {
            let g = g as usize;
            let from = offsets.get(g).copied().unwrap_or(0);
            let n = filled.get(g).copied().unwrap_or(0);
            by_group.get(from..from + n).unwrap_or_default()
        };
        live.into_iter()
            .filter(|r| self.rule_hits(r, sentences, &hits_of))
            .map(|r| r.rule)
            .collect()
    }

    /// Whether rule `r` hits in some sentence: walk the sentences of the hits of its rarest group in this
    /// text, keeping a cursor into each other group's hits (all in text order), and check in full only the
    /// sentences where every group occurs.
    fn rule_hits<'h>(
        &self,
        r: &IndexedRule,
        sentences: &FoldedSentences,
        hits_of: &impl Fn(u32) -> &'h [Placed],
    ) -> bool {
        let lists: Vec<&[Placed]> = r.groups.iter().map(|&g| hits_of(g)).collect();
        let Some(rarest) = lists.iter().copied().min_by_key(|l| l.len()) else {
            return false;
        };
        let mut cursors = vec![0usize; lists.len()];
        let mut last = usize::MAX;
        let mut found: Vec<Vec<(usize, usize)>> = vec![Vec::new(); lists.len()];
        let mut ranges: Vec<&[Placed]> = Vec::with_capacity(lists.len());
        let mut spaces = Spaces::default();
        for a in rarest {
            let s = a.sentence;
            if s == last {
                continue;
            }
            last = s;
            // Each group's hits in sentence `s`.
            ranges.clear();
            for (list, cur) in lists.iter().zip(cursors.iter_mut()) {
                *cur += list
                    .get(*cur..)
                    .unwrap_or_default()
                    .partition_point(|p| p.sentence < s);
                let rest = list.get(*cur..).unwrap_or_default();
                let here = rest.get(..rest.partition_point(|p| p.sentence == s));
                match here {
                    Some(h) if !h.is_empty() => ranges.push(h),
                    _ => break,
                }
            }
            if ranges.len() < lists.len() {
                continue;
            }
            // Token ranges within the sentence: a byte offset's token is the number of spaces before it,
            // looked up among the sentence's spaces (found once per sentence, not once per hit: a sentence
            // of one matching word said 10⁵ times has 10⁵ hits).
            let spaces = spaces.of(sentences, s);
            let token = |at: usize| spaces.partition_point(|&p| p < at);
            for (f, hits) in found.iter_mut().zip(&ranges) {
                f.clear();
                f.extend(hits.iter().map(|p| (token(p.start), token(p.end) + 1)));
            }
            if within_window(&mut found, r.window, &mut 0)
                && !r.unless.is_some_and(|u| self.cancels(sentences, s, u))
            {
                return true;
            }
        }
        false
    }

    /// Whether `unless` group `id` cancels a hit in sentence `s`: its words occur in that sentence or in the
    /// one before it (a topic set up front, as for the `roles` rules: `de leerlingen vroegen in de les naar
    /// porno. Ik heb een vervolgles …`).
    pub fn cancels(&self, sentences: &FoldedSentences, s: usize, id: u32) -> bool {
        self.holds_unless(sentences.sentence(s), id)
            || s.checked_sub(1)
                .is_some_and(|b| self.holds_unless(sentences.sentence(b), id))
    }

    /// Whether `unless` group `id` matches in the folded sentence.
    fn holds_unless(&self, sentence: &str, id: u32) -> bool {
        let mut found = false;
        self.unless_words
            .find_groups(sentence, |g, _, _| found |= g == id);
        found
    }
}

/// [`NearIndex::cancels`] remembered per `unless` group and sentence, for the `words` rules: a text with many
/// hits of one rule in one long sentence looks for the `unless` words there once, not once per hit.
#[derive(Debug, Default)]
pub struct Cancels(std::collections::HashMap<(u32, usize), bool>);

impl Cancels {
    /// Whether `unless` group `id` cancels a hit in sentence `s` of `sentences`.
    pub fn get(
        &mut self,
        index: &NearIndex,
        sentences: &FoldedSentences,
        s: usize,
        id: u32,
    ) -> bool {
        *self
            .0
            .entry((id, s))
            .or_insert_with(|| index.cancels(sentences, s, id))
    }
}

/// Byte offsets of the spaces of one folded sentence (the last one asked for), each offset into the whole
/// folded text.
#[derive(Debug, Default)]
struct Spaces {
    sentence: Option<usize>,
    at: Vec<usize>,
}

impl Spaces {
    /// The spaces of sentence `s`, found when it is not the one found last.
    fn of(&mut self, sentences: &FoldedSentences, s: usize) -> &[usize] {
        if self.sentence != Some(s) {
            let sentence = sentences.sentence(s);
            let from = sentence.as_ptr() as usize - sentences.folded.text.as_ptr() as usize;
            self.at.clear();
            self.at
                .extend(memchr::memchr_iter(b' ', sentence.as_bytes()).map(|p| from + p));
            self.sentence = Some(s);
        }
        &self.at
    }
}

/// Whether one match per group (token ranges `start..end`), no two sharing a token, fits in `window` tokens:
/// the lowest start of such a choice is some match's start, so each start is tried as a window's first token,
/// with each group's matches cut to those that start in that window (by binary search in the matches sorted
/// by start) and the groups with the fewest matches there placed first. A long sentence full of matches thus
/// costs about its matches times the window, not its matches squared. `steps` counts the matches tried.
fn within_window(found: &mut [Vec<(usize, usize)>], window: usize, steps: &mut usize) -> bool {
    for f in found.iter_mut() {
        f.sort_unstable();
    }
    let mut starts: Vec<usize> = found.iter().flatten().map(|m| m.0).collect();
    starts.sort_unstable();
    starts.dedup();
    let mut slices: Vec<&[(usize, usize)]> = Vec::with_capacity(found.len());
    starts.into_iter().any(|from| {
        let to = from + window;
        slices.clear();
        for f in found.iter() {
            let lo = f.partition_point(|m| m.0 < from);
            let hi = f.partition_point(|m| m.0 < to);
            match f.get(lo..hi) {
                Some(here) if !here.is_empty() => slices.push(here),
                _ => return false,
            }
        }
        slices.sort_by_key(|here| here.len());
        assign(&slices, from, to, 0, steps)
    })
}

/// Whether every group from the first has a match inside `from..to`, no two sharing a token (`used`: the
/// tokens taken so far, bit `k` for token `from + k`; a window is at most 50 tokens). `steps` counts the
/// matches tried.
fn assign<L: AsRef<[(usize, usize)]>>(
    found: &[L],
    from: usize,
    to: usize,
    used: u64,
    steps: &mut usize,
) -> bool {
    let Some((first, rest)) = found.split_first() else {
        return true;
    };
    first.as_ref().iter().any(|&(s, e)| {
        *steps += 1;
        if s < from || e > to {
            return false;
        }
        let bits = (s - from..e - from).fold(0u64, |m, k| m | (1u64 << k.min(63)));
        used & bits == 0 && assign(rest, from, to, used | bits, steps)
    })
}

/// A text folded sentence by sentence into one [`Folded`], with the end of each sentence in it: the word scan
/// runs over [`FoldedSentences::folded`] as over any folded text, and each hit is placed in its sentence by
/// its offset ([`FoldedSentences::index_at`]).
#[derive(Debug, Default)]
pub struct FoldedSentences {
    /// The whole text, each sentence folded on its own (see [`super::normalize::fold_seamed`]).
    pub folded: Folded,
    /// Where each non-empty sentence ends in `folded.text` (ascending); the next one starts a space later.
    ends: Vec<usize>,
}

impl FoldedSentences {
    /// Fold `text` (decoded) sentence by sentence, in one pass; empty sentences leave no trace.
    pub fn new(text: &str) -> FoldedSentences {
        let mut out = FoldedSentences {
            folded: Folded::with_capacity(text.len()),
            ends: Vec::new(),
        };
        let seams = sentence_starts(text);
        fold_seamed(text, &seams, &mut out.folded, &mut out.ends);
        out
    }

    /// The index of the sentence holding byte `offset` of the folded text.
    pub fn index_at(&self, offset: usize) -> usize {
        self.ends.partition_point(|&end| end <= offset)
    }

    /// Where each non-empty sentence ends in the folded text (ascending).
    pub fn ends(&self) -> &[usize] {
        &self.ends
    }

    /// The folded sentence with this index (empty past the end).
    pub fn sentence(&self, index: usize) -> &str {
        let start = match index.checked_sub(1) {
            None => 0,
            Some(before) => self.ends.get(before).map_or(usize::MAX, |&e| e + 1),
        };
        let end = self.ends.get(index).copied().unwrap_or(0);
        self.folded.text.get(start..end).unwrap_or_default()
    }

    /// The folded sentences, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.ends.len()).map(|i| self.sentence(i))
    }
}

/// Where each sentence of `text` after the first starts (see [`sentences`]).
fn sentence_starts(text: &str) -> Vec<usize> {
    let base = text.as_ptr() as usize;
    sentences(text)
        .skip(1)
        .map(|s| s.as_ptr() as usize - base)
        .collect()
}

/// The sentences of a text: ended by `.`, `!`, `?` or `;` before white space (or the end), by an empty
/// line, or by a line break before a capital. A dot inside a word (`k.a.n.k.e.r`, `3.5`, `o.a`) does not end one; a single line break does not
/// either (plain-text mail wraps lines).
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    // Most bytes cannot end a sentence: jump from one that may to the next with `memchr` (vector code), once
    // for the common marks and once for the rare ones, each search kept until passed.
    let mut common: Option<usize> = None;
    let mut rare: Option<usize> = None;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let next_of = |found: &mut Option<usize>, search: &dyn Fn(&[u8]) -> Option<usize>| {
                if found.is_none_or(|f| f < i) {
                    *found = Some(
                        bytes
                            .get(i..)
                            .and_then(search)
                            .map_or(bytes.len(), |p| i + p),
                    );
                }
                found.unwrap_or(bytes.len())
            };
            let c = next_of(&mut common, &|h| memchr::memchr3(b'.', b';', b'\n', h));
            let r = next_of(&mut rare, &|h| memchr::memchr2(b'!', b'?', h));
            i = c.min(r);
            let Some(&b) = bytes.get(i) else {
                break;
            };
            let next = bytes.get(i + 1).copied();
            let ends = match b {
                // A letter standing alone before a dot is a letter spelt out (`k. a. n. k. e. r.`), not
                // the end of a sentence: the word rules read those letters as one word.
                b'.' | b'!' | b'?' | b';' => {
                    let lone_letter = b == b'.'
                        && i.checked_sub(1)
                            .and_then(|p| bytes.get(p))
                            .is_some_and(u8::is_ascii_alphabetic)
                        && (i < 2
                            || i - 1 == start
                            || i.checked_sub(2)
                                .and_then(|p| bytes.get(p))
                                .is_some_and(u8::is_ascii_whitespace));
                    next.is_none_or(|n| n.is_ascii_whitespace()) && !lone_letter
                }
                b'\n' => {
                    // An empty line (only white space up to the next line break), or a line that starts
                    // with a capital: HTML paragraphs and a salutation (`Beste ouders,`) end in one line
                    // break, while a wrapped line of plain text goes on in lower case.
                    let rest = bytes.get(i + 1..).unwrap_or_default();
                    let gap = rest
                        .iter()
                        .take_while(|c| matches!(c, b' ' | b'\t' | b'\r'))
                        .count();
                    let next_line = text.get(i + 1 + gap..).unwrap_or_default();
                    rest.get(gap) == Some(&b'\n')
                        || next_line.chars().next().is_some_and(char::is_uppercase)
                }
                _ => false,
            };
            i += 1;
            if ends {
                let s = text.get(start..i).unwrap_or_default();
                start = i;
                return Some(s);
            }
        }
        if start < bytes.len() {
            let s = text.get(start..).unwrap_or_default();
            start = bytes.len();
            return Some(s);
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::super::normalize::{fold, fold_into};
    use super::super::words::{WordMatcherBuilder, STREAMS};
    use super::*;

    fn group(items: &[&str]) -> Group {
        Group::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    /// One rule through the real pipeline: one automaton over the text folded sentence by sentence, then
    /// [`NearIndex::find`].
    fn matches(m: &NearMatcher, text: &str) -> bool {
        let mut index = NearIndex::default();
        let mut builder = WordMatcherBuilder::default();
        for (id, g) in index.add(7, m) {
            for e in g.entries() {
                builder.add_group(id, e);
            }
        }
        let words = builder.build().unwrap();
        index.build().unwrap();
        let sentences = FoldedSentences::new(text);
        let mut streams = vec![Vec::new(); STREAMS];
        words.find_all(
            &sentences.folded,
            sentences.ends(),
            |_, _, _, _| {},
            |stream, pattern, start, end| {
                streams[stream].push(GroupHit {
                    pattern,
                    start,
                    end,
                })
            },
        );
        let hits = index.find(&words, &sentences, &streams, |rule| rule == 7);
        assert!(hits.iter().all(|&r| r == 7));
        !hits.is_empty()
    }

    /// Every text gives the wanted answer.
    fn expect(m: &NearMatcher, cases: &[(&str, bool)]) {
        for (text, want) in cases {
            assert_eq!(matches(m, text), *want, "{text:?}");
            assert_eq!(reference::matches(m, text), *want, "reference: {text:?}");
        }
    }

    fn threat() -> NearMatcher {
        NearMatcher::new(
            vec![
                group(&["ik|we|wij"]),
                group(&["steek|steken|gestoken|sla|slaan|geslagen"]),
                group(&["je|jou|jullie|u"]),
                group(&["neer|dood|verrot|lek|in elkaar"]),
            ],
            Some(group(&["niet|nooit"])),
            8,
        )
    }

    #[test]
    fn free_order_within_a_window_and_a_sentence() {
        let m = threat();
        let cases: &[(&str, bool)] = &[
            ("Ik steek je neer.", true),
            ("Als je dat nog eens doet, dan steek ik je neer!", true),
            ("ik sla je helemaal verrot", true),
            ("Wij slaan jullie morgen in elkaar", true),
            ("Morgen word je door ons neergestoken", false),
            ("Ik steek je niet neer, rustig maar.", false),
            // The `unless` word counts anywhere in the sentence, not only in the window.
            (
                "Ik sla je verrot, zei hij, maar dat zeg ik echt nooit meer tegen iemand",
                false,
            ),
            ("Ik sla je verrot. Dat zeg ik nooit meer.", true),
            // … and in the sentence before (a topic set up front), but not two sentences before.
            ("Dat zeg ik nooit meer. Ik sla je verrot.", false),
            ("Dat zeg ik nooit meer. Echt. Ik sla je verrot.", true),
            // Too far apart, or in two sentences.
            (
                "Ik steek morgen de vlag uit op het dak van het huis van je opa neer",
                false,
            ),
            ("Ik sla je boek open. Dood spoor.", false),
            ("Ik sla je\n\nverrot", false),
            // A phrase does not run over the end of a sentence.
            ("Ik sla je in. Elkaar", false),
            // One line break is not a sentence end, unless a capital follows (a new paragraph in HTML).
            ("ik sla je\nverrot", true),
            ("Ik sla je,\nVerrot", false),
            ("k.a.n ik sla je verrot", true),
        ];
        expect(&m, cases);
    }

    #[test]
    fn alternatives_use_the_word_list_syntax() {
        let m = NearMatcher::new(
            vec![
                group(&["naakt*|bloot|blote"]),
                group(&["*foto|*foto's|foto*"]),
            ],
            None,
            4,
        );
        let cases: &[(&str, bool)] = &[
            // One word does not count for two groups.
            ("stuur een naaktfoto", false),
            ("stuur naakte foto's", true),
            ("een blote selfiefoto", true),
            ("bloot zijn we op de schoolfoto niet", false),
        ];
        expect(&m, cases);
    }

    #[test]
    fn groups_shared_between_rules_are_one_group() {
        let mut index = NearIndex::default();
        let a = NearMatcher::new(vec![group(&["ik|we"]), group(&["sla"])], None, 3);
        let b = NearMatcher::new(
            vec![group(&["we|ik"]), group(&["schop"])],
            Some(group(&["sla"])),
            3,
        );
        assert_eq!(index.add(0, &a).len(), 2);
        // The same alternatives in the same order are the same group; another order is another group.
        assert_eq!(index.add(1, &a).len(), 0);
        assert_eq!(index.add(2, &b).len(), 2);
        assert_eq!(index.group_count(), 4);
    }

    #[test]
    fn a_sentence_full_of_matches_costs_its_matches_times_the_window_not_their_square() {
        // Hostile input: one sentence of one matching word said over and over (`kut kut kut …`). Each window
        // tries only the matches that start in it, so the work grows with the matches times the window.
        let n = 20_000;
        let window = 8;
        let every: Vec<(usize, usize)> = (0..n).map(|t| (t, t + 1)).collect();
        let bound = 4 * n * window;

        // Found at once: the first window holds a match of each group.
        let mut steps = 0;
        assert!(within_window(
            &mut [every.clone(), every.clone()],
            window,
            &mut steps
        ));
        assert!(steps <= window, "{steps} steps");

        // Never found: the third group's one match fills a whole window at the end, so every other window
        // lacks it and that one has no room left for the other two groups.
        let mut steps = 0;
        let mut found = [every.clone(), every.clone(), vec![(n - window, n)]];
        assert!(!within_window(&mut found, window, &mut steps));
        assert!(steps <= bound, "{steps} steps for {n} matches");

        // Never found: two groups that only ever match the same tokens.
        let mut steps = 0;
        let mut found = [vec![(0, n)], every.clone()];
        assert!(!within_window(&mut found, window, &mut steps));
        assert!(steps <= bound, "{steps} steps for {n} matches");

        // Found only at the very end, after every window before it failed.
        let mut steps = 0;
        let mut found = [every.clone(), every, vec![(n + 1, n + 2)]];
        assert!(within_window(&mut found, window, &mut steps));
        assert!(steps <= bound, "{steps} steps for {n} matches");
    }

    #[test]
    fn sentences_split_where_a_reader_would() {
        let got: Vec<&str> = sentences("Een. Twee!Drie? v.d. a\nb\n \nc; d\nE").collect();
        assert_eq!(
            got,
            vec![
                "Een.",
                " Twee!Drie?",
                " v.d.",
                " a\nb\n",
                " \nc;",
                " d\n",
                "E"
            ]
        );
    }

    #[test]
    fn folded_sentences_are_the_sentences_folded_apart() {
        let texts = [
            "Een. Twee!Drie? v.d. a\nb\n \nc; d\nE",
            "Ik sla je k. a. n. k. e. r. Nee.\n\nKaaaanker; s t o m. Hoi",
            "",
            "...   ;\n\n",
            "a b c! d e f. Gaaat het? x; y z",
        ];
        for text in texts {
            let all = FoldedSentences::new(text);
            assert_eq!(
                all.folded,
                reference::FoldedSentences::new(text).folded,
                "{text:?}"
            );
            let got: Vec<&str> = all.iter().collect();
            let want: Vec<String> = sentences(text)
                .map(|s| fold(s).text)
                .filter(|f| !f.is_empty())
                .collect();
            assert_eq!(got, want, "{text:?}");
            for (i, s) in all.iter().enumerate() {
                let at = s.as_ptr() as usize - all.folded.text.as_ptr() as usize;
                assert_eq!(all.index_at(at), i, "{text:?}");
                assert_eq!(all.index_at(at + s.len() - 1), i, "{text:?}");
            }
        }
        // Letters spelt out with dots stay one sentence, so the word rules still see one word.
        assert_eq!(
            FoldedSentences::new("k. a. n. k. e. r.").folded.text,
            "kanker"
        );
    }

    /// Token ranges, one per group.
    type Spans = [(usize, usize)];

    /// A naive search over every combination of matches, the specification the matcher meets.
    fn naive(groups: &[Group], unless: Option<&Group>, window: usize, folded: &str) -> bool {
        let tokens: Vec<&str> = folded.split(' ').filter(|t| !t.is_empty()).collect();
        let found: Vec<Vec<(usize, usize)>> = groups
            .iter()
            .map(|g| reference::Group::new(g).matches(&tokens))
            .collect();
        let un = unless
            .map(|u| reference::Group::new(u).matches(&tokens))
            .unwrap_or_default();
        // Every choice of one match per group, pairwise apart, inside some window.
        fn choose(
            found: &[Vec<(usize, usize)>],
            chosen: &mut Vec<(usize, usize)>,
            ok: &dyn Fn(&Spans) -> bool,
        ) -> bool {
            match found.split_first() {
                None => ok(chosen),
                Some((first, rest)) => first.iter().any(|&m| {
                    chosen.push(m);
                    let r = choose(rest, chosen, ok);
                    chosen.pop();
                    r
                }),
            }
        }
        let ok = |chosen: &[(usize, usize)]| {
            let apart = chosen
                .iter()
                .enumerate()
                .all(|(i, a)| chosen.iter().skip(i + 1).all(|b| a.1 <= b.0 || b.1 <= a.0));
            let lo = chosen.iter().map(|m| m.0).min().unwrap_or(0);
            let hi = chosen.iter().map(|m| m.1).max().unwrap_or(0);
            // An `unless` word anywhere in the sentence cancels.
            un.is_empty() && apart && hi - lo <= window
        };
        choose(&found, &mut Vec::new(), &ok)
    }

    /// Words, word pieces and sentence ends for the random texts below.
    const VOCAB: &[&str] = &[
        "a", "b", "c", "ab", "ba", "x", "abc", "cab", "xa", "Ab", "aaab", "k.a.n", "a.", "b!",
        "c;", "?", "\n", "\n\n", "\nA", "é", "a-b", "x b",
    ];

    proptest::proptest! {
        /// On one sentence, the answer is the naive one.
        #[test]
        fn same_as_naive_on_a_sentence(
            text in "((aa|bb|cc|aabb|bbaa|xx) ){0,14}",
            window in 2usize..6,
        ) {
            let groups = vec![group(&["aa|aabb"]), group(&["bb*"]), group(&["cc|xx bb"])];
            let unless = group(&["bbaa"]);
            let want = naive(&groups, Some(&unless), window, &fold(text.trim()).text);
            let m = NearMatcher::new(groups, Some(unless), window);
            proptest::prop_assert_eq!(matches(&m, text.trim()), want);
        }

        /// On random texts of several sentences, with groups of every mode and phrases, the one-pass matcher
        /// answers as the old one did (each sentence folded apart, each rule checked token by token from
        /// the hits of its longest group).
        #[test]
        fn same_as_the_rule_by_rule_matcher(
            words in proptest::collection::vec(0..VOCAB.len(), 0..60),
            raw_groups in proptest::collection::vec(
                proptest::collection::vec("\\*?(a|b|c|ab|ba|x|a b|b c|abc|cab|xa|ab cab)\\*?", 1..3), 2..4),
            unless in proptest::option::of("\\*?(ab|c|x a)\\*?"),
            window in 4usize..9,
        ) {
            let text = words.iter().filter_map(|&i| VOCAB.get(i).copied()).collect::<Vec<_>>().join(" ");
            let groups: Vec<Group> = raw_groups
                .iter()
                .map(|alts| group(&[alts.join("|").as_str()]))
                .collect();
            let unless = unless.map(|u| group(&[u.as_str()]));
            let m = NearMatcher::new(groups, unless, window);
            proptest::prop_assert_eq!(matches(&m, &text), reference::matches(&m, &text), "{:?}", text);
        }

        /// Folding in one pass with seams gives what folding each sentence apart gives.
        #[test]
        fn one_pass_fold_is_folding_sentence_by_sentence(
            words in proptest::collection::vec(0..VOCAB.len(), 0..80),
            seps in proptest::collection::vec(0..4usize, 80),
        ) {
            let mut text = String::new();
            for (k, &i) in words.iter().enumerate() {
                text.push_str(VOCAB.get(i).copied().unwrap_or_default());
                text.push_str([" ", "", "  ", " . "].get(seps.get(k).copied().unwrap_or(0)).copied().unwrap_or(" "));
            }
            let new = FoldedSentences::new(&text);
            let old = reference::FoldedSentences::new(&text);
            proptest::prop_assert_eq!(&new.folded, &old.folded, "{:?}", text);
            proptest::prop_assert_eq!(&new.ends, &old.ends, "{:?}", text);
        }
    }

    /// The matcher before the shared scan (kept as the specification): each sentence folded apart, and each
    /// rule checked on the sentences holding its anchor (the group whose shortest alternative is longest),
    /// token by token.
    mod reference {
        use std::collections::HashSet;

        use super::super::super::words::{Entry, Mode};
        use super::super::{assign, sentences, NearMatcher};
        use super::{fold_into, Folded};

        /// One alternative of a group, as tokens of folded text.
        struct Alternative {
            tokens: Vec<String>,
            mode: Mode,
        }

        impl Alternative {
            fn match_at(&self, tokens: &[&str], i: usize) -> Option<usize> {
                let n = self.tokens.len();
                let window = tokens.get(i..i + n)?;
                let last = n - 1;
                let ok = self
                    .tokens
                    .iter()
                    .zip(window)
                    .enumerate()
                    .all(|(k, (want, got))| {
                        let open_start = k == 0 && matches!(self.mode, Mode::Suffix | Mode::Infix);
                        let open_end = k == last && matches!(self.mode, Mode::Prefix | Mode::Infix);
                        match (open_start, open_end) {
                            (false, false) => got == want,
                            (false, true) => got.starts_with(want.as_str()),
                            (true, false) => got.ends_with(want.as_str()),
                            (true, true) => got.contains(want.as_str()),
                        }
                    });
                ok.then_some(i + n)
            }
        }

        pub struct Group {
            whole: HashSet<String>,
            others: Vec<Alternative>,
            shortest: usize,
        }

        impl Group {
            pub fn new(g: &super::Group) -> Group {
                let mut out = Group {
                    whole: HashSet::new(),
                    others: Vec::new(),
                    shortest: g
                        .entries()
                        .iter()
                        .map(|e: &Entry| e.folded.len())
                        .min()
                        .unwrap_or(0),
                };
                for e in g.entries() {
                    let tokens: Vec<String> = e.folded.split(' ').map(str::to_owned).collect();
                    if tokens.len() == 1 && e.mode == Mode::Whole {
                        out.whole.insert(e.folded.clone());
                    } else {
                        out.others.push(Alternative {
                            tokens,
                            mode: e.mode,
                        });
                    }
                }
                out
            }

            pub fn matches(&self, tokens: &[&str]) -> Vec<(usize, usize)> {
                let mut out = Vec::new();
                for i in 0..tokens.len() {
                    if tokens.get(i).is_some_and(|t| self.whole.contains(*t)) {
                        out.push((i, i + 1));
                    }
                    for alt in &self.others {
                        if let Some(end) = alt.match_at(tokens, i) {
                            out.push((i, end));
                        }
                    }
                }
                out
            }
        }

        fn matches_sentence(m: &NearMatcher, folded: &str, before: &str) -> bool {
            if folded.is_empty() {
                return false;
            }
            let groups: Vec<Group> = m.groups().iter().map(Group::new).collect();
            let anchor = groups
                .iter()
                .enumerate()
                .max_by_key(|(i, g)| (g.shortest, std::cmp::Reverse(*i)))
                .map_or(0, |(i, _)| i);
            let tokens: Vec<&str> = folded.split(' ').collect();
            let anchor_hits = groups[anchor].matches(&tokens);
            if anchor_hits.is_empty() {
                return false;
            }
            let mut found = Vec::new();
            for g in &groups {
                let m = g.matches(&tokens);
                if m.is_empty() {
                    return false;
                }
                found.push(m);
            }
            let before: Vec<&str> = before.split(' ').collect();
            if m.unless().is_some_and(|u| {
                let u = Group::new(u);
                !u.matches(&tokens).is_empty() || !u.matches(&before).is_empty()
            }) {
                return false;
            }
            anchor_hits.iter().any(|&(a_start, a_end)| {
                let lowest = a_end.saturating_sub(m.window());
                (lowest..=a_start).any(|from| assign(&found, from, from + m.window(), 0, &mut 0))
            })
        }

        /// Each sentence folded apart and joined.
        pub struct FoldedSentences {
            pub folded: Folded,
            pub ends: Vec<usize>,
        }

        impl FoldedSentences {
            pub fn new(text: &str) -> FoldedSentences {
                let mut out = FoldedSentences {
                    folded: Folded::default(),
                    ends: Vec::new(),
                };
                for sentence in sentences(text) {
                    let before = out.folded.text.len();
                    fold_into(sentence, &mut out.folded);
                    if out.folded.text.len() > before {
                        out.ends.push(out.folded.text.len());
                    }
                }
                out
            }
        }

        pub fn matches(m: &NearMatcher, text: &str) -> bool {
            let all = FoldedSentences::new(text);
            let mut start = 0;
            let mut before = "";
            all.ends.iter().any(|&end| {
                let s = all.folded.text.get(start..end).unwrap_or_default();
                start = end + 1;
                let hit = matches_sentence(m, s, before);
                before = s;
                hit
            })
        }
    }
}
