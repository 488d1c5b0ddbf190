//! A test clamd: a tokio listener speaking the real `zINSTREAM` protocol (command, big-endian chunk lengths,
//! zero terminator, NUL-terminated reply). It reports `FOUND` when the stream contains the EICAR marker.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the test clamd answers.
#[derive(Debug, Clone, Copy)]
pub enum ClamdBehaviour {
    /// `stream: Eicar-Test-Signature FOUND` when the stream contains the EICAR marker, else `stream: OK`.
    Signatures,
    /// `INSTREAM size limit exceeded. ERROR` once more than this many bytes arrived.
    SizeLimit(usize),
}

pub struct TestClamd {
    pub addr: SocketAddr,
    /// Streams scanned so far.
    pub scans: Arc<AtomicUsize>,
}

impl TestClamd {
    pub async fn start(behaviour: ClamdBehaviour) -> TestClamd {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let scans = Arc::new(AtomicUsize::new(0));
        let counter = scans.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut cmd = [0u8; 10];
                    if sock.read_exact(&mut cmd).await.is_err() || &cmd != b"zINSTREAM\0" {
                        let _ = sock.write_all(b"UNKNOWN COMMAND\0").await;
                        return;
                    }
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
                        if let ClamdBehaviour::SizeLimit(max) = behaviour {
                            if data.len() + len > max {
                                let _ = sock
                                    .write_all(b"INSTREAM size limit exceeded. ERROR\0")
                                    .await;
                                return;
                            }
                        }
                        let mut chunk = vec![0u8; len];
                        if sock.read_exact(&mut chunk).await.is_err() {
                            return;
                        }
                        data.extend_from_slice(&chunk);
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let marker = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE";
                    let reply: &[u8] = if data.windows(marker.len()).any(|w| w == marker) {
                        b"stream: Eicar-Test-Signature FOUND\0"
                    } else {
                        b"stream: OK\0"
                    };
                    let _ = sock.write_all(reply).await;
                });
            }
        });
        TestClamd { addr, scans }
    }

    pub fn scans(&self) -> usize {
        self.scans.load(Ordering::SeqCst)
    }
}
