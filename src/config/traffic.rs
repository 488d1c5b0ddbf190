//! `[traffic]`: *verkeersgegevens* (traffic records), auditor summaries and targeted inquiries; the codes of
//! conduct's bounds and the guardrails beyond which only a declared deviation goes.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Config;

/// `[traffic]`: *verkeersgegevens* (traffic records), auditor summaries and targeted inquiries.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficSection {
    /// Days a traffic record is kept (WereldKidz 6.7: logging data no longer than 28 days).
    pub retention_days: u64,
    /// A summary cell involving fewer distinct senders than this is suppressed (SOML/ProCon 8.2).
    pub k_anonymity: u64,
    /// The one period unit of all summaries: whole ISO weeks (default) or days, UTC.
    pub summary_period: crate::traffic::summary::Unit,
    /// Longest window of a targeted inquiry, in days (SOML/ProCon 8.3: a fixed, short period); also the
    /// most inquiry days on one person within any `max(retention_days, 2 × inquiry_max_days)` days.
    pub inquiry_max_days: u64,
    /// Days after an inquiry's end within which the person must be informed (WereldKidz 6.6); later, `audit
    /// list` warns.
    pub notify_within_days: u64,
    /// Where the pseudonym keys live; never inside `[storage] data_dir`. Default: a sibling of the data
    /// directory named `<data_dir>-keys` (`/var/lib/mailwacht` → `/var/lib/mailwacht-keys`).
    pub key_dir: Option<PathBuf>,
    // the shared pseudonym keys (issue 17).
    /// With `[storage] backend = "postgres"`, where it is required: the file holding the secret that wraps
    /// the pseudonym keys in the shared database, the same file on every node (at least 32 bytes, e.g.
    /// `head -c 32 /dev/urandom`). Absolute, or a systemd credential name read from
    /// `$CREDENTIALS_DIRECTORY` (relative). Its contents are never logged or shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_secret_file: Option<PathBuf>,
    /// Why this installation sets privacy settings beyond the codes of conduct (see
    /// [`Config::code_deviations`]). Without it such settings are refused; with it they are accepted and
    /// warned about at every start.
    pub code_of_conduct_deviation: Option<String>,
}

impl Default for TrafficSection {
    fn default() -> Self {
        TrafficSection {
            retention_days: 28,
            k_anonymity: 5,
            summary_period: crate::traffic::summary::Unit::Week,
            inquiry_max_days: 14,
            notify_within_days: 14,
            key_dir: None,
            key_secret_file: None,
            code_of_conduct_deviation: None,
        }
    }
}

/// The codes of conduct's bounds for the `[traffic]` privacy settings: beyond them only with
/// `[traffic] code_of_conduct_deviation`. Longest retention (WereldKidz 6.7).
pub const CODE_RETENTION_DAYS: u64 = 28;
/// Smallest *k* (SOML/ProCon 8.2: aggregates not traceable to a person; 5 is the usual threshold of
/// statistical disclosure control).
pub const CODE_MIN_K: u64 = 5;
/// Longest inquiry window (SOML/ProCon 8.3: a fixed, short period).
pub const CODE_INQUIRY_MAX_DAYS: u64 = 14;
/// Longest term to inform the person after an inquiry (WereldKidz 6.6: as soon as possible).
pub const CODE_NOTIFY_WITHIN_DAYS: u64 = 28;
/// Bounds that hold even with a deviation: records at most this many days…
pub const HARD_MAX_RETENTION_DAYS: u64 = 90;
/// …and the person informed within this many days. (*k* only has to be at least 1 then: a test
/// installation may declare `k_anonymity = 1` to see single senders' figures, warned about at every start.)
pub const HARD_MAX_NOTIFY_WITHIN_DAYS: u64 = 90;

impl Config {
    /// The `[traffic]` settings beyond the codes of conduct's bounds: the key and why (Dutch, then English),
    /// e.g. `("retention_days", "60 gaat verder dan de gedragscode (...) / goes beyond ...")`. Accepted only
    /// with `[traffic] code_of_conduct_deviation`, and then warned about at every start.
    pub fn code_deviations(&self) -> Vec<(&'static str, String)> {
        let t = &self.traffic;
        let mut out = Vec::new();
        let mut beyond = |key: &'static str, value: u64, nl: String, en: String| {
            out.push((
                key,
                format!("{value} gaat verder dan de gedragscode ({nl}) / {value} goes beyond the code of conduct ({en})"),
            ))
        };
        if t.retention_days > CODE_RETENTION_DAYS {
            beyond(
                "retention_days",
                t.retention_days,
                format!("hoogstens {CODE_RETENTION_DAYS} dagen, WereldKidz 6.7"),
                format!("at most {CODE_RETENTION_DAYS} days, WereldKidz 6.7"),
            );
        }
        if t.k_anonymity < CODE_MIN_K {
            beyond(
                "k_anonymity",
                t.k_anonymity,
                format!("minstens {CODE_MIN_K} afzenders per cel, SOML/ProCon 8.2"),
                format!("at least {CODE_MIN_K} senders per cell, SOML/ProCon 8.2"),
            );
        }
        if t.inquiry_max_days > CODE_INQUIRY_MAX_DAYS {
            beyond(
                "inquiry_max_days",
                t.inquiry_max_days,
                format!("hoogstens {CODE_INQUIRY_MAX_DAYS} dagen, SOML/ProCon 8.3"),
                format!("at most {CODE_INQUIRY_MAX_DAYS} days, SOML/ProCon 8.3"),
            );
        }
        if t.notify_within_days > CODE_NOTIFY_WITHIN_DAYS {
            beyond(
                "notify_within_days",
                t.notify_within_days,
                format!(
                    "hoogstens {CODE_NOTIFY_WITHIN_DAYS} dagen, WereldKidz 6.6: zo snel mogelijk"
                ),
                format!(
                    "at most {CODE_NOTIFY_WITHIN_DAYS} days, WereldKidz 6.6: as soon as possible"
                ),
            );
        }
        out
    }

    /// The `[traffic]` guardrails: hard bounds always, the codes of conduct's bounds unless a deviation is
    /// declared (with a reason of substance).
    pub(super) fn validate_traffic(&self) -> Result<(), (&'static str, String)> {
        let t = &self.traffic;
        for (key, value) in [
            ("retention_days", t.retention_days),
            ("k_anonymity", t.k_anonymity),
            ("inquiry_max_days", t.inquiry_max_days),
            ("notify_within_days", t.notify_within_days),
        ] {
            if value == 0 {
                return Err((key, "must be greater than 0".into()));
            }
        }
        if t.retention_days > HARD_MAX_RETENTION_DAYS {
            return Err((
                "retention_days",
                format!(
                    "{} days is more than the {HARD_MAX_RETENTION_DAYS} days allowed at all (WereldKidz 6.7: {CODE_RETENTION_DAYS})",
                    t.retention_days
                ),
            ));
        }
        if t.inquiry_max_days > t.retention_days {
            return Err((
                "inquiry_max_days",
                format!(
                    "{} is longer than retention_days ({})",
                    t.inquiry_max_days, t.retention_days
                ),
            ));
        }
        if t.notify_within_days > HARD_MAX_NOTIFY_WITHIN_DAYS {
            return Err((
                "notify_within_days",
                format!(
                    "{} days is more than the {HARD_MAX_NOTIFY_WITHIN_DAYS} days allowed at all (WereldKidz 6.6: as soon as possible)",
                    t.notify_within_days
                ),
            ));
        }
        if let Some(dir) = &t.key_dir {
            let data = &self.storage.data_dir;
            if dir.starts_with(data) || data.starts_with(dir) {
                return Err((
                    "key_dir",
                    format!(
                        "{} lies inside or around [storage] data_dir {}: the pseudonym keys must be kept apart from the records",
                        dir.display(),
                        data.display()
                    ),
                ));
            }
        }
        // the shared pseudonym keys (issue 17).
        match (self.storage.backend, &t.key_secret_file) {
            (crate::storage::Backend::Postgres, None) => return Err((
                "key_secret_file",
                "is vereist met [storage] backend = \"postgres\": het geheim waarmee de pseudoniemsleutels \
                 in de gedeelde database versleuteld worden, op elke node hetzelfde / is required with \
                 [storage] backend = \"postgres\": the secret that wraps the pseudonym keys in the shared \
                 database, the same on every node. Make one with `head -c 32 /dev/urandom > \
                 /etc/mailwacht/key-secret` (mode 0600, copied to every node) and set key_secret_file = \
                 \"/etc/mailwacht/key-secret\", or load it as a systemd credential \
                 (LoadCredential=key-secret:/etc/mailwacht/key-secret, key_secret_file = \"key-secret\")"
                    .into(),
            )),
            (crate::storage::Backend::Embedded, Some(_)) => return Err((
                "key_secret_file",
                "is only used with [storage] backend = \"postgres\" (backend is \"embedded\": the keys are \
                 files in key_dir)"
                    .into(),
            )),
            _ => {}
        }
        match &t.code_of_conduct_deviation {
            Some(why) if why.chars().filter(|c| !c.is_whitespace()).count() < 10 => Err((
                "code_of_conduct_deviation",
                format!("{why:?} is not a reason: say who decided what and why (at least 10 characters)"),
            )),
            Some(_) => Ok(()),
            None => match self.code_deviations().into_iter().next() {
                Some((key, why)) => Err((
                    key,
                    format!(
                        "{why}; alleen met [traffic] code_of_conduct_deviation = \"<besluit en reden>\" / only with [traffic] code_of_conduct_deviation = \"<decision and reason>\""
                    ),
                )),
                None => Ok(()),
            },
        }
    }
}
