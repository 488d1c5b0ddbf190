//! `mailwacht serve`: load the configuration, start the SMTP listener and/or the milter listener, reload on
//! SIGHUP, stop both on SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

use crate::bounce::Mailer;
use crate::config::{Config, RuntimeSection};
use crate::filter::{Engine, Filter, BOUNCE_TIMEOUT};
use crate::quarantine::Store;
use crate::smtp::client::NextHop;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen here instead of `[smtp] listen` (e.g. `127.0.0.1:0` for any free port).
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Relay here instead of `[smtp] next_hop`.
    #[arg(long, value_name = "HOST:PORT")]
    next_hop: Option<String>,
    /// Serve the milter here (enables `[milter]`), e.g. `127.0.0.1:0` or `unix:/run/mailwacht/milter.sock`.
    #[arg(long, value_name = "ADDRESS")]
    milter_listen: Option<String>,
    /// Use this data directory instead of `[storage] data_dir`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log lines as `text` or `json` (one object per line) instead of `[log] format`.
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
}

impl Args {
    /// Apply the flags on top of a loaded configuration (also on reload, so flags keep winning).
    fn apply(&self, config: &mut Config) {
        if let Some(listen) = &self.listen {
            config.smtp.listen = listen.clone();
        }
        if let Some(next_hop) = &self.next_hop {
            config.smtp.next_hop = next_hop.clone();
        }
        if let Some(milter) = &self.milter_listen {
            config.milter.listen = milter.clone();
            config.milter.enabled = true;
        }
        if let Some(dir) = &self.data_dir {
            config.storage.data_dir = dir.clone();
        }
        match self.log_format.as_deref() {
            Some("json") => config.log.format = crate::config::LogFormat::Json,
            Some(_) => config.log.format = crate::config::LogFormat::Text,
            None => {}
        }
    }
}

/// Now, in seconds since the epoch.
fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How long the start-up scanner probe may take (the start line waits for it).
const SCANNER_PROBE: std::time::Duration = std::time::Duration::from_secs(5);

pub fn run(config_path: Option<PathBuf>, args: Args) -> anyhow::Result<ExitCode> {
    let mut config = super::load_config(config_path.as_ref())?;
    args.apply(&mut config);
    super::logging::init(config.log.format);
    if !config.smtp.enabled && !config.milter.enabled {
        anyhow::bail!(
            "nothing to serve: [smtp] enabled = false and [milter] enabled = false; enable at least one"
        );
    }
    let compiled = config.compile(&super::config_name(config_path.as_ref()))?;
    let (config, engine) = (compiled.config, compiled.engine);
    let runtime = build_runtime(&config.runtime).context("starting runtime")?;
    // Run the listeners on a worker thread, not on this one: a connection accepted by a worker starts its
    // session on that worker's own queue, where one accepted here had to wake a worker (a futex wake and a
    // thread switch per connection).
    let (data_dir, key_dir) = (config.storage.data_dir.clone(), config.key_dir());
    let served = runtime.block_on(async {
        tokio::spawn(serve(config_path, args, config, engine))
            .await
            .context("the server task failed")?
    });
    // A store another user owns keeps the daemon from starting: say which file, whose, and the fix.
    served.map_err(|e| super::data_dir::explain_permission(e, &data_dir, &[&key_dir]))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    config_path: Option<PathBuf>,
    args: Args,
    config: Config,
    engine: Engine,
) -> anyhow::Result<()> {
    let listener = if config.smtp.enabled {
        let listener = tokio::net::TcpListener::bind(&config.smtp.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.smtp.listen))?;
        let address = listener.local_addr().context("reading listen address")?;
        Some((listener, address))
    } else {
        None
    };
    let milter_listener = if config.milter.enabled {
        Some(bind_milter(&config.milter).await?)
    } else {
        None
    };
    let mailer = Mailer::new(&config.smtp.next_hop, &config.smtp.hostname, BOUNCE_TIMEOUT)
        .context("setting up bounce mailer")?;
    let (store, report) =
        Store::open(&config.storage.data_dir).context("opening the quarantine")?;
    store
        .flush()
        .await
        .context("flushing the quarantine index")?;
    log_quarantine_opened(&report);
    let (traffic_store, recovered) = crate::traffic::TrafficStore::open_or_recover(
        &config.storage.data_dir,
        std::time::SystemTime::now(),
    )
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
    let traffic_keys = Arc::new(open_keys(&config).unwrap_or_else(|e| {
        // Like a damaged traffic store: the keys serve only the traffic records, so mail goes on without
        // them and no record is kept (each counted as dropped) until the key directory is usable again.
        let e = super::data_dir::explain_permission(e, &config.storage.data_dir, &[&config.key_dir()]);
        error!(
            key_dir = %config.key_dir().display(),
            error = format!("{e:#}"),
            "the pseudonym keys cannot be opened: traffic records (verkeersgegevens) are not kept until this is fixed and mailwacht restarted; mail is not affected"
        );
        crate::traffic::KeyRing::unavailable(&config.key_dir(), config.traffic.retention_days)
    }));
    let traffic_service = crate::admin::TrafficService::new(
        traffic_store.clone(),
        traffic_keys.clone(),
        config.traffic_settings(),
    );
    info!(
        retention_days = config.traffic.retention_days,
        k_anonymity = config.traffic.k_anonymity,
        inquiry_max_days = config.traffic.inquiry_max_days,
        notify_within_days = config.traffic.notify_within_days,
        "traffic records (verkeersgegevens) kept"
    );
    warn_code_deviations(&config);
    let traffic_flush = traffic_store.clone();
    let (recorder, traffic_writer) = crate::traffic::spawn_writer(
        traffic_store.clone(),
        traffic_keys.clone(),
        crate::traffic::QUEUE,
    );
    let metrics = match &config.metrics.listen {
        Some(listen) => {
            let l = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on [metrics] {listen}"))?;
            let addr = l.local_addr().context("reading metrics address")?;
            info!(address = %addr, "metrics served on /metrics");
            crate::metrics::declare_verdicts(&crate::policy::Verdict::NAMES);
            // A message refused for its size is counted in either mode (see `crate::filter`).
            crate::metrics::declare_verdicts(&[crate::traffic::TOO_BIG]);
            Some(tokio::spawn(crate::metrics::serve(l)))
        }
        None => None,
    };
    let socket = config.admin_socket();
    let admin_listener = crate::admin::server::bind(&socket, config.admin.group.as_deref())
        .context("setting up the admin socket")?;
    let audit = crate::admin::AuditLog::open(config.storage.data_dir.join("audit.log"))
        .context("opening the audit log")?;
    let service = Arc::new(
        crate::admin::Service::new(
            store.clone(),
            audit,
            config.next_hop_settings(),
            config.limits.clone(),
        )
        .with_traffic(traffic_service.clone()),
    );
    settle_audit(&service);
    let retention = spawn_retention(
        service.clone(),
        config.quarantine.retention_days,
        config.storage.data_dir.clone(),
    );
    let traffic_purge = spawn_traffic_retention(
        traffic_store.clone(),
        traffic_service.clone(),
        traffic_keys,
        service.clone(),
        config.storage.data_dir.clone(),
    );
    let admin = tokio::spawn(crate::admin::server::serve(
        admin_listener,
        service.clone(),
        std::future::pending::<()>(),
    ));
    info!(socket = %socket.display(), "admin socket listening");
    let notices = crate::bounce::NoticeMemory::new(config.storage.data_dir.join("notices"));
    match notices
        .sweep(std::time::SystemTime::now(), engine.remember)
        .await
    {
        Ok(expired) => info!(expired, "notice memory opened"),
        // Never a reason not to start: without the memory a retried message may repeat its notice.
        Err(e) => warn!(error = %e, "notice memory unreadable"),
    }
    let pipeline = Filter::new(
        engine,
        NextHop::new(config.next_hop_settings()),
        mailer,
        Arc::new(store.clone()),
        notices,
    );
    // `/metrics`: the configuration loaded now, and the stores' sizes every minute.
    crate::metrics::config_loaded(true, epoch_secs());
    let (sized_quarantine, sized_traffic) = (store.clone(), traffic_store.clone());
    let store_sizes = tokio::spawn(async move {
        let mut minute = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            minute.tick().await;
            let (q, t) = (sized_quarantine.clone(), sized_traffic.clone());
            let measured = tokio::task::spawn_blocking(move || {
                let (entries, bytes) = q.totals().unwrap_or_default();
                let disk = t.size_on_disk().unwrap_or_default();
                crate::metrics::stores(entries, bytes, t.len() as u64, disk);
            });
            let _ = measured.await;
        }
    });
    // The daily digest to ICT about quarantined mail (`[quarantine] digest`; nothing when off or empty).
    let digest_pipeline = pipeline.clone();
    let digest = tokio::spawn(async move {
        let mut day = tokio::time::interval(crate::filter::alerts::DIGEST_EVERY);
        day.tick().await;
        loop {
            day.tick().await;
            digest_pipeline.send_digest().await;
        }
    });
    // Kept to write the queued traffic records before stopping.
    let traffic_recorder = recorder.clone();
    pipeline.set_traffic(recorder);
    let milter: Arc<dyn crate::milter::Handler> = Arc::new(pipeline.clone());
    let settings = Arc::new(ArcSwap::from_pointee(config.server_settings()));
    let milter_settings = Arc::new(ArcSwap::from_pointee(config.milter_settings()));
    if config.organisation.local_domains.is_empty() {
        warn!("no [organisation] local_domains configured: every sender is screened, every recipient counts as external, and only mail Postfix marks XFORWARD SOURCE=LOCAL gets notices (other suspect mail is handled per [policy] on_unnotifiable)");
    }
    let config_name = config_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| crate::config::EMBEDDED_NAME.into());
    let scanner = match config.scan.backend {
        crate::scan::ScanBackend::Builtin => "builtin (not an antivirus)",
        crate::scan::ScanBackend::Clamd => "clamd",
    };
    // One bounded probe, so the start line says whether the scanner answers (issue 15).
    let probe = pipeline.engine().probe_scanner(SCANNER_PROBE).await;
    if let Err(reason) = &probe {
        warn!(reason, "the malware scanner did not answer at start");
    }
    let (scanner_answered, mode) = (probe.is_ok(), pipeline.engine().policy.mode.name());
    if let Some((_, address)) = &listener {
        info!(
            listen = %address,
            next_hop = %config.smtp.next_hop,
            rules = pipeline.engine().rules.rules().len(),
            scanner,
            scanner_answered,
            mode,
            config = %config_name,
            "mailwacht listening"
        );
    }
    if let Some(l) = &milter_listener {
        info!(
            milter_listen = %l.describe(),
            rules = pipeline.engine().rules.rules().len(),
            scanner,
            scanner_answered,
            mode,
            config = %config_name,
            "mailwacht milter listening"
        );
    }

    // Removed on exit when it is a unix socket we created.
    let milter_listen = milter_listener
        .as_ref()
        .map(|_| config.milter.listen.clone())
        .unwrap_or_default();
    let mut hangup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    let reload_pipeline = pipeline.clone();
    let reload_settings = settings.clone();
    let reload_milter_settings = milter_settings.clone();
    let loaded = Arc::new(std::sync::Mutex::new(std::time::SystemTime::now()));
    let web_status = crate::web::StatusSource::of_daemon(pipeline.clone(), &config, loaded.clone());
    let web_settings = config.web.clone();
    let reload = tokio::spawn(async move {
        let mut current = config;
        while hangup.recv().await.is_some() {
            match reload_config(config_path.as_ref(), &args) {
                Ok((new, engine)) => {
                    for (what, old, now) in [
                        ("listen", &current.smtp.listen, &new.smtp.listen),
                        ("next_hop", &current.smtp.next_hop, &new.smtp.next_hop),
                        ("milter listen", &current.milter.listen, &new.milter.listen),
                        (
                            "worker_threads",
                            &current.runtime.worker_threads.to_string(),
                            &new.runtime.worker_threads.to_string(),
                        ),
                    ] {
                        if old != now {
                            warn!(
                                setting = what,
                                "changed setting takes effect only after a restart"
                            );
                        }
                    }
                    if current.key_dir() != new.key_dir() {
                        warn!(
                            setting = "key_dir",
                            "changed setting takes effect only after a restart"
                        );
                    }
                    warn_code_deviations(&new);
                    if current.traffic.retention_days != new.traffic.retention_days {
                        info!(
                            old = current.traffic.retention_days,
                            retention_days = new.traffic.retention_days,
                            "traffic retention changed"
                        );
                    }
                    traffic_service.reload(new.traffic_settings());
                    if (current.smtp.enabled, current.milter.enabled)
                        != (new.smtp.enabled, new.milter.enabled)
                    {
                        warn!("enabling or disabling a listener takes effect only after a restart");
                    }
                    reload_settings.store(Arc::new(new.server_settings()));
                    reload_milter_settings.store(Arc::new(new.milter_settings()));
                    let (rules, mode) = (engine.rules.rules().len(), engine.policy.mode.name());
                    reload_pipeline.reload(engine);
                    info!(rules, mode, "configuration and rules reloaded");
                    crate::metrics::config_loaded(true, epoch_secs());
                    *loaded.lock().unwrap_or_else(|e| e.into_inner()) =
                        std::time::SystemTime::now();
                    current = new;
                }
                Err(e) => {
                    crate::metrics::config_loaded(false, epoch_secs());
                    error!(error = %format!("{e:#}"), "reload failed; the previous configuration and rules stay active")
                }
            }
        }
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signals = async move {
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "cannot install SIGTERM handler");
                return std::future::pending().await;
            }
        };
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: finishing transactions in flight, then stopping"),
            _ = tokio::signal::ctrl_c() => info!("interrupt: finishing transactions in flight, then stopping"),
        }
        let _ = stop_tx.send(true);
    };
    let signals = tokio::spawn(signals);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let web = crate::web::start(&web_settings, service, web_status, stopped(stop_rx.clone()))
        .await
        .with_context(|| format!("cannot serve the web console on {}", web_settings.listen))?;
    let smtp = async {
        match listener {
            Some((listener, _)) => crate::smtp::server::serve(
                listener,
                settings,
                Arc::new(pipeline),
                stopped(stop_rx.clone()),
            )
            .await
            .context("SMTP server failed"),
            None => Ok(()),
        }
    };
    let milter = async {
        match milter_listener {
            Some(l) => {
                crate::milter::server::serve(l, milter_settings, milter, stopped(stop_rx.clone()))
                    .await
                    .context("milter server failed")
            }
            None => Ok(()),
        }
    };
    let (smtp, milter) = tokio::join!(smtp, milter);
    signals.abort();
    smtp?;
    milter?;
    reload.abort();
    retention.abort();
    traffic_purge.abort();
    digest.abort();
    store_sizes.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    // The sessions have ended (or the grace elapsed): write the queued traffic records, then stop.
    traffic_recorder.flush().await;
    traffic_writer.abort();
    if let Err(e) = traffic_flush.flush().await {
        error!(error = %e, "flushing the traffic store failed");
    }
    admin.abort();
    if let Some(web) = web {
        web.abort();
    }
    let _ = std::fs::remove_file(&socket);
    if let Some(crate::milter::ListenAddr::Unix(path)) =
        crate::milter::ListenAddr::parse(&milter_listen)
    {
        let _ = std::fs::remove_file(path);
    }
    info!("mailwacht stopped");
    Ok(())
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

/// Bind the milter listener: `host:port`, or a unix socket created like the admin socket (a stale socket
/// replaced, mode 0660, optional group so Postfix can connect).
async fn bind_milter(
    section: &crate::config::MilterSection,
) -> anyhow::Result<crate::milter::server::Listener> {
    use crate::milter::{server::Listener, ListenAddr};
    match ListenAddr::parse(&section.listen) {
        Some(ListenAddr::Tcp(addr)) => Ok(Listener::Tcp(
            tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("cannot listen for the milter on {addr}"))?,
        )),
        Some(ListenAddr::Unix(path)) => Ok(Listener::Unix(
            crate::admin::server::bind(&path, section.group.as_deref())
                .context("setting up the milter socket")?,
        )),
        None => anyhow::bail!("[milter] listen {:?} is not usable", section.listen),
    }
}

/// Check the audit log against its head at start. Damage is recorded in the log as a break entry (never
/// healed silently) and logged as an error, but the daemon keeps serving: the audit log is not needed to
/// answer Postfix, and refusing reviews would not undo the damage, only block incident work.
fn settle_audit(service: &crate::admin::Service) {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    match service.settle_audit(uid, std::time::SystemTime::now()) {
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

/// How often retention runs (besides at start).
const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Purge expired quarantine entries now and every [`RETENTION_INTERVAL`] (audited as the daemon's uid).
fn spawn_retention(
    service: Arc<crate::admin::Service>,
    retention_days: u64,
    data_dir: PathBuf,
) -> tokio::task::JoinHandle<()> {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RETENTION_INTERVAL);
        loop {
            tick.tick().await;
            match service
                .purge(uid, std::time::SystemTime::now(), retention_days)
                .await
            {
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
    })
}

/// Open the pseudonym keys (`[traffic] key_dir`, apart from the data directory), moving an older version's
/// `traffic.key` out of the data directory.
fn open_keys(config: &Config) -> anyhow::Result<crate::traffic::KeyRing> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let key_dir = config.key_dir();
    let (keys, report) = crate::traffic::KeyRing::open(
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

/// Warn (at every start and reload) about each privacy setting beyond the codes of conduct that
/// `[traffic] code_of_conduct_deviation` allowed.
fn warn_code_deviations(config: &Config) {
    let why = config
        .traffic
        .code_of_conduct_deviation
        .as_deref()
        .unwrap_or("");
    for (setting, text) in config.code_deviations() {
        warn!(setting, deviation = why, "{text}");
    }
}

/// Delete copies of a damaged `store` older than the retention (they hold the same kind of data).
fn purge_damaged(data_dir: &std::path::Path, store: &str, retention_days: u64) {
    let now = std::time::SystemTime::now();
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
fn spawn_traffic_retention(
    store: crate::traffic::TrafficStore,
    settings: crate::admin::TrafficService,
    keys: Arc<crate::traffic::KeyRing>,
    service: Arc<crate::admin::Service>,
    data_dir: PathBuf,
) -> tokio::task::JoinHandle<()> {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RETENTION_INTERVAL);
        loop {
            tick.tick().await;
            let days = settings.retention_days();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let (store, ring) = (store.clone(), keys.clone());
            let purged = tokio::task::spawn_blocking(move || {
                // Keys go only after their records: a failed purge keeps them.
                let purged = store.purge(now, days).map_err(|e| e.to_string())?;
                let expired = ring.expire(now, days).map_err(|e| e.to_string())?;
                Ok::<_, String>((purged, expired))
            })
            .await;
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
            match service.close_ended_inquiries(uid, std::time::SystemTime::now()) {
                Ok(ids) => {
                    for id in ids {
                        info!(inquiry = id, "inquiry closed: its window ended (audited)");
                    }
                }
                Err(e) => error!(error = %e, "closing ended inquiries failed"),
            }
            purge_damaged(&data_dir, "traffic.sled", days);
        }
    })
}

fn reload_config(path: Option<&PathBuf>, args: &Args) -> anyhow::Result<(Config, Engine)> {
    let mut config = super::load_config(path)?;
    args.apply(&mut config);
    let compiled = config.compile(&super::config_name(path))?;
    Ok((compiled.config, compiled.engine))
}

/// The daemon's runtime: `[runtime] worker_threads` workers, or one per CPU core when it is 0.
fn build_runtime(section: &RuntimeSection) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if section.worker_threads > 0 {
        builder.worker_threads(section.worker_threads);
    }
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_threads_sets_the_runtime_workers() {
        for n in [1, 3] {
            let runtime = build_runtime(&RuntimeSection { worker_threads: n }).expect("runtime");
            assert_eq!(runtime.metrics().num_workers(), n);
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let runtime = build_runtime(&RuntimeSection { worker_threads: 0 }).expect("runtime");
        assert_eq!(runtime.metrics().num_workers(), cores);
    }
}
