//! [`Store`]: the one handle over the quarantine the daemon, the review service and the offline CLI use,
//! whichever backend holds it ([`QuarantineStore`]: [`Embedded`] in the data directory, or
//! [`PgQuarantine`] shared by several nodes).
//!
//! The reads are sync (the review service calls them from sync code, and the embedded index answers at
//! once); the writes are async, as the embedded store's `flush_async` and a database round trip are.
//! Must not: know a backend's layout.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use super::postgres::PgQuarantine;
use super::{Embedded, Entry, OpenReport, Quarantine, QuarantineError, Status, StoreError};
use crate::envelope::Envelope;
use crate::scan::Detection;
use crate::util::BoxFuture;

/// What a quarantine backend does besides [`Quarantine::store`] (the write path of the pipeline).
pub trait QuarantineStore: Quarantine + std::fmt::Debug {
    /// Entries received at or after `since`, oldest first (then by id).
    fn list(&self, since: SystemTime) -> Result<Vec<Entry>, StoreError>;
    /// How many messages the quarantine holds and their bytes (for `/metrics`).
    fn totals(&self) -> Result<(u64, u64), StoreError>;
    /// One entry's metadata.
    fn get(&self, id: &str) -> Result<Entry, StoreError>;
    /// One entry's metadata and original bytes.
    fn get_raw(&self, id: &str) -> Result<(Entry, Vec<u8>), StoreError>;
    /// Make what was written durable (the embedded index; nothing to do for a database).
    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Mark an entry (released).
    fn set_status<'a>(
        &'a self,
        id: &'a str,
        status: Status,
    ) -> BoxFuture<'a, Result<Entry, StoreError>>;
    /// Delete an entry.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Entry, StoreError>>;
    /// Delete every entry received more than `retention_days` before `now`; returns the deleted ids. A
    /// shared backend purges on one node at a time (the others return nothing).
    fn purge(
        &self,
        now: SystemTime,
        retention_days: u64,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;
}

/// The quarantine, whichever backend holds it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store(Arc<dyn QuarantineStore>);

impl Store {
    /// The embedded quarantine in `data_dir` ([`Embedded::open`]).
    pub fn open(data_dir: &Path) -> Result<(Store, OpenReport), StoreError> {
        let (store, report) = Embedded::open(data_dir)?;
        Ok((Store(Arc::new(store)), report))
    }

    /// A quarantine on any backend.
    pub fn new(backend: impl QuarantineStore + 'static) -> Store {
        Store(Arc::new(backend))
    }

    /// The quarantine in the shared database.
    pub fn postgres(store: PgQuarantine) -> Store {
        Store::new(store)
    }

    /// See [`QuarantineStore::flush`].
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.0.flush().await
    }

    /// See [`QuarantineStore::list`].
    pub fn list(&self, since: SystemTime) -> Result<Vec<Entry>, StoreError> {
        self.0.list(since)
    }

    /// See [`QuarantineStore::totals`].
    pub fn totals(&self) -> Result<(u64, u64), StoreError> {
        self.0.totals()
    }

    /// See [`QuarantineStore::get`].
    pub fn get(&self, id: &str) -> Result<Entry, StoreError> {
        self.0.get(id)
    }

    /// See [`QuarantineStore::get_raw`].
    pub fn get_raw(&self, id: &str) -> Result<(Entry, Vec<u8>), StoreError> {
        self.0.get_raw(id)
    }

    /// See [`QuarantineStore::set_status`].
    pub async fn set_status(&self, id: &str, status: Status) -> Result<Entry, StoreError> {
        self.0.set_status(id, status).await
    }

    /// See [`QuarantineStore::delete`].
    pub async fn delete(&self, id: &str) -> Result<Entry, StoreError> {
        self.0.delete(id).await
    }

    /// See [`QuarantineStore::purge`].
    pub async fn purge(
        &self,
        now: SystemTime,
        retention_days: u64,
    ) -> Result<Vec<String>, StoreError> {
        self.0.purge(now, retention_days).await
    }
}

impl Quarantine for Store {
    fn store<'a>(
        &'a self,
        id: &'a str,
        envelope: &'a Envelope,
        raw: &'a [u8],
        detections: &'a [Detection],
        received: SystemTime,
    ) -> BoxFuture<'a, Result<String, QuarantineError>> {
        self.0.store(id, envelope, raw, detections, received)
    }
}

impl QuarantineStore for Embedded {
    fn list(&self, since: SystemTime) -> Result<Vec<Entry>, StoreError> {
        Embedded::list(self, since)
    }
    fn totals(&self) -> Result<(u64, u64), StoreError> {
        Embedded::totals(self)
    }
    fn get(&self, id: &str) -> Result<Entry, StoreError> {
        Embedded::get(self, id)
    }
    fn get_raw(&self, id: &str) -> Result<(Entry, Vec<u8>), StoreError> {
        Embedded::get_raw(self, id)
    }
    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(Embedded::flush(self))
    }
    fn set_status<'a>(
        &'a self,
        id: &'a str,
        status: Status,
    ) -> BoxFuture<'a, Result<Entry, StoreError>> {
        Box::pin(Embedded::set_status(self, id, status))
    }
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Entry, StoreError>> {
        Box::pin(Embedded::delete(self, id))
    }
    fn purge(
        &self,
        now: SystemTime,
        retention_days: u64,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(Embedded::purge(self, now, retention_days))
    }
}
