//! SIGHUP: make the configuration again (the command line's [`Reload`]: load, its flags, the same
//! [`Config::compile`] as `mailwacht config` and `serve`) and swap it in. A configuration that does not
//! compile changes nothing: the previous configuration and rules stay active, and the error is logged.
//!
//! Must not: apply half of a new configuration. Settings that need a new listener, runtime or key
//! directory are named in a warning and wait for a restart.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

use crate::config::{Compiled, Config};

/// Makes the configuration a SIGHUP applies: read the file again, apply the command line's flags (so they
/// keep winning) and compile.
pub type Reload = Box<dyn Fn() -> anyhow::Result<Compiled> + Send + Sync>;

/// What a reload swaps: the engine, the SMTP and milter settings, the traffic settings, and when.
pub struct Targets {
    /// Takes the new engine (rules, scanner, policy, notices); transactions in flight keep theirs.
    pub filter: crate::filter::Filter,
    /// The SMTP server's settings, read per connection.
    pub settings: Arc<ArcSwap<crate::smtp::ServerSettings>>,
    /// The milter server's settings, read per connection.
    pub milter_settings: Arc<ArcSwap<crate::milter::MilterSettings>>,
    /// Retention, k-anonymity and inquiry limits, read at each use.
    pub traffic: crate::admin::TrafficService,
    /// When the configuration in effect was loaded (the web console's status page shows it).
    pub loaded: Arc<Mutex<SystemTime>>,
}

/// Install the SIGHUP handler and reload on every signal; `current` is the configuration running now.
pub fn spawn(
    reload: Reload,
    targets: Targets,
    current: Config,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut hangup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    Ok(tokio::spawn(async move {
        let mut current = current;
        while hangup.recv().await.is_some() {
            match reload() {
                Ok(compiled) => current = apply(&current, compiled, &targets),
                Err(e) => {
                    crate::metrics::config_loaded(false, super::epoch_secs());
                    error!(error = %format!("{e:#}"), "reload failed; the previous configuration and rules stay active")
                }
            }
        }
    }))
}

/// Swap in `compiled` (nothing here can fail), warning about what waits for a restart; returns the
/// configuration now in effect.
fn apply(current: &Config, compiled: Compiled, targets: &Targets) -> Config {
    let Compiled {
        config: new,
        engine,
        server,
        milter,
        traffic,
        ..
    } = compiled;
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
    // the shared pseudonym keys (issue 17).
    if current.traffic.key_secret_file != new.traffic.key_secret_file {
        warn!(
            setting = "key_secret_file",
            "changed setting takes effect only after a restart"
        );
    }
    super::warn_code_deviations(&new);
    if current.traffic.retention_days != new.traffic.retention_days {
        info!(
            old = current.traffic.retention_days,
            retention_days = new.traffic.retention_days,
            "traffic retention changed"
        );
    }
    targets.traffic.reload(traffic);
    if (current.smtp.enabled, current.milter.enabled) != (new.smtp.enabled, new.milter.enabled) {
        warn!("enabling or disabling a listener takes effect only after a restart");
    }
    targets.settings.store(Arc::new(server));
    targets.milter_settings.store(Arc::new(milter));
    let (rules, mode) = (engine.rules.rules().len(), engine.policy.mode.name());
    targets.filter.reload(engine);
    info!(rules, mode, "configuration and rules reloaded");
    crate::metrics::config_loaded(true, super::epoch_secs());
    *targets.loaded.lock().unwrap_or_else(|e| e.into_inner()) = SystemTime::now();
    new
}
