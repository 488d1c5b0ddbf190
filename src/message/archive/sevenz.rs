//! 7z: the member names from the archive header, walked with bounds on every count (7-Zip's `7zFormat.txt`).
//!
//! 7-Zip usually compresses the header itself (`kEncodedHeader`) with LZMA; that header is decompressed with
//! `lzma-rs` into at most the attachment's remaining budget. An AES coder anywhere (encrypted header or
//! members) is [`ArchiveProblem::Encrypted`]; a header coder other than Copy/LZMA/LZMA2 is
//! [`ArchiveProblem::Unsupported`]. Member contents are handed out only for stored (Copy) folders; compressed
//! contents are not decompressed (names only).

use super::{le_u64, ArchiveProblem, CappedWriter, Content, Entry, Walker};

const SIGNATURE_LEN: usize = 32;
/// Property ids of the header.
const K_END: u8 = 0x00;
const K_HEADER: u8 = 0x01;
const K_ARCHIVE_PROPERTIES: u8 = 0x02;
const K_ADDITIONAL_STREAMS: u8 = 0x03;
const K_MAIN_STREAMS: u8 = 0x04;
const K_FILES_INFO: u8 = 0x05;
const K_PACK_INFO: u8 = 0x06;
const K_UNPACK_INFO: u8 = 0x07;
const K_SUBSTREAMS_INFO: u8 = 0x08;
const K_SIZE: u8 = 0x09;
const K_CRC: u8 = 0x0A;
const K_FOLDER: u8 = 0x0B;
const K_CODERS_UNPACK_SIZE: u8 = 0x0C;
const K_NUM_UNPACK_STREAM: u8 = 0x0D;
const K_EMPTY_STREAM: u8 = 0x0E;
const K_NAME: u8 = 0x11;
const K_ENCODED_HEADER: u8 = 0x17;
/// Coder ids.
const CODER_COPY: &[u8] = &[0x00];
const CODER_LZMA: &[u8] = &[0x03, 0x01, 0x01];
const CODER_LZMA2: &[u8] = &[0x21];
const CODER_AES: &[u8] = &[0x06, 0xF1, 0x07, 0x01];

/// Every read of the header either succeeds or names the problem that stopped it.
type R<T> = Result<T, ArchiveProblem>;

/// A cursor over header bytes; every read is checked.
struct Cur<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cur<'a> {
    fn byte(&mut self) -> R<u8> {
        let b = *self.data.get(self.at).ok_or(ArchiveProblem::Corrupt)?;
        self.at += 1;
        Ok(b)
    }

    fn bytes(&mut self, n: u64) -> R<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| ArchiveProblem::Corrupt)?;
        let end = self.at.checked_add(n).ok_or(ArchiveProblem::Corrupt)?;
        let b = self.data.get(self.at..end).ok_or(ArchiveProblem::Corrupt)?;
        self.at = end;
        Ok(b)
    }

    /// 7z's variable-length number: the leading one-bits of the first byte count the extra bytes.
    fn number(&mut self) -> R<u64> {
        let first = self.byte()?;
        let extra = first.leading_ones() as usize;
        if extra == 0 {
            return Ok(u64::from(first));
        }
        let mut v: u64 = 0;
        for i in 0..extra.min(8) {
            v |= u64::from(self.byte()?) << (8 * i);
        }
        if extra < 8 {
            let high = u64::from(first) & (0xFFu64 >> (extra + 1));
            v |= high << (8 * extra);
        }
        Ok(v)
    }

    /// A count that must fit what is left of the header (each counted item takes at least one byte) and the
    /// caller's limit.
    fn count(&mut self, limit: usize) -> R<usize> {
        let n = self.number()?;
        if n > (self.data.len() - self.at.min(self.data.len())) as u64 + 1 {
            return Err(ArchiveProblem::Corrupt);
        }
        let n = n as usize;
        if n > limit {
            return Err(ArchiveProblem::TooManyEntries);
        }
        Ok(n)
    }

    fn bits(&mut self, n: usize) -> R<Vec<bool>> {
        let mut out = Vec::with_capacity(n);
        let mut byte = 0u8;
        for i in 0..n {
            if i % 8 == 0 {
                byte = self.byte()?;
            }
            out.push(byte & (0x80 >> (i % 8)) != 0);
        }
        Ok(out)
    }

    /// `allAreDefined` byte, then a bit vector when it is 0.
    fn defined(&mut self, n: usize) -> R<Vec<bool>> {
        if self.byte()? != 0 {
            Ok(vec![true; n])
        } else {
            self.bits(n)
        }
    }
}

struct Coder {
    id: Vec<u8>,
    props: Vec<u8>,
}

struct Folder {
    coders: Vec<Coder>,
    /// Final unpack size (the last coder output; for the single-coder folders that matter here, the only one).
    unpack_size: u64,
    /// Unpack sizes of the substreams (members) in this folder.
    substreams: Vec<u64>,
}

#[derive(Default)]
struct Streams {
    pack_pos: u64,
    pack_sizes: Vec<u64>,
    folders: Vec<Folder>,
}

pub(super) fn walk(
    w: &mut Walker<'_>,
    data: &[u8],
    emit: &mut dyn FnMut(&mut Walker<'_>, Entry<'_>),
) {
    if let Err(p) = walk_inner(w, data, emit) {
        w.note(p);
    }
}

fn walk_inner(
    w: &mut Walker<'_>,
    data: &[u8],
    emit: &mut dyn FnMut(&mut Walker<'_>, Entry<'_>),
) -> R<()> {
    let offset = le_u64(data, 12).ok_or(ArchiveProblem::Corrupt)?;
    let size = le_u64(data, 20).ok_or(ArchiveProblem::Corrupt)?;
    let start = (SIGNATURE_LEN as u64)
        .checked_add(offset)
        .ok_or(ArchiveProblem::Corrupt)?;
    let end = start.checked_add(size).ok_or(ArchiveProblem::Corrupt)?;
    if size == 0 {
        // An empty archive.
        return Ok(());
    }
    let header = data
        .get(start as usize..end as usize)
        .filter(|_| end <= data.len() as u64)
        .ok_or(ArchiveProblem::Corrupt)?;
    let mut owned: Vec<u8>;
    let mut header: &[u8] = header;
    // An encoded header decodes to a header, which may in theory be encoded again: a few rounds at most.
    for _ in 0..4 {
        let mut cur = Cur {
            data: header,
            at: 0,
        };
        match cur.byte()? {
            K_HEADER => return read_header(w, data, &mut cur, emit),
            K_ENCODED_HEADER => {
                let streams = read_streams(&mut cur, w.limits.archive_max_entries)?;
                owned = decode_header(w, data, &streams)?;
                header = &owned;
            }
            _ => return Err(ArchiveProblem::Corrupt),
        }
    }
    Err(ArchiveProblem::Unsupported)
}

/// Decompress an encoded header (one folder, one coder).
fn decode_header(w: &mut Walker<'_>, data: &[u8], s: &Streams) -> R<Vec<u8>> {
    let folder = s.folders.first().ok_or(ArchiveProblem::Corrupt)?;
    if folder.coders.iter().any(|c| c.id == CODER_AES) {
        return Err(ArchiveProblem::Encrypted);
    }
    let [coder] = folder.coders.as_slice() else {
        return Err(ArchiveProblem::Unsupported);
    };
    let pack_size = *s.pack_sizes.first().ok_or(ArchiveProblem::Corrupt)?;
    let from = (SIGNATURE_LEN as u64)
        .checked_add(s.pack_pos)
        .ok_or(ArchiveProblem::Corrupt)?;
    let to = from.checked_add(pack_size).ok_or(ArchiveProblem::Corrupt)?;
    if to > data.len() as u64 {
        return Err(ArchiveProblem::Corrupt);
    }
    let packed = data
        .get(from as usize..to as usize)
        .ok_or(ArchiveProblem::Corrupt)?;
    let budget = w.budget();
    if folder.unpack_size > budget {
        return Err(ArchiveProblem::TooLarge);
    }
    let cap = folder.unpack_size as usize;
    let mut out = CappedWriter::new(cap);
    let mut input = packed;
    let ok = if coder.id == CODER_COPY {
        out.buf = packed
            .get(..cap.min(packed.len()))
            .unwrap_or_default()
            .to_vec();
        true
    } else if coder.id == CODER_LZMA {
        // lzma-rs reads the 5 property bytes itself; the size is the folder's unpack size.
        let mut stream = coder.props.clone();
        if stream.len() != 5 {
            return Err(ArchiveProblem::Corrupt);
        }
        stream.extend_from_slice(packed);
        let options = lzma_rs::decompress::Options {
            unpacked_size: lzma_rs::decompress::UnpackedSize::UseProvided(Some(folder.unpack_size)),
            memlimit: Some(cap.max(4096)),
            allow_incomplete: false,
        };
        let mut s = stream.as_slice();
        lzma_rs::lzma_decompress_with_options(&mut s, &mut out, &options).is_ok()
    } else if coder.id == CODER_LZMA2 {
        lzma_rs::lzma2_decompress(&mut input, &mut out).is_ok()
    } else {
        return Err(ArchiveProblem::Unsupported);
    };
    w.spent(out.buf.len() as u64);
    if !ok || out.buf.len() as u64 != folder.unpack_size {
        return Err(ArchiveProblem::Corrupt);
    }
    Ok(out.buf)
}

/// PackInfo, UnpackInfo (folders) and SubStreamsInfo, up to `kEnd`.
fn read_streams(cur: &mut Cur<'_>, max_entries: usize) -> R<Streams> {
    let mut s = Streams::default();
    loop {
        match cur.byte()? {
            K_END => return Ok(s),
            K_PACK_INFO => {
                s.pack_pos = cur.number()?;
                let n = cur.count(max_entries)?;
                loop {
                    match cur.byte()? {
                        K_END => break,
                        K_SIZE => {
                            s.pack_sizes = (0..n).map(|_| cur.number()).collect::<R<_>>()?;
                        }
                        K_CRC => {
                            let defined = cur.defined(n)?;
                            cur.bytes(4 * defined.iter().filter(|d| **d).count() as u64)?;
                        }
                        _ => return Err(ArchiveProblem::Corrupt),
                    }
                }
            }
            K_UNPACK_INFO => {
                if cur.byte()? != K_FOLDER {
                    return Err(ArchiveProblem::Corrupt);
                }
                let n = cur.count(max_entries)?;
                if cur.byte()? != 0 {
                    // External folders: not written by any known tool.
                    return Err(ArchiveProblem::Unsupported);
                }
                let mut outs = Vec::with_capacity(n);
                for _ in 0..n {
                    let (folder, total_out) = read_folder(cur)?;
                    s.folders.push(folder);
                    outs.push(total_out);
                }
                if cur.byte()? != K_CODERS_UNPACK_SIZE {
                    return Err(ArchiveProblem::Corrupt);
                }
                for (folder, total_out) in s.folders.iter_mut().zip(outs) {
                    let mut last = 0;
                    for _ in 0..total_out {
                        last = cur.number()?;
                    }
                    // The main output of a chain is the last coder's; for single coders, the only one.
                    folder.unpack_size = last;
                    folder.substreams = vec![last];
                }
                loop {
                    match cur.byte()? {
                        K_END => break,
                        K_CRC => {
                            let defined = cur.defined(n)?;
                            cur.bytes(4 * defined.iter().filter(|d| **d).count() as u64)?;
                        }
                        _ => return Err(ArchiveProblem::Corrupt),
                    }
                }
            }
            K_SUBSTREAMS_INFO => {
                let mut counts: Vec<usize> = vec![1; s.folders.len()];
                let mut id = cur.byte()?;
                if id == K_NUM_UNPACK_STREAM {
                    let mut total = 0usize;
                    for c in counts.iter_mut() {
                        *c = cur.count(max_entries)?;
                        total = total.saturating_add(*c);
                        if total > max_entries {
                            return Err(ArchiveProblem::TooManyEntries);
                        }
                    }
                    id = cur.byte()?;
                }
                if id == K_SIZE {
                    for (folder, &count) in s.folders.iter_mut().zip(&counts) {
                        if count == 0 {
                            folder.substreams.clear();
                            continue;
                        }
                        let mut sizes = Vec::with_capacity(count);
                        let mut sum: u64 = 0;
                        for _ in 1..count {
                            let size = cur.number()?;
                            sum = sum.saturating_add(size);
                            sizes.push(size);
                        }
                        sizes.push(folder.unpack_size.saturating_sub(sum));
                        folder.substreams = sizes;
                    }
                    id = cur.byte()?;
                } else {
                    for (folder, &count) in s.folders.iter_mut().zip(&counts) {
                        folder.substreams = if count == 0 {
                            Vec::new()
                        } else {
                            vec![folder.unpack_size]
                        };
                    }
                }
                loop {
                    match id {
                        K_END => break,
                        K_CRC => {
                            let n: usize = counts.iter().sum();
                            let defined = cur.defined(n)?;
                            cur.bytes(4 * defined.iter().filter(|d| **d).count() as u64)?;
                        }
                        _ => return Err(ArchiveProblem::Corrupt),
                    }
                    id = cur.byte()?;
                }
            }
            _ => return Err(ArchiveProblem::Corrupt),
        }
    }
}

/// One folder: its coders, and the total number of coder outputs (for the unpack sizes that follow).
fn read_folder(cur: &mut Cur<'_>) -> R<(Folder, u64)> {
    let n = cur.count(64)?;
    let mut coders = Vec::with_capacity(n);
    let mut total_in: u64 = 0;
    let mut total_out: u64 = 0;
    for _ in 0..n {
        let flag = cur.byte()?;
        let id = cur.bytes(u64::from(flag & 0x0F))?.to_vec();
        if flag & 0x10 != 0 {
            total_in += cur.number()?.min(64);
            total_out += cur.number()?.min(64);
        } else {
            total_in += 1;
            total_out += 1;
        }
        let props = if flag & 0x20 != 0 {
            let len = cur.number()?;
            cur.bytes(len)?.to_vec()
        } else {
            Vec::new()
        };
        if flag & 0x80 != 0 {
            return Err(ArchiveProblem::Unsupported);
        }
        coders.push(Coder { id, props });
    }
    let bind_pairs = total_out.saturating_sub(1);
    for _ in 0..bind_pairs {
        cur.number()?;
        cur.number()?;
    }
    let packed = total_in.saturating_sub(bind_pairs);
    if packed > 1 {
        for _ in 0..packed {
            cur.number()?;
        }
    }
    Ok((
        Folder {
            coders,
            unpack_size: 0,
            substreams: Vec::new(),
        },
        total_out,
    ))
}

/// The plain header: streams, then the file list.
fn read_header(
    w: &mut Walker<'_>,
    data: &[u8],
    cur: &mut Cur<'_>,
    emit: &mut dyn FnMut(&mut Walker<'_>, Entry<'_>),
) -> R<()> {
    let max = w.limits.archive_max_entries;
    let mut streams = Streams::default();
    let mut id = cur.byte()?;
    if id == K_ARCHIVE_PROPERTIES {
        loop {
            let t = cur.byte()?;
            if t == 0 {
                break;
            }
            let len = cur.number()?;
            cur.bytes(len)?;
        }
        id = cur.byte()?;
    }
    if id == K_ADDITIONAL_STREAMS {
        read_streams(cur, max)?;
        id = cur.byte()?;
    }
    if id == K_MAIN_STREAMS {
        streams = read_streams(cur, max)?;
        id = cur.byte()?;
    }
    if id == K_END {
        return Ok(());
    }
    if id != K_FILES_INFO {
        return Err(ArchiveProblem::Corrupt);
    }
    // More files than the limit: list the first ones (from the names) and report it.
    let declared = cur.number()?;
    let listed = usize::try_from(declared)
        .unwrap_or(usize::MAX)
        .min(max.saturating_add(1));
    let mut names: Vec<String> = Vec::new();
    let mut empty: Vec<bool> = Vec::new();
    loop {
        let t = cur.byte()?;
        if t == K_END {
            break;
        }
        let len = cur.number()?;
        let body = cur.bytes(len)?;
        match t {
            K_NAME => names = utf16_names(body.get(1..).unwrap_or_default(), listed),
            K_EMPTY_STREAM => {
                let mut c = Cur { data: body, at: 0 };
                empty = c.bits(listed.min(body.len() * 8))?;
            }
            _ => {}
        }
    }
    let encrypted_folders: Vec<bool> = streams
        .folders
        .iter()
        .map(|f| f.coders.iter().any(|c| c.id == CODER_AES))
        .collect();
    // Members with a stream, in order: (folder, size, offset of the folder's packed data if stored).
    let mut pack_offset = (SIGNATURE_LEN as u64).saturating_add(streams.pack_pos);
    let mut with_stream: Vec<(usize, u64, Option<u64>)> = Vec::new();
    for (fi, folder) in streams.folders.iter().enumerate() {
        let stored =
            folder.coders.len() == 1 && folder.coders.first().is_some_and(|c| c.id == CODER_COPY);
        let mut at = pack_offset;
        for &size in &folder.substreams {
            with_stream.push((fi, size, stored.then_some(at)));
            at = at.saturating_add(size);
            if with_stream.len() > max {
                break;
            }
        }
        pack_offset = pack_offset.saturating_add(streams.pack_sizes.get(fi).copied().unwrap_or(0));
    }
    let mut next_stream = 0usize;
    for (i, name) in names.into_iter().enumerate() {
        if !w.admit() {
            return Ok(());
        }
        let is_empty = empty.get(i).copied().unwrap_or(false);
        let (size, encrypted, content) = if is_empty {
            (0, false, Content::Unread)
        } else {
            let Some(&(fi, size, stored_at)) = with_stream.get(next_stream) else {
                return Err(ArchiveProblem::Corrupt);
            };
            next_stream += 1;
            let encrypted = encrypted_folders.get(fi).copied().unwrap_or(false);
            let packed = streams.pack_sizes.get(fi).copied().unwrap_or(0);
            let plan = w.plan(size, packed);
            let content = match stored_at {
                Some(at) if !encrypted => {
                    w.stored(data, usize::try_from(at).unwrap_or(usize::MAX), size, &plan)
                }
                _ => Content::Unread,
            };
            (size, encrypted, content)
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
            return Ok(());
        }
    }
    if declared > max as u64 && !w.stopped() {
        w.note(ArchiveProblem::TooManyEntries);
    }
    Ok(())
}

/// NUL-terminated UTF-16LE names, at most `max`.
fn utf16_names(body: &[u8], max: usize) -> Vec<String> {
    let mut names = Vec::new();
    let mut units: Vec<u16> = Vec::new();
    for pair in body.chunks_exact(2) {
        let u = u16::from_le_bytes([pair[0], pair[1]]);
        if u == 0 {
            names.push(String::from_utf16_lossy(&units));
            units.clear();
            if names.len() >= max {
                break;
            }
        } else {
            units.push(u);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let cases: &[(&[u8], u64)] = &[
            (&[0x05], 5),
            (&[0x7f], 127),
            (&[0x80, 0x80], 128),
            (&[0xC0, 0x00, 0x01], 1 << 8),
            (&[0xFF, 1, 0, 0, 0, 0, 0, 0, 0], 1),
        ];
        for (bytes, want) in cases {
            let mut c = Cur { data: bytes, at: 0 };
            assert!(matches!(c.number(), Ok(v) if v == *want), "{bytes:?}");
        }
        let mut c = Cur {
            data: &[0xFF, 1],
            at: 0,
        };
        assert!(c.number().is_err());
    }
}
