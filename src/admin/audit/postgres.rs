//! The audit log in the shared database (`[storage] backend = "postgres"`): `audit_log` rows hold the
//! entries' JSON lines exactly as the file would, `audit_head` the anchor (migration 0001).
//!
//! An append locks the head row (`SELECT … FOR UPDATE`), chains the entry to the head's hash, inserts the
//! row and moves the head in one transaction (`synchronous_commit = on`): a second node appending at the
//! same moment waits for the lock and chains onto the first one's entry, so the chain never forks. The
//! checks of [`super::verify`] run over the rows joined as lines, against the head row.
//! Must not: change or remove a row (the table's trigger refuses it too).

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
