//! Wrapping a pseudonym key for the shared database (`[traffic] key_secret_file`): the key is stored only
//! encrypted and authenticated under a secret every node reads from a file or systemd credential, so a dump
//! or backup of the database holds records and wrapped keys, useless without the secret; and the secret
//! alone yields no key (keys stay random, never derived from it).
//!
//! The construction is encrypt-then-MAC with the HMAC-SHA256 the pseudonyms already use (no cipher crate):
//! - `pad = HMAC(secret, "mailwacht pseudonym key wrap" ‖ 0 ‖ nonce ‖ from ‖ to)`, `wrapped = key ⊕ pad`
//!   (HMAC as a pseudorandom function gives a one-time pad for the 32-byte key, fresh per random nonce);
//! - `tag = HMAC(secret, "mailwacht pseudonym key tag" ‖ 0 ‖ nonce ‖ from ‖ to ‖ wrapped)`, checked in
//!   constant time before anything is unwrapped, so a row altered, moved to another period or wrapped under
//!   another secret is refused rather than read as a different key;
//! - `from` and `to` as 8 bytes big-endian, the nonce 16 random bytes; the labels differ before their
//!   fixed-length fields begin, so no input of one use is an input of the other.
//!
//! [`Secret::check`] is a MAC of a fixed label: stored once in the database, it lets a node find out that
//! its secret is not the other nodes' before it makes a key they cannot open.
//!
//! Must not: do I/O beyond reading the secret's file, log or show the secret, derive a key from it.

use std::path::Path;

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The shortest secret accepted, in bytes.
pub const SECRET_MIN: usize = 32;

const WRAP: &[u8] = b"mailwacht pseudonym key wrap";
const TAG: &[u8] = b"mailwacht pseudonym key tag";
const CHECK: &[u8] = b"mailwacht pseudonym key secret check";

/// The secret that wraps the keys (`[traffic] key_secret_file`), keyed into HMAC-SHA256 once.
#[derive(Clone)]
pub struct Secret {
    mac: HmacSha256,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `[traffic] key_secret_file` cannot be used. The messages name the file, never its contents.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("[traffic] key_secret_file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "[traffic] key_secret_file {path} holds {len} bytes, minder dan / fewer than {SECRET_MIN}: maak \
         een geheim met / make one with `head -c 32 /dev/urandom > {path}` (the same file on every node)"
    )]
    Short { path: String, len: usize },
}

/// A key as stored: the nonce, the key XOR pad, and the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    /// Random per row.
    pub nonce: [u8; 16],
    /// The key XOR the pad.
    pub wrapped: [u8; 32],
    /// The MAC over nonce, period and `wrapped`.
    pub tag: [u8; 32],
}

impl Secret {
    /// A secret from its bytes: at least [`SECRET_MIN`] of them (`path` names it in the error).
    pub fn from_bytes(bytes: &[u8], path: &str) -> Result<Secret, SecretError> {
        if bytes.len() < SECRET_MIN {
            return Err(SecretError::Short {
                path: path.to_string(),
                len: bytes.len(),
            });
        }
        // HMAC takes keys of any length.
        let mac =
            <HmacSha256 as KeyInit>::new_from_slice(bytes).map_err(|_| SecretError::Read {
                path: path.to_string(),
                reason: "not usable as an HMAC key".into(),
            })?;
        Ok(Secret { mac })
    }

    /// Read the secret from `path`: absolute as is, relative as a systemd credential in
    /// `$CREDENTIALS_DIRECTORY` (`LoadCredential=`). Every byte of the file is the secret (a trailing
    /// newline too: random bytes may end in one), so give every node the same file.
    pub fn read(path: &Path) -> Result<Secret, SecretError> {
        let name = path.display().to_string();
        let file = crate::storage::postgres::credential_path(path, "[traffic] key_secret_file")
            .map_err(|e| SecretError::Read {
                path: name.clone(),
                reason: e.to_string(),
            })?;
        let bytes = std::fs::read(&file).map_err(|e| SecretError::Read {
            path: file.display().to_string(),
            reason: e.to_string(),
        })?;
        Secret::from_bytes(&bytes, &file.display().to_string())
    }

    fn pad(&self, nonce: &[u8; 16], from: u64, to: u64) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(WRAP);
        mac.update(&[0]);
        mac.update(nonce);
        mac.update(&from.to_be_bytes());
        mac.update(&to.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    fn tagger(&self, nonce: &[u8; 16], from: u64, to: u64, wrapped: &[u8; 32]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(TAG);
        mac.update(&[0]);
        mac.update(nonce);
        mac.update(&from.to_be_bytes());
        mac.update(&to.to_be_bytes());
        mac.update(wrapped);
        mac
    }

    /// Wrap `key` of the period `[from, to)` under a fresh random `nonce`.
    pub fn wrap(&self, from: u64, to: u64, key: &[u8; 32], nonce: [u8; 16]) -> Wrapped {
        let pad = self.pad(&nonce, from, to);
        let mut wrapped = [0u8; 32];
        for (w, (k, p)) in wrapped.iter_mut().zip(key.iter().zip(pad.iter())) {
            *w = k ^ p;
        }
        let tag = self
            .tagger(&nonce, from, to, &wrapped)
            .finalize()
            .into_bytes()
            .into();
        Wrapped {
            nonce,
            wrapped,
            tag,
        }
    }

    /// The key of `[from, to)`, when `stored` was wrapped under this secret for this period (the tag is
    /// checked in constant time first); `None` otherwise.
    pub fn unwrap(&self, from: u64, to: u64, stored: &Wrapped) -> Option<[u8; 32]> {
        self.tagger(&stored.nonce, from, to, &stored.wrapped)
            .verify_slice(&stored.tag)
            .ok()?;
        let pad = self.pad(&stored.nonce, from, to);
        let mut key = [0u8; 32];
        for (k, (w, p)) in key.iter_mut().zip(stored.wrapped.iter().zip(pad.iter())) {
            *k = w ^ p;
        }
        Some(key)
    }

    /// A value that tells secrets apart without revealing them: HMAC(secret, fixed label).
    pub fn check(&self) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(CHECK);
        mac.finalize().into_bytes().into()
    }

    /// True when `stored` is this secret's [`Secret::check`] (compared in constant time).
    pub fn matches(&self, stored: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(CHECK);
        mac.verify_slice(stored).is_ok()
    }
}

/// 16 bytes from the OS random source.
pub fn nonce() -> Result<[u8; 16], std::io::Error> {
    let mut n = [0u8; 16];
    getrandom::fill(&mut n).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> Secret {
        Secret::from_bytes(&[byte; 32], "test").expect("secret")
    }

    #[test]
    fn a_wrapped_key_opens_only_under_its_secret_and_period() {
        let key = [7u8; 32];
        let s = secret(1);
        let w = s.wrap(100, 200, &key, [9; 16]);
        assert_ne!(w.wrapped, key, "not stored in the clear");
        assert_eq!(s.unwrap(100, 200, &w), Some(key));
        assert_eq!(secret(2).unwrap(100, 200, &w), None, "another secret");
        assert_eq!(s.unwrap(100, 300, &w), None, "moved to another period");
        assert_eq!(s.unwrap(0, 200, &w), None);
        for i in 0..32 {
            let mut bad = w.clone();
            bad.wrapped[i] ^= 1;
            assert_eq!(s.unwrap(100, 200, &bad), None, "wrapped byte {i}");
            let mut bad = w.clone();
            bad.tag[i] ^= 0x80;
            assert_eq!(s.unwrap(100, 200, &bad), None, "tag byte {i}");
        }
        let mut bad = w.clone();
        bad.nonce[0] ^= 1;
        assert_eq!(s.unwrap(100, 200, &bad), None, "nonce");
    }

    #[test]
    fn fresh_nonces_give_unrelated_wrappings_of_one_key() {
        let key = [7u8; 32];
        let s = secret(1);
        let (a, b) = (nonce().expect("n"), nonce().expect("n"));
        assert_ne!(a, b);
        let (wa, wb) = (s.wrap(0, 10, &key, a), s.wrap(0, 10, &key, b));
        assert_ne!(wa.wrapped, wb.wrapped);
        // XOR of two wrappings is not the XOR of the keys (zero here): the pads differ.
        assert!(wa.wrapped.iter().zip(wb.wrapped).any(|(x, y)| x != &y));
        assert_eq!(s.unwrap(0, 10, &wb), Some(key));
    }

    #[test]
    fn the_check_tells_secrets_apart_and_short_secrets_are_refused() {
        assert!(secret(1).matches(&secret(1).check()));
        assert!(!secret(2).matches(&secret(1).check()));
        assert!(!secret(1).matches(&[0; 31]));
        let e = Secret::from_bytes(&[1; 31], "/etc/mailwacht/key-secret").expect_err("short");
        let text = e.to_string();
        assert!(text.contains("key_secret_file") && text.contains("head -c 32 /dev/urandom"));
        assert!(format!("{:?}", secret(3)) == "Secret(..)");
    }

    #[test]
    fn a_secret_file_is_read_whole() {
        let tmp = tempfile::tempdir().expect("tmp");
        let file = tmp.path().join("secret");
        let mut bytes = vec![5u8; 31];
        bytes.push(b'\n');
        std::fs::write(&file, &bytes).expect("write");
        let a = Secret::read(&file).expect("32 bytes with the newline");
        assert_eq!(
            a.check(),
            Secret::from_bytes(&bytes, "x").expect("s").check()
        );
        std::fs::write(&file, [5u8; 10]).expect("write");
        assert!(matches!(
            Secret::read(&file),
            Err(SecretError::Short { len: 10, .. })
        ));
        let e = Secret::read(&tmp.path().join("missing")).expect_err("missing");
        assert!(e.to_string().contains("key_secret_file"), "{e}");
    }
}
