//! A private PostgreSQL for the tests (issue 17): one cluster per test binary, started on first use and gone
//! when the binary exits, and a fresh database per test ([`database`]); or a server of the caller's choice
//! when `MAILWACHT_TEST_PG_URL` is set (libpq key/value form, a user allowed to CREATE DATABASE).
//!
//! The cluster is made by `deploy/e2e/postgres.sh init` (initdb in a temporary directory, as the `postgres`
//! user when the tests run as root) and run here as a child process (`postgres -D …`, its own port on
//! 127.0.0.1 and its socket in its directory, `fsync=off`: test data need not survive a power cut) that gets
//! SIGQUIT when the test binary ends (`PR_SET_PDEATHSIG`), so nothing is left running. Where PostgreSQL
//! cannot be started the test fails and says how to install it: no test is skipped silently.
//!
//! A test that stops and starts PostgreSQL takes a [`Cluster`] of its own ([`Cluster::start`]).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mailwacht::storage::postgres::tokio_postgres;

/// The environment variable naming an existing server instead of a private cluster.
pub const URL_ENV: &str = "MAILWACHT_TEST_PG_URL";

/// A private PostgreSQL cluster: its directory, port and server process.
pub struct Cluster {
    /// PostgreSQL's programs (`/usr/lib/postgresql/15/bin`).
    bin: PathBuf,
    /// The cluster's directory: `data/` and the unix socket.
    dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The running server (`None` while stopped).
    server: Mutex<Option<Child>>,
    /// Kept for its `Drop` (removes the directory) on an owned cluster; `None` for the shared one, whose
    /// directory is removed by the next test run (see [`remove_stale`]).
    _tmp: Option<tempfile::TempDir>,
}

impl Cluster {
    /// A cluster of the caller's own (for tests that stop and start it); removed when dropped.
    pub fn start() -> Cluster {
        let tmp = tempfile::Builder::new()
            .prefix("pg-")
            .tempdir_in(root())
            .expect("tempdir for PostgreSQL");
        let dir = tmp.path().to_path_buf();
        let mut cluster = Cluster::init(dir);
        cluster._tmp = Some(tmp);
        cluster.start_server();
        cluster
    }

    fn init(dir: PathBuf) -> Cluster {
        open_for_postgres(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/e2e/postgres.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("init")
            .arg(&dir)
            .current_dir(std::env::temp_dir())
            .output()
            .expect("running deploy/e2e/postgres.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "no PostgreSQL for the tests: {}\n(deploy/e2e/postgres.sh init {} exited with {})",
            stderr.trim(),
            dir.display(),
            out.status
        );
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Cluster {
            bin,
            dir,
            port: free_port(),
            server: Mutex::new(None),
            _tmp: None,
        }
    }

    /// Start the server (again, after [`Cluster::stop`]) and wait until it accepts connections.
    pub fn start_server(&self) {
        let mut server = self.server.lock().expect("server lock");
        assert!(server.is_none(), "PostgreSQL is already running");
        let mut command = Command::new(self.bin.join("postgres"));
        command
            .current_dir(&self.dir)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.join("postgres.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            );
        if let Some((uid, gid)) = postgres_user() {
            command.uid(uid).gid(gid);
        }
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        *server = Some(spawn_from_a_thread_that_lives(command));
        drop(server);
        self.wait_ready();
    }

    /// Stop the server as a crash or a cut-off network looks to a client: at once (SIGQUIT, immediate
    /// shutdown), and wait until it is gone.
    pub fn stop(&self) {
        if let Some(mut child) = self.server.lock().expect("server lock").take() {
            // SAFETY: kill has no memory effects; the pid is our own child's, not yet reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGQUIT);
            }
            let _ = child.wait();
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            if let Some(child) = self.server.lock().expect("server lock").as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "PostgreSQL exited at start ({status}):\n{}",
                        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not accept connections within 60 s:\n{}",
                std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's URL (database `postgres`, user `postgres`, trust authentication).
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// A fresh database on this cluster.
    pub fn database(&self) -> TestDb {
        TestDb::create(&self.url())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One test's database; dropped (`DROP DATABASE … WITH (FORCE)`) when the test ends.
pub struct TestDb {
    /// Its URL (libpq key/value form, no password).
    pub url: String,
    /// Its name, `t_<pid>_<n>`.
    pub name: String,
    /// The server's URL, to drop it.
    server: String,
}

impl TestDb {
    fn create(server: &str) -> TestDb {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        execute(server, &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
        TestDb {
            url: format!("{server} dbname={name}"),
            name,
            server: server.to_string(),
        }
    }

    /// Run SQL (several statements) in this database.
    pub fn execute(&self, sql: &str) {
        execute(&self.url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = execute(
            &self.server,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        let _ = std::fs::remove_file(key_secret_path(&self.url));
    }
}

// the shared pseudonym keys (issue 17).
fn key_secret_path(url: &str) -> PathBuf {
    let name = url
        .rsplit("dbname=")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("postgres");
    std::env::temp_dir()
        .join("mailwacht-pg-tests")
        .join(format!("key-secret-{name}"))
}

/// `[traffic] key_secret_file` for the nodes of a test on database `url`: one file (mode 0600, at least 32
/// bytes) for every node of that database, removed with the test's database.
pub fn key_secret(url: &str) -> PathBuf {
    use std::os::unix::fs::OpenOptionsExt;
    let path = key_secret_path(url);
    if !path.exists() {
        let _ = std::fs::create_dir_all(path.parent().expect("parent"));
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .expect("key secret");
        std::io::Write::write_all(
            &mut file,
            format!("mailwacht test secret wrapping the pseudonym keys of {url}").as_bytes(),
        )
        .expect("write key secret");
        std::fs::rename(&tmp, &path).expect("key secret in place");
    }
    path
}

/// A fresh database for one test: on this binary's private cluster, or on `MAILWACHT_TEST_PG_URL`.
pub fn database() -> TestDb {
    if let Some(url) = std::env::var(URL_ENV).ok().filter(|u| !u.is_empty()) {
        return TestDb::create(&url);
    }
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let dir = root().join(format!("shared-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("creating the PostgreSQL directory");
            let cluster = Cluster::init(dir);
            cluster.start_server();
            cluster
        })
        .database()
}

/// Run SQL on `url` with a connection of its own, from any thread or runtime (a thread with its own runtime).
pub fn execute(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
            tokio::spawn(connection);
            client.batch_execute(&sql).await.map_err(|e| {
                let db = e.as_db_error().map(|d| d.message().to_string());
                format!("{e}: {}", db.unwrap_or_default())
            })
        })
    })
    .join()
    .map_err(|_| "the SQL thread panicked".to_string())?
}

/// Where the clusters live: in the system's temporary directory (run as root, the server runs as `postgres`,
/// which must reach the directory: a checkout inside a private directory, as a fresh `mktemp -d` clone is,
/// would shut it out), cleared of the clusters of test runs that are over.
fn root() -> PathBuf {
    let root = std::env::temp_dir().join("mailwacht-pg-tests");
    std::fs::create_dir_all(&root).expect("creating the PostgreSQL test directory");
    open_for_postgres(&root);
    remove_stale(&root);
    root
}

/// Remove `shared-<pid>` directories whose test binary has exited.
fn remove_stale(root: &Path) {
    let Ok(items) = std::fs::read_dir(root) else {
        return;
    };
    for item in items.flatten() {
        let name = item.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("shared-"))
            .and_then(|p| p.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(item.path());
        }
    }
}

/// The `postgres` user's uid and gid when the tests run as root (PostgreSQL refuses to run as root).
fn postgres_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").ok()?;
    // SAFETY: getpwnam returns NULL or a pointer to a static record, read at once (tests are the only
    // callers and do not call getpwnam concurrently with this read in a way that matters for two ints).
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: `pw` is non-null and points at a valid passwd record.
    unsafe { Some(((*pw).pw_uid, (*pw).pw_gid)) }
}

/// As root, let the `postgres` user into `dir` (and own it when it is a cluster's directory made here).
fn open_for_postgres(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if postgres_user().is_some() {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    }
}

/// A free port on 127.0.0.1 (bound and released: the server binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Spawn `command` from one thread that never exits: PR_SET_PDEATHSIG fires when the *thread* that forked
/// the child ends, and a test's thread ends with the test.
fn spawn_from_a_thread_that_lives(command: Command) -> Child {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::spawn(move || {
            for (mut command, reply) in rx {
                let _ = reply.send(command.spawn());
            }
            // Keep the thread (the children's parent) alive for as long as the process runs.
            loop {
                std::thread::park();
            }
        });
        Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    spawner
        .lock()
        .expect("spawner lock")
        .send((command, reply))
        .expect("the spawner thread is alive");
    answer
        .recv()
        .expect("the spawner answers")
        .expect("starting postgres")
}
