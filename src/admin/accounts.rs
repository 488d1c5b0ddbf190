//! The web console's accounts: a name, a role and an argon2id password hash per person, in `users.json` in
//! the data directory (mode 0600, replaced atomically on every change, see [`crate::storage::write_atomic`]),
//! or, with `[storage] backend = "postgres"`, in the shared database's `accounts` table (migration 0004), so
//! an account added on one node signs in on every node. The checks (name, password length, hashing, the
//! constant-time login) are the same for both; only reading and writing a row differs ([`Backend`]).
//!
//! Changed only through [`super::Service`] (`mailwacht user ...`, via the admin socket or offline), which
//! writes each change to the audit log; read by the console at every login, so a disabled account or a new
//! password takes effect at once. A disabled account stays in the file (its name stays in the audit log
//! and cannot be handed to someone else).
//!
//! Must not: log or return a password or a hash; keep a password in memory longer than the call.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use serde::{Deserialize, Serialize};

/// The file in the data directory.
pub const FILE: &str = "users.json";

/// Shortest password accepted (NCSC advises length over complexity).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// What a person may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// *ICT-beheer*: reviews the quarantine, checks messages, reads the status.
    Ict,
    /// The privacy officer (*functionaris gegevensbescherming*): the audit trail, traffic reports,
    /// approving inquiries and content access.
    Privacy,
    /// Reads the k-anonymous traffic reports and requests inquiries.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ict => "ict",
            Role::Privacy => "privacy",
            Role::Auditor => "auditor",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "ict" => Ok(Role::Ict),
            "privacy" => Ok(Role::Privacy),
            "auditor" => Ok(Role::Auditor),
            other => Err(format!("role {other:?}: one of ict, privacy, auditor")),
        }
    }
}

/// One account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// argon2id in PHC form (`$argon2id$v=19$...`); never shown.
    pub hash: String,
    #[serde(default)]
    pub disabled: bool,
    /// Seconds since the epoch.
    pub created: u64,
}

/// An account as listed (no hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created: u64,
}

/// The accounts file could not be used, or a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("accounts file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("accounts file {path} is damaged: {message}")]
    Damaged { path: String, message: String },
    #[error(
        "user name {0:?}: use 1 to 64 of a-z, 0-9, '.', '_', '-' (starting with a letter or digit)"
    )]
    BadName(String),
    #[error("user {0:?} already exists")]
    Exists(String),
    #[error("no user {0:?}")]
    Unknown(String),
    #[error("the password is too short: at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
    #[error("hashing the password failed: {0}")]
    Hash(String),
    #[error("accounts in the shared database: {0}")]
    Database(#[from] crate::storage::postgres::PgError),
}

/// Why a login failed (the console shows the same page for all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefused {
    /// Unknown name, wrong password or disabled account: never told apart to the visitor.
    Credentials,
    /// The accounts file (or the shared database) could not be read.
    Unavailable,
}

/// The accounts of one data directory, or of every node in the shared database.
#[derive(Debug, Clone)]
pub struct Accounts {
    backend: Backend,
}

/// Where the accounts are kept.
#[derive(Debug, Clone)]
enum Backend {
    /// `users.json`.
    File(PathBuf),
    /// Table `accounts` (one row per account), through the sync-database thread.
    Postgres(crate::storage::postgres::Blocking),
}

/// A name that can be shown in pages and the audit log as it is.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn seconds(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::ShortPassword);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// A hash to verify against when the name is unknown, so an unknown name takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"mailwacht-no-such-user")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

impl Accounts {
    /// The accounts of `data_dir` (the file need not exist yet: then there are none).
    pub fn new(data_dir: &Path) -> Accounts {
        Accounts {
            backend: Backend::File(data_dir.join(FILE)),
        }
    }

    /// The accounts of every node, in the shared database `db` reaches (schema version 4 or later).
    pub fn postgres(db: crate::storage::postgres::Blocking) -> Accounts {
        Accounts {
            backend: Backend::Postgres(db),
        }
    }

    /// The shared database the accounts are in (`None`: `users.json`); the console keeps its sessions
    /// beside them.
    pub fn shared_db(&self) -> Option<&crate::storage::postgres::Blocking> {
        match &self.backend {
            Backend::File(_) => None,
            Backend::Postgres(db) => Some(db),
        }
    }

    /// Every account, hashes included.
    fn all(&self) -> Result<Vec<Account>, AccountError> {
        match &self.backend {
            Backend::File(path) => load(path),
            Backend::Postgres(db) => {
                let target = db.target().to_string();
                let rows = db.run(|pg| async move {
                    let client = pg.checked_client().await?;
                    Ok(client
                        .query(&format!("SELECT {COLUMNS} FROM accounts"), &[])
                        .await?)
                })?;
                rows.iter().map(|r| row(r, &target)).collect()
            }
        }
    }

    /// The account called `name`, if any.
    fn find(&self, name: &str) -> Result<Option<Account>, AccountError> {
        match &self.backend {
            Backend::File(path) => Ok(load(path)?.into_iter().find(|a| a.name == name)),
            Backend::Postgres(db) => {
                let target = db.target().to_string();
                let name = name.to_string();
                let found = db.run(move |pg| async move {
                    let client = pg.checked_client().await?;
                    Ok(client
                        .query_opt(
                            &format!("SELECT {COLUMNS} FROM accounts WHERE name = $1"),
                            &[&name],
                        )
                        .await?)
                })?;
                found.as_ref().map(|r| row(r, &target)).transpose()
            }
        }
    }

    /// Store a new account; [`AccountError::Exists`] when the name is taken (on any node).
    fn insert(&self, account: Account) -> Result<(), AccountError> {
        match &self.backend {
            Backend::File(path) => {
                let mut accounts = load(path)?;
                if accounts.iter().any(|a| a.name == account.name) {
                    return Err(AccountError::Exists(account.name));
                }
                accounts.push(account);
                save(path, &accounts)
            }
            Backend::Postgres(db) => {
                let name = account.name.clone();
                let inserted = db.run(move |pg| async move {
                    let client = pg.checked_client().await?;
                    let created = i64::try_from(account.created).unwrap_or(i64::MAX);
                    Ok(client
                        .execute(
                            "INSERT INTO accounts (name, role, hash, disabled, created) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
                            &[
                                &account.name,
                                &account.role.as_str(),
                                &account.hash,
                                &account.disabled,
                                &created,
                            ],
                        )
                        .await?)
                })?;
                match inserted {
                    0 => Err(AccountError::Exists(name)),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Set `name`'s hash (when given) and whether it is disabled; [`AccountError::Unknown`] when there is
    /// no such account.
    fn change(&self, name: &str, hash: Option<String>, disabled: bool) -> Result<(), AccountError> {
        match &self.backend {
            Backend::File(path) => {
                let mut accounts = load(path)?;
                let account = accounts
                    .iter_mut()
                    .find(|a| a.name == name)
                    .ok_or_else(|| AccountError::Unknown(name.to_string()))?;
                if let Some(hash) = hash {
                    account.hash = hash;
                }
                account.disabled = disabled;
                save(path, &accounts)
            }
            Backend::Postgres(db) => {
                let owned = name.to_string();
                let changed = db.run(move |pg| async move {
                    let client = pg.checked_client().await?;
                    Ok(client
                        .execute(
                            "UPDATE accounts SET hash = coalesce($2, hash), disabled = $3 \
                             WHERE name = $1",
                            &[&owned, &hash, &disabled],
                        )
                        .await?)
                })?;
                match changed {
                    0 => Err(AccountError::Unknown(name.to_string())),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Every account, without hashes, in name order.
    pub fn list(&self) -> Result<Vec<AccountInfo>, AccountError> {
        let mut list: Vec<AccountInfo> = self
            .all()?
            .into_iter()
            .map(|a| AccountInfo {
                name: a.name,
                role: a.role,
                disabled: a.disabled,
                created: a.created,
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    /// The role of an enabled account.
    pub fn role_of(&self, name: &str) -> Result<Option<Role>, AccountError> {
        Ok(self.find(name)?.filter(|a| !a.disabled).map(|a| a.role))
    }

    /// Add `name` with `role` and `password`.
    pub fn add(
        &self,
        name: &str,
        role: Role,
        password: &str,
        now: SystemTime,
    ) -> Result<(), AccountError> {
        if !valid_name(name) {
            return Err(AccountError::BadName(name.to_string()));
        }
        if self.find(name)?.is_some() {
            return Err(AccountError::Exists(name.to_string()));
        }
        self.insert(Account {
            name: name.to_string(),
            role,
            hash: hash_password(password)?,
            disabled: false,
            created: seconds(now),
        })
    }

    /// Set a new password (also enables a disabled account: a reset is how an admin gives it back).
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), AccountError> {
        let hash = hash_password(password)?;
        self.change(name, Some(hash), false)
    }

    /// Disable `name`: no more logins; the console ends its sessions at their next request.
    pub fn disable(&self, name: &str) -> Result<(), AccountError> {
        self.change(name, None, true)
    }

    /// Check a login. Costs one argon2id verification whether or not the name exists.
    pub fn verify(&self, name: &str, password: &str) -> Result<AccountInfo, LoginRefused> {
        let found = self.find(name).map_err(|e| {
            tracing::error!(error = %e, "cannot read the console accounts");
            LoginRefused::Unavailable
        })?;
        let hash = found
            .as_ref()
            .map(|a| a.hash.as_str())
            .unwrap_or(dummy_hash());
        let matches = PasswordHash::new(hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        match found {
            Some(a) if matches && !a.disabled => Ok(AccountInfo {
                name: a.name,
                role: a.role,
                disabled: a.disabled,
                created: a.created,
            }),
            _ => Err(LoginRefused::Credentials),
        }
    }
}

/// `users.json` at `path` (none when it does not exist yet).
fn load(path: &Path) -> Result<Vec<Account>, AccountError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path, e)),
    };
    serde_json::from_slice(&text).map_err(|e| AccountError::Damaged {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Replace `users.json` at `path` with `accounts`.
fn save(path: &Path, accounts: &[Account]) -> Result<(), AccountError> {
    let mut text = serde_json::to_vec_pretty(accounts).map_err(|e| AccountError::Damaged {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    text.push(b'\n');
    crate::storage::write_atomic(path, &text).map_err(|e| io(path, e))
}

fn io(path: &Path, source: std::io::Error) -> AccountError {
    AccountError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The columns [`row`] reads, in its order.
const COLUMNS: &str = "name, role, hash, disabled, created";

/// One row of `accounts` (selected as [`COLUMNS`]) of the database `target`.
fn row(
    row: &crate::storage::postgres::tokio_postgres::Row,
    target: &str,
) -> Result<Account, AccountError> {
    let damaged = |message: String| AccountError::Damaged {
        path: format!("{target} table accounts"),
        message,
    };
    let pg = |e: crate::storage::postgres::tokio_postgres::Error| damaged(e.to_string());
    let role: String = row.try_get(1).map_err(pg)?;
    let created: i64 = row.try_get(4).map_err(pg)?;
    Ok(Account {
        name: row.try_get(0).map_err(pg)?,
        role: role.parse().map_err(damaged)?,
        hash: row.try_get(2).map_err(pg)?,
        disabled: row.try_get(3).map_err(pg)?,
        created: u64::try_from(created).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// What only the file backend has: mode 0600, a hash and never the password, no temporary file left.
    /// (The behaviour, on both backends: `tests/postgres.rs`, the console accounts.)
    #[test]
    fn users_json_is_owner_only_and_holds_hashes_only() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::new(dir.path());
        accounts
            .add(
                "anna",
                Role::Ict,
                "correct horse battery",
                SystemTime::now(),
            )
            .unwrap();
        accounts
            .set_password("anna", "a new long password")
            .unwrap();
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(text.contains("$argon2id$"));
        assert!(!text.contains("correct horse") && !text.contains("new long"));
        assert!(accounts.verify("anna", "a new long password").is_ok());
        assert!(!dir.path().join("users.json.tmp").exists());
    }
}
