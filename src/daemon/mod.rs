//! The daemon: what `mailwacht serve` runs once the configuration is compiled. [`run`] takes the compiled
//! configuration, listeners already bound ([`Listeners::bind`]) and a shutdown future, as mini-redis'
//! `server::run(listener, shutdown)` does; it opens the stores, starts the servers (SMTP, milter, admin
//! socket, `/metrics`, web console), reloads on SIGHUP ([`reload`]) and stops its background tasks through
//! one guard ([`housekeeping::Housekeeping`]).
//!
//! Must not: see clap types (the command line turns its flags into a [`Compiled`] and a [`Reload`]), or
//! check the configuration itself (that is [`Config::compile`]'s job, for `config`, `serve` and SIGHUP
//! alike).

pub mod housekeeping;
pub mod logging;
pub mod reload;
pub mod review;
pub mod stores;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

use crate::bounce::NoticeMemory;
use crate::config::{Compiled, Config, RuntimeSection};
use crate::filter::Filter;
use crate::smtp::client::NextHop;

pub use reload::Reload;
pub use stores::explain_permission;

/// The network listeners, bound before the daemon runs (port 0 resolved, so tests and the start line see
/// the real address). The admin socket is not here: it lives in the data directory, which opening the
/// stores creates and checks first (see [`run`]); the web console binds its own (`[web] listen`).
pub struct Listeners {
    /// `[smtp] listen`, when the content filter (after the queue) is served, with its bound address.
    pub smtp: Option<(TcpListener, SocketAddr)>,
    /// `[milter] listen`, when the milter (before the queue) is served.
    pub milter: Option<crate::milter::server::Listener>,
    /// `[metrics] listen`, when `/metrics` is served.
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Bind what `config` enables; at least one of SMTP and milter must be.
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        if !config.smtp.enabled && !config.milter.enabled {
            anyhow::bail!(
                "nothing to serve: [smtp] enabled = false and [milter] enabled = false; enable at least one"
            );
        }
        let smtp = if config.smtp.enabled {
            let listener = TcpListener::bind(&config.smtp.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.smtp.listen))?;
            let address = listener.local_addr().context("reading listen address")?;
            Some((listener, address))
        } else {
            None
        };
        let milter = if config.milter.enabled {
            Some(bind_milter(&config.milter).await?)
        } else {
            None
        };
        let metrics = match &config.metrics.listen {
            Some(listen) => Some(
                TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on [metrics] {listen}"))?,
            ),
            None => None,
        };
        Ok(Listeners {
            smtp,
            milter,
            metrics,
        })
    }
}

/// Bind the milter listener: `host:port`, or a unix socket created like the admin socket (a stale socket
/// replaced, mode 0660, optional group so Postfix can connect).
async fn bind_milter(
    section: &crate::config::MilterSection,
) -> anyhow::Result<crate::milter::server::Listener> {
    use crate::milter::{server::Listener, ListenAddr};
    match ListenAddr::parse(&section.listen) {
        Some(ListenAddr::Tcp(addr)) => {
            Ok(Listener::Tcp(TcpListener::bind(&addr).await.with_context(
                || format!("cannot listen for the milter on {addr}"),
            )?))
        }
        Some(ListenAddr::Unix(path)) => Ok(Listener::Unix(
            crate::admin::server::bind(&path, section.group.as_deref())
                .context("setting up the milter socket")?,
        )),
        None => anyhow::bail!("[milter] listen {:?} is not usable", section.listen),
    }
}

/// Run `daemon` on a runtime of `[runtime] worker_threads` workers until it ends.
pub fn block_on(
    section: &RuntimeSection,
    daemon: impl Future<Output = anyhow::Result<()>> + Send + 'static,
) -> anyhow::Result<()> {
    let runtime = build_runtime(section).context("starting runtime")?;
    // Run the listeners on a worker thread, not on this one: a connection accepted by a worker starts its
    // session on that worker's own queue, where one accepted here had to wake a worker (a futex wake and a
    // thread switch per connection).
    runtime.block_on(async {
        tokio::spawn(daemon)
            .await
            .context("the server task failed")?
    })
}

/// The daemon's runtime: `[runtime] worker_threads` workers, or one per CPU core when it is 0.
fn build_runtime(section: &RuntimeSection) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if section.worker_threads > 0 {
        builder.worker_threads(section.worker_threads);
    }
    builder.enable_all().build()
}

/// Completes on SIGTERM or an interrupt (systemd's stop, Ctrl-C), after logging which.
pub async fn stop_signal() {
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
}

/// Serve `compiled` on `listeners` until `shutdown` completes, then finish the transactions in flight
/// (within `shutdown_grace`), write the queued traffic records and remove the sockets it made. `reload`
/// makes the configuration a SIGHUP applies.
pub async fn run(
    compiled: Compiled,
    listeners: Listeners,
    reload: Reload,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Compiled {
        config,
        engine,
        server,
        milter,
        next_hop,
        traffic,
        name,
    } = compiled;
    let stores = stores::Stores::open(&config).await?;
    info!(
        retention_days = config.traffic.retention_days,
        k_anonymity = config.traffic.k_anonymity,
        inquiry_max_days = config.traffic.inquiry_max_days,
        notify_within_days = config.traffic.notify_within_days,
        "traffic records (verkeersgegevens) kept"
    );
    warn_code_deviations(&config);
    let (recorder, traffic_writer) = crate::traffic::spawn_writer(
        stores.traffic.clone(),
        stores.keys.clone(),
        crate::traffic::QUEUE,
    );
    let mut tasks = housekeeping::Housekeeping::default();
    if let Some(listener) = listeners.metrics {
        let addr = listener.local_addr().context("reading metrics address")?;
        info!(address = %addr, "metrics served on /metrics");
        crate::metrics::declare_verdicts(&crate::policy::Verdict::NAMES);
        // A message refused for its size is counted in either mode (see `crate::filter`).
        crate::metrics::declare_verdicts(&[crate::traffic::TOO_BIG]);
        tasks.push(tokio::spawn(crate::metrics::serve(listener)));
    }
    let socket = config.admin_socket();
    let admin_listener = crate::admin::server::bind(&socket, config.admin.group.as_deref())
        .context("setting up the admin socket")?;
    let audit = stores.audit(&config)?;
    let (service, traffic_service) = review::service(
        &config,
        traffic,
        stores.quarantine.clone(),
        audit,
        stores.traffic.clone(),
        stores.keys.clone(),
    );
    let service = Arc::new(service);
    housekeeping::settle_audit(&service);
    tasks.push(housekeeping::spawn_retention(
        service.clone(),
        config.quarantine.retention_days,
        config.storage.data_dir.clone(),
    ));
    tasks.push(housekeeping::spawn_traffic_retention(
        stores.traffic.clone(),
        traffic_service.clone(),
        stores.keys.clone(),
        service.clone(),
        config.storage.data_dir.clone(),
    ));
    tasks.push(tokio::spawn(crate::admin::server::serve(
        admin_listener,
        service.clone(),
        std::future::pending::<()>(),
    )));
    info!(socket = %socket.display(), "admin socket listening");
    let notices = NoticeMemory::new(config.storage.data_dir.join("notices"));
    match notices
        .sweep(std::time::SystemTime::now(), engine.remember)
        .await
    {
        Ok(expired) => info!(expired, "notice memory opened"),
        // Never a reason not to start: without the memory a retried message may repeat its notice.
        Err(e) => warn!(error = %e, "notice memory unreadable"),
    }
    let filter = Filter::new(
        engine,
        Arc::new(NextHop::new(next_hop)),
        Arc::new(stores.quarantine.clone()),
        notices,
    );
    // `/metrics`: the configuration loaded now, and the stores' sizes every minute.
    crate::metrics::config_loaded(true, epoch_secs());
    tasks.push(housekeeping::spawn_store_sizes(
        stores.quarantine.clone(),
        stores.traffic.clone(),
    ));
    // The daily digest to ICT about quarantined mail (`[quarantine] digest`; nothing when off or empty).
    tasks.push(housekeeping::spawn_digest(filter.clone()));
    // Kept to write the queued traffic records before stopping.
    let traffic_recorder = recorder.clone();
    filter.set_traffic(recorder);
    let settings = Arc::new(ArcSwap::from_pointee(server));
    let milter_settings = Arc::new(ArcSwap::from_pointee(milter));
    log_start(&config, &name, &listeners.smtp, &listeners.milter, &filter).await;

    // Removed on exit when it is a unix socket we created.
    let milter_listen = listeners
        .milter
        .as_ref()
        .map(|_| config.milter.listen.clone())
        .unwrap_or_default();
    let loaded = Arc::new(std::sync::Mutex::new(std::time::SystemTime::now()));
    let web_status = crate::web::StatusSource::of_daemon(filter.clone(), &config, loaded.clone());
    let web_settings = config.web.clone();
    tasks.push(reload::spawn(
        reload,
        reload::Targets {
            filter: filter.clone(),
            settings: settings.clone(),
            milter_settings: milter_settings.clone(),
            traffic: traffic_service,
            loaded,
        },
        config,
    )?);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signals = tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    if let Some(web) =
        crate::web::start(&web_settings, service, web_status, stopped(stop_rx.clone()))
            .await
            .with_context(|| format!("cannot serve the web console on {}", web_settings.listen))?
    {
        tasks.push_io(web);
    }
    let milter_handler: Arc<dyn crate::milter::Handler> = Arc::new(filter.clone());
    let smtp = async {
        match listeners.smtp {
            Some((listener, _)) => crate::smtp::server::serve(
                listener,
                settings,
                Arc::new(filter),
                stopped(stop_rx.clone()),
            )
            .await
            .context("SMTP server failed"),
            None => Ok(()),
        }
    };
    let milter = async {
        match listeners.milter {
            Some(l) => crate::milter::server::serve(
                l,
                milter_settings,
                milter_handler,
                stopped(stop_rx.clone()),
            )
            .await
            .context("milter server failed"),
            None => Ok(()),
        }
    };
    let (smtp, milter) = tokio::join!(smtp, milter);
    signals.abort();
    smtp?;
    milter?;
    // The sessions have ended (or the grace elapsed): write the queued traffic records, then stop.
    traffic_recorder.flush().await;
    traffic_writer.abort();
    if let Err(e) = stores.traffic.flush().await {
        error!(error = %e, "flushing the traffic store failed");
    }
    drop(tasks);
    let _ = std::fs::remove_file(&socket);
    if let Some(crate::milter::ListenAddr::Unix(path)) =
        crate::milter::ListenAddr::parse(&milter_listen)
    {
        let _ = std::fs::remove_file(path);
    }
    info!("mailwacht stopped");
    Ok(())
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

/// The start lines: what listens where, with how many rules, which scanner (and whether it answered one
/// bounded probe) and the mode.
async fn log_start(
    config: &Config,
    config_name: &str,
    smtp: &Option<(TcpListener, SocketAddr)>,
    milter: &Option<crate::milter::server::Listener>,
    filter: &Filter,
) {
    if config.organisation.local_domains.is_empty() {
        warn!("no [organisation] local_domains configured: every sender is screened, every recipient counts as external, and only mail Postfix marks XFORWARD SOURCE=LOCAL gets notices (other suspect mail is handled per [policy] on_unnotifiable)");
    }
    let scanner = match config.scan.backend {
        crate::scan::ScanBackend::Builtin => "builtin (not an antivirus)",
        crate::scan::ScanBackend::Clamd => "clamd",
    };
    let rules = filter.engine().rules.rules().len();
    let probe = filter.engine().probe_scanner(SCANNER_PROBE).await;
    if let Err(reason) = &probe {
        warn!(reason, "the malware scanner did not answer at start");
    }
    let (scanner_answered, mode) = (probe.is_ok(), filter.engine().policy.mode.name());
    if let Some((_, address)) = smtp {
        info!(
            listen = %address,
            next_hop = %config.smtp.next_hop,
            rules,
            scanner,
            scanner_answered,
            mode,
            config = %config_name,
            "mailwacht listening"
        );
    }
    if let Some(l) = milter {
        info!(
            milter_listen = %l.describe(),
            rules,
            scanner,
            scanner_answered,
            mode,
            config = %config_name,
            "mailwacht milter listening"
        );
    }
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
