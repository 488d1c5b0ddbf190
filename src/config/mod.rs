//! Configuration: one TOML file, or none at all (every key has an embedded default), validated once and
//! split into the section structs each component needs. No component sees clap types.
//!
//! Flow: CLI flags → [`Config::load`] (read, merge with defaults, validate each key) → [`Config::compile`]
//! (rules, scanner and templates compiled, host names and the next hop checked as the notice sender uses
//! them, a notice built once) → [`Compiled`]. `mailwacht config`, `serve` and a reload (SIGHUP) all run
//! `compile`, so what `config` accepts `serve` runs, and a reload that fails keeps the old configuration.
//! The enums the components act on live with them (`policy::Screen`, `bounce::BounceMode`, …); the
//! sections embed them.
//! Unknown keys are errors that name the file and line (`deny_unknown_fields`), so typos don't pass silently.
//!
//! Files: one per group of sections (`organisation`, `smtp` with `[milter]`, `policy` with `[rules]` and
//! `[scan]`, `bounce`, `traffic`, `storage` with `[quarantine]` and `[admin]`, `process` with `[runtime]`,
//! `[log]` and `[metrics]`), each the raw section as the file has it; `load` (text → sections, every key
//! checked, every problem with its line) and `compile` (sections → [`Compiled`], as ripgrep's `lowargs.rs`
//! → `hiargs.rs`). A new key goes into its section's file, and its check into `load` or `compile`.

mod bounce;
mod compile;
mod load;
mod organisation;
mod policy;
mod process;
mod smtp;
mod storage;
mod traffic;

use serde::{Deserialize, Serialize};

use crate::message::Limits;
pub use bounce::{Bounce, MAX_REMEMBER_DAYS};
pub use compile::{CompileError, Compiled};
pub use load::{ConfigError, Problem, EMBEDDED_NAME};
pub use organisation::{Exemptions, Organisation, SendAs};
pub use policy::{Policy, Rules, Scan};
pub use process::{LogFormat, LogSection, MetricsSection, RuntimeSection, MAX_WORKER_THREADS};
pub use smtp::{MilterSection, Smtp};
pub use storage::{Admin, QuarantineSection, Storage};
pub use traffic::{
    TrafficSection, CODE_INQUIRY_MAX_DAYS, CODE_MIN_K, CODE_NOTIFY_WITHIN_DAYS,
    CODE_RETENTION_DAYS, HARD_MAX_NOTIFY_WITHIN_DAYS, HARD_MAX_RETENTION_DAYS,
};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub organisation: Organisation,
    pub exemptions: Exemptions,
    pub smtp: Smtp,
    pub policy: Policy,
    pub rules: Rules,
    pub scan: Scan,
    pub bounce: Bounce,
    pub limits: Limits,
    pub storage: Storage,
    pub quarantine: QuarantineSection,
    pub admin: Admin,
    pub traffic: TrafficSection,
    pub metrics: MetricsSection,
    pub milter: MilterSection,
    pub runtime: RuntimeSection,
    pub log: LogSection,
    pub web: crate::web::settings::WebSection,
}

#[cfg(test)]
mod tests;
