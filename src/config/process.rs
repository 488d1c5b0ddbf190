//! How the daemon's process runs: `[runtime]` (worker threads), `[log]` (the shape of a log line) and
//! `[metrics]` (the Prometheus endpoint). Read at start; a reload keeps the running values.

use serde::{Deserialize, Serialize};

/// `[metrics]`: the Prometheus endpoint (aggregates only).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Where `/metrics` is served (a loopback `ip:port`); unset: off.
    pub listen: Option<String>,
}

/// `[log]`: how the daemon's log lines look. Read at start; a reload keeps the running value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `text` (one readable line per event) or `json` (one JSON object per line, the same fields).
    pub format: LogFormat,
}

/// The shape of a log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[runtime]`: the threads the daemon runs on. Read at start; a reload keeps the running value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSection {
    /// Threads that run the SMTP and milter sessions and the rule checks; 0: one per CPU core. Large
    /// messages, disk writes and other blocking work use a separate pool either way.
    pub worker_threads: usize,
}

impl Default for RuntimeSection {
    /// One thread: it handles thousands of messages a second, more than the Postfix in front of it, and
    /// uses less CPU per message than several (no hand-offs between threads), which leaves the other cores
    /// to Postfix and clamd (measured in BENCHMARKS.md).
    fn default() -> Self {
        RuntimeSection { worker_threads: 1 }
    }
}

/// Most worker threads accepted (a typo such as `10000` must not start ten thousand threads).
pub const MAX_WORKER_THREADS: usize = 256;
