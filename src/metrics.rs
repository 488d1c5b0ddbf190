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
