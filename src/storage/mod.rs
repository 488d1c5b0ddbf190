//! The data directory's files: owner-only whatever the umask, who owns them, and what a store that cannot
//! be opened means.
//!
//! Everything under `[storage] data_dir` (quarantine files and index, traffic database, audit log) is
//! created owner-only: directories 0700, files 0600. Where mailwacht creates a file it passes the
//! mode itself; what sled creates follows the process umask, which `serve` and the CLI set to `0o077` first
//! thing ([`restrict_umask`]).
//!
//! A store that cannot be opened is in one of four states ([`OpenFailure`]), handled differently: in use by
//! another process, not ours (permission denied), out of a resource (disk full, read-only), or damaged. Only
//! damage may be answered by moving the store aside ([`move_aside`]); which stores may be is the caller's
//! choice. A permission problem is explained with the owner and the fix ([`permission_problem`]).
//!
//! Which engine holds the stores is [`Backend`]: the embedded one (sled and files in the data directory, one
//! node) or PostgreSQL ([`postgres`], shared by several nodes).
//!
//! Must not: remove anything, or decide which store is expendable.

pub mod postgres;

use std::collections::VecDeque;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `[storage] backend`: which engine holds the stores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// sled and files in `[storage] data_dir`: one node, no database (the default).
    #[default]
    Embedded,
    /// PostgreSQL at `[storage] url`, shared by several nodes.
    Postgres,
}

/// Make every file and directory this process creates owner-only, whatever umask it was started with.
pub fn restrict_umask() {
    // SAFETY: umask has no preconditions and cannot fail; it only sets the process's creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// Create `dir` (and parents) with owner-only permissions.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Replace `path` with `bytes` so that a reader sees the old or the new file, never half of one, also after
/// a crash: write a temporary file beside it (mode 0600) → fsync → rename over `path` → fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

/// Why a store could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFailure {
    /// Another process holds it (a second daemon, or the offline CLI).
    Locked,
    /// Owned by another user (or a mode that shuts us out).
    Permission,
    /// The machine, not the store: disk or quota full, read-only file system, out of memory or descriptors.
    Resource,
    /// Anything else: the store's files do not make a database (garbage, a file where a directory belongs,
    /// a layout this version cannot read).
    Damaged,
}

/// Classify an I/O error met while opening a store.
pub fn classify_io(e: &std::io::Error) -> OpenFailure {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::WouldBlock => OpenFailure::Locked,
        K::PermissionDenied => OpenFailure::Permission,
        K::StorageFull | K::ReadOnlyFilesystem | K::QuotaExceeded | K::OutOfMemory => {
            OpenFailure::Resource
        }
        _ if matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM)
        ) =>
        {
            OpenFailure::Resource
        }
        _ => OpenFailure::Damaged,
    }
}

/// Classify a sled error met while opening a store. sled reports a held lock as an I/O error whose text
/// names the lock.
pub fn classify_sled(e: &sled::Error) -> OpenFailure {
    match e {
        sled::Error::Io(io) if io.to_string().contains("lock") => OpenFailure::Locked,
        sled::Error::Io(io) => classify_io(io),
        _ => OpenFailure::Damaged,
    }
}

/// Move a damaged store aside as `<name>.damaged-<seconds>` (a number is added when that exists too), so
/// it stays for forensics and a fresh one can be created in its place. Returns where it went.
pub fn move_aside(path: &Path, now: SystemTime) -> std::io::Result<PathBuf> {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for n in 0..100u32 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let aside = path.with_file_name(format!("{name}.damaged-{secs}{suffix}"));
        if std::fs::symlink_metadata(&aside).is_err() {
            std::fs::rename(path, &aside)?;
            return Ok(aside);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "too many damaged copies",
    ))
}

/// Delete the copies of `store` (e.g. `traffic.sled`) that [`move_aside`] made in `data_dir` more than
/// `retention_days` before `now`: what they hold is no older than the store's own retention allowed when
/// they were moved, so they go when it would have. Returns what was deleted.
pub fn purge_damaged(
    data_dir: &Path,
    store: &str,
    now: SystemTime,
    retention_days: u64,
) -> std::io::Result<Vec<PathBuf>> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let prefix = format!("{store}.damaged-");
    let mut purged = Vec::new();
    for item in std::fs::read_dir(data_dir)? {
        let item = item?;
        let name = item.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let Ok(moved) = rest.split('-').next().unwrap_or_default().parse::<u64>() else {
            continue;
        };
        if moved.saturating_add(retention_days.saturating_mul(86_400)) <= now {
            let path = item.path();
            if item.file_type()?.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
            purged.push(path);
        }
    }
    Ok(purged)
}

/// True when an error, or any error it was caused by, is a permission error (EACCES, EPERM), also when
/// sled reports it.
pub fn is_permission_denied(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied {
                return true;
            }
        }
        if let Some(sled::Error::Io(io)) = e.downcast_ref::<sled::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied {
                return true;
            }
        }
        next = e.source();
    }
    false
}

/// A file in the data directory this process cannot use because another user owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionProblem {
    /// The first such file or directory found (the data directory itself when it is not ours).
    pub path: PathBuf,
    /// Its owner.
    pub owner: u32,
    /// Who we run as (effective uid and gid).
    pub uid: u32,
    pub gid: u32,
    /// The directory to give back to us (the data directory, or the key directory), for the fix.
    pub dir: PathBuf,
}

impl std::fmt::Display for PermissionProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "permission denied: {} is owned by uid {}, mailwacht runs as uid {} \
             (fix: chown -R {}:{} {})",
            self.path.display(),
            self.owner,
            self.uid,
            self.uid,
            self.gid,
            self.dir.display()
        )
    }
}

/// How many entries [`permission_problem`] looks at before it gives up (the quarantine may be large).
const SCAN_LIMIT: usize = 100_000;

/// Find the file in `dir` (a data or key directory) that keeps a process running as `uid`/`gid` out: `dir`
/// itself or its shallowest entry owned by another user. `None` when everything is `uid`'s (or `dir` cannot
/// be seen at all: then the raw error has to do).
pub fn permission_problem(dir: &Path, uid: u32, gid: u32) -> Option<PermissionProblem> {
    let problem = |path: PathBuf, owner| PermissionProblem {
        path,
        owner,
        uid,
        gid,
        dir: dir.to_path_buf(),
    };
    let meta = std::fs::symlink_metadata(dir).ok()?;
    if meta.uid() != uid {
        return Some(problem(dir.to_path_buf(), meta.uid()));
    }
    // Breadth first: the shallowest foreign file is the one to name.
    let mut queue = VecDeque::from([dir.to_path_buf()]);
    let mut seen = 0;
    while let Some(dir) = queue.pop_front() {
        let Ok(items) = std::fs::read_dir(&dir) else {
            continue;
        };
        for item in items.flatten() {
            seen += 1;
            if seen > SCAN_LIMIT {
                return None;
            }
            let Ok(meta) = item.metadata() else { continue };
            if meta.uid() != uid {
                return Some(problem(item.path(), meta.uid()));
            }
            if meta.is_dir() {
                queue.push_back(item.path());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        use std::io::{Error, ErrorKind};
        assert_eq!(
            classify_io(&Error::from(ErrorKind::PermissionDenied)),
            OpenFailure::Permission
        );
        assert_eq!(
            classify_io(&Error::from_raw_os_error(libc::EPERM)),
            OpenFailure::Permission
        );
        assert_eq!(
            classify_io(&Error::from_raw_os_error(libc::ENOSPC)),
            OpenFailure::Resource
        );
        assert_eq!(
            classify_io(&Error::from_raw_os_error(libc::EROFS)),
            OpenFailure::Resource
        );
        assert_eq!(
            classify_io(&Error::from_raw_os_error(libc::ENOTDIR)),
            OpenFailure::Damaged
        );
        assert_eq!(
            classify_sled(&sled::Error::Io(Error::other(
                "could not acquire lock on \"x/db\": WouldBlock"
            ))),
            OpenFailure::Locked
        );
        assert_eq!(
            classify_sled(&sled::Error::Corruption { at: None, bt: () }),
            OpenFailure::Damaged
        );
        assert_eq!(
            classify_sled(&sled::Error::Io(Error::from(ErrorKind::PermissionDenied))),
            OpenFailure::Permission
        );
    }

    #[test]
    fn permission_errors_are_found_in_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("opening x")]
        struct Outer(#[source] sled::Error);
        let denied = Outer(sled::Error::Io(std::io::Error::from(
            std::io::ErrorKind::PermissionDenied,
        )));
        assert!(is_permission_denied(&denied));
        let damaged = Outer(sled::Error::Corruption { at: None, bt: () });
        assert!(!is_permission_denied(&damaged));
    }

    #[test]
    fn moving_aside_never_replaces_an_earlier_copy() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = tmp.path().join("traffic.sled");
        let now = UNIX_EPOCH + std::time::Duration::from_secs(77);
        for round in 0..2 {
            std::fs::create_dir(&store).expect("mkdir");
            std::fs::write(store.join("db"), format!("round {round}")).expect("write");
            let aside = move_aside(&store, now).expect("aside");
            assert!(!store.exists());
            assert_eq!(
                std::fs::read_to_string(aside.join("db")).expect("read"),
                format!("round {round}")
            );
        }
        assert!(tmp.path().join("traffic.sled.damaged-77").is_dir());
        assert!(tmp.path().join("traffic.sled.damaged-77-1").is_dir());

        // Retention: 1 day after day 0 (+77 s) nothing goes; at 1 day + 77 s both copies go, the store and
        // other names stay.
        std::fs::create_dir(&store).expect("mkdir");
        std::fs::create_dir(tmp.path().join("quarantine.sled.damaged-10")).expect("mkdir");
        let at = |secs| UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let purged = purge_damaged(tmp.path(), "traffic.sled", at(86_400 + 76), 1).expect("purge");
        assert!(purged.is_empty());
        let purged = purge_damaged(tmp.path(), "traffic.sled", at(86_400 + 77), 1).expect("purge");
        assert_eq!(purged.len(), 2);
        assert!(store.is_dir());
        assert!(tmp.path().join("quarantine.sled.damaged-10").is_dir());
    }
}
