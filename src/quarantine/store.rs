//! [`Embedded`]: the quarantine files plus the sled index, as one object the daemon owns (the embedded
//! backend behind [`super::Store`]).
//!
//! Every change goes to the files first (durable: see [`super`]), then to the index, then `flush_async`. A
//! crash between the two leaves the index behind the files; [`Store::open`] compares the entries in both and
//! rebuilds the index from the files when they differ or the index is missing. It also clears up what a
//! crash or a full disk left: temporary files are removed, and a message whose metadata is missing or
//! unreadable gets metadata of its own ([`FileQuarantine::repair`]) so it is listed, reviewable and purged
//! by retention like any entry. Retention's time is passed in (tested without sleeping).
//! Must not: log content, subjects or file names.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{
    create_private_dir, valid_id, Entry, FileQuarantine, Index, IndexError, Quarantine,
    QuarantineError, Status,
};
use crate::envelope::Envelope;
use crate::scan::Detection;
use crate::storage::{classify_sled, move_aside, OpenFailure};
use crate::util::BoxFuture;

/// A store operation that failed; messages name the id or path, never content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no quarantine entry with id {0:?}")]
    UnknownId(String),
    #[error("{0:?} is not a quarantine id (letters, digits, '-' and '_' only)")]
    BadId(String),
    #[error("quarantine file for {id}: {source}")]
    Io { id: String, source: std::io::Error },
    #[error("cannot open quarantine in {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The PostgreSQL backend's database (see [`super::postgres`]).
    #[error("quarantine: {0}")]
    Database(#[from] crate::storage::postgres::PgError),
}

/// The quarantine in the data directory as the daemon (or the offline CLI) owns it.
#[derive(Debug, Clone)]
pub struct Embedded {
    files: FileQuarantine,
    index: Index,
}

/// What [`Embedded::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Entries in the files.
    pub entries: usize,
    /// True when the index was rebuilt from the files.
    pub rebuilt: bool,
    /// Where a damaged index was moved (it was then rebuilt from the files).
    pub index_moved_aside: Option<PathBuf>,
    /// Messages whose metadata was missing or unreadable and has been repaired
    /// ([`FileQuarantine::repair`]).
    pub damaged: Vec<String>,
    /// Entries whose message file is gone (listed; show and release fail for them).
    pub without_message: Vec<String>,
    /// Temporary files of unfinished writes that were removed.
    pub temporary_removed: usize,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Embedded {
    /// Open the store in `data_dir`: files in `quarantine/`, index in `quarantine.sled` (both 0700). The
    /// index is rebuilt from the files when its ids differ from theirs.
    pub fn open(data_dir: &Path) -> Result<(Embedded, OpenReport), StoreError> {
        let open_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| StoreError::Open { path, source }
        };
        create_private_dir(data_dir).map_err(open_err(data_dir))?;
        let files = FileQuarantine::new(data_dir.join("quarantine"));
        create_private_dir(files.dir()).map_err(open_err(files.dir()))?;
        let index_path = index_path(data_dir);
        create_private_dir(&index_path).map_err(open_err(&index_path))?;
        let mut report = OpenReport::default();
        let index = match Index::open(&index_path) {
            Ok(index) => index,
            // A damaged index is only a cache: move it aside (for inspection) and rebuild from the files,
            // rather than keep the daemon from starting. A lock held by another process, an index owned by
            // another user or a full disk is not damage: that is an error for the operator to fix.
            Err(IndexError::Sled { source, .. })
                if classify_sled(&source) == OpenFailure::Damaged =>
            {
                let aside =
                    move_aside(&index_path, SystemTime::now()).map_err(open_err(&index_path))?;
                report.index_moved_aside = Some(aside);
                create_private_dir(&index_path).map_err(open_err(&index_path))?;
                Index::open(&index_path)?
            }
            Err(e) => return Err(e.into()),
        };
        restrict_files(&index_path).map_err(open_err(&index_path))?;
        let scan = files.scan().map_err(open_err(files.dir()))?;
        // The index's lock is held now, so no other process writes here: a temporary file is debris.
        for tmp in &scan.temporary {
            std::fs::remove_file(tmp).map_err(open_err(tmp))?;
        }
        report.temporary_removed = scan.temporary.len();
        let mut entries = scan.entries;
        for id in &scan.damaged {
            entries.push(files.repair(id).map_err(|source| StoreError::Io {
                id: id.clone(),
                source,
            })?);
        }
        entries.sort_by(|a, b| (a.received, &a.id).cmp(&(b.received, &b.id)));
        // Compare everything, not only the ids: a crash between rewriting a `.json` (status) and the index
        // leaves the same ids with different metadata. An unreadable index (older layout) is rebuilt too.
        // Both lists are ordered by (received, id): ids are ASCII, so byte order is string order.
        let rebuilt = match index.since(0) {
            Ok(indexed) => indexed != entries || index.ids()?.len() != entries.len(),
            Err(_) => true,
        };
        if rebuilt {
            index.replace_all(&entries)?;
        }
        report.entries = entries.len();
        report.rebuilt = rebuilt;
        report.damaged = scan.damaged;
        report.without_message = scan.without_message;
        Ok((Embedded { files, index }, report))
    }

    /// Flush the index (after a rebuild or a change).
    pub async fn flush(&self) -> Result<(), StoreError> {
        Ok(self.index.flush().await?)
    }

    /// Entries received at or after `since`, oldest first.
    pub fn list(&self, since: SystemTime) -> Result<Vec<Entry>, StoreError> {
        Ok(self.index.since(secs(since))?)
    }

    /// How many messages the quarantine holds and their bytes (for `/metrics`).
    pub fn totals(&self) -> Result<(u64, u64), StoreError> {
        let entries = self.index.since(0)?;
        let bytes = entries.iter().map(|e| e.size as u64).sum();
        Ok((entries.len() as u64, bytes))
    }

    /// One entry's metadata.
    pub fn get(&self, id: &str) -> Result<Entry, StoreError> {
        if !valid_id(id) {
            return Err(StoreError::BadId(id.to_string()));
        }
        self.index
            .get(id)?
            .ok_or_else(|| StoreError::UnknownId(id.to_string()))
    }

    /// One entry's metadata and original bytes.
    pub fn get_raw(&self, id: &str) -> Result<(Entry, Vec<u8>), StoreError> {
        let entry = self.get(id)?;
        let raw = self.files.read_raw(id).map_err(|source| StoreError::Io {
            id: id.to_string(),
            source,
        })?;
        Ok((entry, raw))
    }

    /// Mark an entry (released); the metadata file is rewritten durably first.
    pub async fn set_status(&self, id: &str, status: Status) -> Result<Entry, StoreError> {
        let mut entry = self.get(id)?;
        entry.status = status;
        self.files
            .write_entry(&entry)
            .map_err(|source| StoreError::Io {
                id: id.to_string(),
                source,
            })?;
        self.index.put(&entry)?;
        self.flush().await?;
        Ok(entry)
    }

    /// Delete an entry: files, then index.
    pub async fn delete(&self, id: &str) -> Result<Entry, StoreError> {
        let entry = self.get(id)?;
        self.files.remove(id).map_err(|source| StoreError::Io {
            id: id.to_string(),
            source,
        })?;
        self.index.remove(id)?;
        self.flush().await?;
        Ok(entry)
    }

    /// Delete every entry received more than `retention_days` before `now`; returns the deleted ids.
    pub async fn purge(
        &self,
        now: SystemTime,
        retention_days: u64,
    ) -> Result<Vec<String>, StoreError> {
        let cutoff = secs(now).saturating_sub(retention_days.saturating_mul(86_400));
        let mut purged = Vec::new();
        for entry in self.index.before(cutoff)? {
            self.files
                .remove(&entry.id)
                .map_err(|source| StoreError::Io {
                    id: entry.id.clone(),
                    source,
                })?;
            self.index.remove(&entry.id)?;
            purged.push(entry.id);
        }
        if !purged.is_empty() {
            self.flush().await?;
        }
        Ok(purged)
    }
}

/// Where the index lives in a data directory.
pub fn index_path(data_dir: &Path) -> PathBuf {
    data_dir.join("quarantine.sled")
}

/// Make every file sled created owner-only (sled uses the process umask).
fn restrict_files(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let path = item.path();
        let mode = if item.file_type()?.is_dir() {
            restrict_files(&path)?;
            0o700
        } else {
            0o600
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

impl Quarantine for Embedded {
    /// Files first (durable), then the index and `flush_async`: `Ok` only when both are done.
    fn store<'a>(
        &'a self,
        id: &'a str,
        envelope: &'a Envelope,
        raw: &'a [u8],
        detections: &'a [Detection],
        received: SystemTime,
    ) -> BoxFuture<'a, Result<String, QuarantineError>> {
        Box::pin(async move {
            let entry = self
                .files
                .store_files(id, envelope, raw, detections, received)
                .await?;
            self.index.put(&entry)?;
            self.index.flush().await?;
            Ok(entry.id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;
    use crate::envelope::Recipient;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn envelope() -> Envelope {
        Envelope {
            mail_from: Some("juf@school.example".into()),
            rcpt_to: vec![Recipient {
                address: "ouder@example.org".into(),
                params: vec![],
            }],
            ..Envelope::default()
        }
    }

    fn det() -> Vec<Detection> {
        vec![Detection {
            name: "Eicar-Test-Signature".into(),
            location: "part 1".into(),
        }]
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[tokio::test]
    async fn store_list_get_and_owner_only_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, report) = Store::open(tmp.path()).expect("open");
        assert_eq!(report.entries, 0);
        for (id, t) in [("B", 200), ("A", 100), ("C", 300)] {
            store
                .store(id, &envelope(), b"raw\r\n", &det(), at(t))
                .await
                .expect("store");
        }
        let ids: Vec<_> = store
            .list(at(150))
            .expect("list")
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, vec!["B", "C"], "time order, since respected");
        let (entry, raw) = store.get_raw("A").expect("get");
        assert_eq!(entry.received, 100);
        assert_eq!(raw, b"raw\r\n");
        assert!(matches!(store.get("Z"), Err(StoreError::UnknownId(_))));
        assert!(matches!(
            store.get("../etc/passwd"),
            Err(StoreError::BadId(_))
        ));
        for path in [
            tmp.path().join("quarantine"),
            tmp.path().join("quarantine.sled"),
        ] {
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", path.display());
        }
        drop(store);
        let (_, report) = Store::open(tmp.path()).expect("reopen");
        for item in std::fs::read_dir(tmp.path().join("quarantine.sled")).expect("dir") {
            let item = item.expect("item");
            let mode = item.metadata().expect("meta").permissions().mode() & 0o077;
            assert_eq!(mode, 0, "{} readable by others", item.path().display());
        }
        assert!(!report.rebuilt, "index agreed with files");
    }

    #[tokio::test]
    async fn removed_or_stale_index_is_rebuilt_from_the_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        {
            let (store, _) = Store::open(tmp.path()).expect("open");
            for (id, t) in [("A", 100), ("B", 200)] {
                store
                    .store(id, &envelope(), b"x", &det(), at(t))
                    .await
                    .expect("store");
            }
        }
        std::fs::remove_dir_all(index_path(tmp.path())).expect("remove index");
        let (store, report) = Store::open(tmp.path()).expect("reopen");
        assert!(report.rebuilt);
        assert_eq!(report.entries, 2);
        let ids: Vec<_> = store
            .list(at(0))
            .expect("list")
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, vec!["A", "B"]);
        store.flush().await.expect("flush");
        drop(store);
        // Index behind: a file written while the index was not updated (a crash between the two).
        let files = FileQuarantine::new(tmp.path().join("quarantine"));
        files
            .store_files("C", &envelope(), b"y", &det(), at(300))
            .await
            .expect("files");
        let (store, report) = Store::open(tmp.path()).expect("reopen");
        assert!(report.rebuilt);
        assert_eq!(store.get("C").expect("C").received, 300);
    }

    #[tokio::test]
    async fn retention_purges_old_entries_with_injected_time() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(tmp.path()).expect("open");
        let day = 86_400;
        for (id, t) in [("OLD", 10 * day), ("EDGE", 20 * day), ("NEW", 39 * day)] {
            store
                .store(id, &envelope(), b"x", &det(), at(t))
                .await
                .expect("store");
        }
        // now = day 50, retention 30 days: cutoff day 20; EDGE (exactly 30 days old) stays.
        let purged = store.purge(at(50 * day), 30).await.expect("purge");
        assert_eq!(purged, vec!["OLD"]);
        assert!(!tmp.path().join("quarantine/OLD.eml").exists());
        assert!(!tmp.path().join("quarantine/OLD.json").exists());
        assert!(matches!(store.get("OLD"), Err(StoreError::UnknownId(_))));
        let left: Vec<_> = store
            .list(at(0))
            .expect("list")
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(left, vec!["EDGE", "NEW"]);
        assert!(store
            .purge(at(50 * day), 30)
            .await
            .expect("again")
            .is_empty());
    }

    #[tokio::test]
    async fn status_and_delete_reach_files_and_index() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(tmp.path()).expect("open");
        store
            .store("A", &envelope(), b"x", &det(), at(1))
            .await
            .expect("store");
        store.set_status("A", Status::Released).await.expect("set");
        drop(store);
        std::fs::remove_dir_all(index_path(tmp.path())).expect("remove index");
        let (store, _) = Store::open(tmp.path()).expect("reopen");
        assert_eq!(store.get("A").expect("A").status, Status::Released);
        // A crash after the `.json` was rewritten but before the index was: same ids, other metadata.
        let mut changed = store.get("A").expect("A");
        changed.status = Status::Held;
        FileQuarantine::new(tmp.path().join("quarantine"))
            .write_entry(&changed)
            .expect("rewrite");
        drop(store);
        let (store, report) = Store::open(tmp.path()).expect("reopen");
        assert!(report.rebuilt);
        assert_eq!(store.get("A").expect("A").status, Status::Held);
        store.delete("A").await.expect("delete");
        assert!(matches!(store.get("A"), Err(StoreError::UnknownId(_))));
        assert!(matches!(
            store.delete("A").await,
            Err(StoreError::UnknownId(_))
        ));
        assert_eq!(
            std::fs::read_dir(tmp.path().join("quarantine"))
                .expect("dir")
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn damaged_index_is_moved_aside_and_rebuilt() {
        let tmp = tempfile::tempdir().expect("tempdir");
        {
            let (store, _) = Store::open(tmp.path()).expect("open");
            store
                .store("A", &envelope(), b"x", &det(), at(5))
                .await
                .expect("store");
        }
        let index = index_path(tmp.path());
        for item in std::fs::read_dir(&index).expect("dir") {
            let path = item.expect("item").path();
            if path.is_file() {
                std::fs::write(&path, b"\xff garbage, not sled").expect("damage");
            }
        }
        let (store, report) = Store::open(tmp.path()).expect("opens despite damage");
        assert!(report.rebuilt);
        assert!(report.index_moved_aside.is_some());
        let aside = std::fs::read_dir(tmp.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains("damaged"));
        assert!(aside, "the damaged index was moved aside");
        assert_eq!(store.get("A").expect("A").received, 5);
    }

    #[tokio::test]
    async fn an_index_in_use_is_an_error_and_not_moved_aside() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (_first, _) = Store::open(tmp.path()).expect("open");
        let second = Store::open(tmp.path());
        assert!(
            matches!(second, Err(StoreError::Index(IndexError::Locked { .. }))),
            "{second:?}"
        );
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains("damaged")), "{names:?}");
    }

    /// Issue 12 item 2: an id that is taken never replaces the entry that has it; the second message is
    /// stored under a new id, and that id is returned.
    #[tokio::test]
    async fn a_taken_id_never_replaces_the_entry_and_gets_a_new_id() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(tmp.path()).expect("open");
        let first = store
            .store("MWSAME", &envelope(), b"first\r\n", &det(), at(10))
            .await
            .expect("first");
        assert_eq!(first, "MWSAME");
        let second = store
            .store("MWSAME", &envelope(), b"second\r\n", &det(), at(11))
            .await
            .expect("second");
        assert_ne!(second, "MWSAME");
        assert!(valid_id(&second));
        assert_eq!(store.get_raw("MWSAME").expect("first").1, b"first\r\n");
        let (entry, raw) = store.get_raw(&second).expect("second");
        assert_eq!((entry.received, raw.as_slice()), (11, &b"second\r\n"[..]));
        // Files left by an earlier process are never replaced either: an `.eml` without metadata, and
        // metadata without an `.eml` (the new entry then leaves no file under the taken id).
        let dir = tmp.path().join("quarantine");
        std::fs::write(dir.join("MWEML.eml"), b"orphan").expect("write");
        std::fs::write(dir.join("MWJSON.json"), b"{}").expect("write");
        for taken in ["MWEML", "MWJSON"] {
            let id = store
                .store(taken, &envelope(), b"new\r\n", &det(), at(12))
                .await
                .expect("stored");
            assert_ne!(id, taken);
            assert_eq!(store.get_raw(&id).expect("new").1, b"new\r\n");
        }
        assert_eq!(
            std::fs::read(dir.join("MWEML.eml")).expect("eml"),
            b"orphan"
        );
        assert_eq!(std::fs::read(dir.join("MWJSON.json")).expect("json"), b"{}");
        assert!(!dir.join("MWJSON.eml").exists());
        let stray: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }

    /// Issue 12 (low): what a crash or a full disk leaves is cleared up at open: temporary files removed,
    /// a message without readable metadata listed as damaged (and reviewable), and purged by retention.
    #[tokio::test]
    async fn debris_is_cleared_at_open_and_damaged_entries_are_listed_and_purged() {
        let tmp = tempfile::tempdir().expect("tempdir");
        {
            let (store, _) = Store::open(tmp.path()).expect("open");
            store
                .store("MWGOOD", &envelope(), b"good", &det(), at(100))
                .await
                .expect("store");
        }
        let dir = tmp.path().join("quarantine");
        std::fs::write(dir.join(".MWTMP.eml.tmp"), b"half a message").expect("tmp");
        std::fs::write(dir.join(".MWTMP.json.77-0.tmp"), b"{").expect("tmp");
        std::fs::write(dir.join("MWNOJSON.eml"), b"no metadata").expect("eml");
        std::fs::write(dir.join("MWBROKEN.eml"), b"broken metadata").expect("eml");
        std::fs::write(dir.join("MWBROKEN.json"), b"{\"id\": \"MWBRO").expect("json");
        let (store, report) = Store::open(tmp.path()).expect("open");
        assert_eq!(report.temporary_removed, 2);
        assert_eq!(report.damaged, vec!["MWBROKEN", "MWNOJSON"]);
        assert!(!dir.join(".MWTMP.eml.tmp").exists());
        assert!(!dir.join(".MWTMP.json.77-0.tmp").exists());
        let mut ids: Vec<_> = store
            .list(at(0))
            .expect("list")
            .into_iter()
            .map(|e| e.id)
            .collect();
        ids.sort();
        assert_eq!(ids, vec!["MWBROKEN", "MWGOOD", "MWNOJSON"]);
        let (entry, raw) = store.get_raw("MWBROKEN").expect("reviewable");
        assert_eq!(raw, b"broken metadata");
        assert_eq!(entry.size, raw.len());
        assert_eq!(entry.detections[0].name, super::super::METADATA_DAMAGED);
        // The unreadable metadata is kept for inspection.
        assert_eq!(
            std::fs::read(dir.join("MWBROKEN.json.damaged")).expect("kept"),
            b"{\"id\": \"MWBRO"
        );
        // A second open finds nothing left to clear up.
        drop(store);
        let (store, report) = Store::open(tmp.path()).expect("reopen");
        assert!(report.damaged.is_empty() && report.temporary_removed == 0);
        // Retention by the file's time (written just now): a cut-off in the future purges all three.
        let future = SystemTime::now() + Duration::from_secs(40 * 86_400);
        let mut purged = store.purge(future, 30).await.expect("purge");
        purged.sort();
        assert_eq!(purged, vec!["MWBROKEN", "MWGOOD", "MWNOJSON"]);
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 0);
    }

    /// Model test: the store against a BTreeMap under a pseudo-random sequence of operations.
    #[tokio::test]
    async fn behaves_like_a_map() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(tmp.path()).expect("open");
        let mut model: BTreeMap<String, u64> = BTreeMap::new();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let id = format!("M{}", seed % 12);
            let t = seed % 1000;
            match seed % 3 {
                0 | 1 => {
                    if let std::collections::btree_map::Entry::Vacant(v) = model.entry(id.clone()) {
                        store
                            .store(&id, &envelope(), b"x", &det(), at(t))
                            .await
                            .expect("store");
                        v.insert(t);
                    }
                }
                _ => {
                    let got = store.delete(&id).await.is_ok();
                    assert_eq!(got, model.remove(&id).is_some(), "{id}");
                }
            }
            let since = seed % 1000;
            let mut want: Vec<(u64, String)> = model
                .iter()
                .filter(|(_, &t)| t >= since)
                .map(|(k, &t)| (t, k.clone()))
                .collect();
            want.sort();
            let got: Vec<(u64, String)> = store
                .list(at(since))
                .expect("list")
                .into_iter()
                .map(|e| (e.received, e.id))
                .collect();
            assert_eq!(got, want);
        }
    }
}
