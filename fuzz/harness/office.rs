//! The office fuzz target's input function, shared with the normal test `tests/fuzz_inputs.rs` so that the
//! same checks run on stable without cargo-fuzz.

use std::io::Write;

use mailwacht::message::extract::{extract, DocKind};
use mailwacht::message::Limits;

/// Per flavour (Word, Excel, PowerPoint, OpenDocument): the part the fuzzed XML goes into, and the main part
/// that makes the zip that flavour.
const PARTS: [&str; 4] = [
    "word/document.xml",
    "xl/worksheets/sheet1.xml",
    "ppt/slides/slide1.xml",
    "content.xml",
];
const MAIN: [&str; 4] = [
    "word/document.xml",
    "xl/workbook.xml",
    "ppt/presentation.xml",
    "content.xml",
];

fn zipped(flavour: usize, xml: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in [
        (MAIN[flavour], &b"<x/>"[..]),
        (PARTS[flavour], xml),
        ("xl/sharedStrings.xml", xml),
    ] {
        // A part named twice (Word's main part is its text part) is refused by the writer: skip it.
        if w.start_file(name, opts).is_ok() {
            let _ = w.write_all(data);
        }
    }
    w.finish().map(|c| c.into_inner()).unwrap_or_default()
}

/// Extract text from `data` as an Office/OpenDocument file, and from a zip of the right shape with `data` (less
/// its first byte, which picks the flavour) as its XML: never a panic, the text within its budget.
pub fn run(data: &[u8]) {
    let limits = Limits {
        extract_max_input_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let budget = 64 * 1024;
    let e = extract(data, DocKind::Office, &limits, budget);
    assert!(e.text.len() <= budget);
    let Some((&selector, xml)) = data.split_first() else {
        return;
    };
    let doc = zipped(usize::from(selector) % PARTS.len(), xml);
    let e = extract(&doc, DocKind::Office, &limits, budget);
    assert!(e.text.len() <= budget);
}
