//! Checks on the raw bytes, made before and beside mail-parser, for what mail-parser cannot be trusted with.
//!
//! - [`header_block`]: the header section (RFC 5322 §2.1: up to the first empty line).
//! - [`nesting_risk`]: mail-parser 0.11.9 turns a *transfer-encoded* `message/rfc822` part (or a digest part)
//!   into a nested parse whose result it copies recursively; an attacker can hide thousands of nested messages
//!   in such a part and overflow the stack (measured: 20,000 levels abort the process). RFC 2046 §5.2.1 forbids
//!   any encoding but 7bit/8bit/binary for `message/rfc822`, yet real clients send base64 ones (mail-parser's
//!   own `rfc/008.eml`). So such a part is decoded here the way mail-parser decodes it (at most
//!   [`MAX_NESTED_ENCODED`] encoded levels), its containers are counted, and the message is refused only when
//!   that count could take the nesting past `Limits::max_depth`, or when it has more than
//!   [`MAX_ENCODED_MESSAGES`] such parts. An encoded digest part (no `Content-Type`) is still refused.
//! - [`boundary_mid_line`]: mail-parser #156, a `--boundary` in the middle of a line cuts off the rest of a part.
//! - [`raw_body_text`]: the fallback text when the MIME structure cannot be trusted.
//!
//! Pure, linear in the input, never panics.

/// Longest header block kept for the bounce's `text/rfc822-headers` part.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;

/// The offset where the body starts (after the empty line), or `raw.len()` when there is no empty line.
pub fn body_offset(raw: &[u8]) -> usize {
    let mut start = 0;
    for line in lines(raw) {
        if is_blank(line) {
            return start + line.len();
        }
        start += line.len();
    }
    raw.len()
}

/// The header block: bytes up to and excluding the first empty line, at most [`MAX_HEADER_BLOCK`] bytes.
pub fn header_block(raw: &[u8]) -> &[u8] {
    let mut end = 0;
    for line in lines(raw) {
        if is_blank(line) || end + line.len() > MAX_HEADER_BLOCK {
            break;
        }
        end += line.len();
    }
    raw.get(..end).unwrap_or_default()
}

/// Lines including their `\n`.
fn lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split_inclusive(|&b| b == b'\n')
}

/// A line mail-parser takes as the end of a header block: only white space before the `\n`.
fn is_blank(line: &[u8]) -> bool {
    line.last() == Some(&b'\n') && line.iter().all(|b| b.is_ascii_whitespace())
}

/// How many transfer-encoded levels mail-parser 0.11.9 decodes and parses (its `MAX_NESTED_ENCODED`); a
/// deeper encoded message stays an opaque part.
pub const MAX_NESTED_ENCODED: usize = 3;

/// More transfer-encoded nested messages than this in one message are refused without decoding them: the
/// check decodes each one, and real mail forwards a few.
pub const MAX_ENCODED_MESSAGES: usize = 16;

/// True when the message must not be given to mail-parser: a transfer-encoded nested message whose decoded
/// content (up to [`MAX_NESTED_ENCODED`] encoded levels) holds enough containers (`multipart/*`,
/// `message/*`) to take the nesting past `max_depth`, more than [`MAX_ENCODED_MESSAGES`] such parts, or an
/// encoded part of a digest. See the module docs.
///
/// Ordinary mail has no encoded nested message and costs one [`has_encoded_nested`] pass.
pub fn nesting_risk(raw: &[u8], max_depth: usize) -> bool {
    has_encoded_nested(raw) && encoded_depth(raw, MAX_NESTED_ENCODED).is_none_or(|d| d > max_depth)
}

/// The nesting an encoded message part can add, counted in its decoded content and the encoded parts within
/// it (`levels` encoded levels are decoded); `None` when it cannot be bounded (an encoded digest part, too
/// many encoded messages).
fn encoded_depth(raw: &[u8], levels: usize) -> Option<usize> {
    let mut scan = NestingScan::default();
    let mut deepest = 0;
    let mut found = 0;
    let mut start = 0;
    while start < raw.len() {
        let rest = raw.get(start..).unwrap_or_default();
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        if scan.line(rest.get(..end).unwrap_or_default()) {
            found += 1;
            if found > MAX_ENCODED_MESSAGES {
                return None;
            }
            if levels > 0 {
                let body = raw.get(start + end..).unwrap_or_default();
                let decoded = if scan.base64 {
                    decode_base64_part(body)
                } else {
                    decode_quoted_printable(body)
                };
                // The message part itself, the containers inside it, and what its own encoded parts add.
                let inner = if has_encoded_nested(&decoded) {
                    encoded_depth(&decoded, levels - 1)?
                } else {
                    0
                };
                deepest = deepest.max(1 + containers(&decoded) + inner);
            }
            scan.next_block();
        }
        start += end;
    }
    if scan.line(b"\n") {
        // A header block at the very end: an encoded nested message with an empty body.
        deepest = deepest.max(1);
    }
    if scan.digest && scan.implicit_encoded {
        return None;
    }
    Some(deepest)
}

/// The number of `Content-Type` fields naming a container (`multipart/*`, `message/*`, a digest counts
/// twice: its parts are messages without a field of their own). An upper bound of the nesting depth the
/// content can reach, whatever its boundaries say.
fn containers(raw: &[u8]) -> usize {
    let mut count = 0;
    let mut value: Vec<u8> = Vec::new();
    let mut in_type = false;
    let mut normaliser = Normaliser::default();
    let mut finish = |value: &mut Vec<u8>, in_type: &mut bool| {
        if std::mem::take(in_type) {
            if contains(value, b"multipart") || contains(value, b"message") {
                count += 1;
            }
            if contains(value, b"digest") {
                count += 1;
            }
        }
        value.clear();
    };
    for line in lines(raw) {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if in_type && value.len() < 4096 {
                normaliser.push(line, &mut value);
            }
            continue;
        }
        finish(&mut value, &mut in_type);
        let Some(colon) = line.iter().take(80).position(|&b| b == b':') else {
            continue;
        };
        if line
            .get(..colon)
            .is_some_and(|n| n.trim_ascii().eq_ignore_ascii_case(b"content-type"))
        {
            in_type = true;
            normaliser = Normaliser::default();
            let v = line.get(colon + 1..).unwrap_or_default();
            normaliser.push(v.get(..4096).unwrap_or(v), &mut value);
        }
    }
    finish(&mut value, &mut in_type);
    count
}

/// A base64 part body as mail-parser reads it: up to the next boundary line (`--…`), characters outside the
/// alphabet skipped, decoding stopped at padding.
fn decode_base64_part(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    'lines: for line in lines(body) {
        if line.starts_with(b"--") {
            break;
        }
        for &b in line {
            let v = match b {
                b'A'..=b'Z' => b - b'A',
                b'a'..=b'z' => b - b'a' + 26,
                b'0'..=b'9' => b - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => break 'lines,
                _ => continue,
            };
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
    }
    out
}

/// A quoted-printable body (everything to the end of the message: more than the part, never less): `=XX`
/// decoded, soft line breaks removed, anything else kept as it is.
fn decode_quoted_printable(body: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        if b == b'=' {
            match (body.get(i + 1), body.get(i + 2)) {
                (Some(b'\n'), _) => {
                    i += 2;
                    continue;
                }
                (Some(b'\r'), Some(b'\n')) => {
                    i += 3;
                    continue;
                }
                (Some(&h), Some(&l)) => {
                    if let (Some(h), Some(l)) = (hex(h), hex(l)) {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// True when the message has a transfer-encoded nested message or an encoded digest part (see the module
/// docs). Works on header-like fields between blank lines, the way mail-parser reads part headers.
///
/// One pass over the message that runs at memchr speed: a line is found with one `memchr` for its LF, and
/// only its first bytes are looked at unless it is blank, a continuation of a `Content-Type` or
/// `Content-Transfer-Encoding` field, or such a field itself (every body line of ordinary mail is none of
/// these). Field values are normalised as they are read, into one buffer reused for the whole message.
pub fn has_encoded_nested(raw: &[u8]) -> bool {
    let mut scan = NestingScan::default();
    let mut start = 0;
    while start < raw.len() {
        let rest = raw.get(start..).unwrap_or_default();
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        if scan.line(rest.get(..end).unwrap_or_default()) {
            return true;
        }
        start += end;
    }
    // The message ends as if followed by a blank line (the last block counts too).
    scan.line(b"\n") || (scan.digest && scan.implicit_encoded)
}

/// The field of the current block whose value is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    ContentType,
    TransferEncoding,
}

/// State of [`nesting_risk`] between lines.
#[derive(Debug, Default)]
struct NestingScan {
    /// The current block has a `Content-Type` naming a nested message (`rfc822`, `global`).
    message_type: bool,
    /// The current block has any `Content-Type`.
    any_type: bool,
    /// The current block has a `Content-Transfer-Encoding` other than an identity one.
    encoded: bool,
    /// That encoding is base64 (else quoted-printable or an encoded word, decoded as quoted-printable).
    base64: bool,
    /// Some `Content-Type` so far named a digest (whose parts default to `message/rfc822`).
    digest: bool,
    /// Some block so far was encoded without a `Content-Type` (a digest part, if a digest was seen).
    implicit_encoded: bool,
    /// The field being read (with its continuation lines), if it is one of the two that matter.
    field: Option<FieldKind>,
    /// Raw bytes of the field value taken so far (continuations stop being added from 4096 on).
    raw_len: usize,
    /// The field value normalised so far (see [`Normaliser`]).
    value: Vec<u8>,
    normaliser: Normaliser,
}

impl NestingScan {
    /// Takes one line (with its LF, if any); true when a risky block was completed.
    fn line(&mut self, line: &[u8]) -> bool {
        if is_blank(line) {
            self.finish_field();
            if self.message_type && self.encoded {
                return true;
            }
            self.next_block();
            return false;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if self.field.is_some() && self.raw_len < 4096 {
                self.raw_len += line.len();
                self.normaliser.push(line, &mut self.value);
            }
            return false;
        }
        self.finish_field();
        // Both names start with `c` once leading white space is trimmed: any other line is done here, which
        // is every line of an ordinary body.
        if !matches!(
            line.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'c' | b'C')
        ) {
            return false;
        }
        let Some(colon) = line.iter().take(80).position(|&b| b == b':') else {
            return false;
        };
        let name = line.get(..colon).unwrap_or_default().trim_ascii();
        let kind = if name.eq_ignore_ascii_case(b"content-type") {
            FieldKind::ContentType
        } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
            FieldKind::TransferEncoding
        } else {
            return false;
        };
        let value = line.get(colon + 1..).unwrap_or_default();
        let value = value.get(..4096).unwrap_or(value);
        self.field = Some(kind);
        self.raw_len = value.len();
        self.value.clear();
        self.normaliser = Normaliser::default();
        self.normaliser.push(value, &mut self.value);
        false
    }

    /// Done with a header block: note an encoded part without a type, and start the next block afresh.
    fn next_block(&mut self) {
        self.implicit_encoded |= self.encoded && !self.any_type;
        self.message_type = false;
        self.any_type = false;
        self.encoded = false;
        self.base64 = false;
    }

    fn finish_field(&mut self) {
        let value = &self.value;
        match self.field.take() {
            None => {}
            Some(FieldKind::ContentType) => {
                self.any_type = true;
                self.message_type |= contains(value, b"rfc822") || contains(value, b"global");
                self.digest |= contains(value, b"digest");
            }
            Some(FieldKind::TransferEncoding) => {
                self.base64 |= contains(value, b"base64");
                self.encoded |= contains(value, b"base64")
                    || contains(value, b"quoted-printable")
                    || contains(value, b"=?");
            }
        }
    }
}

/// Lowercases and drops what cannot hide a token but could split it: white space, quotes, backslashes,
/// comments. Fed piece by piece (a field and its continuation lines); a comment may span pieces.
#[derive(Debug, Default)]
struct Normaliser {
    /// Depth of `(` comments open.
    comment: usize,
}

impl Normaliser {
    fn push(&mut self, piece: &[u8], out: &mut Vec<u8>) {
        for &b in piece {
            match b {
                b'(' => self.comment += 1,
                b')' => self.comment = self.comment.saturating_sub(1),
                _ if self.comment > 0 => {}
                b'"' | b'\\' => {}
                _ if b.is_ascii_whitespace() => {}
                _ => out.push(b.to_ascii_lowercase()),
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// True when one of `boundaries` occurs as `--boundary` anywhere but at the start of a line.
///
/// One `memmem` search per boundary (a message has one or a few), every occurrence looked at, overlapping
/// ones included: building a multi-pattern automaton per message cost more than the searches.
pub fn boundary_mid_line(raw: &[u8], boundaries: &[String]) -> bool {
    boundaries.iter().filter(|b| !b.is_empty()).any(|b| {
        let pattern = [b"--", b.as_bytes()].concat();
        let finder = memchr::memmem::Finder::new(&pattern);
        let mut from = 0;
        while let Some(found) = raw.get(from..).and_then(|rest| finder.find(rest)) {
            let start = from + found;
            if start > 0 && raw.get(start - 1) != Some(&b'\n') {
                return true;
            }
            // The next occurrence may overlap this one (`----` in `------`).
            from = start + 1;
        }
        false
    })
}

/// The raw body (after the header block) as text: QP soft line breaks (`=` at the end of a line, RFC 2045
/// §6.7 rule 5) removed, invalid UTF-8 replaced, at most `max` bytes. Returns the text and whether it was cut.
pub fn raw_body_text(raw: &[u8], max: usize) -> (String, bool) {
    let body = raw.get(body_offset(raw)..).unwrap_or_default();
    let mut joined = Vec::with_capacity(body.len().min(max));
    let mut cut = false;
    for line in lines(body) {
        let trimmed = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let piece = match trimmed.and_then(|l| l.strip_suffix(b"=")) {
            Some(soft) => soft,
            None => line,
        };
        if joined.len() + piece.len() > max {
            joined.extend_from_slice(piece.get(..max - joined.len()).unwrap_or_default());
            cut = true;
            break;
        }
        joined.extend_from_slice(piece);
    }
    let mut text = String::from_utf8_lossy(&joined).into_owned();
    if text.len() > max {
        // Lossy replacement can grow the text (1 byte → 3); cut again at a character boundary.
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        cut = true;
    }
    (text, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_header_block() {
        let cases: &[(&[u8], &[u8], usize)] = &[
            (b"A: 1\r\nB: 2\r\n\r\nbody", b"A: 1\r\nB: 2\r\n", 14),
            (b"A: 1\n\nbody", b"A: 1\n", 6),
            (b"\r\nbody", b"", 2),
            (b"A: 1\r\n", b"A: 1\r\n", 6),
            (b"A: 1\r\n  \r\nbody", b"A: 1\r\n", 10),
            (b"", b"", 0),
        ];
        for (raw, block, body) in cases {
            assert_eq!(header_block(raw), *block, "{raw:?}");
            assert_eq!(body_offset(raw), *body, "{raw:?}");
        }
        let long = [b"X: ".as_slice(), &vec![b'a'; 100_000], b"\r\n\r\n"].concat();
        assert!(header_block(&long).len() <= MAX_HEADER_BLOCK);
    }

    fn b64(data: &[u8]) -> String {
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode(data);
        let lines: Vec<&str> = text
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        lines.join("\r\n")
    }

    /// A message forwarding `inner` as a `message/rfc822` part with transfer encoding `cte`.
    fn forwarding(inner: &[u8], cte: &str) -> Vec<u8> {
        let body = match cte {
            "base64" => b64(inner),
            _ => String::from_utf8_lossy(inner).replace('=', "=3D"),
        };
        format!(
            "Content-Type: multipart/mixed; boundary=\"bb\"\r\n\r\n--bb\r\nContent-Type: text/plain\r\n\r\nzie bijlage\r\n\
             --bb\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{body}\r\n--bb--\r\n"
        )
        .into_bytes()
    }

    /// Encoded nested messages are decoded and their real nesting counted (mail-parser's `rfc/008.eml` shape
    /// passes); a nesting bomb inside one, or too many of them, is still refused.
    #[test]
    fn encoded_nested_messages_are_measured() {
        let plain = b"From: a@b.nl\r\nSubject: x\r\nContent-Type: multipart/alternative; boundary=\"aa\"\r\n\r\n\
            --aa\r\nContent-Type: text/plain\r\n\r\ntekst\r\n--aa\r\nContent-Type: text/html\r\n\r\n<p>tekst</p>\r\n--aa--\r\n";
        let mut bomb = b"Subject: diep\r\n".to_vec();
        for _ in 0..5_000 {
            bomb.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        bomb.extend_from_slice(b"Subject: binnen\r\n\r\ntekst\r\n");
        // Twenty levels of multipart inside: one more than the limit allows with the message part itself.
        let mut twenty = String::new();
        for i in 0..20 {
            twenty.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"l{i}\"\r\n\r\n--l{i}\r\n"
            ));
        }
        twenty.push_str("Content-Type: text/plain\r\n\r\ntekst\r\n");
        let encoded_twice = forwarding(&forwarding(plain, "base64"), "base64");
        let encoded_bomb_deeper = forwarding(&forwarding(&bomb, "base64"), "quoted-printable");
        let mut many = b"Content-Type: multipart/mixed; boundary=\"bb\"\r\n\r\n".to_vec();
        for _ in 0..=MAX_ENCODED_MESSAGES {
            many.extend_from_slice(
                format!(
                    "--bb\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
                    b64(b"Subject: x\r\n\r\ny")
                )
                .as_bytes(),
            );
        }
        let cases: Vec<(&str, Vec<u8>, bool)> = vec![
            ("base64, like rfc/008.eml", forwarding(plain, "base64"), false),
            ("quoted-printable", forwarding(plain, "quoted-printable"), false),
            ("encoded twice", encoded_twice, false),
            ("bomb in base64", forwarding(&bomb, "base64"), true),
            ("bomb in quoted-printable", forwarding(&bomb, "quoted-printable"), true),
            ("bomb two encoded levels down", encoded_bomb_deeper, true),
            ("twenty multiparts inside", forwarding(twenty.as_bytes(), "base64"), true),
            ("too many encoded messages", many, true),
            ("encoded digest part", b"Content-Type: multipart/digest; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\nx\r\n".to_vec(), true),
            ("no encoded message at all", plain.to_vec(), false),
        ];
        for (name, raw, want) in cases {
            assert_eq!(nesting_risk(&raw, 20), want, "{name}");
        }
        // The limit is the configured one.
        assert!(!nesting_risk(&forwarding(twenty.as_bytes(), "base64"), 30));
    }

    #[test]
    fn tolerant_decoders() {
        assert_eq!(
            decode_base64_part(b"U3Vi\r\namVjdA==\r\n--bb\r\nQUFB"),
            b"Subject"
        );
        assert_eq!(decode_base64_part(b"U3V*iam!VjdA"), b"Subject");
        assert_eq!(decode_quoted_printable(b"a=3Db=\r\nc=ZZ="), b"a=bc=ZZ=");
        assert_eq!(
            containers(b"Content-Type:\r\n (x)Multi(y)part/mixed\r\ncontent-type: message/rfc822\r\nContent-Type: multipart/digest\r\nContent-Type: text/plain\r\n"),
            4
        );
    }

    #[test]
    fn spots_encoded_nested_messages() {
        let cases: &[(&str, bool)] = &[
            ("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA==\r\n", true),
            ("Content-Type: message/(x)RFC822\r\nContent-Transfer-Encoding:\r\n quoted-printable\r\n\r\nx\r\n", true),
            ("Content-Type: \"message\"/\"rfc\\822\"\r\nContent-Transfer-Encoding: =?utf-8?b?YmFzZTY0?=\r\n\r\nx", true),
            ("Content-Type: multipart/digest; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\nx\r\n", true),
            ("Content-Type: message/rfc822\r\n\r\nSubject: forwarded\r\nContent-Transfer-Encoding: base64\r\n\r\nx", false),
            ("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\nSubject: x\r\n\r\nbody", false),
            ("Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n", false),
            ("Subject: global rfc822 digest base64\r\n\r\nbody", false),
        ];
        for (raw, want) in cases {
            assert_eq!(has_encoded_nested(raw.as_bytes()), *want, "{raw:?}");
        }
    }

    /// The line-by-line implementation `nesting_risk` replaced (kept to check the single-pass one against).
    fn nesting_risk_reference(raw: &[u8]) -> bool {
        #[derive(Default)]
        struct Block {
            message_type: bool,
            any_type: bool,
            encoded: bool,
        }
        fn normalise(value: &[u8]) -> Vec<u8> {
            let mut out = Vec::with_capacity(value.len());
            let mut comment = 0usize;
            for &b in value {
                match b {
                    b'(' => comment += 1,
                    b')' => comment = comment.saturating_sub(1),
                    _ if comment > 0 => {}
                    b'"' | b'\\' => {}
                    _ if b.is_ascii_whitespace() => {}
                    _ => out.push(b.to_ascii_lowercase()),
                }
            }
            out
        }
        let mut block = Block::default();
        let mut digest = false;
        let mut implicit_encoded = false;
        let mut field: Option<(bool, bool, Vec<u8>)> = None;
        let finish_field =
            |field: &mut Option<(bool, bool, Vec<u8>)>, block: &mut Block, digest: &mut bool| {
                if let Some((is_type, is_cte, value)) = field.take() {
                    let value = normalise(&value);
                    if is_type {
                        block.any_type = true;
                        block.message_type |=
                            contains(&value, b"rfc822") || contains(&value, b"global");
                        *digest |= contains(&value, b"digest");
                    }
                    if is_cte {
                        block.encoded |= contains(&value, b"base64")
                            || contains(&value, b"quoted-printable")
                            || contains(&value, b"=?");
                    }
                }
            };
        for line in lines(raw).chain(std::iter::once(&b"\n"[..])) {
            if is_blank(line) {
                finish_field(&mut field, &mut block, &mut digest);
                if block.message_type && block.encoded {
                    return true;
                }
                implicit_encoded |= block.encoded && !block.any_type;
                block = Block::default();
                continue;
            }
            if matches!(line.first(), Some(b' ' | b'\t')) {
                if let Some((_, _, v)) = field.as_mut() {
                    if v.len() < 4096 {
                        v.extend_from_slice(line);
                    }
                }
                continue;
            }
            finish_field(&mut field, &mut block, &mut digest);
            let Some(colon) = line.iter().take(80).position(|&b| b == b':') else {
                continue;
            };
            let name = line.get(..colon).unwrap_or_default().trim_ascii();
            let is_type = name.eq_ignore_ascii_case(b"content-type");
            let is_cte = name.eq_ignore_ascii_case(b"content-transfer-encoding");
            if is_type || is_cte {
                let value = line.get(colon + 1..).unwrap_or_default();
                field = Some((is_type, is_cte, value.get(..4096).unwrap_or(value).to_vec()));
            }
        }
        digest && implicit_encoded
    }

    /// Every fixture message, whole and cut at a few places, gives the same answer as the reference.
    #[test]
    fn nesting_risk_matches_reference_on_fixtures() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut seen = 0;
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("fixtures readable") {
                let path = entry.expect("fixture entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "eml") {
                    let raw = std::fs::read(&path).expect("fixture readable");
                    for cut in [raw.len(), raw.len() / 2, raw.len() / 3, 7] {
                        let raw = &raw[..cut.min(raw.len())];
                        assert_eq!(
                            has_encoded_nested(raw),
                            nesting_risk_reference(raw),
                            "{} cut at {cut}",
                            path.display()
                        );
                    }
                    seen += 1;
                }
            }
        }
        assert!(seen > 20, "only {seen} fixtures found");
    }

    /// Lines that steer the scan: the two field names in several spellings, values with comments (also
    /// across lines), quotes and encoded words, continuation lines, blank and white-space-only lines, long
    /// lines, and noise.
    fn nesting_line() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let names: Vec<&'static [u8]> = vec![
            b"Content-Type:",
            b"content-type :",
            b"\rCONTENT-TYPE:",
            b"Content-Transfer-Encoding:",
            b"\x0ccontent-transfer-encoding\t:",
            b"Content-Typo:",
            b"Subject:",
            b"c:",
            b"C",
            b"",
        ];
        let values: Vec<&'static [u8]> = vec![
            b" message/rfc822",
            b" message/global",
            b"message/",
            b"rfc822",
            b" multipart/digest; boundary=b",
            b" \"mess\\age\"/(x)rfc(y)822",
            b" base64",
            b"base",
            b"64",
            b" Quoted-Printable",
            b" =?utf-8?b?YmFzZTY0?=",
            b" 7bit",
            b" (",
            b")",
            b"((",
            b" ",
            b"\t",
            b"\r",
            b"\xff",
        ];
        let ends: Vec<&'static [u8]> = vec![b"\r\n", b"\n", b""];
        let blanks: Vec<&'static [u8]> = vec![b"\r\n", b"\n", b" \r\n", b"\t\n", b"\r\r\n"];
        let value = proptest::collection::vec(proptest::sample::select(values), 0..4)
            .prop_map(|v| v.concat());
        prop_oneof![
            4 => (proptest::sample::select(names), value.clone(), proptest::sample::select(ends.clone()))
                .prop_map(|(n, v, e)| [n, &v, e].concat()),
            3 => (proptest::sample::select(vec![b" ", b"\t"]), value, proptest::sample::select(ends))
                .prop_map(|(w, v, e)| [w.as_slice(), &v, e].concat()),
            3 => proptest::sample::select(blanks).prop_map(|b| b.to_vec()),
            1 => (1usize..120, proptest::sample::select(vec![b'a', b' ', b':', b'x']))
                .prop_map(|(n, b)| [vec![b; n], b"\r\n".to_vec()].concat()),
            1 => (4000usize..4200)
                .prop_map(|n| [b" base".as_slice(), &vec![b'x'; n], b"64\r\n"].concat()),
            1 => proptest::collection::vec(proptest::num::u8::ANY, 0..8),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(4000))]

        #[test]
        fn nesting_risk_matches_reference(lines in proptest::collection::vec(nesting_line(), 0..30)) {
            let raw = lines.concat();
            proptest::prop_assert_eq!(has_encoded_nested(&raw), nesting_risk_reference(&raw));
        }

        #[test]
        fn nesting_risk_matches_reference_on_bytes(raw in proptest::collection::vec(proptest::sample::select(b"Cc:ontet-yp ransfr\r\n\t()\"\\b64qd=?82".to_vec()), 0..300)) {
            proptest::prop_assert_eq!(has_encoded_nested(&raw), nesting_risk_reference(&raw));
        }
    }

    #[test]
    fn spots_boundaries_mid_line() {
        let b = vec!["abc".to_string()];
        let cases: &[(&str, bool)] = &[
            ("--abc\r\nx\r\n--abc--\r\n", false),
            ("--abc\r\ntekst --abc verborgen\r\n--abc--\r\n", true),
            ("--abc\r\n  --abc\r\n", true),
            ("geen grens\r\n", false),
        ];
        for (raw, want) in cases {
            assert_eq!(boundary_mid_line(raw.as_bytes(), &b), *want, "{raw:?}");
        }
        assert!(!boundary_mid_line(b"x --abc", &[]));
    }

    /// The Aho-Corasick version `boundary_mid_line` replaced.
    fn boundary_mid_line_reference(raw: &[u8], boundaries: &[String]) -> bool {
        let patterns: Vec<Vec<u8>> = boundaries
            .iter()
            .filter(|b| !b.is_empty())
            .map(|b| [b"--", b.as_bytes()].concat())
            .collect();
        if patterns.is_empty() {
            return false;
        }
        let Ok(ac) = aho_corasick::AhoCorasick::new(&patterns) else {
            return false;
        };
        ac.find_overlapping_iter(raw)
            .any(|m| m.start() > 0 && raw.get(m.start() - 1) != Some(&b'\n'))
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(3000))]

        #[test]
        fn boundary_mid_line_matches_reference(
            raw in proptest::collection::vec(proptest::sample::select(b"-ab\n\r x".to_vec()), 0..80),
            boundaries in proptest::collection::vec(
                proptest::sample::select(vec!["", "a", "ab", "b", "-", "--", "-a", "a-b", "x\ny"]),
                0..4,
            ),
        ) {
            let boundaries: Vec<String> = boundaries.into_iter().map(String::from).collect();
            proptest::prop_assert_eq!(
                boundary_mid_line(&raw, &boundaries),
                boundary_mid_line_reference(&raw, &boundaries)
            );
        }
    }

    #[test]
    fn raw_body_text_joins_soft_breaks_and_bounds() {
        let raw = b"Subject: x\r\n\r\nkan=\r\nker en=\nzo\r\n";
        assert_eq!(
            raw_body_text(raw, 1000),
            ("kanker enzo\r\n".to_string(), false)
        );
        let (text, cut) = raw_body_text(raw, 4);
        assert_eq!((text.as_str(), cut), ("kank", true));
        let (text, cut) = raw_body_text(b"\r\n\xff\xff\xff", 4);
        assert!(text.len() <= 4 && cut, "{text:?}");
    }
}
