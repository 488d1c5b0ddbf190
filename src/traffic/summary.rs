//! Aggregated summaries for auditors (SOML/ProCon 8.2, Uniek 3.2.5b; WereldKidz 8.7/8.8: time, amount, size).
//!
//! [`summarize`] is a pure function from records to a table of period × group cells; any cell involving fewer
//! than *k* distinct senders (pseudonyms) is suppressed, so no figure can be traced to a person. The
//! renderers ([`Summary::to_table`], [`Summary::to_csv`], [`Summary::to_json`]) are pure too and state *k*
//! and the retention period in their header. Must not: read the store, the clock or any address.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Record, DAY};

/// The verdicts, in column order.
pub const VERDICTS: [&str; 4] = ["pass", "bounce", "quarantine", "tempfail"];

/// How records are put in periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Hour,
    Day,
    /// ISO weeks, Monday to Sunday (UTC).
    Week,
}

impl Period {
    /// The start of the period `time` falls in.
    pub fn start(self, time: u64) -> u64 {
        match self {
            Period::Hour => time - time % 3600,
            Period::Day => time - time % DAY,
            // 1970-01-01 was a Thursday: three days after a Monday.
            Period::Week => {
                let day = time / DAY;
                day.saturating_sub((day + 3) % 7) * DAY
            }
        }
    }
}

/// What the rows within a period are split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// The sender's domain.
    Domain,
    /// The verdict.
    Verdict,
    /// Rule category (a message with two categories counts in both; none: `-`).
    Category,
}

/// The figures of one cell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub messages: u64,
    pub bytes: u64,
    pub rcpt_local: u64,
    pub rcpt_external: u64,
    /// Messages per verdict.
    pub verdicts: BTreeMap<String, u64>,
    /// Messages per rule category.
    pub categories: BTreeMap<String, u64>,
    /// Figures inside a shown cell that involve fewer than k distinct senders: verdict names, `cat:NAME`,
    /// `rcpt_local`, `rcpt_external`. Their counts are left out (zero) above and shown as suppressed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<String>,
}

/// One cell: a period and a group, with its figures or suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// Period start, seconds since the epoch.
    pub period: u64,
    pub group: String,
    /// `None`: fewer than k distinct senders, suppressed.
    pub counts: Option<Counts>,
}

/// A whole summary with the facts its header states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub from: u64,
    pub to: u64,
    pub by: Period,
    pub group: Group,
    pub k: u64,
    pub retention_days: u64,
    pub rows: Vec<Row>,
}

/// Aggregate `records` (those with `from <= time < to`) per period × group with k-suppression.
pub fn summarize(
    records: &[Record],
    from: u64,
    to: u64,
    by: Period,
    group: Group,
    k: u64,
    retention_days: u64,
) -> Summary {
    /// Per cell: figures, distinct senders, and distinct senders per verdict / category (`cat:` prefix).
    type Cell<'a> = (
        Counts,
        BTreeSet<&'a str>,
        BTreeMap<String, BTreeSet<&'a str>>,
    );
    let mut cells: BTreeMap<(u64, String), Cell> = BTreeMap::new();
    for r in records.iter().filter(|r| r.time >= from && r.time < to) {
        let groups: Vec<String> = match group {
            Group::Domain => vec![r.sender_domain.clone()],
            Group::Verdict => vec![r.verdict.clone()],
            Group::Category if r.categories.is_empty() => vec!["-".into()],
            Group::Category => r.categories.clone(),
        };
        for g in groups {
            let (c, senders, parts) = cells.entry((by.start(r.time), g)).or_default();
            senders.insert(&r.sender);
            parts
                .entry(r.verdict.clone())
                .or_default()
                .insert(&r.sender);
            for (name, n) in [
                ("rcpt_local", r.rcpt_local),
                ("rcpt_external", r.rcpt_external),
            ] {
                if n > 0 {
                    parts.entry(name.into()).or_default().insert(&r.sender);
                }
            }
            for cat in &r.categories {
                parts
                    .entry(format!("cat:{cat}"))
                    .or_default()
                    .insert(&r.sender);
            }
            c.messages += 1;
            c.bytes += r.size;
            c.rcpt_local += u64::from(r.rcpt_local);
            c.rcpt_external += u64::from(r.rcpt_external);
            *c.verdicts.entry(r.verdict.clone()).or_default() += 1;
            for cat in &r.categories {
                *c.categories.entry(cat.clone()).or_default() += 1;
            }
        }
    }
    let rows = cells
        .into_iter()
        .map(|((period, group), (mut counts, senders, parts))| {
            // A figure inside a cell is itself a cell: a verdict or category count that involves fewer
            // than k senders would point at them (e.g. "2 bounces" among 40 senders).
            for (name, who) in parts {
                if (who.len() as u64) < k {
                    match (name.as_str(), name.strip_prefix("cat:")) {
                        (_, Some(cat)) => {
                            counts.categories.remove(cat);
                        }
                        ("rcpt_local", _) => counts.rcpt_local = 0,
                        ("rcpt_external", _) => counts.rcpt_external = 0,
                        _ => {
                            counts.verdicts.remove(&name);
                        }
                    }
                    counts.suppressed.push(name);
                }
            }
            // Secondary suppression: the verdicts add up to `messages`, so one hidden verdict could be
            // computed from the others; hide them all. (Categories overlap and do not add up.)
            if counts
                .suppressed
                .iter()
                .any(|n| VERDICTS.contains(&n.as_str()))
            {
                let rest: Vec<String> = counts.verdicts.keys().cloned().collect();
                counts.verdicts.clear();
                counts.suppressed.extend(rest);
                counts.suppressed.sort();
            }
            Row {
                period,
                group,
                counts: (senders.len() as u64 >= k).then_some(counts),
            }
        })
        .collect();
    Summary {
        from,
        to,
        by,
        group,
        k,
        retention_days,
        rows,
    }
}

/// `YYYY-MM-DD` (UTC) of a time in seconds since the epoch.
pub fn date(time: u64) -> String {
    stamp(time, false)
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM` (UTC).
pub fn stamp(time: u64, with_time: bool) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(time).unwrap_or(i64::MAX))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
    if with_time {
        format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", t.hour(), t.minute())
    } else {
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// A date that is not `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a date (YYYY-MM-DD)")]
pub struct DateError(pub String);

/// The start (00:00 UTC) of a `YYYY-MM-DD` date, in seconds since the epoch.
pub fn parse_date(text: &str) -> Result<u64, DateError> {
    let bad = || DateError(text.to_string());
    let mut parts = text.trim().split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let y: i32 = y.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    let d: u8 = d.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(m).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(y, month, d).map_err(|_| bad())?;
    let secs = date.midnight().assume_utc().unix_timestamp();
    u64::try_from(secs).map_err(|_| bad())
}

impl Summary {
    fn period_label(&self, start: u64) -> String {
        match self.by {
            Period::Hour => stamp(start, true),
            Period::Day => date(start),
            Period::Week => format!("week of {}", date(start)),
        }
    }

    /// The header lines every format states (k and retention, SOML/ProCon 8.2, WereldKidz 6.7).
    pub fn header(&self) -> Vec<String> {
        vec![
            format!(
                "mailwacht verkeersgegevens {} through {} (UTC), per {:?} and {:?}",
                date(self.from),
                date(self.to.saturating_sub(1).max(self.from)),
                self.by,
                self.group
            )
            .to_lowercase(),
            format!(
                "k-anonymity: cells with fewer than {} distinct senders are suppressed, records are kept {} days",
                self.k, self.retention_days
            ),
        ]
    }

    /// Category names appearing in any unsuppressed cell (column order for CSV).
    fn category_columns(&self) -> Vec<String> {
        let mut set = BTreeSet::new();
        for r in &self.rows {
            if let Some(c) = &r.counts {
                set.extend(c.categories.keys().cloned());
                set.extend(
                    c.suppressed
                        .iter()
                        .filter_map(|s| s.strip_prefix("cat:"))
                        .map(str::to_string),
                );
            }
        }
        set.into_iter().collect()
    }

    pub(crate) fn columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = [
            "period",
            "group",
            "messages",
            "bytes",
            "rcpt_local",
            "rcpt_external",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cols.extend(VERDICTS.iter().map(|v| v.to_string()));
        cols.extend(
            self.category_columns()
                .into_iter()
                .map(|c| format!("cat:{c}")),
        );
        cols
    }

    /// The cells of each row as text, `suppressed` in every figure of a suppressed cell.
    pub(crate) fn cells(&self) -> Vec<Vec<String>> {
        let cats = self.category_columns();
        self.rows
            .iter()
            .map(|r| {
                let mut row = vec![self.period_label(r.period), r.group.clone()];
                match &r.counts {
                    Some(c) => {
                        let hidden = format!("suppressed (<{})", self.k);
                        row.push(c.messages.to_string());
                        row.push(c.bytes.to_string());
                        for (name, n) in [
                            ("rcpt_local", c.rcpt_local),
                            ("rcpt_external", c.rcpt_external),
                        ] {
                            row.push(if c.suppressed.iter().any(|s| s == name) {
                                hidden.clone()
                            } else {
                                n.to_string()
                            });
                        }
                        for v in VERDICTS {
                            row.push(if c.suppressed.iter().any(|s| s == v) {
                                hidden.clone()
                            } else {
                                c.verdicts.get(v).copied().unwrap_or(0).to_string()
                            });
                        }
                        for cat in &cats {
                            row.push(if c.suppressed.contains(&format!("cat:{cat}")) {
                                hidden.clone()
                            } else {
                                c.categories.get(cat).copied().unwrap_or(0).to_string()
                            });
                        }
                    }
                    None => {
                        row.extend(
                            (0..4 + VERDICTS.len() + cats.len())
                                .map(|_| format!("suppressed (<{})", self.k)),
                        );
                    }
                }
                row
            })
            .collect()
    }

    /// A plain-text table for the terminal.
    pub fn to_table(&self) -> String {
        let mut lines: Vec<Vec<String>> = vec![self.columns()];
        lines.extend(self.cells());
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l.get(i).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for h in self.header() {
            out.push_str(&format!("# {h}\n"));
        }
        for l in &lines {
            let cells: Vec<String> = l
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        if self.rows.is_empty() {
            out.push_str("(no records in this period)\n");
        }
        out
    }

    /// CSV for Dutch Excel: UTF-8 with BOM, `;` separated, the header as the first lines.
    pub fn to_csv(&self) -> String {
        let field = |s: &str| {
            if s.contains([';', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut out = String::from("\u{feff}");
        for h in self.header() {
            out.push_str(&field(&h));
            out.push_str("\r\n");
        }
        let mut lines = vec![self.columns()];
        lines.extend(self.cells());
        for l in lines {
            let l: Vec<String> = l.iter().map(|c| field(c)).collect();
            out.push_str(&l.join(";"));
            out.push_str("\r\n");
        }
        out
    }

    /// JSON: the header facts and the rows (suppressed cells have `"counts": null`).
    pub fn to_json(&self) -> String {
        let value = serde_json::json!({
            "header": self.header(),
            "k_anonymity": self.k,
            "retention_days": self.retention_days,
            "from": date(self.from),
            "to": date(self.to),
            "by": self.by,
            "group": self.group,
            "rows": self.rows.iter().map(|r| serde_json::json!({
                "period": self.period_label(r.period),
                "group": r.group,
                "suppressed": r.counts.is_none(),
                "counts": r.counts,
            })).collect::<Vec<_>>(),
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(time: u64, sender: &str, domain: &str, verdict: &str, cats: &[&str]) -> Record {
        Record {
            time,
            sender: sender.into(),
            sender_domain: domain.into(),
            rcpt_local: 1,
            rcpt_external: 2,
            rcpt_domains: vec![],
            size: 1000,
            attachments: 0,
            verdict: verdict.into(),
            categories: cats.iter().map(|c| c.to_string()).collect(),
            exempt: None,
        }
    }

    #[test]
    fn cells_under_k_distinct_senders_are_suppressed() {
        // Day 0: five senders in a.example (one sends twice); day 0: two senders in b.example.
        let mut records: Vec<Record> = (0..5)
            .map(|i| rec(10 + i, &format!("s{i}"), "a.example", "pass", &[]))
            .collect();
        records.push(rec(20, "s0", "a.example", "bounce", &["privacy"]));
        records.push(rec(30, "t0", "b.example", "pass", &[]));
        records.push(rec(31, "t1", "b.example", "pass", &[]));
        // Many messages from ONE sender stay suppressed: k counts senders, not messages.
        for i in 0..10 {
            records.push(rec(40 + i, "u0", "c.example", "pass", &[]));
        }
        let s = summarize(&records, 0, DAY, Period::Day, Group::Domain, 5, 28);
        let by: BTreeMap<&str, &Row> = s.rows.iter().map(|r| (r.group.as_str(), r)).collect();
        let a = by["a.example"].counts.as_ref().expect("a is shown");
        assert_eq!((a.messages, a.bytes, a.rcpt_external), (6, 6000, 12));
        // One sender's bounce and category inside a shown cell are suppressed figures, and with the
        // bounce all verdicts (pass = messages - bounce would give it away).
        assert!(a.verdicts.is_empty(), "{:?}", a.verdicts);
        assert_eq!(a.categories.get("privacy"), None);
        assert_eq!(a.suppressed, vec!["bounce", "cat:privacy", "pass"]);
        // Recipient counts: everyone has local and external recipients here, so both are shown.
        assert_eq!((a.rcpt_local, a.rcpt_external), (6, 12));
        let table = s.to_table();
        let a_line = table.lines().find(|l| l.contains("a.example")).unwrap();
        assert_eq!(a_line.matches("suppressed (<5)").count(), 3, "{a_line}");
        assert!(by["b.example"].counts.is_none());
        assert!(by["c.example"].counts.is_none());
        // With k = 2, b is shown.
        let s2 = summarize(&records, 0, DAY, Period::Day, Group::Domain, 2, 28);
        assert!(s2
            .rows
            .iter()
            .any(|r| r.group == "b.example" && r.counts.is_some()));
    }

    #[test]
    fn recipient_counts_of_too_few_senders_are_suppressed() {
        // Six senders; only one writes to external recipients.
        let mut records: Vec<Record> = (0..6)
            .map(|i| {
                let mut r = rec(i, &format!("s{i}"), "a.example", "pass", &[]);
                r.rcpt_external = 0;
                r
            })
            .collect();
        records[0].rcpt_external = 40;
        let s = summarize(&records, 0, DAY, Period::Day, Group::Domain, 5, 28);
        let c = s.rows[0].counts.as_ref().expect("shown");
        assert_eq!((c.rcpt_local, c.rcpt_external), (6, 0));
        assert_eq!(c.suppressed, vec!["rcpt_external"]);
        assert_eq!(c.verdicts.get("pass"), Some(&6));
        let csv = s.to_csv();
        assert!(
            csv.contains(";a.example;6;6000;6;suppressed (<5);6;"),
            "{csv}"
        );
        assert!(!csv.contains(";40"));
    }

    #[test]
    fn suppressed_cells_show_no_figures_in_any_format() {
        let records = vec![rec(5, "only", "x.example", "bounce", &["privacy"])];
        let s = summarize(&records, 0, DAY, Period::Day, Group::Verdict, 5, 28);
        let csv = s.to_csv();
        assert!(csv.contains("suppressed (<5)"), "{csv}");
        assert!(!csv.contains("1000"), "{csv}");
        assert!(!s.to_table().contains("1000"));
        assert!(!s.to_json().contains("1000"));
    }

    #[test]
    fn csv_is_for_dutch_excel() {
        let records: Vec<Record> = (0..5)
            .map(|i| rec(i, &format!("s{i}"), "a.example", "pass", &[]))
            .collect();
        let s = summarize(&records, 0, DAY, Period::Day, Group::Domain, 5, 28);
        let csv = s.to_csv();
        assert!(csv.starts_with('\u{feff}'));
        assert!(csv.contains("period;group;messages;bytes"));
        assert!(
            csv.contains("1970-01-01;a.example;5;5000;5;10;5;0;0;0"),
            "{csv}"
        );
        assert!(csv.contains("fewer than 5 distinct senders") && csv.contains("kept 28 days"));
    }

    #[test]
    fn periods_start_where_expected() {
        // 1970-01-05 was a Monday, and so is every 7th day after it.
        let monday = 4 * DAY + 70 * 7 * DAY;
        let table = [
            (Period::Hour, 3 * 3600 + 59, 3 * 3600),
            (Period::Day, DAY + 5, DAY),
            (Period::Week, monday + 6 * DAY + 5, monday),
            (Period::Week, monday + 7 * DAY, monday + 7 * DAY),
            (Period::Week, monday - 1, monday - 7 * DAY),
            // Before the first Monday after the epoch: clamped to 0, never an overflow.
            (Period::Week, 0, 0),
            (Period::Week, 2 * DAY, 0),
        ];
        for (p, t, want) in table {
            assert_eq!(p.start(t), want, "{p:?} {t}");
        }
    }

    #[test]
    fn category_groups_count_each_category_and_none() {
        let records: Vec<Record> = (0..5)
            .map(|i| rec(i, &format!("s{i}"), "a", "bounce", &["privacy", "pesten"]))
            .chain((0..5).map(|i| rec(i, &format!("s{i}"), "a", "pass", &[])))
            .collect();
        let s = summarize(&records, 0, DAY, Period::Day, Group::Category, 5, 28);
        let groups: Vec<(&str, u64)> = s
            .rows
            .iter()
            .map(|r| {
                (
                    r.group.as_str(),
                    r.counts.as_ref().map_or(0, |c| c.messages),
                )
            })
            .collect();
        assert_eq!(groups, vec![("-", 5), ("pesten", 5), ("privacy", 5)]);
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the records: every shown cell and every shown non-zero verdict, category or recipient
        /// figure involves at least k distinct senders (recomputed here from the records).
        #[test]
        fn no_shown_figure_involves_fewer_than_k_senders(
            raw in proptest::collection::vec(
                (0u64..3 * DAY, 0usize..8, 0usize..2, 0usize..3, 0u32..2, 0u32..2),
                0..80,
            ),
            k in 1u64..6,
            group in prop_oneof![Just(Group::Domain), Just(Group::Verdict), Just(Group::Category)],
        ) {
            let cats = ["pesten", "privacy"];
            let records: Vec<Record> = raw
                .iter()
                .map(|&(t, s, d, v, l, e)| {
                    let mut r = rec(
                        t,
                        &format!("s{s}"),
                        ["a.example", "b.example"][d],
                        ["pass", "bounce", "quarantine"][v],
                        if v == 1 { &cats[..1 + s % 2] } else { &[] },
                    );
                    r.rcpt_local = l;
                    r.rcpt_external = e;
                    r
                })
                .collect();
            let s = summarize(&records, 0, 3 * DAY, Period::Day, group, k, 28);
            for row in &s.rows {
                let Some(c) = &row.counts else { continue };
                let in_cell: Vec<&Record> = records
                    .iter()
                    .filter(|r| Period::Day.start(r.time) == row.period)
                    .filter(|r| match group {
                        Group::Domain => r.sender_domain == row.group,
                        Group::Verdict => r.verdict == row.group,
                        Group::Category if row.group == "-" => r.categories.is_empty(),
                        Group::Category => r.categories.contains(&row.group),
                    })
                    .collect();
                let senders = |f: &dyn Fn(&Record) -> bool| {
                    in_cell.iter().filter(|r| f(r)).map(|r| &r.sender).collect::<BTreeSet<_>>().len() as u64
                };
                prop_assert!(senders(&|_| true) >= k);
                prop_assert_eq!(c.messages, in_cell.len() as u64);
                for (v, n) in &c.verdicts {
                    prop_assert!(*n == 0 || senders(&|r| &r.verdict == v) >= k);
                }
                for cat in c.categories.keys() {
                    prop_assert!(senders(&|r| r.categories.contains(cat)) >= k);
                }
                if c.rcpt_external > 0 {
                    prop_assert!(senders(&|r| r.rcpt_external > 0) >= k);
                }
                if c.rcpt_local > 0 {
                    prop_assert!(senders(&|r| r.rcpt_local > 0) >= k);
                }
            }
        }
    }

    #[test]
    fn dates_parse_and_print() {
        assert_eq!(parse_date("1970-01-02"), Ok(DAY));
        assert_eq!(date(parse_date("2026-11-23").unwrap()), "2026-11-23");
        for bad in ["2026-13-01", "2026-02-30", "yesterday", "2026-01-01-01", ""] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}
