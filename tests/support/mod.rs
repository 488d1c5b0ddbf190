//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod clamd;
pub mod client;
pub mod daemon;
pub mod milter_client;
pub mod pg;
pub mod sink;

/// A test sink as next hop, `mailwacht serve` relaying to it with `config`, and a client that has said EHLO.
pub async fn start(
    behaviour: sink::SinkBehaviour,
    config: &str,
) -> (sink::Sink, daemon::Daemon, client::Client) {
    let sink = sink::Sink::start(behaviour).await;
    let daemon = daemon::Daemon::start(sink.addr(), config);
    let client = client::Client::connect_ehlo(daemon.addr).await;
    (sink, daemon, client)
}
