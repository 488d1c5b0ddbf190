//! Text extraction through [`analyse`]: each document kind's text arrives tagged with its attachment (and
//! archive member), dangerous kinds are recognised, and hostile documents stay within their limits.

use std::io::Write;

use crate::message::archive::tests::{gzip, make_cab, make_tar, make_zip};
use crate::message::extract::{extract, DocKind};
use crate::message::tests::with_attachment;
use crate::message::{analyse, Analysis, Damage, FileKind, Limits, TextOrigin};

/// A message with one attachment (base64) of the given type and file name.
pub(crate) fn mail_with(name: Option<&str>, ctype: &str, data: &[u8]) -> Vec<u8> {
    let disposition = match name {
        Some(n) => format!("attachment; filename=\"{n}\""),
        None => "attachment".to_owned(),
    };
    with_attachment(&disposition, ctype, data)
}

pub(crate) fn docx(body: &str) -> Vec<u8> {
    let doc = format!(
        "<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>"
    );
    make_zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", doc.as_bytes()),
    ])
}

pub(crate) fn xlsx(shared: &[&str], rows: &str) -> Vec<u8> {
    let sst: String = shared
        .iter()
        .map(|s| format!("<si><t>{s}</t></si>"))
        .collect();
    let sst = format!("<sst>{sst}</sst>");
    let sheet = format!("<worksheet><sheetData>{rows}</sheetData></worksheet>");
    make_zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("xl/workbook.xml", b"<workbook/>"),
        ("xl/sharedStrings.xml", sst.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

pub(crate) fn pdf(content: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(content).unwrap();
    let body = e.finish().unwrap();
    let mut pdf = b"%PDF-1.5\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n".to_vec();
    pdf.extend_from_slice(
        format!(
            "4 0 obj << /Length {} /Filter /FlateDecode >>\nstream\n",
            body.len()
        )
        .as_bytes(),
    );
    pdf.extend_from_slice(&body);
    pdf.extend_from_slice(b"\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
    pdf
}

fn attachment_texts(a: &Analysis) -> Vec<(Option<usize>, String)> {
    a.texts
        .iter()
        .filter_map(|t| match t.origin {
            TextOrigin::AttachmentText { part: 2, member } => Some((member, t.text.clone())),
            _ => None,
        })
        .collect()
}

#[test]
#[allow(clippy::type_complexity)] // a table of test cases
fn documents_give_their_text_tagged() {
    let run_split = docx(
        "<w:p><w:r><w:t>Je bent een kanker</w:t></w:r><w:proofErr w:type=\"spellStart\"/><w:r><w:rPr><w:b/></w:rPr><w:t>lijer</w:t></w:r></w:p><w:p><w:r><w:t>Groet</w:t></w:r></w:p>",
    );
    let sheet = xlsx(
        &["Naam", "BSN"],
        "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c></row><row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>Emma</t></is></c><c r=\"B2\"><v>1.23456782E8</v></c></row>",
    );
    let odt = make_zip(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", b"<office:document-content><office:body><office:text><text:p>Hallo <text:span>daar</text:span></text:p></office:text></office:body></office:document-content>"),
    ]);
    let pptx = make_zip(&[
        ("ppt/presentation.xml", b"<p:presentation/>"),
        (
            "ppt/slides/slide2.xml",
            b"<p:sld><a:p><a:r><a:t>Dia twee</a:t></a:r></a:p></p:sld>",
        ),
        (
            "ppt/slides/slide10.xml",
            b"<p:sld><a:p><a:r><a:t>Dia tien</a:t></a:r></a:p></p:sld>",
        ),
    ]);
    let pdf = pdf(b"BT /F1 11 Tf 56 780 Td [(Je bent een kan) -12 (kerlijer)] TJ T* (Groet) Tj ET");
    let csv = b"naam;bericht\r\nsem;\"hoi; daar\"\r\n".to_vec();
    // (label, name, type, data, expected text)
    let cases: Vec<(&str, Option<&str>, &str, Vec<u8>, &str)> = vec![
        (
            "docx runs",
            Some("brief.docx"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            run_split,
            "Je bent een kankerlijer\nGroet\n",
        ),
        (
            "xlsx",
            Some("lijst.xlsx"),
            "application/octet-stream",
            sheet,
            "Naam\tBSN\nEmma\t123456782\n",
        ),
        (
            "odt",
            Some("tekst.odt"),
            "application/vnd.oasis.opendocument.text",
            odt,
            "Hallo daar\n",
        ),
        (
            "pptx",
            Some("p.pptx"),
            "application/octet-stream",
            pptx,
            "Dia twee\nDia tien\n",
        ),
        (
            "pdf",
            Some("scan.pdf"),
            "application/pdf",
            pdf,
            "Je bent een kankerlijer\nGroet\n",
        ),
        (
            "csv as text/plain",
            Some("export.csv"),
            "text/plain",
            csv.clone(),
            "naam\tbericht\nsem\thoi; daar\n",
        ),
        (
            "txt as octet-stream",
            Some("notitie.txt"),
            "application/octet-stream",
            b"Hoi daar".to_vec(),
            "Hoi daar",
        ),
        (
            "txt unknown type",
            Some("bericht.txt"),
            "application/x-unknown",
            b"Hoi daar".to_vec(),
            "Hoi daar",
        ),
        (
            "no name, text type",
            None,
            "text/plain",
            b"Hoi daar".to_vec(),
            "Hoi daar",
        ),
    ];
    for (label, name, ctype, data, want) in cases {
        let a = analyse(&mail_with(name, ctype, &data), &Limits::default());
        assert_eq!(
            attachment_texts(&a),
            vec![(None, want.to_owned())],
            "{label}"
        );
        // A named text part is the attachment's text, not the body's.
        let body: Vec<&str> = a
            .texts
            .iter()
            .filter(|t| matches!(t.origin, TextOrigin::Body { .. }))
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(body, vec!["Zie bijlage."], "{label}");
        assert!(a.damage.is_empty(), "{label}: {:?}", a.damage);
    }
}

/// A workbook as a real writer makes it (rust_xlsxwriter follows Excel's own output: shared strings, number
/// cells, styles, a theme, several sheets).
#[test]
fn a_real_workbook_gives_rows_of_cells() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "Naam").unwrap();
    sheet.write_string(0, 2, "Burgerservicenummer").unwrap();
    sheet.write_string(1, 0, "Emma de Vries").unwrap();
    sheet.write_number(1, 2, 123456782.0).unwrap();
    sheet.write_number(2, 2, 7.5).unwrap();
    let second = book.add_worksheet();
    second.write_string(0, 0, "Blad twee").unwrap();
    let data = book.save_to_buffer().unwrap();
    let a = analyse(
        &mail_with(
            Some("lijst.xlsx"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &data,
        ),
        &Limits::default(),
    );
    assert_eq!(
        attachment_texts(&a),
        vec![(
            None,
            "Naam\t\tBurgerservicenummer\nEmma de Vries\t\t123456782\n\t\t7.5\nBlad twee\n"
                .to_owned()
        )]
    );
}

#[test]
fn archive_members_give_their_text_with_the_member_index() {
    let inner_docx = docx("<w:p><w:r><w:t>Opdracht</w:t></w:r></w:p>");
    // The parts of a document (an ODF `mimetype` looks like text) are read with the document, not alone.
    let inner_odt = make_zip(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", b"<office:document-content><office:body><office:text><text:p>Verslag</text:p></office:text></office:body></office:document-content>"),
    ]);
    let zip = make_zip(&[
        ("foto.jpg", b"\xff\xd8\xff\xe0\0\x10JFIF\0"),
        ("opdracht.docx", &inner_docx),
        ("verslag.odt", &inner_odt),
        ("bericht.txt", b"Hoi"),
    ]);
    let a = analyse(
        &mail_with(Some("opdracht.zip"), "application/zip", &zip),
        &Limits::default(),
    );
    let att = &a.attachments[0];
    let texts = attachment_texts(&a);
    let by_path: Vec<(&str, &str)> = texts
        .iter()
        .map(|(m, t)| (att.members[m.unwrap()].path.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        by_path,
        vec![
            ("opdracht.docx", "Opdracht\n"),
            ("verslag.odt", "Verslag\n"),
            ("bericht.txt", "Hoi")
        ]
    );
    // The same through a tar inside a gzip.
    let tgz = gzip(
        &make_tar(
            &[("map/klaslijst.csv", b"naam,bsn\nEmma,123456782\n")],
            None,
        ),
        None,
    );
    let a = analyse(
        &mail_with(Some("lijst.tar.gz"), "application/gzip", &tgz),
        &Limits::default(),
    );
    let att = &a.attachments[0];
    let texts = attachment_texts(&a);
    assert_eq!(texts.len(), 1, "{texts:?}");
    let (member, text) = &texts[0];
    assert_eq!(
        att.members[member.unwrap()].path,
        "lijst.tar/map/klaslijst.csv"
    );
    assert_eq!(text, "naam\tbsn\nEmma\t123456782\n");
}

#[test]
#[allow(clippy::type_complexity)] // a table of test cases
fn dangerous_kinds_are_recognised_and_innocent_twins_are_not() {
    let mut ole_vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1".to_vec();
    ole_vba.resize(512, 0);
    ole_vba.extend("_VBA_PROJECT".encode_utf16().flat_map(u16::to_le_bytes));
    let mut ole_plain = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1".to_vec();
    ole_plain.resize(1024, 0);
    let mut onenote = vec![
        0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d, 0xae, 0xb1, 0x53, 0x78, 0xd0, 0x29, 0x96,
        0xd3,
    ];
    onenote.resize(1024, 0);
    let docm = make_zip(&[
        ("word/document.xml", b"<w:document/>"),
        ("word/vbaProject.bin", &ole_vba),
    ]);
    let plain_docx = docx("<w:p><w:r><w:t>Hallo</w:t></w:r></w:p>");
    let phish = b"<!DOCTYPE html><html><body><form action=\"https://x.example/p\"><input TYPE=\"password\" name=\"p\"></form></body></html>";
    let smuggle = b"<html><body><script>var b=atob('TVqQ');</script></body></html>";
    let agenda = b"<html><body><h1>Agenda</h1><p>Luizencontrole: ouders helpen. Zie online.</p></body></html>";
    let svg_onload =
        b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"fetch('x')\"><rect/></svg>";
    let svg_script = b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>location='x'</script></svg>";
    let svg_logo = b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"120\"><text x=\"8\"> online opleiding</text></svg>";
    let cab = make_cab(&[("setup.exe", b"MZ")]);
    // (label, name, type, data, expected kind)
    let cases: Vec<(&str, &str, &str, Vec<u8>, Option<FileKind>)> = vec![
        (
            "onenote",
            "Gedeeld document.one",
            "application/onenote",
            onenote,
            Some(FileKind::OneNote),
        ),
        (
            "cab",
            "update.cab",
            "application/vnd.ms-cab-compressed",
            cab,
            Some(FileKind::Cabinet),
        ),
        (
            "docx with vbaProject.bin",
            "Factuur.docx",
            "application/octet-stream",
            docm,
            Some(FileKind::MacroDocument),
        ),
        (
            "docx",
            "brief.docx",
            "application/octet-stream",
            plain_docx,
            Some(FileKind::Zip),
        ),
        (
            "doc with macros",
            "oud.doc",
            "application/msword",
            ole_vba,
            Some(FileKind::MacroDocument),
        ),
        (
            "html password form",
            "Gedeeld_document.html",
            "text/html",
            phish.to_vec(),
            Some(FileKind::HtmlPasswordForm),
        ),
        (
            "htm as octet-stream",
            "VoiceMessage.htm",
            "application/octet-stream",
            phish.to_vec(),
            Some(FileKind::HtmlPasswordForm),
        ),
        (
            "html script",
            "factuur.html",
            "text/html",
            smuggle.to_vec(),
            Some(FileKind::HtmlScript),
        ),
        (
            "svg onload",
            "logo.svg",
            "image/svg+xml",
            svg_onload.to_vec(),
            Some(FileKind::SvgScript),
        ),
        (
            "svg script",
            "factuur.svg",
            "image/svg+xml",
            svg_script.to_vec(),
            Some(FileKind::SvgScript),
        ),
    ];
    for (label, name, ctype, data, want) in cases {
        let a = analyse(&mail_with(Some(name), ctype, &data), &Limits::default());
        assert_eq!(a.attachments[0].sniffed, want, "{label}");
    }
    for (label, name, ctype, data) in [
        ("html agenda", "agenda.html", "text/html", agenda.to_vec()),
        ("svg logo", "logo.svg", "image/svg+xml", svg_logo.to_vec()),
        (
            "doc without macros",
            "oud.doc",
            "application/msword",
            ole_plain,
        ),
    ] {
        let a = analyse(&mail_with(Some(name), ctype, &data), &Limits::default());
        let kind = a.attachments[0].sniffed;
        assert!(
            !matches!(
                kind,
                Some(
                    FileKind::HtmlPasswordForm
                        | FileKind::HtmlScript
                        | FileKind::SvgScript
                        | FileKind::MacroDocument
                )
            ),
            "{label}: {kind:?}"
        );
    }
}

#[test]
fn hostile_documents_stay_bounded() {
    // What these inputs cost is measured in `benches/extract.rs`; here: each stops at its limit.
    // A docx bomb: document.xml of 16 MiB that deflates to ~16 KiB, four times the input limit.
    let mut xml = b"<w:document><w:body>".to_vec();
    xml.resize(16 * 1024 * 1024, b' ');
    let bomb = make_zip(&[("word/document.xml", &xml)]);
    drop(xml);
    let a = analyse(
        &mail_with(Some("bom.docx"), "application/octet-stream", &bomb),
        &Limits {
            extract_max_input_bytes: 4 * 1024 * 1024,
            ..Limits::default()
        },
    );
    assert!(attachment_texts(&a).is_empty());
    assert!(a.damage.contains(&Damage::TextTruncated), "{:?}", a.damage);
    assert!(!a.attachments[0].archive_problems.is_empty());

    // Much text: the extracted text keeps to its own budget and says it was cut.
    let para =
        "<w:p><w:r><w:t>Dit is een lange zin in een verslag.</w:t></w:r></w:p>".repeat(20_000);
    let long = docx(&para);
    let limits = Limits {
        extract_max_text_bytes: 10_000,
        ..Limits::default()
    };
    let a = analyse(
        &mail_with(Some("lang.docx"), "application/octet-stream", &long),
        &limits,
    );
    let total: usize = attachment_texts(&a).iter().map(|(_, t)| t.len()).sum();
    assert!(total <= 10_000 && total > 9_000, "{total}");
    assert!(a.damage.contains(&Damage::TextTruncated));
    // The body's own text is not crowded out.
    assert!(a
        .texts
        .iter()
        .any(|t| matches!(t.origin, TextOrigin::Body { .. })));

    // A PDF with a million stream objects: the stream count stops the reader.
    let mut many = b"%PDF-1.4\n".to_vec();
    for i in 0..1_000_000 {
        many.extend_from_slice(
            format!("{i} 0 obj << /Length 2 >>\nstream\nq\nendstream\nendobj\n").as_bytes(),
        );
    }
    let e = extract(&many, DocKind::Pdf, &Limits::default(), 1 << 20);
    assert!(e.truncated);
    let a = analyse(
        &mail_with(Some("veel.pdf"), "application/pdf", &many),
        &Limits::default(),
    );
    assert!(a.damage.contains(&Damage::TextTruncated), "{:?}", a.damage);
    // A million font objects that all point at one ToUnicode CMap, and a content stream using them: every
    // font is looked up once, the font table keeps to its caps.
    let mut fonts = b"%PDF-1.4\n".to_vec();
    let cmap = b"begincmap\n1 begincodespacerange\n<00> <FF>\nendcodespacerange\n1 beginbfchar\n<41> <0042>\nendbfchar\nendcmap\n";
    fonts.extend_from_slice(format!("3 0 obj << /Length {} >>\nstream\n", cmap.len()).as_bytes());
    fonts.extend_from_slice(cmap);
    fonts.extend_from_slice(b"\nendstream\nendobj\n");
    for i in 10..1_000_010 {
        fonts.extend_from_slice(
            format!("{i} 0 obj << /Type /Font /ToUnicode 3 0 R >> endobj\n").as_bytes(),
        );
    }
    fonts.extend_from_slice(b"5 0 obj << /Font << /F1 10 0 R /F2 11 0 R >> >> endobj\n");
    let content = b"BT /F1 11 Tf (AAA) Tj ET";
    fonts
        .extend_from_slice(format!("4 0 obj << /Length {} >>\nstream\n", content.len()).as_bytes());
    fonts.extend_from_slice(content);
    fonts.extend_from_slice(b"\nendstream\nendobj\n");
    let e = extract(&fonts, DocKind::Pdf, &Limits::default(), 1 << 20);
    assert_eq!(e.text.trim(), "BBB");
    let zeros = vec![b'0'; 64 * 1024 * 1024];
    let mut content = b"BT (".to_vec();
    content.extend_from_slice(&zeros);
    content.extend_from_slice(b") Tj ET");
    let big = pdf(&content);
    let limits = Limits {
        extract_max_input_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let a = analyse(
        &mail_with(Some("groot.pdf"), "application/pdf", &big),
        &limits,
    );
    let total: usize = attachment_texts(&a).iter().map(|(_, t)| t.len()).sum();
    assert!(total <= 1024 * 1024, "{total}");
    assert!(a.damage.contains(&Damage::TextTruncated));
}
