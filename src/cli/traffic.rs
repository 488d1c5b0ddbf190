//! `mailwacht traffic summary` and `mailwacht inquiry ...`: *verkeersgegevens* for auditors (aggregated,
//! k-anonymous, SOML/ProCon 8.2) and targeted inquiries (SOML/ProCon 8.3, WereldKidz 6.6).
//!
//! Thin: parses flags into an [`admin::TrafficRequest`], sends it over the admin socket (or runs it
//! offline via [`super::quarantine::call`]) and renders the answer. Must not: compute figures itself.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::quarantine::{call, json_times, when, ReviewFlags, ReviewTarget};
use crate::admin::traffic::{Listed, ReportLine};
use crate::admin::{Request, Response, TrafficRequest, TrafficResponse};
use crate::traffic::inquiry::who;
use crate::traffic::summary::{csv_field, parse_date, Group, Summary};
use crate::traffic::{Inquiry, DAY};

#[derive(Debug, clap::Args)]
pub struct TrafficArgs {
    #[command(flatten)]
    review: ReviewFlags,
    #[command(subcommand)]
    command: TrafficCommand,
}

/// Output formats of a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SummaryFormat {
    Table,
    Csv,
    Json,
    Xlsx,
    Html,
}

#[derive(Debug, clap::Subcommand)]
enum TrafficCommand {
    /// Aggregated figures of whole, completed periods; a figure fewer than k distinct senders contributed
    /// to (or that one sender dominates) is suppressed everywhere.
    Summary {
        /// A whole period of [traffic] summary_period: a week like 2026-W47, or a day like 2026-11-23.
        /// Repeat for several. Default: every period that has ended and lies inside the retention window.
        #[arg(long = "period", value_name = "PERIOD")]
        periods: Vec<String>,
        /// Rows per sender domain, verdict, rule category, or domain and verdict (the base cells).
        #[arg(long, default_value = "domain", value_parser = group_parser())]
        group: Group,
        #[arg(long, value_enum, default_value = "table")]
        format: SummaryFormat,
        /// Write to this file instead of standard output (required for xlsx).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct InquiryArgs {
    #[command(flatten)]
    review: ReviewFlags,
    #[command(subcommand)]
    command: InquiryCommand,
}

/// Output formats of an inquiry report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Subcommand)]
enum InquiryCommand {
    /// Open an inquiry on one address for a fixed window (at most [traffic] inquiry_max_days; no overlap
    /// with or chaining onto another inquiry on the same person; audited with your uid).
    Open {
        /// The address under inquiry.
        #[arg(long, value_name = "ADDR")]
        person: String,
        /// The suspicion that justifies it, at least 10 characters (goes to the audit log and the
        /// notification).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Length of the window in days.
        #[arg(long, value_name = "N")]
        days: u64,
        /// Who is responsible (a name). Default: your full name from the password database.
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Start of the window (YYYY-MM-DD, UTC; within the retention period). Default: now.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
    },
    /// The person's traffic records inside the window (audited); after closing also the notification text.
    Report {
        id: u64,
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
    },
    /// Close an inquiry before its window ends (audited); its report then includes the notification for
    /// the person (art. 6.6). An inquiry whose window ended is closed automatically.
    Close { id: u64 },
    /// Record that the person was informed after the inquiry (WereldKidz 6.6): when and how; you are
    /// recorded as the one who did (audited).
    Notified {
        id: u64,
        /// The day the person was informed (YYYY-MM-DD, UTC). Default: today.
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// How, e.g. "gesprek" or "brief".
        #[arg(long, value_name = "TEXT")]
        how: String,
    },
    /// All inquiries.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn traffic(config: &ReviewTarget, request: TrafficRequest) -> anyhow::Result<TrafficResponse> {
    match call(config, Request::Traffic(request))? {
        Response::Traffic(t) => Ok(t),
        _ => bail!("unexpected answer from the daemon"),
    }
}

pub fn run_traffic(source: &super::ConfigSource, args: TrafficArgs) -> anyhow::Result<ExitCode> {
    let config = ReviewTarget::new(source, args.review)?;
    let TrafficCommand::Summary {
        periods,
        group,
        format,
        out,
    } = args.command;
    if format == SummaryFormat::Xlsx && out.is_none() {
        bail!("--format xlsx needs --out FILE");
    }
    let TrafficResponse::Summary { summary } =
        traffic(&config, TrafficRequest::Summary { periods, group })?
    else {
        bail!("unexpected answer from the daemon");
    };
    let bytes = render(&summary, format)?;
    match out {
        Some(path) => {
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            println!(
                "wrote {} ({} rows)",
                path.display(),
                summary.table().rows.len()
            );
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Seconds since the epoch now: the day a report names as made.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn render(summary: &Summary, format: SummaryFormat) -> anyhow::Result<Vec<u8>> {
    Ok(match format {
        SummaryFormat::Table => summary.to_table().into_bytes(),
        SummaryFormat::Csv => summary.to_csv().into_bytes(),
        SummaryFormat::Json => (summary.to_json() + "\n").into_bytes(),
        SummaryFormat::Xlsx => crate::traffic::report::to_xlsx(summary, now())?,
        SummaryFormat::Html => crate::traffic::report::to_html(summary, now()).into_bytes(),
    })
}

pub fn run_inquiry(source: &super::ConfigSource, args: InquiryArgs) -> anyhow::Result<ExitCode> {
    let config = ReviewTarget::new(source, args.review)?;
    match args.command {
        InquiryCommand::Open {
            person,
            reason,
            days,
            by,
            from,
        } => {
            let from = from.as_deref().map(parse_date).transpose()?;
            let TrafficResponse::Inquiry { inquiry } = traffic(
                &config,
                TrafficRequest::InquiryOpen {
                    person,
                    reason,
                    days,
                    by,
                    from,
                },
            )?
            else {
                bail!("unexpected answer from the daemon");
            };
            println!(
                "inquiry {} opened on {} from {} to {}, by {}, opened by {} (audited)",
                inquiry.id,
                inquiry.person,
                when(inquiry.from),
                when(inquiry.to),
                inquiry.by,
                who(
                    inquiry.opened_uid.unwrap_or_default(),
                    inquiry.opened_login.as_deref()
                )
            );
        }
        InquiryCommand::Report { id, format } => {
            let TrafficResponse::Report {
                inquiry,
                records,
                notification,
            } = traffic(&config, TrafficRequest::InquiryReport { id })?
            else {
                bail!("unexpected answer from the daemon");
            };
            match format {
                ReportFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json_times(serde_json::json!({
                        "inquiry": inquiry,
                        "records": records,
                        "notification": notification,
                    })))?
                ),
                ReportFormat::Csv => print!("{}", report_csv(&records)),
                ReportFormat::Table => print_report(&inquiry, &records, notification.as_deref()),
            }
        }
        InquiryCommand::Close { id } => {
            let TrafficResponse::Inquiry { inquiry } =
                traffic(&config, TrafficRequest::InquiryClose { id })?
            else {
                bail!("unexpected answer from the daemon");
            };
            println!(
                "inquiry {} closed; `mailwacht inquiry report {}` now includes the notification for {} (art. 6.6); \
                 once informed: `mailwacht inquiry notified {} --how ...`",
                inquiry.id, inquiry.id, inquiry.person, inquiry.id
            );
        }
        InquiryCommand::Notified { id, date, how } => {
            let date = match date {
                Some(d) => parse_date(&d)?,
                None => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    now - now % DAY
                }
            };
            let TrafficResponse::Inquiry { inquiry } =
                traffic(&config, TrafficRequest::InquiryNotified { id, date, how })?
            else {
                bail!("unexpected answer from the daemon");
            };
            println!(
                "inquiry {}: {} notified {} (audited)",
                inquiry.id,
                inquiry.person,
                inquiry
                    .notified
                    .as_ref()
                    .map_or(String::new(), notified_text)
            );
        }
        InquiryCommand::List { json } => {
            let TrafficResponse::Inquiries { inquiries } =
                traffic(&config, TrafficRequest::InquiryList)?
            else {
                bail!("unexpected answer from the daemon");
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json_times(serde_json::to_value(&inquiries)?))?
                );
            } else {
                for listed in &inquiries {
                    println!("{}", list_line(listed));
                }
                if inquiries.is_empty() {
                    println!("no inquiries");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `yes (DATE, by WHO, HOW)`.
fn notified_text(n: &crate::traffic::inquiry::Notified) -> String {
    format!(
        "yes ({}, by {}, {:?})",
        crate::traffic::summary::date(n.date),
        who(n.uid, n.login.as_deref()),
        n.how
    )
}

/// One line of `inquiry list`: window, state, who, whether the person was informed (WereldKidz 6.6).
fn list_line(listed: &Listed) -> String {
    let i = &listed.inquiry;
    let state = match (i.closed, i.auto_closed) {
        (Some(c), true) => format!("closed {} (window ended)", when(c)),
        (Some(c), false) => format!("closed {}", when(c)),
        (None, _) => "open".into(),
    };
    let opened_by = i
        .opened_uid
        .map(|uid| format!(", opened by {}", who(uid, i.opened_login.as_deref())))
        .unwrap_or_default();
    let notified = match (&i.notified, i.closed) {
        (Some(n), _) => notified_text(n),
        (None, None) => "no (inquiry open)".into(),
        (None, Some(_)) if listed.overdue => format!(
            "no, OVERDUE since {} / te laat",
            crate::traffic::summary::date(listed.notify_by)
        ),
        (None, Some(_)) => format!(
            "no (due by {})",
            crate::traffic::summary::date(listed.notify_by)
        ),
    };
    format!(
        "{:>4}  {:<30} {} .. {}  {}  by {}{}  notified: {}  reason: {:?}",
        i.id,
        i.person,
        when(i.from),
        when(i.to),
        state,
        i.by,
        opened_by,
        notified,
        i.reason
    )
}

/// Warning lines for `mailwacht audit list`, one per inquiry whose person should have been informed by now
/// (WereldKidz 6.6, `[traffic] notify_within_days`). Never fails the audit listing: a problem asking for
/// the inquiries becomes a warning line of its own.
pub(super) fn overdue_notifications(config: &ReviewTarget) -> Vec<String> {
    let inquiries = match traffic(config, TrafficRequest::InquiryList) {
        Ok(TrafficResponse::Inquiries { inquiries }) => inquiries,
        Ok(_) => return vec!["WARNING: unexpected answer when checking inquiry notifications".into()],
        Err(e) => {
            return vec![format!(
                "WAARSCHUWING: kennisgevingen van onderzoeken niet gecontroleerd / WARNING: inquiry notifications not checked: {e:#}"
            )]
        }
    };
    inquiries
        .iter()
        .filter(|l| l.overdue)
        .map(|l| {
            let i = &l.inquiry;
            format!(
                "WAARSCHUWING: betrokkene van onderzoek {id} ({person}) is nog niet ingelicht, uiterlijk {due} (WereldKidz 6.6) / \
                 WARNING: the person of inquiry {id} ({person}) has not been notified; it was due by {due} \
                 (`mailwacht inquiry notified {id} --how ...`)",
                id = i.id,
                person = i.person,
                due = crate::traffic::summary::date(l.notify_by),
            )
        })
        .collect()
}

/// The report as CSV for Dutch Excel (BOM, `;`), with Dutch column names (`--format json` keeps the
/// English keys).
fn report_csv(records: &[ReportLine]) -> String {
    let mut out = String::from(
        "\u{feff}tijd;grootte (bytes);ontvangers intern;ontvangers extern;ontvangerdomeinen;bijlagen;uitkomst;\
         categorieën;uitzondering\r\n",
    );
    for r in records {
        // Every cell through csv_field: a recipient domain is the sender's choice and must not become a
        // formula in the auditor's Excel.
        let cells = [
            when(r.time),
            r.size.to_string(),
            r.rcpt_local.to_string(),
            r.rcpt_external.to_string(),
            r.rcpt_domains.join(","),
            r.attachments.to_string(),
            r.verdict.clone(),
            r.categories.join(","),
            r.exempt.clone().unwrap_or_default(),
        ];
        let cells: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        out.push_str(&cells.join(";"));
        out.push_str("\r\n");
    }
    out
}

fn print_report(inquiry: &Inquiry, records: &[ReportLine], notification: Option<&str>) {
    println!(
        "inquiry {} on {} ({} .. {}), by {}, reason: {:?}",
        inquiry.id,
        inquiry.person,
        when(inquiry.from),
        when(inquiry.to),
        inquiry.by,
        inquiry.reason
    );
    println!("traffic data only (SOML/ProCon 8.3): no subjects, bodies or file names are stored");
    // Dutch column names, as the CSV; `--format json` keeps the English keys.
    println!(
        "{:<24}  {:>11}  {:>6} {:>6}  {:<10}  ontvangerdomeinen  categorieën",
        "tijd", "grootte (B)", "intern", "extern", "uitkomst"
    );
    for r in records {
        println!(
            "{:<24}  {:>11}  {:>6} {:>6}  {:<10}  {}  {}",
            when(r.time),
            r.size,
            r.rcpt_local,
            r.rcpt_external,
            r.verdict,
            r.rcpt_domains.join(","),
            r.categories.join(",")
        );
    }
    println!("{} records", records.len());
    if let Some(text) = notification {
        println!("\n--- kennisgeving aan betrokkene (WereldKidz 6.6) ---\n{text}");
    }
}

/// `--group`: the names the library spells ([`Group::name`]), offered as the possible values; the library
/// has no clap types.
fn group_parser() -> impl clap::builder::TypedValueParser<Value = Group> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Group::ALL.map(Group::name))
        .try_map(|name| name.parse::<Group>())
}
