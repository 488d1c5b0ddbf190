//! The daemon's background tasks beside the servers: quarantine retention, traffic retention (records,
//! expired pseudonym keys, ended inquiries), copies of damaged stores, and the small servers (admin
//! socket, `/metrics`, web console, SIGHUP). [`Housekeeping`] owns them and stops them when it is dropped,
//! as mini-redis' `DbDropGuard` stops its purge task, so no task outlives the daemon that started it.
//!
//! Must not: stop mail. Every failure here is logged and retried at the next run.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tracing::{error, info};

/// How often retention runs (besides at start).
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Owns the background tasks; dropping it aborts them.
#[derive(Default)]
pub struct Housekeeping {
    /// Tasks that end only when aborted.
    tasks: Vec<JoinHandle<()>>,
    /// Servers that may end with an I/O error (the web console); aborted alike.
    io_tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Housekeeping {
    /// Own `task` from now on.
    pub fn push(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    /// Own `task`, a server that returns an I/O result.
    pub fn push_io(&mut self, task: JoinHandle<std::io::Result<()>>) {
        self.io_tasks.push(task);
    }
}

impl Drop for Housekeeping {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in &self.io_tasks {
            task.abort();
        }
    }
}

/// The uid the daemon's own review actions (retention, closing inquiries) are audited as.
fn daemon_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Check the audit log against its head at start. Damage is recorded in the log as a break entry (never
/// healed silently) and logged as an error, but the daemon keeps serving: the audit log is not needed to
/// answer Postfix, and refusing reviews would not undo the damage, only block incident work.
pub fn settle_audit(service: &crate::admin::Service) {
    match service.settle_audit(daemon_uid(), SystemTime::now()) {
        Ok(settled) => {
            for problem in &settled.recorded {
                error!(
                    problem = %problem,
                    "the audit log was changed, cut or removed; recorded as a break in the log \
                     (`mailwacht audit list` reports it)"
                );
            }
            if settled.anchored && settled.recorded.is_empty() {
                info!("audit log head (audit.head) written");
            }
        }
        Err(e) => error!(
            error = %e,
            "cannot check or anchor the audit log; reviews fail until it can be written (mail keeps flowing)"
        ),
    }
}

/// Run `job` now and every [`RETENTION_INTERVAL`], until the task is aborted.
fn spawn_hourly<F, Fut>(mut job: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RETENTION_INTERVAL);
        loop {
            tick.tick().await;
            job().await;
        }
    })
}

/// Measure the quarantine and the traffic store for `/metrics` now and every minute (off the runtime's
/// threads: both walk their store).
pub fn spawn_store_sizes(
    quarantine: crate::quarantine::Store,
    traffic: crate::traffic::Traffic,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut minute = tokio::time::interval(Duration::from_secs(60));
        loop {
            minute.tick().await;
            let q = quarantine.clone();
            let measured = tokio::task::spawn_blocking(move || q.totals().unwrap_or_default());
            let (entries, bytes) = measured.await.unwrap_or_default();
            let (records, disk) = traffic.totals().await.unwrap_or_default();
            crate::metrics::stores(entries, bytes, records, disk);
        }
    })
}

/// Send the daily digest to ICT about quarantined mail ([`crate::filter::alerts::DIGEST_EVERY`] after
/// start, then again; nothing when `[quarantine] digest` is off or nothing was quarantined).
pub fn spawn_digest(filter: crate::filter::Filter) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut day = tokio::time::interval(crate::filter::alerts::DIGEST_EVERY);
        day.tick().await;
        loop {
            day.tick().await;
            filter.send_digest().await;
        }
    })
}

/// Purge expired quarantine entries now and every [`RETENTION_INTERVAL`] (audited as the daemon's uid).
pub fn spawn_retention(
    service: Arc<crate::admin::Service>,
    retention_days: u64,
    data_dir: PathBuf,
) -> JoinHandle<()> {
    let uid = daemon_uid();
    spawn_hourly(move || purge_quarantine(service.clone(), uid, retention_days, data_dir.clone()))
}

/// One run of quarantine retention: expired entries, then expired copies of a damaged index.
async fn purge_quarantine(
    service: Arc<crate::admin::Service>,
    uid: u32,
    retention_days: u64,
    data_dir: PathBuf,
) {
    match service.purge(uid, SystemTime::now(), retention_days).await {
        Ok(purged) if !purged.is_empty() => {
            info!(
                purged = purged.len(),
                retention_days, "expired quarantine entries deleted"
            )
        }
        Ok(_) => {}
        Err(e) => error!(error = %e, "quarantine retention failed"),
    }
    purge_damaged(&data_dir, "quarantine.sled", retention_days);
}

/// Delete copies of a damaged `store` older than the retention (they hold the same kind of data).
fn purge_damaged(data_dir: &Path, store: &str, retention_days: u64) {
    let now = SystemTime::now();
    match crate::storage::purge_damaged(data_dir, store, now, retention_days) {
        Ok(purged) => {
            for path in purged {
                info!(path = %path.display(), retention_days, "expired copy of a damaged store deleted");
            }
        }
        Err(e) => error!(store, error = %e, "deleting expired copies of a damaged store failed"),
    }
}

/// Purge traffic records older than the retention now and every [`RETENTION_INTERVAL`] (WereldKidz 6.7),
/// then delete the pseudonym keys whose records are all gone and close the inquiries whose window ended
/// (audited); the retention is read each time so a reload takes effect at the next run.
pub fn spawn_traffic_retention(
    store: crate::traffic::Traffic,
    settings: crate::admin::TrafficService,
    keys: Arc<crate::traffic::KeyRing>,
    service: Arc<crate::admin::Service>,
    data_dir: PathBuf,
) -> JoinHandle<()> {
    let uid = daemon_uid();
    spawn_hourly(move || {
        purge_traffic(
            store.clone(),
            settings.retention_days(),
            keys.clone(),
            service.clone(),
            data_dir.clone(),
            uid,
        )
    })
}

/// One run of traffic retention (see [`spawn_traffic_retention`]).
async fn purge_traffic(
    store: crate::traffic::Traffic,
    days: u64,
    keys: Arc<crate::traffic::KeyRing>,
    service: Arc<crate::admin::Service>,
    data_dir: PathBuf,
    uid: u32,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Keys go only after their records: a failed purge keeps them. When another node sharing the store is
    // purging now (`None`), the keys' expiry still runs: on the shared database it deletes only keys whose
    // records the shared purge cut-off says are gone, and drops what another node deleted from this node's
    // cache.
    let purged = match store.purge(now, days).await {
        Ok(purged) => {
            let expire = tokio::task::spawn_blocking(move || keys.expire(now, days));
            match expire.await {
                Ok(Ok(expired)) => Ok(Ok((purged.unwrap_or(0), expired))),
                Ok(Err(e)) => Ok(Err(e.to_string())),
                Err(e) => Err(e),
            }
        }
        Err(e) => Ok(Err(e.to_string())),
    };
    match purged {
        Ok(Ok((purged, expired))) => {
            if purged > 0 {
                info!(
                    purged,
                    retention_days = days,
                    "expired traffic records deleted"
                );
            }
            for (from, to) in expired {
                info!(
                    from = %crate::traffic::summary::date(from),
                    to = %crate::traffic::summary::date(to),
                    "pseudonym key of an expired key period deleted"
                );
            }
        }
        Ok(Err(e)) => error!(error = %e, "traffic retention failed"),
        Err(e) => error!(error = %e, "traffic retention failed"),
    }
    match service.close_ended_inquiries(uid, SystemTime::now()).await {
        Ok(ids) => {
            for id in ids {
                info!(inquiry = id, "inquiry closed: its window ended (audited)");
            }
        }
        Err(e) => error!(error = %e, "closing ended inquiries failed"),
    }
    purge_damaged(&data_dir, "traffic.sled", days);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_the_guard_stops_its_tasks() {
        let mut guard = Housekeeping::default();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        guard.push(tokio::spawn(async move {
            let _tx = tx;
            std::future::pending::<()>().await;
        }));
        let (io_tx, mut io_rx) = tokio::sync::mpsc::channel::<()>(1);
        guard.push_io(tokio::spawn(async move {
            let _tx = io_tx;
            std::future::pending::<std::io::Result<()>>().await
        }));
        drop(guard);
        // Each task's sender is dropped with the task: the channels close.
        assert_eq!(rx.recv().await, None);
        assert_eq!(io_rx.recv().await, None);
    }
}
