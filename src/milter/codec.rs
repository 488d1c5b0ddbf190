//! Milter wire framing: bytes ↔ packets ↔ commands and responses. Pure: no I/O, no clock.
//!
//! A packet is a 4-byte big-endian length, then that many bytes: one command byte and its data (Sendmail's
//! `libmilter/mfdef.h`, as implemented by Postfix's `milter8.c`). Strings inside the data end with a NUL.
//! Postfix sends body content in chunks of at most 65535 bytes, so a packet cap of [`MAX_PACKET`] leaves
//! room while keeping memory bounded: a longer length prefix is an error, never an allocation.
//!
//! Must not: allocate from a length prefix before checking it, panic on any input, or interpret the data
//! beyond splitting it into fields (the session decides what the fields mean).

/// Largest packet accepted (length prefix value): 1 MiB.
pub const MAX_PACKET: usize = 1024 * 1024;

// Commands from the MTA (mfdef.h SMFIC_*).
pub const SMFIC_ABORT: u8 = b'A';
pub const SMFIC_BODY: u8 = b'B';
pub const SMFIC_CONNECT: u8 = b'C';
pub const SMFIC_MACRO: u8 = b'D';
pub const SMFIC_BODYEOB: u8 = b'E';
pub const SMFIC_HELO: u8 = b'H';
pub const SMFIC_QUIT_NC: u8 = b'K';
pub const SMFIC_HEADER: u8 = b'L';
pub const SMFIC_MAIL: u8 = b'M';
pub const SMFIC_EOH: u8 = b'N';
pub const SMFIC_OPTNEG: u8 = b'O';
pub const SMFIC_QUIT: u8 = b'Q';
pub const SMFIC_RCPT: u8 = b'R';
pub const SMFIC_DATA: u8 = b'T';
pub const SMFIC_UNKNOWN: u8 = b'U';

// Responses to the MTA (mfdef.h SMFIR_*).
pub const SMFIR_ACCEPT: u8 = b'a';
pub const SMFIR_CONTINUE: u8 = b'c';
pub const SMFIR_DISCARD: u8 = b'd';
pub const SMFIR_ADDHEADER: u8 = b'h';
pub const SMFIR_REJECT: u8 = b'r';
pub const SMFIR_TEMPFAIL: u8 = b't';
pub const SMFIR_REPLYCODE: u8 = b'y';

/// Action flag (SMFIF_ADDHDRS): the filter may add headers.
pub const SMFIF_ADDHDRS: u32 = 0x01;

// Protocol flags (SMFIP_*): steps the filter does not want, replies it will not send.
pub const SMFIP_NOCONNECT: u32 = 1 << 0;
pub const SMFIP_NOHELO: u32 = 1 << 1;
pub const SMFIP_NR_HDR: u32 = 1 << 7;
pub const SMFIP_NOUNKNOWN: u32 = 1 << 8;
pub const SMFIP_NODATA: u32 = 1 << 9;
pub const SMFIP_NR_CONN: u32 = 1 << 12;
pub const SMFIP_NR_HELO: u32 = 1 << 13;
pub const SMFIP_NR_MAIL: u32 = 1 << 14;
pub const SMFIP_NR_RCPT: u32 = 1 << 15;
pub const SMFIP_NR_DATA: u32 = 1 << 16;
pub const SMFIP_NR_UNKN: u32 = 1 << 17;
pub const SMFIP_NR_EOH: u32 = 1 << 18;
pub const SMFIP_HDR_LEADSPC: u32 = 1 << 20;

/// A framing or field error; the connection cannot continue after one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("milter packet of {0} bytes is larger than the limit of {MAX_PACKET}")]
    TooLarge(usize),
    #[error("empty milter packet (no command byte)")]
    Empty,
    #[error("milter command {command:?}: {problem}")]
    Malformed {
        command: char,
        problem: &'static str,
    },
}

/// One packet: the command byte and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub code: u8,
    pub data: Vec<u8>,
}

/// Take one packet from the front of `buf`: `Ok(None)` when more bytes are needed, else the packet and
/// how many bytes it used.
pub fn decode_packet(buf: &[u8]) -> Result<Option<(Packet, usize)>, CodecError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(prefix);
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > MAX_PACKET {
        return Err(CodecError::TooLarge(len));
    }
    if len == 0 {
        return Err(CodecError::Empty);
    }
    let Some(body) = buf.get(4..4 + len) else {
        return Ok(None);
    };
    let (code, data) = match body.split_first() {
        Some((c, d)) => (*c, d.to_vec()),
        None => return Err(CodecError::Empty),
    };
    Ok(Some((Packet { code, data }, 4 + len)))
}

/// Frame one packet for the wire.
pub fn encode_packet(code: u8, data: &[u8]) -> Vec<u8> {
    let len = (data.len() + 1) as u32;
    let mut out = Vec::with_capacity(data.len() + 5);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(code);
    out.extend_from_slice(data);
    out
}

/// A command from the MTA, its fields split out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// SMFIC_OPTNEG: protocol version, offered actions, offered protocol flags.
    OptNeg {
        version: u32,
        actions: u32,
        protocol: u32,
    },
    /// SMFIC_MACRO: the command the macros belong to, and name/value pairs.
    Macro {
        for_command: u8,
        pairs: Vec<(String, String)>,
    },
    /// SMFIC_CONNECT: client host name, family (`4`, `6`, `L`, `U`), port and address.
    Connect {
        hostname: String,
        family: u8,
        port: u16,
        address: String,
    },
    Helo(String),
    /// SMFIC_MAIL: the sender (first) and ESMTP parameters.
    Mail(Vec<String>),
    /// SMFIC_RCPT: the recipient (first) and ESMTP parameters.
    Rcpt(Vec<String>),
    Data,
    Header {
        name: Vec<u8>,
        value: Vec<u8>,
    },
    EndOfHeaders,
    Body(Vec<u8>),
    /// SMFIC_BODYEOB; may carry a last body chunk.
    EndOfMessage(Vec<u8>),
    Abort,
    Quit,
    QuitNewConnection,
    Unknown(Vec<u8>),
    /// A command byte this implementation does not know (ignored without a reply).
    Other(u8),
}

impl Command {
    /// Split a packet's data into the command's fields.
    pub fn parse(packet: Packet) -> Result<Command, CodecError> {
        let Packet { code, data } = packet;
        let malformed = |problem| CodecError::Malformed {
            command: code as char,
            problem,
        };
        Ok(match code {
            SMFIC_OPTNEG => {
                let word = |i: usize| -> Result<u32, CodecError> {
                    let bytes = data
                        .get(i..i + 4)
                        .ok_or(malformed("shorter than 12 bytes"))?;
                    let mut b = [0u8; 4];
                    b.copy_from_slice(bytes);
                    Ok(u32::from_be_bytes(b))
                };
                Command::OptNeg {
                    version: word(0)?,
                    actions: word(4)?,
                    protocol: word(8)?,
                }
            }
            SMFIC_MACRO => {
                let (for_command, rest) = data.split_first().ok_or(malformed("no command byte"))?;
                let strings = split_strings(rest);
                let pairs = strings
                    .chunks(2)
                    .map(|p| {
                        let name = p.first().cloned().unwrap_or_default();
                        let value = p.get(1).cloned().unwrap_or_default();
                        (lossy(&name), lossy(&value))
                    })
                    .collect();
                Command::Macro {
                    for_command: *for_command,
                    pairs,
                }
            }
            SMFIC_CONNECT => {
                let end = data
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or(malformed("host name not terminated"))?;
                let hostname = lossy(data.get(..end).unwrap_or_default());
                let rest = data.get(end + 1..).unwrap_or_default();
                let family = rest.first().copied().unwrap_or(b'U');
                let (port, address) = match rest.get(1..3) {
                    Some(p) if family != b'U' => {
                        let port = u16::from_be_bytes([p[0], p[1]]);
                        let addr = split_strings(rest.get(3..).unwrap_or_default());
                        (port, addr.first().map(|a| lossy(a)).unwrap_or_default())
                    }
                    _ => (0, String::new()),
                };
                Command::Connect {
                    hostname,
                    family,
                    port,
                    address,
                }
            }
            SMFIC_HELO => Command::Helo(
                split_strings(&data)
                    .first()
                    .map(|s| lossy(s))
                    .unwrap_or_default(),
            ),
            SMFIC_MAIL => Command::Mail(split_strings(&data).iter().map(|s| lossy(s)).collect()),
            SMFIC_RCPT => Command::Rcpt(split_strings(&data).iter().map(|s| lossy(s)).collect()),
            SMFIC_DATA => Command::Data,
            SMFIC_HEADER => {
                let mut fields = data.splitn(2, |b| *b == 0);
                let name = fields.next().unwrap_or_default().to_vec();
                let value = fields.next().ok_or(malformed("header without value"))?;
                let value = value.strip_suffix(&[0]).unwrap_or(value).to_vec();
                Command::Header { name, value }
            }
            SMFIC_EOH => Command::EndOfHeaders,
            SMFIC_BODY => Command::Body(data),
            SMFIC_BODYEOB => Command::EndOfMessage(data),
            SMFIC_ABORT => Command::Abort,
            SMFIC_QUIT => Command::Quit,
            SMFIC_QUIT_NC => Command::QuitNewConnection,
            SMFIC_UNKNOWN => Command::Unknown(data),
            other => Command::Other(other),
        })
    }
}

/// A response to the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// SMFIC_OPTNEG answer: version, actions we may take, protocol steps we skip.
    OptNeg {
        version: u32,
        actions: u32,
        protocol: u32,
    },
    Continue,
    Accept,
    Discard,
    Reject,
    Tempfail,
    /// SMFIR_REPLYCODE: a complete SMTP reply (may be multi-line, lines joined by CRLF).
    ReplyCode(String),
    AddHeader {
        name: String,
        value: String,
    },
}

impl Response {
    /// The packet on the wire.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Response::OptNeg {
                version,
                actions,
                protocol,
            } => {
                let mut data = Vec::with_capacity(12);
                for w in [version, actions, protocol] {
                    data.extend_from_slice(&w.to_be_bytes());
                }
                encode_packet(SMFIC_OPTNEG, &data)
            }
            Response::Continue => encode_packet(SMFIR_CONTINUE, &[]),
            Response::Accept => encode_packet(SMFIR_ACCEPT, &[]),
            Response::Discard => encode_packet(SMFIR_DISCARD, &[]),
            Response::Reject => encode_packet(SMFIR_REJECT, &[]),
            Response::Tempfail => encode_packet(SMFIR_TEMPFAIL, &[]),
            Response::ReplyCode(text) => {
                let mut data = text.as_bytes().to_vec();
                data.push(0);
                encode_packet(SMFIR_REPLYCODE, &data)
            }
            Response::AddHeader { name, value } => {
                let mut data = name.as_bytes().to_vec();
                data.push(0);
                data.extend_from_slice(value.as_bytes());
                data.push(0);
                encode_packet(SMFIR_ADDHEADER, &data)
            }
        }
    }
}

/// NUL-terminated strings; a last unterminated piece counts too (lenient), empty trailing pieces do not.
fn split_strings(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = data.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
    if data.last() == Some(&0) || data.is_empty() {
        out.pop();
    }
    out
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_partial_complete_and_oversize() {
        let full = encode_packet(SMFIC_BODY, b"hello");
        // (input, expected outcome)
        type Decoded = Result<Option<(u8, Vec<u8>, usize)>, CodecError>;
        let cases: Vec<(Vec<u8>, Decoded)> = vec![
            (vec![], Ok(None)),
            (vec![0, 0], Ok(None)),
            (full[..4].to_vec(), Ok(None)),
            (full[..7].to_vec(), Ok(None)),
            (full.clone(), Ok(Some((b'B', b"hello".to_vec(), 10)))),
            (
                [full.clone(), vec![0, 0, 0]].concat(),
                Ok(Some((b'B', b"hello".to_vec(), 10))),
            ),
            (vec![0, 0, 0, 0], Err(CodecError::Empty)),
            (
                ((MAX_PACKET + 1) as u32).to_be_bytes().to_vec(),
                Err(CodecError::TooLarge(MAX_PACKET + 1)),
            ),
            (
                vec![0xff, 0xff, 0xff, 0xff, b'B'],
                Err(CodecError::TooLarge(u32::MAX as usize)),
            ),
        ];
        for (input, want) in cases {
            let got = decode_packet(&input).map(|o| o.map(|(p, n)| (p.code, p.data, n)));
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn largest_allowed_packet_decodes() {
        let data = vec![b'x'; MAX_PACKET - 1];
        let wire = encode_packet(SMFIC_BODY, &data);
        let (p, used) = decode_packet(&wire).expect("ok").expect("complete");
        assert_eq!((p.data.len(), used), (MAX_PACKET - 1, MAX_PACKET + 4));
    }

    #[test]
    fn commands_parse() {
        let optneg = [6u32, 0x1ff, 0x1f_ffff]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect::<Vec<u8>>();
        let cases: Vec<(u8, &[u8], Command)> = vec![
            (
                SMFIC_OPTNEG,
                &optneg,
                Command::OptNeg {
                    version: 6,
                    actions: 0x1ff,
                    protocol: 0x1f_ffff,
                },
            ),
            (
                SMFIC_MACRO,
                b"Mi\0ABC123\0{auth_authen}\0juf@school.example\0",
                Command::Macro {
                    for_command: b'M',
                    pairs: vec![
                        ("i".into(), "ABC123".into()),
                        ("{auth_authen}".into(), "juf@school.example".into()),
                    ],
                },
            ),
            (
                SMFIC_CONNECT,
                b"client.example\x004\x04\xd2127.0.0.1\0",
                Command::Connect {
                    hostname: "client.example".into(),
                    family: b'4',
                    port: 1234,
                    address: "127.0.0.1".into(),
                },
            ),
            (
                SMFIC_CONNECT,
                b"unknown\0U",
                Command::Connect {
                    hostname: "unknown".into(),
                    family: b'U',
                    port: 0,
                    address: String::new(),
                },
            ),
            (
                SMFIC_MAIL,
                b"<a@b.example>\0SIZE=10\0",
                Command::Mail(vec!["<a@b.example>".into(), "SIZE=10".into()]),
            ),
            (
                SMFIC_HEADER,
                b"Subject\0 Hallo\0",
                Command::Header {
                    name: b"Subject".to_vec(),
                    value: b" Hallo".to_vec(),
                },
            ),
            (
                SMFIC_HEADER,
                b"X-Empty\0\0",
                Command::Header {
                    name: b"X-Empty".to_vec(),
                    value: Vec::new(),
                },
            ),
            (SMFIC_BODYEOB, b"", Command::EndOfMessage(Vec::new())),
            (SMFIC_QUIT_NC, b"", Command::QuitNewConnection),
            (b'Z', b"", Command::Other(b'Z')),
        ];
        for (code, data, want) in cases {
            let got = Command::parse(Packet {
                code,
                data: data.to_vec(),
            });
            assert_eq!(got, Ok(want), "{} {:?}", code as char, data);
        }
    }

    #[test]
    fn malformed_commands_are_errors() {
        let cases: Vec<(u8, &[u8])> = vec![
            (SMFIC_OPTNEG, b"\0\0\0\x06"),
            (SMFIC_MACRO, b""),
            (SMFIC_CONNECT, b"no-nul"),
            (SMFIC_HEADER, b"NoValue"),
        ];
        for (code, data) in cases {
            let got = Command::parse(Packet {
                code,
                data: data.to_vec(),
            });
            assert!(
                matches!(got, Err(CodecError::Malformed { .. })),
                "{data:?}: {got:?}"
            );
        }
    }

    #[test]
    fn responses_encode() {
        let cases: Vec<(Response, Vec<u8>)> = vec![
            (Response::Continue, vec![0, 0, 0, 1, b'c']),
            (Response::Tempfail, vec![0, 0, 0, 1, b't']),
            (
                Response::ReplyCode("550 5.7.1 Nee".into()),
                [&[0, 0, 0, 15, b'y'][..], b"550 5.7.1 Nee\0"].concat(),
            ),
            (
                Response::AddHeader {
                    name: "X-A".into(),
                    value: "b".into(),
                },
                [&[0, 0, 0, 7, b'h'][..], b"X-A\0b\0"].concat(),
            ),
            (
                Response::OptNeg {
                    version: 6,
                    actions: 1,
                    protocol: 2,
                },
                vec![0, 0, 0, 13, b'O', 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 2],
            ),
        ];
        for (response, want) in cases {
            assert_eq!(response.encode(), want, "{response:?}");
        }
    }

    proptest::proptest! {
        /// Any bytes: decoding never panics, never claims more than it was given, and every packet it
        /// returns parses or fails cleanly.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut rest: &[u8] = &bytes;
            while let Ok(Some((packet, used))) = decode_packet(rest) {
                proptest::prop_assert!(used > 4 && used <= rest.len());
                let _ = Command::parse(packet);
                rest = &rest[used..];
            }
        }

        /// Framing round-trips, whatever the split of the stream into reads.
        #[test]
        fn packets_round_trip(code in proptest::num::u8::ANY, data in proptest::collection::vec(proptest::num::u8::ANY, 0..300), cut in 0usize..310) {
            let wire = encode_packet(code, &data);
            let cut = cut.min(wire.len());
            if cut < wire.len() {
                proptest::prop_assert_eq!(decode_packet(&wire[..cut]), Ok(None));
            }
            let (p, used) = decode_packet(&wire).expect("valid").expect("complete");
            proptest::prop_assert_eq!((p.code, p.data, used), (code, data, wire.len()));
        }
    }
}
