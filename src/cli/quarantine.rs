//! `mailwacht quarantine ...`: ICT staff review quarantined mail.
//!
//! Thin: builds an [`admin::Request`], sends it to the daemon over the admin socket, or — when no daemon
//! answers — opens the store itself and runs the same [`admin::Service`] (offline mode), then prints the
//! [`admin::Response`]. Writing export files happens here (the daemon never writes where a reviewer says).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{bail, Context};
use base64::Engine as _;

use crate::admin::{self, AuditLog, Request, Response, Service};
use crate::config::Config;
use crate::quarantine::{Entry, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Use this data directory instead of `[storage] data_dir` (also moves the default admin socket).
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List quarantined messages: id, time, sender, recipients, detection, size.
    List {
        /// Only messages received on or after this day (YYYY-MM-DD, UTC).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Metadata and MIME structure; the content only with --raw --reason (audited).
    Show {
        id: String,
        /// Also print the original message (needs --reason; written to the audit log).
        #[arg(long)]
        raw: bool,
        /// Why you look at the content.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-inject the original to its recipients (or --to an investigator) via the next hop (audited).
    Release {
        id: String,
        #[arg(long, value_name = "TEXT", required = true)]
        reason: String,
        /// Deliver to this address instead of the original recipients.
        #[arg(long, value_name = "ADDR")]
        to: Option<String>,
    },
    /// Write the original message to a new file (never over an existing one; audited).
    Export {
        id: String,
        #[arg(long, value_name = "FILE.eml", required = true)]
        out: PathBuf,
        /// Why you export it (at least 10 characters; written to the audit log).
        #[arg(long, value_name = "TEXT", required = true)]
        reason: Option<String>,
    },
    /// Delete a quarantined message (audited).
    Delete {
        id: String,
        #[arg(long, value_name = "TEXT", required = true)]
        reason: String,
    },
}

pub(super) fn config_with(
    path: Option<PathBuf>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<Config> {
    let mut config = super::load_config(path.as_ref())?;
    if let Some(dir) = data_dir {
        config.storage.data_dir = dir;
    }
    Ok(config)
}

/// Send `request` to the daemon, or run it offline when none answers. A `Response::Error` becomes an error.
pub(super) fn call(config: &Config, request: Request) -> anyhow::Result<Response> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting runtime")?;
    let socket = config.admin_socket();
    let response = runtime.block_on(async {
        let answer = admin::client::request(&socket, &request).await;
        if answer
            .as_ref()
            .is_err_and(|e| crate::storage::is_permission_denied(e))
        {
            // Shut out of the socket: say why when it is because the data directory is not ours.
            super::data_dir::refuse_if_not_owner(&config.storage.data_dir)?;
        }
        if let Some(r) = answer? {
            return anyhow::Ok(r);
        }
        super::audit::ship_offline_entries();
        // Offline: whatever is created from here on belongs to the data directory's owner (the daemon's
        // user), never to root; held until the stores below are closed.
        let _owner = super::data_dir::act_as_owner(&config.storage.data_dir)?;
        let (store, _) = Store::open(&config.storage.data_dir)
            .context("no daemon answers on the admin socket; opening the quarantine offline")?;
        store.flush().await?;
        let audit = AuditLog::open(config.storage.data_dir.join("audit.log"))?;
        let traffic = crate::traffic::TrafficStore::open(&config.storage.data_dir)
            .context("opening the traffic store offline")?;
        // Read-only: offline, keys are only read (the daemon creates, moves and deletes them).
        let keys = crate::traffic::KeyRing::load(
            &config.key_dir(),
            &config.storage.data_dir,
            config.traffic.retention_days,
        )
        .context("loading the traffic pseudonym keys offline")?;
        let service = Service::new(
            store,
            audit,
            config.next_hop_settings(),
            config.limits.clone(),
        )
        .with_traffic(admin::TrafficService::new(
            traffic.clone(),
            std::sync::Arc::new(keys),
            config,
        ));
        let response = service
            .handle(local_uid(), request, SystemTime::now())
            .await;
        traffic.flush().await?;
        Ok(response)
    });
    let response = response.map_err(|e| {
        super::data_dir::explain_permission(e, &config.storage.data_dir, &[&config.key_dir()])
    })?;
    if let Response::Error { message } = response {
        bail!("{message}");
    }
    Ok(response)
}

fn local_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

pub fn run(config: Option<PathBuf>, args: Args) -> anyhow::Result<ExitCode> {
    let config = config_with(config, args.data_dir)?;
    match args.command {
        Command::List { since, json } => {
            let since = since.as_deref().map(parse_day).transpose()?;
            let Response::Entries { entries } = call(&config, Request::List { since })? else {
                bail!("unexpected answer from the daemon");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                print_list(&entries);
            }
        }
        Command::Show {
            id,
            raw,
            reason,
            json,
        } => {
            let response = call(&config, Request::Show { id, raw, reason })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&response)?);
            } else {
                print_show(&response)?;
            }
        }
        Command::Release { id, reason, to } => {
            let Response::Released { id, to } = call(&config, Request::Release { id, reason, to })?
            else {
                bail!("unexpected answer from the daemon");
            };
            println!("released {id} to {}", to.join(", "));
        }
        Command::Export { id, out, reason } => {
            // Refuse before anything is revealed or audited.
            if std::fs::symlink_metadata(&out).is_ok() {
                bail!("{} exists; export never overwrites a file", out.display());
            }
            let Response::Exported { id, raw_base64 } =
                call(&config, Request::Export { id, reason })?
            else {
                bail!("unexpected answer from the daemon");
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(raw_base64)
                .context("decoding the exported message")?;
            write_new(&out, &bytes)?;
            println!("exported {id} to {} ({} bytes)", out.display(), bytes.len());
        }
        Command::Delete { id, reason } => {
            let Response::Deleted { id } = call(&config, Request::Delete { id, reason })? else {
                bail!("unexpected answer from the daemon");
            };
            println!("deleted {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Create `path` (must not exist) with mode 0600 and write `bytes`.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {} (export never overwrites)", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// `YYYY-MM-DD` → seconds since the epoch at 00:00 UTC (the same parser as the traffic commands).
fn parse_day(text: &str) -> anyhow::Result<u64> {
    crate::traffic::summary::parse_date(text).map_err(|e| anyhow::anyhow!("--since {e}"))
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(super) fn when(secs: u64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&format).ok())
        .map(|t| format!("{t} UTC"))
        .unwrap_or_else(|| secs.to_string())
}

fn detections(entry: &Entry) -> String {
    entry
        .detections
        .iter()
        .map(|d| format!("{} ({})", d.name, d.location))
        .collect::<Vec<_>>()
        .join("; ")
}

fn print_list(entries: &[Entry]) {
    if entries.is_empty() {
        println!("the quarantine is empty");
        return;
    }
    for e in entries {
        let status = serde_json::to_value(e.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        println!(
            "{}  {}  {:<8} {:>9} B  {} -> {}  {}",
            e.id,
            when(e.received),
            status,
            e.size,
            e.mail_from.as_deref().unwrap_or("<>"),
            e.rcpt_to.join(", "),
            detections(e)
        );
    }
}

fn print_show(response: &Response) -> anyhow::Result<()> {
    let Response::Shown {
        entry,
        parts,
        message_detections,
        raw_base64,
    } = response
    else {
        bail!("unexpected answer from the daemon");
    };
    let status = serde_json::to_value(entry.status)?
        .as_str()
        .unwrap_or_default()
        .to_string();
    println!("id:          {}", entry.id);
    println!("received:    {}", when(entry.received));
    println!("status:      {status}");
    println!(
        "sender:      {}",
        entry.mail_from.as_deref().unwrap_or("<>")
    );
    println!("recipients:  {}", entry.rcpt_to.join(", "));
    println!("size:        {} bytes", entry.size);
    println!("detections:  {}", detections(entry));
    if !message_detections.is_empty() {
        println!(
            "  found in the message as a whole: {}",
            message_detections.join("; ")
        );
    }
    println!("parts:");
    for p in parts {
        let mut line = format!(
            "  part {:<3} {:<10} {:<32} {:>9} B",
            p.part, p.kind, p.content_type, p.size
        );
        if let Some(name) = &p.name {
            line.push_str(&format!("  name {name:?}"));
        }
        if p.members > 0 {
            line.push_str(&format!("  {} archive members", p.members));
        }
        if !p.detections.is_empty() {
            line.push_str(&format!("  INFECTED: {}", p.detections.join("; ")));
        }
        println!("{line}");
    }
    if let Some(raw) = raw_base64 {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .context("decoding the message")?;
        println!("--- original message ({} bytes) ---", bytes.len());
        std::io::stdout().write_all(&bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_to_utc_midnight() {
        assert_eq!(parse_day("1970-01-02").expect("day"), 86_400);
        assert_eq!(parse_day("2026-11-23").expect("day"), 1_795_392_000);
        for bad in [
            "",
            "2026-13-01",
            "2026-02-30",
            "23-11-2026x",
            "gisteren",
            "1969-12-31",
        ] {
            assert!(parse_day(bad).is_err(), "{bad:?}");
        }
    }
}
