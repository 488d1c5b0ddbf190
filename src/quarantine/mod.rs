//! The quarantine: where infected mail is kept apart for investigation and repair (WereldKidz 8.5).
//!
//! The pipeline calls [`Quarantine::store`] and answers `250` only once it returned `Ok`: the message is then
//! durably on disk. [`FileQuarantine`] writes each message as two files, `<id>.eml` (the original bytes) and
//! `<id>.json` (envelope, time, detections), each with write → fsync → rename → fsync(dir), owner-only
//! permissions. The `.json` is renamed last, so a `.json` always has its `.eml`: the files alone are the
//! truth. [`Store`] adds the sled [`index`] (rebuilt from the files when missing or behind), status changes,
//! deletion and retention; it is what `serve` and the offline CLI use.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::scan::{BoxFuture, Detection};

pub mod index;
mod store;

pub use index::{Index, IndexError};
pub use store::{Store, StoreError};

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
}

/// Where the pipeline puts infected mail.
pub trait Quarantine: Send + Sync {
    /// Store the message durably; `Ok` only when it is safely on disk.
    fn store<'a>(
        &'a self,
        id: &'a str,
        envelope: &'a Envelope,
        raw: &'a [u8],
        detections: &'a [Detection],
        received: SystemTime,
    ) -> BoxFuture<'a, Result<(), QuarantineError>>;
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

    fn store_blocking(&self, entry: &Entry, raw: &[u8]) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        write_durably(&self.dir, &format!("{}.eml", entry.id), raw)?;
        self.write_entry(entry)
    }

    /// Write (or replace) the metadata file of an entry durably.
    pub fn write_entry(&self, entry: &Entry) -> std::io::Result<()> {
        let meta = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
        write_durably(&self.dir, &format!("{}.json", entry.id), &meta)
    }

    /// The original bytes of entry `id` (`id` must be [`valid_id`]).
    pub fn read_raw(&self, id: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.dir.join(format!("{id}.eml")))
    }

    /// Remove both files of entry `id`: the `.json` first (so a crash in between leaves an `.eml` without
    /// metadata, which is not listed), then the `.eml`, then fsync the directory.
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        for name in [format!("{id}.json"), format!("{id}.eml")] {
            match std::fs::remove_file(self.dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// Every entry whose metadata can be read (unreadable files are skipped and reported).
    pub fn entries(&self) -> std::io::Result<(Vec<Entry>, Vec<PathBuf>)> {
        let mut entries = Vec::new();
        let mut broken = Vec::new();
        let read = match std::fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((entries, broken)),
            Err(e) => return Err(e),
        };
        for item in read {
            let path = item?.path();
            if path.extension().is_some_and(|e| e == "json") {
                match std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
                {
                    Some(e) => entries.push(e),
                    None => broken.push(path),
                }
            }
        }
        entries.sort_by(|a, b| (a.received, &a.id).cmp(&(b.received, &b.id)));
        Ok((entries, broken))
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
            let entry = Entry {
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
            tokio::task::spawn_blocking(move || store.store_blocking(&entry, &raw).map(|()| entry))
                .await
                .map_err(|e| QuarantineError::Task(e.to_string()))?
                .map_err(|source| QuarantineError::Write { id, dir, source })
        }
    }
}

/// Create `dir` (and parents) with owner-only permissions.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Write `name` in `dir` so that after return it survives a crash: temp file, fsync, rename, fsync(dir).
pub(crate) fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, dir.join(name))?;
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
        let (entries, broken) = q.entries().expect("entries");
        assert!(broken.is_empty());
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
}
