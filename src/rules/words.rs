//! The word matcher: every word-list entry of every `words` rule in one Aho-Corasick automaton over folded
//! text (see [`super::normalize`]), with the word-boundary check done by hand, plus the per-rule allow lists
//! that drop a hit when the word it sits in is an ordinary word (`kankerbestrijding`, `hoera`).
//!
//! Entry syntax: `kanker` whole word, `kanker*` word start, `*neuker` word end, `*kanker*` anywhere; entries may
//! be phrases of several words (`vuile jood`). Boundaries are the single spaces of the folded text.
//!
//! Compiled once when rules load; matching is pure and allocation-light. Never panics on input.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{AhoCorasick, Anchored, Input, MatchKind, PatternID};

use super::normalize::{collapse_doubles, fold_entry, Folded};

/// How an entry is anchored to word boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The whole word (or phrase) only.
    Whole,
    /// At the start of a word: `kanker*`.
    Prefix,
    /// At the end of a word: `*neuker`.
    Suffix,
    /// Anywhere: `*x*`.
    Infix,
}

/// A list entry after parsing its `*` marks and folding its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The folded text to look for.
    pub folded: String,
    pub mode: Mode,
}

/// Why an entry cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry `{0}` is empty after folding")]
    Empty(String),
    #[error("entry `{0}` has `*` in the middle; only `word*`, `*word` and `*word*` are allowed")]
    InnerStar(String),
    #[error("compound part `{0}` must be one word without `*`")]
    NotOneWord(String),
    #[error(
        "entry `{0}` has `{1}`, which folded text never holds: the entry would match without it (write the \
         words alone)"
    )]
    Punctuation(String, char),
}

/// Marks that folding turns into word breaks: an entry holding one (`doorsturen!!`) would match the bare words
/// (every `doorsturen`), which is never what its author meant.
const DROPPED_MARKS: [char; 7] = ['!', '?', ',', ';', '(', ')', '"'];

/// Parse one list entry: strip and remember its `*` marks, fold the rest.
pub fn parse_entry(raw: &str) -> Result<Entry, EntryError> {
    let t = raw.trim();
    let starts = t.starts_with('*');
    let ends = t.ends_with('*') && t.len() > 1;
    let inner = t.trim_start_matches('*').trim_end_matches('*');
    if inner.contains('*') {
        return Err(EntryError::InnerStar(raw.to_string()));
    }
    if let Some(mark) = inner.chars().find(|c| DROPPED_MARKS.contains(c)) {
        return Err(EntryError::Punctuation(raw.to_string(), mark));
    }
    let folded = fold_entry(inner);
    if folded.is_empty() {
        return Err(EntryError::Empty(raw.to_string()));
    }
    let mode = match (starts, ends) {
        (false, false) => Mode::Whole,
        (false, true) => Mode::Prefix,
        (true, false) => Mode::Suffix,
        (true, true) => Mode::Infix,
    };
    Ok(Entry { folded, mode })
}

/// True when `start..end` of `text` respects the boundaries `mode` asks for.
fn bounded(text: &[u8], start: usize, end: usize, mode: Mode) -> bool {
    let at_start = start == 0 || text.get(start - 1) == Some(&b' ');
    let at_end = end == text.len() || text.get(end) == Some(&b' ');
    match mode {
        Mode::Whole => at_start && at_end,
        Mode::Prefix => at_start,
        Mode::Suffix => at_end,
        Mode::Infix => true,
    }
}

/// Extend `start..end` to the whole words it touches.
fn token_span(text: &[u8], start: usize, end: usize) -> (usize, usize) {
    super::bytes::widen(text, start, end, |c| c == b' ')
}

/// One automaton pattern's owners.
#[derive(Debug, Clone)]
struct Owner {
    /// Index of the rule (in the compiled rule list) this entry belongs to.
    rule: usize,
    mode: Mode,
    /// The pattern is the single-letter variant of an entry with double letters: only stretched text counts.
    needs_stretch: bool,
    /// The pattern is the head of the rule's compound list with this index: it counts only with a tail.
    head: Option<usize>,
}

/// Shortest entry that also gets split variants (`kanker lijer` for `kankerlijer`).
const SPLIT_FROM: usize = 6;

/// Shortest part on either side of a split: `kl ootzak` is not a way anybody writes `klootzak`, and short
/// parts would turn ordinary word pairs into hits.
const SPLIT_PART: usize = 3;

/// Words formed by a head and a tail: `kanker` + `lijer`, `kut` + `marokkanen`. The heads go into the
/// automaton; a head counts only when a tail follows it in the same word or as the next word
/// (`kankerlijer`, `kanker-lijer`, `kanker lijer`). Listing the tails (insult nouns, not every word) keeps
/// `kankeronderzoek` and `kankerend` clean without an allow list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compounds {
    /// Folded heads.
    pub heads: Vec<String>,
    /// Folded tails, sorted and without repeats: looked up by binary search (a head such as `kanker` starts
    /// ordinary words like `kankeronderzoek`, and hashing each rest with SipHash cost more than the search).
    pub tails: Vec<String>,
    /// The tails with a double letter written single (`jood` → `jod`), sorted: a tail in stretched text
    /// (`joooood`, which folds to `jod`) is looked up here, like the words rules' single-letter variants.
    stretched_tails: Vec<String>,
    /// Which lengths (bit `len`, lengths of 63 and more in bit 63) and first bytes the tails have: most rests
    /// of an ordinary word (`onderzoek` after `kanker`) fail one of these two bit tests before any comparison.
    shapes: (u64, [u64; 4]),
}

/// The length bit and first-byte bit of a possible tail (see [`Compounds::shapes`]).
fn tail_shape(tail: &[u8]) -> (u64, usize) {
    (
        1u64 << tail.len().min(63),
        tail.first().map_or(0, |&b| usize::from(b)),
    )
}

impl Compounds {
    /// Parse and fold the two lists; every item must fold to one word.
    pub fn new(heads: &[String], tails: &[String]) -> Result<Compounds, EntryError> {
        let one_word = |w: &String| {
            let f = fold_entry(w);
            if f.is_empty() || f.contains(' ') || w.contains('*') {
                Err(EntryError::NotOneWord(w.clone()))
            } else {
                Ok(f)
            }
        };
        let mut tails: Vec<String> = tails.iter().map(one_word).collect::<Result<_, _>>()?;
        tails.sort_unstable();
        tails.dedup();
        let mut shapes = (0u64, [0u64; 4]);
        for t in &tails {
            let (len, first) = tail_shape(t.as_bytes());
            shapes.0 |= len;
            if let Some(w) = shapes.1.get_mut(first / 64) {
                *w |= 1u64 << (first % 64);
            }
        }
        let mut stretched_tails: Vec<String> = tails
            .iter()
            .map(|t| collapse_doubles(t))
            .filter(|c| tails.binary_search(c).is_err())
            .collect();
        stretched_tails.sort_unstable();
        stretched_tails.dedup();
        Ok(Compounds {
            heads: heads.iter().map(one_word).collect::<Result<_, _>>()?,
            tails,
            stretched_tails,
            shapes,
        })
    }

    /// [`Compounds::tail_end`] in a folded text, where a tail in stretched letters (`kanker joooood`) counts
    /// too.
    pub fn tail_end_in(&self, folded: &Folded, end: usize, ends: &[usize]) -> Option<usize> {
        let text = folded.text.as_bytes();
        let (from, to) = tail_range(text, end, ends)?;
        let tail = text.get(from..to)?;
        if self.is_tail(tail) {
            return Some(to);
        }
        (folded.any_stretched(from, to)
            && self
                .stretched_tails
                .binary_search_by(|t| t.as_bytes().cmp(tail))
                .is_ok())
        .then_some(to)
    }

    /// Where the compound whose head ends at `end` of `text` ends, if a tail follows: the rest of the word,
    /// or (when the head is a whole word) the next word of the same sentence (`ends`: where the sentences
    /// of `text` end, ascending; `kanker; leerlingen` is two clauses, not a compound).
    pub fn tail_end(&self, text: &[u8], end: usize, ends: &[usize]) -> Option<usize> {
        let (from, to) = tail_range(text, end, ends)?;
        self.is_tail(text.get(from..to)?).then_some(to)
    }

    /// Whether `tail` is one of the tails.
    fn is_tail(&self, tail: &[u8]) -> bool {
        let (len, first) = tail_shape(tail);
        let first_known = self
            .shapes
            .1
            .get(first / 64)
            .is_some_and(|w| w & (1u64 << (first % 64)) != 0);
        if self.shapes.0 & len == 0 || !first_known {
            return false;
        }
        // Bytes compare as the strings do (`str`'s order is its bytes' order), without checking UTF-8.
        self.tails
            .binary_search_by(|t| t.as_bytes().cmp(tail))
            .is_ok()
    }
}

/// Where the possible tail after a head ending at `end` of `text` lies: the rest of the word, or (when the head
/// is a whole word) the next word of the same sentence (`ends`: where the sentences end, ascending).
fn tail_range(text: &[u8], end: usize, ends: &[usize]) -> Option<(usize, usize)> {
    // Words are short: a plain loop beats `memchr`'s setup here.
    let word_end = |from: usize| {
        text.get(from..).map_or(from, |r| {
            from + r.iter().position(|c| *c == b' ').unwrap_or(r.len())
        })
    };
    let rest_end = word_end(end);
    if rest_end > end {
        Some((end, rest_end))
    } else if ends.binary_search(&end).is_ok() {
        None
    } else {
        Some((end + 1, word_end(end + 1)))
    }
}

/// True when `start..end` of a folded text runs over one of `ends` (where its sentences end, ascending): a
/// phrase read across `vuile. Jood` or `kanker; leerlingen` is no phrase.
pub fn crosses(ends: &[usize], start: usize, end: usize) -> bool {
    let i = ends.partition_point(|&e| e <= start);
    ends.get(i).is_some_and(|&e| e < end)
}

/// All entries of all `words` rules and all alternatives of the groups of all `near` rules, compiled into
/// one automaton: one pass over a text finds both.
#[derive(Debug, Default)]
pub struct WordMatcher {
    /// `None` when no rule has entries.
    automaton: Option<DFA>,
    /// `owners[pattern id]`: which rules own that pattern, and how.
    owners: Vec<Vec<Owner>>,
    /// `groups[pattern id]`: which near groups (see [`super::near::NearIndex`]) have it as an alternative.
    /// Exact alternatives only (no split or stretched variants), written with the spaces their mode asks
    /// for (` u `, ` schaak`, `foto `), so that the automaton reports only matches at word edges: a group
    /// word as short as `u` or `we` sits inside countless other words.
    groups: Vec<Vec<u32>>,
    /// `pads[pattern id]`: the spaces added before and after a group pattern (0 or 1 each).
    pads: Vec<(usize, usize)>,
}

/// Builds a [`WordMatcher`] from the entries of many rules.
#[derive(Debug, Default)]
pub struct WordMatcherBuilder {
    patterns: Vec<String>,
    owners: Vec<Vec<Owner>>,
    groups: Vec<Vec<u32>>,
    pads: Vec<(usize, usize)>,
    index: std::collections::HashMap<String, usize>,
}

impl WordMatcherBuilder {
    /// Add one entry of rule `rule`, plus its single-letter variant for stretched text and, for a whole
    /// word of [`SPLIT_FROM`] letters or more, the same word split in two by a space (`kanker lijer`: a
    /// space, hyphen or non-breaking space between the parts folds to one space).
    pub fn add(&mut self, rule: usize, entry: &Entry) {
        self.push_owner(rule, entry.folded.clone(), entry.mode, None);
        let f = &entry.folded;
        let splits = entry.mode == Mode::Whole
            && f.len() >= SPLIT_FROM
            && f.bytes().all(|b| b.is_ascii_lowercase());
        if splits {
            for k in SPLIT_PART..=f.len() - SPLIT_PART {
                if let (Some(left), Some(right)) = (f.get(..k), f.get(k..)) {
                    self.push(
                        format!("{left} {right}"),
                        Owner {
                            rule,
                            mode: Mode::Whole,
                            needs_stretch: false,
                            head: None,
                        },
                    );
                }
            }
        }
    }

    /// Add one alternative of near group `group`, exactly as written (a near rule reads word forms itself).
    pub fn add_group(&mut self, group: u32, entry: &Entry) {
        let (lead, trail) = match entry.mode {
            Mode::Whole => (1, 1),
            Mode::Prefix => (1, 0),
            Mode::Suffix => (0, 1),
            Mode::Infix => (0, 0),
        };
        let id = self.id(format!(
            "{}{}{}",
            " ".repeat(lead),
            entry.folded,
            " ".repeat(trail)
        ));
        if let Some(pad) = self.pads.get_mut(id) {
            *pad = (lead, trail);
        }
        if let Some(g) = self.groups.get_mut(id) {
            if !g.contains(&group) {
                g.push(group);
            }
        }
    }

    /// Add the heads of compound list `index` of rule `rule` (see [`Compounds`]).
    pub fn add_heads(&mut self, rule: usize, index: usize, compounds: &Compounds) {
        for h in &compounds.heads {
            self.push_owner(rule, h.clone(), Mode::Prefix, Some(index));
        }
    }

    /// One pattern and its stretched variant.
    fn push_owner(&mut self, rule: usize, folded: String, mode: Mode, head: Option<usize>) {
        let collapsed = collapse_doubles(&folded);
        let stretched = collapsed != folded;
        self.push(
            folded,
            Owner {
                rule,
                mode,
                needs_stretch: false,
                head,
            },
        );
        if stretched {
            self.push(
                collapsed,
                Owner {
                    rule,
                    mode,
                    needs_stretch: true,
                    head,
                },
            );
        }
    }

    fn push(&mut self, pattern: String, owner: Owner) {
        let id = self.id(pattern);
        if let Some(o) = self.owners.get_mut(id) {
            o.push(owner);
        }
    }

    /// The id of `pattern`, added when new.
    fn id(&mut self, pattern: String) -> usize {
        match self.index.get(&pattern) {
            Some(id) => *id,
            None => {
                let id = self.patterns.len();
                self.index.insert(pattern.clone(), id);
                self.patterns.push(pattern);
                self.owners.push(Vec::new());
                self.groups.push(Vec::new());
                self.pads.push((0, 0));
                id
            }
        }
    }

    /// Compile the automaton.
    pub fn build(self) -> Result<WordMatcher, aho_corasick::BuildError> {
        if self.patterns.is_empty() {
            return Ok(WordMatcher::default());
        }
        // A full DFA: one table lookup per byte of text. The crate's default above 100 patterns (an NFA that
        // follows failure links) ran at under half the speed with the default entries. Folded text uses few
        // distinct bytes, so the byte classes keep the table small (a few MB for 5,000 words). No prefilter:
        // with hundreds of patterns it has nothing rare to look for.
        let automaton = DFA::builder()
            .match_kind(MatchKind::Standard)
            .byte_classes(true)
            .prefilter(false)
            .build(&self.patterns)?;
        Ok(WordMatcher {
            automaton: Some(automaton),
            owners: self.owners,
            groups: self.groups,
            pads: self.pads,
        })
    }
}

impl WordMatcher {
    /// Every (rule, start, end, compound head) where an entry matches `folded` within its boundaries. For a
    /// compound head the tail is not checked here (see [`Compounds::tail_end`]), nor are allow lists (see
    /// [`AllowList::covers`]).
    pub fn find(&self, folded: &Folded, on_match: impl FnMut(usize, usize, usize, Option<usize>)) {
        self.find_all(folded, &[], on_match, |_, _, _, _| {});
    }

    /// [`WordMatcher::find`], and also every (piece, pattern, start, end) where an alternative of one or more
    /// near groups ([`WordMatcher::groups_of`] the pattern) matches within its boundaries: once per match,
    /// however many groups share the word. The text is scanned in [`STREAMS`] pieces (see
    /// [`scan_overlapping`]): each piece's group matches come in order of `end`, and the pieces in text order.
    /// `ends`: where the sentences of `folded` end (ascending); an entry's match across one is no match.
    pub fn find_all(
        &self,
        folded: &Folded,
        ends: &[usize],
        mut on_match: impl FnMut(usize, usize, usize, Option<usize>),
        mut on_group: impl FnMut(usize, u32, usize, usize),
    ) {
        let Some(dfa) = &self.automaton else { return };
        let text = folded.text.as_bytes();
        scan_overlapping(dfa, text, true, |stream, pattern, end| {
            let p = pattern.as_usize();
            if let Some((start, end)) = self.group_match(pattern, end) {
                on_group(stream, pattern.as_u32(), start, end);
            }
            let Some(start) = end.checked_sub(dfa.pattern_len(pattern)) else {
                return;
            };
            let Some(owners) = self.owners.get(p) else {
                return;
            };
            if !owners.is_empty() && crosses(ends, start, end) {
                return;
            }
            for o in owners {
                if !bounded(text, start, end, o.mode) {
                    continue;
                }
                if o.needs_stretch && !folded.any_stretched(start, end) {
                    continue;
                }
                on_match(o.rule, start, end, o.head);
            }
        });
    }
}

impl WordMatcher {
    /// Every (group, start, end) where an alternative of a near group matches in `text` (folded) within its
    /// boundaries, in no particular order. For short texts (one sentence); rule entries are not looked at.
    pub fn find_groups(&self, text: &str, mut on_group: impl FnMut(u32, usize, usize)) {
        let Some(dfa) = &self.automaton else { return };
        scan_overlapping(dfa, text.as_bytes(), true, |_, pattern, end| {
            if let Some((start, end)) = self.group_match(pattern, end) {
                for &group in self
                    .groups
                    .get(pattern.as_usize())
                    .map_or(&[][..], Vec::as_slice)
                {
                    on_group(group, start, end);
                }
            }
        });
    }

    /// The near groups pattern `pattern` (as [`WordMatcher::find_all`] reports it) is an alternative of.
    pub fn groups_of(&self, pattern: u32) -> &[u32] {
        self.groups
            .get(pattern as usize)
            .map_or(&[][..], Vec::as_slice)
    }

    /// The text `start..end` a group pattern matched, without its spaces, given where the match ends in the
    /// scan (which reads a space before and after the text); `None` for a pattern of no group.
    fn group_match(&self, pattern: PatternID, end: usize) -> Option<(usize, usize)> {
        let dfa = self.automaton.as_ref()?;
        let p = pattern.as_usize();
        if self.groups.get(p).is_none_or(Vec::is_empty) {
            return None;
        }
        let (lead, trail) = self.pads.get(p).copied().unwrap_or((0, 0));
        let start = (end + lead).checked_sub(dfa.pattern_len(pattern))?;
        Some((start, end.checked_sub(trail)?))
    }
}

/// Texts shorter than this are scanned in one stream.
const STREAMS_FROM: usize = 512;

/// How many pieces a longer text is scanned in, side by side.
pub const STREAMS: usize = 4;

/// Every (piece, pattern, end) where a pattern occurs in `text`, overlapping matches included: in order of
/// `end` within each piece (ties in no particular order), the pieces in text order. With `padded`, the scan
/// reads a space before the text and one after it (a match ending in that last space ends at
/// `text.len() + 1`; none is reported for the first), as if the text were ` text `, without copying it. A DFA step waits for the one before it, so one stream leaves the CPU mostly idle: a longer text is
/// cut in [`STREAMS`] pieces scanned side by side in one loop. Each piece after the first starts
/// `max_pattern_len - 1` bytes before its cut and reports only matches that end after the cut, so every
/// match is reported exactly once.
fn scan_overlapping(
    dfa: &DFA,
    text: &[u8],
    padded: bool,
    mut report: impl FnMut(usize, PatternID, usize),
) {
    let Ok(unanchored) = dfa.start_state(Anchored::No) else {
        return;
    };
    let start = if padded {
        dfa.next_state(Anchored::No, unanchored, b' ')
    } else {
        unanchored
    };
    // Called only for special states (`is_special` is one comparison, kept inline in the loops).
    let mut emit = |stream: usize, sid: StateID, end: usize| {
        if dfa.is_match(sid) {
            for i in 0..dfa.match_len(sid) {
                report(stream, dfa.match_pattern(sid, i), end);
            }
        }
    };
    let overlap = dfa.max_pattern_len().saturating_sub(1);
    let cuts: [usize; STREAMS + 1] = std::array::from_fn(|i| text.len() * i / STREAMS);
    let from: [usize; STREAMS] =
        std::array::from_fn(|i| cuts.get(i).map_or(0, |c| c.saturating_sub(overlap)));
    let ends: [usize; STREAMS] = std::array::from_fn(|i| cuts.get(i + 1).copied().unwrap_or(0));
    if text.len() < STREAMS_FROM || from.get(1) == Some(&0) {
        let mut sid = start;
        for (k, &b) in text.iter().enumerate() {
            sid = dfa.next_state(Anchored::No, sid, b);
            if dfa.is_special(sid) {
                emit(0, sid, k + 1);
            }
        }
        if padded {
            sid = dfa.next_state(Anchored::No, sid, b' ');
            if dfa.is_special(sid) {
                emit(0, sid, text.len() + 1);
            }
        }
        return;
    }
    // All pieces side by side for as long as the shortest, then each to its end. The shortest is at least
    // the first piece, which is longer than the overlap (checked above), so every tail lies after its cut.
    let common = (0..STREAMS).map(|i| ends[i] - from[i]).min().unwrap_or(0);
    let [p0, p1, p2, p3]: [&[u8]; STREAMS] =
        std::array::from_fn(|i| text.get(from[i]..from[i] + common).unwrap_or_default());
    // Only the first piece starts at the start of the text; the others start inside it.
    let mut sids = [unanchored; STREAMS];
    sids[0] = start;
    // The pieces zipped, so that no byte is bounds-checked; where a match ends is worked out only for a
    // special state.
    let zipped = p0.iter().zip(p1).zip(p2).zip(p3);
    for (k, (((&b0, &b1), &b2), &b3)) in zipped.enumerate() {
        let bytes = [b0, b1, b2, b3];
        for i in 0..STREAMS {
            sids[i] = dfa.next_state(Anchored::No, sids[i], bytes[i]);
            if dfa.is_special(sids[i]) {
                let end = from[i] + k + 1;
                if end > cuts[i] {
                    emit(i, sids[i], end);
                }
            }
        }
    }
    for i in 0..STREAMS {
        let mut sid = sids[i];
        for (at, &b) in text
            .get(from[i] + common..ends[i])
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            sid = dfa.next_state(Anchored::No, sid, b);
            if dfa.is_special(sid) {
                emit(i, sid, from[i] + common + at + 1);
            }
        }
        if padded && i == STREAMS - 1 {
            sid = dfa.next_state(Anchored::No, sid, b' ');
            if dfa.is_special(sid) {
                emit(i, sid, text.len() + 1);
            }
        }
    }
}

/// A rule's allow list: words and phrases in which a hit does not count.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    entries: Vec<Entry>,
    /// All entries in one automaton (pattern `i` is `entries[i]`): a hit's surroundings are searched once,
    /// not once per entry. `None` for an empty list.
    automaton: Option<AhoCorasick>,
    /// Length of the longest entry, which bounds how far from a hit a covering match can start.
    longest: usize,
}

impl AllowList {
    /// Build from parsed entries.
    pub fn new(entries: Vec<Entry>) -> Result<AllowList, aho_corasick::BuildError> {
        if entries.is_empty() {
            return Ok(AllowList::default());
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(entries.iter().map(|e| &e.folded))?;
        let longest = entries.iter().map(|e| e.folded.len()).max().unwrap_or(0);
        Ok(AllowList {
            entries,
            automaton: Some(automaton),
            longest,
        })
    }

    /// True when an allow entry matches around `start..end` and the words it covers contain the hit.
    pub fn covers(&self, folded: &Folded, start: usize, end: usize) -> bool {
        let Some(automaton) = &self.automaton else {
            return false;
        };
        let text = folded.text.as_bytes();
        // A match that covers the hit lies in the hit's own words, or reaches into them from outside; then
        // it starts at most the longest entry and a space before those words and ends as far after them.
        let (ts, te) = token_span(text, start, end);
        let lo = ts.saturating_sub(self.longest + 1);
        let hi = (te + self.longest + 1).min(text.len());
        let window = Input::new(text).range(lo..hi);
        automaton.find_overlapping_iter(window).any(|m| {
            let Some(entry) = self.entries.get(m.pattern().as_usize()) else {
                return false;
            };
            let (as_, ae) = token_span(text, m.start(), m.end());
            bounded(text, m.start(), m.end(), entry.mode) && as_ <= start && end <= ae
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalize::fold;
    use super::*;

    fn matcher(entries: &[&str]) -> WordMatcher {
        let mut b = WordMatcherBuilder::default();
        for e in entries {
            b.add(0, &parse_entry(e).unwrap());
        }
        b.build().unwrap()
    }

    fn hits(m: &WordMatcher, allow: &AllowList, text: &str) -> usize {
        let f = fold(text);
        let mut n = 0;
        m.find(&f, |_, s, e, _| {
            if !allow.covers(&f, s, e) {
                n += 1;
            }
        });
        n
    }

    #[test]
    fn entry_modes() {
        let cases: &[(&str, Mode, &str)] = &[
            ("kanker", Mode::Whole, "kanker"),
            ("Kanker*", Mode::Prefix, "kanker"),
            ("*neuker", Mode::Suffix, "neuker"),
            ("*x*", Mode::Infix, "x"),
            ("vuile  Jood", Mode::Whole, "vuile jood"),
        ];
        for (raw, mode, folded) in cases {
            let e = parse_entry(raw).unwrap();
            assert_eq!((e.mode, e.folded.as_str()), (*mode, *folded), "{raw}");
        }
        assert!(matches!(
            parse_entry("ka*nker"),
            Err(EntryError::InnerStar(_))
        ));
        assert!(matches!(parse_entry("**"), Err(EntryError::Empty(_))));
        assert!(matches!(
            parse_entry("!!"),
            Err(EntryError::Punctuation(_, '!'))
        ));
        // `doorsturen!!` would match every `doorsturen`: its author meant the marks.
        assert!(matches!(
            parse_entry("doorsturen!!"),
            Err(EntryError::Punctuation(_, '!'))
        ));
        assert!(matches!(
            parse_entry("spreken, zonder"),
            Err(EntryError::Punctuation(_, ','))
        ));
        // Apostrophes, hyphens and dots inside words are written as they are read.
        for raw in ["zo'n", "ja-knikker", "foto's", "o.a."] {
            assert!(parse_entry(raw).is_ok(), "{raw}");
        }
    }

    #[test]
    fn boundaries_and_allow() {
        let m = matcher(&["kanker*", "hoer", "*neuker", "vuile jood", "klootzak"]);
        let allow = AllowList::new(vec![
            parse_entry("kankerbestrijding*").unwrap(),
            parse_entry("kankeronderzoek").unwrap(),
        ])
        .unwrap();
        let none = AllowList::default();
        let cases: &[(&str, usize)] = &[
            ("jij kankerlijer", 1),
            ("KWF Kankerbestrijding", 0),
            ("het kankerbestrijdingsfonds", 0),
            ("kankeronderzoek en kankerhoer", 1),
            ("hoera", 0),
            ("vuile hoer", 1),
            ("moederneuker", 1),
            ("neukers", 0),
            ("een vuile jood", 1),
            ("vuile joden", 0),
            ("klooooootzak", 1),
            ("klootzak", 1),
        ];
        for (text, want) in cases {
            assert_eq!(hits(&m, &allow, text), *want, "{text}");
        }
        assert_eq!(hits(&m, &none, "KWF Kankerbestrijding"), 1);
    }

    /// Whether an allow entry covers `start..end`, searched entry by entry over the whole text: the
    /// specification [`AllowList::covers`] must meet with its one automaton over a window.
    fn covers_by_entry(entries: &[Entry], folded: &Folded, start: usize, end: usize) -> bool {
        let text = folded.text.as_bytes();
        entries.iter().any(|e| {
            let pat = e.folded.as_bytes();
            (0..text.len()).any(|s| {
                text.get(s..s + pat.len()) == Some(pat) && {
                    let (as_, ae) = token_span(text, s, s + pat.len());
                    bounded(text, s, s + pat.len(), e.mode) && as_ <= start && end <= ae
                }
            })
        })
    }

    proptest::proptest! {
        /// The allow list answers as a search of every entry over the whole text would, for every
        /// possible hit position, with entries of all four modes and overlapping each other.
        #[test]
        fn allow_window_is_exact(
            raw in proptest::collection::vec("\\*?[ab]{1,2}( [ab]{1,2})?\\*?", 1..6),
            text in "[ab ]{0,40}",
        ) {
            let entries: Vec<Entry> = raw.iter().filter_map(|r| parse_entry(r).ok()).collect();
            let allow = AllowList::new(entries.clone()).unwrap();
            let folded = fold(&text);
            let len = folded.text.len();
            for start in 0..len {
                for end in start + 1..=len {
                    proptest::prop_assert_eq!(
                        allow.covers(&folded, start, end),
                        covers_by_entry(&entries, &folded, start, end),
                        "hit {}..{} in {:?}", start, end, folded.text
                    );
                }
            }
        }

        /// The scan in pieces reports exactly what the crate's own overlapping search reports, on texts
        /// short enough for one stream and long enough for all, with matches across the cuts, and with the
        /// spaces read around the text.
        #[test]
        fn streams_find_every_match_once(
            patterns in proptest::collection::vec("[ab ]{1,6}", 1..12),
            text in "[abc ]{0,1500}",
            padded in proptest::bool::ANY,
        ) {
            let dfa = DFA::builder().match_kind(MatchKind::Standard).build(&patterns).unwrap();
            let mut got = Vec::new();
            let mut order = Vec::new();
            scan_overlapping(&dfa, text.as_bytes(), padded, |stream, p, end| {
                order.push((stream, end));
                got.push((p.as_usize(), end));
            });
            // Each piece in order of end, the pieces in text order.
            let mut by_piece = vec![Vec::new(); STREAMS];
            for (stream, end) in order {
                by_piece[stream].push(end);
            }
            let flat: Vec<usize> = by_piece.concat();
            proptest::prop_assert!(flat.windows(2).all(|w| w[0] <= w[1]), "{:?}", by_piece);
            // Padded: as a search of ` text `, less a match ending in the first space.
            let ac = aho_corasick::AhoCorasick::new(&patterns).unwrap();
            let (haystack, shift) = if padded { (format!(" {text} "), 1) } else { (text.clone(), 0) };
            let mut want: Vec<(usize, usize)> = ac
                .find_overlapping_iter(&haystack)
                .filter(|m| m.end() > shift)
                .map(|m| (m.pattern().as_usize(), m.end() - shift))
                .collect();
            got.sort_unstable();
            want.sort_unstable();
            proptest::prop_assert_eq!(got, want);
        }
    }

    proptest::proptest! {
        /// The tail lookup (length and first-byte bits, then a binary search over bytes) answers as a plain search of the
        /// tail list does, for rests that are tails, prefixes and extensions of tails, and other words.
        #[test]
        fn tail_end_is_a_search_of_the_tails(
            tails in proptest::collection::vec("[a-e]{1,5}", 1..40),
            words in proptest::collection::vec("[a-e]{0,6}", 1..6),
        ) {
            let compounds = Compounds::new(&["kop".to_string()], &tails).unwrap();
            let text = format!("kop{}", words.join(" "));
            let bytes = text.as_bytes();
            // The rest of the head's word, or the next word when the head is a whole word.
            let rest = words.first().cloned().unwrap_or_default();
            let (tail, to) = if rest.is_empty() {
                let next = words.get(1).cloned().unwrap_or_default();
                (next.clone(), 4 + next.len())
            } else {
                (rest.clone(), 3 + rest.len())
            };
            let want = compounds.tails.contains(&tail).then_some(to);
            proptest::prop_assert_eq!(compounds.tail_end(bytes, 3, &[]), want, "{:?}", text);
        }
    }

    /// A tail in stretched letters counts as the tail (`kanker joooood` folds to `kanker jod`); the same letters
    /// written plainly, or a tail whose double letter is written single on purpose, do not.
    #[test]
    fn a_stretched_tail_counts() {
        let compounds = Compounds::new(
            &["kanker".to_string(), "klote".to_string()],
            &["jood".to_string(), "zakken".to_string()],
        )
        .unwrap();
        let tail = |text: &str| {
            let f = fold(text);
            compounds.tail_end_in(&f, "kanker".len().min(f.text.len()), &[])
        };
        assert!(tail("kanker joooood").is_some());
        assert!(tail("kanker jood").is_some());
        assert_eq!(tail("kanker jod"), None);
        let f = fold("klote zaken");
        assert_eq!(compounds.tail_end_in(&f, "klote".len(), &[]), None);
        let f = fold("klote zaaaaken");
        assert!(compounds.tail_end_in(&f, "klote".len(), &[]).is_some());
    }

    /// A clause end between a compound's head and tail, or inside a phrase, breaks it: `kanker; leerlingen`
    /// is a subject and what follows, not an insult.
    #[test]
    fn clause_ends_break_compounds_and_phrases() {
        use super::super::near::FoldedSentences;
        let tails = ["leerlingen".to_string(), "lijer".to_string()];
        let compounds = Compounds::new(&["kanker".to_string()], &tails).unwrap();
        let mut b = WordMatcherBuilder::default();
        b.add_heads(0, 0, &compounds);
        b.add(1, &parse_entry("vuile jood").unwrap());
        let m = b.build().unwrap();
        let hits = |text: &str| {
            let s = FoldedSentences::new(text);
            let mut n = 0;
            m.find_all(
                &s.folded,
                s.ends(),
                |_, _, end, head| {
                    let whole = match head {
                        None => Some(end),
                        Some(_) => compounds.tail_end(s.folded.text.as_bytes(), end, s.ends()),
                    };
                    n += usize::from(whole.is_some());
                },
                |_, _, _, _| {},
            );
            n
        };
        let cases: &[(&str, usize)] = &[
            ("Onderwerp: kanker; leerlingen die ziek zijn", 0),
            ("kanker. Leerlingen mogen vragen stellen", 0),
            ("kanker! lijer", 0),
            ("Kanker?\nLijer", 0),
            ("jij kanker leerlingen", 1),
            ("kankerleerlingen", 1),
            ("kanker-lijer", 1),
            ("kanker lijer; ga weg", 1),
            ("een vuile jood", 1),
            ("een vuile. Jood", 0),
            ("een vuile;\njood", 0),
        ];
        for (text, want) in cases {
            assert_eq!(hits(text), *want, "{text:?}");
        }
    }

    #[test]
    fn stretched_variant_needs_stretch() {
        let m = matcher(&["faggot"]);
        let none = AllowList::default();
        assert_eq!(hits(&m, &none, "de fagot speelt"), 0);
        assert_eq!(hits(&m, &none, "faggggot"), 1);
        assert_eq!(hits(&m, &none, "faggot"), 1);
    }
}
