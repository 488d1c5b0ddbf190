//! Fuzz the reader of files uuencoded into a text part. The checks live in `harness/inline.rs`, which
//! `tests/fuzz_inputs.rs` also runs on stable over the fixtures and mutations.
//! Run with `cargo +nightly fuzz run inline` from the repository root.
#![no_main]

#[path = "../harness/inline.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
