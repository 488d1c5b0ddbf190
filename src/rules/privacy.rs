//! Privacy rules (AVG; ProCon 10.3; Uniek 3.2.3 c/e): a citizen service number (BSN) near a word that says it
//! is one, in mail leaving the organisation; and long lists of external addresses visible in `To:`/`Cc:`
//! (should have been BCC).
//!
//! Works on the decoded text, not the folded one (digits and separators matter here). Pure; never returns or
//! logs the numbers or addresses it found.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::bytes::{span, widen};

/// Separators allowed between digit groups of a BSN written as `1234.56.782` or `123 456 782`.
fn is_group_sep(b: u8) -> bool {
    matches!(b, b'.' | b' ' | b'-')
}

/// The 11-test (elfproef) for a 9-digit BSN: Σ dᵢ·wᵢ with weights 9,8,7,6,5,4,3,2,−1 divisible by 11, and not
/// all zeros.
pub fn bsn_valid(digits: &[u8; 9]) -> bool {
    if digits.iter().all(|d| *d == 0) {
        return false;
    }
    let weights: [i64; 9] = [9, 8, 7, 6, 5, 4, 3, 2, -1];
    let sum: i64 = digits
        .iter()
        .zip(weights)
        .map(|(d, w)| i64::from(*d) * w)
        .sum();
    sum % 11 == 0
}

/// Byte ranges of every valid BSN in `text`: 9 digits (`123456782`), 8 digits (a leading 0 dropped), or
/// 4-2-3 / 3-3-3 groups separated by `.`, space or `-`. A run of digits glued to letters, or a longer number
/// (phone numbers, IBANs, dates) is not a BSN.
pub fn find_bsns(text: &str) -> Vec<(usize, usize)> {
    candidates(text)
        .into_iter()
        .filter(|c| c.valid)
        .map(|c| (c.start, c.end))
        .collect()
}

/// A number in the shape of a BSN, and whether it passes the 11-test.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    start: usize,
    end: usize,
    valid: bool,
}

/// Every number in `text` in the shape of a BSN ([`find_bsns`]'s shapes), valid or not: how many of a list's
/// numbers pass the 11-test tells BSNs (all of them) from other numbers (about one in eleven).
fn candidates(text: &str) -> Vec<Candidate> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // Most text has few digits: go straight to the next one.
        i += span(b.get(i..).unwrap_or_default(), |c| !c.is_ascii_digit());
        if i >= b.len() {
            break;
        }
        if i > 0 && b.get(i - 1).is_some_and(u8::is_ascii_alphanumeric) {
            // Digits glued to a word (`groep6`, `a1234`): skip them all.
            i += span(b.get(i..).unwrap_or_default(), |c| c.is_ascii_digit());
            continue;
        }
        // The run: digit groups joined by single separators. Only its shape matters: how many groups, the
        // lengths of the first three and whether every one has nine digits.
        let run_start = i;
        let mut j = i;
        let mut lens = [0usize; 3];
        let mut groups = 0;
        let mut all_nine = true;
        loop {
            let len = span(b.get(j..).unwrap_or_default(), |c| c.is_ascii_digit());
            j += len;
            if let Some(slot) = lens.get_mut(groups) {
                *slot = len;
            }
            groups += 1;
            all_nine &= len == 9;
            if b.get(j).is_some_and(|c| is_group_sep(*c))
                && b.get(j + 1).is_some_and(u8::is_ascii_digit)
            {
                j += 1;
                continue;
            }
            break;
        }
        let glued = b.get(j).is_some_and(u8::is_ascii_alphanumeric);
        i = j.max(i + 1);
        if glued {
            continue;
        }
        if all_nine {
            // Each group is a number of its own: nine digits and a separator, so ten bytes apart.
            for k in 0..groups {
                let s = run_start + 10 * k;
                push_candidate(b, s, s + 9, &mut out);
            }
        } else if matches!(
            (groups, lens),
            (1, [8, _, _]) | (3, [4, 2, 3]) | (3, [3, 3, 3])
        ) {
            push_candidate(b, run_start, j, &mut out);
        }
    }
    out
}

/// Add `s..e` to `out` with whether its digits (8 or 9 of them; separators are skipped, a missing leading 0
/// is added) pass the 11-test.
fn push_candidate(b: &[u8], s: usize, e: usize, out: &mut Vec<Candidate>) {
    let digits = b
        .get(s..e)
        .unwrap_or_default()
        .iter()
        .filter(|c| c.is_ascii_digit());
    let n = digits.clone().count();
    if n != 8 && n != 9 {
        return;
    }
    let mut nine = [0u8; 9];
    for (slot, c) in nine.iter_mut().skip(9 - n).zip(digits) {
        *slot = c - b'0';
    }
    out.push(Candidate {
        start: s,
        end: e,
        valid: bsn_valid(&nine),
    });
}

/// Keywords that mark a number as a BSN, compiled for case-insensitive search.
/// Labels of other numbers that pass the 11-test as often as a BSN does: an RSIN, an order or invoice number,
/// a customer or pupil number, a booking, travel or passport number. A number after one of these belongs to it,
/// however far a BSN label is.
const OTHER_LABELS: &[&str] = &[
    "rsin",
    "kvk",
    "iban",
    "btw",
    "bestelnummer",
    "bestelnr",
    "bestelcode",
    "ordercode",
    "klantcode",
    "artikelcode",
    "productcode",
    "betaalkenmerk",
    "ordernummer",
    "ordernr",
    "factuurnummer",
    "factuurnr",
    "klantnummer",
    "klantnr",
    "leerlingnummer",
    "kenmerk",
    "referentie",
    "dossiernummer",
    "polisnummer",
    "artikelnummer",
    "rekeningnummer",
    "rekening",
    "telefoon",
    "tel.",
    "debiteurnummer",
    "relatienummer",
    "contractnummer",
    "zaaknummer",
    "ticket",
    "reisnummer",
    "boekingsnummer",
    "boekingscode",
    "reserveringsnummer",
    "reserveringscode",
    "paspoortnummer",
    "documentnummer",
    "lidnummer",
    "lidmaatschapsnummer",
    "registratienummer",
    "serienummer",
    "vluchtnummer",
    "zendingnummer",
    "trackingnummer",
    "aanvraagnummer",
    "licentiecode",
    "inlogcode",
    "toegangscode",
    "activatiecode",
    "vouchercode",
    "kortingscode",
    "studentnummer",
    "personeelsnummer",
    "pasnummer",
    "transactienummer",
];

/// How far (in bytes) a BSN label reaches forward in running text: a paragraph or two ("hieronder het
/// burgerservicenummer van de leerling … ").
const FAR_REACH: usize = 600;

/// How far (in bytes) around a number a pupil record's other fields are looked for.
const RECORD_REACH: usize = 160;

/// How many lines of a list must each hold a valid number no other label claims before the list is read as
/// BSNs without any label: three numbers that all pass the 11-test by chance happen once in 1,331 lists.
const LIST_LINES: usize = 3;

/// How many names with a valid number in brackets make a list of BSNs without a label ([`named_shape`]).
const NAMED_NUMBERS: usize = 2;

/// Finds a BSN that the text says is one, or that sits in a record of a person.
#[derive(Debug, Clone)]
pub struct BsnMatcher {
    keywords: AhoCorasick,
    /// Labels of other numbers ([`OTHER_LABELS`]).
    others: AhoCorasick,
    /// Largest distance in characters between a keyword and the number, either side.
    window: usize,
    /// A date of birth (`14-03-2012`, `14/3/2012`, `2012-03-14`).
    date: regex::Regex,
    /// A Dutch postcode (`1234 AB`) or a field name of a person's record.
    record: regex::Regex,
}

impl BsnMatcher {
    /// Compile the keywords; `window` is the distance in characters for a label on either side.
    pub fn new(keywords: &[String], window: usize) -> Result<BsnMatcher, BsnError> {
        let build = |words: &[&str]| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostFirst)
                .build(words)
        };
        let keys: Vec<&str> = keywords.iter().map(String::as_str).collect();
        let date =
            regex::Regex::new(r"\b(\d{1,2}[-/.]\d{1,2}[-/.](19|20)\d\d|(19|20)\d\d-\d\d-\d\d)\b")?;
        let record = regex::Regex::new(
            r"(\b\d{4} ?[A-Z]{2}\b)|(?i)\b(geboren|geboortedatum|geb\.|adres|woonplaats|leerling|naam)\b",
        )?;
        Ok(BsnMatcher {
            keywords: build(&keys)?,
            others: build(OTHER_LABELS)?,
            window,
            date,
            record,
        })
    }

    /// True when `text` holds a valid BSN that is labelled as one: a keyword within `window` characters; a
    /// keyword earlier in the paragraph (up to [`FAR_REACH`] bytes) with no other number's label in between;
    /// a keyword in the header line of a table (`Naam | Geboortedatum | BSN`, tab, `;` or `,` separated),
    /// which covers the whole table; or, without any label, a number in the shape of a pupil record (a date
    /// and a postcode or a field name close by, and no other number's label before it), or a list of such
    /// numbers ([`BsnMatcher::list_shape`]).
    pub fn matches(&self, text: &str) -> bool {
        let all = candidates(text);
        let numbers: Vec<(usize, usize)> = all
            .iter()
            .filter(|c| c.valid)
            .map(|c| (c.start, c.end))
            .collect();
        if numbers.is_empty() {
            return false;
        }
        let keys: Vec<(usize, usize)> = self
            .keywords
            .find_iter(text)
            .map(|m| (m.start(), m.end()))
            .collect();
        let others: Vec<usize> = self.others.find_iter(text).map(|m| m.end()).collect();
        // Whether another number's label sits between `from` and the number at `at`.
        let other_between = |from: usize, at: usize| others.iter().any(|&o| o > from && o <= at);
        // Whether the label nearest before the number at `at`, within the window, is another number's (`het
        // polisnummer is 999997646; het BSN is daarvoor niet nodig`): the number is that label's, whatever
        // BSN label follows it. So is a label further back in the same sentence (`het polisnummer van de
        // reisverzekering voor alle kampen en excursies van dit schooljaar is 999997646`).
        let claimed_before = |at: usize| {
            let key = keys.iter().map(|k| k.1).filter(|&k| k <= at).max();
            others
                .iter()
                .copied()
                .filter(|&o| o <= at && key.is_none_or(|k| k < o))
                .max()
                .is_some_and(|o| {
                    text.get(o..at).is_some_and(|between| {
                        between.chars().count() <= self.window
                            || (between.len() <= FAR_REACH && !ends_sentence(between))
                    })
                })
        };
        numbers.iter().any(|&(ns, ne)| {
            let labelled = keys.iter().any(|&(ks, ke)| {
                let (a, b) = if ke <= ns {
                    (ke, ns)
                } else if ne <= ks {
                    (ne, ks)
                } else {
                    return true;
                };
                let close = text
                    .get(a..b)
                    .is_some_and(|between| between.chars().count() <= self.window);
                // Another number's label between a BSN label and the number claims it, however close
                // (`geen BSN, alleen de bestelcode 123456782`).
                let claimed = if ke <= ns {
                    other_between(ke, ns)
                } else {
                    claimed_before(ns)
                };
                if close && !claimed {
                    return true;
                }
                if ke > ns {
                    return false;
                }
                // A header row names every column: another column's label in it (`Naam;BSN;Paspoortnummer`)
                // does not claim the numbers under it.
                let from = header_row_end(text, ks)
                    .filter(|&end| end < ns)
                    .map_or(ke, |end| end.max(ke));
                if other_between(from, ns) {
                    return false;
                }
                ns - ke <= FAR_REACH || (is_table_header(text, ks) && same_block(text, ke, ns))
            });
            labelled || self.record_shape(text, ns, ne, &others)
        }) || list_shape(text, &all, &others)
            || named_shape(text, &all, &others)
    }

    /// A number with a date and a postcode or field name around it, and no other number's label just before.
    fn record_shape(&self, text: &str, ns: usize, ne: usize, others: &[usize]) -> bool {
        let from = floor_char(text, ns.saturating_sub(RECORD_REACH));
        let to = floor_char(text, (ne + RECORD_REACH).min(text.len()));
        let Some(around) = text.get(from..to) else {
            return false;
        };
        !others.iter().any(|&o| o > from && o <= ns)
            && self.date.is_match(around)
            && self.record.is_match(around)
    }
}

/// A list of BSNs without a label (names and numbers pasted from the pupil administration): valid numbers on
/// at least [`LIST_LINES`] lines, no other number's label earlier in their block (a table headed
/// `Ordernummer`, a line `Bestelnummers:` above the list), and at least three in four of the block's numbers in
/// a BSN's shape valid — other 9-digit numbers pass the 11-test about one time in eleven.
fn list_shape(text: &str, all: &[Candidate], others: &[usize]) -> bool {
    let b = text.as_bytes();
    // One pass: the candidates come in order, so the lines and blocks are walked along with them.
    let mut newlines = memchr::memchr_iter(b'\n', b).peekable();
    let (mut line, mut line_start, mut block) = (0usize, 0usize, 0usize);
    let mut list = ListCount::default();
    for c in all {
        while let Some(nl) = newlines.next_if(|&nl| nl < c.start) {
            let blank = b
                .get(line_start..nl)
                .is_some_and(|l| l.iter().all(u8::is_ascii_whitespace));
            if blank {
                if list.is_list() {
                    return true;
                }
                list = ListCount::default();
                block = nl + 1;
            }
            line += 1;
            line_start = nl + 1;
        }
        let first_after_block = others.partition_point(|&o| o <= block);
        let claimed = others
            .get(first_after_block..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&o| o <= c.start)
            .any(|&o| claims(text, o, c.start));
        if claimed {
            continue;
        }
        list.seen += 1;
        if c.valid {
            list.valid += 1;
            if list.last_line != Some(line) {
                list.lines += 1;
                list.last_line = Some(line);
            }
        }
    }
    list.is_list()
}

/// Whether the other number's label ending at `label` claims the number at `number`: in running text every
/// number after it, in a table's header row only the numbers of its own column (`naam;klas;uniek_id;inlogcode`
/// labels the fourth column, not the third).
fn claims(text: &str, label: usize, number: usize) -> bool {
    let Some(header_end) = header_row_end(text, label).filter(|&end| end < number) else {
        return true;
    };
    let b = text.as_bytes();
    let (header_start, _) = widen(b, label, label, |c| c == b'\n');
    let header = b.get(header_start..header_end).unwrap_or_default();
    let Some(sep) = [b'\t', b'|', b';', b',']
        .into_iter()
        .find(|s| header.contains(s))
    else {
        return true;
    };
    let (line_start, _) = widen(b, number, number, |c| c == b'\n');
    let column = |from: usize, to: usize| {
        b.get(from..to)
            .map_or(0, |cells| cells.iter().filter(|&&c| c == sep).count())
    };
    column(header_start, label) == column(line_start, number)
}

/// Names each with a BSN (`Lisa Vos (123456782) en Julia Peters (111222333)`, `Yara Dijkstra 123456782, Ayoub
/// Tahiri 111222333, …`): at least [`NAMED_NUMBERS`] valid numbers in brackets or [`LIST_LINES`] valid numbers
/// in all straight after a capitalised word ([`after_a_name`]; without brackets two are no more a list than two
/// lines are), at least three in four of them valid,
/// and no other number's label up to [`FAR_REACH`] bytes before any of them (`bestelnummers: Sem (…)`). Two
/// valid numbers by chance happen once in 121 such lines; a pupil number is shorter than nine digits.
fn named_shape(text: &str, all: &[Candidate], others: &[usize]) -> bool {
    let (mut seen, mut valid, mut bracketed) = (0usize, 0usize, 0usize);
    for c in all.iter().filter(|c| after_a_name(text, c)) {
        if others
            .iter()
            .any(|&o| o <= c.start && c.start - o <= FAR_REACH)
        {
            return false;
        }
        seen += 1;
        valid += usize::from(c.valid);
        bracketed += usize::from(c.valid && after_a_name_in_brackets(text, c));
    }
    (bracketed >= NAMED_NUMBERS || valid >= LIST_LINES) && 4 * valid >= 3 * seen
}

/// Whether candidate `c` is written after a name: `Name (number)`, or `Name number` in a list on a line, followed
/// by a comma, a semicolon, `en`, a full stop or the end of the text (`Yara Dijkstra 123456782, Ayoub Tahiri
/// 111222333`). A number at a line's end is [`list_shape`]'s: lines and blocks count there.
fn after_a_name(text: &str, c: &Candidate) -> bool {
    after_a_name_in_brackets(text, c) || after_a_name_bare(text, c)
}

/// `Name number,`: a capitalised word, spaces, the number, then a separator of a list on one line.
fn after_a_name_bare(text: &str, c: &Candidate) -> bool {
    let Some(before) = text.get(..c.start) else {
        return false;
    };
    let trimmed = before.trim_end_matches(' ');
    if trimmed.len() == before.len() {
        return false;
    }
    let word = trimmed
        .rsplit(|ch: char| !ch.is_alphabetic())
        .next()
        .unwrap_or("");
    let after = text.get(c.end..).unwrap_or_default();
    word.chars().count() >= 2
        && word.chars().next().is_some_and(char::is_uppercase)
        && (after.is_empty()
            || [",", ";", " en ", ". ", ".\n", ".\r"]
                .iter()
                .any(|sep| after.starts_with(sep))
            || after == ".")
}

/// Whether candidate `c` is written `Name (number)`: in brackets, after a word that starts with a capital.
fn after_a_name_in_brackets(text: &str, c: &Candidate) -> bool {
    let b = text.as_bytes();
    let (Some(open), Some(&b')')) = (c.start.checked_sub(1), b.get(c.end)) else {
        return false;
    };
    if b.get(open) != Some(&b'(') {
        return false;
    }
    let Some(before) = text.get(..open) else {
        return false;
    };
    let word = before
        .trim_end()
        .rsplit(|ch: char| !ch.is_alphabetic())
        .next()
        .unwrap_or("");
    word.chars().next().is_some_and(char::is_uppercase)
}

/// The numbers of one block [`list_shape`] counts.
#[derive(Default)]
struct ListCount {
    seen: usize,
    valid: usize,
    lines: usize,
    last_line: Option<usize>,
}

impl ListCount {
    fn is_list(&self) -> bool {
        self.lines >= LIST_LINES && 4 * self.valid >= 3 * self.seen
    }
}

/// A BSN matcher that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BsnError {
    #[error("keywords: {0}")]
    Keywords(#[from] aho_corasick::BuildError),
    #[error("record pattern: {0}")]
    Pattern(#[from] regex::Error),
}

/// The largest char boundary at or before `i`.
fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Whether the line around byte `at` looks like the header of a table: it has column separators.
fn is_table_header(text: &str, at: usize) -> bool {
    let b = text.as_bytes();
    let (start, end) = widen(b, at, at, |c| c == b'\n');
    b.get(start..end)
        .is_some_and(|line| line.iter().any(|c| matches!(c, b'\t' | b'|' | b';' | b',')))
}

/// The end of the line at `at` when it is a table's header row: cells separated by tabs, `|` or `;`, or by
/// commas when no cell has more than three words (a sentence with commas is no header row). Only numbers
/// on later lines are under it.
fn header_row_end(text: &str, at: usize) -> Option<usize> {
    let b = text.as_bytes();
    let (start, end) = widen(b, at, at, |c| c == b'\n');
    let line = text.get(start..end)?;
    let cells = if line.contains(['\t', '|', ';']) {
        true
    } else {
        line.contains(',')
            && !line.contains(". ")
            && line
                .split(',')
                .all(|cell| cell.split_whitespace().count() <= 3)
    };
    cells.then_some(end)
}

/// Whether `between` crosses the end of a sentence (`.`, `!` or `?` before white space) or of a paragraph.
fn ends_sentence(between: &str) -> bool {
    let b = between.as_bytes();
    between.contains("\n\n")
        || between.contains("\n\r\n")
        || b.windows(2)
            .any(|w| matches!(w[0], b'.' | b'!' | b'?') && w[1].is_ascii_whitespace())
}

/// Whether no empty line lies between `from` and `to`: the table goes on.
fn same_block(text: &str, from: usize, to: usize) -> bool {
    text.get(from..to)
        .is_some_and(|between| !between.replace('\r', "").contains("\n\n"))
}

/// Number of distinct addresses in `to` + `cc` that are not in `local_domains` (all of them when it is empty).
pub fn visible_external(to: &[String], cc: &[String], local_domains: &[String]) -> usize {
    let mut seen: Vec<String> = to
        .iter()
        .chain(cc)
        .filter(|a| local_domains.is_empty() || !crate::envelope::is_local(a, local_domains))
        .map(|a| a.to_lowercase())
        .collect();
    seen.sort();
    seen.dedup();
    seen.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> [u8; 9] {
        let mut d = [0u8; 9];
        for (i, c) in s.bytes().enumerate() {
            d[i] = c - b'0';
        }
        d
    }

    #[test]
    fn eleven_test() {
        let cases: &[(&str, bool)] = &[
            ("111222333", true),
            ("123456782", true),
            ("123456789", false),
            ("000000000", false),
            ("012345672", true),
            ("999999999", false),
        ];
        for (s, want) in cases {
            assert_eq!(bsn_valid(&digits(s)), *want, "{s}");
        }
    }

    #[test]
    fn finding_numbers() {
        let cases: &[(&str, usize)] = &[
            ("bsn 123456782", 1),
            ("bsn 1234.56.782", 1),
            ("bsn 123 456 782", 1),
            ("bsn 123-456-782", 1),
            ("bsn 12345672", 1),   // 8 digits: 012345672
            ("bsn 12345678 2", 0), // 8 + 1 digits are not a BSN's groups, though 123456782 would be
            ("123456789", 0),
            ("1234567820", 0),
            ("NL91ABNA0123456782", 0),
            ("06-12345678", 0),
            ("123456782 111222333", 2),
            ("123456782, 111222333.", 2),
            ("12-05-2024", 0),
            ("x123456782", 0),
            ("123456782x", 0),
        ];
        for (s, want) in cases {
            assert_eq!(find_bsns(s).len(), *want, "{s}");
        }
    }

    #[test]
    fn keyword_proximity() {
        let m =
            BsnMatcher::new(&["bsn".to_string(), "burgerservicenummer".to_string()], 20).unwrap();
        let cases: &[(&str, bool)] = &[
            ("BSN: 123456782", true),
            ("123456782 is het burgerservicenummer", true),
            ("Het BSN van Piet is bekend. Bestelnummer 123456782", false),
            ("Ordernummer 123456782", false),
            ("BSN: 123456789", false),
            // A label a paragraph away, unless another number's label comes between.
            (
                "Hieronder het BSN van de leerling, zoals besproken met de ouders tijdens het gesprek.\n\nSem, 12-03-2014\n123456782",
                true,
            ),
            ("Het BSN hebben we niet. Ons RSIN is 123456782.", false),
            // A table whose header says BSN, however long.
            (
                &format!("Naam;BSN\n{}Sem;123456782\n", "Anna;niet bekend\n".repeat(20)),
                true,
            ),
            // A pupil record without a label; an order number with a date stays clean.
            ("Sem de Vries\t12-03-2014\tDorpsstraat 4, 1234 AB Ons Dorp\t123456782", true),
            ("Bestelnummer 123456782 van 12-03-2024, afleveradres 1234 AB", false),
            ("Betaald op 12-03-2024: 123456782", false),
            ("Wij vragen geen BSN. Alleen de naam, bestelcode 123456782.", false),
            ("Geen BSN, bestelcode 123456782", false),
            ("BSN 123456782, bestelcode 111222333", true),
            // Another number's label right before the number claims it, also with a BSN label after it.
            ("Het polisnummer is 123456782, het BSN is niet nodig.", false),
            ("Stuur geen BSN per mail. Reisnummer bij de busmaatschappij: 123456782.", false),
            ("Geen BSN nodig, wel het paspoortnummer: 123456782", false),
            ("Stuur geen BSN per mail. Het nummer is 123456782.", true),
            ("Naam;Geboortedatum;BSN;Paspoortnummer\nJan Jansen;14-03-2012;123456782;NX4R12345\n", true),
            ("Naam, BSN, Paspoortnummer\nJan Jansen, 123456782, NX4R12345\n", true),
            (
                "Wij vragen alleen: naam, geboortedatum, paspoort. Stuur geen BSN per mail, reisnummer bij de \
                 bus: 123456782.",
                false,
            ),
            (
                "Het polisnummer van de reisverzekering voor alle kampen, excursies en uitwisselingen van dit \
                 schooljaar is 123456782; het BSN is niet nodig.",
                false,
            ),
            (
                "Het polisnummer staat op de pas. Voor alle kampen, excursies en uitwisselingen van dit \
                 schooljaar geldt 123456782, het BSN van Sem.",
                true,
            ),
            ("Polis 4411, 123456782 is het BSN van Sem.", true),
            ("Kenmerk 88, BSN niet nodig. 123456782 is het BSN van Sem.", true),
        ];
        for (s, want) in cases {
            assert_eq!(m.matches(s), *want, "{s}");
        }
    }

    #[test]
    fn lists_without_a_label() {
        let m = BsnMatcher::new(&["bsn".to_string(), "b.s.n".to_string()], 20).unwrap();
        let cases: &[(&str, bool)] = &[
            // Names and numbers pasted from the pupil administration: every number passes the 11-test.
            (
                "Sem de Vries 123456782\nAnna Jansen 111222333\nTim Bakker 012345672\n",
                true,
            ),
            (
                "Sem;123456782\r\nAnna;111222333\r\nTim;1234.56.782\r\n",
                true,
            ),
            // Two lines are not yet a list; three numbers on one line are one record.
            ("Sem de Vries 123456782\nAnna Jansen 111222333\n", false),
            ("123456782 111222333 012345672", false),
            // Other numbers pass the 11-test one time in eleven: a list with many that fail is not BSNs.
            (
                "123456782\n111222333\n012345672\n123456789\n987654321\n",
                false,
            ),
            // A list another label heads, in the same block, belongs to that label.
            ("Bestelnummers:\n123456782\n111222333\n012345672\n", false),
            (
                "Ordernr;Datum\n123456782;1-2\n111222333;3-4\n012345672;5-6\n",
                false,
            ),
            // A header row's label claims its own column only: the numbers beside a login code's column are
            // still a list.
            (
                "naam;klas;uniek_id;inlogcode\nSem;1K;123456782;ZZ7310\nAnna;1B;111222333;ZZ7327\nTim;2M;012345672;ZZ7344\n",
                true,
            ),
            (
                "naam;inlogcode\nSem;123456782\nAnna;111222333\nTim;012345672\n",
                false,
            ),
            // … but not a label in a block above an empty line.
            (
                "Ons RSIN staat op de factuur.\n\nSem 123456782\nAnna 111222333\nTim 012345672\n",
                true,
            ),
            // Blocks are counted apart: two and one.
            ("Sem 123456782\nAnna 111222333\n\nTim 012345672\n", false),
            // Labels written short.
            ("B.S.N. leerling: 123456782", true),
            // Names each with a number in brackets: two valid ones are BSNs; one is not yet a list, lowercase
            // words are no names, another label claims them, and many that fail the 11-test are other numbers.
            ("Lisa Vos (123456782) en Julia Peters (111222333).", true),
            ("Lisa Vos (123456782) komt ook.", false),
            // … or without brackets, three or more in a list on one line: a comma, `en` or a full stop after each
            // number (two are not yet a list, as two lines are not).
            (
                "Yara Dijkstra 123456782, Ayoub Tahiri 111222333, Tim Bakker 012345672 en de rest in de bijlage.",
                true,
            ),
            (
                "Yara Dijkstra 123456782, Ayoub Tahiri 111222333 en de rest in de bijlage.",
                false,
            ),
            ("Kamer 123456782, verdieping 2.", false),
            (
                "Klantnummers: Lisa 123456782, Sem 111222333, Tim 012345672.",
                false,
            ),
            ("de doos (123456782) en de kist (111222333)", false),
            ("Ordernummers: Lisa (123456782), Tim (111222333)", false),
            (
                "Lisa (123456782), Tim (111222333), Sem (123456789), Anna (987654321)",
                false,
            ),
        ];
        for (s, want) in cases {
            assert_eq!(m.matches(s), *want, "{s}");
        }
    }

    #[test]
    fn visible_counts() {
        let local = vec!["school.example".to_string()];
        let to = vec![
            "a@x.example".to_string(),
            "b@school.example".to_string(),
            "A@x.example".to_string(),
        ];
        let cc = vec!["c@y.example".to_string()];
        assert_eq!(visible_external(&to, &cc, &local), 2);
        assert_eq!(visible_external(&to, &cc, &[]), 3);
    }
}
