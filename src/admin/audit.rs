//! The audit log: who looked at, released, exported or deleted quarantined mail, when and why
//! (WereldKidz 6.10, SOML/ProCon 9.5: those who operate the control are accountable for what they see).
//!
//! `data_dir/audit.log`, JSON lines, opened with `O_APPEND`, mode 0600, fsync after every entry. Each entry
//! carries `prev`, the SHA-256 (hex) of the previous line's bytes (64 zeros for the first line), so a line
//! changed or removed afterwards breaks the chain at the line after it; [`read`] verifies it. This shows
//! tampering, it cannot prevent it: the last line has no successor yet, and root can rewrite the whole chain
//! — ship the log off the machine (journald, syslog) for that.
//! Must not: hold message content; the reason text is the reviewer's own words.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// The reviewer: the peer uid from the admin socket (SO_PEERCRED), or the local uid offline.
    pub uid: u32,
    /// `show-raw`, `export`, `release`, `delete`, `purge`.
    pub action: String,
    /// The quarantine id.
    pub id: String,
    /// Why, in the reviewer's words (empty when the command has none).
    pub reason: String,
    /// Extra facts (e.g. the release recipients).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// SHA-256 of the previous line.
    pub prev: String,
}

/// The audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The result of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// True when every line is valid JSON and links to the one before.
    pub intact: bool,
    /// The first broken line (1-based), if any.
    pub broken_at: Option<usize>,
}

/// The append-only audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    /// Hash of the last line written; the lock also serialises appends.
    last: Mutex<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn line_hash(line: &[u8]) -> String {
    hex(&Sha256::digest(line))
}

impl AuditLog {
    /// Open `path` (created 0600 on first append); the chain continues from its last line.
    pub fn open(path: impl Into<PathBuf>) -> Result<AuditLog, AuditError> {
        let path = path.into();
        let err = |source| AuditError::Io {
            path: path.display().to_string(),
            source,
        };
        let last = match std::fs::File::open(&path) {
            Ok(f) => {
                let mut last = GENESIS.to_string();
                for line in std::io::BufReader::new(f).split(b'\n') {
                    let line = line.map_err(err)?;
                    if !line.is_empty() {
                        last = line_hash(&line);
                    }
                }
                last
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => GENESIS.to_string(),
            Err(e) => return Err(err(e)),
        };
        Ok(AuditLog {
            path,
            last: Mutex::new(last),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry and fsync it; returns it. `now` is passed in (no clock in here).
    pub fn append(
        &self,
        now: SystemTime,
        uid: u32,
        action: &str,
        id: &str,
        reason: &str,
        detail: &str,
    ) -> Result<AuditEntry, AuditError> {
        use std::os::unix::fs::OpenOptionsExt;
        let err = |source| AuditError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let mut last = self
            .last
            .lock()
            .map_err(|_| err(std::io::Error::other("audit lock poisoned")))?;
        let entry = AuditEntry {
            time: now
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            uid,
            action: action.to_string(),
            id: id.to_string(),
            reason: reason.to_string(),
            detail: detail.to_string(),
            prev: last.clone(),
        };
        let line = serde_json::to_vec(&entry).map_err(|e| err(std::io::Error::other(e)))?;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(err)?;
        let mut with_newline = line.clone();
        with_newline.push(b'\n');
        file.write_all(&with_newline).map_err(err)?;
        file.sync_all().map_err(err)?;
        *last = line_hash(&line);
        Ok(entry)
    }
}

/// Read every entry of the log at `path` and verify the chain. A missing file is an empty, intact log.
/// Lines that are not entries are skipped and break the chain.
pub fn read(path: &Path) -> Result<(Vec<AuditEntry>, Verification), AuditError> {
    let err = |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((
                Vec::new(),
                Verification {
                    intact: true,
                    broken_at: None,
                },
            ))
        }
        Err(e) => return Err(err(e)),
    };
    let mut entries = Vec::new();
    let mut prev = GENESIS.to_string();
    let mut broken_at = None;
    for (n, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(err)?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<AuditEntry>(&line) {
            Ok(entry) => {
                if entry.prev != prev && broken_at.is_none() {
                    broken_at = Some(n + 1);
                }
                entries.push(entry);
            }
            Err(_) => {
                broken_at.get_or_insert(n + 1);
            }
        }
        prev = line_hash(&line);
    }
    Ok((
        entries,
        Verification {
            intact: broken_at.is_none(),
            broken_at,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_chain_and_reopen_continues_the_chain() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("audit.log");
        let t = UNIX_EPOCH + Duration::from_secs(1000);
        {
            let log = AuditLog::open(&path).expect("open");
            log.append(t, 1000, "show-raw", "MW1", "onderzoek", "")
                .expect("append");
            log.append(t, 1000, "release", "MW1", "vals alarm", "to=a@b")
                .expect("append");
        }
        let log = AuditLog::open(&path).expect("reopen");
        log.append(t, 0, "delete", "MW1", "klaar", "")
            .expect("append");
        let (entries, v) = read(&path).expect("read");
        assert_eq!(entries.len(), 3);
        assert!(v.intact, "{v:?}");
        assert_eq!(entries[0].prev, GENESIS);
        assert_ne!(entries[2].prev, entries[1].prev);
        assert_eq!(entries[1].detail, "to=a@b");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn tampering_is_detected() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("audit.log");
        let log = AuditLog::open(&path).expect("open");
        let t = UNIX_EPOCH + Duration::from_secs(5);
        for id in ["A", "B", "C"] {
            log.append(t, 1000, "export", id, "r", "").expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        // (edit, expected first broken line)
        let cases: Vec<(String, usize)> = vec![
            (text.replacen("\"reason\":\"r\"", "\"reason\":\"x\"", 1), 2),
            (text.lines().skip(1).collect::<Vec<_>>().join("\n"), 1),
            (
                {
                    let l: Vec<_> = text.lines().collect();
                    format!("{}\n{}\n", l[0], l[2])
                },
                2,
            ),
            (format!("{text}not json\n"), 4),
        ];
        for (edited, line) in cases {
            std::fs::write(&path, &edited).expect("write");
            let (_, v) = read(&path).expect("read");
            assert_eq!(v.broken_at, Some(line), "{edited}");
            assert!(!v.intact);
        }
    }
}
