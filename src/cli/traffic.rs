//! `mailwacht traffic summary` and `mailwacht inquiry ...`: *verkeersgegevens* for auditors (aggregated,
//! k-anonymous, SOML/ProCon 8.2) and targeted inquiries (SOML/ProCon 8.3, WereldKidz 6.6).
//!
//! Thin: parses flags into an [`admin::TrafficRequest`], sends it over the admin socket (or runs it
//! offline via [`super::quarantine::call`]) and renders the answer. Must not: compute figures itself.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::quarantine::{call, config_with, when};
use crate::admin::traffic::ReportLine;
use crate::admin::{Request, Response, TrafficRequest, TrafficResponse};
use crate::config::Config;
use crate::traffic::summary::{parse_date, Group, Summary};
use crate::traffic::Inquiry;

#[derive(Debug, clap::Args)]
pub struct TrafficArgs {
    /// Use this data directory instead of `[storage] data_dir`.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
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
        #[arg(long, value_enum, default_value = "domain")]
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
    /// Use this data directory instead of `[storage] data_dir`.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
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
    /// Open an inquiry on one address for a fixed window (at most [traffic] inquiry_max_days; audited).
    Open {
        /// The address under inquiry.
        #[arg(long, value_name = "ADDR")]
        person: String,
        /// The suspicion that justifies it (goes to the audit log and the notification).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Length of the window in days.
        #[arg(long, value_name = "N")]
        days: u64,
        /// Who is responsible (name).
        #[arg(long, value_name = "NAME")]
        by: String,
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
    /// Close an inquiry (audited); its report then includes the notification for the person (art. 6.6).
    Close { id: u64 },
    /// All inquiries.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn traffic(config: &Config, request: TrafficRequest) -> anyhow::Result<TrafficResponse> {
    match call(config, Request::Traffic(request))? {
        Response::Traffic(t) => Ok(t),
        _ => bail!("unexpected answer from the daemon"),
    }
}

pub fn run_traffic(config: Option<PathBuf>, args: TrafficArgs) -> anyhow::Result<ExitCode> {
    let config = config_with(config, args.data_dir)?;
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

fn render(summary: &Summary, format: SummaryFormat) -> anyhow::Result<Vec<u8>> {
    Ok(match format {
        SummaryFormat::Table => summary.to_table().into_bytes(),
        SummaryFormat::Csv => summary.to_csv().into_bytes(),
        SummaryFormat::Json => (summary.to_json() + "\n").into_bytes(),
        SummaryFormat::Xlsx => crate::traffic::report::to_xlsx(summary)?,
        SummaryFormat::Html => crate::traffic::report::to_html(summary).into_bytes(),
    })
}

pub fn run_inquiry(config: Option<PathBuf>, args: InquiryArgs) -> anyhow::Result<ExitCode> {
    let config = config_with(config, args.data_dir)?;
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
                "inquiry {} opened on {} from {} to {} (audited)",
                inquiry.id,
                inquiry.person,
                when(inquiry.from),
                when(inquiry.to)
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
                    serde_json::to_string_pretty(&serde_json::json!({
                        "inquiry": inquiry,
                        "records": records,
                        "notification": notification,
                    }))?
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
                "inquiry {} closed; `mailwacht inquiry report {}` now includes the notification for {} (art. 6.6)",
                inquiry.id, inquiry.id, inquiry.person
            );
        }
        InquiryCommand::List { json } => {
            let TrafficResponse::Inquiries { inquiries } =
                traffic(&config, TrafficRequest::InquiryList)?
            else {
                bail!("unexpected answer from the daemon");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&inquiries)?);
            } else {
                for i in &inquiries {
                    println!(
                        "{:>4}  {:<30} {} .. {}  {}  by {}  reason: {:?}",
                        i.id,
                        i.person,
                        when(i.from),
                        when(i.to),
                        match i.closed {
                            Some(c) => format!("closed {}", when(c)),
                            None => "open".into(),
                        },
                        i.by,
                        i.reason
                    );
                }
                if inquiries.is_empty() {
                    println!("no inquiries");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The report as CSV for Dutch Excel (BOM, `;`).
fn report_csv(records: &[ReportLine]) -> String {
    let mut out = String::from(
        "\u{feff}time;size;rcpt_local;rcpt_external;rcpt_domains;attachments;verdict;categories;exempt\r\n",
    );
    for r in records {
        out.push_str(&format!(
            "{};{};{};{};{};{};{};{};{}\r\n",
            when(r.time),
            r.size,
            r.rcpt_local,
            r.rcpt_external,
            r.rcpt_domains.join(","),
            r.attachments,
            r.verdict,
            r.categories.join(","),
            r.exempt.as_deref().unwrap_or("")
        ));
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
    for r in records {
        println!(
            "{}  {:>9} B  rcpts {:>3} local {:>3} external  {:<10} {}  {}",
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
