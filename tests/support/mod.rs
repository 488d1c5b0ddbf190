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

/// A mail with the EICAR test file attached (quarantined by the built-in scanner and clamd alike), in two
/// halves so this source is not itself flagged by a desktop antivirus.
pub fn infected_mail() -> Vec<u8> {
    let eicar = concat!(
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR",
        "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    );
    format!(
        "From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: Rooster\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nZie bijlage.\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"rooster.com\"\r\n\
         Content-Disposition: attachment; filename=\"rooster.com\"\r\n\r\n{eicar}\r\n--b1--\r\n"
    )
    .into_bytes()
}
