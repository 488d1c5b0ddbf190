//! File type from content (magic bytes), to catch executables and archives under another name
//! (`foto.jpg` that starts with `MZ`). Our own checks for the types policy cares about come first; the `infer`
//! crate classifies the rest. Looks at a prefix only; never panics.

use super::FileKind;

/// How many leading bytes sniffing needs at most (tar's `ustar` magic sits at offset 257).
pub const SNIFF_LEN: usize = 512;

/// The kind of content in `data`, if recognised.
pub fn sniff(data: &[u8]) -> Option<FileKind> {
    let head = data.get(..SNIFF_LEN).unwrap_or(data);
    // Windows PE/DOS executables: `MZ`, and a DOS header is 64 bytes (shorter data is not a runnable program,
    // and requiring it avoids calling a text file that starts with "MZ" an executable).
    if head.starts_with(b"MZ") {
        return (data.len() >= 64).then_some(FileKind::WindowsExecutable);
    }
    if head.starts_with(b"\x7fELF") {
        return Some(FileKind::Elf);
    }
    const MACHO: [&[u8]; 5] = [
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe", // fat binary (also a Java class file: executable either way)
    ];
    if MACHO.iter().any(|m| head.starts_with(m)) {
        return Some(FileKind::MachO);
    }
    if let Some(rest) = head.strip_prefix(b"#!") {
        // `#!/bin/sh`, `#! /usr/bin/env python`
        if rest.iter().find(|c| **c != b' ' && **c != b'\t') == Some(&b'/') {
            return Some(FileKind::Script);
        }
    }
    // MS-SHLLINK: HeaderSize 0x4C then the LinkCLSID 00021401-…
    if head.starts_with(b"\x4c\x00\x00\x00\x01\x14\x02\x00") {
        return Some(FileKind::Shortcut);
    }
    // Local file header, empty archive (end of central directory first), spanned archive marker.
    if head.starts_with(b"PK\x03\x04")
        || head.starts_with(b"PK\x05\x06")
        || head.starts_with(b"PK\x07\x08")
    {
        return Some(FileKind::Zip);
    }
    const ARCHIVES: [&[u8]; 7] = [
        b"Rar!\x1a\x07",
        b"7z\xbc\xaf\x27\x1c",
        b"\x1f\x8b",
        b"BZh",
        b"\xfd7zXZ\x00",
        b"MSCF",
        b"\x28\xb5\x2f\xfd", // zstd
    ];
    if ARCHIVES.iter().any(|m| head.starts_with(m)) || head.get(257..262) == Some(b"ustar") {
        return Some(FileKind::OtherArchive);
    }
    if head.starts_with(b"%PDF-") {
        return Some(FileKind::Pdf);
    }
    let kind = infer::get(head)?;
    Some(match kind.matcher_type() {
        infer::MatcherType::Image => FileKind::Image,
        infer::MatcherType::Archive => match kind.mime_type() {
            "application/pdf" => FileKind::Pdf,
            "application/zip" => FileKind::Zip,
            _ => FileKind::OtherArchive,
        },
        infer::MatcherType::App => match kind.mime_type() {
            "application/x-executable" => FileKind::Elf,
            "application/x-mach-binary" => FileKind::MachO,
            "application/vnd.microsoft.portable-executable" | "application/x-msdownload" => {
                FileKind::WindowsExecutable
            }
            _ => FileKind::Other,
        },
        _ => FileKind::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(head: &[u8]) -> Vec<u8> {
        let mut v = head.to_vec();
        v.resize(600, 0);
        v
    }

    #[test]
    fn sniffs_by_content() {
        let mut tar = vec![0u8; 600];
        tar[257..262].copy_from_slice(b"ustar");
        let png = padded(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        let jpeg = padded(b"\xff\xd8\xff\xe0\0\x10JFIF\0");
        let cases: Vec<(&str, Vec<u8>, Option<FileKind>)> = vec![
            (
                "pe",
                padded(b"MZ\x90\x00"),
                Some(FileKind::WindowsExecutable),
            ),
            ("short mz text", b"MZ is een afkorting".to_vec(), None),
            ("elf", padded(b"\x7fELF\x02\x01"), Some(FileKind::Elf)),
            ("macho", padded(b"\xcf\xfa\xed\xfe"), Some(FileKind::MachO)),
            (
                "script",
                b"#!/bin/sh\necho hi\n".to_vec(),
                Some(FileKind::Script),
            ),
            (
                "script env",
                b"#! /usr/bin/env python\n".to_vec(),
                Some(FileKind::Script),
            ),
            (
                "hashbang text",
                b"#!geen script".to_vec(),
                Some(FileKind::Other),
            ),
            (
                "lnk",
                padded(b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00"),
                Some(FileKind::Shortcut),
            ),
            ("zip", padded(b"PK\x03\x04\x14\x00"), Some(FileKind::Zip)),
            (
                "rar",
                padded(b"Rar!\x1a\x07\x00"),
                Some(FileKind::OtherArchive),
            ),
            (
                "7z",
                padded(b"7z\xbc\xaf\x27\x1c"),
                Some(FileKind::OtherArchive),
            ),
            (
                "gzip",
                padded(b"\x1f\x8b\x08"),
                Some(FileKind::OtherArchive),
            ),
            ("tar", tar, Some(FileKind::OtherArchive)),
            ("pdf", b"%PDF-1.7\n".to_vec(), Some(FileKind::Pdf)),
            ("png", png, Some(FileKind::Image)),
            ("jpeg", jpeg, Some(FileKind::Image)),
            ("text", b"Beste ouders,\r\n".to_vec(), None),
            ("empty", Vec::new(), None),
        ];
        for (name, data, want) in cases {
            assert_eq!(sniff(&data), want, "case {name}");
        }
    }
}
