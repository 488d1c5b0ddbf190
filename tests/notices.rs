//! The notices a message can cause, through the real binary (issue 12 items 1 and 10): a test client →
//! `mailwacht serve` → a test sink as the next hop, which records every notice mailwacht hands it.
//!
//! - No backscatter: a notice goes only to one of our own senders (`local_domains`, or Postfix's
//!   `XFORWARD SOURCE=LOCAL`), never to the null sender, a daemon or list address, automatic mail, or an
//!   address no notice can reach. Such a message is quarantined (or, when configured, dropped) with `250`.
//! - One notice per message, however often Postfix retries it, also across a restart.

mod support;

use support::client::Client;
use support::daemon::Daemon;
use support::sink::{Sink, SinkBehaviour};
use support::start;

const CONFIG: &str = r#"
[organisation]
local_domains = ["school.example"]
"#;

/// The EICAR test file, in two halves so this source is not itself flagged by a desktop antivirus.
fn eicar_mail(from: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: ouder@example.org\r\nSubject: Factuur\r\nMessage-ID: <eicar-1@example.org>\r\n\r\n{}{}\r\n",
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR", "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    )
    .into_bytes()
}

fn curse_mail(from: &str, extra_header: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: ouder@example.org\r\nSubject: Geheim onderwerp Zwaluwstaart\r\n{extra_header}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nJe bent een kankerlijer.\r\n"
    )
    .into_bytes()
}

const CLEAN: &[u8] =
    b"Received: from pc12.intern.school.lan (pc12.intern.school.lan [10.1.2.3])\r\n\
\tby mx.school.example (Postfix) with ESMTPSA id 4XyZ12\r\n\
From: juf.anna@school.example\r\n\
To: ouder@example.org, weg@example.net\r\n\
Subject: Ouderavond\r\n\
Message-ID: <ouderavond-1@school.example>\r\n\
\r\n\
Beste ouders,\r\n";

/// A next hop that refuses every recipient whose address contains `weg` with `550`.
fn refusing_weg() -> SinkBehaviour {
    SinkBehaviour {
        rcpt_replies: vec![("weg".into(), 550)],
        ..SinkBehaviour::default()
    }
}

/// An insulting message from an internet sender to a teacher: the reply to its final dot.
async fn send_external_curse(client: &mut Client) -> (u16, String) {
    client
        .deliver(
            "spammer@example.org",
            &["juf.anna@school.example"],
            &curse_mail("spammer@example.org", ""),
        )
        .await
}

/// The sink's messages with a null sender: the notices mailwacht sent.
fn notices(sink: &Sink) -> Vec<support::sink::SinkMessage> {
    sink.messages()
        .into_iter()
        .filter(|m| m.mail_from.starts_with("<>"))
        .collect()
}

/// Who the sink got what from, for assertion messages (the contents would drown them).
fn envelopes(sink: &Sink) -> Vec<(String, Vec<String>)> {
    sink.messages()
        .into_iter()
        .map(|m| (m.mail_from, m.rcpts))
        .collect()
}

/// The quarantine as `mailwacht quarantine list --json` shows it (the daemon answers over its socket).
fn quarantine_list(daemon: &Daemon) -> Vec<serde_json::Value> {
    let (code, out, err) = daemon.cli(&["quarantine", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<serde_json::Value>(&out)
        .expect("list --json")
        .as_array()
        .expect("array")
        .clone()
}

fn detection_names(entry: &serde_json::Value) -> Vec<String> {
    entry["detections"]
        .as_array()
        .expect("detections")
        .iter()
        .map(|d| d["name"].as_str().expect("name").to_string())
        .collect()
}

/// An infected message from a forged internet sender: quarantined with `250`, and the forged sender — a
/// third party — gets nothing.
#[tokio::test]
async fn forged_external_sender_with_eicar_gets_no_notice() {
    let (sink, daemon, mut client) = start(SinkBehaviour::default(), CONFIG).await;
    let (code, text) = client
        .deliver(
            "victim@example.org",
            &["juf.anna@school.example"],
            &eicar_mail("victim@example.org"),
        )
        .await;
    assert_eq!(code, 250, "{text}");
    assert!(text.contains("quarantined"), "{text}");
    assert!(
        sink.messages().is_empty(),
        "nothing may leave: {:?}",
        envelopes(&sink)
    );
    let list = quarantine_list(&daemon);
    assert_eq!(list.len(), 1);
    assert_eq!(detection_names(&list[0]), ["Eicar-Test-Signature"]);
    assert!(daemon.wait_for_log("notice=withheld:external-sender"));
    // The sender of our own gets the notice, as before.
    let (code, _) = client
        .deliver(
            "juf.anna@school.example",
            &["ouder@example.org"],
            &eicar_mail("juf.anna@school.example"),
        )
        .await;
    assert_eq!(code, 250);
    let sent = notices(&sink);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].rcpts, ["<juf.anna@school.example>"]);
}

/// With `screen = "all"` inbound mail is screened too; a bounce verdict for an external sender is kept in
/// the quarantine with the rules that hit, and no notice goes out — also in `bounce_mode = "reject"`, where
/// a `550` would make Postfix write the bounce.
#[tokio::test]
async fn screen_all_never_bounces_to_an_external_sender() {
    for mode in ["dsn", "reject"] {
        let config = format!("{CONFIG}[policy]\nscreen = \"all\"\nbounce_mode = \"{mode}\"\n");
        let (sink, daemon, mut client) = start(SinkBehaviour::default(), &config).await;
        let (code, text) = send_external_curse(&mut client).await;
        assert_eq!(code, 250, "{mode}: {text}");
        assert!(text.contains("quarantined"), "{mode}: {text}");
        assert!(sink.messages().is_empty(), "{mode}: {:?}", envelopes(&sink));
        let list = quarantine_list(&daemon);
        assert_eq!(list.len(), 1, "{mode}");
        let names = detection_names(&list[0]);
        assert!(
            names.iter().any(|n| n.contains("[beledigend]")),
            "{mode}: the rule and its category are recorded: {names:?}"
        );
        assert_eq!(list[0]["rcpt_to"][0], "juf.anna@school.example");
        // One log line with the verdict and why no notice went out; never the subject or the word.
        assert!(daemon.wait_for_log("notice=withheld:external-sender"));
        let log = daemon.log_text();
        assert!(
            log.contains("verdict=\"bounce\" action=\"quarantined\""),
            "{log}"
        );
        assert!(
            !log.contains("Zwaluwstaart")
                && !log.contains("kankerlijer")
                && !log.contains("spammer"),
            "{log}"
        );
    }
}

/// `on_unnotifiable = "discard"`: dropped with `250` and a log line that says so; nothing stored, nothing sent.
#[tokio::test]
async fn discard_mode_drops_with_a_log_line() {
    let config = format!("{CONFIG}[policy]\nscreen = \"all\"\non_unnotifiable = \"discard\"\n");
    let (sink, daemon, mut client) = start(SinkBehaviour::default(), &config).await;
    let (code, text) = send_external_curse(&mut client).await;
    assert_eq!(code, 250, "{text}");
    assert!(text.contains("discarded"), "{text}");
    assert!(sink.messages().is_empty());
    assert!(quarantine_list(&daemon).is_empty());
    assert!(daemon.wait_for_log("action=\"discarded\""));
    assert!(daemon
        .log_text()
        .contains("notice=withheld:external-sender"));
}

/// With `notify_local_source = true`, Postfix's `XFORWARD SOURCE=LOCAL` (pickup, or a client in
/// `local_header_rewrite_clients`) makes a sender outside `local_domains` one of ours; `SOURCE=REMOTE`, or a
/// HELO that claims anything, does not. By default not even `SOURCE=LOCAL` counts.
#[tokio::test]
async fn local_source_counts_as_ours_only_when_configured() {
    let config = format!("{CONFIG}[bounce]\nnotify_local_source = true\n");
    let (sink, _daemon, mut client) = start(SinkBehaviour::default(), &config).await;
    for (xforward, notified) in [
        ("XFORWARD NAME=localhost ADDR=127.0.0.1 SOURCE=LOCAL", true),
        (
            "XFORWARD NAME=mx.example.org ADDR=192.0.2.7 HELO=school.example SOURCE=REMOTE",
            false,
        ),
    ] {
        let before = notices(&sink).len();
        let (code, _) = client.command(xforward).await;
        assert_eq!(code, 250);
        let (code, text) = client
            .deliver(
                "beheer@example.org",
                &["ouder@example.org"],
                &eicar_mail("beheer@example.org"),
            )
            .await;
        assert_eq!(code, 250, "{text}");
        assert_eq!(
            notices(&sink).len() - before,
            usize::from(notified),
            "{xforward}"
        );
    }
    let (sink, _daemon, mut client) = start(SinkBehaviour::default(), CONFIG).await;
    client
        .command("XFORWARD NAME=localhost ADDR=127.0.0.1 SOURCE=LOCAL")
        .await;
    let (code, _) = client
        .deliver(
            "beheer@example.org",
            &["ouder@example.org"],
            &eicar_mail("beheer@example.org"),
        )
        .await;
    assert_eq!(code, 250);
    assert!(
        notices(&sink).is_empty(),
        "notify_local_source is off by default"
    );
}

/// An auto-reply (RFC 3834) with one recipient the next hop refuses: delivered to the other, no notice to
/// the sender; the refused part is quarantined for exactly that recipient.
#[tokio::test]
async fn auto_reply_with_a_refused_recipient_gets_no_notice() {
    let (sink, daemon, mut client) = start(refusing_weg(), CONFIG).await;
    let auto = b"From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: Afwezig\r\n\
Auto-Submitted: auto-replied\r\n\r\nIk ben afwezig tot maandag.\r\n";
    let (code, text) = client
        .deliver(
            "juf.anna@school.example",
            &["ouder@example.org", "weg@example.net"],
            auto,
        )
        .await;
    assert_eq!(code, 250, "{text}");
    assert!(notices(&sink).is_empty(), "{:?}", envelopes(&sink));
    let delivered = sink.messages();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].rcpts, ["<ouder@example.org>"]);
    let list = quarantine_list(&daemon);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["rcpt_to"], serde_json::json!(["weg@example.net"]));
    assert!(detection_names(&list[0])[0].contains("550"));
    assert!(daemon.wait_for_log("notice=withheld:auto-generated"));
}

/// A bounce (null sender) with a recipient the next hop refuses: never dropped without a trace.
#[tokio::test]
async fn refused_recipient_of_a_null_sender_message_is_logged() {
    let (sink, daemon, mut client) = start(refusing_weg(), CONFIG).await;
    let (code, text) = client
        .deliver("", &["ouder@example.org", "weg@example.net"], CLEAN)
        .await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(sink.messages().len(), 1, "delivered to the other only");
    assert!(
        daemon.wait_for_log("next hop refused some recipients permanently"),
        "{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("next hop refused some recipients"))
        .expect("log line");
    for field in [
        "refused=1",
        "refused_domains=example.net",
        "notice=withheld:null-sender",
        "kept=\"quarantined\"",
    ] {
        assert!(line.contains(field), "{line}");
    }
    assert!(!log.contains("weg@"), "no local parts in the log: {log}");
}

/// Some recipients refused permanently, then delivery to the others fails temporarily: Postfix retries
/// (here: the same message again, after a crash and restart of mailwacht) and the sender gets exactly one
/// notice, which names the refused address with the next hop's code only and none of the headers added on
/// the way.
#[tokio::test]
async fn retried_partial_refusal_sends_exactly_one_notice() {
    let sink = Sink::start(SinkBehaviour {
        data_reply_once: Some(("juf.anna".into(), 451)),
        ..refusing_weg()
    })
    .await;
    let daemon = Daemon::start(sink.addr(), CONFIG);
    let rcpts = ["ouder@example.org", "weg@example.net"];
    let xforward = "XFORWARD NAME=pc12.intern.school.lan ADDR=10.1.2.3 IDENT=4XyZ12 SOURCE=REMOTE";
    let mut client = Client::connect_ehlo(daemon.addr).await;
    client.command(xforward).await;
    let (code, text) = client
        .deliver("juf.anna@school.example", &rcpts, CLEAN)
        .await;
    assert_eq!(code, 451, "the first attempt is deferred: {text}");
    assert_eq!(notices(&sink).len(), 1, "the notice went out first");

    // Postfix retries the same queue file; mailwacht was killed and restarted in between.
    let daemon = daemon.restart();
    for _ in 0..2 {
        let mut client = Client::connect_ehlo(daemon.addr).await;
        client.command(xforward).await;
        let (code, text) = client
            .deliver("juf.anna@school.example", &rcpts, CLEAN)
            .await;
        assert_eq!(code, 250, "{text}");
    }
    let sent = notices(&sink);
    assert_eq!(
        sent.len(),
        1,
        "one notice across all attempts: {:?}",
        envelopes(&sink)
    );
    assert!(daemon.wait_for_log("notice=already-sent"));
    let delivered: Vec<_> = sink
        .messages()
        .into_iter()
        .filter(|m| !m.mail_from.starts_with("<>"))
        .collect();
    assert_eq!(delivered.len(), 2, "delivered by each retry Postfix made");
    assert!(delivered.iter().all(|m| m.rcpts == ["<ouder@example.org>"]));

    let dsn = String::from_utf8_lossy(&sent[0].data).into_owned();
    assert_eq!(sent[0].rcpts, ["<juf.anna@school.example>"]);
    assert!(
        dsn.contains("Final-Recipient: rfc822; weg@example.net"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Diagnostic-Code: smtp; 550 5.1.5\r\n"),
        "{dsn}"
    );
    for echo in ["5.1.5 rcpt", "Received:", "intern.school.lan", "ESMTPSA"] {
        assert!(
            !dsn.contains(echo),
            "{echo:?} came back in the notice:\n{dsn}"
        );
    }
    assert!(
        dsn.contains("Subject: Ouderavond"),
        "the sender's own headers stay"
    );
}

/// A sender no notice can ever reach (RFC 5321: dots, a local part over 64 octets, bytes that are not
/// UTF-8) was deferred with `451` for Postfix's whole queue lifetime. Now: kept per `on_unnotifiable`
/// with `250` (or refused at MAIL FROM), never `4xx`.
#[tokio::test]
async fn undeliverable_sender_is_never_deferred() {
    let (sink, daemon, mut client) = start(SinkBehaviour::default(), CONFIG).await;
    let long = format!("{}@school.example", "a".repeat(65));
    for sender in ["a..b@school.example", long.as_str()] {
        let (code, text) = client
            .deliver(sender, &["ouder@example.org"], &curse_mail(sender, ""))
            .await;
        assert_eq!(code, 250, "{sender}: {text}");
        assert!(text.contains("quarantined"), "{sender}: {text}");
    }
    // Not UTF-8: either refused up front or kept; never a temporary failure.
    client.send(b"MAIL FROM:<juf\xff@school.example>\r\n").await;
    let (code, _) = client.reply().await;
    if code == 250 {
        let (code, _) = client.command("RCPT TO:<ouder@example.org>").await;
        assert_eq!(code, 250);
        let (code, _) = client.command("DATA").await;
        assert_eq!(code, 354);
        client
            .send(&support::client::dot_stuff(&curse_mail(
                "juf@school.example",
                "",
            )))
            .await;
        let (code, text) = client.reply().await;
        assert_eq!(code, 250, "{text}");
    } else {
        assert!((500..600).contains(&code), "MAIL FROM answered {code}");
    }
    assert!(sink.messages().is_empty());
    assert!(daemon.wait_for_log("notice=withheld:undeliverable-sender"));
}
