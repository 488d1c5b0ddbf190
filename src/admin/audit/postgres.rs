//! The audit log in the shared database (`[storage] backend = "postgres"`): `audit_log` rows hold the
//! entries' JSON lines exactly as the file would, `audit_head` the anchor (migration 0001).
//!
//! An append locks the head row (`SELECT … FOR UPDATE`), chains the entry to the head's hash, inserts the
//! row and moves the head in one transaction (`synchronous_commit = on`): a second node appending at the
//! same moment waits for the lock and chains onto the first one's entry, so the chain never forks. The
//! checks of [`super::verify`] run over the rows joined as lines, against the head row.
//! Must not: change or remove a row (the table's trigger refuses it too).

use std::path::Path;
use std::time::SystemTime;

use super::{
    problems, report as report_of, scan_bytes, ship, AuditEntry, AuditError, Head, Report, Settled,
    BREAK_ACTION,
};
use crate::storage::postgres::{Blocking, Pg, PgError};

/// Append `entry` (its `prev` set here) and return it.
pub(super) fn append(db: &Blocking, entry: AuditEntry) -> Result<AuditEntry, AuditError> {
    let (n, entry, hash) = db.run(move |pg| append_async(pg, entry))?;
    ship(n, &entry, &hash);
    Ok(entry)
}

async fn append_async(pg: Pg, entry: AuditEntry) -> Result<(u64, AuditEntry, String), PgError> {
    let mut client = pg.checked_client().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL synchronous_commit = on")
        .await?;
    let head = tx
        .query_one(
            "SELECT entries, last FROM audit_head WHERE one FOR UPDATE",
            &[],
        )
        .await?;
    let (entries, last): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
    let entry = AuditEntry {
        prev: last,
        ..entry
    };
    let line = serde_json::to_string(&entry)
        .map_err(|e| PgError::Settings(format!("audit entry: {e}")))?;
    let hash = super::line_hash(line.as_bytes());
    let n = entries + 1;
    tx.execute(
        "INSERT INTO audit_log (seq, line, hash) VALUES ($1, $2, $3)",
        &[&n, &line, &hash],
    )
    .await?;
    tx.execute(
        "UPDATE audit_head SET entries = $1, last = $2 WHERE one",
        &[&n, &hash],
    )
    .await?;
    tx.commit().await?;
    Ok((u64::try_from(n).unwrap_or(0), entry, hash))
}

/// The rows as one log text and the head row.
fn read(db: &Blocking) -> Result<(Vec<u8>, Head), AuditError> {
    Ok(db.run(|pg| async move {
        let client = pg.checked_client().await?;
        // One snapshot for the rows and the head.
        let rows = client
            .query(
                "SELECT line, (SELECT entries FROM audit_head), (SELECT last FROM audit_head) \
                 FROM audit_log ORDER BY seq",
                &[],
            )
            .await?;
        let head = match rows.first() {
            Some(row) => Head {
                entries: u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or(0),
                last: row.try_get(2)?,
            },
            None => {
                let row = client
                    .query_one("SELECT entries, last FROM audit_head", &[])
                    .await?;
                Head {
                    entries: u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0),
                    last: row.try_get(1)?,
                }
            }
        };
        let mut text = Vec::new();
        for row in &rows {
            text.extend_from_slice(row.try_get::<_, &str>(0)?.as_bytes());
            text.push(b'\n');
        }
        Ok((text, head))
    })?)
}

/// [`super::verify`] over the rows.
pub(super) fn report(db: &Blocking) -> Result<Report, AuditError> {
    let (text, head) = read(db)?;
    Ok(report_of(scan_bytes(&text), Ok(Some(head)), None))
}

/// At a node's start: each problem the rows show that no break entry records yet is recorded as one.
pub(super) fn settle(db: &Blocking, now: SystemTime, uid: u32) -> Result<Settled, AuditError> {
    let (text, head) = read(db)?;
    let scan = scan_bytes(&text);
    let recorded_before = scan.recorded();
    let mut recorded = Vec::new();
    for problem in problems(&scan, &Ok(Some(head)), None) {
        let what = problem.to_string();
        if recorded_before.contains(&what) {
            continue;
        }
        append(db, AuditEntry::new(now, uid, BREAK_ACTION, "-", "", &what))?;
        recorded.push(what);
    }
    Ok(Settled {
        recorded,
        anchored: false,
    })
}

// moving a node's embedded audit log (issue 17).
/// What [`import_embedded`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Moved {
    /// Entries in the embedded `audit.log`.
    pub entries: u64,
    /// Of them, appended now (the rest were the database's first entries already).
    pub added: u64,
}

/// The embedded log at `path` as its lines, refused when it does not verify against its chain and head
/// (a break found earlier and recorded as an entry is part of the chain and moves with it).
fn embedded_lines(path: &Path) -> Result<Vec<String>, AuditError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(super::io_err(path)(e)),
    };
    let scan = scan_bytes(&bytes);
    let head = super::read_head(&super::head_path(path));
    let found = problems(&scan, &head, None);
    if !found.is_empty() || !scan.ends_clean {
        let what: Vec<String> = found.iter().map(ToString::to_string).collect();
        return Err(PgError::Settings(format!(
            "{} does not verify, so it is not moved (run mailwacht serve once, which records the \
             break in the log, then migrate again): {}",
            path.display(),
            what.join("; ")
        ))
        .into());
    }
    let mut lines = Vec::new();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        lines.push(
            String::from_utf8(line.to_vec()).map_err(|_| {
                PgError::Settings(format!("{}: a line is not UTF-8", path.display()))
            })?,
        );
    }
    Ok(lines)
}

/// Move the embedded log at `path` into the database's chain, byte for byte (each line keeps its `prev`
/// and hash, so the database's chain verifies with the same entries). The database's chain must be empty
/// or a beginning of this log (an earlier move of it: only the rest is appended, so twice adds nothing);
/// a chain with entries from elsewhere (another node already on the database) is refused: interleaving
/// two chains would rewrite every moved entry's `prev`, so the original hashes would no longer prove
/// anything. Such a node's `audit.log` stays in its data directory, to be kept beside the database's.
pub async fn import_embedded(pg: &Pg, path: &Path) -> Result<Moved, AuditError> {
    let lines = embedded_lines(path)?;
    if lines.is_empty() {
        // Nothing audited on this node: nothing to join.
        return Ok(Moved::default());
    }
    let mut client = pg.checked_client().await?;
    let tx = client.transaction().await.map_err(PgError::from)?;
    tx.batch_execute("SET LOCAL synchronous_commit = on")
        .await
        .map_err(PgError::from)?;
    // The head row locked: no node appends while the chain is compared and extended.
    tx.query_one("SELECT entries FROM audit_head WHERE one FOR UPDATE", &[])
        .await
        .map_err(PgError::from)?;
    let rows = tx
        .query("SELECT line FROM audit_log ORDER BY seq", &[])
        .await
        .map_err(PgError::from)?;
    let mut have = Vec::with_capacity(rows.len());
    for row in &rows {
        have.push(row.try_get::<_, String>(0).map_err(PgError::from)?);
    }
    let moved = Moved {
        entries: lines.len() as u64,
        added: lines.len().saturating_sub(have.len()) as u64,
    };
    if have.len() > lines.len() || have.iter().zip(&lines).any(|(a, b)| a != b) {
        return Err(PgError::Settings(format!(
            "the database's audit chain already has {} entries that are not this node's {}: it is not \
             moved (the chains cannot be joined without rewriting their hashes); keep {} as this \
             node's audit log up to now",
            have.len(),
            path.display(),
            path.display()
        ))
        .into());
    }
    for (i, line) in lines.iter().enumerate().skip(have.len()) {
        let seq = i64::try_from(i + 1).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO audit_log (seq, line, hash) VALUES ($1, $2, $3)",
            &[&seq, line, &super::line_hash(line.as_bytes())],
        )
        .await
        .map_err(PgError::from)?;
    }
    if moved.added > 0 {
        let last = lines
            .last()
            .map(|l| super::line_hash(l.as_bytes()))
            .unwrap_or_else(|| super::GENESIS.to_string());
        tx.execute(
            "UPDATE audit_head SET entries = $1, last = $2 WHERE one",
            &[&i64::try_from(lines.len()).unwrap_or(i64::MAX), &last],
        )
        .await
        .map_err(PgError::from)?;
    }
    tx.commit().await.map_err(PgError::from)?;
    Ok(moved)
}

/// For `store check`: (entries in the embedded log, how many of them begin the database's chain).
pub async fn count_embedded(pg: &Pg, path: &Path) -> Result<(u64, u64), AuditError> {
    let lines = embedded_lines(path)?;
    let rows = pg
        .checked_client()
        .await?
        .query(
            "SELECT line FROM audit_log ORDER BY seq LIMIT $1",
            &[&i64::try_from(lines.len()).unwrap_or(i64::MAX)],
        )
        .await
        .map_err(PgError::from)?;
    let mut present = 0;
    for (row, line) in rows.iter().zip(&lines) {
        if row.try_get::<_, &str>(0).map_err(PgError::from)? != line {
            break;
        }
        present += 1;
    }
    Ok((lines.len() as u64, present))
}
