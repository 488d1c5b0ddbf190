//! The milter listener: accept loop on TCP or a unix socket, connection cap, idle timeout, graceful shutdown.
//!
//! The accept loop is the SMTP server's ([`crate::accept`]): an already-bound listener and a shutdown future;
//! a semaphore caps connections (more wait in the backlog); on shutdown no new connections are taken, an
//! evaluation in flight finishes and is answered, then each connection closes (Postfix applies `milter_default_action`
//! to whatever comes later on it, `tempfail` in our `main.cf`).
//!
//! Must not: buffer more than one packet plus one read per connection, log content or addresses, or time
//! out an evaluation (Postfix's `milter_content_timeout` bounds it on its side).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::watch;

use super::codec::{decode_packet, Command, Response};
use super::session::{reply_code, Action, Session};
use super::{Handler, MilterSettings};
use crate::accept::{serve_connections, Accept};
use crate::smtp::reply::Reply;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A bound milter listener.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// The address for log lines (`127.0.0.1:11332` or `unix:/path`).
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp".into()),
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix".into()),
        }
    }
}

/// Serves the milter protocol on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: Listener,
    settings: Arc<ArcSwap<MilterSettings>>,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let max_connections = settings.load().max_connections;
    let grace = || settings.load().shutdown_grace;
    serve_connections(
        "milter",
        listener,
        max_connections,
        shutdown,
        grace,
        |stream, stop| {
            let conn_settings = settings.load_full();
            let handler = handler.clone();
            async move {
                if let Err(e) = run_connection(stream, &conn_settings, &handler, stop).await {
                    tracing::debug!(error = %e, "milter connection error");
                }
            }
        },
    )
    .await
}

/// Either kind of stream.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {
    /// Called after every read that returned data.
    fn after_read(&self) {}
}

impl Stream for UnixStream {}

impl Stream for TcpStream {
    /// Acknowledge at once. The MTA sends several packets in a row that need no answer (macros, headers) and
    /// its socket uses Nagle's algorithm, so each next packet waits until the one before is acknowledged;
    /// with Linux's delayed ACK that was a 40 ms stall per message (measured with Postfix: 45 ms per
    /// message in a single session, 0.6 ms with this). Linux clears the flag again after use, hence per read.
    fn after_read(&self) {
        let _ = socket2::SockRef::from(self).set_tcp_quickack(true);
    }
}

impl Accept for Listener {
    type Conn = Box<dyn Stream>;

    async fn accept(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
            Listener::Unix(l) => Box::new(l.accept().await?.0),
        })
    }
}

/// One MTA connection (Postfix: one per smtpd process and SMTP session).
async fn run_connection(
    mut stream: Box<dyn Stream>,
    settings: &MilterSettings,
    handler: &Arc<dyn Handler>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut session = Session::new(settings.session.clone());
    let mut input: Vec<u8> = Vec::new();
    let mut output: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        // Handle every complete packet already received, in order.
        loop {
            let (packet, used) = match decode_packet(&input) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "milter protocol error; closing");
                    return Ok(());
                }
            };
            input.drain(..used);
            let action = match Command::parse(packet)
                .map_err(|e| e.to_string())
                .and_then(|command| session.handle(command).map_err(|e| e.to_string()))
            {
                Ok(action) => action,
                Err(e) => {
                    tracing::warn!(error = %e, "milter protocol error; closing");
                    return Ok(());
                }
            };
            match action {
                Action::Reply(responses) => {
                    for r in responses {
                        output.extend_from_slice(&r.encode());
                    }
                }
                Action::Evaluate(msg) => {
                    // Answer what came before first, so the MTA is not kept waiting on those.
                    write(&mut stream, &mut output, settings.read_timeout).await?;
                    let on_infected = settings.on_infected;
                    let responses =
                        match crate::util::guarded(|| handler.end_of_message(msg, on_infected))
                            .await
                        {
                            Ok(responses) => responses,
                            Err(panic) => {
                                // A panic inside becomes a tempfail, never an acceptance.
                                tracing::error!(panic, "milter evaluation failed");
                                vec![Response::ReplyCode(reply_code(&Reply::handler_failed()))]
                            }
                        };
                    for r in responses {
                        output.extend_from_slice(&r.encode());
                    }
                }
                Action::TooBig(response, envelope) => {
                    // Nothing was evaluated; the handler still accounts for the message.
                    handler.refused_too_big(&envelope, settings.session.max_message_size);
                    output.extend_from_slice(&response.encode());
                }
                Action::Close => {
                    write(&mut stream, &mut output, settings.read_timeout).await?;
                    return Ok(());
                }
            }
        }
        write(&mut stream, &mut output, settings.read_timeout).await?;
        if *stop.borrow() {
            return Ok(());
        }
        let read = tokio::time::timeout(settings.read_timeout, stream.read(&mut chunk));
        tokio::select! {
            result = read => match result {
                Err(_) => {
                    tracing::debug!(idle = session.is_idle(), "milter connection timed out");
                    return Ok(());
                }
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(n)) => {
                    stream.after_read();
                    input.extend_from_slice(chunk.get(..n).unwrap_or_default());
                }
                Ok(Err(e)) => return Err(e),
            },
            _ = stop.changed() => return Ok(()),
        }
    }
}

async fn write(
    stream: &mut Box<dyn Stream>,
    output: &mut Vec<u8>,
    timeout: Duration,
) -> std::io::Result<()> {
    if output.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(timeout, stream.write_all(output)).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write timed out",
            ))
        }
    }
    output.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP milter connection asks for immediate ACKs after each read (see `after_read`); a unix one has
    /// nothing to set.
    #[tokio::test]
    async fn tcp_reads_rearm_quickack() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let sock = socket2::SockRef::from(&server);
        sock.set_tcp_quickack(false).unwrap();
        assert!(!sock.tcp_quickack().unwrap());
        server.after_read();
        assert!(sock.tcp_quickack().unwrap());
    }
}
