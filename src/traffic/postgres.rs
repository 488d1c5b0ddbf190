//! The traffic store in PostgreSQL (`[storage] backend = "postgres"`, issue 17): the records of every node
//! in one table, so summaries and inquiries see the whole board's mail. Every SQL statement for traffic
//! records and inquiries lives here; the schema is `storage/postgres/migrations/0002_traffic_inquiries.sql`.
//!
//! - `traffic_record (seq, time, record)`: `record` is the [`Record`] as JSON, already pseudonymised by the
//!   writer exactly as for the embedded store; `seq` (one sequence for all nodes) orders records of the same
//!   second, as the embedded store's counter does.
//! - `traffic_meta.purged_before`: the latest purge cut-off.
//! - `inquiry (id, inquiry)`: ids from the sequence `inquiry_id`, unique across nodes.
//!
//! Jobs that must run on one node at a time take a PostgreSQL advisory lock: the retention purge
//! ([`PgTraffic::purge`], skipped when another node holds it) and every change to inquiries
//! ([`PgTraffic::exclusive`], a session lock held on a connection of its own).
//!
//! Must not: decide anything (the cut-off and the k-anonymity rules are the caller's, in Rust, the same for
//! both stores), or see an address (records arrive pseudonymised).

use std::collections::BTreeMap;

use super::summary::{Contribution, Span};
use super::{Inquiry, Record, StoreError, DAY};
use crate::storage::postgres::{locks, tokio_postgres, Pg, PgError};

/// Rows per INSERT statement when a batch of records is written.
const INSERT_ROWS: usize = 500;

/// The traffic store on a shared PostgreSQL database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PgTraffic {
    pg: Pg,
}

/// Seconds since the epoch as PostgreSQL's `bigint` (times after 2262 are clamped; none are real).
fn db_time(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// A sum PostgreSQL wrote as decimal digits (`numeric`, never overflowing), as a `u64`: saturated above its
/// range, as the embedded store's sums are; `None` for anything else.
fn sum(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

/// A row whose JSON this version cannot read.
fn layout(key: String) -> StoreError {
    StoreError::Layout { key }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        StoreError::Postgres(PgError::from(e))
    }
}

/// An advisory lock held by this node: its own connection, taken out of the pool, so that dropping the
/// guard closes the connection and PostgreSQL releases the lock, whatever happens to the task holding it.
pub struct Exclusive {
    _client: deadpool_postgres::ClientWrapper,
}

impl std::fmt::Debug for Exclusive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exclusive(..)")
    }
}

/// How long a change to inquiries waits for another node's change to end.
const LOCK_TIMEOUT: &str = "10s";

impl PgTraffic {
    /// Over the shared database `pg` (its schema checked by the caller).
    pub fn new(pg: Pg) -> PgTraffic {
        PgTraffic { pg }
    }

    /// Add records in one transaction, in order.
    pub async fn insert_many(&self, records: &[Record]) -> Result<(), StoreError> {
        let mut client = self.pg.checked_client().await?;
        let tx = client.transaction().await?;
        for chunk in records.chunks(INSERT_ROWS) {
            let mut times = Vec::with_capacity(chunk.len());
            let mut json = Vec::with_capacity(chunk.len());
            for r in chunk {
                times.push(db_time(r.time));
                // Serialising this plain struct to JSON cannot fail.
                json.push(serde_json::to_string(r).unwrap_or_default());
            }
            tx.execute(
                "INSERT INTO traffic_record (time, record) \
                 SELECT t, r::jsonb FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS x(t, r, n) \
                 ORDER BY n",
                &[&times, &json],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Add a record.
    pub async fn insert(&self, record: &Record) -> Result<(), StoreError> {
        self.insert_many(std::slice::from_ref(record)).await
    }

    /// Records of every node with `from <= time < to`, oldest first (same second: in the order written).
    pub async fn range(&self, from: u64, to: u64) -> Result<Vec<Record>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let client = self.pg.checked_client().await?;
        let rows = client
            .query(
                "SELECT record::text FROM traffic_record WHERE time >= $1 AND time < $2 \
                 ORDER BY time, seq",
                &[&db_time(from), &db_time(to)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                serde_json::from_str(row.get::<_, &str>(0))
                    .map_err(|_| layout(format!("traffic_record at {from}..{to}")))
            })
            .collect()
    }

    /// The contributions to the summary of `period` of every node's records (see [`Contribution`]), added up
    /// in the database: one row per sender and cell, and one per sender, cell and category, in one statement
    /// (one snapshot), so a period's summary reads as many rows as it has senders, not messages.
    pub async fn contributions(&self, period: Span) -> Result<Vec<Contribution>, StoreError> {
        if period.start >= period.end {
            return Ok(Vec::new());
        }
        let client = self.pg.checked_client().await?;
        let rows = client
            .query(
                "WITH r AS ( \
                   SELECT seq, record, record->>'sender_domain' AS domain, \
                          record->>'verdict' AS verdict, record->>'sender' AS sender \
                   FROM traffic_record WHERE time >= $1 AND time < $2) \
                 SELECT domain, verdict, sender, NULL::text, count(*)::text, \
                        sum((record->>'size')::numeric)::text, \
                        sum((record->>'rcpt_local')::numeric)::text, \
                        sum((record->>'rcpt_external')::numeric)::text \
                 FROM r GROUP BY domain, verdict, sender \
                 UNION ALL \
                 SELECT domain, verdict, sender, c, count(DISTINCT seq)::text, NULL, NULL, NULL \
                 FROM r CROSS JOIN LATERAL jsonb_array_elements_text(r.record->'categories') AS c \
                 GROUP BY domain, verdict, sender, c",
                &[&db_time(period.start), &db_time(period.end)],
            )
            .await?;
        let bad = || {
            layout(format!(
                "traffic_record at {}..{}",
                period.start, period.end
            ))
        };
        let mut by: BTreeMap<(String, String, String), Contribution> = BTreeMap::new();
        for row in &rows {
            let text = |i: usize| row.try_get::<_, Option<String>>(i).ok().flatten();
            let (Some(domain), Some(verdict), Some(sender)) = (text(0), text(1), text(2)) else {
                return Err(bad());
            };
            let number = |i: usize| text(i).as_deref().map(sum).ok_or_else(bad)?.ok_or_else(bad);
            let c = by
                .entry((domain.clone(), verdict.clone(), sender.clone()))
                .or_insert_with(|| Contribution {
                    domain,
                    verdict,
                    sender,
                    ..Contribution::default()
                });
            match text(3) {
                Some(category) => {
                    c.categories.insert(category, number(4)?);
                }
                None => {
                    c.messages = number(4)?;
                    c.bytes = number(5)?;
                    c.rcpt_local = number(6)?;
                    c.rcpt_external = number(7)?;
                }
            }
        }
        Ok(by.into_values().collect())
    }

    /// Number of records, and the table's size in bytes (with its index).
    pub async fn totals(&self) -> Result<(u64, u64), StoreError> {
        let client = self.pg.checked_client().await?;
        let row = client
            .query_one(
                "SELECT count(*), pg_total_relation_size('traffic_record') FROM traffic_record",
                &[],
            )
            .await?;
        let (n, bytes): (i64, i64) = (row.get(0), row.get(1));
        Ok((n.max(0) as u64, bytes.max(0) as u64))
    }

    /// Delete every record with `time < now - retention_days × 86400` (WereldKidz 6.7) and remember the
    /// cut-off, in one transaction under [`locks::TRAFFIC_PURGE`]: `None` when another node holds it (that
    /// node purges now; nothing is deleted twice).
    pub async fn purge(&self, now: u64, retention_days: u64) -> Result<Option<usize>, StoreError> {
        let cutoff = db_time(now.saturating_sub(retention_days.saturating_mul(DAY)));
        let mut client = self.pg.checked_client().await?;
        let tx = client.transaction().await?;
        let locked: bool = tx
            .query_one(
                "SELECT pg_try_advisory_xact_lock($1)",
                &[&locks::TRAFFIC_PURGE],
            )
            .await?
            .get(0);
        if !locked {
            return Ok(None);
        }
        tx.execute(
            "UPDATE traffic_meta SET purged_before = greatest(purged_before, $1)",
            &[&cutoff],
        )
        .await?;
        let n = tx
            .execute("DELETE FROM traffic_record WHERE time < $1", &[&cutoff])
            .await?;
        tx.commit().await?;
        Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)))
    }

    /// The latest purge cut-off (0: never purged).
    pub async fn purged_before(&self) -> Result<u64, StoreError> {
        let client = self.pg.checked_client().await?;
        let t: i64 = client
            .query_one("SELECT purged_before FROM traffic_meta", &[])
            .await?
            .get(0);
        Ok(t.max(0) as u64)
    }

    /// Set the purge cut-off to at least `t` (moving a node's store here: its cut-off comes along).
    pub async fn raise_purged_before(&self, t: u64) -> Result<(), StoreError> {
        let client = self.pg.checked_client().await?;
        client
            .execute(
                "UPDATE traffic_meta SET purged_before = greatest(purged_before, $1)",
                &[&db_time(t)],
            )
            .await?;
        Ok(())
    }

    /// A new inquiry id, unique across nodes (the sequence `inquiry_id`; a number taken by an inquiry that
    /// was then refused is not reused).
    pub async fn next_inquiry_id(&self) -> Result<u64, StoreError> {
        let client = self.pg.checked_client().await?;
        let id: i64 = client
            .query_one("SELECT nextval('inquiry_id')", &[])
            .await?
            .get(0);
        Ok(id.max(0) as u64)
    }

    /// Insert or replace an inquiry (the sequence is moved past its id, so an inquiry brought from an
    /// embedded store never collides with a new one).
    pub async fn put_inquiry(&self, inquiry: &Inquiry) -> Result<(), StoreError> {
        let id =
            i64::try_from(inquiry.id).map_err(|_| layout(format!("inquiry {}", inquiry.id)))?;
        let json = serde_json::to_string(inquiry).unwrap_or_default();
        let mut client = self.pg.checked_client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO inquiry (id, inquiry) VALUES ($1, $2::text::jsonb) \
             ON CONFLICT (id) DO UPDATE SET inquiry = excluded.inquiry",
            &[&id, &json],
        )
        .await?;
        tx.execute(
            "SELECT setval('inquiry_id', greatest($1, (SELECT last_value FROM inquiry_id)))",
            &[&id],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The inquiry with this id.
    pub async fn inquiry(&self, id: u64) -> Result<Option<Inquiry>, StoreError> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        let client = self.pg.checked_client().await?;
        let row = client
            .query_opt("SELECT inquiry::text FROM inquiry WHERE id = $1", &[&id])
            .await?;
        row.map(|row| {
            serde_json::from_str(row.get::<_, &str>(0)).map_err(|_| layout(format!("inquiry {id}")))
        })
        .transpose()
    }

    /// Every inquiry, by id.
    pub async fn inquiries(&self) -> Result<Vec<Inquiry>, StoreError> {
        let client = self.pg.checked_client().await?;
        let rows = client
            .query("SELECT inquiry::text FROM inquiry ORDER BY id", &[])
            .await?;
        rows.iter()
            .map(|row| {
                serde_json::from_str(row.get::<_, &str>(0)).map_err(|_| layout("inquiry".into()))
            })
            .collect()
    }

    /// Take the advisory lock `key` for this node: waiting up to [`LOCK_TIMEOUT`] (`wait`), or not at all
    /// (`None` when another node holds it). Held until the guard is dropped.
    pub async fn exclusive(&self, key: i64, wait: bool) -> Result<Option<Exclusive>, StoreError> {
        let client = deadpool_postgres::Object::take(self.pg.checked_client().await?);
        if wait {
            client
                .batch_execute(&format!("SET lock_timeout = '{LOCK_TIMEOUT}'"))
                .await?;
            client
                .execute("SELECT pg_advisory_lock($1)", &[&key])
                .await?;
            return Ok(Some(Exclusive { _client: client }));
        }
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await?
            .get(0);
        Ok(locked.then_some(Exclusive { _client: client }))
    }
}

/// What [`import_embedded`] moved (and found already there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Records in the embedded store.
    pub records: u64,
    /// Of those, added now (the rest were moved by an earlier run).
    pub records_added: u64,
    /// Inquiries in the embedded store.
    pub inquiries: u64,
    /// Of those, added now.
    pub inquiries_added: u64,
}

/// Both sides of a move, counted (`mailwacht store check --from embedded`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compared {
    /// Records in the embedded store, and those of them in PostgreSQL.
    pub records: (u64, u64),
    /// Inquiries in the embedded store, and those of them in PostgreSQL (the same id, the same inquiry).
    pub inquiries: (u64, u64),
}

impl Compared {
    /// True when everything in the embedded store is in PostgreSQL.
    pub fn complete(&self) -> bool {
        self.records.0 == self.records.1 && self.inquiries.0 == self.inquiries.1
    }
}

/// Which embedded store records come from: this host's name and the data directory.
pub fn origin(data_dir: &std::path::Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}:{}", host.trim(), data_dir.display())
}

/// Records moved per transaction.
const IMPORT_BATCH: usize = 1_000;

impl PgTraffic {
    /// Move the records and inquiries of a node's embedded store here (`origin`: which store, e.g.
    /// `host:/var/lib/mailwacht`), idempotently: a record already moved from the same origin (its key
    /// there) is not added again, an inquiry already here unchanged is left. The embedded store's purge
    /// cut-off comes along. An inquiry id another node's inquiry already holds is an error, naming it:
    /// the audit log refers to inquiries by number, so they are not renumbered.
    pub async fn import_embedded(
        &self,
        store: &super::TrafficStore,
        origin: &str,
    ) -> Result<Imported, StoreError> {
        let mut done = Imported::default();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let chunk = store.keyed(after.as_deref(), IMPORT_BATCH)?;
            let Some((last, _)) = chunk.last() else {
                break;
            };
            after = Some(last.clone());
            let (mut times, mut json, mut keys) = (Vec::new(), Vec::new(), Vec::new());
            for (key, record) in &chunk {
                times.push(db_time(record.time));
                json.push(serde_json::to_string(record).unwrap_or_default());
                keys.push(key.clone());
            }
            let client = self.pg.checked_client().await?;
            let added = client
                .execute(
                    "INSERT INTO traffic_record (time, record, origin, origin_key) \
                     SELECT t, r::jsonb, $4, k \
                     FROM unnest($1::bigint[], $2::text[], $3::bytea[]) WITH ORDINALITY AS x(t, r, k, n) \
                     ORDER BY n ON CONFLICT (origin, origin_key) DO NOTHING",
                    &[&times, &json, &keys, &origin],
                )
                .await?;
            done.records += chunk.len() as u64;
            done.records_added += added;
        }
        let mut taken = Vec::new();
        for inquiry in store.inquiries()? {
            done.inquiries += 1;
            match self.inquiry(inquiry.id).await? {
                Some(here) if here == inquiry => {}
                Some(_) => taken.push(inquiry.id),
                None => {
                    self.put_inquiry(&inquiry).await?;
                    done.inquiries_added += 1;
                }
            }
        }
        self.raise_purged_before(store.purged_before()?).await?;
        if !taken.is_empty() {
            return Err(StoreError::Taken { ids: taken });
        }
        Ok(done)
    }

    /// Count both sides of [`PgTraffic::import_embedded`] from `origin`.
    pub async fn compare_embedded(
        &self,
        store: &super::TrafficStore,
        origin: &str,
    ) -> Result<Compared, StoreError> {
        let client = self.pg.checked_client().await?;
        let here: i64 = client
            .query_one(
                "SELECT count(*) FROM traffic_record WHERE origin = $1",
                &[&origin],
            )
            .await?
            .get(0);
        let mut inquiries = (0, 0);
        for inquiry in store.inquiries()? {
            inquiries.0 += 1;
            if self.inquiry(inquiry.id).await?.as_ref() == Some(&inquiry) {
                inquiries.1 += 1;
            }
        }
        Ok(Compared {
            records: (store.len() as u64, here.max(0) as u64),
            inquiries,
        })
    }
}
