//! `mailwacht store migrate|check`: the schema of the configured backend. Thin: the work is in
//! [`crate::storage::postgres::migrate`]; the embedded backend has nothing to migrate.

use std::process::ExitCode;

use anyhow::Context;

use super::{load_config, ConfigSource};
use crate::admin::audit;
use crate::quarantine::postgres::PgQuarantine;
use crate::storage::postgres::{migrate, Blocking, Pg};
use crate::traffic::postgres::{self, PgTraffic};
use crate::traffic::TrafficStore;

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StoreCommand {
    /// Bring the database's schema up to this version (`[storage] backend = "postgres"`; once, from any
    /// node; safe to repeat and to run on two nodes at once).
    Migrate {
        #[command(flatten)]
        moving: Moving,
    },
    /// Reach the database and compare its schema with this version's (exit 2 when it cannot be used).
    Check {
        #[command(flatten)]
        moving: Moving,
    },
    // the pseudonym keys (issue 17).
    /// Wrap every pseudonym key in the database again under a new secret (the current one is [traffic]
    /// key_secret_file). Then give every node the new file and restart it: until then a node with the old
    /// secret makes no new key (its records are dropped and counted).
    RewrapKeys {
        /// The new secret's file (at least 32 bytes, e.g. `head -c 32 /dev/urandom`).
        #[arg(long, value_name = "FILE")]
        new_secret_file: std::path::PathBuf,
    },
}

/// `--from embedded --to postgres`: also move (migrate) or count (check) this node's embedded stores.
#[derive(Debug, clap::Args)]
struct Moving {
    /// Move (migrate) or count (check) this node's embedded stores (the data directory; mailwacht serve
    /// stopped) into the database of [storage] url: traffic records, inquiries, the quarantine and the
    /// audit log. Safe to repeat: nothing is added twice.
    #[arg(long, value_parser = ["embedded"])]
    from: Option<String>,
    /// Where to: the database of [storage] url (the only target, so it may be left out).
    #[arg(long, value_parser = ["postgres"], requires = "from")]
    to: Option<String>,
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
            StoreCommand::Migrate { moving } => {
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
                if moving.from.is_some() {
                    move_embedded(&config, &pg).await?;
                }
            }
            StoreCommand::Check { moving } => {
                let status = migrate::status(&pg)
                    .await
                    .with_context(|| format!("reaching {}", pg.target()))?;
                println!("database: {} ({})", pg.target(), status.server);
                println!(
                    "schema versie / version: {} (deze mailwacht / this mailwacht: {})",
                    status.version, status.known
                );
                status.require_current()?;
                if moving.from.is_some() && !compare_embedded(&config, &pg).await? {
                    return Ok(ExitCode::from(2));
                }
                println!("in orde / ok");
            }
            // the pseudonym keys (issue 17).
            StoreCommand::RewrapKeys { new_secret_file } => {
                let new = crate::traffic::keys::wrap::Secret::read(&new_secret_file)?;
                let n = shared_keys(&config)?
                    .rewrap(&new)
                    .context("re-wrapping the pseudonym keys (nothing was changed)")?;
                println!(
                    "pseudoniemsleutels / pseudonym keys: {n} opnieuw versleuteld / re-wrapped under {}; \
                     zet dat bestand nu op elke node als [traffic] key_secret_file en herstart / now give \
                     every node that file as [traffic] key_secret_file and restart it",
                    new_secret_file.display()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

// moving a node's embedded stores (issue 17).
/// This node's traffic store, opened as the data directory's owner (the daemon must be stopped).
fn embedded_traffic(config: &crate::config::Config) -> anyhow::Result<TrafficStore> {
    let _owner = super::data_dir::act_as_owner(&config.storage.data_dir)?;
    TrafficStore::open(&config.storage.data_dir)
        .context("opening this node's traffic store (stop mailwacht serve first)")
}

/// `store migrate --from embedded --to postgres`.
async fn move_embedded(config: &crate::config::Config, pg: &Pg) -> anyhow::Result<()> {
    // the pseudonym keys first (issue 17): records whose key period holds another key in the database
    // would lose their key, so then nothing is moved.
    let (files, shared) = embedded_keys(config)?;
    let k = shared
        .import(files)
        .context("moving the pseudonym keys (nothing is overwritten; nothing else was moved)")?;
    println!(
        "pseudoniemsleutels / pseudonym keys: {} (nieuw / added {}), versleuteld met / wrapped with \
         [traffic] key_secret_file",
        k.keys, k.added
    );
    let store = embedded_traffic(config)?;
    let origin = postgres::origin(&config.storage.data_dir);
    let moved = PgTraffic::new(pg.clone())
        .import_embedded(&store, &origin)
        .await
        .context("moving the traffic records and inquiries")?;
    println!(
        "verkeersgegevens / traffic records: {} (nieuw / added {}); onderzoeken / inquiries: {} \
         (nieuw / added {}), van / from {origin}",
        moved.records, moved.records_added, moved.inquiries, moved.inquiries_added
    );
    // the quarantine and the audit chain.
    let (quarantine, audit_log) = embedded_quarantine(config)?;
    let q = shared_quarantine(config, pg)?
        .import_embedded(&quarantine)
        .await
        .context("moving the quarantine")?;
    println!(
        "quarantaine / quarantine: {} (nieuw / added {}), status bijgewerkt / status updated {} (vrijgegeven \
         / released)",
        q.entries, q.added, q.status_updated
    );
    let a = audit::import_embedded(pg, &audit_log)
        .await
        .context("moving the audit log")?;
    println!(
        "auditlog / audit log: {} (nieuw / added {}), keten intact / chain intact",
        a.entries, a.added
    );
    Ok(())
}

// the pseudonym keys (issue 17).
/// This node's key files (read only; [traffic] key_dir and an older traffic.key) and the shared database's
/// keys under this configuration's secret.
fn embedded_keys(
    config: &crate::config::Config,
) -> anyhow::Result<(
    Vec<crate::traffic::keys::KeyBytes>,
    crate::traffic::keys::postgres::PgKeys,
)> {
    let files = {
        let _owner = super::data_dir::act_as_owner(&config.storage.data_dir)?;
        crate::traffic::keys::key_files(&config.key_dir(), &config.storage.data_dir)
            .context("reading this node's pseudonym key files")?
    };
    Ok((files, shared_keys(config)?))
}

/// The shared database's keys under `[traffic] key_secret_file`.
fn shared_keys(
    config: &crate::config::Config,
) -> anyhow::Result<crate::traffic::keys::postgres::PgKeys> {
    let settings = config
        .storage
        .postgres()
        .context("[storage] backend is not \"postgres\"")?;
    let file = config
        .traffic
        .key_secret_file
        .as_deref()
        .context("[traffic] key_secret_file is not set")?;
    Ok(crate::traffic::keys::postgres::PgKeys::new(
        Blocking::start(&settings)?,
        crate::traffic::keys::wrap::Secret::read(file)?,
    ))
}

/// `store check --from embedded`: both sides counted; false when something was not moved.
async fn compare_embedded(config: &crate::config::Config, pg: &Pg) -> anyhow::Result<bool> {
    let store = embedded_traffic(config)?;
    let origin = postgres::origin(&config.storage.data_dir);
    let c = PgTraffic::new(pg.clone())
        .compare_embedded(&store, &origin)
        .await
        .context("counting the traffic records and inquiries")?;
    println!(
        "verkeersgegevens / traffic records: lokaal / embedded {}, in database {}",
        c.records.0, c.records.1
    );
    println!(
        "onderzoeken / inquiries: lokaal / embedded {}, in database {}",
        c.inquiries.0, c.inquiries.1
    );
    // the quarantine and the audit chain.
    let (quarantine, audit_log) = embedded_quarantine(config)?;
    let q = shared_quarantine(config, pg)?
        .count_embedded(&quarantine)
        .await
        .context("counting the quarantine")?;
    println!(
        "quarantaine / quarantine: lokaal / embedded {}, in database {}",
        q.0, q.1
    );
    let a = audit::count_embedded(pg, &audit_log)
        .await
        .context("comparing the audit log")?;
    println!(
        "auditlog / audit log: lokaal / embedded {}, aan het begin van de databaseketen / beginning \
         the database's chain {}",
        a.0, a.1
    );
    // the pseudonym keys (issue 17).
    let (files, shared) = embedded_keys(config)?;
    let present = shared
        .count_present(&files)
        .context("comparing the pseudonym keys")?;
    println!(
        "pseudoniemsleutels / pseudonym keys: lokaal / embedded {}, in database {present}",
        files.len()
    );
    let complete = c.complete() && q.0 == q.1 && a.0 == a.1 && present == files.len() as u64;
    if !complete {
        eprintln!(
            "niet alles verplaatst / not everything was moved: run mailwacht store migrate --from \
             embedded --to postgres"
        );
    }
    Ok(complete)
}

// the embedded quarantine and audit log (issue 17).
/// This node's embedded quarantine and the path of its audit log (the daemon must be stopped).
fn embedded_quarantine(
    config: &crate::config::Config,
) -> anyhow::Result<(crate::quarantine::Embedded, std::path::PathBuf)> {
    let data_dir = &config.storage.data_dir;
    let _owner = super::data_dir::act_as_owner(data_dir)?;
    let (store, _) = crate::quarantine::Embedded::open(data_dir)
        .context("opening this node's quarantine (stop mailwacht serve first)")?;
    Ok((store, data_dir.join("audit.log")))
}

/// The database's quarantine (its async writes and reads are all this needs of it).
fn shared_quarantine(config: &crate::config::Config, pg: &Pg) -> anyhow::Result<PgQuarantine> {
    let settings = config
        .storage
        .postgres()
        .context("[storage] backend is not \"postgres\"")?;
    Ok(PgQuarantine::new(pg.clone(), Blocking::start(&settings)?))
}
