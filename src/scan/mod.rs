//! Malware scanners (art. 8.5 of the WereldKidz protocol: security screening is fully automated).
//!
//! A scanner looks at the whole raw message and every decoded attachment, including archive members.
//! A scanner that cannot give an answer returns a [`ScanError`]; an error is never treated as clean.

use serde::{Deserialize, Serialize};

use crate::message::Analysis;
use crate::util::BoxFuture;

mod builtin;
pub mod clamd;

pub use builtin::{parse_hash_list, BuiltinScanner, HashListError, EMBEDDED_HASH_LIST};
pub use clamd::{ClamdAddr, ClamdScanner};

/// Which malware scanner runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanBackend {
    Builtin,
    Clamd,
}

/// The scanners' answer for one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ScanOutcome {
    Clean,
    Infected(Vec<Detection>),
}

/// One detection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// The signature name, e.g. `Eicar-Test-Signature`.
    pub name: String,
    /// Where it was found: `message`, `part 3`, or `part 3, archive member 2` (no file names: they are content).
    pub location: String,
}

/// A scanner that could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("scanner {scanner} is unreachable: {reason}")]
    Unreachable { scanner: String, reason: String },
    #[error("scanner {scanner} timed out after {seconds} s")]
    Timeout { scanner: String, seconds: u64 },
    #[error("scanner {scanner} failed: {reason}")]
    Failed { scanner: String, reason: String },
}

/// A malware scanner.
pub trait Scanner: Send + Sync {
    /// Short name for logs and detections (`builtin`, `clamd`).
    fn name(&self) -> &str;
    /// Scan the raw message and its analysed parts.
    fn scan<'a>(
        &'a self,
        raw: &'a [u8],
        analysis: &'a Analysis,
    ) -> BoxFuture<'a, Result<ScanOutcome, ScanError>>;
}
