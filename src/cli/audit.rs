//! `mailwacht audit list`: the audit log of quarantine reviews (who, when, what, why) with its hash chain
//! and its head (`audit.head`) verified; exit 1 when anything is wrong. Thin: asks the daemon (or reads
//! offline) via [`super::quarantine::call`] and prints.

use std::process::ExitCode;

use anyhow::bail;

use super::quarantine::{call, json_times, when, ReviewFlags, ReviewTarget};
use crate::admin::{Request, Response};

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    review: ReviewFlags,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Print the audit log and verify its hash chain and head (exit 1 when the log was changed, cut or
    /// removed, or a break was recorded in it).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(source: &super::ConfigSource, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let config = ReviewTarget::new(source, args.review)?;
    let AuditCommand::List { json } = args.command;
    // Asked first: asking closes inquiries whose window ended, and those closes belong in this listing.
    let overdue = super::traffic::overdue_notifications(&config);
    let Response::Audit {
        entries,
        verification,
        hashes,
    } = call(&config, Request::AuditList)?
    else {
        bail!("unexpected answer from the daemon");
    };
    if json {
        // Each entry with the hash of its line, as the journald/syslog copy carries it.
        let entries: Vec<serde_json::Value> = entries
            .iter()
            .zip(hashes.iter().map(Some).chain(std::iter::repeat(None)))
            .map(|(e, hash)| {
                let mut v = serde_json::to_value(e)?;
                if let (Some(obj), Some(hash)) = (v.as_object_mut(), hash) {
                    obj.insert("hash".into(), hash.clone().into());
                }
                Ok(v)
            })
            .collect::<Result<_, serde_json::Error>>()?;
        println!(
            "{}",
            serde_json::to_string_pretty(&json_times(serde_json::json!({
                "entries": entries,
                "verification": verification,
            })))?
        );
    } else {
        // Dutch labels, as the other review listings; `--json` keeps the English keys.
        for e in &entries {
            println!(
                "{}  gebruiker {:<6} {:<9} {}  reden: {:?}{}",
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
        if verification.intact {
            println!(
                "chain intact ({} entries), its end matches audit.head",
                entries.len()
            );
            let anchored = verification.anchored.unwrap_or_default();
            if (entries.len() as u64) > anchored {
                println!(
                    "note: the last {} entries were written after audit.head (a crash between the two \
                     writes); the daemon anchors them at its next start",
                    entries.len() as u64 - anchored
                );
            }
        } else {
            println!("AUDIT LOG BROKEN: it cannot show that it is complete and unchanged");
            for problem in &verification.problems {
                println!("  {problem}");
            }
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

/// In offline mode (no daemon, whose stderr journald keeps) each audit entry's copy goes to syslog(3),
/// facility AUTHPRIV, so an offline review reaches journald/rsyslog like one through the daemon. Only the
/// `mailwacht::audit` events; syslog adds time and host. Without a syslog socket (`/dev/log`) the copy is
/// lost, as syslog(3) is; the log on disk is still written.
pub(super) fn ship_offline_entries() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_writer(|| Syslog(Vec::new()))
        .with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target(crate::admin::audit::SHIP_TARGET, tracing::Level::INFO),
        );
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// One formatted event, handed to syslog(3) when dropped.
struct Syslog(Vec<u8>);

impl std::io::Write for Syslog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        let text: Vec<u8> = self
            .0
            .iter()
            .copied()
            .filter(|b| *b != 0 && *b != b'\n')
            .collect();
        let Ok(text) = std::ffi::CString::new(text) else {
            return;
        };
        // SAFETY: the ident and the format are static C strings, `text` lives across the call, and the
        // format takes exactly one string argument.
        unsafe {
            libc::openlog(c"mailwacht".as_ptr(), libc::LOG_PID, libc::LOG_AUTHPRIV);
            libc::syslog(
                libc::LOG_AUTHPRIV | libc::LOG_INFO,
                c"%s".as_ptr(),
                text.as_ptr(),
            );
        }
    }
}
