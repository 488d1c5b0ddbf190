//! Zip members (also the containers of docx/xlsx/pptx/odt and jar). The `zip` crate has no bomb protection:
//! [`Walker::plan`] decides what may be decompressed, and the read is bounded by `take` because declared sizes
//! may lie.

use std::borrow::Cow;
use std::io::{Cursor, Read};

use super::{ArchiveProblem, Content, Entry, Walker};

/// The number of entries the end of central directory record declares (the zip64 record when there is one).
/// Read before the `zip` crate parses the directory: it keeps every entry in memory.
pub(crate) fn declared_entries(data: &[u8]) -> Option<u64> {
    // The record is 22 bytes plus a comment of at most 65,535 bytes, at the very end.
    let tail_start = data.len().saturating_sub(22 + 65_535);
    let tail = data.get(tail_start..)?;
    let eocd = tail_start + memchr::memmem::rfind(tail, b"PK\x05\x06")?;
    let count = u64::from(super::le_u16(data, eocd + 10)?);
    if count != 0xFFFF {
        return Some(count);
    }
    // Zip64: the locator (20 bytes) before the record gives the offset of the zip64 record.
    let locator = eocd.checked_sub(20)?;
    if data.get(locator..locator + 4)? != b"PK\x06\x07" {
        return Some(count);
    }
    let record = usize::try_from(super::le_u64(data, locator + 8)?).ok()?;
    if data.get(record..record.checked_add(4)?)? != b"PK\x06\x06" {
        return Some(count);
    }
    super::le_u64(data, record + 32)
}

pub(super) fn walk(
    w: &mut Walker<'_>,
    data: &[u8],
    emit: &mut dyn FnMut(&mut Walker<'_>, Entry<'_>),
) {
    // Far more entries than may be listed: refused before the zip crate allocates for each of them.
    let max = w.limits.archive_max_entries as u64;
    if declared_entries(data).is_some_and(|n| n > max.saturating_mul(8).max(1024)) {
        return w.note(ArchiveProblem::TooManyEntries);
    }
    let mut archive = match ::zip::ZipArchive::new(Cursor::new(data)) {
        Ok(a) => a,
        Err(_) => return w.note(ArchiveProblem::Corrupt),
    };
    for i in 0..archive.len() {
        if !w.admit() {
            return;
        }
        let (name, size, compressed, encrypted, is_dir) = match archive.by_index_raw(i) {
            Ok(entry) => {
                let name = match entry.name() {
                    Ok(n) => n.into_owned(),
                    Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
                };
                (
                    name,
                    entry.size(),
                    entry.compressed_size(),
                    entry.encrypted(),
                    entry.is_dir(),
                )
            }
            Err(_) => {
                w.note(ArchiveProblem::Corrupt);
                continue;
            }
        };
        if is_dir {
            continue;
        }
        let plan = w.plan(size, compressed);
        let mut content = Vec::new();
        let mut complete = false;
        if !encrypted {
            match archive.by_index(i) {
                Ok(reader) => {
                    // Never more than declared + 1: a member that expands beyond its declared size lies.
                    match reader
                        .take(plan.cap.saturating_add(1))
                        .read_to_end(&mut content)
                    {
                        Ok(_) => {
                            let got = content.len() as u64;
                            if plan.full && got > size {
                                w.note(ArchiveProblem::Corrupt);
                            } else if plan.full && got == size {
                                complete = true;
                            } else if plan.full {
                                // Fewer bytes than declared: truncated.
                                w.note(ArchiveProblem::Corrupt);
                            }
                        }
                        // A prefix read of a member may fail at a checksum that is only checked at the end;
                        // whatever was read is still good for sniffing.
                        Err(_) if !plan.full => {}
                        Err(_) => w.note(ArchiveProblem::Corrupt),
                    }
                }
                // Compression methods this build cannot read: the content stays uninspected.
                Err(::zip::result::ZipError::UnsupportedArchive(_)) => {
                    w.note(ArchiveProblem::Unsupported)
                }
                Err(_) => w.note(ArchiveProblem::Corrupt),
            }
        }
        w.spent(content.len() as u64);
        let content = if complete {
            Content::Full(Cow::Owned(content))
        } else if content.is_empty() {
            Content::Unread
        } else {
            content.truncate(super::SNIFF_LEN);
            Content::Prefix(Cow::Owned(content))
        };
        emit(
            w,
            Entry {
                name,
                size,
                encrypted,
                content,
            },
        );
        if w.stopped() {
            return;
        }
    }
}
