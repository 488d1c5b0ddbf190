//! Hands a finished DSN to the next hop (Postfix's re-injection smtpd), which delivers it to the sender,
//! through the same client as relayed mail ([`Deliver`]: its pool, XFORWARD rules, retry of a stale pooled
//! connection and timeouts). There is one SMTP client in mailwacht.
//!
//! The envelope sender is the null sender `<>` (RFC 5321 §4.5.5, RFC 3464 §2): nobody answers a bounce, so
//! bounces cannot loop. Success means the next hop answered `250` to the final dot; anything else is an
//! error, so that the caller never reports a message as handled when its bounce was lost (house style 7).
//! [`dsn_outcome`] is that mapping, pure, so it is tested without a socket.
//! This module only sends: it never builds or changes the DSN, and never logs addresses or content.

use crate::envelope::{Envelope, Recipient};
use crate::smtp::{Deliver, Delivery, RelayError};

use super::{check_address, refusal_code, BounceError};

/// `next_hop` as the notice sender needs it: `host:port` (the host may be an address literal in brackets).
pub fn check_next_hop(next_hop: &str) -> Result<(&str, u16), BounceError> {
    let invalid = || BounceError::InvalidNextHop {
        address: next_hop.to_string(),
    };
    let (host, port) = next_hop.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    Ok((host, port))
}

/// Send `dsn` to `to` with `MAIL FROM:<>` through `next_hop`. `Ok` only when the next hop answered `250` to
/// the content; [`BounceError::is_permanent`] tells a refusal that will not change from a failure worth
/// retrying.
pub async fn send_dsn(next_hop: &dyn Deliver, to: &str, dsn: &[u8]) -> Result<(), BounceError> {
    let envelope = dsn_envelope(to, dsn)?;
    let sent = next_hop.send(&envelope, dsn).await;
    let outcome = dsn_outcome(sent);
    if outcome.is_ok() {
        tracing::debug!("bounce accepted by the next hop");
    }
    outcome
}

/// The envelope of a DSN: the null sender and the one recipient, checked as a notice address
/// ([`check_address`]: never looser than what the next hop takes). `SMTPUTF8` for an address beyond ASCII
/// and `BODY=8BITMIME` for content beyond ASCII (RFC 6531, RFC 6152); the client passes each on only when
/// the next hop offers it.
pub fn dsn_envelope(to: &str, dsn: &[u8]) -> Result<Envelope, BounceError> {
    let to = to.trim();
    check_address(to).map_err(|_| BounceError::InvalidAddress {
        which: "bounce recipient".into(),
    })?;
    let mut mail_params = Vec::new();
    if !to.is_ascii() {
        mail_params.push("SMTPUTF8".to_string());
    }
    if !dsn.is_ascii() {
        mail_params.push("BODY=8BITMIME".to_string());
    }
    Ok(Envelope {
        mail_from: None,
        mail_params,
        rcpt_to: vec![Recipient {
            address: to.to_string(),
            params: Vec::new(),
        }],
        xforward: Vec::new(),
    })
}

/// What the next hop's answers to a DSN mean: `Ok` only for `250` to the content. A `5xx` at any step is
/// permanent ([`BounceError::Refused`]: sending again cannot help); a `4xx`, a lost connection or a timeout
/// is temporary ([`BounceError::Send`]); any other positive answer than `250` is not trusted
/// ([`BounceError::NotAccepted`], temporary). Only the code and enhanced status are kept, never the next
/// hop's free text (it may quote the address).
pub fn dsn_outcome(sent: Result<Delivery, RelayError>) -> Result<(), BounceError> {
    let delivery = sent.map_err(|e| BounceError::Send {
        reason: e.to_string(),
    })?;
    let refusal = std::iter::once(&delivery.mail_reply)
        .chain(&delivery.rcpt_replies)
        .find(|r| !r.is_positive());
    let reply = match (refusal, &delivery.data_reply) {
        (Some(reply), _) | (None, Some(reply)) => reply,
        (None, None) => {
            return Err(BounceError::Send {
                reason: "the next hop was sent no content".into(),
            })
        }
    };
    match reply.code {
        250 => Ok(()),
        _ if reply.is_permanent() => Err(BounceError::Refused {
            reply: refusal_code(reply),
        }),
        _ if reply.is_positive() => Err(BounceError::NotAccepted { code: reply.code }),
        _ => Err(BounceError::Send {
            reason: format!("the next hop answered {}", refusal_code(reply)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::{NextHop, NextHopSettings, Reply};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// What the test server saw.
    #[derive(Debug, Default, Clone)]
    struct Seen {
        mail_from: Vec<String>,
        rcpt_to: Vec<String>,
        data: Vec<u8>,
    }

    /// A tiny SMTP server on 127.0.0.1:0 for one connection, answering `data_reply` to the final dot.
    async fn server(data_reply: &'static str) -> (String, Arc<Mutex<Seen>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let record = seen.clone();
        tokio::spawn(async move {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (read, mut write) = stream.into_split();
            let mut read = BufReader::new(read);
            write
                .write_all(b"220 localhost test ESMTP\r\n")
                .await
                .unwrap();
            let mut in_data = false;
            let mut line = Vec::new();
            loop {
                line.clear();
                if read.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if in_data {
                    if line == b".\r\n" {
                        in_data = false;
                        write.write_all(data_reply.as_bytes()).await.unwrap();
                    } else {
                        record.lock().unwrap().data.extend_from_slice(&line);
                    }
                    continue;
                }
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                let upper = text.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    b"250-localhost\r\n250 8BITMIME\r\n"
                } else if upper.starts_with("MAIL FROM:") {
                    record
                        .lock()
                        .unwrap()
                        .mail_from
                        .push(text[10..].to_string());
                    b"250 2.1.0 Ok\r\n"
                } else if upper.starts_with("RCPT TO:") {
                    record.lock().unwrap().rcpt_to.push(text[8..].to_string());
                    b"250 2.1.5 Ok\r\n"
                } else if upper == "DATA" {
                    in_data = true;
                    b"354 End data with <CR><LF>.<CR><LF>\r\n"
                } else if upper == "QUIT" {
                    let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                    return;
                } else {
                    b"250 2.0.0 Ok\r\n"
                };
                if write.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
        (addr, seen)
    }

    const DSN: &[u8] =
        b"From: MAILER-DAEMON@localhost\r\nSubject: x\r\n\r\n.leading dot\r\nline\r\n";

    /// The project's next-hop client, as the daemon builds it, for the test server at `addr`.
    fn hop(addr: &str, timeout: Duration) -> NextHop {
        NextHop::new(NextHopSettings {
            address: addr.to_string(),
            helo_name: "localhost".into(),
            connect_timeout: timeout,
            command_timeout: timeout,
            data_timeout: timeout,
            ..NextHopSettings::default()
        })
    }

    #[tokio::test]
    async fn sends_with_null_sender_and_exact_bytes() {
        let (addr, seen) = server("250 2.0.0 Ok: queued\r\n").await;
        let hop = hop(&addr, Duration::from_secs(5));
        send_dsn(&hop, "anna@school.example", DSN).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.mail_from, ["<>"], "null sender");
        assert_eq!(seen.rcpt_to, ["<anna@school.example>"]);
        // Dot-stuffed on the wire, and no extra empty line at the end.
        assert_eq!(
            seen.data,
            b"From: MAILER-DAEMON@localhost\r\nSubject: x\r\n\r\n..leading dot\r\nline\r\n"
        );
    }

    /// Content beyond ASCII is announced with `BODY=8BITMIME` when the next hop offers it, as lettre did.
    #[tokio::test]
    async fn eight_bit_content_is_announced() {
        let (addr, seen) = server("250 2.0.0 Ok: queued\r\n").await;
        let hop = hop(&addr, Duration::from_secs(5));
        let dsn = "Subject: x\r\n\r\nzoë\r\n".as_bytes();
        send_dsn(&hop, "anna@school.example", dsn).await.unwrap();
        assert_eq!(seen.lock().unwrap().mail_from, ["<> BODY=8BITMIME"]);
    }

    #[tokio::test]
    async fn temporary_failure_on_data_is_an_error() {
        let (addr, seen) = server("451 4.3.0 Try again later\r\n").await;
        let hop = hop(&addr, Duration::from_secs(5));
        let err = send_dsn(&hop, "anna@school.example", DSN)
            .await
            .unwrap_err();
        assert!(matches!(err, BounceError::Send { .. }), "{err:?}");
        assert!(!err.is_permanent());
        assert_eq!(seen.lock().unwrap().mail_from, ["<>"]);
    }

    #[tokio::test]
    async fn permanent_refusal_is_told_apart() {
        let (addr, _) = server("554 5.7.1 No thanks\r\n").await;
        let hop = hop(&addr, Duration::from_secs(5));
        let err = send_dsn(&hop, "anna@school.example", DSN)
            .await
            .unwrap_err();
        assert!(matches!(err, BounceError::Refused { .. }), "{err:?}");
        assert!(err.is_permanent());
        assert!(!err.to_string().contains("No thanks"), "{err}");
    }

    #[tokio::test]
    async fn positive_but_not_250_is_an_error() {
        let (addr, _) = server("251 2.1.5 Will forward\r\n").await;
        let hop = hop(&addr, Duration::from_secs(5));
        let err = send_dsn(&hop, "anna@school.example", DSN)
            .await
            .unwrap_err();
        assert!(
            matches!(err, BounceError::NotAccepted { code: 251 }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn nothing_listening_is_an_error() {
        // Bind, learn the port, close: nothing listens there any more.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let hop = hop(&format!("127.0.0.1:{port}"), Duration::from_secs(2));
        let err = send_dsn(&hop, "anna@school.example", DSN)
            .await
            .unwrap_err();
        assert!(matches!(err, BounceError::Send { .. }), "{err:?}");
        assert!(!err.is_permanent());
    }

    #[test]
    fn next_hop_addresses() {
        let cases = [
            ("127.0.0.1:10026", true),
            ("[::1]:10026", true),
            ("localhost:25", true),
            ("localhost", false),
            ("localhost:port", false),
            (":25", false),
            ("a b:25", false),
        ];
        for (addr, ok) in cases {
            assert_eq!(check_next_hop(addr).is_ok(), ok, "{addr}");
        }
    }

    #[tokio::test]
    async fn invalid_recipient_is_refused_before_connecting() {
        // Nothing listens on port 9: an attempt to connect would be a `Send` error.
        let hop = hop("127.0.0.1:9", Duration::from_secs(1));
        for to in [
            "not an address",
            "a@b>\r\nRCPT TO:<c@d",
            "<anna@school.example>",
            "",
        ] {
            let err = send_dsn(&hop, to, DSN).await.unwrap_err();
            assert!(
                matches!(err, BounceError::InvalidAddress { .. }),
                "{to:?}: {err:?}"
            );
            assert!(err.is_permanent());
        }
    }

    #[test]
    fn envelope_is_null_sender_one_recipient_and_the_extensions_it_needs() {
        let env = dsn_envelope(" anna@school.example ", DSN).unwrap();
        assert_eq!(env.mail_from, None);
        assert!(env.mail_params.is_empty());
        assert_eq!(
            env.recipients().collect::<Vec<_>>(),
            ["anna@school.example"]
        );
        assert!(
            env.xforward.is_empty(),
            "a DSN forwards no client attributes"
        );
        let env = dsn_envelope("zoë@school.example", "é".as_bytes()).unwrap();
        assert_eq!(env.mail_params, ["SMTPUTF8", "BODY=8BITMIME"]);
    }

    /// The next hop's answers and what they mean for the DSN: only `250` to the content is success, a
    /// `5xx` anywhere is permanent, the rest may work on a retry.
    #[test]
    fn reply_mapping() {
        let ok = || Reply::new(250, "2.0.0", "Ok");
        let delivery = |mail: Reply, rcpt: Reply, data: Option<Reply>| {
            Ok(Delivery {
                mail_reply: mail,
                rcpt_replies: vec![rcpt],
                data_reply: data,
            })
        };
        let cases: Vec<(Result<Delivery, RelayError>, &str)> = vec![
            (delivery(ok(), ok(), Some(ok())), "ok"),
            (
                delivery(ok(), ok(), Some(Reply::new(250, "", "queued"))),
                "ok",
            ),
            (
                delivery(ok(), ok(), Some(Reply::new(451, "4.3.0", "later"))),
                "temporary",
            ),
            (
                delivery(ok(), ok(), Some(Reply::new(554, "5.7.1", "no"))),
                "permanent",
            ),
            (
                delivery(ok(), ok(), Some(Reply::new(251, "2.1.5", "forward"))),
                "not accepted",
            ),
            (
                delivery(ok(), Reply::new(550, "5.1.1", "unknown"), None),
                "permanent",
            ),
            (
                delivery(ok(), Reply::new(450, "4.2.0", "greylisted"), None),
                "temporary",
            ),
            (
                delivery(
                    Reply::new(553, "5.7.1", "no null sender"),
                    Reply::new(553, "5.7.1", "no null sender"),
                    None,
                ),
                "permanent",
            ),
            (
                delivery(
                    Reply::new(421, "4.3.2", "closing"),
                    Reply::new(421, "4.3.2", "closing"),
                    None,
                ),
                "temporary",
            ),
            (delivery(ok(), ok(), None), "temporary"),
            (Err(RelayError::Timeout { stage: "DATA" }), "temporary"),
            (Err(RelayError::Closed { stage: "MAIL" }), "temporary"),
            (Err(RelayError::NoAcceptedRecipients), "temporary"),
        ];
        for (sent, want) in cases {
            let shown = format!("{sent:?}");
            let got = match dsn_outcome(sent) {
                Ok(()) => "ok",
                Err(BounceError::NotAccepted { .. }) => "not accepted",
                Err(e) if e.is_permanent() => "permanent",
                Err(_) => "temporary",
            };
            assert_eq!(got, want, "{shown}");
        }
    }
}
