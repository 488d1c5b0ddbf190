//! Attachments through the real binary (issue 14): `mailwacht check --json` on the attachment fixtures names the
//! rule that stopped each one and where it matched — the attachment, an archive member, or the text inside an
//! attachment — and never the words it found.

use std::process::Command;

fn check(files: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .arg("check")
        .arg("--json")
        .args(files)
        .env_remove("MAILWACHT_CONFIG")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run mailwacht");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !stdout.to_lowercase().contains("kankerlijer") && !stdout.contains("123456782"),
        "check never shows content: {stdout}"
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// (rule id, location kind, text origin kind) of every hit.
fn hits(v: &serde_json::Value) -> Vec<(String, String, String)> {
    v["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| {
            (
                h["rule_id"].as_str().unwrap_or("").to_owned(),
                h["location"]["kind"].as_str().unwrap_or("").to_owned(),
                h["location"]["origin"]["kind"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn each_attachment_form_is_stopped_by_its_rule_and_located() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (fixture, rule, location kind, text origin kind)
        (
            "bounce/bijlage-tekst-docx-runs",
            "MW-BELEDIGEND-01",
            "text",
            "attachment-text",
        ),
        (
            "bounce/bijlage-tekst-pdf",
            "MW-BELEDIGEND-01",
            "text",
            "attachment-text",
        ),
        (
            "bounce/bijlage-xlsx-bsn",
            "MW-PRIVACY-01",
            "text",
            "attachment-text",
        ),
        (
            "bounce/bijlage-tar-gz-exe",
            "MW-BIJLAGE-01",
            "archive-member",
            "",
        ),
        (
            "bounce/bijlage-7z-exe",
            "MW-BIJLAGE-03",
            "archive-member",
            "",
        ),
        (
            "bounce/bijlage-zip-versleuteld",
            "MW-BIJLAGE-08",
            "attachment",
            "",
        ),
        ("bounce/bijlage-onenote", "MW-BIJLAGE-06", "attachment", ""),
        (
            "bounce/bijlage-docx-met-macro",
            "MW-BIJLAGE-04",
            "attachment",
            "",
        ),
        (
            "bounce/bijlage-html-wachtwoord",
            "MW-BIJLAGE-07",
            "attachment",
            "",
        ),
        (
            "bounce/bijlage-svg-script",
            "MW-BIJLAGE-07",
            "attachment",
            "",
        ),
    ];
    let files: Vec<String> = cases
        .iter()
        .map(|c| format!("fixtures/{}.eml", c.0))
        .collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let results = check(&refs);
    assert_eq!(results.len(), cases.len());
    for ((name, rule, kind, origin), v) in cases.iter().zip(&results) {
        assert_eq!(v["verdict"], "bounce", "{name}: {v}");
        let found = hits(v);
        assert!(
            found
                .iter()
                .any(|(r, k, o)| r == rule && k == kind && o == origin),
            "{name}: {found:?}"
        );
    }
}

#[test]
fn innocent_twins_pass() {
    let twins = [
        "pass/bijlage-docx-runs",
        "pass/bijlage-pdf-flate",
        "pass/bijlage-xlsx-cijfers",
        "pass/bijlage-tar-gz-lesmateriaal",
        "pass/bijlage-7z-fotos",
        "pass/bijlage-html-agenda",
        "pass/bijlage-svg-logo",
    ];
    let files: Vec<String> = twins.iter().map(|t| format!("fixtures/{t}.eml")).collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    for (name, v) in twins.iter().zip(check(&refs)) {
        assert_eq!(v["verdict"], "pass", "{name}: {v}");
        assert_eq!(hits(&v), vec![], "{name}");
    }
}
