//! The accept loop the SMTP server and the milter listener share, shaped like mini-redis's `server.rs`: an
//! already-bound listener and a shutdown future; a semaphore caps connections (more wait in the listen
//! backlog); on shutdown no new connections are taken, every connection is told through a watch flag, and
//! the loop waits up to a grace period for them to end.
//!
//! Accept errors (usually EMFILE/ENFILE, or a connection reset before accept) are logged and backed off
//! from; the server keeps serving. What a connection does is the caller's; nothing here reads or writes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Semaphore};

/// A bound listener the loop can take connections from.
pub(crate) trait Accept {
    /// One accepted connection (with whatever the server wants to know about its peer).
    type Conn: Send + 'static;

    /// Waits for the next connection.
    fn accept(&self) -> impl Future<Output = std::io::Result<Self::Conn>> + Send;
}

impl Accept for tokio::net::TcpListener {
    type Conn = (tokio::net::TcpStream, std::net::SocketAddr);

    fn accept(&self) -> impl Future<Output = std::io::Result<Self::Conn>> + Send {
        tokio::net::TcpListener::accept(self)
    }
}

/// Takes connections from `listener` until `shutdown` resolves, at most `max_connections` at once, and runs
/// the future `serve` makes for each in its own task; `serve` gets the connection and a flag that turns
/// true when shutdown starts. Then the listener is closed and the connections get `grace()` to end.
/// `server` names the listener in log lines.
pub(crate) async fn serve_connections<L, F, Fut>(
    server: &'static str,
    listener: L,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send,
    grace: impl FnOnce() -> Duration,
    mut serve: F,
) -> std::io::Result<()>
where
    L: Accept,
    F: FnMut(L::Conn, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(max_connections.max(1)));
    // Connections watch this flag; it turns true when shutdown starts.
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection holds a sender; `recv` returns `None` once all are gone (mini-redis's
    // shutdown_complete).
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = limit.clone().acquire_owned() => permit.map_err(std::io::Error::other)?,
        };
        let conn = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(server, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let connection = serve(conn, stop_rx.clone());
        let done = done_tx.clone();
        tokio::spawn(async move {
            connection.await;
            drop(permit);
            drop(done);
        });
    }

    let grace = grace();
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_tx);
    if tokio::time::timeout(grace, done_rx.recv()).await.is_err() {
        tracing::warn!(
            server,
            "shutdown grace elapsed with connections still running"
        );
    }
    Ok(())
}
