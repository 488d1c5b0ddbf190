//! Fuzz the whole decision on hostile mail: analysis, every default rule and the policy. Must never panic.
//! Run with `cargo +nightly fuzz run decide` from the repository root.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mailwacht::envelope::Envelope;
use mailwacht::message::{analyse, Limits};
use mailwacht::policy::{decide, PolicySettings, ScanResult};
use mailwacht::rules::{OrgContext, RuleSet};

static RULES: LazyLock<RuleSet> = LazyLock::new(|| RuleSet::embedded().expect("embedded rules compile"));

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_text_bytes: 64 * 1024, ..Limits::default() };
    let analysis = analyse(data, &limits);
    let envelope = Envelope::from_headers(&analysis.headers);
    let org = OrgContext { local_domains: vec!["school.example".into()], send_as: Vec::new() };
    let settings = PolicySettings {
        threshold: 5.0,
        screen_local_senders_only: false,
        counsellors: Vec::new(),
        sensitivity: vec!["personal".into()],
        subject_labels: vec!["persoonlijk".into()],
        pass_unscanned: false,
    };
    let decision = decide(&RULES, &settings, &org, &envelope, &analysis, &ScanResult::Clean);
    assert!(decision.score.is_finite());
});
