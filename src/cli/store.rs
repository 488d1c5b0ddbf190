//! `mailwacht store migrate|check`: the schema of the configured backend. Thin: the work is in
//! [`crate::storage::postgres::migrate`]; the embedded backend has nothing to migrate.

use std::process::ExitCode;

use anyhow::Context;

use super::{load_config, ConfigSource};
use crate::storage::postgres::{migrate, Pg};

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StoreCommand {
    /// Bring the database's schema up to this version (`[storage] backend = "postgres"`; once, from any
    /// node; safe to repeat and to run on two nodes at once).
    Migrate,
    /// Reach the database and compare its schema with this version's (exit 2 when it cannot be used).
    Check,
}

pub fn run(source: &ConfigSource, args: StoreArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(source.path().as_ref())?;
    let Some(settings) = config.storage.postgres() else {
        println!(
            "niets te doen / nothing to do: [storage] backend = \"embedded\" keeps the stores in {} \
             (no database)",
            config.storage.data_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting runtime")?;
    runtime.block_on(async {
        let pg = Pg::connect(&settings)?;
        match args.command {
            StoreCommand::Migrate => {
                let applied = migrate::migrate(&pg)
                    .await
                    .with_context(|| format!("migrating {}", pg.target()))?;
                if applied.is_empty() {
                    println!(
                        "schema versie / version {} op / at {}: al bijgewerkt / already up to date",
                        migrate::known(),
                        pg.target()
                    );
                } else {
                    println!(
                        "schema versie / version {} op / at {}: toegepast / applied {:?}",
                        migrate::known(),
                        pg.target(),
                        applied
                    );
                }
            }
            StoreCommand::Check => {
                let status = migrate::status(&pg)
                    .await
                    .with_context(|| format!("reaching {}", pg.target()))?;
                println!("database: {} ({})", pg.target(), status.server);
                println!(
                    "schema versie / version: {} (deze mailwacht / this mailwacht: {})",
                    status.version, status.known
                );
                status.require_current()?;
                println!("in orde / ok");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
