//! Milter mode end to end: a test MTA side (tests/support/milter_client.rs, speaking what Postfix's
//! `milter8.c` speaks) drives the real `mailwacht serve` binary's milter listener over real sockets through
//! negotiate, connect, helo, mail, rcpt, headers, body chunks and end-of-message.

mod support;

use std::time::Duration;

use support::milter_client::{packet, Mail, MilterClient, MilterDaemon};

const CONFIG: &str = r#"
[smtp]
enabled = false
[organisation]
local_domains = ["school.example"]
[exemptions]
counsellors = ["vertrouwenspersoon@school.example"]
"#;

const CLEAN: &[u8] = b"From: Juf Anna <juf.anna@school.example>\r\n\
To: ouder@example.org\r\n\
Subject: Ouderavond donderdag\r\n\
Message-ID: <clean-1@school.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Beste ouders,\r\n\
tot donderdag.\r\n";

fn curse_mail(extra_header: &str) -> Vec<u8> {
    format!(
        "From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: Geheim onderwerp 7731\r\n{extra_header}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nJe bent een kankerlijer.\r\n"
    )
    .into_bytes()
}

fn mail(raw: &[u8]) -> Mail {
    Mail::parse("juf.anna@school.example", &["ouder@example.org"], raw)
}

/// The final answer's code and text.
fn last(responses: &[support::milter_client::Resp]) -> (char, String) {
    let r = responses.last().expect("a response");
    (r.code as char, r.text())
}

#[test]
fn negotiation_asks_only_for_what_is_needed() {
    let daemon = MilterDaemon::start(CONFIG, "127.0.0.1:0");
    let mut c = MilterClient::connect_tcp(&daemon.milter);
    let (version, actions, protocol) = c.negotiate(0x1ff, 0x1f_ffff);
    assert_eq!(version, 6);
    assert_eq!(actions, 0, "no header added unless configured");
    // NOCONNECT, NOHELO, NOUNKNOWN, NODATA, no replies for connect/helo/mail/rcpt/headers/eoh, leading
    // space kept.
    assert_eq!(
        protocol,
        1 | (1 << 1) | (1 << 8) | (1 << 9) | (0x7f << 12) | (1 << 7) | (1 << 20)
    );
    // An MTA offering only the version-2 steps is asked to skip connect and HELO (if it sends them anyway
    // they are answered) and gets continue for every other step (the client checks).
    let mut old = MilterClient::connect_tcp(&daemon.milter);
    assert_eq!(old.negotiate(0x3f, 0x7f).2, 1 | (1 << 1));
    old.connect_and_helo();
    let (code, _) = last(&old.message(&mail(CLEAN)));
    assert_eq!(code, 'c');
}

#[test]
fn pass_bounce_exempt_and_abort_on_one_connection() {
    let daemon = MilterDaemon::start(CONFIG, "127.0.0.1:0");
    let mut c = daemon.session();

    // Pass: continue, no header (add_header is off).
    let responses = c.message(&mail(CLEAN));
    assert_eq!(responses.len(), 1, "{responses:?}");
    assert_eq!(last(&responses).0, 'c');

    // Bounce: 550 5.7.1 with the Dutch and the English explanation, multi-line.
    let (code, text) = last(&c.message(&mail(&curse_mail(""))));
    assert_eq!(code, 'y');
    assert!(text.starts_with("550-5.7.1 Bericht geweigerd"), "{text}");
    assert!(text.contains("Message refused"), "{text}");
    assert!(text.contains("\r\n550 5.7.1 "), "{text}");

    // Persoonlijk: the same words pass.
    let (code, _) = last(&c.message(&mail(&curse_mail("Sensitivity: Personal\r\n"))));
    assert_eq!(code, 'c');

    // Abort mid-message, then a second message on the same connection is judged on its own.
    let first = mail(&curse_mail(""));
    c.envelope_and_headers(&first);
    c.send(b'B', b"Je bent een kankerlijer.\r\n");
    assert_eq!(c.read().expect("body reply").code, b'c');
    c.send(b'A', b"");
    let (code, _) = last(&c.message(&mail(CLEAN)));
    assert_eq!(code, 'c', "the aborted message must not leak into the next");

    assert!(
        daemon.wait_for_log(&["verdict=\"bounce\"", "action=\"rejected\"", "reply=550"]),
        "{:?}",
        daemon.log_lines(&["message"])
    );
    assert!(daemon.wait_for_log(&["verdict=\"pass\"", "exempt=\"persoonlijk\""]));
    // The log reader thread may lag the socket a little.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while daemon.log_lines(&["verdict="]).len() < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let logs = daemon.log_lines(&["message"]);
    assert_eq!(
        logs.iter().filter(|l| l.contains("verdict=")).count(),
        4,
        "one line per finished message: {logs:?}"
    );
    // Never content or local parts in the log.
    let all = daemon.log.lock().expect("log").join("\n");
    for secret in ["kankerlijer", "Geheim onderwerp", "juf.anna", "ouder@"] {
        assert!(!all.contains(secret), "{secret} logged");
    }
    // QUIT closes.
    c.send(b'Q', b"");
    assert!(c.read().is_none());
}

#[test]
fn counsellor_by_authenticated_user() {
    let config = format!("{CONFIG}[milter]\nuse_auth_sender = true\n");
    let daemon = MilterDaemon::start(&config, "127.0.0.1:0");
    let mut c = daemon.session();
    // The counsellor's own From: the exemption lifts content rules only, a forged From still bounces.
    let raw = String::from_utf8(curse_mail(""))
        .expect("ascii")
        .replace("From: juf.anna@", "From: vertrouwenspersoon@");
    let mut m = mail(raw.as_bytes());
    m.auth = Some("vertrouwenspersoon@school.example".into());
    let (code, _) = last(&c.message(&m));
    assert_eq!(code, 'c');
    assert!(daemon.wait_for_log(&["verdict=\"pass\"", "exempt=\"vertrouwenspersoon\""]));
    // Another login on the same connection is screened again.
    m.auth = Some("juf.anna@school.example".into());
    assert_eq!(last(&c.message(&m)).0, 'y');
}

#[test]
fn quarantine_stores_then_rejects() {
    let daemon = MilterDaemon::start(CONFIG, "127.0.0.1:0");
    let mut c = daemon.session();
    let mut m = mail(&support::infected_mail());
    m.chunk = 100; // several body chunks
    let (code, text) = last(&c.message(&m));
    assert_eq!(code, 'y');
    assert!(text.starts_with("550"), "{text}");
    assert!(text.contains("quarantaine"), "{text}");
    let (status, out, err) = daemon.cli(&["quarantine", "list", "--json"]);
    assert_eq!(status, 0, "{err}");
    let entries: serde_json::Value = serde_json::from_str(&out).expect("json");
    let entries = entries.as_array().expect("array");
    assert_eq!(entries.len(), 1, "{out}");
    let id = entries[0]["id"].as_str().expect("id").to_string();
    // The stored message is the rebuilt one: headers and the whole body.
    let (status, raw, err) = daemon.cli(&[
        "quarantine",
        "show",
        &id,
        "--raw",
        "--reason",
        "test van de milter",
    ]);
    assert_eq!(status, 0, "{err}");
    assert!(raw.contains("Subject: Rooster\r\n"), "{raw}");
    assert!(raw.contains("EICAR-STANDARD"), "{raw}");
}

#[test]
fn quarantine_then_discard_when_configured() {
    let config = format!("{CONFIG}[milter]\non_infected = \"discard\"\n");
    let daemon = MilterDaemon::start(&config, "127.0.0.1:0");
    let mut c = daemon.session();
    assert_eq!(last(&c.message(&mail(&support::infected_mail()))).0, 'd');
    assert!(daemon.wait_for_log(&["verdict=\"quarantine\"", "action=\"quarantined\""]));
}

#[test]
fn scanner_down_is_a_tempfail() {
    // A port nothing listens on: bind, note, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let config = format!(
        "{CONFIG}[scan]\nbackend = \"clamd\"\nclamd = \"127.0.0.1:{port}\"\ntimeout_secs = 2\n"
    );
    let daemon = MilterDaemon::start(&config, "127.0.0.1:0");
    let mut c = daemon.session();
    let (code, text) = last(&c.message(&mail(CLEAN)));
    assert_eq!(code, 'y');
    assert!(text.starts_with("451 4.7.0"), "{text}");
}

#[test]
fn oversize_body_is_refused_without_buffering() {
    let config = CONFIG.replace(
        "enabled = false",
        "enabled = false\nmax_message_size = 2000",
    );
    let daemon = MilterDaemon::start(&config, "127.0.0.1:0");
    let mut c = daemon.session();
    let mut m = mail(CLEAN);
    m.body = b"0123456789\r\n".repeat(300);
    m.chunk = 1000;
    let responses = c.message(&m);
    let (code, text) = last(&responses);
    assert_eq!(code, 'y');
    assert!(text.starts_with("552 5.3.4"), "{text}");
    assert!(daemon.wait_for_log(&["verdict=\"too-big\"", "reply=552", "limit=2000"]));
    // The connection is still usable for the next message.
    c.send(b'A', b"");
    assert_eq!(last(&c.message(&mail(CLEAN))).0, 'c');
}

#[test]
fn split_packets_are_reassembled_and_oversize_packets_close() {
    let daemon = MilterDaemon::start(CONFIG, "127.0.0.1:0");
    let mut c = daemon.session();
    let m = mail(CLEAN);
    c.envelope_and_headers(&m);
    // One body packet written in three pieces.
    let wire = packet(b'B', &m.body);
    for piece in [&wire[..2], &wire[2..7], &wire[7..]] {
        c.send_raw(piece);
        std::thread::sleep(Duration::from_millis(30));
    }
    assert_eq!(c.read().expect("body reply").code, b'c');
    assert_eq!(last(&c.end_of_message()).0, 'c');

    // A length prefix over the limit: the filter closes instead of allocating.
    c.send_raw(&0x7fff_ffffu32.to_be_bytes());
    assert!(c.read().is_none());
}

#[test]
fn header_added_when_configured_and_reload_applies() {
    let daemon = MilterDaemon::start(CONFIG, "127.0.0.1:0");
    let mut c = daemon.session();
    assert_eq!(c.actions, 0);
    assert_eq!(c.message(&mail(CLEAN)).len(), 1);

    let config = format!("{CONFIG}[milter]\nadd_header = true\n");
    std::fs::write(&daemon.config_path, config).expect("rewrite config");
    daemon.signal("HUP");
    assert!(daemon.wait_for_log(&["configuration and rules reloaded"]));
    let mut c = daemon.session();
    assert_eq!(c.actions, 1, "SMFIF_ADDHDRS");
    let responses = c.message(&mail(CLEAN));
    assert_eq!(responses.len(), 2, "{responses:?}");
    assert_eq!(responses[0].code, b'h');
    assert!(
        responses[0].text().starts_with("X-Mailwacht| pass (MW"),
        "{}",
        responses[0].text()
    );
    assert_eq!(responses[1].code, b'c');
    // Without HDR_LEADSPC the MTA adds the space after the colon itself.
    let mut old = MilterClient::connect_tcp(&daemon.milter);
    old.negotiate(0x1ff, 0x7f);
    old.connect_and_helo();
    let responses = old.message(&mail(CLEAN));
    assert!(
        responses[0].text().starts_with("X-Mailwacht|pass (MW"),
        "{}",
        responses[0].text()
    );
}

#[test]
fn unix_socket_and_sigterm() {
    let mut daemon = MilterDaemon::start(CONFIG, "unix:{tmp}/milter.sock");
    assert!(daemon.milter.starts_with("unix:/"), "{}", daemon.milter);
    let path = daemon.milter.trim_start_matches("unix:").to_string();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660);
    let mut c = daemon.session();
    assert_eq!(last(&c.message(&mail(CLEAN))).0, 'c');
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0));
    assert!(daemon.wait_for_log(&["mailwacht stopped"]));
    assert!(!std::path::Path::new(&path).exists(), "socket removed");
}

#[test]
fn both_listeners_run_together() {
    let config = CONFIG.replace(
        "enabled = false",
        "enabled = true\nlisten = \"127.0.0.1:0\"",
    );
    let daemon = MilterDaemon::start(&config, "127.0.0.1:0");
    assert!(daemon.wait_for_log(&["mailwacht listening", "listen=127.0.0.1:"]));
    let mut c = daemon.session();
    assert_eq!(last(&c.message(&mail(&curse_mail("")))).0, 'y');
}

#[test]
fn idle_connections_time_out() {
    let config = format!("{CONFIG}[milter]\ntimeout_secs = 1\n");
    let daemon = MilterDaemon::start(&config, "127.0.0.1:0");
    let mut c = daemon.session();
    let started = std::time::Instant::now();
    assert!(c.read().is_none(), "closed after the idle limit");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A new connection is served as usual.
    assert_eq!(last(&daemon.session().message(&mail(CLEAN))).0, 'c');
}

#[test]
fn milter_messages_are_recorded_as_verkeersgegevens() {
    let mut daemon = MilterDaemon::start(CONFIG, "127.0.0.1:0");
    let mut c = daemon.session();
    assert_eq!(last(&c.message(&mail(CLEAN))).0, 'c');
    assert_eq!(last(&c.message(&mail(&curse_mail("")))).0, 'y');
    // A summary never shows one sender's figures, so read the records themselves: a clean stop writes
    // every queued record, then the store can be opened.
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(), Some(0));
    let store = mailwacht::traffic::TrafficStore::open(&daemon.data_dir).expect("traffic store");
    let mut verdicts: Vec<String> = store
        .range(0, u64::MAX)
        .expect("records")
        .into_iter()
        .map(|r| r.verdict)
        .collect();
    verdicts.sort();
    assert_eq!(verdicts, ["bounce", "pass"]);
}
