//! The per-connection milter state machine: negotiation, envelope, headers and body in, a collected
//! message out at end-of-message. Pure: no I/O, no clock, no policy.
//!
//! Protocol (Sendmail `libmilter`, version 6, as Postfix's `milter8.c` speaks it): the MTA opens with
//! SMFIC_OPTNEG; we answer with version 6, the actions we may take (SMFIF_ADDHDRS only when the
//! `X-Mailwacht` header is configured) and the protocol flags asking Postfix to skip what we do not need
//! (connect, HELO, DATA and unknown commands: nothing in them is used) and not to wait for replies we would
//! only answer with "continue" (MAIL, RCPT, headers, end of headers; connect and HELO too, for an MTA that
//! sends them anyway). Flags are only set when the MTA offered them; without a
//! no-reply flag the step is answered with SMFIR_CONTINUE. Macros (SMFIC_MACRO) precede commands and are
//! never answered. SMFIC_ABORT ends the message but keeps the connection; SMFIC_QUIT_NC starts a new SMTP
//! connection on the same socket.
//!
//! The message is rebuilt as `Name:value` lines (with `HDR_LEADSPC` the value keeps its leading space, so
//! the header is byte-exact; otherwise `Name: value`), CRLF line ends, an empty line, then the body chunks
//! as sent. More than `max_message_size` bytes → `552 5.3.4`, answered at the first body chunk (or at
//! end-of-message) and nothing more is buffered.
//!
//! Must not: do I/O, decide policy, or keep more than `max_message_size` bytes of a message.

use crate::envelope::{Envelope, Recipient};
use crate::smtp::reply::Reply;

use super::codec::*;

/// The protocol version we speak.
pub const VERSION: u32 = 6;

/// Steps we ask the MTA to skip or not to wait for (intersected with what it offers).
const WANTED_PROTOCOL: u32 = SMFIP_NOCONNECT
    | SMFIP_NOHELO
    | SMFIP_NOUNKNOWN
    | SMFIP_NODATA
    | SMFIP_NR_CONN
    | SMFIP_NR_HELO
    | SMFIP_NR_MAIL
    | SMFIP_NR_RCPT
    | SMFIP_NR_DATA
    | SMFIP_NR_UNKN
    | SMFIP_NR_EOH
    | SMFIP_NR_HDR
    | SMFIP_HDR_LEADSPC;

/// What a session needs from the configuration (a snapshot per connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// Largest message (headers + body) buffered; larger → `552 5.3.4`.
    pub max_message_size: usize,
    /// Ask for SMFIF_ADDHDRS so an `X-Mailwacht` header can be added to passed mail.
    pub add_header: bool,
    /// Use Postfix's `{auth_authen}` macro as the sender identity for the policy.
    pub use_auth_sender: bool,
}

/// A protocol violation; the connection is closed after one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("milter command {0:?} before option negotiation")]
    NotNegotiated(char),
    #[error("milter protocol version {0} is not supported (need 2 or later)")]
    Version(u32),
}

/// What the connection must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these responses (none for commands that get no reply).
    Reply(Vec<Response>),
    /// End of message: evaluate and answer.
    Evaluate(Collected),
    /// The message went over the size limit: send this refusal and account for it (once per message); the
    /// envelope is the message's.
    TooBig(Response, Envelope),
    /// SMFIC_QUIT: close the connection.
    Close,
}

/// One complete message, as handed to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    /// The envelope as the MTA gave it (stored with a quarantined message).
    pub envelope: Envelope,
    /// The envelope the policy sees: the sender replaced by the authenticated user when configured.
    pub policy_envelope: Envelope,
    /// The rebuilt message (CRLF line ends).
    pub data: Vec<u8>,
    /// Whether an `X-Mailwacht` header may be added (configured and negotiated).
    pub may_add_header: bool,
    /// SMFIP_HDR_LEADSPC was negotiated: an added header's value must carry its own leading space.
    pub header_leading_space: bool,
}

/// The message being received.
#[derive(Debug, Default)]
struct Message {
    envelope: Envelope,
    /// `{auth_authen}` from the macros sent with MAIL.
    auth_authen: Option<String>,
    data: Vec<u8>,
    /// The empty line after the headers has been written.
    headers_done: bool,
    /// The size limit was exceeded: nothing more is kept, the message will be refused.
    oversize: bool,
    /// The refusal was already handed out as [`Action::TooBig`] (logged once per message).
    oversize_reported: bool,
}

/// One milter connection's state.
#[derive(Debug)]
pub struct Session {
    settings: SessionSettings,
    /// Negotiated protocol flags; `None` until SMFIC_OPTNEG.
    protocol: Option<u32>,
    /// Negotiated actions.
    actions: u32,
    msg: Message,
}

impl Session {
    pub fn new(settings: SessionSettings) -> Session {
        Session {
            settings,
            protocol: None,
            actions: 0,
            msg: Message::default(),
        }
    }

    /// True between messages (nothing received that a close would lose).
    pub fn is_idle(&self) -> bool {
        self.msg.envelope.mail_from.is_none()
            && self.msg.envelope.rcpt_to.is_empty()
            && self.msg.data.is_empty()
    }

    /// Handle one command.
    pub fn handle(&mut self, command: Command) -> Result<Action, SessionError> {
        let protocol = match (&command, self.protocol) {
            (Command::OptNeg { .. }, _) => 0,
            (_, Some(p)) => p,
            (Command::Quit, None) => return Ok(Action::Close),
            (Command::Macro { .. } | Command::Abort, None) => return Ok(Action::Reply(vec![])),
            (_, None) => return Err(SessionError::NotNegotiated(command_char(&command))),
        };
        // A reply only when the MTA waits for one (the no-reply flag was not negotiated).
        let cont = |flag: u32| {
            if protocol & flag != 0 {
                Action::Reply(vec![])
            } else {
                Action::Reply(vec![Response::Continue])
            }
        };
        Ok(match command {
            Command::OptNeg {
                version,
                actions,
                protocol,
            } => {
                if version < 2 {
                    return Err(SessionError::Version(version));
                }
                let wanted_actions = if self.settings.add_header {
                    SMFIF_ADDHDRS
                } else {
                    0
                };
                self.actions = wanted_actions & actions;
                let flags = WANTED_PROTOCOL & protocol;
                self.protocol = Some(flags);
                Action::Reply(vec![Response::OptNeg {
                    version: version.min(VERSION),
                    actions: self.actions,
                    protocol: flags,
                }])
            }
            Command::Macro { pairs, .. } => {
                for (name, value) in pairs {
                    if name == "{auth_authen}" || name == "auth_authen" {
                        self.msg.auth_authen = Some(value).filter(|v| !v.is_empty());
                    }
                }
                Action::Reply(vec![])
            }
            Command::Connect { .. } => cont(SMFIP_NR_CONN),
            Command::Helo(_) => cont(SMFIP_NR_HELO),
            Command::Mail(args) => {
                // A new transaction: anything left from an unfinished one goes.
                let auth = self.msg.auth_authen.take();
                self.msg = Message {
                    auth_authen: auth,
                    ..Message::default()
                };
                let mut args = args.into_iter();
                let sender = strip_brackets(&args.next().unwrap_or_default());
                self.msg.envelope.mail_from = Some(sender).filter(|s| !s.is_empty());
                self.msg.envelope.mail_params = args.collect();
                cont(SMFIP_NR_MAIL)
            }
            Command::Rcpt(args) => {
                let mut args = args.into_iter();
                let address = strip_brackets(&args.next().unwrap_or_default());
                self.msg.envelope.rcpt_to.push(Recipient {
                    address,
                    params: args.collect(),
                });
                cont(SMFIP_NR_RCPT)
            }
            Command::Data => cont(SMFIP_NR_DATA),
            Command::Unknown(_) => cont(SMFIP_NR_UNKN),
            Command::Header { name, value } => {
                let leadspc = protocol & SMFIP_HDR_LEADSPC != 0;
                let mut line = name;
                line.push(b':');
                if !leadspc {
                    line.push(b' ');
                }
                line.extend_from_slice(&crlf(&value));
                line.extend_from_slice(b"\r\n");
                self.append(&line);
                cont(SMFIP_NR_HDR)
            }
            Command::EndOfHeaders => {
                self.end_headers();
                cont(SMFIP_NR_EOH)
            }
            Command::Body(chunk) => {
                self.end_headers();
                self.append(&chunk);
                if self.msg.oversize {
                    let envelope = self.msg.envelope.clone();
                    self.too_big(envelope)
                } else {
                    Action::Reply(vec![Response::Continue])
                }
            }
            Command::EndOfMessage(chunk) => {
                self.end_headers();
                self.append(&chunk);
                let msg = std::mem::take(&mut self.msg);
                if msg.oversize {
                    self.msg.oversize_reported = msg.oversize_reported;
                    let action = self.too_big(msg.envelope);
                    self.msg = Message {
                        auth_authen: msg.auth_authen,
                        ..Message::default()
                    };
                    return Ok(action);
                }
                let mut policy_envelope = msg.envelope.clone();
                if self.settings.use_auth_sender {
                    if let Some(user) = msg.auth_authen.as_ref().filter(|u| u.contains('@')) {
                        policy_envelope.mail_from = Some(user.clone());
                    }
                }
                // The authenticated user stays for the next message of this SMTP session.
                self.msg.auth_authen = msg.auth_authen;
                Action::Evaluate(Collected {
                    envelope: msg.envelope,
                    policy_envelope,
                    data: msg.data,
                    may_add_header: self.actions & SMFIF_ADDHDRS != 0,
                    header_leading_space: protocol & SMFIP_HDR_LEADSPC != 0,
                })
            }
            Command::Abort => {
                let auth = self.msg.auth_authen.take();
                self.msg = Message {
                    auth_authen: auth,
                    ..Message::default()
                };
                Action::Reply(vec![])
            }
            Command::QuitNewConnection => {
                self.msg = Message::default();
                Action::Reply(vec![])
            }
            Command::Quit => Action::Close,
            Command::Other(_) => Action::Reply(vec![]),
        })
    }

    fn end_headers(&mut self) {
        if !self.msg.headers_done {
            self.msg.headers_done = true;
            self.append(b"\r\n");
        }
    }

    /// Keep `bytes` unless the message would exceed the limit; then drop everything kept.
    fn append(&mut self, bytes: &[u8]) {
        if self.msg.oversize {
            return;
        }
        if self.msg.data.len().saturating_add(bytes.len()) > self.settings.max_message_size {
            self.msg.oversize = true;
            self.msg.data = Vec::new();
            return;
        }
        self.msg.data.extend_from_slice(bytes);
    }

    /// The first refusal of a message is [`Action::TooBig`], repeats are plain replies.
    fn too_big(&mut self, envelope: Envelope) -> Action {
        let reply = self.oversize_reply();
        if std::mem::replace(&mut self.msg.oversize_reported, true) {
            Action::Reply(vec![reply])
        } else {
            Action::TooBig(reply, envelope)
        }
    }

    fn oversize_reply(&self) -> Response {
        Response::ReplyCode(reply_code(&Reply::too_big()))
    }
}

/// An SMTP reply as SMFIR_REPLYCODE text: lines joined by CRLF (`550-5.7.1 …` then `550 5.7.1 …`), no
/// final CRLF, and `%` doubled (Postfix un-doubles it and drops single `%`, for Sendmail compatibility).
pub fn reply_code(reply: &Reply) -> String {
    let wire = reply.to_wire();
    wire.trim_end_matches("\r\n").replace('%', "%%")
}

/// `<a@b>` → `a@b`; `<>` → empty.
fn strip_brackets(arg: &str) -> String {
    let arg = arg.trim();
    arg.strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(arg)
        .to_string()
}

/// Bare LF → CRLF (Sendmail and Postfix send folded header values with LF between lines).
fn crlf(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 8);
    let mut prev = 0u8;
    for &b in value {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

fn command_char(command: &Command) -> char {
    match command {
        Command::OptNeg { .. } => 'O',
        Command::Macro { .. } => 'D',
        Command::Connect { .. } => 'C',
        Command::Helo(_) => 'H',
        Command::Mail(_) => 'M',
        Command::Rcpt(_) => 'R',
        Command::Data => 'T',
        Command::Header { .. } => 'L',
        Command::EndOfHeaders => 'N',
        Command::Body(_) => 'B',
        Command::EndOfMessage(_) => 'E',
        Command::Abort => 'A',
        Command::Quit => 'Q',
        Command::QuitNewConnection => 'K',
        Command::Unknown(_) => 'U',
        Command::Other(c) => *c as char,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything Postfix 3.x offers with milter_protocol = 6.
    const POSTFIX_OFFER: u32 = 0x1f_ffff;

    fn settings() -> SessionSettings {
        SessionSettings {
            max_message_size: 1000,
            add_header: false,
            use_auth_sender: true,
        }
    }

    fn negotiated(offer: u32, settings: SessionSettings) -> Session {
        let mut s = Session::new(settings);
        s.handle(Command::OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: offer,
        })
        .expect("optneg");
        s
    }

    fn header(name: &str, value: &str) -> Command {
        Command::Header {
            name: name.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn negotiation_keeps_only_offered_flags() {
        // (offered protocol, add_header, expected answer: actions, protocol)
        let cases = [
            (POSTFIX_OFFER, false, 0, WANTED_PROTOCOL),
            (POSTFIX_OFFER, true, SMFIF_ADDHDRS, WANTED_PROTOCOL),
            // An MTA that offers no no-reply steps gets none asked for; of its skippable steps only those
            // nothing is taken from (connect, HELO).
            (0x7f, false, 0, SMFIP_NOCONNECT | SMFIP_NOHELO),
            // SMFIP_NR_BODY (1 << 19) is offered but not wanted: a body chunk may be refused (552).
            (
                SMFIP_NODATA | SMFIP_NOCONNECT | 1 << 19,
                false,
                0,
                SMFIP_NODATA | SMFIP_NOCONNECT,
            ),
        ];
        for (offer, add_header, actions, protocol) in cases {
            let mut s = Session::new(SessionSettings {
                add_header,
                ..settings()
            });
            let got = s
                .handle(Command::OptNeg {
                    version: 6,
                    actions: 0x1ff,
                    protocol: offer,
                })
                .expect("optneg");
            assert_eq!(
                got,
                Action::Reply(vec![Response::OptNeg {
                    version: 6,
                    actions,
                    protocol
                }]),
                "offer {offer:#x}"
            );
        }
        let mut s = Session::new(settings());
        assert_eq!(
            s.handle(Command::OptNeg {
                version: 1,
                actions: 0,
                protocol: 0
            }),
            Err(SessionError::Version(1))
        );
        let mut s = Session::new(settings());
        assert_eq!(
            s.handle(Command::Helo("x".into())),
            Err(SessionError::NotNegotiated('H'))
        );
    }

    #[test]
    fn replies_only_where_the_mta_waits() {
        let commands = || {
            vec![
                Command::Connect {
                    hostname: "h".into(),
                    family: b'4',
                    port: 25,
                    address: "127.0.0.1".into(),
                },
                Command::Helo("h".into()),
                Command::Mail(vec!["<a@b>".into()]),
                Command::Rcpt(vec!["<c@d>".into()]),
                header("Subject", " x"),
                Command::EndOfHeaders,
            ]
        };
        let mut s = negotiated(POSTFIX_OFFER, settings());
        for c in commands() {
            assert_eq!(s.handle(c.clone()), Ok(Action::Reply(vec![])), "{c:?}");
        }
        let mut s = negotiated(0, settings());
        for c in commands() {
            assert_eq!(
                s.handle(c.clone()),
                Ok(Action::Reply(vec![Response::Continue])),
                "{c:?}"
            );
        }
        assert_eq!(
            s.handle(Command::Body(b"x".to_vec())),
            Ok(Action::Reply(vec![Response::Continue]))
        );
    }

    fn collect(offer: u32, settings: SessionSettings, commands: Vec<Command>) -> Action {
        let mut s = negotiated(offer, settings);
        let mut last = Action::Reply(vec![]);
        for c in commands {
            last = s.handle(c).expect("command");
        }
        last
    }

    #[test]
    fn message_is_rebuilt_with_crlf() {
        let cmds = |leading: &str| {
            vec![
                Command::Macro {
                    for_command: b'M',
                    pairs: vec![("{auth_authen}".into(), "vp@school.example".into())],
                },
                Command::Mail(vec!["<juf@school.example>".into(), "BODY=8BITMIME".into()]),
                Command::Rcpt(vec!["<ouder@example.org>".into()]),
                Command::Rcpt(vec!["<>".into()]),
                header("Subject", &format!("{leading}Hallo")),
                header("X-Folded", &format!("{leading}een\n\ttwee")),
                Command::EndOfHeaders,
                Command::Body(b"regel 1\r\n".to_vec()),
                Command::EndOfMessage(b"regel 2\r\n".to_vec()),
            ]
        };
        let want =
            b"Subject: Hallo\r\nX-Folded: een\r\n\ttwee\r\n\r\nregel 1\r\nregel 2\r\n".to_vec();
        // With HDR_LEADSPC the value carries its own space; without, we add it.
        for (offer, leading) in [(POSTFIX_OFFER, " "), (0, "")] {
            let Action::Evaluate(c) = collect(offer, settings(), cmds(leading)) else {
                panic!("no evaluation");
            };
            assert_eq!(
                String::from_utf8_lossy(&c.data),
                String::from_utf8_lossy(&want)
            );
            assert_eq!(c.envelope.mail_from.as_deref(), Some("juf@school.example"));
            assert_eq!(c.envelope.mail_params, vec!["BODY=8BITMIME"]);
            let rcpts: Vec<&str> = c.envelope.recipients().collect();
            assert_eq!(rcpts, vec!["ouder@example.org", ""]);
            assert_eq!(
                c.policy_envelope.mail_from.as_deref(),
                Some("vp@school.example")
            );
            assert!(!c.may_add_header);
            assert_eq!(c.header_leading_space, leading == " ");
        }
        // Without use_auth_sender the envelope sender stays the identity.
        let Action::Evaluate(c) = collect(
            POSTFIX_OFFER,
            SessionSettings {
                use_auth_sender: false,
                add_header: true,
                ..settings()
            },
            cmds(" "),
        ) else {
            panic!("no evaluation");
        };
        assert_eq!(
            c.policy_envelope.mail_from.as_deref(),
            Some("juf@school.example")
        );
        assert!(c.may_add_header);
    }

    #[test]
    fn null_sender_and_plain_user_names() {
        let Action::Evaluate(c) = collect(
            POSTFIX_OFFER,
            settings(),
            vec![
                Command::Macro {
                    for_command: b'M',
                    pairs: vec![("{auth_authen}".into(), "jdevries".into())],
                },
                Command::Mail(vec!["<>".into()]),
                Command::Rcpt(vec!["<a@b.example>".into()]),
                Command::EndOfMessage(Vec::new()),
            ],
        ) else {
            panic!("no evaluation");
        };
        assert_eq!(c.envelope.mail_from, None);
        // A login name without a domain is not an address: the envelope stays.
        assert_eq!(c.policy_envelope.mail_from, None);
        assert_eq!(c.data, b"\r\n");
    }

    #[test]
    fn oversize_is_refused_and_not_kept() {
        let big = vec![b'x'; 600];
        let mut s = negotiated(POSTFIX_OFFER, settings());
        s.handle(Command::Mail(vec!["<a@b>".into()])).expect("mail");
        s.handle(header("Subject", " x")).expect("hdr");
        assert_eq!(
            s.handle(Command::Body(big.clone())),
            Ok(Action::Reply(vec![Response::Continue]))
        );
        let Ok(Action::TooBig(r, _)) = s.handle(Command::Body(big.clone())) else {
            panic!("no refusal");
        };
        assert!(
            matches!(&r, Response::ReplyCode(t) if t.starts_with("552 5.3.4")),
            "{r:?}"
        );
        assert!(s.msg.data.is_empty(), "nothing kept after the limit");
        let Ok(Action::Reply(r)) = s.handle(Command::EndOfMessage(Vec::new())) else {
            panic!("evaluated an oversize message, or reported it twice");
        };
        assert!(matches!(r.as_slice(), [Response::ReplyCode(t)] if t.starts_with("552 ")));
        // Over the limit already in the headers (no replies to them): refused at end of message.
        s.handle(Command::Mail(vec!["<a@b>".into()])).expect("mail");
        s.handle(header("X-Big", &"y".repeat(1200))).expect("hdr");
        assert!(matches!(
            s.handle(Command::EndOfMessage(Vec::new())),
            Ok(Action::TooBig(Response::ReplyCode(_), _))
        ));
        // The next message on the same connection starts clean.
        s.handle(Command::Mail(vec!["<a@b>".into()])).expect("mail");
        assert!(matches!(
            s.handle(Command::EndOfMessage(b"ok".to_vec())),
            Ok(Action::Evaluate(_))
        ));
    }

    #[test]
    fn abort_resets_the_message_but_not_the_connection() {
        let mut s = negotiated(POSTFIX_OFFER, settings());
        s.handle(Command::Mail(vec!["<first@school.example>".into()]))
            .expect("mail");
        s.handle(Command::Rcpt(vec!["<x@example.org>".into()]))
            .expect("rcpt");
        s.handle(header("Subject", " eerste")).expect("hdr");
        assert!(!s.is_idle());
        assert_eq!(s.handle(Command::Abort), Ok(Action::Reply(vec![])));
        assert!(s.is_idle());
        s.handle(Command::Mail(vec!["<second@school.example>".into()]))
            .expect("mail");
        s.handle(Command::Rcpt(vec!["<y@example.org>".into()]))
            .expect("rcpt");
        let Ok(Action::Evaluate(c)) = s.handle(Command::EndOfMessage(b"body".to_vec())) else {
            panic!("no evaluation");
        };
        assert_eq!(
            c.envelope.mail_from.as_deref(),
            Some("second@school.example")
        );
        assert_eq!(c.envelope.rcpt_to.len(), 1);
        assert_eq!(c.data, b"\r\nbody");
        assert_eq!(
            s.handle(Command::QuitNewConnection),
            Ok(Action::Reply(vec![]))
        );
        assert_eq!(s.handle(Command::Quit), Ok(Action::Close));
    }

    #[test]
    fn reply_codes_are_multiline_and_percent_safe() {
        let reply = Reply {
            code: 550,
            status: "5.7.1".into(),
            lines: vec!["Bericht geweigerd (100%)".into(), "Message refused".into()],
        };
        assert_eq!(
            reply_code(&reply),
            "550-5.7.1 Bericht geweigerd (100%%)\r\n550 5.7.1 Message refused"
        );
    }

    proptest::proptest! {
        /// Any sequence of commands after negotiation: no panic, and never more than the limit kept.
        #[test]
        fn bounded_under_any_command_sequence(
            steps in proptest::collection::vec((0u8..9, proptest::collection::vec(proptest::num::u8::ANY, 0..400)), 0..40),
            offer in proptest::num::u32::ANY,
        ) {
            let mut s = negotiated(offer, settings());
            for (kind, bytes) in steps {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let command = match kind {
                    0 => Command::Mail(vec![text]),
                    1 => Command::Rcpt(vec![text]),
                    2 => Command::Header { name: b"X".to_vec(), value: bytes },
                    3 => Command::EndOfHeaders,
                    4 => Command::Body(bytes),
                    5 => Command::EndOfMessage(bytes),
                    6 => Command::Abort,
                    7 => Command::Macro { for_command: b'M', pairs: vec![("{auth_authen}".into(), text)] },
                    _ => Command::QuitNewConnection,
                };
                let action = s.handle(command).expect("negotiated session accepts every command");
                proptest::prop_assert!(s.msg.data.len() <= 1000);
                if let Action::Evaluate(c) = action {
                    proptest::prop_assert!(c.data.len() <= 1000);
                }
            }
        }
    }
}
