use super::*;
use std::path::{Path, PathBuf};

#[test]
fn embedded_defaults_are_valid() {
    let c = Config::load(None).expect("defaults");
    assert_eq!(c.smtp.listen, "127.0.0.1:10025");
    assert_eq!(c.smtp.next_hop, "127.0.0.1:10026");
    assert_eq!(c.policy.threshold, 5.0);
}

#[test]
fn partial_file_merges_with_defaults() {
    let c = Config::parse(
        "[organisation]\nlocal_domains = [\"School.Example\"]\n[exemptions]\ncounsellors = [\"VP@school.example\"]\n",
        "t.toml",
    )
    .expect("valid");
    assert_eq!(c.organisation.local_domains, vec!["school.example"]);
    assert_eq!(c.exemptions.counsellors, vec!["vp@school.example"]);
    assert_eq!(c.smtp.listen, "127.0.0.1:10025");
}

#[test]
fn errors_name_file_and_line() {
    let cases = [
        (
            "[smtp]\nlisten = \"127.0.0.1:10025\"\nlistne = \"x\"\n",
            "line 3",
        ),
        ("[smtpp]\n", "line 1"),
        ("[smtp]\nmax_message_size = \"big\"\n", "line 2"),
        ("[policy]\nbounce_mode = \"shout\"\n", "line 2"),
    ];
    for (text, want) in cases {
        let err = Config::parse(text, "bad.toml").expect_err(text).to_string();
        assert!(
            err.contains("bad.toml") && err.contains(want),
            "{text:?} gave {err}"
        );
    }
}

#[test]
fn invalid_values_are_refused() {
    let cases = [
        ("[smtp]\nlisten = \"nowhere\"\n", "listen"),
        ("[smtp]\npool_size = 0\n", "pool_size"),
        ("[scan]\nclamd = \"unix:relative\"\n", "clamd"),
        ("[scan]\nclamd = \"nohost\"\n", "clamd"),
        ("[scan]\ntimeout_secs = 0\n", "timeout_secs"),
        ("[scan]\nmax_stream = 0\n", "max_stream"),
        ("[quarantine]\nretention_days = 0\n", "retention_days"),
        ("[quarantine]\nnotify = [\"ict\"]\n", "notify"),
        ("[quarantine]\nnotify_sender = \"a b@c\"\n", "notify_sender"),
        ("[quarantine]\ndigest = \"weekly\"\n", "digest"),
        ("[policy]\nmode = \"audit\"\n", "mode"),
        ("[scan]\nbackend = \"norton\"\n", "backend"),
        ("[milter]\nlisten = \"unix:relative.sock\"\n", "listen"),
        ("[milter]\nlisten = \"11332\"\n", "listen"),
        ("[milter]\non_infected = \"ignore\"\n", "on_infected"),
        ("[milter]\ntimeout_secs = 0\n", "timeout_secs"),
        ("[policy]\nthreshold = 0.0\n", "threshold"),
        ("[policy]\nquote_weight = 1.5\n", "quote_weight"),
        (
            "[policy]\nreported_speech_weight = -0.1\n",
            "reported_speech_weight",
        ),
        ("[exemptions]\nreport_to = [\"politie.nl\"]\n", "report_to"),
        (
            "[policy]\non_unnotifiable = \"bounce\"\n",
            "on_unnotifiable",
        ),
        ("[bounce]\nremember_days = 0\n", "remember_days"),
        ("[bounce]\nremember_days = 1000\n", "remember_days"),
        (
            "[organisation]\nlocal_domains = [\"a@b\"]\n",
            "local_domains",
        ),
        ("[exemptions]\ncounsellors = [\"nobody\"]\n", "counsellors"),
        (
            "[[organisation.send_as]]\nsender = \"x\"\nfrom = \"*\"\n",
            "send_as",
        ),
    ];
    for (text, key) in cases {
        let err = Config::parse(text, "bad.toml").expect_err(text).to_string();
        assert!(err.contains(key), "{text:?} gave {err}");
    }
}

/// What used to pass `mailwacht config`: a `reporting_mta` that made every notice fail (every bounce a
/// `451`) and a `hostname` `serve` then refused. Both are named at once, each with its line.
#[test]
fn every_problem_is_reported_at_once_with_its_line() {
    let text =
        "[smtp]\nhostname = \"mail_gw\"\npool_size = 0\n[bounce]\n  reporting_mta = \"mail gw\"\n\
                [[organisation.send_as]]\nsender = \"x\"\nfrom = \"*\"\n";
    let Err(ConfigError::Invalid { path, problems }) = Config::parse(text, "t.toml") else {
        panic!("accepted");
    };
    assert_eq!(path, "t.toml");
    let found: Vec<(&str, &str, Option<usize>)> = problems
        .iter()
        .map(|p| (p.section, p.key, p.line))
        .collect();
    assert_eq!(
        found,
        [
            ("smtp", "pool_size", Some(3)),
            ("smtp", "hostname", Some(2)),
            ("bounce", "reporting_mta", Some(5)),
            ("organisation", "send_as", Some(6)),
        ]
    );
    assert!(problems[1].to_string().contains("mail_gw"), "{problems:?}");
    let good =
        Config::parse("[bounce]\nreporting_mta = \"mail.school.example\"\n", "t").expect("loads");
    assert!(good.compile("t").is_ok());
}

/// `compile` tries what the loaded keys alone cannot show (a `--next-hop` flag, a template file) and
/// names every problem.
#[test]
fn compile_reports_every_problem_that_would_stop_serve_or_every_notice() {
    let mut config = Config::load(None).expect("defaults");
    config.smtp.next_hop = "no port".into();
    config.bounce.template_nl = Some(PathBuf::from("/nonexistent/nl.txt"));
    let Err(err) = config.compile("t.toml") else {
        panic!("compiled");
    };
    assert_eq!(err.problems.len(), 2, "{err}");
    assert!(err.problems[0].starts_with("[smtp] next_hop: "), "{err}");
    assert!(err.problems[1].contains("/nonexistent/nl.txt"), "{err}");
    assert!(
        err.to_string().starts_with("configuration t.toml: "),
        "{err}"
    );
}

/// Every configuration the project ships or uses as an example compiles, and a notice can be built
/// with each (the DSN's `Reporting-MTA`, `From:` and `Message-ID` come from it).
#[test]
fn every_shipped_and_example_configuration_compiles_and_builds_a_notice() {
    fn configs(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                configs(&path, out);
            } else if path.extension().is_some_and(|e| e == "toml") {
                // Rule files live beside configurations in fixtures/; they are not configurations.
                let text = std::fs::read_to_string(&path).expect("read");
                if !text.contains("[[rule]]") {
                    out.push(path);
                }
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("deploy/mailwacht.toml")];
    configs(&root.join("fixtures"), &mut files);
    assert!(files.len() >= 2, "{files:?}");
    for file in files {
        let name = file.display().to_string();
        let config = Config::load(Some(&file)).unwrap_or_else(|e| panic!("{e}"));
        let compiled = config.compile(&name).unwrap_or_else(|e| panic!("{e}"));
        crate::bounce::probe_dsn(&compiled.engine.bounce).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let defaults = Config::load(None).expect("defaults");
    let compiled = defaults.compile(EMBEDDED_NAME).expect("defaults compile");
    crate::bounce::probe_dsn(&compiled.engine.bounce).expect("a notice from the defaults");
}

#[test]
fn shipped_example_configuration_is_valid() {
    let text = include_str!("../../deploy/mailwacht.toml");
    let c = Config::parse(text, "deploy/mailwacht.toml").expect("example config");
    assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/mailwacht"));
    // The directory the systemd unit creates (StateDirectory=mailwacht mailwacht-keys).
    assert_eq!(c.key_dir(), PathBuf::from("/var/lib/mailwacht-keys"));
    let unit = include_str!("../../deploy/mailwacht.service");
    assert!(unit.contains("StateDirectory=mailwacht mailwacht-keys"));
    // Apart from the example values it documents, the file shows the defaults.
    let mut defaults = Config::default();
    defaults.organisation.local_domains = vec!["school.example".into()];
    defaults.storage.data_dir = c.storage.data_dir.clone();
    // The package's admin socket: in the unit's RuntimeDirectory, for the group postinst creates.
    defaults.admin.socket = Some(PathBuf::from("/run/mailwacht/admin.sock"));
    defaults.admin.group = Some("mailwacht-ict".into());
    assert!(unit.contains("RuntimeDirectory=mailwacht\n"));
    assert_eq!(c, defaults);
}

#[test]
fn worker_threads_are_bounded() {
    assert!(Config::parse("[runtime]\nworker_threads = 2\n", "t").is_ok());
    let err = Config::parse("[runtime]\nworker_threads = 10000\n", "t")
        .expect_err("10000 threads")
        .to_string();
    assert!(err.contains("worker_threads"), "{err}");
}

#[test]
fn metrics_listen_must_be_loopback() {
    let table = [
        ("127.0.0.1:9425", true),
        ("[::1]:9425", true),
        ("0.0.0.0:9425", false),
        ("192.168.1.5:9425", false),
        ("localhost:9425", false),
        ("9425", false),
    ];
    for (listen, ok) in table {
        let text = format!("[metrics]\nlisten = \"{listen}\"\n");
        let r = Config::parse(&text, "t");
        assert_eq!(r.is_ok(), ok, "{listen}: {r:?}");
    }
}

#[test]
fn traffic_settings_are_checked() {
    for bad in [
        "[traffic]\nretention_days = 0\n",
        "[traffic]\nk_anonymity = 0\n",
        "[traffic]\ninquiry_max_days = 30\n",
        "[traffic]\nnotify_within_days = 0\n",
    ] {
        assert!(Config::parse(bad, "t").is_err(), "{bad}");
    }
    let deviation = "code_of_conduct_deviation = \"besluit bestuur 2026-04: 60 dagen\"\n";
    let c = Config::parse(
        &format!("[traffic]\nretention_days = 60\ninquiry_max_days = 30\n{deviation}"),
        "t",
    )
    .unwrap();
    assert_eq!((c.traffic.retention_days, c.traffic.k_anonymity), (60, 5));
    let keys: Vec<&str> = c.code_deviations().iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["retention_days", "inquiry_max_days"]);
    assert!(Config::default().code_deviations().is_empty());
}

#[test]
fn privacy_guardrails_need_a_declared_deviation_or_are_refused() {
    let deviation = "code_of_conduct_deviation = \"besluit bestuur 2026-04, zie notulen\"\n";
    // (setting, refused without a deviation, refused even with one, key named in the error)
    let table = [
        ("k_anonymity = 0", true, true, "k_anonymity"),
        ("k_anonymity = 1", true, false, "k_anonymity"),
        ("k_anonymity = 4", true, false, "k_anonymity"),
        ("k_anonymity = 5", false, false, ""),
        ("retention_days = 100000", true, true, "retention_days"),
        ("retention_days = 91", true, true, "retention_days"),
        ("retention_days = 29", true, false, "retention_days"),
        ("retention_days = 7\ninquiry_max_days = 3", false, false, ""),
        ("retention_days = 7\ninquiry_max_days = 7", false, false, ""),
        (
            "retention_days = 7\ninquiry_max_days = 8",
            true,
            true,
            "inquiry_max_days",
        ),
        ("inquiry_max_days = 15", true, false, "inquiry_max_days"),
        ("inquiry_max_days = 29", true, true, "inquiry_max_days"),
        ("notify_within_days = 28", false, false, ""),
        ("notify_within_days = 29", true, false, "notify_within_days"),
        ("notify_within_days = 91", true, true, "notify_within_days"),
    ];
    for (setting, refused, always, key) in table {
        let plain = format!("[traffic]\n{setting}\n");
        match Config::parse(&plain, "t") {
            Ok(_) => assert!(!refused, "{setting} accepted"),
            Err(e) => {
                assert!(refused, "{setting}: {e}");
                assert!(e.to_string().contains(key), "{setting}: {e}");
                if !always {
                    assert!(e.to_string().contains("code_of_conduct_deviation"), "{e}");
                }
            }
        }
        let declared = format!("{plain}{deviation}");
        assert_eq!(
            Config::parse(&declared, "t").is_err(),
            always,
            "{setting} with a deviation"
        );
    }
    // A deviation needs a reason of substance.
    assert!(Config::parse(
        "[traffic]\nretention_days = 30\ncode_of_conduct_deviation = \"ja\"\n",
        "t"
    )
    .is_err());
}

#[test]
fn the_key_dir_lies_beside_the_data_dir_never_inside() {
    let mut c = Config::default();
    c.storage.data_dir = PathBuf::from("/var/lib/mailwacht");
    assert_eq!(c.key_dir(), PathBuf::from("/var/lib/mailwacht-keys"));
    c.storage.data_dir = PathBuf::from("mailwacht-data");
    assert_eq!(c.key_dir(), PathBuf::from("./mailwacht-data-keys"));
    let inside = "[storage]\ndata_dir = \"/srv/mw\"\n[traffic]\nkey_dir = \"/srv/mw/keys\"\n";
    let e = Config::parse(inside, "t").unwrap_err().to_string();
    assert!(e.contains("key_dir"), "{e}");
    let apart = "[storage]\ndata_dir = \"/srv/mw\"\n[traffic]\nkey_dir = \"/etc/mailwacht/keys\"\n";
    assert_eq!(
        Config::parse(apart, "t").unwrap().key_dir(),
        PathBuf::from("/etc/mailwacht/keys")
    );
}

#[test]
fn host_names_are_accepted_as_next_hop() {
    assert!(Config::parse("[smtp]\nnext_hop = \"localhost:10026\"\n", "t").is_ok());
}

#[test]
fn summaries_are_per_week_or_per_day_only() {
    use crate::traffic::summary::Unit;
    assert_eq!(Config::default().traffic.summary_period, Unit::Week);
    let c = Config::parse("[traffic]\nsummary_period = \"day\"\n", "t").unwrap();
    assert_eq!(c.traffic.summary_period, Unit::Day);
    for bad in ["hour", "month", "Week"] {
        let text = format!("[traffic]\nsummary_period = \"{bad}\"\n");
        assert!(Config::parse(&text, "t").is_err(), "{bad}");
    }
}

#[test]
fn the_storage_backend_is_checked_with_its_line() {
    use crate::storage::Backend;
    assert_eq!(Config::default().storage.backend, Backend::Embedded);
    assert_eq!(Config::default().storage.postgres(), None);
    let good = "[storage]\nbackend = \"postgres\"\nurl = \"host=127.0.0.1 port=5432 user=mw dbname=mw\"\npassword_file = \"pg-password\"\n[traffic]\nkey_secret_file = \"key-secret\"\n";
    let c = Config::parse(good, "ok.toml").expect("valid");
    let pg = c.storage.postgres().expect("postgres settings");
    assert_eq!(pg.url, "host=127.0.0.1 port=5432 user=mw dbname=mw");
    assert_eq!(pg.password_file.as_deref(), Some(Path::new("pg-password")));
    for (text, want) in [
        ("[storage]\nbackend = \"mysql\"\n", "line 2"),
        (
            "[storage]\nbackend = \"postgres\"\n",
            "[storage] url: is required",
        ),
        (
            "[storage]\nbackend = \"postgres\"\nurl = \"host=h\"\n",
            "line 3: [storage] url: names no database",
        ),
        (
            "[storage]\nbackend = \"postgres\"\nurl = \"postgres://u:pw@h/d\"\n",
            "line 3: [storage] url: holds a password",
        ),
        (
            "[storage]\nurl = \"host=h dbname=d\"\n",
            "line 2: [storage] url: is only used with backend = \"postgres\"",
        ),
        (
            "[storage]\npassword_file = \"/etc/pw\"\n",
            "line 2: [storage] password_file: is only used",
        ),
    ] {
        let err = Config::parse(text, "bad.toml").expect_err(text).to_string();
        assert!(
            err.contains("bad.toml") && err.contains(want),
            "{text:?} gave {err}"
        );
    }
}

// the shared pseudonym keys (issue 17).
#[test]
fn the_key_secret_is_required_with_postgres_and_refused_without() {
    let pg = "[storage]\nbackend = \"postgres\"\nurl = \"host=127.0.0.1 dbname=mw\"\n";
    let err = Config::parse(pg, "bad.toml")
        .expect_err("no secret")
        .to_string();
    for want in [
        "[traffic] key_secret_file: is vereist",
        "is required with",
        "head -c 32 /dev/urandom",
        "LoadCredential=",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    let ok = format!("{pg}[traffic]\nkey_secret_file = \"/etc/mailwacht/key-secret\"\n");
    let c = Config::parse(&ok, "ok.toml").expect("valid");
    assert_eq!(
        c.traffic.key_secret_file.as_deref(),
        Some(Path::new("/etc/mailwacht/key-secret"))
    );
    let embedded = "[traffic]\nkey_secret_file = \"/etc/mailwacht/key-secret\"\n";
    let err = Config::parse(embedded, "bad.toml")
        .expect_err("embedded")
        .to_string();
    assert!(err.contains("key_secret_file: is only used"), "{err}");
}
