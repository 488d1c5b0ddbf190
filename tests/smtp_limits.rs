//! The SMTP listener's limits against a hostile or broken client, through the real binary: an envelope
//! address that is not UTF-8 is refused, never rewritten and relayed.

mod support;

use support::client::Client;
use support::daemon::Daemon;
use support::sink::{Sink, SinkBehaviour};

const CLEAN: &[u8] =
    b"From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: Ouderavond\r\n\r\nBeste ouders,\r\n";

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
