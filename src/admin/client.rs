//! The CLI side of the admin socket: send one [`Request`], read one [`Response`].
//!
//! "No daemon" (no socket file, or nobody listening: a daemon that was killed) is `Ok(None)`, and the CLI
//! then works offline; any other failure (e.g. permission denied: not in the reviewers' group) is an error,
//! never a silent fallback.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::{Request, Response};

/// Talking to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("admin socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("admin socket {path}: the daemon sent an unreadable answer: {message}")]
    Answer { path: String, message: String },
}

/// Send `request` to the daemon at `socket`; `Ok(None)` when no daemon is there.
pub async fn request(socket: &Path, request: &Request) -> Result<Option<Response>, ClientError> {
    let err = |source| ClientError::Io {
        path: socket.display().to_string(),
        source,
    };
    let stream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(err(e)),
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(request).map_err(|e| err(std::io::Error::other(e)))?;
    line.push(b'\n');
    write.write_all(&line).await.map_err(err)?;
    let mut answer = Vec::new();
    BufReader::new(read)
        .read_until(b'\n', &mut answer)
        .await
        .map_err(err)?;
    serde_json::from_slice(&answer)
        .map(Some)
        .map_err(|e| ClientError::Answer {
            path: socket.display().to_string(),
            message: e.to_string(),
        })
}
