//! Plain text and CSV: decoding bytes of unknown encoding, and CSV rows as tab-separated lines.

use super::Out;

/// True when `data` looks like text: no NUL bytes (outside UTF-16) and few control characters in its start.
pub fn looks_like_text(data: &[u8]) -> bool {
    if data.starts_with(b"\xff\xfe") || data.starts_with(b"\xfe\xff") {
        return true;
    }
    let head = data.get(..4096).unwrap_or(data);
    if head.contains(&0) {
        return false;
    }
    let control = head
        .iter()
        .filter(|b| **b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
        .count();
    control * 100 <= head.len()
}

/// Bytes as text: UTF-8 (BOM dropped), UTF-16 with a BOM, else Windows-1252 (what Dutch Excel and Notepad
/// write).
pub fn decode(data: &[u8]) -> String {
    if let Some(rest) = data.strip_prefix(b"\xef\xbb\xbf") {
        return String::from_utf8_lossy(rest).into_owned();
    }
    if let Some(rest) = data.strip_prefix(b"\xff\xfe") {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = data.strip_prefix(b"\xfe\xff") {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    match std::str::from_utf8(data) {
        Ok(s) => s.to_owned(),
        Err(_) => data.iter().map(|b| cp1252(*b)).collect(),
    }
}

/// One Windows-1252 byte as a char (0x80–0x9F differ from Latin-1).
pub fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH.get(usize::from(b - 0x80)).copied().unwrap_or(' '),
        _ => char::from(b),
    }
}

/// CSV (RFC 4180, with `;` — what Dutch Excel writes —, `,` or tab as separator, guessed from the first line)
/// as one line per row with cells separated by `\t`. Quoted cells may hold separators, `""` and line breaks;
/// line breaks inside a cell become spaces so a row stays one line.
pub fn csv(data: &[u8], out: &mut Out) {
    let text = decode(data);
    let first = text.lines().next().unwrap_or("");
    let count = |c: char| first.chars().filter(|x| *x == c).count();
    let sep = [';', ',', '\t']
        .into_iter()
        .max_by_key(|c| count(*c))
        .filter(|c| count(*c) > 0)
        .unwrap_or(';');
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if out.full() {
            return;
        }
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.push('"');
            }
            '"' => quoted = !quoted,
            '\r' | '\n' if quoted => out.push(' '),
            '\r' => {}
            '\n' => out.push('\n'),
            '\t' if sep != '\t' => out.push(' '),
            c if c == sep && !quoted => out.push('\t'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_text(data: &[u8]) -> String {
        let mut out = Out::new(1 << 20);
        csv(data, &mut out);
        out.text
    }

    #[test]
    fn decodes() {
        assert_eq!(decode(b"\xef\xbb\xbfhallo"), "hallo");
        assert_eq!(decode(b"caf\xe9 \x80"), "café €");
        assert_eq!(decode(b"\xff\xfeh\0i\0"), "hi");
        assert_eq!(decode(b"\xfe\xff\0h\0i"), "hi");
        assert!(looks_like_text(b"Beste ouders,\r\n"));
        assert!(!looks_like_text(b"MZ\x90\x00\x03\x00"));
    }

    #[test]
    fn csv_rows_are_tab_separated() {
        assert_eq!(
            csv_text(b"Naam;BSN;Adres\r\n\"de Vries, Emma\";123456782;\"Dorpsstraat 1\r\nAmsterdam\"\r\n"),
            "Naam\tBSN\tAdres\nde Vries, Emma\t123456782\tDorpsstraat 1  Amsterdam\n"
        );
        assert_eq!(csv_text(b"a,b\n\"x \"\"y\"\"\",2\n"), "a\tb\nx \"y\"\t2\n");
        assert_eq!(csv_text(b"a\tb\n1\t2"), "a\tb\n1\t2");
    }
}
