//! Tar members (POSIX ustar, GNU and pax), walked header by header over the bytes in memory: no crate, so
//! that a hostile header (a size of 8 GiB, a name without end, a checksum that lies) costs nothing but a
//! bounds check. Long names come from GNU `L` entries and pax `path=` records.

use std::borrow::Cow;

use super::{ArchiveProblem, Content, Entry, Walker};

const BLOCK: usize = 512;

/// A tar header: the `ustar` magic at 257, or an old-style header whose checksum is right.
pub(super) fn is_tar(head: &[u8]) -> bool {
    if head.get(257..262) == Some(b"ustar") {
        return true;
    }
    head.len() >= BLOCK && checksum_ok(head) && head.first().is_some_and(|b| *b != 0)
}

/// The header checksum: the sum of all header bytes with the checksum field counted as spaces.
fn checksum_ok(h: &[u8]) -> bool {
    let Some(field) = h.get(148..156) else {
        return false;
    };
    let Some(stored) = octal(field) else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .take(BLOCK)
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(*b)
            }
        })
        .sum();
    sum == stored
}

/// A numeric field: octal digits (space/NUL padded), or GNU base-256 when the high bit of the first byte is set.
fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = 0;
        for (i, b) in field.iter().enumerate() {
            let b = if i == 0 { b & 0x7f } else { *b };
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let text = field
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b));
    let mut v: u64 = 0;
    let mut any = false;
    for b in text {
        any = true;
        v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    // An empty field is 0 (some writers leave the size of directories blank).
    Some(if any { v } else { 0 })
}

/// A NUL-terminated string field.
fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or_default()).into_owned()
}

/// The `path=` record of a pax extended header (`"%d path=%s\n"` records).
fn pax_path(data: &[u8]) -> Option<String> {
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(rest.get(..space)?).ok()?.parse().ok()?;
        let record = rest.get(space + 1..len)?;
        if let Some(value) = record.strip_prefix(b"path=") {
            let value = value.strip_suffix(b"\n").unwrap_or(value);
            return Some(String::from_utf8_lossy(value).into_owned());
        }
        rest = rest.get(len.max(1)..)?;
    }
    None
}

pub(super) fn walk(
    w: &mut Walker<'_>,
    data: &[u8],
    emit: &mut dyn FnMut(&mut Walker<'_>, Entry<'_>),
) {
    let mut at = 0usize;
    let mut long_name: Option<String> = None;
    loop {
        let Some(header) = data.get(at..at + BLOCK) else {
            // Data ends without the two zero blocks: many writers stop early, which is harmless.
            return;
        };
        if header.iter().all(|b| *b == 0) {
            return;
        }
        if !checksum_ok(header) {
            return w.note(ArchiveProblem::Corrupt);
        }
        let size = octal(header.get(124..136).unwrap_or_default()).unwrap_or(u64::MAX);
        let typeflag = header.get(156).copied().unwrap_or(0);
        let body_start = at + BLOCK;
        let available = data.len().saturating_sub(body_start) as u64;
        let body_len = size.min(available) as usize;
        let body = data
            .get(body_start..body_start + body_len)
            .unwrap_or_default();
        // Next header: the body rounded up to whole blocks (checked: a gigantic size ends the walk).
        let next = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(BLOCK - 1))
            .map(|s| s / BLOCK * BLOCK)
            .and_then(|s| body_start.checked_add(s));
        match typeflag {
            // GNU long name / pax header for the next entry: metadata, bounded by the data itself.
            b'L' => long_name = Some(cstr(body)),
            b'x' => {
                if let Some(p) = pax_path(body) {
                    long_name = Some(p);
                }
            }
            // Global pax header, GNU long link name, volume label: nothing to list.
            b'g' | b'K' | b'V' => {}
            _ => {
                if !w.admit() {
                    return;
                }
                let name = long_name.take().unwrap_or_else(|| {
                    let base = cstr(header.get(0..100).unwrap_or_default());
                    let prefix = if header.get(257..262) == Some(b"ustar") {
                        cstr(header.get(345..500).unwrap_or_default())
                    } else {
                        String::new()
                    };
                    if prefix.is_empty() {
                        base
                    } else {
                        format!("{prefix}/{base}")
                    }
                });
                // Regular files only carry content; links, devices and directories are listed by name.
                let regular = matches!(typeflag, b'0' | 0 | b'7');
                if typeflag == b'5' || name.ends_with('/') {
                    // A directory.
                } else {
                    let (size, content) = if regular {
                        let plan = w.plan(size, size);
                        let truncated = (body.len() as u64) < size;
                        if truncated {
                            w.note(ArchiveProblem::Corrupt);
                        }
                        let content = if plan.full && !truncated {
                            w.spent(size);
                            Content::Full(Cow::Borrowed(body))
                        } else {
                            let n = body.len().min(plan.cap as usize);
                            Content::Prefix(Cow::Borrowed(body.get(..n).unwrap_or_default()))
                        };
                        (size, content)
                    } else {
                        (0, Content::Unread)
                    };
                    emit(
                        w,
                        Entry {
                            name,
                            size,
                            encrypted: false,
                            content,
                        },
                    );
                    if w.stopped() {
                        return;
                    }
                }
            }
        }
        match next {
            Some(n) if n <= data.len() => at = n,
            _ => {
                // The entry claims more data than there is.
                if size > available {
                    w.note(ArchiveProblem::Corrupt);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_fields() {
        assert_eq!(octal(b"00000001750\0"), Some(1000));
        assert_eq!(octal(b"     1750 \0"), Some(1000));
        assert_eq!(octal(b"\0\0\0\0"), Some(0));
        assert_eq!(octal(b"\x80\0\0\0\0\0\0\x01\0\0\0\0"), Some(1 << 32));
        assert_eq!(
            octal(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
            None
        );
        assert_eq!(
            pax_path(b"30 path=map/een lange naam.exe\n"),
            Some("map/een lange naam.exe".into())
        );
        assert_eq!(pax_path(b"999 path=x\n"), None);
        assert_eq!(pax_path(b"0 "), None);
    }
}
