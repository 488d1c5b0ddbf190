//! The SMTP server Postfix hands mail to: accept loop, connection cap, timeouts, graceful shutdown.
//!
//! Shaped like mini-redis's `server.rs` (the loop itself is [`crate::accept`], shared with the milter): it
//! takes an already-bound listener and a shutdown future, caps connections with a semaphore, and waits for
//! in-flight sessions when stopping. Parsing lives in `codec`
//! and the SMTP state in `session`; this module only moves bytes, runs timers and calls the [`Handler`].
//!
//! Connections over `max_connections` wait in the listen backlog until a slot frees (they are not refused
//! with `421`): Postfix then simply waits for the greeting (`smtp_helo_timeout`, 300 s) instead of
//! deferring mail. `max_connections` is read once when `serve` starts; the other settings are read per
//! new connection, so a reload applies to new connections.
//!
//! Slow clients cannot keep a slot (slowloris): besides the idle limit per read (`read_timeout`), a command
//! line must be complete within `command_timeout` of its first byte (Postfix's `smtpd_per_record_deadline`
//! idea), the whole DATA phase within `data_timeout`, and the session ends after too many commands without
//! a message (`session`). Each ends the connection with `421`.
//!
//! Must not: log message content or addresses (only the peer's IP address at debug level), buffer input
//! without bound, or time out the handler (Postfix waits up to `smtp_data_done_timeout`, 600 s).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use super::codec::{parse_command, LineDecoder, LineEvent, MAX_LINE};
use super::session::{Action, Session};
use super::{Handler, Reply, ServerSettings};
use crate::accept::serve_connections;

/// Room for one read from the socket: a 20 KB message that has arrived is taken in one read.
const READ_CHUNK: usize = 64 * 1024;

/// Serves SMTP on `listener` until `shutdown` resolves, then stops accepting, lets sessions finish their
/// current transaction (idle ones get `421 4.3.2`), and returns once all sessions ended or
/// `shutdown_grace` elapsed.
pub async fn serve(
    listener: TcpListener,
    settings: Arc<ArcSwap<ServerSettings>>,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let max_connections = settings.load().max_connections;
    let grace = || settings.load().shutdown_grace;
    serve_connections(
        "smtp",
        listener,
        max_connections,
        shutdown,
        grace,
        |(stream, peer), stop| {
            let session_settings = settings.load_full();
            let handler = handler.clone();
            async move {
                let _open = crate::metrics::Connection::open();
                tracing::debug!(peer = %peer.ip(), "smtp connection opened");
                if let Err(e) = run_session(stream, peer, session_settings, handler, stop).await {
                    tracing::debug!(peer = %peer.ip(), error = %e, "smtp connection error");
                }
                tracing::debug!(peer = %peer.ip(), "smtp connection closed");
            }
        },
    )
    .await
}

/// How the DATA phase ended.
enum DataEnd {
    /// The terminator was read: the content and whether it overflowed the size limit.
    Complete(Vec<u8>, bool),
    /// Idle or total DATA time exceeded.
    TimedOut,
    /// The client went away mid-DATA.
    Closed,
}

/// One connection: the socket, buffers and timers around a [`Session`].
struct Connection {
    /// The socket, not split: reads and writes take turns (replies are flushed before each read).
    stream: TcpStream,
    /// Received bytes not yet decoded: when a read starts, at most a partial command line, so the buffer
    /// stays at [`READ_CHUNK`] + [`MAX_LINE`] bytes. Read into without zeroing it first.
    input: Vec<u8>,
    /// Replies not yet written; flushed once before each blocking read (RFC 2920 §3.1).
    output: Vec<u8>,
    /// Idle limit for reads and writes.
    read_timeout: Duration,
}

impl Connection {
    async fn flush(&mut self) -> std::io::Result<()> {
        if self.output.is_empty() {
            return Ok(());
        }
        let write = self.stream.write_all(&self.output);
        match tokio::time::timeout(self.read_timeout, write).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "write timed out",
                ))
            }
        }
        self.output.clear();
        Ok(())
    }

    fn push(&mut self, reply: &Reply) {
        reply.write_wire(&mut self.output);
    }

    /// Sends a final reply; the caller then ends the session, and dropping the socket closes it. (No
    /// `shutdown` first: `close` sends the same FIN after the queued reply, one system call less.)
    async fn close_with(&mut self, reply: &Reply) -> std::io::Result<()> {
        self.push(reply);
        self.flush().await
    }

    /// Reads once from the socket, appending to `input`; `Ok(0)` at the end of the stream.
    async fn read_some(&mut self) -> std::io::Result<usize> {
        self.input
            .reserve_exact((READ_CHUNK + MAX_LINE).saturating_sub(self.input.len()));
        self.stream.read_buf(&mut self.input).await
    }

    /// Reads DATA content: leftover input first, then the socket, until the terminator or a timeout.
    async fn read_data(&mut self, session: &Session) -> std::io::Result<DataEnd> {
        let deadline = Instant::now() + session.settings().data_timeout;
        let mut decoder = session.data_decoder();
        let mut content = Vec::new();
        let limit = session.settings().max_message_size;
        loop {
            if content.capacity() == 0 {
                // Sized by the first bytes of content at hand (often the whole message), so that the
                // decoder does not grow the buffer from 4 KiB by doubling, copying it each time.
                content.reserve_exact(self.input.len().min(limit));
            }
            let (used, done) = decoder.decode(&self.input, &mut content);
            // Whatever follows the final dot is the next pipelined command and stays in `input`.
            self.input.drain(..used);
            if done {
                return Ok(DataEnd::Complete(content, decoder.overflowed()));
            }
            let until = deadline.min(Instant::now() + self.read_timeout);
            match tokio::time::timeout_at(until, self.read_some()).await {
                Err(_) => return Ok(DataEnd::TimedOut),
                Ok(Ok(0)) => return Ok(DataEnd::Closed),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
            }
        }
    }
}

/// Runs one SMTP session to its end.
async fn run_session(
    stream: TcpStream,
    peer: SocketAddr,
    settings: Arc<ServerSettings>,
    handler: Arc<dyn Handler>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    // Replies are batched and flushed explicitly, so Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    let read_timeout = settings.read_timeout;
    let mut session = Session::new(settings, peer);
    let mut conn = Connection {
        stream,
        input: Vec::new(),
        output: Vec::new(),
        read_timeout,
    };
    let mut lines = LineDecoder::default();
    // When the first byte of the command line still incomplete arrived (its deadline runs from there).
    let mut command_started: Option<Instant> = None;
    conn.push(&session.greeting());

    loop {
        // Answer every complete command already received, in order (RFC 2920: pipelined commands).
        let mut start_data = false;
        loop {
            let (used, event) = lines.decode(&conn.input);
            conn.input.drain(..used);
            let action = match event {
                LineEvent::NeedMore => break,
                LineEvent::TooLong => session.line_too_long(),
                LineEvent::Line(line) => session.command(parse_command(&line)),
            };
            command_started = None;
            match action {
                Action::Reply(reply) => conn.push(&reply),
                Action::StartData(reply) => {
                    conn.push(&reply);
                    start_data = true;
                    break;
                }
                Action::Quit(reply) => return conn.close_with(&reply).await,
            }
        }
        conn.flush().await?;

        if start_data {
            let reply = match conn.read_data(&session).await? {
                DataEnd::Complete(content, overflowed) => {
                    let too_big = overflowed.then(|| session.envelope().cloned()).flatten();
                    match session.finish_data(content, overflowed) {
                        Ok(txn) => call_handler(&handler, txn).await,
                        Err(reply) => {
                            if let Some(envelope) = &too_big {
                                handler
                                    .refused_too_big(envelope, session.settings().max_message_size);
                            }
                            reply
                        }
                    }
                }
                DataEnd::TimedOut => return conn.close_with(&session.timeout_reply()).await,
                DataEnd::Closed => return Ok(()),
            };
            conn.push(&reply);
            if *stop.borrow() {
                // Shutting down: the transaction got its answer; end the session now.
                return conn.close_with(&session.shutdown_reply()).await;
            }
            continue;
        }

        if *stop.borrow() {
            return conn.close_with(&session.shutdown_reply()).await;
        }
        // Part of a command line is here (or being discarded): it must be complete by its deadline.
        if !conn.input.is_empty() || lines.is_discarding() {
            command_started.get_or_insert_with(Instant::now);
        }
        let idle = Instant::now() + read_timeout;
        let until = command_started.map_or(idle, |started| {
            idle.min(started + session.settings().command_timeout)
        });
        let read = tokio::time::timeout_at(until, conn.read_some());
        tokio::select! {
            result = read => match result {
                Err(_) => return conn.close_with(&session.timeout_reply()).await,
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
            },
            _ = stop.changed() => return conn.close_with(&session.shutdown_reply()).await,
        }
    }
}

/// Calls the handler so that a panic in the filter becomes `451`, not a dropped connection (an internal
/// failure must never look like acceptance, nor leave Postfix guessing). The guard is
/// [`crate::util::guarded`], the one the milter server uses too.
async fn call_handler(handler: &Arc<dyn Handler>, txn: super::Transaction) -> Reply {
    match crate::util::guarded(|| handler.handle(txn)).await {
        Ok(reply) => reply,
        Err(panic) => {
            tracing::error!(panic, "message handler failed");
            Reply::handler_failed()
        }
    }
}

#[cfg(test)]
mod tests;
