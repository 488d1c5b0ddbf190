//! The admin socket server run by `mailwacht serve`: a unix socket, JSON lines, one request → one response.
//!
//! Access control is the socket file itself: mode 0660, owned by the daemon's user and (with `[admin] group`)
//! the reviewers' group. The peer's uid (SO_PEERCRED) is what the audit log records. Must not: log request
//! reasons, content or file names (they may describe the mail).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{info, warn};

use super::{Request, Response, Service};

/// Longest request line (requests are small; a reason is a sentence).
const REQUEST_MAX: usize = 64 * 1024;

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("admin socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("admin socket {path}: group {group:?} does not exist")]
    NoGroup { path: String, group: String },
}

/// Bind the admin socket at `path`: a stale socket file (left by a killed daemon) is removed, any other
/// file there is refused; the socket gets mode 0660 and, with `group`, that group.
pub fn bind(path: &Path, group: Option<&str>) -> Result<UnixListener, SocketError> {
    let err = |source| SocketError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path).map_err(err)?,
        Ok(_) => {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way",
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
    if let Some(group) = group {
        let gid = group_id(group).ok_or_else(|| SocketError::NoGroup {
            path: path.display().to_string(),
            group: group.to_string(),
        })?;
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(err)?;
        // The group also needs to reach the socket: its directory must be traversable (x) for them.
        let parent_mode = path
            .parent()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if parent_mode & 0o011 == 0 {
            warn!(
                group,
                "the admin socket's directory is not traversable for the group; put the socket in a \
                 directory with mode 0751 (e.g. /run/mailwacht with RuntimeDirectoryMode=0751)"
            );
        }
    }
    Ok(listener)
}

/// The gid of a group name (getgrnam_r).
fn group_id(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers point to live, correctly sized buffers for the duration of the call.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
}

/// Serve requests until `shutdown` completes.
pub async fn serve(
    listener: UnixListener,
    service: Arc<Service>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let service = service.clone();
                    tokio::spawn(async move { connection(stream, service).await });
                }
                Err(e) => {
                    warn!(error = %e, "admin socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}

async fn connection(stream: UnixStream, service: Arc<Service>) {
    let uid = match stream.peer_cred() {
        Ok(cred) => cred.uid(),
        Err(e) => {
            warn!(error = %e, "admin socket: cannot read peer credentials; closing");
            return;
        }
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match (&mut reader)
            .take(REQUEST_MAX as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(n) => n,
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        let response = if line.len() > REQUEST_MAX {
            Response::Error {
                message: format!("request longer than {REQUEST_MAX} bytes"),
            }
        } else {
            match serde_json::from_slice::<Request>(&line) {
                Ok(request) => {
                    let action = action_name(&request);
                    let response = service.handle(uid, request, SystemTime::now()).await;
                    let ok = !matches!(response, Response::Error { .. });
                    info!(uid, action, ok, "admin request");
                    response
                }
                Err(e) => Response::Error {
                    message: format!("bad request: {e}"),
                },
            }
        };
        let mut out = serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec());
        out.push(b'\n');
        if write.write_all(&out).await.is_err() {
            return;
        }
        if line.len() > REQUEST_MAX {
            return;
        }
    }
}

fn action_name(request: &Request) -> &'static str {
    match request {
        Request::List { .. } => "list",
        Request::Show { raw: true, .. } => "show-raw",
        Request::Show { .. } => "show",
        Request::Release { .. } => "release",
        Request::Export { .. } => "export",
        Request::Delete { .. } => "delete",
        Request::AuditList => "audit-list",
        Request::Traffic(t) => match t {
            crate::admin::TrafficRequest::Summary { .. } => "traffic-summary",
            crate::admin::TrafficRequest::InquiryOpen { .. } => "inquiry-open",
            crate::admin::TrafficRequest::InquiryReport { .. } => "inquiry-report",
            crate::admin::TrafficRequest::InquiryClose { .. } => "inquiry-close",
            crate::admin::TrafficRequest::InquiryNotified { .. } => "inquiry-notified",
            crate::admin::TrafficRequest::InquiryList => "inquiry-list",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quarantine::Store;

    #[test]
    fn bind_replaces_a_stale_socket_refuses_other_files_and_sets_0660() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("admin.sock");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async {
            // A socket left behind by a killed daemon.
            drop(std::os::unix::net::UnixListener::bind(&path).expect("stale"));
            let _listener = bind(&path, None).expect("bind over stale socket");
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o660);
            let file = tmp.path().join("not-a-socket");
            std::fs::write(&file, b"keep").expect("write");
            assert!(bind(&file, None).is_err());
            assert_eq!(std::fs::read(&file).expect("read"), b"keep");
            assert!(matches!(
                bind(&tmp.path().join("b.sock"), Some("no-such-group-mailwacht")),
                Err(SocketError::NoGroup { .. })
            ));
        });
    }

    #[tokio::test]
    async fn json_lines_bad_requests_get_errors_and_the_connection_goes_on() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(tmp.path()).expect("store");
        let audit = super::super::AuditLog::open(tmp.path().join("audit.log")).expect("audit");
        let service = Arc::new(Service::new(
            store,
            audit,
            crate::smtp::NextHopSettings::default(),
            crate::message::Limits::default(),
        ));
        let path = tmp.path().join("admin.sock");
        let listener = bind(&path, None).expect("bind");
        tokio::spawn(serve(listener, service, std::future::pending()));
        let stream = UnixStream::connect(&path).await.expect("connect");
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let cases = [
            ("not json\n", "error"),
            ("{\"request\":\"format-disk\"}\n", "error"),
            ("{\"request\":\"list\",\"since\":null}\n", "entries"),
            (
                "{\"request\":\"show\",\"id\":\"../../etc/shadow\",\"raw\":true,\"reason\":\"x\"}\n",
                "error",
            ),
            ("{\"request\":\"audit-list\"}\n", "audit"),
        ];
        for (request, want) in cases {
            write.write_all(request.as_bytes()).await.expect("write");
            let line = lines.next_line().await.expect("read").expect("a line");
            let v: serde_json::Value = serde_json::from_str(&line).expect("json");
            assert_eq!(v["response"], want, "{request} → {line}");
        }
        // Through the client too.
        let r = super::super::client::request(&path, &Request::List { since: Some(0) })
            .await
            .expect("client");
        assert_eq!(r, Some(Response::Entries { entries: vec![] }));
        assert_eq!(
            super::super::client::request(&tmp.path().join("none.sock"), &Request::AuditList)
                .await
                .expect("no daemon is not an error"),
            None
        );
    }
}
