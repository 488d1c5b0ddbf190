//! `mailwacht audit list`: the audit log of quarantine reviews (who, when, what, why) with its hash chain
//! verified. Thin: asks the daemon (or reads offline) via [`super::quarantine::call`] and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use super::quarantine::{call, config_with, when};
use crate::admin::{Request, Response};

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Use this data directory instead of `[storage] data_dir`.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Print the audit log and verify its hash chain (exit 1 when the chain is broken).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(config: Option<PathBuf>, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let config = config_with(config, args.data_dir)?;
    let AuditCommand::List { json } = args.command;
    // Asked first: asking closes inquiries whose window ended, and those closes belong in this listing.
    let overdue = super::traffic::overdue_notifications(&config);
    let Response::Audit {
        entries,
        verification,
    } = call(&config, Request::AuditList)?
    else {
        bail!("unexpected answer from the daemon");
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "entries": entries,
                "verification": verification,
            }))?
        );
    } else {
        for e in &entries {
            println!(
                "{}  uid {:<6} {:<9} {}  reason: {:?}{}",
                when(e.time),
                e.uid,
                e.action,
                e.id,
                e.reason,
                if e.detail.is_empty() {
                    String::new()
                } else {
                    format!("  {}", e.detail)
                }
            );
        }
        match verification.broken_at {
            None => println!("chain intact ({} entries)", entries.len()),
            Some(line) => println!("CHAIN BROKEN at line {line}: the log was changed"),
        }
    }
    for line in &overdue {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    Ok(if verification.intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
