//! Microsoft cabinet files (`MSCF`, [MS-CAB] §2): the member names from the CFFILE entries. Contents are not
//! read: a cabinet is a forbidden attachment type of its own (Windows installs and runs what is inside), the
//! names only make the bounce notice and `check` clearer.

use super::{le_u16, le_u32, ArchiveProblem, Content, Entry, Walker};

pub(super) fn walk(
    w: &mut Walker<'_>,
    data: &[u8],
    emit: &mut dyn FnMut(&mut Walker<'_>, Entry<'_>),
) {
    let (Some(coff_files), Some(files), Some(flags)) =
        (le_u32(data, 16), le_u16(data, 28), le_u16(data, 30))
    else {
        return w.note(ArchiveProblem::Corrupt);
    };
    let mut at = coff_files as usize;
    if flags & 0x0003 != 0 {
        // Part of a set spanning several cabinets: the rest is elsewhere.
        w.note(ArchiveProblem::Unsupported);
    }
    for _ in 0..files {
        if !w.admit() {
            return;
        }
        let (Some(size), Some(attribs)) = (le_u32(data, at), le_u16(data, at + 14)) else {
            return w.note(ArchiveProblem::Corrupt);
        };
        let Some(rest) = data.get(at + 16..) else {
            return w.note(ArchiveProblem::Corrupt);
        };
        let Some(end) = rest.iter().take(1024).position(|b| *b == 0) else {
            return w.note(ArchiveProblem::Corrupt);
        };
        let raw = rest.get(..end).unwrap_or_default();
        // _A_NAME_IS_UTF (0x80): UTF-8, else the code page of the system: Latin-1 is close enough for names.
        let name = if attribs & 0x80 != 0 {
            String::from_utf8_lossy(raw).into_owned()
        } else {
            raw.iter().map(|b| char::from(*b)).collect()
        };
        at += 16 + end + 1;
        w.plan(u64::from(size), u64::from(size));
        emit(
            w,
            Entry {
                name,
                size: u64::from(size),
                encrypted: false,
                content: Content::Unread,
            },
        );
        if w.stopped() {
            return;
        }
    }
}
