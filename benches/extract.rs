//! Attachment benchmarks (criterion, issue 14): text extraction per MB of Word, Excel and PDF, an archive walk
//! per MB, and the whole decision for a realistic school mail with a letter, a report and a pupil list attached.
//! Run with `cargo bench --bench extract`. Never part of `cargo test`; figures go to BENCHMARKS.md.

mod support;

use std::io::Write;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mailwacht::envelope::Envelope;
use mailwacht::message::archive::walk;
use mailwacht::message::extract::{extract, DocKind};
use mailwacht::message::Limits;

const SENTENCES: [&str; 6] = [
    "Beste ouders en verzorgers, volgende week donderdag is de ouderavond in de aula van de school.",
    "De kinderen van groep 6 gaan op schoolreis naar het openluchtmuseum; vergeet de lunch niet.",
    "Wij vragen u het toestemmingsformulier voor vrijdag te ondertekenen en mee te geven.",
    "In de bijlage vindt u het rapport en de planning van de projectweek over duurzaamheid.",
    "Het werkverdelingsplan is besproken in de MR en wordt na de vakantie vastgesteld.",
    "Met vriendelijke groet, juf Marieke en meester Daan, OBS De Regenboog, groep 5/6.",
];

fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in files {
        w.start_file(*name, opts).expect("zip");
        w.write_all(data).expect("zip");
    }
    w.finish().expect("zip").into_inner()
}

/// A Word document of about `size` bytes of XML, words split over runs as Word does.
fn docx(size: usize) -> Vec<u8> {
    let mut xml = String::from("<w:document xmlns:w=\"w\"><w:body>");
    let mut i = 0;
    while xml.len() < size {
        let s = SENTENCES[i % SENTENCES.len()];
        let (a, b) = s.split_at(s.len() / 2);
        xml.push_str(&format!(
            "<w:p><w:r><w:t>{a}</w:t></w:r><w:proofErr w:type=\"spellStart\"/><w:r><w:rPr><w:b/></w:rPr><w:t>{b}</w:t></w:r></w:p>"
        ));
        i += 1;
    }
    xml.push_str("</w:body></w:document>");
    zip(&[("word/document.xml", xml.as_bytes())])
}

/// A workbook of about `size` bytes of sheet XML: pupils with a number and two grades.
fn xlsx(size: usize) -> Vec<u8> {
    let names = ["Emma de Vries", "Daan Smit", "Sem Jansen", "Lotte Bakker"];
    let sst: String = names
        .iter()
        .map(|n| format!("<si><t>{n}</t></si>"))
        .collect();
    let mut sheet = String::from("<worksheet><sheetData>");
    let mut r = 1;
    while sheet.len() < size {
        sheet.push_str(&format!(
            "<row r=\"{r}\"><c r=\"A{r}\" t=\"s\"><v>{}</v></c><c r=\"B{r}\"><v>{}</v></c><c r=\"C{r}\"><v>7.5</v></c><c r=\"D{r}\"><v>8.1</v></c></row>",
            r % 4,
            100_000 + r
        ));
        r += 1;
    }
    sheet.push_str("</sheetData></worksheet>");
    zip(&[
        ("xl/workbook.xml", b"<workbook/>"),
        (
            "xl/sharedStrings.xml",
            format!("<sst>{sst}</sst>").as_bytes(),
        ),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

/// A PDF with a Flate content stream of about `size` bytes of text operators.
fn pdf(size: usize) -> Vec<u8> {
    let mut ops = String::from("BT /F1 11 Tf 14 TL 56 780 Td\n");
    let mut i = 0;
    while ops.len() < size {
        let s = SENTENCES[i % SENTENCES.len()];
        let (a, b) = s.split_at(s.len() / 2);
        ops.push_str(&format!("[({a}) -12 ({b})] TJ T*\n"));
        i += 1;
    }
    ops.push_str("ET");
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(ops.as_bytes()).expect("deflate");
    let body = e.finish().expect("deflate");
    let mut out = b"%PDF-1.5\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    out.extend_from_slice(
        format!(
            "4 0 obj << /Length {} /Filter /FlateDecode >>\nstream\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
    out
}

/// A gzip-compressed tar with one CSV of about `size` bytes.
fn tar_gz(size: usize) -> Vec<u8> {
    let mut csv = String::from("naam;groep;telefoon\n");
    while csv.len() < size {
        csv.push_str("Emma de Vries;6;0612345678\n");
    }
    let mut header = [0u8; 512];
    header[..13].copy_from_slice(b"klaslijst.csv");
    header[100..108].copy_from_slice(b"0000644\0");
    header[124..135].copy_from_slice(format!("{:011o}", csv.len()).as_bytes());
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(csv.as_bytes());
    tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&tar).expect("gzip");
    e.finish().expect("gzip")
}

fn bench_documents(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("extract");
    group.sample_size(20);
    for (name, data, kind) in [
        ("docx-1MB-xml", docx(1 << 20), DocKind::Office),
        ("xlsx-1MB-xml", xlsx(1 << 20), DocKind::Office),
        ("pdf-1MB-content", pdf(1 << 20), DocKind::Pdf),
    ] {
        // Throughput per MB of the document as mailed (the compressed file).
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| extract(&data, kind, &limits, limits.extract_max_text_bytes))
        });
    }
    let tgz = tar_gz(1 << 20);
    group.throughput(Throughput::Bytes(tgz.len() as u64));
    group.bench_function("tar-gz-1MB-walk", |b| {
        b.iter(|| {
            walk(&tgz, Some("lijst.tar.gz"), &limits, &mut |m| {
                std::hint::black_box(m.content.map(<[u8]>::len));
            })
        })
    });
    group.finish();
}

/// A realistic mail: a short letter with a 40 KB report (docx), a 60 KB scanned-letter PDF and a pupil list.
fn realistic_message() -> Vec<u8> {
    let b64 = |d: &[u8]| {
        let s = base64::engine::general_purpose::STANDARD.encode(d);
        s.as_bytes()
            .chunks(76)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    let parts = [
        (
            "verslag.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            docx(400_000),
        ),
        ("brief.pdf", "application/pdf", pdf(300_000)),
        (
            "cijfers.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            xlsx(60_000),
        ),
    ];
    let mut raw = String::from(
        "From: Marieke Jansen <m.jansen@school.example>\r\nTo: Peter Bakker <p.bakker@example.org>\r\n\
         Subject: Stukken MR\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHoi Peter,\r\n\r\nHierbij de stukken voor de MR.\r\n\r\nMarieke\r\n",
    );
    for (name, ctype, data) in parts {
        raw.push_str(&format!(
            "--b1\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n{}\r\n",
            b64(&data)
        ));
    }
    raw.push_str("--b1--\r\n");
    raw.into_bytes()
}

fn bench_message(c: &mut Criterion) {
    let (engine, runtime) = support::engine();
    let raw = realistic_message();
    let envelope =
        Envelope::from_headers(&mailwacht::message::analyse(&raw, &engine.limits).headers);
    let mut group = c.benchmark_group("message");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(raw.len() as u64));
    let name = format!("letter+docx+pdf+xlsx-{}KB", raw.len() / 1024);
    group.bench_function(BenchmarkId::new("analyse+decide", name), |b| {
        b.iter(|| runtime.block_on(engine.check(&envelope, &raw)))
    });
    group.finish();
}

criterion_group!(benches, bench_documents, bench_message);
criterion_main!(benches);
