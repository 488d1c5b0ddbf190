//! [`Traffic`]: the traffic records and inquiries behind one API, whichever `[storage] backend` holds them —
//! the embedded [`TrafficStore`] (sled, one node; its code unchanged) or [`PgTraffic`] (PostgreSQL, shared
//! by every node). Everything above it (the writer, summaries with their k-anonymity rules, inquiries,
//! retention) is one implementation over both.
//!
//! The API is async because PostgreSQL's is; the embedded store's calls that walk the database (ranges,
//! purges, sizes) go to the blocking pool as before, its point lookups run in place as before.
//!
//! Must not: decide anything (see the two stores).

use super::postgres::{Exclusive, PgTraffic};
use super::summary::{self, Contribution, Span};
use super::{Inquiry, Record, StoreError, TrafficStore};

/// Where the traffic records and inquiries are kept. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Traffic {
    /// `<data_dir>/traffic.sled` (`[storage] backend = "embedded"`).
    Embedded(TrafficStore),
    /// The shared database (`[storage] backend = "postgres"`).
    Postgres(PgTraffic),
}

/// A job that runs on one node at a time, held until dropped: the embedded store is one node's own, so
/// there nothing is needed; on PostgreSQL, an advisory lock.
#[derive(Debug)]
pub struct Held(#[allow(dead_code)] Option<Exclusive>);

async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

impl From<TrafficStore> for Traffic {
    fn from(store: TrafficStore) -> Traffic {
        Traffic::Embedded(store)
    }
}

impl Traffic {
    /// Add a record (already pseudonymised).
    pub async fn insert(&self, record: &Record) -> Result<(), StoreError> {
        match self {
            Traffic::Embedded(s) => s.insert(record),
            Traffic::Postgres(p) => p.insert(record).await,
        }
    }

    /// Records with `from <= time < to`, oldest first — of every node on PostgreSQL.
    pub async fn range(&self, from: u64, to: u64) -> Result<Vec<Record>, StoreError> {
        match self {
            Traffic::Embedded(s) => {
                let s = s.clone();
                blocking(move || s.range(from, to)).await
            }
            Traffic::Postgres(p) => p.range(from, to).await,
        }
    }

    /// What the records of `period` contribute to its summary, per sender and cell (see
    /// [`summary::Contribution`]): added up here over the embedded store's records, in SQL over every
    /// node's on PostgreSQL.
    pub async fn contributions(&self, period: Span) -> Result<Vec<Contribution>, StoreError> {
        match self {
            Traffic::Embedded(s) => {
                let s = s.clone();
                blocking(move || {
                    let records = s.range(period.start, period.end)?;
                    Ok(summary::contributions(&records, period))
                })
                .await
            }
            Traffic::Postgres(p) => p.contributions(period).await,
        }
    }

    /// Number of records and the store's size in bytes (for `/metrics`).
    pub async fn totals(&self) -> Result<(u64, u64), StoreError> {
        match self {
            Traffic::Embedded(s) => {
                let s = s.clone();
                blocking(move || Ok((s.len() as u64, s.size_on_disk()?))).await
            }
            Traffic::Postgres(p) => p.totals().await,
        }
    }

    /// Delete the records older than `retention_days` before `now` (see [`TrafficStore::purge`]); `None`
    /// when another node is purging the shared store right now.
    pub async fn purge(&self, now: u64, retention_days: u64) -> Result<Option<usize>, StoreError> {
        match self {
            Traffic::Embedded(s) => {
                let s = s.clone();
                blocking(move || s.purge(now, retention_days).map(Some)).await
            }
            Traffic::Postgres(p) => p.purge(now, retention_days).await,
        }
    }

    /// The latest purge cut-off (see [`TrafficStore::purged_before`]).
    pub async fn purged_before(&self) -> Result<u64, StoreError> {
        match self {
            Traffic::Embedded(s) => s.purged_before(),
            Traffic::Postgres(p) => p.purged_before().await,
        }
    }

    /// A new inquiry id (unique across nodes on PostgreSQL).
    pub async fn next_inquiry_id(&self) -> Result<u64, StoreError> {
        match self {
            Traffic::Embedded(s) => s.next_inquiry_id(),
            Traffic::Postgres(p) => p.next_inquiry_id().await,
        }
    }

    /// Insert or replace an inquiry.
    pub async fn put_inquiry(&self, inquiry: &Inquiry) -> Result<(), StoreError> {
        match self {
            Traffic::Embedded(s) => s.put_inquiry(inquiry),
            Traffic::Postgres(p) => p.put_inquiry(inquiry).await,
        }
    }

    /// The inquiry with this id.
    pub async fn inquiry(&self, id: u64) -> Result<Option<Inquiry>, StoreError> {
        match self {
            Traffic::Embedded(s) => s.inquiry(id),
            Traffic::Postgres(p) => p.inquiry(id).await,
        }
    }

    /// Every inquiry, by id.
    pub async fn inquiries(&self) -> Result<Vec<Inquiry>, StoreError> {
        match self {
            Traffic::Embedded(s) => s.inquiries(),
            Traffic::Postgres(p) => p.inquiries().await,
        }
    }

    /// Make what was written durable (sled's buffers; PostgreSQL commits each write).
    pub async fn flush(&self) -> Result<(), StoreError> {
        match self {
            Traffic::Embedded(s) => s.flush().await,
            Traffic::Postgres(_) => Ok(()),
        }
    }

    /// Run a job on this node alone among the nodes sharing the store (advisory lock `key`, see
    /// [`crate::storage::postgres::locks`]): waiting for another node's (`wait`), or `None` when another
    /// node holds it. Embedded: always granted.
    pub async fn exclusive(&self, key: i64, wait: bool) -> Result<Option<Held>, StoreError> {
        match self {
            Traffic::Embedded(_) => Ok(Some(Held(None))),
            Traffic::Postgres(p) => Ok(p.exclusive(key, wait).await?.map(|e| Held(Some(e)))),
        }
    }
}
