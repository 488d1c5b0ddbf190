//! The quarantine: where infected mail is kept apart for investigation and repair (WereldKidz 8.5).
//!
//! The pipeline calls [`Quarantine::store`] and answers `250` only once it returned `Ok`: the message is then
//! durably on disk. [`FileQuarantine`] writes each message as two files, `<id>.eml` (the original bytes) and
//! `<id>.json` (envelope, time, detections), owner-only. A new entry never replaces anything: each file is
//! written to a temporary file of its own (`O_EXCL`), fsynced, then hard-linked into place — `link` fails
//! when the name exists — and the directory fsynced. An id that is taken (by an entry of an earlier process)
//! is retried with a new id, and the id actually used is returned. The `.json` is linked last, so a
//! complete entry always has both files: the files alone are the truth. [`Embedded`] adds the sled [`index`]
//! (rebuilt from the files when missing or behind), status changes, deletion and retention, and clears up
//! after a crash when it opens.
//!
//! [`Store`] is what `serve`, the review service and the offline CLI use: one handle over either backend
//! ([`QuarantineStore`]): [`Embedded`], or [`postgres::PgQuarantine`] (one table shared by several nodes,
//! `Ok` from `store` only after the transaction committed).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::scan::Detection;
use crate::util::BoxFuture;

mod backend;
pub mod index;
pub mod postgres;
mod store;

pub use backend::{QuarantineStore, Store};
pub use index::{Index, IndexError};
pub use store::{Embedded, OpenReport, StoreError};

pub(crate) use crate::storage::create_private_dir;

/// How many ids a new entry tries before the store gives up (then the pipeline answers `451`). A second
/// try is already a one-in-10^12 event (see [`crate::queue_id`]).
const ID_ATTEMPTS: usize = 8;

/// The detection recorded for an entry whose metadata was lost (an `.eml` whose `.json` is missing or
/// unreadable), so that it is listed, can be reviewed and deleted, and retention removes it.
pub const METADATA_DAMAGED: &str = "metadata beschadigd (damaged)";

/// What is stored with a quarantined message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The quarantine id (the queue id of the message).
    pub id: String,
    /// When it was received, seconds since the Unix epoch.
    pub received: u64,
    /// Envelope sender (`None` for `<>`).
    pub mail_from: Option<String>,
    /// Envelope recipients.
    pub rcpt_to: Vec<String>,
    /// What the scanner found, and where.
    pub detections: Vec<DetectionRecord>,
    /// Size of the original message in bytes.
    pub size: usize,
    /// `MAIL FROM` parameters as received (e.g. `BODY=8BITMIME`), needed to release the message faithfully.
    #[serde(default)]
    pub mail_params: Vec<String>,
    /// Held, or released by ICT staff (a deleted entry has no files left).
    #[serde(default)]
    pub status: Status,
}

/// Where a quarantined message stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Kept apart, not delivered.
    #[default]
    Held,
    /// Re-injected by ICT staff (`mailwacht quarantine release`); kept until retention ends.
    Released,
}

/// A quarantine id is also a file name: only `[A-Za-z0-9_-]`, 1 to 64 characters, so no id can name a path
/// outside the quarantine directory.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A detection as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionRecord {
    pub name: String,
    pub location: String,
}

/// A message could not be stored. The pipeline answers `451` so Postfix retries.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("cannot write quarantine entry {id} in {dir}: {source}")]
    Write {
        id: String,
        dir: String,
        source: std::io::Error,
    },
    #[error("quarantine task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The shared database: unreachable (the pipeline answers `451` and Postfix retries) or refusing.
    #[error("quarantine: {0}")]
    Database(#[from] crate::storage::postgres::PgError),
}

/// Where the pipeline puts infected mail.
pub trait Quarantine: Send + Sync {
    /// Store the message durably under `id`, or under a new id when `id` is taken (never replacing an
    /// entry); `Ok` with the id used, only when it is safely on disk.
    fn store<'a>(
        &'a self,
        id: &'a str,
        envelope: &'a Envelope,
        raw: &'a [u8],
        detections: &'a [Detection],
        received: SystemTime,
    ) -> BoxFuture<'a, Result<String, QuarantineError>>;
}

/// What the quarantine directory holds besides complete entries (see [`FileQuarantine::scan`]).
#[derive(Debug, Default)]
pub struct Scan {
    /// Entries whose metadata reads, oldest first.
    pub entries: Vec<Entry>,
    /// Ids with an `.eml` whose `.json` is missing or unreadable.
    pub damaged: Vec<String>,
    /// Ids with a `.json` but no `.eml` (listed, but their content is gone).
    pub without_message: Vec<String>,
    /// Temporary files of writes that never finished (a crash, a full disk).
    pub temporary: Vec<PathBuf>,
}

/// The file store: one directory, two files per message.
#[derive(Debug, Clone)]
pub struct FileQuarantine {
    dir: PathBuf,
}

impl FileQuarantine {
    /// A store in `dir` (created with mode 0700 on first write).
    pub fn new(dir: impl Into<PathBuf>) -> FileQuarantine {
        FileQuarantine { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Create a new entry's files; when its id is taken, try new ids. `entry.id` ends as the id used.
    fn store_blocking(&self, entry: &mut Entry, raw: &[u8]) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        for attempt in 0..ID_ATTEMPTS {
            if attempt > 0 {
                entry.id = crate::queue_id::new();
            }
            match self.create_entry(entry, raw) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                done => return done,
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{ID_ATTEMPTS} ids in a row were taken"),
        ))
    }

    /// Create both files of `entry`, or neither: `AlreadyExists` when either name is taken.
    fn create_entry(&self, entry: &Entry, raw: &[u8]) -> std::io::Result<()> {
        let eml = format!("{}.eml", entry.id);
        create_durably(&self.dir, &eml, raw)?;
        let meta = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
        if let Err(e) = create_durably(&self.dir, &format!("{}.json", entry.id), &meta) {
            // The `.eml` was created by us a moment ago (link never replaces): take it back.
            let _ = std::fs::remove_file(self.dir.join(&eml));
            return Err(e);
        }
        Ok(())
    }

    /// Write (or replace) the metadata file of an existing entry durably.
    pub fn write_entry(&self, entry: &Entry) -> std::io::Result<()> {
        let meta = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
        write_durably(&self.dir, &format!("{}.json", entry.id), &meta)
    }

    /// The original bytes of entry `id` (`id` must be [`valid_id`]).
    pub fn read_raw(&self, id: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.dir.join(format!("{id}.eml")))
    }

    /// Remove the files of entry `id`: the `.json` first, then the `.eml` (a crash in between leaves an
    /// `.eml` without metadata, listed as damaged at the next start), then a damaged `.json` kept aside, then
    /// fsync the directory.
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        for name in [
            format!("{id}.json"),
            format!("{id}.eml"),
            format!("{id}.json.damaged"),
        ] {
            match std::fs::remove_file(self.dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// Every entry whose metadata can be read, and what else is in the directory (see [`Scan`]).
    pub fn scan(&self) -> std::io::Result<Scan> {
        let mut scan = Scan::default();
        let read = match std::fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(scan),
            Err(e) => return Err(e),
        };
        let (mut emls, mut jsons) = (std::collections::BTreeSet::new(), Vec::new());
        for item in read {
            let path = item?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with('.') && name.ends_with(".tmp") {
                scan.temporary.push(path);
            } else if let Some(id) = name.strip_suffix(".eml").filter(|id| valid_id(id)) {
                emls.insert(id.to_string());
            } else if let Some(id) = name.strip_suffix(".json").filter(|id| valid_id(id)) {
                jsons.push((id.to_string(), path));
            }
        }
        for (id, path) in jsons {
            let has_message = emls.remove(&id);
            match std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
                .filter(|e| e.id == id)
            {
                Some(entry) => {
                    if !has_message {
                        scan.without_message.push(id);
                    }
                    scan.entries.push(entry);
                }
                None if has_message => scan.damaged.push(id),
                // Metadata that cannot be read and no message: nothing to review; left for inspection.
                None => {}
            }
        }
        scan.damaged.extend(emls);
        scan.damaged.sort();
        scan.entries
            .sort_by(|a, b| (a.received, &a.id).cmp(&(b.received, &b.id)));
        Ok(scan)
    }

    /// Every entry whose metadata can be read, oldest first.
    pub fn entries(&self) -> std::io::Result<Vec<Entry>> {
        Ok(self.scan()?.entries)
    }

    /// Give a message whose metadata is missing or unreadable new metadata from what the file itself
    /// tells (id, size, modification time as the time received; sender and recipients unknown), with the
    /// detection [`METADATA_DAMAGED`]. An unreadable `.json` is kept as `<id>.json.damaged`.
    pub fn repair(&self, id: &str) -> std::io::Result<Entry> {
        let meta = std::fs::metadata(self.dir.join(format!("{id}.eml")))?;
        let received = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let json = self.dir.join(format!("{id}.json"));
        if json.exists() {
            match std::fs::hard_link(&json, self.dir.join(format!("{id}.json.damaged"))) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        let entry = Entry {
            id: id.to_string(),
            received,
            mail_from: None,
            rcpt_to: Vec::new(),
            detections: vec![DetectionRecord {
                name: METADATA_DAMAGED.into(),
                location: "message".into(),
            }],
            size: usize::try_from(meta.len()).unwrap_or(usize::MAX),
            mail_params: Vec::new(),
            status: Status::Held,
        };
        self.write_entry(&entry)?;
        Ok(entry)
    }
}

impl FileQuarantine {
    /// Write both files of a new entry durably (on the blocking pool) and return the entry.
    pub async fn store_files(
        &self,
        id: &str,
        envelope: &Envelope,
        raw: &[u8],
        detections: &[Detection],
        received: SystemTime,
    ) -> Result<Entry, QuarantineError> {
        {
            if !valid_id(id) {
                return Err(QuarantineError::Write {
                    id: id.to_string(),
                    dir: self.dir.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "id is not [A-Za-z0-9_-]{1,64}",
                    ),
                });
            }
            let mut entry = Entry {
                id: id.to_string(),
                received: received
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                mail_from: envelope.mail_from.clone(),
                rcpt_to: envelope.recipients().map(String::from).collect(),
                detections: detections
                    .iter()
                    .map(|d| DetectionRecord {
                        name: d.name.clone(),
                        location: d.location.clone(),
                    })
                    .collect(),
                size: raw.len(),
                mail_params: envelope.mail_params.clone(),
                status: Status::Held,
            };
            let store = self.clone();
            let raw = raw.to_vec();
            let dir = self.dir.display().to_string();
            let id = id.to_string();
            tokio::task::spawn_blocking(move || {
                store.store_blocking(&mut entry, &raw).map(|()| entry)
            })
            .await
            .map_err(|e| QuarantineError::Task(e.to_string()))?
            .map_err(|source| QuarantineError::Write { id, dir, source })
        }
    }
}

/// A temporary file beside `name` in `dir`, created exclusively (`O_EXCL`, 0600): never one another write
/// uses, and never one left by an earlier process (those are removed when the [`Store`] opens).
fn create_temporary(dir: &Path, name: &str) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Write `bytes` to a new temporary file in `dir` and fsync it.
fn write_temporary(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let (tmp, mut file) = create_temporary(dir, name)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Create `name` in `dir` with `bytes` so that after return it survives a crash, and never over an existing
/// file: temporary file, fsync, `link` into place (`AlreadyExists` when the name is taken), fsync(dir).
pub(crate) fn create_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = write_temporary(dir, name, bytes)?;
    let linked = std::fs::hard_link(&tmp, dir.join(name));
    let _ = std::fs::remove_file(&tmp);
    linked?;
    std::fs::File::open(dir)?.sync_all()
}

/// Replace `name` in `dir` so that after return it survives a crash: temp file, fsync, rename, fsync(dir).
/// Only for files that are meant to be replaced (an entry's metadata when its status changes).
pub(crate) fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = write_temporary(dir, name, bytes)?;
    if let Err(e) = std::fs::rename(&tmp, dir.join(name)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Recipient;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn stores_both_files_owner_only_and_lists_them() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let q = FileQuarantine::new(tmp.path().join("quarantine"));
        let env = Envelope {
            mail_from: Some("juf@school.example".into()),
            rcpt_to: vec![Recipient {
                address: "ouder@example.org".into(),
                params: vec![],
            }],
            ..Envelope::default()
        };
        let det = vec![Detection {
            name: "Eicar-Test-Signature".into(),
            location: "part 2".into(),
        }];
        q.store_files(
            "MW1",
            &env,
            b"raw bytes\r\n",
            &det,
            UNIX_EPOCH + std::time::Duration::from_secs(42),
        )
        .await
        .expect("stored");
        let eml = tmp.path().join("quarantine/MW1.eml");
        assert_eq!(std::fs::read(&eml).expect("eml"), b"raw bytes\r\n");
        let mode = std::fs::metadata(&eml).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(q.dir())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        let entries = q.entries().expect("entries");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].received, 42);
        assert_eq!(entries[0].detections[0].name, "Eicar-Test-Signature");
        assert_eq!(entries[0].rcpt_to, vec!["ouder@example.org"]);
    }

    #[tokio::test]
    async fn unwritable_directory_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("not-a-dir");
        std::fs::write(&file, b"x").expect("write");
        let q = FileQuarantine::new(file.join("q"));
        let err = q
            .store_files("MW2", &Envelope::default(), b"x", &[], SystemTime::now())
            .await;
        assert!(matches!(err, Err(QuarantineError::Write { .. })));
    }

    #[test]
    fn queue_ids_are_valid_quarantine_names() {
        for _ in 0..100 {
            let id = crate::queue_id::new();
            assert!(valid_id(&id), "{id}");
        }
    }
}
