//! `mailwacht serve`: flags → load → compile → bind → [`crate::daemon::run`] until SIGTERM. A SIGHUP
//! makes the configuration again the same way (the flags keep winning).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Compiled, Config};
use crate::daemon;

#[derive(Debug, Clone, clap::Args)]
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

pub fn run(config_path: Option<PathBuf>, args: Args) -> anyhow::Result<ExitCode> {
    let mut config = super::load_config(config_path.as_ref())?;
    args.apply(&mut config);
    daemon::logging::init(config.log.format);
    let compiled = config.compile(&super::config_name(config_path.as_ref()))?;
    let (data_dir, key_dir) = (
        compiled.config.storage.data_dir.clone(),
        compiled.config.key_dir(),
    );
    let reload: daemon::Reload = Box::new(move || load(config_path.as_ref(), &args));
    let runtime = compiled.config.runtime.clone();
    let served = daemon::block_on(&runtime, async move {
        let listeners = daemon::Listeners::bind(&compiled.config).await?;
        daemon::run(compiled, listeners, reload, daemon::stop_signal()).await
    });
    // A store another user owns keeps the daemon from starting: say which file, whose, and the fix.
    served.map_err(|e| daemon::explain_permission(e, &data_dir, &[&key_dir]))?;
    Ok(ExitCode::SUCCESS)
}

/// The configuration a reload applies: the file again, these flags on top, compiled.
fn load(path: Option<&PathBuf>, args: &Args) -> anyhow::Result<Compiled> {
    let mut config = super::load_config(path)?;
    args.apply(&mut config);
    Ok(config.compile(&super::config_name(path))?)
}
