//! A parsed, read-only view of one mail, made for screening: headers that policy needs, the decoded text of
//! every text part, every attachment (with sniffed type and archive members), and the damage met on the way.
//!
//! Pure: no I/O, no clock, never panics on input. Hostile input (MIME bombs, endless lines, zip bombs) is
//! bounded by [`Limits`]; whatever could not be inspected is recorded as [`Damage`], never silently skipped,
//! so that policy can treat "too complex to inspect" as suspect.

use serde::Serialize;

pub mod archive;
pub mod extract;
pub mod html;
pub mod inline;
mod parse;
pub mod quote;
pub mod raw;
pub mod sniff;
#[cfg(test)]
pub(crate) mod tests;

pub use archive::{list_members, visit_members};
pub use parse::analyse;

/// Bounds on the work done for one message. Every field exists to stop one kind of hostile input.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// MIME parts inspected per message; more is recorded as [`Damage::TooManyParts`] (MIME bombs).
    pub max_parts: usize,
    /// Nesting depth of multiparts and attached messages; deeper is [`Damage::TooDeep`].
    pub max_depth: usize,
    /// Total bytes of decoded text kept for word matching; the rest is [`Damage::TextTruncated`].
    pub max_text_bytes: usize,
    /// Nesting depth of archives inside archives (a zip in a zip is depth 2).
    pub archive_max_depth: usize,
    /// Members listed per archive (including nested ones).
    pub archive_max_entries: usize,
    /// Total uncompressed bytes an archive may declare or expand to.
    pub archive_max_total: u64,
    /// Largest uncompressed/compressed ratio of one member (zip bombs).
    pub archive_max_ratio: u64,
    /// Total bytes of text extracted from attachments and archive members (documents, PDF, text files) per
    /// message, apart from `max_text_bytes`; the rest is [`Damage::TextTruncated`].
    pub extract_max_text_bytes: usize,
    /// Bytes one document may make its extractor read (decompressed XML parts, PDF streams); the rest of the
    /// document is not read and its text is [`Damage::TextTruncated`] (docx and PDF bombs).
    pub extract_max_input_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_parts: 1000,
            max_depth: 20,
            max_text_bytes: 16 * 1024 * 1024,
            archive_max_depth: 4,
            archive_max_entries: 1000,
            archive_max_total: 200 * 1024 * 1024,
            archive_max_ratio: 200,
            extract_max_text_bytes: 8 * 1024 * 1024,
            extract_max_input_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Everything the rules and the scanners may look at in one message.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Analysis {
    /// Size of the raw message in bytes.
    pub size: usize,
    /// The headers policy needs, decoded.
    pub headers: HeaderView,
    /// Decoded text to match words against: the subject, every text/plain and text/html part (HTML
    /// converted to text), attachment names, and a raw fallback when parsing was damaged.
    pub texts: Vec<Text>,
    /// Every attachment (any non-text leaf part, or a part with a file name), in message order.
    pub attachments: Vec<Attachment>,
    /// What could not be parsed or inspected.
    pub damage: Vec<Damage>,
    /// The author (`From:` address, lowercased) of each attached `message/rfc822` the sender forwards, by the
    /// part number of each text part inside it ([`TextOrigin::Quote`]): to whom a forwarded pupil record goes
    /// on (issue 14). Not serialised: an address is personal data.
    #[serde(skip)]
    pub forwarded_from: Vec<(usize, String)>,
}

/// Decoded header fields used by policy and rules.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HeaderView {
    /// Addresses in `From:` (lowercased), in order.
    pub from: Vec<String>,
    /// Addresses in `To:` (lowercased).
    pub to: Vec<String>,
    /// Addresses in `Cc:` (lowercased).
    pub cc: Vec<String>,
    /// Addresses in `Bcc:` if present in the message (lowercased).
    pub bcc: Vec<String>,
    /// `Subject:` decoded (RFC 2047), if present.
    pub subject: Option<String>,
    /// `Sensitivity:` value, trimmed (Outlook's *Persoonlijk*/*Privé* label: `Personal` / `Private`).
    pub sensitivity: Option<String>,
    /// True when the message says it is automatic: `Auto-Submitted` other than `no`, `Precedence: bulk/junk/list`,
    /// a `multipart/report` top level, or the like. Such mail is never bounced to (no loops, no backscatter).
    pub auto_generated: bool,
    /// The raw header block (up to the empty line), for the bounce's `text/rfc822-headers` part.
    #[serde(skip)]
    pub raw_header_block: Vec<u8>,
}

/// One piece of decoded text and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Text {
    pub origin: TextOrigin,
    /// The decoded text (UTF-8, lossy), not yet folded for matching.
    pub text: String,
}

/// Where a [`Text`] came from; reported in rule hits (never the text itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TextOrigin {
    /// The `Subject:` header.
    Subject,
    /// A text/plain part (index = position in the part list of mail-parser).
    Body { part: usize },
    /// A text/html part converted to text.
    Html { part: usize },
    /// The file name of an attachment (or archive member).
    AttachmentName { part: usize },
    /// Text the sender quotes in a text/plain or text/html part (index as for `Body`): reply quotes (`>`
    /// lines, `<blockquote type="cite">`), the earlier mail below an Outlook `Van:/Verzonden:` or
    /// `-----Original Message-----` header block, forwarded messages. Screened with its own weight (issue 14).
    Quote { part: usize },
    /// Speech the sender reports inside their own text: a quoted utterance introduced by a third person and
    /// a reporting verb (`hij riep: "…"`). Still the sender's own text, counted with its own weight.
    ReportedSpeech { part: usize },
    /// Speech reported inside quoted text (the forwarded lesson mail's `berichten waarin staat '…'`): weighed
    /// with the lower of the quote's and the reported weight.
    ReportedInQuote { part: usize },
    /// Text extracted from an attachment (`member: None`) or from a member of an archive attachment
    /// (`member: Some(i)`, an index into [`Attachment::members`]).
    AttachmentText { part: usize, member: Option<usize> },
    /// Speech reported in the text of an attachment or archive member (a lesson sheet quoting a suspect:
    /// `de verdachte zegt: '…'`), counted with the reported-speech weight.
    ReportedInAttachment { part: usize, member: Option<usize> },
    /// The raw message body, scanned because the MIME structure was damaged (see [`Damage`]).
    Raw,
}

/// One attachment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Attachment {
    /// Index of the part in the message's part list.
    pub part: usize,
    /// The file name (RFC 2047 / RFC 2231 decoded), if any.
    pub name: Option<String>,
    /// The declared `Content-Type` (lowercased `type/subtype`).
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
    /// The type sniffed from the content (magic bytes), when recognised.
    pub sniffed: Option<FileKind>,
    /// Members when the attachment is an archive that could be listed, nested archives flattened with
    /// their path (`outer.zip/inner.zip/file.exe`).
    pub members: Vec<ArchiveMember>,
    /// Why the archive could not be fully inspected, if so (encrypted, too deep, too many entries, bomb,
    /// corrupt …): each kind once, in the order met.
    pub archive_problems: Vec<ArchiveProblem>,
    /// The decoded content, kept for the malware scanners.
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// One member of an archive.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveMember {
    /// Path inside the archive, nested archives joined with `/`.
    pub path: String,
    /// Uncompressed size as declared.
    pub size: u64,
    /// Nesting depth (1 = member of the attachment itself).
    pub depth: usize,
    /// The sniffed type of the member's content, when it was read.
    pub sniffed: Option<FileKind>,
    /// True when the member is encrypted (content not readable).
    pub encrypted: bool,
}

/// Why an archive was not fully inspected. Policy treats each as suspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveProblem {
    /// Archives nested deeper than [`Limits::archive_max_depth`].
    TooDeep,
    /// More members than [`Limits::archive_max_entries`].
    TooManyEntries,
    /// More uncompressed bytes than [`Limits::archive_max_total`].
    TooLarge,
    /// A member compressed beyond [`Limits::archive_max_ratio`] (a bomb).
    CompressionRatio,
    /// Damaged or truncated.
    Corrupt,
    /// Encrypted members or an encrypted header: the content (or even the names) cannot be read.
    Encrypted,
    /// A compression method or format feature this build does not read.
    Unsupported,
}

impl ArchiveProblem {
    /// Every problem, for rule validation and docs.
    pub const ALL: [ArchiveProblem; 7] = [
        ArchiveProblem::TooDeep,
        ArchiveProblem::TooManyEntries,
        ArchiveProblem::TooLarge,
        ArchiveProblem::CompressionRatio,
        ArchiveProblem::Corrupt,
        ArchiveProblem::Encrypted,
        ArchiveProblem::Unsupported,
    ];

    /// The name used in rule files (`archive-problems = ["encrypted"]`).
    pub fn name(self) -> &'static str {
        match self {
            ArchiveProblem::TooDeep => "too-deep",
            ArchiveProblem::TooManyEntries => "too-many-entries",
            ArchiveProblem::TooLarge => "too-large",
            ArchiveProblem::CompressionRatio => "compression-ratio",
            ArchiveProblem::Corrupt => "corrupt",
            ArchiveProblem::Encrypted => "encrypted",
            ArchiveProblem::Unsupported => "unsupported",
        }
    }
}

/// A file type recognised from content, for catching executables under another name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// Windows PE (`MZ`).
    WindowsExecutable,
    /// ELF binary.
    Elf,
    /// Mach-O binary.
    MachO,
    /// A script with a `#!` line.
    Script,
    /// A Windows shortcut (.lnk).
    Shortcut,
    /// Zip archive (also docx/xlsx/jar containers).
    Zip,
    /// Another archive format (rar, 7z, gzip, tar …); those in [`archive::Format`] are listed.
    OtherArchive,
    /// Microsoft cabinet (`MSCF`): Windows installs and runs what is inside.
    Cabinet,
    /// OneNote section (`.one`): embeds files that run with one click.
    OneNote,
    /// An Office document with VBA macros: OOXML with `vbaProject.bin`, or an OLE2 `.doc`/`.xls` with a
    /// `_VBA_PROJECT` stream.
    MacroDocument,
    /// HTML with a password field (credential phishing).
    HtmlPasswordForm,
    /// HTML with a script, a `javascript:` link or a refresh redirect (HTML smuggling, phishing redirects).
    HtmlScript,
    /// SVG with a script, an event handler, a `javascript:` link or embedded HTML.
    SvgScript,
    /// PDF document.
    Pdf,
    /// Image.
    Image,
    /// Anything else recognised.
    Other,
}

impl FileKind {
    /// The kinds a rule may name (`kinds = ["onenote", …]`), with their names.
    pub const NAMED: [(&'static str, FileKind); 6] = [
        ("cabinet", FileKind::Cabinet),
        ("onenote", FileKind::OneNote),
        ("macro-document", FileKind::MacroDocument),
        ("html-password-form", FileKind::HtmlPasswordForm),
        ("html-script", FileKind::HtmlScript),
        ("svg-script", FileKind::SvgScript),
    ];

    /// True for content that runs as a program.
    pub fn is_executable(self) -> bool {
        matches!(
            self,
            FileKind::WindowsExecutable
                | FileKind::Elf
                | FileKind::MachO
                | FileKind::Script
                | FileKind::Shortcut
        )
    }
}

/// Damage met while parsing; recorded, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Damage {
    /// The message could not be parsed as MIME at all.
    Unparseable,
    /// More parts than [`Limits::max_parts`].
    TooManyParts,
    /// Deeper nesting than [`Limits::max_depth`].
    TooDeep,
    /// More decoded text than [`Limits::max_text_bytes`]; the rest was not matched.
    TextTruncated,
    /// A multipart boundary appears in the middle of a line (mail-parser #156 would hide what follows);
    /// the raw body was added to [`Analysis::texts`] as [`TextOrigin::Raw`].
    BoundaryMidLine,
}
