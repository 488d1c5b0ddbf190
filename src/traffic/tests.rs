use super::*;
use crate::envelope::Recipient;
use crate::policy::{Decision, Verdict};

fn envelope(from: &str, to: &[&str]) -> Envelope {
    Envelope {
        mail_from: Some(from.into()),
        mail_params: vec![],
        rcpt_to: to
            .iter()
            .map(|a| Recipient {
                address: a.to_string(),
                params: vec![],
            })
            .collect(),
        xforward: vec![],
    }
}

fn decision(verdict: Verdict) -> Decision {
    Decision {
        verdict,
        exempt: Some(Exemption::Persoonlijk),
        score: 0.0,
        hits: vec![],
        detections: vec![],
        tempfail_reason: None,
        would: None,
    }
}

#[test]
fn record_keeps_counts_and_domains_but_no_local_parts() {
    let key = PseudonymKey::from_bytes([1; 32]);
    let env = envelope(
        "Juf.Anna@School.Example",
        &[
            "geheimeleerling@school.example",
            "ouder@gmail.example",
            "x@gmail.example",
        ],
    );
    let r = Record::from_message(
        42,
        &key,
        &env,
        &["school.example".into()],
        1234,
        2,
        &decision(Verdict::Bounce),
    );
    assert_eq!(r.time, 42);
    assert_eq!(r.sender, key.pseudonym("juf.anna@school.example"));
    assert_eq!(r.sender.len(), 64);
    assert_eq!(r.sender_domain, "school.example");
    assert_eq!((r.rcpt_local, r.rcpt_external), (1, 2));
    assert_eq!(r.rcpt_domains, vec!["gmail.example", "school.example"]);
    assert_eq!((r.size, r.attachments), (1234, 2));
    assert_eq!(r.verdict, "bounce");
    assert_eq!(r.exempt.as_deref(), Some("persoonlijk"));
    let json = serde_json::to_string(&r).unwrap().to_lowercase();
    for secret in ["juf.anna", "geheimeleerling", "ouder"] {
        assert!(!json.contains(secret), "{secret} in {json}");
    }
}

#[test]
fn pseudonyms_depend_on_the_key_and_ignore_case() {
    let a = PseudonymKey::from_bytes([1; 32]);
    let b = PseudonymKey::from_bytes([2; 32]);
    assert_eq!(a.pseudonym("<Piet@X.nl>"), a.pseudonym("piet@x.nl"));
    assert_ne!(a.pseudonym("piet@x.nl"), b.pseudonym("piet@x.nl"));
    assert_ne!(a.pseudonym("piet@x.nl"), a.pseudonym("jan@x.nl"));
}

/// Pseudonyms are stored, and inquiries find records by recomputing them: their value must never change.
/// The figures are HMAC-SHA256 computed independently (Python's `hmac`).
#[test]
fn pseudonyms_are_hmac_sha256_in_lowercase_hex() {
    assert_eq!(
        PseudonymKey::from_bytes([1; 32]).pseudonym("<Piet@X.nl>"),
        "7b7d9e06e93c2c617e28d653a1c51078b3fb776c92470361dba5435c849e0b68"
    );
    let key = PseudonymKey::from_bytes([7; 32]);
    assert_eq!(
        key.pseudonym(""),
        "9dac6a74401b46ed9b489d0e19d68d1b13cc6b5090352fdcfa5bd74df4e69d87"
    );
    // The keyed state is reused, never consumed: the same address gives the same pseudonym again.
    assert_eq!(key.pseudonym("a@b"), key.clone().pseudonym("a@b"));
}

/// A key ring in `dir/keys` (apart from the store in `dir/data`).
fn ring(dir: &std::path::Path) -> Arc<KeyRing> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (ring, _) = KeyRing::open(&dir.join("keys"), &dir.join("data"), 28, now).unwrap();
    Arc::new(ring)
}

#[tokio::test]
async fn recorder_never_waits_and_counts_drops() {
    let dir = tempfile::tempdir().unwrap();
    let store = TrafficStore::open(&dir.path().join("data")).unwrap();
    let (recorder, task) = spawn_writer(store.clone().into(), ring(dir.path()), 2);
    // Stop the writer: every further record is dropped and counted, none blocks.
    task.abort();
    let _ = task.await;
    let env = envelope("a@b.example", &["c@d.example"]);
    for _ in 0..5 {
        recorder.record(&env, &[], 10, 0, &decision(Verdict::Pass));
    }
    assert_eq!(recorder.dropped(), 5);
}

#[tokio::test]
async fn recorder_writes_to_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = TrafficStore::open(&dir.path().join("data")).unwrap();
    let keys = ring(dir.path());
    let (recorder, _task) = spawn_writer(store.clone().into(), keys.clone(), 16);
    let env = envelope("a@b.example", &["c@d.example"]);
    recorder.record(&env, &[], 10, 0, &decision(Verdict::Pass));
    for _ in 0..100 {
        if store.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let all = store.range(0, u64::MAX).unwrap();
    assert_eq!(all.len(), 1);
    let key = keys.key_for(all[0].time).unwrap();
    assert_eq!(all[0].sender, key.pseudonym("a@b.example"));
    assert_eq!(keys.keys().len(), 1, "the record's key period got its key");
    assert_eq!(recorder.dropped(), 0);
}

#[tokio::test]
async fn flush_waits_for_every_record_queued_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = TrafficStore::open(&dir.path().join("data")).unwrap();
    let (recorder, task) = spawn_writer(store.clone().into(), ring(dir.path()), 64);
    let env = envelope("a@b.example", &["c@d.example"]);
    for _ in 0..50 {
        recorder.record(&env, &[], 10, 0, &decision(Verdict::Pass));
    }
    recorder.flush().await;
    assert_eq!(
        store.len(),
        50,
        "all queued records written before flush returns"
    );
    recorder.record(&env, &[], 10, 0, &decision(Verdict::Pass));
    recorder.flush().await;
    assert_eq!(store.len(), 51);
    assert_eq!(recorder.dropped(), 0);
    // A stopped writer: flush returns at once and records are dropped and counted.
    task.abort();
    let _ = task.await;
    recorder.flush().await;
    recorder.record(&env, &[], 10, 0, &decision(Verdict::Pass));
    assert_eq!(recorder.dropped(), 1);
}

/// A record the writer fails is counted before the flush that follows it returns: whoever flushed and then
/// reads [`Recorder::dropped`] sees it (the flush was once answered before the batch's failures were counted,
/// which a second worker thread could observe). Repeated, as the window was one thread switch wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_before_the_flush_after_them_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store = TrafficStore::open(&dir.path().join("data")).unwrap();
    let keys = Arc::new(KeyRing::unavailable(&dir.path().join("no-keys"), 28));
    let (recorder, _task) = spawn_writer(store.clone().into(), keys, 64);
    let env = envelope("a@b.example", &["c@d.example"]);
    for round in 1..=200 {
        recorder.record(&env, &[], 10, 0, &decision(Verdict::Pass));
        recorder.flush().await;
        assert_eq!(recorder.dropped(), round, "round {round}");
    }
    assert_eq!(store.len(), 0);
}
