//! What the status page shows: is the scanner answering, is the next hop answering, what runs, how many
//! rules, which version, when the configuration was last (re)loaded — what ICT staff check first when a
//! teacher calls. The probes send nothing that is mail: a fixed harmless text to the scanner, and a TCP
//! connect + greeting read (then `QUIT`) to the next hop.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::filter::Engine;

/// How long each probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the status page gets its facts (filled in by `serve`).
pub struct StatusSource {
    /// The engine in use now (rules, scanner); a reload replaces it.
    pub engine: Box<dyn Fn() -> Arc<Engine> + Send + Sync>,
    /// `[smtp] next_hop`.
    pub next_hop: String,
    /// What is served: the content filter, the milter, or both (with their addresses).
    pub mode: String,
    /// When the configuration and rules were last loaded (start or SIGHUP).
    pub loaded: Arc<Mutex<SystemTime>>,
}

impl std::fmt::Debug for StatusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusSource")
            .field("next_hop", &self.next_hop)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// One probe's answer: answering, or why not.
pub type Probe = Result<(), String>;

/// The facts of the status page.
#[derive(Debug)]
pub struct Status {
    pub scanner: String,
    pub scanner_probe: Probe,
    pub next_hop_probe: Probe,
    pub rules: usize,
    /// `[policy] mode` of the engine in use: does screening act, or only report (monitor mode)?
    pub screening: crate::rules::Mode,
    pub loaded: SystemTime,
}

impl StatusSource {
    /// The facts of a running daemon: the filter's engine, `config`'s next hop and listeners.
    pub fn of_daemon(
        filter: crate::filter::Filter,
        config: &crate::config::Config,
        loaded: Arc<Mutex<SystemTime>>,
    ) -> StatusSource {
        let mut mode = Vec::new();
        if config.smtp.enabled {
            mode.push(format!("content_filter (SMTP {})", config.smtp.listen));
        }
        if config.milter.enabled {
            mode.push(format!("milter ({})", config.milter.listen));
        }
        StatusSource {
            engine: Box::new(move || filter.engine()),
            next_hop: config.smtp.next_hop.clone(),
            mode: mode.join(" + "),
            loaded,
        }
    }

    /// Probe the scanner and the next hop (in parallel) and read the rest.
    pub async fn probe(&self) -> Status {
        let engine = (self.engine)();
        let (scanner_probe, next_hop_probe) =
            tokio::join!(probe_scanner(&engine), probe_next_hop(&self.next_hop));
        Status {
            scanner: engine.scanner.name().to_string(),
            scanner_probe,
            next_hop_probe,
            rules: engine.rules.rules().len(),
            screening: engine.policy.mode,
            loaded: self
                .loaded
                .lock()
                .map(|t| *t)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        }
    }
}

/// Scan a small fixed text: any verdict means the scanner answers.
async fn probe_scanner(engine: &Engine) -> Probe {
    let raw = b"Subject: mailwacht status\r\n\r\nstatus probe\r\n";
    let analysis = crate::message::analyse(raw, &engine.limits);
    match tokio::time::timeout(PROBE_TIMEOUT, engine.scanner.scan(raw, &analysis)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
    }
}

/// Connect and read the greeting: a `220` is an answer.
async fn probe_next_hop(address: &str) -> Probe {
    let talk = async {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| e.to_string())?;
        let (read, mut write) = stream.into_split();
        let mut greeting = String::new();
        BufReader::new(read)
            .read_line(&mut greeting)
            .await
            .map_err(|e| e.to_string())?;
        let _ = write.write_all(b"QUIT\r\n").await;
        if greeting.starts_with("220") {
            Ok(())
        } else {
            Err(format!(
                "greeting {:?}",
                greeting.trim_end().chars().take(40).collect::<String>()
            ))
        }
    };
    match tokio::time::timeout(PROBE_TIMEOUT, talk).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
    }
}
