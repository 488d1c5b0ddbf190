//! End-to-end tests of the data directory with the real binary: the offline CLI run as root leaves files
//! the daemon (another user) can open, a permission problem is named as such and nothing is moved aside,
//! a damaged traffic database or audit log does not stop mail, and everything is owner-only whatever the
//! umask.
//!
//! The tests that change users need root (as in CI's containers); run as anyone else they say so and pass.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::client::Client;
use support::daemon::{command_as, run_cli_as, spawn_serve_as, Daemon, Identity};
use support::sink::{Sink, SinkBehaviour};

const CONFIG: &str = r#"
[organisation]
local_domains = ["school.example"]
"#;

const CLEAN: &[u8] =
    b"From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: Ouderavond\r\n\r\nBeste ouders,\r\n";

/// A command that reads the traffic store (and writes the audit log): every completed period.
const SUMMARY: &[&str] = &["traffic", "summary"];

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

/// The uid the daemon runs as in these tests (Debian's `nobody`; the gid of the same number is `nogroup`).
const DAEMON_UID: u32 = 65534;
/// Another unprivileged user.
const OTHER_UID: u32 = 65533;

const ROOT: Identity = Identity {
    uid: None,
    umask: None,
};
const AS_DAEMON: Identity = Identity {
    uid: Some(DAEMON_UID),
    umask: None,
};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: changing users needs root");
    }
    root
}

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

    /// Create the data directory and the key directory beside it (`<data_dir>-keys`) owned by `uid`, as the
    /// Debian package and the systemd unit do for the `mailwacht` user.
    fn data_dir_owned_by(&self, uid: u32) {
        for dir in [&self.data, &self.key_dir()] {
            std::fs::create_dir(dir).expect("mkdir");
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
            std::os::unix::fs::chown(dir, Some(uid), Some(uid)).expect("chown");
        }
    }

    /// The default pseudonym key directory, beside the data directory.
    fn key_dir(&self) -> PathBuf {
        self.data.with_file_name("data-keys")
    }

    /// A directory only root may enter, beside the data directory.
    fn root_only_dir(&self) -> PathBuf {
        let dir = self._tmp.path().join("root-only");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        dir
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

    /// `mailwacht serve` as `identity`, expected to stop by itself: (exit code, stderr). Killed after 30 s.
    fn serve_until_exit(&self, identity: Identity) -> (i32, String) {
        let mut child = command_as(identity)
            .arg("--config")
            .arg(&self.config)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&self.data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mailwacht");
        let deadline = Instant::now() + Duration::from_secs(30);
        let code = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mailwacht serve kept running");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        (code, stderr)
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

/// [`CONFIG`] with `/metrics` on a free loopback port, and that port.
fn config_with_metrics() -> (String, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let config = format!("{CONFIG}[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
    (config, port)
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

/// Issue 12 item 3: the offline CLI run as root before the daemon's first start (every command that opens
/// a store: quarantine, traffic, inquiry, audit) leaves only files owned by the data directory's owner,
/// records the real caller (root) in the audit log, and the daemon, running as that owner, then starts
/// and passes mail. Before the fix the files were root's and the daemon refused to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_cli_as_root_leaves_the_daemon_a_data_directory_it_can_use() {
    if !is_root() {
        return;
    }
    let site = Site::new(CONFIG);
    site.data_dir_owned_by(DAEMON_UID);
    for args in [
        &["quarantine", "list"][..],
        SUMMARY,
        INQUIRY_OPEN,
        &["audit", "list"],
    ] {
        let (code, out, err) = site.cli(ROOT, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    let files = walk(&site.data);
    for name in ["traffic.sled", "quarantine.sled", "quarantine", "audit.log"] {
        assert!(
            files.contains(&site.data.join(name)),
            "{name} created: {files:?}"
        );
    }
    for path in &files {
        let owner = std::fs::symlink_metadata(path).expect("meta").uid();
        assert_eq!(
            owner,
            DAEMON_UID,
            "{} is owned by uid {owner}",
            path.display()
        );
    }
    let (code, out, err) = site.cli(ROOT, &["audit", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let audit: serde_json::Value = serde_json::from_str(&out).expect("json");
    let entries = audit["entries"].as_array().expect("entries");
    assert!(
        entries.iter().any(|e| e["action"] == "inquiry-open"),
        "{out}"
    );
    for e in entries {
        assert_eq!(e["uid"], 0, "the real caller is recorded: {out}");
    }

    // Root's own ids come back once the stores are closed: a report goes where root asked.
    let root_only = site.root_only_dir();
    let report = root_only.join("summary.csv");
    let to_file = [
        SUMMARY,
        &["--format", "csv", "--out", report.to_str().expect("path")],
    ]
    .concat();
    let (code, _, err) = site.cli(ROOT, &to_file);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::metadata(&report).expect("report").uid(), 0);

    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = site.serve(AS_DAEMON, sink.addr());
    relays(daemon.addr, &sink).await;
    assert!(
        !daemon.log_text().contains("moved aside"),
        "{}",
        daemon.log_text()
    );
    daemon.stop();
    for path in walk(&site.data) {
        assert!(
            !path.to_string_lossy().contains("damaged"),
            "{}",
            path.display()
        );
    }
}

/// The data directory's owner (the daemon's user, should it be taken over) cannot steer root's offline
/// CLI: a symlink planted as `audit.log` is followed with the owner's rights, not root's, so a file only
/// root may write stays untouched. Before, root appended the audit entry to wherever the link pointed.
#[test]
fn the_data_directory_owner_cannot_make_the_offline_cli_write_as_root() {
    if !is_root() {
        return;
    }
    let site = Site::new(CONFIG);
    site.data_dir_owned_by(DAEMON_UID);
    let root_only = site.root_only_dir();
    let target = root_only.join("crontab");
    std::fs::write(&target, b"# root's file\n").expect("write");
    std::os::unix::fs::symlink(&target, site.data.join("audit.log")).expect("symlink");
    let (code, _, err) = site.cli(ROOT, INQUIRY_OPEN);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ermission denied"), "{err}");
    assert_eq!(std::fs::read(&target).expect("read"), b"# root's file\n");
}

/// Issue 12 item 3: another user than the owner (or root) is refused before anything is opened, and a
/// command on a data directory that does not exist creates nothing.
#[test]
fn offline_cli_refuses_a_data_directory_it_does_not_own_and_never_creates_one() {
    if !is_root() {
        return;
    }
    let site = Site::new(CONFIG);
    let (code, _, err) = site.cli(ROOT, &["quarantine", "list"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing stored yet"), "{err}");
    assert!(
        !site.data.exists(),
        "a read-only command created the data directory"
    );
    let (code, _, err) = site.cli(ROOT, INQUIRY_OPEN);
    assert_eq!(code, 2, "{err}");
    assert!(!site.data.exists(), "the CLI created a data directory");

    site.data_dir_owned_by(DAEMON_UID);
    let other = Identity {
        uid: Some(OTHER_UID),
        umask: None,
    };
    let (code, _, err) = site.cli(other, &["quarantine", "list"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("belongs to uid {DAEMON_UID}")) && err.contains("runs as uid 65533"),
        "{err}"
    );
    assert!(walk(&site.data).is_empty(), "nothing created");
}

/// Issue 12 item 3: files in the data directory owned by another user (root) make the daemon stop with a
/// message naming the file, its owner, the daemon's uid and the fix — and the quarantine index is not
/// moved aside as "damaged". After the suggested chown it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_names_a_permission_problem_and_moves_nothing_aside() {
    if !is_root() {
        return;
    }
    let site = Site::new(CONFIG);
    let sink = Sink::start(SinkBehaviour::default()).await;
    // A first start as root leaves root's stores; then the directory is given to the daemon's user, but
    // not what is in it (what a root-run CLI used to leave).
    site.serve(ROOT, sink.addr()).stop();
    std::os::unix::fs::chown(&site.data, Some(DAEMON_UID), Some(DAEMON_UID)).expect("chown");
    let (code, err) = site.serve_until_exit(AS_DAEMON);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("permission denied: ")
            && err.contains("is owned by uid 0, mailwacht runs as uid 65534")
            && err.contains(&format!("chown -R 65534:65534 {}", site.data.display())),
        "{err}"
    );
    let names: Vec<_> = walk(&site.data)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("damaged")),
        "moved aside: {names:?}"
    );
    // The fix as told; then the key directory beside it, which the first start as root also left root's,
    // is named the same way — but it only serves the traffic records, so mail flows meanwhile (item 9);
    // after that fix too the daemon keeps its records again.
    let chown = |dir: &Path| {
        let status = std::process::Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(dir)
            .status()
            .expect("chown");
        assert!(status.success());
    };
    chown(&site.data);
    let daemon = site.serve(AS_DAEMON, sink.addr());
    relays(daemon.addr, &sink).await;
    let log = daemon.log_text();
    assert!(
        log.contains("the pseudonym keys cannot be opened")
            && log.contains(&format!(
                "permission denied: {} is owned by uid 0",
                site.key_dir().display()
            ))
            && log.contains(&format!(
                "chown -R 65534:65534 {}",
                site.key_dir().display()
            )),
        "{log}"
    );
    daemon.stop();
    chown(&site.key_dir());
    let daemon = site.serve(AS_DAEMON, sink.addr());
    relays(daemon.addr, &sink).await;
}

/// Issue 12 item 9: a traffic database sled cannot open makes `serve` move it aside (kept byte for byte),
/// start a fresh one, log an error and count it in the metrics — and mail flows. Before: exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_traffic_store_does_not_stop_mail() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let (config, metrics_port) = config_with_metrics();
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

/// Issue 12 item 9, for the key directory of item 8: pseudonym keys only serve the traffic records, so a key
/// directory that cannot be opened (here a file where the directory should be) is logged as an error and
/// counted, no record is kept without its key, and mail flows. Before: `serve` exited and mail was deferred.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_key_directory_does_not_stop_mail() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let (config, metrics_port) = config_with_metrics();
    let mut daemon = Daemon::start(sink.addr(), &config);
    daemon.kill();
    let mut key_dir = daemon.data_dir.clone().into_os_string();
    key_dir.push("-keys");
    let key_dir = PathBuf::from(key_dir);
    std::fs::remove_dir_all(&key_dir).expect("remove the key directory");
    std::fs::write(&key_dir, b"not a directory").expect("a file in its place");

    let daemon = daemon.restart();
    assert!(
        daemon.wait_for_log("the pseudonym keys cannot be opened"),
        "{}",
        daemon.log_text()
    );
    relays(daemon.addr, &sink).await;
    assert!(
        daemon.wait_for_log("traffic record not written"),
        "{}",
        daemon.log_text()
    );
    let metrics = http_get(metrics_port, "/metrics");
    assert!(
        metrics.contains("mailwacht_traffic_records_dropped_total 1"),
        "{metrics}"
    );
    assert_eq!(
        std::fs::read(&key_dir).expect("left alone"),
        b"not a directory"
    );
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
    // The message's traffic record brings the period's pseudonym key (written in the background).
    for _ in 0..500 {
        if std::fs::read_dir(site.key_dir()).is_ok_and(|mut d| d.next().is_some()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    daemon.stop();
    let (code, _, err) = site.cli(open, INQUIRY_OPEN);
    assert_eq!(code, 0, "{err}");
    let mode = |p: &Path| std::fs::symlink_metadata(p).expect("meta").mode() & 0o777;
    assert_eq!(mode(&site.data), 0o700);
    let files = walk(&site.data);
    assert!(files.contains(&site.data.join("traffic.sled")));
    assert!(files.contains(&site.data.join("audit.log")));
    assert_eq!(mode(&site.key_dir()), 0o700);
    let keys = walk(&site.key_dir());
    assert!(!keys.is_empty(), "a pseudonym key was created");
    for path in files.into_iter().chain(keys) {
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
