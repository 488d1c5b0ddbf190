//! The PostgreSQL backend's skeleton (issue 17): the versioned schema (`mailwacht store migrate|check`, the
//! start check that refuses a schema this version does not know), the connection errors a caller answers
//! `451` for, and the password kept out of output and logs. Each test has a database of its own on this
//! binary's private cluster (tests/support/pg.rs).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailwacht::storage::postgres::{migrate, Pg, PgError, Settings};
use support::pg;

fn settings(url: &str) -> Settings {
    Settings {
        url: url.to_string(),
        password_file: None,
    }
}

/// A configuration file for `db` in `dir` (data directory `dir/data`), with `extra` lines in `[storage]`.
fn config_for(dir: &Path, url: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("mailwacht.toml");
    std::fs::write(
        &path,
        format!(
            "[storage]\ndata_dir = {:?}\nbackend = \"postgres\"\nurl = {url:?}\n{extra}",
            dir.join("data")
        ),
    )
    .expect("write config");
    path
}

/// `mailwacht --config <config> <args>`: (exit code, stdout, stderr).
fn mailwacht(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mailwacht");
    support::daemon::outcome(&out)
}

/// `mailwacht serve` on `config`, expected to refuse to start: its exit code and stderr (killed after 30 s).
fn serve_refused(config: &Path) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .arg("--config")
        .arg(config)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--next-hop",
            "127.0.0.1:9",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailwacht");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            return (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("mailwacht serve did not refuse to start within 30 s");
}

#[tokio::test]
async fn migrations_are_applied_once_also_by_two_nodes_at_once() {
    let db = pg::database();
    // Two nodes: two pools, migrating at the same moment.
    let (a, b) = (
        Pg::connect(&settings(&db.url)).expect("pool a"),
        Pg::connect(&settings(&db.url)).expect("pool b"),
    );
    assert_eq!(
        migrate::status(&a).await.expect("status").version,
        0,
        "a fresh database has no schema"
    );
    let (ra, rb) = tokio::join!(migrate::migrate(&a), migrate::migrate(&b));
    let (ra, rb) = (ra.expect("migrate a"), rb.expect("migrate b"));
    let mut all: Vec<i32> = ra.iter().chain(&rb).copied().collect();
    all.sort();
    let expected: Vec<i32> = (1..=migrate::known()).collect();
    assert_eq!(all, expected, "each migration applied by exactly one node");
    assert!(migrate::migrate(&a).await.expect("again").is_empty());
    let status = migrate::check(&b).await.expect("check");
    assert_eq!(status.version, migrate::known());
    assert!(status.server.starts_with("PostgreSQL"), "{}", status.server);

    // The tables of 0001 are there and the audit log is append-only at the database level.
    let client = a.client().await.expect("client");
    let head: i64 = client
        .query_one("SELECT entries FROM audit_head", &[])
        .await
        .expect("audit_head")
        .get(0);
    assert_eq!(head, 0);
    client
        .execute(
            "INSERT INTO audit_log (seq, line, hash) VALUES (1, '{}', 'x')",
            &[],
        )
        .await
        .expect("append");
    let e = client
        .execute("DELETE FROM audit_log", &[])
        .await
        .expect_err("append-only");
    assert!(format!("{:?}", e).contains("append-only"), "{e:?}");
}

#[tokio::test]
async fn a_newer_schema_is_refused_by_check_migrate_and_serve() {
    let db = pg::database();
    let pg = Pg::connect(&settings(&db.url)).expect("pool");
    migrate::migrate(&pg).await.expect("migrate");
    let newer = migrate::known() + 1;
    db.execute(&format!(
        "INSERT INTO schema_version (version, name) VALUES ({newer}, 'from_a_newer_node')"
    ));
    let newer_error = |e: PgError| match e {
        PgError::Schema(migrate::SchemaError::Newer { found, known }) => {
            assert_eq!((found, known), (newer, migrate::known()))
        }
        other => panic!("expected a newer schema, got {other}"),
    };
    newer_error(migrate::check(&pg).await.expect_err("check"));
    newer_error(migrate::migrate(&pg).await.expect_err("migrate"));

    let tmp = tempfile::tempdir().expect("tempdir");
    let config = config_for(tmp.path(), &db.url, "");
    let (code, _, stderr) = mailwacht(&config, &["store", "check"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("newer than this mailwacht knows"),
        "{stderr}"
    );
    let (code, stderr) = serve_refused(&config);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("newer than this mailwacht knows"),
        "{stderr}"
    );
}

#[test]
fn store_migrate_and_check_through_the_binary() {
    let db = pg::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = config_for(tmp.path(), &db.url, "");

    // Before the migration: check says what to run, serve refuses to start.
    let (code, stdout, stderr) = mailwacht(&config, &["store", "check"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.contains("schema versie / version: 0"), "{stdout}");
    assert!(stderr.contains("mailwacht store migrate"), "{stderr}");
    let (code, stderr) = serve_refused(&config);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("mailwacht store migrate"), "{stderr}");

    let (code, stdout, stderr) = mailwacht(&config, &["store", "migrate"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("toegepast / applied [1"), "{stdout}");
    let (code, stdout, _) = mailwacht(&config, &["store", "migrate"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("already up to date"), "{stdout}");
    let (code, stdout, stderr) = mailwacht(&config, &["store", "check"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("in orde / ok"), "{stdout}");

    // The embedded backend has nothing to migrate and needs no database.
    let embedded = tmp.path().join("embedded.toml");
    std::fs::write(
        &embedded,
        format!("[storage]\ndata_dir = {:?}\n", tmp.path().join("data")),
    )
    .expect("write");
    for command in ["migrate", "check"] {
        let (code, stdout, stderr) = mailwacht(&embedded, &["store", command]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("nothing to do"), "{stdout}");
    }
}

#[test]
fn the_password_is_in_no_output_and_no_log_line() {
    let db = pg::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let password_file = tmp.path().join("pg-password");
    // The private cluster trusts loopback, so any password is accepted and none is needed: what is tested
    // is where the text goes.
    std::fs::write(&password_file, "Wachtwoord-7f3a9c\n").expect("write");
    let config = config_for(
        tmp.path(),
        &db.url,
        &format!("password_file = {password_file:?}\n"),
    );
    let (code, stdout, _) = mailwacht(&config, &["store", "migrate"]);
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, stderr) = mailwacht(&config, &["config"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("backend = \"postgres\""), "{stdout}");
    assert!(!stdout.contains("Wachtwoord"), "{stdout}");

    let data_dir = tmp.path().join("data");
    let (mut child, _, log) = support::daemon::spawn_serve(
        &config,
        &data_dir,
        &["--listen", "127.0.0.1:0", "--next-hop", "127.0.0.1:9"],
        "listen=",
    );
    let _ = child.kill();
    let _ = child.wait();
    let log = log.lock().expect("log").join("\n");
    assert!(log.contains("shared store (PostgreSQL) reached"), "{log}");
    assert!(!log.contains("Wachtwoord"), "{log}");

    // A password in the URL is refused where the configuration is loaded, with the file and line.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[storage]\nbackend = \"postgres\"\nurl = \"postgres://mw:Wachtwoord-7f3a9c@127.0.0.1/mw\"\n",
    )
    .expect("write");
    let (code, _, stderr) = mailwacht(&bad, &["config"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("line 3: [storage] url"), "{stderr}");
    assert!(stderr.contains("password_file"), "{stderr}");
    assert!(!stderr.contains("Wachtwoord"), "{stderr}");
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_within_the_timeout() {
    // A port nobody listens on: refused at once; and a cluster stopped under an open pool.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let pg = Pg::connect(&settings(&format!(
        "host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=2"
    )))
    .expect("a pool makes no connection yet");
    let started = Instant::now();
    let e = migrate::status(&pg).await.expect_err("nobody listens");
    assert!(e.is_unavailable(), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let cluster = pg::Cluster::start();
    let db = cluster.database();
    let pg = Pg::connect(&settings(&format!("{} connect_timeout=2", db.url))).expect("pool");
    migrate::migrate(&pg).await.expect("migrate");
    cluster.stop();
    let e = migrate::status(&pg).await.expect_err("stopped");
    assert!(e.is_unavailable(), "{e}");
    cluster.start_server();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match migrate::check(&pg).await {
            Ok(status) => {
                assert_eq!(status.version, migrate::known());
                break;
            }
            Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("after the restart: {e}"),
        }
    }
}
