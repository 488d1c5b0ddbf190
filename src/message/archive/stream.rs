//! Single compressed streams (gzip, bzip2, xz): one member, the decompressed data. Its name is the file name in
//! the gzip header (RFC 1952 §2.3.1 FNAME), else the attachment's name without its compression extension
//! (`setup.exe.bz2` → `setup.exe`, `spel.tgz` → `spel.tar`). A tar inside is opened as a nested archive.
//!
//! The size is only known after decompressing, so the output is capped while decompressing: at the attachment's
//! remaining budget and at `archive_max_ratio` times the compressed size (a gzip bomb stops there).

use std::borrow::Cow;
use std::io::Read;

use super::{ArchiveProblem, CappedWriter, Content, Entry, Format, Walker, RATIO_EXEMPT_SIZE};

/// The gzip header's FNAME field, if set (ISO 8859-1, NUL-terminated).
fn gzip_name(data: &[u8]) -> Option<String> {
    let flags = *data.get(3)?;
    let mut at = 10usize;
    if flags & 0x04 != 0 {
        // FEXTRA: two-byte length, then that many bytes.
        let xlen = usize::from(super::le_u16(data, at)?);
        at = at.checked_add(2 + xlen)?;
    }
    if flags & 0x08 == 0 {
        return None;
    }
    let rest = data.get(at..)?;
    let end = rest.iter().take(1024).position(|b| *b == 0)?;
    let name: String = rest.get(..end)?.iter().map(|b| char::from(*b)).collect();
    // Only the last component: a header may carry a path.
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").to_owned();
    (!base.is_empty()).then_some(base)
}

/// The attachment's name without its compression extension.
fn stripped_name(name: &str, format: Format) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    let tar_short = [".tgz", ".tbz", ".tbz2", ".txz"];
    if let Some(ext) = tar_short.iter().find(|e| lower.ends_with(*e)) {
        return format!("{}.tar", base.get(..base.len() - ext.len()).unwrap_or(""));
    }
    let exts: &[&str] = match format {
        Format::Gzip => &[".gz", ".gzip"],
        Format::Bzip2 => &[".bz2", ".bzip2"],
        _ => &[".xz"],
    };
    match exts.iter().find(|e| lower.ends_with(*e)) {
        Some(ext) => base.get(..base.len() - ext.len()).unwrap_or("").to_owned(),
        None if base.is_empty() => "(data)".to_owned(),
        None => base.to_owned(),
    }
}

/// Decompress into at most `cap` bytes: (output, true when the stream had more).
fn decompress(data: &[u8], format: Format, cap: usize) -> Result<(Vec<u8>, bool), ()> {
    let limit = cap as u64 + 1;
    let mut out = Vec::new();
    let result = match format {
        Format::Gzip => flate2::read::MultiGzDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)
            .map(|_| ()),
        Format::Bzip2 => bzip2::read::MultiBzDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)
            .map(|_| ()),
        _ => {
            let mut w = CappedWriter::new(cap + 1);
            let mut input = data;
            let r = lzma_rs::xz_decompress(&mut input, &mut w);
            out = w.buf;
            if w.overflow || out.len() > cap {
                Ok(())
            } else {
                r.map_err(|_| std::io::Error::other("xz"))
            }
        }
    };
    let more = out.len() > cap;
    out.truncate(cap);
    match result {
        Ok(()) => Ok((out, more)),
        // A stream that breaks off after the cap was reached still gave what is needed.
        Err(_) if more => Ok((out, more)),
        Err(_) => Err(()),
    }
}

pub(super) fn walk(
    w: &mut Walker<'_>,
    data: &[u8],
    format: Format,
    name: &str,
    emit: &mut dyn FnMut(&mut Walker<'_>, Entry<'_>),
) {
    if !w.admit() {
        return;
    }
    let member = match format {
        Format::Gzip => gzip_name(data),
        _ => None,
    }
    .unwrap_or_else(|| stripped_name(name, format));
    let ratio_cap = (data.len() as u64)
        .saturating_mul(w.limits.archive_max_ratio)
        .max(RATIO_EXEMPT_SIZE);
    let budget = w.budget();
    let cap = ratio_cap.min(budget).min(usize::MAX as u64 / 2) as usize;
    let (out, complete) = match decompress(data, format, cap) {
        Ok((out, false)) => (out, true),
        Ok((out, true)) => {
            w.note(if (cap as u64) < ratio_cap {
                ArchiveProblem::TooLarge
            } else {
                ArchiveProblem::CompressionRatio
            });
            (out, false)
        }
        Err(()) => {
            w.note(ArchiveProblem::Corrupt);
            (Vec::new(), false)
        }
    };
    let size = out.len() as u64;
    if complete {
        // Counted against the total like a declared size.
        let plan = w.plan(size, data.len() as u64);
        if !plan.full {
            return emit(
                w,
                Entry {
                    name: member,
                    size,
                    encrypted: false,
                    content: Content::Prefix(Cow::Owned(truncated(out))),
                },
            );
        }
    }
    w.spent(size);
    let content = if complete {
        Content::Full(Cow::Owned(out))
    } else if out.is_empty() {
        Content::Unread
    } else {
        Content::Prefix(Cow::Owned(truncated(out)))
    };
    emit(
        w,
        Entry {
            name: member,
            size,
            encrypted: false,
            content,
        },
    );
}

fn truncated(mut v: Vec<u8>) -> Vec<u8> {
    v.truncate(super::SNIFF_LEN);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names() {
        let cases = [
            ("setup.exe.bz2", Format::Bzip2, "setup.exe"),
            ("programma.tar.xz", Format::Xz, "programma.tar"),
            ("SPEL.TGZ", Format::Gzip, "SPEL.tar"),
            ("export.csv.gz", Format::Gzip, "export.csv"),
            ("raar", Format::Gzip, "raar"),
            ("", Format::Xz, "(data)"),
        ];
        for (name, format, want) in cases {
            assert_eq!(stripped_name(name, format), want, "{name}");
        }
        // FNAME set: "factuur.exe"
        let mut gz = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3];
        gz.extend_from_slice(b"map/factuur.exe\0");
        assert_eq!(gzip_name(&gz).as_deref(), Some("factuur.exe"));
        assert_eq!(gzip_name(&[0x1f, 0x8b, 8, 0x08]), None);
    }
}
