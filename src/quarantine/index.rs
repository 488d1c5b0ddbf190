//! The quarantine index in sled: every sled call of the crate lives here, behind a typed API.
//!
//! The index only makes listing fast; the files in `quarantine/` are the truth and the index is rebuilt from
//! them when it is missing or behind (see [`super::Store::open`]). Layout (after sled's
//! `examples/structured.rs`, tag v0.34.7):
//!
//! - tree `by_time`: key = `received` as 8 bytes big-endian ++ id bytes (byte order is time order, so a
//!   range scan from a time is a prefix of the tree); value = [`VALUE_VERSION`] ++ the entry as JSON.
//! - tree `by_id`: key = id bytes; value = [`VALUE_VERSION`] ++ `received` as 8 bytes big-endian (to find
//!   the `by_time` key).
//!
//! sled is single-process (the daemon holds a lock) and its flush is not fully durable (upstream #1452):
//! nothing here is relied on for durability. Must not: hold message bytes, or be read without the files.

use std::path::Path;

use super::Entry;

/// First byte of every value; a future layout bumps it and the index is rebuilt.
pub const VALUE_VERSION: u8 = 1;

/// An index error: sled failed, or a value has an unknown layout.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("quarantine index {path}: {source}")]
    Sled { path: String, source: sled::Error },
    #[error("quarantine index {path} is in use by another process (is mailwacht serve running?)")]
    Locked { path: String },
    #[error("quarantine index value for {key:?} has an unknown layout")]
    Layout { key: String },
}

/// The sled index (see the module docs).
#[derive(Debug, Clone)]
pub struct Index {
    db: sled::Db,
    by_time: sled::Tree,
    by_id: sled::Tree,
    path: String,
}

/// How long [`Index::open`] waits for a lock that is being released.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

fn time_key(received: u64, id: &str) -> Vec<u8> {
    let mut key = received.to_be_bytes().to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

impl Index {
    /// Open (or create) the index at `path`.
    ///
    /// A lock held a moment longer by the background threads of an index this process just dropped (sled
    /// releases its file lock when the last of them lets go) is waited for, up to [`LOCK_GRACE`]; a lock
    /// another process holds is an error after that.
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        let name = path.display().to_string();
        let deadline = std::time::Instant::now() + LOCK_GRACE;
        let db = loop {
            match sled::Config::new().path(path).open() {
                Ok(db) => break db,
                Err(source)
                    if crate::storage::classify_sled(&source)
                        == crate::storage::OpenFailure::Locked =>
                {
                    if std::time::Instant::now() >= deadline {
                        return Err(IndexError::Locked { path: name });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(source) => return Err(IndexError::Sled { path: name, source }),
            }
        };
        let err = |source| IndexError::Sled {
            path: name.clone(),
            source,
        };
        let by_time = db.open_tree("by_time").map_err(err)?;
        let by_id = db.open_tree("by_id").map_err(err)?;
        Ok(Index {
            db,
            by_time,
            by_id,
            path: name,
        })
    }

    fn sled_err(&self, source: sled::Error) -> IndexError {
        IndexError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    /// Insert or replace an entry.
    pub fn put(&self, entry: &Entry) -> Result<(), IndexError> {
        if let Some(old) = self.received_of(&entry.id)? {
            if old != entry.received {
                self.by_time
                    .remove(time_key(old, &entry.id))
                    .map_err(|e| self.sled_err(e))?;
            }
        }
        let mut value = vec![VALUE_VERSION];
        value.extend(serde_json::to_vec(entry).unwrap_or_default());
        self.by_time
            .insert(time_key(entry.received, &entry.id), value)
            .map_err(|e| self.sled_err(e))?;
        let mut idv = vec![VALUE_VERSION];
        idv.extend_from_slice(&entry.received.to_be_bytes());
        self.by_id
            .insert(entry.id.as_bytes(), idv)
            .map_err(|e| self.sled_err(e))?;
        Ok(())
    }

    fn received_of(&self, id: &str) -> Result<Option<u64>, IndexError> {
        let Some(v) = self
            .by_id
            .get(id.as_bytes())
            .map_err(|e| self.sled_err(e))?
        else {
            return Ok(None);
        };
        match v.split_first() {
            Some((&VALUE_VERSION, rest)) => {
                let bytes: [u8; 8] = rest.try_into().map_err(|_| IndexError::Layout {
                    key: id.to_string(),
                })?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
            _ => Err(IndexError::Layout {
                key: id.to_string(),
            }),
        }
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Result<Option<Entry>, IndexError> {
        let Some(received) = self.received_of(id)? else {
            return Ok(None);
        };
        let Some(v) = self
            .by_time
            .get(time_key(received, id))
            .map_err(|e| self.sled_err(e))?
        else {
            return Ok(None);
        };
        decode(id, &v).map(Some)
    }

    /// Remove an entry (no error when absent).
    pub fn remove(&self, id: &str) -> Result<(), IndexError> {
        if let Some(received) = self.received_of(id)? {
            self.by_time
                .remove(time_key(received, id))
                .map_err(|e| self.sled_err(e))?;
        }
        self.by_id
            .remove(id.as_bytes())
            .map_err(|e| self.sled_err(e))?;
        Ok(())
    }

    /// Entries received at or after `since` (seconds since the epoch), oldest first.
    pub fn since(&self, since: u64) -> Result<Vec<Entry>, IndexError> {
        let mut out = Vec::new();
        for item in self.by_time.range(since.to_be_bytes().to_vec()..) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            out.push(decode(&key_id(&k), &v)?);
        }
        Ok(out)
    }

    /// Entries received before `before`, oldest first (for retention).
    pub fn before(&self, before: u64) -> Result<Vec<Entry>, IndexError> {
        let mut out = Vec::new();
        for item in self.by_time.range(..before.to_be_bytes().to_vec()) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            out.push(decode(&key_id(&k), &v)?);
        }
        Ok(out)
    }

    /// Every id in the index, sorted.
    pub fn ids(&self) -> Result<Vec<String>, IndexError> {
        let mut ids = Vec::new();
        for item in self.by_id.iter() {
            let (k, _) = item.map_err(|e| self.sled_err(e))?;
            ids.push(String::from_utf8_lossy(&k).into_owned());
        }
        ids.sort();
        Ok(ids)
    }

    /// Replace the whole index with `entries` (the rebuild from the files).
    pub fn replace_all(&self, entries: &[Entry]) -> Result<(), IndexError> {
        self.by_time.clear().map_err(|e| self.sled_err(e))?;
        self.by_id.clear().map_err(|e| self.sled_err(e))?;
        for e in entries {
            self.put(e)?;
        }
        Ok(())
    }

    /// Ask sled to write its buffers (not fully durable, see the module docs; the files are).
    pub async fn flush(&self) -> Result<(), IndexError> {
        self.db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(|e| self.sled_err(e))
    }
}

/// The id part of a `by_time` key (for error messages).
fn key_id(key: &[u8]) -> String {
    String::from_utf8_lossy(key.get(8..).unwrap_or_default()).into_owned()
}

fn decode(key: &str, value: &[u8]) -> Result<Entry, IndexError> {
    match value.split_first() {
        Some((&VALUE_VERSION, json)) => {
            serde_json::from_slice(json).map_err(|_| IndexError::Layout {
                key: key.to_string(),
            })
        }
        _ => Err(IndexError::Layout {
            key: key.to_string(),
        }),
    }
}
