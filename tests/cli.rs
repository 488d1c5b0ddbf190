//! The command line of the real binary: `check` (what admins use to test rules) and `config`, their exit
//! codes, JSON output, and the errors a broken configuration or rule file gives.

use std::path::Path;
use std::process::{Command, Output};

fn mailwacht(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .args(args)
        .env_remove("MAILWACHT_CONFIG")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run mailwacht")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_json_reports_verdict_exemption_score_and_hits() {
    let out = mailwacht(&[
        "check",
        "--json",
        "fixtures/pass/ouderavond.eml",
        "fixtures/bounce/beledigend-kankerlijer.eml",
        "fixtures/exempt/sensitivity-personal.eml",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bouncing message makes check exit 1: {}",
        stderr(&out)
    );
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["verdict"], "pass");
    assert_eq!(lines[0]["exempt"], serde_json::Value::Null);
    assert_eq!(lines[1]["verdict"], "bounce");
    assert!(lines[1]["score"].as_f64().expect("score") >= 5.0);
    let hit = &lines[1]["hits"][0];
    assert_eq!(hit["category"], "beledigend");
    assert!(hit["rule_id"].as_str().expect("rule id").starts_with("MW-"));
    assert_eq!(hit["location"]["kind"], "text", "{hit}");
    assert_eq!(lines[2]["verdict"], "pass");
    assert_eq!(lines[2]["exempt"], "persoonlijk");
    // The output names where a word matched, never the word itself.
    assert!(
        !stdout(&out).to_lowercase().contains("kankerlijer\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn check_takes_the_envelope_from_flags() {
    // The same mail from a vertrouwenspersoon passes; from anyone else it bounces.
    let config = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(
        config.path(),
        "[exemptions]\ncounsellors = [\"vp@school.example\"]\n",
    )
    .expect("write");
    let file = "fixtures/bounce/beledigend-kankerlijer.eml";
    let cfg = config.path().to_str().expect("path");
    let out = mailwacht(&[
        "--config",
        cfg,
        "check",
        "--json",
        "--mail-from",
        "vp@school.example",
        "--rcpt",
        "a@example.org",
        file,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    assert_eq!(v["exempt"], "vertrouwenspersoon");
    assert_eq!(v["rcpt_to"], serde_json::json!(["a@example.org"]));
    let out = mailwacht(&[
        "--config",
        cfg,
        "check",
        "--mail-from",
        "juf@school.example",
        file,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains(": bounce (score"), "{}", stdout(&out));
    assert!(stdout(&out).contains("[beledigend]"), "{}", stdout(&out));
}

#[test]
fn config_runs_on_embedded_defaults_with_no_file() {
    let out = mailwacht(&["config"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("configuration is valid"), "{text}");
    assert!(
        text.contains("listen = \"127.0.0.1:10025\"")
            && text.contains("next_hop = \"127.0.0.1:10026\""),
        "{text}"
    );
}

#[test]
fn broken_configuration_names_file_and_line() {
    let config = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(
        config.path(),
        "[smtp]\nlisten = \"127.0.0.1:10025\"\nlistne = \"typo\"\n",
    )
    .expect("write");
    let out = mailwacht(&["--config", config.path().to_str().expect("path"), "serve"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&config.path().display().to_string())
            && err.contains("line 3")
            && err.contains("listne"),
        "{err}"
    );
}

#[test]
fn broken_rule_file_names_file_and_rule_id_and_the_env_variable_is_honoured() {
    let dir = tempfile::tempdir().expect("tmp");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    std::fs::write(
        rules.join("10-eigen.toml"),
        "[[rule]]\nid = \"EIGEN-01\"\nkind = \"words\"\ncategory = \"beledigend\"\narticle = \"SOML 2.1\"\n\
         regex = [\"(onaf\"]\nmessage_nl = \"x\"\nmessage_en = \"x\"\n",
    )
    .expect("write rule");
    let config = dir.path().join("mailwacht.toml");
    std::fs::write(
        &config,
        format!("[rules]\ndir = {:?}\n", rules.display().to_string()),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .args(["check", "fixtures/pass/ouderavond.eml"])
        .env("MAILWACHT_CONFIG", &config)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("10-eigen.toml") && err.contains("EIGEN-01") && err.contains("(onaf"),
        "{err}"
    );
}

#[test]
fn unreadable_message_is_an_error_not_a_verdict() {
    let out = mailwacht(&["check", "fixtures/does-not-exist.eml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does-not-exist.eml"));
    assert!(Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .is_dir());
}

#[test]
fn privacy_settings_beyond_the_code_are_refused_unless_a_deviation_is_declared() {
    let config = tempfile::NamedTempFile::new().expect("tmp");
    let cfg = config.path().to_str().expect("path");
    let deviation = "code_of_conduct_deviation = \"besluit bestuur 2026-04, zie notulen\"\n";
    // (settings, exit code without a deviation, with one, key named in the error)
    let table = [
        ("k_anonymity = 0", 2, 2, "k_anonymity"),
        ("k_anonymity = 1", 2, 0, "k_anonymity"),
        ("retention_days = 100000", 2, 2, "retention_days"),
        ("inquiry_max_days = 40", 2, 2, "inquiry_max_days"),
        ("retention_days = 35", 2, 0, "retention_days"),
        ("inquiry_max_days = 21", 2, 0, "inquiry_max_days"),
    ];
    for (setting, plain, declared, key) in table {
        std::fs::write(config.path(), format!("[traffic]\n{setting}\n")).expect("write");
        let out = mailwacht(&["--config", cfg, "config"]);
        assert_eq!(out.status.code(), Some(plain), "{setting}");
        assert!(stderr(&out).contains(key), "{setting}: {}", stderr(&out));
        std::fs::write(config.path(), format!("[traffic]\n{setting}\n{deviation}")).expect("write");
        let out = mailwacht(&["--config", cfg, "config"]);
        assert_eq!(out.status.code(), Some(declared), "{setting} declared");
        if declared == 0 {
            // Accepted, but said out loud, and the declaration shows in the effective configuration.
            assert!(
                stderr(&out).contains("WARNING") && stderr(&out).contains(key),
                "{}",
                stderr(&out)
            );
            assert!(
                stdout(&out).contains("besluit bestuur 2026-04"),
                "{}",
                stdout(&out)
            );
        }
    }
    // The defaults need no declaration and warn about nothing; the key directory shown is not in the data
    // directory.
    let out = mailwacht(&["config"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains("WARNING"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("# pseudonym keys: "),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("-keys"), "{}", stdout(&out));
}
