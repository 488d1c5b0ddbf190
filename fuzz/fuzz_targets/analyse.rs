//! Fuzz `message::analyse`: it must never panic, and must stay within its limits, on any input.
//! Run with `cargo +nightly fuzz run analyse` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailwacht::message::{analyse, Limits, TextOrigin};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_text_bytes: 64 * 1024, ..Limits::default() };
    let analysis = analyse(data, &limits);
    assert_eq!(analysis.size, data.len());
    let parsed: usize =
        analysis.texts.iter().filter(|t| t.origin != TextOrigin::Raw).map(|t| t.text.len()).sum();
    assert!(parsed <= limits.max_text_bytes);
});
