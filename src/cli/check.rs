//! `mailwacht check`: run the filter's decision on .eml files and print verdict, mode, score, exemption and
//! hits (monitor-only hits marked, and the verdict enforcing would have given).
//! Runs exactly the code `serve` runs ([`crate::filter::Engine`]); sends nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::envelope::{Envelope, Recipient};
use crate::filter::Engine;
use crate::message::Analysis;
use crate::policy::{Decision, Verdict};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Envelope sender (default: the first From address of each message).
    #[arg(long, value_name = "ADDR")]
    mail_from: Option<String>,
    /// Envelope recipient, repeatable (default: the To, Cc and Bcc addresses of each message).
    #[arg(long, value_name = "ADDR")]
    rcpt: Vec<String>,
    /// Print one JSON object per file.
    #[arg(long)]
    json: bool,
    /// The messages to check.
    #[arg(required = true, value_name = "FILE.eml")]
    files: Vec<PathBuf>,
}

/// One file's result as printed with `--json`.
#[derive(Serialize)]
struct Report<'a> {
    file: String,
    mail_from: Option<&'a str>,
    rcpt_to: Vec<&'a str>,
    /// `[policy] mode`: `enforce` or `monitor` (each hit's `monitor` says whether it only reports).
    mode: &'static str,
    #[serde(flatten)]
    decision: &'a Decision,
    damage: &'a [crate::message::Damage],
}

pub fn run(config: Option<PathBuf>, args: Args) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config.as_ref())?;
    let engine = config.engine().context("loading rules")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting runtime")?;
    let mut all_pass = true;
    for file in &args.files {
        let raw = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let envelope = envelope_for(&engine, &raw, args.mail_from.as_deref(), &args.rcpt);
        let (analysis, decision) = runtime.block_on(engine.check(&envelope, &raw));
        all_pass &= decision.verdict == Verdict::Pass;
        if args.json {
            let report = Report {
                file: file.display().to_string(),
                mail_from: envelope.mail_from.as_deref(),
                rcpt_to: envelope.recipients().collect(),
                mode: engine.policy.mode.name(),
                decision: &decision,
                damage: &analysis.damage,
            };
            println!(
                "{}",
                serde_json::to_string(&report).context("printing JSON")?
            );
        } else {
            print_text(&engine, file, &envelope, &analysis, &decision);
        }
    }
    Ok(if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The envelope given on the command line, completed from the headers where a part is missing.
fn envelope_for(engine: &Engine, raw: &[u8], mail_from: Option<&str>, rcpt: &[String]) -> Envelope {
    let mut envelope = if mail_from.is_none() || rcpt.is_empty() {
        Envelope::from_headers(&crate::message::analyse(raw, &engine.limits).headers)
    } else {
        Envelope::default()
    };
    if let Some(m) = mail_from {
        envelope.mail_from =
            Some(m.trim_matches(|c| c == '<' || c == '>').to_string()).filter(|m| !m.is_empty());
    }
    if !rcpt.is_empty() {
        envelope.rcpt_to = rcpt
            .iter()
            .map(|address| Recipient {
                address: address.clone(),
                params: Vec::new(),
            })
            .collect();
    }
    envelope
}

fn print_text(
    engine: &Engine,
    file: &std::path::Path,
    envelope: &Envelope,
    analysis: &Analysis,
    decision: &Decision,
) {
    let verdict = serde_json::to_value(decision.verdict)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    println!(
        "{}: {verdict} (score {:.1})",
        file.display(),
        decision.score
    );
    println!("  mode: {}", engine.policy.mode.name());
    if let Some(would) = decision.would {
        println!("  would: {} (monitor mode: not acted on)", would.name());
    }
    println!(
        "  envelope: {} -> {}",
        envelope.mail_from.as_deref().unwrap_or("<>"),
        envelope.recipients().collect::<Vec<_>>().join(", ")
    );
    match decision.exempt {
        Some(e) => println!(
            "  exempt: {}",
            serde_json::to_value(e)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        ),
        None => println!("  exempt: no"),
    }
    for hit in &decision.hits {
        let article = engine
            .rules
            .rule(&hit.rule_id)
            .map(|r| r.article.as_str())
            .unwrap_or("");
        let note = match (hit.counted, hit.monitor) {
            (false, _) => ", not counted",
            (true, true) => ", monitor only",
            (true, false) => "",
        };
        println!(
            "  hit {} [{}] weight {} in {} ({article}{note})",
            hit.rule_id, hit.category, hit.weight, hit.location
        );
    }
    for d in &decision.detections {
        println!("  infected: {} at {}", d.name, d.location);
    }
    if let Some(reason) = &decision.tempfail_reason {
        println!("  tempfail: {reason}");
    }
    if !analysis.damage.is_empty() {
        println!(
            "  damage: {}",
            serde_json::to_string(&analysis.damage).unwrap_or_default()
        );
    }
}
