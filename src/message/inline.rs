//! Files uuencoded into a text part (`begin 644 name` … `end`). Mail clients show them as attachments
//! (Outlook and Thunderbird both turn such a block in a plain-text body into one), so they are attachments
//! here too: their names and decoded bytes go through the same
//! attachment rules, archive walk and malware scan as a MIME attachment, and their lines leave the text the
//! word rules and the language model read. Without this a uuencoded `factuur.exe` in a plain-text body passed
//! the attachment rules unseen, and the encoded lines, read as words, looked like letters typed one by one
//! (the language model took a uuencoded picture for an insult).
//!
//! Only lines in the strict shape of uuencoding leave the text (a length character, then as many characters
//! as it says, none of them a small letter), so text cannot hide behind a `begin` line. yEnc, a Usenet format
//! with no line shape to check, is left as text.
//!
//! Pure and bounded: a line decodes to at most the bytes its length character says (63 at most) (three for each
//! character, counting the spaces a mailer may have stripped), and at most `max_files` blocks are taken out
//! (the rest stays text).

use std::borrow::Cow;

/// One file found in a text part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineFile {
    /// The file name the block gives (`begin 644 name`, yEnc's `name=`).
    pub name: String,
    /// The decoded content.
    pub data: Vec<u8>,
}

/// A text part with its inline files taken out.
#[derive(Debug, Default)]
pub struct Split<'a> {
    /// The text without the files' lines (each block leaves one line end).
    pub text: Cow<'a, str>,
    /// The files, in text order.
    pub files: Vec<InlineFile>,
    /// True when more than `max_files` blocks were found; the rest were left in the text.
    pub too_many: bool,
}

/// Take the uuencoded blocks out of `text`, at most `max_files` of them. A `begin` line without uuencoded
/// lines or an `end` line after it is text.
pub fn split(text: &str, max_files: usize) -> Split<'_> {
    if !text.contains("begin ") {
        return Split {
            text: Cow::Borrowed(text),
            ..Split::default()
        };
    }
    let mut out = String::new();
    let mut files = Vec::new();
    let mut too_many = false;
    let mut lines = Lines { text, at: 0 };
    // Where the text not yet copied to `out` starts.
    let mut kept_from = 0;
    while let Some((start, line)) = lines.next() {
        let Some(name) = uu_begin(line) else {
            continue;
        };
        let after_begin = lines.at;
        let (data, ended) = uu_body(&mut lines);
        if data.is_empty() && !ended {
            lines.at = after_begin;
            continue;
        }
        if files.len() >= max_files {
            too_many = true;
            break;
        }
        out.push_str(&text[kept_from..start]);
        out.push('\n');
        kept_from = lines.at;
        files.push(InlineFile {
            name: name.to_owned(),
            data,
        });
    }
    if files.is_empty() {
        return Split {
            text: Cow::Borrowed(text),
            files,
            too_many,
        };
    }
    out.push_str(&text[kept_from..]);
    Split {
        text: Cow::Owned(out),
        files,
        too_many,
    }
}

/// The lines of a text with their start offsets, `\r\n` or `\n` ended, the line end not included.
struct Lines<'a> {
    text: &'a str,
    /// Where the next line starts.
    at: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Option<(usize, &'a str)> {
        let rest = self.text.get(self.at..).filter(|r| !r.is_empty())?;
        let start = self.at;
        let (line, len) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.at += len;
        Some((start, line.strip_suffix('\r').unwrap_or(line)))
    }

    /// The next line, without taking it.
    fn peek(&self) -> Option<&'a str> {
        let mut copy = Lines {
            text: self.text,
            at: self.at,
        };
        copy.next().map(|(_, line)| line)
    }
}

/// `begin 644 name` (POSIX uuencode: the mode in three or four octal digits, then the name) → the name.
fn uu_begin(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("begin ")?;
    let (mode, name) = rest.split_once(' ')?;
    let octal = (3..=4).contains(&mode.len()) && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
    let name = name.trim();
    (octal && !name.is_empty()).then_some(name)
}

/// The uuencoded lines after a `begin` line, decoded, up to and with the `end` line, and whether that line
/// came. The block also ends at the first line that is not uuencoded (the text goes on there) or at the end
/// of the text.
fn uu_body(lines: &mut Lines<'_>) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    while let Some(line) = lines.peek() {
        if line.trim_end() == "end" {
            lines.next();
            return (data, true);
        }
        let Some(decoded) = uu_line(line) else {
            break;
        };
        lines.next();
        data.extend_from_slice(&decoded);
    }
    (data, false)
}

/// One uuencoded line: a length character, then four characters for each three bytes, every character in
/// `' '..='`'`. Trailing spaces a mailer may have stripped count as zeros; a line shorter than that, or
/// with other characters, is no uuencoded line. An empty line is an empty one (a stripped `' '`).
fn uu_line(line: &str) -> Option<Vec<u8>> {
    let bytes = line.as_bytes();
    let Some((&first, body)) = bytes.split_first() else {
        return Some(Vec::new());
    };
    if !bytes.iter().all(|b| (b' '..=b'`').contains(b)) {
        return None;
    }
    let len = usize::from((first - b' ') & 63);
    let needed = len.div_ceil(3) * 4;
    // Encoders add up to two characters (a checksum, padding); a mailer may have stripped a trailing group
    // of spaces.
    if body.len() > needed + 2 || body.len() + 4 < needed {
        return None;
    }
    let sextet = |i: usize| body.get(i).map_or(0, |b| (b - b' ') & 63);
    let mut out = Vec::with_capacity(len);
    for group in 0..needed / 4 {
        let [a, b, c, d] = [0, 1, 2, 3].map(|k| sextet(group * 4 + k));
        for byte in [a << 2 | b >> 4, b << 4 | c >> 2, c << 6 | d] {
            if out.len() < len {
                out.push(byte);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `uuencode`'s output for `bytes` named `name` (the tests' encoder, kept small).
    fn uuencode(name: &str, bytes: &[u8]) -> String {
        let enc = |s: u8| char::from(if s == 0 { b'`' } else { s + b' ' });
        let mut out = format!("begin 644 {name}\n");
        for chunk in bytes.chunks(45) {
            out.push(enc(chunk.len() as u8));
            for group in chunk.chunks(3) {
                let [a, b, c] = [0, 1, 2].map(|i| group.get(i).copied().unwrap_or(0));
                for s in [
                    a >> 2,
                    (a << 4 | b >> 4) & 63,
                    (b << 2 | c >> 6) & 63,
                    c & 63,
                ] {
                    out.push(enc(s));
                }
            }
            out.push('\n');
        }
        out.push_str("`\nend\n");
        out
    }

    #[test]
    fn a_uuencoded_file_leaves_the_text_as_an_attachment() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let text = format!(
            "Hoi,\r\nhierbij het bestand.\r\n\r\n{}\r\nGroet, Ans\r\n",
            uuencode("factuur.exe", &payload)
        );
        let split = split(&text, 10);
        assert_eq!(split.files.len(), 1);
        assert_eq!(split.files[0].name, "factuur.exe");
        assert_eq!(split.files[0].data, payload);
        assert_eq!(
            split.text,
            "Hoi,\r\nhierbij het bestand.\r\n\r\n\n\r\nGroet, Ans\r\n"
        );
        assert!(!split.too_many);
    }

    #[test]
    fn crlf_lines_and_a_missing_end_still_give_the_file() {
        let enc = uuencode("foto.png", b"\x89PNG\r\n\x1a\n rest of the picture");
        let crlf = enc.replace("`\nend\n", "").replace('\n', "\r\n");
        let split = split(&crlf, 10);
        assert_eq!(
            split.files[0].data,
            b"\x89PNG\r\n\x1a\n rest of the picture"
        );
        assert_eq!(split.text, "\n");
    }

    #[test]
    fn the_text_after_a_block_without_end_stays_text() {
        let enc = uuencode("a.bin", b"abcdef").replace("`\nend\n", "");
        let text = format!("{enc}Dit is weer gewone tekst.\n");
        let split = split(&text, 10);
        assert_eq!(split.files[0].data, b"abcdef");
        assert_eq!(split.text, "\nDit is weer gewone tekst.\n");
    }

    #[test]
    fn ordinary_text_with_begin_is_left_alone() {
        for text in [
            "We begin 644 minuten later dan gepland.\n",
            "begin 1300 met de les\nen daarna naar huis\n",
            "begin 644 x\n",
            "begin 644\n",
            "Het begin van de les.\n",
            "begin 64x name\nM````\nend\n",
        ] {
            let split = split(text, 10);
            assert!(split.files.is_empty(), "{text}");
            assert!(matches!(split.text, Cow::Borrowed(_)));
        }
    }

    #[test]
    fn a_yenc_block_stays_text() {
        let text = "=ybegin line=128 size=3 name=setup.exe\r\nwxy\r\n=yend size=3\r\n";
        let split = split(text, 10);
        assert!(split.files.is_empty());
        assert_eq!(split.text, text);
    }

    #[test]
    fn at_most_max_files_blocks_are_taken_out() {
        let one = uuencode("a.txt", b"aaa");
        let text = one.repeat(3);
        let split = split(&text, 2);
        assert_eq!(split.files.len(), 2);
        assert!(split.too_many);
        assert!(split.text.contains("begin 644 a.txt"));
    }

    #[test]
    fn hostile_lines_do_not_panic() {
        for text in [
            "begin 644 x\n\u{7f}\u{80}é\nend",
            "begin 644 x\n~~~~\n",
            "begin 644 x\nM\n",
            "begin 644 x",
        ] {
            let _ = split(text, 10);
        }
    }
}
