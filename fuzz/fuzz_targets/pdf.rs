//! Fuzz the PDF text extractor. The checks live in `harness/pdf.rs`,
//! which `tests/fuzz_inputs.rs` also runs on stable over the fixtures and random mutations.
//! Run with `cargo +nightly fuzz run pdf` from the repository root.
#![no_main]

#[path = "../harness/pdf.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
