//! End-to-end tests of the traffic records (*verkeersgegevens*) with the real binary: nothing from the
//! content or the recipients' local parts reaches the database, summaries are of whole completed periods and
//! cannot be differenced into a suppressed figure, metrics count no categories, and inquiries work over the
//! admin socket and offline, each action audited.

mod support;

use mailwacht::traffic::summary::Unit;
use mailwacht::traffic::{Record, TrafficStore, DAY};
use support::client::Client;
use support::daemon::Daemon;
use support::sink::{Sink, SinkBehaviour};

const CONFIG: &str = r#"
[organisation]
local_domains = ["school.example"]
"#;

/// Distinctive strings that must never be stored: subject, body word, file name, recipient local parts.
const SECRETS: [&str; 5] = [
    "Xylofoonkwartet",
    "Qwertyzebra",
    "rapportage-kwetsbaar",
    "geheimeleerling",
    "ouderzonderdomein",
];

const MAIL: &[u8] = b"From: juf.anna@school.example\r\nTo: geheimeleerling7@school.example\r\n\
Subject: Zorgdossier Xylofoonkwartet\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n\
Het woord Qwertyzebra staat hier.\r\n--B\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"rapportage-kwetsbaar.pdf\"\r\n\r\n%PDF-1.4 niets\r\n--B--\r\n";

fn today() -> String {
    mailwacht::traffic::summary::date(now())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Every key and value of every tree of the sled database at `path`, and the raw bytes of its files.
fn raw_database(path: &std::path::Path) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut items = Vec::new();
    {
        let db = sled::open(path).expect("open traffic.sled");
        for name in db.tree_names() {
            let tree = db.open_tree(&name).expect("tree");
            for item in tree.iter() {
                let (k, v) = item.expect("item");
                items.push(k.to_vec());
                items.push(v.to_vec());
            }
        }
    }
    let mut files = Vec::new();
    for entry in walk(path) {
        files.extend(std::fs::read(entry).expect("read sled file"));
    }
    (items, files)
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// No pseudonym key anywhere under `dir`: no `*.key` file and no file of exactly 32 bytes.
fn assert_no_key_in(dir: &std::path::Path) {
    for path in walk(dir) {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(
            path.extension().is_none_or(|e| e != "key") && len != 32,
            "a key in the data directory: {}",
            path.display()
        );
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        let kind = e.file_type().expect("type");
        if kind.is_dir() {
            copy_dir(&e.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// `YYYY-MM-DD` (UTC) of `days` days ago.
fn days_ago(days: u32) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("{days} days ago"), "+%Y-%m-%d"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let hay = haystack.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn records_hold_no_content_and_inquiries_are_bounded_and_audited() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let mut daemon = Daemon::start(sink.addr(), CONFIG);
    let mut client = Client::connect_ehlo(daemon.addr).await;
    let (code, text) = client
        .deliver(
            "Juf.Anna@school.example",
            &[
                "geheimeleerling7@school.example",
                "ouderzonderdomein@example.org",
            ],
            MAIL,
        )
        .await;
    assert_eq!(code, 250, "{text}");
    // Another person's mail, which the inquiry must not show.
    let (code, _) = client
        .deliver(
            "meester.jan@school.example",
            &["ouder@example.org"],
            b"Subject: x\r\n\r\nhoi\r\n",
        )
        .await;
    assert_eq!(code, 250);
    let _ = client.command("QUIT").await;

    let today = today();
    // Too long: refused with a clear error, nothing opened.
    let (code, _, err) = daemon.cli(&[
        "inquiry",
        "open",
        "--person",
        "juf.anna@school.example",
        "--reason",
        "melding 12 van de directeur",
        "--days",
        "15",
        "--by",
        "J. de Vries",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("maximum of 14 days"), "{err}");
    let (code, out, err) = daemon.cli(&[
        "inquiry",
        "open",
        "--person",
        "juf.anna@school.example",
        "--reason",
        "melding 12 van de directeur",
        "--days",
        "2",
        "--by",
        "J. de Vries",
        "--from",
        &today,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("inquiry 1 opened"), "{out}");
    // The writer is asynchronous: poll until the record is there.
    let mut report = serde_json::Value::Null;
    for _ in 0..50 {
        let (code, out, err) = daemon.cli(&["inquiry", "report", "1", "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        report = serde_json::from_str(&out).expect("json");
        if report["records"].as_array().is_some_and(|r| !r.is_empty()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let records = report["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "only juf.anna's message: {report}");
    let r = &records[0];
    assert_eq!(r["rcpt_local"], 1);
    assert_eq!(r["rcpt_external"], 1);
    assert_eq!(r["attachments"], 1);
    assert_eq!(r["verdict"], "pass");
    assert_eq!(
        r["rcpt_domains"],
        serde_json::json!(["example.org", "school.example"])
    );
    assert!(report["notification"].is_null());
    // Terminal and CSV name their columns in Dutch; the JSON keys above stay English.
    let (code, out, err) = daemon.cli(&["inquiry", "report", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("tijd") && out.contains("ontvangerdomeinen"),
        "{out}"
    );
    let (code, out, err) = daemon.cli(&["inquiry", "report", "1", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("\u{feff}tijd;grootte (bytes);ontvangers intern;ontvangers extern;"),
        "{out}"
    );

    // Summaries: today's week is still running, so it cannot be summarised (a later summary of the whole
    // week could be subtracted from it); by default every completed week in the retention window is, here
    // without any records. CSV for Dutch Excel.
    let this_week = Unit::Week.label(Unit::Week.period_of(now()));
    let (code, _, err) = daemon.cli(&["traffic", "summary", "--period", &this_week]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{this_week} has not ended yet")),
        "{err}"
    );
    let (code, csv, err) = daemon.cli(&["traffic", "summary", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(csv.starts_with('\u{feff}'), "BOM");
    assert!(
        csv.contains("periode;afzenderdomein;berichten"),
        "Dutch columns: {csv}"
    );
    assert!(!csv.contains("school.example"), "{csv}");
    assert!(csv.contains("fewer than 5 distinct senders") && csv.contains("kept 28 days"));

    // A window closed early ends at the second of the close: let the record's second pass first, so that
    // the report after the close (and on the copy below) deterministically covers it.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, _, err) = daemon.cli(&["inquiry", "close", "1"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = daemon.cli(&["inquiry", "report", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("artikel 6.6") && out.contains("juf.anna@school.example"),
        "{out}"
    );

    // Stop the daemon cleanly (flushes sled), then read the raw database.
    daemon.signal("TERM");
    assert!(daemon.wait_exit(), "{}", daemon.log_text());
    let (items, files) = raw_database(&daemon.data_dir.join("traffic.sled"));
    assert!(
        items.len() >= 4,
        "two records and one inquiry expected, got {} items",
        items.len() / 2
    );
    for secret in SECRETS {
        for item in &items {
            assert!(
                !contains(item, secret),
                "{secret} in a key or value: {}",
                String::from_utf8_lossy(item)
            );
        }
        assert!(!contains(&files, secret), "{secret} in the sled files");
    }
    // The sender address is only a pseudonym in the records (the inquiry itself names its person).
    let records_text: Vec<String> = items
        .iter()
        .map(|i| String::from_utf8_lossy(i).into_owned())
        .filter(|t| t.contains("\"verdict\""))
        .collect();
    assert_eq!(records_text.len(), 2);
    for t in &records_text {
        assert!(!t.contains("juf.anna") && !t.contains("meester.jan"), "{t}");
    }
    // The pseudonym key lives outside the data directory (beside it by default), owner-only.
    assert_no_key_in(&daemon.data_dir);
    let key_dir = daemon.data_dir.with_file_name("data-keys");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_dir)
            .expect("key dir")
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let keys: Vec<_> = walk(&key_dir);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = std::fs::metadata(&keys[0]).expect("key");
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(key.len(), 32);
    let name = keys[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("pseudonym_") && name.ends_with(".key"),
        "{name}"
    );

    // A copy of the data directory without the key directory (a stolen backup) cannot re-identify: the
    // same inquiry report, run offline on the copy, finds nothing of juf.anna; on the original it finds
    // her mail.
    let stolen = daemon.data_dir.with_file_name("stolen");
    copy_dir(&daemon.data_dir, &stolen);
    for (dir, want) in [(&stolen, 0), (&daemon.data_dir, 1)] {
        let (code, out, err) = support::daemon::run_cli(
            &daemon.config_path,
            dir,
            &["inquiry", "report", "1", "--format", "json"],
        );
        assert_eq!(code, 0, "{err}");
        let report: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(
            report["records"].as_array().expect("records").len(),
            want,
            "{}: {report}",
            dir.display()
        );
    }
    assert!(
        !stolen.with_file_name("stolen-keys").exists(),
        "offline never creates keys"
    );

    // Offline (no daemon): the same commands work, and every inquiry action is in the audit log.
    let html = daemon.data_dir.join("report.html");
    let xlsx = daemon.data_dir.join("report.xlsx");
    for (format, path) in [("html", &html), ("xlsx", &xlsx)] {
        let (code, _, err) = daemon.cli(&[
            "traffic",
            "summary",
            "--group",
            "verdict",
            "--format",
            format,
            "--out",
            path.to_str().expect("utf-8 path"),
        ]);
        assert_eq!(code, 0, "{format}: {err}");
    }
    let html = std::fs::read_to_string(&html).expect("html");
    assert!(html.contains("<svg") && html.contains("niets te tonen"));
    assert!(std::fs::read(&xlsx).expect("xlsx").starts_with(b"PK"));
    let (code, _, err) = daemon.cli(&["traffic", "summary", "--format", "xlsx"]);
    assert_eq!(code, 2);
    assert!(err.contains("--out"), "{err}");
    let (code, _, err) = daemon.cli(&["inquiry", "report", "7"]);
    assert_eq!(code, 2);
    assert!(err.contains("no inquiry 7"), "{err}");
    let (code, out, err) = daemon.cli(&["inquiry", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("closed"), "{out}");
    let (code, out, err) = daemon.cli(&["audit", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let audit: serde_json::Value = serde_json::from_str(&out).expect("json");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("inquiry"))
        .collect();
    assert!(
        actions.starts_with(&["inquiry-open", "inquiry-report"]),
        "{actions:?}"
    );
    assert!(actions.contains(&"inquiry-close"));
    assert_eq!(actions.last(), Some(&"inquiry-report"));
    assert_eq!(audit["verification"]["intact"], true);
}

/// GET `path` from `addr` with a plain HTTP/1.1 request; (status line, body).
fn http_get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect metrics");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("http response");
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// A daemon serving `/metrics` on a free loopback port, and that port's address.
fn metrics_daemon(sink: &Sink) -> (Daemon, String) {
    let config = format!("{CONFIG}[metrics]\nlisten = \"127.0.0.1:0\"\n");
    let daemon = Daemon::start(sink.addr(), &config);
    assert!(
        daemon.wait_for_log("metrics served"),
        "{}",
        daemon.log_text()
    );
    let addr = daemon
        .log_text()
        .lines()
        .find(|l| l.contains("metrics served"))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("address="))
        })
        .expect("address=")
        .to_string();
    (daemon, addr)
}

/// Deliver `mail` from juf.anna to `rcpts` through `daemon` (expecting `250`), then scrape `/metrics` at
/// `addr`; the body.
async fn deliver_and_scrape(daemon: &Daemon, addr: &str, rcpts: &[&str], mail: &[u8]) -> String {
    let mut client = Client::connect_ehlo(daemon.addr).await;
    let (code, text) = client.deliver("juf.anna@school.example", rcpts, mail).await;
    assert_eq!(code, 250, "{text}");
    let (status, body) = http_get(addr, "/metrics");
    assert!(status.contains("200"), "{status}");
    body
}

#[tokio::test]
async fn metrics_are_scraped_from_loopback_and_hold_no_addresses() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let (daemon, addr) = metrics_daemon(&sink);
    let body = deliver_and_scrape(&daemon, &addr, &["geheimeleerling7@school.example"], MAIL).await;
    for want in [
        "mailwacht_messages_total{verdict=\"pass\"} 1",
        "mailwacht_messages_total{verdict=\"bounce\"} 0",
        "mailwacht_relay_seconds_count 1",
        "mailwacht_scan_seconds_count 1",
        "mailwacht_next_hop_errors_total 0",
        "# TYPE mailwacht_open_connections gauge",
    ] {
        assert!(body.contains(want), "{want} in\n{body}");
    }
    let bytes: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("mailwacht_message_bytes_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("bytes");
    assert_eq!(bytes, MAIL.len() as u64);
    assert!(!body.contains('@'), "no addresses in metrics");
    for secret in SECRETS {
        assert!(!contains(body.as_bytes(), secret), "{secret}");
    }
    let (status, _) = http_get(&addr, "/other");
    assert!(status.contains("404"), "{status}");
}

#[test]
fn metrics_refuse_a_non_loopback_address() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("m.toml");
    std::fs::write(&path, "[metrics]\nlisten = \"0.0.0.0:9425\"\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .arg("--config")
        .arg(&path)
        .arg("config")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

#[tokio::test]
async fn retention_is_logged_at_start_and_when_a_reload_changes_it() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = Daemon::start(sink.addr(), CONFIG);
    assert!(
        daemon.wait_for_log("retention_days=28"),
        "{}",
        daemon.log_text()
    );
    // The greeting comes from the SMTP server, which starts after the SIGHUP handler is installed.
    let (_client, (code, _)) = Client::connect(daemon.addr).await;
    assert_eq!(code, 220);
    std::fs::write(
        &daemon.config_path,
        format!("{CONFIG}[traffic]\nretention_days = 21\n"),
    )
    .expect("rewrite config");
    daemon.signal("HUP");
    assert!(
        daemon.wait_for_log("traffic retention changed"),
        "{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("traffic retention changed"))
        .expect("line");
    assert!(
        line.contains("old=28") && line.contains("retention_days=21"),
        "{line}"
    );
}

/// `inquiry open` arguments: `person`, `reason`, `by`, `days` and, if given, `--from`.
fn open_args<'a>(
    person: &'a str,
    reason: &'a str,
    by: &'a str,
    days: &'a str,
    from: Option<&'a str>,
) -> Vec<&'a str> {
    let mut args = vec![
        "inquiry", "open", "--person", person, "--reason", reason, "--days", days, "--by", by,
    ];
    args.extend(from.map(|f| ["--from", f]).into_iter().flatten());
    args
}

const ANNA: &str = "juf.anna@school.example";

#[tokio::test]
async fn inquiries_cannot_be_chained_and_need_a_reason_and_a_name() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = Daemon::start(sink.addr(), CONFIG);
    let reason = "melding 2026-17 van de directeur";
    let (ten, five, three) = (days_ago(10), days_ago(5), days_ago(3));
    let (code, _, err) = daemon.cli(&open_args(ANNA, reason, "J. de Vries", "5", Some(&ten)));
    assert_eq!(code, 0, "{err}");
    // The same again, one that overlaps, and one that directly follows: refused, naming inquiry 1.
    for (days, from) in [("5", &ten), ("2", &days_ago(7)), ("3", &five)] {
        let (code, _, err) = daemon.cli(&open_args(ANNA, reason, "J. de Vries", days, Some(from)));
        assert_eq!(code, 2, "{days} days from {from} accepted");
        assert!(
            err.contains("geweigerd") && err.contains("inquiry 1"),
            "{err}"
        );
    }
    // A day apart and within the cap: allowed. Then the cap: 5 + 2 + 9 > 14 days within 28.
    let (code, _, err) = daemon.cli(&open_args(ANNA, reason, "J. de Vries", "2", Some(&three)));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = daemon.cli(&open_args(ANNA, reason, "J. de Vries", "9", None));
    assert_eq!(code, 2);
    assert!(
        err.contains("inquiry 1, 2") && err.contains("within 28 days"),
        "{err}"
    );
    // No reason of substance, no name: refused by the CLI...
    for (reason, by) in [
        (".", "J. de Vries"),
        ("melding12", "J. de Vries"),
        (reason, "."),
    ] {
        let (code, _, err) = daemon.cli(&open_args(
            "meester.jan@school.example",
            reason,
            by,
            "1",
            None,
        ));
        assert_eq!(code, 2, "{reason:?} {by:?} accepted");
        assert!(err.contains(" / "), "Dutch, then English: {err}");
    }
    // ...and by the daemon itself, for a client that talks to the admin socket directly.
    let socket = daemon.data_dir.join("admin.sock");
    for (reason, by) in [(".", "J. de Vries"), (reason, ".")] {
        let request = serde_json::json!({
            "request": "traffic",
            "traffic": "inquiry-open",
            "person": "meester.jan@school.example",
            "reason": reason,
            "days": 1,
            "by": by,
            "from": null,
        });
        let answer = admin_socket(&socket, &request.to_string());
        assert_eq!(answer["response"], "error", "{answer}");
    }
    let (code, out, err) = daemon.cli(&["inquiry", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2, "only the two allowed inquiries: {list:?}");
    assert!(list.iter().all(|i| i["opened_uid"].is_u64()), "{list:?}");
}

/// One JSON line to the admin socket, one JSON answer back.
fn admin_socket(path: &std::path::Path, line: &str) -> serde_json::Value {
    use std::io::{BufRead, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(path).expect("connect admin socket");
    stream
        .write_all(format!("{line}\n").as_bytes())
        .expect("write");
    let mut answer = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut answer)
        .expect("read");
    serde_json::from_str(&answer).expect("json answer")
}

#[tokio::test]
async fn ended_inquiries_close_themselves_and_an_unnotified_person_is_flagged() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let config = format!("{CONFIG}[traffic]\nnotify_within_days = 1\n");
    let daemon = Daemon::start(sink.addr(), &config);
    // A window that ended three days ago: the person should have been told two days ago.
    let (code, _, err) = daemon.cli(&open_args(
        ANNA,
        "melding 2026-17 van de directeur",
        "J. de Vries",
        "2",
        Some(&days_ago(5)),
    ));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = daemon.cli(&["inquiry", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("(window ended)") && out.contains("OVERDUE"),
        "{out}"
    );
    let closes = |daemon: &Daemon| {
        let (code, out, err) = daemon.cli(&["audit", "list", "--json"]);
        assert_eq!(code, 0, "{err}");
        let audit: serde_json::Value = serde_json::from_str(&out).expect("json");
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["action"] == "inquiry-close")
            .map(|e| e["reason"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let (code, out, err) = daemon.cli(&["audit", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "WARNING: the person of inquiry 1 (juf.anna@school.example) has not been notified"
        ),
        "{out}"
    );
    assert!(out.contains("chain intact"), "{out}");
    // Closed once, audited once, however often it is looked at.
    assert_eq!(closes(&daemon), ["venster verstreken / window ended"]);
    assert_eq!(closes(&daemon).len(), 1);
    // Not before it was over; then recorded once, with who did it.
    let (code, _, err) = daemon.cli(&[
        "inquiry",
        "notified",
        "1",
        "--date",
        &days_ago(4),
        "--how",
        "gesprek",
    ]);
    assert_eq!(code, 2, "a date before the end is refused");
    assert!(err.contains("--date"), "{err}");
    let (code, out, err) = daemon.cli(&["inquiry", "notified", "1", "--how", "gesprek"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("notified yes ("), "{out}");
    let (code, out, _) = daemon.cli(&["inquiry", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("notified: yes ({}, by ", today())) && out.contains("\"gesprek\""),
        "{out}"
    );
    let (code, out, _) = daemon.cli(&["audit", "list"]);
    assert_eq!(code, 0);
    assert!(!out.contains("WARNING"), "{out}");
    assert!(out.contains("inquiry-notified"), "{out}");
    let (code, _, err) = daemon.cli(&["inquiry", "notified", "1", "--how", "brief"]);
    assert_eq!(code, 2);
    assert!(err.contains("already recorded"), "{err}");
}

#[tokio::test]
async fn an_old_traffic_key_is_moved_out_of_the_data_dir_at_start() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).expect("data");
    std::fs::write(data.join("traffic.key"), [7u8; 32]).expect("old key");
    let config_path = tmp.path().join("mailwacht.toml");
    std::fs::write(&config_path, CONFIG).expect("config");
    let next_hop = sink.addr().to_string();
    let (mut child, _, log) = support::daemon::spawn_serve(
        &config_path,
        &data,
        &["--listen", "127.0.0.1:0", "--next-hop", &next_hop],
        "listen=",
    );
    let text = log.lock().expect("log").join("\n");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        text.contains("traffic.key moved out of the data directory"),
        "{text}"
    );
    assert!(!data.join("traffic.key").exists());
    assert_no_key_in(&data);
    let moved = walk(&tmp.path().join("data-keys"));
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(moved[0].to_string_lossy().contains("pseudonym_1970-01-01_"));
    assert_eq!(std::fs::read(&moved[0]).expect("read"), [7u8; 32]);
}

#[tokio::test]
async fn a_privacy_setting_beyond_the_code_is_warned_about_at_every_start() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let config = format!(
        "{CONFIG}[traffic]\nretention_days = 35\ncode_of_conduct_deviation = \"besluit bestuur 2026-04: vijf weken\"\n"
    );
    let daemon = Daemon::start(sink.addr(), &config);
    assert!(
        daemon.wait_for_log("goes beyond the code of conduct"),
        "{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("goes beyond the code of conduct"))
        .expect("line");
    assert!(
        line.contains("WARN") && line.contains("retention_days") && line.contains("vijf weken"),
        "{line}"
    );
    let daemon = daemon.restart();
    assert!(daemon.wait_for_log("goes beyond the code of conduct"));
}

fn record(time: u64, sender: &str, verdict: &str, categories: &[&str], size: u64) -> Record {
    Record {
        time,
        sender: sender.into(),
        sender_domain: "school.example".into(),
        rcpt_local: 1,
        rcpt_external: 1,
        rcpt_domains: vec!["example.org".into(), "school.example".into()],
        size,
        attachments: 0,
        verdict: verdict.into(),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        exempt: None,
        would: None,
    }
}

/// A data directory holding `records` (written with the library, as the daemon would), and a
/// configuration with `[traffic] summary_period = unit`.
async fn traffic_dir(
    tmp: &std::path::Path,
    name: &str,
    unit: &str,
    records: &[Record],
) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = tmp.join(name);
    let store = TrafficStore::open(&data).expect("traffic store");
    for r in records {
        store.insert(r).expect("insert");
    }
    store.flush().await.expect("flush");
    drop(store);
    let config = tmp.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!("{CONFIG}[traffic]\nsummary_period = \"{unit}\"\n"),
    )
    .expect("config");
    (config, data)
}

/// Every summary the CLI can make of `dir` in these formats: every group, all periods and each given one.
/// HTML and XLSX are written with `--out` and read back.
fn every_summary(
    config: &std::path::Path,
    data: &std::path::Path,
    periods: &[&str],
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let file = data.join("summary.out");
    let file_arg = file.to_str().expect("utf-8 path").to_string();
    let choices: Vec<Vec<&str>> = std::iter::once(vec![])
        .chain(periods.iter().map(|p| vec!["--period", *p]))
        .collect();
    for group in ["domain", "verdict", "category", "domain-verdict"] {
        for format in ["table", "csv", "json", "html", "xlsx"] {
            for choice in &choices {
                let mut args = vec!["traffic", "summary", "--group", group, "--format", format];
                args.extend(choice);
                if matches!(format, "html" | "xlsx") {
                    args.extend(["--out", file_arg.as_str()]);
                }
                let (code, stdout, err) = support::daemon::run_cli(config, data, &args);
                assert_eq!(code, 0, "{args:?}: {err}");
                out.push(if matches!(format, "html" | "xlsx") {
                    std::fs::read(&file).expect("summary file")
                } else {
                    stdout.into_bytes()
                });
            }
        }
    }
    out
}

/// Issue 12, item 4: the summaries of Mon–Mon and Mon–Tue of one week (and their `--group verdict` and
/// `category` variants) gave away the lone Tuesday sender's 3 messages, 190 bytes and that one was
/// insulting. Now free ranges are refused, and every summary the CLI can make is byte-identical whether
/// or not the data holds what is suppressed.
#[tokio::test]
async fn no_summary_can_be_subtracted_from_another() {
    // The ISO week two weeks ago: completed, and inside the 28-day retention window.
    let week = Unit::Week.period_of(Unit::Week.period_of(now()).start - 14 * DAY);
    let (mon, tue) = (week.start, week.start + DAY);
    let label = Unit::Week.label(week);
    let teachers: Vec<Record> = (0..6)
        .flat_map(|i| {
            (0..2).map(move |j| {
                record(
                    mon + 3600 * i + j,
                    &format!("leraar{i}"),
                    "pass",
                    &[],
                    1000 + i,
                )
            })
        })
        .collect();
    let lone_pass = [
        record(tue + 3600, "lone", "pass", &[], 60),
        record(tue + 3601, "lone", "pass", &[], 70),
    ];
    let lone_bounce = record(tue + 3602, "lone", "bounce", &["beledigend"], 60);
    let all: Vec<Record> = teachers
        .iter()
        .chain(&lone_pass)
        .chain([&lone_bounce])
        .cloned()
        .collect();
    let without_bounce: Vec<Record> = teachers.iter().chain(&lone_pass).cloned().collect();
    let tmp = tempfile::tempdir().expect("tmp");

    // By week: the insulting bounce is a cell of one sender, so nothing published depends on it.
    let (config, a) = traffic_dir(tmp.path(), "week-all", "week", &all).await;
    let (config_b, b) = traffic_dir(tmp.path(), "week-without", "week", &without_bounce).await;
    // Today's attack: two ranges that differ by one day. The flags are gone, and so is any way to name
    // part of a week.
    for args in [
        &[
            "traffic",
            "summary",
            "--from",
            &summary_date(mon),
            "--to",
            &summary_date(mon),
        ][..],
        &[
            "traffic",
            "summary",
            "--from",
            &summary_date(mon),
            "--to",
            &summary_date(tue),
        ][..],
    ] {
        let (code, out, err) = support::daemon::run_cli(&config, &a, args);
        assert_eq!(code, 2, "{args:?} accepted:\n{out}");
        assert!(err.contains("--from"), "{err}");
    }
    let (code, _, err) = support::daemon::run_cli(
        &config,
        &a,
        &["traffic", "summary", "--period", &summary_date(mon)],
    );
    assert_eq!(code, 2);
    assert!(err.contains("is not a week"), "{err}");
    let with = every_summary(&config, &a, &[&label]);
    assert_eq!(with, every_summary(&config_b, &b, &[&label]));
    for out in &with {
        assert!(!String::from_utf8_lossy(out).contains("beledigend"));
    }
    // The week's shown cell: seven senders, 14 messages.
    let (code, csv, err) = support::daemon::run_cli(
        &config,
        &a,
        &["traffic", "summary", "--period", &label, "--format", "csv"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        csv.contains(&format!("{label};school.example;14;12160;14;14;14;x;x;x")),
        "{csv}"
    );

    // By day: Tuesday holds the lone sender alone, so all of Tuesday is suppressed.
    let (config, a) = traffic_dir(tmp.path(), "day-all", "day", &all).await;
    let (config_b, b) = traffic_dir(tmp.path(), "day-without", "day", &teachers).await;
    let (monday, tuesday) = (summary_date(mon), summary_date(tue));
    let with = every_summary(&config, &a, &[&monday, &tuesday]);
    assert_eq!(with, every_summary(&config_b, &b, &[&monday, &tuesday]));
    let (code, _, err) =
        support::daemon::run_cli(&config, &a, &["traffic", "summary", "--period", &label]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a day"), "{err}");
}

fn summary_date(time: u64) -> String {
    mailwacht::traffic::summary::date(time)
}

/// Issue 12 (low): a per-category counter told when a single `racistisch` bounce happened. Metrics count
/// verdicts, not categories.
#[tokio::test]
async fn metrics_count_no_rule_categories() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let (daemon, addr) = metrics_daemon(&sink);
    // The verdict is counted before the reply is sent.
    let curse = b"Subject: x\r\n\r\nJe bent een kankerlijer.\r\n";
    let body = deliver_and_scrape(&daemon, &addr, &["ouder@example.org"], curse).await;
    assert!(
        body.contains("mailwacht_messages_total{verdict=\"bounce\"} 1"),
        "{body}"
    );
    assert!(
        !body.contains("categor") && !body.contains("beledigend"),
        "{body}"
    );
}

/// Issue 15: the auditor's CSV is safe in Dutch Excel (BOM, `;`, a sender domain `=1+1` stays text), and
/// the HTML report is Dutch, names the organisation, the period (Europe/Amsterdam) and the day it was
/// made, and never names a one-person domain.
#[tokio::test]
async fn auditor_exports_are_dutch_and_safe_in_excel() {
    let week = Unit::Week.period_of(Unit::Week.period_of(now()).start - 14 * DAY);
    let label = Unit::Week.label(week);
    let mut records: Vec<Record> = (0..6)
        .map(|i| {
            let mut r = record(week.start + 3600 * i, &format!("s{i}"), "pass", &[], 1000);
            r.sender_domain = "=1+1".into();
            r
        })
        .collect();
    let mut lone = record(week.start + 99, "ik", "pass", &[], 500);
    lone.sender_domain = "familie-jansen.example".into();
    records.push(lone);
    let tmp = tempfile::tempdir().expect("tmp");
    let (config, data) = traffic_dir(tmp.path(), "export", "week", &records).await;
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace(
            "[organisation]\n",
            "[organisation]\nname = \"Stichting Testscholen\"\n",
        ),
    )
    .expect("config");

    let (code, csv, err) = support::daemon::run_cli(
        &config,
        &data,
        &["traffic", "summary", "--period", &label, "--format", "csv"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(csv.starts_with('\u{feff}'), "BOM");
    assert!(
        csv.contains(&format!("\r\n{label};'=1+1;6;6000;")),
        "the domain must be text, not a formula: {csv}"
    );
    assert!(!csv.contains(";=1+1"), "{csv}");
    assert!(!csv.contains("familie-jansen"), "{csv}");

    let html = data.join("report.html");
    let (code, _, err) = support::daemon::run_cli(
        &config,
        &data,
        &[
            "traffic",
            "summary",
            "--period",
            &label,
            "--format",
            "html",
            "--out",
            html.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&html).expect("html");
    let amsterdam = |t: u64| {
        jiff::Timestamp::from_second(i64::try_from(t).expect("time"))
            .expect("time")
            .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Amsterdam").expect("zone"))
            .strftime("%d-%m-%Y %H:%M")
            .to_string()
    };
    for text in [
        "<html lang=\"nl\">".to_string(),
        "<h1>Verkeersgegevens e-mail — Stichting Testscholen</h1>".to_string(),
        format!(
            "Periode (tijden in Europe/Amsterdam): week {label} ({} t/m {})",
            amsterdam(week.start),
            amsterdam(week.end)
        ),
        format!("Gemaakt op {}.", &amsterdam(now())[..10]),
        "<th>periode</th><th>afzenderdomein</th><th>berichten</th>".to_string(),
        // In HTML the domain is only text already.
        "<td>=1+1</td>".to_string(),
    ] {
        assert!(html.contains(&text), "{text} missing: {html}");
    }
    assert!(!html.contains("familie-jansen"), "{html}");
}
