//! A small harness for instruction counts of the rules engine on the criterion bench's text (`cargo bench
//! --bench rules` measures wall time, which a shared machine's load moves; callgrind's counts it does not):
//!
//! ```sh
//! cargo build --release --example rules_profile
//! valgrind --tool=callgrind target/release/examples/rules_profile evaluate 3
//! valgrind --tool=callgrind target/release/examples/rules_profile compile 0   # subtract this
//! ```
//!
//! `fold`, `fold-sentences` or `evaluate`, each run N times over the ~1 MB text after compiling the embedded
//! rules once. Prints how many rules hit (none on this text) so the work is not optimised away.

use std::process::ExitCode;

use mailwacht::rules::{near::FoldedSentences, normalize, RuleContext, RuleSet};

#[path = "../benches/support/text.rs"]
mod text;

fn main() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let times: usize = args.next().map_or(Ok(1), |n| n.parse())?;
    let text = text::dutch_text();
    let rules = RuleSet::embedded()?;
    let (org, envelope, analysis) = text::context(&text);
    let mut out = 0;
    for _ in 0..times {
        out += match what.as_str() {
            "fold" => normalize::fold(&text).text.len(),
            "fold-sentences" => FoldedSentences::new(&text).ends().len(),
            "evaluate" => rules
                .evaluate(&RuleContext {
                    envelope: &envelope,
                    analysis: &analysis,
                    org: &org,
                })
                .len(),
            "compile" => 0,
            _ => {
                eprintln!("usage: rules_profile fold|fold-sentences|evaluate|compile [N]");
                return Ok(ExitCode::from(2));
            }
        };
    }
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}
