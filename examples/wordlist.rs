//! Which words of a word list make a rule hit on their own (issue 14: no ordinary Dutch word may be stopped)?
//!
//! ```sh
//! cargo run --release --example wordlist -- /usr/share/dict/dutch --config fixtures/eval/eval.toml \
//!     --expected fixtures/eval/wordlist-expected.tsv
//! ```
//!
//! Every line of the list becomes the whole body of a plain mail from a teacher to an external parent, decided by
//! the same [`Engine`] `mailwacht check` uses. Prints one line per word with a hit: `stop` or `hit` (a hit that
//! stays under the threshold), the class of a stopped word (`offensive` or `vulgar` from the `--expected` file
//! of `class<TAB>word` lines, else `ordinary`), the word and the rule ids; a summary goes to stderr. Too slow for
//! `cargo test` (≈ 400,000 messages), so it is an example, run by hand; see fixtures/eval/README.md.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use mailwacht::config::Config;
use mailwacht::envelope::{Envelope, Recipient};
use mailwacht::policy::Verdict;

fn main() -> anyhow::Result<ExitCode> {
    let mut list = None;
    let mut config = None;
    let mut expected_file = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--config" {
            config = args.next().map(PathBuf::from);
        } else if arg == "--expected" {
            expected_file = args.next().map(PathBuf::from);
        } else {
            list = Some(PathBuf::from(arg));
        }
    }
    let Some(list) = list else {
        eprintln!("usage: wordlist WORDLIST [--config FILE] [--expected FILE]");
        return Ok(ExitCode::from(2));
    };
    let config = Config::load(config.as_deref())?;
    let engine = config.engine().context("loading rules")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting runtime")?;
    let envelope = Envelope {
        mail_from: Some("m.jansen@school.example".into()),
        rcpt_to: vec![Recipient {
            address: "fam.devries@example.org".into(),
            params: Vec::new(),
        }],
        ..Envelope::default()
    };
    let text = std::fs::read_to_string(&list)
        .with_context(|| format!("cannot read {}", list.display()))?;
    let expected_text = match &expected_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => String::new(),
    };
    // class<TAB>word lines; `#` starts a comment.
    let expected: HashMap<&str, &str> = expected_text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(class, word)| (word, class))
        .collect();
    let mut stopped_by_class: BTreeMap<&str, usize> = BTreeMap::new();

    let started = Instant::now();
    let (mut words, mut hits) = (0usize, 0usize);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for word in text.lines().map(str::trim).filter(|w| !w.is_empty()) {
        words += 1;
        let raw = format!(
            "From: Marieke Jansen <m.jansen@school.example>\r\nTo: <fam.devries@example.org>\r\n\
             Subject: Bericht\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{word}\r\n"
        );
        let (_, decision) = runtime.block_on(engine.check(&envelope, raw.as_bytes()));
        if decision.hits.is_empty() {
            continue;
        }
        hits += 1;
        let rules: Vec<&str> = decision.hits.iter().map(|h| h.rule_id.as_str()).collect();
        let (status, class) = if decision.verdict == Verdict::Pass {
            ("hit", "-")
        } else {
            let class = expected.get(word).copied().unwrap_or("ordinary");
            *stopped_by_class.entry(class).or_default() += 1;
            ("stop", class)
        };
        writeln!(out, "{status}\t{class}\t{word}\t{}", rules.join(","))?;
    }
    out.flush()?;
    let stopped: Vec<String> = stopped_by_class
        .iter()
        .map(|(class, n)| format!("{n} {class}"))
        .collect();
    eprintln!(
        "{words} words, {hits} with a hit, stopped on their own: {} ({:.1} s)",
        if stopped.is_empty() {
            "none".to_string()
        } else {
            stopped.join(", ")
        },
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
