//! Fuzz the archive walkers (zip, tar, gzip, bzip2, xz, 7z, RAR 4/5, cabinet). The checks live in `harness/archive.rs`,
//! which `tests/fuzz_inputs.rs` also runs on stable over the fixtures and random mutations.
//! Run with `cargo +nightly fuzz run archive` from the repository root.
#![no_main]

#[path = "../harness/archive.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
