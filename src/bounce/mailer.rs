//! Hands a finished DSN to the next hop (Postfix's re-injection smtpd), which delivers it to the sender.
//!
//! The envelope sender is the null sender `<>` (RFC 5321 §4.5.5, RFC 3464 §2): nobody answers a bounce, so
//! bounces cannot loop. Success means the next hop answered `250` to the final dot; anything else is an
//! error, so that the caller never reports a message as handled when its bounce was lost (house style 7).
//! This module only sends: it never builds or changes the DSN, and never logs addresses or content.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::BounceError;

/// Sends DSNs to the next hop over plain SMTP on the loopback (no TLS, no authentication: it is Postfix's
/// own re-injection port).
pub struct Mailer {
    /// The transport, built once; lettre opens one connection per message (no pool feature).
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// `host:port`, for error messages.
    address: String,
    /// Limit for one whole delivery; lettre's own timeout applies to each command only.
    overall: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("address", &self.address)
            .field("overall", &self.overall)
            .finish()
    }
}

impl Mailer {
    /// A mailer for `next_hop` (`host:port`, IPv6 as `[::1]:10026`), greeting with `helo_name`; `timeout`
    /// bounds each SMTP command (connecting included).
    pub fn new(next_hop: &str, helo_name: &str, timeout: Duration) -> Result<Mailer, BounceError> {
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
        let helo = super::dsn::check_host_name(helo_name)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .hello_name(ClientId::Domain(helo.to_string()))
            .timeout(Some(timeout))
            .build();
        // Connect, EHLO, MAIL, RCPT, DATA, the final dot: six waits at most.
        let overall = timeout.saturating_mul(6);
        Ok(Mailer {
            transport,
            address: next_hop.to_string(),
            overall,
        })
    }

    /// Send `dsn` to `to` with `MAIL FROM:<>`. `Ok` only when the next hop answered `250` to the data;
    /// [`BounceError::is_permanent`] tells a refusal that will not change from a failure worth retrying.
    pub async fn send(&self, to: &str, dsn: &[u8]) -> Result<(), BounceError> {
        let rcpt: Address = to.trim().parse().map_err(|_| BounceError::InvalidAddress {
            which: "bounce recipient".into(),
        })?;
        let envelope = Envelope::new(None, vec![rcpt]).map_err(|e| BounceError::Send {
            address: self.address.clone(),
            reason: e.to_string(),
        })?;
        // lettre ends DATA with CRLF.CRLF itself; drop our final CRLF so the bytes on the wire are exactly the
        // DSN (otherwise it gains an empty line at the end).
        let body = dsn.strip_suffix(b"\r\n").unwrap_or(dsn);
        let sent =
            tokio::time::timeout(self.overall, self.transport.send_raw(&envelope, body)).await;
        let response = match sent {
            Err(_) => {
                return Err(BounceError::Timeout {
                    address: self.address.clone(),
                    seconds: self.overall.as_secs(),
                })
            }
            // A 5xx, or an address the next hop cannot take (non-ASCII without SMTPUTF8): trying again
            // later cannot help.
            Ok(Err(e)) if e.is_permanent() || e.is_client() => {
                return Err(BounceError::Refused {
                    address: self.address.clone(),
                    reason: e.to_string(),
                })
            }
            Ok(Err(e)) => {
                return Err(BounceError::Send {
                    address: self.address.clone(),
                    reason: e.to_string(),
                })
            }
            Ok(Ok(response)) => response,
        };
        let code = u16::from(response.code());
        if code == 250 {
            tracing::debug!(next_hop = %self.address, "bounce accepted by the next hop");
            Ok(())
        } else {
            Err(BounceError::NotAccepted {
                address: self.address.clone(),
                code,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
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

    #[tokio::test]
    async fn sends_with_null_sender_and_exact_bytes() {
        let (addr, seen) = server("250 2.0.0 Ok: queued\r\n").await;
        let mailer = Mailer::new(&addr, "localhost", Duration::from_secs(5)).unwrap();
        mailer.send("anna@school.example", DSN).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.mail_from, ["<>"], "null sender");
        assert_eq!(seen.rcpt_to, ["<anna@school.example>"]);
        // Dot-stuffed on the wire, and no extra empty line at the end.
        assert_eq!(
            seen.data,
            b"From: MAILER-DAEMON@localhost\r\nSubject: x\r\n\r\n..leading dot\r\nline\r\n"
        );
    }

    #[tokio::test]
    async fn temporary_failure_on_data_is_an_error() {
        let (addr, seen) = server("451 4.3.0 Try again later\r\n").await;
        let mailer = Mailer::new(&addr, "localhost", Duration::from_secs(5)).unwrap();
        let err = mailer.send("anna@school.example", DSN).await.unwrap_err();
        assert!(matches!(err, BounceError::Send { .. }), "{err:?}");
        assert!(!err.is_permanent());
        assert_eq!(seen.lock().unwrap().mail_from, ["<>"]);
    }

    #[tokio::test]
    async fn permanent_refusal_is_told_apart() {
        let (addr, _) = server("554 5.7.1 No thanks\r\n").await;
        let mailer = Mailer::new(&addr, "localhost", Duration::from_secs(5)).unwrap();
        let err = mailer.send("anna@school.example", DSN).await.unwrap_err();
        assert!(matches!(err, BounceError::Refused { .. }), "{err:?}");
        assert!(err.is_permanent());
    }

    #[tokio::test]
    async fn positive_but_not_250_is_an_error() {
        let (addr, _) = server("251 2.1.5 Will forward\r\n").await;
        let mailer = Mailer::new(&addr, "localhost", Duration::from_secs(5)).unwrap();
        let err = mailer.send("anna@school.example", DSN).await.unwrap_err();
        assert!(
            matches!(err, BounceError::NotAccepted { code: 251, .. }),
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
        let mailer = Mailer::new(
            &format!("127.0.0.1:{port}"),
            "localhost",
            Duration::from_secs(2),
        )
        .unwrap();
        let err = mailer.send("anna@school.example", DSN).await.unwrap_err();
        assert!(
            matches!(err, BounceError::Send { .. } | BounceError::Timeout { .. }),
            "{err:?}"
        );
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
            assert_eq!(
                Mailer::new(addr, "localhost", Duration::from_secs(1)).is_ok(),
                ok,
                "{addr}"
            );
        }
        assert!(matches!(
            Mailer::new("127.0.0.1:25", "bad name\r\n", Duration::from_secs(1)),
            Err(BounceError::InvalidHostName { .. })
        ));
    }

    #[tokio::test]
    async fn invalid_recipient_is_refused_before_connecting() {
        let mailer = Mailer::new("127.0.0.1:9", "localhost", Duration::from_secs(1)).unwrap();
        assert!(matches!(
            mailer.send("not an address", DSN).await,
            Err(BounceError::InvalidAddress { .. })
        ));
    }
}
