//! One filter behind both faces (issue 13 step 4): the same message handled after the queue (SMTP, as
//! Postfix's `content_filter`) and before it (milter) gets the same account — the log line's fields, the
//! metrics and the traffic record — for pass, bounce, quarantine, tempfail and a message over the size
//! limit. Only what the mode does with the message may differ: the action, the reply code and the notice.
//!
//! One real `mailwacht serve` runs both listeners (SMTP relaying to a test sink, milter on TCP) with its
//! metrics endpoint on; each message goes through SMTP and then through the milter, and the two accounts
//! are compared.

mod support;

use std::collections::BTreeMap;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::client::Client;
use support::milter_client::{Mail, MilterClient};
use support::sink::{Sink, SinkBehaviour};

const CONFIG: &str = r#"
[smtp]
max_message_size = 2000
[organisation]
local_domains = ["school.example"]
[exemptions]
counsellors = ["vertrouwenspersoon@school.example"]
"#;

const FROM: &str = "juf.anna@school.example";
const RCPTS: &[&str] = &["ouder@example.org", "collega@school.example"];

const CLEAN: &[u8] = b"From: Juf Anna <juf.anna@school.example>\r\n\
To: ouder@example.org, collega@school.example\r\n\
Subject: Ouderavond donderdag\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Beste ouders,\r\n\
tot donderdag.\r\n";

const CURSE: &[u8] = b"From: juf.anna@school.example\r\n\
To: ouder@example.org, collega@school.example\r\n\
Subject: Geheim onderwerp 7731\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Je bent een kankerlijer.\r\n";

/// The EICAR test file, in two halves so this source is not itself flagged by a desktop antivirus.
fn infected() -> Vec<u8> {
    let eicar = concat!(
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR",
        "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    );
    format!(
        "From: juf.anna@school.example\r\nTo: ouder@example.org, collega@school.example\r\nSubject: Rooster\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nZie bijlage.\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"rooster.com\"\r\n\
         Content-Disposition: attachment; filename=\"rooster.com\"\r\n\r\n{eicar}\r\n--b1--\r\n"
    )
    .into_bytes()
}

/// Over the 2000-byte limit of [`CONFIG`].
fn oversize() -> Vec<u8> {
    let mut raw = CLEAN.to_vec();
    raw.extend_from_slice(&b"0123456789\r\n".repeat(300));
    raw
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `mailwacht serve` with both listeners and `/metrics`.
struct Both {
    child: Child,
    smtp: std::net::SocketAddr,
    milter: String,
    metrics: u16,
    log: Arc<Mutex<Vec<String>>>,
    data_dir: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

impl Both {
    fn start(next_hop: std::net::SocketAddr, extra: &str) -> Both {
        let tmp = tempfile::tempdir().expect("tempdir");
        let metrics = free_port();
        let config = format!("{CONFIG}{extra}[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n");
        let config_path = tmp.path().join("mailwacht.toml");
        std::fs::write(&config_path, config).expect("write config");
        let data_dir = tmp.path().join("data");
        let milter = format!("127.0.0.1:{}", free_port());
        let next_hop = next_hop.to_string();
        let (child, smtp, log) = support::daemon::spawn_serve(
            &config_path,
            &data_dir,
            &[
                "--listen",
                "127.0.0.1:0",
                "--next-hop",
                &next_hop,
                "--milter-listen",
                &milter,
            ],
            "listen=",
        );
        let both = Both {
            child,
            smtp: smtp.parse().expect("listen address"),
            milter,
            metrics,
            log,
            data_dir,
            _tmp: tmp,
        };
        assert!(
            both.wait_for(&["mailwacht milter listening"]).is_some(),
            "milter not listening"
        );
        both
    }

    /// The first log line holding all of `needles` (up to 30 s).
    fn wait_for(&self, needles: &[&str]) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let found = self
                .log
                .lock()
                .expect("log lock")
                .iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .cloned();
            if found.is_some() {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The message log lines so far.
    fn message_lines(&self) -> Vec<String> {
        self.log
            .lock()
            .expect("log lock")
            .iter()
            .filter(|l| l.contains(" message ") && l.contains("verdict="))
            .cloned()
            .collect()
    }

    /// Wait for the `n`th message log line and return it.
    fn nth_message_line(&self, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(line) = self.message_lines().get(n) {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no message line {n}: {:?}", self.log.lock().expect("log"));
    }

    /// The counters of `/metrics` this test compares: messages per verdict, bytes, scans.
    fn metrics(&self) -> BTreeMap<String, f64> {
        self.scrape()
            .lines()
            .filter(|l| {
                l.starts_with("mailwacht_messages_total")
                    || l.starts_with("mailwacht_message_bytes_total")
                    || l.starts_with("mailwacht_scan_seconds_count")
            })
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.to_string(), value.parse().ok()?))
            })
            .collect()
    }

    fn milter_session(&self) -> MilterClient {
        MilterClient::session_tcp(&self.milter)
    }
}

impl Drop for Both {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What changed between two metric readings.
fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d != 0.0)
        .collect()
}

/// The `key=value` fields of a log line (values unquoted), without the ones that differ per message
/// (`queue_id`) or by mode on purpose (`action`, `reply`, `notice`: what the mode did with the message).
fn fields(line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = line;
    while let Some(eq) = rest.find('=') {
        let key_start = rest[..eq].rfind(' ').map_or(0, |i| i + 1);
        let key = rest[key_start..eq].to_string();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], &quoted[(end + 1).min(quoted.len())..])
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.insert(key, value.to_string());
        rest = next;
    }
    for mode_specific in ["queue_id", "action", "reply", "notice"] {
        out.remove(mode_specific);
    }
    out
}

/// Send `raw` through SMTP, then through the milter, and compare the two accounts (the `n`th and next
/// message log lines, the metric changes). Returns the SMTP reply and the milter's final answer.
async fn same_account(both: &Both, raw: &[u8], n: usize) -> (String, String) {
    let before = both.metrics();
    let mut client = Client::connect_ehlo(both.smtp).await;
    let (code, text) = client.deliver(FROM, RCPTS, raw).await;
    let smtp_line = both.nth_message_line(n);
    let after_smtp = both.metrics();
    let mut milter = both.milter_session();
    let mail = Mail::parse(FROM, RCPTS, raw);
    let responses = milter.message(&mail);
    let milter_line = both.nth_message_line(n + 1);
    let after_milter = both.metrics();

    let smtp_delta = delta(&before, &after_smtp);
    let milter_delta = delta(&after_smtp, &after_milter);
    assert!(
        !smtp_delta.is_empty(),
        "SMTP counted nothing ({code} {text})"
    );
    assert_eq!(smtp_delta, milter_delta, "metrics differ by mode");
    let smtp_fields = fields(&smtp_line);
    for key in [
        "verdict",
        "score",
        "rules",
        "size",
        "attachments",
        "sender_domain",
        "rcpt_domains",
    ] {
        assert!(smtp_fields.contains_key(key), "no {key}: {smtp_line}");
    }
    assert_eq!(
        smtp_fields,
        fields(&milter_line),
        "log line differs by mode:\n{smtp_line}\n{milter_line}"
    );
    let answer = responses.last().expect("milter answer");
    (
        format!("{code} {text}"),
        format!("{} {}", answer.code as char, answer.text()),
    )
}

/// The traffic records of a stopped daemon, the time and pseudonym left out (they differ per message or
/// per key period, not by mode).
fn records(both: &mut Both, messages: usize) -> Vec<String> {
    both.signal_term();
    let store = mailwacht::traffic::TrafficStore::open(&both.data_dir).expect("traffic store");
    let all = store.range(0, u64::MAX).expect("records");
    assert_eq!(
        all.len(),
        messages * 2,
        "one record per message and mode: {all:#?}"
    );
    all.into_iter()
        .map(|mut r| {
            r.time = 0;
            r.sender = String::new();
            format!("{r:?}")
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

impl Both {
    fn signal_term(&mut self) {
        let status = std::process::Command::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not stop");
    }
}

/// Every message left two records (SMTP, milter) that are equal, so the distinct records are as many as
/// the messages.
fn assert_pairs(records: &[String], expected: usize) {
    assert_eq!(
        records.len(),
        expected,
        "traffic records differ by mode: {records:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_modes_account_pass_bounce_quarantine_and_oversize_alike() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let mut both = Both::start(sink.addr(), "");

    let start = both.wait_for(&["mailwacht listening"]).expect("start line");
    assert!(start.contains("scanner_answered=true"), "{start}");
    let before = both.metrics();
    let (smtp, milter) = same_account(&both, CLEAN, 0).await;
    // Both modes record the scan latency (before: the SMTP mode only).
    let scans = delta(&before, &both.metrics());
    assert_eq!(
        scans.get("mailwacht_scan_seconds_count"),
        Some(&2.0),
        "{scans:?}"
    );
    assert!(smtp.starts_with("250"), "{smtp}");
    assert!(milter.starts_with('c'), "{milter}");
    assert!(both.nth_message_line(0).contains("verdict=\"pass\""));

    let (smtp, milter) = same_account(&both, CURSE, 2).await;
    assert!(smtp.starts_with("250"), "{smtp}");
    assert!(milter.starts_with("y 550"), "{milter}");
    assert!(both.nth_message_line(2).contains("verdict=\"bounce\""));

    let (smtp, milter) = same_account(&both, &infected(), 4).await;
    assert!(smtp.starts_with("250"), "{smtp}");
    assert!(milter.starts_with("y 550"), "{milter}");
    assert!(both.nth_message_line(4).contains("verdict=\"quarantine\""));

    let (smtp, milter) = same_account(&both, &oversize(), 6).await;
    assert!(smtp.starts_with("552"), "{smtp}");
    assert!(milter.starts_with("y 552"), "{milter}");
    // One text for the size refusal in both modes (the milter once said it in other words).
    // (The milter's reply text ends with its NUL terminator, shown as `|`.)
    assert_eq!(
        milter
            .strip_prefix("y 552 ")
            .map(|t| t.trim_end_matches('|')),
        smtp.strip_prefix("552 "),
        "the size refusal differs by mode"
    );
    let line = both.nth_message_line(6);
    assert!(
        line.contains("verdict=\"too-big\"") && line.contains("limit=2000"),
        "{line}"
    );

    let records = records(&mut both, 4);
    assert_pairs(&records, 4);
    for verdict in ["pass", "bounce", "quarantine", "too-big"] {
        let needle = format!("verdict: \"{verdict}\"");
        assert!(records.iter().any(|r| r.contains(&needle)), "{records:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_modes_account_a_tempfail_alike() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    // A scanner port nothing listens on.
    let scanner = format!(
        "[scan]\nbackend = \"clamd\"\nclamd = \"127.0.0.1:{}\"\ntimeout_secs = 2\n",
        free_port()
    );
    let mut both = Both::start(sink.addr(), &scanner);
    let start = both.wait_for(&["mailwacht listening"]).expect("start line");
    assert!(
        start.contains("scanner_answered=false") && start.contains("mode=\"enforce\""),
        "the start line says the scanner did not answer, and the mode: {start}"
    );
    let (smtp, milter) = same_account(&both, CLEAN, 0).await;
    assert!(smtp.starts_with("451 4.7.0"), "{smtp}");
    assert!(milter.starts_with("y 451 4.7.0"), "{milter}");
    assert!(both.nth_message_line(0).contains("verdict=\"tempfail\""));
    assert_pairs(&records(&mut both, 1), 1);
}

/// Every one of `fields` (`key=value` as logged) is in the log line.
fn assert_fields(line: &str, fields: &[&str]) {
    for field in fields {
        assert!(line.contains(field), "{field} in {line}");
    }
}

/// `[policy] mode = "monitor"` (issue 15): a message that would bounce is screened and accounted as usual,
/// with what would have happened (`would=bounce` in the log line, a metric, the traffic record), and goes
/// on unchanged in both modes; malware is still quarantined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_mode_relays_what_would_bounce_in_both_modes_and_still_quarantines_malware() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let mut both = Both::start(sink.addr(), "[policy]\nmode = \"monitor\"\n");
    assert!(
        both.wait_for(&["mailwacht listening", "mode=\"monitor\""])
            .is_some(),
        "the start line names the mode: {:?}",
        both.log.lock().expect("log")
    );
    let before = both.monitored();
    let (smtp, milter) = same_account(&both, CURSE, 0).await;
    assert!(smtp.starts_with("250"), "{smtp}");
    assert!(milter.starts_with('c'), "relayed unchanged: {milter}");
    assert_fields(
        &both.nth_message_line(0),
        &[
            "verdict=\"pass\"",
            "action=\"relayed\"",
            "would=\"bounce\"",
            "monitor_rules=MW-",
        ],
    );
    assert!(
        both.nth_message_line(1).contains("action=\"accepted\""),
        "{}",
        both.nth_message_line(1)
    );
    assert_eq!(both.monitored() - before, 2.0, "one per mode");
    let relayed = sink.messages();
    assert_eq!(relayed.len(), 1, "the SMTP face relayed it");
    assert_eq!(relayed[0].data, CURSE, "unchanged");

    let (smtp, milter) = same_account(&both, &infected(), 2).await;
    assert!(smtp.starts_with("250"), "{smtp}");
    assert!(milter.starts_with("y 550"), "malware is refused: {milter}");
    let line = both.nth_message_line(2);
    assert!(line.contains("verdict=\"quarantine\""), "{line}");
    assert!(!line.contains("would="), "{line}");
    let after = sink.messages();
    assert!(
        after[1..]
            .iter()
            .all(|m| m.mail_from == "<>"
                && !String::from_utf8_lossy(&m.data).contains("EICAR-STANDARD")),
        "malware not relayed, only the notice to the sender went out"
    );

    let records = records(&mut both, 2);
    assert_pairs(&records, 2);
    assert!(
        records
            .iter()
            .any(|r| r.contains("verdict: \"pass\"") && r.contains("would: Some(\"bounce\")")),
        "{records:#?}"
    );
}

/// A rule file's `mode = "monitor"`: the new rule only reports while the others enforce, in both modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_rule_reports_while_the_others_enforce() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let rules = tempfile::tempdir().expect("tempdir");
    let rule = |id: &str, word: &str, mode: &str| {
        format!(
            "[[rule]]\nid = \"{id}\"\nkind = \"words\"\ncategory = \"beledigend\"\narticle = \"SOML/ProCon 2.1\"\n\
             {mode}message_nl = \"Niet toegestaan.\"\nmessage_en = \"Not allowed.\"\nwords = [\"{word}\"]\n"
        )
    };
    std::fs::write(
        rules.path().join("10-oud.toml"),
        rule("MW-OUD-01", "kankerlijer", ""),
    )
    .expect("write rule");
    std::fs::write(
        rules.path().join("20-nieuw.toml"),
        rule("MW-NIEUW-01", "donderdag", "mode = \"monitor\"\n"),
    )
    .expect("write rule");
    let extra = format!("[rules]\ndir = {:?}\n", rules.path());
    let mut both = Both::start(sink.addr(), &extra);

    // Only the monitor rule hits: relayed, with what it would have done.
    let (smtp, milter) = same_account(&both, CLEAN, 0).await;
    assert!(smtp.starts_with("250"), "{smtp}");
    assert!(milter.starts_with('c'), "{milter}");
    assert_fields(
        &both.nth_message_line(0),
        &[
            "verdict=\"pass\"",
            "would=\"bounce\"",
            "rules=MW-NIEUW-01",
            "monitor_rules=MW-NIEUW-01",
        ],
    );
    assert_eq!(sink.messages().len(), 1);

    // The enforced rule still bounces.
    let (smtp, milter) = same_account(&both, CURSE, 2).await;
    assert!(smtp.starts_with("250"), "{smtp}");
    assert!(milter.starts_with("y 550"), "{milter}");
    let line = both.nth_message_line(2);
    assert!(line.contains("verdict=\"bounce\""), "{line}");
    assert!(line.contains("rules=MW-OUD-01"), "{line}");
    assert!(!line.contains("would="), "{line}");
    assert_eq!(
        sink.messages().len(),
        2,
        "the bounce notice, not the message"
    );
    assert!(
        !String::from_utf8_lossy(&sink.messages()[1].data).contains("Je bent een"),
        "the message itself was not relayed"
    );
    assert_pairs(&records(&mut both, 2), 2);
}

impl Both {
    /// The whole `/metrics` answer.
    fn scrape(&self) -> String {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.metrics)).expect("metrics connect");
        write!(stream, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
        let mut out = String::new();
        stream.read_to_string(&mut out).expect("read");
        out
    }

    /// `mailwacht_monitored_messages_total{would="bounce"}` now.
    fn monitored(&self) -> f64 {
        self.scrape()
            .lines()
            .find_map(|l| {
                l.strip_prefix("mailwacht_monitored_messages_total{would=\"bounce\"} ")?
                    .parse()
                    .ok()
            })
            .expect("the monitored counter is listed")
    }
}

/// The alerts to ICT (to `ict@school.example`) the sink got, once there are `n` (or after 30 s).
fn alert_messages(sink: &Sink, n: usize) -> Vec<support::sink::SinkMessage> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alerts: Vec<_> = sink
            .messages()
            .into_iter()
            .filter(|m| m.rcpts.iter().any(|r| r.contains("ict@school.example")))
            .collect();
        if alerts.len() >= n || Instant::now() > deadline {
            return alerts;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `[quarantine] notify` (issue 15, WereldKidz 8.5): each quarantined message, in either mode, gets a short
/// notice to ICT through the next hop — null sender, `Auto-Submitted`, queue id, detection, sender domain and
/// size, and no content, subject, local part or file name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantined_mail_alerts_ict_without_content_in_both_modes() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let both = Both::start(
        sink.addr(),
        "[quarantine]\nnotify = [\"ict@school.example\"]\n",
    );
    let (smtp, _) = same_account(&both, &infected(), 0).await;
    assert!(smtp.starts_with("250"), "{smtp}");
    let alerts = alert_messages(&sink, 2);
    assert_eq!(alerts.len(), 2, "one per quarantined message, both modes");
    // The queue ids of the two messages (SMTP, milter); the alerts may arrive in either order.
    let ids: Vec<String> = (0..2)
        .map(|n| {
            let line = both.nth_message_line(n);
            let id = line
                .split("queue_id=\"")
                .nth(1)
                .and_then(|r| r.split('"').next());
            id.expect("queue id").to_string()
        })
        .collect();
    for alert in &alerts {
        let text = String::from_utf8_lossy(&alert.data);
        let id = ids
            .iter()
            .find(|id| text.contains(id.as_str()))
            .expect("names its queue id");
        assert_eq!(alert.mail_from, "<>", "null sender");
        assert!(text.contains(&format!("quarantine show {id}")), "{text}");
        for needle in [
            "Auto-Submitted: auto-generated",
            "Eicar-Test-Signature",
            "Afzenderdomein: school.example",
            "in quarantaine",
            "quarantined",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        for secret in [
            "juf.anna",
            "ouder@",
            "Rooster",
            "rooster.com",
            "Zie bijlage",
            "EICAR-STANDARD",
        ] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
    }
}

/// An alert the next hop refuses never holds up or loses the quarantined message: it is logged and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_alert_is_logged_and_counted_and_the_message_stays_quarantined() {
    let sink = Sink::start(SinkBehaviour {
        rcpt_replies: vec![("ict@".into(), 550)],
        ..SinkBehaviour::default()
    })
    .await;
    let both = Both::start(
        sink.addr(),
        "[quarantine]\nnotify = [\"ict@school.example\"]\n",
    );
    let mut client = Client::connect_ehlo(both.smtp).await;
    let (code, text) = client.deliver(FROM, RCPTS, &infected()).await;
    assert_eq!(code, 250, "{text}");
    assert!(
        both.wait_for(&["alert to ICT not sent", "550"]).is_some(),
        "logged"
    );
    assert!(
        both.scrape()
            .contains("mailwacht_alerts_total{result=\"failed\"} 1"),
        "counted"
    );
    let line = both.nth_message_line(0);
    assert!(line.contains("action=\"quarantined\""), "{line}");
}
