//! The pseudonym keys: one fresh random key per **key period**, kept in a directory of their own
//! (`[traffic] key_dir`, never inside the data directory) — or, with several nodes, wrapped in the shared
//! database (below) — deleted once every record of their period is gone.
//!
//! Why: a pseudonym is HMAC-SHA256(key, address). Whoever has the key and a staff list can compute every
//! pseudonym and so re-identify every record; whoever has the records but not the key cannot. So:
//! - the key never lies next to the records: a backup or copy of the data directory holds no key
//!   ([`KeyRing::open`] refuses a key directory inside the data directory, and moves a `traffic.key` left
//!   there by an older version out of it);
//! - the key rotates: records of different key periods carry unrelated pseudonyms, so records more than one
//!   key period apart can never be linked to the same person, and when a period's last record is purged its
//!   key is deleted ([`KeyRing::expire`]): from then on nothing, not even this server, can link those
//!   records to an address (WereldKidz 6.7, SOML/ProCon 8.2).
//!
//! **Key periods** ([`period`]) are aligned blocks of whole ISO weeks: they start on a Monday 00:00 UTC,
//! last `ceil(retention_days / 7)` weeks, and are counted from Monday 1970-01-05. A summary per day or per
//! week therefore never spans two keys (one sender stays one sender within it). Periods are never derived
//! from a master key: each is 32 bytes from the OS random source, so deleting it is final.
//! Exceptions, both still on a Monday: after `retention_days` changes, a new key starts where the last one
//! ends (keys never overlap); a migrated `traffic.key` covers everything before the current period's end.
//!
//! Files: `<key_dir>/pseudonym_<from>_<to>.key` (dates `YYYY-MM-DD`, `to` exclusive), 32 bytes, mode 0600,
//! in a directory with mode 0700; written to a temporary name, fsynced and linked into place (never over
//! an existing key). Deleting a key overwrites it with zeros, fsyncs and unlinks it; on copy-on-write file
//! systems, SSDs and in backups of the key directory the old bytes may survive — do not back up the key
//! directory (losing it only means new pseudonyms from then on).
//!
//! **Several nodes** (`[storage] backend = "postgres"`, [`KeyRing::shared`]): the same periods and the same
//! rules, but the keys live in the shared database ([`postgres`]), **wrapped** under the secret every node
//! reads from `[traffic] key_secret_file` ([`wrap`]), so every node pseudonymises one person alike and an
//! inquiry on any node finds every node's records. Still one fresh random key per period, never derived from
//! the secret (the secret alone yields no key; a dump of the database holds only wrapped keys); the first node
//! that needs a period's key makes it, the others read it; deleting the row is final (crypto-shredding). Keys
//! are cached in memory only — no key file is written — and expiry ([`KeyRing::expire`]) deletes rows only
//! after the shared purge, on one node at a time, and drops from each node's cache what is gone. A node whose
//! secret does not open the keys makes none and keeps no records ([`KeyError::WrongSecret`], logged once).
//!
//! Must not: log or return an address; create anything inside the data directory.

// the shared keys (issue 17): the database store and the wrapping.
pub mod postgres;
pub mod wrap;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::summary::{date, parse_date};
use super::{PseudonymKey, DAY};

/// Seconds in a week.
pub const WEEK: u64 = 7 * DAY;

/// Monday 1970-01-05 00:00 UTC, the first Monday after the Unix epoch: key periods are counted from here.
pub const FIRST_MONDAY: u64 = 4 * DAY;

/// The name of the key file older versions kept in the data directory.
pub const LEGACY_KEY: &str = "traffic.key";

/// Length of a key period in weeks: the retention period rounded up to whole weeks (at least one).
pub fn period_weeks(retention_days: u64) -> u64 {
    retention_days.div_ceil(7).max(1)
}

/// The key period `[from, to)` that `time` falls in (see the module docs). Times before the first Monday
/// fall in `[0, FIRST_MONDAY)`.
pub fn period(time: u64, retention_days: u64) -> (u64, u64) {
    if time < FIRST_MONDAY {
        return (0, FIRST_MONDAY);
    }
    let len = period_weeks(retention_days).saturating_mul(WEEK);
    let from = FIRST_MONDAY + (time - FIRST_MONDAY) / len * len;
    (from, from.saturating_add(len))
}

/// One key and the period `[from, to)` whose records it pseudonymises.
#[derive(Debug, Clone)]
pub struct EpochKey {
    /// First second of the period.
    pub from: u64,
    /// First second after the period.
    pub to: u64,
    /// The key.
    pub key: PseudonymKey,
}

impl EpochKey {
    fn covers(&self, time: u64) -> bool {
        self.from <= time && time < self.to
    }
}

/// A key file or the key directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("traffic key {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("traffic key {path} is {len} bytes, expected 32")]
    Length { path: String, len: usize },
    #[error("traffic key directory {key_dir} lies inside or around the data directory {data_dir}: the key must be kept apart from the records ([traffic] key_dir)")]
    NotApart { key_dir: String, data_dir: String },
    #[error("traffic keys {a} and {b} cover overlapping periods")]
    Overlap { a: String, b: String },
    #[error("no traffic key covers {when} (the key directory {dir} is read-only here)")]
    NoKey { when: String, dir: String },
    // the shared keys (issue 17).
    #[error("no traffic key in the shared database covers {when} (read-only here)")]
    NoSharedKey { when: String },
    #[error(
        "[traffic] key_secret_file opent {what} in de gedeelde database niet / does not open {what} in the \
         shared database: this node has another secret than the node that made the keys. No traffic \
         records are kept on this node until every node reads the same secret file"
    )]
    WrongSecret { what: String },
    #[error("pseudonym keys in the shared database: {0}")]
    Shared(String),
    #[error("pseudonym keys in the shared database: {0}")]
    Unreachable(String),
    #[error(
        "key periods {periods:?} hold another key in the shared database: not overwritten (records \
         pseudonymised under either key would otherwise be lost to inquiries)"
    )]
    Taken { periods: Vec<String> },
}

/// What [`KeyRing::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Key files loaded.
    pub keys: usize,
    /// The period a `traffic.key` from the data directory now covers, when it was moved.
    pub migrated: Option<(u64, u64)>,
    /// A `traffic.key` in the data directory was deleted because its period is taken by another key.
    pub discarded_legacy: bool,
}

/// The pseudonym keys in force (see the module docs). Shared between the traffic writer, the admin service
/// and the hourly retention run.
#[derive(Debug)]
pub struct KeyRing {
    /// The key directory (empty with the shared database).
    dir: PathBuf,
    /// The daemon creates and deletes keys; the offline CLI only reads them.
    writable: bool,
    /// Sorted by `from`, never overlapping.
    keys: Mutex<Vec<EpochKey>>,
    /// Sets the length of new key periods; follows reloads.
    retention_days: AtomicU64,
    // the shared keys (issue 17).
    /// The keys live in the shared database (`[storage] backend = "postgres"`); `keys` is then a cache of
    /// its rows, in memory only. `None`: the files in `dir`.
    shared: Option<postgres::PgKeys>,
    /// A wrong secret was logged: once, not per record.
    refused_logged: AtomicBool,
    /// After the shared database did not answer, no new try before this: a database that is down must not
    /// make every record of a batch wait for a connect timeout.
    retry_after: Mutex<Option<Instant>>,
}

/// How long [`KeyRing::key_for`] fails at once after the shared database did not answer.
const RETRY_AFTER: Duration = Duration::from_secs(2);

fn io(path: &Path) -> impl Fn(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `path` made absolute, with symbolic links resolved when it exists.
fn resolved(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The file name of a key for `[from, to)`.
fn file_name(from: u64, to: u64) -> String {
    format!("pseudonym_{}_{}.key", date(from), date(to))
}

/// The period of a key file name, if it is one.
fn parse_name(name: &str) -> Option<(u64, u64)> {
    let (from, to) = name
        .strip_prefix("pseudonym_")?
        .strip_suffix(".key")?
        .split_once('_')?;
    let (from, to) = (parse_date(from).ok()?, parse_date(to).ok()?);
    (from < to).then_some((from, to))
}

fn read_key(path: &Path) -> Result<[u8; 32], KeyError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| KeyError::Length {
        path: path.display().to_string(),
        len,
    })
}

fn random_key(path: &Path) -> Result<[u8; 32], KeyError> {
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))
        .map_err(io(path))?;
    Ok(key)
}

fn sync_dir(dir: &Path) -> Result<(), KeyError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Write `key` to `path` (mode 0600) without ever replacing an existing file: temporary file, fsync, link,
/// unlink the temporary name, fsync the directory.
fn write_new(path: &Path, key: &[u8; 32]) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("key")
    ));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    file.write_all(key).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    let linked = std::fs::hard_link(&tmp, path).map_err(io(path));
    let _ = std::fs::remove_file(&tmp);
    linked?;
    sync_dir(dir)
}

/// Overwrite a key file with zeros, fsync it and unlink it (see the module docs for what this cannot
/// guarantee).
fn destroy(path: &Path) -> Result<(), KeyError> {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(mut f) => {
            let len = f.metadata().map(|m| m.len()).unwrap_or(32);
            let zeros = vec![0u8; usize::try_from(len).unwrap_or(32)];
            f.write_all(&zeros)
                .and_then(|_| f.sync_all())
                .map_err(io(path))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(path)(e)),
    }
    std::fs::remove_file(path).map_err(io(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// The free stretch `[lo, hi)` around `time` between the keys (sorted, not covering `time`).
fn gap(keys: &[EpochKey], time: u64) -> (u64, u64) {
    let lo = keys
        .iter()
        .filter(|k| k.to <= time)
        .map(|k| k.to)
        .max()
        .unwrap_or(0);
    let hi = keys
        .iter()
        .filter(|k| k.from > time)
        .map(|k| k.from)
        .min()
        .unwrap_or(u64::MAX);
    (lo, hi)
}

impl KeyRing {
    /// The daemon's ring: creates `key_dir` (mode 0700) when missing, loads its keys, and moves a
    /// `traffic.key` found in `data_dir` into it (it then covers everything before the end of the key period
    /// of `now`) and deletes it from the data directory. Refuses a `key_dir` inside `data_dir` or around it.
    pub fn open(
        key_dir: &Path,
        data_dir: &Path,
        retention_days: u64,
        now: u64,
    ) -> Result<(KeyRing, OpenReport), KeyError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        check_apart(key_dir, data_dir)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(key_dir)
            .map_err(io(key_dir))?;
        let mode = std::fs::metadata(key_dir)
            .map_err(io(key_dir))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(key_dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io(key_dir))?;
        }
        // Checked again now that it exists: a symbolic link could point into the data directory.
        check_apart(key_dir, data_dir)?;
        let ring = KeyRing::read(key_dir, true, retention_days)?;
        let mut report = OpenReport {
            keys: ring.keys().len(),
            ..OpenReport::default()
        };
        let legacy = data_dir.join(LEGACY_KEY);
        if legacy.exists() {
            let bytes = read_key(&legacy)?;
            let mut keys = ring.lock();
            let end = period(now, retention_days).1;
            let hi = keys.first().map_or(end, |k| k.from.min(end));
            if hi > 0 {
                write_new(&key_dir.join(file_name(0, hi)), &bytes)?;
                keys.insert(
                    0,
                    EpochKey {
                        from: 0,
                        to: hi,
                        key: PseudonymKey::from_bytes(bytes),
                    },
                );
                report.migrated = Some((0, hi));
            } else {
                report.discarded_legacy = true;
            }
            drop(keys);
            destroy(&legacy)?;
        }
        Ok((ring, report))
    }

    /// A ring with no keys that makes none: what the daemon uses when its key directory cannot be opened.
    /// Every record is then refused by [`KeyRing::key_for`] (and counted as dropped), so no record is kept
    /// without its key and mail is not held up by a store it does not need (issue 12 item 9).
    pub fn unavailable(key_dir: &Path, retention_days: u64) -> KeyRing {
        KeyRing::files(key_dir, false, Vec::new(), retention_days)
    }

    /// A read-only ring (the offline CLI): the keys in `key_dir` if it exists, and a `traffic.key` still in
    /// `data_dir` (an older version's, not yet moved by the daemon) for everything before the first key.
    /// Creates, moves and deletes nothing.
    pub fn load(key_dir: &Path, data_dir: &Path, retention_days: u64) -> Result<KeyRing, KeyError> {
        let keys = epoch_keys(key_files(key_dir, data_dir)?);
        Ok(KeyRing::files(key_dir, false, keys, retention_days))
    }

    fn read(dir: &Path, writable: bool, retention_days: u64) -> Result<KeyRing, KeyError> {
        let keys = epoch_keys(read_files(dir, writable)?);
        Ok(KeyRing::files(dir, writable, keys, retention_days))
    }

    fn files(dir: &Path, writable: bool, keys: Vec<EpochKey>, retention_days: u64) -> KeyRing {
        KeyRing {
            dir: dir.to_path_buf(),
            writable,
            keys: Mutex::new(keys),
            retention_days: AtomicU64::new(retention_days),
            shared: None,
            refused_logged: AtomicBool::new(false),
            retry_after: Mutex::new(None),
        }
    }

    // the shared keys (issue 17).
    /// The ring over the shared database (`[storage] backend = "postgres"`): keys are read from and made in
    /// `store` and cached in memory only. `writable`: the daemon makes and deletes keys; the offline command
    /// line only reads them.
    pub fn shared(store: postgres::PgKeys, retention_days: u64, writable: bool) -> KeyRing {
        KeyRing {
            shared: Some(store),
            ..KeyRing::files(Path::new(""), writable, Vec::new(), retention_days)
        }
    }

    /// Read every key from the shared database into the cache, checking that this node's secret opens
    /// each (at start, and for inquiries: a key another node made is found). Returns how many. The files'
    /// ring has them all already.
    pub fn refresh(&self) -> Result<usize, KeyError> {
        let Some(shared) = &self.shared else {
            return Ok(self.lock().len());
        };
        let all = shared.all().inspect_err(|e| self.log_refused(e))?;
        let n = all.len();
        *self.lock() = all;
        Ok(n)
    }

    /// Log a wrong secret once (each record it stops is counted as dropped anyway).
    fn log_refused(&self, e: &KeyError) {
        if matches!(e, KeyError::WrongSecret { .. })
            && !self.refused_logged.swap(true, Ordering::Relaxed)
        {
            tracing::error!(error = %e, "traffic records (verkeersgegevens) are not kept: wrong [traffic] key_secret_file");
        }
    }

    /// [`KeyRing::key_for`] with the shared database, `keys` the locked cache that missed.
    fn shared_key_for(
        &self,
        shared: &postgres::PgKeys,
        keys: &mut Vec<EpochKey>,
        time: u64,
    ) -> Result<PseudonymKey, KeyError> {
        let mut retry = self.retry_after.lock().unwrap_or_else(|p| p.into_inner());
        if retry.is_some_and(|t| Instant::now() < t) {
            return Err(KeyError::Unreachable(
                "did not answer a moment ago (the record is dropped)".into(),
            ));
        }
        let found = if self.writable {
            let period = period(time, self.retention_days.load(Ordering::Relaxed));
            shared.get_or_create(time, period).map(Some)
        } else {
            shared.covering(time)
        };
        *retry = match &found {
            Err(KeyError::Unreachable(_)) => Some(Instant::now() + RETRY_AFTER),
            _ => None,
        };
        let Some(found) = found.inspect_err(|e| self.log_refused(e))? else {
            return Err(KeyError::NoSharedKey { when: date(time) });
        };
        // The database's periods never overlap; a cached key they now overlap was deleted there.
        keys.retain(|k| k.to <= found.from || found.to <= k.from);
        let at = keys.partition_point(|k| k.from < found.from);
        let key = found.key.clone();
        keys.insert(at, found);
        Ok(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<EpochKey>> {
        // A panic while holding the lock leaves the list itself consistent (every change is one push/remove).
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// New key periods follow this retention (after a reload).
    pub fn set_retention(&self, retention_days: u64) {
        self.retention_days.store(retention_days, Ordering::Relaxed);
    }

    /// The key for a record at `time`: the key whose period covers it, or (daemon only) a new random key for
    /// the key period of `time`, shortened where it would overlap an existing key.
    pub fn key_for(&self, time: u64) -> Result<PseudonymKey, KeyError> {
        let mut keys = self.lock();
        if let Some(k) = keys.iter().find(|k| k.covers(time)) {
            return Ok(k.key.clone());
        }
        if let Some(shared) = &self.shared {
            return self.shared_key_for(shared, &mut keys, time);
        }
        if !self.writable {
            return Err(KeyError::NoKey {
                when: date(time),
                dir: self.dir.display().to_string(),
            });
        }
        let (from, to) = period(time, self.retention_days.load(Ordering::Relaxed));
        let (lo, hi) = gap(&keys, time);
        let (from, to) = (from.max(lo), to.min(hi));
        let path = self.dir.join(file_name(from, to));
        let bytes = random_key(&path)?;
        write_new(&path, &bytes)?;
        let key = PseudonymKey::from_bytes(bytes);
        let at = keys.partition_point(|k| k.from < from);
        keys.insert(
            at,
            EpochKey {
                from,
                to,
                key: key.clone(),
            },
        );
        Ok(key)
    }

    /// Every key in force, oldest first. With the shared database, read afresh (also the keys other nodes
    /// made); when it cannot be read, the keys this node has seen.
    pub fn keys(&self) -> Vec<EpochKey> {
        if self.shared.is_some() {
            if let Err(e) = self.refresh() {
                tracing::warn!(error = %e, "pseudonym keys not read from the shared database; using those cached on this node");
            }
        }
        self.lock().clone()
    }

    /// Delete the keys whose whole period lies before the retention cut-off (`now - retention_days`), i.e.
    /// whose records have all been purged. Returns their periods. Only the daemon deletes.
    pub fn expire(&self, now: u64, retention_days: u64) -> Result<Vec<(u64, u64)>, KeyError> {
        if !self.writable {
            return Ok(Vec::new());
        }
        let cutoff = now.saturating_sub(retention_days.saturating_mul(DAY));
        if let Some(shared) = &self.shared {
            // Deleted on one node (after the records: see `postgres::PgKeys::expire`); every node's run
            // then drops from its cache what the database no longer holds.
            let gone = shared.expire(cutoff)?.unwrap_or_default();
            let kept = shared.periods()?;
            self.lock()
                .retain(|k| k.to > cutoff && kept.contains(&(k.from, k.to)));
            return Ok(gone);
        }
        let mut keys = self.lock();
        let mut gone = Vec::new();
        while let Some(k) = keys.first().filter(|k| k.to <= cutoff) {
            let (from, to) = (k.from, k.to);
            destroy(&self.dir.join(file_name(from, to)))?;
            keys.remove(0);
            gone.push((from, to));
        }
        Ok(gone)
    }
}

/// A key as its file holds it: the period `[from, to)` and the 32 bytes.
pub type KeyBytes = (u64, u64, [u8; 32]);

fn epoch_keys(keys: Vec<KeyBytes>) -> Vec<EpochKey> {
    keys.into_iter()
        .map(|(from, to, bytes)| EpochKey {
            from,
            to,
            key: PseudonymKey::from_bytes(bytes),
        })
        .collect()
}

/// The keys in `dir` as (from, to, bytes), sorted, refusing overlaps; `writable`: also remove what an
/// interrupted write left.
fn read_files(dir: &Path, writable: bool) -> Result<Vec<KeyBytes>, KeyError> {
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if writable && name.starts_with('.') && name.ends_with(".tmp") {
            // A key write that was interrupted before it was linked into place.
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        let Some((from, to)) = parse_name(&name) else {
            continue;
        };
        keys.push((from, to, read_key(&entry.path())?));
    }
    keys.sort_by_key(|k| k.0);
    for w in keys.windows(2) {
        if w[0].1 > w[1].0 {
            return Err(KeyError::Overlap {
                a: dir.join(file_name(w[0].0, w[0].1)).display().to_string(),
                b: dir.join(file_name(w[1].0, w[1].1)).display().to_string(),
            });
        }
    }
    Ok(keys)
}

/// A node's key files as (from, to, bytes), read only: the keys in `key_dir` if it exists, and a
/// `traffic.key` still in `data_dir` (an older version's) for everything before the first key. What
/// [`KeyRing::load`] reads, and what `mailwacht store migrate --from embedded` moves to the shared database.
pub fn key_files(key_dir: &Path, data_dir: &Path) -> Result<Vec<KeyBytes>, KeyError> {
    check_apart(key_dir, data_dir)?;
    let mut keys = if key_dir.exists() {
        read_files(key_dir, false)?
    } else {
        Vec::new()
    };
    let legacy = data_dir.join(LEGACY_KEY);
    if legacy.exists() {
        let bytes = read_key(&legacy)?;
        let hi = keys.first().map_or(u64::MAX, |k| k.0);
        if hi > 0 {
            keys.insert(0, (0, hi, bytes));
        }
    }
    Ok(keys)
}

/// The key directory and the data directory must not contain each other.
fn check_apart(key_dir: &Path, data_dir: &Path) -> Result<(), KeyError> {
    let (k, d) = (resolved(key_dir), resolved(data_dir));
    if k.starts_with(&d) || d.starts_with(&k) {
        return Err(KeyError::NotApart {
            key_dir: key_dir.display().to_string(),
            data_dir: data_dir.display().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Monday 2026-11-30 00:00 UTC.
    const MONDAY: u64 = 1_795_996_800;

    fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().expect("tmp");
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).expect("data");
        let keys = tmp.path().join("data-keys");
        (tmp, data, keys)
    }

    fn weekday(time: u64) -> u64 {
        // 0 = Monday.
        (time / DAY + 3) % 7
    }

    #[test]
    fn periods_are_aligned_blocks_of_whole_weeks() {
        assert_eq!(date(MONDAY), "2026-11-30");
        assert_eq!(weekday(MONDAY), 0);
        for (retention, weeks) in [(1, 1), (7, 1), (8, 2), (14, 2), (28, 4), (29, 5), (90, 13)] {
            assert_eq!(period_weeks(retention), weeks, "{retention}");
        }
        for retention in [1, 7, 14, 28, 29, 90] {
            let len = period_weeks(retention) * WEEK;
            for t in [
                FIRST_MONDAY,
                MONDAY - 1,
                MONDAY,
                MONDAY + 3 * DAY + 5,
                MONDAY + 40 * DAY,
            ] {
                let (from, to) = period(t, retention);
                assert!(from <= t && t < to, "{t} in [{from}, {to})");
                assert_eq!(to - from, len);
                assert_eq!(weekday(from), 0, "starts on a Monday");
                assert_eq!((from - FIRST_MONDAY) % len, 0, "counted from 1970-01-05");
                // Every day and every ISO week lies in one period.
                let week = crate::traffic::summary::iso_week_start(t);
                assert!(from <= week && week + WEEK <= to);
            }
        }
        assert_eq!(period(5, 28), (0, FIRST_MONDAY));
    }

    #[test]
    fn keys_live_outside_the_data_dir_owner_only_and_survive_a_restart() {
        let (_tmp, data, keys) = dirs();
        let (ring, report) = KeyRing::open(&keys, &data, 28, MONDAY).expect("open");
        assert_eq!(report, OpenReport::default());
        let k = ring.key_for(MONDAY + 10).expect("key");
        let files: Vec<_> = std::fs::read_dir(&keys)
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let name = files[0]
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert_eq!(name, "pseudonym_2026-11-23_2026-12-21.key");
        assert_eq!(
            std::fs::metadata(&files[0])
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&keys).expect("meta").permissions().mode() & 0o777,
            0o700
        );
        assert!(!files[0].starts_with(&data));
        assert_eq!(std::fs::read_dir(&data).expect("data").count(), 0);
        drop(ring);
        let (again, report) = KeyRing::open(&keys, &data, 28, MONDAY).expect("reopen");
        assert_eq!(report.keys, 1);
        assert_eq!(
            again
                .key_for(MONDAY + 20 * DAY)
                .expect("same period")
                .pseudonym("a@b"),
            k.pseudonym("a@b")
        );
        // Read-only: the same key, but nothing new is created.
        let ro = KeyRing::load(&keys, &data, 28).expect("load");
        assert_eq!(
            ro.key_for(MONDAY).expect("key").pseudonym("a@b"),
            k.pseudonym("a@b")
        );
        assert!(matches!(
            ro.key_for(MONDAY + 60 * DAY),
            Err(KeyError::NoKey { .. })
        ));
        assert_eq!(std::fs::read_dir(&keys).expect("dir").count(), 1);
    }

    #[test]
    fn pseudonyms_differ_across_key_periods() {
        let (_tmp, data, keys) = dirs();
        let (ring, _) = KeyRing::open(&keys, &data, 28, MONDAY).expect("open");
        let (from, to) = period(MONDAY, 28);
        let a = ring
            .key_for(from)
            .expect("a")
            .pseudonym("piet@school.example");
        let a2 = ring
            .key_for(to - 1)
            .expect("a")
            .pseudonym("piet@school.example");
        let b = ring
            .key_for(to)
            .expect("b")
            .pseudonym("piet@school.example");
        assert_eq!(a, a2, "one person is one pseudonym within a period");
        assert_ne!(a, b, "and unrelated ones across periods");
        assert_eq!(ring.keys().len(), 2);
    }

    #[test]
    fn a_key_dir_inside_the_data_dir_is_refused() {
        let (tmp, data, _) = dirs();
        for bad in [data.join("keys"), data.clone(), tmp.path().to_path_buf()] {
            assert!(
                matches!(
                    KeyRing::open(&bad, &data, 28, MONDAY),
                    Err(KeyError::NotApart { .. })
                ),
                "{}",
                bad.display()
            );
        }
        // Also through a symbolic link.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(data.join("sub"), &link).expect("symlink");
        std::fs::create_dir(data.join("sub")).expect("sub");
        assert!(matches!(
            KeyRing::open(&link, &data, 28, MONDAY),
            Err(KeyError::NotApart { .. })
        ));
        assert!(!data.join("keys").exists());
    }

    #[test]
    fn expire_deletes_exactly_the_keys_whose_records_are_all_purged() {
        let (_tmp, data, keys) = dirs();
        let (ring, _) = KeyRing::open(&keys, &data, 28, MONDAY).expect("open");
        let (from, to) = period(MONDAY, 28);
        ring.key_for(from).expect("first");
        ring.key_for(to).expect("second");
        // The first period ends at `to`: its records are all gone once now - 28 days >= to.
        assert!(ring
            .expire(to + 28 * DAY - 1, 28)
            .expect("expire")
            .is_empty());
        assert_eq!(
            ring.expire(to + 28 * DAY, 28).expect("expire"),
            vec![(from, to)]
        );
        let left: Vec<_> = std::fs::read_dir(&keys).expect("dir").flatten().collect();
        assert_eq!(left.len(), 1);
        assert_eq!(ring.keys().len(), 1);
        assert_eq!(ring.keys()[0].from, to);
        // A record in the expired period would get a fresh key: the old pseudonyms are gone for good.
    }

    #[test]
    fn a_legacy_key_in_the_data_dir_is_moved_out_and_keeps_its_records_readable() {
        let (_tmp, data, keys) = dirs();
        std::fs::write(data.join(LEGACY_KEY), [5u8; 32]).expect("legacy");
        let old = PseudonymKey::from_bytes([5; 32]).pseudonym("piet@school.example");
        // Offline before the daemon ran: read in place, nothing moved or created.
        let ro = KeyRing::load(&keys, &data, 28).expect("load");
        assert_eq!(
            ro.key_for(MONDAY)
                .expect("legacy")
                .pseudonym("piet@school.example"),
            old
        );
        assert!(!keys.exists() && data.join(LEGACY_KEY).exists());
        let (ring, report) = KeyRing::open(&keys, &data, 28, MONDAY).expect("open");
        let end = period(MONDAY, 28).1;
        assert_eq!(report.migrated, Some((0, end)));
        assert!(!data.join(LEGACY_KEY).exists(), "gone from the data dir");
        assert_eq!(
            ring.key_for(MONDAY - 20 * DAY)
                .expect("old records")
                .pseudonym("piet@school.example"),
            old
        );
        assert_ne!(
            ring.key_for(end)
                .expect("next period")
                .pseudonym("piet@school.example"),
            old
        );
        // A copy of the old key that shows up again later finds its period taken and is deleted.
        std::fs::write(data.join(LEGACY_KEY), [6u8; 32]).expect("again");
        drop(ring);
        let (ring, report) = KeyRing::open(&keys, &data, 28, MONDAY).expect("reopen");
        assert!(report.discarded_legacy);
        assert!(!data.join(LEGACY_KEY).exists());
        assert_eq!(
            ring.key_for(MONDAY)
                .expect("kept")
                .pseudonym("piet@school.example"),
            old
        );
    }

    #[test]
    fn a_retention_change_never_makes_keys_overlap() {
        let (_tmp, data, keys) = dirs();
        let (ring, _) = KeyRing::open(&keys, &data, 21, MONDAY).expect("open");
        let (_, to) = period(MONDAY, 21);
        ring.key_for(MONDAY).expect("3-week period");
        ring.set_retention(28);
        let t = to + DAY;
        ring.key_for(t).expect("next");
        let all = ring.keys();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].from, to, "starts where the last one ends");
        assert!(all[1].to > t);
        for k in &all {
            assert_eq!(weekday(k.from), 0);
            assert_eq!(weekday(k.to), 0);
        }
        drop(ring);
        KeyRing::open(&keys, &data, 28, MONDAY).expect("reopens without overlap");
    }

    #[test]
    fn damaged_key_files_are_named() {
        let (_tmp, data, keys) = dirs();
        std::fs::create_dir(&keys).expect("dir");
        std::fs::write(keys.join("pseudonym_2026-11-30_2026-12-28.key"), b"short").expect("w");
        assert!(matches!(
            KeyRing::open(&keys, &data, 28, MONDAY),
            Err(KeyError::Length { len: 5, .. })
        ));
        std::fs::write(keys.join("pseudonym_2026-11-30_2026-12-28.key"), [1u8; 32]).expect("w");
        std::fs::write(keys.join("pseudonym_2026-12-07_2027-01-04.key"), [2u8; 32]).expect("w");
        assert!(matches!(
            KeyRing::open(&keys, &data, 28, MONDAY),
            Err(KeyError::Overlap { .. })
        ));
    }
}
