//! Attachment rules (WereldKidz 5.7k: no spreading of viruses or harmful software; 8.1e: forbidden attachment
//! extensions): forbidden extensions (the last one counts, so `factuur.pdf.exe` is an `.exe`), executables
//! disguised under another name (sniffed content), dangerous kinds recognised from content (OneNote, cabinet,
//! macro documents, HTML/SVG with active content), the same checks on archive members, and archives that could
//! not be inspected.
//!
//! Pure: looks only at names and the sniffed [`FileKind`](crate::message::FileKind); never at the content.

use crate::message::{ArchiveProblem, FileKind};

/// The attachment checks one rule asks for.
#[derive(Debug, Clone, Default)]
pub struct AttachmentCheck {
    /// Forbidden extensions, lowercase, without dot.
    pub extensions: Vec<String>,
    /// Flag content that sniffs as an executable, whatever its name.
    pub executables: bool,
    /// Flag content recognised as one of these kinds, whatever its name.
    pub kinds: Vec<FileKind>,
    /// Apply the extension, executable and kind checks to archive members too.
    pub archive_members: bool,
    /// Flag archives with one of these problems (could not be fully inspected).
    pub archive_problems: Vec<ArchiveProblem>,
}

/// The extension Windows would act on: the last one, after dropping trailing dots, spaces and invisible
/// characters (Windows ignores those, so `virus.exe.` and `virus.exe ` run as `.exe`). Lowercase, no dot.
pub fn effective_extension(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .filter(|c| !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'))
        .collect();
    // Only the last path component (archive members are `dir/sub/file.ext`).
    let base = cleaned.rsplit(['/', '\\']).next().unwrap_or("");
    let base = base.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    let (stem, ext) = base.rsplit_once('.')?;
    if stem.is_empty() && !base.starts_with('.') {
        return None;
    }
    let ext = ext.trim().to_lowercase();
    if ext.is_empty() {
        None
    } else {
        Some(ext)
    }
}

impl AttachmentCheck {
    /// True when a file with this name (and sniffed kind) is forbidden by this check.
    pub fn forbidden(&self, name: Option<&str>, sniffed: Option<FileKind>) -> bool {
        if self.executables && sniffed.is_some_and(|k| k.is_executable()) {
            return true;
        }
        if sniffed.is_some_and(|k| self.kinds.contains(&k)) {
            return true;
        }
        match name.and_then(effective_extension) {
            Some(ext) => self.extensions.contains(&ext),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("factuur.pdf", Some("pdf")),
            ("factuur.pdf.exe", Some("exe")),
            ("FACTUUR.PDF.EXE", Some("exe")),
            ("virus.exe.", Some("exe")),
            ("virus.exe  ", Some("exe")),
            ("map/sub/run.bat", Some("bat")),
            ("map\\sub\\run.bat", Some("bat")),
            ("factuur\u{202E}fdp.exe", Some("exe")),
            ("README", None),
            ("", None),
            (".htaccess", Some("htaccess")),
            ("archief.tar.gz", Some("gz")),
        ];
        for (name, want) in cases {
            assert_eq!(effective_extension(name).as_deref(), *want, "{name:?}");
        }
    }

    #[test]
    fn forbidden_table() {
        let check = AttachmentCheck {
            extensions: vec!["exe".into(), "js".into()],
            executables: true,
            kinds: vec![FileKind::OneNote],
            archive_members: true,
            archive_problems: ArchiveProblem::ALL.to_vec(),
        };
        let names_only = AttachmentCheck {
            executables: false,
            ..check.clone()
        };
        let cases: &[(&AttachmentCheck, Option<&str>, Option<FileKind>, bool)] = &[
            (&check, Some("factuur.pdf.exe"), None, true),
            (&check, Some("factuur.pdf"), Some(FileKind::Pdf), false),
            (
                &check,
                Some("foto.jpg"),
                Some(FileKind::WindowsExecutable),
                true,
            ),
            (
                &names_only,
                Some("foto.jpg"),
                Some(FileKind::WindowsExecutable),
                false,
            ),
            (&check, None, Some(FileKind::Script), true),
            (&check, None, None, false),
            (&check, Some("script.JS"), None, true),
            (&check, Some("json.json"), None, false),
            (&check, Some("notities.pdf"), Some(FileKind::OneNote), true),
            (&check, Some("notities.one"), Some(FileKind::Cabinet), false),
        ];
        for (c, name, kind, want) in cases {
            assert_eq!(c.forbidden(*name, *kind), *want, "{name:?} {kind:?}");
        }
    }
}
