//! The pdf fuzz target's input function, shared with the normal test `tests/fuzz_inputs.rs` so that the same
//! checks run on stable without cargo-fuzz.

use std::io::Write;

use mailwacht::message::extract::{extract, DocKind};
use mailwacht::message::Limits;

/// Extract text from `data` as a whole PDF, and as the content of a Flate stream and of a plain stream in a
/// minimal PDF (so the content-stream reader sees the input decompressed): never a panic, the text within its
/// budget.
pub fn run(data: &[u8]) {
    let limits = Limits {
        extract_max_input_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let budget = 64 * 1024;
    let mut whole = b"%PDF-1.7\n".to_vec();
    whole.extend_from_slice(data);
    let e = extract(&whole, DocKind::Pdf, &limits, budget);
    assert!(e.text.len() <= budget);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = z.write_all(data);
    let body = z.finish().unwrap_or_default();
    let mut pdf = format!(
        "%PDF-1.7\n4 0 obj << /Length {} /Filter /FlateDecode >>\nstream\n",
        body.len()
    )
    .into_bytes();
    pdf.extend_from_slice(&body);
    pdf.extend_from_slice(b"\nendstream\nendobj\n9 0 obj << /Length 3 >>\nstream\n");
    pdf.extend_from_slice(data);
    pdf.extend_from_slice(b"\nendstream\nendobj\n");
    let e = extract(&pdf, DocKind::Pdf, &limits, budget);
    assert!(e.text.len() <= budget);
}
