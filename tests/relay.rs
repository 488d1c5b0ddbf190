//! End-to-end tests of the real binary: a test client → `mailwacht serve` (port 0) → a test SMTP sink as the
//! next hop, over real sockets. They prove the contract Postfix relies on: `250` only once the message is
//! safe, the right class of failure otherwise, and nothing lost.

mod support;

use std::time::Duration;

use support::client::{dot_stuff, Client};
use support::daemon::Daemon;
use support::sink::{Sink, SinkBehaviour};
use support::start;

const CONFIG: &str = r#"
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
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Beste ouders,\r\n\
.een regel die met een punt begint\r\n\
..en een met twee punten\r\n\
Groetjes, juf Anna \xe2\x80\x94 groep 5 caf\xc3\xa9\r\n";

fn curse_mail(extra_header: &str) -> Vec<u8> {
    format!(
        "From: juf.anna@school.example\r\nTo: ouder@example.org, collega@school.example\r\nSubject: Geheim onderwerp 7731\r\n{extra_header}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nJe bent een kankerlijer.\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn clean_mail_is_relayed_byte_for_byte_with_xforward() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = Daemon::start(sink.addr(), CONFIG);
    let (mut client, (code, greeting)) = Client::connect(daemon.addr).await;
    assert_eq!(code, 220);
    assert!(greeting.starts_with("localhost"), "greeting {greeting}");
    client.ehlo().await;
    let (code, _) = client
        .command("XFORWARD NAME=pc12.school.example ADDR=10.1.2.3 PROTO=ESMTP HELO=pc12")
        .await;
    assert_eq!(code, 250);
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
        .await;
    assert_eq!(code, 250, "{text}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].data, CLEAN, "content changed on the way");
    assert!(messages[0]
        .mail_from
        .starts_with("<juf.anna@school.example>"));
    assert_eq!(messages[0].rcpts.len(), 1);
    let xforward = messages[0].xforward.join(" ");
    assert!(
        xforward.contains("ADDR=10.1.2.3") && xforward.contains("NAME=pc12.school.example"),
        "{xforward}"
    );
    assert!(
        daemon.wait_for_log("verdict=\"pass\""),
        "{}",
        daemon.log_text()
    );
}

#[tokio::test]
async fn forbidden_word_bounces_to_sender_and_nothing_reaches_recipients() {
    let (sink, daemon, mut client) = start(SinkBehaviour::default(), CONFIG).await;
    let (code, text) = client
        .deliver(
            "juf.anna@school.example",
            &["ouder@example.org", "collega@school.example"],
            &curse_mail(""),
        )
        .await;
    assert_eq!(code, 250, "{text}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "only the bounce may leave: {messages:?}");
    let bounce = &messages[0];
    assert!(
        bounce.mail_from.starts_with("<>"),
        "bounce must have a null sender: {}",
        bounce.mail_from
    );
    assert_eq!(bounce.rcpts, vec!["<juf.anna@school.example>".to_string()]);
    let dsn = String::from_utf8_lossy(&bounce.data);
    assert!(dsn.contains("multipart/report") && dsn.contains("report-type=delivery-status"));
    assert!(dsn.contains("beledigend"), "the bounce names the category");
    assert!(
        !dsn.to_lowercase().contains("kankerlijer"),
        "the bounce must not carry the forbidden content"
    );
    assert!(
        dsn.contains("Subject: Geheim onderwerp 7731"),
        "original headers are attached"
    );
    // One log line with the verdict; never the subject or the word.
    assert!(daemon.wait_for_log("verdict=\"bounce\""));
    let log = daemon.log_text();
    assert!(
        !log.contains("Geheim onderwerp")
            && !log.to_lowercase().contains("kankerlijer")
            && !log.contains("juf.anna"),
        "{log}"
    );
}

#[tokio::test]
async fn persoonlijk_mail_with_forbidden_word_passes() {
    let (sink, daemon, mut client) = start(SinkBehaviour::default(), CONFIG).await;
    let mail = curse_mail("Sensitivity: Personal\r\n");
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], &mail)
        .await;
    assert_eq!(code, 250, "{text}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].data, mail);
    assert!(daemon.wait_for_log("exempt=\"persoonlijk\""));
}

#[tokio::test]
async fn vertrouwenspersoon_mail_passes() {
    let (sink, _daemon, mut client) = start(SinkBehaviour::default(), CONFIG).await;
    // The counsellor's own From: the exemption lifts content rules only, a forged From still bounces.
    let mail = String::from_utf8(curse_mail(""))
        .expect("ascii")
        .replace("From: juf.anna@", "From: vertrouwenspersoon@")
        .into_bytes();
    let (code, _) = client
        .deliver(
            "vertrouwenspersoon@school.example",
            &["ouder@example.org"],
            &mail,
        )
        .await;
    assert_eq!(code, 250);
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(sink.messages()[0].data, mail);
}

#[tokio::test]
async fn next_hop_down_is_a_temporary_failure() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let daemon = Daemon::start(closed, CONFIG);
    let (mut client, _) = Client::connect(daemon.addr).await;
    client.ehlo().await;
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
        .await;
    assert_eq!(code, 451, "{text}");
    // A bounce that cannot be handed on is a temporary failure too: Postfix keeps the message.
    let (code, text) = client
        .deliver(
            "juf.anna@school.example",
            &["ouder@example.org"],
            &curse_mail(""),
        )
        .await;
    assert_eq!(code, 451, "{text}");
}

#[tokio::test]
async fn next_hop_answers_are_passed_back_in_their_class() {
    let cases: &[(SinkBehaviour, u16)] = &[
        (
            SinkBehaviour {
                data_reply: 554,
                ..SinkBehaviour::default()
            },
            554,
        ),
        (
            SinkBehaviour {
                data_reply: 452,
                ..SinkBehaviour::default()
            },
            451,
        ),
        (
            SinkBehaviour {
                mail_reply: 421,
                ..SinkBehaviour::default()
            },
            451,
        ),
        (
            SinkBehaviour {
                rcpt_replies: vec![("ouder".into(), 550)],
                ..SinkBehaviour::default()
            },
            550,
        ),
        (
            SinkBehaviour {
                rcpt_replies: vec![("ouder".into(), 450)],
                ..SinkBehaviour::default()
            },
            451,
        ),
    ];
    for (behaviour, want) in cases {
        let sink = Sink::start(behaviour.clone()).await;
        let daemon = Daemon::start(sink.addr(), CONFIG);
        let (mut client, _) = Client::connect(daemon.addr).await;
        client.ehlo().await;
        let (code, text) = client
            .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
            .await;
        assert_eq!(code, *want, "{behaviour:?}: {text}");
        assert!(
            sink.messages().iter().all(|m| m.data.is_empty()),
            "nothing may be delivered: {behaviour:?}"
        );
    }
}

#[tokio::test]
async fn partly_refused_recipients_are_reported_to_the_sender_and_the_rest_delivered() {
    let (sink, _daemon, mut client) = start(
        SinkBehaviour {
            rcpt_replies: vec![("weg".into(), 550)],
            ..SinkBehaviour::default()
        },
        CONFIG,
    )
    .await;
    let (code, text) = client
        .deliver(
            "juf.anna@school.example",
            &["ouder@example.org", "weg@example.net"],
            CLEAN,
        )
        .await;
    assert_eq!(code, 250, "{text}");
    let delivered: Vec<_> = sink
        .messages()
        .into_iter()
        .filter(|m| !m.data.is_empty())
        .collect();
    assert_eq!(
        delivered.len(),
        2,
        "a notice and the message: {delivered:?}"
    );
    let notice = delivered
        .iter()
        .find(|m| m.mail_from.starts_with("<>"))
        .expect("notice to the sender");
    assert_eq!(notice.rcpts, vec!["<juf.anna@school.example>".to_string()]);
    assert!(String::from_utf8_lossy(&notice.data).contains("weg@example.net"));
    let message = delivered
        .iter()
        .find(|m| !m.mail_from.starts_with("<>"))
        .expect("the message");
    assert_eq!(message.data, CLEAN);
    assert_eq!(
        message
            .rcpts
            .iter()
            .filter(|r| r.contains("ouder@example.org"))
            .count(),
        1
    );
    assert!(
        message.rcpts.iter().all(|r| !r.contains("weg@")),
        "{:?}",
        message.rcpts
    );
}

#[tokio::test]
async fn oversize_is_refused_with_552() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = Daemon::start(
        sink.addr(),
        &format!("{CONFIG}\n[smtp]\nmax_message_size = 2000\n"),
    );
    let (mut client, _) = Client::connect(daemon.addr).await;
    client.ehlo().await;
    let (code, _) = client
        .command("MAIL FROM:<juf.anna@school.example> SIZE=5000")
        .await;
    assert_eq!(code, 552);
    let mut big = CLEAN.to_vec();
    big.extend(
        std::iter::repeat_n(b"Een lange regel tekst voor de ouders.\r\n".as_slice(), 100).flatten(),
    );
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], &big)
        .await;
    assert_eq!(code, 552, "{text}");
    assert!(text.contains("5.3.4"), "{text}");
    assert!(sink.messages().is_empty());
    // The connection is still usable afterwards.
    let (code, _) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
        .await;
    assert_eq!(code, 250);
}

#[tokio::test]
async fn pipelined_client_gets_every_reply_in_order() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = Daemon::start(sink.addr(), CONFIG);
    let (mut client, _) = Client::connect(daemon.addr).await;
    let mut batch = b"EHLO postfix\r\nMAIL FROM:<juf.anna@school.example>\r\nRCPT TO:<ouder@example.org>\r\nRCPT TO:<collega@school.example>\r\nDATA\r\n".to_vec();
    client.send(&batch).await;
    let codes = [
        client.reply().await.0,
        client.reply().await.0,
        client.reply().await.0,
        client.reply().await.0,
        client.reply().await.0,
    ];
    assert_eq!(codes, [250, 250, 250, 250, 354]);
    batch = dot_stuff(CLEAN);
    batch.extend_from_slice(
        b"MAIL FROM:<juf.anna@school.example>\r\nRCPT TO:<ouder@example.org>\r\nDATA\r\n",
    );
    client.send(&batch).await;
    let codes = [
        client.reply().await.0,
        client.reply().await.0,
        client.reply().await.0,
        client.reply().await.0,
    ];
    assert_eq!(codes, [250, 250, 250, 354]);
    let mut rest = dot_stuff(&curse_mail(""));
    rest.extend_from_slice(b"QUIT\r\n");
    client.send(&rest).await;
    assert_eq!(client.reply().await.0, 250);
    assert_eq!(client.reply().await.0, 221);
    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "the clean message and the bounce");
    assert_eq!(messages[0].data, CLEAN);
    assert_eq!(messages[0].rcpts.len(), 2);
    assert!(messages[1].mail_from.starts_with("<>"));
}

#[tokio::test]
async fn eicar_is_quarantined_durably_and_the_sender_notified() {
    let (sink, daemon, mut client) = start(SinkBehaviour::default(), CONFIG).await;
    let eicar = concat!(
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR",
        "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    );
    let mail = format!(
        "From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: test\r\nSensitivity: Personal\r\n\r\n{eicar}\r\n"
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
    let stored: Vec<_> = std::fs::read_dir(daemon.data_dir.join("quarantine"))
        .expect("quarantine dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(std::fs::read(&stored[0]).expect("stored"), mail.as_bytes());
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "only the notice leaves");
    assert!(messages[0].mail_from.starts_with("<>"));
    assert!(
        !String::from_utf8_lossy(&messages[0].data).contains("EICAR-STANDARD"),
        "no infected content in the notice"
    );
}

#[tokio::test]
async fn no_bounce_to_null_sender_or_auto_reply_and_reject_mode_answers_550() {
    let (sink, daemon, mut client) = start(SinkBehaviour::default(), CONFIG).await;
    let (code, text) = client
        .deliver("", &["ouder@example.org"], &curse_mail(""))
        .await;
    assert_eq!((code, text.contains("quarantined")), (250, true), "{text}");
    let (code, text) = client
        .deliver(
            "juf.anna@school.example",
            &["ouder@example.org"],
            &curse_mail("Auto-Submitted: auto-replied\r\n"),
        )
        .await;
    assert_eq!((code, text.contains("quarantined")), (250, true), "{text}");
    assert!(
        sink.messages().is_empty(),
        "no bounce to a bounce or an auto-reply"
    );
    assert!(daemon.wait_for_log("notice=withheld:auto-generated"));
    assert!(daemon.log_text().contains("notice=withheld:null-sender"));

    let reject = Daemon::start(
        sink.addr(),
        &format!("{CONFIG}\n[policy]\nbounce_mode = \"reject\"\n"),
    );
    let (mut client, _) = Client::connect(reject.addr).await;
    client.ehlo().await;
    let (code, text) = client
        .deliver(
            "juf.anna@school.example",
            &["ouder@example.org"],
            &curse_mail(""),
        )
        .await;
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("5.7.1"), "{text}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn sighup_keeps_old_rules_when_new_ones_are_broken_and_applies_good_ones() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let rules = tmp.path().join("rules");
    std::fs::create_dir(&rules).expect("rules dir");
    let config = format!(
        "{CONFIG}\n[rules]\ndir = {:?}\n",
        rules.display().to_string()
    );
    let rule = |word: &str| {
        format!(
            "[[rule]]\nid = \"T-1\"\nkind = \"words\"\ncategory = \"beledigend\"\narticle = \"SOML 2.1\"\n\
             words = [\"{word}\"]\nmessage_nl = \"Niet doen.\"\nmessage_en = \"Don't.\"\n"
        )
    };
    std::fs::write(rules.join("a.toml"), rule("appelflap")).expect("write rule");
    let daemon = Daemon::start(sink.addr(), &config);
    // Each a message of its own (as Postfix's Received line and queue id make every real one): the very same
    // bytes and envelope again would be a retry, whose notice is not repeated.
    let mail = |word: &str, n: u32| {
        format!("From: juf.anna@school.example\r\nTo: ouder@example.org\r\nMessage-ID: <{n}@school.example>\r\n\r\nEen {word}.\r\n")
            .into_bytes()
    };
    let addr = daemon.addr;
    let send = |m: Vec<u8>| async move {
        let (mut client, _) = Client::connect(addr).await;
        client.command("EHLO t").await;
        client
            .deliver("juf.anna@school.example", &["ouder@example.org"], &m)
            .await
            .0
    };
    assert_eq!(send(mail("appelflap", 1)).await, 250);
    assert_eq!(sink.messages().len(), 1, "bounced: only the notice");
    assert!(sink.messages()[0].mail_from.starts_with("<>"));

    std::fs::write(
        rules.join("a.toml"),
        "[[rule]]\nid = \"T-1\"\nkind = \"words\"\nwords = [\n",
    )
    .expect("break");
    reload_is_refused(&daemon, "a.toml");
    send(mail("appelflap", 2)).await;
    assert_eq!(sink.messages().len(), 2);
    assert!(
        sink.messages()[1].mail_from.starts_with("<>"),
        "old rules still active"
    );

    std::fs::write(rules.join("a.toml"), rule("boterkoek")).expect("write rule");
    daemon.signal("HUP");
    assert!(daemon.wait_for_log("reloaded"), "{}", daemon.log_text());
    send(mail("appelflap", 3)).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 3);
    assert!(
        messages[2].mail_from.starts_with("<juf.anna"),
        "new rules active: the old word passes"
    );
}

#[tokio::test]
async fn sigterm_finishes_the_transaction_in_flight() {
    let sink = Sink::start(SinkBehaviour {
        delay: Duration::from_millis(300),
        ..SinkBehaviour::default()
    })
    .await;
    let mut daemon = Daemon::start(sink.addr(), CONFIG);
    let (mut client, _) = Client::connect(daemon.addr).await;
    client.ehlo().await;
    client.command("MAIL FROM:<juf.anna@school.example>").await;
    client.command("RCPT TO:<ouder@example.org>").await;
    client.command("DATA").await;
    client.send(&dot_stuff(CLEAN)).await;
    // The final dot is in; the relay is slow. Stop now.
    tokio::time::sleep(Duration::from_millis(100)).await;
    daemon.signal("TERM");
    let (code, text) = client.reply().await;
    assert_eq!(code, 250, "the transaction in flight finishes: {text}");
    assert_eq!(sink.messages().len(), 1);
    assert!(
        daemon.wait_exit(),
        "mailwacht exits cleanly: {}",
        daemon.log_text()
    );
}

/// Send SIGHUP and wait for the reload to be refused, with an error that names `what` (a file, a key).
fn reload_is_refused(daemon: &Daemon, what: &str) {
    daemon.signal("HUP");
    assert!(
        daemon.wait_for_log("reload failed"),
        "{}",
        daemon.log_text()
    );
    assert!(
        daemon.log_text().contains(what),
        "the error names {what}: {}",
        daemon.log_text()
    );
}

/// A reload with a configuration that would make every notice fail is refused whole: the old settings stay,
/// and bounced mail still gets its notice (issue 13: `config`, `serve` and SIGHUP run one `compile`).
#[tokio::test]
async fn sighup_with_a_reporting_mta_that_breaks_notices_keeps_the_old_configuration() {
    let (sink, daemon, mut client) = start(SinkBehaviour::default(), CONFIG).await;
    let (code, _) = client
        .deliver(
            "juf.anna@school.example",
            &["ouder@example.org"],
            &curse_mail(""),
        )
        .await;
    assert_eq!(code, 250);
    std::fs::write(
        &daemon.config_path,
        format!("{CONFIG}\n[bounce]\nreporting_mta = \"mail gw\"\n"),
    )
    .expect("write config");
    reload_is_refused(&daemon, "[bounce] reporting_mta");
    let (code, _) = client
        .deliver(
            "juf.anna@school.example",
            &["ouder@example.org"],
            &curse_mail("Message-ID: <second@school.example>\r\n"),
        )
        .await;
    assert_eq!(code, 250, "the old configuration still bounces");
    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "two notices");
    for notice in &messages {
        assert!(notice.mail_from.starts_with("<>"), "{}", notice.mail_from);
        assert!(
            String::from_utf8_lossy(&notice.data).contains("Reporting-MTA: dns; localhost"),
            "built with the old reporting_mta"
        );
    }
}
