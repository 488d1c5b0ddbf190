//! The PostgreSQL schema, versioned: each migration is `migrations/NNNN_name.sql`, embedded in the binary,
//! applied once, in order, each in its own transaction together with its row in `schema_version`.
//!
//! `mailwacht store migrate` runs [`migrate`]; every node runs [`check`] at start and refuses a database
//! whose schema is newer than the binary knows (a node left on the old version after another was upgraded
//! must not write rows it does not understand) or older (run `mailwacht store migrate` first: an upgrade is
//! an explicit step, never a side effect of starting a node). Two nodes migrating at once are serialised by
//! an advisory lock taken inside each transaction ([`super::locks::MIGRATE`]); the second finds the work
//! done.
//!
//! Numbers: 0001 quarantine and audit log; 0002 traffic records and inquiries; 0003 four-eyes access
//! requests; 0004 console accounts; 0005 the pseudonym keys; 0006 console sessions and the login throttle. A
//! released migration is never edited: a change is a new number.
//!
//! Must not: drop or rewrite data in a migration without saying so in its file's first comment.

use super::{locks, Pg, PgError};

/// One migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number: 1, 2, … without gaps.
    pub version: i32,
    /// The file name's part after the number.
    pub name: &'static str,
    /// The SQL (several statements).
    pub sql: &'static str,
}

/// Every migration this binary knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "quarantine_audit",
        sql: include_str!("migrations/0001_quarantine_audit.sql"),
    },
    // traffic records and inquiries (issue 17, second half).
    Migration {
        version: 2,
        name: "traffic_inquiries",
        sql: include_str!("migrations/0002_traffic_inquiries.sql"),
    },
    Migration {
        version: 3,
        name: "access_requests",
        sql: include_str!("migrations/0003_access_requests.sql"),
    },
    // the console accounts (issue 17).
    Migration {
        version: 4,
        name: "accounts",
        sql: include_str!("migrations/0004_accounts.sql"),
    },
    // the pseudonym keys, shared and wrapped (issue 17).
    Migration {
        version: 5,
        name: "pseudonym_keys",
        sql: include_str!("migrations/0005_pseudonym_keys.sql"),
    },
    // the console sessions and login throttle (issue 17).
    Migration {
        version: 6,
        name: "console_sessions",
        sql: include_str!("migrations/0006_console_sessions.sql"),
    },
];

/// The schema version this binary needs and knows.
pub fn known() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The schema does not match the binary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "the database's schema is version {found}, newer than this mailwacht knows ({known}): another \
         node was upgraded; upgrade this one to the same version (a node never runs against a schema it \
         does not know)"
    )]
    Newer { found: i32, known: i32 },
    #[error(
        "the database's schema is version {found}, this mailwacht needs {known}: run `mailwacht store \
         migrate` (once, from any node)"
    )]
    Older { found: i32, known: i32 },
}

/// What a database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The highest version applied (0: none, not even `schema_version`).
    pub version: i32,
    /// [`known`].
    pub known: i32,
    /// `SELECT version()`.
    pub server: String,
}

impl Status {
    /// Ok when the schema is the one this binary knows.
    pub fn require_current(&self) -> Result<(), SchemaError> {
        use std::cmp::Ordering::*;
        match self.version.cmp(&self.known) {
            Equal => Ok(()),
            Greater => Err(SchemaError::Newer {
                found: self.version,
                known: self.known,
            }),
            Less => Err(SchemaError::Older {
                found: self.version,
                known: self.known,
            }),
        }
    }
}

/// The database's schema version (reaching it on the way). Makes no change.
pub async fn status(pg: &Pg) -> Result<Status, PgError> {
    let client = pg.client().await?;
    let server: String = client.query_one("SELECT version()", &[]).await?.get(0);
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .get(0);
    let version = if exists {
        client
            .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
            .await?
            .get(0)
    } else {
        0
    };
    Ok(Status {
        version,
        known: known(),
        server,
    })
}

/// [`status`], refused unless the schema is the one this binary knows (the daemon's start check).
pub async fn check(pg: &Pg) -> Result<Status, PgError> {
    let status = status(pg).await?;
    status.require_current()?;
    Ok(status)
}

/// Apply every migration the database lacks, each in its own transaction under the migration lock.
/// Returns the versions applied now (empty: nothing to do). Refuses a newer schema, changing nothing.
pub async fn migrate(pg: &Pg) -> Result<Vec<i32>, PgError> {
    let mut client = pg.client().await?;
    let mut applied = Vec::new();
    for migration in MIGRATIONS {
        let tx = client.transaction().await?;
        // Held until this transaction ends: another node migrating waits here, then sees the row.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&locks::MIGRATE])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let current: i32 = tx
            .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
            .await?
            .get(0);
        if current > known() {
            // Ended here, not when the connection next runs (a dropped transaction keeps the lock until then).
            tx.rollback().await?;
            return Err(SchemaError::Newer {
                found: current,
                known: known(),
            }
            .into());
        }
        if current >= migration.version {
            tx.rollback().await?;
            continue;
        }
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await?;
        tx.commit().await?;
        applied.push(migration.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_without_gaps_and_named_after_their_files() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
            assert!(
                m.sql.contains(&format!("{:04}_{}", m.version, m.name)),
                "migration {} must name its file in its first comment",
                m.version
            );
        }
    }

    #[test]
    fn only_the_known_version_is_current() {
        let at = |version| Status {
            version,
            known: 1,
            server: String::new(),
        };
        assert_eq!(at(1).require_current(), Ok(()));
        assert_eq!(
            at(2).require_current(),
            Err(SchemaError::Newer { found: 2, known: 1 })
        );
        assert_eq!(
            at(0).require_current(),
            Err(SchemaError::Older { found: 0, known: 1 })
        );
    }
}
