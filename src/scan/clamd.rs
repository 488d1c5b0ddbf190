//! The clamd backend: ClamAV's daemon, the production scanner, spoken to with `zINSTREAM`.
//!
//! Protocol (clamd(8), "INSTREAM"): send `zINSTREAM\0`, then the content as chunks, each a 4-byte big-endian
//! length followed by that many bytes, then a zero length; clamd answers one NUL-terminated line:
//! `stream: OK`, `stream: <signature> FOUND`, or a line ending in `ERROR`
//! (`INSTREAM size limit exceeded. ERROR`). The three are three different outcomes here: clean, infected,
//! and a [`ScanError`] — an error is never clean and never infected (the `clamav-client` crate's `clean()`
//! counts the size-limit `ERROR` as infected, so the reply is parsed here).
//!
//! **Size.** clamd refuses streams longer than its `StreamMaxLength` (default 25 MiB). `max_stream` must be set
//! to the same value. A message that fits is sent whole (location `message`). A larger message is not sent
//! whole: instead every attachment and every decoded text part is sent on its own (location `part N`), which
//! works when each of them fits; if any single part is larger than `max_stream`, the scan is a
//! [`ScanError`] (so by default the message is deferred with `451 4.7.0`, never passed as clean).
//!
//! Timeouts: connecting, and the whole exchange for one stream, are each bounded by `timeout`
//! (`tokio::time::timeout`; clamd itself may hang on a busy or broken database).
//!
//! Must not: log content, file names or signature-carrying bytes; treat anything it cannot parse as clean.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Detection, ScanError, ScanOutcome, Scanner};
use crate::message::{Analysis, TextOrigin};
use crate::util::BoxFuture;

/// Bytes per INSTREAM chunk (clamd reads chunks of any size up to StreamMaxLength; 64 KiB keeps memory flat).
const CHUNK: usize = 64 * 1024;
/// Longest reply accepted from clamd (a reply is one short line).
const REPLY_MAX: usize = 4096;
/// Longest signature name accepted (ClamAV names are well under 200 characters).
const NAME_MAX: usize = 256;
/// clamd's default `StreamMaxLength`.
pub const DEFAULT_MAX_STREAM: u64 = 25 * 1024 * 1024;

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddr {
    /// `host:port`, e.g. `127.0.0.1:3310`.
    Tcp(String),
    /// `unix:/run/clamav/clamd.ctl`.
    Unix(PathBuf),
}

/// A clamd address that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("clamd address {0:?} is neither host:port nor unix:/path")]
pub struct ClamdAddrError(pub String);

impl ClamdAddr {
    /// Parse `host:port` or `unix:/absolute/path`.
    pub fn parse(text: &str) -> Result<ClamdAddr, ClamdAddrError> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("unix:") {
            if path.starts_with('/') {
                return Ok(ClamdAddr::Unix(PathBuf::from(path)));
            }
            return Err(ClamdAddrError(text.to_string()));
        }
        match text.rsplit_once(':') {
            Some((host, port))
                if !host.is_empty()
                    && !host.contains(char::is_whitespace)
                    && port.parse::<u16>().is_ok_and(|p| p > 0) =>
            {
                Ok(ClamdAddr::Tcp(text.to_string()))
            }
            _ => Err(ClamdAddrError(text.to_string())),
        }
    }
}

impl std::fmt::Display for ClamdAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClamdAddr::Tcp(a) => f.write_str(a),
            ClamdAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// What clamd said about one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdReply {
    /// `stream: OK`
    Clean,
    /// `stream: <name> FOUND`
    Found(String),
    /// A line ending in `ERROR`, or anything not understood: the reply, cleaned for logging.
    Error(String),
}

/// Parse one clamd reply exactly. Pure.
pub fn parse_reply(reply: &[u8]) -> ClamdReply {
    let text = String::from_utf8_lossy(reply);
    let line = text.trim_end_matches(['\0', '\n', '\r']).trim();
    let printable = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .take(200)
            .collect()
    };
    if line.ends_with("ERROR") {
        return ClamdReply::Error(printable(line));
    }
    let Some(rest) = line.strip_prefix("stream: ") else {
        return ClamdReply::Error(format!("unexpected reply {:?}", printable(line)));
    };
    if rest == "OK" {
        return ClamdReply::Clean;
    }
    if let Some(name) = rest.strip_suffix(" FOUND") {
        let name = name.trim();
        if !name.is_empty()
            && name.len() <= NAME_MAX
            && name.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        {
            return ClamdReply::Found(name.to_string());
        }
    }
    ClamdReply::Error(format!("unexpected reply {:?}", printable(line)))
}

/// Write one INSTREAM request for `data` and read the reply (up to NUL or end of stream). Generic over the
/// socket so TCP and unix sockets share it.
async fn instream<S>(stream: &mut S, data: &[u8]) -> std::io::Result<Vec<u8>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let written = async {
        stream.write_all(b"zINSTREAM\0").await?;
        for chunk in data.chunks(CHUNK) {
            // chunks(CHUNK) never exceeds u32.
            let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            stream.write_all(&len.to_be_bytes()).await?;
            stream.write_all(chunk).await?;
        }
        stream.write_all(&0u32.to_be_bytes()).await?;
        stream.flush().await
    }
    .await;
    // clamd answers "INSTREAM size limit exceeded. ERROR" and closes while we are still writing: read the
    // reply even when writing failed, and report the write error only when there is no reply.
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            Err(e) if reply.is_empty() => return Err(written.err().unwrap_or(e)),
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        let part = buf.get(..n).unwrap_or_default();
        if let Some(end) = part.iter().position(|&b| b == 0) {
            reply.extend_from_slice(part.get(..end).unwrap_or_default());
            break;
        }
        reply.extend_from_slice(part);
        if reply.len() > REPLY_MAX {
            break;
        }
    }
    if reply.is_empty() {
        written?;
    }
    Ok(reply)
}

/// The clamd scanner (see the module docs).
#[derive(Debug, Clone)]
pub struct ClamdScanner {
    /// Where clamd listens.
    addr: ClamdAddr,
    /// Bound on connecting, and on each stream's whole exchange.
    timeout: Duration,
    /// clamd's StreamMaxLength: nothing longer is ever sent.
    max_stream: u64,
}

impl ClamdScanner {
    /// A scanner for clamd at `addr`.
    pub fn new(addr: ClamdAddr, timeout: Duration, max_stream: u64) -> ClamdScanner {
        ClamdScanner {
            addr,
            timeout,
            max_stream,
        }
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> ScanError {
        ScanError::Unreachable {
            scanner: format!("clamd at {}", self.addr),
            reason: reason.to_string(),
        }
    }

    fn timed_out(&self) -> ScanError {
        ScanError::Timeout {
            scanner: format!("clamd at {}", self.addr),
            seconds: self.timeout.as_secs(),
        }
    }

    fn failed(&self, reason: impl std::fmt::Display) -> ScanError {
        ScanError::Failed {
            scanner: format!("clamd at {}", self.addr),
            reason: reason.to_string(),
        }
    }

    /// Scan one stream on a new connection.
    pub async fn scan_bytes(&self, data: &[u8]) -> Result<ClamdReply, ScanError> {
        if data.len() as u64 > self.max_stream {
            return Err(self.failed(format!(
                "{} bytes exceed max_stream {}",
                data.len(),
                self.max_stream
            )));
        }
        let reply = match &self.addr {
            ClamdAddr::Tcp(addr) => {
                let mut s =
                    tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr))
                        .await
                        .map_err(|_| self.timed_out())?
                        .map_err(|e| self.unreachable(e))?;
                tokio::time::timeout(self.timeout, instream(&mut s, data)).await
            }
            ClamdAddr::Unix(path) => {
                let mut s =
                    tokio::time::timeout(self.timeout, tokio::net::UnixStream::connect(path))
                        .await
                        .map_err(|_| self.timed_out())?
                        .map_err(|e| self.unreachable(e))?;
                tokio::time::timeout(self.timeout, instream(&mut s, data)).await
            }
        };
        let reply = reply
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.failed(e))?;
        Ok(parse_reply(&reply))
    }

    /// The pieces to send: the whole message when it fits, else every attachment and text part on its own.
    fn pieces<'a>(
        &self,
        raw: &'a [u8],
        analysis: &'a Analysis,
    ) -> Result<Vec<(String, &'a [u8])>, ScanError> {
        if raw.len() as u64 <= self.max_stream {
            return Ok(vec![("message".to_string(), raw)]);
        }
        let mut pieces = Vec::new();
        for a in &analysis.attachments {
            pieces.push((format!("part {}", a.part), a.data.as_slice()));
        }
        for t in &analysis.texts {
            if let TextOrigin::Body { part } | TextOrigin::Html { part } = t.origin {
                pieces.push((format!("part {part}"), t.text.as_bytes()));
            }
        }
        if let Some((location, big)) = pieces
            .iter()
            .find(|(_, d)| d.len() as u64 > self.max_stream)
        {
            return Err(self.failed(format!(
                "message of {} bytes and its {location} of {} bytes exceed max_stream {}",
                raw.len(),
                big.len(),
                self.max_stream
            )));
        }
        Ok(pieces)
    }
}

impl Scanner for ClamdScanner {
    fn name(&self) -> &str {
        "clamd"
    }

    fn scan<'a>(
        &'a self,
        raw: &'a [u8],
        analysis: &'a Analysis,
    ) -> BoxFuture<'a, Result<ScanOutcome, ScanError>> {
        Box::pin(async move {
            let mut detections = Vec::new();
            for (location, data) in self.pieces(raw, analysis)? {
                match self.scan_bytes(data).await? {
                    ClamdReply::Clean => {}
                    ClamdReply::Found(name) => detections.push(Detection { name, location }),
                    ClamdReply::Error(reason) => return Err(self.failed(reason)),
                }
            }
            Ok(if detections.is_empty() {
                ScanOutcome::Clean
            } else {
                ScanOutcome::Infected(detections)
            })
        })
    }
}

#[cfg(test)]
mod tests;
