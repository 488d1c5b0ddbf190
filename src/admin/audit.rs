//! The audit log: who looked at, released, exported or deleted quarantined mail, when and why
//! (WereldKidz 6.10, SOML/ProCon 9.5: those who operate the control are accountable for what they see).
//!
//! Two files in the data directory:
//! - `audit.log`: JSON lines, appended with `O_APPEND`, mode 0600, fsync after every entry. Each entry carries
//!   `prev`, the SHA-256 (hex) of the previous line's bytes (64 zeros for the first line), so a line changed,
//!   inserted or removed in the middle breaks the chain at the line after it.
//! - `audit.head`: the anchor of the log's end — the number of entries and the hash of the last one —
//!   rewritten after every append (tmp → fsync → rename → fsync of the directory). A chain alone cannot show
//!   that its end was cut off or its last line edited (nothing follows it yet); the head can: a log shorter
//!   than the head, a last line whose hash differs, a missing log with a head, or a head missing while the
//!   log (or a store) holds entries is a [`Problem`]. Entries written after the head (a crash between the two
//!   writes) are not a problem: the head lags, it never runs ahead.
//!
//! A problem found when the log is opened is never healed silently: before anything else is appended, each
//! new problem is written into the log itself as an [`BREAK_ACTION`] entry (so the chain continues and the
//! break stays visible), and [`verify`] keeps reporting every recorded break. Whoever owns the files (root,
//! the mailwacht user) can still rewrite log and head consistently: only a copy kept elsewhere shows that, so
//! every entry is also emitted as a `tracing` event at target `mailwacht::audit` (journald under systemd)
//! with its number, hash, action, id and uid — not the reason or detail, which may name people.
//!
//! With `[storage] backend = "postgres"` the same entries, byte for byte, are rows of `audit_log` and the
//! head is the row `audit_head`, appended in one transaction that locks the head row (see [`postgres`]), so
//! two nodes never fork the chain; [`verify`]'s checks run over the rows.
//!
//! Must not: hold message content; the reason text is the reviewer's own words.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod postgres;
// moving a node's embedded log (issue 17).
pub use postgres::{count_embedded, import_embedded, Moved};

/// `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The action of an entry mailwacht writes itself when it finds the log damaged ([`Problem`]).
pub const BREAK_ACTION: &str = "audit-break";

/// The `tracing` target every entry is copied to (for journald/syslog shipping off the machine).
pub const SHIP_TARGET: &str = "mailwacht::audit";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// The reviewer: the peer uid from the admin socket (SO_PEERCRED), or the local uid offline.
    pub uid: u32,
    /// `show-raw`, `export`, `release`, `delete`, `purge`, the inquiry actions, or [`BREAK_ACTION`].
    pub action: String,
    /// The quarantine id (or `inquiry-N`, or `-`).
    pub id: String,
    /// Why, in the reviewer's words (empty when the command has none).
    pub reason: String,
    /// Extra facts (e.g. the release recipients; for a break, what was found).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// SHA-256 of the previous line.
    pub prev: String,
}

impl AuditEntry {
    /// An entry not yet chained (`prev` is set when it is written).
    fn new(
        now: SystemTime,
        uid: u32,
        action: &str,
        id: &str,
        reason: &str,
        detail: &str,
    ) -> AuditEntry {
        AuditEntry {
            time: now
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            uid,
            action: action.to_string(),
            id: id.to_string(),
            reason: reason.to_string(),
            detail: detail.to_string(),
            prev: String::new(),
        }
    }
}

/// The anchor of the log's end, kept in `audit.head` (one JSON line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// How many entries (non-empty lines) the log had after the last append.
    pub entries: u64,
    /// SHA-256 of the last of them ([`GENESIS`] when there are none).
    pub last: String,
}

/// The audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The shared database (`[storage] backend = "postgres"`).
    #[error("audit log: {0}")]
    Database(#[from] crate::storage::postgres::PgError),
}

/// Something about the log that shows it was changed, cut or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error(
        "CHAIN BROKEN at line {line}: it does not follow from the line before it \
         (a line was changed, inserted or removed, or is not an entry)"
    )]
    Chain { line: usize },
    #[error(
        "audit.log is missing, but audit.head records {expected} entries: the log was deleted"
    )]
    LogMissing { expected: u64 },
    #[error(
        "audit.log has {found} entries, but audit.head records {expected}: \
         entries were cut off its end (or it was truncated)"
    )]
    Shorter { found: u64, expected: u64 },
    #[error(
        "entry {entry} does not match the hash in audit.head: \
         the end of the log was changed, or the whole log was rewritten"
    )]
    EndChanged { entry: u64 },
    #[error("audit.head is missing while audit.log has {found} entries: the end of the log cannot be checked")]
    HeadMissing { found: u64 },
    #[error("audit.head is not readable: {0}")]
    HeadUnreadable(String),
    #[error(
        "audit.log has no entries and audit.head is missing, but {0}: the log was deleted or emptied"
    )]
    Deleted(String),
    #[error("entry {entry} records a break mailwacht found earlier: {what}")]
    Recorded { entry: u64, what: String },
}

/// The result of verifying the log against its chain and its head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// True when nothing is wrong: the chain holds, the end matches the head, and no break was recorded.
    pub intact: bool,
    /// The first line (1-based) where the chain breaks, if it does.
    pub broken_at: Option<usize>,
    /// Everything found wrong, in words (recorded breaks included).
    #[serde(default)]
    pub problems: Vec<String>,
    /// How many entries the head records (`None` without a head).
    #[serde(default)]
    pub anchored: Option<u64>,
}

/// A verified log: its entries with the hash of each one's line, and the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub entries: Vec<AuditEntry>,
    /// SHA-256 of each entry's line, in the order of `entries` (what the shipped copy carries).
    pub hashes: Vec<String>,
    pub verification: Verification,
}

/// What one pass over `audit.log` found.
#[derive(Debug, Default)]
struct Scan {
    /// The file exists.
    exists: bool,
    /// Non-empty lines: (line number, hash, the entry if the line is one).
    lines: Vec<(usize, String, Option<AuditEntry>)>,
    /// First line whose `prev` does not match, or that is not an entry.
    broken_at: Option<usize>,
    /// The file is empty or ends with a newline (false after a torn write).
    ends_clean: bool,
}

impl Scan {
    fn count(&self) -> u64 {
        self.lines.len() as u64
    }

    fn last(&self) -> String {
        self.lines
            .last()
            .map(|(_, h, _)| h.clone())
            .unwrap_or_else(|| GENESIS.to_string())
    }

    /// The problem texts already recorded as break entries (each is recorded once).
    fn recorded(&self) -> HashSet<String> {
        self.lines
            .iter()
            .filter_map(|(_, _, e)| e.as_ref())
            .filter(|e| e.action == BREAK_ACTION)
            .map(|e| e.detail.clone())
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn line_hash(line: &[u8]) -> String {
    hex(&Sha256::digest(line))
}

/// `audit.head` beside `audit.log`.
pub fn head_path(log: &Path) -> PathBuf {
    log.with_extension("head")
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn scan(path: &Path) -> Result<Scan, AuditError> {
    let err = io_err(path);
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Scan {
                ends_clean: true,
                ..Scan::default()
            })
        }
        Err(e) => return Err(err(e)),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(&err)?;
    Ok(scan_bytes(&bytes))
}

/// The lines of a log (a file's bytes, or the rows of the shared database joined by newlines).
fn scan_bytes(bytes: &[u8]) -> Scan {
    let mut scan = Scan {
        exists: true,
        ends_clean: bytes.is_empty() || bytes.ends_with(b"\n"),
        ..Scan::default()
    };
    let mut prev = GENESIS.to_string();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let entry = serde_json::from_slice::<AuditEntry>(line).ok();
        let follows = entry.as_ref().is_some_and(|e| e.prev == prev);
        if !follows && scan.broken_at.is_none() {
            scan.broken_at = Some(n + 1);
        }
        prev = line_hash(line);
        scan.lines.push((n + 1, prev.clone(), entry));
    }
    scan
}

/// `Ok(None)` when there is no head; `Err` (the reason) when it cannot be read or parsed.
fn read_head(path: &Path) -> Result<Option<Head>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<Head>(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// What is wrong with the log as scanned, given its head and what the stores say (`outside`: e.g. "the
/// quarantine holds 3 messages", only used when the log has no entries and there is no head). Recorded
/// breaks not included.
fn problems(
    scan: &Scan,
    head: &Result<Option<Head>, String>,
    outside: Option<&str>,
) -> Vec<Problem> {
    let mut found = Vec::new();
    if let Some(line) = scan.broken_at {
        found.push(Problem::Chain { line });
    }
    let count = scan.count();
    match head {
        Err(e) => found.push(Problem::HeadUnreadable(e.clone())),
        Ok(Some(head)) => {
            let at_end = usize::try_from(head.entries)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .map(|i| scan.lines.get(i).map(|(_, h, _)| h.as_str()));
            if !scan.exists && head.entries > 0 {
                found.push(Problem::LogMissing {
                    expected: head.entries,
                });
            } else if count < head.entries {
                found.push(Problem::Shorter {
                    found: count,
                    expected: head.entries,
                });
            } else {
                match at_end {
                    // No entries anchored: the head must say so.
                    None if head.last != GENESIS => found.push(Problem::HeadUnreadable(format!(
                        "it records 0 entries but a last hash {}",
                        head.last
                    ))),
                    None => {}
                    Some(hash) if hash != Some(head.last.as_str()) => {
                        found.push(Problem::EndChanged {
                            entry: head.entries,
                        })
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(None) if count > 0 => found.push(Problem::HeadMissing { found: count }),
        Ok(None) => {
            if let Some(what) = outside {
                found.push(Problem::Deleted(what.to_string()));
            }
        }
    }
    found
}

/// Read and verify the log at `path` against its chain, its head (`audit.head` beside it) and the recorded
/// breaks. `outside` says what the stores hold (see [`AuditLog::expect_history`]).
pub fn verify(path: &Path, outside: Option<&str>) -> Result<Report, AuditError> {
    let scan = scan(path)?;
    let head = read_head(&head_path(path));
    Ok(report(scan, head, outside))
}

/// The report on a scanned log and its head.
fn report(scan: Scan, head: Result<Option<Head>, String>, outside: Option<&str>) -> Report {
    let mut list: Vec<Problem> = problems(&scan, &head, outside);
    for (entry, (_, _, e)) in scan.lines.iter().enumerate() {
        if let Some(e) = e.as_ref().filter(|e| e.action == BREAK_ACTION) {
            list.push(Problem::Recorded {
                entry: entry as u64 + 1,
                what: e.detail.clone(),
            });
        }
    }
    let (entries, hashes) = scan
        .lines
        .into_iter()
        .filter_map(|(_, hash, e)| e.map(|e| (e, hash)))
        .unzip();
    Report {
        entries,
        hashes,
        verification: Verification {
            intact: list.is_empty(),
            broken_at: scan.broken_at,
            problems: list.iter().map(ToString::to_string).collect(),
            anchored: head.ok().flatten().map(|h| h.entries),
        },
    }
}

/// Read every entry of the log at `path` and verify it ([`verify`] without store facts).
pub fn read(path: &Path) -> Result<(Vec<AuditEntry>, Verification), AuditError> {
    let report = verify(path, None)?;
    Ok((report.entries, report.verification))
}

/// The writer's view of the log, behind the lock that also serialises appends.
#[derive(Debug)]
struct State {
    /// Hash of the last line in the file.
    last: String,
    /// Non-empty lines in the file.
    entries: u64,
    /// The file ends with a newline (or is empty): false after a torn write, then the next entry starts
    /// on a new line.
    ends_clean: bool,
    /// The head is missing or behind the log: rewrite it (at [`AuditLog::settle`] or the next append).
    head_stale: bool,
    /// Problems found at open and not yet recorded in the log; written before any other entry.
    pending: Vec<Problem>,
    /// The log has no entries and the head is missing (then store facts can make that a problem).
    both_missing: bool,
}

/// The append-only audit log with its head.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    head: PathBuf,
    state: Mutex<State>,
    /// `Some`: the log is the shared database's, as are the console accounts then (`path` only names the
    /// data directory), and `head` and `state` are unused.
    shared: Option<crate::storage::postgres::Blocking>,
}

/// What [`AuditLog::settle`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settled {
    /// Problems found and now recorded as break entries (each also logged by the caller).
    pub recorded: Vec<String>,
    /// The head was written (missing on a fresh data directory, or behind after a crash).
    pub anchored: bool,
}

impl AuditLog {
    /// Open `path` (created 0600 on first append) and check it against its head; the chain continues
    /// from the file's real last line. Writes nothing: problems found are recorded by [`AuditLog::settle`]
    /// or before the next entry.
    pub fn open(path: impl Into<PathBuf>) -> Result<AuditLog, AuditError> {
        let path = path.into();
        let head = head_path(&path);
        let scan = scan(&path)?;
        let head_read = read_head(&head);
        let recorded = scan.recorded();
        let pending: Vec<Problem> = problems(&scan, &head_read, None)
            .into_iter()
            .filter(|p| !recorded.contains(&p.to_string()))
            .collect();
        let head_stale = match &head_read {
            Ok(Some(h)) => h.entries != scan.count() || h.last != scan.last(),
            _ => true,
        };
        let both_missing = scan.count() == 0 && matches!(head_read, Ok(None));
        Ok(AuditLog {
            state: Mutex::new(State {
                last: scan.last(),
                entries: scan.count(),
                ends_clean: scan.ends_clean,
                head_stale,
                pending,
                both_missing,
            }),
            path,
            head,
            shared: None,
        })
    }

    /// The log in the shared database (`[storage] backend = "postgres"`); `path` is where the embedded log
    /// would be.
    pub fn postgres(path: impl Into<PathBuf>, db: crate::storage::postgres::Blocking) -> AuditLog {
        let path = path.into();
        AuditLog {
            head: head_path(&path),
            path,
            state: Mutex::new(State {
                last: GENESIS.to_string(),
                entries: 0,
                ends_clean: true,
                head_stale: false,
                pending: Vec::new(),
                both_missing: false,
            }),
            shared: Some(db),
        }
    }

    /// The shared database the log is in (`None`: the file) — where the console accounts live too.
    pub fn shared_db(&self) -> Option<&crate::storage::postgres::Blocking> {
        self.shared.as_ref()
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tell the log what the stores hold (e.g. "the quarantine holds 3 messages"): when log and head were
    /// both missing (or the log empty) at open, the log was deleted, which is recorded as a break.
    pub fn expect_history(&self, what: Option<String>) -> Result<(), AuditError> {
        if self.shared.is_some() {
            // The database's trigger keeps rows from being deleted; its head row always exists.
            return Ok(());
        }
        let mut state = self.lock()?;
        state.pending.retain(|p| !matches!(p, Problem::Deleted(_)));
        if let (true, Some(what)) = (state.both_missing, what) {
            state.pending.push(Problem::Deleted(what));
        }
        Ok(())
    }

    /// At daemon start: record every new problem as a break entry and bring the head up to date. The
    /// caller logs what was recorded; mail and reviews go on (the break stays in the log).
    pub fn settle(&self, now: SystemTime, uid: u32) -> Result<Settled, AuditError> {
        if let Some(db) = &self.shared {
            return postgres::settle(db, now, uid);
        }
        let mut state = self.lock()?;
        let recorded = self.record_pending(&mut state, now, uid)?;
        let anchored = state.head_stale;
        if state.head_stale {
            self.write_head(&mut state)?;
        }
        Ok(Settled { recorded, anchored })
    }

    /// Verify the log as it is on disk now ([`verify`]).
    pub fn report(&self, outside: Option<&str>) -> Result<Report, AuditError> {
        if let Some(db) = &self.shared {
            return postgres::report(db);
        }
        verify(&self.path, outside)
    }

    /// Append one entry, fsync it and move the head; returns it. `now` is passed in (no clock in here).
    /// Problems found at open are recorded first.
    pub fn append(
        &self,
        now: SystemTime,
        uid: u32,
        action: &str,
        id: &str,
        reason: &str,
        detail: &str,
    ) -> Result<AuditEntry, AuditError> {
        let entry = AuditEntry::new(now, uid, action, id, reason, detail);
        if let Some(db) = &self.shared {
            return postgres::append(db, entry);
        }
        let mut state = self.lock()?;
        self.record_pending(&mut state, now, uid)?;
        self.write_entry(&mut state, entry)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, AuditError> {
        self.state.lock().map_err(|_| AuditError::Io {
            path: self.path.display().to_string(),
            source: std::io::Error::other("audit lock poisoned"),
        })
    }

    fn record_pending(
        &self,
        state: &mut State,
        now: SystemTime,
        uid: u32,
    ) -> Result<Vec<String>, AuditError> {
        let mut recorded = Vec::new();
        while let Some(problem) = state.pending.first().cloned() {
            let what = problem.to_string();
            let entry = AuditEntry::new(now, uid, BREAK_ACTION, "-", "", &what);
            self.write_entry(state, entry)?;
            state.pending.remove(0);
            recorded.push(what);
        }
        Ok(recorded)
    }

    /// Write `entry`, chained to the file's last line, fsync it, then move the head and ship the copy.
    fn write_entry(&self, state: &mut State, entry: AuditEntry) -> Result<AuditEntry, AuditError> {
        use std::os::unix::fs::OpenOptionsExt;
        let err = io_err(&self.path);
        let entry = AuditEntry {
            prev: state.last.clone(),
            ..entry
        };
        let line = serde_json::to_vec(&entry).map_err(|e| err(std::io::Error::other(e)))?;
        let created = matches!(
            std::fs::symlink_metadata(&self.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(&err)?;
        let mut out = Vec::with_capacity(line.len() + 2);
        if !state.ends_clean && !created {
            out.push(b'\n');
        }
        out.extend_from_slice(&line);
        out.push(b'\n');
        file.write_all(&out).map_err(&err)?;
        file.sync_all().map_err(&err)?;
        if created {
            sync_dir(&self.path).map_err(&err)?;
        }
        let hash = line_hash(&line);
        state.last = hash.clone();
        state.entries += 1;
        state.ends_clean = true;
        self.write_head(state)?;
        ship(state.entries, &entry, &hash);
        Ok(entry)
    }

    /// Write `audit.head` for the current state: tmp → fsync → rename → fsync the directory.
    fn write_head(&self, state: &mut State) -> Result<(), AuditError> {
        use std::os::unix::fs::OpenOptionsExt;
        let err = io_err(&self.head);
        let head = Head {
            entries: state.entries,
            last: state.last.clone(),
        };
        let mut text = serde_json::to_vec(&head).map_err(|e| err(std::io::Error::other(e)))?;
        text.push(b'\n');
        let tmp = self.head.with_extension("head.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(&err)?;
        file.write_all(&text).map_err(&err)?;
        file.sync_all().map_err(&err)?;
        std::fs::rename(&tmp, &self.head).map_err(&err)?;
        sync_dir(&self.head).map_err(&err)?;
        state.head_stale = false;
        state.both_missing = false;
        Ok(())
    }
}

/// Copy entry number `n` to the log ([`SHIP_TARGET`]): number, hash, action, id and uid, never the reason
/// or detail.
fn ship(n: u64, entry: &AuditEntry, hash: &str) {
    tracing::info!(
        target: SHIP_TARGET,
        entry = n,
        time = entry.time,
        uid = entry.uid,
        action = entry.action,
        id = entry.id,
        hash = %hash,
        prev = %entry.prev,
        "audit entry"
    );
}

/// fsync the directory holding `path`, so a new name in it survives a crash.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_chain_and_reopen_continues_the_chain() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("audit.log");
        let t = UNIX_EPOCH + Duration::from_secs(1000);
        {
            let log = AuditLog::open(&path).expect("open");
            log.append(t, 1000, "show-raw", "MW1", "onderzoek", "")
                .expect("append");
            log.append(t, 1000, "release", "MW1", "vals alarm", "to=a@b")
                .expect("append");
        }
        let log = AuditLog::open(&path).expect("reopen");
        log.append(t, 0, "delete", "MW1", "klaar", "")
            .expect("append");
        let (entries, v) = read(&path).expect("read");
        assert_eq!(entries.len(), 3);
        assert!(v.intact, "{v:?}");
        assert_eq!(entries[0].prev, GENESIS);
        assert_ne!(entries[2].prev, entries[1].prev);
        assert_eq!(entries[1].detail, "to=a@b");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn tampering_is_detected() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("audit.log");
        let log = AuditLog::open(&path).expect("open");
        let t = UNIX_EPOCH + Duration::from_secs(5);
        for id in ["A", "B", "C"] {
            log.append(t, 1000, "export", id, "r", "").expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        // (edit, expected first broken line)
        let cases: Vec<(String, usize)> = vec![
            (text.replacen("\"reason\":\"r\"", "\"reason\":\"x\"", 1), 2),
            (text.lines().skip(1).collect::<Vec<_>>().join("\n"), 1),
            (
                {
                    let l: Vec<_> = text.lines().collect();
                    format!("{}\n{}\n", l[0], l[2])
                },
                2,
            ),
            (format!("{text}not json\n"), 4),
        ];
        for (edited, line) in cases {
            std::fs::write(&path, &edited).expect("write");
            let (_, v) = read(&path).expect("read");
            assert_eq!(v.broken_at, Some(line), "{edited}");
            assert!(!v.intact);
        }
    }

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// A log of three entries written through [`AuditLog`] (so with its head).
    fn three(dir: &Path) -> PathBuf {
        let path = dir.join("audit.log");
        let log = AuditLog::open(&path).expect("open");
        assert_eq!(
            log.settle(t(1), 0).expect("settle"),
            Settled {
                recorded: vec![],
                anchored: true
            }
        );
        for id in ["A", "B", "C"] {
            log.append(t(5), 1000, "export", id, "naar CERT voor analyse", "")
                .expect("append");
        }
        path
    }

    /// The same three entries with a consistent chain, written by hand (no head update).
    fn forged_chain(reasons: &[&str]) -> String {
        let mut prev = GENESIS.to_string();
        let mut text = String::new();
        for (i, reason) in reasons.iter().enumerate() {
            let entry = AuditEntry {
                time: 5,
                uid: 1000,
                action: "export".into(),
                id: ["A", "B", "C", "D"][i].into(),
                reason: reason.to_string(),
                detail: String::new(),
                prev: prev.clone(),
            };
            let line = serde_json::to_string(&entry).expect("json");
            prev = line_hash(line.as_bytes());
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    #[test]
    fn the_head_catches_what_the_chain_cannot() {
        // (what the attacker did to the files, a phrase the report must contain)
        type Edit = fn(&Path, &Path);
        let cases: Vec<(&str, Edit, &str)> = vec![
            (
                "cut the last line",
                |log, _| {
                    let text = std::fs::read_to_string(log).expect("read");
                    let keep: Vec<&str> = text.lines().take(2).collect();
                    std::fs::write(log, keep.join("\n") + "\n").expect("write");
                },
                "has 2 entries, but audit.head records 3",
            ),
            (
                "edit the last line",
                |log, _| {
                    let text = std::fs::read_to_string(log).expect("read");
                    let (head, last) = text.trim_end().rsplit_once('\n').expect("lines");
                    let last = last.replace("naar CERT voor analyse", "onderhoud aan server");
                    std::fs::write(log, format!("{head}\n{last}\n")).expect("write");
                },
                "entry 3 does not match the hash in audit.head",
            ),
            (
                "truncate to zero",
                |log, _| std::fs::write(log, b"").expect("truncate"),
                "has 0 entries, but audit.head records 3",
            ),
            (
                "delete the log",
                |log, _| std::fs::remove_file(log).expect("rm"),
                "audit.log is missing, but audit.head records 3",
            ),
            (
                "rewrite the whole chain consistently",
                |log, _| {
                    let text = forged_chain(&["a", "b", "c"]);
                    std::fs::write(log, text).expect("write");
                },
                "entry 3 does not match the hash in audit.head",
            ),
            (
                "rewrite the chain shorter",
                |log, _| std::fs::write(log, forged_chain(&["a", "b"])).expect("write"),
                "has 2 entries, but audit.head records 3",
            ),
            (
                "rewrite the chain longer",
                |log, _| std::fs::write(log, forged_chain(&["a", "b", "c", "d"])).expect("write"),
                "entry 3 does not match the hash in audit.head",
            ),
            (
                "delete the head",
                |_, head| std::fs::remove_file(head).expect("rm"),
                "audit.head is missing while audit.log has 3 entries",
            ),
            (
                "garble the head",
                |_, head| std::fs::write(head, b"{}").expect("write"),
                "audit.head is not readable",
            ),
        ];
        for (what, edit, want) in cases {
            let tmp = tempfile::tempdir().expect("tempdir");
            let log = three(tmp.path());
            assert!(read(&log).expect("read").1.intact, "{what}: intact before");
            edit(&log, &head_path(&log));
            let (_, v) = read(&log).expect("read");
            assert!(!v.intact, "{what}: {v:?}");
            assert!(v.problems.iter().any(|p| p.contains(want)), "{what}: {v:?}");

            // The writer records the break once, and it stays reported; the chain goes on from the file.
            let writer = AuditLog::open(&log).expect("reopen");
            let settled = writer.settle(t(9), 0).expect("settle");
            assert!(
                settled.recorded.iter().any(|p| p.contains(want)),
                "{what}: {settled:?}"
            );
            writer
                .append(t(10), 1000, "show-raw", "D", "melding helpdesk 42", "")
                .expect("append");
            let again = AuditLog::open(&log).expect("reopen");
            assert_eq!(
                again.settle(t(11), 0).expect("settle"),
                Settled::default(),
                "{what}: once"
            );
            let report = verify(&log, None).expect("verify");
            let v = &report.verification;
            assert!(!v.intact, "{what}: healed silently: {v:?}");
            assert!(
                v.problems
                    .iter()
                    .any(|p| p.contains("records a break") && p.contains(want)),
                "{what}: {v:?}"
            );
            let last = report.entries.last().expect("entries");
            assert_eq!(last.action, "show-raw", "{what}");
            assert_eq!(report.hashes.len(), report.entries.len());
        }
    }

    #[test]
    fn a_crash_between_log_and_head_is_not_a_break_and_a_torn_line_is() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let log = three(tmp.path());
        // The head as it was before the last append: the log is one entry ahead.
        let text = std::fs::read_to_string(&log).expect("read");
        let second = text.lines().nth(1).expect("line 2");
        let behind = Head {
            entries: 2,
            last: line_hash(second.as_bytes()),
        };
        std::fs::write(head_path(&log), serde_json::to_vec(&behind).expect("json")).expect("w");
        let (_, v) = read(&log).expect("read");
        assert!(v.intact, "{v:?}");
        assert_eq!(v.anchored, Some(2));
        let writer = AuditLog::open(&log).expect("open");
        assert_eq!(
            writer.settle(t(9), 0).expect("settle"),
            Settled {
                recorded: vec![],
                anchored: true
            }
        );
        assert_eq!(read(&log).expect("read").1.anchored, Some(3));

        // A torn last line (no newline): recorded, and the next entry starts on a line of its own.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open");
        f.write_all(b"{\"time\":1,\"ui").expect("write");
        drop(f);
        let writer = AuditLog::open(&log).expect("open");
        writer
            .append(t(12), 7, "delete", "A", "onderzoek afgerond", "")
            .expect("append");
        let report = verify(&log, None).expect("verify");
        assert_eq!(report.verification.broken_at, Some(4), "{report:?}");
        assert_eq!(report.entries.last().expect("last").action, "delete");
        assert_eq!(report.entries.len(), 5, "3 + break + delete");
    }

    #[test]
    fn a_missing_log_and_head_with_a_full_store_is_a_break() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("audit.log");
        // Fresh data directory: nothing wrong, the head is created.
        let log = AuditLog::open(&path).expect("open");
        log.expect_history(None).expect("history");
        assert_eq!(
            log.settle(t(1), 0).expect("settle"),
            Settled {
                recorded: vec![],
                anchored: true
            }
        );
        assert!(!path.exists(), "no log before the first entry");
        assert!(read(&path).expect("read").1.intact);
        // Both deleted while the quarantine holds mail.
        std::fs::remove_file(head_path(&path)).expect("rm head");
        let store = Some("the quarantine holds 2 messages");
        let v = verify(&path, store).expect("verify").verification;
        assert!(!v.intact);
        assert!(
            v.problems[0].contains("audit.head is missing, but the quarantine holds 2"),
            "{v:?}"
        );
        assert!(verify(&path, None).expect("verify").verification.intact);
        let log = AuditLog::open(&path).expect("open");
        log.expect_history(store.map(String::from))
            .expect("history");
        let settled = log.settle(t(2), 0).expect("settle");
        assert_eq!(settled.recorded.len(), 1, "{settled:?}");
        let (entries, v) = read(&path).expect("read");
        assert_eq!(entries[0].action, BREAK_ACTION);
        assert!(!v.intact);
    }
}
