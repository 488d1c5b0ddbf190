//! Words with a masked or look-alike letter: `kank*rlijer`, `k#tw1jf`, `kanker_lijer`, `hoer.njong`,
//! `s1et` (`1` for `l`), `a**hole`.
//!
//! Folding ([`super::normalize`]) turns a mark inside a word into a space and reads `1` as `i`, so such a
//! word reaches the word lists in pieces. Here every word of the decoded text with one or two masks
//! (`*`, `#`, `_`, or one `.` between letters) or up to two `1`/`|` among letters is written out in every way
//! it can be read: each mask as no letter or one letter, each `1`/`|` as `l` or `i`. The readings are then
//! matched like any text, allow lists included, so `kank*rbestrijding` stays as clean as
//! `kankerbestrijding`. A word with more marks is not read this way (`k.a.n.k.e.r` is the folding's job,
//! `www.school.nl` and `a_b_c_d` are not words).
//!
//! Cheap on ordinary text: only bytes that can be a mark are looked at (memchr), and a reading is written
//! only for a word that has one. Pure, never panics.

/// Readings written for one word at most (27² masks × 2² look-alikes would be 2,916).
const MAX_READINGS: usize = 800;

/// Longest word considered, in bytes.
const MAX_WORD: usize = 40;

/// Bytes of readings written for one text at most: a hostile text of nothing but masked words would
/// otherwise grow several hundred times. Past the budget the remaining words are left to the folding.
const MAX_OUTPUT: usize = 256 * 1024;

/// Every reading of every masked word of `text`, one per line; `None` when `text` has no masked word.
pub fn readings(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    // Words before this offset are done.
    let mut done = 0;
    let positions = memchr::memchr3_iter(b'*', b'#', b'_', bytes)
        .chain(memchr::memchr3_iter(b'.', b'1', b'|', bytes));
    let mut candidates: Vec<usize> = positions.filter(|&p| inner(bytes, p)).collect();
    if candidates.is_empty() {
        return None;
    }
    candidates.sort_unstable();
    for p in candidates {
        if p < done {
            continue;
        }
        let (start, end) = word_around(bytes, p);
        done = end;
        if out.len() >= MAX_OUTPUT {
            break;
        }
        if let Some(word) = text.get(start..end) {
            write_readings(word, &mut out);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A mark at `p` with an ASCII letter (or another mark or digit) right before and after it: inside a word.
fn inner(bytes: &[u8], p: usize) -> bool {
    let near = |b: Option<&u8>| {
        b.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'*' | b'#' | b'_'))
    };
    let before = p.checked_sub(1).and_then(|q| bytes.get(q));
    let after = bytes.get(p + 1);
    let letter = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphabetic);
    match bytes.get(p) {
        // A look-alike needs a letter beside it (`s1et`, `groep1` is a number in a word: both readings are
        // tried, harmlessly).
        Some(b'1' | b'|') => letter(before) || letter(after),
        // A dot ends a sentence or an abbreviation unless a letter follows at once.
        Some(b'.') => letter(before) && letter(after),
        _ => near(before) && near(after),
    }
}

/// The whitespace-delimited word around byte `p`.
fn word_around(bytes: &[u8], p: usize) -> (usize, usize) {
    let start = bytes
        .get(..p)
        .and_then(|b| b.iter().rposition(u8::is_ascii_whitespace))
        .map_or(0, |q| q + 1);
    let end = bytes
        .get(p..)
        .and_then(|b| b.iter().position(u8::is_ascii_whitespace))
        .map_or(bytes.len(), |q| p + q);
    (start, end)
}

/// One position of a word that is read in more than one way.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// No letter or any letter.
    Mask,
    /// `l` or `i`.
    LookAlike,
}

/// Append every reading of `word` (a line each), unless it is not a word with a mask or has too many.
fn write_readings(word: &str, out: &mut String) {
    // Punctuation around the word is not part of it.
    let core =
        word.trim_matches(|c: char| !c.is_alphanumeric() && !matches!(c, '*' | '#' | '_' | '|'));
    if core.len() > MAX_WORD || core.contains(['@', '/', ':', '\\']) {
        return;
    }
    let letters = core.chars().filter(|c| c.is_alphabetic()).count();
    let dots = core.matches('.').count();
    if letters < 3 {
        return;
    }
    // (byte offset, byte length, mark) of each position read in more than one way.
    let chars: Vec<(usize, char)> = core.char_indices().collect();
    let mut marks: Vec<(usize, usize, Mark)> = Vec::new();
    for (k, &(at, c)) in chars.iter().enumerate() {
        let prev = k.checked_sub(1).and_then(|j| chars.get(j)).map(|x| x.1);
        let next = chars.get(k + 1).map(|x| x.1);
        let is_letter = |x: Option<char>| x.is_some_and(char::is_alphabetic);
        let mark = match c {
            '*' | '#' | '_' if prev.is_some() && next.is_some() => Some(Mark::Mask),
            '.' if dots == 1 && is_letter(prev) && is_letter(next) => Some(Mark::Mask),
            '1' | '|' if is_letter(prev) || is_letter(next) => Some(Mark::LookAlike),
            _ => None,
        };
        if let Some(m) = mark {
            marks.push((at, c.len_utf8(), m));
        }
    }
    let masks = marks.iter().filter(|m| m.2 == Mark::Mask).count();
    let looks = marks.len() - masks;
    if marks.is_empty() || masks > 2 || looks > 2 {
        return;
    }
    let total = 27usize.pow(masks as u32) * 2usize.pow(looks as u32);
    if total > MAX_READINGS {
        return;
    }
    // Odometer over the choices: 0 = no letter, 1..=26 = a..z for a mask; 0 = `l`, 1 = `i` for a look-alike.
    let mut choice = vec![0usize; marks.len()];
    for _ in 0..total {
        if !out.is_empty() {
            out.push('\n');
        }
        let mut from = 0;
        for (&(at, len, mark), &c) in marks.iter().zip(&choice) {
            out.push_str(core.get(from..at).unwrap_or_default());
            match (mark, c) {
                (Mark::Mask, 0) => {}
                (Mark::Mask, n) => out.push(char::from(b'a' + (n - 1) as u8)),
                (Mark::LookAlike, 0) => out.push('l'),
                (Mark::LookAlike, _) => out.push('i'),
            }
            from = at + len;
        }
        out.push_str(core.get(from..).unwrap_or_default());
        for (slot, &(_, _, mark)) in choice.iter_mut().zip(&marks) {
            let base = if mark == Mark::Mask { 27 } else { 2 };
            *slot += 1;
            if *slot < base {
                break;
            }
            *slot = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(text: &str, reading: &str) -> bool {
        readings(text).is_some_and(|r| r.lines().any(|l| l == reading))
    }

    #[test]
    fn masked_words_are_read_every_way() {
        let cases: &[(&str, &str)] = &[
            ("Je bent een kank*rlijer!", "kankerlijer"),
            ("hé k#tw1jf", "kutwijf"),
            ("kanker_lijer", "kankerlijer"),
            ("hoer.njong", "hoerenjong"),
            ("vuile s1et", "slet"),
            ("a**hole", "asshole"),
            ("f*ck", "fuck"),
            ("k|ootzak", "klootzak"),
            ("(kank#rhoer)", "kankerhoer"),
        ];
        for (text, reading) in cases {
            assert!(
                has(text, reading),
                "{text:?} should read as {reading:?}: {:?}",
                readings(text).map(|r| r.len())
            );
        }
    }

    #[test]
    fn ordinary_text_has_no_readings() {
        for text in [
            "Beste ouders. Morgen is er school.",
            "Zie www.school.nl of mail naar j.dekker@example.net.",
            "In 2024 waren er 12 groepen, 1 juni.",
            "o.a. de k.a.n.k.e.r en a_b_c_d_e",
            "Een * ster en # hekje en _ streep",
            "",
        ] {
            assert_eq!(readings(text), None, "{text:?}");
        }
    }

    #[test]
    fn readings_are_bounded() {
        let r = readings("a*b*c*d*e xyz_abc k*t*w*j*f").unwrap_or_default();
        assert!(
            r.lines().count() <= 2 * MAX_READINGS,
            "{}",
            r.lines().count()
        );
        let long = "k*".repeat(10_000);
        let started = std::time::Instant::now();
        let _ = readings(&long);
        assert!(started.elapsed().as_secs() < 2);
        // Many masked words: the output stays within the budget (plus one word's readings).
        let many = "ab*cd*ef ".repeat(20_000);
        let out = readings(&many).unwrap_or_default();
        assert!(
            out.len() <= MAX_OUTPUT + MAX_READINGS * (MAX_WORD + 1),
            "{}",
            out.len()
        );
    }
}
