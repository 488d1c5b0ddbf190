//! The command line of the real binary: `check` (what admins use to test rules) and `config`, their exit
//! codes, JSON output, and the errors a broken configuration or rule file gives.

use std::path::Path;
use std::process::{Command, Output};

fn mailwacht(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .args(args)
        .env_remove("MAILWACHT_CONFIG")
        // Never this machine's /etc/mailwacht/mailwacht.toml.
        .env("MAILWACHT_SYSTEM_CONFIG", "/nonexistent/mailwacht.toml")
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

/// `check --json` says where each hit was found (`place`), one fixture per kind of place, and a quoted hit
/// is reported as not counted.
#[test]
fn check_json_names_the_place_of_each_hit() {
    let cases: &[(&str, &str, &str, bool)] = &[
        (
            "fixtures/evasion/quoted-printable-zachte-regelbreuk.eml",
            "MW-BELEDIGEND-01",
            "body",
            true,
        ),
        (
            "fixtures/evasion/rfc2047-onderwerp.eml",
            "MW-BELEDIGEND-01",
            "subject",
            true,
        ),
        (
            "fixtures/pass/antwoord-met-citaat.eml",
            "MW-BELEDIGEND-01",
            "quote",
            false,
        ),
        (
            "fixtures/bounce/bijlage-exe.eml",
            "MW-BIJLAGE-01",
            "attachment",
            true,
        ),
        (
            "fixtures/bounce/bijlage-zip-met-exe.eml",
            "MW-BIJLAGE-01",
            "archive-member",
            true,
        ),
        (
            "fixtures/bounce/bijlage-tekst-pdf.eml",
            "MW-BELEDIGEND-01",
            "attachment-text",
            true,
        ),
    ];
    let files: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let out = mailwacht(&[&["check", "--json"][..], &files].concat());
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), cases.len(), "{}", stderr(&out));
    for ((file, rule, place, counted), line) in cases.iter().zip(&lines) {
        let hits = line["hits"].as_array().expect("hits");
        let hit = hits
            .iter()
            .find(|h| h["rule_id"] == *rule)
            .unwrap_or_else(|| panic!("{file}: no hit of {rule}: {line}"));
        assert_eq!(hit["place"], *place, "{file}: {hit}");
        assert_eq!(hit["counted"], *counted, "{file}: {hit}");
        // Every hit has a place.
        assert!(
            hits.iter().all(|h| h["place"].is_string()),
            "{file}: {line}"
        );
    }
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

/// `[rules] monitor` turns rules to watching only (the language model: a veiled threat it stops by default
/// is then reported and passes), `enforce` turns them back on and `monitor` is applied after it, and a
/// pattern that matches no rule is a configuration error naming the key.
#[test]
fn rule_modes_are_set_from_the_configuration() {
    let file = "fixtures/bounce/taal-dreiging-kantine.eml";
    let with = |toml: &str| {
        let config = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(config.path(), toml).expect("write");
        let cfg = config.path().to_str().expect("path").to_string();
        mailwacht(&[
            "--config",
            &cfg,
            "check",
            "--json",
            "--mail-from",
            "juf@school.example",
            file,
        ])
    };
    let verdict = |out: &Output| -> serde_json::Value {
        serde_json::from_str(stdout(out).trim()).expect("json")
    };
    let shipped = with("");
    assert_eq!(shipped.status.code(), Some(1), "{}", stderr(&shipped));
    let v = verdict(&shipped);
    assert_eq!(v["verdict"], "bounce", "{v}");
    let id = v["hits"][0]["rule_id"].as_str().expect("id").to_string();
    assert!(id.starts_with("MW-TAAL-"), "{v}");
    assert_eq!(v["hits"][0]["monitor"], false, "{v}");

    let watched = with("[rules]\nmonitor = [\"MW-TAAL-*\"]\n");
    assert_eq!(watched.status.code(), Some(0), "{}", stderr(&watched));
    let v = verdict(&watched);
    assert_eq!(v["verdict"], "pass", "{v}");
    assert_eq!(v["hits"][0]["monitor"], true, "{v}");

    // `monitor` is applied after `enforce`: the one rule stays watched.
    let both = with(&format!(
        "[rules]\nenforce = [\"MW-TAAL-*\"]\nmonitor = [\"{id}\"]\n"
    ));
    assert_eq!(verdict(&both)["verdict"], "pass", "{}", stdout(&both));

    let typo = with("[rules]\nenforce = [\"MW-TAAL-DREIGIN\"]\n");
    assert_ne!(typo.status.code(), Some(0));
    assert!(
        stderr(&typo).contains("[rules] enforce"),
        "{}",
        stderr(&typo)
    );
    assert!(
        stderr(&typo).contains("`MW-TAAL-DREIGIN` matches no rule"),
        "{}",
        stderr(&typo)
    );
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

/// Issue 15: without --config or MAILWACHT_CONFIG the CLI and the daemon read the system configuration
/// (/etc/mailwacht/mailwacht.toml; here the file MAILWACHT_SYSTEM_CONFIG names) when it exists, and
/// `config` says which file it used. The review commands then find the configured data directory instead
/// of a new one in the caller's home.
#[test]
fn without_config_the_system_file_is_read_by_the_cli_and_the_daemon() {
    let dir = tempfile::tempdir().expect("tmp");
    let system = dir.path().join("mailwacht.toml");
    let data = dir.path().join("var-lib-mailwacht");
    let write_system = |listen: &str| {
        std::fs::write(
            &system,
            format!(
                "[smtp]\nlisten = \"{listen}\"\n[storage]\ndata_dir = {:?}\n",
                data.display().to_string()
            ),
        )
        .expect("write");
    };
    write_system("127.0.0.1:10099");
    let run = |args: &[&str], system: &Path| {
        Command::new(env!("CARGO_BIN_EXE_mailwacht"))
            .args(args)
            .env_remove("MAILWACHT_CONFIG")
            .env("MAILWACHT_SYSTEM_CONFIG", system)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run mailwacht")
    };
    let out = run(&["config"], &system);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "# configuration file {} (the system default)",
            system.display()
        )),
        "{text}"
    );
    assert!(text.contains("listen = \"127.0.0.1:10099\""), "{text}");

    // The review commands use its data directory (which does not exist yet: nothing is created).
    let out = run(&["quarantine", "list"], &system);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "the data directory {} does not exist",
            data.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!data.exists());

    // --config still wins over the system file.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "[smtp]\nlisten = \"127.0.0.1:10098\"\n").expect("write");
    let out = run(
        &["--config", other.to_str().expect("utf-8"), "config"],
        &system,
    );
    let text = stdout(&out);
    assert!(
        text.contains(&format!("# configuration file {}\n", other.display()))
            && text.contains("127.0.0.1:10098"),
        "{text}"
    );

    // No system file: the embedded defaults, said so.
    let absent = dir.path().join("absent.toml");
    let out = run(&["config"], &absent);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "no configuration file ({} does not exist): the embedded defaults",
            absent.display()
        )) && text.contains("127.0.0.1:10025"),
        "{text}"
    );

    // The daemon reads it too: it names the file and listens where the file says (port 0 here).
    write_system("127.0.0.1:0");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .arg("serve")
        .env_remove("MAILWACHT_CONFIG")
        .env("MAILWACHT_SYSTEM_CONFIG", &system)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let stderr_pipe = child.stderr.take().expect("stderr");
    let mut started = None;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr_pipe)) {
        let line = line.expect("line");
        if line.contains("mailwacht listening") {
            started = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = started.expect("the daemon started");
    assert!(
        line.contains(&format!("config={}", system.display())),
        "{line}"
    );
    assert!(data.is_dir(), "the daemon created the configured data dir");
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
        .env("MAILWACHT_SYSTEM_CONFIG", "/nonexistent/mailwacht.toml")
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

/// What `config` accepts `serve` runs: a `reporting_mta` that would make every notice fail and a `hostname`
/// the notice sender cannot use are refused by both, naming the file, section and key (issue 13).
#[test]
fn config_and_serve_refuse_what_would_make_notices_fail() {
    let config = tempfile::NamedTempFile::new().expect("tmp");
    let cfg = config.path().to_str().expect("path");
    for (text, key) in [
        (
            "[bounce]\nreporting_mta = \"mail gw\"\n",
            "[bounce] reporting_mta",
        ),
        ("[smtp]\nhostname = \"mail_gw\"\n", "[smtp] hostname"),
    ] {
        std::fs::write(config.path(), text).expect("write");
        for command in ["config", "serve"] {
            let out = mailwacht(&["--config", cfg, command]);
            assert!(!out.status.success(), "{command} accepted {text}");
            let err = stderr(&out);
            assert!(err.contains(cfg), "{command}: {err}");
            assert!(err.contains(key), "{command}: {err}");
        }
    }
}

/// Issue 15: a listing piped into `head` ends like a Unix tool's (killed by SIGPIPE, nothing on stderr),
/// not with a "Broken pipe" panic and exit 101.
#[test]
fn a_listing_piped_into_head_stops_quietly() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    // About 2,000 lines: far more than a pipe buffer holds, so writing goes on after the reader has gone.
    let files = vec!["fixtures/pass/ouderavond.eml"; 2000];
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailwacht"))
        .arg("check")
        .args(&files)
        .env_remove("MAILWACHT_CONFIG")
        .env("MAILWACHT_SYSTEM_CONFIG", "/nonexistent/mailwacht.toml")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mailwacht");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    // The reader (like `head -1`) is gone here.
    let out = child.wait_with_output().expect("wait");
    assert!(first.contains("pass"), "{first}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// Issue 15: review output shows local time with its zone (TZ or the system's; the boards are in
/// Europe/Amsterdam), and `--json` adds the same instants in RFC 3339 beside the epoch seconds.
#[test]
fn review_times_are_local_with_the_zone_and_json_has_rfc3339() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    std::fs::create_dir(dir.path().join("data-keys")).expect("key dir");
    let run = |tz: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mailwacht"))
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("MAILWACHT_CONFIG")
            .env("MAILWACHT_SYSTEM_CONFIG", "/nonexistent/mailwacht.toml")
            .env("TZ", tz)
            .output()
            .expect("run mailwacht")
    };
    let out = run(
        "Europe/Amsterdam",
        &[
            "inquiry",
            "open",
            "--person",
            "leraar1@school.example",
            "--reason",
            "melding 2026-17 van de directeur",
            "--days",
            "7",
            "--from",
            "2026-11-23",
            "--by",
            "J. de Vries (FG)",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Midnight UTC is 01:00 in Amsterdam in November (CET, UTC+1).
    assert!(
        stdout(&out).contains("from 2026-11-23 01:00:00 CET to 2026-11-30 01:00:00 CET"),
        "{}",
        stdout(&out)
    );
    let out = run("UTC", &["inquiry", "list"]);
    assert!(
        stdout(&out).contains("2026-11-23 00:00:00 UTC"),
        "{}",
        stdout(&out)
    );
    let out = run("Europe/Amsterdam", &["audit", "list"]);
    assert!(
        stdout(&out).contains(" CET  gebruiker") || stdout(&out).contains(" CEST  gebruiker"),
        "{}",
        stdout(&out)
    );
    let out = run("Europe/Amsterdam", &["inquiry", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let text = v.to_string();
    assert!(
        text.contains("\"from_rfc3339\":\"2026-11-23T00:00:00Z\"")
            && text.contains("\"to_rfc3339\":\"2026-11-30T00:00:00Z\""),
        "{text}"
    );
}

/// `mailwacht user ...` offline (no daemon): accounts with argon2id hashes in an owner-only file, the password
/// from stdin and never on the command line or in the output, every change in the audit log.
#[test]
fn user_accounts_are_added_listed_changed_and_disabled_with_audit_entries() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let config = dir.path().join("mailwacht.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = {:?}\n[traffic]\nkey_dir = {:?}\n",
            data,
            dir.path().join("keys")
        ),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8");
    let with_password = |args: &[&str], password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailwacht"))
            .args(["--config", config])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run mailwacht");
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{password}").expect("password");
        drop(stdin);
        child.wait_with_output().expect("output")
    };
    let add = ["user", "add", "anna", "--role", "ict", "--password-stdin"];
    let out = with_password(&add, "een lang wachtwoord");
    assert!(out.status.success(), "{}", stderr(&out));
    let again = with_password(&add, "een lang wachtwoord");
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("already exists"));
    let short = with_password(&["user", "add", "bert", "--role", "auditor"], "kort");
    assert_eq!(short.status.code(), Some(2));
    assert!(stderr(&short).contains("too short"));
    let bad_role = with_password(
        &["user", "add", "bert", "--role", "admin"],
        "een lang wachtwoord",
    );
    assert_eq!(bad_role.status.code(), Some(2));
    let file = data.join("users.json");
    let text = std::fs::read_to_string(&file).expect("users.json");
    assert!(text.contains("$argon2id$") && !text.contains("een lang wachtwoord"));
    assert_eq!(
        std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    let passwd = with_password(
        &["user", "passwd", "anna", "--password-stdin"],
        "nog een lang wachtwoord",
    );
    assert!(passwd.status.success(), "{}", stderr(&passwd));
    let disable = mailwacht(&["--config", config, "user", "disable", "anna"]);
    assert!(disable.status.success(), "{}", stderr(&disable));
    let list = mailwacht(&["--config", config, "user", "list", "--json"]);
    let users: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(users[0]["name"], "anna");
    assert_eq!(users[0]["role"], "ict");
    assert_eq!(users[0]["disabled"], true);
    assert!(users[0].get("hash").is_none());
    let audit = mailwacht(&["--config", config, "audit", "list", "--json"]);
    assert!(audit.status.success(), "{}", stderr(&audit));
    let audit_json: serde_json::Value = serde_json::from_slice(&audit.stdout).expect("json");
    assert_eq!(audit_json["verification"]["intact"], true);
    let actions: Vec<(&str, &str)> = audit_json["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("user-add", "anna"),
            ("user-passwd", "anna"),
            ("user-disable", "anna")
        ]
    );
    assert!(!String::from_utf8_lossy(&audit.stdout).contains("wachtwoord"));
}

/// Issue 15: `check` shows the mode and which hits are monitor only, as text and as JSON, and exits 0 for a
/// message monitor mode lets through.
#[test]
fn check_shows_monitor_mode_and_monitor_only_hits() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("mailwacht.toml");
    std::fs::write(&config, "[policy]\nmode = \"monitor\"\n").expect("write config");
    let config = config.to_str().expect("utf-8");
    let file = "fixtures/bounce/beledigend-kankerlijer.eml";
    let out = mailwacht(&["--config", config, "check", "--json", file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(json["mode"], "monitor");
    assert_eq!(json["verdict"], "pass");
    assert_eq!(json["would"], "bounce");
    assert_eq!(json["hits"][0]["monitor"], true, "{json}");

    let out = mailwacht(&["--config", config, "check", file]);
    let text = stdout(&out);
    assert!(text.contains("mode: monitor"), "{text}");
    assert!(text.contains("would: bounce"), "{text}");
    assert!(text.contains(", monitor only)"), "{text}");

    // Enforcing (the default): the same message bounces, and no hit is monitor only.
    let out = mailwacht(&["check", "--json", file]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(
        (json["mode"].as_str(), json["verdict"].as_str()),
        (Some("enforce"), Some("bounce"))
    );
    assert!(json.get("would").is_none(), "{json}");
    assert_eq!(json["hits"][0]["monitor"], false, "{json}");
}
