//! The `near` rule kind: word combinations in free order within a window of words, in one sentence.
//!
//! Fixed phrases miss normal Dutch: inversion after a subordinate clause (`…, dan steek ik je neer`), an extra
//! word (`ik sla je helemaal verrot`), a plural or another verb form. A `near` rule names groups of words
//! instead, each word with its forms (`steek|steken|gestoken`); it hits when one word of every group occurs
//! within `window` words of each other, in any order, inside one sentence. An optional `unless` group
//! cancels the hit when one of its words is anywhere in that sentence: context words (`les`, `game`,
//! `geadresseerde`) seldom sit right beside the words they excuse (`bent u niet de juiste geadresseerde,
//! verwijder dit bericht dan en informeer de afzender`).
//!
//! Alternatives use the word-list syntax of [`super::words`]: `word`, `word*` (word start), `*word` (word end),
//! `*word*`, and phrases (`in elkaar`). Text and alternatives are folded the same way ([`super::normalize`]).
//!
//! Speed: the group whose shortest alternative is longest is the *anchor*. Its alternatives go into the one
//! automaton of all word lists, which runs over the text folded sentence by sentence ([`FoldedSentences`]),
//! so each anchor hit names its sentence and only those sentences are checked in full; a text without an
//! anchor costs nothing extra, and the text is folded once, not once more for the near rules. The anchor
//! choice changes the speed, never the result (a property test checks this against every choice).
//!
//! Pure, never panics, no allocation unless an anchor was found.

use std::collections::HashSet;

use super::bytes::span;
use super::normalize::{fold_into, Folded};
use super::words::{parse_entry, Entry, EntryError, Mode};

/// One alternative of a group, as tokens of folded text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Alternative {
    tokens: Vec<String>,
    mode: Mode,
}

impl Alternative {
    /// The end (exclusive) of a match starting at token `i`, if this alternative matches there.
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
                // Only the outer ends of an alternative may be open.
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

/// The alternatives of one group.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Single whole words, looked up directly.
    whole: HashSet<String>,
    /// Everything else: prefixes, suffixes, phrases.
    others: Vec<Alternative>,
    /// The parsed entries, for the anchor automaton.
    entries: Vec<Entry>,
}

impl Group {
    /// Parse a group: each item is `alt|alt|…`.
    pub fn parse(items: &[String]) -> Result<Group, EntryError> {
        let mut g = Group::default();
        for item in items {
            for alt in item.split('|') {
                let entry = parse_entry(alt)?;
                let tokens: Vec<String> = entry.folded.split(' ').map(str::to_owned).collect();
                if tokens.len() == 1 && entry.mode == Mode::Whole {
                    g.whole.insert(entry.folded.clone());
                } else {
                    g.others.push(Alternative {
                        tokens,
                        mode: entry.mode,
                    });
                }
                g.entries.push(entry);
            }
        }
        if g.entries.is_empty() {
            return Err(EntryError::Empty(items.join(", ")));
        }
        Ok(g)
    }

    /// The token ranges of `tokens` where an alternative matches, in order of start.
    fn matches(&self, tokens: &[&str]) -> Vec<(usize, usize)> {
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

    /// The length of the shortest alternative (folded bytes): a longer one is rarer in text.
    fn shortest(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.folded.len())
            .min()
            .unwrap_or(0)
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
    anchor: usize,
}

impl NearMatcher {
    /// Compile from parsed groups; `window` is in words (≥ the number of groups).
    pub fn new(groups: Vec<Group>, unless: Option<Group>, window: usize) -> NearMatcher {
        let anchor = groups
            .iter()
            .enumerate()
            .max_by_key(|(i, g)| (g.shortest(), std::cmp::Reverse(*i)))
            .map_or(0, |(i, _)| i);
        NearMatcher {
            groups,
            unless,
            window,
            anchor,
        }
    }

    /// The group whose words go into the shared automaton.
    pub fn anchor(&self) -> &Group {
        self.groups.get(self.anchor).unwrap_or(&EMPTY_GROUP)
    }

    /// True when `text` (decoded, not folded) holds the combination in one sentence.
    pub fn matches(&self, text: &str) -> bool {
        FoldedSentences::new(text)
            .iter()
            .any(|s| self.matches_sentence(s))
    }

    /// True when one folded sentence holds the combination within the window.
    pub fn matches_sentence(&self, folded: &str) -> bool {
        if folded.is_empty() {
            return false;
        }
        let tokens: Vec<&str> = folded.split(' ').collect();
        // The anchor first: most sentences of a text with an anchor somewhere do not have it.
        let Some(anchor) = self.groups.get(self.anchor) else {
            return false;
        };
        let anchor_hits = anchor.matches(&tokens);
        if anchor_hits.is_empty() {
            return false;
        }
        let mut found: Vec<Vec<(usize, usize)>> = Vec::with_capacity(self.groups.len());
        for (i, g) in self.groups.iter().enumerate() {
            let m = if i == self.anchor {
                anchor_hits.clone()
            } else {
                g.matches(&tokens)
            };
            if m.is_empty() {
                return false;
            }
            found.push(m);
        }
        if self
            .unless
            .as_ref()
            .is_some_and(|u| !u.matches(&tokens).is_empty())
        {
            return false;
        }
        // Every window of `window` tokens that holds an anchor match.
        anchor_hits.iter().any(|&(a_start, a_end)| {
            let lowest = a_end.saturating_sub(self.window);
            (lowest..=a_start).any(|from| assign(&found, from, from + self.window, 0))
        })
    }
}

/// Whether every group from the first has a match inside `from..to`, no two sharing a token (`used`: the
/// tokens taken so far, bit `k` for token `from + k`; a window is at most 50 tokens).
fn assign(found: &[Vec<(usize, usize)>], from: usize, to: usize, used: u64) -> bool {
    let Some((first, rest)) = found.split_first() else {
        return true;
    };
    first.iter().any(|&(s, e)| {
        if s < from || e > to {
            return false;
        }
        let bits = (s - from..e - from).fold(0u64, |m, k| m | (1u64 << k.min(63)));
        used & bits == 0 && assign(rest, from, to, used | bits)
    })
}

static EMPTY_GROUP: std::sync::LazyLock<Group> = std::sync::LazyLock::new(Group::default);

/// A text folded sentence by sentence into one [`Folded`], with the end of each sentence in it: the word scan
/// runs over [`FoldedSentences::folded`] as over any folded text, and a near rule whose anchor is found at
/// some offset is then checked on that one sentence only ([`FoldedSentences::sentence_at`]).
#[derive(Debug, Default)]
pub struct FoldedSentences {
    /// The whole text, each sentence folded on its own (see [`super::normalize::fold_into`]).
    pub folded: Folded,
    /// Where each non-empty sentence ends in `folded.text` (ascending); the next one starts a space later.
    ends: Vec<usize>,
}

impl FoldedSentences {
    /// Fold `text` (decoded) sentence by sentence; empty sentences leave no trace.
    pub fn new(text: &str) -> FoldedSentences {
        let mut out = FoldedSentences {
            folded: Folded::with_capacity(text.len()),
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

    /// The index of the sentence holding byte `offset` of the folded text.
    pub fn index_at(&self, offset: usize) -> usize {
        self.ends.partition_point(|&end| end <= offset)
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

/// The sentences of a text: ended by `.`, `!`, `?` or `;` before white space (or the end), by an empty
/// line, or by a line break before a capital. A dot inside a word (`k.a.n.k.e.r`, `3.5`, `o.a`) does not end one; a single line break does not
/// either (plain-text mail wraps lines).
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            // Most bytes cannot end a sentence: skip them a block at a time.
            i += span(bytes.get(i..).unwrap_or_default(), |b| {
                !matches!(b, b'.' | b'!' | b'?' | b';' | b'\n')
            });
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
    use super::*;

    fn group(items: &[&str]) -> Group {
        Group::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    /// Every text gives the wanted answer.
    fn expect(m: &NearMatcher, cases: &[(&str, bool)]) {
        for (text, want) in cases {
            assert_eq!(m.matches(text), *want, "{text:?}");
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
            // Too far apart, or in two sentences.
            (
                "Ik steek morgen de vlag uit op het dak van het huis van je opa neer",
                false,
            ),
            ("Ik sla je boek open. Dood spoor.", false),
            ("Ik sla je\n\nverrot", false),
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
        ];
        for text in texts {
            let all = FoldedSentences::new(text);
            let got: Vec<&str> = all.iter().collect();
            let want: Vec<String> = sentences(text)
                .map(|s| super::super::normalize::fold(s).text)
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

    /// A naive search over every combination of matches, the specification `matches_sentence` meets.
    fn naive(groups: &[Group], unless: Option<&Group>, window: usize, folded: &str) -> bool {
        let tokens: Vec<&str> = folded.split(' ').filter(|t| !t.is_empty()).collect();
        let found: Vec<Vec<(usize, usize)>> = groups.iter().map(|g| g.matches(&tokens)).collect();
        let un = unless.map(|u| u.matches(&tokens)).unwrap_or_default();
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

    proptest::proptest! {
        /// Whatever group is the anchor, the answer is the naive one.
        #[test]
        fn anchor_choice_never_changes_the_answer(
            text in "((a|b|c|ab|ba|x) ){0,14}",
            window in 2usize..6,
        ) {
            let groups = vec![group(&["a|ab"]), group(&["b*"]), group(&["c|x b"])];
            let unless = group(&["ba"]);
            let want = naive(&groups, Some(&unless), window, text.trim());
            for anchor in 0..groups.len() {
                let mut m = NearMatcher::new(groups.clone(), Some(unless.clone()), window);
                m.anchor = anchor;
                proptest::prop_assert_eq!(m.matches_sentence(text.trim()), want, "anchor {}", anchor);
            }
        }
    }
}
