//! The straightforward three-pass folding (clean → join spaced letters → finish) that the fast single-pass
//! [`super::fold`] replaced, kept as its specification: the differential tests in [`super::tests`] check that
//! both give the same text and the same stretch marks, on tables, on every fixture and on random input.
//! Test-only; easy to read, slow (a `Vec<char>` per pass, a flag per output byte).

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use super::{
    capital_homoglyph, homoglyph, is_apostrophe, is_invisible, is_leet_symbol, is_letter_separator,
    leet,
};

/// The folded text and one stretch flag per byte of it.
pub(super) struct Folded {
    pub(super) text: String,
    pub(super) stretched: Vec<bool>,
}

/// Fold `input` the old way.
pub(super) fn fold(input: &str) -> Folded {
    let cleaned = clean_chars(input);
    let joined = join_spaced_letters(&cleaned);
    finish(&joined)
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
            if let Some(l) = capital_homoglyph(d) {
                out.push(l);
                return;
            }
            for l in d.to_lowercase() {
                out.push(homoglyph(l));
            }
        });
    }
    out
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
    // A letter just after an apostrophe inside a word is a clitic (`zo'n`), never a chain's first letter.
    let after_apostrophe = |i: usize| {
        i > 1
            && c.get(i - 1).is_some_and(|p| is_apostrophe(*p))
            && c.get(i - 2).is_some_and(|p| p.is_alphanumeric())
    };
    while i < n {
        if !single(i) || after_apostrophe(i) {
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
            // Each gap as the separators between two singles; a word ends at a gap with white space that is
            // not the chain's most frequent gap (the first one of equal frequency), if all words keep three.
            let gaps: Vec<(usize, bool)> = chain
                .windows(2)
                .map(|w| {
                    let seps = c.get(w[0] + 1..w[1]).unwrap_or(&[]);
                    (seps.len(), seps.iter().any(|ch| ch.is_whitespace()))
                })
                .collect();
            let count = |g: &(usize, bool)| gaps.iter().filter(|h| *h == g).count();
            let most = gaps.iter().map(count).max().unwrap_or(0);
            let usual = gaps
                .iter()
                .find(|g| count(g) == most)
                .copied()
                .unwrap_or((0, false));
            // Split only when every word so made has at least three singles or is a short word.
            let cuts: Vec<usize> = (0..gaps.len())
                .filter(|&k| gaps.get(k).is_some_and(|g| g.1 && *g != usual))
                .collect();
            let mut bounds = vec![0];
            bounds.extend(cuts.iter().map(|k| k + 1));
            bounds.push(chain.len());
            let split = bounds.windows(2).all(|w| {
                let word: String = chain
                    .get(w[0]..w[1])
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(|&p| c.get(p))
                    .flat_map(|ch| ch.to_lowercase())
                    .collect();
                w[1] - w[0] >= 3 || super::SHORT_WORDS.contains(&word.as_str())
            });
            for (k, &p) in chain.iter().enumerate() {
                out.extend(c.get(p).copied());
                if split && cuts.contains(&k) {
                    out.push(' ');
                }
            }
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
                if has_letter && ch == '8' {
                    for l in "acht".chars() {
                        push_collapsing(&mut text, &mut stretched, l);
                    }
                } else {
                    push_collapsing(&mut text, &mut stretched, m);
                }
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
