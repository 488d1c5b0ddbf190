//! Issue 15: `--log-format json` / `[log] format = "json"`: the real daemon writes one JSON object per
//! line with the fields of the text line (queue id, verdict, action, reply, rule ids, categories, sizes,
//! domains) and no content; under the journal each line carries its syslog priority, so warnings are
//! `<4>` (`journalctl -p warning`) and ordinary lines `<6>`.

mod support;

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::client::Client;
use support::sink::{Sink, SinkBehaviour};

const CONFIG: &str = r#"
[organisation]
local_domains = ["school.example"]
[traffic]
# A declared deviation: warned about at every start (a warning to find in the log).
k_anonymity = 1
code_of_conduct_deviation = "testinstallatie: k = 1 om losse cijfers te zien"
"#;

/// Start the daemon with `flags`, its stderr a file; with `journal`, JOURNAL_STREAM names that file as
/// systemd would name the journal's stream. Returns the child (the caller kills and waits for it), the
/// log file and its listen address.
#[allow(clippy::zombie_processes)]
fn start(
    dir: &std::path::Path,
    next_hop: std::net::SocketAddr,
    flags: &[&str],
    journal: bool,
) -> (
    std::process::Child,
    std::path::PathBuf,
    std::net::SocketAddr,
) {
    let config = dir.join("mailwacht.toml");
    std::fs::write(&config, CONFIG).expect("config");
    let log = dir.join(if journal { "journal.log" } else { "plain.log" });
    let file = std::fs::File::create(&log).expect("log file");
    let meta = file.metadata().expect("meta");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailwacht"));
    command
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0", "--next-hop"])
        .arg(next_hop.to_string())
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(flags)
        .env("RUST_LOG", "info")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file);
    if journal {
        command.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    }
    let mut child = command.spawn().expect("start mailwacht");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .filter_map(|l| json_of(l).map(|(_, v)| v))
            .find_map(|v| v["listen"].as_str().map(str::to_string))
        {
            return (child, log, addr.parse().expect("address"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("did not start: {text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A log line as (priority prefix if any, JSON object); None when the line is not JSON.
fn json_of(line: &str) -> Option<(Option<u8>, serde_json::Value)> {
    let (priority, rest) = match line.strip_prefix('<') {
        Some(rest) => {
            let (n, rest) = rest.split_once('>')?;
            (Some(n.parse().ok()?), rest)
        }
        None => (None, line),
    };
    serde_json::from_str(rest).ok().map(|v| (priority, v))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_fields_and_priorities_and_no_content() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mail = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/bounce/beledigend-kankerlijer.eml"
    ))
    .expect("fixture");

    // Under the journal: every line is `<priority>{json}`.
    let (mut child, log, addr) = start(dir.path(), sink.addr(), &["--log-format", "json"], true);
    let mut client = Client::connect_ehlo(addr).await;
    let (code, text) = client
        .deliver("d.smit@school.example", &["tim.visser@example.org"], &mail)
        .await;
    assert_eq!(code, 250, "{text}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        let text = std::fs::read_to_string(&log).expect("log");
        if let Some(line) = text
            .lines()
            .filter_map(json_of)
            .find(|(_, v)| v["message"] == "message")
        {
            break (line, text);
        }
        assert!(Instant::now() < deadline, "no message line: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    let ((priority, line), text) = message;
    for l in text.lines() {
        assert!(
            json_of(l).is_some_and(|(p, _)| p.is_some()),
            "not <n>{{json}}: {l}"
        );
    }
    assert_eq!(priority, Some(6), "{line}");
    assert_eq!(line["level"], "info");
    assert_eq!(line["verdict"], "bounce", "{line}");
    assert_eq!(line["action"], "bounced", "{line}");
    assert_eq!(line["reply"], 250, "{line}");
    assert_eq!(line["sender_domain"], "school.example", "{line}");
    assert_eq!(line["rcpt_domains"], "example.org", "{line}");
    assert_eq!(line["categories"], "beledigend", "{line}");
    assert!(
        line["rules"].as_str().is_some_and(|r| r.starts_with("MW-")),
        "{line}"
    );
    assert!(line["size"].as_u64().is_some_and(|n| n > 100), "{line}");
    assert!(
        line["queue_id"].as_str().is_some_and(|q| !q.is_empty()),
        "{line}"
    );
    assert!(
        line["time"]
            .as_str()
            .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
        "{line}"
    );
    // The start line names the rules, the scanner and the configuration file.
    let started = text
        .lines()
        .filter_map(json_of)
        .map(|(_, v)| v)
        .find(|v| v["message"] == "mailwacht listening")
        .expect("start line");
    assert_eq!(
        started["scanner"], "builtin (not an antivirus)",
        "{started}"
    );
    assert!(
        started["rules"].as_u64().is_some_and(|n| n > 0),
        "{started}"
    );
    assert!(
        started["config"]
            .as_str()
            .is_some_and(|c| c.ends_with("mailwacht.toml")),
        "{started}"
    );
    // A warning at its priority: the declared deviation, at start.
    assert!(
        text.lines()
            .filter_map(json_of)
            .any(|(p, v)| p == Some(4) && v["level"] == "warn"),
        "{text}"
    );
    // Never content: not the subject, not the matched word, not a local part.
    let lower = text.to_lowercase();
    for secret in ["voetbaltraining", "kankerlijer", "d.smit", "tim.visser"] {
        assert!(!lower.contains(secret), "{secret} in the log: {text}");
    }

    // Outside the journal: bare JSON objects, one per line; the text format keeps its usual line.
    let (mut child, log, _) = start(dir.path(), sink.addr(), &["--log-format", "json"], false);
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).expect("log");
    for l in text.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object()),
            "{l}"
        );
    }
}

/// A daemon whose stderr is gone (the journal restarted, the reader of a pipe quit) keeps serving: a log
/// line that cannot be written is lost, and no session dies of it. Before, tracing-subscriber reported the
/// failed write with eprintln!, which panicked on the same broken stderr and dropped the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stderr_does_not_stop_the_sessions() {
    use std::io::BufRead;
    let sink = Sink::start(SinkBehaviour::default()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("mailwacht.toml");
    std::fs::write(&config, CONFIG).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0", "--next-hop"])
        .arg(sink.addr().to_string())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailwacht");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr: std::net::SocketAddr = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mailwacht did not start");
        };
        if let Some(addr) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("listen="))
        {
            break addr.trim_matches('"').parse().expect("address");
        }
    };
    drop(lines); // The reader quits: every later log line meets a broken pipe.
    for _ in 0..2 {
        let mut client = Client::connect_ehlo(addr).await;
        let (code, text) = client
            .deliver(
                "juf.anna@school.example",
                &["ouder@example.org"],
                b"Subject: ouderavond\r\n\r\nBeste ouders,\r\n",
            )
            .await;
        assert_eq!(code, 250, "{text}");
    }
    assert_eq!(sink.messages().len(), 2);
    let _ = child.kill();
    let _ = child.wait();
}
