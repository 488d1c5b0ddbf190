//! A plain SMTP client for tests: sends exactly the bytes it is told to and reads whole replies.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Every read in a test gives up after this long, so a broken server fails the test instead of hanging it.
const READ_LIMIT: Duration = Duration::from_secs(30);

pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// A reply: its code and its text lines joined with `\n`.
pub type Answer = (u16, String);

impl Client {
    /// Connect and read the greeting.
    pub async fn connect(addr: std::net::SocketAddr) -> (Client, Answer) {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to mailwacht");
        let (r, w) = stream.into_split();
        let mut client = Client {
            reader: BufReader::new(r),
            writer: w,
        };
        let greeting = client.reply().await;
        (client, greeting)
    }

    /// Connect, read the greeting and say EHLO; the reply must be `250` with every extension Postfix's
    /// SMTP client relies on.
    pub async fn connect_ehlo(addr: std::net::SocketAddr) -> Client {
        let (mut client, _) = Client::connect(addr).await;
        client.ehlo().await;
        client
    }

    /// Say EHLO; the reply must be `250` with PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES
    /// and XFORWARD.
    pub async fn ehlo(&mut self) {
        let (code, text) = self.command("EHLO postfix.school.example").await;
        assert_eq!(code, 250, "EHLO: {text}");
        for keyword in [
            "PIPELINING",
            "SIZE",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "XFORWARD",
        ] {
            assert!(text.contains(keyword), "EHLO lacks {keyword}: {text}");
        }
    }

    /// Write raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
        self.writer.flush().await.expect("flush");
    }

    /// Read one whole (possibly multi-line) reply.
    pub async fn reply(&mut self) -> Answer {
        let mut text = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(READ_LIMIT, self.reader.read_line(&mut line))
                .await
                .expect("reply in time")
                .expect("read reply");
            assert!(
                n > 0,
                "connection closed while waiting for a reply (got {text:?})"
            );
            let line = line.trim_end_matches(['\r', '\n']);
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("bad reply line {line:?}"));
            text.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return (code, text.join("\n"));
            }
        }
    }

    /// Send `bytes` one at a time, `every` apart (a slowloris client), until the server answers; returns
    /// that answer's first line as (code, text). Panics when all bytes were sent and nothing came.
    pub async fn trickle(&mut self, bytes: &[u8], every: Duration) -> Answer {
        let writer = &mut self.writer;
        let send = async {
            for byte in bytes {
                tokio::time::sleep(every).await;
                if writer.write_all(&[*byte]).await.is_err() {
                    break;
                }
            }
            // Everything sent (or the server closed): the answer must come within the read limit.
            tokio::time::sleep(READ_LIMIT).await;
        };
        let mut line = String::new();
        tokio::select! {
            () = send => panic!("no answer while trickling"),
            read = self.reader.read_line(&mut line) => {
                assert!(read.expect("read") > 0, "closed without an answer");
            }
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        (code, line.get(4..).unwrap_or("").to_string())
    }

    /// True when the server closed the connection (reads EOF within the read limit).
    pub async fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(
            tokio::time::timeout(READ_LIMIT, self.reader.read_line(&mut line)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    /// Send one command line and read its reply.
    pub async fn command(&mut self, line: &str) -> Answer {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// EHLO, then one whole transaction, one command at a time; returns the reply to the final dot.
    pub async fn deliver(&mut self, from: &str, rcpts: &[&str], data: &[u8]) -> Answer {
        let (code, _) = self.command(&format!("MAIL FROM:<{from}>")).await;
        assert_eq!(code, 250, "MAIL FROM");
        for rcpt in rcpts {
            let (code, _) = self.command(&format!("RCPT TO:<{rcpt}>")).await;
            assert_eq!(code, 250, "RCPT TO");
        }
        let (code, _) = self.command("DATA").await;
        assert_eq!(code, 354, "DATA");
        self.send(&dot_stuff(data)).await;
        self.reply().await
    }
}

/// Dot-stuff a message and add the final `.` line (RFC 5321 4.5.2).
pub fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut at_line_start = true;
    for &b in data {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}
