//! Aggregated summaries for auditors (SOML/ProCon 8.2, Uniek 3.2.5b; WereldKidz 8.7/8.8: time, amount, size),
//! built so that no combination of summaries recovers a figure that was suppressed.
//!
//! ## One release per period
//! 1. **Whole periods only.** Records fall in periods of one configured [`Unit`] (`[traffic] summary_period`:
//!    ISO weeks or days, UTC). [`Unit::period_of`] is the only function that knows where a period starts
//!    and ends. A summary names whole periods; there are no free ranges and no hours, so two summaries can
//!    never cover a period and a part of it.
//! 2. **Every summary of a period sees the same records.** A period may be summarised only after it ended
//!    (plus [`SETTLE`]) and while it lies wholly inside the retention window, after the last purge
//!    ([`Window`]): no late record can be added to it and no purged record can be missing from it.
//! 3. **Suppression is decided once, on the base cells.** [`release`] splits a period's records into base
//!    cells, one per (sender domain, verdict), with their figures: messages, bytes, local and external
//!    recipients, and messages per rule category, added up per sender first ([`Contribution`]; PostgreSQL
//!    adds up the records of every node in SQL, [`release_of`] takes it from there). A figure is shown only
//!    when at least *k* distinct senders contributed to it and no one or two of them dominate it
//!    ([`shown`]: the p% rule). A cell whose message count is not shown is left out entirely, label and
//!    all. The [`Release`] holds nothing else.
//! 4. **Everything published is a sum of shown figures.** Every grouping ([`Group`]), total, chart and
//!    export is computed from releases only ([`Summary::table`]), so a suppressed figure contributes to
//!    nothing that is published: two traffic datasets that differ only inside suppressed figures give
//!    identical bytes for every summary an auditor can ask for (the property test at the end checks this
//!    for every suppressed figure of random traffic).
//!
//! A period never spans two pseudonym-key epochs: epochs are whole ISO weeks and a period lies inside one
//! ISO week (tested below), so one person is one pseudonym within a period and *k* is not overstated.
//!
//! Must not: read the store, the clock or any address; publish anything not computed from a [`Release`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Record, DAY};

/// The verdicts, in column order.
pub const VERDICTS: [&str; 4] = crate::policy::Verdict::NAMES;

/// *p* of the p% rule ([`shown`]): a figure is suppressed when what remains after its two largest
/// contributors is less than this percentage of the largest one, because the second largest could then
/// estimate the largest one's share to within *p*% (the p% rule for magnitude tables in Hundepool et al.,
/// *Statistical Disclosure Control*, Wiley 2012).
pub const DOMINANCE_PERCENT: u64 = 10;

/// Seconds after a period's end before it may be summarised. Records carry the time their message was
/// handled and reach the store within milliseconds ([`super::GATHER`]); the margin covers a backed-up writer
/// and small clock steps, so a record can no longer be added to a period once it has been summarised.
pub const SETTLE: u64 = 3600;

/// Marker of a suppressed figure in text, CSV and spreadsheets (as in the tables of Statistics Netherlands,
/// where `x` means *geheim*).
pub const SUPPRESSED: &str = "x";

/// The period unit of all summaries of an installation (`[traffic] summary_period`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// UTC days.
    Day,
    /// ISO weeks, Monday 00:00 to Monday 00:00 UTC.
    #[default]
    Week,
}

/// One whole period: `start <= time < end`, seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

/// Monday 00:00 UTC of the ISO week `time` falls in, as a day number (may be negative before 1970-01-05).
fn monday_day(time: u64) -> i64 {
    let day = i64::try_from(time / DAY).unwrap_or(i64::MAX);
    // 1970-01-01 was a Thursday: three days after a Monday.
    day - (day + 3).rem_euclid(7)
}

/// Monday 00:00 UTC of the ISO week `time` falls in (0 for times before the first Monday, 1970-01-05).
/// Pseudonym-key epochs start at such Mondays, so a span inside one ISO week lies inside one key epoch.
pub fn iso_week_start(time: u64) -> u64 {
    u64::try_from(monday_day(time)).map_or(0, |d| d * DAY)
}

impl Unit {
    /// The period `time` falls in. The only place that knows period boundaries: a later switch to
    /// Europe/Amsterdam days changes this function (and must keep periods inside one key epoch).
    pub fn period_of(self, time: u64) -> Span {
        match self {
            Unit::Day => {
                let start = time - time % DAY;
                Span {
                    start,
                    end: start.saturating_add(DAY),
                }
            }
            Unit::Week => {
                let monday = monday_day(time);
                Span {
                    start: iso_week_start(time),
                    end: u64::try_from(monday + 7).map_or(0, |d| d.saturating_mul(DAY)),
                }
            }
        }
    }

    /// The name of a period: `2026-W47` or `2026-11-23`.
    pub fn label(self, span: Span) -> String {
        match self {
            Unit::Day => date(span.start),
            Unit::Week => {
                let t = offset(span.start);
                let (year, week, _) = t.date().to_iso_week_date();
                format!("{year:04}-W{week:02}")
            }
        }
    }

    /// The period named `text` (`YYYY-Www` for weeks, `YYYY-MM-DD` for days; nothing else).
    pub fn parse(self, text: &str) -> Result<Span, PeriodError> {
        match self {
            Unit::Day => parse_date(text)
                .map(|start| self.period_of(start))
                .map_err(|_| PeriodError::NotADay {
                    text: text.to_string(),
                }),
            Unit::Week => {
                let bad = || PeriodError::NotAWeek {
                    text: text.to_string(),
                };
                let (year, week) = text.trim().split_once(['W', 'w']).ok_or_else(bad)?;
                let year: i32 = year
                    .strip_suffix('-')
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?;
                if week.len() != 2 {
                    return Err(bad());
                }
                let week: u8 = week.parse().map_err(|_| bad())?;
                let monday = time::Date::from_iso_week_date(year, week, time::Weekday::Monday)
                    .map_err(|_| bad())?;
                let secs = monday.midnight().assume_utc().unix_timestamp();
                Ok(self.period_of(u64::try_from(secs).unwrap_or(0)))
            }
        }
    }

    /// `week` or `day`.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Day => "day",
            Unit::Week => "week",
        }
    }
}

/// A period that cannot be summarised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error(
        "{text:?} is not a week (YYYY-Www, e.g. 2026-W47; [traffic] summary_period = \"week\")"
    )]
    NotAWeek { text: String },
    #[error("{text:?} is not a day (YYYY-MM-DD; [traffic] summary_period = \"day\")")]
    NotADay { text: String },
    #[error(
        "{label} has not ended yet: it can be summarised from {from} UTC (only whole, completed periods, \
         so that no summary can be subtracted from another)"
    )]
    NotEnded { label: String, from: String },
    #[error(
        "{label} begins before {cutoff} UTC, the earliest start the retention period of {retention_days} days \
         allows: its records are (or are about to be) partly deleted, so it is not summarised"
    )]
    BeforeRetention {
        label: String,
        cutoff: String,
        retention_days: u64,
    },
}

/// Which periods may be summarised at a moment: those that ended at least [`SETTLE`] ago and begin inside
/// the retention window and after the last purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub unit: Unit,
    /// Now, seconds since the epoch.
    pub now: u64,
    pub retention_days: u64,
    /// Records before this time may have been deleted by a purge ([`super::TrafficStore::purged_before`]);
    /// it matters when the retention was raised after a purge.
    pub purged_before: u64,
}

impl Window {
    /// The earliest time a summarisable period may begin: the retention cut-off, plus [`SETTLE`] so that
    /// a purge running while a summary reads cannot reach the period, and not before the last purge.
    fn earliest(&self) -> u64 {
        self.now
            .saturating_sub(self.retention_days.saturating_mul(DAY))
            .saturating_add(SETTLE)
            .max(self.purged_before)
    }

    /// Whether `span` may be summarised now.
    pub fn check(&self, span: Span) -> Result<(), PeriodError> {
        let label = self.unit.label(span);
        if span.end.saturating_add(SETTLE) > self.now {
            return Err(PeriodError::NotEnded {
                label,
                from: stamp(span.end.saturating_add(SETTLE), true),
            });
        }
        if span.start < self.earliest() {
            return Err(PeriodError::BeforeRetention {
                label,
                cutoff: stamp(self.earliest(), true),
                retention_days: self.retention_days,
            });
        }
        Ok(())
    }

    /// Every period that may be summarised now, oldest first.
    pub fn periods(&self) -> Vec<Span> {
        let mut out = Vec::new();
        let mut span = self.unit.period_of(self.earliest());
        while span.end.saturating_add(SETTLE) <= self.now && span.end > span.start {
            if self.check(span).is_ok() {
                out.push(span);
            }
            span = self.unit.period_of(span.end);
        }
        out
    }
}

/// Whether a figure made of these per-sender contributions may be shown: at least `k` senders contributed
/// a non-zero part, and the p% rule holds (what remains after the two largest parts is at least
/// [`DOMINANCE_PERCENT`] of the largest). With two contributors the rule never holds: each could subtract
/// its own part and learn the other's exactly. A figure nobody contributed to is not shown either, so a
/// suppressed figure never reveals whether it is zero.
pub fn shown(parts: impl IntoIterator<Item = u64>, k: u64) -> bool {
    let mut parts: Vec<u128> = parts
        .into_iter()
        .filter(|p| *p > 0)
        .map(u128::from)
        .collect();
    parts.sort_unstable_by(|a, b| b.cmp(a));
    let Some(&largest) = parts.first() else {
        return false;
    };
    if (parts.len() as u64) < k {
        return false;
    }
    let rest: u128 = parts.iter().skip(2).sum();
    100 * rest >= u128::from(DOMINANCE_PERCENT) * largest
}

/// The shown figures of one base cell: the messages of one sender domain with one verdict in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub domain: String,
    pub verdict: String,
    pub messages: u64,
    /// `None`: suppressed.
    pub bytes: Option<u64>,
    /// Recipients inside the organisation's domains; `None`: suppressed.
    pub rcpt_local: Option<u64>,
    /// Recipients elsewhere; `None`: suppressed.
    pub rcpt_external: Option<u64>,
    /// Messages per rule category, only for the categories whose count is shown.
    pub categories: BTreeMap<String, u64>,
}

/// The published figures of one period: its shown base cells, sorted by domain and verdict. Nothing about
/// suppressed cells or figures (not even that they exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub period: Span,
    pub label: String,
    pub cells: Vec<Cell>,
}

/// One figure's contributions per sender (pseudonym).
#[derive(Debug, Default)]
struct Parts<'a>(BTreeMap<&'a str, u64>);

impl<'a> Parts<'a> {
    fn add(&mut self, sender: &'a str, n: u64) {
        if n > 0 {
            let part = self.0.entry(sender).or_default();
            *part = part.saturating_add(n);
        }
    }

    /// The figure, when it may be shown.
    fn publish(&self, k: u64) -> Option<u64> {
        shown(self.0.values().copied(), k)
            .then(|| self.0.values().fold(0u64, |a, b| a.saturating_add(*b)))
    }
}

/// The figures of one base cell before suppression.
#[derive(Debug, Default)]
struct RawCell<'a> {
    messages: Parts<'a>,
    bytes: Parts<'a>,
    rcpt_local: Parts<'a>,
    rcpt_external: Parts<'a>,
    categories: BTreeMap<&'a str, Parts<'a>>,
}

/// One sender's part of one base cell of a period: what a store adds up before any suppression rule is
/// applied. The embedded store's records are added up by [`contributions`]; PostgreSQL adds up the records
/// of every node in SQL, so only one row per sender and cell leaves the database. Either way [`release_of`]
/// alone applies the suppression rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contribution {
    pub domain: String,
    pub verdict: String,
    /// The sender's pseudonym.
    pub sender: String,
    pub messages: u64,
    pub bytes: u64,
    pub rcpt_local: u64,
    pub rcpt_external: u64,
    /// Messages per rule category; a message counts once per category, however its record lists them.
    pub categories: BTreeMap<String, u64>,
}

/// The contributions of the records inside `period`, one per (sender domain, verdict, sender), sorted by
/// them. Records outside the period are ignored.
pub fn contributions(records: &[Record], period: Span) -> Vec<Contribution> {
    let mut by: BTreeMap<(&str, &str, &str), Contribution> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.time >= period.start && r.time < period.end)
    {
        let c = by
            .entry((
                r.sender_domain.as_str(),
                r.verdict.as_str(),
                r.sender.as_str(),
            ))
            .or_insert_with(|| Contribution {
                domain: r.sender_domain.clone(),
                verdict: r.verdict.clone(),
                sender: r.sender.clone(),
                ..Contribution::default()
            });
        c.messages = c.messages.saturating_add(1);
        c.bytes = c.bytes.saturating_add(r.size);
        c.rcpt_local = c.rcpt_local.saturating_add(u64::from(r.rcpt_local));
        c.rcpt_external = c.rcpt_external.saturating_add(u64::from(r.rcpt_external));
        let categories: BTreeSet<&str> = r.categories.iter().map(String::as_str).collect();
        for category in categories {
            let n = c.categories.entry(category.to_string()).or_default();
            *n = n.saturating_add(1);
        }
    }
    by.into_values().collect()
}

/// The release of `period`: the base cells of the records inside it, suppressed with threshold `k` (see the
/// module docs). Records outside the period are ignored.
pub fn release(records: &[Record], unit: Unit, period: Span, k: u64) -> Release {
    release_of(&contributions(records, period), unit, period, k)
}

/// The release of `period` from its contributions (in any order; two of one sender and cell add up),
/// suppressed with threshold `k` (see the module docs).
pub fn release_of(parts: &[Contribution], unit: Unit, period: Span, k: u64) -> Release {
    let mut raw: BTreeMap<(&str, &str), RawCell> = BTreeMap::new();
    for part in parts {
        let sender = part.sender.as_str();
        let cell = raw
            .entry((part.domain.as_str(), part.verdict.as_str()))
            .or_default();
        cell.messages.add(sender, part.messages);
        cell.bytes.add(sender, part.bytes);
        cell.rcpt_local.add(sender, part.rcpt_local);
        cell.rcpt_external.add(sender, part.rcpt_external);
        for (category, n) in &part.categories {
            cell.categories
                .entry(category.as_str())
                .or_default()
                .add(sender, *n);
        }
    }
    let cells = raw
        .into_iter()
        .filter_map(|((domain, verdict), raw)| {
            Some(Cell {
                domain: domain.to_string(),
                verdict: verdict.to_string(),
                // A cell whose message count is not shown is not shown at all.
                messages: raw.messages.publish(k)?,
                bytes: raw.bytes.publish(k),
                rcpt_local: raw.rcpt_local.publish(k),
                rcpt_external: raw.rcpt_external.publish(k),
                categories: raw
                    .categories
                    .iter()
                    .filter_map(|(c, parts)| Some((c.to_string(), parts.publish(k)?)))
                    .collect(),
            })
        })
        .collect();
    Release {
        period,
        label: unit.label(period),
        cells,
    }
}

/// What the rows of a summary table are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    /// The sender's domain (columns: figures, messages per verdict, messages per category).
    Domain,
    /// The verdict (columns: figures, messages per category).
    Verdict,
    /// Rule category (columns: messages, messages per verdict). A message with two categories counts in both.
    Category,
    /// The base cells themselves: domain and verdict.
    DomainVerdict,
}

impl std::str::FromStr for Group {
    type Err = String;

    /// The group [`Group::name`] spells `text`.
    fn from_str(text: &str) -> Result<Group, String> {
        Group::ALL
            .into_iter()
            .find(|g| g.name() == text)
            .ok_or_else(|| {
                format!(
                    "{text:?} is not one of {}",
                    Group::ALL.map(Group::name).join(", ")
                )
            })
    }
}

impl Group {
    /// Every grouping, in the order the command line lists them.
    pub const ALL: [Group; 4] = [
        Group::Domain,
        Group::Verdict,
        Group::Category,
        Group::DomainVerdict,
    ];

    /// `domain`, `verdict`, `category` or `domain-verdict` (as on the command line).
    pub fn name(self) -> &'static str {
        match self {
            Group::Domain => "domain",
            Group::Verdict => "verdict",
            Group::Category => "category",
            Group::DomainVerdict => "domain-verdict",
        }
    }
}

/// One figure of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Shown(u64),
    Suppressed,
}

impl Figure {
    /// The figure as text: the number, or [`SUPPRESSED`].
    pub fn text(self) -> String {
        match self {
            Figure::Shown(n) => n.to_string(),
            Figure::Suppressed => SUPPRESSED.to_string(),
        }
    }
}

/// One row of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// The period's label.
    pub period: String,
    /// The group's label (a domain, verdict, category, `domain/verdict`, or [`TOTAL`]).
    pub group: String,
    /// One per column after `period` and `group`.
    pub figures: Vec<Figure>,
}

/// A summary as a table: the two label columns, then one column per figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Names of all columns, `period` and `group` first.
    pub columns: Vec<String>,
    pub rows: Vec<TableRow>,
}

/// Label of the total row of each period (sum of the shown figures of every cell).
pub const TOTAL: &str = "(total)";

/// A summary: the releases of the periods asked for, and how to present them. Everything a renderer shows
/// comes from `releases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub unit: Unit,
    pub group: Group,
    pub k: u64,
    pub dominance_percent: u64,
    pub retention_days: u64,
    /// Oldest first.
    pub releases: Vec<Release>,
    /// The organisation the report is for (`[organisation] name`; set by the service).
    #[serde(default)]
    pub organisation: String,
}

impl Summary {
    /// A summary of `releases` (sorted here) as `group`.
    pub fn new(
        unit: Unit,
        group: Group,
        k: u64,
        retention_days: u64,
        mut releases: Vec<Release>,
    ) -> Summary {
        releases.sort_by_key(|r| r.period);
        releases.dedup_by_key(|r| r.period);
        Summary {
            unit,
            group,
            k,
            dominance_percent: DOMINANCE_PERCENT,
            retention_days,
            releases,
            organisation: String::new(),
        }
    }

    /// Category names with a shown count in some cell (column order).
    fn category_names(&self) -> Vec<String> {
        let names: BTreeSet<&String> = self
            .releases
            .iter()
            .flat_map(|r| &r.cells)
            .flat_map(|c| c.categories.keys())
            .collect();
        names.into_iter().cloned().collect()
    }

    /// The figure columns of this summary's group.
    fn figure_columns(&self) -> Vec<String> {
        let cats = self
            .category_names()
            .into_iter()
            .map(|c| format!("cat:{c}"));
        let base = ["messages", "bytes", "rcpt_local", "rcpt_external"]
            .into_iter()
            .map(String::from);
        let verdicts = VERDICTS.into_iter().map(String::from);
        match self.group {
            Group::Domain => base.chain(verdicts).chain(cats).collect(),
            Group::Verdict | Group::DomainVerdict => base.chain(cats).collect(),
            Group::Category => std::iter::once("messages".to_string())
                .chain(verdicts)
                .collect(),
        }
    }

    /// What one cell adds to which rows: (row label, [(column, shown figure)]). Only shown figures.
    fn contributions(&self, cell: &Cell) -> Vec<(String, Vec<(String, u64)>)> {
        let mut figures = vec![("messages".to_string(), cell.messages)];
        for (name, figure) in [
            ("bytes", cell.bytes),
            ("rcpt_local", cell.rcpt_local),
            ("rcpt_external", cell.rcpt_external),
        ] {
            if let Some(n) = figure {
                figures.push((name.to_string(), n));
            }
        }
        for (c, n) in &cell.categories {
            figures.push((format!("cat:{c}"), *n));
        }
        match self.group {
            Group::Domain => {
                figures.push((cell.verdict.clone(), cell.messages));
                vec![(cell.domain.clone(), figures)]
            }
            Group::Verdict => vec![(cell.verdict.clone(), figures)],
            Group::DomainVerdict => vec![(format!("{}/{}", cell.domain, cell.verdict), figures)],
            Group::Category => cell
                .categories
                .iter()
                .map(|(c, n)| {
                    (
                        c.clone(),
                        vec![("messages".to_string(), *n), (cell.verdict.clone(), *n)],
                    )
                })
                .collect(),
        }
    }

    /// The table for this summary's group: per period, one row per group with a shown figure (sorted), then
    /// the period's total (not for categories, which overlap). Each figure is the sum of the shown figures
    /// that belong to it; [`Figure::Suppressed`] where none does.
    pub fn table(&self) -> Table {
        let columns = self.figure_columns();
        let mut rows = Vec::new();
        for release in &self.releases {
            let mut groups: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
            let mut total: BTreeMap<String, u64> = BTreeMap::new();
            for cell in &release.cells {
                for (group, figures) in self.contributions(cell) {
                    let row = groups.entry(group).or_default();
                    for (column, n) in figures {
                        let sum = row.entry(column.clone()).or_default();
                        *sum = sum.saturating_add(n);
                        let sum = total.entry(column).or_default();
                        *sum = sum.saturating_add(n);
                    }
                }
            }
            let figures = |sums: &BTreeMap<String, u64>| -> Vec<Figure> {
                columns
                    .iter()
                    .map(|c| {
                        sums.get(c)
                            .map_or(Figure::Suppressed, |n| Figure::Shown(*n))
                    })
                    .collect()
            };
            for (group, sums) in &groups {
                rows.push(TableRow {
                    period: release.label.clone(),
                    group: group.clone(),
                    figures: figures(sums),
                });
            }
            if self.group != Group::Category && !release.cells.is_empty() {
                rows.push(TableRow {
                    period: release.label.clone(),
                    group: TOTAL.to_string(),
                    figures: figures(&total),
                });
            }
        }
        let mut all = vec!["period".to_string(), "group".to_string()];
        all.extend(columns);
        Table { columns: all, rows }
    }

    /// The header lines every format states: the periods, *k*, the dominance rule and the retention
    /// (SOML/ProCon 8.2, WereldKidz 6.7).
    pub fn header(&self) -> Vec<String> {
        let periods: Vec<String> = self
            .releases
            .iter()
            .map(|r| match self.unit {
                Unit::Week => format!(
                    "{} ({} .. {})",
                    r.label,
                    date(r.period.start),
                    date(r.period.end.saturating_sub(1))
                ),
                Unit::Day => r.label.clone(),
            })
            .collect();
        let group = match self.group {
            Group::Domain => "sender domain",
            Group::Verdict => "verdict",
            Group::Category => "rule category",
            Group::DomainVerdict => "sender domain and verdict",
        };
        vec![
            format!(
                "mailwacht verkeersgegevens per {} (UTC), rows per {group}: {}",
                match self.unit {
                    Unit::Week => "ISO week",
                    Unit::Day => "day",
                },
                if periods.is_empty() {
                    "no periods".to_string()
                } else {
                    periods.join(", ")
                }
            ),
            format!(
                "{SUPPRESSED} = suppressed: fewer than {} distinct senders contributed (possibly none), or one or two \
                 senders make up nearly all of it (p% rule, p = {}). Suppressed figures are left out of every \
                 row, total and chart",
                self.k, self.dominance_percent
            ),
            format!(
                "Only whole, completed periods are summarised. Records are kept {} days.",
                self.retention_days
            ),
        ]
    }

    /// A plain-text table for the terminal.
    pub fn to_table(&self) -> String {
        let table = self.table();
        let lines = self.lines_nl(&table);
        let widths: Vec<usize> = (0..table.columns.len())
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
        if table.rows.is_empty() {
            out.push_str("(nothing to show: no figure in these periods has enough senders)\n");
        }
        out
    }

    /// The table's lines as the CSV and the terminal show them: Dutch column names and row labels
    /// (`periode;afzenderdomein;berichten;…`, `doorgelaten`, `(totaal)`), as the HTML report and the workbook.
    fn lines_nl(&self, table: &Table) -> Vec<Vec<String>> {
        let columns = table.columns.iter();
        let mut lines = vec![columns
            .map(|c| super::report::column_nl(c, self.group))
            .collect()];
        lines.extend(table.rows.iter().map(|row| {
            let mut cells = row_text(row);
            if let Some(label) = cells.get_mut(1) {
                *label = super::report::label_nl(label);
            }
            cells
        }));
        lines
    }

    /// CSV for Dutch Excel: UTF-8 with BOM, `;` separated, the header as the first lines, every cell
    /// through [`csv_field`] (no formulas). The figures are whole numbers, so no decimal separator occurs.
    pub fn to_csv(&self) -> String {
        let field = csv_field;
        let table = self.table();
        let mut out = String::from("\u{feff}");
        for h in self.header() {
            out.push_str(&field(&h));
            out.push_str("\r\n");
        }
        for l in self.lines_nl(&table) {
            let l: Vec<String> = l.iter().map(|c| field(c)).collect();
            out.push_str(&l.join(";"));
            out.push_str("\r\n");
        }
        out
    }

    /// JSON: the header facts and the table rows (a suppressed figure is `null`).
    pub fn to_json(&self) -> String {
        let table = self.table();
        let names = table.columns.get(2..).unwrap_or_default();
        let value = serde_json::json!({
            "header": self.header(),
            "unit": self.unit,
            "group": self.group,
            "k_anonymity": self.k,
            "dominance_percent": self.dominance_percent,
            "retention_days": self.retention_days,
            "periods": self.releases.iter().map(|r| serde_json::json!({
                "period": r.label,
                "from": date(r.period.start),
                "to": date(r.period.end.saturating_sub(1)),
            })).collect::<Vec<_>>(),
            "columns": names,
            "rows": table.rows.iter().map(|r| serde_json::json!({
                "period": r.period,
                "group": r.group,
                "figures": names.iter().zip(&r.figures).map(|(name, f)| {
                    (name.clone(), match f {
                        Figure::Shown(n) => serde_json::json!(n),
                        Figure::Suppressed => serde_json::Value::Null,
                    })
                }).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }

    /// Messages per period and verdict (shown cells only), for charts.
    pub fn verdict_volume(&self) -> Vec<(String, [u64; 4])> {
        self.releases
            .iter()
            .map(|r| {
                let mut counts = [0u64; 4];
                for cell in &r.cells {
                    if let Some(i) = VERDICTS.iter().position(|v| *v == cell.verdict) {
                        counts[i] = counts[i].saturating_add(cell.messages);
                    }
                }
                (r.label.clone(), counts)
            })
            .collect()
    }

    /// Messages per category over all periods (shown counts only), largest first.
    pub fn category_totals(&self) -> Vec<(String, u64)> {
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        for cell in self.releases.iter().flat_map(|r| &r.cells) {
            for (c, n) in &cell.categories {
                let t = totals.entry(c.clone()).or_default();
                *t = t.saturating_add(*n);
            }
        }
        let mut v: Vec<(String, u64)> = totals.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// A row as text cells: period, group, figures.
pub(crate) fn row_text(row: &TableRow) -> Vec<String> {
    let mut cells = vec![row.period.clone(), row.group.clone()];
    cells.extend(row.figures.iter().map(|f| f.text()));
    cells
}

fn offset(time: u64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(time).unwrap_or(i64::MAX))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `YYYY-MM-DD` (UTC) of a time in seconds since the epoch.
pub fn date(time: u64) -> String {
    stamp(time, false)
}

/// One CSV cell for Dutch Excel (`;`-separated). A cell that Excel would read as a formula — starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return — gets a leading `'`, which Excel shows as text (OWASP's
/// advice against CSV injection: a sender domain `=1+1` must not become a formula). Quoted when it holds
/// `;`, `"` or a line break.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM` (UTC).
pub fn stamp(time: u64, with_time: bool) -> String {
    let t = offset(time);
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

#[cfg(test)]
pub(crate) mod tests;
