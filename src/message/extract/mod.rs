//! Text inside attachments, so that the word and privacy rules see what a letter, a pupil list or a scanned
//! form says (issue 14). Extracted text goes through the same rules as the body, tagged
//! [`TextOrigin::AttachmentText`](super::TextOrigin::AttachmentText).
//!
//! What is read:
//! - Word, PowerPoint and OpenDocument text/presentations ([`office`]): paragraphs one per line; runs inside a
//!   paragraph joined without spaces (Word splits words over runs); table cells separated by tabs.
//! - Excel and OpenDocument spreadsheets ([`office`]) and CSV ([`plain`]): one line per row, cells separated by
//!   `\t`, numbers as plain digits (no exponent, no thousands separators), so a column can be judged whole.
//! - PDF ([`pdf`]): the text operators of every content stream, Flate-compressed or not.
//! - Plain text ([`plain`]): `text/*` parts and `.txt`/`.csv`/… files whatever their declared type; UTF-8,
//!   UTF-16 with a BOM, else Windows-1252.
//! - HTML files: as the body's HTML ([`super::html::html_to_text`]).
//!
//! Bounded: each document's extractor reads at most `extract_max_input_bytes` of decompressed data and the text
//! is capped by the caller's budget; what is cut is reported as truncated. Pure, never panics on input, no
//! recursion on input depth (the XML readers are event loops; PDF is scanned, not parsed into a tree).

use super::{FileKind, Limits};

pub mod office;
pub mod pdf;
pub mod plain;
#[cfg(test)]
pub(crate) mod tests;

/// The text of one document.
#[derive(Debug, Default, PartialEq)]
pub struct Extracted {
    pub text: String,
    /// Not all of the document was read (a limit was reached, or it is damaged part-way).
    pub truncated: bool,
}

/// A growing text with a byte budget; pushing past it sets `truncated` and keeps the text within the budget.
pub struct Out {
    pub text: String,
    pub cap: usize,
    pub truncated: bool,
}

impl Out {
    pub fn new(cap: usize) -> Self {
        Out {
            text: String::new(),
            cap,
            truncated: false,
        }
    }

    /// True once the budget is used up.
    pub fn full(&self) -> bool {
        self.truncated
    }

    pub fn push_str(&mut self, s: &str) {
        if self.truncated {
            return;
        }
        let room = self.cap.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.text.push_str(s.get(..end).unwrap_or_default());
            self.truncated = true;
        }
    }

    pub fn push(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.push_str(c.encode_utf8(&mut buf));
    }

    /// End a line: a newline unless the text is empty or already ends with one (trailing tabs and spaces of the
    /// line are dropped).
    pub fn newline(&mut self) {
        while self.text.ends_with([' ', '\t']) {
            self.text.pop();
        }
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.push('\n');
        }
    }

    pub fn finish(self) -> Extracted {
        Extracted {
            text: self.text,
            truncated: self.truncated,
        }
    }
}

/// What kind of document `data` is, for extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// docx/xlsx/pptx (and their macro/template variants), odt/ods/odp.
    Office,
    Pdf,
    Html,
    Csv,
    Text,
}

/// File extensions read as plain text whatever the declared type (lowercase): notes, and the exports an
/// administration system writes (`leerlingen.json`, a `.sql` dump). `.xml` is read too (a pupil file moving
/// school travels as XML, an export to a test portal does), but not the parts of an Office document
/// ([`office_part`]), which is read as a whole instead.
const TEXT_EXTENSIONS: [&str; 12] = [
    "txt", "text", "md", "log", "rtf", "ics", "vcf", "json", "yaml", "yml", "sql", "xml",
];

/// Folders and names of the XML parts of Office Open XML and OpenDocument files (`word/document.xml`,
/// `[Content_Types].xml`, `content.xml`): met one by one when such a file is unpacked as a zip, and read as the
/// whole document instead.
fn office_part(name: &str) -> bool {
    const FOLDERS: [&str; 7] = [
        "word",
        "xl",
        "ppt",
        "docprops",
        "_rels",
        "customxml",
        "meta-inf",
    ];
    const FILES: [&str; 5] = [
        "[content_types].xml",
        "content.xml",
        "styles.xml",
        "meta.xml",
        "settings.xml",
    ];
    let lower = name.to_ascii_lowercase();
    let (folders, base) = lower.rsplit_once('/').unwrap_or(("", &lower));
    FILES.contains(&base) || folders.split('/').any(|f| FOLDERS.contains(&f))
}

/// Decide whether and how to extract text from a file. `name` is the file name (or archive member path),
/// `content_type` the declared type (lowercased; `None` inside archives), `sniffed` the kind from content.
pub fn doc_kind(
    data: &[u8],
    name: Option<&str>,
    content_type: Option<&str>,
    sniffed: Option<FileKind>,
) -> Option<DocKind> {
    let ext = name.and_then(super::sniff::extension);
    let ext = ext.as_deref();
    let ct = content_type.unwrap_or("");
    match sniffed {
        Some(FileKind::Zip | FileKind::MacroDocument) => {
            return office::is_office(data).then_some(DocKind::Office)
        }
        Some(FileKind::Pdf) => return Some(DocKind::Pdf),
        Some(FileKind::HtmlPasswordForm | FileKind::HtmlScript) => return Some(DocKind::Html),
        // Programs, archives, images, OneNote …: binary; nothing to read as text.
        Some(k) if k != FileKind::Other => return None,
        _ => {}
    }
    if matches!(ext, Some("csv" | "tsv")) || matches!(ct, "text/csv" | "text/tab-separated-values")
    {
        return plain::looks_like_text(data).then_some(DocKind::Csv);
    }
    if matches!(ext, Some("htm" | "html" | "xhtml")) || ct == "text/html" {
        return plain::looks_like_text(data).then_some(DocKind::Html);
    }
    if ext == Some("xml") && name.is_some_and(office_part) {
        return None;
    }
    let texty = ct.starts_with("text/")
        || ext.is_some_and(|e| TEXT_EXTENSIONS.contains(&e))
        // No extension and no useful declared type: read it when it looks like text.
        || (ext.is_none() && matches!(ct, "" | "application/octet-stream"));
    (texty && plain::looks_like_text(data)).then_some(DocKind::Text)
}

/// Extract the text of `data` as `kind`, at most `budget` bytes of text.
pub fn extract(data: &[u8], kind: DocKind, limits: &Limits, budget: usize) -> Extracted {
    let mut out = Out::new(budget);
    match kind {
        DocKind::Office => office::extract(data, limits, &mut out),
        DocKind::Pdf => pdf::extract(data, limits, &mut out),
        DocKind::Csv => plain::csv(data, &mut out),
        DocKind::Text => out.push_str(&plain::decode(data)),
        DocKind::Html => {
            // html_to_text is linear but its output is not capped: cap the input first.
            let cap = usize::try_from(limits.extract_max_input_bytes).unwrap_or(usize::MAX);
            let text = plain::decode(data.get(..data.len().min(cap)).unwrap_or_default());
            out.truncated |= data.len() > cap;
            out.push_str(&super::html::html_to_text(&text));
        }
    }
    out.finish()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn out_keeps_to_its_budget() {
        let mut out = Out::new(5);
        out.push_str("abc");
        out.push_str("dé€");
        assert_eq!(out.text, "abcd");
        assert!(out.truncated);
        out.push_str("x");
        assert_eq!(out.text, "abcd");
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table of test cases
    fn which_documents_are_read() {
        let pdf = b"%PDF-1.4\n".to_vec();
        let cases: Vec<(&[u8], Option<&str>, Option<&str>, Option<DocKind>)> = vec![
            (
                b"hallo",
                Some("notitie.txt"),
                Some("application/octet-stream"),
                Some(DocKind::Text),
            ),
            (
                b"hallo",
                Some("bericht.txt"),
                Some("application/x-unknown"),
                Some(DocKind::Text),
            ),
            (
                b"a;b\r\n1;2\r\n",
                Some("export.csv"),
                Some("text/plain"),
                Some(DocKind::Csv),
            ),
            (b"a;b", Some("lijst"), Some("text/csv"), Some(DocKind::Csv)),
            // An administration export, whatever type the mail program gave it.
            (
                b"[{\"naam\": \"Sem\", \"bsn\": 123456782}]",
                Some("export_leerlingen.json"),
                Some("application/json"),
                Some(DocKind::Text),
            ),
            // A pupil file as XML (moving school, a test portal) is read; the XML parts of an Office
            // document are not, one by one.
            (
                b"<leerling><bsn>123456782</bsn></leerling>",
                Some("aanmelding.xml"),
                None,
                Some(DocKind::Text),
            ),
            (b"<w:document/>", Some("word/document.xml"), None, None),
            (
                b"<w:document/>",
                Some("brief.docx/word/document.xml"),
                None,
                None,
            ),
            (
                b"<leerling/>",
                Some("export/leerlingen.xml"),
                None,
                Some(DocKind::Text),
            ),
            (b"<Types/>", Some("brief/[Content_Types].xml"), None, None),
            (
                b"<office:document-content/>",
                Some("content.xml"),
                None,
                None,
            ),
            (
                b"INSERT INTO leerling VALUES (1, 'Sem', '123456782');",
                Some("dump.sql"),
                Some("application/octet-stream"),
                Some(DocKind::Text),
            ),
            (b"hallo", None, Some("text/plain"), Some(DocKind::Text)),
            (b"hallo", Some("LEESMIJ"), None, Some(DocKind::Text)),
            (b"hallo", Some("foto.jpg"), Some("image/jpeg"), None),
            (b"\x00\x01\x02binary\x00", Some("data.txt"), None, None),
            (
                &pdf,
                Some("brief.pdf"),
                Some("application/pdf"),
                Some(DocKind::Pdf),
            ),
            (
                b"<html><p>hoi</p></html>",
                Some("agenda.html"),
                Some("text/html"),
                Some(DocKind::Html),
            ),
        ];
        for (data, name, ct, want) in cases {
            let sniffed = super::super::sniff::classify(data, name, ct);
            assert_eq!(doc_kind(data, name, ct, sniffed), want, "{name:?} {ct:?}");
        }
    }
}
