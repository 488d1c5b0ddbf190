//! The SMTP listener's limits against a hostile or broken client, through the real binary: a client that
//! trickles a command byte by byte loses its slot at the command deadline (slowloris), and an envelope
//! address that is not UTF-8 is refused, never rewritten and relayed.

mod support;

use std::time::Duration;

use support::client::Client;
use support::daemon::Daemon;
use support::sink::{Sink, SinkBehaviour};

const CLEAN: &[u8] =
    b"From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: Ouderavond\r\n\r\nBeste ouders,\r\n";

/// Two connection slots, both taken by clients sending a NOOP line one byte per 200 ms, well inside the
/// idle limit: each is closed with `421` at the command deadline (before, each got `250` when its line
/// ended, 13 s later, and could go on), and Postfix then gets a slot and delivers.
#[tokio::test]
async fn slow_clients_lose_their_slot_at_the_command_deadline() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let config = "[organisation]\nlocal_domains = [\"school.example\"]\n\
                  [smtp]\nmax_connections = 2\ntimeout_secs = 30\ncommand_timeout_secs = 1\n";
    let daemon = Daemon::start(sink.addr(), config);
    let mut line = b"NOOP ".to_vec();
    line.extend_from_slice(&[b'x'; 58]);
    line.extend_from_slice(b"\r\n");
    let slow = |line: Vec<u8>| async move {
        let mut client = Client::connect_ehlo(daemon.addr).await;
        let answer = client.trickle(&line, Duration::from_millis(200)).await;
        (answer, client.closed().await)
    };
    let (a, b) = tokio::join!(slow(line.clone()), slow(line));
    for ((code, text), closed) in [a, b] {
        assert_eq!(code, 421, "{text}");
        assert!(text.starts_with("4.4.2"), "{text}");
        assert!(closed, "the connection is closed after 421");
    }
    let mut postfix = Client::connect_ehlo(daemon.addr).await;
    let (code, text) = postfix
        .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
        .await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(sink.messages().len(), 1);
}

/// A recipient (or sender) that is not UTF-8 gets `501` with its enhanced status code; the transaction
/// goes on with the valid recipients only, and nothing is relayed to a rewritten address.
#[tokio::test]
async fn non_utf8_addresses_are_refused_and_never_relayed() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = Daemon::start(
        sink.addr(),
        "[organisation]\nlocal_domains = [\"school.example\"]\n",
    );
    let mut client = Client::connect_ehlo(daemon.addr).await;
    client
        .send(b"MAIL FROM:<juf.\xe9@school.example>\r\n")
        .await;
    let (code, text) = client.reply().await;
    assert_eq!(code, 501, "{text}");
    assert!(text.starts_with("5.1.7"), "{text}");
    let (code, _) = client.command("MAIL FROM:<juf.anna@school.example>").await;
    assert_eq!(code, 250);
    client.send(b"RCPT TO:<j\xe9r\xf4me@example.org>\r\n").await;
    let (code, text) = client.reply().await;
    assert_eq!(code, 501, "{text}");
    assert!(text.starts_with("5.1.3"), "{text}");
    let (code, _) = client.command("RCPT TO:<ouder@example.org>").await;
    assert_eq!(code, 250);
    let (code, _) = client.command("DATA").await;
    assert_eq!(code, 354);
    client.send(&support::client::dot_stuff(CLEAN)).await;
    let (code, text) = client.reply().await;
    assert_eq!(code, 250, "{text}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].rcpts.len(), 1, "{:?}", messages[0].rcpts);
    assert!(messages[0].rcpts[0].contains("ouder@example.org"));
    assert!(
        !sink.commands().iter().any(|c| c.contains('\u{fffd}')),
        "{:?}",
        sink.commands()
    );
}
