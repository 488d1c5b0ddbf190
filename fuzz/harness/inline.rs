//! The inline fuzz target's input function (files uuencoded into a text part), shared with the normal test
//! `tests/fuzz_inputs.rs` so that the same checks run on stable without cargo-fuzz.

use mailwacht::message::inline::split;

/// Take the uuencoded files out of `data` read as text (lossy UTF-8): never a panic, at most the files asked
/// for, a text no longer than before, at most three bytes decoded per character (a line of one length
/// character whose spaces a mailer stripped stands for three zero bytes), and every name one the text holds.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let max_files = usize::from(data.first().copied().unwrap_or(0) % 8);
    let out = split(&text, max_files);
    assert!(out.files.len() <= max_files);
    let decoded: usize = out.files.iter().map(|f| f.data.len()).sum();
    assert!(out.text.len() <= text.len(), "the text grew");
    assert!(
        decoded <= 3 * text.len(),
        "{decoded} bytes from {}",
        text.len()
    );
    for file in &out.files {
        assert!(!file.name.is_empty() && text.contains(file.name.as_str()));
    }
    if out.files.is_empty() {
        assert_eq!(out.text, text);
    }
}
