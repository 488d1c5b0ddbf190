//! Console sessions and failed logins in the shared database (`[storage] backend = "postgres"`, migration
//! 0006): tables `console_sessions` and `console_login_failures`, reached through the sync database thread
//! ([`Blocking`]) as the accounts are.
//!
//! - `console_sessions`: one row per open session, keyed by the SHA-256 of the cookie token (a dump of the
//!   table, or of a backup, yields no cookie that logs anyone in), with the account, its role, the
//!   session's CSRF token and `last_seen` (seconds since the epoch). Idle expiry is a `WHERE` on `last_seen`
//!   in the query itself; expired rows are deleted at the next login. `last_seen` is written at most once
//!   per [`TOUCH_EVERY`], not on every request: a page costs one read, and the idle time counts from the
//!   last write, so a session may end up to [`TOUCH_EVERY`] before `idle` after its very last request. The
//!   table's trigger (migration 0006) deletes an account's sessions when it is disabled or its role changes,
//!   so `mailwacht user disable` on any node ends them on every node at once.
//! - `console_login_failures`: one row per throttle counter (`user:NAME`, `ip:ADDRESS`, stored as their
//!   SHA-256: neither the names tried nor the addresses are readable), counted by an upsert, so two nodes
//!   count one series of failures.
//!
//! Every call is bounded by [`WAIT`] in all (its wait behind other jobs of the database thread included, see
//! [`Blocking::run_within`]): a database that stops answering mid-query makes the console say so, never hang.
//!
//! Must not: store a cookie token, or count failures anywhere but in the database.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::{keys, token, Attempt, Limits, Role, Session, SessionError};
use crate::storage::postgres::{tokio_postgres, Blocking, Pg, PgError};

/// How often at most a session's `last_seen` is written (the trade-off: fewer writes, an idle time that
/// may count from up to this long before the last request).
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// How long one call may take in all before the console says the database does not answer.
pub const WAIT: Duration = Duration::from_secs(5);

/// The sessions and failed logins of every node.
#[derive(Debug, Clone)]
pub struct PgSessions {
    db: Blocking,
}

/// Seconds since the epoch, as the tables keep time.
fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whole seconds of `d`, at least 1 (a zero idle time or lockout would make every row stale at once).
fn span(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1)
}

/// What the table keeps of a token or a counter's key.
fn digest(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// Run `f` with a checked connection on the database thread, within [`WAIT`] (queue included).
fn run<T, F, Fut>(db: &Blocking, f: F) -> Result<T, SessionError>
where
    T: Send + 'static,
    F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, PgError>>,
{
    Ok(db.run_within(WAIT, move |pg: Pg| async move {
        f(pg.checked_client().await?).await
    })?)
}

impl PgSessions {
    /// The store over the database `db` reaches.
    pub fn new(db: Blocking) -> PgSessions {
        PgSessions { db }
    }

    /// Insert a session for `user`; rows idle for `idle` go on the way.
    pub fn open(
        &self,
        user: &str,
        role: Role,
        idle: Duration,
        now: SystemTime,
    ) -> Result<String, SessionError> {
        let (key, csrf) = (
            token().ok_or(SessionError::NoRandomness)?,
            token().ok_or(SessionError::NoRandomness)?,
        );
        let (hash, user) = (digest(&key), user.to_string());
        let (now, idle) = (secs(now), span(idle));
        run(&self.db, move |client| async move {
            client
                .execute(
                    "DELETE FROM console_sessions WHERE last_seen <= $1::bigint - $2::bigint",
                    &[&now, &idle],
                )
                .await?;
            client
                .execute(
                    "INSERT INTO console_sessions (token_hash, account, role, csrf, last_seen) \
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&hash, &user, &role.as_str(), &csrf, &now],
                )
                .await?;
            Ok(())
        })?;
        Ok(key)
    }

    /// The live session of `key` whose account is enabled with the session's role (the trigger of migration
    /// 0006 deletes the others; the join makes sure); its `last_seen` moves to `now` when it is
    /// [`TOUCH_EVERY`] old or older.
    pub fn touch(
        &self,
        key: &str,
        idle: Duration,
        now: SystemTime,
    ) -> Result<Option<Session>, SessionError> {
        let hash = digest(key);
        let (now, idle, every) = (secs(now), span(idle), span(TOUCH_EVERY));
        let row = run(&self.db, move |client| async move {
            // One statement: the read, and the write only when due (an UPDATE that matches no row
            // writes nothing). GREATEST: a node whose clock lags never moves last_seen back.
            Ok(client
                .query_opt(
                    "WITH live AS ( \
                         SELECT token_hash, account, role, csrf, last_seen FROM console_sessions \
                         WHERE token_hash = $1 AND last_seen > $2::bigint - $3::bigint \
                     ), seen AS ( \
                         UPDATE console_sessions s SET last_seen = GREATEST(s.last_seen, $2::bigint) \
                         FROM live WHERE s.token_hash = live.token_hash \
                           AND live.last_seen <= $2::bigint - $4::bigint \
                         RETURNING s.last_seen \
                     ) \
                     SELECT live.account, live.role, live.csrf, \
                            coalesce((SELECT last_seen FROM seen), live.last_seen) \
                     FROM live JOIN accounts a \
                       ON a.name = live.account AND NOT a.disabled AND a.role = live.role",
                    &[&hash, &now, &idle, &every],
                )
                .await?)
        })?;
        row.map(|r| session(&r)).transpose()
    }

    /// Delete the session of `key`.
    pub fn close(&self, key: &str) -> Result<(), SessionError> {
        let hash = digest(key);
        run(&self.db, move |client| async move {
            client
                .execute(
                    "DELETE FROM console_sessions WHERE token_hash = $1",
                    &[&hash],
                )
                .await?;
            Ok(())
        })
    }

    /// Whether both counters of this login are below their limits (failures within `lockout` of the last).
    pub fn login_allowed(
        &self,
        attempt: Attempt,
        limits: Limits,
        now: SystemTime,
    ) -> Result<bool, SessionError> {
        let ([u, a], now, lockout) = counted(attempt, limits, now);
        let (by_user, by_address) = run(&self.db, move |client| async move {
            let row = client
                .query_one(
                    "SELECT coalesce(max(failures) FILTER (WHERE key_hash = $1), 0), \
                            coalesce(max(failures) FILTER (WHERE key_hash = $2), 0) \
                     FROM console_login_failures \
                     WHERE key_hash IN ($1, $2) AND last_failure > $3::bigint - $4::bigint",
                    &[&u, &a, &now, &lockout],
                )
                .await?;
            Ok((row.try_get::<_, i32>(0)?, row.try_get::<_, i32>(1)?))
        })?;
        Ok(within(by_user, by_address, limits.max))
    }

    /// Count a failure on both counters (a counter whose last failure is older than `lockout` starts
    /// again at one); true when this failure reached a limit. Stale counters of anyone go on the way.
    pub fn login_failed(
        &self,
        attempt: Attempt,
        limits: Limits,
        now: SystemTime,
    ) -> Result<bool, SessionError> {
        let ([u, a], now, lockout) = counted(attempt, limits, now);
        let counts = run(&self.db, move |client| async move {
            client
                .execute(
                    "DELETE FROM console_login_failures \
                     WHERE last_failure <= $1::bigint - $2::bigint",
                    &[&now, &lockout],
                )
                .await?;
            let rows = client
                .query(
                    "INSERT INTO console_login_failures AS f (key_hash, failures, last_failure) \
                     VALUES ($1, 1, $3), ($2, 1, $3) \
                     ON CONFLICT (key_hash) DO UPDATE SET \
                         failures = CASE WHEN f.last_failure > $3::bigint - $4::bigint \
                                         THEN f.failures + 1 ELSE 1 END, \
                         last_failure = GREATEST(f.last_failure, $3::bigint) \
                     RETURNING key_hash, failures",
                    &[&u, &a, &now, &lockout],
                )
                .await?;
            let mut counts = (0, 0);
            for row in rows {
                let (key, n): (Vec<u8>, i32) = (row.try_get(0)?, row.try_get(1)?);
                if key == u {
                    counts.0 = n;
                } else {
                    counts.1 = n;
                }
            }
            Ok(counts)
        })?;
        Ok(!within(counts.0, counts.1, limits.max))
    }

    /// Clear the account's counter.
    pub fn login_succeeded(&self, user: &str) -> Result<(), SessionError> {
        let [u, _] = keys(user, IpAddr::from([0, 0, 0, 0])).map(|k| digest(&k));
        run(&self.db, move |client| async move {
            client
                .execute(
                    "DELETE FROM console_login_failures WHERE key_hash = $1",
                    &[&u],
                )
                .await?;
            Ok(())
        })
    }
}

/// A login's two counters as the table keys them (account, address), `now` and the lockout in seconds.
fn counted(attempt: Attempt, limits: Limits, now: SystemTime) -> ([Vec<u8>; 2], i64, i64) {
    let keys = keys(attempt.user, attempt.ip).map(|k| digest(&k));
    (keys, secs(now), span(limits.lockout))
}

/// The throttle's rule, as [`super::Throttle::allowed`] has it.
fn within(by_user: i32, by_address: i32, max: u32) -> bool {
    let n = |c: i32| u32::try_from(c).unwrap_or(0);
    n(by_user) < max && n(by_address) < max.saturating_mul(super::ADDRESS_FACTOR)
}

/// A row of the session query: account, role, csrf, last_seen.
fn session(row: &tokio_postgres::Row) -> Result<Session, SessionError> {
    let damaged = |e: String| SessionError::Database(format!("table console_sessions: {e}"));
    let role: String = row.try_get(1).map_err(|e| damaged(e.to_string()))?;
    let last_seen: i64 = row.try_get(3).map_err(|e| damaged(e.to_string()))?;
    Ok(Session {
        user: row.try_get(0).map_err(|e| damaged(e.to_string()))?,
        role: role.parse().map_err(damaged)?,
        csrf: row.try_get(2).map_err(|e| damaged(e.to_string()))?,
        last_seen: UNIX_EPOCH + Duration::from_secs(u64::try_from(last_seen).unwrap_or(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_keeps_a_digest_never_the_token() {
        let key = token().expect("randomness");
        let kept = digest(&key);
        assert_eq!(kept.len(), 32);
        assert_ne!(kept, key.as_bytes());
        assert!(!kept
            .windows(8)
            .any(|w| key.as_bytes().windows(8).any(|k| k == w)));
        assert_eq!(kept, digest(&key), "the same token finds the same row");
    }

    #[test]
    fn the_limits_are_the_memory_throttles() {
        assert!(within(2, 11, 3));
        assert!(!within(3, 0, 3));
        assert!(!within(0, 12, 3));
        assert!(!within(0, 0, 0));
    }

    #[test]
    fn times_are_whole_seconds_and_spans_never_zero() {
        assert_eq!(secs(UNIX_EPOCH + Duration::from_millis(5_999)), 5);
        assert_eq!(secs(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(span(Duration::ZERO), 1);
        assert_eq!(span(Duration::from_secs(900)), 900);
    }
}
