//! Console sessions, CSRF tokens and the login throttle. Bookkeeping only, with time passed in; the
//! handlers set cookies and decide what to show.
//!
//! A session is a random 256-bit token in an `HttpOnly; SameSite=Strict` cookie (plus `Secure`, see
//! [`super::WebSection::plain_http_loopback`]) mapped to the account, its role, a CSRF token of its own and
//! the time of its last request; it ends after the idle time, at logout, or when the account is disabled or
//! its role changes (checked at every request).
//!
//! The handlers use one [`SessionStore`]; where it keeps sessions and failed logins follows the accounts:
//! - embedded backend ([`Sessions`], [`Throttle`]): this process's memory. A restart ends all sessions.
//! - `[storage] backend = "postgres"` ([`postgres`], migration 0006): the shared database, so every node
//!   behind a load balancer knows every session (a node restarted or another node answering keeps the
//!   person logged in), logout on one node ends the session on all, and failed logins are counted over all
//!   nodes (an attacker alternating nodes gets no extra tries). The table holds a SHA-256 hash of each
//!   cookie token, never the token. A database that does not answer is [`SessionError::Unavailable`]:
//!   the console says so and lets nobody in.
//!
//! Must not: keep passwords, or accept a token that is not exactly one it handed out.

pub mod postgres;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::admin::{Accounts, Role};

/// A fresh random token: 32 bytes from the OS, hex. `None` when the OS has no randomness to give (then the
/// console refuses to log anyone in rather than hand out a guessable token).
pub fn token() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compare two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// One logged-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    /// The token every form of this session carries.
    pub csrf: String,
    last_seen: SystemTime,
}

/// The open sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    open: HashMap<String, Session>,
}

impl Sessions {
    /// Open a session for `user`; returns the cookie token.
    pub fn open(&mut self, user: &str, role: Role, now: SystemTime) -> Option<String> {
        let (key, csrf) = (token()?, token()?);
        self.open.insert(
            key.clone(),
            Session {
                user: user.to_string(),
                role,
                csrf,
                last_seen: now,
            },
        );
        Some(key)
    }

    /// The session of `key` if it has not been idle for `idle`; marks it seen. An idle one is removed.
    pub fn touch(&mut self, key: &str, idle: Duration, now: SystemTime) -> Option<Session> {
        self.open
            .retain(|_, s| now.duration_since(s.last_seen).unwrap_or_default() < idle);
        let session = self.open.get_mut(key)?;
        session.last_seen = now;
        Some(session.clone())
    }

    /// End the session of `key`.
    pub fn close(&mut self, key: &str) {
        self.open.remove(key);
    }
}

/// Failed logins per account and per client address; a key with too many failures in a row is locked
/// out for a while (an attacker trying many names from one address, or one name from many).
#[derive(Debug, Default)]
pub struct Throttle {
    failures: HashMap<String, (u32, SystemTime)>,
}

/// How many times more failures an address may have than an account (a school shares one NAT address).
pub const ADDRESS_FACTOR: u32 = 4;

/// The throttle's two counters of a login: the account's and the address's.
fn keys(user: &str, ip: IpAddr) -> [String; 2] {
    [format!("user:{user}"), format!("ip:{ip}")]
}

impl Throttle {
    /// Whether a login for `user` from `ip` may be tried now.
    pub fn allowed(
        &mut self,
        user: &str,
        ip: IpAddr,
        max: u32,
        lockout: Duration,
        now: SystemTime,
    ) -> bool {
        self.failures
            .retain(|_, (_, last)| now.duration_since(*last).unwrap_or_default() < lockout);
        let [u, a] = keys(user, ip);
        let count = |k: &str| self.failures.get(k).map(|(n, _)| *n).unwrap_or(0);
        count(&u) < max && count(&a) < max.saturating_mul(ADDRESS_FACTOR)
    }

    /// Record a failed login.
    pub fn failed(&mut self, user: &str, ip: IpAddr, now: SystemTime) {
        for k in keys(user, ip) {
            let entry = self.failures.entry(k).or_insert((0, now));
            entry.0 = entry.0.saturating_add(1);
            entry.1 = now;
        }
    }

    /// A successful login clears the account's count (not the address's).
    pub fn succeeded(&mut self, user: &str) {
        self.failures.remove(&format!("user:{user}"));
    }
}

/// One login attempt, as the throttle counts it: the name tried and the client's address.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub user: &'a str,
    pub ip: IpAddr,
}

/// When the throttle locks out: `[web] max_failed_logins` failures in a row (× [`ADDRESS_FACTOR`] for an
/// address), each within `lockout_minutes` of the last.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max: u32,
    pub lockout: Duration,
}

/// A store of sessions and failed logins could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The shared database cannot be reached (or did not answer in time): nobody is let in until it does.
    #[error("console sessions: {0}")]
    Unavailable(String),
    /// The shared database answered with an error, or holds a row this version cannot read.
    #[error("console sessions: {0}")]
    Database(String),
    /// The OS has no randomness to give: no token is handed out rather than a guessable one.
    #[error("console sessions: no randomness available for a token")]
    NoRandomness,
}

impl From<crate::storage::postgres::PgError> for SessionError {
    fn from(e: crate::storage::postgres::PgError) -> SessionError {
        if e.is_unavailable() {
            SessionError::Unavailable(e.to_string())
        } else {
            SessionError::Database(e.to_string())
        }
    }
}

/// The console's sessions and login throttle: the one store the handlers use, whichever backend keeps them.
#[derive(Debug)]
pub struct SessionStore {
    backend: Backend,
}

/// Where the sessions and failed logins are kept.
#[derive(Debug)]
enum Backend {
    /// This process's memory (embedded backend): one node, a restart ends every session.
    Memory {
        sessions: Mutex<Sessions>,
        throttle: Mutex<Throttle>,
        /// Read at every request: a disabled account, or one whose role changed, loses its sessions.
        accounts: Accounts,
    },
    /// The shared database's tables (migration 0006), through the sync database thread.
    Postgres(postgres::PgSessions),
}

/// A lock even when a thread panicked holding it (the maps stay consistent: every change is one insert
/// or removal).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SessionStore {
    /// Sessions where `accounts` are: in the shared database beside them, or in this process's memory.
    pub fn for_accounts(accounts: &Accounts) -> SessionStore {
        match accounts.shared_db() {
            Some(db) => SessionStore::postgres(db.clone()),
            None => SessionStore::memory(accounts.clone()),
        }
    }

    /// Sessions in this process's memory (the embedded backend), of `accounts`.
    pub fn memory(accounts: Accounts) -> SessionStore {
        SessionStore {
            backend: Backend::Memory {
                sessions: Mutex::default(),
                throttle: Mutex::default(),
                accounts,
            },
        }
    }

    /// Sessions in the shared database `db` reaches (schema version 6 or later), seen by every node.
    pub fn postgres(db: crate::storage::postgres::Blocking) -> SessionStore {
        SessionStore {
            backend: Backend::Postgres(postgres::PgSessions::new(db)),
        }
    }

    /// Open a session for `user` with `role`; returns the cookie token. Sessions idle for `idle` are
    /// cleared out on the way.
    pub fn open(
        &self,
        user: &str,
        role: Role,
        idle: Duration,
        now: SystemTime,
    ) -> Result<String, SessionError> {
        match &self.backend {
            Backend::Memory { sessions, .. } => lock(sessions)
                .open(user, role, now)
                .ok_or(SessionError::NoRandomness),
            Backend::Postgres(pg) => pg.open(user, role, idle, now),
        }
    }

    /// The session of `key` if it has not been idle for `idle` and its account is still enabled with the
    /// session's role (else it ends), marked seen (in the database at most once per
    /// [`postgres::TOUCH_EVERY`]).
    pub fn touch(
        &self,
        key: &str,
        idle: Duration,
        now: SystemTime,
    ) -> Result<Option<Session>, SessionError> {
        match &self.backend {
            Backend::Memory {
                sessions, accounts, ..
            } => {
                let Some(session) = lock(sessions).touch(key, idle, now) else {
                    return Ok(None);
                };
                match accounts.role_of(&session.user) {
                    Ok(Some(role)) if role == session.role => Ok(Some(session)),
                    Ok(_) => {
                        lock(sessions).close(key);
                        Ok(None)
                    }
                    Err(e) => Err(SessionError::Unavailable(e.to_string())),
                }
            }
            Backend::Postgres(pg) => pg.touch(key, idle, now),
        }
    }

    /// End the session of `key` (on every node).
    pub fn close(&self, key: &str) -> Result<(), SessionError> {
        match &self.backend {
            Backend::Memory { sessions, .. } => {
                lock(sessions).close(key);
                Ok(())
            }
            Backend::Postgres(pg) => pg.close(key),
        }
    }

    /// Whether a login for `user` from `ip` may be tried now: fewer than `max` failures of the account,
    /// and fewer than `max` × [`ADDRESS_FACTOR`] of the address, each within `lockout` of the last.
    pub fn login_allowed(
        &self,
        attempt: Attempt,
        limits: Limits,
        now: SystemTime,
    ) -> Result<bool, SessionError> {
        let (Attempt { user, ip }, Limits { max, lockout }) = (attempt, limits);
        match &self.backend {
            Backend::Memory { throttle, .. } => {
                Ok(lock(throttle).allowed(user, ip, max, lockout, now))
            }
            Backend::Postgres(pg) => pg.login_allowed(attempt, limits, now),
        }
    }

    /// Record a failed login; true when it locked the account or the address out.
    pub fn login_failed(
        &self,
        attempt: Attempt,
        limits: Limits,
        now: SystemTime,
    ) -> Result<bool, SessionError> {
        let (Attempt { user, ip }, Limits { max, lockout }) = (attempt, limits);
        match &self.backend {
            Backend::Memory { throttle, .. } => {
                let mut t = lock(throttle);
                t.failed(user, ip, now);
                Ok(!t.allowed(user, ip, max, lockout, now))
            }
            Backend::Postgres(pg) => pg.login_failed(attempt, limits, now),
        }
    }

    /// A successful login clears the account's count (not the address's).
    pub fn login_succeeded(&self, user: &str) -> Result<(), SessionError> {
        match &self.backend {
            Backend::Memory { throttle, .. } => {
                lock(throttle).succeeded(user);
                Ok(())
            }
            Backend::Postgres(pg) => pg.login_succeeded(user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let idle = Duration::from_secs(900);
        let mut s = Sessions::default();
        let key = s.open("anna", Role::Ict, t0).unwrap();
        assert_eq!(key.len(), 64);
        assert!(s.touch(&key, idle, t0 + Duration::from_secs(800)).is_some());
        assert!(s
            .touch(&key, idle, t0 + Duration::from_secs(1600))
            .is_some());
        assert!(s
            .touch(&key, idle, t0 + Duration::from_secs(2600))
            .is_none());
        assert!(s.touch("x", idle, t0).is_none());
        let key = s.open("anna", Role::Ict, t0).unwrap();
        s.close(&key);
        assert!(s.touch(&key, idle, t0).is_none());
    }

    #[test]
    fn lockout_after_failures_then_released() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let lock = Duration::from_secs(900);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut t = Throttle::default();
        for _ in 0..3 {
            assert!(t.allowed("anna", ip, 3, lock, t0));
            t.failed("anna", ip, t0);
        }
        assert!(!t.allowed("anna", ip, 3, lock, t0));
        assert!(t.allowed("bert", ip, 3, lock, t0));
        assert!(t.allowed("anna", ip, 3, lock, t0 + Duration::from_secs(901)));
    }

    /// The embedded backend's store is today's memory: a session and its end, and the lock at the `max`th
    /// failure, which a success on the account clears. (The shared database's: `tests/postgres.rs`.)
    #[test]
    fn the_memory_store_keeps_sessions_and_counts_failures() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let (idle, lock) = (Duration::from_secs(900), Duration::from_secs(900));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::new(dir.path());
        accounts
            .add("anna", Role::Privacy, "correct horse battery", t0)
            .unwrap();
        let store = SessionStore::for_accounts(&accounts);
        let key = store.open("anna", Role::Privacy, idle, t0).unwrap();
        let s = store.touch(&key, idle, t0).unwrap().unwrap();
        assert_eq!((s.user.as_str(), s.role), ("anna", Role::Privacy));
        store.close(&key).unwrap();
        assert!(store.touch(&key, idle, t0).unwrap().is_none());
        let key = store.open("anna", Role::Privacy, idle, t0).unwrap();
        accounts.disable("anna").unwrap();
        assert!(store.touch(&key, idle, t0).unwrap().is_none(), "disabled");
        let (anna, limits) = (
            Attempt { user: "anna", ip },
            Limits {
                max: 3,
                lockout: lock,
            },
        );
        assert!(!store.login_failed(anna, limits, t0).unwrap());
        store.login_succeeded("anna").unwrap();
        let locked: Vec<bool> = (0..3)
            .map(|_| store.login_failed(anna, limits, t0).unwrap())
            .collect();
        assert_eq!(locked, [false, false, true]);
        assert!(!store.login_allowed(anna, limits, t0).unwrap());
    }

    #[test]
    fn tokens_compare() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
    }
}
