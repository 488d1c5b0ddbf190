//! Rules-engine benchmarks (criterion): text folding and matching throughput on ordinary Dutch text, and the
//! whole decision (analyse → rules → policy) per fixture message. Run with `cargo bench --bench rules`.
//! Never part of `cargo test`; figures go to BENCHMARKS.md.

mod support;
#[path = "support/text.rs"]
mod text;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mailwacht::envelope::Envelope;
use mailwacht::rules::{normalize, RuleContext, RuleSet};

fn bench_text(c: &mut Criterion) {
    let text = text::dutch_text();
    let rules = RuleSet::embedded().expect("embedded rules");
    let (org, envelope, analysis) = text::context(&text);
    let mut group = c.benchmark_group("text");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    group.bench_function("fold", |b| b.iter(|| normalize::fold(&text)));
    group.bench_function("fold-sentences", |b| {
        b.iter(|| mailwacht::rules::near::FoldedSentences::new(&text))
    });
    group.bench_function("evaluate-default-rules", |b| {
        b.iter(|| {
            rules.evaluate(&RuleContext {
                envelope: &envelope,
                analysis: &analysis,
                org: &org,
            })
        })
    });
    // The default rules plus one extra rule file with 5,000 synthetic Dutch-looking words (issue 7: ≥ 150 MB/s).
    let large = large_ruleset();
    group.bench_function("evaluate-default-plus-5000-words", |b| {
        b.iter(|| {
            large.evaluate(&RuleContext {
                envelope: &envelope,
                analysis: &analysis,
                org: &org,
            })
        })
    });
    group.finish();

    let mut compile = c.benchmark_group("compile");
    compile.sample_size(10);
    compile.bench_function("default-rules", |b| b.iter(RuleSet::embedded));
    compile.bench_function("default-plus-5000-words", |b| b.iter(large_ruleset));
    compile.finish();
}

/// 5,000 distinct synthetic words built from Dutch syllables (e.g. `verkoopstraat`), none of which occurs in
/// [`dutch_text`], so the benchmark measures scanning, not hit handling.
fn synthetic_words(count: usize) -> Vec<String> {
    let onsets = [
        "ver", "ont", "be", "ge", "her", "over", "onder", "door", "mee", "uit", "op", "aan", "af",
        "toe", "weg", "bij", "na", "voor", "om", "in",
    ];
    let middles = [
        "koop", "loop", "spreek", "schrijf", "werk", "bouw", "draag", "houd", "zet", "leg", "val",
        "stel", "vang", "trek", "sluit", "breek", "graaf", "kweek", "meld", "plak", "zwaai",
        "klim", "duik", "fiets", "zaai",
    ];
    let endings = [
        "straat", "plein", "kwast", "dijk", "ploeg", "moer", "knaap", "gruis", "wolk", "spijl",
    ];
    let mut words = Vec::with_capacity(count);
    'outer: for o in onsets {
        for m in middles {
            for e in endings {
                if words.len() == count {
                    break 'outer;
                }
                words.push(format!("{o}{m}{e}x"));
            }
        }
    }
    words
}

fn large_ruleset() -> RuleSet {
    let words = synthetic_words(5_000);
    let list = words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let extra = format!(
        "[[rule]]\nid = \"BENCH-5000-01\"\nkind = \"words\"\ncategory = \"beledigend\"\n\
         article = \"bench\"\nweight = 5.0\nmessage_nl = \"bench\"\nmessage_en = \"bench\"\n\
         words = [{list}]\n"
    );
    let mut sources: Vec<(String, String)> = mailwacht::rules::EMBEDDED
        .iter()
        .map(|(f, s)| (f.to_string(), s.to_string()))
        .collect();
    sources.push(("99-bench-5000.toml".into(), extra));
    RuleSet::from_sources(sources).expect("5,000-word rules")
}

fn bench_messages(c: &mut Criterion) {
    let (engine, runtime) = support::engine();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut group = c.benchmark_group("message");
    for name in [
        "pass/ouderavond.eml",
        "pass/nieuwsbrief-html.eml",
        "pass/docx-zip.eml",
        "bounce/bijlage-geneste-zip-met-exe.eml",
    ] {
        let raw = std::fs::read(root.join(name)).expect("fixture");
        let envelope =
            Envelope::from_headers(&mailwacht::message::analyse(&raw, &engine.limits).headers);
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_with_input(BenchmarkId::new("analyse+decide", name), &raw, |b, raw| {
            b.iter(|| runtime.block_on(engine.check(&envelope, raw)))
        });
    }
    // The whole fixture set, every message in turn (time per set; divide by the count for per message).
    let mut set = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixture dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "eml") {
                let raw = std::fs::read(&path).expect("fixture");
                let envelope = Envelope::from_headers(
                    &mailwacht::message::analyse(&raw, &engine.limits).headers,
                );
                set.push((envelope, raw));
            }
        }
    }
    group.throughput(Throughput::Bytes(
        set.iter().map(|(_, raw)| raw.len() as u64).sum(),
    ));
    let name = format!("all-{}-fixtures", set.len());
    group.bench_function(BenchmarkId::new("analyse+decide", name), |b| {
        b.iter(|| {
            for (envelope, raw) in &set {
                std::hint::black_box(runtime.block_on(engine.check(envelope, raw)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_text, bench_messages);
criterion_main!(benches);
