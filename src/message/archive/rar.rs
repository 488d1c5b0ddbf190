//! RAR: member names from the block headers, RAR 5 (`Rar!\x1a\x07\x01\x00`, rarlab's "RAR 5.0 archive format")
//! and RAR 4 (`Rar!\x1a\x07\x00`, `technote.txt`). RAR's compression is not decompressed: stored members
//! (method 0) are handed out, the rest is listed by name. Encrypted headers (nothing can be listed) and
//! encrypted members are [`ArchiveProblem::Encrypted`].

use super::{le_u16, le_u32, ArchiveProblem, Content, Entry, Walker};

pub(super) fn walk(
    w: &mut Walker<'_>,
    data: &[u8],
    emit: &mut dyn FnMut(&mut Walker<'_>, Entry<'_>),
) {
    if data.starts_with(b"Rar!\x1a\x07\x01\x00") {
        walk5(w, data, emit)
    } else if data.starts_with(b"Rar!\x1a\x07\x00") {
        walk4(w, data, emit)
    } else {
        // RAR 5 reserves version bytes after \x01 for later formats.
        w.note(ArchiveProblem::Unsupported)
    }
}

/// RAR 5's variable-length integer (7 bits per byte, high bit = more), at most 10 bytes.
fn vint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = *data.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f).checked_shl(7 * i)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn walk5(w: &mut Walker<'_>, data: &[u8], emit: &mut dyn FnMut(&mut Walker<'_>, Entry<'_>)) {
    let mut at = 8usize;
    // Every block takes at least 7 bytes, so the loop ends; the entry limit ends it sooner.
    while at < data.len() {
        let Some(block) = block5(data, at) else {
            return w.note(ArchiveProblem::Corrupt);
        };
        match block.kind {
            // Archive encryption header: everything after it is ciphertext.
            4 => return w.note(ArchiveProblem::Encrypted),
            5 => return,
            2 => {
                if !w.admit() {
                    return;
                }
                match file5(data, &block) {
                    Some(file) if file.is_dir => {}
                    Some(file) => {
                        let plan = w.plan(file.size, block.data_size);
                        let content = if file.encrypted || !file.stored {
                            Content::Unread
                        } else if block.data_size != file.size {
                            w.note(ArchiveProblem::Corrupt);
                            Content::Unread
                        } else {
                            w.stored(data, block.data_start, file.size, &plan)
                        };
                        emit(
                            w,
                            Entry {
                                name: file.name,
                                size: file.size,
                                encrypted: file.encrypted,
                                content,
                            },
                        );
                        if w.stopped() {
                            return;
                        }
                    }
                    None => return w.note(ArchiveProblem::Corrupt),
                }
            }
            _ => {}
        }
        at = block.next;
    }
}

struct Block5 {
    kind: u64,
    flags: u64,
    /// Start of the type-specific fields.
    fields: usize,
    /// End of the header (start of the extra area's end, i.e. the data).
    header_end: usize,
    extra_size: u64,
    data_start: usize,
    data_size: u64,
    next: usize,
}

fn block5(data: &[u8], start: usize) -> Option<Block5> {
    let mut at = start.checked_add(4)?; // CRC32
    let size = vint(data, &mut at)?;
    let header_start = at;
    let header_end = header_start.checked_add(usize::try_from(size).ok()?)?;
    if header_end > data.len() || size == 0 {
        return None;
    }
    let kind = vint(data, &mut at)?;
    let flags = vint(data, &mut at)?;
    let extra_size = if flags & 0x01 != 0 {
        vint(data, &mut at)?
    } else {
        0
    };
    let data_size = if flags & 0x02 != 0 {
        vint(data, &mut at)?
    } else {
        0
    };
    if at > header_end {
        return None;
    }
    let next = header_end.checked_add(usize::try_from(data_size).ok()?)?;
    Some(Block5 {
        kind,
        flags,
        fields: at,
        header_end,
        extra_size,
        data_start: header_end,
        data_size,
        next: next.min(data.len().saturating_add(1)),
    })
}

struct File {
    name: String,
    size: u64,
    is_dir: bool,
    encrypted: bool,
    stored: bool,
}

fn file5(data: &[u8], b: &Block5) -> Option<File> {
    let mut at = b.fields;
    let file_flags = vint(data, &mut at)?;
    let size = vint(data, &mut at)?;
    let _attributes = vint(data, &mut at)?;
    if file_flags & 0x02 != 0 {
        at += 4; // mtime
    }
    if file_flags & 0x04 != 0 {
        at += 4; // data CRC32
    }
    let compression = vint(data, &mut at)?;
    let _host = vint(data, &mut at)?;
    let name_len = usize::try_from(vint(data, &mut at)?).ok()?;
    let name_end = at.checked_add(name_len)?;
    if name_end > b.header_end {
        return None;
    }
    let name = String::from_utf8_lossy(data.get(at..name_end)?).into_owned();
    // Extra area records: size, type, data. Type 1 = file encryption.
    let mut encrypted = false;
    if b.flags & 0x01 != 0 {
        let extra_start = b
            .header_end
            .checked_sub(usize::try_from(b.extra_size).ok()?)?;
        let mut e = extra_start.max(name_end);
        while e < b.header_end {
            let rec_size = usize::try_from(vint(data, &mut e)?).ok()?;
            let rec_start = e;
            let kind = vint(data, &mut e)?;
            if kind == 1 {
                encrypted = true;
            }
            e = rec_start.checked_add(rec_size)?;
            if rec_size == 0 {
                break;
            }
        }
    }
    Some(File {
        name,
        size,
        is_dir: file_flags & 0x01 != 0,
        encrypted,
        stored: (compression >> 7) & 0x07 == 0,
    })
}

fn walk4(w: &mut Walker<'_>, data: &[u8], emit: &mut dyn FnMut(&mut Walker<'_>, Entry<'_>)) {
    let mut at = 7usize;
    while at < data.len() {
        let (Some(kind), Some(flags), Some(head_size)) = (
            data.get(at + 2).copied(),
            le_u16(data, at + 3),
            le_u16(data, at + 5),
        ) else {
            return w.note(ArchiveProblem::Corrupt);
        };
        let head_size = usize::from(head_size);
        if head_size < 7 || at + head_size > data.len() {
            return w.note(ArchiveProblem::Corrupt);
        }
        let mut add_size = if flags & 0x8000 != 0 {
            u64::from(le_u32(data, at + 7).unwrap_or(0))
        } else {
            0
        };
        match kind {
            // Main header: "block headers are encrypted".
            0x73 if flags & 0x0080 != 0 => return w.note(ArchiveProblem::Encrypted),
            0x7b => return,
            0x74 => {
                if !w.admit() {
                    return;
                }
                let f = at + 7;
                let (Some(pack), Some(unp), Some(method), Some(name_len)) = (
                    le_u32(data, f),
                    le_u32(data, f + 4),
                    data.get(f + 18).copied(),
                    le_u16(data, f + 19),
                ) else {
                    return w.note(ArchiveProblem::Corrupt);
                };
                let large = flags & 0x0100 != 0;
                let (pack, unp) = if large {
                    (
                        u64::from(pack) | u64::from(le_u32(data, f + 25).unwrap_or(0)) << 32,
                        u64::from(unp) | u64::from(le_u32(data, f + 29).unwrap_or(0)) << 32,
                    )
                } else {
                    (u64::from(pack), u64::from(unp))
                };
                add_size = pack;
                let name_at = f + 25 + if large { 8 } else { 0 };
                let Some(raw_name) = data.get(name_at..name_at + usize::from(name_len)) else {
                    return w.note(ArchiveProblem::Corrupt);
                };
                // Unicode names follow the OEM name after a NUL; the OEM part is good enough for extensions.
                let end = raw_name
                    .iter()
                    .position(|b| *b == 0)
                    .unwrap_or(raw_name.len());
                let name =
                    String::from_utf8_lossy(raw_name.get(..end).unwrap_or_default()).into_owned();
                let is_dir = flags & 0x00E0 == 0x00E0;
                let encrypted = flags & 0x0004 != 0;
                if !is_dir {
                    let plan = w.plan(unp, pack);
                    let content = if encrypted || method != 0x30 {
                        Content::Unread
                    } else if unp != pack {
                        w.note(ArchiveProblem::Corrupt);
                        Content::Unread
                    } else {
                        w.stored(data, at + head_size, unp, &plan)
                    };
                    emit(
                        w,
                        Entry {
                            name,
                            size: unp,
                            encrypted,
                            content,
                        },
                    );
                    if w.stopped() {
                        return;
                    }
                }
            }
            _ => {}
        }
        let Some(next) = (at as u64)
            .checked_add(head_size as u64)
            .and_then(|n| n.checked_add(add_size))
        else {
            return w.note(ArchiveProblem::Corrupt);
        };
        if next > data.len() as u64 {
            return w.note(ArchiveProblem::Corrupt);
        }
        at = next as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vints() {
        let mut at = 0;
        assert_eq!(vint(&[0x05], &mut at), Some(5));
        let mut at = 0;
        assert_eq!(vint(&[0x80, 0x01], &mut at), Some(128));
        let mut at = 0;
        assert_eq!(vint(&[0xff; 12], &mut at), None);
    }
}
