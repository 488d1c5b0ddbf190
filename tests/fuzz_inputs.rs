//! The fuzz targets' input functions on stable (cargo-fuzz needs nightly and is not part of CI): each of
//! `fuzz/harness/{archive,office,pdf}.rs` runs over every attachment in `fixtures/` and a few thousand
//! deterministic mutations of them, and `fuzz/harness/inline.rs` over the bodies of the fixtures with a
//! uuencoded file. The harnesses assert the limits; a panic anywhere fails the test.

#[path = "../fuzz/harness/archive.rs"]
mod archive;
#[path = "../fuzz/harness/inline.rs"]
mod inline;
#[path = "../fuzz/harness/office.rs"]
mod office;
#[path = "../fuzz/harness/pdf.rs"]
mod pdf;

use std::io::Read;
use std::path::Path;

use mailwacht::message::{analyse, Limits};

/// Mutated inputs per target, spread evenly over its seeds.
const MUTATIONS: usize = 3000;

/// Every attachment of every fixture mail, decoded.
fn fixture_attachments() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "eml") {
                let raw = std::fs::read(&path).expect("read fixture");
                for a in analyse(&raw, &Limits::default()).attachments {
                    let name = a.name.clone().unwrap_or_default();
                    out.push((name, a.data));
                }
            }
        }
    }
    out.sort();
    out
}

/// The XML parts of a zip (Office documents), each as an office-harness input: a flavour byte, then the XML.
fn zip_xml_parts(data: &[u8]) -> Vec<Vec<u8>> {
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(data)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let Ok(mut file) = zip.by_index(i) else {
            continue;
        };
        let Ok(name) = file.name().map(|n| n.into_owned()) else {
            continue;
        };
        let flavour = match name.as_str() {
            n if n.starts_with("word/") => 0,
            n if n.starts_with("xl/") => 1,
            n if n.starts_with("ppt/") => 2,
            "content.xml" => 3,
            _ => continue,
        };
        let mut xml = vec![flavour];
        if file.read_to_end(&mut xml).is_ok() {
            out.push(xml);
        }
    }
    out
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four random edits of `seed`: flipped bits, bytes set to interesting values, a cut, a chunk copied
/// elsewhere (repeated structure is what makes parsers loop), or a chunk removed.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    const INTERESTING: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, b'(', b'<', b'/'];
    let mut d = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        if d.is_empty() {
            d.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(d.len());
        match rng.below(6) {
            0 => d[at] ^= 1 << rng.below(8),
            1 => d[at] = INTERESTING[rng.below(INTERESTING.len())],
            2 => d[at] = rng.next() as u8,
            3 => d.truncate(at),
            4 => {
                let len = rng.below(64.min(d.len() - at)) + 1;
                let chunk = d[at..at + len].to_vec();
                let to = rng.below(d.len());
                d.splice(
                    to..to,
                    chunk.iter().copied().cycle().take(len * (1 + rng.below(8))),
                );
            }
            _ => {
                let len = rng.below(64.min(d.len() - at)) + 1;
                d.drain(at..at + len);
            }
        }
    }
    d
}

/// Run `target` over `seeds` and `MUTATIONS` mutations of them, round robin; returns the number of inputs run.
fn run_over(target: fn(&[u8]), seeds: &[Vec<u8>], salt: u64) -> usize {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ salt);
    for seed in seeds {
        target(seed);
    }
    for seed in seeds.iter().cycle().take(MUTATIONS) {
        target(&mutate(seed, &mut rng));
    }
    seeds.len() + MUTATIONS
}

/// The seeds of one target: selector byte (archive harness) or flavour byte (office harness) in front when
/// `prefix` is given.
fn with_prefix(prefix: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![prefix];
    v.extend_from_slice(data);
    v
}

#[test]
fn archive_target_over_fixtures_and_mutations() {
    // Selector 0 puts no magic in front: the fixture archive is walked as it is.
    let seeds: Vec<Vec<u8>> = fixture_attachments()
        .iter()
        .filter(|(_, d)| mailwacht::message::archive::Format::of(d).is_some())
        .map(|(_, d)| with_prefix(0, d))
        .collect();
    assert!(
        seeds.len() >= 6,
        "zip, tar.gz, 7z, docx … fixtures: {}",
        seeds.len()
    );
    let n = run_over(archive::run, &seeds, 1);
    assert!(n > MUTATIONS, "{n} inputs");
}

#[test]
fn office_target_over_fixtures_and_mutations() {
    let documents: Vec<Vec<u8>> = fixture_attachments()
        .into_iter()
        .filter(|(name, _)| {
            let name = name.to_lowercase();
            [".docx", ".docm", ".xlsx", ".xlsm", ".pptx", ".odt", ".ods"]
                .iter()
                .any(|e| name.ends_with(e))
        })
        .map(|(_, d)| d)
        .collect();
    assert!(
        documents.len() >= 4,
        "docx and xlsx fixtures: {}",
        documents.len()
    );
    // The harness reads the input as a whole file and, less its first byte, as XML in a fresh zip: seed both.
    let mut seeds = documents.clone();
    seeds.extend(documents.iter().flat_map(|d| zip_xml_parts(d)));
    let n = run_over(office::run, &seeds, 2);
    assert!(n > MUTATIONS, "{n} inputs");
}

#[test]
fn pdf_target_over_fixtures_and_mutations() {
    let seeds: Vec<Vec<u8>> = fixture_attachments()
        .into_iter()
        .filter(|(_, d)| d.starts_with(b"%PDF"))
        .map(|(_, d)| d)
        .collect();
    assert!(seeds.len() >= 2, "PDF fixtures: {}", seeds.len());
    // The harness also wraps the input in a Flate stream: a content stream of text operators as a seed too.
    let mut seeds = seeds;
    seeds.push(b"BT /F1 11 Tf 56 780 Td [(Beste) -250 (ouders)] TJ T* (tot ziens) ' ET".to_vec());
    seeds.push(b"1 0 obj << /Type /ObjStm /N 2 /First 8 >> stream\n5 0 6 20 << /A 1 >> << /B [1 2] >>\nendstream".to_vec());
    let n = run_over(pdf::run, &seeds, 3);
    assert!(n > MUTATIONS, "{n} inputs");
}

#[test]
fn inline_target_over_fixtures_and_mutations() {
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for group in ["pass", "bounce"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(group);
        for entry in std::fs::read_dir(dir).expect("fixtures").flatten() {
            let raw = std::fs::read(entry.path()).expect("fixture");
            if memchr::memmem::find(&raw, b"\r\nbegin 644 ").is_some() {
                // The first byte picks how many files the harness takes out: at least one.
                seeds.push(with_prefix(3, &raw));
            }
        }
    }
    assert!(seeds.len() >= 4, "uuencoded fixtures: {}", seeds.len());
    let n = run_over(inline::run, &seeds, 4);
    assert!(n > MUTATIONS, "{n} inputs");
}
