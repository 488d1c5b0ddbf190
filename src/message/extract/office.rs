//! Office Open XML (ECMA-376: docx, xlsx, pptx and their macro/template forms) and OpenDocument (odt, ods,
//! odp): a zip of XML parts. The parts are read through the same distrust as archives (declared size, ratio,
//! a bounded read) and walked with quick-xml's event reader: no tree, no entity expansion (quick-xml resolves
//! only the five predefined entities and character references), no recursion.
//!
//! Word splits words over runs (`<w:r>`) after every edit or spelling check: runs inside a paragraph are joined
//! without spaces; paragraphs end a line; table cells are separated by tabs, rows by newlines. Spreadsheets are
//! one line per row, cells separated by `\t` and placed in their column (`r="C5"`), numbers as plain digits.

use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::Out;
use crate::message::archive::RATIO_EXEMPT_SIZE;
use crate::message::Limits;

/// The Office formats read here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Word,
    Excel,
    PowerPoint,
    OpenDocument,
}

type Zip<'d> = zip::ZipArchive<Cursor<&'d [u8]>>;

fn flavour(zip: &Zip<'_>) -> Option<Flavour> {
    if zip.index_for_name("word/document.xml").is_some() {
        Some(Flavour::Word)
    } else if zip.index_for_name("xl/workbook.xml").is_some() {
        Some(Flavour::Excel)
    } else if zip.index_for_name("ppt/presentation.xml").is_some() {
        Some(Flavour::PowerPoint)
    } else if zip.index_for_name("content.xml").is_some() {
        Some(Flavour::OpenDocument)
    } else {
        None
    }
}

fn open(data: &[u8]) -> Option<Zip<'_>> {
    // A central directory claiming a huge number of entries is not parsed (the zip crate keeps them all).
    if crate::message::archive::zip_declared_entries(data).is_some_and(|n| n > 100_000) {
        return None;
    }
    zip::ZipArchive::new(Cursor::new(data)).ok()
}

/// True when `data` is a zip holding an Office or OpenDocument document.
pub fn is_office(data: &[u8]) -> bool {
    open(data).as_ref().and_then(flavour).is_some()
}

/// Part names sorted by the number in them (`slide2.xml` before `slide10.xml`).
fn parts(zip: &Zip<'_>, dir: &str, stem: &str) -> Vec<String> {
    let mut names: Vec<(u64, String)> = zip
        .file_names()
        .filter_map(|n| {
            let n = n.ok()?;
            let rest = n
                .strip_prefix(dir)?
                .strip_prefix(stem)?
                .strip_suffix(".xml")?;
            let number = if rest.is_empty() {
                0
            } else {
                rest.parse().ok()?
            };
            Some((number, n.into_owned()))
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

/// Reads parts within the document's input budget.
struct Parts<'d, 'l> {
    zip: Zip<'d>,
    limits: &'l Limits,
    /// Decompressed bytes still allowed.
    budget: u64,
}

impl Parts<'_, '_> {
    /// The part as text, or `None` (missing, over a limit, damaged: `out.truncated` is set for the latter two).
    fn read(&mut self, name: &str, out: &mut Out) -> Option<String> {
        let mut file = match self.zip.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return None,
            Err(_) => {
                out.truncated = true;
                return None;
            }
        };
        let size = file.size();
        let ratio = size / file.compressed_size().max(1);
        if size > self.budget || (size > RATIO_EXEMPT_SIZE && ratio > self.limits.archive_max_ratio)
        {
            out.truncated = true;
            return None;
        }
        let mut buf = Vec::new();
        let read = (&mut file).take(size + 1).read_to_end(&mut buf);
        self.budget = self.budget.saturating_sub(buf.len() as u64);
        if read.is_err() || buf.len() as u64 != size {
            out.truncated = true;
            return None;
        }
        Some(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// Extract the text of an Office or OpenDocument file into `out`.
pub fn extract(data: &[u8], limits: &Limits, out: &mut Out) {
    let Some(zip) = open(data) else {
        out.truncated = true;
        return;
    };
    let Some(kind) = flavour(&zip) else {
        return;
    };
    let mut p = Parts {
        zip,
        limits,
        budget: limits.extract_max_input_bytes,
    };
    match kind {
        Flavour::Word => {
            let mut names = vec!["word/document.xml".to_owned()];
            for stem in ["header", "footer", "footnotes", "endnotes", "comments"] {
                names.extend(parts(&p.zip, "word/", stem));
            }
            for name in names {
                if let Some(xml) = p.read(&name, out) {
                    runs_text(&xml, out);
                }
            }
        }
        Flavour::PowerPoint => {
            let mut names = parts(&p.zip, "ppt/slides/", "slide");
            names.extend(parts(&p.zip, "ppt/notesSlides/", "notesSlide"));
            for name in names {
                if let Some(xml) = p.read(&name, out) {
                    runs_text(&xml, out);
                }
            }
        }
        Flavour::Excel => {
            let shared = p
                .read("xl/sharedStrings.xml", out)
                .map(|xml| shared_strings(&xml, out.cap))
                .unwrap_or_default();
            for name in parts(&p.zip, "xl/worksheets/", "sheet") {
                if let Some(xml) = p.read(&name, out) {
                    sheet(&xml, &shared, out);
                }
            }
        }
        Flavour::OpenDocument => {
            if let Some(xml) = p.read("content.xml", out) {
                opendocument(&xml, out);
            }
        }
    }
}

/// The reader every part uses: lenient about end names (damaged files still give their text), never trims.
fn reader(xml: &str) -> Reader<&[u8]> {
    let mut r = Reader::from_str(xml);
    let config = r.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    r
}

/// The text an entity reference stands for (`&amp;`, `&#233;`): the predefined ones and character references.
fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

fn attr(e: &BytesStart<'_>, local: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .map(|a| a.value.into_owned())
}

/// WordprocessingML and DrawingML text (docx, pptx): `<w:t>`/`<a:t>` inside paragraphs, tabs and breaks.
/// Deleted text (`<w:delText>`) and field codes (`<w:instrText>`) are not shown to readers and not read.
fn runs_text(xml: &str, out: &mut Out) {
    let mut r = reader(xml);
    let mut in_text = false;
    let mut cell_depth = 0usize;
    loop {
        if out.full() {
            return;
        }
        match r.read_event() {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                "t" => in_text = true,
                "tc" => cell_depth += 1,
                _ => {}
            },
            Ok(Event::Empty(e)) => match e.local_name().as_ref() {
                "tab" => out.push('\t'),
                "br" | "cr" => out.push('\n'),
                _ => {}
            },
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                "t" => in_text = false,
                // A paragraph ends a line, except inside a table cell, where the cell ends it.
                "p" if cell_depth > 0 => out.push(' '),
                "p" => out.newline(),
                "tc" => {
                    cell_depth = cell_depth.saturating_sub(1);
                    while out.text.ends_with(' ') {
                        out.text.pop();
                    }
                    out.push('\t');
                }
                "tr" => out.newline(),
                _ => {}
            },
            Ok(Event::Text(t)) if in_text => out.push_str(&t),
            Ok(Event::CData(t)) if in_text => out.push_str(&t),
            Ok(Event::GeneralRef(g)) if in_text => {
                if let Some(c) = entity(&g) {
                    out.push(c)
                }
            }
            Ok(Event::Eof) => break,
            Err(_) => {
                out.truncated = true;
                break;
            }
            Ok(_) => {}
        }
    }
    out.newline();
}

/// A number as plain digits: `1.23456782E8` → `123456782`, `123456782.0` → `123456782`; other text unchanged.
pub fn plain_number(s: &str) -> String {
    let t = s.trim();
    let Ok(v) = t.parse::<f64>() else {
        return t.to_owned();
    };
    if !v.is_finite() || !(t.contains(['e', 'E']) || t.contains('.')) {
        return t.to_owned();
    }
    if v.fract() == 0.0 && v.abs() < 1e18 {
        format!("{}", v as i64)
    } else if t.contains(['e', 'E']) {
        // Display never uses an exponent.
        format!("{v}")
    } else {
        t.to_owned()
    }
}

/// The shared strings of a workbook (`<si>`, rich text runs joined, phonetic runs left out), at most `cap`
/// bytes in all.
fn shared_strings(xml: &str, cap: usize) -> Vec<String> {
    let mut r = reader(xml);
    let mut strings = Vec::new();
    let mut current = String::new();
    let mut in_t = false;
    let mut in_phonetic = false;
    let mut total = 0usize;
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                "si" => current.clear(),
                "t" => in_t = true,
                "rPh" => in_phonetic = true,
                _ => {}
            },
            Ok(Event::Empty(e)) if e.local_name().as_ref() == "si" => strings.push(String::new()),
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                "si" => {
                    total += current.len();
                    strings.push(std::mem::take(&mut current));
                    if total > cap {
                        break;
                    }
                }
                "t" => in_t = false,
                "rPh" => in_phonetic = false,
                _ => {}
            },
            Ok(Event::Text(t)) if in_t && !in_phonetic => current.push_str(&t),
            Ok(Event::GeneralRef(g)) if in_t && !in_phonetic => {
                if let Some(c) = entity(&g) {
                    current.push(c)
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    strings
}

/// Column index of a cell reference (`C5` → 2), capped at Excel's 16,384 columns.
fn column(reference: &str) -> Option<usize> {
    let mut col = 0usize;
    let mut any = false;
    for c in reference.chars().take_while(char::is_ascii_alphabetic) {
        any = true;
        col = col * 26 + usize::from(c.to_ascii_uppercase() as u8 - b'A') + 1;
        if col > 16_384 {
            return None;
        }
    }
    any.then(|| col - 1)
}

/// Write one row: cells in their columns (column k after k tabs), so a column can be judged whole.
fn write_row(cells: &mut Vec<(usize, String)>, out: &mut Out) {
    let mut tabs = 0usize;
    for (c, text) in cells.drain(..) {
        while tabs < c {
            out.push('\t');
            tabs += 1;
        }
        out.push_str(&text);
        if out.full() {
            return;
        }
    }
    out.newline();
}

/// One worksheet: `<row>` of `<c r=".." t="..">` with `<v>` or `<is><t>`.
fn sheet(xml: &str, shared: &[String], out: &mut Out) {
    let mut r = reader(xml);
    let mut cells: Vec<(usize, String)> = Vec::new();
    let mut col = 0usize;
    let mut kind = String::new();
    let mut value = String::new();
    let mut in_value = false;
    loop {
        if out.full() {
            return;
        }
        match r.read_event() {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                "row" => cells.clear(),
                "c" => {
                    col = attr(&e, "r")
                        .and_then(|r| column(&r))
                        .unwrap_or_else(|| cells.last().map_or(0, |(c, _)| c + 1));
                    kind = attr(&e, "t").unwrap_or_default();
                    value.clear();
                }
                "v" | "t" => in_value = true,
                _ => {}
            },
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                "v" | "t" => in_value = false,
                "c" => {
                    let text = match kind.as_str() {
                        "s" => value
                            .trim()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| shared.get(i))
                            .cloned()
                            .unwrap_or_default(),
                        "inlineStr" | "str" | "e" => std::mem::take(&mut value),
                        "b" => match value.trim() {
                            "1" => "TRUE".into(),
                            _ => "FALSE".into(),
                        },
                        _ => plain_number(&value),
                    };
                    // Cells must come in column order; a file that repeats or reorders them keeps its order.
                    let col = col.max(cells.last().map_or(0, |(c, _)| c + 1));
                    if !text.is_empty() {
                        cells.push((col, text.replace(['\t', '\n', '\r'], " ")));
                    }
                }
                "row" => write_row(&mut cells, out),
                _ => {}
            },
            Ok(Event::Text(t)) if in_value => value.push_str(&t),
            Ok(Event::GeneralRef(g)) if in_value => {
                if let Some(c) = entity(&g) {
                    value.push(c)
                }
            }
            Ok(Event::Eof) => break,
            Err(_) => {
                out.truncated = true;
                break;
            }
            Ok(_) => {}
        }
    }
    if !cells.is_empty() {
        write_row(&mut cells, out);
    }
}

/// OpenDocument `content.xml` (text, spreadsheet, presentation): paragraphs and headings one per line, table
/// cells separated by tabs (a number cell as its `office:value`, plain digits), `<text:s>`, tabs and breaks.
fn opendocument(xml: &str, out: &mut Out) {
    let mut r = reader(xml);
    let mut para_depth = 0usize;
    let mut cells: Vec<(usize, String)> = Vec::new();
    let mut in_row = false;
    let mut col = 0usize;
    let mut cell: Option<(String, usize, Option<String>)> = None; // text, repeat, numeric value
    loop {
        if out.full() {
            return;
        }
        let event = r.read_event();
        let (start, empty) = match &event {
            Ok(Event::Start(e)) => (Some(e), false),
            Ok(Event::Empty(e)) => (Some(e), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            match e.local_name().as_ref() {
                "table-row" if !empty => {
                    in_row = true;
                    cells.clear();
                    col = 0;
                }
                "table-cell" | "covered-table-cell" if in_row => {
                    let repeat = attr(e, "number-columns-repeated")
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(1)
                        .clamp(1, 64);
                    let number = match attr(e, "value-type").as_deref() {
                        Some("float" | "percentage" | "currency") => {
                            attr(e, "value").map(|v| plain_number(&v))
                        }
                        _ => None,
                    };
                    if empty {
                        if let Some(n) = number {
                            cells.push((col, n));
                        }
                        col += repeat;
                    } else {
                        cell = Some((String::new(), repeat, number));
                    }
                }
                "p" | "h" if !empty => para_depth += 1,
                "s" if para_depth > 0 => {
                    let n = attr(e, "c")
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(1);
                    push_text(&mut cell, out, &" ".repeat(n.clamp(1, 16)));
                }
                "tab" if para_depth > 0 => push_text(&mut cell, out, "\t"),
                "line-break" if para_depth > 0 => push_text(&mut cell, out, "\n"),
                _ => {}
            }
            continue;
        }
        match event {
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                "p" | "h" => {
                    para_depth = para_depth.saturating_sub(1);
                    match &mut cell {
                        Some((text, _, _)) => text.push(' '),
                        None => out.newline(),
                    }
                }
                "table-cell" | "covered-table-cell" => {
                    if let Some((text, repeat, number)) = cell.take() {
                        let text = number.unwrap_or_else(|| text.trim().replace(['\t', '\n'], " "));
                        if !text.is_empty() {
                            for i in 0..repeat {
                                cells.push((col + i, text.clone()));
                            }
                        }
                        col += repeat;
                    }
                }
                "table-row" => {
                    in_row = false;
                    write_row(&mut cells, out);
                }
                _ => {}
            },
            Ok(Event::Text(t)) if para_depth > 0 => push_text(&mut cell, out, &t),
            Ok(Event::GeneralRef(g)) if para_depth > 0 => {
                if let Some(c) = entity(&g) {
                    push_text(&mut cell, out, c.encode_utf8(&mut [0u8; 4]))
                }
            }
            Ok(Event::Eof) => break,
            Err(_) => {
                out.truncated = true;
                break;
            }
            _ => {}
        }
    }
    out.newline();
}

fn push_text(cell: &mut Option<(String, usize, Option<String>)>, out: &mut Out, s: &str) {
    match cell {
        // A cell's text is bounded by the document's own size (it was read within the input budget).
        Some((text, _, _)) => text.push_str(s),
        None => out.push_str(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(f: fn(&str, &mut Out), xml: &str) -> String {
        let mut out = Out::new(1 << 20);
        f(xml, &mut out);
        out.text
    }

    #[test]
    fn word_runs_join_and_tables_tab() {
        let xml = r#"<w:document xmlns:w="w"><w:body>
            <w:p><w:r><w:t>Je bent een kanker</w:t></w:r><w:proofErr w:type="spellStart"/><w:r><w:rPr><w:b/></w:rPr><w:t>lijer</w:t></w:r><w:r><w:t xml:space="preserve"> echt &amp; waar</w:t></w:r></w:p>
            <w:p><w:r><w:delText>weg</w:delText><w:instrText>PAGE</w:instrText><w:t>Tweede</w:t><w:tab/><w:t>regel</w:t></w:r></w:p>
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>Naam</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>BSN</w:t></w:r></w:p></w:tc></w:tr>
            <w:tr><w:tc><w:p><w:r><w:t>Emma</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>123456782</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
            </w:body></w:document>"#;
        assert_eq!(
            text_of(runs_text, xml),
            "Je bent een kankerlijer echt & waar\nTweede\tregel\nNaam\tBSN\nEmma\t123456782\n"
        );
    }

    #[test]
    fn numbers_are_plain() {
        let cases = [
            ("123456782", "123456782"),
            ("1.23456782E8", "123456782"),
            ("123456782.0", "123456782"),
            ("7.5", "7.5"),
            ("1.5E-3", "0.0015"),
            ("abc", "abc"),
            (" 42 ", "42"),
        ];
        for (input, want) in cases {
            assert_eq!(plain_number(input), want, "{input}");
        }
    }

    #[test]
    fn sheets_are_rows_of_tabbed_cells() {
        let shared = shared_strings(
            "<sst><si><t>Naam</t></si><si><r><t>B</t></r><r><t>SN</t></r><rPh><t>x</t></rPh></si><si><t>Emma</t></si></sst>",
            1 << 20,
        );
        assert_eq!(shared, vec!["Naam", "BSN", "Emma"]);
        let xml = r#"<worksheet><sheetData>
            <row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" t="s"><v>1</v></c></row>
            <row r="2"><c r="A2" t="s"><v>2</v></c><c r="C2"><v>1.23456782E8</v></c></row>
            <row r="3"><c r="A3" t="inlineStr"><is><t>Daan</t></is></c><c r="C3" t="inlineStr"><is><t>111222333</t></is></c></row>
            </sheetData></worksheet>"#;
        let mut out = Out::new(1 << 20);
        sheet(xml, &shared, &mut out);
        assert_eq!(
            out.text,
            "Naam\t\tBSN\nEmma\t\t123456782\nDaan\t\t111222333\n"
        );
        assert_eq!(column("C5"), Some(2));
        assert_eq!(column("AA1"), Some(26));
        assert_eq!(column("ZZZZ1"), None);
    }

    #[test]
    fn opendocument_text_and_tables() {
        let xml = r#"<office:document-content><office:body><office:text>
            <text:h>Kop</text:h><text:p>Een<text:s text:c="2"/>twee<text:span> drie</text:span></text:p>
            <table:table><table:table-row><table:table-cell office:value-type="string"><text:p>Naam</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="123456782"><text:p>123.456.782</text:p></table:table-cell></table:table-row></table:table>
            <table:table><table:table-row><table:table-cell table:number-columns-repeated="2"/><table:table-cell><text:p>x</text:p></table:table-cell></table:table-row></table:table>
            </office:text></office:body></office:document-content>"#;
        assert_eq!(
            text_of(opendocument, xml),
            "Kop\nEen  twee drie\nNaam\t123456782\n\t\tx\n"
        );
    }
}
