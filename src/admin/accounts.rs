//! The web console's accounts: a name, a role and an argon2id password hash per person, in `users.json` in
//! the data directory (mode 0600, replaced atomically on every change, see [`crate::storage::write_atomic`]).
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
}

/// Why a login failed (the console shows the same page for all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefused {
    /// Unknown name, wrong password or disabled account: never told apart to the visitor.
    Credentials,
    /// The accounts file could not be read.
    Unavailable,
}

/// The accounts file of one data directory.
#[derive(Debug, Clone)]
pub struct Accounts {
    path: PathBuf,
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
            path: data_dir.join(FILE),
        }
    }

    fn io(&self) -> impl Fn(std::io::Error) -> AccountError + '_ {
        |source| AccountError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn load(&self) -> Result<Vec<Account>, AccountError> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io()(e)),
        };
        serde_json::from_slice(&text).map_err(|e| AccountError::Damaged {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })
    }

    fn save(&self, accounts: &[Account]) -> Result<(), AccountError> {
        let mut text = serde_json::to_vec_pretty(accounts).map_err(|e| AccountError::Damaged {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        text.push(b'\n');
        crate::storage::write_atomic(&self.path, &text).map_err(self.io())
    }

    /// Every account, without hashes, in name order.
    pub fn list(&self) -> Result<Vec<AccountInfo>, AccountError> {
        let mut list: Vec<AccountInfo> = self
            .load()?
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
        Ok(self
            .load()?
            .into_iter()
            .find(|a| a.name == name && !a.disabled)
            .map(|a| a.role))
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
        let mut accounts = self.load()?;
        if accounts.iter().any(|a| a.name == name) {
            return Err(AccountError::Exists(name.to_string()));
        }
        accounts.push(Account {
            name: name.to_string(),
            role,
            hash: hash_password(password)?,
            disabled: false,
            created: seconds(now),
        });
        self.save(&accounts)
    }

    /// Set a new password (also enables a disabled account: a reset is how an admin gives it back).
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), AccountError> {
        let mut accounts = self.load()?;
        let hash = hash_password(password)?;
        let account = accounts
            .iter_mut()
            .find(|a| a.name == name)
            .ok_or_else(|| AccountError::Unknown(name.to_string()))?;
        account.hash = hash;
        account.disabled = false;
        self.save(&accounts)
    }

    /// Disable `name`: no more logins; the console ends its sessions at their next request.
    pub fn disable(&self, name: &str) -> Result<(), AccountError> {
        let mut accounts = self.load()?;
        let account = accounts
            .iter_mut()
            .find(|a| a.name == name)
            .ok_or_else(|| AccountError::Unknown(name.to_string()))?;
        account.disabled = true;
        self.save(&accounts)
    }

    /// Check a login. Costs one argon2id verification whether or not the name exists.
    pub fn verify(&self, name: &str, password: &str) -> Result<AccountInfo, LoginRefused> {
        let accounts = self.load().map_err(|e| {
            tracing::error!(error = %e, "cannot read the console accounts");
            LoginRefused::Unavailable
        })?;
        let found = accounts.into_iter().find(|a| a.name == name);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn add_verify_passwd_disable() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::new(dir.path());
        let now = SystemTime::now();
        accounts
            .add("anna", Role::Ict, "correct horse battery", now)
            .unwrap();
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(text.contains("$argon2id$"));
        assert!(!text.contains("correct horse"));
        assert_eq!(
            accounts
                .verify("anna", "correct horse battery")
                .unwrap()
                .role,
            Role::Ict
        );
        assert_eq!(
            accounts.verify("anna", "wrong password!!"),
            Err(LoginRefused::Credentials)
        );
        assert_eq!(
            accounts.verify("nobody", "correct horse battery"),
            Err(LoginRefused::Credentials)
        );
        assert!(matches!(
            accounts.add("anna", Role::Auditor, "another long one", now),
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(
            accounts.add("Anna/..", Role::Auditor, "another long one", now),
            Err(AccountError::BadName(_))
        ));
        assert!(matches!(
            accounts.add("bert", Role::Auditor, "short", now),
            Err(AccountError::ShortPassword)
        ));
        accounts.disable("anna").unwrap();
        assert_eq!(
            accounts.verify("anna", "correct horse battery"),
            Err(LoginRefused::Credentials)
        );
        assert_eq!(accounts.role_of("anna").unwrap(), None);
        accounts
            .set_password("anna", "a new long password")
            .unwrap();
        assert!(accounts.verify("anna", "a new long password").is_ok());
        assert!(accounts.verify("anna", "correct horse battery").is_err());
        assert_eq!(accounts.list().unwrap().len(), 1);
        assert!(!dir.path().join("users.json.tmp").exists());
    }
}
