//! PostgreSQL as the shared store of several nodes (`[storage] backend = "postgres"`, issue 17): the
//! connection settings, a small pool of connections, and the one error type every PostgreSQL store returns.
//!
//! - [`Settings`]: `[storage] url` (libpq key/value `host=… port=… user=… dbname=…` or `postgres://…`) and
//!   the password, read from `[storage] password_file` at connect time — never from the URL, never logged.
//!   A relative `password_file` is a systemd credential name, read from `$CREDENTIALS_DIRECTORY`
//!   (`LoadCredential=`).
//! - [`Pg`]: the pool (deadpool-postgres over tokio-postgres, no TLS: loopback or a unix socket, or a
//!   network the operator secures). `client().await` hands out one connection; waiting for a connection and
//!   connecting are both bounded ([`Settings::timeout`]), so a database that does not answer becomes an
//!   error in seconds, never a hung SMTP session.
//! - [`PgError`]: [`PgError::Unavailable`] (the server cannot be reached or the connection was lost: the
//!   caller answers `451` and Postfix retries) apart from [`PgError::Query`] (the server answered with an
//!   error) and [`PgError::Schema`] (a schema this binary does not know).
//! - [`Blocking`]: the same database for callers that are not async (the audit log, the quarantine's reads,
//!   which the review service calls from sync code): a thread of its own with its own runtime and pool.
//! - [`migrate`]: the versioned schema, applied by `mailwacht store migrate`, checked at start.
//! - [`locks`]: the advisory lock keys, one per job that must run on one node at a time.
//!
//! Must not: know what is stored (the stores own their tables and queries), or put a password in an error.

pub mod migrate;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use deadpool_postgres::tokio_postgres;

/// The advisory lock keys (`pg_advisory_lock(key)`), one per job that runs on one node at a time. The
/// numbers are arbitrary but fixed: two nodes must use the same. ("mw" in ASCII, then a job number.)
pub mod locks {
    /// Applying migrations (`mailwacht store migrate`, one transaction per migration).
    pub const MIGRATE: i64 = 0x6d77_0001;
    /// The quarantine's retention purge.
    pub const QUARANTINE_PURGE: i64 = 0x6d77_0002;
    /// The traffic records' retention purge, and the deletion of the pseudonym keys whose records it
    /// purged.
    pub const TRAFFIC_PURGE: i64 = 0x6d77_0003;
    /// Inquiries' expiry (reserved for the inquiry store on PostgreSQL).
    pub const INQUIRY_EXPIRY: i64 = 0x6d77_0004;
    // the shared pseudonym keys (issue 17).
    /// Making a key period's pseudonym key (so racing nodes make one), and re-wrapping them all.
    pub const PSEUDONYM_KEYS: i64 = 0x6d77_0005;
}

/// How long to wait for a free pooled connection, or for a new one to be made, when no `connect_timeout` is
/// given in the URL.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per node: enough for the SMTP sessions that quarantine at once plus the console; PostgreSQL's
/// default `max_connections` (100) leaves room for several nodes.
pub const POOL_SIZE: usize = 16;

/// Where the database is and how to log in.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// `[storage] url` as written (checked by [`parse_url`]; holds no password).
    pub url: String,
    /// `[storage] password_file`: absolute, or a credential name under `$CREDENTIALS_DIRECTORY`.
    pub password_file: Option<PathBuf>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL holds no password (parse_url refuses one); the file's contents are never read here.
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// `[storage] url` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("is not a PostgreSQL connection string (host=… port=… user=… dbname=…, or postgres://user@host:port/dbname): {0}")]
    Syntax(String),
    #[error("holds a password: put it in [storage] password_file (or a systemd credential), so it is in no configuration file or log")]
    Password,
    #[error("names no database (dbname=…, or postgres://…/dbname)")]
    NoDatabase,
    #[error("names no host (host=127.0.0.1, or host=/run/postgresql for the unix socket)")]
    NoHost,
}

/// Check `[storage] url` (libpq key/value or URL form) as the configuration is loaded.
pub fn parse_url(url: &str) -> Result<tokio_postgres::Config, UrlError> {
    let config = tokio_postgres::Config::from_str(url).map_err(|e| {
        // tokio-postgres' parse errors name the key, not the value; still, never echo a password.
        UrlError::Syntax(e.to_string())
    })?;
    if config.get_password().is_some() {
        return Err(UrlError::Password);
    }
    if config.get_dbname().is_none() {
        return Err(UrlError::NoDatabase);
    }
    if config.get_hosts().is_empty() {
        return Err(UrlError::NoHost);
    }
    Ok(config)
}

/// What went wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The server cannot be reached, refused us for now, or the connection was lost: temporary (`451`).
    #[error("PostgreSQL is unreachable: {0}")]
    Unavailable(String),
    /// The server answered with an error.
    #[error("PostgreSQL: {0}")]
    Query(#[source] tokio_postgres::Error),
    /// The database's schema is not the one this binary knows (see [`migrate::check`]).
    #[error("{0}")]
    Schema(#[from] migrate::SchemaError),
    /// `[storage] url` or `password_file` cannot be used.
    #[error("[storage]: {0}")]
    Settings(String),
}

impl PgError {
    /// True when waiting and retrying may help (the caller answers `451`).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, PgError::Unavailable(_))
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> PgError {
        if is_connection_loss(&e) {
            PgError::Unavailable(describe(&e))
        } else {
            PgError::Query(e)
        }
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> PgError {
        use deadpool_postgres::PoolError as P;
        match e {
            P::Backend(e) => PgError::from(e),
            P::Timeout(kind) => PgError::Unavailable(format!(
                "no connection within the timeout ({kind:?}): the server does not answer, or every \
                 pooled connection is busy"
            )),
            P::Closed => PgError::Unavailable("the connection pool is closed".into()),
            other => PgError::Unavailable(other.to_string()),
        }
    }
}

/// The error and its cause in one line (tokio-postgres' own text is only the kind: "error connecting to
/// server").
fn describe(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// A lost or refused connection, as opposed to an answer: I/O errors, a closed connection, a connect
/// timeout, and the SQLSTATE classes that mean "not now" (08 connection exception, 57P admin or crash
/// shutdown / cannot connect now, 53300 too many connections).
fn is_connection_loss(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() || e.to_string() == "timeout waiting for server" {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return code.starts_with("08") || code.starts_with("57P") || code == "53300";
    }
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

/// Read the password from `path`: absolute as is; relative from `$CREDENTIALS_DIRECTORY` (systemd
/// `LoadCredential=`). One trailing newline is not part of it.
pub fn read_password(path: &Path) -> Result<Vec<u8>, PgError> {
    let path = credential_path(path, "password_file")?;
    let mut bytes = std::fs::read(&path).map_err(|e| {
        PgError::Settings(format!("cannot read password_file {}: {e}", path.display()))
    })?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    Ok(bytes)
}

/// Where the file of setting `setting` is: `path` when absolute, else the systemd credential of that name
/// in `$CREDENTIALS_DIRECTORY` (`LoadCredential=`).
pub fn credential_path(path: &Path, setting: &str) -> Result<PathBuf, PgError> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        match std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir).join(path),
            None => {
                return Err(PgError::Settings(format!(
                    "{setting} {} is relative, which names a systemd credential, but \
                     $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit, or give an \
                     absolute path)",
                    path.display()
                )))
            }
        }
    })
}

/// A pool of connections to one database, shared by every PostgreSQL store of the process. Cheap to clone.
#[derive(Clone)]
pub struct Pg {
    /// The connections; deadpool makes them on demand and checks a returned one before reuse.
    pool: deadpool_postgres::Pool,
    /// `host:port/dbname` for log lines and messages (never the user's password).
    target: String,
    /// The schema was found to be this version's ([`Pg::checked_client`]); shared by the clones.
    schema_checked: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg").field("target", &self.target).finish()
    }
}

impl Pg {
    /// A pool for `settings`. Makes no connection yet (the first [`Pg::client`] does), so a node starts
    /// while the database is down; [`migrate::check`] at start is what insists on reaching it.
    pub fn connect(settings: &Settings) -> Result<Pg, PgError> {
        // A connection's task runs on the caller's runtime, which notices a closed connection as it
        // happens: checking `is_closed` before reuse is enough.
        Pg::connect_with(settings, deadpool_postgres::RecyclingMethod::Fast)
    }

    fn connect_with(
        settings: &Settings,
        recycling_method: deadpool_postgres::RecyclingMethod,
    ) -> Result<Pg, PgError> {
        let mut config =
            parse_url(&settings.url).map_err(|e| PgError::Settings(format!("url {e}")))?;
        if let Some(file) = &settings.password_file {
            config.password(read_password(file)?);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("mailwacht");
        }
        let timeout = *config.get_connect_timeout().unwrap_or(&DEFAULT_TIMEOUT);
        let target = describe_target(&config);
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig { recycling_method },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|e| PgError::Settings(format!("connection pool: {e}")))?;
        Ok(Pg {
            pool,
            target,
            schema_checked: Default::default(),
        })
    }

    /// One connection from the pool (returned to it when dropped).
    pub async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        Ok(self.pool.get().await?)
    }

    /// Check once that the schema is this version's ([`migrate::check`]); after that, at once.
    pub async fn ensure_schema(&self) -> Result<(), PgError> {
        use std::sync::atomic::Ordering;
        if !self.schema_checked.load(Ordering::Acquire) {
            migrate::check(self).await?;
            self.schema_checked.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// A connection for a store: [`Pg::client`] once [`Pg::ensure_schema`] passed. A node that started while
    /// the database was down checks the schema when it first reaches it, and never writes to one it does not
    /// know.
    pub async fn checked_client(&self) -> Result<deadpool_postgres::Object, PgError> {
        self.ensure_schema().await?;
        self.client().await
    }

    /// `host:port/dbname`, for log lines and messages.
    pub fn target(&self) -> &str {
        &self.target
    }
}

/// A job for the [`Blocking`] thread.
type Job = Box<dyn FnOnce(&Pg, &tokio::runtime::Runtime) + Send>;

/// PostgreSQL for sync callers: one thread with a runtime and a pool of its own runs each call to the end
/// while the caller waits (as a file store's fsync makes it wait). Its connections belong to its own
/// runtime, so a caller that blocks a current-thread runtime (the offline command line) cannot stall them.
/// Cheap to clone; the thread ends when the last clone is dropped.
#[derive(Clone)]
pub struct Blocking {
    jobs: std::sync::mpsc::Sender<Job>,
    target: String,
}

impl std::fmt::Debug for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocking")
            .field("target", &self.target)
            .finish()
    }
}

impl Blocking {
    /// Start the thread with its pool for `settings` (no connection is made yet).
    pub fn start(settings: &Settings) -> Result<Blocking, PgError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let (ready, started) = std::sync::mpsc::channel();
        let settings = settings.clone();
        std::thread::Builder::new()
            .name("mailwacht-pg".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready.send(Err(PgError::Settings(format!("runtime: {e}"))));
                        return;
                    }
                };
                // The pool is made inside the runtime: deadpool's timeouts need it. Its connections' tasks
                // only run while a job does, so a connection the server closed in between looks open:
                // each is checked with an empty query before reuse.
                let pg = match runtime.block_on(async {
                    Pg::connect_with(&settings, deadpool_postgres::RecyclingMethod::Verified)
                }) {
                    Ok(pg) => pg,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(pg.target.clone()));
                for job in queue {
                    job(&pg, &runtime);
                }
            })
            .map_err(|e| PgError::Settings(format!("starting the database thread: {e}")))?;
        let target = started
            .recv()
            .map_err(|_| PgError::Settings("the database thread ended at start".into()))??;
        Ok(Blocking { jobs, target })
    }

    /// Run `f` on the database thread and wait for its result.
    pub fn run<T, F, Fut>(&self, f: F) -> Result<T, PgError>
    where
        T: Send + 'static,
        F: FnOnce(Pg) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, PgError>>,
    {
        let (reply, answer) = std::sync::mpsc::channel();
        let job: Job = Box::new(move |pg: &Pg, runtime: &tokio::runtime::Runtime| {
            let _ = reply.send(runtime.block_on(f(pg.clone())));
        });
        self.jobs
            .send(job)
            .map_err(|_| PgError::Unavailable("the database thread has ended".into()))?;
        answer
            .recv()
            .map_err(|_| PgError::Unavailable("the database thread has ended".into()))?
    }

    /// [`Blocking::run`] for a caller that must not wait longer than `limit` in all (the web console): the
    /// wait in the thread's queue behind other jobs counts, and `f` itself is cut off at `limit`. Either way
    /// [`PgError::Unavailable`]; a job cut off in the queue still runs later, its answer dropped.
    pub fn run_within<T, F, Fut>(&self, limit: std::time::Duration, f: F) -> Result<T, PgError>
    where
        T: Send + 'static,
        F: FnOnce(Pg) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, PgError>>,
    {
        let late = move || PgError::Unavailable(format!("no answer within {} s", limit.as_secs()));
        let (reply, answer) = std::sync::mpsc::channel();
        let job: Job = Box::new(move |pg: &Pg, runtime: &tokio::runtime::Runtime| {
            let result = runtime.block_on(async move {
                tokio::time::timeout(limit, f(pg.clone()))
                    .await
                    .unwrap_or_else(|_| Err(late()))
            });
            let _ = reply.send(result);
        });
        self.jobs
            .send(job)
            .map_err(|_| PgError::Unavailable("the database thread has ended".into()))?;
        match answer.recv_timeout(limit) {
            Ok(result) => result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(late()),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err(PgError::Unavailable("the database thread has ended".into()))
            }
        }
    }

    /// `host:port/dbname`.
    pub fn target(&self) -> &str {
        &self.target
    }
}

/// `host:port/dbname` (the first host, as a node connects to it first).
fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_both_forms_are_accepted_without_a_password() {
        for url in [
            "host=127.0.0.1 port=5432 user=mailwacht dbname=mailwacht",
            "host=/run/postgresql dbname=mailwacht",
            "postgres://mailwacht@127.0.0.1:5433/mailwacht",
            "postgresql://mailwacht@%2Frun%2Fpostgresql/mailwacht",
        ] {
            assert!(parse_url(url).is_ok(), "{url}: {:?}", parse_url(url).err());
        }
        for (url, expected) in [
            (
                "host=127.0.0.1 user=m password=geheim dbname=m",
                UrlError::Password,
            ),
            ("postgres://m:geheim@127.0.0.1/m", UrlError::Password),
            ("host=127.0.0.1 user=m", UrlError::NoDatabase),
            ("dbname=m", UrlError::NoHost),
        ] {
            assert_eq!(parse_url(url).err(), Some(expected), "{url}");
        }
        let Err(UrlError::Syntax(text)) = parse_url("host=127.0.0.1 dbname=m password='geheim")
        else {
            panic!("an unterminated quote is a syntax error");
        };
        assert!(!text.contains("geheim"), "{text}");
        assert!(matches!(parse_url("mysql://x/y"), Err(UrlError::Syntax(_))));
    }

    #[test]
    fn the_password_file_loses_one_trailing_newline_and_a_relative_one_needs_credentials() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("pw");
        std::fs::write(&file, "geheim \n").expect("write");
        assert_eq!(read_password(&file).expect("read"), b"geheim ");
        // A relative name without $CREDENTIALS_DIRECTORY (unset in the test environment unless systemd
        // runs the tests) is refused with the reason, not read from the working directory.
        if std::env::var_os("CREDENTIALS_DIRECTORY").is_none() {
            let e = read_password(Path::new("pg-password")).expect_err("relative");
            assert!(e.to_string().contains("CREDENTIALS_DIRECTORY"), "{e}");
        }
    }

    /// A caller of `run_within` gets its answer, or `Unavailable` when the job runs too long or waits too
    /// long behind another one (no database needed: the jobs here never connect).
    #[test]
    fn run_within_bounds_the_job_and_the_wait_behind_others() {
        let settings = Settings {
            url: "host=127.0.0.1 port=9 dbname=nothing".into(),
            password_file: None,
        };
        let db = Blocking::start(&settings).expect("no connection is made at start");
        let limit = Duration::from_millis(300);
        assert_eq!(db.run_within(limit, |_| async { Ok(7) }).expect("fast"), 7);
        let slow = db.run_within(limit, |_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        });
        assert!(matches!(slow, Err(PgError::Unavailable(_))), "{slow:?}");
        let busy = db.clone();
        let blocker = std::thread::spawn(move || {
            busy.run(|_| async {
                std::thread::sleep(Duration::from_secs(2));
                Ok(())
            })
        });
        std::thread::sleep(Duration::from_millis(100));
        let queued = db.run_within(limit, |_| async { Ok(()) });
        assert!(matches!(queued, Err(PgError::Unavailable(_))), "{queued:?}");
        blocker.join().expect("thread").expect("the blocking job");
    }

    #[test]
    fn the_target_names_host_port_and_database_only() {
        let config = parse_url("host=/tmp/pg port=5433 user=u dbname=d").expect("url");
        assert_eq!(describe_target(&config), "/tmp/pg:5433/d");
    }
}
