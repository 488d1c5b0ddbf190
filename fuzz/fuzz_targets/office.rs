//! Fuzz the Office/OpenDocument text extractor (docx, xlsx, pptx, odt, ods). The checks live in
//! `harness/office.rs`, which `tests/fuzz_inputs.rs` also runs on stable over the fixtures and mutations.
//! Run with `cargo +nightly fuzz run office` from the repository root.
#![no_main]

#[path = "../harness/office.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
