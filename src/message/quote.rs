//! Who wrote which text: the sender's own words, text the sender quotes, and speech the sender reports.
//!
//! A reply or forward carries the earlier mail along (every mail client does this), and a report about abuse
//! repeats what somebody else said. Neither is the sender's own language (issue 14), so the rules screen them
//! apart, each with its own weight ([`crate::message::TextOrigin::Quote`],
//! [`crate::message::TextOrigin::ReportedSpeech`]).
//!
//! What counts as quoted in a text part (HTML quotes are found from their markup in [`super::html`]):
//! - `>` lines after an attribution line (`Op … schreef …:`, `On … wrote:`, `… heeft … geschreven:`), as
//!   every client writes them. `>` lines without one stay the sender's own text: anyone can type a `>`.
//! - The earlier mail below a header block of at least three fields (`Van:` or `From:`, then two of
//!   `Verzonden:`/`Sent:`/`Datum:`/`Date:`, `Aan:`/`To:`, `Onderwerp:`/`Subject:`), as Outlook writes it
//!   under `-----Oorspronkelijk bericht-----`/`-----Original Message-----` or a line, and Gmail and
//!   Thunderbird under `---------- Doorgestuurd bericht ---------`. Everything from the block to the end of
//!   the text is the earlier mail (top posting); the separator lines above it are the client's and are
//!   neither.
//!
//! Reported speech: a span in quotation marks (`"…"`, `“…”`, `„…”`, `'…'`, `‘…’`, `«…»`) introduced in the same
//! sentence by a reporting verb (`riep`, `zei`, `schreeuwde`, `noemde`, `schreef`, `appte`, `stond` …, or
//! `…", riep hij`) whose clause (from `dat`, `die`, `toen`, `waarin` …) has no first or second person
//! (`ik zei: "…"` and `jij zei: "…"` stay the sender's own words), or with a third person right after the verb
//! (`in de film die we zien zegt de hoofdpersoon '…'`) and no first or second person next to it. A quotation
//! that is mentioned rather than used counts the same, whoever speaks: a few words after a noun naming a piece
//! of language in its sentence (`de kettingbrief '…'`, `het woord '…'`, `zoals '…'`, `de uitspraak van een
//! Kamerlid over '…'`) with no second person in between (`een woord voor jou: '…'` uses it), or asked about
//! (`wat '…' betekent`). So is a message someone received, told with a verb of receiving in the past (`mijn
//! dochter kreeg een appje: '…'`; see [`received`]). Quotations listed right after a reported one (`'…', '…' en
//! '…'`) are reported with it. Someone of the sender's own saying it now (`mijn broer zegt: '…'`) passes it on:
//! the sender's own words.
//! Quoted speech stays screened: it is only weighed apart.
//!
//! Pure, linear in the text, never panics. Texts without any marker are returned as they are, unsplit.

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};

/// A text split by who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split<'a> {
    /// The sender's own text, quotes and reported speech taken out.
    pub own: Cow<'a, str>,
    /// Text the sender quotes, one quoted line per line.
    pub quoted: String,
    /// Reported speech, one span per line.
    pub reported: String,
}

/// Split a text part (or the text of an HTML part) as described in the module docs.
pub fn split(text: &str) -> Split<'_> {
    let (own, quoted) = split_quotes(text);
    let (own, mut reported) = match reported_speech(&own) {
        None => (own, String::new()),
        Some((rest, reported)) => (Cow::Owned(rest), reported),
    };
    let (own, reported) = match unmarked_speech(&own) {
        None => (own, reported),
        Some((rest, more)) => {
            if !reported.is_empty() {
                reported.push('\n');
            }
            reported.push_str(&more);
            (Cow::Owned(rest), reported)
        }
    };
    Split {
        own,
        quoted,
        reported,
    }
}

/// Whether a line scan is worthwhile: a line starting with `>`, or `van:` / `from:` in any case. Found from
/// the rare bytes `>` and `:` with memchr (a case-insensitive automaton over every byte cost ~16
/// instructions a byte of every message).
fn has_quote_marker(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr_iter(b'>', b).any(|i| i > 0 && b.get(i - 1) == Some(&b'\n'))
        || memchr::memchr_iter(b':', b).any(|i| {
            ["van", "from"].iter().any(|w| {
                i.checked_sub(w.len())
                    .and_then(|s| b.get(s..i))
                    .is_some_and(|h| h.eq_ignore_ascii_case(w.as_bytes()))
            })
        })
}

/// The sender's own lines and the quoted lines.
fn split_quotes(text: &str) -> (Cow<'_, str>, String) {
    if !text.trim_start().starts_with('>') && !has_quote_marker(text) {
        return (Cow::Borrowed(text), String::new());
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut own: Vec<&str> = Vec::with_capacity(lines.len());
    let mut quoted: Vec<&str> = Vec::new();
    let mut attributed = false;
    // Lines left in which an attribution that began on an earlier line may end with its `:`.
    let mut attribution_open = 0u8;
    let mut changed = false;
    for (k, line) in lines.iter().enumerate() {
        if let Some(start) = header_block_at(&lines, k) {
            // The separator lines above the block (`---------- Doorgestuurd bericht ---------`) are the mail
            // client's, not anybody's words: they leave the sender's text and are not screened as the
            // earlier mail either (`doorgestuurd bericht` is what a chain letter asks for).
            let keep = own.len().saturating_sub(k - start);
            own.truncate(keep);
            quoted.extend(lines.iter().skip(k).map(|l| l.trim_end_matches('\r')));
            changed = true;
            break;
        }
        let trimmed = line.trim_start();
        if attributed && trimmed.starts_with('>') {
            let body = trimmed.trim_start_matches(['>', ' ']);
            quoted.push(body.trim_end_matches('\r'));
            changed = true;
            continue;
        }
        own.push(line);
        let lower = line.to_lowercase();
        if ["schreef", "wrote", "geschreven", "schrieb", "a écrit"]
            .iter()
            .any(|w| lower.contains(w))
        {
            attribution_open = 2;
        }
        if attribution_open > 0 {
            if line.trim_end().ends_with(':') {
                attributed = true;
                attribution_open = 0;
            } else {
                attribution_open -= 1;
            }
        }
    }
    if !changed {
        return (Cow::Borrowed(text), String::new());
    }
    (Cow::Owned(own.join("\n")), quoted.join("\n"))
}

/// The field name a header-like line starts with (`Van:`, `*Sent:*`, `Onderwerp :`), lowercased.
fn field_name(line: &str) -> Option<String> {
    let t = line.trim_start().trim_start_matches('*');
    let colon = t.find(':')?;
    let name = t.get(..colon)?.trim().trim_end_matches('*').to_lowercase();
    (!name.is_empty() && name.len() <= 12 && name.chars().all(|c| c.is_alphabetic() || c == '-'))
        .then_some(name)
}

/// When a header block of an earlier mail starts at line `k`, the line where the quote starts (`k`, or the
/// separator lines just above it).
fn header_block_at(lines: &[&str], k: usize) -> Option<usize> {
    let first = field_name(lines.get(k)?)?;
    if first != "van" && first != "from" {
        return None;
    }
    let (mut date, mut to, mut subject) = (false, false, false);
    for line in lines.iter().skip(k + 1).take(8) {
        if line.trim().is_empty() {
            break;
        }
        match field_name(line).as_deref() {
            Some("verzonden" | "sent" | "datum" | "date" | "verstuurd") => date = true,
            Some("aan" | "to") => to = true,
            Some("onderwerp" | "subject") => subject = true,
            Some(
                "cc" | "bcc" | "prioriteit" | "priority" | "urgentie" | "importance" | "reply-to"
                | "antwoord-aan",
            ) => {}
            _ => break,
        }
    }
    if u8::from(date) + u8::from(to) + u8::from(subject) < 2 {
        return None;
    }
    let mut start = k;
    while let Some(above) = start.checked_sub(1).and_then(|a| lines.get(a)) {
        if is_separator(above) {
            start -= 1;
        } else {
            break;
        }
    }
    Some(start)
}

/// A separator line a client writes above a quoted mail.
fn is_separator(line: &str) -> bool {
    let t = line.trim();
    if t.is_empty() {
        return false;
    }
    if t.chars().all(|c| matches!(c, '-' | '_' | '=' | '—' | '─')) && t.chars().count() >= 5 {
        return true;
    }
    let lower = t.to_lowercase();
    [
        "original message",
        "oorspronkelijk bericht",
        "origineel bericht",
        "forwarded message",
        "doorgestuurd bericht",
        "begin forwarded message",
        "begin doorgestuurd bericht",
        "doorgestuurde bericht",
    ]
    .iter()
    .any(|m| lower.contains(m))
}

/// Verbs that introduce what somebody else said or wrote (Dutch, all common forms).
const REPORTING_VERBS: &[&str] = &[
    "riep",
    "riepen",
    "roept",
    "roepen",
    "geroepen",
    "zei",
    "zeiden",
    "zegt",
    "gezegd",
    "schreeuwde",
    "schreeuwden",
    "schreeuwt",
    "geschreeuwd",
    "noemde",
    "noemden",
    "noemt",
    "genoemd",
    "schreef",
    "schreven",
    "schrijft",
    "geschreven",
    "appte",
    "appten",
    "appt",
    "geappt",
    "typte",
    "typten",
    "getypt",
    "stuurde",
    "stuurden",
    "gestuurd",
    "postte",
    "postten",
    "gepost",
    "fluisterde",
    "brulde",
    "brulden",
    "gilde",
    "gilden",
    "zong",
    "zongen",
    "zingt",
    "zingen",
    "gezongen",
    "rapt",
    "rapte",
    "rapten",
    "gerapt",
    "scholdt",
    "scheldt",
    "schelden",
    "gescholden",
    "schold",
    "scholden",
    "uitgescholden",
    "uitgemaakt",
    "stond",
    "stonden",
    "staat",
    "zat",
    "zaten",
    "noemen",
    "zeggen",
    "schreeuwen",
    "zette",
    "plaatste",
    "geplaatst",
    "antwoordde",
    "reageerde",
    "vroeg",
    "vraagt",
    "dreigde",
    "dreigt",
    "gedreigd",
    "beweerde",
    "sprak",
    "tegen",
    // What was written or posted: `een bericht gezet met de tekst '…'`, `met de woorden '…'`.
    "tekst",
    "woorden",
    "gezet",
];

/// Participles that end a clause after what they report: `Sem werd 'vuile Turk' en 'kakkerlak' genoemd`.
const REPORTING_PARTICIPLES: &[&str] = &[
    "genoemd",
    "geroepen",
    "gezegd",
    "geschreeuwd",
    "geschreven",
    "geappt",
    "getypt",
    "gestuurd",
    "gepost",
    "gezongen",
    "gerapt",
    "uitgescholden",
    "uitgemaakt",
    "gescholden",
    "toegeroepen",
    "nageroepen",
];

/// Verbs of *hearing* what somebody else said (`een leerling vertelde mij dat …`, `ik kreeg te horen dat ik een
/// '…' ben`): in their sentence a first or second person is the one who heard it or was called a name, not
/// the speaker, so it does not make the quoted words the sender's own.
const HEARING_VERBS: &[&str] = &[
    "vertelde",
    "vertelden",
    "verteld",
    "hoorde",
    "hoorden",
    "gehoord",
    "horen",
    "meldde",
    "meldden",
];

/// Words that make a clause first or second person: then the speech is the sender's own.
const OWN_PERSONS: &[&str] = &["ik", "wij", "we", "jij", "je", "jullie", "me", "mij"];

/// The second person: words aimed at the reader (`een woord voor jou: '…'`, `hij zegt dat hij je komt halen`).
const SECOND_PERSONS: &[&str] = &["je", "jij", "jou", "jouw", "u", "jullie"];

/// Reporting verbs in the present tense.
const PRESENT_REPORTING: &[&str] = &[
    "roept",
    "zegt",
    "schreeuwt",
    "noemt",
    "schrijft",
    "appt",
    "dreigt",
    "scheldt",
    "zingt",
    "rapt",
    "vraagt",
];

/// Words that start a third-person subject (`zegt de hoofdpersoon`, `riep een jongen`, `schreef haar vader`).
const THIRD_PERSON_STARTS: &[&str] = &[
    "de", "het", "een", "die", "deze", "hij", "zij", "ze", "zijn", "haar", "hun",
];

/// Quick filter for [`reported_speech`]: any quotation mark at all.
fn has_quote_mark(text: &str) -> bool {
    let b = text.as_bytes();
    // `“` `„` `‘` are E2 80 9C / 9E / 98 in UTF-8, `«` is C2 AB: found by their lead bytes with memchr, not
    // by decoding every character.
    memchr::memchr2(b'"', b'\'', b).is_some()
        || memchr::memchr2_iter(0xE2, 0xC2, b).any(|i| {
            matches!(
                (b.get(i), b.get(i + 1), b.get(i + 2)),
                (Some(0xE2), Some(0x80), Some(0x9C | 0x9E | 0x98)) | (Some(0xC2), Some(0xAB), _)
            )
        })
}

/// The closing mark for an opening one.
fn closer(open: char) -> Option<&'static [char]> {
    Some(match open {
        '"' => &['"', '”', '“'],
        '“' => &['”', '"', '“'],
        '„' => &['”', '“', '"'],
        '\'' => &['\'', '’'],
        '‘' => &['’', '\''],
        '«' => &['»'],
        _ => return None,
    })
}

/// Find reported speech in `text`; `None` when there is none. Otherwise the text with each span replaced by
/// a space, and the spans one per line.
pub fn reported_speech(text: &str) -> Option<(String, String)> {
    if !has_quote_mark(text) {
        return None;
    }
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while let Some((at, open)) = text
        .get(i..)
        .and_then(|r| r.char_indices().find(|(_, c)| closer(*c).is_some()))
        .map(|(p, c)| (i + p, c))
    {
        i = at + open.len_utf8();
        // An opening mark starts a word: `foto's` and `zo'n` have none.
        let before = text.get(..at).and_then(|b| b.chars().next_back());
        if before.is_some_and(char::is_alphanumeric) {
            continue;
        }
        let Some(closers) = closer(open) else {
            continue;
        };
        let Some(close) = closing_mark(text, i, closers) else {
            continue;
        };
        if close == i {
            continue;
        }
        // A quotation listed right after a reported one (`'…', '…' en '…'`) is reported with it.
        let listed = spans.last().is_some_and(|&(_, end)| {
            // From the previous closing mark (left out) to this opening mark.
            let mut between = text.get(end..at).unwrap_or_default().chars();
            between.next();
            matches!(
                between.as_str().trim(),
                "" | "," | "en" | "of" | ", en" | ", of"
            )
        });
        if listed
            || introduced_by_report(text, at)
            || followed_by_report(text, close)
            || mentioned(text, at, close)
        {
            spans.push((i, close));
        }
        i = close + 1;
    }
    if spans.is_empty() {
        return None;
    }
    let mut own = String::with_capacity(text.len());
    let mut reported = String::new();
    let mut from = 0;
    for (s, e) in spans {
        own.push_str(text.get(from..s).unwrap_or_default());
        own.push(' ');
        if !reported.is_empty() {
            reported.push('\n');
        }
        reported.push_str(text.get(s..e).unwrap_or_default());
        from = e;
    }
    own.push_str(text.get(from..).unwrap_or_default());
    Some((own, reported))
}

/// Past-tense and participle forms of speech verbs, and the nouns of a written message, that introduce speech
/// *without* quotation marks: `Ravi riep naar een klasgenoot: ga terug …`, `zei dat hij haar zou opwachten`,
/// `noemde haar een …`, `stuurde de woorden ik steek je neer`. Present tenses (`zegt`) are left out: `mijn
/// broer zegt dat hij je komt halen` is a threat passed on, not a report.
const UNMARKED_INTRODUCERS: &[&str] = &[
    "riep",
    "riepen",
    "geroepen",
    "zei",
    "zeiden",
    "gezegd",
    "schreeuwde",
    "schreeuwden",
    "geschreeuwd",
    "noemde",
    "noemden",
    "genoemd",
    "schreef",
    "schreven",
    "geschreven",
    "appte",
    "appten",
    "geappt",
    "typte",
    "typten",
    "getypt",
    "gilde",
    "gilden",
    "brulde",
    "brulden",
    "fluisterde",
    "dreigde",
    "dreigden",
    "gedreigd",
    "beweerde",
    "schold",
    "scholden",
    "uitgescholden",
    "uitgemaakt",
    "toegeroepen",
    "nageroepen",
    // Nouns: `met de woorden …`, `een bericht met de tekst …`.
    "woorden",
    "tekst",
];

/// Present-tense speech verbs that introduce an account without quotation marks only as `… zegt dat` + a
/// clause about what is done to the sender or forbidden her (`ze zeggen dat hij me opwacht`, `die jongen zegt
/// dat ik het niemand mag vertellen`): a pupil telling a teacher what happens to her. Not with a second person
/// in that clause (`mijn broer zegt dat hij je komt halen` passes a threat on), nor when it says what the
/// sender does or must do (`hij zegt dat ik de school moet opblazen` is the sender's threat): see
/// [`about_the_sender`].
const PRESENT_INTRODUCERS: &[&str] = &[
    "zegt",
    "zeggen",
    "schrijft",
    "schrijven",
    "eist",
    "eisen",
    "dreigt",
    "dreigen",
    "appt",
];

/// Present-tense verbs of calling someone names (`de jongens noemen Fleur een …`, `ze schelden haar uit voor
/// …`): an account of what is done, not the sender's own word, when someone other than the reader is named
/// ([`NAMED`] or a name right after the verb). `iedereen noemt je een …` says it to the reader.
const PRESENT_NAMING: &[&str] = &["noemen", "noemt", "schelden", "scheldt"];

/// Words by which the sender takes a name-calling as her own (`iedereen noemt haar een … en dat is ze ook`).
const ENDORSED: &[&str] = &[
    "dat is ze ook",
    "dat is hij ook",
    "dat is ze echt",
    "dat is hij echt",
    "dat zijn ze ook",
    "dat klopt ook",
    "en terecht",
    "wat ze ook is",
    "wat hij ook is",
    "wat ze ook zijn",
    "dat is ook zo",
    "gelijk hebben ze",
    "ze hebben gelijk",
];

/// The people one names right after a [`PRESENT_NAMING`] verb: a third person, the sender, or someone
/// introduced by an article or a possessive (`mijn dochter`, `die jongen`, `de juf`).
const NAMED: &[&str] = &[
    "haar", "hem", "mij", "me", "ons", "mijn", "zijn", "onze", "de", "die", "dat", "deze", "dit",
    "het",
];

/// Whether the words after `… zegt dat` tell what is done to the sender or forbidden her: a first person as
/// an object (`me`, `mij`), or `ik` with `niet`/`niemand`/`nooit` and `mag` a few words on; and no second
/// person.
fn about_the_sender(clause: &[String]) -> bool {
    if clause.iter().any(|w| SECOND_PERSONS.contains(&w.as_str())) {
        return false;
    }
    let object = clause.iter().any(|w| w == "me" || w == "mij");
    let forbidden = clause.iter().enumerate().any(|(i, w)| {
        let next = || clause.iter().skip(i + 1).take(6);
        w == "ik"
            && next().any(|v| matches!(v.as_str(), "mag" | "mocht" | "mogen"))
            && next().any(|v| matches!(v.as_str(), "niet" | "niemand" | "nooit" | "niks" | "niets"))
    });
    object || forbidden
}

/// Whether `token` (one word of the text) is one of [`UNMARKED_INTRODUCERS`] in any case, without lowercasing
/// every word of every text into a string of its own: ASCII words are compared in place, others lowercased
/// as before (the Kelvin sign `K` lowercases to an ASCII `k`).
fn is_introducer(token: &str) -> bool {
    is_in(UNMARKED_INTRODUCERS, token)
}

/// Whether `token` is one of `list` in any case (see [`is_introducer`]).
fn is_in(list: &[&str], token: &str) -> bool {
    if token.is_ascii() {
        list.iter().any(|w| w.eq_ignore_ascii_case(token))
    } else {
        list.contains(&token.to_lowercase().as_str())
    }
}

/// The introducers (and the Kelvin sign, which lowercases to an ASCII `k`) as substrings of the text
/// lowercased in ASCII (a copy and a case-sensitive search with the crate's prefilter cost a fraction of its
/// case-insensitive search, ~16 instructions a byte): a text holding none of them has no unmarked speech, and is not walked word by word. `None` only if the
/// constant patterns failed to compile; then every text is walked.
fn introducers() -> Option<&'static AhoCorasick> {
    static INTRODUCERS: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    INTRODUCERS
        .get_or_init(|| {
            AhoCorasickBuilder::new()
                .build(
                    UNMARKED_INTRODUCERS
                        .iter()
                        .chain(PRESENT_INTRODUCERS)
                        .chain(PRESENT_NAMING)
                        .copied()
                        .chain(["\u{212A}"]),
                )
                .ok()
        })
        .as_ref()
}

/// Words that open a new clause inside a sentence: the subject of a verb is looked for after the last one.
const CLAUSE_OPENERS: &[&str] = &[
    "dat", "die", "toen", "en", "maar", "want", "omdat", "als", "nadat", "terwijl", "waarna", "of",
];

/// Speech reported without quotation marks (see [`UNMARKED_INTRODUCERS`]): the rest of the sentence after the
/// introducer, when the introducer's clause has no first or second person (`ik zei dat …` and `jij noemde hem
/// …` stay the sender's own words; `zei ik` too). After a colon at the end of a line the speech is the next
/// line. Returns the text with the spans replaced by a space, and the spans one per line; `None` when none.
fn unmarked_speech(text: &str) -> Option<(String, String)> {
    if introducers().is_some_and(|m| !m.is_match(&text.to_ascii_lowercase())) {
        return None;
    }
    unmarked_speech_walk(text)
}

/// [`unmarked_speech`] word by word, for a text that may hold an introducer.
fn unmarked_speech_walk(text: &str) -> Option<(String, String)> {
    // Word boundaries with their byte offsets.
    let mut tokens: Vec<(usize, usize)> = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            tokens.push((s, i));
        }
    }
    if let Some(s) = start {
        tokens.push((s, text.len()));
    }
    let lower = |k: usize| -> String {
        tokens
            .get(k)
            .and_then(|&(s, e)| text.get(s..e))
            .unwrap_or_default()
            .to_lowercase()
    };
    let is_end = |c: char| matches!(c, '.' | '!' | '?' | '\n');
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut k = 0;
    while k < tokens.len() {
        let Some(&(verb_start, verb_end)) = tokens.get(k) else {
            break;
        };
        let token = text.get(verb_start..verb_end).unwrap_or_default();
        let present = is_in(PRESENT_INTRODUCERS, token);
        let naming = is_in(PRESENT_NAMING, token);
        if !present && !naming && !is_introducer(token) {
            k += 1;
            continue;
        }
        let word = lower(k);
        // The sentence so far: back to the previous sentence end, at most `SPEECH_REACH` bytes (every look
        // around a verb is bounded, so that a line of verbs without a sentence end is walked in linear time).
        let behind = back(text, verb_start);
        let sentence_start = text
            .get(behind..verb_start)
            .and_then(|h| h.rfind(is_end))
            .map_or(behind, |p| behind + p + 1);
        // The clause: after the last comma, semicolon or colon of the sentence before the verb.
        let clause_start = text
            .get(sentence_start..verb_start)
            .and_then(|h| h.rfind([',', ';', ':']))
            .map_or(sentence_start, |p| sentence_start + p + 1);
        let mut first = k;
        while first > 0 && tokens.get(first - 1).is_some_and(|t| t.0 >= clause_start) {
            first -= 1;
        }
        let before: Vec<String> = (first..k).map(lower).collect();
        let clause = before
            .iter()
            .rposition(|w| CLAUSE_OPENERS.contains(&w.as_str()))
            .map_or(&before[..], |p| before.get(p + 1..).unwrap_or_default());
        let own_subject = clause.iter().any(|w| OWN_PERSONS.contains(&w.as_str()));
        // Subject after the verb (`zei ik`, `noemde je`); not for the nouns, whose next word is the speech.
        let is_noun = word == "woorden" || word == "tekst";
        let inverted = !is_noun && OWN_PERSONS.contains(&lower(k + 1).as_str());
        // Words given to the reader (`een paar woorden voor jou: …`) are the sender's own.
        let given = given_to_reader(&[word.clone(), lower(k + 1), lower(k + 2)], 0);
        // `dat jij … bent` tells the reader something about the reader: the sender's own message, whoever
        // is said to have said it (`door iedereen wordt gezegd dat jij …`).
        let about_reader =
            lower(k + 1) == "dat" && ["jij", "je", "jullie", "u"].contains(&lower(k + 2).as_str());
        // Set phrases, not speech: `eerlijk gezegd`, `kort gezegd`, `zogezegd`, `met andere woorden`.
        let idiom = k > 0
            && [
                "eerlijk", "kort", "anders", "beter", "ronduit", "gewoon", "andere", "zo",
            ]
            .contains(&lower(k - 1).as_str());
        // A present tense only for `dat` + what is demanded of the sender, to the end of the sentence.
        // The clause ends at the sentence's end, looked for as far as a span may reach, and holds at most 60
        // words.
        let account = || {
            if lower(k + 1) != "dat" {
                return false;
            }
            let limit = ahead(text, verb_end);
            let stop = text
                .get(verb_end..limit)
                .and_then(|r| r.find(is_end))
                .map_or(limit, |p| verb_end + p);
            let clause: Vec<String> = (k + 2..tokens.len())
                .take_while(|&j| tokens.get(j).is_some_and(|&(s, _)| s < stop))
                .take(60)
                .map(lower)
                .collect();
            about_the_sender(&clause)
        };
        // Calling a third person names (`noemen Fleur een …`, `noemt haar …`): the next word names them.
        // Not when the sender agrees with it in the same sentence (`… en dat is ze ook`).
        let names_another = || {
            let next = tokens
                .get(k + 1)
                .and_then(|&(s, e)| text.get(s..e))
                .unwrap_or_default();
            let limit = ahead(text, verb_end);
            let rest = text.get(verb_end..limit).unwrap_or_default();
            let rest = rest
                .get(..rest.find(is_end).unwrap_or(rest.len()))
                .unwrap_or_default()
                .to_lowercase();
            let endorsed = ENDORSED.iter().any(|e| rest.contains(e));
            (NAMED.contains(&lower(k + 1).as_str())
                || next.chars().next().is_some_and(char::is_uppercase))
                && !endorsed
        };
        if own_subject
            || inverted
            || given
            || about_reader
            || idiom
            || (present && !account())
            || (naming && !names_another())
        {
            k += 1;
            continue;
        }
        // An attribution line (`Op … schreef Jan <jan@…>:`) is no speech: the quote below it was split off.
        let line_start = text
            .get(behind..verb_start)
            .and_then(|h| h.rfind('\n'))
            .map_or(behind, |p| behind + p + 1);
        let reach = ahead(text, verb_end);
        let line_end = text
            .get(verb_end..reach)
            .and_then(|r| r.find('\n'))
            .map_or(reach, |p| verb_end + p);
        if text
            .get(line_start..line_end)
            .is_some_and(|l| l.contains('@'))
        {
            k += 1;
            continue;
        }
        // The span: to the end of the sentence (a `.!?` before white space, or a line end), or the next line
        // after a colon that ends its line.
        let rest = text.get(verb_end..reach).unwrap_or_default();
        let sentence_end = rest.char_indices().find(|&(p, c)| {
            c == '\n'
                || (matches!(c, '.' | '!' | '?')
                    && rest
                        .get(p + 1..)
                        .and_then(|a| a.chars().next())
                        .is_none_or(char::is_whitespace))
        });
        let mut end = verb_end + sentence_end.map_or(rest.len(), |(p, _)| p);
        let line_rest = text.get(verb_end..end).unwrap_or_default();
        if line_rest.trim_end().ends_with(':') && text.get(end..end + 1) == Some("\n") {
            let after = text.get(end..).unwrap_or_default();
            let skip = after.len() - after.trim_start().len();
            let next = text
                .get(end + skip..ahead(text, end + skip))
                .unwrap_or_default();
            end = end + skip + next.find('\n').unwrap_or(next.len());
        }
        let end = end.min(reach);
        let span = text.get(verb_end..end).unwrap_or_default();
        // Speech in quotation marks was taken out already (its marks stay, around a space).
        let marked = ["\" \"", "' '", "“ ”", "„ ”", "‘ ’", "« »"]
            .iter()
            .any(|m| span.contains(m));
        if !marked && words(span).len() >= 2 {
            spans.push((verb_end, end));
        }
        while tokens.get(k).is_some_and(|t| t.0 < end) {
            k += 1;
        }
    }
    if spans.is_empty() {
        return None;
    }
    let mut own = String::with_capacity(text.len());
    let mut reported = String::new();
    let mut from = 0;
    for (s, e) in spans {
        own.push_str(text.get(from..s).unwrap_or_default());
        own.push(' ');
        if !reported.is_empty() {
            reported.push('\n');
        }
        reported.push_str(text.get(s..e).unwrap_or_default().trim());
        from = e;
    }
    own.push_str(text.get(from..).unwrap_or_default());
    Some((own, reported))
}

/// How far around a speech verb the walk looks (bytes): the longest span of unmarked speech, and the reach
/// back to the sentence's start and the line's.
const SPEECH_REACH: usize = 400;

/// The char boundary at most [`SPEECH_REACH`] bytes before `at`.
fn back(text: &str, at: usize) -> usize {
    let mut from = at.saturating_sub(SPEECH_REACH);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    from
}

/// The char boundary at most [`SPEECH_REACH`] bytes after `at`, within the text.
fn ahead(text: &str, at: usize) -> usize {
    let mut to = (at + SPEECH_REACH).min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    to
}

/// The lowercased words of `text` (letters and digits).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether the sentence before the opening mark at `at` reports speech: a reporting verb in its last clause,
/// and no first or second person in that clause.
fn introduced_by_report(text: &str, at: usize) -> bool {
    let head = text.get(..at).unwrap_or_default();
    // The sentence: back to the previous sentence end (or paragraph), at most 240 bytes.
    let mut from = at.saturating_sub(240);
    while !head.is_char_boundary(from) {
        from += 1;
    }
    let window = head.get(from..).unwrap_or_default();
    let sentence_start = window
        .rfind(['.', '!', '?'])
        .map_or(0, |p| p + 1)
        .max(window.rfind("\n\n").map_or(0, |p| p + 2));
    let sentence = window.get(sentence_start..).unwrap_or_default();
    let w = words(sentence);
    if w.iter().any(|x| HEARING_VERBS.contains(&x.as_str())) {
        return true;
    }
    let Some(verb) = w
        .iter()
        .rposition(|x| REPORTING_VERBS.contains(&x.as_str()))
    else {
        return false;
    };
    // Words given to the reader (`een paar woorden voor jou: '…'`) are the sender's own.
    if given_to_reader(&w, verb) {
        return false;
    }
    // The clause of the verb: from the last `dat`/`die` or subordinating `als`/`wanneer` … before it (`hoe je
    // reageert als een leerling zegt dat '…'`: the generic `je` is outside the leerling's clause).
    let clause_start = w
        .get(..verb)
        .and_then(|b| {
            b.iter().rposition(|x| {
                matches!(
                    x.as_str(),
                    "dat"
                        | "die"
                        | "toen"
                        | "waarin"
                        | "waarop"
                        | "waarmee"
                        | "als"
                        | "wanneer"
                        | "omdat"
                        | "nadat"
                        | "zodra"
                )
            })
        })
        .map_or(0, |p| p + 1);
    // Someone of the sender's own saying it now (`mijn broer zegt: '…'`) passes a threat on, as without quotation
    // marks; a report tells what was said (`mijn broer zei: '…'`, `de verdachte zegt daarin: '…'`).
    let own_side = w
        .get(clause_start..)
        .unwrap_or_default()
        .iter()
        .any(|x| matches!(x.as_str(), "mijn" | "m'n" | "mn" | "onze" | "ons"));
    if own_side
        && w.get(verb)
            .is_some_and(|x| PRESENT_REPORTING.contains(&x.as_str()))
    {
        return false;
    }
    // Subject-verb inversion with a third person right after the verb (`in de film zegt de hoofdpersoon
    // steeds '…'`): whoever else is in the clause (`de film die we moeten zien`), the speaker is not the sender.
    // Not when a first or second person stands right before the verb or anywhere after it (`ik zeg het je: '…'`).
    let own = |x: &String| OWN_PERSONS.contains(&x.as_str());
    if w.get(verb + 1)
        .is_some_and(|x| THIRD_PERSON_STARTS.contains(&x.as_str()))
        && !verb.checked_sub(1).and_then(|b| w.get(b)).is_some_and(own)
        && !w.get(verb + 1..).unwrap_or_default().iter().any(own)
    {
        return true;
    }
    let clause = w.get(clause_start..).unwrap_or_default();
    // Subject-verb inversion puts the person right after the verb (`zei ik`), inside the clause too.
    !clause.iter().any(|x| OWN_PERSONS.contains(&x.as_str()))
}

/// Whether the noun `w[at]` (`woorden`, `tekst`) is given to the reader: `woorden voor jou`, `een tekst aan
/// jullie`.
fn given_to_reader(w: &[String], at: usize) -> bool {
    let word = |i: usize| w.get(i).map_or("", String::as_str);
    matches!(word(at), "woorden" | "tekst")
        && matches!(word(at + 1), "voor" | "aan" | "naar")
        && matches!(word(at + 2), "je" | "jij" | "jou" | "jullie" | "u")
}

/// Nouns that name a piece of language: a quotation right after one is mentioned, not used (`de kettingbrief
/// 'stuur door of je hebt pech'`, `het woord '…'`, `scheldwoorden zoals '…'`), whoever speaks.
const MENTION_NOUNS: &[&str] = &[
    "woord",
    "woorden",
    "woordje",
    "zin",
    "zinnen",
    "zinnetje",
    "uitdrukking",
    "uitdrukkingen",
    "term",
    "termen",
    "begrip",
    "kettingbrief",
    "kettingbrieven",
    "kettingbericht",
    "kettingberichten",
    "kettingmail",
    "kettingmails",
    "titel",
    "liedje",
    "liedjes",
    "songtekst",
    "songteksten",
    "refrein",
    "refreinen",
    "couplet",
    "coupletten",
    "teksten",
    "slogan",
    "poster",
    "posters",
    "spandoek",
    "spandoeken",
    "sticker",
    "stickers",
    "opschrift",
    "graffiti",
    "leus",
    "leuze",
    "spreuk",
    "hashtag",
    "meme",
    "scheldwoord",
    "scheldwoorden",
    "scheldnaam",
    "scheldnamen",
    "zoals",
    "bijvoorbeeld",
    "uitspraak",
    "uitspraken",
    "citaat",
    "kreet",
    "kreten",
];

/// How many words before a quotation a [`MENTION_NOUNS`] noun may stand (`een paar kettingbrieven verzameld:
/// '…'`, `de uitspraak van een Kamerlid over '…'`), within its sentence.
const MENTION_REACH: usize = 5;

/// Whether the quotation from `at` to `close` is mentioned rather than used: right after a noun that names a
/// piece of language ([`MENTION_NOUNS`]), a message received ([`received`]), or asked about (`wat '…' betekent`).
fn mentioned(text: &str, at: usize, close: usize) -> bool {
    let mut from = at.saturating_sub(80);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let window = text.get(from..at).unwrap_or_default();
    let head = window
        .rfind(['.', '!', '?'])
        .map_or(window, |p| window.get(p + 1..).unwrap_or_default());
    let before = words(head);
    // A sentence that only points back (`Die van '…'`) names its piece of language in the sentence before
    // (`een kettingbrief overnemen? Die van '…'`). Not `Deze: '…'` or `Dit: '…'`, which present what follows:
    // `Kettingbrief! Deze: '…'` hands the chain letter on.
    let pointing_back = matches!(
        before.as_slice(),
        [w, van] if matches!(w.as_str(), "die" | "dat") && van == "van"
    );
    let reach = if pointing_back {
        words(window)
    } else {
        before.clone()
    };
    // Back from the quotation to a noun naming a piece of language; a second person on the way aims the words at
    // the reader (`een woord voor jou: '…'`), which is using them.
    let named = reach
        .iter()
        .rev()
        .take(MENTION_REACH + before.len())
        .take_while(|w| !SECOND_PERSONS.contains(&w.as_str()))
        .any(|w| MENTION_NOUNS.contains(&w.as_str()));
    if named || received(&before) {
        return true;
    }
    let mut to = (close + 80).min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    let tail = text.get(close..to).unwrap_or_default();
    let tail = words(tail.split(['.', '!', '?', '\n']).next().unwrap_or_default());
    let asks = before.iter().rev().take(2).any(|w| w == "wat");
    asks && tail.iter().any(|w| {
        matches!(
            w.as_str(),
            "betekent" | "betekenen" | "betekende" | "inhoudt"
        )
    })
}

/// Nouns for a message someone received (`mijn dochter kreeg een appje: '…'`): see [`received`].
const MESSAGE_NOUNS: &[&str] = &[
    "bericht",
    "berichtje",
    "berichten",
    "berichtjes",
    "appje",
    "appjes",
    "mail",
    "mailtje",
    "mails",
    "mailtjes",
    "dm",
    "sms",
];

/// Verbs of having received or seen a message, in the past: a notification in the present (`Tikkie ontvangen:
/// …`, `je krijgt een bericht`) is how spam dresses up its own words.
const RECEIVED: &[&str] = &[
    "kreeg",
    "kregen",
    "gekregen",
    "ontving",
    "ontvingen",
    "zag",
    "zagen",
    "gezien",
    "las",
    "lazen",
    "gelezen",
];

/// Whether the words of the sentence before a quotation (`before`) tell of a message received: a noun of
/// [`MESSAGE_NOUNS`] at most [`MENTION_REACH`] words before the quotation, with no first person between them,
/// a verb of [`RECEIVED`] in the sentence, and no second person anywhere in it (`ik kreeg zo'n bericht met '…'`,
/// `mijn zoon heeft een mail gekregen: '…'`): a report of what someone else sent, whoever tells it. Not a message
/// the sender sends (`ik stuur een bericht: '…'` has no verb of receiving) or wrote (`in mijn mail schreef ik
/// '…'`: a first person after the noun, and `mijn` right before it), nor a notification to the reader (`je hebt
/// een bericht gekregen: '…'`).
fn received(before: &[String]) -> bool {
    // `uw` too: `uw bericht is ontvangen` addresses the reader as a notification does.
    let second = |w: &String| SECOND_PERSONS.contains(&w.as_str()) || w == "uw";
    if before.iter().any(second) || !before.iter().any(|w| RECEIVED.contains(&w.as_str())) {
        return false;
    }
    let noun = before
        .iter()
        .enumerate()
        .rev()
        .take(MENTION_REACH)
        .take_while(|(_, w)| !OWN_PERSONS.contains(&w.as_str()))
        .find(|(_, w)| MESSAGE_NOUNS.contains(&w.as_str()))
        .map(|(i, _)| i);
    noun.is_some_and(|i| {
        !i.checked_sub(1)
            .and_then(|b| before.get(b))
            .is_some_and(|w| matches!(w.as_str(), "mijn" | "m" | "ons" | "onze"))
    })
}

/// The closing mark of a quotation whose text starts at `i`: one of `closers` that ends a word, within the
/// paragraph and 400 bytes.
fn closing_mark(text: &str, i: usize, closers: &[char]) -> Option<usize> {
    let limit = text
        .get(i..)
        .map_or(i, |r| i + r.find("\n\n").unwrap_or(r.len()).min(400));
    text.get(i..limit).and_then(|r| {
        r.char_indices()
            .filter(|(_, c)| closers.contains(c))
            .find(|(p, c)| {
                let after = r.get(p + c.len_utf8()..).and_then(|a| a.chars().next());
                let prev = r.get(..*p).and_then(|b| b.chars().next_back());
                !after.is_some_and(char::is_alphanumeric)
                    && prev.is_some_and(|c| !c.is_whitespace())
            })
            .map(|(p, _)| i + p)
    })
}

/// The closing mark of the last quotation listed right after the one closing at `close` (`'…' en '…'`, `'…',
/// '…'`), so that what follows the list reports all of them; `close` when none follows.
fn after_listed(text: &str, mut close: usize) -> usize {
    for _ in 0..8 {
        let Some(after) = text.get(close..).and_then(|r| {
            let mut chars = r.chars();
            chars.next().map(|_| chars.as_str())
        }) else {
            break;
        };
        let rest = after.trim_start();
        let rest = match rest.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None => match rest
                .strip_prefix("en ")
                .or_else(|| rest.strip_prefix("of "))
            {
                Some(r) => r.trim_start(),
                None => break,
            },
        };
        let Some(closers) = rest.chars().next().and_then(closer) else {
            break;
        };
        let start = text.len() - rest.len() + rest.chars().next().map_or(0, char::len_utf8);
        let Some(end) = closing_mark(text, start, closers) else {
            break;
        };
        close = end;
    }
    close
}

/// Whether the closing mark at `close` is followed by `, riep hij` / `zei Daan`: a reporting verb and a
/// third-person subject.
fn followed_by_report(text: &str, close: usize) -> bool {
    let close = after_listed(text, close);
    let mut to = (close + 60).min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    let tail = text.get(close..to).unwrap_or_default();
    let tail = tail.split(['.', '!', '?', '\n']).next().unwrap_or_default();
    let w = words(tail);
    // A participle closing the clause (`… 'kakkerlak' genoemd.`): the report's subject came before the quote,
    // so a first or second person there makes it the sender's own words.
    if w.last()
        .is_some_and(|last| REPORTING_PARTICIPLES.contains(&last.as_str()))
        && !w.iter().any(|x| OWN_PERSONS.contains(&x.as_str()))
    {
        return !introduced_by_own_person(text, close);
    }
    // A participle opening the rest of the clause (`Daarin is '…' geschreven over een leerling`, `'…' en erger
    // geroepen`): as at its end.
    if w.iter()
        .take(3)
        .any(|x| REPORTING_PARTICIPLES.contains(&x.as_str()))
        && !w.iter().any(|x| OWN_PERSONS.contains(&x.as_str()))
    {
        return !introduced_by_own_person(text, close);
    }
    // A reporting verb ending the clause right after the quote (`kinderen die 'Sieg Heil' roepen`): the
    // subject came before the quote.
    if w.len() == 1
        && w.first()
            .is_some_and(|v| REPORTING_VERBS.contains(&v.as_str()) && v.len() > 5)
    {
        return !introduced_by_own_person(text, close);
    }
    match (w.first(), w.get(1)) {
        (Some(verb), Some(subject)) => {
            REPORTING_VERBS.contains(&verb.as_str()) && !OWN_PERSONS.contains(&subject.as_str())
        }
        _ => false,
    }
}

/// Whether the sentence up to `close` has a first or second person outside quotation marks (`ik heb hem
/// 'sukkel' genoemd` is the sender's own insult).
fn introduced_by_own_person(text: &str, close: usize) -> bool {
    let mut from = close.saturating_sub(240);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let window = text.get(from..close).unwrap_or_default();
    let sentence = window
        .rfind(['.', '!', '?'])
        .map_or(window, |p| window.get(p + 1..).unwrap_or_default());
    // Only the words outside quotation marks say who speaks.
    let outside: Vec<&str> = sentence
        .split(['\'', '"', '“', '”', '‘', '’'])
        .step_by(2)
        .collect();
    let w = words(&outside.join(" "));
    // Who heard it is not who said it (see `HEARING_VERBS`).
    if w.iter().any(|x| HEARING_VERBS.contains(&x.as_str())) {
        return false;
    }
    // After an earlier quotation, a new clause (`ze noemen mij '…' en iemand heeft '…' op mijn kluisje
    // geschreven`) has its own subject: only its words say who wrote this one.
    let last = outside.last().map(|o| words(o)).unwrap_or_default();
    let clause = match last.first().map(String::as_str) {
        Some("en" | "maar" | "want") if outside.len() > 1 && last.len() > 2 => &last[1..],
        _ => &w[..],
    };
    clause.iter().any(|x| OWN_PERSONS.contains(&x.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, own, quoted, reported)
    type Case<'a> = (&'a str, &'a str, &'a str, &'a str);

    #[test]
    fn split_table() {
        let cases: &[Case] = &[
            ("Gewoon een bericht.", "Gewoon een bericht.", "", ""),
            (
                "Dank voor uw mail.\n\nOp ma 13 jan. 2025 om 21:14 schreef Jan <j@x.nl>:\n\n> Jullie zijn\n> idioten\n",
                "Dank voor uw mail.\n\nOp ma 13 jan. 2025 om 21:14 schreef Jan <j@x.nl>:\n\n",
                "Jullie zijn\nidioten",
                "",
            ),
            // The attribution may wrap over two lines.
            (
                "Ok.\nOn Mon, Jan 13 Jan Dekker <\nj@x.nl> wrote:\n>> diep\n> ondiep",
                "Ok.\nOn Mon, Jan 13 Jan Dekker <\nj@x.nl> wrote:",
                "diep\nondiep",
                "",
            ),
            // `>` without an attribution is the sender's own text.
            ("> dit typ ik zelf\nen dit", "> dit typ ik zelf\nen dit", "", ""),
            (
                "Zie hieronder.\n\n________________________________\nVan: Jan <j@x.nl>\nVerzonden: maandag 13 januari 2025 21:14\nAan: Juf <juf@school.nl>\nOnderwerp: klacht\n\nU bent een idioot.",
                "Zie hieronder.\n",
                "Van: Jan <j@x.nl>\nVerzonden: maandag 13 januari 2025 21:14\nAan: Juf <juf@school.nl>\nOnderwerp: klacht\n\nU bent een idioot.",
                "",
            ),
            (
                "Ter info.\n-----Original Message-----\nFrom: Jan <j@x.nl>\nSent: Monday\nTo: juf@school.nl\nSubject: x\n\ntekst",
                "Ter info.",
                "From: Jan <j@x.nl>\nSent: Monday\nTo: juf@school.nl\nSubject: x\n\ntekst",
                "",
            ),
            (
                "Kijk.\n---------- Doorgestuurd bericht ---------\nVan: Tante <t@x.nl>\nDate: wo 8 jan\nSubject: echt\nTo: Jan <j@x.nl>\n\nbrief",
                "Kijk.",
                "Van: Tante <t@x.nl>\nDate: wo 8 jan\nSubject: echt\nTo: Jan <j@x.nl>\n\nbrief",
                "",
            ),
            // One header-like line is not a header block.
            (
                "Van: de directie\nAan het eind van de dag sluiten we.",
                "Van: de directie\nAan het eind van de dag sluiten we.",
                "",
                "",
            ),
            // Reported speech, third person.
            (
                "Vandaag riep Daan in de les: \"jij bent dom\". Dat kan niet.",
                "Vandaag riep Daan in de les: \" \". Dat kan niet.",
                "",
                "jij bent dom",
            ),
            (
                "Ik moet u melden dat Sem in de pauze riep: 'ik sla je'. Excuses volgden.",
                "Ik moet u melden dat Sem in de pauze riep: ' '. Excuses volgden.",
                "",
                "ik sla je",
            ),
            (
                "Hij schreef in de groepsapp: “jullie zijn dom” en ging weg.",
                "Hij schreef in de groepsapp: “ ” en ging weg.",
                "",
                "jullie zijn dom",
            ),
            ("\"Ga weg\", riep hij.", "\" \", riep hij.", "", "Ga weg"),
            // A participle closing the clause after the quotes, and what was posted `met de tekst '…'`.
            (
                "Sem werd door twee jongens 'sukkel' en 'loser' genoemd. Wij grepen in.",
                "Sem werd door twee jongens ' ' en ' ' genoemd. Wij grepen in.",
                "",
                "sukkel\nloser",
            ),
            (
                "Zij zette een bericht in de app met de tekst 'jullie zijn dom'. Zij krijgt een gesprek.",
                "Zij zette een bericht in de app met de tekst ' '. Zij krijgt een gesprek.",
                "",
                "jullie zijn dom",
            ),
            // A present-tense verb after the quote, a participle a few words on, a box a question `zat` in, and a
            // report in a clause opened by `als` beside a generic `je`.
            (
                "Ik wil melden dat jongens de meisjes 'hoertjes' noemen sinds de iftar.",
                "Ik wil melden dat jongens de meisjes ' ' noemen sinds de iftar.",
                "",
                "hoertjes",
            ),
            (
                "Leerlingen hebben aan het hek 'moslims eruit' en erger geroepen.",
                "Leerlingen hebben aan het hek ' ' en erger geroepen.",
                "",
                "moslims eruit",
            ),
            (
                "In de vragendoos zat 'doet anale seks pijn'.",
                "In de vragendoos zat ' '.",
                "",
                "doet anale seks pijn",
            ),
            (
                "Hoe reageer je als een leerling zegt dat 'ze gedood moeten worden'?",
                "Hoe reageer je als een leerling zegt dat ' '?",
                "",
                "ze gedood moeten worden",
            ),
            // Told to the sender, or the sender called a name: a first person who heard it is not who said it.
            (
                "Na de les vertelde een leerling mij dat ze een 'vieze aap' werd genoemd. Hoe nu?",
                "Na de les vertelde een leerling mij dat ze een ' ' werd genoemd. Hoe nu?",
                "",
                "vieze aap",
            ),
            (
                "Ik kreeg van een leerling te horen dat ik een 'kut-Turk' ben.",
                "Ik kreeg van een leerling te horen dat ik een ' ' ben.",
                "",
                "kut-Turk",
            ),
            // A reporting verb closing the clause after the quote.
            (
                "Er gaat een filmpje rond waarin kinderen 'Sieg Heil' roepen. Wij bespraken het.",
                "Er gaat een filmpje rond waarin kinderen ' ' roepen. Wij bespraken het.",
                "",
                "Sieg Heil",
            ),
            ("Ik wil 'rot op' roepen.", "Ik wil 'rot op' roepen.", "", ""),
            // Mentioned, not used: after a noun that names a piece of language, or asked about, whoever speaks.
            (
                "We nemen de kettingbrief 'stuur door of je hebt pech' als voorbeeld.",
                "We nemen de kettingbrief ' ' als voorbeeld.",
                "",
                "stuur door of je hebt pech",
            ),
            (
                "Wat 'ons geheimpje' in de methode betekent, weet ik niet.",
                "Wat ' ' in de methode betekent, weet ik niet.",
                "",
                "ons geheimpje",
            ),
            ("Wat 'ons geheimpje' is, weet jij.", "Wat 'ons geheimpje' is, weet jij.", "", ""),
            // A message someone received, told with a verb of receiving: mentioned. A message the sender sends
            // or wrote is used.
            (
                "Ik kreeg zo'n bericht met 'stuur dit naar tien mensen'. Mag ik het verwijderen?",
                "Ik kreeg zo'n bericht met ' '. Mag ik het verwijderen?",
                "",
                "stuur dit naar tien mensen",
            ),
            (
                "Mijn dochter heeft gisteren een appje gekregen: 'ik weet waar je woont'. Wat nu?",
                "Mijn dochter heeft gisteren een appje gekregen: ' '. Wat nu?",
                "",
                "ik weet waar je woont",
            ),
            (
                "Ik stuur een bericht: 'ik maak je af'.",
                "Ik stuur een bericht: 'ik maak je af'.",
                "",
                "",
            ),
            (
                "Gisteren kreeg hij mijn mail: 'ik maak je af'.",
                "Gisteren kreeg hij mijn mail: 'ik maak je af'.",
                "",
                "",
            ),
            (
                "Tikkie ontvangen: 0,01 euro met het bericht 'open de link'.",
                "Tikkie ontvangen: 0,01 euro met het bericht 'open de link'.",
                "",
                "",
            ),
            (
                "Je hebt een bericht gekregen: 'open de link'.",
                "Je hebt een bericht gekregen: 'open de link'.",
                "",
                "",
            ),
            (
                "Ik las je bericht en ik zeg 'rot op'.",
                "Ik las je bericht en ik zeg 'rot op'.",
                "",
                "",
            ),
            // A mention noun a few words before, and the quotations listed after it.
            (
                "Ik heb kettingbrieven verzameld: 'stuur door', 'pech' en 'geluk'. Wij ontleden ze.",
                "Ik heb kettingbrieven verzameld: ' ', ' ' en ' '. Wij ontleden ze.",
                "",
                "stuur door\npech\ngeluk",
            ),
            // Plural nouns name pieces of language too; a second person on the way still aims them.
            (
                "We tellen woorden als 'bitch' en 'hoer' in hiphop.",
                "We tellen woorden als ' ' en ' ' in hiphop.",
                "",
                "bitch\nhoer",
            ),
            (
                "Ik leg uit waarom teksten over vrouwen als 'bitches' besproken worden.",
                "Ik leg uit waarom teksten over vrouwen als ' ' besproken worden.",
                "",
                "bitches",
            ),
            (
                "Een paar woorden voor jou: 'vuile hoer'.",
                "Een paar woorden voor jou: 'vuile hoer'.",
                "",
                "",
            ),
            // A third person right after the verb speaks, whoever else is in the clause.
            (
                "In de film die we zien zegt de hoofdpersoon steeds 'rot op'.",
                "In de film die we zien zegt de hoofdpersoon steeds ' '.",
                "",
                "rot op",
            ),
            // The sender's own speech with a third-person word after the verb stays the sender's.
            (
                "Ik zeg het je nog een keer: 'ik steek je neer'.",
                "Ik zeg het je nog een keer: 'ik steek je neer'.",
                "",
                "",
            ),
            (
                "Dus ik zeg de hele tijd 'rot op'.",
                "Dus ik zeg de hele tijd 'rot op'.",
                "",
                "",
            ),
            // A sentence pointing back to the piece of language the sentence before names.
            (
                "Mag ik een kettingbrief uit 2004 overnemen? Die van 'stuur dit door of je hebt pech'.",
                "Mag ik een kettingbrief uit 2004 overnemen? Die van ' '.",
                "",
                "stuur dit door of je hebt pech",
            ),
            // A sentence presenting what follows is not pointing back: the chain letter is handed on.
            (
                "Kettingbrief! Deze: 'stuur dit door of je hebt pech'.",
                "Kettingbrief! Deze: 'stuur dit door of je hebt pech'.",
                "",
                "",
            ),
            (
                "Een kettingbrief voor iedereen. Dit: 'stuur dit door of je hebt pech'.",
                "Een kettingbrief voor iedereen. Dit: 'stuur dit door of je hebt pech'.",
                "",
                "",
            ),
            // Not when the sentence before names none.
            (
                "Ik heb een vraag. Die van mij: 'stuur dit door of je hebt pech'.",
                "Ik heb een vraag. Die van mij: 'stuur dit door of je hebt pech'.",
                "",
                "",
            ),
            // Words aimed at the reader are used, not mentioned, whatever noun names them.
            (
                "Een woord voor jou: 'kankerhoer'.",
                "Een woord voor jou: 'kankerhoer'.",
                "",
                "",
            ),
            // Someone of the sender's own saying it now passes it on; saying it then is a report.
            (
                "Mijn broer zegt: 'ik steek je morgen neer'.",
                "Mijn broer zegt: 'ik steek je morgen neer'.",
                "",
                "",
            ),
            (
                "Mijn broer zei: 'ik steek je morgen neer'.",
                "Mijn broer zei: ' '.",
                "",
                "ik steek je morgen neer",
            ),
            // A passive `wordt gescholden met` reports the names it lists.
            (
                "In 2B wordt veel gescholden met 'mongool' en 'autist'. Wie doet mee?",
                "In 2B wordt veel gescholden met ' ' en ' '. Wie doet mee?",
                "",
                "mongool\nautist",
            ),
            // `waarin` starts the reporting clause.
            (
                "Stuur je geen berichten door waarin staat 'stuur dit naar 10 mensen'?",
                "Stuur je geen berichten door waarin staat ' '?",
                "",
                "stuur dit naar 10 mensen",
            ),
            ("Jij bent een 'sukkel'.", "Jij bent een 'sukkel'.", "", ""),
            // The sender's own insult stays the sender's.
            (
                "Ik heb hem 'sukkel' genoemd.",
                "Ik heb hem 'sukkel' genoemd.",
                "",
                "",
            ),
            // After an earlier quotation a new clause has its own subject: who wrote the second one.
            (
                "Ze noemen mij 'homo' en iemand heeft 'ga dood' op mijn kluisje geschreven.",
                "Ze noemen mij 'homo' en iemand heeft ' ' op mijn kluisje geschreven.",
                "",
                "ga dood",
            ),
            (
                "Ze noemen mij 'homo' en ik heb 'ga dood' op zijn kluisje geschreven.",
                "Ze noemen mij 'homo' en ik heb 'ga dood' op zijn kluisje geschreven.",
                "",
                "",
            ),
            // A list of quotations, then the participle (and what follows it, as `geschreven` introduces speech
            // without quotation marks too).
            (
                "Daarin is 'vieze vluchteling' en 'ga terug' geschreven over een leerling.",
                "Daarin is ' ' en ' ' geschreven .",
                "",
                "vieze vluchteling\nga terug\nover een leerling",
            ),
            (
                "Ik heb 'vieze vluchteling' en 'ga terug' geschreven over een leerling.",
                "Ik heb 'vieze vluchteling' en 'ga terug' geschreven .",
                "",
                "over een leerling",
            ),
            // A chain message named before its words.
            (
                "Er gaat een kettingbericht rond: 'stuur door naar 20 mensen'.",
                "Er gaat een kettingbericht rond: ' '.",
                "",
                "stuur door naar 20 mensen",
            ),
            // First or second person: the sender's own words.
            ("Ik zei: \"jij bent dom\".", "Ik zei: \"jij bent dom\".", "", ""),
            ("Toen zei ik: 'rot op'.", "Toen zei ik: 'rot op'.", "", ""),
            ("\"Rot op\", zei ik.", "\"Rot op\", zei ik.", "", ""),
            // Without quotation marks: after a colon, `zei dat`, `noemde`, `de woorden`; the next line after a
            // colon that ends its line.
            (
                "Vandaag riep Ravi naar een klasgenoot: ga weg, aap. Dat heb ik gehoord.",
                "Vandaag riep . Dat heb ik gehoord.",
                "",
                "Ravi naar een klasgenoot: ga weg, aap",
            ),
            (
                "Sem zei dat hij haar na school zou opwachten.\nWij nemen dit serieus.",
                "Sem zei .\nWij nemen dit serieus.",
                "",
                "dat hij haar na school zou opwachten",
            ),
            (
                "Hij stuurde de woorden ik steek je neer en een emoji.",
                "Hij stuurde de woorden .",
                "",
                "ik steek je neer en een emoji",
            ),
            // Words given to the reader are the sender's own.
            (
                "Een paar woorden voor jou: vuile hoer.",
                "Een paar woorden voor jou: vuile hoer.",
                "",
                "",
            ),
            (
                "In de app schreef Sem:\njij bent dom\nGroet",
                "In de app schreef \nGroet",
                "",
                "Sem:\njij bent dom",
            ),
            // The sender's own words: a first or second person subject, before the verb or inverted.
            ("Ik zei dat hij dom is.", "Ik zei dat hij dom is.", "", ""),
            ("Toen noemde je hem een sukkel.", "Toen noemde je hem een sukkel.", "", ""),
            // Told about the reader (`dat jij …`), set phrases, and a subject before a comma.
            (
                "Door iedereen wordt gezegd dat jij dom bent, en eerlijk gezegd ben ik het eens.",
                "Door iedereen wordt gezegd dat jij dom bent, en eerlijk gezegd ben ik het eens.",
                "",
                "",
            ),
            (
                "Volgens de screenshots die wij kregen, stuurde Sem de woorden ik sla je.",
                "Volgens de screenshots die wij kregen, stuurde Sem de woorden .",
                "",
                "ik sla je",
            ),
            // Present tense passes a threat on rather than reporting it.
            (
                "Mijn broer zegt dat hij je komt halen.",
                "Mijn broer zegt dat hij je komt halen.",
                "",
                "",
            ),
            // Calling someone else names, in the present: an account of what they do.
            (
                "Meneer, de jongens noemen Fleur een hoer in de klassenapp. Kunt u helpen?",
                "Meneer, de jongens noemen . Kunt u helpen?",
                "",
                "Fleur een hoer in de klassenapp",
            ),
            (
                "Ze schelden haar uit voor hoer.",
                "Ze schelden .",
                "",
                "haar uit voor hoer",
            ),
            // Said to the reader, or by the sender, they are the sender's own.
            (
                "Iedereen noemt je een hoer.",
                "Iedereen noemt je een hoer.",
                "",
                "",
            ),
            ("Ik noem hem een sukkel.", "Ik noem hem een sukkel.", "", ""),
            (
                "Iedereen noemt haar een slet en dat is ze ook.",
                "Iedereen noemt haar een slet en dat is ze ook.",
                "",
                "",
            ),
            // Unless it tells what is demanded of or done to the sender: a pupil's account to a teacher.
            (
                "Die jongen zegt dat ik het niemand mag vertellen, anders zet hij de foto's online. Help.",
                "Die jongen zegt . Help.",
                "",
                "dat ik het niemand mag vertellen, anders zet hij de foto's online",
            ),
            (
                "Ze zeggen dat hij me na school opwacht.",
                "Ze zeggen .",
                "",
                "dat hij me na school opwacht",
            ),
            // What the sender would do stays the sender's, and so does anything aimed at the reader.
            (
                "Hij zegt dat ik morgen de school opblaas.",
                "Hij zegt dat ik morgen de school opblaas.",
                "",
                "",
            ),
            (
                "Hij zegt dat ik je moet slaan.",
                "Hij zegt dat ik je moet slaan.",
                "",
                "",
            ),
            (
                "Iedereen zegt dat ik morgen de school moet opblazen.",
                "Iedereen zegt dat ik morgen de school moet opblazen.",
                "",
                "",
            ),
            ("Ik zeg dat ik moet gaan.", "Ik zeg dat ik moet gaan.", "", ""),
            // Quotation marks without a reporting verb, apostrophes inside words.
            ("Het boek heet \"De ontdekking\".", "Het boek heet \"De ontdekking\".", "", ""),
            (
                "De foto's van 's avonds en zo'n 't huis, zei hij.",
                "De foto's van 's avonds en zo'n 't huis, zei hij.",
                "",
                "",
            ),
        ];
        for (text, own, quoted, reported) in cases {
            let s = split(text);
            assert_eq!(
                (s.own.as_ref(), s.quoted.as_str(), s.reported.as_str()),
                (*own, *quoted, *reported),
                "{text:?}"
            );
        }
    }

    /// A line of `zegt dat` repeated, with no sentence end, is split as before and each verb looks only a
    /// bounded way ahead (the walk stays linear in the line's length; this test only proves it ends).
    #[test]
    fn a_line_of_present_tense_verbs_is_walked() {
        let text = "hij zegt dat hij me ".repeat(20_000);
        let s = split(&text);
        assert!(
            s.reported.starts_with("dat hij me"),
            "{}",
            &s.reported[..40]
        );
        let own = "ik zeg dat ".repeat(20_000);
        assert_eq!(split(&own).own, own.as_str());
    }

    /// The introducers' scan lets a Kelvin sign through (it lowercases to `k`, so `uitgemaa\u{212A}t` is
    /// `uitgemaakt`), and finds introducers in any case.
    #[test]
    fn unmarked_speech_behind_odd_letters_is_found() {
        for text in [
            "Hij heeft haar uitgemaa\u{212A}t voor rotte vis en erger.",
            "Hij heeft haar UITGEMAAKT voor rotte vis en erger.",
        ] {
            let (_, reported) = unmarked_speech(text).expect(text);
            assert_eq!(reported, "voor rotte vis en erger", "{text:?}");
        }
    }

    proptest::proptest! {
        /// Nothing is lost or invented: every line of the text ends up in one of the outputs, and splitting
        /// never panics on any input.
        #[test]
        fn every_word_lands_somewhere(text in "(>|Van: |From: |Aan: |To: |Onderwerp: |Subject: |Sent: |schreef:|zei |\"|'|“|”|ik |hij |[a-z]{1,6}| |\n){0,60}") {
            let s = split(&text);
            let all = format!("{} {} {}", s.own, s.quoted, s.reported);
            for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                proptest::prop_assert!(all.contains(word), "{word:?} lost from {text:?}");
            }
        }

        /// The byte search for quote markers is the case-insensitive search it replaced.
        #[test]
        fn quote_markers_are_found_by_their_bytes(text in "(\n|>|:|van|VaN|from|FROM|fro|a| ){0,12}") {
            let lower = text.to_lowercase();
            proptest::prop_assert_eq!(
                has_quote_marker(&text),
                ["\n>", "van:", "from:"].iter().any(|m| lower.contains(m))
            );
        }

        /// The byte search for quotation marks is the character search it replaced.
        #[test]
        fn quote_marks_are_found_by_their_bytes(text in "(a|'|\"|“|”|„|‘|’|«|»|€|é|\u{2018}|\u{201A}|\u{00AA}| ){0,12}") {
            proptest::prop_assert_eq!(
                has_quote_mark(&text),
                text.contains(['"', '\'', '“', '„', '‘', '«'])
            );
        }

        /// The shortcuts change nothing: a text the introducers' scan passes by has no unmarked speech, and
        /// a word is an introducer exactly when its lowercase form is one (the Kelvin sign and `İ` included).
        #[test]
        fn the_introducer_shortcuts_are_the_word_walk(
            text in "(Riep|ZEI|zei|gezegd|noemDe|uitgemaa\u{212A}t|tekst|woorden|ik|hij|dat|de|İ|\u{212A}|[a-zA-Z]{1,6}|, |: |[.] | |\n){0,40}",
        ) {
            proptest::prop_assert_eq!(unmarked_speech(&text), unmarked_speech_walk(&text));
            for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                proptest::prop_assert_eq!(
                    is_introducer(word),
                    UNMARKED_INTRODUCERS.contains(&word.to_lowercase().as_str()),
                    "{:?}", word
                );
            }
        }
    }
}
