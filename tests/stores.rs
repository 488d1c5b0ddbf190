//! End-to-end tests of the data directory with the real binary: a damaged traffic database or audit log
//! does not stop mail, and everything is owner-only whatever the umask.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Child;

use support::client::Client;
use support::daemon::{run_cli_as, spawn_serve_as, Daemon, Identity};
use support::sink::{Sink, SinkBehaviour};

const CONFIG: &str = r#"
[organisation]
local_domains = ["school.example"]
"#;

const CLEAN: &[u8] =
    b"From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: Ouderavond\r\n\r\nBeste ouders,\r\n";

/// A command that writes to the traffic store and the audit log.
const INQUIRY_OPEN: &[&str] = &[
    "inquiry",
    "open",
    "--person",
    "leraar1@school.example",
    "--reason",
    "melding 2026-17 van de directeur",
    "--days",
    "7",
    "--by",
    "J. de Vries (FG)",
];

/// A temporary directory others can traverse, with a configuration file and an (absent) data directory.
struct Site {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    data: PathBuf,
}

impl Site {
    fn new(config: &str) -> Site {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let path = tmp.path().join("mailwacht.toml");
        std::fs::write(&path, config).expect("config");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let data = tmp.path().join("data");
        Site {
            _tmp: tmp,
            config: path,
            data,
        }
    }

    fn cli(&self, identity: Identity, args: &[&str]) -> (i32, String, String) {
        run_cli_as(identity, &self.config, &self.data, args)
    }

    /// `mailwacht serve` as `identity` until it listens (panics when it does not start).
    fn serve(&self, identity: Identity, next_hop: std::net::SocketAddr) -> Running {
        let next_hop = next_hop.to_string();
        let (child, addr, log) = spawn_serve_as(
            identity,
            &self.config,
            &self.data,
            &["--listen", "127.0.0.1:0", "--next-hop", &next_hop],
            "listen=",
        );
        Running {
            child,
            addr: addr.parse().expect("address"),
            log,
        }
    }
}

/// A daemon started by [`Site::serve`]; killed when dropped.
struct Running {
    child: Child,
    addr: std::net::SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Running {
    fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file and directory under `dir` (not `dir` itself).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

async fn relays(addr: std::net::SocketAddr, sink: &Sink) {
    let before = sink.messages().len();
    let mut client = Client::connect_ehlo(addr).await;
    let (code, text) = client
        .deliver("juf.anna@school.example", &["ouder@example.org"], CLEAN)
        .await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(sink.messages().len(), before + 1);
}

/// Issue 12 item 9: a traffic database sled cannot open makes `serve` move it aside (kept byte for byte),
/// start a fresh one, log an error and count it in the metrics — and mail flows. Before: exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_traffic_store_does_not_stop_mail() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let metrics_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let config = format!("{CONFIG}[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n");
    let mut daemon = Daemon::start(sink.addr(), &config);
    daemon.kill();
    let conf = daemon.data_dir.join("traffic.sled/conf");
    let mut damaged = std::fs::read(&conf).expect("conf");
    damaged[10] ^= 0x01;
    std::fs::write(&conf, &damaged).expect("damage");

    let daemon = daemon.restart();
    assert!(
        daemon.wait_for_log("the traffic store (verkeersgegevens) was damaged"),
        "{}",
        daemon.log_text()
    );
    assert!(daemon.log_text().contains("ERROR"), "{}", daemon.log_text());
    relays(daemon.addr, &sink).await;
    let aside: Vec<_> = std::fs::read_dir(&daemon.data_dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("traffic.sled.damaged-"))
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(aside[0].join("conf")).expect("kept"), damaged);
    let metrics = http_get(metrics_port, "/metrics");
    assert!(
        metrics.contains("mailwacht_store_recovered_total{store=\"traffic\"} 1"),
        "{metrics}"
    );
}

/// Not a store mail needs: a damaged audit log (garbage, a broken chain) must not keep `serve` from
/// starting or from passing mail. Its integrity is reported by `audit list`, not by deferring mail.
#[tokio::test]
async fn a_damaged_audit_log_does_not_stop_mail() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let mut daemon = Daemon::start(sink.addr(), CONFIG);
    daemon.kill();
    std::fs::write(
        daemon.data_dir.join("audit.log"),
        b"{\"time\":1,\"uid\":0,\"act\n\xff\xfe garbage, not an audit log\n",
    )
    .expect("damage");
    let daemon = daemon.restart();
    relays(daemon.addr, &sink).await;
}

/// Issue 12 (low): with umask 000 everything the daemon and the offline CLI create in the data directory
/// is owner-only: directories 0700, files 0600 (the admin socket keeps its 0660; its group is the access
/// control). Before the fix sled's files followed the umask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_in_the_data_directory_is_owner_only_whatever_the_umask() {
    let site = Site::new(CONFIG);
    let open = Identity {
        uid: None,
        umask: Some(0o000),
    };
    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = site.serve(open, sink.addr());
    relays(daemon.addr, &sink).await;
    assert!(
        !daemon.log_text().contains("ERROR"),
        "{}",
        daemon.log_text()
    );
    daemon.stop();
    let (code, _, err) = site.cli(open, INQUIRY_OPEN);
    assert_eq!(code, 0, "{err}");
    let mode = |p: &Path| std::fs::symlink_metadata(p).expect("meta").mode() & 0o777;
    assert_eq!(mode(&site.data), 0o700);
    let files = walk(&site.data);
    assert!(files.contains(&site.data.join("traffic.sled")));
    assert!(files.contains(&site.data.join("audit.log")));
    for path in files {
        let want = if path.ends_with("admin.sock") {
            0o660
        } else if path.is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(mode(&path), want, "{}", path.display());
    }
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("read");
    out
}
