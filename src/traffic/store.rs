//! The traffic store in sled (`<data_dir>/traffic.sled`, its own database): every sled call for traffic
//! records and inquiries lives here, behind a typed API.
//!
//! Layout (after sled's `examples/structured.rs`, tag v0.34.7):
//! - tree `records`: key = `time` as 8 bytes big-endian ++ a sled-generated counter as 8 bytes big-endian
//!   (byte order is time order; the counter keeps two records of the same second apart); value =
//!   [`VALUE_VERSION`] ++ the [`Record`] as JSON.
//! - tree `inquiries`: key = inquiry id as 8 bytes big-endian; value = [`VALUE_VERSION`] ++ the
//!   [`Inquiry`] as JSON.
//! - tree `meta`: key `purged_before` = the latest purge cut-off as 8 bytes big-endian (records before it
//!   may be gone; summaries refuse periods that begin earlier).
//!
//! The records are secondary: mail never waits for them. So a database that is damaged (sled cannot open
//! it) is moved aside for forensics and a fresh one started ([`TrafficStore::open_or_recover`]), rather than
//! keep the daemon, and with it all mail, from starting. One that is locked, not ours or on a full disk is
//! not damaged and is left alone (an error for the operator).
//!
//! Must not: hold anything but records, inquiries and that cut-off; decide anything (retention's cut-off is
//! passed in).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Inquiry, Record, DAY};
use crate::storage::{classify_sled, create_private_dir, move_aside, OpenFailure};

/// First byte of every value; a future layout bumps it.
pub const VALUE_VERSION: u8 = 1;

/// A traffic store error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("traffic store {path}: {source}")]
    Sled { path: String, source: sled::Error },
    #[error("traffic store {path} is in use by another process (is mailwacht serve running?)")]
    Locked { path: String },
    #[error("traffic store value at {key} has an unknown layout")]
    Layout { key: String },
    #[error("traffic store {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The shared store (`[storage] backend = "postgres"`; see [`super::postgres`]).
    #[error("traffic store (PostgreSQL): {0}")]
    Postgres(#[from] crate::storage::postgres::PgError),
    /// A blocking task that worked on the embedded store did not finish (it panicked or was cancelled).
    #[error("traffic store: {0}")]
    Task(String),
    /// Moving a store to PostgreSQL: these inquiry numbers are held by other inquiries there.
    #[error(
        "inquiries {ids:?} were not moved: their numbers are held by other inquiries in the shared \
         database (the audit log names inquiries by number, so they are not renumbered: move them by hand)"
    )]
    Taken { ids: Vec<u64> },
}

/// A damaged traffic store that [`TrafficStore::open_or_recover`] moved aside.
#[derive(Debug)]
pub struct Recovered {
    /// Where the damaged store is kept now.
    pub moved_to: PathBuf,
    /// Why it could not be opened.
    pub error: sled::Error,
}

/// The traffic database (see the module docs). Cheap to clone.
#[derive(Debug, Clone)]
pub struct TrafficStore {
    db: sled::Db,
    records: sled::Tree,
    inquiries: sled::Tree,
    meta: sled::Tree,
    path: String,
}

/// Key in `meta` of the latest purge cut-off.
const PURGED_BEFORE: &[u8] = b"purged_before";

fn record_key(time: u64, seq: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&time.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut v = vec![VALUE_VERSION];
    // Serialising these plain structs to JSON cannot fail.
    v.extend(serde_json::to_vec(value).unwrap_or_default());
    v
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, StoreError> {
    let layout = || StoreError::Layout {
        key: key.iter().map(|b| format!("{b:02x}")).collect(),
    };
    match value.split_first() {
        Some((&VALUE_VERSION, json)) => serde_json::from_slice(json).map_err(|_| layout()),
        _ => Err(layout()),
    }
}

/// sled page-cache size for the traffic store (bytes).
const TRAFFIC_CACHE_BYTES: u64 = 2 * 1024 * 1024;

impl TrafficStore {
    /// Open (or create) the store at `<data_dir>/traffic.sled`.
    pub fn open(data_dir: &Path) -> Result<TrafficStore, StoreError> {
        TrafficStore::open_path(&data_dir.join("traffic.sled"))
    }

    /// Open (or create) the store at `<data_dir>/traffic.sled`; when it is damaged, move it aside
    /// (`traffic.sled.damaged-<seconds>`, `now`) and start a fresh one whose [`TrafficStore::purged_before`]
    /// is `now`. Any other failure (locked, not ours, disk full) is an error and nothing is moved.
    pub fn open_or_recover(
        data_dir: &Path,
        now: SystemTime,
    ) -> Result<(TrafficStore, Option<Recovered>), StoreError> {
        let path = data_dir.join("traffic.sled");
        match TrafficStore::open_path(&path) {
            Ok(store) => Ok((store, None)),
            Err(StoreError::Sled { source, .. })
                if classify_sled(&source) == OpenFailure::Damaged =>
            {
                let moved_to = move_aside(&path, now).map_err(|source| StoreError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                let store = TrafficStore::open_path(&path)?;
                // The records before now went with the damaged store: summaries of periods that begin
                // earlier are refused, as after a purge (they would differ from ones made before).
                let lost_before = now
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                store
                    .meta
                    .insert(PURGED_BEFORE, &lost_before.to_be_bytes())
                    .map_err(|e| store.err(e))?;
                Ok((
                    store,
                    Some(Recovered {
                        moved_to,
                        error: source,
                    }),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// Open (or create) the store at `path`.
    pub fn open_path(path: &Path) -> Result<TrafficStore, StoreError> {
        let name = path.display().to_string();
        // Owner-only whatever the umask (sled would create it with the umask's mode). Something other
        // than a directory in the way is left for sled to report (as damage).
        match create_private_dir(path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Io {
                    path: name,
                    source: e,
                })
            }
            _ => {}
        }
        // sled's page cache defaults to 1 GiB and kept every record written since start in memory: RSS grew
        // 43 MB between 10,000 and 100,000 messages (6 MB with this cache; BENCHMARKS.md). Records are
        // written once and read rarely (summaries, inquiries), so a small cache costs no throughput.
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(TRAFFIC_CACHE_BYTES)
            .open()
            .map_err(|source| {
                if classify_sled(&source) == OpenFailure::Locked {
                    StoreError::Locked { path: name.clone() }
                } else {
                    StoreError::Sled {
                        path: name.clone(),
                        source,
                    }
                }
            })?;
        let err = |source| StoreError::Sled {
            path: name.clone(),
            source,
        };
        let records = db.open_tree("records").map_err(err)?;
        let inquiries = db.open_tree("inquiries").map_err(err)?;
        let meta = db.open_tree("meta").map_err(err)?;
        Ok(TrafficStore {
            db,
            records,
            inquiries,
            meta,
            path: name,
        })
    }

    fn err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    /// Add a record.
    pub fn insert(&self, record: &Record) -> Result<(), StoreError> {
        let seq = self.db.generate_id().map_err(|e| self.err(e))?;
        self.records
            .insert(record_key(record.time, seq), encode(record))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records with `from <= time < to`, oldest first.
    pub fn range(&self, from: u64, to: u64) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        for item in self.records.range(record_key(from, 0)..record_key(to, 0)) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    /// Up to `limit` records with their keys, in key order, after the key `after` (from the first when
    /// `None`): for moving the store to PostgreSQL in pieces.
    pub fn keyed(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Record)>, StoreError> {
        use std::ops::Bound;
        let from = match after {
            Some(k) => Bound::Excluded(k.to_vec()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for item in self
            .records
            .range::<Vec<u8>, _>((from, Bound::Unbounded))
            .take(limit)
        {
            let (k, v) = item.map_err(|e| self.err(e))?;
            out.push((k.to_vec(), decode(&k, &v)?));
        }
        Ok(out)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// The database's size on disk in bytes (for `/metrics`; sled returns freed space to the OS only on
    /// compaction).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(|e| self.err(e))
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Delete every record older than `retention_days` before `now` (seconds since the epoch), i.e. with
    /// `time < now - retention_days × 86400`; returns how many were deleted (WereldKidz 6.7). The cut-off is
    /// remembered first ([`TrafficStore::purged_before`]).
    pub fn purge(&self, now: u64, retention_days: u64) -> Result<usize, StoreError> {
        let cutoff = now.saturating_sub(retention_days.saturating_mul(DAY));
        if cutoff > self.purged_before()? {
            self.meta
                .insert(PURGED_BEFORE, &cutoff.to_be_bytes())
                .map_err(|e| self.err(e))?;
        }
        let mut n = 0;
        for item in self.records.range(..record_key(cutoff, 0)) {
            let (k, _) = item.map_err(|e| self.err(e))?;
            self.records.remove(k).map_err(|e| self.err(e))?;
            n += 1;
        }
        Ok(n)
    }

    /// The latest purge cut-off: records before it may have been deleted (0: never purged). A summary of a
    /// period that begins earlier would miss records a summary made before the purge saw.
    pub fn purged_before(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(PURGED_BEFORE)
            .map_err(|e| self.err(e))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    /// A new inquiry id (1, 2, ...).
    pub fn next_inquiry_id(&self) -> Result<u64, StoreError> {
        let last = self
            .inquiries
            .last()
            .map_err(|e| self.err(e))?
            .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        Ok(last + 1)
    }

    /// Insert or replace an inquiry.
    pub fn put_inquiry(&self, inquiry: &Inquiry) -> Result<(), StoreError> {
        self.inquiries
            .insert(inquiry.id.to_be_bytes(), encode(inquiry))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The inquiry with this id.
    pub fn inquiry(&self, id: u64) -> Result<Option<Inquiry>, StoreError> {
        let key = id.to_be_bytes();
        match self.inquiries.get(key).map_err(|e| self.err(e))? {
            Some(v) => decode(&key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Every inquiry, by id.
    pub fn inquiries(&self) -> Result<Vec<Inquiry>, StoreError> {
        let mut out = Vec::new();
        for item in self.inquiries.iter() {
            let (k, v) = item.map_err(|e| self.err(e))?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    /// Ask sled to write its buffers.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Issue 12 item 9: a damaged database is moved aside (kept, byte for byte) and a fresh one opened; a
    /// database in use by another process is an error and is not touched.
    #[test]
    fn a_damaged_store_is_moved_aside_and_started_afresh() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        {
            let (store, recovered) = TrafficStore::open_or_recover(tmp.path(), now).expect("open");
            assert!(recovered.is_none());
            store.insert(&record(5, "a")).expect("insert");
            store.db.flush().expect("flush");
        }
        let conf = tmp.path().join("traffic.sled/conf");
        let mut damaged = std::fs::read(&conf).expect("conf");
        damaged[10] ^= 0x01;
        std::fs::write(&conf, &damaged).expect("damage");
        // What the old code did: refuse to open (and so `serve` exited).
        assert!(matches!(
            TrafficStore::open(tmp.path()),
            Err(StoreError::Sled { .. })
        ));
        let (store, recovered) = TrafficStore::open_or_recover(tmp.path(), now).expect("recovered");
        let recovered = recovered.expect("moved aside");
        assert_eq!(
            recovered.moved_to,
            tmp.path().join("traffic.sled.damaged-1000")
        );
        assert_eq!(
            std::fs::read(recovered.moved_to.join("conf")).expect("kept"),
            damaged
        );
        assert!(store.is_empty());
        assert_eq!(
            store.purged_before().expect("meta"),
            1_000,
            "summaries of periods before the recovery are refused"
        );
        store
            .insert(&record(6, "b"))
            .expect("a fresh store takes records");

        let locked = TrafficStore::open_or_recover(tmp.path(), now);
        assert!(
            matches!(locked, Err(StoreError::Locked { .. })),
            "{locked:?}"
        );
        assert!(!tmp.path().join("traffic.sled.damaged-1000-1").exists());
    }

    #[test]
    fn a_new_store_is_owner_only_whatever_the_umask_says() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = TrafficStore::open(tmp.path()).expect("open");
        let mode = std::fs::metadata(tmp.path().join("traffic.sled"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        drop(store);
    }

    pub(crate) fn record(time: u64, sender: &str) -> Record {
        Record {
            time,
            sender: sender.into(),
            sender_domain: "school.example".into(),
            rcpt_local: 1,
            rcpt_external: 0,
            rcpt_domains: vec!["school.example".into()],
            size: 100,
            attachments: 0,
            verdict: "pass".into(),
            categories: vec![],
            exempt: None,
            would: None,
        }
    }

    fn temp_store() -> (tempfile::TempDir, TrafficStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = TrafficStore::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn retention_purges_exactly_what_is_older_than_the_limit() {
        let (_d, store) = temp_store();
        let now = 100 * DAY;
        let cutoff = now - 28 * DAY;
        for t in [0, cutoff - 1, cutoff, cutoff + 1, now] {
            store.insert(&record(t, "a")).unwrap();
        }
        assert_eq!(store.purge(now, 28).unwrap(), 2);
        let left: Vec<u64> = store
            .range(0, u64::MAX)
            .unwrap()
            .iter()
            .map(|r| r.time)
            .collect();
        assert_eq!(left, vec![cutoff, cutoff + 1, now]);
        // A second purge at the same time deletes nothing more; a day later the next one goes.
        assert_eq!(store.purge(now, 28).unwrap(), 0);
        assert_eq!(store.purge(now + 1, 28).unwrap(), 1);
        // The latest cut-off is remembered, also when the retention is raised afterwards.
        assert_eq!(store.purged_before().unwrap(), cutoff + 1);
        assert_eq!(store.purge(now + 1, 60).unwrap(), 0);
        assert_eq!(store.purged_before().unwrap(), cutoff + 1);
    }

    #[test]
    fn same_second_records_are_all_kept_in_time_order() {
        let (_d, store) = temp_store();
        for (t, s) in [(5, "x"), (3, "y"), (5, "z"), (3, "w")] {
            store.insert(&record(t, s)).unwrap();
        }
        let got: Vec<(u64, String)> = store
            .range(0, 10)
            .unwrap()
            .into_iter()
            .map(|r| (r.time, r.sender))
            .collect();
        assert_eq!(got.len(), 4);
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(store.range(4, 5).unwrap().len(), 0);
        assert_eq!(store.range(5, 6).unwrap().len(), 2);
    }

    #[test]
    fn inquiries_round_trip_and_ids_grow() {
        let (_d, store) = temp_store();
        assert_eq!(store.next_inquiry_id().unwrap(), 1);
        let inq = Inquiry {
            id: 1,
            person: "p@school.example".into(),
            reason: "r".into(),
            by: "b".into(),
            from: 10,
            to: 20,
            opened: 10,
            closed: None,
            opened_uid: Some(1000),
            opened_login: None,
            auto_closed: false,
            notified: None,
        };
        store.put_inquiry(&inq).unwrap();
        assert_eq!(store.next_inquiry_id().unwrap(), 2);
        assert_eq!(store.inquiry(1).unwrap(), Some(inq.clone()));
        assert_eq!(store.inquiry(2).unwrap(), None);
        assert_eq!(store.inquiries().unwrap(), vec![inq]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Purge(u64, u64),
        Range(u64, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..40 * DAY).prop_map(Op::Insert),
            (0u64..60 * DAY, 1u64..30).prop_map(|(n, d)| Op::Purge(n, d)),
            (0u64..40 * DAY, 0u64..40 * DAY).prop_map(|(a, b)| Op::Range(a, b)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Model test: the store behaves like a BTreeMap keyed by (time, insertion number).
        #[test]
        fn store_matches_a_btreemap(ops in proptest::collection::vec(op(), 1..40)) {
            let (_d, store) = temp_store();
            let mut model: BTreeMap<(u64, u64), Record> = BTreeMap::new();
            let mut n = 0u64;
            for op in ops {
                match op {
                    Op::Insert(t) => {
                        let r = record(t, &format!("s{n}"));
                        store.insert(&r).unwrap();
                        model.insert((t, n), r);
                        n += 1;
                    }
                    Op::Purge(now, days) => {
                        let cutoff = now.saturating_sub(days * DAY);
                        let before = model.len();
                        model.retain(|(t, _), _| *t >= cutoff);
                        prop_assert_eq!(store.purge(now, days).unwrap(), before - model.len());
                    }
                    Op::Range(a, b) => {
                        let want: Vec<Record> = model
                            .iter()
                            .filter(|((t, _), _)| *t >= a && *t < b)
                            .map(|(_, r)| r.clone())
                            .collect();
                        prop_assert_eq!(store.range(a, b).unwrap(), want);
                    }
                }
            }
            prop_assert_eq!(store.len(), model.len());
        }
    }
}
