//! The notice memory: which notices were already handed to the next hop, so that a message Postfix sends
//! again does not cause a second one (issue 12 item 10).
//!
//! The case it exists for: the next hop refuses some recipients permanently, the sender is told, and then
//! delivery to the other recipients fails temporarily. mailwacht answers `451`, Postfix retries the whole
//! message — and without this memory every retry told the sender again. With it, the retry finds the notice
//! remembered, skips it, and only delivers. The other way round (deliver first, notify afterwards) cannot
//! keep the `250` contract: when the notice then fails, answering `451` delivers the message twice, and
//! answering `250` loses the notice.
//!
//! One file per remembered notice in `<data_dir>/notices/`, named by the hex SHA-256 of what identifies it
//! (the notice kind, the message bytes, the envelope, the recipients it is about), holding the time it was
//! written. Postfix sends the same queue file on every retry, so the key is the same; another message, or
//! another set of refused recipients, gets a new key. Entries older than the window (`[bounce]
//! remember_days`, Postfix's `maximal_queue_lifetime`, 5 days) count as absent and are swept away.
//!
//! Failure never touches mail: a memory that cannot be read counts as empty (the notice is sent, at worst a
//! second time), and one that cannot be written is logged by the caller and the message goes on. A
//! duplicate notice is a nuisance; a deferred or lost message is not acceptable for the sake of one.
//!
//! Each entry is written and fsynced with its directory before [`NoticeMemory::remember`] returns, so it
//! survives a crash or restart. It holds no address or content: only a hash and a time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// How often remembering also sweeps out expired entries.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// What identifies one notice: a SHA-256 over length-prefixed parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoticeKey([u8; 32]);

impl NoticeKey {
    /// The key of a notice made of `parts` (kind, message, sender, recipients …). Each part is
    /// length-prefixed, so no two different lists of parts give the same input.
    pub fn new<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> NoticeKey {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        NoticeKey(hash.finalize().into())
    }

    fn file_name(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The memory cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("notice memory {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("notice memory task failed: {0}")]
    Task(String),
}

/// Remembered notices in one directory (see the module docs).
#[derive(Debug)]
pub struct NoticeMemory {
    dir: PathBuf,
    /// When expired entries were last swept out.
    last_sweep: Mutex<Option<SystemTime>>,
}

impl NoticeMemory {
    /// A memory in `dir` (created with mode 0700 on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> NoticeMemory {
        NoticeMemory {
            dir: dir.into(),
            last_sweep: Mutex::new(None),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when the notice `key` was remembered less than `window` before `now`.
    pub async fn seen(
        &self,
        key: NoticeKey,
        now: SystemTime,
        window: Duration,
    ) -> Result<bool, MemoryError> {
        let path = self.dir.join(key.file_name());
        blocking(move || match std::fs::read(&path) {
            Ok(bytes) => Ok(written_at(&bytes, &path).is_some_and(|t| !expired(t, now, window))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(io(&path, source)),
        })
        .await
    }

    /// Remember the notice `key` as sent at `now`, durably; at most once an hour this also sweeps out entries
    /// older than `window`.
    pub async fn remember(
        &self,
        key: NoticeKey,
        now: SystemTime,
        window: Duration,
    ) -> Result<(), MemoryError> {
        let dir = self.dir.clone();
        let name = key.file_name();
        blocking(move || write_entry(&dir, &name, now)).await?;
        if self.sweep_due(now) {
            let dir = self.dir.clone();
            blocking(move || sweep_dir(&dir, now, window)).await?;
        }
        Ok(())
    }

    /// Delete every entry older than `window` (also done by [`NoticeMemory::remember`] once an hour);
    /// returns how many went.
    pub async fn sweep(&self, now: SystemTime, window: Duration) -> Result<usize, MemoryError> {
        if let Ok(mut last) = self.last_sweep.lock() {
            *last = Some(now);
        }
        let dir = self.dir.clone();
        blocking(move || sweep_dir(&dir, now, window)).await
    }

    fn sweep_due(&self, now: SystemTime) -> bool {
        let Ok(mut last) = self.last_sweep.lock() else {
            return false;
        };
        let due = last.is_none_or(|t| now.duration_since(t).unwrap_or_default() >= SWEEP_EVERY);
        if due {
            *last = Some(now);
        }
        due
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, MemoryError> + Send + 'static,
) -> Result<T, MemoryError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| MemoryError::Task(e.to_string()))?
}

fn io(path: &Path, source: std::io::Error) -> MemoryError {
    MemoryError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// When an entry was written: its content (seconds since the epoch), or, for a file a crash left empty, its
/// modification time.
fn written_at(bytes: &[u8], path: &Path) -> Option<SystemTime> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .or_else(|| std::fs::metadata(path).and_then(|m| m.modified()).ok())
}

fn expired(written: SystemTime, now: SystemTime, window: Duration) -> bool {
    now.duration_since(written).unwrap_or_default() >= window
}

/// Write `<dir>/<name>` with the time, fsync it and the directory. An entry that exists is replaced (a
/// notice sent again after its entry expired starts a new window).
fn write_entry(dir: &Path, name: &str, now: SystemTime) -> Result<(), MemoryError> {
    create_private_dir(dir).map_err(|e| io(dir, e))?;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(secs(now).to_string().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(&path, e)
    })
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Remove expired entries and leftover `.tmp` files; a missing directory holds nothing.
fn sweep_dir(dir: &Path, now: SystemTime, window: Duration) -> Result<usize, MemoryError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry.map_err(|e| io(dir, e))?.path();
        let stale = match std::fs::read(&path) {
            Ok(bytes) => written_at(&bytes, &path).is_none_or(|t| expired(t, now, window)),
            Err(_) => false,
        };
        if stale && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn keys_separate_their_parts() {
        let a = NoticeKey::new([b"ab".as_slice(), b"c"]);
        let b = NoticeKey::new([b"a".as_slice(), b"bc"]);
        assert_ne!(a, b);
        assert_eq!(a, NoticeKey::new([b"ab".as_slice(), b"c"]));
        assert_eq!(a.file_name().len(), 64);
    }

    #[tokio::test]
    async fn remembered_within_the_window_and_across_instances() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("notices");
        let key = NoticeKey::new([b"refused".as_slice(), b"message"]);
        let other = NoticeKey::new([b"refused".as_slice(), b"other message"]);
        let memory = NoticeMemory::new(&dir);
        let now = t(1_800_000_000);
        assert!(!memory.seen(key, now, 5 * DAY).await.unwrap());
        memory.remember(key, now, 5 * DAY).await.unwrap();
        assert!(memory.seen(key, now + DAY, 5 * DAY).await.unwrap());
        assert!(!memory.seen(other, now + DAY, 5 * DAY).await.unwrap());
        // A new instance on the same directory (a restart) remembers too.
        let again = NoticeMemory::new(&dir);
        assert!(again.seen(key, now + 4 * DAY, 5 * DAY).await.unwrap());
        assert!(!again.seen(key, now + 5 * DAY, 5 * DAY).await.unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[tokio::test]
    async fn sweep_removes_only_expired_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let memory = NoticeMemory::new(tmp.path());
        let (old, new) = (
            NoticeKey::new([b"old".as_slice()]),
            NoticeKey::new([b"new".as_slice()]),
        );
        let start = SystemTime::now();
        memory.remember(old, start, 5 * DAY).await.unwrap();
        memory
            .remember(new, start + 4 * DAY, 5 * DAY)
            .await
            .unwrap();
        // Debris of a crash between create and write: judged by its modification time (now).
        std::fs::write(tmp.path().join("leftover.tmp"), b"").unwrap();
        let now = start + 6 * DAY;
        assert_eq!(memory.sweep(now, 5 * DAY).await.unwrap(), 2);
        assert!(!memory.seen(old, now, 5 * DAY).await.unwrap());
        assert!(memory.seen(new, now, 5 * DAY).await.unwrap());
        assert!(!tmp.path().join("leftover.tmp").exists());
    }

    #[tokio::test]
    async fn a_memory_that_cannot_be_written_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("not-a-directory");
        std::fs::write(&file, b"x").unwrap();
        let memory = NoticeMemory::new(file.join("notices"));
        let key = NoticeKey::new([b"k".as_slice()]);
        assert!(memory.remember(key, t(1), DAY).await.is_err());
        assert!(memory.seen(key, t(1), DAY).await.is_err());
    }
}
