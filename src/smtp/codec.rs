//! SMTP framing and parsing: bytes in, command lines / DATA content / replies out.
//!
//! Everything here is pure: no sockets, no clock, no allocation beyond the output the caller asks for.
//! The server and the client feed it whatever the socket gave them (a packet may hold half a command, or
//! five pipelined commands, or the DATA terminator split anywhere) and act on the events.
//!
//! Must not: buffer without bound (lines are capped at [`MAX_LINE`], DATA content at the caller's limit),
//! or recognise any end of DATA other than `<CRLF>.<CRLF>` (RFC 5321 §4.1.1.4; the SMTP smuggling attacks of
//! 2023 rely on receivers that also accept `<LF>.<LF>` and friends).

/// Longest command line accepted, CRLF included (RFC 5321 §4.5.3.1.4 asks for at least 512; extensions such
/// as XFORWARD and DSN parameters need more).
pub const MAX_LINE: usize = 4096;

/// What [`LineDecoder::decode`] found at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// No complete line yet: read more.
    NeedMore,
    /// One command line, without its line end.
    Line(Vec<u8>),
    /// A line longer than [`MAX_LINE`]; it is (or will be) discarded up to its line end.
    TooLong,
}

/// Splits command lines off a byte buffer, never holding more than [`MAX_LINE`] bytes of one line.
#[derive(Debug, Default)]
pub struct LineDecoder {
    /// Inside an over-long line whose end has not been seen yet: its bytes are dropped until the next LF.
    discarding: bool,
}

impl LineDecoder {
    /// Inside an over-long line whose end has not arrived yet (its bytes were consumed and dropped).
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Takes the next event off the front of `buf` and returns it with the number of bytes consumed.
    /// The caller removes the consumed bytes. A line ends at LF; a CR before it is dropped (bare LF is
    /// tolerated in commands, as Postfix does, since it cannot end DATA by accident).
    pub fn decode(&mut self, buf: &[u8]) -> (usize, LineEvent) {
        let mut consumed = 0;
        if self.discarding {
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.discarding = false;
                    consumed = i + 1;
                }
                None => return (buf.len(), LineEvent::NeedMore),
            }
        }
        let rest = buf.get(consumed..).unwrap_or_default();
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i < MAX_LINE => {
                let mut line = rest.get(..i).unwrap_or_default();
                if let Some(stripped) = line.strip_suffix(b"\r") {
                    line = stripped;
                }
                (consumed + i + 1, LineEvent::Line(line.to_vec()))
            }
            Some(i) => (consumed + i + 1, LineEvent::TooLong),
            None if rest.len() >= MAX_LINE => {
                self.discarding = true;
                (buf.len(), LineEvent::TooLong)
            }
            None => (consumed, LineEvent::NeedMore),
        }
    }
}

/// Where the DATA decoder stands relative to the line structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataState {
    /// Just after CRLF (or at the very start of the content).
    LineStart,
    /// A `.` at the start of a line, not yet emitted.
    Dot,
    /// `.` CR at the start of a line, neither emitted yet.
    DotCr,
    /// Inside a line.
    Mid,
    /// Just after a CR that was emitted.
    Cr,
}

/// Decodes DATA content: finds `<CRLF>.<CRLF>`, removes dot-stuffing, keeps every other byte as sent, and
/// stops storing once the size limit is passed (the rest is scanned for the terminator and dropped).
#[derive(Debug)]
pub struct DataDecoder {
    state: DataState,
    /// Most content bytes stored in the output.
    limit: usize,
    /// Set once content beyond `limit` was seen; the message must then be refused with 552.
    overflow: bool,
}

impl DataDecoder {
    /// A decoder for one DATA phase (content starts right after the DATA command's line).
    pub fn new(limit: usize) -> DataDecoder {
        DataDecoder {
            state: DataState::LineStart,
            limit,
            overflow: false,
        }
    }

    /// True when the content was larger than the limit (the output then holds only a prefix).
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        let room = self.limit.saturating_sub(out.len());
        let wanted = out.len() + bytes.len().min(room);
        if wanted > out.capacity() {
            // Grow by doubling, but never reserve past the limit: the buffer stays within the limit.
            let target = (out.capacity() * 2)
                .max(wanted)
                .max(4096)
                .min(self.limit.max(wanted));
            out.reserve_exact(target - out.len());
        }
        if bytes.len() > room {
            self.overflow = true;
            out.extend_from_slice(bytes.get(..room).unwrap_or_default());
        } else {
            out.extend_from_slice(bytes);
        }
    }

    /// Appends the content found in `input` to `out`. Returns the bytes consumed and whether the end of
    /// DATA was reached; bytes after the terminator (pipelined commands) are left unconsumed.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            match self.state {
                DataState::Mid => {
                    // Fast path: copy whole lines in one go. A run goes on over every `CR LF x` where `x`
                    // is neither `.` nor CR (the state machine would emit all three and be back in `Mid`);
                    // it stops before a CR that may start the terminator, a dot to unstuff, or a CR at the
                    // end of the input, which the states below then take byte by byte.
                    let rest = input.get(i..).unwrap_or_default();
                    let mut run = 0;
                    loop {
                        let Some(cr) = rest.get(run..).and_then(|tail| memchr::memchr(b'\r', tail))
                        else {
                            run = rest.len();
                            break;
                        };
                        let cr = run + cr;
                        match (rest.get(cr + 1), rest.get(cr + 2)) {
                            (Some(b'\n'), Some(&x)) if x != b'.' && x != b'\r' => run = cr + 3,
                            _ => {
                                run = cr;
                                break;
                            }
                        }
                    }
                    self.emit(out, rest.get(..run).unwrap_or_default());
                    i += run;
                    if i < input.len() {
                        self.emit(out, b"\r");
                        self.state = DataState::Cr;
                        i += 1;
                    }
                    continue;
                }
                DataState::LineStart => {
                    i += 1;
                    match b {
                        b'.' => self.state = DataState::Dot,
                        b'\r' => {
                            self.emit(out, b"\r");
                            self.state = DataState::Cr;
                        }
                        _ => {
                            self.emit(out, &[b]);
                            self.state = DataState::Mid;
                        }
                    }
                }
                DataState::Dot => match b {
                    // `..` at line start: the first dot is stuffing (RFC 5321 §4.5.2).
                    b'.' => {
                        i += 1;
                        self.emit(out, b".");
                        self.state = DataState::Mid;
                    }
                    b'\r' => {
                        i += 1;
                        self.state = DataState::DotCr;
                    }
                    // A lone dot followed by anything else is kept as sent (the sender did not stuff).
                    _ => {
                        self.emit(out, b".");
                        self.state = DataState::Mid;
                    }
                },
                DataState::DotCr => {
                    if b == b'\n' {
                        self.state = DataState::LineStart;
                        return (i + 1, true);
                    }
                    // `.` CR not followed by LF: ordinary bytes; re-examine `b` after that CR.
                    self.emit(out, b".\r");
                    self.state = DataState::Cr;
                }
                DataState::Cr => {
                    i += 1;
                    match b {
                        b'\n' => {
                            self.emit(out, b"\n");
                            self.state = DataState::LineStart;
                        }
                        b'\r' => self.emit(out, b"\r"),
                        _ => {
                            self.emit(out, &[b]);
                            self.state = DataState::Mid;
                        }
                    }
                }
            }
        }
        (input.len(), false)
    }
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    /// `MAIL FROM:<addr> params`; `from` is `None` for the null sender `<>`.
    Mail {
        from: Option<String>,
        params: Vec<String>,
    },
    Rcpt {
        to: String,
        params: Vec<String>,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    /// XFORWARD attributes, names upper-cased, values xtext-decoded.
    Xforward(Vec<(String, String)>),
    /// A verb this server does not implement.
    Unknown(String),
}

/// Why a command line could not be parsed (answered with `501 5.5.4`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("{verb}: syntax error in parameters")]
    Params { verb: &'static str },
    #[error("{verb}: bad address syntax")]
    Address { verb: &'static str },
    #[error("XFORWARD: unsupported attribute {0:?}")]
    XforwardAttribute(String),
    /// An address that is not UTF-8 (RFC 6531 allows UTF-8 only): refused, never rewritten, since a
    /// replacement character would deliver to, or bounce from, an address nobody gave.
    #[error("{verb}: the address is not valid UTF-8")]
    NotUtf8 { verb: &'static str },
}

impl SyntaxError {
    /// The enhanced status code (RFC 3463) of the `501` reply: bad sender (5.1.7) or destination (5.1.3)
    /// address syntax, or a plain syntax error (5.5.4).
    pub fn status(&self) -> &'static str {
        match self {
            SyntaxError::Address { verb: "MAIL" } | SyntaxError::NotUtf8 { verb: "MAIL" } => {
                "5.1.7"
            }
            SyntaxError::Address { .. } | SyntaxError::NotUtf8 { .. } => "5.1.3",
            _ => "5.5.4",
        }
    }
}

/// XFORWARD attributes this server accepts (and advertises), per Postfix XFORWARD_README.
pub const XFORWARD_ATTRIBUTES: &[&str] =
    &["NAME", "ADDR", "PROTO", "HELO", "SOURCE", "PORT", "IDENT"];

/// Parses one command line (without its line end).
pub fn parse_command(line: &[u8]) -> Result<Command, SyntaxError> {
    if std::str::from_utf8(line).is_err() {
        // Addresses are refused rather than rewritten; for other verbs only the argument is damaged.
        let verb = line
            .split(|b| *b == b' ')
            .next()
            .map(<[u8]>::to_ascii_uppercase);
        match verb.as_deref() {
            Some(b"MAIL") => return Err(SyntaxError::NotUtf8 { verb: "MAIL" }),
            Some(b"RCPT") => return Err(SyntaxError::NotUtf8 { verb: "RCPT" }),
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches([' ', '\t']);
    let (verb, arg) = match text.split_once(' ') {
        Some((v, a)) => (v, a.trim_start()),
        None => (text, ""),
    };
    let upper = verb.to_ascii_uppercase();
    Ok(match upper.as_str() {
        "EHLO" | "HELO" => {
            let name = arg
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            if name.is_empty() {
                return Err(SyntaxError::Params {
                    verb: if upper == "EHLO" { "EHLO" } else { "HELO" },
                });
            }
            if upper == "EHLO" {
                Command::Ehlo(name)
            } else {
                Command::Helo(name)
            }
        }
        "MAIL" => {
            let (addr, params) = path_and_params(arg, "FROM:", "MAIL")?;
            Command::Mail {
                from: if addr.is_empty() { None } else { Some(addr) },
                params,
            }
        }
        "RCPT" => {
            let (addr, params) = path_and_params(arg, "TO:", "RCPT")?;
            if addr.is_empty() {
                return Err(SyntaxError::Address { verb: "RCPT" });
            }
            Command::Rcpt { to: addr, params }
        }
        "DATA" | "RSET" | "QUIT" if !arg.is_empty() => {
            return Err(SyntaxError::Params {
                verb: static_verb(&upper),
            });
        }
        "DATA" => Command::Data,
        "RSET" => Command::Rset,
        "QUIT" => Command::Quit,
        "NOOP" => Command::Noop,
        "VRFY" => Command::Vrfy,
        "HELP" => Command::Help,
        "XFORWARD" => Command::Xforward(parse_xforward(arg)?),
        _ => Command::Unknown(upper),
    })
}

fn static_verb(upper: &str) -> &'static str {
    match upper {
        "DATA" => "DATA",
        "RSET" => "RSET",
        _ => "QUIT",
    }
}

/// `FROM:<addr> P1 P2` → (`addr`, [`P1`, `P2`]). Tolerates a space after the colon (common client quirk).
fn path_and_params(
    arg: &str,
    prefix: &str,
    verb: &'static str,
) -> Result<(String, Vec<String>), SyntaxError> {
    let head = arg
        .get(..prefix.len())
        .ok_or(SyntaxError::Params { verb })?;
    if !head.eq_ignore_ascii_case(prefix) {
        return Err(SyntaxError::Params { verb });
    }
    let rest = arg.get(prefix.len()..).unwrap_or_default().trim_start();
    let rest = rest
        .strip_prefix('<')
        .ok_or(SyntaxError::Address { verb })?;
    let end = rest.find('>').ok_or(SyntaxError::Address { verb })?;
    let mut addr = rest.get(..end).unwrap_or_default();
    // Source routes (`<@a,@b:user@c>`) are to be accepted and ignored (RFC 5321 §4.1.2, §C).
    if addr.starts_with('@') {
        addr = addr
            .split_once(':')
            .map(|(_, a)| a)
            .ok_or(SyntaxError::Address { verb })?;
    }
    if addr
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '<')
    {
        return Err(SyntaxError::Address { verb });
    }
    let params_text = rest.get(end + 1..).unwrap_or_default();
    if !params_text.is_empty() && !params_text.starts_with(' ') {
        return Err(SyntaxError::Params { verb });
    }
    let params = params_text.split_whitespace().map(str::to_string).collect();
    Ok((addr.to_string(), params))
}

fn parse_xforward(arg: &str) -> Result<Vec<(String, String)>, SyntaxError> {
    let mut attrs = Vec::new();
    for item in arg.split_whitespace() {
        let (name, value) = item
            .split_once('=')
            .ok_or(SyntaxError::Params { verb: "XFORWARD" })?;
        let name = name.to_ascii_uppercase();
        if !XFORWARD_ATTRIBUTES.contains(&name.as_str()) {
            return Err(SyntaxError::XforwardAttribute(name));
        }
        let value = xtext_decode(value).ok_or(SyntaxError::Params { verb: "XFORWARD" })?;
        attrs.push((name, value));
    }
    if attrs.is_empty() {
        return Err(SyntaxError::Params { verb: "XFORWARD" });
    }
    Ok(attrs)
}

/// Decodes xtext (RFC 3461 §4): `+HH` is the byte 0xHH. `None` when malformed.
pub fn xtext_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'+' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Encodes xtext (RFC 3461 §4): bytes outside `!`..`~`, and `+` and `=`, become `+HH`.
pub fn xtext_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// One line of a server reply: code, whether it is the last line, and the text after the separator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLine {
    pub code: u16,
    pub last: bool,
    pub text: String,
}

/// Parses a reply line (without its line end): `250-text`, `250 text` or bare `250`.
pub fn parse_reply_line(line: &[u8]) -> Option<ReplyLine> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let (last, text) = match line.get(3) {
        None => (true, &[][..]),
        Some(b' ') => (true, line.get(4..).unwrap_or_default()),
        Some(b'-') => (false, line.get(4..).unwrap_or_default()),
        Some(_) => return None,
    };
    Some(ReplyLine {
        code,
        last,
        text: String::from_utf8_lossy(text).into_owned(),
    })
}

/// Splits an RFC 3463 enhanced status code off reply text when its class matches the reply code:
/// (`"2.1.0"`, `"Ok"`) from `"2.1.0 Ok"`; (`""`, text) otherwise.
pub fn split_status(code: u16, text: &str) -> (String, String) {
    let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
    let parts: Vec<&str> = first.split('.').collect();
    let well_formed = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        && parts.first().and_then(|c| c.parse::<u16>().ok()) == Some(code / 100);
    if well_formed {
        (first.to_string(), rest.to_string())
    } else {
        (String::new(), text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a line decoder in pieces of `chunk` bytes, collecting events.
    fn lines_chunked(input: &[u8], chunk: usize) -> Vec<LineEvent> {
        let mut dec = LineDecoder::default();
        let mut buf = Vec::new();
        let mut events = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                let (n, ev) = dec.decode(&buf);
                buf.drain(..n);
                if ev == LineEvent::NeedMore {
                    break;
                }
                events.push(ev);
            }
            assert!(buf.len() <= MAX_LINE, "line buffer grew past the cap");
        }
        events
    }

    #[test]
    fn line_framing() {
        let long = [
            b"NOOP ".to_vec(),
            vec![b'x'; 5000],
            b"\r\nQUIT\r\n".to_vec(),
        ]
        .concat();
        let exact = [vec![b'a'; MAX_LINE - 2], b"\r\n".to_vec()].concat();
        let over = [vec![b'a'; MAX_LINE - 1], b"\r\n".to_vec()].concat();
        let cases: Vec<(&[u8], Vec<LineEvent>)> = vec![
            (b"EHLO a\r\n", vec![LineEvent::Line(b"EHLO a".to_vec())]),
            (b"EHLO a\n", vec![LineEvent::Line(b"EHLO a".to_vec())]),
            (
                b"NOOP\r\nRSET\r\nQUIT",
                vec![
                    LineEvent::Line(b"NOOP".to_vec()),
                    LineEvent::Line(b"RSET".to_vec()),
                ],
            ),
            (
                &long,
                vec![LineEvent::TooLong, LineEvent::Line(b"QUIT".to_vec())],
            ),
            (&exact, vec![LineEvent::Line(vec![b'a'; MAX_LINE - 2])]),
            (&over, vec![LineEvent::TooLong]),
        ];
        for (input, want) in cases {
            for chunk in [1, 2, 3, 7, 4096, 100_000] {
                let got = lines_chunked(input, chunk);
                assert_eq!(
                    got,
                    want,
                    "input {:?} chunk {chunk}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    /// Decodes `input` as DATA in pieces split at `split`; returns (content, rest after terminator, done).
    fn data_split(input: &[u8], splits: &[usize], limit: usize) -> (Vec<u8>, Vec<u8>, bool, bool) {
        let mut dec = DataDecoder::new(limit);
        let mut out = Vec::new();
        let mut start = 0;
        let mut bounds: Vec<usize> = splits
            .iter()
            .copied()
            .filter(|&s| s < input.len())
            .collect();
        bounds.push(input.len());
        for end in bounds {
            let piece = &input[start..end];
            let (n, done) = dec.decode(piece, &mut out);
            if done {
                let rest = input[start + n..].to_vec();
                return (out, rest, true, dec.overflowed());
            }
            assert_eq!(n, piece.len());
            start = end;
        }
        (out, Vec::new(), false, dec.overflowed())
    }

    #[test]
    fn data_terminator_and_unstuffing() {
        // (input, content, rest after terminator, terminated)
        type Case<'a> = (&'a [u8], &'a [u8], &'a [u8], bool);
        let cases: Vec<Case> = vec![
            (b".\r\n", b"", b"", true),
            (b"a\r\n.\r\n", b"a\r\n", b"", true),
            (b"a\r\n.\r\nQUIT\r\n", b"a\r\n", b"QUIT\r\n", true),
            (b"..a\r\n.\r\n", b".a\r\n", b"", true),
            (b"x\r\n..\r\n.\r\n", b"x\r\n.\r\n", b"", true),
            (b"x\r\n...\r\n.\r\n", b"x\r\n..\r\n", b"", true),
            (b".a\r\n.\r\n", b".a\r\n", b"", true),
            // smuggling attempts: none of these ends DATA, and every byte is kept
            (b"a\n.\nb\r\n.\r\n", b"a\n.\nb\r\n", b"", true),
            (b"a\r.\rb\r\n.\r\n", b"a\r.\rb\r\n", b"", true),
            (b"a\n.\r\nb\r\n.\r\n", b"a\n.\r\nb\r\n", b"", true),
            (b"a\r\n.\nb\r\n.\r\n", b"a\r\n.\nb\r\n", b"", true),
            (b"a\r\n.\rb\r\n.\r\n", b"a\r\n.\rb\r\n", b"", true),
            (b"a\r\n.\r\r\n.\r\n", b"a\r\n.\r\r\n", b"", true),
            (b"a\r\r\n.\r\n", b"a\r\r\n", b"", true),
            (b"a\n..b\r\n.\r\n", b"a\n..b\r\n", b"", true),
            // 8-bit, bare CR/LF, no terminator yet
            (
                b"\xff\xfe\r\n\n\r\r\n.\r\n",
                b"\xff\xfe\r\n\n\r\r\n",
                b"",
                true,
            ),
            (b"a\r\n.", b"a\r\n", b"", false),
            (b"a\n.\n", b"a\n.\n", b"", false),
        ];
        for (input, content, rest, done) in cases {
            // every split position, and every pair of split positions for short inputs
            let mut splits: Vec<Vec<usize>> = vec![vec![]];
            for i in 1..input.len() {
                splits.push(vec![i]);
                for j in i + 1..input.len() {
                    splits.push(vec![i, j]);
                }
            }
            for s in splits {
                let (got, got_rest, got_done, overflow) = data_split(input, &s, 1 << 20);
                let label = format!("input {:?} splits {s:?}", String::from_utf8_lossy(input));
                assert_eq!(got, content, "{label}");
                assert_eq!(got_rest, rest, "{label}");
                assert_eq!(got_done, done, "{label}");
                assert!(!overflow, "{label}");
            }
        }
    }

    /// The DATA decoder written out byte by byte (RFC 5321 §4.1.1.4, §4.5.2), with no fast path: what
    /// `DataDecoder::decode` must produce for any input. Returns (content, bytes consumed, terminated).
    fn data_reference(input: &[u8]) -> (Vec<u8>, usize, bool) {
        let mut out = Vec::new();
        let mut state = DataState::LineStart;
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            i += 1;
            state = match (state, b) {
                (DataState::LineStart, b'.') => DataState::Dot,
                (DataState::Dot, b'.') => {
                    out.push(b'.');
                    DataState::Mid
                }
                (DataState::Dot, b'\r') => DataState::DotCr,
                (DataState::Dot, _) => {
                    out.push(b'.');
                    i -= 1;
                    DataState::Mid
                }
                (DataState::DotCr, b'\n') => return (out, i, true),
                (DataState::DotCr, _) => {
                    out.extend_from_slice(b".\r");
                    i -= 1;
                    DataState::Cr
                }
                (DataState::Cr, b'\n') => {
                    out.push(b);
                    DataState::LineStart
                }
                (_, b'\r') => {
                    out.push(b);
                    DataState::Cr
                }
                (_, _) => {
                    out.push(b);
                    DataState::Mid
                }
            };
        }
        (out, input.len(), false)
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(3000))]

        /// The decoder with its whole-line fast path agrees with the byte-by-byte reference, however the
        /// input is split, and a size limit only ever cuts the same content short.
        #[test]
        fn data_decoder_matches_reference(
            input in proptest::strategy::Strategy::prop_map(
                proptest::collection::vec(
                    proptest::sample::select(vec![
                        &b"\r\n"[..], b"\r\n", b"\r", b"\n", b".", b"a", b"ab", b"\r\n.", b"\r\n.\r\n",
                    ]),
                    0..60,
                ),
                |tokens: Vec<&'static [u8]>| tokens.concat(),
            ),
            splits in proptest::collection::vec(0usize..200, 0..4),
            limit in proptest::sample::select(vec![0usize, 1, 5, 40, 1 << 20]),
        ) {
            let (want, want_used, want_done) = data_reference(&input);
            let mut splits = splits;
            splits.sort_unstable();
            let (got, rest, done, overflow) = data_split(&input, &splits, limit);
            proptest::prop_assert_eq!(done, want_done);
            if done {
                proptest::prop_assert_eq!(rest, input[want_used..].to_vec());
            }
            proptest::prop_assert_eq!(overflow, want.len() > limit);
            proptest::prop_assert_eq!(&got[..], &want[..want.len().min(limit)]);
        }
    }

    #[test]
    fn data_limit() {
        let input = b"0123456789\r\n.\r\nQUIT\r\n";
        for (limit, overflow) in [(12, false), (11, true), (3, true), (0, true)] {
            let (got, rest, done, over) = data_split(input, &[5], limit);
            assert!(done);
            assert_eq!(rest, b"QUIT\r\n");
            assert_eq!(over, overflow, "limit {limit}");
            assert!(got.len() <= limit);
            assert_eq!(got, &b"0123456789\r\n"[..limit.min(12)]);
        }
    }

    #[test]
    fn commands() {
        let ok: Vec<(&str, Command)> = vec![
            ("EHLO mx.example", Command::Ehlo("mx.example".into())),
            ("helo mx", Command::Helo("mx".into())),
            (
                "MAIL FROM:<a@b.example>",
                Command::Mail {
                    from: Some("a@b.example".into()),
                    params: vec![],
                },
            ),
            (
                "mail from:<>",
                Command::Mail {
                    from: None,
                    params: vec![],
                },
            ),
            (
                "MAIL FROM:<a@b> BODY=8BITMIME SIZE=100",
                Command::Mail {
                    from: Some("a@b".into()),
                    params: vec!["BODY=8BITMIME".into(), "SIZE=100".into()],
                },
            ),
            (
                "MAIL FROM: <a@b>",
                Command::Mail {
                    from: Some("a@b".into()),
                    params: vec![],
                },
            ),
            (
                "RCPT TO:<@r1,@r2:c@d>",
                Command::Rcpt {
                    to: "c@d".into(),
                    params: vec![],
                },
            ),
            (
                "RCPT TO:<c@d> NOTIFY=NEVER ORCPT=rfc822;c@d",
                Command::Rcpt {
                    to: "c@d".into(),
                    params: vec!["NOTIFY=NEVER".into(), "ORCPT=rfc822;c@d".into()],
                },
            ),
            ("DATA", Command::Data),
            ("rset", Command::Rset),
            ("NOOP whatever", Command::Noop),
            ("QUIT", Command::Quit),
            ("VRFY x", Command::Vrfy),
            (
                "XFORWARD NAME=spike.example ADDR=192.0.2.1 HELO=[UNAVAILABLE] IDENT=a+2Bb+3Dc+20d",
                Command::Xforward(vec![
                    ("NAME".into(), "spike.example".into()),
                    ("ADDR".into(), "192.0.2.1".into()),
                    ("HELO".into(), "[UNAVAILABLE]".into()),
                    ("IDENT".into(), "a+b=c d".into()),
                ]),
            ),
            ("STARTTLS", Command::Unknown("STARTTLS".into())),
            ("BDAT 10 LAST", Command::Unknown("BDAT".into())),
        ];
        for (line, want) in ok {
            assert_eq!(parse_command(line.as_bytes()), Ok(want), "{line}");
        }
        let bad = [
            "EHLO",
            "MAIL <a@b>",
            "MAIL FROM:a@b",
            "MAIL FROM:<a@b",
            "MAIL FROM:<a b@c>",
            "MAIL FROM:<a@b>SIZE=1",
            "RCPT TO:<>",
            "DATA now",
            "XFORWARD",
            "XFORWARD NAME",
            "XFORWARD COLOR=red",
            "XFORWARD NAME=a+zz",
        ];
        for line in bad {
            assert!(
                parse_command(line.as_bytes()).is_err(),
                "{line} should be a syntax error"
            );
        }
    }

    /// Addresses that are not UTF-8 are refused with the right status, never turned into U+FFFD.
    #[test]
    fn non_utf8_addresses_are_refused_not_rewritten() {
        let cases: [(&[u8], &str); 5] = [
            (b"RCPT TO:<j\xe9r\xf4me@school.example>", "5.1.3"),
            (b"rcpt to:<a@b> ORCPT=rfc822;\xff", "5.1.3"),
            (b"MAIL FROM:<\xc3@school.example>", "5.1.7"),
            (b"mail FROM:<a@b> BODY=8BITMIME \x80", "5.1.7"),
            (b"RCPT TO:<a b@c>", "5.1.3"),
        ];
        for (line, status) in cases {
            let err = parse_command(line).expect_err("refused");
            assert_eq!(err.status(), status, "{err}");
        }
        // Valid UTF-8 (RFC 6531) passes untouched; other verbs keep their lenient reading.
        assert_eq!(
            parse_command("RCPT TO:<jérôme@school.example>".as_bytes()),
            Ok(Command::Rcpt {
                to: "jérôme@school.example".into(),
                params: vec![],
            })
        );
        assert_eq!(parse_command(b"NOOP \xff"), Ok(Command::Noop));
        assert_eq!(
            parse_command(b"MAILBOX \xff"),
            Ok(Command::Unknown("MAILBOX".into()))
        );
    }

    #[test]
    fn xtext_round_trip() {
        for value in ["plain", "[UNAVAILABLE]", "a+b=c d", "ü", ""] {
            let encoded = xtext_encode(value);
            assert!(encoded
                .bytes()
                .all(|b| (b'!'..=b'~').contains(&b) && b != b'='));
            assert_eq!(xtext_decode(&encoded).as_deref(), Some(value));
        }
        assert_eq!(xtext_encode("[UNAVAILABLE]"), "[UNAVAILABLE]");
    }

    #[test]
    fn reply_lines() {
        type Case<'a> = (&'a [u8], Option<(u16, bool, &'a str)>);
        let cases: Vec<Case> = vec![
            (b"250-mx.example", Some((250, false, "mx.example"))),
            (b"250 2.0.0 Ok", Some((250, true, "2.0.0 Ok"))),
            (b"354", Some((354, true, ""))),
            (b"25", None),
            (b"abc def", None),
            (b"250x", None),
        ];
        for (line, want) in cases {
            let got = parse_reply_line(line).map(|r| (r.code, r.last, r.text));
            assert_eq!(got, want.map(|(c, l, t)| (c, l, t.to_string())));
        }
        let status: Vec<(u16, &str, &str, &str)> = vec![
            (250, "2.1.0 Ok", "2.1.0", "Ok"),
            (550, "5.1.1 <x>: unknown", "5.1.1", "<x>: unknown"),
            (250, "5.1.1 mismatched class", "", "5.1.1 mismatched class"),
            (250, "Ok", "", "Ok"),
            (250, "1.2 x", "", "1.2 x"),
            (421, "4.4.2", "4.4.2", ""),
        ];
        for (code, text, want_status, want_text) in status {
            assert_eq!(
                split_status(code, text),
                (want_status.to_string(), want_text.to_string()),
                "{text}"
            );
        }
    }
}
