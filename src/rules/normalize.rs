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
//!   mapped to their Latin twin.
//! - Letters written one at a time with 1–2 separators in between (`k a n k e r`, `k.a.n.k.e.r`,
//!   `k-a-n-k-e-r`, `k_a_n_k_e_r`, `k*a*n*k*e*r`) are joined when at least three such letters follow each other.
//! - Leetspeak is mapped only inside tokens that contain a letter (so plain numbers stay numbers):
//!   `@`/`4`→a, `3`/`€`→e, `1`/`!`/`|`→i, `0`→o, `5`/`$`→s, `7`→t. `1` is read as `i`, not `l`: in the
//!   words that matter here (`k1kker`, `n1kker`, `t1ef`) the `i` reading is far more common. A `!` or `|` at
//!   the start or end of a token is punctuation, not a letter.
//! - Runs of three or more identical letters are collapsed to one letter and the result is marked as
//!   *stretched* (`kaaaanker`→`kanker`). Runs of two are left alone (Dutch spells `oo`, `ee`, `kk` on
//!   purpose); a list entry with a double letter also gets a single-letter variant that only matches stretched
//!   text, so `klooootzak` is caught while the bassoon (`fagot`) is not taken for `faggot`.
//!
//! Pure, no I/O, never panics.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Text in folded form, with a per-byte flag telling which letters came from a collapsed run of ≥3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// Tokens separated by single spaces; no leading/trailing space.
    pub text: String,
    /// `stretched[i]` is true when byte `i` of `text` belongs to a letter collapsed from a run of ≥3.
    stretched: Vec<bool>,
}

impl Folded {
    /// True when any byte in `start..end` comes from a stretched run.
    pub fn any_stretched(&self, start: usize, end: usize) -> bool {
        self.stretched
            .get(start..end)
            .is_some_and(|s| s.iter().any(|b| *b))
    }
}

/// Fold `input` for matching.
pub fn fold(input: &str) -> Folded {
    let cleaned = clean_chars(input);
    let joined = join_spaced_letters(&cleaned);
    finish(&joined)
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

/// Cyrillic and Greek letters that look like Latin ones, used to dodge word lists.
fn homoglyph(c: char) -> char {
    match c {
        'а' | 'α' => 'a',
        'в' | 'β' => 'b',
        'с' | 'ϲ' => 'c',
        'е' | 'ε' => 'e',
        'н' | 'η' => 'h',
        'і' | 'ι' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'о' | 'ο' => 'o',
        'р' | 'ρ' => 'p',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'у' | 'υ' => 'y',
        'х' | 'χ' => 'x',
        'ν' => 'v',
        'ß' => 's',
        _ => c,
    }
}

/// Step 1: decompose, drop marks and invisible characters, lowercase, map look-alikes.
fn clean_chars(input: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(input.len());
    for c in input.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        if is_invisible(c) {
            continue;
        }
        decompose_compatible(c, |d| {
            if is_combining_mark(d) || is_invisible(d) {
                return;
            }
            for l in d.to_lowercase() {
                out.push(homoglyph(l));
            }
        });
    }
    out
}

/// Symbols read as letters inside a word.
fn is_leet_symbol(c: char) -> bool {
    matches!(c, '@' | '$' | '€' | '!' | '|')
}

/// Characters that may separate letters written one at a time.
fn is_letter_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '.' | '-' | '_' | '*' | '/' | '+' | '~' | '·' | ',' | '\u{00A0}'
    )
}

/// Step 2: join `k a n k e r` / `k.a.n.k.e.r` into `kanker`.
fn join_spaced_letters(c: &[char]) -> Vec<char> {
    let n = c.len();
    // A "single" is one letter/digit/leet symbol with no letter or digit directly on either side.
    let is_unit = |ch: char| ch.is_alphanumeric() || is_leet_symbol(ch);
    let single = |i: usize| -> bool {
        let Some(&ch) = c.get(i) else { return false };
        if !is_unit(ch) {
            return false;
        }
        let left_ok = i == 0 || c.get(i - 1).is_none_or(|p| !p.is_alphanumeric());
        let right_ok = c.get(i + 1).is_none_or(|p| !p.is_alphanumeric());
        left_ok && right_ok
    };
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        if !single(i) {
            if let Some(&ch) = c.get(i) {
                out.push(ch);
            }
            i += 1;
            continue;
        }
        // Follow the chain of singles separated by 1–2 separator characters.
        let mut chain = vec![i];
        let mut last = i;
        loop {
            let mut k = last + 1;
            let mut gap = 0;
            while gap < 2 && c.get(k).is_some_and(|ch| is_letter_separator(*ch)) {
                k += 1;
                gap += 1;
            }
            if gap > 0 && single(k) {
                chain.push(k);
                last = k;
            } else {
                break;
            }
        }
        let letters = chain
            .iter()
            .filter(|&&p| c.get(p).is_some_and(|ch| ch.is_alphabetic()))
            .count();
        if chain.len() >= 3 && letters >= 2 {
            out.extend(chain.iter().filter_map(|&p| c.get(p).copied()));
            // Keep the boundary after the chain as a separator.
            out.push(' ');
            i = last + 1;
        } else {
            if let Some(&ch) = c.get(i) {
                out.push(ch);
            }
            i += 1;
        }
    }
    out
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
        _ => c,
    }
}

/// Steps 3–5: leetspeak inside tokens with a letter, everything else to single spaces, runs of ≥3 collapsed.
fn finish(c: &[char]) -> Folded {
    let mut text = String::with_capacity(c.len());
    let mut stretched: Vec<bool> = Vec::with_capacity(c.len());
    let mut pending_space = false;
    let mut i = 0;
    let n = c.len();
    while i < n {
        // A raw token: a maximal run of non-whitespace.
        if c.get(i).is_some_and(|ch| ch.is_whitespace()) {
            pending_space = true;
            i += 1;
            continue;
        }
        let start = i;
        while i < n && c.get(i).is_some_and(|ch| !ch.is_whitespace()) {
            i += 1;
        }
        let raw = c.get(start..i).unwrap_or(&[]);
        // Trim punctuation at the edges (but `@`, `$`, `€` at the start are letters: `@sshole`, `$hit`).
        let keep_edge = |ch: &char| ch.is_alphanumeric() || matches!(ch, '@' | '$' | '€');
        let core_start = raw.iter().position(keep_edge).unwrap_or(raw.len());
        let core_end = raw
            .iter()
            .rposition(|ch| ch.is_alphanumeric())
            .map_or(core_start, |p| p + 1);
        let core = raw.get(core_start..core_end.max(core_start)).unwrap_or(&[]);
        let has_letter = core.iter().any(|ch| ch.is_alphabetic());
        for &ch in core {
            let m = if has_letter { leet(ch) } else { ch };
            if m.is_alphanumeric() {
                if pending_space && !text.is_empty() {
                    text.push(' ');
                    stretched.push(false);
                }
                pending_space = false;
                push_collapsing(&mut text, &mut stretched, m);
            } else {
                pending_space = true;
            }
        }
        pending_space = true;
    }
    Folded { text, stretched }
}

/// Push a letter, collapsing a third (and further) identical letter in a row into the first one.
fn push_collapsing(text: &mut String, stretched: &mut Vec<bool>, ch: char) {
    if ch.is_alphabetic() {
        let (last, before) = last_two(text, ch);
        if last {
            if before {
                // Third of a run: drop it and the second, mark the first as stretched.
                let w = ch.len_utf8();
                text.truncate(text.len() - w);
                stretched.truncate(stretched.len() - w);
                let len = stretched.len();
                if let Some(s) = stretched.get_mut(len - w..) {
                    s.iter_mut().for_each(|b| *b = true);
                }
                return;
            }
            // Already collapsed run (the previous letter is stretched): keep dropping.
            if stretched.last().copied().unwrap_or(false) {
                return;
            }
        }
    }
    text.push(ch);
    // One `push` per byte: `extend(repeat_n(..))` became a `memset` call per character (measured).
    for _ in 0..ch.len_utf8() {
        stretched.push(false);
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
            ("k. a. n. k. e. r.", "kanker"),
            ("k4nk3r", "kanker"),
            ("h0er", "hoer"),
            ("sh!t", "shit"),
            ("$hit", "shit"),
            ("@sshole", "asshole"),
            ("n1kk3r", "nikker"),
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
