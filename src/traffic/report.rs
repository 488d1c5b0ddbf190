//! The richer renderings of a [`Summary`]: an XLSX workbook (rust_xlsxwriter, in memory) and a
//! self-contained HTML report with inline SVG charts (volume per period by verdict, top categories) for
//! people who would rather look than read.
//!
//! Pure: no file or clock access (the CLI writes the bytes). Charts are drawn from the unsuppressed cells
//! only, so a chart can never show what the table hides (SOML/ProCon 8.2). Must not: add figures of
//! suppressed cells anywhere.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::summary::{Summary, VERDICTS};

/// An XLSX export failed (rust_xlsxwriter's message).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the xlsx workbook: {0}")]
pub struct XlsxError(String);

/// The summary as an XLSX workbook: header lines, then the table; figures as numbers.
pub fn to_xlsx(summary: &Summary) -> Result<Vec<u8>, XlsxError> {
    let err = |e: rust_xlsxwriter::XlsxError| XlsxError(e.to_string());
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("verkeersgegevens").map_err(err)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let mut row: u32 = 0;
    for h in summary.header() {
        sheet.write_string(row, 0, h).map_err(err)?;
        row += 1;
    }
    row += 1;
    for (col, name) in summary.columns().iter().enumerate() {
        let col = u16::try_from(col).unwrap_or(u16::MAX);
        sheet
            .write_string_with_format(row, col, name, &bold)
            .map_err(err)?;
    }
    for cells in summary.cells() {
        row += 1;
        for (col, cell) in cells.iter().enumerate() {
            let col = u16::try_from(col).unwrap_or(u16::MAX);
            // Period and group stay text; figures become numbers Excel can sum.
            match cell.parse::<u64>() {
                Ok(n) if col >= 2 => sheet.write_number(row, col, n as f64).map_err(err)?,
                _ => sheet.write_string(row, col, cell).map_err(err)?,
            };
        }
    }
    sheet.autofit();
    book.save_to_buffer().map_err(err)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Bar colours per verdict.
const COLOURS: [&str; 4] = ["#4c9a2a", "#d9822b", "#c23030", "#8a8a8a"];

/// Messages per period and verdict, from unsuppressed cells only.
fn volume(summary: &Summary) -> BTreeMap<String, [u64; 4]> {
    let mut out: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for (row, cells) in summary.rows.iter().zip(summary.cells()) {
        let Some(c) = &row.counts else { continue };
        let label = cells.first().cloned().unwrap_or_default();
        let slot = out.entry(label).or_default();
        for (i, v) in VERDICTS.iter().enumerate() {
            slot[i] += c.verdicts.get(*v).copied().unwrap_or(0);
        }
    }
    out
}

/// Messages per category over the whole summary, from unsuppressed cells only, largest first (top 10).
fn top_categories(summary: &Summary) -> Vec<(String, u64)> {
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for row in &summary.rows {
        if let Some(c) = &row.counts {
            for (cat, n) in &c.categories {
                *totals.entry(cat.clone()).or_default() += n;
            }
        }
    }
    let mut v: Vec<(String, u64)> = totals.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(10);
    v
}

fn volume_svg(summary: &Summary) -> String {
    let data = volume(summary);
    let max = data
        .values()
        .map(|v| v.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (bar, gap, height) = (28u64, 10u64, 200u64);
    let width = 60 + data.len() as u64 * (bar + gap);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\" \
         aria-label=\"messages per period by verdict\">",
        height + 90
    );
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"12\" font-size=\"11\">max {max}</text>\
         <line x1=\"50\" y1=\"{}\" x2=\"{width}\" y2=\"{}\" stroke=\"#333\"/>",
        height + 20,
        height + 20
    );
    for (i, (label, counts)) in data.iter().enumerate() {
        let x = 55 + i as u64 * (bar + gap);
        let mut y = height + 20;
        for (v, n) in counts.iter().enumerate() {
            let h = n * height / max;
            if h == 0 {
                continue;
            }
            y -= h;
            let _ = write!(
                svg,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\" fill=\"{}\"><title>{} {}: {n}</title></rect>",
                COLOURS[v],
                escape(label),
                VERDICTS[v]
            );
        }
        let _ = write!(
            svg,
            "<text transform=\"translate({},{}) rotate(60)\" font-size=\"10\">{}</text>",
            x + 4,
            height + 26,
            escape(label)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn categories_svg(summary: &Summary) -> String {
    let data = top_categories(summary);
    if data.is_empty() {
        return "<p>No rule categories in the unsuppressed cells.</p>".into();
    }
    let max = data.first().map_or(1, |d| d.1.max(1));
    let row = 22u64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"520\" height=\"{}\" role=\"img\" \
         aria-label=\"top categories\">",
        data.len() as u64 * row + 10
    );
    for (i, (cat, n)) in data.iter().enumerate() {
        let y = 5 + i as u64 * row;
        let w = n * 300 / max;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>\
             <rect x=\"160\" y=\"{y}\" width=\"{w}\" height=\"16\" fill=\"#2b6cb0\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{n}</text>",
            y + 12,
            escape(cat),
            165 + w,
            y + 12
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A self-contained HTML report: header (k, retention), two charts, the table.
pub fn to_html(summary: &Summary) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"nl\"><head><meta charset=\"utf-8\">\
         <title>mailwacht verkeersgegevens</title><style>\
         body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:12px}\
         td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:nth-child(-n+2){text-align:left}\
         .s{color:#999;font-style:italic}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}\
         </style></head><body>\n<h1>Verkeersgegevens</h1>\n",
    );
    for h in summary.header() {
        let _ = writeln!(html, "<p>{}</p>", escape(&h));
    }
    html.push_str("<h2>Volume by verdict</h2>\n<p class=\"legend\">");
    for (v, c) in VERDICTS.iter().zip(COLOURS) {
        let _ = write!(html, "<span style=\"background:{c}\"></span>{v}");
    }
    html.push_str("</p>\n");
    html.push_str(&volume_svg(summary));
    html.push_str("\n<p><small>Charts use only the cells that are not suppressed.</small></p>\n");
    html.push_str("<h2>Top categories</h2>\n");
    html.push_str(&categories_svg(summary));
    html.push_str("\n<h2>Table</h2>\n<table><tr>");
    for c in summary.columns() {
        let _ = write!(html, "<th>{}</th>", escape(&c));
    }
    html.push_str("</tr>\n");
    for (row, cells) in summary.rows.iter().zip(summary.cells()) {
        html.push_str("<tr>");
        for (i, c) in cells.iter().enumerate() {
            let class = if row.counts.is_none() && i >= 2 {
                " class=\"s\""
            } else {
                ""
            };
            let _ = write!(html, "<td{class}>{}</td>", escape(c));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::summary::{summarize, Group, Period};
    use crate::traffic::{Record, DAY};

    fn rec(time: u64, sender: &str, verdict: &str, cats: &[&str], size: u64) -> Record {
        Record {
            time,
            sender: sender.into(),
            sender_domain: "school.example".into(),
            rcpt_local: 0,
            rcpt_external: 1,
            rcpt_domains: vec![],
            size,
            attachments: 0,
            verdict: verdict.into(),
            categories: cats.iter().map(|c| c.to_string()).collect(),
            exempt: None,
        }
    }

    fn sample() -> Summary {
        // Day 0: ten senders, five bounced for "pesten". Day 1: one sender (suppressed) with "geheim".
        let mut r: Vec<Record> = (0..10)
            .map(|i| {
                let (v, c): (&str, &[&str]) = if i < 5 {
                    ("bounce", &["pesten"])
                } else {
                    ("pass", &[])
                };
                rec(i, &format!("s{i}"), v, c, 100)
            })
            .collect();
        r.push(rec(
            DAY + 1,
            "lonely",
            "bounce",
            &["geheim<script>"],
            777_777,
        ));
        summarize(&r, 0, 2 * DAY, Period::Day, Group::Domain, 5, 28)
    }

    #[test]
    fn html_is_self_contained_with_charts_and_never_shows_suppressed_figures() {
        let html = to_html(&sample());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(
            !html.contains("src=") && !html.contains("href="),
            "no external resources"
        );
        assert!(html.contains("fewer than 5 distinct senders") && html.contains("kept 28 days"));
        assert!(html.contains("pesten"));
        // The suppressed day's category and size appear nowhere, not even in a chart.
        assert!(
            !html.contains("geheim") && !html.contains("777777"),
            "{html}"
        );
        assert!(html.contains("suppressed (&lt;5)"));
    }

    #[test]
    fn charts_count_unsuppressed_cells_only() {
        let v = volume(&sample());
        assert_eq!(v.len(), 1);
        assert_eq!(v.get("1970-01-01"), Some(&[5, 5, 0, 0]));
        assert_eq!(top_categories(&sample()), vec![("pesten".to_string(), 5)]);
    }

    #[test]
    fn xlsx_is_a_zip_workbook() {
        let bytes = to_xlsx(&sample()).expect("xlsx");
        assert!(bytes.starts_with(b"PK"), "an xlsx file is a zip archive");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
        let mut sheet = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/worksheets/sheet1.xml").expect("sheet"),
            &mut sheet,
        )
        .expect("read");
        let mut strings = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/sharedStrings.xml").expect("strings"),
            &mut strings,
        )
        .expect("read");
        assert!(strings.contains("fewer than 5 distinct senders"));
        assert!(strings.contains("suppressed (&lt;5)") || strings.contains("suppressed (<5)"));
        assert!(!sheet.contains("777777") && !strings.contains("geheim"));
    }
}
