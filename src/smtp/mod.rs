//! SMTP: the server Postfix hands outgoing mail to (after-queue content filter), and the client that relays
//! to the next hop (Postfix's re-injection smtpd).
//!
//! - `codec`: bytes → command lines and DATA content (dot-unstuffing, CRLF.CRLF only). No I/O.
//! - `session`: the per-connection state machine (EHLO, MAIL, RCPT, DATA, RSET, …). No I/O.
//! - `server`: the accept loop, connection cap, timeouts, graceful shutdown.
//! - `reply`: an SMTP reply and its wire form; a leaf every layer may use (the milter and the filter
//!   answer with it too).
//! - `client`: the next-hop client and its connection pool (PIPELINING, XFORWARD, byte-exact DATA), behind
//!   the one [`Deliver`] trait relayed mail and DSNs both go out through.

pub mod client;
pub mod codec;
pub mod reply;
pub mod server;
pub mod session;

pub use client::{Deliver, Delivery, NextHop, Outbound, RelayError};
pub use reply::Reply;
pub use server::serve;

use std::net::SocketAddr;
use std::time::Duration;

use crate::envelope::Envelope;
use crate::util::BoxFuture;

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

    /// Called when a message was refused for its size (`552 5.3.4`, nothing evaluated), so the handler can
    /// keep its account of it (log line, metrics, traffic record) as for any other message. `limit` is the
    /// size it went over. A handler that keeps no account (a test's) ignores it.
    fn refused_too_big(&self, envelope: &Envelope, limit: usize) {
        let _ = (envelope, limit);
    }
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
