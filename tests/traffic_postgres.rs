//! The traffic records and inquiries on PostgreSQL (issue 17, second half), against the embedded store:
//! - the model test: the same random operations on a `BTreeMap`, the embedded store and PostgreSQL written
//!   by two nodes give the same answers;
//! - k-anonymity over all nodes: the same records, spread over two nodes writing to one database, give the
//!   same summary, CSV, JSON, table and HTML report byte for byte as one embedded store holding them all;
//!   and a sender domain below k on each node but above k in total is shown, with its whole count;
//! - one node at a time: the retention purge and the closing of ended inquiries under advisory locks,
//!   inquiry ids unique across nodes, an inquiry opened on one node reported on another;
//! - PostgreSQL down: traffic records are dropped and counted, nothing waits.
//!
//! Each test has a database of its own on this binary's private cluster (tests/support/pg.rs).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailwacht::admin::{
    AuditLog, Request, Response, Service, TrafficRequest, TrafficResponse, TrafficService,
    TrafficSettings,
};
use mailwacht::storage::postgres::{locks, migrate, Pg, Settings};
use mailwacht::traffic::postgres::PgTraffic;
use mailwacht::traffic::summary::{self, Group, Summary, Unit};
use mailwacht::traffic::{KeyRing, Record, Traffic, TrafficStore, DAY};
use proptest::prelude::*;
use support::pg;

/// A node's connection to `url`, the schema migrated (idempotent: the second node finds it done).
async fn node(url: &str) -> Traffic {
    let pg = Pg::connect(&Settings {
        url: url.to_string(),
        password_file: None,
    })
    .expect("pool");
    migrate::migrate(&pg).await.expect("migrate");
    Traffic::Postgres(PgTraffic::new(pg))
}

fn embedded(dir: &std::path::Path) -> Traffic {
    Traffic::Embedded(TrafficStore::open(dir).expect("traffic.sled"))
}

/// A record as the writer stores it: `sender` is already a pseudonym.
fn record(time: u64, sender: &str, domain: &str, verdict: &str, categories: &[&str]) -> Record {
    Record {
        time,
        sender: sender.into(),
        sender_domain: domain.into(),
        rcpt_local: 1 + (time % 3) as u32,
        rcpt_external: (time % 2) as u32,
        rcpt_domains: vec!["school.example".into()],
        size: 1_000 + time % 977,
        attachments: 0,
        verdict: verdict.into(),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        exempt: None,
        would: None,
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// A record at this time, written by node 0 or 1.
    Insert(u64, usize),
    Purge(u64, u64),
    Range(u64, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..40 * DAY, 0usize..2).prop_map(|(t, n)| Op::Insert(t, n)),
        1 => (0u64..60 * DAY, 1u64..30).prop_map(|(n, d)| Op::Purge(n, d)),
        2 => (0u64..40 * DAY, 0u64..40 * DAY).prop_map(|(a, b)| Op::Range(a, b)),
    ]
}

/// Run `ops` on a BTreeMap keyed by (time, insertion number), the embedded store and two PostgreSQL nodes
/// sharing one database; every answer must agree.
async fn run_model(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let db = pg::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let sled = embedded(tmp.path());
    let nodes = [node(&db.url).await, node(&db.url).await];
    let mut model: BTreeMap<(u64, u64), Record> = BTreeMap::new();
    let mut n = 0u64;
    for op in ops {
        match op {
            Op::Insert(t, which) => {
                let r = record(t, &format!("s{n}"), "school.example", "pass", &[]);
                sled.insert(&r).await.expect("embedded insert");
                nodes[which].insert(&r).await.expect("postgres insert");
                model.insert((t, n), r);
                n += 1;
            }
            Op::Purge(now, days) => {
                let cutoff = now.saturating_sub(days * DAY);
                let before = model.len();
                model.retain(|(t, _), _| *t >= cutoff);
                let want = Some(before - model.len());
                prop_assert_eq!(sled.purge(now, days).await.expect("purge"), want);
                prop_assert_eq!(
                    nodes[n as usize % 2].purge(now, days).await.expect("purge"),
                    want
                );
                prop_assert_eq!(
                    sled.purged_before().await.expect("cut-off"),
                    nodes[0].purged_before().await.expect("cut-off")
                );
            }
            Op::Range(a, b) => {
                let want: Vec<Record> = model
                    .iter()
                    .filter(|((t, _), _)| *t >= a && *t < b)
                    .map(|(_, r)| r.clone())
                    .collect();
                prop_assert_eq!(&sled.range(a, b).await.expect("range"), &want);
                for node in &nodes {
                    prop_assert_eq!(&node.range(a, b).await.expect("range"), &want);
                }
            }
        }
    }
    let len = model.len() as u64;
    prop_assert_eq!(sled.totals().await.expect("totals").0, len);
    prop_assert_eq!(nodes[1].totals().await.expect("totals").0, len);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// Model test over both backends: a BTreeMap, `traffic.sled`, and PostgreSQL written by two nodes.
    #[test]
    fn both_stores_match_a_btreemap(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(run_model(ops))?;
    }
}

/// A record for the contributions test: few senders, domains and verdicts so that they meet in cells;
/// categories repeated within a record (a message counts once per category); now and then a size so large
/// that sums saturate.
fn any_record() -> impl Strategy<Value = (Record, usize)> {
    let size = prop_oneof![4 => 0u64..5_000, 1 => Just(u64::MAX / 2 + 7)];
    (
        (0u64..3 * DAY, 0usize..4, 0usize..2, 0usize..3),
        proptest::collection::vec(0usize..3, 0..4),
        (size, 0u32..5, 0u32..5, 0usize..2),
    )
        .prop_map(|((t, s, d, v), cats, (size, local, external, node))| {
            let cats: Vec<&str> = cats
                .iter()
                .map(|c| ["woorden", "bsn", "bijlage"][*c])
                .collect();
            let domains = ["school.example", "ouders.example"];
            let verdicts = ["pass", "bounce", "quarantine"];
            let mut r = record(t, &format!("p{s}"), domains[d], verdicts[v], &cats);
            (r.size, r.rcpt_local, r.rcpt_external) = (size, local, external);
            (r, node)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Issue 17: PostgreSQL adds up a period's records of both nodes in SQL exactly as the embedded store's
    /// records are added up in Rust (and as a plain sum over the records says), for every day.
    #[test]
    fn postgres_adds_up_a_period_as_the_embedded_store_does(
        records in proptest::collection::vec(any_record(), 0..60)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let db = pg::database();
            let tmp = tempfile::tempdir().expect("tempdir");
            let sled = embedded(tmp.path());
            let nodes = [node(&db.url).await, node(&db.url).await];
            for (r, which) in &records {
                sled.insert(r).await.expect("embedded insert");
                nodes[*which].insert(r).await.expect("postgres insert");
            }
            let all: Vec<Record> = records.iter().map(|(r, _)| r.clone()).collect();
            for day in 0..3 {
                let span = Unit::Day.period_of(day * DAY);
                let want = summary::contributions(&all, span);
                prop_assert_eq!(&sled.contributions(span).await.expect("embedded"), &want);
                for node in &nodes {
                    prop_assert_eq!(&node.contributions(span).await.expect("postgres"), &want);
                }
            }
            Ok(())
        })?;
    }
}

/// The `[traffic]` settings of these tests: days as periods so that a few records make whole periods.
fn settings(k: u64) -> TrafficSettings {
    TrafficSettings {
        retention_days: 28,
        k,
        unit: Unit::Day,
        max_days: 14,
        notify_within_days: 30,
        organisation: "de school".into(),
    }
}

/// A review service over `traffic` with its own quarantine and audit log in `dir`.
fn service(dir: &std::path::Path, traffic: Traffic, k: u64) -> Service {
    let data = dir.join("data");
    let (quarantine, _) = mailwacht::quarantine::Store::open(&data).expect("quarantine");
    let audit = AuditLog::open(data.join("audit.log")).expect("audit");
    let keys = KeyRing::unavailable(&dir.join("keys"), 28);
    Service::new(
        quarantine,
        audit,
        Default::default(),
        mailwacht::message::Limits::default(),
    )
    .with_traffic(TrafficService::new(traffic, Arc::new(keys), settings(k)))
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

async fn summary(service: &Service, group: Group, now: u64) -> Summary {
    let request = Request::Traffic(TrafficRequest::Summary {
        periods: vec!["1970-01-11".into(), "1970-01-12".into()],
        group,
    });
    match service.handle(1000, request, at(now)).await {
        Response::Traffic(TrafficResponse::Summary { summary }) => summary,
        other => panic!("no summary: {other:?}"),
    }
}

/// Every rendering of a summary the console and the command line offer (the XLSX is left out: its zip
/// stamps the time it is made; it is rendered from the same `Summary`).
fn renderings(summary: &Summary) -> Vec<(String, Vec<u8>)> {
    vec![
        ("table".into(), summary.to_table().into_bytes()),
        ("csv".into(), summary.to_csv().into_bytes()),
        ("json".into(), summary.to_json().into_bytes()),
        (
            "html".into(),
            mailwacht::traffic::report::to_html(summary, 30 * DAY).into_bytes(),
        ),
    ]
}

/// The records of two nodes on days 10 and 11 (1970-01-11 and -12). Senders are pseudonyms, the same on
/// both nodes (the nodes share the key directory).
/// - `groot.example`: nine senders, spread over both nodes, one of them on both;
/// - `verdeeld.example`: three senders on node 0 and three others on node 1 — below k = 5 on each node,
///   six in total (the differencing case);
/// - `klein.example`: four senders over both nodes, below k in total;
/// - `bounce` with category `pesten` for some, so categories are suppressed or shown on their own.
fn two_nodes() -> [Vec<Record>; 2] {
    let mut nodes = [Vec::new(), Vec::new()];
    for day in [10, 11] {
        let t = day * DAY + 3_600;
        for i in 0..9u64 {
            let verdict = if i < 6 { "bounce" } else { "pass" };
            let cats: &[&str] = if i < 6 { &["pesten"] } else { &[] };
            for m in 0..=(i % 3) {
                let r = record(
                    t + i * 60 + m,
                    &format!("g{i}"),
                    "groot.example",
                    verdict,
                    cats,
                );
                nodes[((i + m) % 2) as usize].push(r);
            }
        }
        for i in 0..6u64 {
            let r = record(
                t + 900 + i,
                &format!("v{i}"),
                "verdeeld.example",
                "pass",
                &[],
            );
            nodes[(i / 3) as usize].push(r.clone());
            nodes[(i / 3) as usize].push(record(
                r.time + 1,
                &r.sender,
                &r.sender_domain,
                "pass",
                &[],
            ));
        }
        for i in 0..4u64 {
            let r = record(
                t + 1_800 + i,
                &format!("k{i}"),
                "klein.example",
                "pass",
                &[],
            );
            nodes[(i % 2) as usize].push(r);
        }
    }
    nodes
}

/// Issue 17: summaries are computed from the merged raw records of every node with the same suppression
/// code; the same records give the same reports byte for byte from either store.
#[tokio::test]
async fn summaries_over_two_nodes_equal_those_of_one_embedded_store_byte_for_byte() {
    let db = pg::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let records = two_nodes();
    let all = embedded(&tmp.path().join("one"));
    let shared = [node(&db.url).await, node(&db.url).await];
    // Interleaved in time as two nodes would write them: each node in its own order, both at once.
    for (records, node) in records.iter().zip(&shared) {
        for r in records {
            all.insert(r).await.expect("embedded");
        }
        node.insert_many_for_test(records).await;
    }
    let one = service(&tmp.path().join("svc-one"), all, 5);
    let a = service(&tmp.path().join("svc-a"), shared[0].clone(), 5);
    let b = service(&tmp.path().join("svc-b"), shared[1].clone(), 5);
    let now = 30 * DAY;
    for group in [
        Group::Domain,
        Group::Verdict,
        Group::Category,
        Group::DomainVerdict,
    ] {
        let want = renderings(&summary(&one, group, now).await);
        for node in [&a, &b] {
            let got = renderings(&summary(node, group, now).await);
            for ((format, want), (_, got)) in want.iter().zip(&got) {
                assert!(
                    want == got,
                    "{group:?} as {format} differs:\nembedded:\n{}\npostgres:\n{}",
                    String::from_utf8_lossy(want),
                    String::from_utf8_lossy(got)
                );
            }
        }
    }
    // Not vacuous: something is shown, something suppressed.
    let csv = summary(&a, Group::Domain, now).await.to_csv();
    assert!(csv.contains("groot.example"), "{csv}");
    assert!(!csv.contains("klein.example"), "{csv}");
}

/// Issue 17: k-anonymity per node, then added up, is wrong. A sender domain with three senders on each
/// node (k = 5) is suppressed in each node's own summary but shown, with all twelve messages of a day, in
/// the summary over the shared store; no figure is suppressed per node.
#[tokio::test]
async fn a_domain_below_k_on_each_node_is_shown_with_its_whole_count_over_both() {
    let db = pg::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let records = two_nodes();
    let shared = node(&db.url).await;
    let mut alone = Vec::new();
    for (i, records) in records.iter().enumerate() {
        let own = embedded(&tmp.path().join(format!("node{i}")));
        for r in records {
            own.insert(r).await.expect("embedded");
        }
        shared.insert_many_for_test(records).await;
        alone.push(service(&tmp.path().join(format!("svc{i}")), own, 5));
    }
    let now = 30 * DAY;
    for node in &alone {
        let s = summary(node, Group::DomainVerdict, now).await;
        assert_eq!(cell(&s, "verdeeld.example"), [0, 0], "suppressed per node");
    }
    let both = service(&tmp.path().join("svc-shared"), shared, 5);
    let s = summary(&both, Group::DomainVerdict, now).await;
    assert_eq!(
        cell(&s, "verdeeld.example"),
        [12, 12],
        "six senders, two messages each, per day"
    );
    let v = s.releases[0]
        .cells
        .iter()
        .find(|c| c.domain == "verdeeld.example")
        .expect("cell");
    assert!(v.bytes.is_some() && v.rcpt_local.is_some(), "{v:?}");
    assert_eq!(cell(&s, "klein.example"), [0, 0], "below k in total");
}

/// The messages of `domain`'s cells in each release of `s` (0 where suppressed).
fn cell(s: &Summary, domain: &str) -> Vec<u64> {
    s.releases
        .iter()
        .map(|r| {
            r.cells
                .iter()
                .filter(|c| c.domain == domain)
                .map(|c| c.messages)
                .sum::<u64>()
        })
        .collect()
}

/// The request to open an inquiry on piet for `days` from now.
fn open_on_piet(days: u64) -> Request {
    Request::Traffic(TrafficRequest::InquiryOpen {
        person: "piet@school.example".into(),
        reason: "vermoeden van datalek naar extern adres".into(),
        days,
        by: Some("J. de Vries".into()),
        from: None,
    })
}

/// Inquiry ids come from one sequence: two nodes asking at once never get the same number; an inquiry
/// opened on one node is listed and reported on the other.
#[tokio::test]
async fn inquiry_ids_are_unique_across_nodes_and_an_inquiry_is_seen_by_both() {
    let db = pg::database();
    let (a, b) = (node(&db.url).await, node(&db.url).await);
    let (x, y) = tokio::join!(
        async {
            let mut ids = Vec::new();
            for _ in 0..20 {
                ids.push(a.next_inquiry_id().await.expect("id"));
            }
            ids
        },
        async {
            let mut ids = Vec::new();
            for _ in 0..20 {
                ids.push(b.next_inquiry_id().await.expect("id"));
            }
            ids
        }
    );
    let ids: BTreeSet<u64> = x.iter().chain(&y).copied().collect();
    assert_eq!(ids.len(), 40);

    let tmp = tempfile::tempdir().expect("tempdir");
    let node_a = service(&tmp.path().join("a"), a.clone(), 5);
    let node_b = service(&tmp.path().join("b"), b.clone(), 5);
    let now = 20 * DAY;
    let Response::Traffic(TrafficResponse::Inquiry { inquiry }) =
        node_a.handle(1000, open_on_piet(7), at(now)).await
    else {
        panic!("not opened");
    };
    assert!(inquiry.id > 40, "after the ids taken above: {}", inquiry.id);
    let Response::Traffic(TrafficResponse::Inquiries { inquiries }) = node_b
        .handle(1000, Request::Traffic(TrafficRequest::InquiryList), at(now))
        .await
    else {
        panic!("no list");
    };
    assert_eq!(inquiries.len(), 1);
    assert_eq!(inquiries[0].inquiry, inquiry);
    // The cap holds across nodes: the same person again on node B overlaps the window opened on A.
    let Response::Error { message } = node_b.handle(1000, open_on_piet(7), at(now + 60)).await
    else {
        panic!("a second, overlapping inquiry was opened on the other node");
    };
    assert!(!message.is_empty());
}

/// The retention purge runs on one node at a time: while another node holds the purge lock a node skips
/// its run; two nodes purging at once delete every expired record once between them.
#[tokio::test]
async fn retention_runs_on_one_node_at_a_time_and_never_deletes_twice() {
    let db = pg::database();
    let (a, b) = (node(&db.url).await, node(&db.url).await);
    let records: Vec<Record> = (0..200u64)
        .map(|i| record(i * 3_600, &format!("s{i}"), "school.example", "pass", &[]))
        .collect();
    a.insert_many_for_test(&records).await;
    let now = 30 * DAY;
    let expired = records.iter().filter(|r| r.time < now - 28 * DAY).count();
    assert!(expired > 0);

    let held = a
        .exclusive(locks::TRAFFIC_PURGE, false)
        .await
        .expect("lock")
        .expect("free");
    assert_eq!(
        b.purge(now, 28).await.expect("purge"),
        None,
        "skipped while another node purges"
    );
    assert_eq!(b.totals().await.expect("totals").0, 200);
    drop(held);

    let (x, y) = tokio::join!(a.purge(now, 28), b.purge(now, 28));
    let deleted: usize = [x.expect("purge a"), y.expect("purge b")]
        .into_iter()
        .flatten()
        .sum();
    assert_eq!(deleted, expired, "each expired record deleted once");
    assert_eq!(a.totals().await.expect("totals").0, (200 - expired) as u64);
    assert_eq!(b.purged_before().await.expect("cut-off"), now - 28 * DAY);
}

/// Closing the inquiries whose window ended runs on one node at a time and closes (and audits) each once,
/// also when the hourly runs of two nodes coincide.
#[tokio::test]
async fn an_ended_inquiry_is_closed_once_by_two_nodes() {
    let db = pg::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (node(&db.url).await, node(&db.url).await);
    let node_a = service(&tmp.path().join("a"), a.clone(), 5);
    let node_b = service(&tmp.path().join("b"), b.clone(), 5);
    let now = 20 * DAY;
    let Response::Traffic(TrafficResponse::Inquiry { inquiry }) =
        node_a.handle(1000, open_on_piet(3), at(now)).await
    else {
        panic!("not opened");
    };
    let later = at(inquiry.to + 60);
    // While node A holds the lock, node B's run closes nothing (and waits for nothing). The lock node A took
    // to open the inquiry is released when PostgreSQL sees that guard's connection close, a moment after
    // `handle` returned: try until it is free (bounded), as the hourly run simply tries again.
    let mut held = None;
    for _ in 0..100 {
        held = a
            .exclusive(locks::INQUIRY_EXPIRY, false)
            .await
            .expect("lock");
        if held.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let held = held.expect("free within 5 s");
    assert_eq!(
        node_b.close_ended_inquiries(0, later).await.expect("run"),
        Vec::<u64>::new()
    );
    drop(held);
    let (x, y) = tokio::join!(
        node_a.close_ended_inquiries(0, later),
        node_b.close_ended_inquiries(0, later)
    );
    let mut closed = x.expect("a");
    closed.extend(y.expect("b"));
    assert_eq!(closed, vec![inquiry.id], "closed once");
    let closes = ["a", "b"]
        .iter()
        .map(|n| {
            let (entries, v) =
                mailwacht::admin::audit::read(&tmp.path().join(n).join("data/audit.log"))
                    .expect("audit");
            assert!(v.intact);
            entries
                .iter()
                .filter(|e| e.action == "inquiry-close")
                .count()
        })
        .sum::<usize>();
    assert_eq!(closes, 1, "audited once");
    let stored = b.inquiry(inquiry.id).await.expect("get").expect("stored");
    assert!(stored.auto_closed && stored.closed == Some(inquiry.to));
}

/// Traffic records are secondary (issue 17: "bounded buffer, then dropped with a metric, as today"): with
/// PostgreSQL stopped the writer drops each record and counts it; the recorder never waits; after the
/// database is back, records are stored again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_down_records_are_dropped_and_counted_and_nothing_waits() {
    let cluster = pg::Cluster::start();
    let db = cluster.database();
    let url = format!("{} connect_timeout=1", db.url);
    let store = node(&url).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (keys, _) =
        KeyRing::open(&tmp.path().join("keys"), &tmp.path().join("data"), 28, 0).expect("keys");
    let (recorder, _writer) = mailwacht::traffic::spawn_writer(store.clone(), Arc::new(keys), 64);
    let envelope = mailwacht::envelope::Envelope {
        mail_from: Some("piet@school.example".into()),
        rcpt_to: vec![mailwacht::envelope::Recipient {
            address: "jan@school.example".into(),
            params: vec![],
        }],
        ..Default::default()
    };
    let local = vec!["school.example".to_string()];
    recorder.record_too_big(&envelope, &local, 10);
    recorder.flush().await;
    assert_eq!(store.totals().await.expect("totals").0, 1);
    let stored = store.range(0, u64::MAX).await.expect("range");
    assert_eq!(stored[0].sender.len(), 64, "pseudonymised: {stored:?}");
    assert!(!stored[0].sender.contains("piet"));

    cluster.stop();
    // Recording cannot wait: `record_*` is a plain function that hands the record to a bounded channel
    // (`try_send`); whether the writer copes is what the counts below show, not a clock.
    for _ in 0..3 {
        recorder.record_too_big(&envelope, &local, 10);
    }
    tokio::time::timeout(Duration::from_secs(30), recorder.flush())
        .await
        .expect("the writer gives up on a database that is down");
    assert_eq!(recorder.dropped(), 3);

    cluster.start_server();
    recorder.record_too_big(&envelope, &local, 10);
    recorder.flush().await;
    assert_eq!(recorder.dropped(), 3);
    assert_eq!(store.totals().await.expect("totals").0, 2);
}

/// Test helper: a batch written as the writer writes it.
trait InsertMany {
    async fn insert_many_for_test(&self, records: &[Record]);
}

impl InsertMany for Traffic {
    async fn insert_many_for_test(&self, records: &[Record]) {
        match self {
            Traffic::Postgres(p) => p.insert_many(records).await.expect("insert"),
            Traffic::Embedded(_) => {
                for r in records {
                    self.insert(r).await.expect("insert");
                }
            }
        }
    }
}

/// `dir/mailwacht.toml`: the data directory `data` on the shared database `url`, with the test's key secret.
fn shared_config(dir: &std::path::Path, data: &std::path::Path, url: &str) -> std::path::PathBuf {
    let config = dir.join("mailwacht.toml");
    std::fs::write(
        &config,
        format!(
            "[traffic]\nkey_secret_file = {:?}\n[storage]\ndata_dir = {data:?}\nbackend = \"postgres\"\nurl = {url:?}\n",
            pg::key_secret(url),
        ),
    )
    .expect("config");
    config
}

/// `mailwacht --config <config> <args>`: (exit code, stdout, stderr).
fn mailwacht(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run mailwacht");
    support::daemon::outcome(&out)
}

/// Issue 17: `mailwacht store migrate --from embedded --to postgres` moves a node's traffic records and
/// inquiries (with the purge cut-off), twice changes nothing, and `store check --from embedded` compares
/// the counts on both sides (exit 2 when something was not moved).
#[tokio::test]
async fn an_embedded_store_is_moved_once_and_checked() {
    let db = pg::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let records: Vec<Record> = (0..1_234u64)
        .map(|i| {
            record(
                DAY + i * 60,
                &format!("s{}", i % 7),
                "school.example",
                "pass",
                &[],
            )
        })
        .collect();
    let inquiry = mailwacht::traffic::Inquiry {
        id: 3,
        person: "piet@school.example".into(),
        reason: "vermoeden van datalek".into(),
        by: "J. de Vries".into(),
        from: DAY,
        to: 3 * DAY,
        opened: DAY,
        closed: None,
        opened_uid: Some(1000),
        opened_login: None,
        auto_closed: false,
        notified: None,
    };
    {
        let store = TrafficStore::open(&data).expect("embedded");
        for r in &records {
            store.insert(r).expect("insert");
        }
        // Same second as another record: both are kept and both move.
        store.insert(&records[0]).expect("insert");
        store.put_inquiry(&inquiry).expect("inquiry");
        store.purge(DAY + 10 * 60, 0).expect("purge");
        store.flush().await.expect("flush");
    }
    let config = shared_config(tmp.path(), &data, &db.url);
    let moved = 1_234 + 1 - 10 - 1;
    for run in 0..2 {
        let (code, out, err) = mailwacht(
            &config,
            &["store", "migrate", "--from", "embedded", "--to", "postgres"],
        );
        assert_eq!(code, 0, "{out}{err}");
        let added = if run == 0 { moved } else { 0 };
        assert!(
            out.contains(&format!("traffic records: {moved} (nieuw / added {added})")),
            "run {run}: {out}"
        );
        assert!(out.contains("inquiries: 1"), "{out}");
    }
    let shared = node(&db.url).await;
    let got = shared.range(0, u64::MAX).await.expect("range");
    let want = TrafficStore::open(&data)
        .expect("embedded")
        .range(0, u64::MAX)
        .expect("range");
    assert_eq!(got, want, "every record, in order, once");
    assert_eq!(shared.inquiry(3).await.expect("get"), Some(inquiry));
    assert_eq!(
        shared.purged_before().await.expect("cut-off"),
        DAY + 10 * 60
    );
    assert!(shared.next_inquiry_id().await.expect("id") > 3);
    let (code, out, err) = mailwacht(&config, &["store", "check", "--from", "embedded"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("embedded {moved}, in database {moved}")),
        "{out}"
    );
    TrafficStore::open(&data)
        .expect("embedded")
        .insert(&records[5])
        .expect("insert");
    let (code, out, err) = mailwacht(&config, &["store", "check", "--from", "embedded"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("not everything was moved"), "{err}");
}

/// Issue 17: four eyes across nodes. An auditor asks on node A for an inquiry; the request is listed on
/// node B, where the privacy officer approves it, which opens the inquiry in the shared store (seen on A);
/// the approval is spent once, whichever node tries again; the requester cannot approve their own.
#[tokio::test]
async fn an_access_request_made_on_one_node_is_approved_on_another() {
    use mailwacht::admin::{AccessState, Caller, Guarded, Role};
    let db = pg::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let traffic = node(&db.url).await;
    let pg = Pg::connect(&Settings {
        url: db.url.clone(),
        password_file: None,
    })
    .expect("pool");
    let nodes: Vec<Service> = ["a", "b"]
        .iter()
        .map(|n| {
            let svc =
                service(&tmp.path().join(n), traffic.clone(), 5).with_shared_access(pg.clone());
            // The console accounts are each node's own file: the same people on both.
            for (name, role) in [("aart", Role::Auditor), ("petra", Role::Privacy)] {
                svc.accounts()
                    .add(name, role, "een lang wachtwoord", at(0))
                    .expect("account");
            }
            svc
        })
        .collect();
    let now = 20 * DAY;
    let request = nodes[0]
        .request_access(
            &Caller::web(0, "aart"),
            Guarded::InquiryOpen { days: 7 },
            "piet@school.example",
            "vermoeden van datalek naar extern adres",
            at(now),
        )
        .await
        .expect("request on node A");
    let listed = nodes[1].access_requests(at(now + 1)).await;
    assert_eq!(
        listed,
        vec![request.clone()],
        "node B sees node A's request"
    );
    let own = nodes[1]
        .approve_access(&Caller::web(0, "aart"), request.number, at(now + 2))
        .await;
    assert!(own.is_err(), "{own:?}");
    let approved = nodes[1]
        .approve_access(&Caller::web(0, "petra"), request.number, at(now + 3))
        .await
        .expect("approved on node B");
    assert!(
        matches!(approved.state, AccessState::Used { ref approved_by } if approved_by == "petra")
    );
    let Response::Traffic(TrafficResponse::Inquiries { inquiries }) = nodes[0]
        .handle(
            1000,
            Request::Traffic(TrafficRequest::InquiryList),
            at(now + 4),
        )
        .await
    else {
        panic!("no list");
    };
    assert_eq!(inquiries.len(), 1, "opened by the approval on node B");
    assert_eq!(inquiries[0].inquiry.person, "piet@school.example");
    let again = nodes[0]
        .approve_access(&Caller::web(0, "petra"), request.number, at(now + 5))
        .await;
    assert!(again.is_err(), "an approval is spent once: {again:?}");
    let ask = |node: &'static str, person: &'static str| {
        let svc = &nodes[usize::from(node == "b")];
        async move {
            svc.request_access(
                &Caller::web(0, "aart"),
                Guarded::InquiryOpen { days: 7 },
                person,
                "vermoeden van datalek naar extern adres",
                at(now + 6),
            )
            .await
            .expect("request")
            .number
        }
    };
    let (x, y) = tokio::join!(
        ask("a", "jan@school.example"),
        ask("b", "kees@school.example")
    );
    let numbers: BTreeSet<u64> = [x, y].into_iter().collect();
    assert_eq!(numbers.len(), 2, "two nodes never hand out the same number");
    assert!(!numbers.contains(&request.number));
}

// ------------------------------------------------------------------------------------------------------
// The pseudonym keys shared by the nodes (migration 0005): in the database, wrapped under
// [traffic] key_secret_file.

use mailwacht::storage::postgres::Blocking;
use mailwacht::traffic::keys::postgres::PgKeys;
use mailwacht::traffic::keys::wrap::Secret;
use mailwacht::traffic::KeyError;

/// Monday 2026-11-30 00:00 UTC.
const MONDAY: u64 = 1_795_996_800;

fn secret(byte: u8) -> Secret {
    Secret::from_bytes(&[byte; 32], "test").expect("secret")
}

/// A node's database thread on `url`.
fn db_thread(url: &str) -> Blocking {
    Blocking::start(&Settings {
        url: url.to_string(),
        password_file: None,
    })
    .expect("database thread")
}

/// A node's key ring (as the daemon's: it makes keys) on `url`, with its own database thread.
fn shared_ring(url: &str, secret: Secret) -> KeyRing {
    KeyRing::shared(PgKeys::new(db_thread(url), secret), 28, true)
}

async fn count(url: &str, sql: &str) -> i64 {
    let pg = Pg::connect(&Settings {
        url: url.to_string(),
        password_file: None,
    })
    .expect("pool");
    pg.client()
        .await
        .expect("client")
        .query_one(sql, &[])
        .await
        .expect(sql)
        .get(0)
}

async fn keys_in(url: &str) -> i64 {
    count(url, "SELECT count(*) FROM pseudonym_keys").await
}

/// A review service like [`service`], its inquiries answered with `keys`.
fn service_with_keys(dir: &std::path::Path, traffic: Traffic, keys: KeyRing) -> Service {
    let data = dir.join("data");
    let (quarantine, _) = mailwacht::quarantine::Store::open(&data).expect("quarantine");
    let audit = AuditLog::open(data.join("audit.log")).expect("audit");
    Service::new(
        quarantine,
        audit,
        Default::default(),
        mailwacht::message::Limits::default(),
    )
    .with_traffic(TrafficService::new(traffic, Arc::new(keys), settings(5)))
}

const PIET: &str = "piet@school.example";

/// Two nodes (two pools, two rings) get the one key of a period, whichever node made it, and so the same
/// pseudonym for one person; no key file is written anywhere.
#[tokio::test]
async fn two_nodes_get_one_key_per_period_and_the_same_pseudonym() {
    let db = pg::database();
    node(&db.url).await;
    let (a, b) = (
        shared_ring(&db.url, secret(1)),
        shared_ring(&db.url, secret(1)),
    );
    let pa = a.key_for(MONDAY + 5).expect("a").pseudonym(PIET);
    let pb = b
        .key_for(MONDAY + 3 * DAY)
        .expect("b")
        .pseudonym("<Piet@School.example>");
    assert_eq!(pa, pb, "one person, one pseudonym on both nodes");
    let (from, to) = mailwacht::traffic::keys::period(MONDAY, 28);
    let periods = |r: &KeyRing| r.keys().iter().map(|k| (k.from, k.to)).collect::<Vec<_>>();
    assert_eq!(periods(&b), vec![(from, to)]);
    // The next period's key, made by B, is found by A.
    let next = b.key_for(to).expect("b next").pseudonym(PIET);
    assert_ne!(next, pb, "unrelated across periods");
    assert_eq!(a.key_for(to + DAY).expect("a next").pseudonym(PIET), next);
    assert_eq!(keys_in(&db.url).await, 2);
    assert_eq!(a.dir(), std::path::Path::new(""), "no key directory");
}

/// Eight nodes asking at the same moment for a period nobody has a key for yet make one key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_nodes_racing_for_a_new_period_make_one_key() {
    let db = pg::database();
    node(&db.url).await;
    let rings: Vec<KeyRing> = (0..8).map(|_| shared_ring(&db.url, secret(1))).collect();
    // Each ring's first query also checks the schema: done before the race, so all ask at once.
    for ring in &rings {
        assert!(ring.keys().is_empty());
    }
    let start = Arc::new(std::sync::Barrier::new(rings.len()));
    let threads: Vec<_> = rings
        .into_iter()
        .map(|ring| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                ring.key_for(MONDAY).expect("key").pseudonym(PIET)
            })
        })
        .collect();
    let pseudonyms: BTreeSet<String> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    assert_eq!(pseudonyms.len(), 1, "{pseudonyms:?}");
    assert_eq!(keys_in(&db.url).await, 1);
}

/// A node given another secret opens no key, makes none (also for a period without one), and its writer
/// stores no record: each is dropped and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_secret_is_refused_and_writes_nothing() {
    let db = pg::database();
    let store = node(&db.url).await;
    let a = shared_ring(&db.url, secret(1));
    a.key_for(MONDAY).expect("a");
    let b = shared_ring(&db.url, secret(2));
    for t in [MONDAY, MONDAY + 90 * DAY] {
        let e = b.key_for(t).expect_err("wrong secret");
        assert!(matches!(e, KeyError::WrongSecret { .. }), "{e}");
        assert!(e.to_string().contains("key_secret_file"), "{e}");
    }
    assert!(matches!(b.refresh(), Err(KeyError::WrongSecret { .. })));
    assert_eq!(keys_in(&db.url).await, 1, "no second key");
    // Node B's refusals left no lock behind: node A still makes the next period's key.
    let (tx, rx) = std::sync::mpsc::channel();
    let a = Arc::new(a);
    let maker = a.clone();
    std::thread::spawn(move || tx.send(maker.key_for(MONDAY + 90 * DAY).is_ok()));
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)), Ok(true));
    assert_eq!(keys_in(&db.url).await, 2);
    let (recorder, _writer) = mailwacht::traffic::spawn_writer(store.clone(), Arc::new(b), 16);
    let envelope = mailwacht::envelope::Envelope {
        mail_from: Some(PIET.into()),
        rcpt_to: vec![mailwacht::envelope::Recipient {
            address: "jan@school.example".into(),
            params: vec![],
        }],
        ..Default::default()
    };
    let local = vec!["school.example".to_string()];
    for _ in 0..3 {
        recorder.record_too_big(&envelope, &local, 10);
    }
    recorder.flush().await;
    assert_eq!(recorder.dropped(), 3);
    assert_eq!(store.totals().await.expect("totals").0, 0);
    assert_eq!(keys_in(&db.url).await, 2);
}

/// A dump of the database holds no key in the clear (nor the secret): searched for the key's bytes and
/// their hex form, as `pg_dump` writes bytea.
#[tokio::test]
async fn no_column_of_a_dump_holds_a_key_in_the_clear() {
    let db = pg::database();
    node(&db.url).await;
    let key: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let (from, to) = mailwacht::traffic::keys::period(MONDAY, 28);
    let keys = PgKeys::new(db_thread(&db.url), secret(7));
    assert_eq!(keys.import(vec![(from, to, key)]).expect("import").added, 1);
    let ring = shared_ring(&db.url, secret(7));
    ring.key_for(MONDAY + 60 * DAY).expect("a made key too");
    assert_eq!(
        ring.key_for(MONDAY).expect("stored").pseudonym(PIET),
        mailwacht::traffic::PseudonymKey::from_bytes(key).pseudonym(PIET),
        "the ring opens it"
    );
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Debian's postgresql (deploy/e2e/postgres.sh installs it)")
        .flatten()
        .map(|v| v.path().join("bin/pg_dump"))
        .find(|p| p.exists())
        .expect("pg_dump");
    let out = std::process::Command::new(bin)
        .arg("--dbname")
        .arg(&db.url)
        .output()
        .expect("pg_dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = out.stdout;
    let text = String::from_utf8_lossy(&dump);
    assert!(text.contains("pseudonym_keys") && text.contains("secret_check"));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    for (what, bytes) in [("key", &key[..]), ("secret", &[7u8; 32][..])] {
        assert!(
            !dump.windows(bytes.len()).any(|w| w == bytes),
            "{what} in the dump"
        );
        assert!(!text.contains(&hex(bytes)), "{what} in hex in the dump");
        assert!(
            !text.contains(&hex(&bytes[..16])),
            "half the {what} in the dump"
        );
    }
}

/// Expiry deletes a period's key only once its records are purged (on one node), drops it from every
/// node's cache at that node's next run, and no ring gets it back: that period's pseudonyms are gone.
#[tokio::test]
async fn expiry_deletes_the_row_after_the_records_and_no_ring_gets_it_back() {
    let db = pg::database();
    let store = node(&db.url).await;
    let (a, b) = (
        shared_ring(&db.url, secret(1)),
        shared_ring(&db.url, secret(1)),
    );
    let (from, to) = mailwacht::traffic::keys::period(MONDAY, 28);
    let old = a.key_for(MONDAY).expect("a").pseudonym(PIET);
    assert_eq!(b.key_for(MONDAY).expect("b").pseudonym(PIET), old);
    store
        .insert(&record(MONDAY + 10, &old, "school.example", "pass", &[]))
        .await
        .expect("record");
    let now = to + 28 * DAY;
    assert_eq!(
        a.expire(now, 28).expect("expire"),
        vec![],
        "its records are not purged yet"
    );
    assert_eq!(keys_in(&db.url).await, 1);
    assert_eq!(store.purge(now, 28).await.expect("purge"), Some(1));
    assert_eq!(a.expire(now, 28).expect("expire"), vec![(from, to)]);
    assert_eq!(keys_in(&db.url).await, 0);
    // Node B deletes nothing more, but forgets the key.
    assert_eq!(b.expire(now, 28).expect("expire"), vec![]);
    let fresh = shared_ring(&db.url, secret(1))
        .key_for(MONDAY)
        .expect("new");
    assert_ne!(fresh.pseudonym(PIET), old, "the old key is gone for good");
    assert_eq!(
        b.key_for(MONDAY + DAY).expect("b").pseudonym(PIET),
        fresh.pseudonym(PIET),
        "node B no longer uses the deleted key"
    );
}

/// k-anonymity over the nodes: one sender whose mail went through both nodes is one sender. With k = 3 a
/// domain with two senders, one of them on both nodes, is suppressed; with a key per node (as before) the
/// one on both counted twice and the domain was shown — the leak this closes.
#[tokio::test]
async fn one_sender_on_two_nodes_counts_once_for_k_anonymity() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut shown = Vec::new();
    for shared_keys in [true, false] {
        let db = pg::database();
        let nodes = [node(&db.url).await, node(&db.url).await];
        let rings: Vec<KeyRing> = (0..2)
            .map(|i| {
                if shared_keys {
                    shared_ring(&db.url, secret(1))
                } else {
                    let dir = tmp.path().join(format!("own-{i}"));
                    KeyRing::open(&dir.join("keys"), &dir.join("data"), 28, 0)
                        .expect("own keys")
                        .0
                }
            })
            .collect();
        // Each day piet mails through both nodes, jan through node 0.
        for day in [10, 11] {
            for (i, who) in [(0, "piet"), (1, "piet"), (0, "jan")] {
                let t = day * DAY + 60 * (i as u64 + 1);
                let sender = rings[i]
                    .key_for(t)
                    .expect("key")
                    .pseudonym(&format!("{who}@verdeeld.example"));
                nodes[i]
                    .insert(&record(t, &sender, "verdeeld.example", "pass", &[]))
                    .await
                    .expect("record");
            }
        }
        let svc = service(
            &tmp.path().join(format!("svc-{shared_keys}")),
            nodes[0].clone(),
            3,
        );
        let s = summary(&svc, Group::DomainVerdict, 30 * DAY).await;
        shown.push(cell(&s, "verdeeld.example"));
    }
    assert_eq!(shown[0], [0, 0], "two senders < k = 3: suppressed");
    assert_eq!(
        shown[1],
        [3, 3],
        "a key per node made piet two senders: three, shown"
    );
}

/// A targeted inquiry on node B finds the records node A wrote (node B has never seen A's key before).
#[tokio::test]
async fn an_inquiry_on_node_b_finds_the_records_node_a_wrote() {
    let db = pg::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (node(&db.url).await, node(&db.url).await);
    let ring_a = shared_ring(&db.url, secret(1));
    let node_b = service_with_keys(&tmp.path().join("b"), b, shared_ring(&db.url, secret(1)));
    let now = 20 * DAY;
    let Response::Traffic(TrafficResponse::Inquiry { inquiry }) =
        node_b.handle(1000, open_on_piet(3), at(now)).await
    else {
        panic!("not opened");
    };
    for (t, who) in [
        (now + 100, PIET),
        (now + 200, "jan@school.example"),
        (now + DAY, PIET),
    ] {
        let sender = ring_a.key_for(t).expect("a").pseudonym(who);
        a.insert(&record(t, &sender, "school.example", "pass", &[]))
            .await
            .expect("record");
    }
    let Response::Traffic(TrafficResponse::Report { records, .. }) = node_b
        .handle(
            1000,
            Request::Traffic(TrafficRequest::InquiryReport { id: inquiry.id }),
            at(now + 4 * DAY),
        )
        .await
    else {
        panic!("no report");
    };
    assert_eq!(records.len(), 2, "piet's two records, written on node A");
}

/// `store migrate --from embedded` moves the node's key files (wrapped), so moved records keep answering
/// inquiries on any node; twice adds nothing; `store check` compares them; another node's key for a period
/// already holding one is refused by name, before anything of that node is moved.
#[tokio::test]
async fn moved_key_files_keep_moved_records_answering_inquiries() {
    let db = pg::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let now = 20 * DAY;
    let embedded_node = |name: &str, people: &[&str]| {
        let data = tmp.path().join(name).join("data");
        let keys = tmp.path().join(name).join("data-keys");
        let (ring, _) = KeyRing::open(&keys, &data, 28, now).expect("keys");
        let store = TrafficStore::open(&data).expect("embedded");
        for (i, who) in people.iter().enumerate() {
            let t = now - 2 * DAY + i as u64 * 60;
            let sender = ring.key_for(t).expect("key").pseudonym(who);
            store
                .insert(&record(t, &sender, "school.example", "pass", &[]))
                .expect("insert");
        }
        (shared_config(&tmp.path().join(name), &data, &db.url), store)
    };
    let (config, store) = embedded_node("a", &[PIET, "jan@school.example", PIET]);
    store.flush().await.expect("flush");
    drop(store);
    for added in [1, 0] {
        let (code, out, err) = mailwacht(
            &config,
            &["store", "migrate", "--from", "embedded", "--to", "postgres"],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains(&format!("pseudonym keys: 1 (nieuw / added {added})")),
            "{out}"
        );
    }
    let (code, out, err) = mailwacht(&config, &["store", "check", "--from", "embedded"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("pseudonym keys: lokaal / embedded 1, in database 1"),
        "{out}"
    );
    let ring = KeyRing::shared(
        PgKeys::new(
            db_thread(&db.url),
            Secret::read(&pg::key_secret(&db.url)).expect("secret"),
        ),
        28,
        false,
    );
    let svc = service_with_keys(&tmp.path().join("svc"), node(&db.url).await, ring);
    let open = Request::Traffic(TrafficRequest::InquiryOpen {
        person: PIET.into(),
        reason: "vermoeden van datalek naar extern adres".into(),
        days: 3,
        by: Some("J. de Vries".into()),
        from: Some(now - 3 * DAY),
    });
    let Response::Traffic(TrafficResponse::Inquiry { inquiry }) =
        svc.handle(1000, open, at(now)).await
    else {
        panic!("not opened");
    };
    let Response::Traffic(TrafficResponse::Report { records, .. }) = svc
        .handle(
            1000,
            Request::Traffic(TrafficRequest::InquiryReport { id: inquiry.id }),
            at(now),
        )
        .await
    else {
        panic!("no report");
    };
    assert_eq!(records.len(), 2, "piet's moved records");

    // Another node with a key of its own for the same period: refused by name, nothing of it moved.
    let (other, store) = embedded_node("b", &["kees@school.example"]);
    store.flush().await.expect("flush");
    drop(store);
    let (code, out, err) = mailwacht(
        &other,
        &["store", "migrate", "--from", "embedded", "--to", "postgres"],
    );
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("1970-01-05..1970-02-02"), "{err}");
    assert!(err.contains("not overwritten"), "{err}");
    assert_eq!(keys_in(&db.url).await, 1);
    assert_eq!(
        count(&db.url, "SELECT count(*) FROM traffic_record").await,
        3,
        "the other node's records stay where their key is"
    );
}

/// `mailwacht store rewrap-keys --new-secret-file`: every key wrapped again under the new secret (the same
/// keys: pseudonyms unchanged), after which the old secret opens nothing; a node with a wrong current secret
/// changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_are_rewrapped_under_a_new_secret_and_the_old_one_opens_nothing() {
    let db = pg::database();
    node(&db.url).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let old = Secret::read(&pg::key_secret(&db.url)).expect("secret");
    let ring = shared_ring(&db.url, old.clone());
    let before = [MONDAY, MONDAY + 40 * DAY].map(|t| ring.key_for(t).expect("key").pseudonym(PIET));
    let wrong = PgKeys::new(db_thread(&db.url), secret(9));
    assert!(matches!(
        wrong.rewrap(&secret(10)),
        Err(KeyError::WrongSecret { .. })
    ));
    let config = shared_config(tmp.path(), &tmp.path().join("data"), &db.url);
    let new_file = tmp.path().join("key-secret.new");
    std::fs::write(&new_file, [0x42u8; 48]).expect("new secret");
    let (code, out, err) = mailwacht(
        &config,
        &[
            "store",
            "rewrap-keys",
            "--new-secret-file",
            new_file.to_str().expect("path"),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 opnieuw versleuteld / re-wrapped"), "{out}");
    let renewed = shared_ring(&db.url, Secret::read(&new_file).expect("new"));
    let after =
        [MONDAY, MONDAY + 40 * DAY].map(|t| renewed.key_for(t).expect("key").pseudonym(PIET));
    assert_eq!(after, before, "the same keys");
    let stale = shared_ring(&db.url, old);
    assert!(matches!(stale.refresh(), Err(KeyError::WrongSecret { .. })));
    assert!(matches!(
        stale.key_for(MONDAY + 90 * DAY),
        Err(KeyError::WrongSecret { .. })
    ));
    assert_eq!(keys_in(&db.url).await, 2);
}
