//! SMTP: the server Postfix hands outgoing mail to (after-queue content filter), and the client that relays
//! to the next hop (Postfix's re-injection smtpd).
//!
//! - `codec`: bytes → command lines and DATA content (dot-unstuffing, CRLF.CRLF only). No I/O.
//! - `session`: the per-connection state machine (EHLO, MAIL, RCPT, DATA, RSET, …). No I/O.
//! - `server`: the accept loop, connection cap, timeouts, graceful shutdown.
//! - `client`: the next-hop client and its connection pool (PIPELINING, XFORWARD, byte-exact DATA).

pub mod client;
pub mod codec;
pub mod server;
pub mod session;

pub use client::{NextHop, Outbound, RelayError};
pub use server::serve;

use std::net::SocketAddr;
use std::time::Duration;

use crate::envelope::Envelope;
use crate::scan::BoxFuture;

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

/// One received message: the envelope and the content after dot-unstuffing.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// The peer's address (Postfix itself).
    pub peer: SocketAddr,
    /// The HELO/EHLO name the peer gave.
    pub helo: String,
    pub envelope: Envelope,
    /// The message content exactly as received (dot-unstuffed, CRLF line ends as sent).
    pub data: Vec<u8>,
}

/// What the server calls once the final dot has been received. The reply it returns is sent to the client
/// as the answer to DATA; the handler must answer `250` only once the message is safe.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, txn: Transaction) -> BoxFuture<'static, Reply>;
}

/// Server settings (from `[smtp]` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Name used in the greeting and EHLO reply. Postfix aborts when greeted with its own hostname, so the
    /// default is `localhost`.
    pub hostname: String,
    /// Largest message accepted (SIZE); larger → `552 5.3.4`.
    pub max_message_size: usize,
    /// Recipients per transaction; more → `452 4.5.3`.
    pub max_recipients: usize,
    /// Connections served at once; more wait for a free slot.
    pub max_connections: usize,
    /// Idle time allowed while waiting for a command or for the next chunk of DATA.
    pub read_timeout: Duration,
    /// Longest a command line may take from its first byte to its line end (a client trickling bytes).
    pub command_timeout: Duration,
    /// Longest a whole DATA phase may take (slow clients).
    pub data_timeout: Duration,
    /// How long shutdown waits for in-flight transactions.
    pub shutdown_grace: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            hostname: "localhost".into(),
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 1000,
            max_connections: 100,
            read_timeout: Duration::from_secs(300),
            command_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(60),
        }
    }
}

/// Next-hop settings (from `[smtp]`).
#[derive(Debug, Clone, PartialEq)]
pub struct NextHopSettings {
    /// `host:port` of the re-injection smtpd.
    pub address: String,
    /// Name sent in EHLO.
    pub helo_name: String,
    /// Idle connections kept open. Keep it at or below the next hop's `maxproc` (10 in a usual master.cf).
    pub pool_size: usize,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Timeout for each reply (the final dot's reply may take longer: `data_timeout`).
    pub command_timeout: Duration,
    /// Timeout for the reply to the final dot.
    pub data_timeout: Duration,
    /// Idle pooled connections older than this are not reused (Postfix closes them after 300 s).
    pub max_idle: Duration,
}

impl Default for NextHopSettings {
    fn default() -> Self {
        NextHopSettings {
            address: "127.0.0.1:10026".into(),
            helo_name: "localhost".into(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(600),
            max_idle: Duration::from_secs(240),
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
