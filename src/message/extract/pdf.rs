//! PDF text, with a small extractor of our own: PDF crates parse the whole object graph and have a history of
//! panics, endless loops and memory blow-ups on hostile files; what the rules need is only the text operators.
//!
//! The file is scanned, not parsed into a tree: every `stream … endstream` is found by its keyword, its
//! dictionary read for `/Filter` (Flate, ASCIIHex, ASCII85; images and other filters are skipped), decompressed
//! within the document's input budget, and then either
//! - read as a ToUnicode CMap (`beginbfchar`/`beginbfrange`), which maps a font's codes to text, or
//! - read as a content stream: the strings of `Tj`, `TJ`, `'` and `"` inside `BT … ET` (PDF 32000-1 §9.4),
//!   literal `(…)` and hex `<…>`, decoded with the CMap of the current font (`Tf`) when there is one, else as
//!   WinAnsi (single bytes). A line move (`T*`, `'`, `"`, a `Td`/`Tm` to another height) ends a line; a move on
//!   the same line is a space; `TJ` kerning joins the pieces of a word unless the gap is a word space.
//!
//! Fonts are tied to their CMaps globally by resource name (`/F1 5 0 R` → font 5 → `/ToUnicode 9 0 R`), which is
//! right for the PDFs office software writes. Encrypted PDFs (`/Encrypt`) give no text: a document protected
//! with a password is what Uniek 3.2.3c asks for, and is not treated as suspect.
//!
//! Bounded: at most `MAX_STREAMS` streams and `extract_max_input_bytes` decompressed bytes per document; operand
//! stacks and CMaps have fixed caps. Never panics; no recursion.

use std::collections::HashMap;
use std::io::Read;

use memchr::memmem;

use super::plain::cp1252;
use super::Out;
use crate::message::Limits;

/// Streams looked at per document (a PDF with a million objects stops here).
pub const MAX_STREAMS: usize = 20_000;
/// Code → text entries kept per CMap.
const MAX_CMAP_ENTRIES: usize = 65_536;
/// Operands kept before an operator (more is not valid PDF; the oldest are dropped).
const MAX_OPERANDS: usize = 4096;

/// A ToUnicode CMap: character code (1 or 2 bytes) → text.
#[derive(Default)]
struct CMap {
    map: HashMap<u32, String>,
    /// Code length in bytes (from the code space or the first mapping).
    width: usize,
}

/// One stream found in the file.
struct Stream {
    /// The object number, when the stream starts an object (`9 0 obj << … >> stream`).
    object: Option<u32>,
    data: Vec<u8>,
    /// For an object stream (`/Type /ObjStm`, PDF 32000-1 §7.5.7): `/First`, where its objects start.
    first: Option<usize>,
}

/// Extract the text of a PDF into `out`.
pub fn extract(data: &[u8], limits: &Limits, out: &mut Out) {
    if !data.starts_with(b"%PDF")
        && memmem::find(data.get(..1024).unwrap_or(data), b"%PDF").is_none()
    {
        return;
    }
    let mut budget = limits.extract_max_input_bytes;
    let streams = find_streams(data, &mut budget, out);
    // Object text outside streams and inside object streams, for the font → CMap links.
    let mut dict_text: Vec<&[u8]> = vec![data];
    let mut cmaps: HashMap<u32, CMap> = HashMap::new();
    let mut contents: Vec<&[u8]> = Vec::new();
    for s in &streams {
        if memmem::find(&s.data, b"begincmap").is_some() {
            if let Some(obj) = s.object {
                cmaps.insert(obj, parse_cmap(&s.data));
            }
        } else if memmem::find(&s.data, b"BT").is_some() {
            contents.push(&s.data);
        } else {
            // An object stream (fonts may be in one) or anything else with dictionaries.
            dict_text.push(&s.data);
        }
    }
    // Objects packed in object streams (fonts often are): (object number, its text).
    let objects: Vec<(u32, &[u8])> = streams
        .iter()
        .filter_map(|s| s.first.map(|first| object_stream(&s.data, first)))
        .flatten()
        .collect();
    let fonts = font_cmaps(&dict_text, &objects, &cmaps);
    for c in contents {
        if out.full() {
            return;
        }
        content_text(c, &fonts, out);
    }
}

/// Every stream with a filter we can read, decompressed within `budget`.
fn find_streams(data: &[u8], budget: &mut u64, out: &mut Out) -> Vec<Stream> {
    let mut streams = Vec::new();
    let mut from = 0usize;
    while let Some(pos) = memmem::find(data.get(from..).unwrap_or_default(), b"stream") {
        let at = from + pos;
        from = at + 6;
        // `endstream` is not a start.
        if at >= 3 && data.get(at - 3..at) == Some(b"end") {
            continue;
        }
        let body_start = match data.get(at + 6..at + 8) {
            Some([b'\r', b'\n']) => at + 8,
            Some([b'\n', _]) | Some([b'\r', _]) => at + 7,
            _ => continue,
        };
        let Some((dict_start, dict)) = dictionary_before(data, at) else {
            continue;
        };
        if streams.len() >= MAX_STREAMS || *budget == 0 {
            out.truncated = true;
            break;
        }
        let end = stream_end(data, body_start, dict);
        from = end.max(from);
        if has_name(dict, b"/Subtype", b"/Image") {
            continue;
        }
        let raw = data.get(body_start..end).unwrap_or_default();
        let Some(decoded) = decode_stream(raw, dict, budget, out) else {
            continue;
        };
        let first = if has_name(dict, b"/Type", b"/ObjStm") {
            direct_number(dict, b"/First")
        } else {
            None
        };
        streams.push(Stream {
            object: object_number(data, dict_start),
            data: decoded,
            first,
        });
    }
    streams
}

/// The dictionary `<< … >>` that ends (white space aside) just before `at`: (its start, its bytes).
fn dictionary_before(data: &[u8], at: usize) -> Option<(usize, &[u8])> {
    let mut end = at;
    while end > 0 && data.get(end - 1).is_some_and(u8::is_ascii_whitespace) {
        end -= 1;
    }
    if end < 2 || data.get(end - 2..end) != Some(b">>") {
        return None;
    }
    // Walk back to the matching `<<`, at most 64 KiB.
    let low = end.saturating_sub(64 * 1024);
    let mut depth = 0i32;
    let mut i = end;
    while i >= low + 2 {
        match data.get(i - 2..i) {
            Some(b">>") => {
                depth += 1;
                i -= 2;
            }
            Some(b"<<") => {
                depth -= 1;
                i -= 2;
                if depth == 0 {
                    return Some((i, data.get(i..end)?));
                }
            }
            _ => i -= 1,
        }
    }
    None
}

/// The object number of the object whose dictionary starts at `dict_start` (`12 0 obj` before it).
fn object_number(data: &[u8], dict_start: usize) -> Option<u32> {
    let before = data.get(dict_start.saturating_sub(32)..dict_start)?;
    let text = std::str::from_utf8(before).ok().or_else(|| {
        let cut = before.iter().rposition(|b| !b.is_ascii())?;
        std::str::from_utf8(before.get(cut + 1..)?).ok()
    })?;
    let mut words = text.split_ascii_whitespace().rev();
    if words.next()? != "obj" {
        return None;
    }
    let _generation = words.next()?;
    words.next()?.parse().ok()
}

/// Where the stream's data ends: `/Length` when it is a direct number followed by `endstream`, else the next
/// `endstream` (lengths given as references are common).
fn stream_end(data: &[u8], body_start: usize, dict: &[u8]) -> usize {
    if let Some(len) = direct_number(dict, b"/Length") {
        let end = body_start.saturating_add(len);
        let after = data.get(end..end.saturating_add(12)).unwrap_or_default();
        let trimmed: Vec<u8> = after
            .iter()
            .copied()
            .skip_while(u8::is_ascii_whitespace)
            .collect();
        if trimmed.starts_with(b"endstream") {
            return end;
        }
    }
    match memmem::find(data.get(body_start..).unwrap_or_default(), b"endstream") {
        Some(n) => {
            let mut end = body_start + n;
            // The EOL before `endstream` is not part of the data.
            if data.get(end.wrapping_sub(1)) == Some(&b'\n') {
                end -= 1;
            }
            if end > body_start && data.get(end.wrapping_sub(1)) == Some(&b'\r') {
                end -= 1;
            }
            end.max(body_start)
        }
        None => data.len(),
    }
}

/// The integer after `key` when it is a direct number (not `12 0 R`).
fn direct_number(dict: &[u8], key: &[u8]) -> Option<usize> {
    let at = memmem::find(dict, key)? + key.len();
    let rest = dict.get(at..)?;
    let digits: Vec<u8> = rest
        .iter()
        .copied()
        .skip_while(u8::is_ascii_whitespace)
        .take_while(u8::is_ascii_digit)
        .collect();
    let tail = rest
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .skip(digits.len());
    // `12 0 R` is a reference.
    let after: Vec<u8> = tail.take(8).copied().collect();
    let text = String::from_utf8_lossy(&after);
    let mut words = text.split_ascii_whitespace();
    if words
        .next()
        .is_some_and(|w| w.bytes().all(|b| b.is_ascii_digit()))
        && words.next() == Some("R")
    {
        return None;
    }
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// True when `key` is followed by the name `value` (`/Subtype /Image`).
fn has_name(dict: &[u8], key: &[u8], value: &[u8]) -> bool {
    memmem::find_iter(dict, key).any(|at| {
        let rest = dict.get(at + key.len()..).unwrap_or_default();
        let rest: Vec<u8> = rest
            .iter()
            .copied()
            .skip_while(u8::is_ascii_whitespace)
            .take(value.len() + 1)
            .collect();
        rest.starts_with(value)
            && rest
                .get(value.len())
                .is_none_or(|b| !b.is_ascii_alphanumeric())
    })
}

/// The filter names of a stream dictionary, in order.
fn filters(dict: &[u8]) -> Vec<String> {
    let Some(at) = memmem::find(dict, b"/Filter") else {
        return Vec::new();
    };
    let rest = dict.get(at + 7..).unwrap_or_default();
    let rest: &[u8] = {
        let skip = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        rest.get(skip..).unwrap_or_default()
    };
    let list = if rest.starts_with(b"[") {
        let end = rest.iter().position(|b| *b == b']').unwrap_or(rest.len());
        rest.get(1..end).unwrap_or_default()
    } else {
        let end = rest
            .iter()
            .skip(1)
            .position(|b| b.is_ascii_whitespace() || matches!(b, b'/' | b'>' | b'['))
            .map_or(rest.len(), |p| p + 1);
        rest.get(..end).unwrap_or_default()
    };
    String::from_utf8_lossy(list)
        .split('/')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Decode a stream's data through its filters; `None` for filters not read here (images, LZW …) and predictors.
fn decode_stream(raw: &[u8], dict: &[u8], budget: &mut u64, out: &mut Out) -> Option<Vec<u8>> {
    let names = filters(dict);
    if names.len() > 4 || memmem::find(dict, b"/Predictor").is_some() {
        return None;
    }
    let mut data = raw.to_vec();
    for name in names {
        data = match name.as_str() {
            "FlateDecode" | "Fl" => {
                let cap = *budget;
                let mut decoded = Vec::new();
                let read = flate2::read::ZlibDecoder::new(data.as_slice())
                    .take(cap.saturating_add(1))
                    .read_to_end(&mut decoded);
                if decoded.len() as u64 > cap {
                    decoded.truncate(cap as usize);
                    out.truncated = true;
                }
                // A stream that breaks off (damaged files are common) still gives what came before.
                if read.is_err() && decoded.is_empty() {
                    return None;
                }
                *budget = budget.saturating_sub(decoded.len() as u64);
                decoded
            }
            "ASCIIHexDecode" | "AHx" => hex_decode(&data),
            "ASCII85Decode" | "A85" => ascii85_decode(&data),
            _ => return None,
        };
    }
    Some(data)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Hex digits (white space ignored, `>` ends), an odd last digit padded with 0.
fn hex_decode(data: &[u8]) -> Vec<u8> {
    let digits: Vec<u8> = data
        .iter()
        .take_while(|b| **b != b'>')
        .filter_map(|b| hex_value(*b))
        .collect();
    digits
        .chunks(2)
        .map(|p| p.first().copied().unwrap_or(0) << 4 | p.get(1).copied().unwrap_or(0))
        .collect()
}

/// ASCII base-85 (`z` for four zeros, `~>` ends).
fn ascii85_decode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut group = [0u8; 5];
    let mut n = 0usize;
    for &b in data {
        match b {
            b'~' => break,
            b'z' if n == 0 => out.extend_from_slice(&[0, 0, 0, 0]),
            b'!'..=b'u' => {
                if let Some(slot) = group.get_mut(n) {
                    *slot = b - b'!';
                }
                n += 1;
                if n == 5 {
                    let v = group.iter().fold(0u64, |v, d| v * 85 + u64::from(*d));
                    out.extend_from_slice(&(v as u32).to_be_bytes());
                    n = 0;
                }
            }
            _ => {}
        }
    }
    if n > 1 {
        for slot in group.iter_mut().skip(n) {
            *slot = 84;
        }
        let v = group.iter().fold(0u64, |v, d| v * 85 + u64::from(*d));
        out.extend_from_slice(&(v as u32).to_be_bytes()[..n - 1]);
    }
    out
}

/// Read the hex codes `<…>` of a CMap line.
fn hex_tokens(line: &[u8]) -> Vec<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(start) = line
        .get(i..)
        .and_then(|r| r.iter().position(|b| *b == b'<'))
    {
        let s = i + start + 1;
        let Some(len) = line
            .get(s..)
            .and_then(|r| r.iter().position(|b| *b == b'>'))
        else {
            break;
        };
        let raw = line.get(s..s + len).unwrap_or_default();
        let digits = raw.iter().filter(|b| hex_value(**b).is_some()).count();
        out.push((hex_decode(raw), digits.div_ceil(2)));
        i = s + len + 1;
    }
    out
}

fn code_value(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0u32, |v, b| v << 8 | u32::from(*b))
}

/// UTF-16BE text of a CMap destination.
fn utf16_text(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|p| {
            u16::from(p.first().copied().unwrap_or(0)) << 8
                | u16::from(p.get(1).copied().unwrap_or(0))
        })
        .collect();
    String::from_utf16_lossy(&units)
}

/// A ToUnicode CMap: `bfchar` (code → text) and `bfrange` (code range → consecutive text, or an array).
fn parse_cmap(data: &[u8]) -> CMap {
    let mut cmap = CMap::default();
    let mut section = "";
    for line in data.split(|b| *b == b'\n' || *b == b'\r') {
        let trimmed = String::from_utf8_lossy(line);
        let t = trimmed.trim();
        if t.ends_with("begincodespacerange") {
            section = "space";
            continue;
        }
        if t.ends_with("beginbfchar") {
            section = "char";
            continue;
        }
        if t.ends_with("beginbfrange") {
            section = "range";
            continue;
        }
        if t.starts_with("end") {
            section = "";
            continue;
        }
        if cmap.map.len() >= MAX_CMAP_ENTRIES {
            break;
        }
        let tokens = hex_tokens(line);
        match section {
            "space" => {
                if let Some((_, w)) = tokens.first() {
                    cmap.width = cmap.width.max(*w).min(4);
                }
            }
            "char" => {
                for pair in tokens.chunks(2) {
                    if let [(src, w), (dst, _)] = pair {
                        if cmap.width == 0 {
                            cmap.width = (*w).min(4);
                        }
                        cmap.map.insert(code_value(src), utf16_text(dst));
                    }
                }
            }
            "range" => {
                let (Some((lo, w)), Some((hi, _))) = (tokens.first(), tokens.get(1)) else {
                    continue;
                };
                if cmap.width == 0 {
                    cmap.width = (*w).min(4);
                }
                let (lo, hi) = (code_value(lo), code_value(hi));
                if hi < lo || hi - lo > 4096 {
                    continue;
                }
                if t.contains('[') {
                    for (k, (dst, _)) in tokens.iter().skip(2).enumerate() {
                        cmap.map
                            .insert(lo.saturating_add(k as u32), utf16_text(dst));
                    }
                } else if let Some((dst, _)) = tokens.get(2) {
                    let base = utf16_text(dst);
                    let mut chars: Vec<char> = base.chars().collect();
                    for code in lo..=hi {
                        cmap.map.insert(code, chars.iter().collect());
                        if let Some(last) = chars.last_mut() {
                            *last = char::from_u32(u32::from(*last) + 1).unwrap_or(*last);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if cmap.width == 0 {
        cmap.width = 1;
    }
    cmap
}

/// The objects of an object stream: its header is pairs of (object number, offset from `first`).
fn object_stream(data: &[u8], first: usize) -> Vec<(u32, &[u8])> {
    let header = String::from_utf8_lossy(data.get(..first).unwrap_or_default()).into_owned();
    let numbers: Vec<usize> = header
        .split_ascii_whitespace()
        .map_while(|w| w.parse().ok())
        .take(2 * MAX_STREAMS)
        .collect();
    let pairs: Vec<(u32, usize)> = numbers
        .chunks_exact(2)
        .filter_map(|p| Some((u32::try_from(p[0]).ok()?, first.checked_add(p[1])?)))
        .collect();
    pairs
        .iter()
        .enumerate()
        .filter_map(|(i, &(number, start))| {
            let end = pairs.get(i + 1).map_or(data.len(), |&(_, next)| next);
            Some((number, data.get(start..end.max(start))?))
        })
        .collect()
}

/// Resource name (`F1`) → CMaps of the fonts known under that name, via `/F1 5 0 R` in `/Font` dictionaries and
/// `/ToUnicode 9 0 R` in font objects.
fn font_cmaps<'c>(
    texts: &[&[u8]],
    objects: &[(u32, &[u8])],
    cmaps: &'c HashMap<u32, CMap>,
) -> HashMap<String, Vec<&'c CMap>> {
    let mut fonts: HashMap<String, Vec<&CMap>> = HashMap::new();
    if cmaps.is_empty() {
        return fonts;
    }
    // Font object → its ToUnicode CMap: the nearest `N 0 obj` before each `/ToUnicode`.
    let mut font_to_cmap: HashMap<u32, u32> = HashMap::new();
    for text in texts {
        for at in memmem::find_iter(text, b"/ToUnicode") {
            let Some(target) = reference_after(text, at + 10) else {
                continue;
            };
            let before = text.get(at.saturating_sub(4096)..at).unwrap_or_default();
            let owner = memmem::rfind(before, b" obj").and_then(|o| {
                let start = at.saturating_sub(4096);
                object_number(text, start + o + 4)
            });
            if let Some(owner) = owner {
                font_to_cmap.insert(owner, target);
            }
        }
    }
    for (number, text) in objects {
        if let Some(at) = memmem::find(text, b"/ToUnicode") {
            if let Some(target) = reference_after(text, at + 10) {
                font_to_cmap.insert(*number, target);
            }
        }
    }
    for text in texts {
        for at in memmem::find_iter(text, b"/Font") {
            let rest = text.get(at + 5..).unwrap_or_default();
            let skip = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
            if !rest.get(skip..).unwrap_or_default().starts_with(b"<<") {
                continue;
            }
            let body = rest.get(skip + 2..).unwrap_or_default();
            let end = memmem::find(body, b">>").unwrap_or(body.len()).min(8192);
            let body = String::from_utf8_lossy(body.get(..end).unwrap_or_default()).into_owned();
            // `/F1 5 0 R /F2 7 0 R`
            for entry in body.split('/').skip(1) {
                let mut words = entry.split_ascii_whitespace();
                let (Some(name), Some(obj), Some(_), Some("R")) =
                    (words.next(), words.next(), words.next(), words.next())
                else {
                    continue;
                };
                let Some(cmap) = obj
                    .parse::<u32>()
                    .ok()
                    .and_then(|o| font_to_cmap.get(&o))
                    .and_then(|c| cmaps.get(c))
                else {
                    continue;
                };
                let list = fonts.entry(name.to_owned()).or_default();
                if !list.iter().any(|c| std::ptr::eq(*c, cmap)) && list.len() < 16 {
                    list.push(cmap);
                }
            }
        }
    }
    fonts
}

/// `9 0 R` after position `at`: the object number.
fn reference_after(text: &[u8], at: usize) -> Option<u32> {
    let rest = text.get(at..at.saturating_add(32).min(text.len()))?;
    let s = String::from_utf8_lossy(rest);
    let mut words = s.split_ascii_whitespace();
    let obj = words.next()?.parse().ok()?;
    words.next()?;
    (words.next()?.starts_with('R')).then_some(obj)
}

/// One operand of a content stream.
enum Operand {
    Str(Vec<u8>),
    Num(f64),
    Name(String),
    ArrayStart,
    Other,
}

/// The text of one content stream.
fn content_text(s: &[u8], fonts: &HashMap<String, Vec<&CMap>>, out: &mut Out) {
    let mut ops: Vec<Operand> = Vec::new();
    let mut font: Option<&[&CMap]> = None;
    let mut y = 0.0f64;
    let mut last_y: Option<f64> = None;
    let mut moved = false;
    let mut i = 0usize;
    while i < s.len() {
        if out.full() {
            return;
        }
        let Some(&b) = s.get(i) else { break };
        match b {
            b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0' => i += 1,
            b'%' => {
                i += s
                    .get(i..)
                    .and_then(|r| r.iter().position(|c| *c == b'\n'))
                    .unwrap_or(s.len())
            }
            b'(' => {
                let (bytes, next) = literal_string(s, i + 1);
                ops.push(Operand::Str(bytes));
                i = next;
            }
            b'<' if s.get(i + 1) == Some(&b'<') => {
                ops.push(Operand::Other);
                i += 2;
            }
            b'<' => {
                let end = s
                    .get(i..)
                    .and_then(|r| r.iter().position(|c| *c == b'>'))
                    .map_or(s.len(), |p| i + p);
                ops.push(Operand::Str(hex_decode(
                    s.get(i + 1..end).unwrap_or_default(),
                )));
                i = end + 1;
            }
            b'>' | b']' | b'{' | b'}' | b')' => i += 1,
            b'[' => {
                ops.push(Operand::ArrayStart);
                i += 1;
            }
            b'/' => {
                let len = s
                    .get(i + 1..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| is_regular(**c))
                    .count();
                ops.push(Operand::Name(
                    String::from_utf8_lossy(s.get(i + 1..i + 1 + len).unwrap_or_default())
                        .into_owned(),
                ));
                i += 1 + len;
            }
            _ => {
                let len = s
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| is_regular(**c))
                    .count()
                    .max(1);
                let word = s.get(i..i + len).unwrap_or_default();
                i += len;
                if let Some(n) = std::str::from_utf8(word)
                    .ok()
                    .and_then(|w| w.parse::<f64>().ok())
                {
                    ops.push(Operand::Num(n));
                } else {
                    let emit = |ops: &[Operand],
                                out: &mut Out,
                                newline: bool,
                                moved: &mut bool,
                                last_y: &mut Option<f64>| {
                        if newline {
                            out.newline();
                        } else if *moved || last_y.is_some_and(|l| (l - y).abs() > 1.0) {
                            if last_y.is_some_and(|l| (l - y).abs() > 1.0) {
                                out.newline();
                            } else if !out.text.is_empty() && !out.text.ends_with([' ', '\n']) {
                                out.push(' ');
                            }
                        }
                        *moved = false;
                        *last_y = Some(y);
                        for op in ops {
                            match op {
                                Operand::Str(bytes) => push_decoded(bytes, font, out),
                                // A kerning gap wider than a fifth of an em is a word space.
                                Operand::Num(n)
                                    if *n < -200.0 && !out.text.ends_with([' ', '\n']) =>
                                {
                                    out.push(' ')
                                }
                                _ => {}
                            }
                        }
                    };
                    match word {
                        b"Tj" => emit(last_str(&ops), out, false, &mut moved, &mut last_y),
                        b"'" | b"\"" => emit(last_str(&ops), out, true, &mut moved, &mut last_y),
                        b"TJ" => {
                            let start = ops
                                .iter()
                                .rposition(|o| matches!(o, Operand::ArrayStart))
                                .map_or(0, |p| p + 1);
                            emit(
                                ops.get(start..).unwrap_or_default(),
                                out,
                                false,
                                &mut moved,
                                &mut last_y,
                            )
                        }
                        b"Td" | b"TD" => {
                            let n = numbers(&ops);
                            if let [.., tx, ty] = n.as_slice() {
                                y += ty;
                                moved |= *tx != 0.0 || *ty != 0.0;
                            }
                        }
                        b"Tm" => {
                            if let [.., _, _, _, _, _, f] = numbers(&ops).as_slice() {
                                y = *f;
                            }
                            moved = true;
                        }
                        b"T*" => {
                            y -= 1000.0;
                            out.newline();
                            last_y = Some(y);
                        }
                        b"BT" => {
                            y = 0.0;
                            moved = true;
                        }
                        b"Tf" => {
                            let name = ops.iter().rev().find_map(|o| match o {
                                Operand::Name(n) => Some(n.as_str()),
                                _ => None,
                            });
                            font = name.and_then(|n| fonts.get(n)).map(Vec::as_slice);
                        }
                        b"BI" => {
                            // Inline image: its data runs to `EI` after white space.
                            i = match memmem::find(s.get(i..).unwrap_or_default(), b"EI") {
                                Some(p) => i + p + 2,
                                None => s.len(),
                            };
                        }
                        _ => {}
                    }
                    ops.clear();
                }
            }
        }
        if ops.len() > MAX_OPERANDS {
            ops.clear();
        }
    }
    out.newline();
}

fn is_regular(b: u8) -> bool {
    !b.is_ascii_whitespace()
        && !matches!(
            b,
            b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%' | b'\0'
        )
}

fn last_str(ops: &[Operand]) -> &[Operand] {
    match ops.iter().rposition(|o| matches!(o, Operand::Str(_))) {
        Some(p) => ops.get(p..p + 1).unwrap_or_default(),
        None => &[],
    }
}

fn numbers(ops: &[Operand]) -> Vec<f64> {
    ops.iter()
        .filter_map(|o| match o {
            Operand::Num(n) => Some(*n),
            _ => None,
        })
        .collect()
}

/// A literal string from after its `(` : (bytes, position after its `)`). Balanced parentheses, escapes
/// (`\n`, `\(`, `\ddd` octal, `\` + end of line continues the line).
fn literal_string(s: &[u8], mut i: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut depth = 1usize;
    while let Some(&b) = s.get(i) {
        i += 1;
        match b {
            b'\\' => {
                let Some(&e) = s.get(i) else { break };
                i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'\r' => {
                        if s.get(i) == Some(&b'\n') {
                            i += 1;
                        }
                    }
                    b'\n' => {}
                    b'0'..=b'7' => {
                        let mut v = u32::from(e - b'0');
                        for _ in 0..2 {
                            match s.get(i) {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push((v & 0xff) as u8);
                    }
                    other => out.push(other),
                }
            }
            b'(' => {
                depth += 1;
                out.push(b);
            }
            b')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
                out.push(b);
            }
            _ => out.push(b),
        }
    }
    (out, i)
}

/// A string's bytes as text: through the first of the font's CMaps that knows every code, else WinAnsi.
fn push_decoded(bytes: &[u8], font: Option<&[&CMap]>, out: &mut Out) {
    if let Some(cmaps) = font {
        for cmap in cmaps {
            let w = cmap.width.max(1);
            let codes: Vec<u32> = bytes.chunks(w).map(code_value).collect();
            if codes.iter().all(|c| cmap.map.contains_key(c)) {
                for c in codes {
                    if let Some(t) = cmap.map.get(&c) {
                        out.push_str(t);
                    }
                }
                return;
            }
        }
    }
    for &b in bytes {
        let c = cp1252(b);
        if c >= ' ' || c == '\t' {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdf_with(content: &[u8], flate: bool, extra: &[u8]) -> Vec<u8> {
        let body = if flate {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut e, content).unwrap();
            e.finish().unwrap()
        } else {
            content.to_vec()
        };
        let mut pdf = b"%PDF-1.5\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
        pdf.extend_from_slice(extra);
        let filter: &[u8] = if flate { b" /Filter /FlateDecode" } else { b"" };
        pdf.extend_from_slice(format!("4 0 obj << /Length {}", body.len()).as_bytes());
        pdf.extend_from_slice(filter);
        pdf.extend_from_slice(b" >>\nstream\n");
        pdf.extend_from_slice(&body);
        pdf.extend_from_slice(b"\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
        pdf
    }

    fn text(pdf: &[u8]) -> Extracted {
        let mut out = Out::new(1 << 20);
        extract(pdf, &Limits::default(), &mut out);
        out.finish()
    }

    use super::super::Extracted;

    #[test]
    fn text_operators() {
        let content = b"BT /F1 11 Tf 14 TL 56 780 Td (Mededeling) Tj T*\n[(Je bent een kan) -12 (kerlijer)] TJ T*\n(Caf\\351 \\(1\\)) ' [(twee) -300 (woorden)] TJ ET";
        for flate in [false, true] {
            let t = text(&pdf_with(content, flate, b""));
            assert_eq!(
                t.text, "Mededeling\nJe bent een kankerlijer\nCafé (1)twee woorden\n",
                "flate {flate}"
            );
            assert!(!t.truncated);
        }
        let hex = text(&pdf_with(b"BT <48616C6C6F> Tj ET", false, b""));
        assert_eq!(hex.text, "Hallo\n");
    }

    #[test]
    fn tounicode_cmaps() {
        let cmap = b"/CIDInit /ProcSet findresource begin\nbegincmap\n1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n2 beginbfchar\n<0003> <0020>\n<0010> <006B>\nendbfchar\n1 beginbfrange\n<0020> <0025> <0061>\nendbfrange\nendcmap\n";
        let mut extra = b"5 0 obj << /Type /Font /Subtype /Type0 /ToUnicode 9 0 R >> endobj\n3 0 obj << /Type /Page /Resources << /Font << /F2 5 0 R >> >> >> endobj\n".to_vec();
        extra.extend_from_slice(
            format!("9 0 obj << /Length {} >>\nstream\n", cmap.len()).as_bytes(),
        );
        extra.extend_from_slice(cmap);
        extra.extend_from_slice(b"\nendstream\nendobj\n");
        // k a b c 'space' d  → "kabc d"
        let t = text(&pdf_with(
            b"BT /F2 12 Tf <0010002000210022000300230024> Tj ET",
            true,
            &extra,
        ));
        assert_eq!(t.text, "kabc de\n");
        // The same with the font and page dictionaries packed in a compressed object stream (PDF 1.5+), as
        // LibreOffice and LaTeX write them.
        let packed = b"5 0 3 45 <</Type/Font/Subtype/Type0/ToUnicode 9 0 R>>\n<</Type/Page/Resources<</Font<</F2 5 0 R>>>>>>";
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, packed).unwrap();
        let packed = e.finish().unwrap();
        let mut extra = format!(
            "7 0 obj << /Type /ObjStm /N 2 /First 9 /Length {} /Filter /FlateDecode >>\nstream\n",
            packed.len()
        )
        .into_bytes();
        extra.extend_from_slice(&packed);
        extra.extend_from_slice(b"\nendstream\nendobj\n");
        extra.extend_from_slice(
            format!("9 0 obj << /Length {} >>\nstream\n", cmap.len()).as_bytes(),
        );
        extra.extend_from_slice(cmap);
        extra.extend_from_slice(b"\nendstream\nendobj\n");
        let t = text(&pdf_with(
            b"BT /F2 12 Tf <0010002000210022000300230024> Tj ET",
            true,
            &extra,
        ));
        assert_eq!(t.text, "kabc de\n");
    }

    #[test]
    fn helpers() {
        assert_eq!(ascii85_decode(b"87cURD]i,\"Ebo80~>"), b"Hello World!");
        assert_eq!(hex_decode(b"4 8 6>"), b"H`");
        assert_eq!(
            filters(b"<< /Length 5 /Filter [/ASCII85Decode /FlateDecode] >>"),
            vec!["ASCII85Decode", "FlateDecode"]
        );
        assert_eq!(
            filters(b"<</Filter/FlateDecode/Length 5>>"),
            vec!["FlateDecode"]
        );
        assert_eq!(direct_number(b"<< /Length 12 0 R >>", b"/Length"), None);
        assert_eq!(direct_number(b"<< /Length 12 >>", b"/Length"), Some(12));
        assert_eq!(object_number(b"12 0 obj\n<<", 9), Some(12));
        let (s, next) = literal_string(b"a(b)c\\)d) rest", 0);
        assert_eq!((s.as_slice(), next), (&b"a(b)c)d"[..], 9));
    }
}
