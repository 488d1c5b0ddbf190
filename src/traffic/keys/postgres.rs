//! The pseudonym keys in the shared database (`[storage] backend = "postgres"`): every SQL statement on
//! `pseudonym_keys` and `pseudonym_key_secret` (schema: `storage/postgres/migrations/0005_pseudonym_keys.sql`)
//! lives here, run on the [`Blocking`] database thread because [`super::KeyRing`] is called from sync code.
//!
//! - One row per key period, the key wrapped under `[traffic] key_secret_file` ([`super::wrap`]); never a
//!   key in the clear, never a key file on the node.
//! - A key period's key is made by the first node that needs it, in a transaction under the advisory lock
//!   [`locks::PSEUDONYM_KEYS`]: it finds the row another node made, or fits a new one into the free stretch
//!   around the record's time (as the files do) — so racing nodes agree on one key. The table's exclusion
//!   constraint keeps periods from overlapping even so.
//! - The first key made also stores the secret's check value; a node whose secret does not match it, or
//!   does not open a row, makes nothing and reads nothing ([`KeyError::WrongSecret`]).
//! - Expiry deletes the rows whose period ends before both the retention cut-off and the purge cut-off the
//!   shared traffic store recorded (`traffic_meta.purged_before`), under the purge's advisory lock
//!   [`locks::TRAFFIC_PURGE`]: a key goes only once its records are gone, on one node at a time.
//!
//! Every transaction here ends with an explicit commit or rollback before its job returns: the database
//! thread's connection tasks run only while a job does, so a transaction merely dropped would keep its
//! advisory lock until the next job — and with it every other node waiting.
//!
//! Must not: log or return a key in the clear outside an [`EpochKey`], or decide periods (the ring does).

use super::wrap::{self, Secret, Wrapped};
use super::{EpochKey, KeyBytes, KeyError};
use crate::storage::postgres::{locks, tokio_postgres, Blocking, PgError};
use crate::traffic::summary::date;
use crate::traffic::PseudonymKey;

/// The keys in the shared database, opened with this node's secret. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PgKeys {
    /// The database thread shared with the audit log and the quarantine's reads.
    db: Blocking,
    /// Wraps and unwraps the keys.
    secret: Secret,
}

/// One stored row.
#[derive(Debug, Clone)]
struct Row {
    from: u64,
    to: u64,
    stored: Wrapped,
}

fn db_time(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn from_db(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0)
}

fn row(r: &tokio_postgres::Row) -> Result<Row, PgError> {
    let bytes = |i: usize| -> Result<Vec<u8>, PgError> { Ok(r.try_get::<_, Vec<u8>>(i)?) };
    let layout = || PgError::Settings("a pseudonym_keys row has an unknown layout".into());
    Ok(Row {
        from: from_db(r.try_get(0)?),
        to: from_db(r.try_get(1)?),
        stored: Wrapped {
            nonce: bytes(2)?.try_into().map_err(|_| layout())?,
            wrapped: bytes(3)?.try_into().map_err(|_| layout())?,
            tag: bytes(4)?.try_into().map_err(|_| layout())?,
        },
    })
}

const COLUMNS: &str = "period_from, period_to, nonce, wrapped, tag";

/// What a transaction that needs the secret found.
enum Checked<T> {
    Done(T),
    /// The stored check value is another secret's.
    WrongSecret,
}

/// Store the secret's check value if there is none yet, and compare it (inside a transaction that holds
/// [`locks::PSEUDONYM_KEYS`]).
async fn secret_matches(
    tx: &tokio_postgres::Transaction<'_>,
    secret: &Secret,
) -> Result<bool, PgError> {
    tx.execute(
        "INSERT INTO pseudonym_key_secret (secret_check) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&secret.check().as_slice()],
    )
    .await?;
    let stored: Vec<u8> = tx
        .query_one("SELECT secret_check FROM pseudonym_key_secret", &[])
        .await?
        .try_get(0)?;
    Ok(secret.matches(&stored))
}

/// Take [`locks::PSEUDONYM_KEYS`] for the transaction and check the secret ([`secret_matches`]). On false
/// the caller rolls back (releasing the lock).
async fn locked_with(
    tx: &tokio_postgres::Transaction<'_>,
    secret: &Secret,
) -> Result<bool, PgError> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&locks::PSEUDONYM_KEYS],
    )
    .await?;
    secret_matches(tx, secret).await
}

/// Insert one wrapped key.
async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    from: u64,
    to: u64,
    stored: &Wrapped,
) -> Result<(), PgError> {
    tx.execute(
        &format!("INSERT INTO pseudonym_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"),
        &[
            &db_time(from),
            &db_time(to),
            &stored.nonce.as_slice(),
            &stored.wrapped.as_slice(),
            &stored.tag.as_slice(),
        ],
    )
    .await?;
    Ok(())
}

/// What [`PgKeys::import`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportedKeys {
    /// Keys in the key directory.
    pub keys: u64,
    /// Of those, added now (the rest were there already, the same key for the same period).
    pub added: u64,
}

impl PgKeys {
    /// The keys in the database `db` reaches, wrapped under `secret`.
    pub fn new(db: Blocking, secret: Secret) -> PgKeys {
        PgKeys { db, secret }
    }

    /// `host:port/dbname`.
    pub fn target(&self) -> &str {
        self.db.target()
    }

    fn open(&self, row: Row) -> Result<EpochKey, KeyError> {
        match self.secret.unwrap(row.from, row.to, &row.stored) {
            Some(bytes) => Ok(EpochKey {
                from: row.from,
                to: row.to,
                key: PseudonymKey::from_bytes(bytes),
            }),
            None => Err(KeyError::WrongSecret {
                what: format!("the key of {}..{}", date(row.from), date(row.to)),
            }),
        }
    }

    /// The key whose period covers `time`, if there is one (reads only).
    pub fn covering(&self, time: u64) -> Result<Option<EpochKey>, KeyError> {
        let found = self.db.run(move |pg| async move {
            let client = pg.checked_client().await?;
            let found = client
                .query_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM pseudonym_keys \
                         WHERE period_from <= $1 AND $1 < period_to"
                    ),
                    &[&db_time(time)],
                )
                .await?;
            found.as_ref().map(row).transpose()
        })?;
        found.map(|r| self.open(r)).transpose()
    }

    /// The key covering `time`: the one in the database, or a new random one for `period` (the key period
    /// of `time`) shortened to the free stretch between the keys around it. One transaction under
    /// [`locks::PSEUDONYM_KEYS`], so of two nodes asking at once the second finds the first one's key.
    pub fn get_or_create(&self, time: u64, period: (u64, u64)) -> Result<EpochKey, KeyError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| KeyError::Shared(format!("random source: {e}")))?;
        let nonce = wrap::nonce().map_err(|e| KeyError::Shared(format!("random source: {e}")))?;
        let secret = self.secret.clone();
        let found = self.db.run(move |pg| async move {
            let mut client = pg.checked_client().await?;
            let tx = client.transaction().await?;
            if !locked_with(&tx, &secret).await? {
                tx.rollback().await?;
                return Ok(Checked::WrongSecret);
            }
            let at = db_time(time);
            if let Some(r) = tx
                .query_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM pseudonym_keys \
                         WHERE period_from <= $1 AND $1 < period_to"
                    ),
                    &[&at],
                )
                .await?
            {
                tx.commit().await?;
                return Ok(Checked::Done(row(&r)?));
            }
            let gap = tx
                .query_one(
                    "SELECT coalesce(max(period_to) FILTER (WHERE period_to <= $1), 0), \
                            min(period_from) FILTER (WHERE period_from > $1) FROM pseudonym_keys",
                    &[&at],
                )
                .await?;
            let lo = from_db(gap.try_get::<_, i64>(0)?);
            let hi = gap.try_get::<_, Option<i64>>(1)?.map_or(u64::MAX, from_db);
            let (from, to) = (period.0.max(lo), period.1.min(hi));
            let stored = secret.wrap(from, to, &key, nonce);
            insert(&tx, from, to, &stored).await?;
            tx.commit().await?;
            Ok(Checked::Done(Row { from, to, stored }))
        })?;
        match found {
            Checked::Done(r) => self.open(r),
            Checked::WrongSecret => Err(KeyError::WrongSecret {
                what: "the check value of the keys' secret".into(),
            }),
        }
    }

    /// Every key, oldest first; a row this secret does not open is an error.
    pub fn all(&self) -> Result<Vec<EpochKey>, KeyError> {
        let rows = self.db.run(|pg| async move {
            let client = pg.checked_client().await?;
            let rows = client
                .query(
                    &format!("SELECT {COLUMNS} FROM pseudonym_keys ORDER BY period_from"),
                    &[],
                )
                .await?;
            rows.iter().map(row).collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter().map(|r| self.open(r)).collect()
    }

    /// The periods of every key, oldest first (nothing unwrapped).
    pub fn periods(&self) -> Result<Vec<(u64, u64)>, KeyError> {
        Ok(self.db.run(|pg| async move {
            let client = pg.checked_client().await?;
            let rows = client
                .query(
                    "SELECT period_from, period_to FROM pseudonym_keys ORDER BY period_from",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((from_db(r.try_get(0)?), from_db(r.try_get(1)?))))
                .collect::<Result<Vec<_>, PgError>>()
        })?)
    }

    /// Delete the keys whose period ends at or before `cutoff` and before the shared store's purge cut-off
    /// (their records are gone), under [`locks::TRAFFIC_PURGE`]. `None` when another node holds that lock
    /// (it is purging now; the keys go at a later run).
    pub fn expire(&self, cutoff: u64) -> Result<Option<Vec<(u64, u64)>>, KeyError> {
        Ok(self.db.run(move |pg| async move {
            let mut client = pg.checked_client().await?;
            let tx = client.transaction().await?;
            let locked: bool = tx
                .query_one(
                    "SELECT pg_try_advisory_xact_lock($1)",
                    &[&locks::TRAFFIC_PURGE],
                )
                .await?
                .try_get(0)?;
            if !locked {
                tx.rollback().await?;
                return Ok(None);
            }
            let rows = tx
                .query(
                    "DELETE FROM pseudonym_keys \
                     WHERE period_to <= least($1, (SELECT purged_before FROM traffic_meta)) \
                     RETURNING period_from, period_to",
                    &[&db_time(cutoff)],
                )
                .await?;
            tx.commit().await?;
            let mut gone = rows
                .iter()
                .map(|r| Ok((from_db(r.try_get(0)?), from_db(r.try_get(1)?))))
                .collect::<Result<Vec<_>, PgError>>()?;
            gone.sort_unstable();
            Ok(Some(gone))
        })?)
    }

    /// Bring a node's key files here (`mailwacht store migrate --from embedded`): each key is added
    /// wrapped; a period already holding the same key is left; a period overlapping another key is
    /// refused by name ([`KeyError::Taken`], after the others were added): keys are never overwritten.
    pub fn import(&self, keys: Vec<KeyBytes>) -> Result<ImportedKeys, KeyError> {
        let mut wrapped = Vec::with_capacity(keys.len());
        for (from, to, key) in &keys {
            let nonce =
                wrap::nonce().map_err(|e| KeyError::Shared(format!("random source: {e}")))?;
            wrapped.push((*from, *to, *key, self.secret.wrap(*from, *to, key, nonce)));
        }
        let secret = self.secret.clone();
        let outcome = self.db.run(move |pg| async move {
            let mut client = pg.checked_client().await?;
            let tx = client.transaction().await?;
            if !locked_with(&tx, &secret).await? {
                tx.rollback().await?;
                return Ok(Checked::WrongSecret);
            }
            let (mut done, mut taken) = (
                ImportedKeys {
                    keys: wrapped.len() as u64,
                    added: 0,
                },
                Vec::new(),
            );
            for (from, to, key, stored) in wrapped {
                let there = tx
                    .query(
                        &format!(
                            "SELECT {COLUMNS} FROM pseudonym_keys \
                             WHERE int8range(period_from, period_to) && int8range($1, $2)"
                        ),
                        &[&db_time(from), &db_time(to)],
                    )
                    .await?;
                match there.as_slice() {
                    [] => {
                        insert(&tx, from, to, &stored).await?;
                        done.added += 1;
                    }
                    [one] => {
                        let r = row(one)?;
                        let same = (r.from, r.to) == (from, to)
                            && secret.unwrap(r.from, r.to, &r.stored) == Some(key);
                        if !same {
                            taken.push((from, to));
                        }
                    }
                    _ => taken.push((from, to)),
                }
            }
            tx.commit().await?;
            Ok(Checked::Done((done, taken)))
        })?;
        match outcome {
            Checked::WrongSecret => Err(KeyError::WrongSecret {
                what: "the check value of the keys' secret".into(),
            }),
            Checked::Done((_, taken)) if !taken.is_empty() => Err(KeyError::Taken {
                periods: taken
                    .iter()
                    .map(|(f, t)| format!("{}..{}", date(*f), date(*t)))
                    .collect(),
            }),
            Checked::Done((done, _)) => Ok(done),
        }
    }

    /// How many of `keys` the database holds, the same key for the same period (`store check`).
    pub fn count_present(&self, keys: &[KeyBytes]) -> Result<u64, KeyError> {
        let mut present = 0;
        let here = self.db.run(|pg| async move {
            let client = pg.checked_client().await?;
            let rows = client
                .query(&format!("SELECT {COLUMNS} FROM pseudonym_keys"), &[])
                .await?;
            rows.iter().map(row).collect::<Result<Vec<_>, _>>()
        })?;
        for (from, to, key) in keys {
            if here.iter().any(|r| {
                (r.from, r.to) == (*from, *to)
                    && self.secret.unwrap(r.from, r.to, &r.stored) == Some(*key)
            }) {
                present += 1;
            }
        }
        Ok(present)
    }

    /// Wrap every key again under `new` (fresh nonces) and store `new`'s check value, in one transaction
    /// under [`locks::PSEUDONYM_KEYS`] (`mailwacht store rewrap-keys`). Refused, changing nothing, when this
    /// ring's secret does not open every row. Returns how many keys were re-wrapped.
    pub fn rewrap(&self, new: &Secret) -> Result<usize, KeyError> {
        let (old, new) = (self.secret.clone(), new.clone());
        let outcome = self.db.run(move |pg| async move {
            let mut client = pg.checked_client().await?;
            let tx = client.transaction().await?;
            if !locked_with(&tx, &old).await? {
                tx.rollback().await?;
                return Ok(Checked::WrongSecret);
            }
            let rows = tx
                .query(&format!("SELECT {COLUMNS} FROM pseudonym_keys"), &[])
                .await?;
            let mut n = 0;
            for r in &rows {
                let r = row(r)?;
                let Some(key) = old.unwrap(r.from, r.to, &r.stored) else {
                    tx.rollback().await?;
                    return Ok(Checked::WrongSecret);
                };
                let nonce = wrap::nonce().map_err(|e| PgError::Settings(e.to_string()))?;
                let stored = new.wrap(r.from, r.to, &key, nonce);
                tx.execute(
                    "UPDATE pseudonym_keys SET nonce = $2, wrapped = $3, tag = $4 \
                     WHERE period_from = $1",
                    &[
                        &db_time(r.from),
                        &stored.nonce.as_slice(),
                        &stored.wrapped.as_slice(),
                        &stored.tag.as_slice(),
                    ],
                )
                .await?;
                n += 1;
            }
            tx.execute(
                "UPDATE pseudonym_key_secret SET secret_check = $1",
                &[&new.check().as_slice()],
            )
            .await?;
            tx.commit().await?;
            Ok(Checked::Done(n))
        })?;
        match outcome {
            Checked::Done(n) => Ok(n),
            Checked::WrongSecret => Err(KeyError::WrongSecret {
                what: "the check value of the keys' secret".into(),
            }),
        }
    }
}

impl From<PgError> for KeyError {
    fn from(e: PgError) -> KeyError {
        if e.is_unavailable() {
            KeyError::Unreachable(e.to_string())
        } else {
            KeyError::Shared(e.to_string())
        }
    }
}
