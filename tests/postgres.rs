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
            "[traffic]\nkey_secret_file = {:?}\n[storage]\ndata_dir = {:?}\nbackend = \"postgres\"\nurl = {url:?}\n{extra}",
            pg::key_secret(url),
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
    let expected: Vec<i32> = migrate::MIGRATIONS.iter().map(|m| m.version).collect();
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
    // The key secret: its file named, its contents never shown.
    assert!(
        stdout.contains("# pseudonym keys: in the shared database"),
        "{stdout}"
    );
    assert!(!stdout.contains("test secret wrapping"), "{stdout}");

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
    assert!(!log.contains("test secret wrapping"), "{log}");

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
    // A hang guard, not a speed claim: the pool's connect timeout must end the wait.
    let e = tokio::time::timeout(Duration::from_secs(60), migrate::status(&pg))
        .await
        .expect("the connect timeout ends the wait")
        .expect_err("nobody listens");
    assert!(e.is_unavailable(), "{e}");

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

// ------------------------------------------------------------------------------------------------------
// The quarantine and the audit log on both backends.

use mailwacht::admin::AuditLog;
use mailwacht::envelope::{Envelope, Recipient};
use mailwacht::quarantine::postgres::PgQuarantine;
use mailwacht::quarantine::{Quarantine, Status, Store, StoreError};
use mailwacht::scan::Detection;
use mailwacht::storage::postgres::Blocking;
use std::time::{SystemTime, UNIX_EPOCH};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn envelope() -> Envelope {
    Envelope {
        mail_from: Some("juf@school.example".into()),
        rcpt_to: vec![Recipient {
            address: "ouder@example.org".into(),
            params: vec![],
        }],
        mail_params: vec!["BODY=8BITMIME".into()],
        ..Envelope::default()
    }
}

fn detections() -> Vec<Detection> {
    vec![Detection {
        name: "Eicar-Test-Signature".into(),
        location: "part 2".into(),
    }]
}

/// A migrated database and the quarantine in it, as a node opens it.
async fn pg_quarantine(db: &pg::TestDb) -> (Store, Pg, Blocking) {
    let pg = Pg::connect(&settings(&db.url)).expect("pool");
    migrate::migrate(&pg).await.expect("migrate");
    let blocking = Blocking::start(&settings(&db.url)).expect("blocking");
    let store = Store::postgres(PgQuarantine::new(pg.clone(), blocking.clone()));
    (store, pg, blocking)
}

/// Both backends: (name, store, what keeps it alive).
async fn both_backends() -> Vec<(&'static str, Store, Box<dyn std::any::Any + Send>)> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (embedded, _) = Store::open(tmp.path()).expect("embedded");
    let db = pg::database();
    let (shared, _, _) = pg_quarantine(&db).await;
    vec![
        ("embedded", embedded, Box::new(tmp)),
        ("postgres", shared, Box::new(db)),
    ]
}

fn ids(store: &Store, since: u64) -> Vec<String> {
    store
        .list(at(since))
        .expect("list")
        .into_iter()
        .map(|e| e.id)
        .collect()
}

#[tokio::test]
async fn the_quarantine_store_works_alike_on_both_backends() {
    for (backend, store, _keep) in both_backends().await {
        for (id, t) in [("B", 200), ("A", 100), ("C", 300)] {
            let stored = store
                .store(id, &envelope(), b"raw\r\n\x00\xff", &detections(), at(t))
                .await
                .expect("store");
            assert_eq!(stored, id, "{backend}");
        }
        assert_eq!(ids(&store, 150), vec!["B", "C"], "{backend}: time order");
        let (entry, raw) = store.get_raw("A").expect("get_raw");
        assert_eq!(raw, b"raw\r\n\x00\xff", "{backend}: bytes exact");
        assert_eq!(entry.received, 100);
        assert_eq!(entry.size, raw.len());
        assert_eq!(entry.mail_from.as_deref(), Some("juf@school.example"));
        assert_eq!(entry.rcpt_to, vec!["ouder@example.org"]);
        assert_eq!(entry.mail_params, vec!["BODY=8BITMIME"]);
        assert_eq!(entry.detections[0].name, "Eicar-Test-Signature");
        assert_eq!(entry.status, Status::Held);
        assert_eq!(store.totals().expect("totals"), (3, 3 * 7), "{backend}");
        assert!(
            matches!(store.get("Z"), Err(StoreError::UnknownId(_))),
            "{backend}"
        );
        assert!(
            matches!(store.get("../etc/passwd"), Err(StoreError::BadId(_))),
            "{backend}"
        );
        // A taken id is never replaced: a new one is chosen and returned.
        let second = store
            .store("A", &envelope(), b"second", &detections(), at(400))
            .await
            .expect("store");
        assert_ne!(second, "A", "{backend}");
        assert_eq!(store.get_raw("A").expect("A").1, b"raw\r\n\x00\xff");
        assert_eq!(store.get_raw(&second).expect("second").1, b"second");
        let released = store.set_status("B", Status::Released).await.expect("set");
        assert_eq!(released.status, Status::Released);
        assert_eq!(store.get("B").expect("B").status, Status::Released);
        store.delete("C").await.expect("delete");
        assert!(matches!(
            store.delete("C").await,
            Err(StoreError::UnknownId(_))
        ));
        // Retention: now = 100 + 30 days + 50 s, 30 days: A (100) and B (200)… A goes, B (200) stays only
        // when younger than the cut-off (150).
        let purged = store.purge(at(30 * 86_400 + 150), 30).await.expect("purge");
        assert_eq!(purged, vec!["A"], "{backend}");
        assert_eq!(ids(&store, 0), vec!["B".to_string(), second.clone()]);
        store.flush().await.expect("flush");
    }
}

/// Model test (STYLE 11): each backend against a BTreeMap under the same pseudo-random operations.
#[tokio::test]
async fn the_quarantine_behaves_like_a_map_on_both_backends() {
    use std::collections::BTreeMap;
    for (backend, store, _keep) in both_backends().await {
        let mut model: BTreeMap<String, (u64, Status)> = BTreeMap::new();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for step in 0..150 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let id = format!("M{}", seed % 12);
            let t = seed % 1000;
            match seed % 5 {
                0 | 1 => {
                    if let std::collections::btree_map::Entry::Vacant(v) = model.entry(id.clone()) {
                        store
                            .store(&id, &envelope(), b"x", &detections(), at(t))
                            .await
                            .expect("store");
                        v.insert((t, Status::Held));
                    }
                }
                2 => {
                    let got = store.set_status(&id, Status::Released).await.is_ok();
                    let want = model.get_mut(&id).map(|e| e.1 = Status::Released);
                    assert_eq!(got, want.is_some(), "{backend} step {step}: {id}");
                }
                3 => {
                    let got = store.delete(&id).await.is_ok();
                    assert_eq!(got, model.remove(&id).is_some(), "{backend} step {step}");
                }
                _ => {
                    // Retention with the cut-off at `t`: everything received before it goes.
                    let mut got = store.purge(at(t + 86_400), 1).await.expect("purge");
                    got.sort();
                    let want: Vec<String> = model
                        .iter()
                        .filter(|(_, (r, _))| *r < t)
                        .map(|(k, _)| k.clone())
                        .collect();
                    model.retain(|_, (r, _)| *r >= t);
                    assert_eq!(got, want, "{backend} step {step}");
                }
            }
            let since = seed % 1000;
            let mut want: Vec<(u64, String, Status)> = model
                .iter()
                .filter(|(_, (t, _))| *t >= since)
                .map(|(k, (t, s))| (*t, k.clone(), *s))
                .collect();
            want.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            let got: Vec<(u64, String, Status)> = store
                .list(at(since))
                .expect("list")
                .into_iter()
                .map(|e| (e.received, e.id, e.status))
                .collect();
            assert_eq!(got, want, "{backend} step {step}");
        }
    }
}

#[tokio::test]
async fn retention_runs_on_one_node_at_a_time() {
    let db = pg::database();
    let (a, _, _) = pg_quarantine(&db).await;
    let (b, _, _) = pg_quarantine(&db).await;
    for i in 0..40u64 {
        a.store(&format!("OLD{i}"), &envelope(), b"x", &detections(), at(i))
            .await
            .expect("store");
    }
    let now = at(100 * 86_400);
    let (pa, pb) = tokio::join!(a.purge(now, 30), b.purge(now, 30));
    let (pa, pb) = (pa.expect("purge a"), pb.expect("purge b"));
    let mut all: Vec<String> = pa.iter().chain(&pb).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), pa.len() + pb.len(), "no entry purged twice");
    // Whatever the lock left to the other node is found by the next run.
    let again = a.purge(now, 30).await.expect("again");
    assert_eq!(all.len() + again.len(), 40);
    assert!(a.list(at(0)).expect("list").is_empty());
}

/// Two nodes (two pools and database threads) append to one audit log from many threads at once: one
/// chain, every entry in it, intact; a changed row is found and recorded as a break at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_append_to_one_intact_audit_chain() {
    let db = pg::database();
    let (_, _, blocking_a) = pg_quarantine(&db).await;
    let blocking_b = Blocking::start(&settings(&db.url)).expect("node b");
    let tmp = tempfile::tempdir().expect("tempdir");
    let logs = [
        std::sync::Arc::new(AuditLog::postgres(
            tmp.path().join("a/audit.log"),
            blocking_a,
        )),
        std::sync::Arc::new(AuditLog::postgres(
            tmp.path().join("b/audit.log"),
            blocking_b,
        )),
    ];
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = logs[t % 2].clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    log.append(
                        at(1000 + i),
                        1000,
                        "delete",
                        &format!("MW{t}x{i}"),
                        "test",
                        "",
                    )
                    .expect("append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    for log in &logs {
        let report = log.report(None).expect("report");
        assert_eq!(report.entries.len(), 80);
        assert!(report.verification.intact, "{:?}", report.verification);
        assert_eq!(report.verification.anchored, Some(80));
    }
    // Only the table's owner, with the trigger off, can change a row; the chain shows it.
    db.execute(
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; \
         UPDATE audit_log SET line = replace(line, '\"delete\"', '\"show-raw\"') WHERE seq = 40; \
         ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;",
    );
    let report = logs[0].report(None).expect("report");
    assert!(!report.verification.intact);
    assert_eq!(report.verification.broken_at, Some(41));
    let settled = logs[1].settle(at(2000), 0).expect("settle");
    assert_eq!(settled.recorded.len(), 1, "{settled:?}");
    assert!(logs[0]
        .settle(at(2001), 0)
        .expect("again")
        .recorded
        .is_empty());
    let report = logs[0].report(None).expect("report");
    assert_eq!(report.entries.len(), 81);
    assert_eq!(report.entries[80].action, "audit-break");
}

// ------------------------------------------------------------------------------------------------------
// Through the real binary: infected mail into PostgreSQL, the 250 contract while it is down, two nodes.

use support::client::Client;
use support::daemon::Daemon;
use support::sink::{Sink, SinkBehaviour};

const MAIL: &str = "[organisation]\nlocal_domains = [\"school.example\"]\n";

const CLEAN: &[u8] =
    b"From: juf.anna@school.example\r\nTo: ouder@example.org\r\nSubject: Ouderavond\r\n\r\nBeste ouders,\r\n";

/// A node's configuration on database `url` (a short connect timeout: a database that is down is found out
/// within 2 s).
fn node_config(url: &str) -> String {
    format!(
        "{MAIL}[traffic]\nkey_secret_file = {:?}\n[storage]\nbackend = \"postgres\"\nurl = \"{url} connect_timeout=2\"\n",
        pg::key_secret(url)
    )
}

async fn deliver(daemon: &Daemon, mail: &[u8]) -> (u16, String) {
    let mut client = Client::connect_ehlo(daemon.addr).await;
    client
        .deliver("juf.anna@school.example", &["ouder@example.org"], mail)
        .await
}

/// The quarantine id in a `250 … MW… quarantined` reply.
fn quarantined_id(code: u16, text: &str) -> String {
    assert_eq!(code, 250, "{text}");
    assert!(text.contains("quarantined"), "{text}");
    text.split_whitespace()
        .find(|w| w.starts_with("MW"))
        .expect("queue id in reply")
        .to_string()
}

fn listed(daemon: &Daemon) -> Vec<String> {
    let (code, out, err) = daemon.cli(&["quarantine", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("list --json");
    let mut ids: Vec<String> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

/// How many relayed messages carry `needle` (the sink also receives the notices to the sender).
fn relayed_with(sink: &Sink, needle: &str) -> usize {
    sink.messages()
        .iter()
        .filter(|m| String::from_utf8_lossy(&m.data).contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infected_mail_is_kept_in_postgres_and_deferred_while_it_is_down() {
    let cluster = pg::Cluster::start();
    let db = cluster.database();
    migrate::migrate(&Pg::connect(&settings(&db.url)).expect("pool"))
        .await
        .expect("migrate");
    let sink = Sink::start(SinkBehaviour::default()).await;
    let daemon = Daemon::start(sink.addr(), &node_config(&db.url));
    let (code, text) = deliver(&daemon, &support::infected_mail()).await;
    let first = quarantined_id(code, &text);
    assert_eq!(listed(&daemon), vec![first.clone()]);
    assert!(
        !daemon.data_dir.join("quarantine").exists(),
        "nothing in the data directory's quarantine: it is the database's"
    );

    // PostgreSQL down: what must be stored is deferred, clean mail still flows, also on a node that
    // starts meanwhile.
    cluster.stop();
    let (code, text) = deliver(&daemon, &support::infected_mail()).await;
    assert_eq!(code, 451, "{text}");
    let daemon = daemon.restart();
    assert!(
        daemon.wait_for_log("unreachable at start"),
        "{}",
        daemon.log_text()
    );
    let (code, text) = deliver(&daemon, &support::infected_mail()).await;
    assert_eq!(code, 451, "{text}");
    assert!(text.starts_with("4.3.0"), "{text}");
    let (code, text) = deliver(&daemon, CLEAN).await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(relayed_with(&sink, "Ouderavond"), 1);
    assert_eq!(
        relayed_with(&sink, "Zie bijlage"),
        0,
        "infected mail never relayed"
    );

    // PostgreSQL back: Postfix's retry is stored, once.
    cluster.start_server();
    let deadline = Instant::now() + Duration::from_secs(30);
    let retried = loop {
        let (code, text) = deliver(&daemon, &support::infected_mail()).await;
        if code == 451 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        break quarantined_id(code, &text);
    };
    let mut want = vec![first, retried];
    want.sort();
    assert_eq!(listed(&daemon), want);
    assert!(
        daemon.log_text().contains("quarantine store failed"),
        "{}",
        daemon.log_text()
    );
}

/// Two nodes on one database: each lists what the other quarantined, and reviews on both (two processes
/// appending at once) make one intact audit chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_quarantine_and_one_audit_chain() {
    let db = pg::database();
    migrate::migrate(&Pg::connect(&settings(&db.url)).expect("pool"))
        .await
        .expect("migrate");
    let sink = Sink::start(SinkBehaviour::default()).await;
    let nodes = [
        Daemon::start(sink.addr(), &node_config(&db.url)),
        Daemon::start(sink.addr(), &node_config(&db.url)),
    ];
    let mut ids = Vec::new();
    for node in &nodes {
        for _ in 0..3 {
            let (code, text) = deliver(node, &support::infected_mail()).await;
            ids.push(quarantined_id(code, &text));
        }
    }
    ids.sort();
    for node in &nodes {
        assert_eq!(listed(node), ids, "every node lists the whole quarantine");
    }
    // Reviews on both nodes at once: each `show --raw` is audited by the node that answers it.
    let configs: Vec<_> = nodes
        .iter()
        .map(|n| (n.config_path.clone(), n.data_dir.clone()))
        .collect();
    let threads: Vec<_> = ids
        .iter()
        .flat_map(|id| configs.iter().map(move |c| (id.clone(), c.clone())))
        .map(|(id, (config, data))| {
            std::thread::spawn(move || {
                support::daemon::run_cli(
                    &config,
                    &data,
                    &[
                        "quarantine",
                        "show",
                        &id,
                        "--raw",
                        "--reason",
                        "onderzoek melding 17",
                    ],
                )
            })
        })
        .collect();
    for t in threads {
        let (code, _, err) = t.join().expect("thread");
        assert_eq!(code, 0, "{err}");
    }
    for node in &nodes {
        let (code, out, err) = node.cli(&["audit", "list", "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("audit --json");
        assert_eq!(v["verification"]["intact"], true, "{out}");
        let shown = v["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["action"] == "show-raw")
            .count();
        assert_eq!(shown, 2 * ids.len(), "{out}");
    }
}

// ------------------------------------------------------------------------------------------------------
// The console accounts on both backends (migration 0004).

use mailwacht::admin::accounts::{AccountError, LoginRefused};
use mailwacht::admin::{Accounts, Role};

/// The same accounts as two nodes see them: one data directory's `users.json` twice, or two nodes' own
/// database threads on one database. (name, node A, node B, what keeps them alive).
async fn accounts_on_both_backends() -> Vec<(&'static str, [Accounts; 2], Box<dyn std::any::Any>)> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = Accounts::new(tmp.path());
    let db = pg::database();
    migrate::migrate(&Pg::connect(&settings(&db.url)).expect("pool"))
        .await
        .expect("migrate");
    let node = || Accounts::postgres(Blocking::start(&settings(&db.url)).expect("blocking"));
    let shared = [node(), node()];
    vec![
        ("embedded", [file.clone(), file], Box::new(tmp)),
        ("postgres", shared, Box::new(db)),
    ]
}

/// Issue 17: add, login, passwd, disable and list behave alike on both backends, and what one node changes
/// the other sees at once (a disabled account is refused on the other node at its next request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_accounts_work_alike_on_both_backends() {
    const PASSWORD: &str = "correct horse battery";
    for (backend, [a, b], _keep) in accounts_on_both_backends().await {
        let now = at(1_800_000_000);
        assert!(b.list().expect("list").is_empty(), "{backend}");
        a.add("anna", Role::Ict, PASSWORD, now).expect("add");
        let info = b.verify("anna", PASSWORD).expect("login on the other node");
        assert_eq!(
            (info.role, info.disabled, info.created),
            (Role::Ict, false, 1_800_000_000),
            "{backend}"
        );
        for (name, password) in [("anna", "wrong password!!"), ("nobody", PASSWORD)] {
            assert_eq!(
                b.verify(name, password),
                Err(LoginRefused::Credentials),
                "{backend}: {name}"
            );
        }
        for (name, role, password, refused) in [
            ("anna", Role::Auditor, "another long one", "already exists"),
            ("Anna/..", Role::Auditor, "another long one", "user name"),
            ("bert", Role::Auditor, "short", "too short"),
        ] {
            let e = b.add(name, role, password, now).expect_err(name);
            assert!(e.to_string().contains(refused), "{backend}: {e}");
        }
        assert!(matches!(b.disable("nobody"), Err(AccountError::Unknown(_))));
        assert!(matches!(
            b.set_password("nobody", "a new long password"),
            Err(AccountError::Unknown(_))
        ));
        a.add("petra", Role::Privacy, PASSWORD, now).expect("add");
        b.disable("anna").expect("disable on the other node");
        assert_eq!(a.role_of("anna").expect("role"), None, "{backend}");
        assert_eq!(
            a.role_of("petra").expect("role"),
            Some(Role::Privacy),
            "{backend}"
        );
        assert_eq!(
            a.verify("anna", PASSWORD),
            Err(LoginRefused::Credentials),
            "{backend}"
        );
        a.set_password("anna", "a new long password")
            .expect("passwd");
        assert!(b.verify("anna", "a new long password").is_ok(), "{backend}");
        assert!(b.verify("anna", PASSWORD).is_err(), "{backend}");
        let listed: Vec<(String, Role, bool)> = b
            .list()
            .expect("list")
            .into_iter()
            .map(|i| (i.name, i.role, i.disabled))
            .collect();
        assert_eq!(
            listed,
            [
                ("anna".to_string(), Role::Ict, false),
                ("petra".to_string(), Role::Privacy, false)
            ],
            "{backend}"
        );
    }
}

/// Two nodes adding the same name at once: one account, the other node is told it exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_name_added_on_two_nodes_at_once_is_one_account() {
    let backends = accounts_on_both_backends().await;
    let (_, [a, b], _keep) = backends.into_iter().nth(1).expect("postgres");
    let add = |accounts: Accounts, role: Role| {
        std::thread::spawn(move || accounts.add("kees", role, "een lang wachtwoord", at(5)))
    };
    let (x, y) = (add(a.clone(), Role::Ict), add(b, Role::Auditor));
    let results = [x.join().expect("thread"), y.join().expect("thread")];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .any(|r| matches!(r, Err(AccountError::Exists(_)))));
    assert_eq!(a.list().expect("list").len(), 1);
}

/// One HTTP/1.1 exchange with the console at `addr`: (status, `Set-Cookie` values, body).
fn http(addr: &str, request: &str) -> (u16, Vec<String>, String) {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut stream = loop {
        match std::net::TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("console at {addr}: {e}"),
        }
    };
    stream.write_all(request.as_bytes()).expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let cookies = head
        .lines()
        .filter_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or(l.strip_prefix("Set-Cookie: "))
        })
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .collect();
    (status, cookies, body.to_string())
}

/// Sign in to the console at `addr` as `name`: the status of the form's answer and whether a session
/// cookie came with it.
fn sign_in(addr: &str, name: &str, password: &str) -> (u16, bool) {
    let (status, cookies, _) = login_exchange(addr, name, password);
    (status, cookies.iter().any(|c| c.starts_with("mw_session=")))
}

/// The login form of the console at `addr` fetched and posted as `name`: the post's answer as [`http`].
fn login_exchange(addr: &str, name: &str, password: &str) -> (u16, Vec<String>, String) {
    let get = format!("GET /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (status, cookies, body) = http(addr, &get);
    assert_eq!(status, 200, "{body}");
    let login_cookie = cookies
        .iter()
        .find(|c| c.starts_with("mw_login="))
        .expect("login cookie")
        .clone();
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf in the form");
    let form = format!(
        "csrf={csrf}&username={name}&password={}",
        password.replace(' ', "+")
    );
    let post = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {login_cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    http(addr, &post)
}

/// Issue 17, through the real binary: an account added offline with node A's configuration signs in to node
/// B's console (two configurations, one database); disabled with node B's, it no longer signs in, and the
/// shared audit log holds both changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_added_with_node_a_signs_in_on_node_b() {
    use std::io::Write;
    let db = pg::database();
    migrate::migrate(&Pg::connect(&settings(&db.url)).expect("pool"))
        .await
        .expect("migrate");
    let tmp = tempfile::tempdir().expect("tempdir");
    let config_a = tmp.path().join("a.toml");
    std::fs::write(
        &config_a,
        format!(
            "{}data_dir = {:?}\n",
            node_config(&db.url),
            tmp.path().join("data-a"),
        ),
    )
    .expect("config a");
    std::fs::create_dir(tmp.path().join("data-a")).expect("data a");
    let mut add = Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .arg("--config")
        .arg(&config_a)
        .args(["user", "add", "anna", "--role", "ict", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mailwacht");
    writeln!(add.stdin.take().expect("stdin"), "een lang wachtwoord").expect("password");
    let (code, _, err) = support::daemon::outcome(&add.wait_with_output().expect("user add"));
    assert_eq!(code, 0, "{err}");
    assert!(
        !tmp.path().join("data-a/users.json").exists(),
        "the account is in the database, not node A's data directory"
    );

    let web = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let addr = web.local_addr().expect("addr").to_string();
    drop(web);
    let sink = Sink::start(SinkBehaviour::default()).await;
    let node_b = Daemon::start(
        sink.addr(),
        &format!(
            "{}[web]\nenabled = true\nlisten = {addr:?}\nplain_http_loopback = true\n",
            node_config(&db.url)
        ),
    );
    let b = addr.clone();
    let signed_in = tokio::task::spawn_blocking(move || sign_in(&b, "anna", "een lang wachtwoord"))
        .await
        .expect("sign in");
    assert_eq!(signed_in, (303, true), "{}", node_b.log_text());
    let b = addr.clone();
    let wrong = tokio::task::spawn_blocking(move || sign_in(&b, "anna", "een ander wachtwoord"))
        .await
        .expect("sign in");
    assert_eq!(wrong, (401, false));

    let (code, _, err) = node_b.cli(&["user", "disable", "anna"]);
    assert_eq!(code, 0, "{err}");
    let b = addr.clone();
    let disabled = tokio::task::spawn_blocking(move || sign_in(&b, "anna", "een lang wachtwoord"))
        .await
        .expect("sign in");
    assert_eq!(disabled, (401, false), "disabled on node B");
    let (code, out, err) = mailwacht(&config_a, &["user", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let users: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(users[0]["name"], "anna");
    assert_eq!(users[0]["disabled"], true, "node A sees node B's change");
    let (code, out, err) = mailwacht(&config_a, &["audit", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let audit: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(audit["verification"]["intact"], true, "{out}");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("user-"))
        .collect();
    assert_eq!(actions, ["user-add", "user-disable"], "{out}");
}

// moving a node's embedded quarantine and audit log (issue 17).
fn json(config: &Path, data: &Path, args: &[&str]) -> serde_json::Value {
    let (code, out, err) = support::daemon::run_cli(config, data, args);
    assert_eq!(code, 0, "{args:?}: {out}{err}");
    serde_json::from_str(&out).expect("json")
}

/// Issue 17: an embedded node with quarantined mail (one released), audited reviews and traffic records
/// is moved by `store migrate --from embedded --to postgres`: the postgres-backed CLI lists the same
/// quarantine (status and bytes), `audit list` verifies with the same entries, a second run adds nothing,
/// and `store check --from embedded` agrees. A second node's quarantine entry under a taken id with other
/// bytes is refused by name, and its own audit chain is not spliced into the database's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_quarantine_and_audit_chain_move_intact() {
    let db = pg::database();
    let sink = Sink::start(SinkBehaviour::default()).await;
    let mut daemon = Daemon::start(sink.addr(), MAIL);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (code, text) = deliver(&daemon, &support::infected_mail()).await;
        ids.push(quarantined_id(code, &text));
    }
    let (code, text) = deliver(&daemon, CLEAN).await;
    assert_eq!(code, 250, "{text}");
    for args in [
        vec![
            "quarantine",
            "show",
            &ids[0],
            "--raw",
            "--reason",
            "melding van de ouder",
        ],
        vec![
            "quarantine",
            "release",
            &ids[1],
            "--reason",
            "vals alarm, leraar belde",
        ],
    ] {
        let (code, _, err) = daemon.cli(&args);
        assert_eq!(code, 0, "{err}");
    }
    daemon.signal("TERM");
    assert!(daemon.wait_exit(), "{}", daemon.log_text());
    let data = daemon.data_dir.clone();
    let embedded = daemon.config_path.clone();
    let quarantine = json(&embedded, &data, &["quarantine", "list", "--json"]);
    let statuses: Vec<&str> = quarantine
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses.len(), 2, "{quarantine}");
    assert!(statuses.contains(&"released"), "{quarantine}");
    let audit = json(&embedded, &data, &["audit", "list", "--json"]);
    assert_eq!(audit["verification"]["intact"], true, "{audit}");
    assert_eq!(
        audit["entries"].as_array().expect("entries").len(),
        2,
        "{audit}"
    );
    let raw: Vec<Vec<u8>> = {
        let (store, _) = mailwacht::quarantine::Embedded::open(&data).expect("embedded");
        ids.iter()
            .map(|id| store.get_raw(id).expect("raw").1)
            .collect()
    };

    let tmp = tempfile::tempdir().expect("tempdir");
    let shared = tmp.path().join("shared.toml");
    std::fs::write(
        &shared,
        format!(
            "{MAIL}[traffic]\nkey_secret_file = {:?}\n[storage]\ndata_dir = {data:?}\nbackend = \"postgres\"\nurl = {:?}\n",
            pg::key_secret(&db.url),
            db.url
        ),
    )
    .expect("config");
    for (run, added) in [(0, (2, 2)), (1, (0, 0))] {
        let (code, out, err) = mailwacht(
            &shared,
            &["store", "migrate", "--from", "embedded", "--to", "postgres"],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains(&format!("quarantine: 2 (nieuw / added {})", added.0)),
            "run {run}: {out}"
        );
        assert!(
            out.contains(&format!("audit log: 2 (nieuw / added {})", added.1)),
            "run {run}: {out}"
        );
        assert!(out.contains("traffic records: "), "{out}");
        assert!(
            !out.contains("traffic records: 0 "),
            "the clean mail's record moves: {out}"
        );
    }
    assert_eq!(
        json(&shared, &data, &["quarantine", "list", "--json"]),
        quarantine,
        "the same entries, with their status"
    );
    let moved = json(&shared, &data, &["audit", "list", "--json"]);
    assert_eq!(moved["verification"]["intact"], true, "{moved}");
    assert_eq!(
        moved["entries"], audit["entries"],
        "the same entries, chain intact"
    );
    let (store, _pg, _blocking) = pg_quarantine(&db).await;
    let got = tokio::task::spawn_blocking({
        let ids = ids.clone();
        move || {
            ids.iter()
                .map(|id| store.get_raw(id).expect("raw").1)
                .collect::<Vec<_>>()
        }
    })
    .await
    .expect("join");
    assert_eq!(got, raw, "byte for byte");
    let (code, out, err) = mailwacht(&shared, &["store", "check", "--from", "embedded"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("quarantine: lokaal / embedded 2, in database 2"),
        "{out}"
    );

    // Another node: an entry under a taken id with other bytes, and an audit chain of its own.
    let other = tmp.path().join("other");
    {
        let (store, _) = Store::open(&other.join("data")).expect("embedded");
        let id = store
            .store(
                &ids[0],
                &envelope(),
                b"Subject: iets anders\r\n\r\n",
                &detections(),
                at(5),
            )
            .await
            .expect("store");
        assert_eq!(id, ids[0]);
        store.flush().await.expect("flush");
    }
    let other_config = config_for(&other, &db.url, "");
    let (code, out, err) = mailwacht(
        &other_config,
        &["store", "migrate", "--from", "embedded", "--to", "postgres"],
    );
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!(
            "quarantine id {} is in the database with other bytes",
            ids[0]
        )),
        "{err}"
    );
    let (code, out, err) = mailwacht(&other_config, &["store", "check", "--from", "embedded"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("quarantine: lokaal / embedded 1, in database 0"),
        "{out}"
    );
    // A third node that audited on its own: its chain is not spliced into the database's.
    let third = tmp.path().join("third");
    std::fs::create_dir_all(third.join("data")).expect("dir");
    AuditLog::open(third.join("data/audit.log"))
        .expect("audit")
        .append(at(6), 1000, "show-raw", "-", "andere node", "")
        .expect("append");
    let (code, out, err) = mailwacht(
        &config_for(&third, &db.url, ""),
        &["store", "migrate", "--from", "embedded", "--to", "postgres"],
    );
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("the database's audit chain already has 2 entries that are not this node's"),
        "{err}"
    );
    assert_eq!(
        json(&shared, &data, &["audit", "list", "--json"])["entries"],
        audit["entries"],
        "nothing was added to the chain"
    );
}

// ------------------------------------------------------------------------------------------------------
// The console sessions and the login throttle in the shared database (migration 0006).

use mailwacht::web::session::{Attempt, Limits, SessionError, SessionStore};

const IDLE: Duration = Duration::from_secs(900);

/// Two nodes' session stores on one database (each its own database thread, as two daemons have), an
/// account `anna` (role ict) for the sessions to belong to, and a connection to look at the tables.
async fn two_session_stores(url: &str) -> ([SessionStore; 2], Accounts, Pg) {
    let pg = Pg::connect(&settings(url)).expect("pool");
    migrate::migrate(&pg).await.expect("migrate");
    let node = || Blocking::start(&settings(url)).expect("blocking");
    let accounts = Accounts::postgres(node());
    accounts
        .add("anna", Role::Ict, "correct horse battery", at(1))
        .expect("add");
    (
        [
            SessionStore::postgres(node()),
            SessionStore::postgres(node()),
        ],
        accounts,
        pg,
    )
}

/// `SELECT` one bigint.
async fn number(pg: &Pg, sql: &str) -> i64 {
    pg.client()
        .await
        .expect("client")
        .query_one(sql, &[])
        .await
        .expect(sql)
        .get(0)
}

/// A session opened through node A's store is valid through node B's (same person, role and CSRF token);
/// logout through B ends it through A; the table holds the token's SHA-256, never the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_on_one_node_is_valid_on_the_other_until_logout_there() {
    let db = pg::database();
    let ([a, b], _accounts, pg) = two_session_stores(&db.url).await;
    let t0 = at(1_800_000_000);
    let key = a.open("anna", Role::Ict, IDLE, t0).expect("open on A");
    assert_eq!(key.len(), 64);
    let on_a = a
        .touch(&key, IDLE, t0)
        .expect("touch A")
        .expect("live on A");
    let on_b = b
        .touch(&key, IDLE, at(1_800_000_010))
        .expect("touch B")
        .expect("live on B");
    assert_eq!((&on_b.user, on_b.role), (&"anna".to_string(), Role::Ict));
    assert_eq!(
        on_b.csrf, on_a.csrf,
        "one CSRF token per session, on every node"
    );
    assert!(b.touch(&key[1..], IDLE, t0).expect("touch").is_none());
    assert!(b.touch("", IDLE, t0).expect("touch").is_none());

    // What a dump of the table gives: no cookie.
    let client = pg.client().await.expect("client");
    let dump: String = client
        .query_one(
            "SELECT string_agg(s::text, ' ') FROM console_sessions s",
            &[],
        )
        .await
        .expect("dump")
        .get(0);
    assert!(!dump.contains(&key), "{dump}");
    let kept: Vec<u8> = client
        .query_one("SELECT token_hash FROM console_sessions", &[])
        .await
        .expect("row")
        .get(0);
    use sha2::Digest as _;
    assert_eq!(kept, sha2::Sha256::digest(key.as_bytes()).to_vec());

    b.close(&key).expect("logout on B");
    assert!(a.touch(&key, IDLE, t0).expect("touch A").is_none());
    assert_eq!(
        number(&pg, "SELECT count(*) FROM console_sessions").await,
        0
    );
}

/// Idle expiry in SQL, counted from the last write of `last_seen`, which happens at most once a minute
/// (not on every request); an expired row goes at the next login; a disabled account's sessions end on
/// every node at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_when_idle_are_touched_once_a_minute_and_end_when_the_account_is_disabled()
{
    let db = pg::database();
    let ([a, b], accounts, pg) = two_session_stores(&db.url).await;
    let t = |s: u64| at(1_800_000_000 + s);
    let last_seen = || {
        number(
            &pg,
            "SELECT max(last_seen) - 1800000000 FROM console_sessions",
        )
    };
    let key = a.open("anna", Role::Ict, IDLE, t(0)).expect("open");
    for s in [1, 30, 59] {
        assert!(b.touch(&key, IDLE, t(s)).expect("touch").is_some());
        assert_eq!(last_seen().await, 0, "no write {s} s after the last one");
    }
    assert!(b.touch(&key, IDLE, t(60)).expect("touch").is_some());
    assert_eq!(last_seen().await, 60, "written once a minute");
    // A node whose clock lags does not move it back.
    assert!(a.touch(&key, IDLE, t(10)).expect("touch").is_some());
    assert_eq!(last_seen().await, 60);
    assert!(a.touch(&key, IDLE, t(60 + 899)).expect("touch").is_some());
    assert_eq!(last_seen().await, 959);
    assert!(
        b.touch(&key, IDLE, t(959 + 900)).expect("touch").is_none(),
        "idle"
    );
    assert_eq!(
        number(&pg, "SELECT count(*) FROM console_sessions").await,
        1,
        "an expired row stays until the next login"
    );
    let second = b.open("anna", Role::Ict, IDLE, t(959 + 900)).expect("open");
    assert_eq!(
        number(&pg, "SELECT count(*) FROM console_sessions").await,
        1,
        "the next login cleared it"
    );

    let third = a.open("anna", Role::Ict, IDLE, t(2000)).expect("open");
    accounts.disable("anna").expect("disable");
    for key in [&second, &third] {
        assert!(a.touch(key, IDLE, t(2001)).expect("touch").is_none());
        assert!(b.touch(key, IDLE, t(2001)).expect("touch").is_none());
    }
    assert_eq!(
        number(&pg, "SELECT count(*) FROM console_sessions").await,
        0
    );
    // A new password enables the account again (its sessions stay); a role change ends them.
    accounts
        .set_password("anna", "a new long password")
        .expect("passwd");
    let fourth = a.open("anna", Role::Ict, IDLE, t(2100)).expect("open");
    assert!(b.touch(&fourth, IDLE, t(2101)).expect("touch").is_some());
    db.execute("UPDATE accounts SET role = 'auditor' WHERE name = 'anna'");
    assert!(
        b.touch(&fourth, IDLE, t(2102)).expect("touch").is_none(),
        "role changed"
    );
}

/// The login throttle counts over both nodes: failures alternating nodes lock the account after `max` in
/// all, the address after `max` × 4; a success on one node clears the account's count on both; the
/// lockout ends on both; the table holds neither the names nor the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_counted_over_both_nodes() {
    let db = pg::database();
    let ([a, b], _accounts, pg) = two_session_stores(&db.url).await;
    let limits = Limits {
        max: 3,
        lockout: Duration::from_secs(900),
    };
    let ip: std::net::IpAddr = "192.0.2.7".parse().expect("ip");
    let other: std::net::IpAddr = "198.51.100.1".parse().expect("ip");
    let t = |s: u64| at(1_800_000_000 + s);
    let nodes = [&a, &b];

    for i in 0..2u64 {
        let node = nodes[i as usize % 2];
        assert!(node
            .login_allowed(Attempt { user: "anna", ip }, limits, t(i))
            .expect("allowed"));
        assert!(!node
            .login_failed(Attempt { user: "anna", ip }, limits, t(i))
            .expect("failed"));
    }
    b.login_succeeded("anna").expect("success on B");
    for i in 2..5u64 {
        let node = nodes[i as usize % 2];
        assert!(node
            .login_allowed(Attempt { user: "anna", ip }, limits, t(i))
            .expect("allowed"));
        let locked = node
            .login_failed(Attempt { user: "anna", ip }, limits, t(i))
            .expect("failed");
        assert_eq!(
            locked,
            i == 4,
            "failure {i}: the third since the success locks"
        );
    }
    for node in nodes {
        assert!(!node
            .login_allowed(
                Attempt {
                    user: "anna",
                    ip: other
                },
                limits,
                t(5)
            )
            .expect("allowed"));
        assert!(node
            .login_allowed(Attempt { user: "bert", ip }, limits, t(5))
            .expect("allowed"));
        assert!(node
            .login_allowed(Attempt { user: "anna", ip }, limits, t(4 + 900))
            .expect("allowed"));
    }

    // The address: 12 failures with other names (5 counted already), alternating nodes.
    for i in 0..7u64 {
        let name = format!("name{i}");
        let node = nodes[i as usize % 2];
        assert!(node
            .login_allowed(Attempt { user: &name, ip }, limits, t(10))
            .expect("allowed"));
        let locked = node
            .login_failed(Attempt { user: &name, ip }, limits, t(10))
            .expect("failed");
        assert_eq!(locked, i == 6, "address failure {}", i + 6);
    }
    for node in nodes {
        assert!(!node
            .login_allowed(Attempt { user: "new", ip }, limits, t(11))
            .expect("allowed"));
        assert!(node
            .login_allowed(
                Attempt {
                    user: "new",
                    ip: other
                },
                limits,
                t(11)
            )
            .expect("allowed"));
    }

    let client = pg.client().await.expect("client");
    let dump: String = client
        .query_one(
            "SELECT string_agg(f::text, ' ') FROM console_login_failures f",
            &[],
        )
        .await
        .expect("dump")
        .get(0);
    for word in ["anna", "name0", "192.0.2.7", &hex_of("anna")] {
        assert!(!dump.contains(word), "{word} in {dump}");
    }
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// A database that stops answering: every session call is `Unavailable` within the bound (the console then
/// says so and lets nobody in), and works again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_on_a_stopped_database_are_unavailable_not_hung() {
    let cluster = pg::Cluster::start();
    let db = cluster.database();
    let url = format!("{} connect_timeout=2", db.url);
    let ([a, _b], _accounts, _pg) = two_session_stores(&url).await;
    let key = a
        .open("anna", Role::Ict, IDLE, at(1_800_000_000))
        .expect("open");
    cluster.stop();
    let ip: std::net::IpAddr = "192.0.2.7".parse().expect("ip");
    let calls = tokio::task::spawn_blocking(move || {
        let unavailable = |r: Result<(), SessionError>, what: &str| match r {
            Err(SessionError::Unavailable(_)) => {}
            other => panic!("{what}: {other:?}"),
        };
        let now = at(1_800_000_010);
        unavailable(a.touch(&key, IDLE, now).map(drop), "touch");
        unavailable(a.open("anna", Role::Ict, IDLE, now).map(drop), "open");
        unavailable(a.close(&key), "close");
        let anna = Attempt { user: "anna", ip };
        let limits = Limits {
            max: 3,
            lockout: Duration::from_secs(900),
        };
        unavailable(a.login_allowed(anna, limits, now).map(drop), "allowed");
        unavailable(a.login_failed(anna, limits, now).map(drop), "failed");
        (a, key)
    });
    // A hang guard, not a speed claim.
    let (a, key) = tokio::time::timeout(Duration::from_secs(120), calls)
        .await
        .expect("bounded")
        .expect("thread");
    cluster.start_server();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match a.touch(&key, IDLE, at(1_800_000_020)) {
            Ok(found) => {
                assert!(found.is_some(), "the session outlived the outage");
                break;
            }
            Err(SessionError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("after the restart: {e}"),
        }
    }
}

/// A `GET` of `path` on the console at `addr` with the session cookie `session`.
fn get_with(addr: &str, path: &str, session: &str) -> (u16, String) {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: mw_session={session}\r\n\r\n"
    );
    let (status, _, body) = http(addr, &request);
    (status, body)
}

/// Sign in on the console at `addr`: the session cookie's value.
fn session_of(addr: &str, name: &str, password: &str) -> String {
    let (status, cookies, body) = login_exchange(addr, name, password);
    assert_eq!(status, 303, "{body}");
    cookies
        .iter()
        .find_map(|c| c.strip_prefix("mw_session="))
        .expect("session cookie")
        .to_string()
}

/// Issue 17, through two real daemons on one database: a console session opened on node A is valid on
/// node B (the same cookie), logout on B ends it on A; with the database stopped both consoles say so in
/// Dutch, then English (503), and let nobody log in; once it is back the session is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_session_is_every_nodes_and_a_stopped_database_is_said_not_hung() {
    let cluster = pg::Cluster::start();
    let db = cluster.database();
    let pg = Pg::connect(&settings(&db.url)).expect("pool");
    migrate::migrate(&pg).await.expect("migrate");
    Accounts::postgres(Blocking::start(&settings(&db.url)).expect("blocking"))
        .add("anna", Role::Ict, "een lang wachtwoord", at(1))
        .expect("add");
    let sink = Sink::start(SinkBehaviour::default()).await;
    let node = |addr: &str| {
        Daemon::start(
            sink.addr(),
            &format!(
                "{}[web]\nenabled = true\nlisten = {addr:?}\nplain_http_loopback = true\n",
                node_config(&db.url)
            ),
        )
    };
    let free = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").to_string()
    };
    let (addr_a, addr_b) = (free(), free());
    let (_node_a, _node_b) = (node(&addr_a), node(&addr_b));

    let (a, b) = (addr_a.clone(), addr_b.clone());
    let shown = tokio::task::spawn_blocking(move || {
        let session = session_of(&a, "anna", "een lang wachtwoord");
        let on_a = get_with(&a, "/quarantine", &session);
        let on_b = get_with(&b, "/quarantine", &session);
        let csrf = on_b
            .1
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string();
        let form = format!("csrf={csrf}");
        let logout = format!(
            "POST /logout HTTP/1.1\r\nHost: {b}\r\nConnection: close\r\nCookie: mw_session={session}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        );
        let (out, _, _) = http(&b, &logout);
        let after = get_with(&a, "/quarantine", &session).0;
        (on_a.0, on_b.0, on_b.1.contains("anna"), out, after)
    })
    .await
    .expect("console");
    assert_eq!(shown, (200, 200, true, 303, 303), "logged out on A too");

    let (a, b) = (addr_a.clone(), addr_b.clone());
    let session =
        tokio::task::spawn_blocking(move || session_of(&a, "anna", "een lang wachtwoord"))
            .await
            .expect("login");
    cluster.stop();
    let started = Instant::now();
    let down = tokio::task::spawn_blocking(move || {
        let page = get_with(&b, "/quarantine", &session);
        // The login form needs no database; its post is refused.
        let (login, set, login_body) = login_exchange(&b, "anna", "een lang wachtwoord");
        (page, login, set, login_body, session)
    })
    .await
    .expect("console");
    let ((status, body), login, set, login_body, session) = down;
    assert!(started.elapsed() < Duration::from_secs(60), "bounded");
    assert_eq!(status, 503, "{body}");
    let (nl, en) = (
        body.find("antwoordt niet").expect("Dutch"),
        body.find("does not answer").expect("English"),
    );
    assert!(nl < en, "Dutch first");
    assert_eq!(login, 503, "{login_body}");
    assert!(!set.iter().any(|c| c.starts_with("mw_session=")));

    cluster.start_server();
    let a = addr_a.clone();
    let back = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = get_with(&a, "/quarantine", &session).0;
            if status != 503 || Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .expect("console");
    assert_eq!(back, 200, "the session outlived the outage");
}

// The pseudonym keys shared by the nodes (migration 0005), and moving a status change again.

/// `store migrate --from embedded` again after an entry moved earlier was released on this node: the
/// database's entry is released too (the same bytes), and the output says so; a release made in the
/// database is never undone by a second run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_again_carries_a_later_release_over() {
    let db = pg::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let (held, other) = {
        let (store, _) = Store::open(&data).expect("embedded");
        let mut ids = Vec::new();
        for (id, t) in [("eerste", 5), ("tweede", 6)] {
            ids.push(
                store
                    .store(
                        id,
                        &envelope(),
                        &support::infected_mail(),
                        &detections(),
                        at(t),
                    )
                    .await
                    .expect("store"),
            );
        }
        store.flush().await.expect("flush");
        (ids[0].clone(), ids[1].clone())
    };
    let config = config_for(tmp.path(), &db.url, "");
    let migrate_out = || {
        let (code, out, err) = mailwacht(
            &config,
            &["store", "migrate", "--from", "embedded", "--to", "postgres"],
        );
        assert_eq!(code, 0, "{out}{err}");
        out
    };
    let out = migrate_out();
    assert!(
        out.contains("quarantine: 2 (nieuw / added 2), status bijgewerkt / status updated 0"),
        "{out}"
    );
    {
        let (store, _) = Store::open(&data).expect("embedded");
        store
            .set_status(&held, Status::Released)
            .await
            .expect("released on this node");
        store.flush().await.expect("flush");
    }
    let (shared, _pg, _blocking) = pg_quarantine(&db).await;
    assert_eq!(shared.get(&held).expect("moved").status, Status::Held);
    let out = migrate_out();
    assert!(
        out.contains("quarantine: 2 (nieuw / added 0), status bijgewerkt / status updated 1"),
        "{out}"
    );
    assert_eq!(shared.get(&held).expect("moved").status, Status::Released);
    assert_eq!(shared.get(&other).expect("moved").status, Status::Held);
    // Released in the database, held here: a third run changes nothing back.
    shared
        .set_status(&other, Status::Released)
        .await
        .expect("released on a node of the shared store");
    let out = migrate_out();
    assert!(out.contains("status updated 0"), "{out}");
    assert_eq!(shared.get(&other).expect("kept").status, Status::Released);
}

/// Issue 17 through the real binary: two `serve` daemons on one database, the same teacher's mail through
/// each. Both records carry one pseudonym (the key of the period is the database's, not each node's), and
/// an inquiry opened on node A and reported on node B finds both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_daemons_write_one_pseudonym_and_an_inquiry_finds_both_records() {
    let db = pg::database();
    let pg = Pg::connect(&settings(&db.url)).expect("pool");
    migrate::migrate(&pg).await.expect("migrate");
    let sink = Sink::start(SinkBehaviour::default()).await;
    let nodes = [
        Daemon::start(sink.addr(), &node_config(&db.url)),
        Daemon::start(sink.addr(), &node_config(&db.url)),
    ];
    for node in &nodes {
        let (code, text) = deliver(node, CLEAN).await;
        assert_eq!(code, 250, "{text}");
    }
    let client = pg.client().await.expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    let senders: Vec<String> = loop {
        let rows = client
            .query("SELECT record->>'sender' FROM traffic_record", &[])
            .await
            .expect("records");
        if rows.len() == 2 {
            break rows.iter().map(|r| r.get::<_, String>(0)).collect();
        }
        assert!(
            Instant::now() < deadline,
            "records: {}\n{}",
            rows.len(),
            nodes[0].log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(senders[0], senders[1], "one teacher is one sender");
    assert_eq!(senders[0].len(), 64);
    let keys: i64 = client
        .query_one("SELECT count(*) FROM pseudonym_keys", &[])
        .await
        .expect("keys")
        .get(0);
    assert_eq!(keys, 1);
    let today = {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        mailwacht::traffic::summary::date(now - now % 86_400)
    };
    let (code, out, err) = nodes[0].cli(&[
        "inquiry",
        "open",
        "--person",
        "juf.anna@school.example",
        "--reason",
        "vermoeden van datalek naar extern adres",
        "--days",
        "1",
        "--from",
        &today,
        "--by",
        "J. de Vries",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = nodes[1].cli(&["inquiry", "list", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let list: serde_json::Value = serde_json::from_str(&out).expect("list --json");
    let id = list
        .as_array()
        .and_then(|l| l.first())
        .and_then(|i| i["inquiry"]["id"].as_u64().or(i["id"].as_u64()))
        .unwrap_or_else(|| panic!("no inquiry: {out}"));
    let (code, out, err) =
        nodes[1].cli(&["inquiry", "report", &id.to_string(), "--format", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("report --json");
    assert_eq!(
        report["records"].as_array().map(Vec::len),
        Some(2),
        "both nodes' records: {out}"
    );
}
