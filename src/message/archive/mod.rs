//! Listing archives without trusting them: zip, tar, gzip, bzip2, xz, 7z, RAR (4 and 5) and cabinet files.
//!
//! No archive crate protects against bombs, so every limit is enforced here ([`Limits`]): members counted across
//! nesting (`archive_max_entries`), nesting depth (`archive_max_depth`), the sum of declared sizes
//! (`archive_max_total`, which also caps the bytes actually decompressed) and the compression ratio of each large
//! member (`archive_max_ratio`). A member is decompressed only when it passes those checks, and then with a
//! bounded read because declared sizes may lie. Members that fail a check are still listed (their names matter to
//! policy) and the problem is reported.
//!
//! What each format gives:
//! - zip ([`zip`]), tar ([`tar`]): names and contents (sniffed, nested archives opened, text extracted).
//! - gzip, bzip2, xz ([`stream`]): one member, the decompressed stream, named after the gzip header's file
//!   name or the attachment's name without its compression extension; a `.tar.gz` is a tar inside a gzip.
//! - 7z ([`sevenz`]): the names from the header, also when 7-Zip compressed the header with LZMA; contents of
//!   stored (uncompressed) members. Compressed 7z contents are not decompressed (names only).
//! - RAR ([`rar`]): the names from the block headers (RAR 5 and RAR 4); contents of stored members.
//! - cabinet ([`cab`]): the names only.
//!
//! Anything that cannot be inspected is an [`ArchiveProblem`], the same for every format: encrypted members or
//! headers ([`ArchiveProblem::Encrypted`]), a method this build cannot read ([`ArchiveProblem::Unsupported`]),
//! damage ([`ArchiveProblem::Corrupt`]) or a limit. Policy treats each as suspect.
//!
//! Pure (works on bytes in memory), never panics on input, never writes anything anywhere, no recursion on
//! input depth beyond `archive_max_depth`.

use std::borrow::Cow;

use super::sniff::{classify, SNIFF_LEN};
use super::{ArchiveMember, ArchiveProblem, FileKind, Limits};

mod cab;
mod rar;
mod sevenz;
mod stream;
mod tar;
mod zip;

#[cfg(test)]
pub(crate) mod tests;

pub(crate) use zip::declared_entries as zip_declared_entries;

/// Members smaller than this are not held to the compression ratio: short repetitive files (a CSV of zeros, a
/// blank form) compress far beyond any sane ratio yet cannot be bombs, and they are read in full anyway.
pub(crate) const RATIO_EXEMPT_SIZE: u64 = 64 * 1024;

/// The archive formats mailwacht opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Zip,
    Tar,
    Gzip,
    Bzip2,
    Xz,
    SevenZip,
    Rar,
    Cab,
}

impl Format {
    /// The format of `data`, from its magic bytes.
    pub fn of(data: &[u8]) -> Option<Format> {
        let head = data.get(..SNIFF_LEN).unwrap_or(data);
        if head.starts_with(b"PK\x03\x04")
            || head.starts_with(b"PK\x05\x06")
            || head.starts_with(b"PK\x07\x08")
        {
            Some(Format::Zip)
        } else if head.starts_with(b"\x1f\x8b") {
            Some(Format::Gzip)
        } else if head.starts_with(b"BZh") {
            Some(Format::Bzip2)
        } else if head.starts_with(b"\xfd7zXZ\x00") {
            Some(Format::Xz)
        } else if head.starts_with(b"7z\xbc\xaf\x27\x1c") {
            Some(Format::SevenZip)
        } else if head.starts_with(b"Rar!\x1a\x07") {
            Some(Format::Rar)
        } else if head.starts_with(b"MSCF\0\0\0\0") {
            Some(Format::Cab)
        } else if tar::is_tar(head) {
            Some(Format::Tar)
        } else {
            None
        }
    }
}

/// One member as the walker reports it.
pub struct MemberVisit<'a> {
    /// Position in the flattened member list (0-based, parents before their nested members).
    pub index: usize,
    /// Path inside the archive, nested archives joined with `/`.
    pub path: &'a str,
    /// Declared uncompressed size.
    pub size: u64,
    /// 1 = member of the outermost archive.
    pub depth: usize,
    /// The member is encrypted (content unreadable).
    pub encrypted: bool,
    /// The full content, when it was read within the limits.
    pub content: Option<&'a [u8]>,
    /// The sniffed type (from the full content or from a bounded prefix).
    pub sniffed: Option<FileKind>,
}

/// List the members of an archive (nested archives flattened) and every problem met (each kind once, in the
/// order met). `name` is the attachment's file name: a bare gzip/bzip2/xz stream is named after it.
pub fn list_members(
    data: &[u8],
    name: Option<&str>,
    limits: &Limits,
) -> (Vec<ArchiveMember>, Vec<ArchiveProblem>) {
    let mut members = Vec::new();
    let problems = walk(data, name, limits, &mut |m| {
        members.push(ArchiveMember::from(&m))
    });
    (members, problems)
}

impl From<&MemberVisit<'_>> for ArchiveMember {
    fn from(m: &MemberVisit<'_>) -> Self {
        ArchiveMember {
            path: m.path.to_owned(),
            size: m.size,
            depth: m.depth,
            sniffed: m.sniffed,
            encrypted: m.encrypted,
        }
    }
}

/// Visit the content of every member that can be read within `limits` (nested archives included, each nested
/// archive itself visited before its members). `f` gets the member's index in the flattened list (as in
/// [`list_members`]), its path and its content. Returns the problems met; members before and after a problem
/// are still visited where possible.
pub fn visit_members(
    data: &[u8],
    name: Option<&str>,
    limits: &Limits,
    f: &mut dyn FnMut(usize, &str, &[u8]),
) -> Vec<ArchiveProblem> {
    walk(data, name, limits, &mut |m| {
        if let Some(content) = m.content {
            f(m.index, m.path, content)
        }
    })
}

/// Walk every member of `data` (any supported format), reporting each to `f`; the problems met. Data that is
/// no archive at all is [`ArchiveProblem::Corrupt`].
pub fn walk(
    data: &[u8],
    name: Option<&str>,
    limits: &Limits,
    f: &mut dyn FnMut(MemberVisit<'_>),
) -> Vec<ArchiveProblem> {
    let mut walker = Walker {
        limits,
        listed: 0,
        emitted: 0,
        declared_total: 0,
        read_total: 0,
        problems: Vec::new(),
        stop: false,
    };
    match Format::of(data) {
        Some(format) => walker.walk(data, format, name.unwrap_or(""), 1, "", f),
        None => walker.note(ArchiveProblem::Corrupt),
    }
    walker.problems
}

/// What a format walker found for one member.
pub(crate) struct Entry<'d> {
    /// The name inside its archive (not yet joined with the parent's path).
    pub name: String,
    /// Declared uncompressed size.
    pub size: u64,
    pub encrypted: bool,
    pub content: Content<'d>,
}

/// How much of a member's content the format walker could read.
pub(crate) enum Content<'d> {
    /// All of it.
    Full(Cow<'d, [u8]>),
    /// A prefix (for sniffing only): the member was over a limit or damaged.
    Prefix(Cow<'d, [u8]>),
    /// Nothing (encrypted, compressed with a method that is not decompressed, or names-only formats).
    Unread,
}

/// How a format walker may read one member, decided by [`Walker::plan`].
pub(crate) struct Plan {
    /// Bytes that may be decompressed: the declared size when allowed, else a sniffing prefix.
    pub cap: u64,
    /// The member may be read in full.
    pub full: bool,
}

/// State shared across the nested archives of one attachment.
pub(crate) struct Walker<'l> {
    pub limits: &'l Limits,
    /// Entries seen so far (directories included: they cost work too).
    listed: usize,
    /// Members reported so far (the index of the next one in [`list_members`]'s list).
    emitted: usize,
    /// Sum of declared uncompressed sizes.
    declared_total: u64,
    /// Bytes actually decompressed.
    read_total: u64,
    problems: Vec<ArchiveProblem>,
    /// Set when nothing more may be listed (too many entries).
    stop: bool,
}

impl Walker<'_> {
    pub fn note(&mut self, problem: ArchiveProblem) {
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }

    /// Count one more entry; false (and the walk stops) once `archive_max_entries` is reached.
    pub fn admit(&mut self) -> bool {
        if self.stop {
            return false;
        }
        if self.listed >= self.limits.archive_max_entries {
            self.stop = true;
            self.note(ArchiveProblem::TooManyEntries);
            return false;
        }
        self.listed += 1;
        true
    }

    /// True once the walk must stop.
    pub fn stopped(&self) -> bool {
        self.stop
    }

    /// Bytes that may still be decompressed for this attachment.
    pub fn budget(&self) -> u64 {
        self.limits
            .archive_max_total
            .saturating_sub(self.read_total)
    }

    /// Record bytes decompressed outside [`Walker::plan`] (streams, compressed headers).
    pub fn spent(&mut self, n: u64) {
        self.read_total = self.read_total.saturating_add(n);
    }

    /// Declare a member of `size` bytes stored in `compressed` bytes and decide how much of it may be read.
    pub fn plan(&mut self, size: u64, compressed: u64) -> Plan {
        self.declared_total = self.declared_total.saturating_add(size);
        let mut full = true;
        if self.declared_total > self.limits.archive_max_total {
            self.note(ArchiveProblem::TooLarge);
            full = false;
        }
        if size > RATIO_EXEMPT_SIZE && size / compressed.max(1) > self.limits.archive_max_ratio {
            self.note(ArchiveProblem::CompressionRatio);
            full = false;
        }
        let budget = self.budget();
        if full && size > budget {
            self.note(ArchiveProblem::TooLarge);
            full = false;
        }
        Plan {
            cap: if full { size } else { SNIFF_LEN as u64 },
            full,
        }
    }

    /// The content of a member stored uncompressed at `start` in `data`: all of it when `plan` allows, else a
    /// prefix for sniffing; [`ArchiveProblem::Corrupt`] when the data ends early.
    pub fn stored<'d>(
        &mut self,
        data: &'d [u8],
        start: usize,
        size: u64,
        plan: &Plan,
    ) -> Content<'d> {
        let n = if plan.full { size } else { plan.cap.min(size) };
        let end = usize::try_from(n).ok().and_then(|n| start.checked_add(n));
        match end.and_then(|e| data.get(start..e)) {
            Some(b) if plan.full => {
                self.spent(size);
                Content::Full(Cow::Borrowed(b))
            }
            Some(b) => Content::Prefix(Cow::Borrowed(b)),
            None => {
                self.note(ArchiveProblem::Corrupt);
                Content::Unread
            }
        }
    }

    /// Walk one archive at `depth`, its member paths prefixed with `prefix`.
    fn walk(
        &mut self,
        data: &[u8],
        format: Format,
        name: &str,
        depth: usize,
        prefix: &str,
        f: &mut dyn FnMut(MemberVisit<'_>),
    ) {
        let mut emit = |walker: &mut Walker<'_>, entry: Entry<'_>| {
            walker.emit(entry, depth, prefix, f);
        };
        match format {
            Format::Zip => zip::walk(self, data, &mut emit),
            Format::Tar => tar::walk(self, data, &mut emit),
            Format::Gzip | Format::Bzip2 | Format::Xz => {
                stream::walk(self, data, format, name, &mut emit)
            }
            Format::SevenZip => sevenz::walk(self, data, &mut emit),
            Format::Rar => rar::walk(self, data, &mut emit),
            Format::Cab => cab::walk(self, data, &mut emit),
        }
    }

    /// Report one member and open it when it is an archive itself.
    fn emit(
        &mut self,
        entry: Entry<'_>,
        depth: usize,
        prefix: &str,
        f: &mut dyn FnMut(MemberVisit<'_>),
    ) {
        let index = self.emitted;
        self.emitted += 1;
        let path = if prefix.is_empty() {
            entry.name
        } else {
            format!("{prefix}/{}", entry.name)
        };
        if entry.encrypted {
            self.note(ArchiveProblem::Encrypted);
        }
        let (bytes, complete): (&[u8], bool) = match &entry.content {
            Content::Full(c) => (c, true),
            Content::Prefix(c) => (c, false),
            Content::Unread => (&[], false),
        };
        let sniffed = if bytes.is_empty() {
            None
        } else {
            classify(bytes, Some(&path), None)
        };
        f(MemberVisit {
            index,
            path: &path,
            size: entry.size,
            depth,
            encrypted: entry.encrypted,
            content: complete.then_some(bytes),
            sniffed,
        });
        if let Some(format) = Format::of(bytes) {
            if depth >= self.limits.archive_max_depth {
                self.note(ArchiveProblem::TooDeep);
            } else if complete {
                self.walk(bytes, format, &path, depth + 1, &path, f);
            }
        }
    }
}

/// Read little-endian integers from a slice without panicking.
pub(crate) fn le_u16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

pub(crate) fn le_u32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(crate) fn le_u64(data: &[u8], at: usize) -> Option<u64> {
    let b = data.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// A `Write` that keeps at most `cap` bytes and then fails, so a decompressor stops at the limit.
pub(crate) struct CappedWriter {
    pub buf: Vec<u8>,
    pub cap: usize,
    /// Set when more output was offered than `cap`.
    pub overflow: bool,
}

impl CappedWriter {
    pub fn new(cap: usize) -> Self {
        CappedWriter {
            buf: Vec::new(),
            cap,
            overflow: false,
        }
    }
}

impl std::io::Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = self.cap.saturating_sub(self.buf.len());
        if room == 0 && !data.is_empty() {
            self.overflow = true;
            return Err(std::io::Error::other("output limit reached"));
        }
        let n = data.len().min(room);
        self.buf
            .extend_from_slice(data.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
