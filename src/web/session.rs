//! Console sessions, CSRF tokens and the login throttle. Bookkeeping only, with time passed in; the
//! handlers set cookies and decide what to show.
//!
//! A session is a random 256-bit token in an `HttpOnly; SameSite=Strict` cookie (plus `Secure`, see
//! [`super::WebSection::plain_http_loopback`]) mapped in memory to the account, its role, a CSRF token of
//! its own and the time of its last request; it ends after the idle time, at logout, or when the account is
//! disabled or its role changes (checked at every request). A restart ends all sessions.
//!
//! Must not: keep passwords, or accept a token that is not exactly one it handed out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::admin::Role;

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
const ADDRESS_FACTOR: u32 = 4;

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

    #[test]
    fn tokens_compare() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
    }
}
