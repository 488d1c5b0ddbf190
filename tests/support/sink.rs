//! A small real SMTP server for tests: records what it receives and answers as configured.
//!
//! Stands in for Postfix's re-injection smtpd (the next hop). Depends on tokio only, so unit tests in
//! `src/` can include it with `#[path]`. Not a conforming SMTP server: just enough for the client under test.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How the sink behaves.
#[derive(Debug, Clone)]
pub struct SinkBehaviour {
    /// Advertise PIPELINING.
    pub pipelining: bool,
    /// Advertise `XFORWARD` with these attributes (none: not advertised).
    pub xforward: Vec<String>,
    /// Advertise 8BITMIME, SMTPUTF8, SIZE and DSN.
    pub eightbitmime: bool,
    pub smtputf8: bool,
    pub size: bool,
    pub dsn: bool,
    /// Answer EHLO with 502 (forces HELO).
    pub refuse_ehlo: bool,
    /// `(substring, code)`: a RCPT whose address contains the substring gets that code.
    pub rcpt_replies: Vec<(String, u16)>,
    /// Code answering MAIL (250 when 0).
    pub mail_reply: u16,
    /// Code answering the final dot (250 when 0).
    pub data_reply: u16,
    /// `(substring, code)`: the first transaction whose MAIL FROM contains the substring gets this code at
    /// the final dot instead; later ones get `data_reply` (a next hop that fails once, then recovers).
    pub data_reply_once: Option<(String, u16)>,
    /// Close right after the greeting.
    pub close_after_greeting: bool,
    /// Answer the first command of every transaction after the first on a connection with `421` and close
    /// (what Postfix does after its idle timeout, seen by the client only at its next command).
    pub reject_reuse_with_421: bool,
    /// Wait this long before each reply.
    pub delay: Duration,
}

impl Default for SinkBehaviour {
    fn default() -> Self {
        SinkBehaviour {
            pipelining: true,
            xforward: vec!["NAME".into(), "ADDR".into(), "PROTO".into(), "HELO".into()],
            eightbitmime: true,
            smtputf8: true,
            size: true,
            dsn: false,
            refuse_ehlo: false,
            rcpt_replies: Vec::new(),
            mail_reply: 0,
            data_reply: 0,
            data_reply_once: None,
            close_after_greeting: false,
            reject_reuse_with_421: false,
            delay: Duration::ZERO,
        }
    }
}

/// One transaction the sink received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkMessage {
    /// The MAIL FROM line after `MAIL FROM:` (address in brackets and parameters).
    pub mail_from: String,
    /// The RCPT TO lines after `RCPT TO:`, accepted or not.
    pub rcpts: Vec<String>,
    /// XFORWARD command lines, verbatim.
    pub xforward: Vec<String>,
    /// Content after dot-unstuffing (only set when the final dot was answered 250).
    pub data: Vec<u8>,
    /// Which connection (1-based, in accept order) carried it.
    pub connection: usize,
}

#[derive(Debug, Default)]
struct Shared {
    messages: Mutex<Vec<SinkMessage>>,
    connections: AtomicUsize,
    open: AtomicUsize,
    max_open: AtomicUsize,
    commands: Mutex<Vec<String>>,
    /// `data_reply_once` has been used.
    data_reply_once_used: std::sync::atomic::AtomicBool,
}

/// A running sink; stops when dropped.
pub struct Sink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sink {
    /// Starts a sink on 127.0.0.1 with a free port.
    pub async fn start(behaviour: SinkBehaviour) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = listener.local_addr().expect("sink address");
        let shared = Arc::new(Shared::default());
        let task_shared = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let id = task_shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
                let open = task_shared.open.fetch_add(1, Ordering::SeqCst) + 1;
                task_shared.max_open.fetch_max(open, Ordering::SeqCst);
                let shared = task_shared.clone();
                let behaviour = behaviour.clone();
                tokio::spawn(async move {
                    let _ = serve_one(stream, id, &behaviour, &shared).await;
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Sink { addr, shared, task }
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Transactions whose content was accepted, in order.
    pub fn messages(&self) -> Vec<SinkMessage> {
        self.shared
            .messages
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Every command line received, across connections, in order (verbatim, without CRLF).
    pub fn commands(&self) -> Vec<String> {
        self.shared
            .commands
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Most connections open at the same time.
    pub fn max_open_connections(&self) -> usize {
        self.shared.max_open.load(Ordering::SeqCst)
    }
}

async fn serve_one(
    stream: TcpStream,
    id: usize,
    b: &SinkBehaviour,
    shared: &Shared,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink.test ESMTP\r\n").await?;
    if b.close_after_greeting {
        return Ok(());
    }
    let mut current = SinkMessage {
        connection: id,
        ..SinkMessage::default()
    };
    let mut transactions = 0usize;
    let mut first_of_transaction = true;
    // MAIL and at least one RCPT of the current transaction accepted.
    let (mut mail_ok, mut current_accepted) = (false, false);
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        if let Ok(mut c) = shared.commands.lock() {
            c.push(text.clone());
        }
        let upper = text.to_ascii_uppercase();
        if !b.delay.is_zero() {
            tokio::time::sleep(b.delay).await;
        }
        let is_txn_command = upper.starts_with("MAIL") || upper.starts_with("XFORWARD");
        if is_txn_command && first_of_transaction {
            first_of_transaction = false;
            if b.reject_reuse_with_421 && transactions > 0 {
                w.write_all(b"421 4.4.2 sink.test Error: timeout exceeded\r\n")
                    .await?;
                return Ok(());
            }
        }
        let reply: String = if upper.starts_with("EHLO") {
            if b.refuse_ehlo {
                "502 5.5.2 Error: command not recognized\r\n".into()
            } else {
                let mut keywords = vec!["sink.test".to_string()];
                if b.pipelining {
                    keywords.push("PIPELINING".into());
                }
                if b.size {
                    keywords.push("SIZE 10240000".into());
                }
                if !b.xforward.is_empty() {
                    keywords.push(format!("XFORWARD {}", b.xforward.join(" ")));
                }
                if b.eightbitmime {
                    keywords.push("8BITMIME".into());
                }
                if b.smtputf8 {
                    keywords.push("SMTPUTF8".into());
                }
                if b.dsn {
                    keywords.push("DSN".into());
                }
                let n = keywords.len();
                keywords
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("250{}{}\r\n", if i + 1 == n { ' ' } else { '-' }, k))
                    .collect()
            }
        } else if upper.starts_with("HELO") {
            "250 sink.test\r\n".into()
        } else if upper.starts_with("XFORWARD") {
            current.xforward.push(text.clone());
            "250 2.0.0 Ok\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            current.mail_from = text.get(10..).unwrap_or_default().to_string();
            let code = if b.mail_reply == 0 { 250 } else { b.mail_reply };
            (mail_ok, current_accepted) = (code == 250, false);
            format!("{code} {}.1.0 mail\r\n", code / 100)
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = text.get(8..).unwrap_or_default().to_string();
            let code = b
                .rcpt_replies
                .iter()
                .find(|(s, _)| rcpt.contains(s.as_str()))
                .map(|(_, c)| *c)
                .unwrap_or(250);
            current_accepted |= mail_ok && code == 250;
            current.rcpts.push(rcpt);
            format!("{code} {}.1.5 rcpt\r\n", code / 100)
        } else if upper == "DATA" && !current_accepted {
            // As Postfix's smtpd answers DATA without a valid recipient (a pipelined DATA meets this).
            "554 5.5.1 Error: no valid recipients\r\n".into()
        } else if upper == "DATA" {
            w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line).await? == 0 {
                    return Ok(());
                }
                if line == b".\r\n" {
                    break;
                }
                let content = if line.starts_with(b".") {
                    &line[1..]
                } else {
                    &line[..]
                };
                data.extend_from_slice(content);
            }
            let once = b.data_reply_once.as_ref().and_then(|(needle, code)| {
                (current.mail_from.contains(needle.as_str())
                    && !shared.data_reply_once_used.swap(true, Ordering::SeqCst))
                .then_some(*code)
            });
            let code = match once {
                Some(code) => code,
                None if b.data_reply == 0 => 250,
                None => b.data_reply,
            };
            if code == 250 {
                current.data = data;
                if let Ok(mut m) = shared.messages.lock() {
                    m.push(current.clone());
                }
            }
            current = SinkMessage {
                connection: id,
                ..SinkMessage::default()
            };
            (mail_ok, current_accepted) = (false, false);
            transactions += 1;
            first_of_transaction = true;
            format!("{code} {}.0.0 data\r\n", code / 100)
        } else if upper == "RSET" {
            current = SinkMessage {
                connection: id,
                ..SinkMessage::default()
            };
            (mail_ok, current_accepted) = (false, false);
            transactions += 1;
            first_of_transaction = true;
            "250 2.0.0 Ok\r\n".into()
        } else if upper == "QUIT" {
            w.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 Error: command not recognized\r\n".into()
        };
        w.write_all(reply.as_bytes()).await?;
    }
}
