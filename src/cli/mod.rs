//! The `mailwacht` command line. Thin: parses flags, loads the configuration, calls the library.
//!
//! Exit codes: `0` success (for `check`: every message passes), `1` `check` found a message that would not
//! pass, or `audit list` found the audit log changed, cut or removed, `2` an error (bad configuration or
//! rules, unreadable file, port in use, unknown quarantine id, export file exists, next hop down on release,
//! inquiry refused).

mod audit;
mod check;
mod data_dir;
mod quarantine;
mod serve;
mod traffic;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;

/// Exit code for errors.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "mailwacht",
    version,
    about = "Mail gateway that screens outgoing mail per the schools' ICT codes of conduct"
)]
struct Cli {
    /// Configuration file (TOML). Without it the embedded defaults are used.
    #[arg(long, short, global = true, env = "MAILWACHT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the content filter: SMTP in (default 127.0.0.1:10025), relay to the next hop (default 127.0.0.1:10026).
    Serve(serve::Args),
    /// Show what the filter would do with .eml files, without sending anything.
    Check(check::Args),
    /// Validate the configuration and rules, and print the effective configuration.
    Config,
    /// Review quarantined (infected) mail: list, show, release, export, delete. Talks to the running
    /// daemon over the admin socket, or opens the store itself when no daemon runs.
    Quarantine(quarantine::Args),
    /// The audit log of quarantine reviews (who, when, what, why), with its hash chain verified.
    Audit(audit::AuditArgs),
    /// Verkeersgegevens for auditors: aggregated, k-anonymous summaries (SOML/ProCon 8.2).
    Traffic(traffic::TrafficArgs),
    /// Targeted, time-limited inquiries on one person's traffic data (SOML/ProCon 8.3, WereldKidz 6.6).
    Inquiry(traffic::InquiryArgs),
}

/// Parse the command line and run it.
pub fn run() -> anyhow::Result<ExitCode> {
    // Whatever is created from here on (data directory, stores, exports) is owner-only, whatever umask
    // the caller had.
    crate::storage::restrict_umask();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(cli.config, args),
        Command::Check(args) => check::run(cli.config, args),
        Command::Config => show_config(cli.config),
        Command::Quarantine(args) => quarantine::run(cli.config, args),
        Command::Audit(args) => audit::run(cli.config, args),
        Command::Traffic(args) => traffic::run_traffic(cli.config, args),
        Command::Inquiry(args) => traffic::run_inquiry(cli.config, args),
    }
}

/// Load the configuration named on the command line (or the embedded defaults).
fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(Config::load(path.map(PathBuf::as_path))?)
}

fn show_config(path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = load_config(path.as_ref())?;
    let engine = crate::pipeline::Engine::from_config(&config).context("loading rules")?;
    let text = toml::to_string_pretty(&config).context("printing configuration")?;
    println!(
        "# configuration is valid; {} rules loaded",
        engine.rules.rules().len()
    );
    println!("# pseudonym keys: {}", config.key_dir().display());
    print!("{text}");
    for (setting, why) in config.code_deviations() {
        eprintln!(
            "WAARSCHUWING / WARNING: [traffic] {setting}: {why} — code_of_conduct_deviation: {:?}",
            config
                .traffic
                .code_of_conduct_deviation
                .as_deref()
                .unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}
