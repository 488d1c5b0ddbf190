//! Archive walker tests: every format lists what it should, and hostile archives stay bounded (their problems
//! are reported, their members are not handed out). Builders for each format live here so other tests can use
//! them.

use std::io::{Cursor, Write};

use ::zip::write::SimpleFileOptions;

use super::*;

/// A zip from (name, content) pairs, deflated.
pub(crate) fn make_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ::zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Deflated);
    for (name, content) in files {
        w.start_file(*name, opts).unwrap();
        w.write_all(content).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A ustar archive; `size_override` puts another size in the first header (hostile headers).
pub(crate) fn make_tar(files: &[(&str, &[u8])], size_override: Option<&[u8; 11]>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (name, data)) in files.iter().enumerate() {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0001750\0");
        h[116..124].copy_from_slice(b"0001750\0");
        let size = format!("{:011o}", data.len());
        let size = match size_override {
            Some(s) if i == 0 => s.to_vec(),
            _ => size.into_bytes(),
        };
        h[124..135].copy_from_slice(&size);
        h[136..147].copy_from_slice(b"14740000000");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

pub(crate) fn gzip(data: &[u8], name: Option<&str>) -> Vec<u8> {
    let mut b = flate2::GzBuilder::new();
    if let Some(n) = name {
        b = b.filename(n);
    }
    let mut e = b.write(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub(crate) fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub(crate) fn xz(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    lzma_rs::xz_compress(&mut Cursor::new(data), &mut out).unwrap();
    out
}

/// 7z's variable-length number.
fn num(n: u64) -> Vec<u8> {
    for extra in 0..8u32 {
        if n < 1u64 << (7 * (extra + 1)) {
            let high = (n >> (8 * extra)) as u8;
            let first = ((0xFF00u16 >> extra) as u8) | high;
            let mut v = vec![first];
            v.extend_from_slice(&n.to_le_bytes()[..extra as usize]);
            return v;
        }
    }
    let mut v = vec![0xFF];
    v.extend_from_slice(&n.to_le_bytes());
    v
}

/// The plain 7z header for stored members (one Copy folder each), as 7-Zip writes it.
fn sevenz_header(files: &[(&str, &[u8])], names_only: usize) -> Vec<u8> {
    let n = files.len() as u64;
    let mut h = vec![0x01];
    if !files.is_empty() {
        h.push(0x04);
        h.push(0x06);
        h.extend(num(0));
        h.extend(num(n));
        h.push(0x09);
        for (_, d) in files {
            h.extend(num(d.len() as u64));
        }
        h.push(0x00);
        h.extend([0x07, 0x0B]);
        h.extend(num(n));
        h.push(0x00);
        for _ in files {
            h.extend(num(1));
            h.extend([0x01, 0x00]);
        }
        h.push(0x0C);
        for (_, d) in files {
            h.extend(num(d.len() as u64));
        }
        h.push(0x00);
        h.push(0x00);
    }
    let total = files.len() + names_only;
    h.push(0x05);
    h.extend(num(total as u64));
    if names_only > 0 {
        // kEmptyStream: the names-only files have no data.
        let mut bits = vec![0u8; total.div_ceil(8)];
        for i in files.len()..total {
            bits[i / 8] |= 0x80 >> (i % 8);
        }
        h.push(0x0E);
        h.extend(num(bits.len() as u64));
        h.extend(bits);
    }
    let mut names = vec![0u8];
    for (name, _) in files {
        for u in name.encode_utf16() {
            names.extend(u.to_le_bytes());
        }
        names.extend([0, 0]);
    }
    for _ in 0..names_only {
        names.extend([b'a', 0, 0, 0]);
    }
    h.push(0x11);
    h.extend(num(names.len() as u64));
    h.extend(names);
    h.push(0x00);
    h.push(0x00);
    h
}

/// A 7z archive of stored members; `encode` compresses the header with LZMA as 7-Zip does by default,
/// `aes` marks the header coder as AES (an encrypted header).
pub(crate) fn make_7z(
    files: &[(&str, &[u8])],
    names_only: usize,
    encode: bool,
    aes: bool,
) -> Vec<u8> {
    let mut packed: Vec<u8> = files.iter().flat_map(|(_, d)| d.to_vec()).collect();
    let mut header = sevenz_header(files, names_only);
    if encode || aes {
        let mut lz = Vec::new();
        lzma_rs::lzma_compress(&mut Cursor::new(&header), &mut lz).unwrap();
        let props = lz[..5].to_vec();
        let stream = &lz[13..];
        let pack_pos = packed.len() as u64;
        packed.extend_from_slice(stream);
        let mut e = vec![0x17, 0x06];
        e.extend(num(pack_pos));
        e.extend(num(1));
        e.push(0x09);
        e.extend(num(stream.len() as u64));
        e.push(0x00);
        e.extend([0x07, 0x0B]);
        e.extend(num(1));
        e.push(0x00);
        e.extend(num(1));
        if aes {
            e.extend([0x24, 0x06, 0xF1, 0x07, 0x01]);
        } else {
            e.extend([0x23, 0x03, 0x01, 0x01]);
        }
        e.extend(num(props.len() as u64));
        e.extend(&props);
        e.push(0x0C);
        e.extend(num(header.len() as u64));
        e.push(0x00);
        e.push(0x00);
        header = e;
    }
    let mut out = b"7z\xbc\xaf\x27\x1c\x00\x04".to_vec();
    out.extend([0u8; 4]);
    out.extend((packed.len() as u64).to_le_bytes());
    out.extend((header.len() as u64).to_le_bytes());
    out.extend([0u8; 4]);
    out.extend(packed);
    out.extend(header);
    out
}

fn vint(mut n: u64) -> Vec<u8> {
    let mut v = Vec::new();
    loop {
        let b = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            v.push(b);
            return v;
        }
        v.push(b | 0x80);
    }
}

fn rar5_block(fields: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 4];
    v.extend(vint(fields.len() as u64));
    v.extend(fields);
    v.extend(data);
    v
}

/// A RAR 5 archive of stored members, or one with an archive encryption header.
pub(crate) fn make_rar5(files: &[(&str, &[u8])], encrypted_headers: bool) -> Vec<u8> {
    let mut out = b"Rar!\x1a\x07\x01\x00".to_vec();
    if encrypted_headers {
        let mut f = vint(4);
        f.extend(vint(0));
        f.extend(vint(0));
        f.extend(vint(1));
        f.extend([15u8; 29]);
        out.extend(rar5_block(&f, &[]));
        out.extend([0x5a; 80]);
        return out;
    }
    out.extend(rar5_block(&[1, 0, 0], &[]));
    for (name, data) in files {
        let mut f = vint(2);
        f.extend(vint(0x02));
        f.extend(vint(data.len() as u64));
        f.extend(vint(0x04));
        f.extend(vint(data.len() as u64));
        f.extend(vint(0x20));
        f.extend([0u8; 4]);
        f.extend(vint(0));
        f.extend(vint(0));
        f.extend(vint(name.len() as u64));
        f.extend(name.as_bytes());
        out.extend(rar5_block(&f, data));
    }
    out.extend(rar5_block(&[5, 0, 0], &[]));
    out
}

/// A RAR 4 archive of stored members; `encrypted_headers` sets the main header's flag.
pub(crate) fn make_rar4(files: &[(&str, &[u8])], encrypted_headers: bool) -> Vec<u8> {
    let mut out = b"Rar!\x1a\x07\x00".to_vec();
    let flags: u16 = if encrypted_headers { 0x0080 } else { 0 };
    out.extend([0, 0, 0x73]);
    out.extend(flags.to_le_bytes());
    out.extend(13u16.to_le_bytes());
    out.extend([0u8; 6]);
    for (name, data) in files {
        out.extend([0, 0, 0x74]);
        out.extend(0x8000u16.to_le_bytes());
        out.extend(((32 + name.len()) as u16).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out.push(2);
        out.extend([0u8; 8]);
        out.push(20);
        out.push(0x30);
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(0x20u32.to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(*data);
    }
    out.extend([0, 0, 0x7b, 0, 0x40, 7, 0]);
    out
}

/// A cabinet with one uncompressed folder.
pub(crate) fn make_cab(files: &[(&str, &[u8])]) -> Vec<u8> {
    let coff_files = 36u32 + 8;
    let mut entries = Vec::new();
    let mut offset = 0u32;
    for (name, data) in files {
        entries.extend((data.len() as u32).to_le_bytes());
        entries.extend(offset.to_le_bytes());
        entries.extend([0u8; 6]);
        entries.extend(0x20u16.to_le_bytes());
        entries.extend(name.as_bytes());
        entries.push(0);
        offset += data.len() as u32;
    }
    let mut out = b"MSCF".to_vec();
    out.extend([0u8; 4]);
    out.extend(0u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend(coff_files.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend([3, 1]);
    out.extend(1u16.to_le_bytes());
    out.extend((files.len() as u16).to_le_bytes());
    out.extend([0u8; 6]);
    out.extend([0u8; 8]);
    out.extend(entries);
    out
}

pub(crate) fn exe() -> Vec<u8> {
    let mut v = b"MZ\x90\x00".to_vec();
    v.resize(200, 0x41);
    v
}

fn paths(members: &[ArchiveMember]) -> Vec<&str> {
    members.iter().map(|m| m.path.as_str()).collect()
}

#[test]
#[allow(clippy::type_complexity)] // a table of test cases
fn zip_members_and_limits() {
    let exe = exe();
    let inner = make_zip(&[("virus.exe", &exe)]);
    let middle = make_zip(&[("inner.zip", &inner)]);
    let outer = make_zip(&[("readme.txt", b"hallo"), ("middle.zip", &middle)]);
    let many: Vec<(String, Vec<u8>)> = (0..30)
        .map(|i| (format!("f{i}.txt"), b"x".to_vec()))
        .collect();
    let many_refs: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    let many_zip = make_zip(&many_refs);
    let mut corrupt = make_zip(&[("a.txt", b"aaaa")]);
    corrupt.truncate(corrupt.len() / 2);

    let default = Limits::default();
    let shallow = Limits {
        archive_max_depth: 2,
        ..Limits::default()
    };
    let few = Limits {
        archive_max_entries: 10,
        ..Limits::default()
    };
    // (name, archive, limits, expected paths, expected problems)
    let cases: Vec<(&str, &[u8], &Limits, Vec<&str>, Vec<ArchiveProblem>)> = vec![
        ("exe inside", &inner, &default, vec!["virus.exe"], vec![]),
        (
            "nested depth 3",
            &outer,
            &default,
            vec![
                "readme.txt",
                "middle.zip",
                "middle.zip/inner.zip",
                "middle.zip/inner.zip/virus.exe",
            ],
            vec![],
        ),
        (
            "too deep",
            &outer,
            &shallow,
            vec!["readme.txt", "middle.zip", "middle.zip/inner.zip"],
            vec![ArchiveProblem::TooDeep],
        ),
        (
            "too many entries",
            &many_zip,
            &few,
            (0..10).map(|_| "").collect(),
            vec![ArchiveProblem::TooManyEntries],
        ),
        (
            "corrupt",
            &corrupt,
            &default,
            vec![],
            vec![ArchiveProblem::Corrupt],
        ),
        (
            "not a zip",
            b"hello world",
            &default,
            vec![],
            vec![ArchiveProblem::Corrupt],
        ),
    ];
    for (name, data, limits, want_paths, want_problems) in cases {
        let (members, problems) = list_members(data, None, limits);
        assert_eq!(problems, want_problems, "case {name}");
        assert_eq!(members.len(), want_paths.len(), "case {name}: {members:?}");
        for (m, want) in members.iter().zip(&want_paths) {
            if !want.is_empty() {
                assert_eq!(m.path, *want, "case {name}");
            }
        }
    }
    let (members, _) = list_members(&outer, None, &default);
    let exe_member = members
        .iter()
        .find(|m| m.path.ends_with("virus.exe"))
        .unwrap();
    assert_eq!(exe_member.sniffed, Some(FileKind::WindowsExecutable));
    assert_eq!(exe_member.depth, 3);
}

#[test]
#[allow(clippy::type_complexity)] // a table of test cases
fn every_format_lists_its_members() {
    let exe = exe();
    let files: &[(&str, &[u8])] = &[
        ("leesmij.txt", b"Dubbelklik op setup.\r\n"),
        ("setup.exe", &exe),
    ];
    let tar = make_tar(files, None);
    // (format, archive, name of the attachment, expected paths, is the exe's content read?)
    let cases: Vec<(&str, Vec<u8>, &str, Vec<&str>, bool)> = vec![
        (
            "tar",
            tar.clone(),
            "p.tar",
            vec!["leesmij.txt", "setup.exe"],
            true,
        ),
        (
            "tar.gz",
            gzip(&tar, None),
            "programma.tar.gz",
            vec![
                "programma.tar",
                "programma.tar/leesmij.txt",
                "programma.tar/setup.exe",
            ],
            true,
        ),
        (
            "tgz",
            gzip(&tar, None),
            "spel.tgz",
            vec!["spel.tar", "spel.tar/leesmij.txt", "spel.tar/setup.exe"],
            true,
        ),
        (
            "gz with FNAME",
            gzip(&exe, Some("factuur.exe")),
            "factuur.gz",
            vec!["factuur.exe"],
            true,
        ),
        ("bz2", bzip2(&exe), "setup.exe.bz2", vec!["setup.exe"], true),
        (
            "tar.xz",
            xz(&tar),
            "p.tar.xz",
            vec!["p.tar", "p.tar/leesmij.txt", "p.tar/setup.exe"],
            true,
        ),
        (
            "7z",
            make_7z(files, 0, false, false),
            "a.7z",
            vec!["leesmij.txt", "setup.exe"],
            true,
        ),
        (
            "7z lzma header",
            make_7z(files, 0, true, false),
            "a.7z",
            vec!["leesmij.txt", "setup.exe"],
            true,
        ),
        (
            "rar5",
            make_rar5(files, false),
            "a.rar",
            vec!["leesmij.txt", "setup.exe"],
            true,
        ),
        (
            "rar4",
            make_rar4(files, false),
            "a.rar",
            vec!["leesmij.txt", "setup.exe"],
            true,
        ),
        (
            "cab",
            make_cab(files),
            "a.cab",
            vec!["leesmij.txt", "setup.exe"],
            false,
        ),
    ];
    for (label, data, name, want, content) in cases {
        assert!(Format::of(&data).is_some(), "{label}: format");
        let (members, problems) = list_members(&data, Some(name), &Limits::default());
        assert_eq!(problems, vec![], "{label}");
        assert_eq!(paths(&members), want, "{label}");
        let exe_member = members
            .iter()
            .find(|m| m.path.ends_with("setup.exe") || m.path.ends_with("factuur.exe"));
        let sniffed = exe_member.and_then(|m| m.sniffed);
        assert_eq!(
            sniffed == Some(FileKind::WindowsExecutable),
            content,
            "{label}: {members:?}"
        );
    }
}

#[test]
fn encrypted_archives_are_reported() {
    // A zip with the traditional encryption flag on its member: names readable, content not.
    let mut zip = make_zip(&[("factuur.pdf", b"%PDF-1.4 ....")]);
    for sig in [&b"PK\x03\x04"[..], b"PK\x01\x02"] {
        for at in memchr::memmem::find_iter(&zip.clone(), sig).collect::<Vec<_>>() {
            let flag_at = if sig == b"PK\x03\x04" { at + 6 } else { at + 8 };
            zip[flag_at] |= 1;
        }
    }
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("zip", zip, vec!["factuur.pdf"]),
        (
            "7z header",
            make_7z(&[("a.pdf", b"x")], 0, false, true),
            vec![],
        ),
        ("rar5 headers", make_rar5(&[], true), vec![]),
        ("rar4 headers", make_rar4(&[("a.exe", b"x")], true), vec![]),
    ];
    for (label, data, want) in cases {
        let (members, problems) = list_members(&data, None, &Limits::default());
        assert_eq!(problems, vec![ArchiveProblem::Encrypted], "{label}");
        assert_eq!(paths(&members), want, "{label}");
        assert!(members.iter().all(|m| m.encrypted), "{label}");
    }
}

#[test]
fn zip_bomb_is_refused_fast() {
    let zeros = vec![0u8; 50 * 1024 * 1024];
    let bomb = make_zip(&[("zeros.bin", &zeros)]);
    assert!(
        bomb.len() < 200 * 1024,
        "test zip should be small, is {}",
        bomb.len()
    );
    let (members, problems) = list_members(&bomb, None, &Limits::default());
    assert_eq!(
        problems,
        vec![ArchiveProblem::CompressionRatio],
        "{problems:?}"
    );
    assert_eq!(members.len(), 1);
    let mut visited = 0;
    let _ = visit_members(&bomb, None, &Limits::default(), &mut |_, _, _| visited += 1);
    assert_eq!(visited, 0, "a bomb member must not be handed out");
    // Declared total over the limit is refused as well.
    let small_total = Limits {
        archive_max_total: 1024,
        archive_max_ratio: u64::MAX,
        ..Limits::default()
    };
    let (_, problems) = list_members(&bomb, None, &small_total);
    assert_eq!(problems, vec![ArchiveProblem::TooLarge]);
}

#[test]
fn stream_bombs_stop_at_the_ratio() {
    let zeros = vec![0u8; 64 * 1024 * 1024];
    for (label, data) in [("gz", gzip(&zeros, None)), ("bz2", bzip2(&zeros))] {
        assert!(data.len() < 256 * 1024, "{label}: {}", data.len());
        let mut handed_out = 0;
        let problems = walk(&data, Some("x.gz"), &Limits::default(), &mut |m| {
            assert!(m.content.is_none(), "{label}: a bomb is not handed out");
            handed_out += 1;
        });
        assert_eq!(problems, vec![ArchiveProblem::CompressionRatio], "{label}");
        assert_eq!(handed_out, 1, "{label}");
    }
    // Under a ratio the total still caps what is decompressed.
    let limits = Limits {
        archive_max_total: 1024 * 1024,
        ..Limits::default()
    };
    let small = vec![7u8; 4 * 1024 * 1024];
    let (_, problems) = list_members(
        &xz(&small),
        Some("a.xz"),
        &Limits {
            archive_max_ratio: u64::MAX / 2,
            ..limits
        },
    );
    assert_eq!(problems, vec![ArchiveProblem::TooLarge]);
}

#[test]
fn hostile_headers_stay_bounded() {
    let limits = Limits::default();
    // A tar header claiming 8 GiB: listed, not read, reported.
    let tar = make_tar(&[("groot.bin", b"abc")], Some(b"77777777777"));
    let (members, problems) = list_members(&tar, None, &limits);
    assert_eq!(paths(&members), vec!["groot.bin"]);
    assert!(problems.contains(&ArchiveProblem::TooLarge), "{problems:?}");
    assert!(problems.contains(&ArchiveProblem::Corrupt), "{problems:?}");
    // A 7z with a million entries (names only): the first `archive_max_entries` are listed.
    let many = make_7z(&[], 1_000_000, true, false);
    let (members, problems) = list_members(&many, None, &limits);
    assert_eq!(members.len(), limits.archive_max_entries);
    assert_eq!(problems, vec![ArchiveProblem::TooManyEntries]);
    // A 7z whose encoded header claims to unpack to 1 TiB.
    let mut huge = make_7z(&[("a.txt", b"x")], 0, true, false);
    let at = memchr::memmem::rfind(&huge, &[0x0C]).unwrap();
    let claimed = num(1 << 40);
    huge.splice(at + 1..at + 2, claimed);
    let len =
        (huge.len() - 32 - u64::from_le_bytes(huge[12..20].try_into().unwrap()) as usize) as u64;
    huge[20..28].copy_from_slice(&len.to_le_bytes());
    let (_, problems) = list_members(&huge, None, &limits);
    assert_eq!(problems, vec![ArchiveProblem::TooLarge]);
    // A zip whose end record declares a million entries is not parsed entry by entry.
    let mut zip = make_zip(&[("a.txt", b"x")]);
    let eocd = memchr::memmem::rfind(&zip, b"PK\x05\x06").unwrap();
    zip[eocd + 8..eocd + 12].copy_from_slice(&[0xFE, 0xFF, 0xFE, 0xFF]);
    let (_, problems) = list_members(&zip, None, &limits);
    assert_eq!(problems, vec![ArchiveProblem::TooManyEntries]);
    // Damaged headers of every format: an error, never a panic.
    let exe = exe();
    let files: &[(&str, &[u8])] = &[("setup.exe", &exe)];
    for data in [
        make_7z(files, 0, true, false),
        make_rar5(files, false),
        make_rar4(files, false),
        make_cab(files),
    ] {
        for cut in [9, 20, 33, data.len() / 2, data.len() - 3] {
            let _ = list_members(&data[..cut.min(data.len())], None, &limits);
        }
        let mut flipped = data.clone();
        for i in (8..flipped.len()).step_by(7) {
            flipped[i] ^= 0xA5;
        }
        let _ = list_members(&flipped, None, &limits);
    }
}

#[test]
fn visit_hands_out_contents_with_indexes() {
    let inner = make_zip(&[("b.txt", b"bbb")]);
    let outer = make_zip(&[("a.txt", b"aaa"), ("dir/", b""), ("inner.zip", &inner)]);
    let mut seen = Vec::new();
    let problems = visit_members(&outer, None, &Limits::default(), &mut |i, p, c| {
        seen.push((i, p.to_owned(), c.len()))
    });
    assert_eq!(problems, vec![]);
    // Indexes are positions in the member list (directories are not members).
    assert_eq!(
        seen,
        vec![
            (0, "a.txt".into(), 3),
            (1, "inner.zip".into(), inner.len()),
            (2, "inner.zip/b.txt".into(), 3)
        ]
    );
}
