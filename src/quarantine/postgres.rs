//! [`PgQuarantine`]: the quarantine in PostgreSQL, shared by several nodes (`[storage] backend =
//! "postgres"`, issue 17). Table `quarantine` (migration 0001): one row per message, its metadata in
//! columns and its original bytes in `raw` (infected mail is rare and bounded by `max_message_size`).
//!
//! The `250` contract across the network: [`Quarantine::store`] returns `Ok` only after the row's
//! transaction committed with `synchronous_commit = on` (the commit is on the server's disk, and on a
//! synchronous standby's when one is configured); a database that cannot be reached is an error, which the
//! pipeline answers with `451`, so Postfix keeps the message and retries. A taken id is never replaced
//! (`ON CONFLICT DO NOTHING`, then a new id), as in the embedded store. Retention runs on one node at a time
//! (`pg_try_advisory_xact_lock`): another node purging at the same moment deletes nothing.
//! Must not: log content, subjects or file names.

use std::time::{SystemTime, UNIX_EPOCH};

use deadpool_postgres::GenericClient;

use super::{
    valid_id, DetectionRecord, Entry, Quarantine, QuarantineError, QuarantineStore, Status,
    StoreError, ID_ATTEMPTS,
};
use crate::envelope::Envelope;
use crate::scan::Detection;
use crate::storage::postgres::tokio_postgres::Row;
use crate::storage::postgres::{locks, Blocking, Pg, PgError};
use crate::util::BoxFuture;

/// The quarantine in the shared database.
#[derive(Debug, Clone)]
pub struct PgQuarantine {
    /// The daemon's pool, for the writes (async, on the daemon's runtime).
    pg: Pg,
    /// For the reads, which the review service makes from sync code.
    blocking: Blocking,
}

/// The columns of an [`Entry`], in the order [`entry`] reads them.
const COLUMNS: &str = "id, received, status, mail_from, rcpt_to, mail_params, detections::text, \
                       octet_length(raw)::bigint";

fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Held => "held",
        Status::Released => "released",
    }
}

/// A row of [`COLUMNS`] as an entry.
fn entry(row: &Row) -> Result<Entry, PgError> {
    let detections: String = row.try_get(6)?;
    let status: String = row.try_get(2)?;
    Ok(Entry {
        id: row.try_get(0)?,
        received: u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or(0),
        status: if status == "released" {
            Status::Released
        } else {
            Status::Held
        },
        mail_from: row.try_get(3)?,
        rcpt_to: row.try_get(4)?,
        mail_params: row.try_get(5)?,
        detections: serde_json::from_str::<Vec<DetectionRecord>>(&detections).map_err(|e| {
            PgError::Settings(format!("quarantine row: detections are not a list: {e}"))
        })?,
        size: usize::try_from(row.try_get::<_, i64>(7)?).unwrap_or(usize::MAX),
    })
}

fn detections_json(entry: &Entry) -> Result<String, PgError> {
    serde_json::to_string(&entry.detections)
        .map_err(|e| PgError::Settings(format!("detections: {e}")))
}

/// Insert `entry` with `raw` unless its id is taken; 1 when inserted, 0 when not.
async fn insert_row(
    client: &impl GenericClient,
    entry: &Entry,
    detections: &str,
    raw: &[u8],
) -> Result<u64, PgError> {
    Ok(client
        .execute(
            "INSERT INTO quarantine \
             (id, received, status, mail_from, rcpt_to, mail_params, detections, raw) \
             VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8) \
             ON CONFLICT (id) DO NOTHING",
            &[
                &entry.id,
                &i64::try_from(entry.received).unwrap_or(i64::MAX),
                &status_text(entry.status),
                &entry.mail_from,
                &entry.rcpt_to,
                &entry.mail_params,
                &detections,
                &raw,
            ],
        )
        .await?)
}

fn checked(id: &str) -> Result<String, StoreError> {
    if valid_id(id) {
        Ok(id.to_string())
    } else {
        Err(StoreError::BadId(id.to_string()))
    }
}

impl PgQuarantine {
    /// The quarantine in the database `pg` (and `blocking`, the same database for sync reads) reach.
    pub fn new(pg: Pg, blocking: Blocking) -> PgQuarantine {
        PgQuarantine { pg, blocking }
    }

    /// Insert a new row under `entry.id`, or under new ids when it is taken; commits durably. Returns the
    /// id used.
    async fn insert(&self, mut entry: Entry, raw: &[u8]) -> Result<String, PgError> {
        let detections = detections_json(&entry)?;
        let mut client = self.pg.checked_client().await?;
        for attempt in 0..ID_ATTEMPTS {
            if attempt > 0 {
                entry.id = crate::queue_id::new();
            }
            let tx = client.transaction().await?;
            // Never acknowledged before the commit is on disk, whatever the database's default says.
            tx.batch_execute("SET LOCAL synchronous_commit = on")
                .await?;
            let inserted = insert_row(&tx, &entry, &detections, raw).await?;
            tx.commit().await?;
            if inserted == 1 {
                return Ok(entry.id);
            }
        }
        Err(PgError::Settings(format!(
            "{ID_ATTEMPTS} quarantine ids in a row were taken"
        )))
    }

    /// Read entries with `sql` (selecting [`COLUMNS`]) on the blocking thread.
    fn read(
        &self,
        sql: String,
        since: Option<i64>,
        id: Option<String>,
    ) -> Result<Vec<Entry>, StoreError> {
        Ok(self.blocking.run(move |pg| async move {
            let client = pg.checked_client().await?;
            let rows = match (since, id) {
                (Some(since), _) => client.query(&sql, &[&since]).await?,
                (None, Some(id)) => client.query(&sql, &[&id]).await?,
                (None, None) => client.query(&sql, &[]).await?,
            };
            rows.iter().map(entry).collect()
        })?)
    }
}

impl Quarantine for PgQuarantine {
    /// `Ok` only after the row's transaction committed (`synchronous_commit = on`).
    fn store<'a>(
        &'a self,
        id: &'a str,
        envelope: &'a Envelope,
        raw: &'a [u8],
        detections: &'a [Detection],
        received: SystemTime,
    ) -> BoxFuture<'a, Result<String, QuarantineError>> {
        Box::pin(async move {
            if !valid_id(id) {
                return Err(QuarantineError::Task(format!(
                    "{id:?} is not a quarantine id"
                )));
            }
            let entry = Entry::held(id, envelope, raw, detections, received);
            Ok(self.insert(entry, raw).await?)
        })
    }
}

impl QuarantineStore for PgQuarantine {
    fn list(&self, since: SystemTime) -> Result<Vec<Entry>, StoreError> {
        self.read(
            format!("SELECT {COLUMNS} FROM quarantine WHERE received >= $1 ORDER BY received, id"),
            Some(secs(since)),
            None,
        )
    }

    fn totals(&self) -> Result<(u64, u64), StoreError> {
        Ok(self.blocking.run(|pg| async move {
            let row = pg
                .checked_client()
                .await?
                .query_one(
                    "SELECT count(*), coalesce(sum(octet_length(raw)), 0)::bigint FROM quarantine",
                    &[],
                )
                .await?;
            let (n, bytes): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            Ok((
                u64::try_from(n).unwrap_or(0),
                u64::try_from(bytes).unwrap_or(0),
            ))
        })?)
    }

    fn get(&self, id: &str) -> Result<Entry, StoreError> {
        let id = checked(id)?;
        self.read(
            format!("SELECT {COLUMNS} FROM quarantine WHERE id = $1"),
            None,
            Some(id.clone()),
        )?
        .pop()
        .ok_or(StoreError::UnknownId(id))
    }

    fn get_raw(&self, id: &str) -> Result<(Entry, Vec<u8>), StoreError> {
        let id = checked(id)?;
        let key = id.clone();
        let found = self.blocking.run(move |pg| async move {
            let client = pg.checked_client().await?;
            let row = client
                .query_opt(
                    &format!("SELECT {COLUMNS}, raw FROM quarantine WHERE id = $1"),
                    &[&key],
                )
                .await?;
            match row {
                Some(row) => Ok(Some((entry(&row)?, row.try_get::<_, Vec<u8>>(8)?))),
                None => Ok(None),
            }
        })?;
        found.ok_or(StoreError::UnknownId(id))
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        // Every write committed before it returned.
        Box::pin(async { Ok(()) })
    }

    fn set_status<'a>(
        &'a self,
        id: &'a str,
        status: Status,
    ) -> BoxFuture<'a, Result<Entry, StoreError>> {
        Box::pin(async move {
            let id = checked(id)?;
            let client = self.pg.checked_client().await.map_err(StoreError::from)?;
            let row = client
                .query_opt(
                    &format!("UPDATE quarantine SET status = $2 WHERE id = $1 RETURNING {COLUMNS}"),
                    &[&id, &status_text(status)],
                )
                .await
                .map_err(PgError::from)?;
            match row {
                Some(row) => Ok(entry(&row)?),
                None => Err(StoreError::UnknownId(id)),
            }
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Entry, StoreError>> {
        Box::pin(async move {
            let id = checked(id)?;
            let client = self.pg.checked_client().await.map_err(StoreError::from)?;
            let row = client
                .query_opt(
                    &format!("DELETE FROM quarantine WHERE id = $1 RETURNING {COLUMNS}"),
                    &[&id],
                )
                .await
                .map_err(PgError::from)?;
            match row {
                Some(row) => Ok(entry(&row)?),
                None => Err(StoreError::UnknownId(id)),
            }
        })
    }

    fn purge(
        &self,
        now: SystemTime,
        retention_days: u64,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            let days = i64::try_from(retention_days).unwrap_or(i64::MAX);
            let cutoff = secs(now).saturating_sub(days.saturating_mul(86_400));
            let mut client = self.pg.checked_client().await.map_err(StoreError::from)?;
            let purged = async {
                let tx = client.transaction().await?;
                let ours: bool = tx
                    .query_one(
                        "SELECT pg_try_advisory_xact_lock($1)",
                        &[&locks::QUARANTINE_PURGE],
                    )
                    .await?
                    .try_get(0)?;
                if !ours {
                    // Another node is purging now; the next hourly run here finds what is left.
                    return Ok(Vec::new());
                }
                let rows = tx
                    .query(
                        "DELETE FROM quarantine WHERE received < $1 RETURNING id",
                        &[&cutoff],
                    )
                    .await?;
                let mut ids = rows
                    .iter()
                    .map(|r| r.try_get::<_, String>(0))
                    .collect::<Result<Vec<_>, _>>()?;
                tx.commit().await?;
                ids.sort();
                Ok::<_, PgError>(ids)
            }
            .await?;
            Ok(purged)
        })
    }
}

// moving a node's embedded quarantine (issue 17).
/// What [`PgQuarantine::import_embedded`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Moved {
    /// Entries in the embedded quarantine.
    pub entries: u64,
    /// Of them, added now (the rest were in the database already, byte for byte).
    pub added: u64,
    /// Of those already there, released on this node after an earlier move: now released in the
    /// database too.
    pub status_updated: u64,
}

impl PgQuarantine {
    /// Copy every entry of `from` (metadata, status and original bytes) under its own id. An id already in
    /// the database with the same bytes was moved before and is skipped — but released here since, it is
    /// marked released there too (a status only moves from held to released, so a release made in the
    /// database is never undone); with other bytes it is another message, which is never overwritten: an
    /// error naming the id (entries copied before it stay).
    pub async fn import_embedded(&self, from: &super::Embedded) -> Result<Moved, StoreError> {
        let mut moved = Moved::default();
        for listed in from.list(UNIX_EPOCH)? {
            let (entry, raw) = from.get_raw(&listed.id)?;
            moved.entries += 1;
            let client = self.pg.checked_client().await?;
            let inserted = insert_row(&client, &entry, &detections_json(&entry)?, &raw).await?;
            if inserted == 1 {
                moved.added += 1;
            } else if !self.holds(&entry.id, &raw).await? {
                return Err(PgError::Settings(format!(
                    "quarantine id {} is in the database with other bytes: another message, not \
                     overwritten (nothing after it was moved)",
                    entry.id
                ))
                .into());
            } else if entry.status == Status::Released {
                let updated = client
                    .execute(
                        "UPDATE quarantine SET status = 'released' WHERE id = $1 AND status = 'held'",
                        &[&entry.id],
                    )
                    .await
                    .map_err(PgError::from)?;
                moved.status_updated += updated;
            }
        }
        Ok(moved)
    }

    /// How many of `from`'s entries the database holds with the same bytes (for `store check`).
    pub async fn count_embedded(&self, from: &super::Embedded) -> Result<(u64, u64), StoreError> {
        let (mut entries, mut present) = (0, 0);
        for listed in from.list(UNIX_EPOCH)? {
            let (entry, raw) = from.get_raw(&listed.id)?;
            entries += 1;
            if self.holds(&entry.id, &raw).await? {
                present += 1;
            }
        }
        Ok((entries, present))
    }

    /// The database has `id` with exactly the bytes `raw`.
    async fn holds(&self, id: &str, raw: &[u8]) -> Result<bool, PgError> {
        let row = self
            .pg
            .checked_client()
            .await?
            .query_opt(
                "SELECT raw = $2 FROM quarantine WHERE id = $1",
                &[&id, &raw],
            )
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<_, bool>(0)?,
            None => false,
        })
    }
}
