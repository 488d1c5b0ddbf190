//! The archive fuzz target's input function, shared with the normal test `tests/fuzz_inputs.rs` so that the
//! same checks run on stable without cargo-fuzz.

use mailwacht::message::archive::walk;
use mailwacht::message::Limits;

/// Magic bytes put in front of the input, picked by its first byte, so every walker gets inputs past its
/// signature: nothing, zip, gzip, bzip2, xz, 7z, RAR 5, RAR 4, cabinet.
const MAGIC: [&[u8]; 9] = [
    b"",
    b"PK\x03\x04",
    b"\x1f\x8b\x08",
    b"BZh9",
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c\x00\x04",
    b"Rar!\x1a\x07\x01\x00",
    b"Rar!\x1a\x07\x00",
    b"MSCF\0\0\0\0",
];

/// Walk `data` as an archive: never a panic, never more members than `archive_max_entries`, never more content
/// handed out than `archive_max_total`.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut input = MAGIC[usize::from(selector) % MAGIC.len()].to_vec();
    input.extend_from_slice(rest);
    let limits = Limits {
        archive_max_entries: 100,
        archive_max_total: 4 * 1024 * 1024,
        ..Limits::default()
    };
    let mut members = 0usize;
    let mut content = 0u64;
    walk(&input, Some("fuzz.tar.gz"), &limits, &mut |m| {
        members += 1;
        content += m.content.map_or(0, |c| c.len() as u64);
    });
    assert!(members <= limits.archive_max_entries, "{members} members");
    assert!(content <= limits.archive_max_total, "{content} bytes");
}
