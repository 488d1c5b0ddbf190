//! Start the real `mailwacht serve` binary for a test, on a free port, and collect its log lines.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Child,
    /// Where mailwacht listens.
    pub addr: SocketAddr,
    /// Every line mailwacht wrote to stderr so far.
    pub log: Arc<Mutex<Vec<String>>>,
    /// The data directory (quarantine).
    pub data_dir: PathBuf,
    /// The configuration file.
    pub config_path: PathBuf,
    next_hop: SocketAddr,
    _tmp: tempfile::TempDir,
}

impl Daemon {
    /// Start `mailwacht serve` relaying to `next_hop`, with `config` (TOML text) as its configuration file.
    pub fn start(next_hop: SocketAddr, config: &str) -> Daemon {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config_path = tmp.path().join("mailwacht.toml");
        std::fs::write(&config_path, config).expect("write config");
        let data_dir = tmp.path().join("data");
        Daemon::start_with(next_hop, &config_path, &data_dir, tmp)
    }

    fn start_with(
        next_hop: SocketAddr,
        config_path: &Path,
        data_dir: &Path,
        tmp: tempfile::TempDir,
    ) -> Daemon {
        let next_hop_arg = next_hop.to_string();
        let (child, addr, log) = spawn_serve(
            config_path,
            data_dir,
            &["--listen", "127.0.0.1:0", "--next-hop", &next_hop_arg],
            "listen=",
        );
        let addr = addr.parse().expect("listen address");
        Daemon {
            child,
            addr,
            log,
            data_dir: data_dir.to_path_buf(),
            config_path: config_path.to_path_buf(),
            next_hop,
            _tmp: tmp,
        }
    }

    /// SIGKILL the daemon (no shutdown code runs: a crash) and wait until it is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kill the daemon and start a new one on the same configuration and data directory.
    pub fn restart(mut self) -> Daemon {
        self.kill();
        let tmp = std::mem::replace(&mut self._tmp, tempfile::tempdir().expect("tempdir"));
        Daemon::start_with(self.next_hop, &self.config_path, &self.data_dir, tmp)
    }

    /// Run `mailwacht <args> --data-dir <data_dir>` with the daemon's configuration; (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        run_cli(&self.config_path, &self.data_dir, args)
    }

    /// Send a signal to the daemon.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -s {signal}");
    }

    /// Wait until a log line contains `needle` (up to 30 s); false if it never came.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self
                .log
                .lock()
                .expect("log lock")
                .iter()
                .any(|l| l.contains(needle))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// All log lines so far, joined.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// Wait for the process to exit (up to 30 s) and return whether it exited successfully.
    pub fn wait_exit(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `mailwacht --config <config> serve <serve_args> --data-dir <data_dir>` with its stderr collected, and
/// wait (up to 30 s) for the log field `ready_key` (e.g. `listen=`) that names the address it bound.
/// Returns the child, that address and the log lines (still growing).
pub fn spawn_serve(
    config_path: &Path,
    data_dir: &Path,
    serve_args: &[&str],
    ready_key: &'static str,
) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    spawn_serve_as(
        Identity::default(),
        config_path,
        data_dir,
        serve_args,
        ready_key,
    )
}

/// Who a started process runs as: another uid (and the gid of the same number, no supplementary groups)
/// and/or another umask, set in the child before `exec`. The default changes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity {
    pub uid: Option<u32>,
    pub umask: Option<u32>,
}

/// The `mailwacht` binary at a path every user can execute. Cargo's own may sit below a directory only its
/// owner can enter (a clone under `mktemp -d`, mode 0700), where another uid cannot run it: tests that
/// change users run a copy in a world-readable directory of the system's temporary directory, one per
/// build (named after the binary's size and modification time), made once and kept for the next run.
pub fn binary_for_anyone() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let built = Path::new(env!("CARGO_BIN_EXE_mailwacht"));
        let meta = std::fs::metadata(built).expect("the built binary");
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("mailwacht-test-bin-{}-{mtime}", meta.len()));
        let path = dir.join("mailwacht");
        if !path.exists() {
            std::fs::create_dir_all(&dir).expect("binary directory");
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            let tmp = dir.join(format!("mailwacht.{}", std::process::id()));
            std::fs::copy(built, &tmp).expect("copy the binary");
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            std::fs::rename(&tmp, &path).expect("rename");
        }
        path
    })
    .clone()
}

/// `mailwacht` as a command that starts as `identity`.
pub fn command_as(identity: Identity) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = match identity.uid {
        Some(_) => Command::new(binary_for_anyone()),
        None => Command::new(env!("CARGO_BIN_EXE_mailwacht")),
    };
    // SAFETY: between fork and exec only async-signal-safe calls (setgroups, setgid, setuid, umask).
    unsafe {
        command.pre_exec(move || {
            if let Some(mask) = identity.umask {
                libc::umask(mask);
            }
            if let Some(uid) = identity.uid {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(uid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    command
}

/// [`spawn_serve`], started as `identity`.
pub fn spawn_serve_as(
    identity: Identity,
    config_path: &Path,
    data_dir: &Path,
    serve_args: &[&str],
    ready_key: &'static str,
) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    spawn_serve_with(
        command_as(identity),
        config_path,
        data_dir,
        serve_args,
        ready_key,
    )
}

/// [`spawn_serve`] with `command` as the start of the command line: the mailwacht binary, or a wrapper
/// such as `runuser ... -- <binary>` that starts it as another user with other groups.
pub fn spawn_serve_with(
    mut command: Command,
    config_path: &Path,
    data_dir: &Path,
    serve_args: &[&str],
    ready_key: &'static str,
) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    let mut child = command
        .arg("--config")
        .arg(config_path)
        .arg("serve")
        .args(serve_args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailwacht");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix(ready_key))
            {
                let _ = tx.send(addr.trim_matches('"').to_string());
            }
            sink.lock().expect("log lock").push(line);
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(addr) => (child, addr, log),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "mailwacht did not start: {:?}",
                log.lock().expect("log lock")
            );
        }
    }
}

/// Run `mailwacht --config <config> <args> --data-dir <data_dir>`; (exit code, stdout, stderr).
pub fn run_cli(config_path: &Path, data_dir: &Path, args: &[&str]) -> (i32, String, String) {
    run_cli_as(Identity::default(), config_path, data_dir, args)
}

/// [`run_cli`], run as `identity`.
pub fn run_cli_as(
    identity: Identity,
    config_path: &Path,
    data_dir: &Path,
    args: &[&str],
) -> (i32, String, String) {
    let out = command_as(identity)
        .arg("--config")
        .arg(config_path)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run mailwacht");
    outcome(&out)
}

/// A finished command as (exit code, or -1 when killed by a signal; stdout; stderr).
pub fn outcome(out: &std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
