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

use super::ConfigSource;
use crate::admin::{self, Request, Response};
use crate::config::{Config, ConfigError};
use crate::quarantine::{Entry, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    review: ReviewFlags,
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

/// The admin socket the package's configuration names (`[admin] socket`), in a world-traversable directory
/// the unit creates. Review commands use it when the configuration cannot be read (ICT staff are not in
/// the daemon's group) and no `--socket` is given.
pub const PACKAGED_ADMIN_SOCKET: &str = "/run/mailwacht/admin.sock";

/// The flags every review command (`quarantine`, `audit`, `traffic`, `inquiry`) takes.
#[derive(Debug, clap::Args)]
pub struct ReviewFlags {
    /// Use this data directory instead of `[storage] data_dir` (also moves the default admin socket).
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The daemon's admin socket. Default: `[admin] socket` from the configuration, or, when the
    /// configuration cannot be read, /run/mailwacht/admin.sock. Only the socket is needed: members of
    /// `[admin] group` review without reading the configuration.
    #[arg(long, value_name = "PATH", global = true, env = "MAILWACHT_SOCKET")]
    socket: Option<PathBuf>,
}

/// Where a review command's request goes: the daemon's admin socket, and — with a readable configuration —
/// the stores themselves when no daemon answers (offline mode).
pub(super) struct ReviewTarget {
    socket: PathBuf,
    /// `None`: the configuration could not be read, so only the daemon can answer.
    config: Option<Config>,
}

impl ReviewTarget {
    /// The configuration from `source` with the flags applied. A configuration the caller may not read
    /// (the packaged one is 0640 root:mailwacht) is no error here: the request then goes to the socket only.
    pub(super) fn new(source: &ConfigSource, flags: ReviewFlags) -> anyhow::Result<ReviewTarget> {
        let path = source.path();
        let mut config = match Config::load(path.as_deref()) {
            Ok(config) => config,
            Err(ConfigError::Read { source: e, .. })
                if e.kind() == std::io::ErrorKind::PermissionDenied
                    && (flags.socket.is_some() || matches!(source, ConfigSource::System(_))) =>
            {
                return Ok(ReviewTarget {
                    socket: flags
                        .socket
                        .unwrap_or_else(|| PathBuf::from(PACKAGED_ADMIN_SOCKET)),
                    config: None,
                });
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(dir) = flags.data_dir {
            config.storage.data_dir = dir;
        }
        Ok(ReviewTarget {
            socket: flags.socket.unwrap_or_else(|| config.admin_socket()),
            config: Some(config),
        })
    }
}

/// Send `request` to the daemon, or run it offline when none answers. A `Response::Error` becomes an error.
pub(super) fn call(target: &ReviewTarget, request: Request) -> anyhow::Result<Response> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting runtime")?;
    let socket = &target.socket;
    let answer = runtime.block_on(admin::client::request(socket, &request));
    let answer = match answer {
        Err(e) if crate::storage::is_permission_denied(&e) => {
            // Shut out of the socket: say why when it is because the data directory is not ours.
            if let Some(config) = &target.config {
                super::data_dir::refuse_if_not_owner(&config.storage.data_dir)?;
            }
            return Err(access_denied(socket, e.into()));
        }
        other => other?,
    };
    let response = match (answer, &target.config) {
        (Some(response), _) => response,
        (None, None) => bail!(
            "geen daemon op / no daemon answers on the admin socket {}: is `mailwacht serve` running \
             (systemctl status mailwacht)? Without the daemon the stores can only be opened with the \
             configuration (as root or the daemon's user)",
            socket.display()
        ),
        (None, Some(config)) => offline(&runtime, config, request)?,
    };
    if let Response::Error { message } = response {
        bail!("{message}");
    }
    Ok(response)
}

/// The socket refused us: say which group opens it and how to join it.
fn access_denied(socket: &Path, error: anyhow::Error) -> anyhow::Error {
    use std::os::unix::fs::MetadataExt;
    let group = std::fs::metadata(socket)
        .ok()
        .map(|m| group_name(m.gid()).unwrap_or_else(|| m.gid().to_string()));
    match group {
        Some(group) => error.context(format!(
            "toegang geweigerd: vraag de beheerder je toe te voegen aan groep {group} / permission \
             denied: ask to be added to group {group} (as root: adduser USER {group}; then log in again)"
        )),
        None => error.context(
            "toegang geweigerd / permission denied: the admin socket's directory is closed to you; ask \
             the administrator for access to the reviewers' group ([admin] group)",
        ),
    }
}

/// The name of group `gid` (getgrgid_r), if it has one.
fn group_name(gid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: zeroed is a valid `group` (pointers null, ids 0); it is only read after success.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf.len()` is the buffer's size.
    let rc = unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || grp.gr_name.is_null() {
        return None;
    }
    // SAFETY: on success gr_name points at a NUL-terminated string inside `buf`, alive here.
    let name = unsafe { std::ffi::CStr::from_ptr(grp.gr_name) };
    Some(name.to_string_lossy().into_owned())
}

/// Run `request` on the stores themselves (no daemon answers).
fn offline(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    request: Request,
) -> anyhow::Result<Response> {
    let response = runtime.block_on(async {
        super::audit::ship_offline_entries();
        // Offline: whatever is created from here on belongs to the data directory's owner (the daemon's
        // user), never to root; held until the stores below are closed.
        let _owner = super::data_dir::act_as_owner(&config.storage.data_dir)?;
        let shared = crate::daemon::stores::Shared::open(config).await?;
        let store = match &shared {
            Some(shared) => shared.quarantine(),
            None => {
                let (store, _) = Store::open(&config.storage.data_dir).context(
                    "no daemon answers on the admin socket; opening the quarantine offline",
                )?;
                store.flush().await?;
                store
            }
        };
        let audit = crate::daemon::stores::open_audit(config, shared.as_ref())?;
        let traffic = crate::daemon::stores::traffic_offline(config, shared.as_ref())
            .context("opening the traffic store offline")?;
        // Read-only: offline, keys are only read (the daemon creates, moves and deletes them).
        let keys = crate::daemon::stores::keys_offline(config, shared.as_ref())
            .context("loading the traffic pseudonym keys offline")?;
        let (service, _) = crate::daemon::review::service(
            config,
            config.traffic_settings(),
            store,
            audit,
            traffic.clone(),
            std::sync::Arc::new(keys),
        );
        let response = service
            .handle(local_uid(), request, SystemTime::now())
            .await;
        traffic.flush().await?;
        Ok(response)
    });
    response.map_err(|e| {
        crate::daemon::explain_permission(e, &config.storage.data_dir, &[&config.key_dir()])
    })
}

fn local_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

pub fn run(source: &ConfigSource, args: Args) -> anyhow::Result<ExitCode> {
    let config = ReviewTarget::new(source, args.review)?;
    match args.command {
        Command::List { since, json } => {
            let since = since.as_deref().map(parse_day).transpose()?;
            let Response::Entries { entries } = call(&config, Request::List { since })? else {
                bail!("unexpected answer from the daemon");
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json_times(serde_json::to_value(&entries)?))?
                );
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
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json_times(serde_json::to_value(&response)?))?
                );
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

/// Seconds since the epoch in local time with its zone, e.g. `2026-11-23 14:05:09 CET`. Local is the
/// zone of `TZ` or the system (/etc/localtime); when neither names one, Europe/Amsterdam, where the boards
/// are.
pub(super) fn when(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| {
            t.to_zoned_datetime(local_zone().clone())
                .strftime("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// The zone [`when`] shows times in (looked up once).
fn local_zone() -> &'static jiff::tz::TimeZone {
    static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
    ZONE.get_or_init(|| {
        jiff::tz::TimeZone::try_system()
            .or_else(|_| jiff::tz::TimeZone::get("Europe/Amsterdam"))
            .unwrap_or(jiff::tz::TimeZone::UTC)
    })
}

/// The JSON keys that hold seconds since the epoch in review output.
const TIME_KEYS: &[&str] = &["received", "time", "from", "to", "closed", "notify_by"];

/// `value` as printed by `--json`: beside every time in seconds since the epoch (a [`TIME_KEYS`] key with
/// a whole number), the same instant in RFC 3339 (UTC) under `<key>_rfc3339`.
pub(super) fn json_times(mut value: serde_json::Value) -> serde_json::Value {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                let mut added = Vec::new();
                for (key, v) in map.iter_mut() {
                    if let (true, Some(secs)) = (TIME_KEYS.contains(&key.as_str()), v.as_u64()) {
                        let stamp = i64::try_from(secs)
                            .ok()
                            .and_then(|s| jiff::Timestamp::from_second(s).ok());
                        if let Some(stamp) = stamp {
                            added.push((format!("{key}_rfc3339"), stamp.to_string()));
                        }
                    } else {
                        walk(v);
                    }
                }
                for (key, text) in added {
                    map.insert(key, text.into());
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
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
    fn json_times_add_rfc3339_beside_epoch_seconds_only() {
        let v = json_times(serde_json::json!({
            "entries": [{"received": 1_795_392_000u64, "size": 5, "rcpt_to": ["a@b"]}],
            "time": "already text",
            "to": ["x@example.org"],
        }));
        assert_eq!(v["entries"][0]["received_rfc3339"], "2026-11-23T00:00:00Z");
        assert_eq!(v["entries"][0]["received"], 1_795_392_000u64);
        assert!(v["entries"][0].get("size_rfc3339").is_none());
        assert!(v.get("time_rfc3339").is_none() && v.get("to_rfc3339").is_none());
    }

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
