//! Policy: exemptions and the verdict. One pure function, [`decide`], turns the compiled rules, the envelope,
//! the analysed message and the scan result into a [`Decision`]. No I/O, no clock.
//!
//! - *Persoonlijk* (WereldKidz 6.8): mail labelled personal is spared from content rules.
//! - *Vertrouwenspersoon* (WereldKidz 6.9): mail of confidential counsellors is excluded from content rules.
//! - Malware scanning applies to all mail (WereldKidz 8.5).

use serde::Serialize;

use crate::rules::Hit;
use crate::scan::Detection;

/// Why a message skipped the content rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exemption {
    /// Labelled *persoonlijk* (`Sensitivity: Personal`/`Private`, or a subject label). WereldKidz 6.8.
    Persoonlijk,
    /// Sent by a *vertrouwenspersoon* (confidential counsellor). WereldKidz 6.9.
    Vertrouwenspersoon,
}

/// What happens to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Pass on to the next hop, unchanged.
    Pass,
    /// Send back to the sender (WereldKidz 6.5), do not deliver.
    Bounce,
    /// Infected: keep apart (WereldKidz 8.5), do not deliver.
    Quarantine,
    /// Cannot decide now (scanner down): temporary failure, Postfix retries.
    Tempfail,
}

/// The decision for one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub exempt: Option<Exemption>,
    pub score: f64,
    pub hits: Vec<Hit>,
    pub detections: Vec<Detection>,
    /// For [`Verdict::Tempfail`]: why (safe to log).
    pub tempfail_reason: Option<String>,
}
