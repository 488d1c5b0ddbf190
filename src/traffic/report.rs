//! The richer renderings of a [`Summary`]: an XLSX workbook (rust_xlsxwriter, in memory) and a
//! self-contained HTML report with inline SVG charts (volume per period by verdict, top categories) for
//! people who would rather look than read.
//!
//! Both are in Dutch for the board and its auditors: Dutch column names, the periods in Europe/Amsterdam
//! time, the organisation's name and the day the report was made (passed in).
//!
//! Pure: no file or clock access (the CLI writes the bytes and passes the time). Tables and charts are drawn from the
//! summary's releases, which hold shown figures only, so a chart can never show what a table hides
//! (SOML/ProCon 8.2). Must not: take figures from anywhere but [`Summary::table`] and the releases.

use std::fmt::Write as _;

use super::summary::{row_text, Figure, Group, Summary, Unit, SUPPRESSED, TOTAL, VERDICTS};

/// Dutch names of the verdicts, in [`VERDICTS`] order.
const VERDICTS_NL: [&str; 4] = [
    "doorgelaten",
    "teruggestuurd",
    "in quarantaine",
    "tijdelijk geweigerd",
];

/// A column of [`Summary::table`] in Dutch (also the CSV's and the terminal table's column names; JSON keeps
/// the English names as stable keys).
pub(crate) fn column_nl(name: &str, group: Group) -> String {
    if let Some(category) = name.strip_prefix("cat:") {
        return format!("categorie {category}");
    }
    if let Some(i) = VERDICTS.iter().position(|v| *v == name) {
        return VERDICTS_NL[i].to_string();
    }
    match name {
        "period" => "periode".into(),
        "group" => match group {
            Group::Domain => "afzenderdomein".into(),
            Group::Verdict => "uitkomst".into(),
            Group::Category => "regelcategorie".into(),
            Group::DomainVerdict => "afzenderdomein/uitkomst".into(),
        },
        "messages" => "berichten".into(),
        "bytes" => "bytes".into(),
        "rcpt_local" => "ontvangers intern".into(),
        "rcpt_external" => "ontvangers extern".into(),
        other => other.into(),
    }
}

/// A row label in Dutch: verdicts and the total translated, domains and categories as they are.
pub(crate) fn label_nl(label: &str) -> String {
    if label == TOTAL {
        return "(totaal)".into();
    }
    let (domain, verdict) = match label.rsplit_once('/') {
        Some((d, v)) => (Some(d), v),
        None => (None, label),
    };
    match (domain, VERDICTS.iter().position(|v| *v == verdict)) {
        (Some(d), Some(i)) => format!("{d}/{}", VERDICTS_NL[i]),
        (None, Some(i)) => VERDICTS_NL[i].to_string(),
        _ => label.to_string(),
    }
}

/// The zone the board reads times in.
fn amsterdam() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap_or(jiff::tz::TimeZone::UTC)
}

/// `time` (seconds since the epoch) in Europe/Amsterdam as `format` (strftime).
fn local(time: u64, format: &str) -> String {
    i64::try_from(time)
        .ok()
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map(|t| {
            t.to_zoned_datetime(amsterdam())
                .strftime(format)
                .to_string()
        })
        .unwrap_or_default()
}

/// The Dutch header lines of the HTML report and the workbook: whose, which periods (Europe/Amsterdam),
/// when made, what suppression means, what is summarised.
fn header_nl(summary: &Summary, made: u64) -> Vec<String> {
    let organisation = if summary.organisation.is_empty() {
        "(organisatie niet ingesteld)"
    } else {
        summary.organisation.as_str()
    };
    let periods: Vec<String> = summary
        .releases
        .iter()
        .map(|r| {
            let what = match summary.unit {
                Unit::Week => "week",
                Unit::Day => "dag",
            };
            format!(
                "{what} {} ({} t/m {})",
                r.label,
                local(r.period.start, "%d-%m-%Y %H:%M"),
                local(r.period.end, "%d-%m-%Y %H:%M")
            )
        })
        .collect();
    vec![
        format!("Verkeersgegevens e-mail — {organisation}"),
        format!(
            "Periode (tijden in Europe/Amsterdam): {}",
            if periods.is_empty() {
                "geen afgeronde periode".to_string()
            } else {
                periods.join("; ")
            }
        ),
        format!("Gemaakt op {}.", local(made, "%d-%m-%Y")),
        format!(
            "{SUPPRESSED} = onderdrukt: minder dan {} verschillende afzenders droegen eraan bij, of één of twee \
             afzenders maken er bijna alles van uit (p%-regel, p = {}); onderdrukte cijfers tellen nergens \
             mee, ook niet in totalen en grafieken, en hun rijen worden niet genoemd.",
            summary.k, summary.dominance_percent
        ),
        format!(
            "Alleen hele, afgeronde perioden worden samengevat. Verkeersgegevens worden {} dagen bewaard \
             (WereldKidz 6.7); cijfers zijn geaggregeerd (SOML/ProCon 8.2).",
            summary.retention_days
        ),
    ]
}

/// An XLSX export failed (rust_xlsxwriter's message).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the xlsx workbook: {0}")]
pub struct XlsxError(String);

/// The summary as an XLSX workbook in Dutch: header lines, then the table; shown figures as numbers,
/// suppressed ones as the text `x`. `made` is the day named as made. The workbook's creation date is the
/// end of the last period, so the same summary on the same day always gives the same bytes.
pub fn to_xlsx(summary: &Summary, made: u64) -> Result<Vec<u8>, XlsxError> {
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
    for (i, h) in header_nl(summary, made).iter().enumerate() {
        if i == 0 {
            sheet
                .write_string_with_format(row, 0, h, &bold)
                .map_err(err)?;
        } else {
            sheet.write_string(row, 0, h).map_err(err)?;
        }
        row += 1;
    }
    row += 1;
    let table = summary.table();
    for (col, name) in table.columns.iter().enumerate() {
        let col = u16::try_from(col).unwrap_or(u16::MAX);
        sheet
            .write_string_with_format(row, col, column_nl(name, summary.group), &bold)
            .map_err(err)?;
    }
    for r in &table.rows {
        row += 1;
        sheet.write_string(row, 0, &r.period).map_err(err)?;
        sheet
            .write_string(row, 1, label_nl(&r.group))
            .map_err(err)?;
        for (col, figure) in r.figures.iter().enumerate() {
            let col = u16::try_from(col + 2).unwrap_or(u16::MAX);
            // Figures become numbers Excel can sum; a suppressed one stays the text marker.
            match figure {
                Figure::Shown(n) => sheet.write_number(row, col, *n as f64).map_err(err)?,
                Figure::Suppressed => sheet.write_string(row, col, figure.text()).map_err(err)?,
            };
        }
    }
    // Column widths for the table only: the long header lines stay on one line each.
    sheet.set_column_width(0, 14).map_err(err)?;
    sheet.set_column_width(1, 28).map_err(err)?;
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

/// The height of the volume chart's legend, and the width it needs.
const LEGEND_HEIGHT: u64 = 24;
const LEGEND_WIDTH: u64 = 560;

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
    let width = (60 + data.len() as u64 * (bar + gap)).max(LEGEND_WIDTH);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\" \
         aria-label=\"berichten per periode naar uitkomst\">",
        height + 90 + LEGEND_HEIGHT
    );
    // The legend inside the chart (no style attribute, so a strict Content-Security-Policy shows it).
    for (i, (v, c)) in VERDICTS_NL.iter().zip(COLOURS).enumerate() {
        let x = i as u64 * 140;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"2\" width=\"12\" height=\"12\" fill=\"{c}\"/>\
             <text x=\"{}\" y=\"12\" font-size=\"11\">{v}</text>",
            x + 16
        );
    }
    let _ = write!(svg, "<g transform=\"translate(0,{LEGEND_HEIGHT})\">");
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
                VERDICTS_NL[v]
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
    svg.push_str("</g></svg>");
    svg
}

/// The ten largest category counts over all periods, from the shown counts of the releases.
fn categories_svg(summary: &Summary) -> String {
    let mut data = summary.category_totals();
    data.truncate(10);
    if data.is_empty() {
        return "<p>Geen regelcategorie heeft een aantal dat getoond mag worden.</p>".into();
    }
    let max = data.first().map_or(1, |d| d.1.max(1));
    let row = 22u64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"520\" height=\"{}\" role=\"img\" \
         aria-label=\"meest voorkomende categorieën\">",
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

/// The two charts under their Dutch headings: inline SVG with no script and no style attribute, so the
/// HTML report and the web console's traffic page (strict Content-Security-Policy) show the same charts.
pub fn charts_html(summary: &Summary) -> String {
    let mut html = String::from("<h2>Berichten per periode naar uitkomst</h2>\n");
    html.push_str(&volume_svg(summary));
    html.push_str("\n<p><small>De grafieken tellen alleen getoonde cijfers.</small></p>\n");
    html.push_str("<h2>Meest voorkomende regelcategorieën</h2>\n");
    html.push_str(&categories_svg(summary));
    html.push('\n');
    html
}

/// A self-contained HTML report in Dutch: header (organisation, periods, day made, k, retention), two
/// charts, the table. Fits a 1,280-pixel screen and prints on A4. `made` is the day named as made.
pub fn to_html(summary: &Summary, made: u64) -> String {
    let header = header_nl(summary, made);
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"nl\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>\
         body{{font-family:sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}}\
         table{{border-collapse:collapse;font-size:12px;max-width:100%}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}td:nth-child(-n+2),th:nth-child(-n+2){{text-align:left}}\
         svg{{max-width:100%;height:auto}}\
         .s{{color:#999;font-style:italic}}\
         @page{{size:A4;margin:15mm}}@media print{{body{{margin:0;max-width:none}}h2{{break-after:avoid}}tr{{break-inside:avoid}}}}\
         </style></head><body>\n<h1>{}</h1>\n",
        escape(&header[0]),
        escape(&header[0])
    );
    for h in &header[1..] {
        let _ = writeln!(html, "<p>{}</p>", escape(h));
    }
    html.push_str(&charts_html(summary));
    html.push_str("<h2>Tabel</h2>\n<table><tr>");
    let table = summary.table();
    for c in &table.columns {
        let _ = write!(html, "<th>{}</th>", escape(&column_nl(c, summary.group)));
    }
    html.push_str("</tr>\n");
    for row in &table.rows {
        html.push_str("<tr>");
        for (i, c) in row_text(row).iter().enumerate() {
            let suppressed = i >= 2 && row.figures.get(i - 2) == Some(&Figure::Suppressed);
            let class = if suppressed { " class=\"s\"" } else { "" };
            let text = if i == 1 { label_nl(c) } else { c.clone() };
            let _ = write!(html, "<td{class}>{}</td>", escape(&text));
        }
        html.push_str("</tr>\n");
    }
    if table.rows.is_empty() {
        html.push_str("<tr><td colspan=\"2\">niets te tonen: geen cijfer in deze perioden heeft genoeg afzenders</td></tr>\n");
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
        // A one-person vanity domain on day 0: a person, so its row is never named.
        r.push(rec(
            MON + 20,
            "ik",
            "familie-jansen.example",
            "pass",
            &[],
            5,
        ));
        let releases = [MON, MON + DAY]
            .into_iter()
            .map(|t| release(&r, Unit::Day, Unit::Day.period_of(t), 5))
            .collect();
        let mut summary = Summary::new(Unit::Day, Group::Domain, 5, 28, releases);
        summary.organisation = "Stichting Testscholen".into();
        summary
    }

    /// 2026-12-01 12:00 UTC: the day the reports say they were made.
    const MADE: u64 = 1_796_126_400;

    #[test]
    fn html_is_self_contained_with_charts_and_never_shows_suppressed_figures() {
        let html = to_html(&sample(), MADE);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(
            !html.contains("src=") && !html.contains("href="),
            "no external resources"
        );
        assert!(
            html.contains("minder dan 5 verschillende afzenders")
                && html.contains("28 dagen bewaard"),
            "{html}"
        );
        assert!(html.contains("pesten"));
        assert!(
            !html.contains("familie-jansen"),
            "a lone sender's domain is named"
        );
        // The suppressed day's category and size appear nowhere, not even in a chart.
        assert!(
            !html.contains("geheim") && !html.contains("777777"),
            "{html}"
        );
        assert!(html.contains("<td class=\"s\">x</td>"));
    }

    /// The charts mean the same whatever the table's grouping (issue 15): both are drawn from the base
    /// cells, never from the grouped rows, so every grouping draws the very same two charts.
    #[test]
    fn the_charts_do_not_change_with_the_grouping() {
        let charts = |group: Group| {
            let mut summary = sample();
            summary.group = group;
            (volume_svg(&summary), categories_svg(&summary))
        };
        let by_domain = charts(Group::Domain);
        assert!(by_domain.1.contains("pesten"), "{}", by_domain.1);
        for group in Group::ALL {
            assert_eq!(charts(group), by_domain, "{}", group.name());
        }
    }

    #[test]
    fn html_is_dutch_with_organisation_period_and_day_made() {
        let html = to_html(&sample(), MADE);
        for text in [
            "<html lang=\"nl\">",
            "<h1>Verkeersgegevens e-mail — Stichting Testscholen</h1>",
            "Periode (tijden in Europe/Amsterdam): dag 2026-11-02 (02-11-2026 01:00 t/m 03-11-2026 01:00)",
            "Gemaakt op 01-12-2026.",
            "<h2>Tabel</h2>",
            "<th>periode</th><th>afzenderdomein</th><th>berichten</th>",
            "<td>(totaal)</td>",
            "max-width:1200px",
            "@page{size:A4",
        ] {
            assert!(html.contains(text), "{text} missing: {html}");
        }
        assert!(
            !html.contains("messages") && !html.contains("(total)"),
            "{html}"
        );
    }

    #[test]
    fn csv_cells_cannot_be_formulas() {
        use crate::traffic::summary::csv_field;
        for (cell, want) in [
            ("=1+1", "'=1+1"),
            ("+31 20", "'+31 20"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "\"'\rx\""),
            (
                "=HYPERLINK(\"http://e\";\"x\")",
                "\"'=HYPERLINK(\"\"http://e\"\";\"\"x\"\")\"",
            ),
            ("school.example", "school.example"),
            ("a;b", "\"a;b\""),
        ] {
            assert_eq!(csv_field(cell), want, "{cell:?}");
        }
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
        let bytes = to_xlsx(&sample(), MADE).expect("xlsx");
        assert!(bytes.starts_with(b"PK"), "an xlsx file is a zip archive");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(to_xlsx(&sample(), MADE).expect("xlsx"), bytes);
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
        assert!(strings.contains("minder dan 5 verschillende afzenders"));
        assert!(strings.contains("<t>x</t>"), "{strings}");
        assert!(!sheet.contains("777777") && !strings.contains("geheim"));
        // Dutch: columns, organisation, the period in Amsterdam time, the day made.
        for text in [
            "Verkeersgegevens e-mail — Stichting Testscholen",
            "<t>afzenderdomein</t>",
            "<t>berichten</t>",
            "<t>teruggestuurd</t>",
            "<t>(totaal)</t>",
            "dag 2026-11-02 (02-11-2026 01:00 t/m 03-11-2026 01:00)",
            "Gemaakt op 01-12-2026.",
        ] {
            assert!(strings.contains(text), "{text} missing: {strings}");
        }
        assert!(!strings.contains("familie-jansen"));
    }
}
