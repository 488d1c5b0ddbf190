//! The per-connection SMTP state machine: what each command does to the session and what to answer.
//!
//! Pure: it takes parsed commands and finished DATA content and returns replies and transactions. The
//! server (`server.rs`) owns the socket, the timers and the handler call. Must not do I/O, read clocks or
//! log message content.
//!
//! A session ends with `421` after [`JUNK_LIMIT`] commands without a message in between (as Postfix's
//! `smtpd_junk_command_limit`), so a client that trickles NOOPs inside every timeout still cannot keep its
//! slot for ever.
//!
//! XFORWARD semantics follow Postfix (`smtpd.c`, `mail_reset()`): attributes may be sent any time except
//! between MAIL and the final dot, apply to the next transaction, and are cleared when that transaction
//! ends (final dot), by RSET and by HELO/EHLO.

use std::net::SocketAddr;
use std::sync::Arc;

use super::codec::{Command, DataDecoder, SyntaxError, XFORWARD_ATTRIBUTES};
use super::{Reply, ServerSettings, Transaction};
use crate::envelope::{Envelope, Recipient};

/// Commands allowed between two messages (or before the first) that do not move a message forward:
/// NOOP, RSET, VRFY, HELP, EHLO/HELO, XFORWARD, unknown or malformed commands, and MAIL/RCPT/DATA refused
/// with a `5xx`. Postfix needs a handful per message (EHLO, XFORWARD, RSET); its own smtpd allows 100.
pub const JUNK_LIMIT: u32 = 100;

/// What the server must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the reply and go on reading commands.
    Reply(Reply),
    /// Send (and flush) the `354` reply, then read DATA content.
    StartData(Reply),
    /// Send the reply and close the connection.
    Quit(Reply),
}

/// The state of one SMTP connection.
#[derive(Debug)]
pub struct Session {
    /// Settings as they were when the connection was accepted (a reload applies to new connections).
    settings: Arc<ServerSettings>,
    /// The client's address, passed on in every transaction.
    peer: SocketAddr,
    /// HELO/EHLO name; `None` until the client introduced itself (MAIL requires it).
    helo: Option<String>,
    /// XFORWARD attributes received since the last transaction ended, in order.
    xforward: Vec<(String, String)>,
    /// The transaction in progress: `Some` from an accepted MAIL until the final dot or RSET.
    envelope: Option<Envelope>,
    /// Commands since the last message that did not move one forward (see [`JUNK_LIMIT`]).
    junk: u32,
}

impl Session {
    /// A new session for a connection from `peer`.
    pub fn new(settings: Arc<ServerSettings>, peer: SocketAddr) -> Session {
        Session {
            settings,
            peer,
            helo: None,
            xforward: Vec::new(),
            envelope: None,
            junk: 0,
        }
    }

    /// The settings this session runs with.
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// The `220` greeting. The hostname must not be the upstream Postfix's own name (FILTER_README).
    pub fn greeting(&self) -> Reply {
        Reply::new(
            220,
            "",
            format!("{} ESMTP mailwacht", self.settings.hostname),
        )
    }

    /// True between an accepted MAIL and the end of the transaction.
    pub fn in_transaction(&self) -> bool {
        self.envelope.is_some()
    }

    /// The envelope of the transaction in progress (its sender and recipients so far).
    pub fn envelope(&self) -> Option<&Envelope> {
        self.envelope.as_ref()
    }

    /// The answer to a command line longer than the codec's limit.
    pub fn line_too_long(&mut self) -> Action {
        self.count_junk(Action::Reply(Reply::new(
            500,
            "5.5.2",
            "Error: line too long",
        )))
    }

    /// Counts a command that did not move a message forward; past [`JUNK_LIMIT`] the session ends.
    fn count_junk(&mut self, action: Action) -> Action {
        self.junk = self.junk.saturating_add(1);
        if self.junk > JUNK_LIMIT && !matches!(action, Action::Quit(_)) {
            return Action::Quit(Reply::new(
                421,
                "4.7.0",
                format!(
                    "{} Error: too many commands without a message, closing transmission channel",
                    self.settings.hostname
                ),
            ));
        }
        action
    }

    /// `421` for a connection closed because the client was idle too long.
    pub fn timeout_reply(&self) -> Reply {
        Reply::new(
            421,
            "4.4.2",
            format!("{} Error: timeout exceeded", self.settings.hostname),
        )
    }

    /// `421` for a connection closed because the server is stopping.
    pub fn shutdown_reply(&self) -> Reply {
        Reply::new(
            421,
            "4.3.2",
            format!(
                "{} Service shutting down, closing transmission channel",
                self.settings.hostname
            ),
        )
    }

    /// A decoder for the DATA phase that just started, bounded by the size limit.
    pub fn data_decoder(&self) -> DataDecoder {
        DataDecoder::new(self.settings.max_message_size)
    }

    /// Applies one parsed command line.
    pub fn command(&mut self, parsed: Result<Command, SyntaxError>) -> Action {
        let forward = matches!(
            parsed,
            Ok(Command::Mail { .. } | Command::Rcpt { .. } | Command::Data)
        );
        let action = self.answer(parsed);
        let refused = match &action {
            Action::Reply(r) => r.is_permanent(),
            Action::StartData(_) => false,
            Action::Quit(_) => return action,
        };
        if forward && !refused {
            action
        } else {
            self.count_junk(action)
        }
    }

    fn answer(&mut self, parsed: Result<Command, SyntaxError>) -> Action {
        let cmd = match parsed {
            Ok(cmd) => cmd,
            Err(e) => return Action::Reply(Reply::new(501, e.status(), format!("Syntax: {e}"))),
        };
        match cmd {
            Command::Ehlo(name) => Action::Reply(self.handle_ehlo(name, true)),
            Command::Helo(name) => Action::Reply(self.handle_ehlo(name, false)),
            Command::Xforward(attrs) => Action::Reply(self.handle_xforward(attrs)),
            Command::Mail { from, params } => Action::Reply(self.handle_mail_from(from, params)),
            Command::Rcpt { to, params } => Action::Reply(self.handle_rcpt_to(to, params)),
            Command::Data => self.handle_data(),
            Command::Rset => {
                self.reset();
                Action::Reply(Reply::new(250, "2.0.0", "Ok"))
            }
            Command::Noop => Action::Reply(Reply::new(250, "2.0.0", "Ok")),
            Command::Quit => Action::Quit(Reply::new(221, "2.0.0", "Bye")),
            Command::Vrfy => Action::Reply(Reply::new(252, "2.5.2", "Cannot VRFY user")),
            Command::Help => Action::Reply(Reply::new(
                214,
                "2.0.0",
                "Commands: EHLO HELO XFORWARD MAIL RCPT DATA RSET NOOP QUIT VRFY HELP",
            )),
            Command::Unknown(_) => {
                Action::Reply(Reply::new(500, "5.5.2", "Error: command not recognized"))
            }
        }
    }

    /// Ends the transaction whose content was just received. Returns the transaction to hand to the handler,
    /// or the reply to send when the content was over the size limit. Either way the session is ready for
    /// the next transaction.
    pub fn finish_data(&mut self, data: Vec<u8>, overflowed: bool) -> Result<Transaction, Reply> {
        let envelope = self.envelope.take();
        self.xforward.clear();
        self.junk = 0;
        let envelope = match envelope {
            Some(e) => e,
            // Cannot happen: DATA is only started with an envelope. Answer as an internal failure.
            None => return Err(Reply::new(451, "4.3.0", "Error: internal error")),
        };
        if overflowed {
            return Err(Reply::too_big());
        }
        Ok(Transaction {
            peer: self.peer,
            helo: self.helo.clone().unwrap_or_default(),
            envelope,
            data,
        })
    }

    fn reset(&mut self) {
        self.envelope = None;
        self.xforward.clear();
    }

    /// EHLO/HELO (RFC 5321 §4.1.1.1): resets any transaction; EHLO lists the extensions.
    fn handle_ehlo(&mut self, name: String, extended: bool) -> Reply {
        self.reset();
        self.helo = Some(name);
        let host = self.settings.hostname.clone();
        if !extended {
            return Reply::new(250, "", host);
        }
        // No DSN, CHUNKING or STARTTLS: mailwacht does not implement them (and loopback needs no TLS).
        let lines = vec![
            host,
            "PIPELINING".to_string(),
            format!("SIZE {}", self.settings.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            format!("XFORWARD {}", XFORWARD_ATTRIBUTES.join(" ")),
        ];
        Reply {
            code: 250,
            status: String::new(),
            lines,
        }
    }

    fn handle_xforward(&mut self, attrs: Vec<(String, String)>) -> Reply {
        if self.helo.is_none() {
            return Reply::new(503, "5.5.1", "Error: send HELO/EHLO first");
        }
        if self.in_transaction() {
            return Reply::new(503, "5.5.1", "Error: MAIL transaction in progress");
        }
        self.xforward.extend(attrs);
        Reply::new(250, "2.0.0", "Ok")
    }

    fn handle_mail_from(&mut self, from: Option<String>, params: Vec<String>) -> Reply {
        if self.helo.is_none() {
            return Reply::new(503, "5.5.1", "Error: send HELO/EHLO first");
        }
        if self.in_transaction() {
            return Reply::new(503, "5.5.1", "Error: nested MAIL command");
        }
        // SIZE declared up front (RFC 1870 §6): refuse before any content is sent.
        for param in &params {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            if key.eq_ignore_ascii_case("SIZE") {
                match value.parse::<u64>() {
                    Ok(size) if size > self.settings.max_message_size as u64 => {
                        return Reply::too_big();
                    }
                    Ok(_) => {}
                    Err(_) => return Reply::new(501, "5.5.4", "Syntax: bad SIZE parameter"),
                }
            }
        }
        self.envelope = Some(Envelope {
            mail_from: from,
            mail_params: params,
            rcpt_to: Vec::new(),
            xforward: std::mem::take(&mut self.xforward),
        });
        Reply::new(250, "2.1.0", "Ok")
    }

    fn handle_rcpt_to(&mut self, to: String, params: Vec<String>) -> Reply {
        let max = self.settings.max_recipients;
        let Some(envelope) = self.envelope.as_mut() else {
            return Reply::new(503, "5.5.1", "Error: need MAIL command");
        };
        if envelope.rcpt_to.len() >= max {
            return Reply::new(452, "4.5.3", "Error: too many recipients");
        }
        envelope.rcpt_to.push(Recipient {
            address: to,
            params,
        });
        Reply::new(250, "2.1.5", "Ok")
    }

    fn handle_data(&mut self) -> Action {
        match &self.envelope {
            None => Action::Reply(Reply::new(503, "5.5.1", "Error: need RCPT command")),
            // RFC 2920 §3.1: with PIPELINING, DATA after only refused RCPTs gets 554, not 354.
            Some(e) if e.rcpt_to.is_empty() => {
                Action::Reply(Reply::new(554, "5.5.1", "Error: no valid recipients"))
            }
            Some(_) => Action::StartData(Reply::new(354, "", "End data with <CR><LF>.<CR><LF>")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::codec::parse_command;
    use super::*;

    fn session(max_recipients: usize) -> Session {
        let settings = ServerSettings {
            max_recipients,
            max_message_size: 1000,
            ..ServerSettings::default()
        };
        Session::new(Arc::new(settings), "127.0.0.1:1".parse().unwrap())
    }

    fn run(s: &mut Session, line: &str) -> Action {
        s.command(parse_command(line.as_bytes()))
    }

    fn code(a: &Action) -> u16 {
        match a {
            Action::Reply(r) | Action::StartData(r) | Action::Quit(r) => r.code,
        }
    }

    /// Scripts of (command, expected reply code).
    #[test]
    fn command_sequences() {
        let scripts: Vec<(&str, Vec<(&str, u16)>)> = vec![
            (
                "mail before helo",
                vec![
                    ("MAIL FROM:<a@b>", 503),
                    ("HELO x", 250),
                    ("MAIL FROM:<a@b>", 250),
                ],
            ),
            (
                "rcpt before mail",
                vec![("EHLO x", 250), ("RCPT TO:<c@d>", 503)],
            ),
            (
                "data before rcpt",
                vec![
                    ("EHLO x", 250),
                    ("DATA", 503),
                    ("MAIL FROM:<>", 250),
                    ("DATA", 554),
                ],
            ),
            (
                "nested mail",
                vec![
                    ("EHLO x", 250),
                    ("MAIL FROM:<a@b>", 250),
                    ("MAIL FROM:<a@b>", 503),
                ],
            ),
            (
                "rset ends transaction",
                vec![
                    ("EHLO x", 250),
                    ("MAIL FROM:<a@b>", 250),
                    ("RSET", 250),
                    ("RCPT TO:<c@d>", 503),
                ],
            ),
            (
                "too many recipients",
                vec![
                    ("EHLO x", 250),
                    ("MAIL FROM:<a@b>", 250),
                    ("RCPT TO:<c@d>", 250),
                    ("RCPT TO:<e@d>", 250),
                    ("RCPT TO:<f@d>", 452),
                    ("DATA", 354),
                ],
            ),
            (
                "size too big",
                vec![
                    ("EHLO x", 250),
                    ("MAIL FROM:<a@b> SIZE=1001", 552),
                    ("MAIL FROM:<a@b> SIZE=1000", 250),
                ],
            ),
            (
                "bad size",
                vec![("EHLO x", 250), ("MAIL FROM:<a@b> SIZE=lots", 501)],
            ),
            (
                "xforward mid transaction",
                vec![
                    ("EHLO x", 250),
                    ("MAIL FROM:<a@b>", 250),
                    ("XFORWARD NAME=x", 503),
                ],
            ),
            (
                "misc",
                vec![
                    ("NOOP", 250),
                    ("VRFY a", 252),
                    ("HELP", 214),
                    ("ETRN x", 500),
                    ("MAIL FROM", 501),
                    ("QUIT", 221),
                ],
            ),
        ];
        for (name, script) in scripts {
            let mut s = session(2);
            for (line, want) in script {
                assert_eq!(code(&run(&mut s, line)), want, "{name}: {line}");
            }
        }
    }

    #[test]
    fn non_utf8_addresses_get_501_and_the_transaction_goes_on() {
        let mut s = session(5);
        let reply = |a: Action| match a {
            Action::Reply(r) => (r.code, r.status),
            other => panic!("{other:?}"),
        };
        run(&mut s, "EHLO x");
        assert_eq!(
            reply(s.command(parse_command(b"MAIL FROM:<\xff@b>"))),
            (501, "5.1.7".into())
        );
        run(&mut s, "MAIL FROM:<a@b>");
        assert_eq!(
            reply(s.command(parse_command(b"RCPT TO:<\xe9@d>"))),
            (501, "5.1.3".into())
        );
        assert_eq!(reply(run(&mut s, "RCPT TO:<c@d>")), (250, "2.1.5".into()));
        assert!(matches!(run(&mut s, "DATA"), Action::StartData(_)));
        let txn = s.finish_data(Vec::new(), false).expect("transaction");
        assert_eq!(txn.envelope.recipients().collect::<Vec<_>>(), vec!["c@d"]);
    }

    #[test]
    fn junk_commands_end_the_session_and_a_message_resets_the_count() {
        let quit_at = |s: &mut Session, line: &str| -> Option<u32> {
            (1..=JUNK_LIMIT + 1).find(|_| matches!(run(s, line), Action::Quit(_)))
        };
        for line in [
            "NOOP",
            "RSET",
            "VRFY x",
            "HELP",
            "ETRN x",
            "MAIL FROM",
            "EHLO x",
        ] {
            let mut s = session(2);
            assert_eq!(quit_at(&mut s, line), Some(JUNK_LIMIT + 1), "{line}");
        }
        let mut s = session(2);
        let Action::Quit(r) = ({
            for _ in 0..JUNK_LIMIT {
                run(&mut s, "NOOP");
            }
            run(&mut s, "NOOP")
        }) else {
            panic!("not closed")
        };
        assert_eq!((r.code, r.status.as_str()), (421, "4.7.0"));

        // Postfix's way: EHLO, then per message XFORWARD, MAIL, RCPT, DATA, RSET — never near the limit;
        // refused (452) surplus recipients do not count either.
        let mut s = session(1);
        for _ in 0..JUNK_LIMIT {
            for line in [
                "EHLO x",
                "XFORWARD NAME=a",
                "MAIL FROM:<a@b>",
                "RCPT TO:<c@d>",
                "RCPT TO:<e@d>",
                "DATA",
            ] {
                assert!(!matches!(run(&mut s, line), Action::Quit(_)), "{line}");
            }
            s.finish_data(b"x\r\n".to_vec(), false).expect("message");
            assert!(!matches!(run(&mut s, "RSET"), Action::Quit(_)));
        }
        let mut s = session(2);
        for _ in 0..JUNK_LIMIT {
            assert!(matches!(s.line_too_long(), Action::Reply(_)));
        }
        assert!(matches!(s.line_too_long(), Action::Quit(_)));
    }

    #[test]
    fn ehlo_advertises_extensions() {
        let mut s = session(2);
        let Action::Reply(r) = run(&mut s, "EHLO x") else {
            panic!("not a reply")
        };
        let wire = r.to_wire();
        for kw in [
            "PIPELINING",
            "SIZE 1000",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT",
        ] {
            assert!(
                wire.contains(&format!("250-{kw}\r\n")) || wire.contains(&format!("250 {kw}\r\n")),
                "{kw} missing in {wire}"
            );
        }
        for kw in ["DSN", "CHUNKING", "STARTTLS"] {
            assert!(!wire.contains(kw), "{kw} must not be advertised");
        }
        let Action::Reply(r) = run(&mut s, "HELO x") else {
            panic!("not a reply")
        };
        assert_eq!(r.lines.len(), 1);
    }

    #[test]
    fn transaction_carries_envelope_and_xforward_is_per_transaction() {
        let mut s = session(10);
        for line in [
            "EHLO mx.example",
            "XFORWARD NAME=client.example ADDR=192.0.2.7",
            "XFORWARD HELO=[UNAVAILABLE]",
            "MAIL FROM:<a@b> BODY=8BITMIME",
            "RCPT TO:<c@d> NOTIFY=NEVER",
            "RCPT TO:<e@f>",
        ] {
            assert!(
                matches!(run(&mut s, line), Action::Reply(r) if r.code == 250),
                "{line}"
            );
        }
        assert!(matches!(run(&mut s, "DATA"), Action::StartData(_)));
        let txn = s
            .finish_data(b"body\r\n".to_vec(), false)
            .expect("transaction");
        assert_eq!(txn.helo, "mx.example");
        assert_eq!(txn.envelope.mail_from.as_deref(), Some("a@b"));
        assert_eq!(txn.envelope.mail_params, vec!["BODY=8BITMIME".to_string()]);
        assert_eq!(
            txn.envelope.recipients().collect::<Vec<_>>(),
            vec!["c@d", "e@f"]
        );
        assert_eq!(
            txn.envelope.rcpt_to[0].params,
            vec!["NOTIFY=NEVER".to_string()]
        );
        assert_eq!(
            txn.envelope.xforward,
            vec![
                ("NAME".to_string(), "client.example".to_string()),
                ("ADDR".to_string(), "192.0.2.7".to_string()),
                ("HELO".to_string(), "[UNAVAILABLE]".to_string()),
            ]
        );
        assert_eq!(txn.data, b"body\r\n");
        assert!(!s.in_transaction());

        // The next transaction starts without the old attributes; RSET also clears them.
        run(&mut s, "XFORWARD NAME=other.example");
        run(&mut s, "RSET");
        run(&mut s, "MAIL FROM:<>");
        run(&mut s, "RCPT TO:<c@d>");
        run(&mut s, "DATA");
        let txn = s.finish_data(Vec::new(), false).expect("transaction");
        assert!(txn.envelope.xforward.is_empty());
        assert_eq!(txn.envelope.mail_from, None);

        run(&mut s, "MAIL FROM:<a@b>");
        run(&mut s, "RCPT TO:<c@d>");
        run(&mut s, "DATA");
        assert_eq!(
            s.finish_data(vec![b'x'; 1000], true).map(|_| ()),
            Err(Reply::new(
                552,
                "5.3.4",
                "Error: message size exceeds fixed limit"
            ))
        );
        assert!(!s.in_transaction());
    }
}
