//! Server tests over real sockets (port 0) with a fake handler.

use std::sync::Mutex;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{oneshot, Notify};

use super::*;
use crate::scan::BoxFuture;
use crate::smtp::Transaction;

/// Records transactions and answers with a fixed reply; optionally waits for `gate` first, or panics.
struct FakeHandler {
    seen: Mutex<Vec<Transaction>>,
    reply: Reply,
    gate: Option<Arc<Notify>>,
    entered: Arc<Notify>,
    panic: bool,
}

impl FakeHandler {
    fn new(reply: Reply) -> FakeHandler {
        FakeHandler {
            seen: Mutex::new(Vec::new()),
            reply,
            gate: None,
            entered: Arc::new(Notify::new()),
            panic: false,
        }
    }
    fn seen(&self) -> Vec<Transaction> {
        self.seen.lock().unwrap().clone()
    }
}

impl Handler for FakeHandler {
    fn handle(&self, txn: Transaction) -> BoxFuture<'static, Reply> {
        self.seen.lock().unwrap().push(txn);
        let reply = self.reply.clone();
        let gate = self.gate.clone();
        let entered = self.entered.clone();
        let panic = self.panic;
        Box::pin(async move {
            entered.notify_one();
            if let Some(gate) = gate {
                gate.notified().await;
            }
            assert!(!panic, "handler failure requested by the test");
            reply
        })
    }
}

struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn settings() -> ServerSettings {
    ServerSettings {
        max_message_size: 1000,
        max_recipients: 3,
        max_connections: 10,
        read_timeout: Duration::from_secs(10),
        data_timeout: Duration::from_secs(10),
        shutdown_grace: Duration::from_secs(10),
        ..ServerSettings::default()
    }
}

async fn start(settings: ServerSettings, handler: Arc<dyn Handler>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let settings = Arc::new(ArcSwap::from_pointee(settings));
    let task = tokio::spawn(serve(listener, settings, handler, async move {
        let _ = rx.await;
    }));
    TestServer {
        addr,
        stop: Some(tx),
        task,
    }
}

/// A raw SMTP client for driving the server.
struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        Client {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// Reads one reply; returns its code and full text (all lines), or `None` at EOF.
    async fn reply(&mut self) -> Option<(u16, String)> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.reader.read_line(&mut line))
                .await
                .unwrap()
                .ok()?;
            if n == 0 {
                return None;
            }
            text.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some((line.get(..3)?.parse().ok()?, text));
            }
        }
    }

    async fn codes(&mut self, n: usize) -> Vec<u16> {
        let mut codes = Vec::new();
        for _ in 0..n {
            codes.push(self.reply().await.map(|(c, _)| c).unwrap_or(0));
        }
        codes
    }
}

#[tokio::test]
async fn pipelined_transactions_byte_exact() {
    let handler = Arc::new(FakeHandler::new(Reply::new(250, "2.0.0", "Ok: relayed")));
    let server = start(settings(), handler.clone()).await;
    let mut c = Client::connect(server.addr).await;
    let (code, greeting) = c.reply().await.unwrap();
    assert_eq!(
        (code, greeting.as_str()),
        (220, "220 localhost ESMTP mailwacht\r\n")
    );

    // Everything in one write, including the content and the next transaction after the final dot.
    c.send(
        b"EHLO mx\r\nXFORWARD NAME=up.example ADDR=192.0.2.1\r\nMAIL FROM:<a@b> BODY=8BITMIME\r\nRCPT TO:<c@d>\r\n\
          RCPT TO:<e@f>\r\nDATA\r\n..lead\r\nbare\nlf\r.\r\n\xe9t\xe9\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
    )
    .await;
    let (code, ehlo) = c.reply().await.unwrap();
    assert_eq!(code, 250);
    assert!(
        ehlo.contains("250-PIPELINING\r\n") && ehlo.contains("XFORWARD NAME ADDR"),
        "{ehlo}"
    );
    assert_eq!(
        c.codes(9).await,
        vec![250, 250, 250, 250, 354, 250, 250, 250, 354]
    );
    c.send(b"second\r\n.\r\nQUIT\r\n").await;
    assert_eq!(c.codes(2).await, vec![250, 221]);
    assert!(c.reply().await.is_none(), "connection closed after QUIT");

    let seen = handler.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].data, b".lead\r\nbare\nlf\r.\r\n\xe9t\xe9\r\n");
    assert_eq!(seen[0].helo, "mx");
    assert_eq!(
        seen[0].envelope.recipients().collect::<Vec<_>>(),
        vec!["c@d", "e@f"]
    );
    assert_eq!(seen[0].envelope.xforward.len(), 2);
    assert_eq!(seen[1].data, b"second\r\n");
    assert_eq!(seen[1].envelope.mail_from, None);
    assert!(
        seen[1].envelope.xforward.is_empty(),
        "XFORWARD applies to one transaction only"
    );
    drop(server.stop);
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn limits_and_errors() {
    let handler = Arc::new(FakeHandler::new(Reply::new(250, "2.0.0", "Ok")));
    let server = start(settings(), handler.clone()).await;
    let mut c = Client::connect(server.addr).await;
    c.reply().await.unwrap();
    c.send(b"EHLO mx\r\nMAIL FROM:<a@b> SIZE=1001\r\nMAIL FROM:<a@b>\r\n")
        .await;
    assert_eq!(c.codes(3).await, vec![250, 552, 250]);
    c.send(
        b"RCPT TO:<1@d>\r\nRCPT TO:<2@d>\r\nRCPT TO:<3@d>\r\nRCPT TO:<4@d>\r\nFOO\r\nRCPT TO:x\r\n",
    )
    .await;
    assert_eq!(c.codes(6).await, vec![250, 250, 250, 452, 500, 501]);
    // Over-long line: 500, the rest of it is discarded, the session goes on.
    let mut long = b"NOOP ".to_vec();
    long.extend(vec![b'x'; 10_000]);
    long.extend(b"\r\nNOOP\r\n");
    c.send(&long).await;
    assert_eq!(c.codes(2).await, vec![500, 250]);
    // Oversize content: read to the end, then 552; the handler is not called.
    c.send(b"DATA\r\n").await;
    assert_eq!(c.codes(1).await, vec![354]);
    let mut big = vec![b'y'; 3000];
    big.extend(b"\r\n.\r\nRSET\r\n");
    c.send(&big).await;
    let (code, text) = c.reply().await.unwrap();
    assert_eq!(
        (code, text.as_str()),
        (552, "552 5.3.4 Error: message size exceeds fixed limit\r\n")
    );
    assert_eq!(c.codes(1).await, vec![250]);
    assert!(handler.seen().is_empty());
}

#[tokio::test]
async fn idle_client_times_out() {
    let handler = Arc::new(FakeHandler::new(Reply::new(250, "2.0.0", "Ok")));
    let server = start(
        ServerSettings {
            read_timeout: Duration::from_millis(100),
            ..settings()
        },
        handler,
    )
    .await;
    let mut c = Client::connect(server.addr).await;
    c.reply().await.unwrap();
    let (code, text) = c.reply().await.unwrap();
    assert_eq!(code, 421);
    assert!(text.starts_with("421 4.4.2 localhost"), "{text}");
    assert!(c.reply().await.is_none());
}

/// Slowloris: a command line trickled a byte at a time, each read well inside the idle limit, is cut off
/// with `421` once it has taken longer than `command_timeout`; complete lines are unaffected.
#[tokio::test]
async fn a_command_trickled_byte_by_byte_hits_the_command_deadline() {
    let handler = Arc::new(FakeHandler::new(Reply::new(250, "2.0.0", "Ok")));
    let s = ServerSettings {
        read_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_millis(300),
        ..settings()
    };
    let server = start(s, handler.clone()).await;
    let mut c = Client::connect(server.addr).await;
    c.reply().await.unwrap();
    c.send(b"HELO mx\r\n").await;
    assert_eq!(c.codes(1).await, vec![250]);
    let Client { reader, writer } = &mut c;
    // A 200-byte NOOP line over 10 s: without a deadline the server answers it with 250 at its end.
    let trickle = async {
        for byte in b"NOOP ".iter().chain(&[b'x'; 193]).chain(b"\r\n") {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
        }
        std::future::pending::<()>().await;
    };
    let mut line = String::new();
    tokio::select! {
        () = trickle => unreachable!(),
        _ = reader.read_line(&mut line) => {}
    }
    assert!(line.starts_with("421 4.4.2 localhost"), "{line:?}");
    let mut rest = String::new();
    assert_eq!(reader.read_line(&mut rest).await.unwrap_or(0), 0, "closed");
}

#[tokio::test]
async fn slow_data_hits_data_timeout() {
    let handler = Arc::new(FakeHandler::new(Reply::new(250, "2.0.0", "Ok")));
    let s = ServerSettings {
        read_timeout: Duration::from_secs(5),
        data_timeout: Duration::from_millis(200),
        ..settings()
    };
    let server = start(s, handler.clone()).await;
    let mut c = Client::connect(server.addr).await;
    c.reply().await.unwrap();
    c.send(b"HELO mx\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
        .await;
    assert_eq!(c.codes(4).await, vec![250, 250, 250, 354]);
    // Trickle bytes: each read is within read_timeout, the whole DATA phase is not.
    let Client { reader, writer } = &mut c;
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if writer.write_all(b"x").await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let mut line = String::new();
    tokio::select! {
        () = trickle => unreachable!(),
        _ = reader.read_line(&mut line) => {}
    }
    let reply = line
        .get(..3)
        .and_then(|c| c.parse::<u16>().ok())
        .map(|c| (c, line.clone()));
    assert_eq!(reply.map(|(code, _)| code), Some(421));
    assert!(handler.seen().is_empty());
}

#[tokio::test]
async fn client_gone_mid_data_is_not_a_message() {
    let handler = Arc::new(FakeHandler::new(Reply::new(250, "2.0.0", "Ok")));
    let server = start(settings(), handler.clone()).await;
    let mut c = Client::connect(server.addr).await;
    c.reply().await.unwrap();
    c.send(b"HELO mx\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\npartial content\r\n")
        .await;
    assert_eq!(c.codes(4).await, vec![250, 250, 250, 354]);
    drop(c);
    // The server still serves others, and never saw a message.
    let mut d = Client::connect(server.addr).await;
    d.reply().await.unwrap();
    d.send(b"QUIT\r\n").await;
    assert_eq!(d.codes(1).await, vec![221]);
    assert!(handler.seen().is_empty());
}

#[tokio::test]
async fn handler_failure_is_451() {
    let mut h = FakeHandler::new(Reply::new(250, "2.0.0", "Ok"));
    h.panic = true;
    let server = start(settings(), Arc::new(h)).await;
    let mut c = Client::connect(server.addr).await;
    c.reply().await.unwrap();
    c.send(b"HELO mx\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n")
        .await;
    assert_eq!(c.codes(6).await, vec![250, 250, 250, 354, 451, 250]);
}

/// A handler that fails before it even returns its future.
struct PanicsAtOnce;

impl Handler for PanicsAtOnce {
    fn handle(&self, _txn: Transaction) -> BoxFuture<'static, Reply> {
        panic!("handler failure requested by the test, before any future");
    }
}

#[tokio::test]
async fn handler_failure_before_its_future_is_451_too() {
    let server = start(settings(), Arc::new(PanicsAtOnce)).await;
    let mut c = Client::connect(server.addr).await;
    c.reply().await.unwrap();
    c.send(b"HELO mx\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n")
        .await;
    assert_eq!(c.codes(6).await, vec![250, 250, 250, 354, 451, 250]);
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_transaction() {
    let gate = Arc::new(Notify::new());
    let mut h = FakeHandler::new(Reply::new(250, "2.0.0", "Ok: relayed"));
    h.gate = Some(gate.clone());
    let entered = h.entered.clone();
    let handler = Arc::new(h);
    let mut server = start(settings(), handler.clone()).await;

    let mut busy = Client::connect(server.addr).await;
    busy.reply().await.unwrap();
    let mut idle = Client::connect(server.addr).await;
    idle.reply().await.unwrap();
    idle.send(b"EHLO mx\r\n").await;
    assert_eq!(idle.codes(1).await, vec![250]);

    busy.send(b"HELO mx\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n")
        .await;
    assert_eq!(busy.codes(4).await, vec![250, 250, 250, 354]);
    entered.notified().await; // the handler is now working on the message

    let _ = server.stop.take().unwrap().send(());
    let (code, text) = idle.reply().await.unwrap();
    assert_eq!(code, 421, "{text}");
    assert!(text.starts_with("421 4.3.2"), "{text}");
    assert!(
        !server.task.is_finished(),
        "serve must wait for the in-flight transaction"
    );

    gate.notify_one();
    let (code, text) = busy.reply().await.unwrap();
    assert_eq!((code, text.as_str()), (250, "250 2.0.0 Ok: relayed\r\n"));
    assert_eq!(busy.reply().await.map(|(c, _)| c), Some(421));
    server.task.await.unwrap().unwrap();
    assert_eq!(handler.seen().len(), 1);
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "listener closed after shutdown"
    );
}

#[tokio::test]
async fn connection_cap_makes_new_connections_wait() {
    let handler = Arc::new(FakeHandler::new(Reply::new(250, "2.0.0", "Ok")));
    let server = start(
        ServerSettings {
            max_connections: 1,
            ..settings()
        },
        handler,
    )
    .await;
    let mut first = Client::connect(server.addr).await;
    assert_eq!(first.codes(1).await, vec![220]);
    let mut second = Client::connect(server.addr).await;
    // Not greeted while the only slot is taken.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), second.reply())
            .await
            .is_err()
    );
    first.send(b"QUIT\r\n").await;
    assert_eq!(first.codes(1).await, vec![221]);
    assert_eq!(second.codes(1).await, vec![220]);
}
