//! `[storage]` (the data directory), `[quarantine]` (retention) and `[admin]` (the control socket), and the
//! paths in effect derived from them (admin socket, pseudonym key directory).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Config;

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Where the quarantine, the traffic records and the audit log live. Default: `$XDG_STATE_HOME/mailwacht`,
    /// else `~/.local/state/mailwacht`, else `./mailwacht-data`; the Debian package uses `/var/lib/mailwacht`.
    pub data_dir: PathBuf,
    // --- several nodes, one store (issue 17; see `crate::storage::postgres`) ---
    /// `embedded` (sled and files in `data_dir`, the default) or `postgres` (shared by several nodes).
    pub backend: crate::storage::Backend,
    /// With `postgres`: libpq `host=… port=… user=… dbname=…` or `postgres://user@host:port/dbname`, with no
    /// password in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// With `postgres`: the file holding the password (absolute), or a systemd credential name read from
    /// `$CREDENTIALS_DIRECTORY` (relative). Unset: no password (peer or trust authentication).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            data_dir: default_data_dir(),
            backend: crate::storage::Backend::Embedded,
            url: None,
            password_file: None,
        }
    }
}

impl Storage {
    /// The PostgreSQL settings, with `backend = "postgres"`.
    pub fn postgres(&self) -> Option<crate::storage::postgres::Settings> {
        match (self.backend, &self.url) {
            (crate::storage::Backend::Postgres, Some(url)) => {
                Some(crate::storage::postgres::Settings {
                    url: url.clone(),
                    password_file: self.password_file.clone(),
                })
            }
            _ => None,
        }
    }

    /// The `[storage]` keys that cannot be used together: (key, message).
    pub(super) fn validate(&self) -> Vec<(&'static str, String)> {
        use crate::storage::Backend;
        let mut problems = Vec::new();
        match (self.backend, &self.url) {
            (Backend::Postgres, None) => problems.push((
                "url",
                "is required with backend = \"postgres\" (e.g. \"host=127.0.0.1 port=5432 user=mailwacht dbname=mailwacht\")".into(),
            )),
            (Backend::Postgres, Some(url)) => {
                if let Err(e) = crate::storage::postgres::parse_url(url) {
                    problems.push(("url", e.to_string()));
                }
            }
            (Backend::Embedded, _) => {
                for (key, set) in [
                    ("url", self.url.is_some()),
                    ("password_file", self.password_file.is_some()),
                ] {
                    if set {
                        problems.push((
                            key,
                            "is only used with backend = \"postgres\" (backend is \"embedded\")".into(),
                        ));
                    }
                }
            }
        }
        problems
    }
}

fn default_data_dir() -> PathBuf {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(state).join("mailwacht");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(home).join(".local/state/mailwacht");
    }
    PathBuf::from("mailwacht-data")
}

/// `[quarantine]`: keeping infected mail (WereldKidz 8.5).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuarantineSection {
    /// Entries older than this many days are purged (at start and every hour).
    pub retention_days: u64,
    // --- alerts to ICT (issue 15; see `crate::filter::alerts`) ---
    /// ICT's addresses for alerts about quarantined mail; empty: none.
    pub notify: Vec<String>,
    /// A notice per quarantined message (with `notify`).
    pub notify_each: bool,
    /// `daily`: one summary a day as well (or instead, with `notify_each = false`).
    pub digest: crate::filter::alerts::Digest,
    /// The alerts' envelope sender and `From:`; unset: the null sender.
    pub notify_sender: Option<String>,
}

impl Default for QuarantineSection {
    fn default() -> Self {
        QuarantineSection {
            retention_days: 30,
            notify: Vec::new(),
            notify_each: true,
            digest: crate::filter::alerts::Digest::Off,
            notify_sender: None,
        }
    }
}

/// `[admin]`: the control socket ICT staff's `mailwacht quarantine ...` commands talk to.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// The unix socket (mode 0660). Default: `<data_dir>/admin.sock`.
    pub socket: Option<PathBuf>,
    /// A group given access to the socket (chown); members may review the quarantine.
    pub group: Option<String>,
}

impl Config {
    /// The admin socket path in effect.
    pub fn admin_socket(&self) -> PathBuf {
        self.admin
            .socket
            .clone()
            .unwrap_or_else(|| self.storage.data_dir.join("admin.sock"))
    }

    /// The pseudonym key directory in effect: `[traffic] key_dir`, or `<data_dir>-keys` beside the data
    /// directory (never inside it: a copy of the data directory must not hold the key).
    pub fn key_dir(&self) -> PathBuf {
        if let Some(dir) = &self.traffic.key_dir {
            return dir.clone();
        }
        let data = &self.storage.data_dir;
        let name = data
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mailwacht".into());
        let parent = data
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        parent.join(format!("{name}-keys"))
    }
}
