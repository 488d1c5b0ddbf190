//! The next-hop client: relays a screened message to Postfix's re-injection smtpd (127.0.0.1:10026).
//!
//! A transaction is split in two steps so the pipeline can see per-recipient answers before committing the
//! content: [`NextHop::begin`] sends XFORWARD, MAIL and every RCPT (pipelined when the next hop offers
//! PIPELINING, RFC 2920, with DATA last in the same batch) and [`Outbound::send_data`] sends the content byte
//! for byte (only dot-stuffing is added, RFC 5321 §4.5.2). Connections are kept in a small pool of idle
//! sessions.
//!
//! Pool rules (learnt from Postfix's re-injection smtpd): at most `pool_size` idle connections (keep it at or below the
//! next hop's `maxproc`); idle connections older than `max_idle`, or with unread input (Postfix's idle
//! `421`), are closed instead of reused; a pooled connection that fails at its first reply is discarded and
//! the envelope is retried once on a fresh connection. A retry only ever happens before the content is sent,
//! so a message is never sent twice.
//!
//! [`Deliver`] is the one way a finished message leaves mailwacht: relayed mail and DSNs alike go through
//! it (issue 13, one SMTP client), and tests put a fake next hop behind it.
//!
//! Must not: change content bytes, log addresses or content, or retry after content was sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter,
};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::codec::{parse_reply_line, split_status, xtext_encode};
use super::{NextHopSettings, Reply};
use crate::envelope::Envelope;
use crate::util::BoxFuture;

/// Longest XFORWARD command line, CRLF included (Postfix XFORWARD_README: the server limit is 512).
const XFORWARD_LINE_MAX: usize = 512;
/// Longest reply line accepted from the next hop.
const REPLY_LINE_MAX: u64 = 4096;
/// Most lines in one reply (an EHLO reply has a dozen).
const REPLY_LINES_MAX: usize = 100;
/// Write buffer for DATA content.
const WRITE_BUFFER: usize = 64 * 1024;

/// Why relaying failed. Every variant means "not delivered": the pipeline answers Postfix with a 4xx.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot connect to next hop {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("next hop timed out during {stage}")]
    Timeout { stage: &'static str },
    #[error("i/o error with next hop during {stage}: {source}")]
    Io {
        stage: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("next hop protocol error during {stage}: {reply_text}")]
    Protocol {
        stage: &'static str,
        reply_text: String,
    },
    #[error("next hop closed the connection during {stage}")]
    Closed { stage: &'static str },
    #[error("next hop accepted no recipient")]
    NoAcceptedRecipients,
}

/// The next hop's answers to one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The reply to MAIL FROM.
    pub mail_reply: Reply,
    /// `rcpt_replies[i]` answers `envelope.rcpt_to[i]`; every one is the MAIL reply when MAIL was refused.
    pub rcpt_replies: Vec<Reply>,
    /// The answer to the content (to the final dot, or to DATA when DATA itself was refused); `None` when
    /// the content was not sent because MAIL or a recipient was refused.
    pub data_reply: Option<Reply>,
}

impl Delivery {
    /// True when the next hop refused (`4xx`/`5xx`) MAIL or any recipient, so the content was not sent.
    pub fn envelope_refused(&self) -> bool {
        !self.mail_reply.is_positive() || self.rcpt_replies.iter().any(refused)
    }

    /// The first refusal of the transaction (MAIL, a recipient, or the content), if any: the one reply a
    /// caller that needs the whole transaction to succeed (a release, an alert) reports.
    pub fn refusal(&self) -> Option<&Reply> {
        if !self.mail_reply.is_positive() {
            return Some(&self.mail_reply);
        }
        self.rcpt_replies
            .iter()
            .chain(&self.data_reply)
            .find(|r| refused(r))
    }
}

/// A recipient the next hop refused, temporarily or for good.
fn refused(reply: &Reply) -> bool {
    reply.is_transient() || reply.is_permanent()
}

/// Where a finished message goes: one SMTP transaction with the next hop. The content is sent only when
/// MAIL and every recipient were accepted; otherwise the transaction is abandoned before the content (so a
/// message is never half delivered) and the replies say who refused what. `Err` means nothing was
/// delivered and the next hop's answer is unknown or did not come (connection, timeout, protocol).
///
/// [`NextHop`] is the real one (pool, XFORWARD, retry of a stale pooled connection, timeouts); relaying
/// and DSNs both use it through this trait, and tests use a fake.
pub trait Deliver: Send + Sync {
    fn send<'a>(
        &'a self,
        envelope: &'a Envelope,
        data: &'a [u8],
    ) -> BoxFuture<'a, Result<Delivery, RelayError>>;
}

impl Deliver for NextHop {
    fn send<'a>(
        &'a self,
        envelope: &'a Envelope,
        data: &'a [u8],
    ) -> BoxFuture<'a, Result<Delivery, RelayError>> {
        Box::pin(async move {
            let mut out = self.begin(envelope).await?;
            // Moved out, not copied: the connection needs none of them any more.
            let mail_reply = std::mem::replace(
                &mut out.mail_reply,
                Reply {
                    code: 0,
                    status: String::new(),
                    lines: Vec::new(),
                },
            );
            let rcpt_replies = std::mem::take(&mut out.rcpt_replies);
            let mut delivery = Delivery {
                mail_reply,
                rcpt_replies,
                data_reply: None,
            };
            if delivery.envelope_refused() {
                out.abort().await;
                return Ok(delivery);
            }
            if delivery.rcpt_replies.is_empty() {
                out.abort().await;
                return Err(RelayError::NoAcceptedRecipients);
            }
            delivery.data_reply = Some(out.transmit(data).await?);
            Ok(delivery)
        })
    }
}

/// What the next hop offered in its EHLO reply.
#[derive(Debug, Clone, Default)]
struct Capabilities {
    pipelining: bool,
    size: bool,
    eightbitmime: bool,
    smtputf8: bool,
    dsn: bool,
    /// XFORWARD attribute names offered (upper case); empty when XFORWARD is not offered.
    xforward: Vec<String>,
}

impl Capabilities {
    fn from_ehlo(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        // The first line is the server's name; keywords follow.
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let keyword = words.next().unwrap_or_default().to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => caps.pipelining = true,
                "SIZE" => caps.size = true,
                "8BITMIME" => caps.eightbitmime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "DSN" => caps.dsn = true,
                "XFORWARD" => caps.xforward = words.map(str::to_ascii_uppercase).collect(),
                _ => {}
            }
        }
        caps
    }
}

/// One open SMTP session with the next hop, between transactions.
#[derive(Debug)]
struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    caps: Capabilities,
    /// When it was last returned to the pool (or opened); older than `max_idle` → not reused.
    idle_since: Instant,
}

impl Conn {
    /// True when the peer has neither closed nor sent anything while idle (Postfix's idle timeout sends
    /// `421` and closes; that would otherwise only be noticed at the next command).
    fn looks_alive(&self) -> bool {
        if !self.reader.buffer().is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.reader.get_ref().try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    async fn write(
        &mut self,
        bytes: &[u8],
        timeout: Duration,
        stage: &'static str,
    ) -> Result<(), RelayError> {
        let io = async {
            self.writer.write_all(bytes).await?;
            self.writer.flush().await
        };
        match tokio::time::timeout(timeout, io).await {
            Err(_) => Err(RelayError::Timeout { stage }),
            Ok(Err(e)) => Err(io_error(e, stage)),
            Ok(Ok(())) => Ok(()),
        }
    }

    async fn read_reply(
        &mut self,
        timeout: Duration,
        stage: &'static str,
    ) -> Result<Reply, RelayError> {
        match tokio::time::timeout(timeout, read_reply(&mut self.reader, stage)).await {
            Err(_) => Err(RelayError::Timeout { stage }),
            Ok(result) => result,
        }
    }
}

fn io_error(e: std::io::Error, stage: &'static str) -> RelayError {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    if matches!(
        e.kind(),
        BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof
    ) {
        RelayError::Closed { stage }
    } else {
        RelayError::Io { stage, source: e }
    }
}

/// Reads one (possibly multi-line) reply and splits off the enhanced status code (RFC 3463).
async fn read_reply<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    stage: &'static str,
) -> Result<Reply, RelayError> {
    let mut code = None;
    let mut status = String::new();
    let mut lines = Vec::new();
    let mut raw = Vec::with_capacity(128);
    loop {
        raw.clear();
        let n = (&mut *reader)
            .take(REPLY_LINE_MAX)
            .read_until(b'\n', &mut raw)
            .await
            .map_err(|e| io_error(e, stage))?;
        if n == 0 {
            return Err(RelayError::Closed { stage });
        }
        let line = raw.strip_suffix(b"\n").unwrap_or(&raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let parsed = parse_reply_line(line).ok_or_else(|| RelayError::Protocol {
            stage,
            reply_text: String::from_utf8_lossy(line).chars().take(200).collect(),
        })?;
        if *code.get_or_insert(parsed.code) != parsed.code || lines.len() >= REPLY_LINES_MAX {
            return Err(RelayError::Protocol {
                stage,
                reply_text: "inconsistent multi-line reply".into(),
            });
        }
        let (line_status, text) = split_status(parsed.code, &parsed.text);
        if lines.is_empty() {
            status = line_status;
        }
        lines.push(if status.is_empty() { parsed.text } else { text });
        if parsed.last {
            return Ok(Reply {
                code: parsed.code,
                status,
                lines,
            });
        }
    }
}

/// The shared part of a [`NextHop`]: settings and the idle pool.
#[derive(Debug)]
struct Inner {
    settings: NextHopSettings,
    idle: Mutex<Vec<Conn>>,
}

/// The next-hop client with its pool of idle connections. Cheap to clone (shares the pool).
#[derive(Debug, Clone)]
pub struct NextHop {
    inner: Arc<Inner>,
}

/// Outcome of sending an envelope on one connection.
enum Attempt {
    /// A pooled connection turned out dead at its first reply: safe to retry on a fresh one.
    Stale(RelayError),
    Failed(RelayError),
}

impl NextHop {
    /// A client for `settings.address`; connects lazily.
    pub fn new(settings: NextHopSettings) -> NextHop {
        NextHop {
            inner: Arc::new(Inner {
                settings,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Idle connections currently pooled (never more than `pool_size`).
    pub fn idle_connections(&self) -> usize {
        self.inner.idle.lock().map(|idle| idle.len()).unwrap_or(0)
    }

    /// Starts a transaction: takes a pooled connection or opens one, sends XFORWARD (only the attributes the
    /// next hop lists), MAIL FROM (with the parameters it supports), every RCPT TO and, with PIPELINING,
    /// DATA, and reads all replies. A refused MAIL or RCPT is not an error: it is in the returned
    /// [`Outbound`].
    pub async fn begin(&self, envelope: &Envelope) -> Result<Outbound, RelayError> {
        if let Some(conn) = self.take_idle() {
            match self.send_envelope(conn, envelope, true).await {
                Ok(outbound) => return Ok(outbound),
                Err(Attempt::Stale(e)) => {
                    tracing::debug!(error = %e, "pooled next-hop connection was stale; retrying on a new one");
                }
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        let conn = self.connect().await?;
        match self.send_envelope(conn, envelope, false).await {
            Ok(outbound) => Ok(outbound),
            Err(Attempt::Stale(e) | Attempt::Failed(e)) => Err(e),
        }
    }

    fn take_idle(&self) -> Option<Conn> {
        let max_idle = self.inner.settings.max_idle;
        let mut idle = self.inner.idle.lock().ok()?;
        // Expired connections are dropped (closed) here rather than by a background task.
        idle.retain(|c| c.idle_since.elapsed() < max_idle);
        while let Some(conn) = idle.pop() {
            if conn.looks_alive() {
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection to the pool after a completed or reset transaction; closes it when the pool is full.
    async fn put_idle(&self, mut conn: Conn) {
        conn.idle_since = Instant::now();
        let overflow = match self.inner.idle.lock() {
            Ok(mut idle) if idle.len() < self.inner.settings.pool_size => {
                idle.push(conn);
                None
            }
            _ => Some(conn),
        };
        if let Some(mut conn) = overflow {
            // Be polite: QUIT without waiting for the answer.
            let _ = conn
                .write(b"QUIT\r\n", Duration::from_secs(1), "QUIT")
                .await;
        }
    }

    async fn connect(&self) -> Result<Conn, RelayError> {
        let s = &self.inner.settings;
        let stream =
            match tokio::time::timeout(s.connect_timeout, TcpStream::connect(&s.address)).await {
                Err(_) => return Err(RelayError::Timeout { stage: "connect" }),
                Ok(Err(source)) => {
                    return Err(RelayError::Connect {
                        addr: s.address.clone(),
                        source,
                    })
                }
                Ok(Ok(stream)) => stream,
            };
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        let mut conn = Conn {
            reader: BufReader::new(r),
            writer: BufWriter::with_capacity(WRITE_BUFFER, w),
            caps: Capabilities::default(),
            idle_since: Instant::now(),
        };
        let greeting = conn.read_reply(s.command_timeout, "greeting").await?;
        if greeting.code != 220 {
            return Err(protocol("greeting", &greeting));
        }
        conn.write(
            format!("EHLO {}\r\n", s.helo_name).as_bytes(),
            s.command_timeout,
            "EHLO",
        )
        .await?;
        let ehlo = conn.read_reply(s.command_timeout, "EHLO").await?;
        if ehlo.is_positive() {
            conn.caps = Capabilities::from_ehlo(&ehlo);
        } else if ehlo.is_permanent() {
            // An SMTP-only server (RFC 5321 §3.2): fall back to HELO, no extensions.
            conn.write(
                format!("HELO {}\r\n", s.helo_name).as_bytes(),
                s.command_timeout,
                "HELO",
            )
            .await?;
            let helo = conn.read_reply(s.command_timeout, "HELO").await?;
            if !helo.is_positive() {
                return Err(protocol("HELO", &helo));
            }
        } else {
            return Err(protocol("EHLO", &ehlo));
        }
        Ok(conn)
    }

    async fn send_envelope(
        &self,
        mut conn: Conn,
        envelope: &Envelope,
        pooled: bool,
    ) -> Result<Outbound, Attempt> {
        let timeout = self.inner.settings.command_timeout;
        let commands = envelope_commands(&conn.caps, envelope).map_err(Attempt::Failed)?;
        let xforward_count = commands.len() - 1 - envelope.rcpt_to.len();
        let mut replies: Vec<Reply> = Vec::with_capacity(commands.len());
        let mut closing: Option<Reply> = None;

        if conn.caps.pipelining {
            // DATA goes last in the same batch (RFC 2920 §3.1), as Postfix's own client does: its reply
            // comes with the others, and the content can follow at once in `send_data`.
            let mut batch: String = commands.concat();
            batch.push_str("DATA\r\n");
            if let Err(e) = conn.write(batch.as_bytes(), timeout, "MAIL").await {
                return Err(if pooled {
                    Attempt::Stale(e)
                } else {
                    Attempt::Failed(e)
                });
            }
        }
        for (i, command) in commands.iter().enumerate() {
            let stage = stage_of(i, xforward_count);
            if !conn.caps.pipelining {
                // Without PIPELINING, RCPTs are only sent when MAIL was accepted.
                let mail_refused = replies
                    .get(xforward_count)
                    .is_some_and(|r| !r.is_positive());
                if mail_refused {
                    break;
                }
                if let Err(e) = conn.write(command.as_bytes(), timeout, stage).await {
                    return Err(if pooled && i == 0 {
                        Attempt::Stale(e)
                    } else {
                        Attempt::Failed(e)
                    });
                }
            }
            let reply = match conn.read_reply(timeout, stage).await {
                Ok(reply) => reply,
                Err(e) if pooled && i == 0 => return Err(Attempt::Stale(e)),
                Err(e) => return Err(Attempt::Failed(e)),
            };
            if reply.code == 421 {
                // The next hop is closing this session (RFC 5321 §3.8); nothing more will be answered.
                if pooled && i == 0 {
                    return Err(Attempt::Stale(protocol(stage, &reply)));
                }
                closing = Some(reply);
                break;
            }
            replies.push(reply);
        }
        let mut data_reply = None;
        if conn.caps.pipelining && closing.is_none() {
            let reply = conn
                .read_reply(timeout, "DATA")
                .await
                .map_err(Attempt::Failed)?;
            if reply.code == 421 {
                closing = Some(reply);
            } else {
                data_reply = Some(reply);
            }
        }

        let mut rest = replies
            .split_off(xforward_count.min(replies.len()))
            .into_iter();
        let fallback = closing
            .clone()
            .unwrap_or_else(|| Reply::new(451, "4.3.0", "no reply from next hop"));
        let mail_reply = rest.next().unwrap_or_else(|| fallback.clone());
        let rcpt_replies = envelope
            .rcpt_to
            .iter()
            .map(|_| {
                let reply = rest.next();
                if !mail_reply.is_positive() {
                    mail_reply.clone()
                } else {
                    reply.unwrap_or_else(|| fallback.clone())
                }
            })
            .collect();
        Ok(Outbound {
            mail_reply,
            rcpt_replies,
            data_reply,
            conn: if closing.is_some() { None } else { Some(conn) },
            hop: self.clone(),
        })
    }
}

fn protocol(stage: &'static str, reply: &Reply) -> RelayError {
    let text: String = reply.to_wire().trim_end().chars().take(300).collect();
    RelayError::Protocol {
        stage,
        reply_text: text,
    }
}

fn stage_of(i: usize, xforward_count: usize) -> &'static str {
    match i.cmp(&xforward_count) {
        std::cmp::Ordering::Less => "XFORWARD",
        std::cmp::Ordering::Equal => "MAIL",
        std::cmp::Ordering::Greater => "RCPT",
    }
}

/// The command lines for one envelope: XFORWARD lines, MAIL, then one RCPT per recipient.
fn envelope_commands(caps: &Capabilities, envelope: &Envelope) -> Result<Vec<String>, RelayError> {
    let mut commands = xforward_lines(caps, envelope);
    let from = envelope.mail_from.as_deref().unwrap_or("");
    check_address(from, "MAIL")?;
    let mut mail = format!("MAIL FROM:<{from}>");
    for param in &envelope.mail_params {
        let key = param
            .split('=')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let supported = match key.as_str() {
            "BODY" => caps.eightbitmime,
            "SMTPUTF8" => caps.smtputf8,
            "SIZE" => caps.size,
            "RET" | "ENVID" => caps.dsn,
            _ => false,
        };
        if supported && check_address(param, "MAIL").is_ok() {
            mail.push(' ');
            mail.push_str(param);
        }
    }
    mail.push_str("\r\n");
    commands.push(mail);
    for rcpt in &envelope.rcpt_to {
        check_address(&rcpt.address, "RCPT")?;
        let mut line = format!("RCPT TO:<{}>", rcpt.address);
        for param in &rcpt.params {
            let key = param
                .split('=')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            if caps.dsn
                && (key == "ORCPT" || key == "NOTIFY")
                && check_address(param, "RCPT").is_ok()
            {
                line.push(' ');
                line.push_str(param);
            }
        }
        line.push_str("\r\n");
        commands.push(line);
    }
    Ok(commands)
}

/// Refuses envelope text that could inject a command (CR, LF, or a space/bracket breaking the syntax).
fn check_address(text: &str, stage: &'static str) -> Result<(), RelayError> {
    if text
        .chars()
        .any(|c| c.is_control() || c == ' ' || c == '<' || c == '>')
    {
        return Err(RelayError::Protocol {
            stage,
            reply_text: "envelope address or parameter not sendable".into(),
        });
    }
    Ok(())
}

/// XFORWARD lines (≤ 512 bytes each) with the received attributes the next hop lists, in received order.
fn xforward_lines(caps: &Capabilities, envelope: &Envelope) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for (name, value) in &envelope.xforward {
        let name = name.to_ascii_uppercase();
        if !caps.xforward.contains(&name) {
            continue;
        }
        let item = format!(" {name}={}", xtext_encode(value));
        if "XFORWARD".len() + item.len() + 2 > XFORWARD_LINE_MAX {
            // An attribute that cannot fit on any line is left out; it is for logging only.
            continue;
        }
        if !line.is_empty() && line.len() + item.len() + 2 > XFORWARD_LINE_MAX {
            line.push_str("\r\n");
            lines.push(std::mem::take(&mut line));
        }
        if line.is_empty() {
            line.push_str("XFORWARD");
        }
        line.push_str(&item);
    }
    if !line.is_empty() {
        line.push_str("\r\n");
        lines.push(line);
    }
    lines
}

/// Writes `data` dot-stuffed (RFC 5321 §4.5.2) followed by the end-of-data line.
///
/// A dot is doubled at the start of the content and after every LF, bare or not: a next hop that treats
/// bare LF as a line end (Postfix's `smtpd_forbid_bare_newline = normalize`) then cannot see `<LF>.<CR><LF>`
/// as the end of the message, and one that does not removes nothing it should keep.
///
/// The places to stuff are found with one `memmem` search for `LF .`, so content is copied in runs of whole
/// lines rather than looked at byte by byte.
async fn write_dot_stuffed<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> std::io::Result<()> {
    if data.first() == Some(&b'.') {
        w.write_all(b".").await?;
    }
    let mut start = 0;
    for lf in memchr::memmem::find_iter(data, b"\n.") {
        // Up to and including the LF, then the extra dot; the line's own dot goes out with the next run.
        w.write_all(data.get(start..=lf).unwrap_or_default())
            .await?;
        w.write_all(b".").await?;
        start = lf + 1;
    }
    w.write_all(data.get(start..).unwrap_or_default()).await?;
    if !data.is_empty() && !data.ends_with(b"\r\n") {
        w.write_all(b"\r\n").await?;
    }
    w.write_all(b".\r\n").await
}

/// A transaction with the next hop whose envelope has been sent: per-recipient replies, waiting for content.
#[derive(Debug)]
pub struct Outbound {
    /// The reply to MAIL FROM.
    pub mail_reply: Reply,
    /// `rcpt_replies[i]` answers `envelope.rcpt_to[i]`; every one is the MAIL reply when MAIL was refused.
    pub rcpt_replies: Vec<Reply>,
    /// The reply to DATA when it went out with the envelope (PIPELINING); `None` when DATA is sent by
    /// [`Outbound::send_data`]. A `354` here means the next hop is waiting for the content.
    data_reply: Option<Reply>,
    /// The connection; `None` when the next hop announced it is closing (`421`).
    conn: Option<Conn>,
    /// Where the connection goes back to.
    hop: NextHop,
}

impl Outbound {
    /// True when MAIL and at least one RCPT were accepted.
    pub fn any_accepted(&self) -> bool {
        self.mail_reply.is_positive() && self.rcpt_replies.iter().any(Reply::is_positive)
    }

    /// Sends DATA and the content (byte-exact; dot-stuffing and, when missing, a final CRLF are added) and
    /// returns the next hop's answer to the final dot, or its refusal of DATA itself. Requires at least one
    /// accepted recipient. On success the connection goes back to the pool.
    pub async fn send_data(self, data: &[u8]) -> Result<Reply, RelayError> {
        if !self.any_accepted() {
            self.abort().await;
            return Err(RelayError::NoAcceptedRecipients);
        }
        self.transmit(data).await
    }

    /// [`Outbound::send_data`] once the caller has checked that a recipient was accepted.
    async fn transmit(mut self, data: &[u8]) -> Result<Reply, RelayError> {
        let Some(mut conn) = self.conn.take() else {
            return Err(RelayError::Closed { stage: "DATA" });
        };
        let settings = &self.hop.inner.settings;
        let reply = match self.data_reply.take() {
            Some(reply) => reply,
            None => {
                conn.write(b"DATA\r\n", settings.command_timeout, "DATA")
                    .await?;
                conn.read_reply(settings.command_timeout, "DATA").await?
            }
        };
        if reply.code != 354 {
            if reply.code != 421 {
                self.conn = Some(conn);
                self.abort().await;
            }
            return Ok(reply);
        }
        let write = async {
            write_dot_stuffed(&mut conn.writer, data).await?;
            conn.writer.flush().await
        };
        match tokio::time::timeout(settings.data_timeout, write).await {
            Err(_) => {
                return Err(RelayError::Timeout {
                    stage: "DATA content",
                })
            }
            Ok(Err(e)) => return Err(io_error(e, "DATA content")),
            Ok(Ok(())) => {}
        }
        let reply = conn
            .read_reply(settings.data_timeout, "end of data")
            .await?;
        if reply.code != 421 {
            self.hop.put_idle(conn).await;
        }
        Ok(reply)
    }

    /// Abandons the transaction: RSET, and the connection goes back to the pool (or is closed when RSET fails).
    /// After a pipelined DATA was answered `354` the next hop waits for content and RSET is not possible:
    /// the connection is closed instead, and the next hop discards the unfinished transaction.
    pub async fn abort(mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.data_reply.as_ref().is_some_and(|r| r.code == 354) {
            return;
        }
        let timeout = self.hop.inner.settings.command_timeout;
        if conn.write(b"RSET\r\n", timeout, "RSET").await.is_err() {
            return;
        }
        if let Ok(reply) = conn.read_reply(timeout, "RSET").await {
            if reply.code == 250 {
                self.hop.put_idle(conn).await;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
