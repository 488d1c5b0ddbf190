//! End-to-end tests of malware scanning and the quarantine with the real binary: clamd unavailable, crash
//! safety (SIGKILL after `250`), the index rebuilt, and the review CLI over the admin socket and offline.

mod support;

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
    let (mut client, _) = Client::connect(daemon.addr).await;
    let (code, _) = client.command("EHLO postfix.school.example").await;
    assert_eq!(code, 250);
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
    let (mut client, _) = Client::connect(daemon.addr).await;
    let (code, _) = client.command("EHLO postfix.school.example").await;
    assert_eq!(code, 250);
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
        .await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(sink.messages().len(), 1);
}
