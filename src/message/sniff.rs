//! File type from content (magic bytes), to catch executables and archives under another name
//! (`foto.jpg` that starts with `MZ`). Our own checks for the types policy cares about come first; the `infer`
//! crate classifies the rest. [`sniff`] looks at a prefix only; [`classify`] also looks inside the few types
//! whose danger is in the content (macro documents, HTML and SVG with active content). Never panics.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

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
    if head.starts_with(b"MSCF\0\0\0\0") {
        return Some(FileKind::Cabinet);
    }
    // [MS-ONESTORE] 2.3.1: the file format GUID {7B5C52E4-D88C-4DA7-AEB1-5378D02996D3}, and the package
    // (`.onepkg`, a cabinet) is caught above.
    if head.starts_with(b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3") {
        return Some(FileKind::OneNote);
    }
    const ARCHIVES: [&[u8]; 6] = [
        b"Rar!\x1a\x07",
        b"7z\xbc\xaf\x27\x1c",
        b"\x1f\x8b",
        b"BZh",
        b"\xfd7zXZ\x00",
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

/// The kind of `data` as [`sniff`] sees it, refined by looking inside: an Office file with macros, HTML with a
/// password form or a script, SVG with active content. `name` and `content_type` (lowercased `type/subtype`)
/// only decide whether markup is read as HTML or SVG; they never make content more harmless than it is.
pub fn classify(data: &[u8], name: Option<&str>, content_type: Option<&str>) -> Option<FileKind> {
    let kind = sniff(data);
    match kind {
        Some(FileKind::Zip) if zip_has_vba(data) => return Some(FileKind::MacroDocument),
        Some(FileKind::Zip | FileKind::Other) | None => {}
        _ if is_ole2(data) => {}
        _ => return kind,
    }
    if is_ole2(data) {
        // `_VBA_PROJECT` is the stream every VBA project has (MS-OVBA 2.3.4.1), named in UTF-16LE in the
        // compound file's directory: Word's `Macros/VBA`, Excel's `_VBA_PROJECT_CUR/VBA`.
        return if memchr::memmem::find(data, UTF16_VBA_PROJECT).is_some() {
            Some(FileKind::MacroDocument)
        } else {
            kind
        };
    }
    if kind == Some(FileKind::Zip) {
        return kind;
    }
    let ext = name.and_then(extension);
    let ext = ext.as_deref();
    let ct = content_type.unwrap_or("");
    let head = leading_markup(data);
    let svg = matches!(ext, Some("svg" | "svgz")) || ct == "image/svg+xml" || starts_svg(&head);
    let html = !svg
        && (matches!(
            ext,
            Some("htm" | "html" | "xhtml" | "shtml" | "mht" | "mhtml" | "hta")
        ) || ct == "text/html"
            || ct == "application/xhtml+xml"
            || starts_html(&head));
    if !svg && !html {
        return kind;
    }
    let mut password = false;
    let mut script = false;
    for m in active_markers()
        .into_iter()
        .flat_map(|ac| ac.find_iter(data))
    {
        match MARKERS.get(m.pattern().as_usize()).map(|(_, k)| *k) {
            Some(Marker::Password) => password = true,
            Some(Marker::Script) => script = true,
            Some(Marker::Handler) => script |= svg && event_handler(data, m.end()),
            None => {}
        }
    }
    if svg && script {
        Some(FileKind::SvgScript)
    } else if html && password {
        Some(FileKind::HtmlPasswordForm)
    } else if html && script {
        Some(FileKind::HtmlScript)
    } else {
        kind
    }
}

/// The extension of a file name or archive path (last component, trailing dots and spaces dropped),
/// lowercased.
pub(crate) fn extension(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next()?;
    let (_, ext) = base.trim_end_matches(['.', ' ']).rsplit_once('.')?;
    Some(ext.to_ascii_lowercase())
}

const UTF16_VBA_PROJECT: &[u8] = b"_\0V\0B\0A\0_\0P\0R\0O\0J\0E\0C\0T\0";

fn is_ole2(data: &[u8]) -> bool {
    data.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
}

/// A zip whose central directory names a `vbaProject.bin` (OOXML's macro part, ECMA-376 / MS-OFFMACRO2):
/// `.docm`/`.xlsm`, and also a `.docx`/`.xlsx` that carries one under the wrong name.
fn zip_has_vba(data: &[u8]) -> bool {
    const CENTRAL: &[u8] = b"PK\x01\x02";
    memchr::memmem::find_iter(data, CENTRAL).any(|at| {
        let name_len = data
            .get(at + 28..at + 30)
            .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
        data.get(at + 46..at + 46 + name_len).is_some_and(|name| {
            let base = name.rsplit(|c| *c == b'/').next().unwrap_or(name);
            base.eq_ignore_ascii_case(b"vbaProject.bin")
        })
    })
}

/// The start of markup, after a BOM, white space, an XML declaration and comments are skipped (at most 1 KiB).
fn leading_markup(data: &[u8]) -> Vec<u8> {
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    data.iter()
        .take(1024)
        .skip_while(|b| b.is_ascii_whitespace())
        .map(u8::to_ascii_lowercase)
        .collect()
}

fn starts_html(head: &[u8]) -> bool {
    [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<form",
        "<script",
        "<meta",
        "<iframe",
    ]
    .iter()
    .any(|p| head.starts_with(p.as_bytes()))
}

fn starts_svg(head: &[u8]) -> bool {
    head.starts_with(b"<svg")
        || ((head.starts_with(b"<?xml") || head.starts_with(b"<!doctype svg"))
            && memchr::memmem::find(head, b"<svg").is_some())
}

#[derive(Clone, Copy)]
enum Marker {
    Password,
    Script,
    /// ` on` — an event handler attribute if letters and `=` follow (checked by [`event_handler`]).
    Handler,
}

const MARKERS: [(&str, Marker); 12] = [
    ("type=\"password\"", Marker::Password),
    ("type='password'", Marker::Password),
    ("type=password", Marker::Password),
    ("<script", Marker::Script),
    ("javascript:", Marker::Script),
    ("http-equiv=\"refresh\"", Marker::Script),
    ("http-equiv='refresh'", Marker::Script),
    ("http-equiv=refresh", Marker::Script),
    ("<foreignobject", Marker::Script),
    (" on", Marker::Handler),
    ("\ton", Marker::Handler),
    ("\non", Marker::Handler),
];

/// Built once; `None` only if the constant patterns could not be compiled (then nothing is found).
fn active_markers() -> Option<&'static AhoCorasick> {
    static AC: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    AC.get_or_init(|| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(MARKERS.iter().map(|(p, _)| p))
            .ok()
    })
    .as_ref()
}

/// After ` on`: letters, optional spaces, then `=` (`onload=`, `onclick =`).
fn event_handler(data: &[u8], at: usize) -> bool {
    let rest = data.get(at..).unwrap_or_default();
    let letters = rest
        .iter()
        .take(32)
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    if letters < 3 {
        return false;
    }
    rest.iter()
        .skip(letters)
        .take(8)
        .find(|b| !b.is_ascii_whitespace())
        == Some(&b'=')
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
