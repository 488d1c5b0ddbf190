//! The richer renderings of a [`Summary`]: an XLSX workbook (rust_xlsxwriter, in memory) and a
//! self-contained HTML report with inline SVG charts (volume per period by verdict, top categories) for
//! people who would rather look than read.
//!
//! Pure: no file or clock access (the CLI writes the bytes). Tables and charts are drawn from the
//! summary's releases, which hold shown figures only, so a chart can never show what a table hides
//! (SOML/ProCon 8.2). Must not: take figures from anywhere but [`Summary::table`] and the releases.

use std::fmt::Write as _;

use super::summary::{row_text, Figure, Summary, VERDICTS};

/// An XLSX export failed (rust_xlsxwriter's message).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the xlsx workbook: {0}")]
pub struct XlsxError(String);

/// The summary as an XLSX workbook: header lines, then the table; shown figures as numbers, suppressed ones
/// as the text `x`. The workbook's creation date is the end of the last period, so the same summary always
/// gives the same bytes.
pub fn to_xlsx(summary: &Summary) -> Result<Vec<u8>, XlsxError> {
    let err = |e: rust_xlsxwriter::XlsxError| XlsxError(e.to_string());
    let mut book = rust_xlsxwriter::Workbook::new();
    let created = summary.releases.last().map_or(0, |r| r.period.end);
    let created =
        rust_xlsxwriter::ExcelDateTime::from_timestamp(i64::try_from(created).unwrap_or(0))
            .map_err(err)?;
    book.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
    let sheet = book.add_worksheet();
    sheet.set_name("verkeersgegevens").map_err(err)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let mut row: u32 = 0;
    for h in summary.header() {
        sheet.write_string(row, 0, h).map_err(err)?;
        row += 1;
    }
    row += 1;
    let table = summary.table();
    for (col, name) in table.columns.iter().enumerate() {
        let col = u16::try_from(col).unwrap_or(u16::MAX);
        sheet
            .write_string_with_format(row, col, name, &bold)
            .map_err(err)?;
    }
    for r in &table.rows {
        row += 1;
        sheet.write_string(row, 0, &r.period).map_err(err)?;
        sheet.write_string(row, 1, &r.group).map_err(err)?;
        for (col, figure) in r.figures.iter().enumerate() {
            let col = u16::try_from(col + 2).unwrap_or(u16::MAX);
            // Figures become numbers Excel can sum; a suppressed one stays the text marker.
            match figure {
                Figure::Shown(n) => sheet.write_number(row, col, *n as f64).map_err(err)?,
                Figure::Suppressed => sheet.write_string(row, col, figure.text()).map_err(err)?,
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

/// Messages per period by verdict, from the shown cells of the releases.
fn volume_svg(summary: &Summary) -> String {
    let data = summary.verdict_volume();
    let max = data
        .iter()
        .map(|(_, v)| v.iter().sum::<u64>())
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

/// The ten largest category counts over all periods, from the shown counts of the releases.
fn categories_svg(summary: &Summary) -> String {
    let mut data = summary.category_totals();
    data.truncate(10);
    if data.is_empty() {
        return "<p>No rule category has a count that may be shown.</p>".into();
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
    html.push_str("\n<p><small>Charts use only the figures that are shown.</small></p>\n");
    html.push_str("<h2>Top categories</h2>\n");
    html.push_str(&categories_svg(summary));
    html.push_str("\n<h2>Table</h2>\n<table><tr>");
    let table = summary.table();
    for c in &table.columns {
        let _ = write!(html, "<th>{}</th>", escape(c));
    }
    html.push_str("</tr>\n");
    for row in &table.rows {
        html.push_str("<tr>");
        for (i, c) in row_text(row).iter().enumerate() {
            let suppressed = i >= 2 && row.figures.get(i - 2) == Some(&Figure::Suppressed);
            let class = if suppressed { " class=\"s\"" } else { "" };
            let _ = write!(html, "<td{class}>{}</td>", escape(c));
        }
        html.push_str("</tr>\n");
    }
    if table.rows.is_empty() {
        html.push_str("<tr><td colspan=\"2\">nothing to show: no figure in these periods has enough senders</td></tr>\n");
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::summary::tests::{rec, MON};
    use crate::traffic::summary::{release, Group, Unit};
    use crate::traffic::{Record, DAY};

    fn sample() -> Summary {
        // Day 0: ten senders, five bounced for "pesten". Day 1: one sender (suppressed) with "geheim".
        let mut r: Vec<Record> = (0..10)
            .map(|i| {
                let (v, c): (&str, &[&str]) = if i < 5 {
                    ("bounce", &["pesten"])
                } else {
                    ("pass", &[])
                };
                rec(MON + i, &format!("s{i}"), "school.example", v, c, 100)
            })
            .collect();
        r.push(rec(
            MON + DAY + 1,
            "lonely",
            "school.example",
            "bounce",
            &["geheim<script>"],
            777_777,
        ));
        let releases = [MON, MON + DAY]
            .into_iter()
            .map(|t| release(&r, Unit::Day, Unit::Day.period_of(t), 5))
            .collect();
        Summary::new(Unit::Day, Group::Domain, 5, 28, releases)
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
        assert!(html.contains("<td class=\"s\">x</td>"));
    }

    #[test]
    fn charts_count_shown_figures_only() {
        let s = sample();
        assert_eq!(
            s.verdict_volume(),
            vec![
                ("2026-11-02".to_string(), [5, 5, 0, 0]),
                ("2026-11-03".to_string(), [0, 0, 0, 0])
            ]
        );
        assert_eq!(s.category_totals(), vec![("pesten".to_string(), 5)]);
    }

    #[test]
    fn xlsx_is_a_zip_workbook_and_the_same_summary_gives_the_same_bytes() {
        let bytes = to_xlsx(&sample()).expect("xlsx");
        assert!(bytes.starts_with(b"PK"), "an xlsx file is a zip archive");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(to_xlsx(&sample()).expect("xlsx"), bytes);
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
        assert!(strings.contains("<t>x</t>"), "{strings}");
        assert!(!sheet.contains("777777") && !strings.contains("geheim"));
    }
}
