//! The stores the daemon opens at start: the quarantine, the traffic records (*verkeersgegevens*) and
//! their pseudonym keys, each with what opening it found logged; and [`explain_permission`], which names
//! a store another user owns (for the daemon and the offline command line alike).
//!
//! Must not: stop mail for a secondary store. A damaged traffic store is moved aside and started afresh,
//! and unusable keys mean no traffic records (each counted as dropped), never a refused message.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tracing::{error, info, warn};

use crate::admin::AuditLog;
use crate::config::Config;
use crate::quarantine::postgres::PgQuarantine;
use crate::quarantine::Store;
use crate::storage::postgres::{migrate, Blocking, Pg};
use crate::traffic::{KeyRing, Traffic, TrafficStore};

/// The daemon's stores, open.
pub struct Stores {
    /// Infected mail kept apart (art. 8.5).
    pub quarantine: Store,
    /// The traffic records: `traffic.sled`, or the shared database's tables.
    pub traffic: Traffic,
    /// The pseudonym keys of the traffic records: files in `[traffic] key_dir`, or the shared database's,
    /// wrapped under `[traffic] key_secret_file`.
    pub keys: Arc<KeyRing>,
    /// The shared database (`[storage] backend = "postgres"`), its schema checked; `None`: embedded.
    pub shared: Option<Shared>,
}

impl Stores {
    /// Open (or create) every store of `config`'s data directory and key directory.
    pub async fn open(config: &Config) -> anyhow::Result<Stores> {
        let shared = Shared::open(config).await?;
        let quarantine = match &shared {
            Some(shared) => shared.quarantine(),
            None => {
                let (quarantine, report) =
                    Store::open(&config.storage.data_dir).context("opening the quarantine")?;
                quarantine
                    .flush()
                    .await
                    .context("flushing the quarantine index")?;
                log_quarantine_opened(&report);
                quarantine
            }
        };
        let traffic = match &shared {
            Some(shared) => {
                Traffic::Postgres(crate::traffic::postgres::PgTraffic::new(shared.pg.clone()))
            }
            None => Traffic::Embedded(open_traffic(config)?),
        };
        if let Some(db) = &shared {
            let keys = db.keys_at_start(config).await;
            return Ok(Stores {
                quarantine,
                traffic,
                keys,
                shared,
            });
        }
        let keys = Arc::new(open_keys(config).unwrap_or_else(|e| {
            // Like a damaged traffic store: the keys serve only the traffic records, so mail goes on
            // without them and no record is kept (each counted as dropped) until the key directory is
            // usable again.
            let e = explain_permission(e, &config.storage.data_dir, &[&config.key_dir()]);
            error!(
                key_dir = %config.key_dir().display(),
                error = format!("{e:#}"),
                "the pseudonym keys cannot be opened: traffic records (verkeersgegevens) are not kept until this is fixed and mailwacht restarted; mail is not affected"
            );
            KeyRing::unavailable(&config.key_dir(), config.traffic.retention_days)
        }));
        Ok(Stores {
            quarantine,
            traffic,
            keys,
            shared,
        })
    }

    /// The audit log on the configured backend.
    pub fn audit(&self, config: &Config) -> anyhow::Result<AuditLog> {
        open_audit(config, self.shared.as_ref())
    }
}

/// The shared database (`[storage] backend = "postgres"`): the pool for async work and the thread for the
/// sync reads and the audit log (see [`crate::storage::postgres::Blocking`]).
#[derive(Debug, Clone)]
pub struct Shared {
    pub pg: Pg,
    pub blocking: Blocking,
}

impl Shared {
    /// Reach the shared database of `config`, if it has one, and refuse a schema this version does not
    /// know (newer: another node was upgraded; older: `mailwacht store migrate` was not run). A database
    /// that does not answer yet is no reason not to start (see [`Pg::checked_client`]).
    pub async fn open(config: &Config) -> anyhow::Result<Option<Shared>> {
        let Some(settings) = config.storage.postgres() else {
            return Ok(None);
        };
        let pg = Pg::connect(&settings)?;
        match pg.ensure_schema().await {
            Ok(()) => {
                info!(database = %pg.target(), schema = migrate::known(), "shared store (PostgreSQL) reached")
            }
            // Mail goes on: clean mail flows, what must be stored is deferred (451) until the database
            // answers; its schema is checked then, before the first write.
            Err(e) if e.is_unavailable() => warn!(
                database = %pg.target(),
                error = %e,
                "shared store (PostgreSQL) unreachable at start: quarantined mail is deferred (451) until it answers"
            ),
            Err(e) => {
                return Err(e).with_context(|| format!("checking the database {}", pg.target()))
            }
        }
        let blocking = Blocking::start(&settings)?;
        Ok(Some(Shared { pg, blocking }))
    }

    /// The quarantine in the database.
    pub fn quarantine(&self) -> Store {
        Store::postgres(PgQuarantine::new(self.pg.clone(), self.blocking.clone()))
    }

    // the shared pseudonym keys (issue 17).
    /// The pseudonym keys in the database, wrapped under `[traffic] key_secret_file`; `writable`: the
    /// daemon makes and deletes keys, the offline command line only reads them.
    pub fn keys(&self, config: &Config, writable: bool) -> anyhow::Result<KeyRing> {
        let file = config
            .traffic
            .key_secret_file
            .as_deref()
            .context("[traffic] key_secret_file is not set")?;
        let secret = crate::traffic::keys::wrap::Secret::read(file)?;
        Ok(KeyRing::shared(
            crate::traffic::keys::postgres::PgKeys::new(self.blocking.clone(), secret),
            config.traffic.retention_days,
            writable,
        ))
    }

    /// The daemon's keys, read and checked against the database at start. Like unusable key files: a
    /// secret that cannot be read or does not open the keys means no traffic records (each counted as
    /// dropped), never a refused message.
    async fn keys_at_start(&self, config: &Config) -> Arc<KeyRing> {
        let ring = match self.keys(config, true) {
            Ok(ring) => Arc::new(ring),
            Err(e) => {
                error!(
                    error = format!("{e:#}"),
                    "the pseudonym key secret cannot be read: traffic records (verkeersgegevens) are not kept until this is fixed and mailwacht restarted; mail is not affected"
                );
                return Arc::new(KeyRing::unavailable(
                    Path::new(""),
                    config.traffic.retention_days,
                ));
            }
        };
        let reading = ring.clone();
        match tokio::task::spawn_blocking(move || reading.refresh()).await {
            Ok(Ok(keys)) => {
                info!(database = %self.pg.target(), keys, "pseudonym keys shared by the nodes, wrapped in the database")
            }
            // Logged once by the ring itself; each record it stops is counted as dropped.
            Ok(Err(crate::traffic::KeyError::WrongSecret { .. })) => {}
            Ok(Err(e)) => {
                warn!(error = %e, "pseudonym keys not read at start: read when the first record needs one")
            }
            Err(e) => warn!(error = %e, "pseudonym keys not read at start"),
        }
        ring
    }
}

/// The audit log of `config`: in the shared database, or `audit.log` in the data directory.
pub fn open_audit(config: &Config, shared: Option<&Shared>) -> anyhow::Result<AuditLog> {
    let path = config.storage.data_dir.join("audit.log");
    Ok(match shared {
        Some(shared) => AuditLog::postgres(path, shared.blocking.clone()),
        None => AuditLog::open(path).context("opening the audit log")?,
    })
}

/// The traffic store for the offline command line: the shared database (its schema checked by
/// [`Shared::open`]), or `traffic.sled` opened as it is (offline, nothing is recovered).
pub fn traffic_offline(config: &Config, shared: Option<&Shared>) -> anyhow::Result<Traffic> {
    Ok(match shared {
        Some(shared) => {
            Traffic::Postgres(crate::traffic::postgres::PgTraffic::new(shared.pg.clone()))
        }
        None => Traffic::Embedded(TrafficStore::open(&config.storage.data_dir)?),
    })
}

/// The pseudonym keys for the offline command line, read only: the shared database's (`[traffic]
/// key_secret_file`), or the files in the key directory.
pub fn keys_offline(config: &Config, shared: Option<&Shared>) -> anyhow::Result<KeyRing> {
    Ok(match shared {
        Some(shared) => shared.keys(config, false)?,
        None => KeyRing::load(
            &config.key_dir(),
            &config.storage.data_dir,
            config.traffic.retention_days,
        )?,
    })
}

/// Open `traffic.sled` in the data directory; a damaged one is moved aside and started afresh.
fn open_traffic(config: &Config) -> anyhow::Result<TrafficStore> {
    let (traffic, recovered) =
        TrafficStore::open_or_recover(&config.storage.data_dir, SystemTime::now())
            .context("opening the traffic store")?;
    if let Some(recovered) = recovered {
        // Traffic records are secondary: a damaged database must not stop mail. Kept for inspection.
        error!(
            moved_to = %recovered.moved_to.display(),
            error = %recovered.error,
            "the traffic store (verkeersgegevens) was damaged: moved aside and started afresh; mail is not affected"
        );
        crate::metrics::store_recovered(crate::metrics::RecoveredStore::Traffic);
    }
    Ok(traffic)
}

/// Log what opening the quarantine found; a damaged index also counts in the metrics.
fn log_quarantine_opened(report: &crate::quarantine::OpenReport) {
    if let Some(aside) = &report.index_moved_aside {
        error!(
            moved_to = %aside.display(),
            "the quarantine index was damaged: moved aside and rebuilt from the quarantine files"
        );
        crate::metrics::store_recovered(crate::metrics::RecoveredStore::QuarantineIndex);
    }
    if !report.damaged.is_empty() {
        warn!(
            ids = %report.damaged.join(","),
            "quarantined messages without readable metadata: listed as \"{}\", purged by retention",
            crate::quarantine::METADATA_DAMAGED
        );
    }
    if !report.without_message.is_empty() {
        warn!(
            ids = %report.without_message.join(","),
            "quarantine entries whose message file is missing"
        );
    }
    info!(
        entries = report.entries,
        index_rebuilt = report.rebuilt,
        damaged = report.damaged.len(),
        temporary_removed = report.temporary_removed,
        "quarantine opened"
    );
}

/// Open the pseudonym keys (`[traffic] key_dir`, apart from the data directory), moving an older version's
/// `traffic.key` out of the data directory.
fn open_keys(config: &Config) -> anyhow::Result<KeyRing> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let key_dir = config.key_dir();
    let (keys, report) = KeyRing::open(
        &key_dir,
        &config.storage.data_dir,
        config.traffic.retention_days,
        now,
    )
    .context("opening the traffic pseudonym keys")?;
    info!(key_dir = %key_dir.display(), keys = report.keys, "pseudonym keys kept apart from the data");
    if let Some((_, to)) = report.migrated {
        warn!(
            key_dir = %key_dir.display(),
            until = %crate::traffic::summary::date(to),
            "traffic.key moved out of the data directory into the key directory; it is used until the end of the current key period, then rotated. Backups of the data directory made before this hold that key: delete them"
        );
    }
    if report.discarded_legacy {
        warn!("a traffic.key in the data directory was deleted: its period is covered by a key in the key directory");
    }
    Ok(keys)
}

/// When `error` was caused by a permission error, say which file in `data_dir` (or, next, in the other
/// directories mailwacht keeps: the key directory) is not ours, whose it is and how to fix it (see
/// [`crate::storage::permission_problem`]). "Ours" is the effective user's, or, for root, the data
/// directory owner's: the offline CLI acted as the owner, and root is not refused otherwise.
pub fn explain_permission(
    error: anyhow::Error,
    data_dir: &Path,
    others: &[&Path],
) -> anyhow::Error {
    if !error.chain().any(crate::storage::is_permission_denied) {
        return error;
    }
    // SAFETY: geteuid and getegid have no preconditions and cannot fail.
    let (mut uid, mut gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if uid == 0 {
        match std::fs::metadata(data_dir) {
            Ok(meta) if meta.uid() != 0 => (uid, gid) = (meta.uid(), meta.gid()),
            _ => return error,
        }
    }
    let problem = std::iter::once(data_dir)
        .chain(others.iter().copied())
        .find_map(|dir| crate::storage::permission_problem(dir, uid, gid));
    match problem {
        Some(problem) => error.context(problem.to_string()),
        None => error,
    }
}
