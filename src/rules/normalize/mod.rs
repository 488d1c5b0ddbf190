//! Text folding: turn decoded mail text into one canonical form, so that a word list written once catches the
//! usual evasions (accents, capitals, leetspeak, s p a c e d letters, stretched letters, invisible characters).
//!
//! The folded form is what [`super::words`] matches against: lowercase, tokens of letters and digits separated by
//! exactly one ASCII space, no leading or trailing space. The same function folds the word lists themselves,
//! so a list entry and the text it must catch always meet in the same form.
//!
//! Choices (documented in the README's rule-file section):
//! - Unicode NFKD, combining marks dropped (`é`→`e`, `ï`→`i`, full-width and ligatures to ASCII), lowercase;
//!   soft hyphens, zero-width and bidi control characters removed; a few Cyrillic/Greek look-alike letters
//!   mapped to their Latin twin (a Greek capital to the capital it looks like: `ΜΟΝGΟΟL`), Latin letters with
//!   a hook or stroke (`ƙ`, `ł`, `ø`) to the plain letter, and letters in black circles or squares and regional
//!   indicators (`🅺🅰🅽`) to the letter they show.
//! - Letters written one at a time with 1–2 separators in between (`k a n k e r`, `k.a.n.k.e.r`,
//!   `k-a-n-k-e-r`, `k_a_n_k_e_r`, `k*a*n*k*e*r`, `k🎓a🎓n🎓k🎓e🎓r`: any symbol outside ASCII) are joined when at least three such letters follow each other.
//!   Where the gap between two of them holds white space unlike the chain's usual gap, a word ends, when every
//!   word so made has three letters or more or is a short word (`je`, `na`): `v.i.e.z.e k.u.t` is `vieze kut`,
//!   `d o m  w i j f` (two spaces between words) is `dom wijf`, and `k.u.t.w.i j.f` stays `kutwijf`.
//! - Leetspeak is mapped only inside tokens that contain a letter (so plain numbers stay numbers):
//!   `@`/`4`→a, `3`/`€`→e, `1`/`!`/`|`→i, `0`→o, `5`/`$`→s, `7`→t, `6`/`9`→g, and `8`→`acht` (`8erlijk`, `w8`). `1` is read as `i`, not `l`: in the
//!   words that matter here (`k1kker`, `n1kker`, `t1ef`) the `i` reading is far more common. A `!` or `|` at
//!   the start or end of a token is punctuation, not a letter.
//! - Runs of three or more identical letters are collapsed to one letter and the result is marked as
//!   *stretched* (`kaaaanker`→`kanker`). Runs of two are left alone (Dutch spells `oo`, `ee`, `kk` on
//!   purpose); a list entry with a double letter also gets a single-letter variant that only matches stretched
//!   text, so `klooootzak` is caught while the bassoon (`fagot`) is not taken for `faggot`.
//!
//! How: one cleaning pass into a `String` (ASCII runs copied and lowercased in bulk; only non-ASCII characters
//! go through NFKD), a join pass that copies nothing unless it finds letters written one at a time, and one
//! pass that splits tokens and writes the folded text (a token of plain lowercase letters is copied whole).
//! Stretch marks are kept as byte ranges, not as a flag per byte. The old three-pass version over `Vec<char>`
//! is kept, test-only, in `reference.rs` as the specification the differential tests compare against.
//!
//! Pure, no I/O, never panics.

use std::borrow::Cow;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use super::bytes::span;

#[cfg(test)]
mod reference;

/// Text in folded form, with the byte ranges of the letters that came from a collapsed run of ≥3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// Tokens separated by single spaces; no leading/trailing space.
    pub text: String,
    /// Byte ranges of `text` holding a letter collapsed from a run of ≥3 identical letters; ascending and
    /// disjoint (they are pushed as the text grows). Rare, so a short list rather than a flag per byte.
    stretched: Vec<(usize, usize)>,
}

impl Folded {
    /// An empty folded text with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Folded {
        Folded {
            text: String::with_capacity(capacity),
            stretched: Vec::new(),
        }
    }

    /// True when any byte in `start..end` comes from a stretched run.
    pub fn any_stretched(&self, start: usize, end: usize) -> bool {
        let first_after = self.stretched.partition_point(|&(_, e)| e <= start);
        start < end
            && self
                .stretched
                .get(first_after)
                .is_some_and(|&(s, _)| s < end)
    }

    /// Push a letter or digit, collapsing a third (and further) identical letter in a row into the first one.
    fn push_collapsing(&mut self, ch: char) {
        if ch.is_alphabetic() {
            let (last, before) = last_two(&self.text, ch);
            if last && before {
                // Third of a run: drop the second, mark the first as stretched, skip this one.
                let w = ch.len_utf8();
                self.text.truncate(self.text.len() - w);
                let end = self.text.len();
                self.stretched.push((end - w, end));
                return;
            }
            if last && self.last_is_stretched() {
                // Further letters of an already collapsed run.
                return;
            }
        }
        self.text.push(ch);
    }

    /// Append plain words (ASCII letters, no run of three, single spaces between, maybe single punctuation
    /// marks at word edges), lowercased and without the marks, after a space.
    fn push_verbatim(&mut self, words: &str) {
        if words.is_empty() {
            return;
        }
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        let at = self.text.len();
        // Copy the pieces between punctuation marks (most stretches have none).
        let mut rest = words;
        while !rest.is_empty() {
            let piece = span(rest.as_bytes(), |b| b == b' ' || b.is_ascii_alphabetic());
            self.text.push_str(rest.get(..piece).unwrap_or_default());
            rest = rest.get(piece + 1..).unwrap_or_default();
        }
        if let Some(pushed) = self.text.get_mut(at..) {
            pushed.make_ascii_lowercase();
        }
    }

    fn last_is_stretched(&self) -> bool {
        self.stretched
            .last()
            .is_some_and(|&(_, e)| e == self.text.len())
    }
}

/// Fold `input` for matching.
///
/// Most of any mail is plain words: ASCII letters, maybe with punctuation around them, between ASCII
/// whitespace. Such a word folds on its own (to its lowercase letters), whatever stands around it: it holds
/// no letter written alone, so no spaced-letter chain can start in it, run through it or end in it, and the
/// whitespace keeps its letters apart from any run of the next token. Plain words are copied straight to the
/// output — a stretch of them separated by single spaces in one copy, since that stretch is its own folded
/// form. A word with digits or a stretched letter (`2024`, `0612345678`, `kaaanker`) also folds on its own
/// ([`word_at`]) and skips the cleaning and joining; everything else goes through the general steps
/// ([`fold_general`]).
pub fn fold(input: &str) -> Folded {
    let mut folded = Folded::with_capacity(input.len());
    fold_into(input, &mut folded);
    folded
}

/// Fold `input` onto the end of `folded`, one space apart from what is there: the result is what folding
/// the two texts apart and joining them with a space gives (nothing joins or collapses across the seam; a
/// test checks this).
pub fn fold_into(input: &str, folded: &mut Folded) {
    fold_cut(input, folded, &mut Cuts::default());
}

/// Fold `input` onto the end of `folded` as if each piece between two of `seams` (ascending byte offsets of
/// `input`, each at a token edge: after punctuation before white space, or after a line break) were folded
/// on its own and the pieces joined with single spaces, the way [`fold_into`] piece by piece would; push onto
/// `ends` where each non-empty piece ends in `folded.text`. One pass over the text: plain words fold on
/// their own whatever stands around them, so only the general steps (which join letters written one at a
/// time) are cut at the seams, and a seam inside a stretch of plain words is placed by counting the
/// punctuation marks the stretch drops. A test compares this with folding piece by piece.
pub fn fold_seamed(input: &str, seams: &[usize], folded: &mut Folded, ends: &mut Vec<usize>) {
    let mut cuts = Cuts {
        seams,
        ends: Some(ends),
    };
    fold_cut(input, folded, &mut cuts);
    cuts.record(folded.text.len());
}

/// The seams of [`fold_seamed`] not yet passed, and where the pieces end (`None`: not wanted).
#[derive(Default)]
struct Cuts<'a> {
    seams: &'a [usize],
    ends: Option<&'a mut Vec<usize>>,
}

impl Cuts<'_> {
    /// A piece ends here (at this length of the folded text): noted when it added text.
    fn record(&mut self, at: usize) {
        if let Some(ends) = self.ends.as_deref_mut() {
            if at > ends.last().copied().unwrap_or(0) {
                ends.push(at);
            }
        }
    }

    /// Every seam at or before `raw` is passed: all of the input before it is in `folded`.
    fn pass_to(&mut self, raw: usize, folded: &Folded) {
        while let Some((&seam, rest)) = self.seams.split_first() {
            if seam > raw {
                break;
            }
            self.record(folded.text.len());
            self.seams = rest;
        }
    }

    /// Write the stretch of plain words `input[copy.0..copy.1]`, placing the seams inside it: a seam stands
    /// right after a punctuation mark, which the stretch drops ([`Folded::push_verbatim`], piece by piece).
    fn push_verbatim(&mut self, input: &str, copy: (usize, usize), folded: &mut Folded) {
        let words = input.get(copy.0..copy.1).unwrap_or_default();
        if words.is_empty() {
            return;
        }
        self.pass_to(copy.0, folded);
        if self.seams.first().is_none_or(|&s| s >= copy.1) {
            folded.push_verbatim(words);
            return;
        }
        if !folded.text.is_empty() {
            folded.text.push(' ');
        }
        let at = folded.text.len();
        let mut rest = words;
        let mut raw = copy.0;
        while !rest.is_empty() {
            let piece = span(rest.as_bytes(), |b| b == b' ' || b.is_ascii_alphabetic());
            folded.text.push_str(rest.get(..piece).unwrap_or_default());
            raw += piece + 1;
            while let Some((&seam, later)) = self.seams.split_first() {
                if seam > raw || seam >= copy.1 {
                    break;
                }
                self.record(folded.text.len());
                self.seams = later;
            }
            rest = rest.get(piece + 1..).unwrap_or_default();
        }
        if let Some(pushed) = folded.text.get_mut(at..) {
            pushed.make_ascii_lowercase();
        }
    }

    /// The general steps over `input[from..to]`, cut at the seams inside it.
    fn fold_general(
        &mut self,
        input: &str,
        (mut from, to): (usize, usize),
        folded: &mut Folded,
        scratch: &mut String,
    ) {
        self.pass_to(from, folded);
        while let Some((&seam, rest)) = self.seams.split_first() {
            if seam >= to {
                break;
            }
            fold_general(input.get(from..seam).unwrap_or_default(), folded, scratch);
            self.record(folded.text.len());
            from = seam;
            self.seams = rest;
        }
        fold_general(input.get(from..to).unwrap_or_default(), folded, scratch);
    }
}

/// [`fold_into`], cut at the seams of `cuts`.
fn fold_cut(input: &str, folded: &mut Folded, cuts: &mut Cuts<'_>) {
    let bytes = input.as_bytes();
    let mut scratch = String::new();
    // `input[copy.0..copy.1]`: plain words without punctuation, single spaces between them, not yet written.
    let mut copy = (0, 0);
    // `input[pending..]` is not folded yet beyond `copy`; `general` says it holds a token that is not plain.
    let mut pending = 0;
    let mut general = false;
    // Blocks are not tried again before this offset: one just failed there.
    let mut blocks_from = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if is_ascii_space(b) {
            i += 1;
            continue;
        }
        if !general && i >= blocks_from {
            let (end, retry_from) = verbatim_blocks(bytes, i);
            blocks_from = retry_from;
            if end > i {
                extend_copy(&mut copy, i, end, input, folded, cuts);
                i = end;
                pending = i;
                continue;
            }
        }
        let Some(word) = word_at(bytes, i) else {
            // Not a word: skip to the end of the token; it is folded with its neighbours by the general steps.
            i += span(bytes.get(i..).unwrap_or_default(), |b| !is_ascii_space(b));
            general = true;
            continue;
        };
        if general {
            cuts.push_verbatim(input, copy, folded);
            cuts.fold_general(input, (pending, word.start), folded, &mut scratch);
            copy = (word.letters.start, word.letters.start);
            general = false;
        }
        if !word.plain {
            cuts.push_verbatim(input, copy, folded);
            copy = (word.end, word.end);
            cuts.pass_to(word.start, folded);
            push_word(
                folded,
                input.get(word.letters).unwrap_or_default(),
                &mut scratch,
            );
            i = word.end;
            pending = i;
            continue;
        }
        let bare = word.letters == (word.start..word.end);
        extend_copy(
            &mut copy,
            word.letters.start,
            word.letters.end,
            input,
            folded,
            cuts,
        );
        if !bare {
            // Punctuation at the end ends the stretch: the next word is written on its own.
            cuts.push_verbatim(input, copy, folded);
            copy = (word.end, word.end);
        }
        i = word.end;
        pending = i;
    }
    cuts.push_verbatim(input, copy, folded);
    if general {
        cuts.fold_general(input, (pending, input.len()), folded, &mut scratch);
    }
}

/// Add the plain words `input[start..end]` to the verbatim stretch `copy`: appended when a single space
/// separates them, otherwise the stretch is written and a new one starts.
fn extend_copy(
    copy: &mut (usize, usize),
    start: usize,
    end: usize,
    input: &str,
    folded: &mut Folded,
    cuts: &mut Cuts<'_>,
) {
    let joins =
        copy.0 < copy.1 && copy.1 + 1 == start && input.as_bytes().get(copy.1) == Some(&b' ');
    if joins {
        copy.1 = end;
    } else {
        cuts.push_verbatim(input, *copy, folded);
        *copy = (start, end);
    }
}

/// Bytes looked at per step by [`verbatim_blocks`].
const BLOCK: usize = 32;

/// From a token start `start`, the end of the longest run of whole 32-byte blocks that is its own folded
/// form apart from case: ASCII letters and single spaces only, no word of one letter, no run of three
/// identical letters. Backs off to the last space so that only whole words are taken; `start` when no
/// block qualifies. Also returns where the block that failed ends (0 when none failed): trying again from a
/// token start before that would look at the same failing bytes.
fn verbatim_blocks(bytes: &[u8], start: usize) -> (usize, usize) {
    let mut end = start;
    let mut failed_to = 0;
    while bytes.get(end..end + BLOCK).is_some() {
        // The block with two bytes of context before and one after, read in place when it can be (a copy
        // here makes the vector loads wait for the stores); the start and end of the input count as spaces.
        let in_place = end
            .checked_sub(2)
            .and_then(|from| bytes.get(from..end + BLOCK + 1))
            .and_then(|w| <&[u8; BLOCK + 3]>::try_from(w).ok());
        let verbatim = match in_place {
            Some(window) => block_is_verbatim(window),
            None => {
                let mut window = [b' '; BLOCK + 3];
                for (k, slot) in window.iter_mut().enumerate() {
                    if let Some(&b) = (end + k).checked_sub(2).and_then(|at| bytes.get(at)) {
                        *slot = b;
                    }
                }
                block_is_verbatim(&window)
            }
        };
        if !verbatim {
            failed_to = end + BLOCK;
            break;
        }
        end += BLOCK;
    }
    let taken = bytes.get(start..end).unwrap_or_default();
    let whole = if bytes.get(end).is_none_or(|b| is_ascii_space(*b)) {
        taken.len()
    } else {
        // The block ended inside a word: keep only the words before it.
        taken.iter().rposition(|b| *b == b' ').unwrap_or(0)
    };
    // Never end on a space (the next byte may be other whitespace).
    let words = taken.get(..whole).unwrap_or_default();
    let words_end = start + words.iter().rposition(|b| *b != b' ').map_or(0, |p| p + 1);
    (words_end, failed_to)
}

/// Whether `window[2..BLOCK + 2]` folds to itself apart from case and single punctuation marks at word
/// edges: ASCII letters and single spaces, no letter alone, no run of three identical letters, and
/// punctuation (never `@`, `$`, `!`, `|`) only as one mark between a letter and whitespace (`school.`,
/// `(zie`). `window[..2]` and `window[BLOCK + 2]` are the context around it. Each test is 0 or 1, combined
/// with `&`/`|` and no branches, so the loop compiles to vector instructions.
fn block_is_verbatim(window: &[u8; BLOCK + 3]) -> bool {
    let letter = |b: u8| u8::from((b | 0x20).wrapping_sub(b'a') < 26);
    let space = |b: u8| u8::from(b == b' ');
    let white = |b: u8| u8::from(b == b' ') | u8::from(b.wrapping_sub(b'\t') < 5);
    let edge = |b: u8| {
        let punct = u8::from(b.wrapping_sub(b'!') < 15)
            | u8::from(b.wrapping_sub(b':') < 7)
            | u8::from(b.wrapping_sub(b'[') < 6)
            | u8::from(b.wrapping_sub(b'{') < 4);
        punct
            & (1 ^ (u8::from(b == b'@')
                | u8::from(b == b'$')
                | u8::from(b == b'!')
                | u8::from(b == b'|')))
    };
    let same = |a: u8, b: u8| u8::from(a | 0x20 == b | 0x20);
    let mut bad = 0u8;
    for k in 0..BLOCK {
        let (p2, p1, c, next) = (window[k], window[k + 1], window[k + 2], window[k + 3]);
        let (l, s) = (letter(c), space(c));
        let mark = edge(c) & ((letter(p1) & white(next)) | (white(p1) & letter(next)));
        bad |= 1 ^ (l | s | mark); // not a letter, a space or a mark at a word edge
        bad |= s & space(p1); // two spaces
        bad |= l & (1 ^ letter(p1)) & (1 ^ letter(next)); // a letter alone
        bad |= l & same(c, p1) & same(c, p2); // a run of three
    }
    bad == 0
}

/// Whitespace that is ASCII (what `char::is_whitespace` says of ASCII characters).
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// Punctuation that may stand around a plain word: ASCII punctuation that is never read as a letter
/// (`@`, `$`, `!`, `|` are leetspeak) and never counts as a letter written alone.
fn is_plain_edge(b: u8) -> bool {
    b.is_ascii_punctuation() && !matches!(b, b'@' | b'$' | b'!' | b'|')
}

/// A word found in the input: ASCII letters and digits, maybe with plain punctuation around them.
struct Word {
    /// Where its token (word and punctuation) starts.
    start: usize,
    /// Its letters and digits.
    letters: std::ops::Range<usize>,
    /// Where its token ends (whitespace or the end of the input follows).
    end: usize,
    /// Letters only, with no run of three identical letters: the word is its own folded form apart from case.
    plain: bool,
}

/// The word whose token starts at `start`: ≥2 ASCII letters or digits with only plain punctuation before
/// and after them up to the next whitespace. `None` for anything else.
///
/// Such a token folds on its own, whatever stands around it: none of its characters is a letter written
/// alone (each has a letter or digit beside it, and plain punctuation is never read as a letter), so no
/// spaced-letter chain can start in it, run through it or end in it.
fn word_at(bytes: &[u8], start: usize) -> Option<Word> {
    let mut i = start;
    while bytes.get(i).is_some_and(|b| is_plain_edge(*b)) {
        i += 1;
    }
    let letters_start = i;
    // Letters up to a run of three identical ones (the last two seen, lowercased).
    let (mut last, mut before) = (0u8, 0u8);
    while let Some(&b) = bytes.get(i) {
        let lower = b | 0x20;
        if !b.is_ascii_alphabetic() || (lower == last && lower == before) {
            break;
        }
        (before, last) = (last, lower);
        i += 1;
    }
    // A digit or a run of three letters: not plain, but the word still folds on its own.
    let plain = !bytes.get(i).is_some_and(u8::is_ascii_alphanumeric);
    if !plain {
        i += span(bytes.get(i..).unwrap_or_default(), |b| {
            b.is_ascii_alphanumeric()
        });
    }
    let letters = letters_start..i;
    if letters.len() < 2 {
        return None;
    }
    while let Some(&b) = bytes.get(i) {
        if is_ascii_space(b) {
            break;
        }
        if !is_plain_edge(b) {
            return None;
        }
        i += 1;
    }
    Some(Word {
        start,
        letters,
        end: i,
        plain,
    })
}

/// Fold a word of ASCII letters and digits that is not plain (it has a digit or a run of three letters) on
/// its own: lowercased, then the last step of the general path. `scratch` is reused between calls.
fn push_word(folded: &mut Folded, word: &str, scratch: &mut String) {
    scratch.clear();
    scratch.push_str(word);
    scratch.make_ascii_lowercase();
    push_token(folded, scratch);
}

/// The general steps for text that is not plain words: clean, join spaced letters, split and finish.
/// Appends to `folded`; `scratch` is reused between calls.
fn fold_general(input: &str, folded: &mut Folded, scratch: &mut String) {
    scratch.clear();
    clean(input, scratch);
    let joined = join_spaced_letters(scratch);
    let mut rest = joined.as_ref();
    loop {
        let (token, after) = split_at_whitespace(rest);
        push_token(folded, token);
        match after {
            Some(after) => rest = after,
            None => break,
        }
    }
}

/// `s` up to its first whitespace (`char::is_whitespace`), and what follows that whitespace character
/// (`None` when there is none): one step of `str::split(char::is_whitespace)`. ASCII bytes are tested
/// without decoding them, since after cleaning nearly all text is ASCII.
fn split_at_whitespace(s: &str) -> (&str, Option<&str>) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let width = if b.is_ascii() {
            if !is_ascii_space(b) {
                i += span(bytes.get(i..).unwrap_or_default(), |b| {
                    b.is_ascii() && !is_ascii_space(b)
                });
                continue;
            }
            1
        } else {
            let Some(c) = char_at(s, i) else { break };
            if !c.is_whitespace() {
                i += c.len_utf8();
                continue;
            }
            c.len_utf8()
        };
        return (
            s.get(..i).unwrap_or_default(),
            Some(s.get(i + width..).unwrap_or_default()),
        );
    }
    (s, None)
}

/// Fold a word-list entry (or allow-list entry): the same folding as for text, without stretch marks.
pub fn fold_entry(entry: &str) -> String {
    fold(entry).text
}

/// Collapse every run of identical letters to one letter (`klootzak`→`klotzak`), for the stretched variant
/// of a list entry.
pub fn collapse_doubles(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if prev == Some(c) && c.is_alphabetic() {
            continue;
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// Characters that carry nothing visible and are used to break words apart invisibly.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM/RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings/overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}'
    )
}

/// Greek capitals that look like a Latin capital but lowercase to a letter that does not (`Ν` is `n`, its `ν`
/// looks like `v`; `ΜΟΝGΟΟL`): read before lowercasing.
fn capital_homoglyph(c: char) -> Option<char> {
    match c {
        'Μ' => Some('m'),
        'Ν' => Some('n'),
        'Ζ' => Some('z'),
        // Leetspeak's `E` (`N3GΣR5`): its small letter `σ` looks like an `o` and is read so below.
        'Σ' => Some('e'),
        // `Η` looks like an `H`, its small letter `η` like an `n` (`кαηкєя`), which is how it is read below.
        'Η' => Some('h'),
        _ => None,
    }
}

/// Cyrillic and Greek letters that look like Latin ones, and the small capitals of the phonetic alphabet
/// (`ʜᴇʏ ᴀᴜᴛɪsᴛᴊᴇ`, which NFKD leaves alone), used to dodge word lists.
fn homoglyph(c: char) -> char {
    match c {
        'а' | 'α' | 'ᴀ' => 'a',
        'в' | 'β' | 'ʙ' => 'b',
        'с' | 'ϲ' | 'ᴄ' => 'c',
        'ᴅ' => 'd',
        'е' | 'ε' | 'ᴇ' | 'є' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'н' | 'ʜ' => 'h',
        'і' | 'ι' | 'ɪ' => 'i',
        'ј' | 'ᴊ' => 'j',
        'к' | 'κ' | 'ᴋ' => 'k',
        'ʟ' => 'l',
        'м' | 'ᴍ' => 'm',
        'ɴ' | 'η' => 'n',
        'о' | 'ο' | 'ᴏ' | '°' | 'σ' => 'o',
        'р' | 'ρ' | 'ᴘ' => 'p',
        // `я` and `г` as `кαηкєя` writes them; the Tibetan `ཞ` as the fancy-letter generators do (`ƙąŋƙɛཞ`).
        'ʀ' | 'я' | 'г' | 'ཞ' => 'r',
        'ѕ' | 'ꜱ' => 's',
        'т' | 'τ' | 'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'у' | 'υ' | 'ʏ' => 'y',
        'х' | 'χ' => 'x',
        'ᴢ' => 'z',
        'ν' => 'v',
        'ß' => 's',
        _ => latin_lookalike(c),
    }
}

/// Latin letters with a hook, stroke or tail, and a few turned or open letters, which NFKD leaves alone
/// (`ƙanker ʍongool`), and the letters in black circles and squares and the regional indicators (`🅺🅰🅽`), which
/// it leaves alone too: read as the plain letter they show.
fn latin_lookalike(c: char) -> char {
    match c {
        'ɐ' | 'ɑ' | 'ɒ' | 'ⱥ' => 'a',
        'ƀ' | 'ƃ' | 'ɓ' | 'ᵬ' | 'ꞗ' => 'b',
        'ƈ' | 'ȼ' | 'ɔ' | 'ɕ' | 'ꞓ' | 'ꞔ' => 'c',
        'ð' | 'đ' | 'ƌ' | 'ȡ' | 'ɖ' | 'ɗ' | 'ᵭ' | 'ꟈ' => 'd',
        'ǝ' | 'ɇ' | 'ɛ' | 'ⱸ' => 'e',
        'ƒ' | 'ᵮ' | 'ꞙ' => 'f',
        'ǥ' | 'ɠ' | 'ɡ' | 'ꞡ' => 'g',
        'ħ' | 'ɦ' | 'ɧ' | 'ⱨ' | 'ꞕ' => 'h',
        'ı' | 'ɨ' | 'ɩ' => 'i',
        'ȷ' | 'ɉ' | 'ʝ' => 'j',
        'ĸ' | 'ƙ' | 'ⱪ' | 'ꝁ' | 'ꝃ' | 'ꝅ' | 'ꞣ' => 'k',
        'ł' | 'ƚ' | 'ȴ' | 'ɫ' | 'ɬ' | 'ɭ' | 'ⱡ' | 'ꝉ' | 'ꞎ' => 'l',
        'ɱ' | 'ʍ' | 'ᵯ' => 'm',
        'ŋ' | 'ƞ' | 'ȵ' | 'ɲ' | 'ɳ' | 'ᵰ' | 'ꞑ' | 'ꞥ' => 'n',
        'ø' | 'ⱺ' | 'ꝋ' | 'ꝍ' => 'o',
        'ƥ' | 'ᵱ' | 'ᵽ' | 'ꝑ' | 'ꝓ' | 'ꝕ' => 'p',
        'ɋ' | 'ʠ' | 'ꝗ' | 'ꝙ' => 'q',
        'ɍ' | 'ɼ' | 'ɽ' | 'ɾ' | 'ᵲ' | 'ᵳ' | 'ꞧ' => 'r',
        'ȿ' | 'ʂ' | 'ᵴ' | 'ꞩ' | 'ꟊ' => 's',
        'ŧ' | 'ƫ' | 'ƭ' | 'ȶ' | 'ʈ' | 'ᵵ' | 'ⱦ' => 't',
        'ꞹ' => 'u',
        'ʋ' | 'ⱱ' | 'ⱴ' | 'ꝟ' => 'v',
        'ɯ' | 'ⱳ' => 'w',
        'ƴ' | 'ɏ' => 'y',
        'ƶ' | 'ȥ' | 'ɀ' | 'ʐ' | 'ʑ' | 'ᵶ' | 'ⱬ' => 'z',
        '\u{1F150}'..='\u{1F169}' => shifted(c, 0x1F150),
        '\u{1F170}'..='\u{1F189}' => shifted(c, 0x1F170),
        '\u{1F1E6}'..='\u{1F1FF}' => shifted(c, 0x1F1E6),
        _ => c,
    }
}

/// The letter `c - first` places after `a`.
fn shifted(c: char, first: u32) -> char {
    u32::from(c)
        .checked_sub(first)
        .and_then(|n| u8::try_from(n).ok())
        .and_then(|n| b'a'.checked_add(n))
        .map_or(c, char::from)
}

/// Step 1: lowercase; decompose (NFKD) and drop marks and invisible characters; map look-alikes. Runs of
/// ASCII (most of any Dutch mail) are copied and lowercased in bulk.
fn clean(input: &str, out: &mut String) {
    let mut rest = input;
    while !rest.is_empty() {
        let ascii = span(rest.as_bytes(), |b| b.is_ascii());
        let (run, tail) = rest.split_at(ascii);
        let at = out.len();
        out.push_str(run);
        if let Some(pushed) = out.get_mut(at..) {
            pushed.make_ascii_lowercase();
        }
        let mut chars = tail.chars();
        let Some(c) = chars.next() else { break };
        clean_char(c, out);
        rest = chars.as_str();
    }
}

/// Step 1 for one non-ASCII character.
fn clean_char(c: char, out: &mut String) {
    if is_invisible(c) {
        return;
    }
    decompose_compatible(c, |d| {
        if is_combining_mark(d) || is_invisible(d) {
            return;
        }
        if let Some(l) = capital_homoglyph(d) {
            out.push(l);
            return;
        }
        for l in d.to_lowercase() {
            out.push(homoglyph(l));
        }
    });
}

/// Symbols read as letters inside a word.
fn is_leet_symbol(c: char) -> bool {
    matches!(c, '@' | '$' | '€' | '!' | '|')
}

/// Characters that may separate letters written one at a time: ASCII marks, and any character outside ASCII
/// that is no letter or digit (`k🎓a🎓n🎓k🎓e🎓r`, `k•a•n•k•e•r`, a non-breaking space), except `€`, which
/// is read as an `e` (`n€g€r`).
fn is_letter_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '.' | '-' | '_' | '*' | '/' | '+' | '~' | ','
    ) || (!c.is_ascii() && !c.is_alphanumeric() && !is_leet_symbol(c))
}

/// An apostrophe, straight or curly: after a letter, the letter after it belongs to the word before (`zo'n`).
pub(super) fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`')
}

/// A character that may stand alone as a letter written one at a time.
fn is_unit(c: char) -> bool {
    c.is_alphanumeric() || is_leet_symbol(c)
}

/// The character starting at byte `i` of `s` (always a character boundary here); an ASCII byte is taken
/// as it is, without decoding.
fn char_at(s: &str, i: usize) -> Option<char> {
    match s.as_bytes().get(i) {
        Some(&b) if b.is_ascii() => Some(char::from(b)),
        Some(_) => s.get(i..)?.chars().next(),
        None => None,
    }
}

/// Step 2: join `k a n k e r` / `k.a.n.k.e.r` into `kanker`. A "single" is one letter, digit or leet symbol
/// with no letter or digit directly on either side; a chain of ≥3 singles, each 1–2 separators from the
/// next and with ≥2 letters among them, is written as one word followed by a space. Copies nothing when no
/// chain is found (the usual case).
fn join_spaced_letters(s: &str) -> Cow<'_, str> {
    let is_single_at = |i: usize, c: char| {
        is_unit(c) && !char_at(s, i + c.len_utf8()).is_some_and(char::is_alphanumeric)
    };
    let mut out: Option<String> = None;
    // Bytes of `s` before this offset are already in `out`.
    let mut copied = 0;
    let mut chain: Vec<char> = Vec::new();
    let mut gaps: Vec<Gap> = Vec::new();
    let mut prev_alnum = false;
    let mut prev_apostrophe = false;
    let mut i = 0;
    while let Some(c) = char_at(s, i) {
        if prev_alnum && c.is_ascii_alphanumeric() {
            // Inside a word: nothing here can be a single. Step over the rest of its ASCII letters and digits.
            i += span(s.as_bytes().get(i..).unwrap_or_default(), |b| {
                b.is_ascii_alphanumeric()
            });
            continue;
        }
        // A letter just after an apostrophe inside a word is a clitic (`zo'n`, `m'n`), never a chain's first
        // letter; after an apostrophe of its own (`'k a n k e r`) it may be.
        let single = !prev_alnum && !prev_apostrophe && is_single_at(i, c);
        prev_apostrophe = prev_alnum && is_apostrophe(c);
        prev_alnum = c.is_alphanumeric();
        if !single {
            i += c.len_utf8();
            continue;
        }
        // Follow the chain of singles separated by 1–2 separator characters.
        chain.clear();
        gaps.clear();
        chain.push(c);
        let mut after = i + c.len_utf8();
        loop {
            let mut k = after;
            let mut gap = Gap::default();
            while gap.len < 2 {
                match char_at(s, k) {
                    Some(sep) if is_letter_separator(sep) => {
                        k += sep.len_utf8();
                        gap.len += 1;
                        gap.space |= sep.is_whitespace();
                    }
                    _ => break,
                }
            }
            // The character before `k` is a separator, never a letter or digit: only the right side counts.
            match char_at(s, k) {
                Some(next) if gap.len > 0 && is_single_at(k, next) => {
                    chain.push(next);
                    gaps.push(gap);
                    after = k + next.len_utf8();
                }
                _ => break,
            }
        }
        let letters = chain.iter().filter(|ch| ch.is_alphabetic()).count();
        if chain.len() >= 3 && letters >= 2 {
            let o = out.get_or_insert_with(|| String::with_capacity(s.len() + 16));
            o.push_str(s.get(copied..i).unwrap_or_default());
            let usual = usual_gap(&gaps);
            let ends_word = |g: &Gap| g.space && *g != usual;
            // A gap with white space unlike the chain's usual one ends a word (`v.i.e.z.e k.u.t`), but only when
            // every word so made has three letters or more or is a short word (`j.e`): `k.u.t.w.i j.f` stays one.
            let mut from = 0;
            let mut words_ok = true;
            for (k, g) in gaps.iter().enumerate() {
                if ends_word(g) {
                    words_ok &= whole_word(chain.get(from..=k).unwrap_or_default());
                    from = k + 1;
                }
            }
            words_ok &= whole_word(chain.get(from..).unwrap_or_default());
            for (k, ch) in chain.iter().enumerate() {
                o.push(*ch);
                if words_ok && gaps.get(k).is_some_and(ends_word) {
                    o.push(' ');
                }
            }
            // Keep the boundary after the chain as a separator.
            o.push(' ');
            prev_alnum = chain.last().is_some_and(|ch| ch.is_alphanumeric());
            prev_apostrophe = false;
            i = after;
            copied = after;
        } else {
            i += c.len_utf8();
        }
    }
    match out {
        None => Cow::Borrowed(s),
        Some(mut o) => {
            o.push_str(s.get(copied..).unwrap_or_default());
            Cow::Owned(o)
        }
    }
}

/// The separators between two letters of a chain written one at a time: how many, and whether one is white
/// space.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Gap {
    len: u8,
    space: bool,
}

/// Words of one or two letters that a chain written one at a time may hold (`j.e w.o.o.n.t`).
pub(super) const SHORT_WORDS: &[&str] = &[
    "u", "ik", "je", "jij", "we", "ze", "me", "de", "na", "in", "op", "en", "is", "te", "om", "al",
    "zo", "nu", "ga", "of", "er", "an", "ja", "nee", "da", "af", "ie", "he", "eh", "ok", "oh",
    "ah", "yo", "jo", "ma", "pa", "mn", "zn", "dr", "ff", "wa",
];

/// Whether letters written one at a time make a word of their own: three or more, or a short word.
fn whole_word(letters: &[char]) -> bool {
    letters.len() >= 3 || {
        let w: String = letters.iter().flat_map(|c| c.to_lowercase()).collect();
        SHORT_WORDS.contains(&w.as_str())
    }
}

/// The gap a chain uses most between its letters (the first of equals): the one inside its words. A gap is one
/// of four kinds (one or two separators, with or without white space), so this is one pass however long the
/// chain.
fn usual_gap(gaps: &[Gap]) -> Gap {
    let kind = |g: &Gap| usize::from(g.len >= 2) * 2 + usize::from(g.space);
    let mut counts = [0usize; 4];
    for g in gaps {
        if let Some(n) = counts.get_mut(kind(g)) {
            *n += 1;
        }
    }
    let most = counts.iter().copied().max().unwrap_or(0);
    gaps.iter()
        .find(|g| counts.get(kind(g)).copied() == Some(most))
        .copied()
        .unwrap_or_default()
}

/// The leetspeak reading of a character inside a word.
fn leet(c: char) -> char {
    match c {
        '@' | '4' => 'a',
        '3' | '€' => 'e',
        '1' | '!' | '|' => 'i',
        '0' => 'o',
        '5' | '$' => 's',
        '7' => 't',
        '6' | '9' => 'g',
        _ => c,
    }
}

/// Steps 3–5 for one whitespace-free token: trim punctuation at the edges, read leetspeak when the token
/// has a letter, turn everything else into single spaces and collapse runs of ≥3 identical letters.
fn push_token(folded: &mut Folded, raw: &str) {
    // Trim punctuation at the edges (but `@`, `$`, `€` at the start are letters: `@sshole`, `$hit`).
    let keep_edge = |ch: char| ch.is_alphanumeric() || matches!(ch, '@' | '$' | '€');
    let Some(core_start) = raw.find(keep_edge) else {
        return;
    };
    let Some((last, last_ch)) = raw.char_indices().rev().find(|(_, c)| c.is_alphanumeric()) else {
        return;
    };
    let Some(core) = raw.get(core_start..last + last_ch.len_utf8()) else {
        return;
    };
    let has_letter = core.chars().any(char::is_alphabetic);
    // Tokens are always separated from what came before.
    let mut pending_space = true;
    let mut rest = core;
    while let Some(ch) = rest.chars().next() {
        // A run of one ASCII letter (`XXXXXXXX…`, as in smtp-source's filler) is taken in one step: after
        // three pushes the text ends in a stretched letter and every further push of it is dropped.
        let run = if ch.is_ascii_alphabetic() {
            span(rest.as_bytes(), |b| char::from(b) == ch)
        } else {
            1
        };
        rest = rest.get(run * ch.len_utf8()..).unwrap_or_default();
        let m = if has_letter { leet(ch) } else { ch };
        if m.is_alphanumeric() {
            if pending_space && !folded.text.is_empty() {
                folded.text.push(' ');
            }
            pending_space = false;
            if has_letter && ch == '8' {
                // `8erlijk`, `w8`: in Dutch chat an `8` in a word is said `acht`.
                "acht".chars().for_each(|l| folded.push_collapsing(l));
            } else {
                for _ in 0..run.min(3) {
                    folded.push_collapsing(m);
                }
            }
        } else {
            pending_space = true;
        }
    }
}

/// Whether the last and the second-to-last characters of `text` are `ch`. For an ASCII `ch` the bytes
/// answer directly (an ASCII byte is never part of a longer UTF-8 sequence); otherwise decode from the end.
fn last_two(text: &str, ch: char) -> (bool, bool) {
    if ch.is_ascii() {
        let b = text.as_bytes();
        let at =
            |back: usize| b.len().checked_sub(back).and_then(|i| b.get(i)) == Some(&(ch as u8));
        (at(1), at(2))
    } else {
        let mut tail = text.chars().rev();
        (tail.next() == Some(ch), tail.next() == Some(ch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Fold with both implementations; panic with the input when text or stretch marks differ.
    fn assert_same_as_reference(input: &str) {
        let new = fold(input);
        let old = reference::fold(input);
        assert_eq!(new.text, old.text, "folded text of {input:?}");
        let mut flags = vec![false; new.text.len()];
        for &(s, e) in &new.stretched {
            flags.iter_mut().take(e).skip(s).for_each(|f| *f = true);
        }
        assert_eq!(flags, old.stretched, "stretch marks of {input:?}");
        for s in 0..new.text.len() {
            for e in s..=new.text.len().min(s + 12) {
                let want = old
                    .stretched
                    .get(s..e)
                    .is_some_and(|f| f.iter().any(|b| *b));
                assert_eq!(
                    new.any_stretched(s, e),
                    want,
                    "any_stretched({s}, {e}) of {input:?}"
                );
            }
        }
    }

    /// smtp-source's filler (the relay benchmark's body): a digit and a long run of one letter per line.
    #[test]
    fn same_as_reference_on_benchmark_filler() {
        let filler: String = (1..40)
            .map(|n| format!("{n}{}\r\n", "X".repeat(77)))
            .collect();
        assert_same_as_reference(&filler);
        assert_same_as_reference(&filler.to_lowercase());
    }

    /// Every fixture, raw and as the analysis decodes it (subject, bodies, HTML text, attachment names).
    #[test]
    fn same_as_reference_on_fixtures() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut dirs = vec![root];
        let mut files = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|x| x == "eml") {
                    let raw = std::fs::read(&path).unwrap();
                    assert_same_as_reference(&String::from_utf8_lossy(&raw));
                    let analysis =
                        crate::message::analyse(&raw, &crate::message::Limits::default());
                    for text in &analysis.texts {
                        assert_same_as_reference(&text.text);
                    }
                    files += 1;
                }
            }
        }
        assert!(files > 50, "only {files} fixtures found");
    }

    /// Characters the folding treats specially, to build adversarial input from.
    const TRICKY: &[char] = &[
        'a',
        'k',
        'n',
        'e',
        'r',
        'o',
        'A',
        'K',
        'E',
        '0',
        '1',
        '3',
        '4',
        '5',
        '7',
        '8',
        '@',
        '$',
        '€',
        '!',
        '|',
        ' ',
        ' ',
        '\t',
        '\n',
        '\r',
        '\u{0B}',
        '.',
        '-',
        '_',
        '*',
        '/',
        '+',
        '~',
        '·',
        ',',
        '\u{00A0}',
        '\u{2003}',
        '\u{3000}',
        '\u{1680}',
        '\u{2028}',
        '\u{0085}',
        '\u{00AD}',
        '\u{200B}',
        '\u{FEFF}',
        'é',
        'É',
        'ï',
        'ß',
        'ø',
        'ł',
        'ｋ',
        'ﬁ',
        'к',
        'α',
        'Σ',
        'İ',
        'ǅ',
        '²',
        '½',
        '٣',
        '中',
        '\u{0301}',
        '(',
        ')',
        '"',
        '\'',
        '?',
        ';',
        ':',
        '&',
        '#',
        '%',
        '\u{1F600}',
    ];

    /// Word-sized pieces: plain words (the fast path) next to the characters that interact with them.
    const PIECES: &[&str] = &[
        "hallo",
        "School",
        "KAN",
        " beste ouders en verzorgers",
        " volgende week donderdag is de ouderavond",
        "ker",
        "zee",
        "aa",
        "a",
        "k",
        "E",
        "x",
        ".",
        ",",
        "!",
        "|",
        "@",
        "$",
        "-",
        "(",
        ")",
        "\"",
        "?",
        "'",
        "/",
        "*",
        "_",
        "·",
        " ",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\u{0B}",
        "\u{00A0}",
        "1",
        "4",
        "0",
        "2024",
        "k4nk3r",
        "\u{2028}",
        "é",
        "€",
        "\u{200B}",
        "\u{0301}",
        "¨",
        "ｋ",
        "aaa",
        "ooo",
        "k.a.n",
        "s!",
        "!x",
        ".!",
        " a b",
        "k e r",
        "|.",
        "-@",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn same_as_reference_on_word_pieces(
            picks in proptest::collection::vec(0..PIECES.len(), 0..120),
        ) {
            let input: String = picks.iter().filter_map(|&i| PIECES.get(i).copied()).collect();
            assert_same_as_reference(&input);
        }

        #[test]
        fn same_as_reference_on_tricky_input(
            picks in proptest::collection::vec(0..TRICKY.len(), 0..40),
        ) {
            let input: String = picks.iter().filter_map(|&i| TRICKY.get(i)).collect();
            assert_same_as_reference(&input);
        }

        /// Folding onto a folded text is folding apart and joining with a space: nothing joins or collapses
        /// across the seam, and the stretch marks move along.
        #[test]
        fn fold_into_joins_at_a_seam(
            a in proptest::collection::vec(0..TRICKY.len(), 0..12),
            b in proptest::collection::vec(0..TRICKY.len(), 0..12),
        ) {
            let a: String = a.iter().filter_map(|&i| TRICKY.get(i).copied()).collect();
            let b: String = b.iter().filter_map(|&i| TRICKY.get(i).copied()).collect();
            let (fa, fb) = (fold(&a), fold(&b));
            let mut joined = fold(&a);
            fold_into(&b, &mut joined);
            let shift = if fa.text.is_empty() || fb.text.is_empty() { fa.text.len() } else { fa.text.len() + 1 };
            let mut want = fa.text.clone();
            if !want.is_empty() && !fb.text.is_empty() {
                want.push(' ');
            }
            want.push_str(&fb.text);
            prop_assert_eq!(&joined.text, &want);
            let mut stretched = fa.stretched.clone();
            stretched.extend(fb.stretched.iter().map(|&(s, e)| (s + shift, e + shift)));
            prop_assert_eq!(&joined.stretched, &stretched);
        }

        #[test]
        fn same_as_reference_on_any_input(input in "\\PC{0,60}") {
            assert_same_as_reference(&input);
        }

        #[test]
        fn same_as_reference_on_runs(
            parts in proptest::collection::vec((0..TRICKY.len(), 1usize..6), 0..15),
        ) {
            let input: String = parts
                .iter()
                .filter_map(|&(i, n)| TRICKY.get(i).map(|c| std::iter::repeat_n(*c, n)))
                .flatten()
                .collect();
            assert_same_as_reference(&input);
        }
    }

    #[test]
    fn folding_table() {
        let cases: &[(&str, &str)] = &[
            ("Hallo Wereld", "hallo wereld"),
            ("  Café  Naïve ", "cafe naive"),
            ("KANKER!!!", "kanker"),
            ("k a n k e r", "kanker"),
            ("k.a.n.k.e.r", "kanker"),
            ("k-a-n-k-e-r lijer", "kanker lijer"),
            ("k_a_n_k_e_r", "kanker"),
            ("k*a*n*k*e*r", "kanker"),
            ("k🎓a🎓n🎓k🎓e🎓r", "kanker"),
            ("k•a•n•k•e•r", "kanker"),
            ("a → b", "a b"),
            ("k. a. n. k. e. r.", "kanker"),
            // A gap with white space unlike the chain's usual gap ends a word.
            ("v.i.e.z.e k.u.t.j.u.f", "vieze kutjuf"),
            ("d o m  w i j f", "dom wijf"),
            ("k-u-t j-u-f", "kut juf"),
            ("k.u.t.w.i j.f", "kutwijf"),
            ("a  k u t", "akut"),
            ("i.k w.e.e.t w.a.a.r j.e w.o.o.n.t", "ik weet waar je woont"),
            ("k4nk3r", "kanker"),
            // Small capitals of the phonetic alphabet, which NFKD leaves alone.
            ("ʜᴇʏ ᴀᴜᴛɪsᴛᴊᴇ", "hey autistje"),
            ("ᴋᴀɴᴋᴇʀʟɪᴊᴇʀ", "kankerlijer"),
            // Latin letters with a hook or stroke, letters in black squares, regional indicators.
            ("ƙanker ʍongool", "kanker mongool"),
            ("Søren Łukasz", "soren lukasz"),
            ("🅺🅰🅽🅺🅴🆁", "kanker"),
            ("🇳🇱", "nl"),
            // Greek capitals among Latin ones: `Ν` is `n` (its lowercase `ν` looks like `v`), `Μ` is `m`.
            ("ΜΟΝGΟΟL", "mongool"),
            // Leetspeak's `Σ` for `E`; the fancy-letter styles (`ɧơɛཞ`, `кαηкєя`).
            ("N3GΣR5", "negers"),
            ("ƙąŋƙɛཞ ɧơɛཞ", "kanker hoer"),
            ("кαηкєя", "kanker"),
            ("ΗΟΕR", "hoer"),
            // `6`/`9` as `g` and `8` as `acht` inside a word; plain numbers stay numbers.
            ("n!66@'s", "nigga s"),
            ("t3ru9", "terug"),
            ("8erlijk w8", "achterlijk wacht"),
            ("groep 8 en 6 9", "groep 8 en 6 9"),
            // Short words end a word in letters written one at a time.
            ("i k  m a a k  j e  a f", "ik maak je af"),
            ("h0er", "hoer"),
            ("sh!t", "shit"),
            ("$hit", "shit"),
            ("@sshole", "asshole"),
            ("n1kk3r", "nikker"),
            ("n€g€r", "neger"),
            ("kan\u{00AD}ker", "kanker"),
            ("kan\u{200B}ker", "kanker"),
            ("kaaaanker", "kanker"),
            ("klooootzak", "klotzak"),
            ("kanker-lijer", "kanker lijer"),
            ("KWF-Kankerbestrijding", "kwf kankerbestrijding"),
            ("groep 1 2 3", "groep 1 2 3"),
            ("in 2024 en 2025", "in 2024 en 2025"),
            ("ｋａｎｋｅｒ", "kanker"),
            ("кanker", "kanker"),
            ("Hoera!", "hoera"),
            ("a, b", "a b"),
            ("", ""),
            ("...", ""),
            ("zee", "zee"),
            ("zeeeeer", "zer"),
            ("hallo.! a b", "hallo iab"),
            // Long enough for the 32-byte blocks of the plain-word path.
            (
                "Beste ouders, dit is een $hit zin met veel woorden erin.",
                "beste ouders dit is een shit zin met veel woorden erin",
            ),
            (
                "Hallo @sshole, van de school (zie bijlage) en nog meer woorden",
                "hallo asshole van de school zie bijlage en nog meer woorden",
            ),
            (
                "Beste ouders en verzorgers van de k a n k e r school. Groet",
                "beste ouders en verzorgers van de kanker school groet",
            ),
            ("zo. k a n k e r!", "zo kanker"),
            // The letter after an apostrophe inside a word is a clitic, not the first of a chain written one at
            // a time; after an apostrophe of its own it may be.
            ("zo'n m o n g o o l", "zo n mongool"),
            ("zo\u{2019}n m o n g o o l", "zo n mongool"),
            ("jij 'k a n k e r", "jij kanker"),
        ];
        for (input, want) in cases {
            assert_eq!(fold(input).text, *want, "folding {input:?}");
        }
    }

    #[test]
    fn stretched_marks_only_collapsed_runs() {
        let f = fold("klooootzak");
        assert_eq!(f.text, "klotzak");
        assert!(f.any_stretched(0, f.text.len()));
        let g = fold("klootzak");
        assert!(!g.any_stretched(0, g.text.len()));
        let h = fold("fagot kaaaanker");
        assert!(!h.any_stretched(0, 5));
        assert!(h.any_stretched(6, h.text.len()));
    }

    #[test]
    fn collapse_doubles_table() {
        assert_eq!(collapse_doubles("klootzak"), "klotzak");
        assert_eq!(collapse_doubles("kanker"), "kanker");
        assert_eq!(collapse_doubles("aa bb"), "a b");
    }
}
