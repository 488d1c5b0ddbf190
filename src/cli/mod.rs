//! The `mailwacht` command line. Thin: parses flags, loads the configuration, calls the library.
//!
//! Exit codes: `0` success (for `check`: every message passes), `1` `check` found a message that would not
//! pass, or `audit list` found the audit log changed, cut or removed, `2` an error (bad configuration or
//! rules, unreadable file, port in use, unknown quarantine id, export file exists, next hop down on release,
//! inquiry refused, the shared database unreachable or its schema not this version's).

mod audit;
mod check;
mod data_dir;
mod quarantine;
mod serve;
mod store;
mod traffic;
mod user;

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
    /// Configuration file (TOML). Without it /etc/mailwacht/mailwacht.toml is read when it exists, else the
    /// embedded defaults are used.
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
    /// Print shell completions (bash, zsh, fish) to standard output.
    Completions {
        #[arg(value_parser = ["bash", "zsh", "fish"])]
        shell: String,
    },
    /// Write the manual pages (mailwacht.1 and one per command) into DIR; used to build the package.
    #[command(hide = true)]
    ManPages {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Accounts of the web console (`[web]`): add, list, passwd, disable (audited).
    User(user::UserArgs),
    /// The shared store (`[storage] backend = "postgres"`): migrate its schema, check it.
    Store(store::StoreArgs),
}

/// Parse the command line and run it.
pub fn run() -> anyhow::Result<ExitCode> {
    // Whatever is created from here on (data directory, stores, exports) is owner-only, whatever umask
    // the caller had.
    crate::storage::restrict_umask();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        quit_on_closed_output();
    }
    let source = ConfigSource::find(cli.config);
    match cli.command {
        Command::Serve(args) => serve::run(source.path(), args),
        Command::Check(args) => check::run(source.path(), args),
        Command::Config => show_config(&source),
        Command::Quarantine(args) => quarantine::run(&source, args),
        Command::Audit(args) => audit::run(&source, args),
        Command::Traffic(args) => traffic::run_traffic(&source, args),
        Command::Inquiry(args) => traffic::run_inquiry(&source, args),
        Command::User(args) => user::run(&source, args),
        Command::Store(args) => store::run(&source, args),
        Command::Completions { shell } => {
            let shell = match shell.as_str() {
                "zsh" => clap_complete::Shell::Zsh,
                "fish" => clap_complete::Shell::Fish,
                _ => clap_complete::Shell::Bash,
            };
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "mailwacht", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::ManPages { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), &dir)
                .with_context(|| format!("writing manual pages to {}", dir.display()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A listing piped into `head` stops quietly when `head` has read enough, as Unix tools do: SIGPIPE is
/// given back its default action (Rust ignores it, which turns the next `println!` into a panic, exit 101).
/// Not for `serve`: a peer closing a socket must be an error the daemon handles, never its end.
fn quit_on_closed_output() {
    // SAFETY: setting a signal's disposition to SIG_DFL has no preconditions; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The configuration file read when neither `--config` nor `MAILWACHT_CONFIG` names one (the package
/// installs it). Only read when it exists: without it the embedded defaults apply.
pub const SYSTEM_CONFIG: &str = "/etc/mailwacht/mailwacht.toml";

/// Replaces [`SYSTEM_CONFIG`] (for tests, and installations that keep it elsewhere).
pub const SYSTEM_CONFIG_ENV: &str = "MAILWACHT_SYSTEM_CONFIG";

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigSource {
    /// `--config` or `MAILWACHT_CONFIG`: must be readable.
    Given(PathBuf),
    /// The system file ([`SYSTEM_CONFIG`]), which exists.
    System(PathBuf),
    /// No file: the embedded defaults (the system file looked for does not exist).
    Embedded { looked_for: PathBuf },
}

impl ConfigSource {
    /// `given` (flag or environment), else the system file when it exists, else the embedded defaults.
    fn find(given: Option<PathBuf>) -> ConfigSource {
        if let Some(path) = given {
            return ConfigSource::Given(path);
        }
        let system = std::env::var_os(SYSTEM_CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(SYSTEM_CONFIG));
        // A file that exists but cannot be read is still the one meant: its error is reported, never
        // replaced by the defaults.
        if std::fs::metadata(&system).is_ok() {
            ConfigSource::System(system)
        } else {
            ConfigSource::Embedded { looked_for: system }
        }
    }

    /// The file to read, if any.
    fn path(&self) -> Option<PathBuf> {
        match self {
            ConfigSource::Given(p) | ConfigSource::System(p) => Some(p.clone()),
            ConfigSource::Embedded { .. } => None,
        }
    }

    /// One line saying which file is in effect.
    fn describe(&self) -> String {
        match self {
            ConfigSource::Given(p) => format!("configuration file {}", p.display()),
            ConfigSource::System(p) => {
                format!("configuration file {} (the system default)", p.display())
            }
            ConfigSource::Embedded { looked_for } => format!(
                "no configuration file ({} does not exist): the embedded defaults",
                looked_for.display()
            ),
        }
    }
}

/// Load the configuration named on the command line (or the embedded defaults).
fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(Config::load(path.map(PathBuf::as_path))?)
}

/// The name of the configuration in messages: its file, or the embedded defaults.
fn config_name(path: Option<&PathBuf>) -> String {
    path.map_or_else(
        || crate::config::EMBEDDED_NAME.to_string(),
        |p| p.display().to_string(),
    )
}

fn show_config(source: &ConfigSource) -> anyhow::Result<ExitCode> {
    let path = source.path();
    let compiled = load_config(path.as_ref())?.compile(&config_name(path.as_ref()))?;
    let (config, engine) = (compiled.config, compiled.engine);
    let text = toml::to_string_pretty(&config).context("printing configuration")?;
    println!("# {}", source.describe());
    println!(
        "# configuration is valid; {} rules loaded",
        engine.rules.rules().len()
    );
    match config.storage.postgres() {
        // the shared pseudonym keys (issue 17).
        Some(_) => println!(
            "# pseudonym keys: in the shared database, wrapped under [traffic] key_secret_file"
        ),
        None => println!("# pseudonym keys: {}", config.key_dir().display()),
    }
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
