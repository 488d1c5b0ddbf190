//! End-to-end tests of malware scanning and the quarantine with the real binary: clamd unavailable, crash
//! safety (SIGKILL after `250`), the index rebuilt, and the review CLI over the admin socket and offline.

mod support;

use support::clamd::{ClamdBehaviour, TestClamd};
use support::client::Client;
use support::daemon::Daemon;
use support::sink::{Sink, SinkBehaviour};

const CONFIG: &str = r#"
[organisation]
local_domains = ["school.example"]
"#;

const CLEAN: &[u8] = b"From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: Ouderavond\r\n\r\nBeste ouders,\r\n";

/// A free TCP port nobody listens on (bound, then released).
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
async fn clamd_down_defers_with_451_and_relays_nothing() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let config = format!(
        "{CONFIG}[scan]\nbackend = \"clamd\"\nclamd = \"127.0.0.1:{}\"\ntimeout_secs = 2\n",
        dead_port()
    );
    let daemon = Daemon::start(sink.addr(), &config);
    let mut client = Client::connect_ehlo(daemon.addr).await;
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
        .await;
    assert_eq!(code, 451, "{text}");
    assert!(text.starts_with("4.7.0"), "{text}");
    assert!(sink.messages().is_empty(), "nothing relayed unscanned");
}

#[tokio::test]
async fn clamd_down_with_on_error_pass_relays_unscanned() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let config = format!(
        "{CONFIG}[scan]\nbackend = \"clamd\"\non_error = \"pass\"\nclamd = \"127.0.0.1:{}\"\ntimeout_secs = 2\n",
        dead_port()
    );
    let daemon = Daemon::start(sink.addr(), &config);
    let mut client = Client::connect_ehlo(daemon.addr).await;
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
        .await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(sink.messages().len(), 1);
    assert!(
        daemon.wait_for_log("passing unscanned"),
        "{}",
        daemon.log_text()
    );
}

/// With `backend = "clamd"`: clean mail relayed, infected mail quarantined with clamd's signature name,
/// clamd's size-limit ERROR deferred with 451 (never clean, never infected).
// Two workers: the test clamd answers the daemon's start-up probe while this thread waits for the start line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clamd_backend_end_to_end() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let clamd = TestClamd::start(ClamdBehaviour::Signatures).await;
    let config = format!(
        "{CONFIG}[scan]\nbackend = \"clamd\"\nclamd = \"{}\"\ntimeout_secs = 5\n",
        clamd.addr
    );
    let daemon = Daemon::start(sink.addr(), &config);
    assert!(
        daemon.wait_for_log("scanner_answered=true"),
        "{}",
        daemon.log_text()
    );
    let mut client = Client::connect_ehlo(daemon.addr).await;
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
        .await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(sink.messages()[0].data, CLEAN);
    let mail = format!(
        "From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: t\r\n\r\n{}\r\n",
        eicar()
    );
    let (code, text) = client
        .deliver(
            "juf.anna@school.example",
            &["ouder@example.org"],
            mail.as_bytes(),
        )
        .await;
    assert_eq!(code, 250, "{text}");
    assert!(text.contains("quarantined"), "{text}");
    // The probe at start (the start line says whether clamd answered), then one scan per message.
    assert_eq!(clamd.scans(), 3);
    drop(client);

    let limited = TestClamd::start(ClamdBehaviour::SizeLimit(10)).await;
    let config = format!(
        "{CONFIG}[scan]\nbackend = \"clamd\"\nclamd = \"{}\"\ntimeout_secs = 5\n",
        limited.addr
    );
    let daemon2 = Daemon::start(sink.addr(), &config);
    let mut client = Client::connect_ehlo(daemon2.addr).await;
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
        .await;
    assert_eq!(code, 451, "{text}");
    assert!(text.starts_with("4.7.0"), "{text}");
    assert!(
        daemon2.wait_for_log("size limit exceeded"),
        "{}",
        daemon2.log_text()
    );
    drop(daemon);
}

/// The EICAR test file, in two halves so this source is not itself flagged by a desktop antivirus.
fn eicar() -> String {
    concat!(
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR",
        "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    )
    .to_string()
}

/// A mail with a text part and the EICAR file as a base64 attachment.
fn infected_mail() -> Vec<u8> {
    infected_mail_saying("Zie bijlage.")
}

/// [`infected_mail`] with `text` as its text part.
fn infected_mail_saying(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(eicar());
    format!(
        "From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: Rapport\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"GRENS\"\r\n\r\n--GRENS\r\nContent-Type: text/plain\r\n\r\n\
         {text}\r\n--GRENS\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"rapport.com\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {b64}\r\n--GRENS--\r\n"
    )
    .into_bytes()
}

async fn send_infected(daemon: &Daemon) -> String {
    send_infected_mail(daemon, &infected_mail()).await
}

/// Send `mail` (infected), expect it quarantined, return the queue id from the reply.
async fn send_infected_mail(daemon: &Daemon, mail: &[u8]) -> String {
    let mut client = Client::connect_ehlo(daemon.addr).await;
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], mail)
        .await;
    assert_eq!(code, 250, "{text}");
    assert!(text.contains("quarantined"), "{text}");
    text.split_whitespace()
        .find(|w| w.starts_with("MW"))
        .expect("queue id in reply")
        .to_string()
}

fn listed_ids(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).expect("list --json");
    v.as_array()
        .expect("array")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

fn audit_actions(json: &str) -> Vec<(String, String, u64)> {
    let v: serde_json::Value = serde_json::from_str(json).expect("audit --json");
    assert_eq!(v["verification"]["intact"], true, "{json}");
    v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("action").to_string(),
                e["id"].as_str().expect("id").to_string(),
                e["uid"].as_u64().expect("uid"),
            )
        })
        .collect()
}

/// SIGKILL right after `250`: the entry is there after restart; the index removed is rebuilt.
#[tokio::test]
async fn quarantined_mail_survives_sigkill_and_a_lost_index() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = Daemon::start(sink.addr(), CONFIG);
    let id = send_infected(&daemon).await;
    let daemon = daemon.restart();
    let (code, out, err) = daemon.cli(&["quarantine", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed_ids(&out), vec![id.clone()]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v[0]["detections"][0]["name"], "Eicar-Test-Signature");
    assert_eq!(v[0]["mail_from"], "juf.anna@school.example");
    assert_eq!(v[0]["status"], "held");

    let mut daemon = daemon;
    daemon.kill();
    std::fs::remove_dir_all(daemon.data_dir.join("quarantine.sled")).expect("remove index");
    let daemon = daemon.restart();
    assert!(
        daemon.wait_for_log("index_rebuilt=true"),
        "{}",
        daemon.log_text()
    );
    let (code, out, err) = daemon.cli(&["quarantine", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed_ids(&out), vec![id]);
}

/// Issue 12 item 2: a daemon restarted within the same second (a crash loop, `systemctl restart` while
/// Postfix drains its queue) gives its first infected message a new id, and the quarantine keeps both
/// messages. Before: ids were the second plus a counter from 0, so the second message got the first one's
/// id and its files replaced the first one's, while both senders got `250 ... quarantined`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_within_the_same_second_never_reuses_an_id_or_replaces_an_entry() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = Daemon::start(sink.addr(), CONFIG);
    // Begin just after a second starts, so that both messages fall within it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    std::thread::sleep(std::time::Duration::from_nanos(
        u64::from(1_000_000_000 - now.subsec_nanos()) + 5_000_000,
    ));
    let started = std::time::Instant::now();
    let first = send_infected_mail(&daemon, &infected_mail_saying("Eerste bericht.")).await;
    let mut daemon = daemon.restart();
    let second = send_infected_mail(&daemon, &infected_mail_saying("Tweede bericht.")).await;
    eprintln!("both quarantined within {:?}", started.elapsed());
    assert_ne!(first, second);
    daemon.kill();
    let (code, out, err) = daemon.cli(&["quarantine", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let mut ids = listed_ids(&out);
    ids.sort();
    let mut want = vec![first.clone(), second.clone()];
    want.sort();
    assert_eq!(ids, want);
    for (id, text) in [(&first, "Eerste bericht."), (&second, "Tweede bericht.")] {
        let (code, out, err) =
            daemon.cli(&["quarantine", "show", id, "--raw", "--reason", "test item 2"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(text), "{id} holds another message: {out}");
    }
}

/// The review CLI against the running daemon (admin socket), then offline, with every action audited.
/// Multi-threaded: the CLI calls block while the test sink (on this runtime) must keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_cli_over_the_socket_and_offline() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    // The config file's next hop is dead: only the offline CLI uses it (the daemon gets --next-hop).
    let config = format!("{CONFIG}[smtp]\nnext_hop = \"127.0.0.1:{}\"\n", dead_port());
    let mut daemon = Daemon::start(sink.addr(), &config);
    let id = send_infected(&daemon).await;
    assert_eq!(sink.messages().len(), 1, "only the notice to the sender");
    let uid = unsafe { libc::getuid() } as u64;
    {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let meta = std::fs::metadata(daemon.data_dir.join("admin.sock")).expect("admin socket");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        let meta = std::fs::metadata(daemon.data_dir.join("audit.log"));
        assert!(meta.is_err(), "no audit log before any review");
    }

    // Over the socket.
    let (code, out, err) = daemon.cli(&["quarantine", "show", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("INFECTED: Eicar-Test-Signature"), "{out}");
    assert!(out.contains("rapport.com"), "{out}");
    assert!(
        !out.contains("EICAR-STANDARD"),
        "content shown without --raw: {out}"
    );
    let (code, _, err) = daemon.cli(&["quarantine", "show", &id, "--raw"]);
    assert_eq!(code, 2);
    assert!(err.contains("--reason"), "{err}");
    let (code, out, err) =
        daemon.cli(&["quarantine", "show", &id, "--raw", "--reason", "melding 17"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Content-Disposition: attachment"), "{out}");

    let tmp = tempfile::tempdir().expect("tempdir");
    let existing = tmp.path().join("bestaat.eml");
    std::fs::write(&existing, b"keep me").expect("write");
    let (code, _, err) = daemon.cli(&[
        "quarantine",
        "export",
        &id,
        "--out",
        existing.to_str().expect("path"),
        "--reason",
        "naar CERT voor analyse",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(&existing).expect("read"), b"keep me");
    let out_file = tmp.path().join("export.eml");
    let (code, _, err) = daemon.cli(&[
        "quarantine",
        "export",
        &id,
        "--out",
        out_file.to_str().expect("path"),
        "--reason",
        "naar CERT voor analyse",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&out_file).expect("exported"), infected_mail());

    let (code, _, err) = daemon.cli(&["quarantine", "show", "MW404"]);
    assert_eq!(code, 2);
    assert!(err.contains("no quarantine entry"), "{err}");

    let (code, out, err) = daemon.cli(&[
        "quarantine",
        "release",
        &id,
        "--reason",
        "vals alarm",
        "--to",
        "ict@school.example",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ict@school.example"), "{out}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].data, infected_mail(), "released byte for byte");
    assert!(messages[1]
        .rcpts
        .iter()
        .any(|r| r.contains("ict@school.example")));

    let (code, out, err) = daemon.cli(&["audit", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let want: Vec<(String, String, u64)> = ["show-raw", "export", "release"]
        .iter()
        .map(|a| (a.to_string(), id.clone(), uid))
        .collect();
    assert_eq!(audit_actions(&out), want);

    // Offline: the daemon is gone (its socket file is stale), the CLI opens the store itself.
    daemon.kill();
    let (code, out, err) = daemon.cli(&["quarantine", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed_ids(&out), vec![id.clone()]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v[0]["status"], "released");
    let (code, _, err) = daemon.cli(&["quarantine", "release", &id, "--reason", "nog een keer"]);
    assert_eq!(code, 2, "next hop down must fail");
    assert!(err.contains("not released"), "{err}");
    let (code, _, err) = daemon.cli(&["quarantine", "delete", &id, "--reason", "onderzoek klaar"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = daemon.cli(&["quarantine", "list", "--json"]);
    assert_eq!(code, 0);
    assert!(listed_ids(&out).is_empty());
    let (code, out, err) = daemon.cli(&["audit", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let actions: Vec<String> = audit_actions(&out).into_iter().map(|(a, _, _)| a).collect();
    assert_eq!(actions, vec!["show-raw", "export", "release", "delete"]);

    // Tampering with the audit log shows.
    let log = daemon.data_dir.join("audit.log");
    let text = std::fs::read_to_string(&log).expect("audit log");
    std::fs::write(&log, text.replacen("vals alarm", "iets anders", 1)).expect("tamper");
    let (code, out, _) = daemon.cli(&["audit", "list"]);
    assert_eq!(code, 1);
    assert!(out.contains("CHAIN BROKEN at line 4"), "{out}");
}

/// The audit log's end is anchored in `audit.head`: cutting or editing the last line, truncating, deleting
/// the log (also with its head, while the quarantine holds mail) or rewriting the whole chain consistently
/// all make `audit list` exit 1 and say what is wrong. At start the daemon records such a break in the log
/// (it never heals it), keeps relaying mail, and reviews go on. Each entry is also copied to the daemon's
/// log (journald) with its hash, without the reviewer's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_end_is_anchored_and_a_break_stays_visible() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let mut daemon = Daemon::start(sink.addr(), CONFIG);
    let id = send_infected(&daemon).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_file = tmp.path().join("export.eml");
    for args in [
        vec![
            "quarantine",
            "show",
            &id,
            "--raw",
            "--reason",
            "melding helpdesk 1234",
        ],
        vec![
            "quarantine",
            "export",
            &id,
            "--out",
            out_file.to_str().expect("path"),
            "--reason",
            "naar CERT voor analyse",
        ],
        vec![
            "quarantine",
            "show",
            &id,
            "--raw",
            "--reason",
            "tweede blik, CERT vroeg",
        ],
    ] {
        let (code, _, err) = daemon.cli(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let (code, out, err) = daemon.cli(&["audit", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(listed["verification"]["anchored"], 3, "{out}");
    // The shipped copy: one line per entry with its hash, no reason.
    let log = daemon.log_text();
    for entry in listed["entries"].as_array().expect("entries") {
        let hash = entry["hash"].as_str().expect("hash");
        assert!(
            log.lines()
                .any(|l| l.contains("mailwacht::audit") && l.contains(&format!("hash={hash}"))),
            "no journal copy of {hash}: {log}"
        );
    }
    for private in ["melding helpdesk", "naar CERT", "CERT vroeg"] {
        assert!(!log.contains(private), "reason in the daemon log: {log}");
    }

    daemon.kill();
    let log_path = daemon.data_dir.join("audit.log");
    let head_path = daemon.data_dir.join("audit.head");
    let original = std::fs::read_to_string(&log_path).expect("audit log");
    let head = std::fs::read(&head_path).expect("audit head");
    let lines: Vec<&str> = original.lines().collect();
    assert_eq!(lines.len(), 3);
    let cut = format!("{}\n{}\n", lines[0], lines[1]);
    let edited = original.replace("tweede blik, CERT vroeg", "routinecontrole servers");
    let cases: Vec<(&str, Option<String>, bool, &str)> = vec![
        // (what, new log text or None to delete it, keep the head, what audit list must say)
        (
            "cut the last line",
            Some(cut.clone()),
            true,
            "has 2 entries, but audit.head records 3",
        ),
        (
            "edit the last line",
            Some(edited),
            true,
            "entry 3 does not match the hash in audit.head",
        ),
        (
            "truncate to zero",
            Some(String::new()),
            true,
            "has 0 entries, but audit.head records 3",
        ),
        (
            "delete the log",
            None,
            true,
            "audit.log is missing, but audit.head records 3",
        ),
        (
            "delete log and head",
            None,
            false,
            "audit.head is missing, but the quarantine holds 1 message",
        ),
        (
            "rewrite the whole chain",
            Some(rewrite_chain(&original, "onschuldige reden")),
            true,
            "entry 3 does not match the hash in audit.head",
        ),
    ];
    for (what, text, keep_head, want) in cases {
        std::fs::write(&log_path, &original).expect("restore log");
        std::fs::write(&head_path, &head).expect("restore head");
        match text {
            Some(text) => std::fs::write(&log_path, text).expect("edit"),
            None => std::fs::remove_file(&log_path).expect("delete"),
        }
        if !keep_head {
            std::fs::remove_file(&head_path).expect("delete head");
        }
        let (code, out, err) = daemon.cli(&["audit", "list"]);
        assert_eq!(code, 1, "{what}: {out}{err}");
        assert!(out.contains("AUDIT LOG BROKEN"), "{what}: {out}");
        assert!(out.contains(want), "{what}: {out}");
        assert!(!out.contains("chain intact"), "{what}: {out}");
    }

    // The daemon starts on a cut log: the break is recorded, mail flows, reviews go on, and the break
    // stays in every later `audit list`.
    std::fs::write(&head_path, &head).expect("restore head");
    std::fs::write(&log_path, &cut).expect("cut");
    let daemon = daemon.restart();
    assert!(
        daemon.wait_for_log("recorded as a break"),
        "{}",
        daemon.log_text()
    );
    let mut client = Client::connect_ehlo(daemon.addr).await;
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
        .await;
    assert_eq!(code, 250, "{text}");
    let (code, _, err) = daemon.cli(&[
        "quarantine",
        "delete",
        &id,
        "--reason",
        "onderzoek afgerond",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = daemon.cli(&["audit", "list"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("records a break"), "{out}");
    assert!(
        out.contains("has 2 entries, but audit.head records 3"),
        "{out}"
    );
    assert!(out.contains("audit-break"), "{out}");
    assert!(out.lines().any(|l| l.contains("delete")), "{out}");
}

/// The log with every reason replaced and every `prev` recomputed: a consistent chain nobody wrote.
fn rewrite_chain(log: &str, reason: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for line in log.lines() {
        let mut entry: serde_json::Value = serde_json::from_str(line).expect("entry");
        entry["reason"] = reason.into();
        entry["prev"] = prev.clone().into();
        let text = serde_json::to_string(&entry).expect("json");
        prev = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        out.push_str(&text);
        out.push('\n');
    }
    out
}

/// Every request that reveals or moves content needs a reason of substance, refused by the daemon itself:
/// straight on the admin socket (no CLI in between) and through the CLI. Nothing is revealed, changed or
/// audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_access_without_a_reason_is_refused_on_the_socket_and_the_cli() {
    use std::io::{BufRead, BufReader, Write};
    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = Daemon::start(sink.addr(), CONFIG);
    let id = send_infected(&daemon).await;
    let socket = daemon.data_dir.join("admin.sock");
    let stream = std::os::unix::net::UnixStream::connect(&socket).expect("admin socket");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let requests = [
        format!(r#"{{"request":"export","id":"{id}"}}"#),
        format!(r#"{{"request":"export","id":"{id}","reason":null}}"#),
        format!(r#"{{"request":"export","id":"{id}","reason":"  "}}"#),
        format!(r#"{{"request":"export","id":"{id}","reason":"CERT"}}"#),
        format!(r#"{{"request":"show","id":"{id}","raw":true,"reason":null}}"#),
        format!(r#"{{"request":"show","id":"{id}","raw":true,"reason":"1234567890"}}"#),
        format!(r#"{{"request":"release","id":"{id}","reason":"x","to":null}}"#),
        format!(r#"{{"request":"delete","id":"{id}","reason":""}}"#),
    ];
    for request in &requests {
        writer
            .write_all(format!("{request}\n").as_bytes())
            .expect("send");
        let mut line = String::new();
        reader.read_line(&mut line).expect("answer");
        let answer: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(answer["response"], "error", "{request} → {line}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains("--reason"),
            "{request} → {line}"
        );
        assert!(!line.contains("raw_base64"), "{request} → {line}");
    }
    drop(writer);

    let out_file = tempfile::tempdir().expect("tempdir");
    let out_path = out_file.path().join("export.eml");
    let out_arg = out_path.to_str().expect("path");
    let (code, _, err) = daemon.cli(&[
        "quarantine",
        "export",
        &id,
        "--out",
        out_arg,
        "--reason",
        "CERT",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("says too little"), "{err}");
    let (code, _, err) = daemon.cli(&["quarantine", "export", &id, "--out", out_arg]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--reason"), "{err}");
    assert!(!out_path.exists(), "nothing exported");
    let (code, _, err) = daemon.cli(&["quarantine", "delete", &id, "--reason", "weg"]);
    assert_eq!(code, 2, "{err}");

    let (code, out, err) = daemon.cli(&["audit", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(audit_actions(&out).is_empty(), "{out}");
    let (code, out, _) = daemon.cli(&["quarantine", "list", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(listed_ids(&out), vec![id]);
    assert_eq!(
        sink.messages().len(),
        1,
        "only the notice; nothing released"
    );
}
