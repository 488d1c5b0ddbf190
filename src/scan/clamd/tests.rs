//! Tests of the clamd backend against a test clamd: a tokio listener speaking the real INSTREAM protocol
//! (command, big-endian chunk lengths, zero terminator, NUL-terminated reply), so framing mistakes fail here.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::message::{analyse, Limits};

/// How the test clamd behaves.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Answer `FOUND` when the stream contains `EVIL-MARKER`, else `OK` (as clamd with one signature would).
    Signatures { stream_max: usize },
    /// Accept, read the command, never answer.
    Hang,
    /// Answer this line whatever comes.
    Fixed(&'static str),
}

/// A test clamd on a free port; records every stream it received whole.
struct TestClamd {
    addr: String,
    streams: Arc<Mutex<Vec<Vec<u8>>>>,
}

const MARKER: &[u8] = b"EVIL-MARKER";

impl TestClamd {
    async fn start(mode: Mode) -> TestClamd {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let streams = Arc::new(Mutex::new(Vec::new()));
        let seen = streams.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut cmd = [0u8; 10];
                    if sock.read_exact(&mut cmd).await.is_err() {
                        return;
                    }
                    if &cmd != b"zINSTREAM\0" {
                        let _ = sock.write_all(b"UNKNOWN COMMAND\0").await;
                        return;
                    }
                    let stream_max = match mode {
                        Mode::Hang => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        Mode::Fixed(line) => {
                            let _ = sock.write_all(line.as_bytes()).await;
                            let _ = sock.write_all(b"\0").await;
                            return;
                        }
                        Mode::Signatures { stream_max } => stream_max,
                    };
                    let mut data = Vec::new();
                    loop {
                        let mut len = [0u8; 4];
                        if sock.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let len = u32::from_be_bytes(len) as usize;
                        if len == 0 {
                            break;
                        }
                        if data.len() + len > stream_max {
                            let _ = sock
                                .write_all(b"INSTREAM size limit exceeded. ERROR\0")
                                .await;
                            return;
                        }
                        let mut chunk = vec![0u8; len];
                        if sock.read_exact(&mut chunk).await.is_err() {
                            return;
                        }
                        data.extend_from_slice(&chunk);
                    }
                    let found = data.windows(MARKER.len()).any(|w| w == MARKER);
                    seen.lock().expect("lock").push(data);
                    let reply: &[u8] = if found {
                        b"stream: Test.Marker-1 FOUND\0"
                    } else {
                        b"stream: OK\0"
                    };
                    let _ = sock.write_all(reply).await;
                });
            }
        });
        TestClamd { addr, streams }
    }

    fn scanner(&self, max_stream: u64) -> ClamdScanner {
        ClamdScanner::new(
            ClamdAddr::Tcp(self.addr.clone()),
            Duration::from_secs(2),
            max_stream,
        )
    }
}

fn mail_with_attachment(body: &str, attachment: &[u8]) -> Vec<u8> {
    use std::fmt::Write;
    let mut b64 = String::new();
    // A tiny base64 encoder keeps the test independent of the crate's decoders.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (i, c) in attachment.chunks(3).enumerate() {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                b64.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
        if i % 19 == 18 {
            b64.push_str("\r\n");
        }
    }
    let mut m = String::new();
    let _ = write!(
        m,
        "From: a@school.example\r\nTo: b@example.org\r\nSubject: t\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n{body}\r\n\
         --XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--XX--\r\n"
    );
    m.into_bytes()
}

#[test]
fn replies_are_parsed_exactly() {
    let cases: &[(&[u8], ClamdReply)] = &[
        (b"stream: OK\0", ClamdReply::Clean),
        (b"stream: OK\n", ClamdReply::Clean),
        (
            b"stream: Eicar-Test-Signature FOUND\0",
            ClamdReply::Found("Eicar-Test-Signature".into()),
        ),
        (
            b"stream: Win.Test.EICAR_HDB-1 FOUND",
            ClamdReply::Found("Win.Test.EICAR_HDB-1".into()),
        ),
        (
            b"INSTREAM size limit exceeded. ERROR\0",
            ClamdReply::Error("INSTREAM size limit exceeded. ERROR".into()),
        ),
        (
            b"stream: Can't allocate memory ERROR\0",
            ClamdReply::Error("stream: Can't allocate memory ERROR".into()),
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(
            &parse_reply(raw),
            want,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
    // Unparseable replies are errors, never clean or infected.
    for raw in [
        &b""[..],
        b"OK",
        b"stream: ",
        b"stream:  FOUND",
        b"stream: FOUND",
        b"UNKNOWN COMMAND",
        b"stream: OKAY",
        b"1: stream: OK",
        b"stream: bad\x01name FOUND",
    ] {
        assert!(
            matches!(parse_reply(raw), ClamdReply::Error(_)),
            "{:?} parsed as {:?}",
            String::from_utf8_lossy(raw),
            parse_reply(raw)
        );
    }
}

#[test]
fn addresses_parse() {
    assert_eq!(
        ClamdAddr::parse("127.0.0.1:3310"),
        Ok(ClamdAddr::Tcp("127.0.0.1:3310".into()))
    );
    assert_eq!(
        ClamdAddr::parse("unix:/run/clamav/clamd.ctl"),
        Ok(ClamdAddr::Unix("/run/clamav/clamd.ctl".into()))
    );
    for bad in ["", "3310", "unix:relative", "host:0", "host:99999", "a b:1"] {
        assert!(ClamdAddr::parse(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn clean_and_infected_messages_over_tcp_with_real_framing() {
    let clamd = TestClamd::start(Mode::Signatures {
        stream_max: 1 << 20,
    })
    .await;
    let scanner = clamd.scanner(1 << 20);
    let limits = Limits::default();
    // Larger than one chunk, so several length-prefixed chunks are needed.
    let clean = mail_with_attachment("hallo", &vec![b'a'; 150_000]);
    let out = scanner
        .scan(&clean, &analyse(&clean, &limits))
        .await
        .expect("scan");
    assert_eq!(out, ScanOutcome::Clean);
    // The test clamd does not decode MIME (real clamd does): put the marker where it is visible raw.
    let infected = mail_with_attachment("hallo EVIL-MARKER", &vec![b'b'; 100_000]);
    let out = scanner
        .scan(&infected, &analyse(&infected, &limits))
        .await
        .expect("scan");
    assert_eq!(
        out,
        ScanOutcome::Infected(vec![Detection {
            name: "Test.Marker-1".into(),
            location: "message".into()
        }])
    );
    // The test clamd received exactly the bytes of each message.
    let streams = clamd.streams.lock().expect("lock").clone();
    assert_eq!(streams, vec![clean, infected]);
}

#[tokio::test]
async fn unix_socket_works() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("clamd.ctl");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind");
    tokio::spawn(async move {
        if let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 10 + 4 + 5 + 4];
            if sock.read_exact(&mut buf).await.is_ok() && buf.ends_with(&[0, 0, 0, 0]) {
                let _ = sock.write_all(b"stream: OK\0").await;
            }
        }
    });
    let scanner = ClamdScanner::new(ClamdAddr::Unix(path), Duration::from_secs(2), 100);
    assert_eq!(
        scanner.scan_bytes(b"hello").await.expect("scan"),
        ClamdReply::Clean
    );
}

#[tokio::test]
async fn large_message_is_scanned_part_by_part_when_each_fits() {
    // clamd's limit is 60 000 bytes; the message is bigger, each part is smaller.
    let clamd = TestClamd::start(Mode::Signatures { stream_max: 60_000 }).await;
    let scanner = clamd.scanner(60_000);
    let mut att = vec![b'c'; 40_000];
    att.extend_from_slice(MARKER);
    let body = "x".repeat(30_000);
    let raw = mail_with_attachment(&body, &att);
    assert!(raw.len() > 60_000);
    let analysis = analyse(&raw, &Limits::default());
    let out = scanner.scan(&raw, &analysis).await.expect("scan");
    let part = analysis.attachments[0].part;
    assert_eq!(
        out,
        ScanOutcome::Infected(vec![Detection {
            name: "Test.Marker-1".into(),
            location: format!("part {part}"),
        }])
    );
    let streams = clamd.streams.lock().expect("lock").clone();
    assert_eq!(streams.len(), 2, "attachment and text part, each alone");
    assert!(streams.iter().all(|s| s.len() <= 60_000));
}

#[tokio::test]
async fn a_part_larger_than_max_stream_is_an_error_not_clean() {
    let clamd = TestClamd::start(Mode::Signatures { stream_max: 10_000 }).await;
    let scanner = clamd.scanner(10_000);
    let raw = mail_with_attachment("hallo", &vec![b'd'; 20_000]);
    let err = scanner
        .scan(&raw, &analyse(&raw, &Limits::default()))
        .await
        .expect_err("too big");
    assert!(matches!(err, ScanError::Failed { .. }), "{err}");
    assert!(
        clamd.streams.lock().expect("lock").is_empty(),
        "nothing sent"
    );
}

#[tokio::test]
async fn size_limit_error_from_clamd_is_a_scan_error() {
    // Misconfigured: mailwacht thinks clamd takes 1 MiB, clamd takes 1000 bytes.
    let clamd = TestClamd::start(Mode::Signatures { stream_max: 1000 }).await;
    let scanner = clamd.scanner(1 << 20);
    let raw = mail_with_attachment("hallo", &vec![b'e'; 5000]);
    let err = scanner
        .scan(&raw, &analyse(&raw, &Limits::default()))
        .await
        .expect_err("size limit");
    let text = err.to_string();
    assert!(
        matches!(err, ScanError::Failed { .. }) && text.contains("size limit exceeded"),
        "{text}"
    );
}

#[tokio::test]
async fn odd_replies_are_scan_errors() {
    for line in ["UNKNOWN COMMAND", "stream: Something weird", ""] {
        let clamd = TestClamd::start(Mode::Fixed(line)).await;
        let err = clamd
            .scanner(1000)
            .scan_bytes(b"x")
            .await
            .map(|r| matches!(r, ClamdReply::Error(_)));
        assert!(
            matches!(err, Ok(true) | Err(ScanError::Failed { .. })),
            "{line:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn hanging_clamd_times_out() {
    let clamd = TestClamd::start(Mode::Hang).await;
    let scanner = ClamdScanner::new(
        ClamdAddr::Tcp(clamd.addr.clone()),
        Duration::from_millis(300),
        1000,
    );
    let started = std::time::Instant::now();
    let err = scanner
        .scan(b"x", &Analysis::default())
        .await
        .expect_err("timeout");
    assert!(matches!(err, ScanError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn refused_connection_is_unreachable() {
    // Bind and drop to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let scanner = ClamdScanner::new(
        ClamdAddr::Tcp(format!("127.0.0.1:{port}")),
        Duration::from_secs(2),
        1000,
    );
    let err = scanner
        .scan(b"x", &Analysis::default())
        .await
        .expect_err("refused");
    assert!(matches!(err, ScanError::Unreachable { .. }), "{err}");
}

proptest::proptest! {
    /// Arbitrary replies never panic, and only the exact OK line is clean.
    #[test]
    fn arbitrary_replies_are_never_clean_by_accident(reply in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let parsed = parse_reply(&reply);
        if parsed == ClamdReply::Clean {
            let text = String::from_utf8_lossy(&reply);
            proptest::prop_assert_eq!(text.trim_end_matches(['\0', '\n', '\r']).trim(), "stream: OK");
        }
    }
}
