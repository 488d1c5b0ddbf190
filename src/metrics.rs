//! Prometheus metrics: aggregates only (messages by verdict, bytes, scan and relay latency, scanner and
//! next-hop errors, open connections), served as text on `/metrics` when `[metrics] listen` is set — a
//! loopback address only, checked when the configuration loads.
//!
//! No counts per rule category: a scraped counter dates every increment to within a scrape interval, so
//! `racistisch` going from 0 to 1 would say when one person's message was refused for racism, a figure the
//! k-anonymous summaries ([`crate::traffic::summary`]) suppress. Category counts are in the summaries only.
//!
//! The counters are process-wide atomics, so the pipeline and the SMTP server record with one call and no
//! handle. The HTTP endpoint is a few lines of tokio: it answers `GET /metrics` and nothing else.
//! A leaf: labels arrive as `&'static str` from the caller (the verdict names are the policy's), so this
//! module uses nothing else in the crate and every layer may record.
//! Beside the counters: build info, the last configuration load, the stores' sizes (set by the daemon every
//! minute) and the standard `process_*` metrics read from `/proc/self` at each scrape.
//! Must not: carry any address, subject, file name, rule category or other per-person value in a label.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Histogram bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A latency histogram (cumulative on output, as Prometheus wants).
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds (atomics have no f64).
    sum_micros: AtomicU64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            if let Some(b) = self.buckets.get(i) {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, n) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// All metrics of the process.
struct Metrics {
    /// Messages per verdict label, in the order the labels were declared ([`declare_verdicts`]) or first
    /// seen. At most [`MAX_VERDICTS`] labels; the labels are the policy's verdict names, never input.
    verdicts: Mutex<Vec<(&'static str, u64)>>,
    bytes: AtomicU64,
    scan: Histogram,
    relay: Histogram,
    scan_errors: AtomicU64,
    next_hop_errors: AtomicU64,
    connections: AtomicI64,
    traffic_dropped: AtomicU64,
    /// Messages monitor mode let through that enforcing would have bounced.
    monitored_bounce: AtomicU64,
    /// Alerts to ICT about quarantined mail: [sent, failed].
    alerts: [AtomicU64; 2],
    /// 1 when the last configuration load (start or SIGHUP) succeeded, else 0.
    reload_ok: AtomicU64,
    /// When the configuration last loaded successfully, seconds since the epoch.
    reload_time: AtomicU64,
    /// Sizes of the stores, as last measured ([`stores`]): quarantine entries and bytes, traffic records
    /// and the traffic database's bytes on disk.
    stores: [AtomicU64; 4],
    /// Damaged stores moved aside and started afresh, per [`RecoveredStore`].
    recovered: [AtomicU64; 2],
}

/// A store that is moved aside and started afresh when it is damaged, rather than stop mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveredStore {
    /// `traffic.sled`: a fresh database, the old records kept aside.
    Traffic,
    /// `quarantine.sled`: rebuilt from the quarantine files.
    QuarantineIndex,
}

impl RecoveredStore {
    const ALL: [RecoveredStore; 2] = [RecoveredStore::Traffic, RecoveredStore::QuarantineIndex];

    fn label(self) -> &'static str {
        match self {
            RecoveredStore::Traffic => "traffic",
            RecoveredStore::QuarantineIndex => "quarantine_index",
        }
    }
}

/// Most distinct verdict labels kept (there are four; a bound so a mistake cannot grow the list).
const MAX_VERDICTS: usize = 16;

static METRICS: Metrics = Metrics {
    verdicts: Mutex::new(Vec::new()),
    bytes: AtomicU64::new(0),
    scan: Histogram::new(),
    relay: Histogram::new(),
    scan_errors: AtomicU64::new(0),
    next_hop_errors: AtomicU64::new(0),
    connections: AtomicI64::new(0),
    traffic_dropped: AtomicU64::new(0),
    monitored_bounce: AtomicU64::new(0),
    alerts: [const { AtomicU64::new(0) }; 2],
    reload_ok: AtomicU64::new(0),
    reload_time: AtomicU64::new(0),
    stores: [const { AtomicU64::new(0) }; 4],
    recovered: [const { AtomicU64::new(0) }; 2],
};

/// Show these verdict labels from the start, at zero until a message gets them (a scrape then sees every
/// series, not only the ones that happened).
pub fn declare_verdicts(labels: &[&'static str]) {
    let mut verdicts = METRICS.verdicts.lock().unwrap_or_else(|e| e.into_inner());
    for label in labels {
        count_verdict(&mut verdicts, label, 0);
    }
}

/// Count one handled message: its verdict label and size (not its categories, see the module docs).
pub fn message(verdict: &'static str, size: usize) {
    let mut verdicts = METRICS.verdicts.lock().unwrap_or_else(|e| e.into_inner());
    count_verdict(&mut verdicts, verdict, 1);
    drop(verdicts);
    METRICS.bytes.fetch_add(size as u64, Ordering::Relaxed);
}

fn count_verdict(verdicts: &mut Vec<(&'static str, u64)>, label: &'static str, n: u64) {
    if let Some((_, count)) = verdicts.iter_mut().find(|(l, _)| *l == label) {
        *count += n;
    } else if verdicts.len() < MAX_VERDICTS {
        verdicts.push((label, n));
    }
}

/// Monitor mode let a message through that enforcing every rule would have bounced (`[policy] mode`, a
/// rule's `mode`).
pub fn monitored_bounce() {
    METRICS.monitored_bounce.fetch_add(1, Ordering::Relaxed);
}

/// An alert to ICT about quarantined mail was handed to the next hop (`true`) or not.
pub fn alert(sent: bool) {
    METRICS.alerts[usize::from(!sent)].fetch_add(1, Ordering::Relaxed);
}

/// The configuration was loaded (at start or on SIGHUP): `ok` false when a reload failed and the old
/// configuration stayed; `at` is now, in seconds since the epoch.
pub fn config_loaded(ok: bool, at: u64) {
    METRICS.reload_ok.store(u64::from(ok), Ordering::Relaxed);
    if ok {
        METRICS.reload_time.store(at, Ordering::Relaxed);
    }
}

/// The sizes of the stores now (measured by the daemon every minute).
pub fn stores(
    quarantine_entries: u64,
    quarantine_bytes: u64,
    traffic_records: u64,
    traffic_bytes: u64,
) {
    let values = [
        quarantine_entries,
        quarantine_bytes,
        traffic_records,
        traffic_bytes,
    ];
    for (gauge, value) in METRICS.stores.iter().zip(values) {
        gauge.store(value, Ordering::Relaxed);
    }
}

/// How long analysing and scanning one message took.
pub fn scan_latency(d: Duration) {
    METRICS.scan.observe(d);
}

/// How long relaying one message to the next hop took.
pub fn relay_latency(d: Duration) {
    METRICS.relay.observe(d);
}

/// The malware scanner failed.
pub fn scan_error() {
    METRICS.scan_errors.fetch_add(1, Ordering::Relaxed);
}

/// The next hop could not be reached or failed mid-transaction.
pub fn next_hop_error() {
    METRICS.next_hop_errors.fetch_add(1, Ordering::Relaxed);
}

/// A traffic record was dropped (queue full or write failed).
pub fn traffic_dropped() {
    METRICS.traffic_dropped.fetch_add(1, Ordering::Relaxed);
}

/// A damaged store was moved aside and started afresh.
pub fn store_recovered(store: RecoveredStore) {
    METRICS.recovered[store as usize].fetch_add(1, Ordering::Relaxed);
}

// Web console (issue 16): single sign-on headers that came from an address not in `[web] trusted_proxies`.
static WEB_SSO_IGNORED: AtomicU64 = AtomicU64::new(0);

/// A single sign-on header from an untrusted address was ignored.
pub fn web_sso_header_ignored() {
    WEB_SSO_IGNORED.fetch_add(1, Ordering::Relaxed);
}

/// An open SMTP connection; counted while the value lives.
#[derive(Debug)]
pub struct Connection(());

impl Connection {
    /// Count a connection as open until the returned guard is dropped.
    pub fn open() -> Connection {
        METRICS.connections.fetch_add(1, Ordering::Relaxed);
        Connection(())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        METRICS.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The metrics in Prometheus text exposition format 0.0.4.
pub fn render() -> String {
    let m = &METRICS;
    let mut out = String::new();
    out.push_str("# HELP mailwacht_messages_total Messages handled, by verdict.\n# TYPE mailwacht_messages_total counter\n");
    let verdicts = m.verdicts.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for (v, c) in verdicts {
        let _ = writeln!(out, "mailwacht_messages_total{{verdict=\"{v}\"}} {c}");
    }
    for (name, help, kind, value) in [
        (
            "mailwacht_message_bytes_total",
            "Bytes of handled messages.",
            "counter",
            m.bytes.load(Ordering::Relaxed) as i64,
        ),
        (
            "mailwacht_scan_errors_total",
            "Malware scanner failures.",
            "counter",
            m.scan_errors.load(Ordering::Relaxed) as i64,
        ),
        (
            "mailwacht_next_hop_errors_total",
            "Next hop unavailable or failed.",
            "counter",
            m.next_hop_errors.load(Ordering::Relaxed) as i64,
        ),
        (
            "mailwacht_traffic_records_dropped_total",
            "Traffic records dropped (queue full or write failed).",
            "counter",
            m.traffic_dropped.load(Ordering::Relaxed) as i64,
        ),
        (
            "mailwacht_web_sso_header_ignored_total",
            "Web console single sign-on headers ignored: not from a trusted proxy.",
            "counter",
            WEB_SSO_IGNORED.load(Ordering::Relaxed) as i64,
        ),
        (
            "mailwacht_open_connections",
            "SMTP connections open now.",
            "gauge",
            m.connections.load(Ordering::Relaxed),
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP mailwacht_monitored_messages_total Messages monitor mode let through, by the verdict enforcing would have given.\n\
         # TYPE mailwacht_monitored_messages_total counter\n\
         mailwacht_monitored_messages_total{{would=\"bounce\"}} {}",
        m.monitored_bounce.load(Ordering::Relaxed)
    );
    out.push_str("# HELP mailwacht_alerts_total Alerts to ICT about quarantined mail, by result.\n# TYPE mailwacht_alerts_total counter\n");
    for (result, count) in ["sent", "failed"].iter().zip(&m.alerts) {
        let _ = writeln!(
            out,
            "mailwacht_alerts_total{{result=\"{result}\"}} {}",
            count.load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP mailwacht_store_recovered_total Damaged stores moved aside and started afresh.\n# TYPE mailwacht_store_recovered_total counter\n");
    for store in RecoveredStore::ALL {
        let _ = writeln!(
            out,
            "mailwacht_store_recovered_total{{store=\"{}\"}} {}",
            store.label(),
            m.recovered[store as usize].load(Ordering::Relaxed)
        );
    }
    let [q_entries, q_bytes, t_records, t_bytes] =
        m.stores.each_ref().map(|g| g.load(Ordering::Relaxed));
    for (name, help, kind, value) in [
        (
            "mailwacht_config_last_reload_successful",
            "Whether the last configuration load (start or SIGHUP) succeeded.",
            "gauge",
            m.reload_ok.load(Ordering::Relaxed),
        ),
        (
            "mailwacht_config_last_reload_success_timestamp_seconds",
            "When the configuration last loaded successfully.",
            "gauge",
            m.reload_time.load(Ordering::Relaxed),
        ),
        (
            "mailwacht_quarantine_messages",
            "Messages in the quarantine.",
            "gauge",
            q_entries,
        ),
        (
            "mailwacht_quarantine_bytes",
            "Bytes of the messages in the quarantine.",
            "gauge",
            q_bytes,
        ),
        (
            "mailwacht_traffic_records",
            "Traffic records (verkeersgegevens) kept.",
            "gauge",
            t_records,
        ),
        (
            "mailwacht_traffic_store_bytes",
            "Size of the traffic database on disk.",
            "gauge",
            t_bytes,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP mailwacht_build_info The running version.\n# TYPE mailwacht_build_info gauge\n\
         mailwacht_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    process::render(&mut out);
    m.scan.render(
        &mut out,
        "mailwacht_scan_seconds",
        "Time to scan one message and decide (after MIME analysis).",
    );
    m.relay.render(
        &mut out,
        "mailwacht_relay_seconds",
        "Time to relay one message to the next hop.",
    );
    out
}

/// The standard `process_*` metrics from `/proc/self` (Linux), as Prometheus client libraries name them.
/// A value that cannot be read is left out, never guessed.
mod process {
    use std::fmt::Write as _;

    pub(super) fn render(out: &mut String) {
        let mut metric = |name: &str, help: &str, kind: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let ticks = clock_ticks();
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        // The fields after the command name (which may hold spaces), from field 3 (`state`) on.
        let fields: Vec<&str> = stat
            .as_deref()
            .and_then(|s| s.rsplit_once(')'))
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        if let (Some(utime), Some(stime), Some(ticks)) = (field(14), field(15), ticks) {
            metric(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                "counter",
                (utime + stime) / ticks,
            );
        }
        if let (Some(start), Some(ticks), Some(boot)) = (field(22), ticks, boot_time()) {
            metric(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                "gauge",
                boot + start / ticks,
            );
        }
        if let Some(rss) = status_kib("VmRSS:") {
            metric(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                "gauge",
                rss * 1024.0,
            );
        }
        if let Some(vsize) = status_kib("VmSize:") {
            metric(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                "gauge",
                vsize * 1024.0,
            );
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            metric(
                "process_open_fds",
                "Number of open file descriptors.",
                "gauge",
                fds.count() as f64,
            );
        }
        if let Some(max) = max_fds() {
            metric(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                "gauge",
                max,
            );
        }
    }

    /// Clock ticks per second (`USER_HZ`), the unit of `/proc/self/stat` times.
    fn clock_ticks() -> Option<f64> {
        // SAFETY: sysconf only reads a system constant.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        (ticks > 0).then_some(ticks as f64)
    }

    fn boot_time() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
    }

    fn status_kib(key: &str) -> Option<f64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    fn max_fds() -> Option<f64> {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    }
}

/// Largest request head read.
const HEAD_MAX: usize = 8192;

/// Serve `GET /metrics` on `listener` until the task is aborted. Anything else gets 404 (or 405).
pub async fn serve(listener: tokio::net::TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HEAD_MAX {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(line);
            let mut parts = line.split_whitespace();
            let (status, body) = match (parts.next(), parts.next()) {
                (Some("GET"), Some("/metrics")) => ("200 OK", render()),
                (Some("GET"), Some(_)) => ("404 Not Found", "not found\n".to_string()),
                _ => ("405 Method Not Allowed", "only GET /metrics\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exposition rules `promtool check metrics` enforces that can be checked without it (the CI runs
    /// the real one: deploy/e2e/metrics.sh): every family has HELP and TYPE before its samples, once;
    /// counters end in `_total`; names are `[a-z_:][a-z0-9_:]*`; the wanted families are all there.
    #[test]
    fn the_exposition_follows_prometheus_conventions() {
        config_loaded(true, 1_796_000_000);
        let text = render();
        let mut families: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("help text");
                assert!(!help.is_empty(), "{line}");
                assert!(!families.iter().any(|(n, _)| n == name), "{name} twice");
                families.push((name.to_string(), String::new()));
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("type");
                let last = families.last_mut().expect("HELP before TYPE");
                assert_eq!(last.0, name, "{line}");
                last.1 = kind.to_string();
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "counter {name}");
                }
            } else {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                let (family, kind) = families.last().expect("a sample after its HELP");
                let base = name
                    .strip_suffix("_bucket")
                    .or_else(|| name.strip_suffix("_sum"))
                    .or_else(|| name.strip_suffix("_count"))
                    .filter(|_| kind == "histogram")
                    .unwrap_or(name);
                assert_eq!(base, family, "{line}");
                assert!(
                    name.chars().all(|c| c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || c == '_'
                        || c == ':'),
                    "{name}"
                );
                let value = line.rsplit(' ').next().unwrap_or_default();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
        for wanted in [
            "mailwacht_build_info",
            "mailwacht_config_last_reload_successful",
            "mailwacht_config_last_reload_success_timestamp_seconds",
            "mailwacht_quarantine_messages",
            "mailwacht_quarantine_bytes",
            "mailwacht_traffic_records",
            "mailwacht_traffic_store_bytes",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_cpu_seconds_total",
        ] {
            assert!(
                families.iter().any(|(n, _)| n == wanted),
                "{wanted} missing"
            );
        }
        assert!(text.contains(&format!(
            "mailwacht_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(text.contains("mailwacht_config_last_reload_success_timestamp_seconds 1796000000"));
    }

    #[test]
    fn verdict_labels_are_declared_once_and_counted() {
        let mut verdicts = Vec::new();
        count_verdict(&mut verdicts, "pass", 0);
        count_verdict(&mut verdicts, "bounce", 0);
        count_verdict(&mut verdicts, "pass", 1);
        count_verdict(&mut verdicts, "pass", 0);
        count_verdict(&mut verdicts, "tempfail", 1);
        assert_eq!(verdicts, vec![("pass", 1), ("bounce", 0), ("tempfail", 1)]);
        let mut full: Vec<(&'static str, u64)> = vec![("x", 0); MAX_VERDICTS];
        count_verdict(&mut full, "one too many", 1);
        assert_eq!(full.len(), MAX_VERDICTS);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new();
        for ms in [1, 7, 7, 400, 60_000] {
            h.observe(Duration::from_millis(ms));
        }
        let mut out = String::new();
        h.render(&mut out, "t", "help");
        for want in [
            "t_bucket{le=\"0.005\"} 1",
            "t_bucket{le=\"0.01\"} 3",
            "t_bucket{le=\"0.5\"} 4",
            "t_bucket{le=\"30\"} 4",
            "t_bucket{le=\"+Inf\"} 5",
            "t_count 5",
        ] {
            assert!(out.contains(want), "{want} in\n{out}");
        }
    }
}
