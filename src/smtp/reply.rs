//! An SMTP reply (code, RFC 3463 enhanced status code, text lines) and its wire form. A leaf: no I/O and
//! nothing else from the crate, so the milter, the filter and the notices can answer with it without
//! depending on the SMTP server.

/// An SMTP reply: code, enhanced status code (RFC 3463) and text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code, e.g. `2.0.0`; empty when the peer sent none.
    pub status: String,
    /// Text lines (without code and status).
    pub lines: Vec<String>,
}

impl Reply {
    /// The answer when handling a message failed inside (a panic caught by [`crate::util::guarded`]): a
    /// temporary failure, never an acceptance. The SMTP server sends it, the milter server as its reply code.
    pub fn handler_failed() -> Reply {
        Reply::new(451, "4.3.0", "Error: internal error, try again later")
    }

    /// The refusal of a message over the size limit (`552 5.3.4`, RFC 5321 §4.5.3.1.10, RFC 1870), in
    /// Postfix's own words. The one text for it in both modes: the SMTP session (for `MAIL FROM … SIZE=` and
    /// after the content), the milter session and the filter's account (`filter::replies::too_big`) all
    /// answer with this; it lives in this leaf because the protocols may not use the filter above them.
    pub fn too_big() -> Reply {
        Reply::new(552, "5.3.4", "Error: message size exceeds fixed limit")
    }

    /// A one-line reply.
    pub fn new(code: u16, status: &str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status: status.to_string(),
            lines: vec![text.into()],
        }
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// The reply as sent on the wire (`250-…\r\n250 …\r\n`).
    pub fn to_wire(&self) -> String {
        let mut out = Vec::new();
        self.write_wire(&mut out);
        // Only UTF-8 text and ASCII went in, and CR/LF were dropped whole: the lossy branch never runs.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Appends the reply as sent on the wire to `out` (what [`Reply::to_wire`] returns, without building
    /// a string per line).
    pub fn write_wire(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        // A reply without text still is one line: the code (and status).
        let empty = [String::new()];
        let lines = if self.lines.is_empty() {
            &empty[..]
        } else {
            &self.lines[..]
        };
        for (i, line) in lines.iter().enumerate() {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{}", self.code);
            out.push(if i + 1 == lines.len() { b' ' } else { b'-' });
            if !self.status.is_empty() {
                out.extend_from_slice(self.status.as_bytes());
                out.push(b' ');
            }
            // A reply line must not carry CR/LF of its own.
            out.extend(line.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reply;

    #[test]
    fn replies_on_the_wire() {
        let multi = Reply {
            code: 250,
            status: String::new(),
            lines: vec!["mx.example".into(), "PIPELINING".into(), "SIZE 10".into()],
        };
        let cases: Vec<(Reply, &str)> = vec![
            (Reply::new(250, "2.0.0", "Ok"), "250 2.0.0 Ok\r\n"),
            (Reply::new(354, "", "End data"), "354 End data\r\n"),
            (multi, "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 10\r\n"),
            (
                Reply {
                    code: 421,
                    status: "4.4.2".into(),
                    lines: vec![],
                },
                "421 4.4.2 \r\n",
            ),
            (
                Reply {
                    code: 550,
                    status: "5.7.1".into(),
                    lines: vec!["a\r\nb".into(), "Ünïcode\n".into()],
                },
                "550-5.7.1 ab\r\n550 5.7.1 Ünïcode\r\n",
            ),
        ];
        for (reply, wire) in cases {
            assert_eq!(reply.to_wire(), wire);
            let mut out = b"before ".to_vec();
            reply.write_wire(&mut out);
            assert_eq!(out, [b"before ".as_slice(), wire.as_bytes()].concat());
        }
    }
}
