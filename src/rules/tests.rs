//! Tests over the embedded default rule set: the Scunthorpe table, each rule kind hitting and not hitting.

use super::*;
use crate::envelope::Recipient;
use crate::message::{
    ArchiveMember, ArchiveProblem, Attachment, Damage, FileKind, HeaderView, Text, TextOrigin,
};

fn embedded() -> RuleSet {
    match RuleSet::embedded() {
        Ok(r) => r,
        Err(e) => panic!("embedded rules do not compile: {e}"),
    }
}

#[test]
fn embedded_set_compiles() {
    let r = embedded();
    assert!(r.rules().len() >= 20, "{}", r.rules().len());
    for info in r.rules() {
        assert!(file::CATEGORIES.contains(&info.category.as_str()));
        assert!(
            info.message_nl.len() > 40 && info.message_en.len() > 40,
            "{}",
            info.id
        );
    }
    assert!(r.rule("MW-PRIVACY-01").is_some());
}

fn env(from: Option<&str>, rcpts: &[&str]) -> Envelope {
    Envelope {
        mail_from: from.map(str::to_string),
        rcpt_to: rcpts
            .iter()
            .map(|a| Recipient {
                address: a.to_string(),
                params: vec![],
            })
            .collect(),
        ..Envelope::default()
    }
}

fn org() -> OrgContext {
    OrgContext {
        local_domains: vec!["school.example".into()],
        send_as: vec![],
    }
}

fn body(text: &str) -> Analysis {
    Analysis {
        texts: vec![Text {
            origin: TextOrigin::Body { part: 1 },
            text: text.to_string(),
        }],
        ..Analysis::default()
    }
}

/// Ids of the rules that hit, for a message with this analysis sent by a local user to an external parent.
fn ids(rules: &RuleSet, analysis: &Analysis) -> Vec<String> {
    let e = env(Some("juf@school.example"), &["ouder@example.org"]);
    let o = org();
    let mut v: Vec<String> = rules
        .evaluate(&RuleContext {
            envelope: &e,
            analysis,
            org: &o,
        })
        .into_iter()
        .map(|h| h.rule_id)
        .collect();
    v.dedup();
    v
}

fn score(rules: &RuleSet, analysis: &Analysis) -> f64 {
    let e = env(Some("juf@school.example"), &["ouder@example.org"]);
    let o = org();
    rules
        .evaluate(&RuleContext {
            envelope: &e,
            analysis,
            org: &o,
        })
        .iter()
        .map(|h| h.weight)
        .sum()
}

/// The Scunthorpe table: evasions that must bounce (score ≥ 5) and ordinary Dutch that must score 0.
#[test]
fn scunthorpe_table() {
    let r = embedded();
    let must_bounce: &[&str] = &[
        "jij kankerlijer",
        "KANKERLIJER!!!",
        "k a n k e r l i j e r",
        "k.a.n.k.e.r.h.o.e.r",
        "k🎓a🎓n🎓k🎓e🎓r🎓l🎓i🎓j🎓e🎓r",
        "jij aandachtshoer",
        "k4nk3rl1j3r",
        "kaaaaankerlijer",
        "kan\u{00AD}ker\u{200B}lijer",
        "krijg de tyfus",
        "teringlijer",
        "vuile hoer",
        "h0er",
        "klooooootzak",
        "moederneuker",
        "jij bent een neger",
        "n1kk3r",
        "vieze flikker",
        "ik maak je af",
        "Ik weet waar je woont.",
        "je gaat eraan",
        "ik steek je neer",
        "I will kill you",
        "pornhub.com",
        "wil je neuken",
        "vuile jood",
        "ｋａｎｋｅｒｈｏｅｒ",
        "motherfucker",
        "f*u*c*k you",
    ];
    for text in must_bounce {
        let s = score(&r, &body(text));
        assert!(s >= 5.0, "{text:?} scored {s} ({:?})", ids(&r, &body(text)));
    }
    let must_pass: &[&str] = &[
        "We negeren dat probleem gewoon.",
        "Hij negeerde de bel.",
        "Hoera, de vakantie begint!",
        "KWF Kankerbestrijding zoekt collectanten.",
        "Het kankeronderzoek maakt vooruitgang.",
        "Mijn oma heeft kanker.",
        "De kankerpatiënten op de afdeling.",
        "Les over seksuele voorlichting in groep 8.",
        "Seksualiteit en relaties: het lesprogramma.",
        "Een bezoek aan Scunthorpe in Engeland.",
        "De analyse van de toets.",
        "The therapist and the assistant met in Sussex.",
        "Een cocktail van maatregelen.",
        "De haan heeft een rode hanenkam.",
        "Een homogeen mengsel in de scheikundeles.",
        "Kijk op onze homepage.",
        "De lampen flikkeren in de gang.",
        "Mongolië is een groot land; de Mongolen hadden een groot rijk.",
        "Jodium op de wond doen.",
        "In de Tweede Wereldoorlog zijn veel joden vermoord.",
        "Een les over het jodendom en de islam.",
        "Wie zal de laatste koekjes pikken?",
        "Een pikante saus bij de frites.",
        "Het klootjesvolk in de negentiende eeuw.",
        "De tering naar de nering zetten.",
        "Ik heb nieuwe kleren gekocht, ze hangen in de klerenkast.",
        "De pijpen van de verwarming lekken.",
        "Optellen en aftrekken in groep 4.",
        "De fagot speelt in het orkest.",
        "Hoe gaat het met Dick Bruna?",
        "Het anti-pestprotocol van de school.",
        "De pesticiden op het veld.",
        "Tyfus en cholera waren vroeger gevreesd.",
        "Groetjes en xxx van juf Anna",
        "Stuur het formulier voor vrijdag terug.",
        "Het rooster voor 2024-2025, groep 1 2 3.",
        "De eikels vallen van de eik in de herfst.",
        "De hoeren en snoeren van de middeleeuwen",
        "Mijn sleutels zijn zoek.",
        "Sexy? Nee, gewoon een nette jurk.",
        "Assisteren bij de gymles.",
        "Negentig kinderen doen mee.",
        "Nikkel is een metaal.",
    ];
    for text in must_pass {
        let hits = ids(&r, &body(text));
        let allowed_low = score(&r, &body(text)) < 5.0;
        assert!(allowed_low, "{text:?} would bounce: {hits:?}");
    }
    // Ordinary sentences hit nothing at all, except the two that carry a weak signal by design (a bare
    // disease name used as a curse scores 2, `sexy` scores 2).
    for text in must_pass {
        let hits = ids(&r, &body(text));
        let weak_by_design = text.starts_with("Tyfus") || text.starts_with("Sexy");
        assert_eq!(hits.is_empty(), !weak_by_design, "{text:?} hit {hits:?}");
    }
    // A rude word said to someone: no word rule stops it. The language model may read the short sentence as an
    // insult: the model up to set 32 did (0.62 at `min-score` 0.5), the one up to set 34 does not.
    let rude = body("Stop met dat geouwehoer en maak je werk af.");
    let hits = ids(&r, &rude);
    assert!(hits.iter().all(|id| id == "MW-TAAL-BELEDIGEND"), "{hits:?}");
}

#[test]
fn words_only_where_asked() {
    let src = "[[rule]]\nid = \"S\"\nkind = \"words\"\ncategory = \"beledigend\"\narticle = \"a\"\nmessage_nl = \"n\"\nmessage_en = \"e\"\nwords = [\"sukkel\"]\nin = [\"subject\"]\n";
    let r = RuleSet::from_sources([("t.toml".to_string(), src.to_string())]).unwrap();
    let subj = Analysis {
        texts: vec![Text {
            origin: TextOrigin::Subject,
            text: "Sukkel".into(),
        }],
        ..Analysis::default()
    };
    assert_eq!(ids(&r, &subj), vec!["S"]);
    assert!(ids(&r, &body("sukkel")).is_empty());
}

#[test]
fn one_hit_per_rule_and_location() {
    let r = embedded();
    let a = Analysis {
        texts: vec![
            Text {
                origin: TextOrigin::Body { part: 1 },
                text: "hoer hoer hoer klootzak".into(),
            },
            Text {
                origin: TextOrigin::Subject,
                text: "hoer".into(),
            },
        ],
        ..Analysis::default()
    };
    let e = env(Some("juf@school.example"), &["x@example.org"]);
    let o = org();
    let hits = r.evaluate(&RuleContext {
        envelope: &e,
        analysis: &a,
        org: &o,
    });
    let b2: Vec<&Hit> = hits
        .iter()
        .filter(|h| h.rule_id == "MW-BELEDIGEND-02")
        .collect();
    assert_eq!(b2.len(), 2, "{hits:?}");
}

#[test]
fn chain_mail_needs_two_signals() {
    let r = embedded();
    assert!(score(&r, &body("Stuur dit door naar 10 vrienden.")) < 5.0);
    assert!(
        score(
            &r,
            &body("Stuur dit door naar 10 vrienden, anders heb je 7 jaar ongeluk!")
        ) >= 5.0
    );
}

#[test]
fn bsn_external_only() {
    let r = embedded();
    let a = body("Het BSN van Piet is 111222333.");
    let o = org();
    let cases: &[(&[&str], &OrgContext, bool)] = &[
        (&["ouder@example.org"], &o, true),
        (&["collega@school.example"], &o, false),
        (&["collega@school.example", "ouder@example.org"], &o, true),
        (&["collega@school.example"], &OrgContext::default(), true),
    ];
    for (rcpts, org, want) in cases {
        let e = env(Some("juf@school.example"), rcpts);
        let hit = r
            .evaluate(&RuleContext {
                envelope: &e,
                analysis: &a,
                org,
            })
            .iter()
            .any(|h| h.rule_id == "MW-PRIVACY-01");
        assert_eq!(hit, *want, "{rcpts:?}");
    }
    assert!(
        !ids(&r, &body("Het BSN van Piet is 123456789.")).contains(&"MW-PRIVACY-01".to_string())
    );
    assert!(!ids(&r, &body("Factuurnummer 111222333.")).contains(&"MW-PRIVACY-01".to_string()));
}

#[test]
fn visible_recipients() {
    let r = embedded();
    let many = |n: usize, dom: &str| {
        (0..n)
            .map(|i| format!("ouder{i}@{dom}"))
            .collect::<Vec<_>>()
    };
    let cases: &[(Vec<String>, bool)] = &[
        (many(10, "example.org"), false),
        (many(11, "example.org"), true),
        (many(30, "school.example"), false),
    ];
    for (to, want) in cases {
        let a = Analysis {
            headers: HeaderView {
                to: to.clone(),
                ..HeaderView::default()
            },
            ..Analysis::default()
        };
        let hit = ids(&r, &a).contains(&"MW-PRIVACY-02".to_string());
        assert_eq!(hit, *want, "{} recipients", to.len());
    }
}

#[test]
fn sender_rules() {
    let r = embedded();
    let from = |f: &str| Analysis {
        headers: HeaderView {
            from: vec![f.to_string()],
            ..HeaderView::default()
        },
        ..Analysis::default()
    };
    let mut o = org();
    let run = |a: &Analysis, sender: Option<&str>, o: &OrgContext| -> Vec<(String, Location)> {
        let e = env(sender, &["x@example.org"]);
        r.evaluate(&RuleContext {
            envelope: &e,
            analysis: a,
            org: o,
        })
        .into_iter()
        .map(|h| (h.rule_id, h.location))
        .collect()
    };
    assert!(run(&from("juf@school.example"), Some("juf@school.example"), &o).is_empty());
    assert_eq!(
        run(
            &from("directeur@school.example"),
            Some("juf@school.example"),
            &o
        ),
        vec![("MW-AFZENDER-01".to_string(), Location::FromHeader)]
    );
    o.send_as
        .push(("*@school.example".into(), "directeur@school.example".into()));
    assert!(run(
        &from("directeur@school.example"),
        Some("juf@school.example"),
        &o
    )
    .is_empty());
    let anon = run(
        &from("anoniem@school.example"),
        Some("anoniem@school.example"),
        &o,
    );
    assert!(
        anon.contains(&("MW-AFZENDER-02".to_string(), Location::EnvelopeSender)),
        "{anon:?}"
    );
    assert!(
        anon.contains(&("MW-AFZENDER-02".to_string(), Location::FromHeader)),
        "{anon:?}"
    );
}

#[test]
fn destination_rules() {
    let r = embedded();
    let e = env(
        Some("juf@school.example"),
        &["ouder@example.org", "x@yopmail.com", "y@abc.onion"],
    );
    let o = org();
    let a = Analysis::default();
    let hits: Vec<(String, Location)> = r
        .evaluate(&RuleContext {
            envelope: &e,
            analysis: &a,
            org: &o,
        })
        .into_iter()
        .map(|h| (h.rule_id, h.location))
        .collect();
    assert_eq!(
        hits,
        vec![
            (
                "MW-BESTEMMING-01".to_string(),
                Location::Recipient { index: 2 }
            ),
            (
                "MW-BESTEMMING-02".to_string(),
                Location::Recipient { index: 1 }
            ),
        ]
    );
}

/// (rule id, location) of every hit of `r` on one message.
fn rule_hits(
    r: &RuleSet,
    e: &Envelope,
    o: &OrgContext,
    analysis: &Analysis,
) -> Vec<(String, Location)> {
    r.evaluate(&RuleContext {
        envelope: e,
        analysis,
        org: o,
    })
    .into_iter()
    .map(|h| (h.rule_id, h.location))
    .collect()
}

#[test]
fn attachment_rules() {
    let r = embedded();
    let att = |name: Option<&str>, sniffed: Option<FileKind>| Attachment {
        part: 3,
        name: name.map(str::to_string),
        sniffed,
        ..Attachment::default()
    };
    let member = |path: &str, sniffed: Option<FileKind>| ArchiveMember {
        path: path.into(),
        depth: 1,
        sniffed,
        ..ArchiveMember::default()
    };
    let cases: Vec<(Attachment, Vec<(&str, Location)>)> = vec![
        (att(Some("rapport.pdf"), Some(FileKind::Pdf)), vec![]),
        (
            att(Some("factuur.pdf.exe"), None),
            vec![("MW-BIJLAGE-01", Location::Attachment { part: 3 })],
        ),
        (
            att(Some("foto.jpg"), Some(FileKind::WindowsExecutable)),
            vec![("MW-BIJLAGE-03", Location::Attachment { part: 3 })],
        ),
        (
            att(Some("installatie.iso"), None),
            vec![("MW-BIJLAGE-02", Location::Attachment { part: 3 })],
        ),
        (
            att(Some("cijfers.xlsm"), None),
            vec![("MW-BIJLAGE-04", Location::Attachment { part: 3 })],
        ),
        (
            Attachment {
                members: vec![member("map/run.bat", None)],
                ..att(Some("fotos.zip"), Some(FileKind::Zip))
            },
            vec![("MW-BIJLAGE-01", Location::ArchiveMember { part: 3 })],
        ),
        (
            Attachment {
                members: vec![member("foto.jpg", Some(FileKind::Elf))],
                ..att(Some("fotos.zip"), Some(FileKind::Zip))
            },
            vec![("MW-BIJLAGE-03", Location::ArchiveMember { part: 3 })],
        ),
        (
            Attachment {
                archive_problems: vec![ArchiveProblem::TooDeep],
                ..att(Some("a.zip"), Some(FileKind::Zip))
            },
            vec![("MW-BIJLAGE-05", Location::Attachment { part: 3 })],
        ),
    ];
    let e = env(Some("juf@school.example"), &["x@example.org"]);
    let o = org();
    for (a, want) in cases {
        let analysis = Analysis {
            attachments: vec![a.clone()],
            ..Analysis::default()
        };
        let got = rule_hits(&r, &e, &o, &analysis);
        let want: Vec<(String, Location)> =
            want.into_iter().map(|(i, l)| (i.to_string(), l)).collect();
        assert_eq!(got, want, "{:?}", a.name);
    }
}

#[test]
fn damage_rules() {
    let r = embedded();
    let cases: &[(&[Damage], &[&str])] = &[
        (&[], &[]),
        (&[Damage::TooManyParts], &["MW-ONLEESBAAR-01"]),
        (
            &[Damage::Unparseable, Damage::TextTruncated],
            &["MW-ONLEESBAAR-01", "MW-ONLEESBAAR-02"],
        ),
        (&[Damage::BoundaryMidLine], &[]),
    ];
    for (damage, want) in cases {
        let a = Analysis {
            damage: damage.to_vec(),
            ..Analysis::default()
        };
        assert_eq!(
            ids(&r, &a),
            want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{damage:?}"
        );
    }
}

/// A context declared in one file cancels the `near` and `roles` rules of another that name it, beside their
/// own `unless` words; unknown, repeated or malformed contexts are errors with the file and the name.
#[test]
fn contexts_shared_across_files() {
    let head =
        "category = \"intimiderend\"\narticle = \"a\"\nmessage_nl = \"n\"\nmessage_en = \"e\"\n";
    let declares = "[contexts]\nspel = [\"fifa|fortnite\", \"game*\"]\nsport = [\"toernooi\"]\n";
    let rules = format!(
        "[[rule]]\nid = \"N\"\nkind = \"near\"\n{head}groups = [[\"maak\"], [\"kapot\"]]\nunless = [\"grapje\"]\nunless-contexts = [\"spel\"]\n\n\
         [[rule]]\nid = \"R\"\nkind = \"roles\"\n{head}roles = [{{ name = \"wie\", words = [\"ik\"] }}, {{ name = \"wat\", words = [\"sloop\"] }}]\nunless-contexts = [\"spel\", \"sport\"]\n"
    );
    let set = |a: &str, b: &str| {
        RuleSet::from_sources([
            ("05-a.toml".to_string(), a.to_string()),
            ("40-b.toml".to_string(), b.to_string()),
        ])
    };
    let r = set(declares, &rules).unwrap();
    for (text, want) in [
        ("Ik maak je kapot.", vec!["N"]),
        ("Ik maak je kapot met Fortnite.", vec![]),
        ("Ik maak je kapot in die gamesessie.", vec![]),
        ("Ik maak je kapot, grapje.", vec![]),
        ("Morgen sloop ik je.", vec!["R"]),
        ("Morgen sloop ik je met fifa.", vec![]),
        ("Morgen sloop ik je op het toernooi.", vec![]),
    ] {
        assert_eq!(ids(&r, &body(text)), want, "{text}");
    }
    // The rule without its contexts: the same texts hit.
    let bare = rules.replace("unless-contexts = [\"spel\"]\n", "");
    let r = set(declares, &bare).unwrap();
    assert_eq!(ids(&r, &body("Ik maak je kapot met Fortnite.")), vec!["N"]);
    for (a, b, want) in [
        (
            declares,
            rules.replace("[\"spel\", \"sport\"]", "[\"spel\", \"school\"]"),
            "40-b.toml: rule R: unknown context `school` in `unless-contexts` (known: spel, sport)",
        ),
        (
            "",
            rules.clone(),
            "40-b.toml: rule N: unknown context `spel` in `unless-contexts` (known: none: declare it under `[contexts]` in a rule file)",
        ),
        (
            declares,
            format!("{rules}\n[contexts]\nspel = [\"gamen\"]\n"),
            "40-b.toml: context `spel`: declared twice (also in 05-a.toml)",
        ),
        (
            "[contexts]\nspel = [\"v:gamen\"]\n",
            rules.clone(),
            "05-a.toml: context `spel`: `v:gamen`: a context holds words and phrases (with `*`), not lemmas",
        ),
        (
            "[contexts]\nspel = []\n",
            rules.clone(),
            "05-a.toml: context `spel`: the list is empty",
        ),
        (
            "[contexts]\nSpel = [\"fifa\"]\n",
            rules.clone(),
            "05-a.toml: context `Spel`: a context name is lower-case letters, digits and `-`",
        ),
        (
            declares,
            rules.replace("[\"spel\", \"sport\"]", "[]"),
            "40-b.toml: rule R: `unless-contexts` is empty",
        ),
        (
            declares,
            format!("[[rule]]\nid = \"S\"\nkind = \"sender\"\n{head}patterns = [\"*@x\"]\nunless-contexts = [\"spel\"]\n"),
            "40-b.toml: rule S: key `unless-contexts` does not apply to kind `sender`",
        ),
    ] {
        let err = set(a, &b).unwrap_err().to_string();
        assert_eq!(err, want);
    }
}

/// The embedded rules, not the model, on the twenty-fifth round's kinds: sextortion worded as a pupil writes it
/// and the consent question or parents' mail beside it; slurs with an insulting adjective, `hoeren` + a person,
/// `trans` among the groups.
#[test]
fn sextortion_and_slurs_by_rule() {
    let r = embedded();
    let has = |text: &str, id: &str| ids(&r, &body(text)).iter().any(|i| i == id);
    for text in [
        "je bent nu van mij. als je niet doet wat ik zeg gaan je foto's rond.",
        "je weet wat je mij hebt gestuurd. als je niet nog een stuurt, zet ik de eerste in de groepsapp.",
        "je hebt 24 uur om die foto te sturen, anders weet je vriendje wat je deed.",
    ] {
        assert!(has(text, "MW-ROL-SEXTORTION-01"), "{text}");
    }
    for text in [
        "Als je niet wilt dat je foto op de klassenapp komt, laat het me weten.",
        "Beste ouders, er gaan foto's rond van het kamp. Stuur me een berichtje als u er een ziet.",
    ] {
        assert!(!has(text, "MW-ROL-SEXTORTION-01"), "{text}");
    }
    assert!(has("stomme homo", "MW-DISCRIMINEREND-01"));
    assert!(has("jij bent een downie", "MW-DISCRIMINEREND-01"));
    assert!(has("wat een hoerenjuf", "MW-BELEDIGEND-02"));
    assert!(!has("langs de oude hoerenbuurt", "MW-BELEDIGEND-02"));
    assert!(has("die trans moet dood", "MW-HAAT-GEWELD-02"));
    assert!(has("kanker joooood", "MW-RACISTISCH-01"));
    assert!(!has("kanker jod", "MW-RACISTISCH-01"));
}

/// The twenty-sixth round's threats, sextortion and vandalism, on the embedded rules (not the model).
#[test]
fn implied_threats_sextortion_and_vandalism_by_rule() {
    let r = embedded();
    let all = |text: &str| ids(&r, &body(text));
    let has = |text: &str, id: &str| all(text).iter().any(|i| i == id);
    // Menace classes that take two to stop: death foretold and a countdown, stitches and a watcher.
    for (text, first, second) in [
        (
            "jij gaat dood. 7 dagen. tel maar af",
            "MW-DREIGING-37",
            "MW-DREIGING-38",
        ),
        (
            "snitches get stitches. ik heb al iemand die op je let",
            "MW-DREIGING-37",
            "MW-DREIGING-41",
        ),
    ] {
        assert!(has(text, first) && has(text, second), "{text}");
    }
    assert!(!has(
        "je gaat dood van de hitte in dat lokaal",
        "MW-DREIGING-37"
    ));
    assert!(!has(
        "je gaat dood van de hitte in dat lokaal",
        "MW-DREIGING-07"
    ));
    assert!(!has(
        "als je valt ben je dood, grapje, maar wel helm op",
        "MW-DREIGING-06"
    ));
    for text in [
        "je hebt me al 3 foto's gestuurd. nu doe je wat ik zeg of je ouders krijgen ze",
        "I have your pictures. Send 200 euro in giftcards or I share them with your school.",
    ] {
        assert!(has(text, "MW-ROL-SEXTORTION-01"), "{text}");
    }
    assert!(!has(
        "Please send me your photos of the trip and I'll share them with your parents.",
        "MW-ROL-SEXTORTION-01"
    ));
    assert!(has(
        "wie nog 1 foto van mij op de groepsapp zet die wordt van de trap geschopt",
        "MW-DREIGING-42"
    ));
    assert!(!has(
        "wie door een wesp wordt gestoken, meldt zich bij de EHBO",
        "MW-DREIGING-42"
    ));
    assert!(has(
        "we gaan naar het nieuwe gebouw en gooien alle ramen in",
        "MW-ROL-VERNIELING-01"
    ));
    assert!(!has(
        "morgen gaan we de ramen van de gymzaal lappen",
        "MW-ROL-VERNIELING-01"
    ));
    assert!(!has(
        "iemand heeft gisteren mijn fiets bekrast",
        "MW-ROL-VERNIELING-01"
    ));
    assert!(has("lelijke pedo met je camera", "MW-BELEDIGEND-02"));
    assert!(has(
        "die zigeuners op de camping, pak je telefoon goed vast",
        "MW-RACISTISCH-20"
    ));
    assert!(!has(
        "In de metro van Parijs: pak je telefoon goed vast en let op je portemonnee.",
        "MW-RACISTISCH-20"
    ));
    // After set 46's measurement: a list of names posted in the street and a warning, sextortion with `als je me
    // niet`, and a pupil asking to finish her work.
    let list = "Collega's die staken: lijstje met jullie namen hangt bij ons in de wijk. Ik zou de komende weken \
                niet alleen naar de auto lopen.";
    assert!(has(list, "MW-DREIGING-38") && has(list, "MW-DREIGING-39"));
    assert!(has(
        "ik heb die ai foto van jou gemaakt. als je me niet vanavond een echte stuurt dan komt die nep in de groep van 3v",
        "MW-ROL-SEXTORTION-01"
    ));
    assert!(!has(
        "Hallo juf, mag ik morgen mijn werkje over de Maas afmaken?",
        "MW-ROL-DREIGING-01"
    ));
}

#[test]
fn words_rules_unless() {
    let head =
        "category = \"beledigend\"\narticle = \"a\"\nmessage_nl = \"n\"\nmessage_en = \"e\"\n";
    let declares = "[contexts]\nles = [\"les\", \"songtekst*\"]\n";
    let rules = format!(
        "[[rule]]\nid = \"W\"\nkind = \"words\"\n{head}words = [\"bitch\"]\nregex = [\"sl[o0]+ns\"]\nunless = [\"rapper\"]\nunless-contexts = [\"les\"]\n\n\
         [[rule]]\nid = \"V\"\nkind = \"words\"\n{head}words = [\"bitch\"]\n"
    );
    let set = |b: &str| {
        RuleSet::from_sources([
            ("05-a.toml".to_string(), declares.to_string()),
            ("10-b.toml".to_string(), b.to_string()),
        ])
    };
    let r = set(&rules).unwrap();
    for (text, want) in [
        // A rule without `unless` (V) hits wherever W is cancelled.
        ("Je bent een bitch.", vec!["W", "V"]),
        (
            "In de songtekst staat bitch, bespreek dat in de les.",
            vec!["V"],
        ),
        // The sentence before counts, two sentences before does not.
        ("Morgen de les over rap. Er staat bitch in.", vec!["V"]),
        (
            "Morgen de les over rap. Verder niets. Er staat bitch in.",
            vec!["W", "V"],
        ),
        ("De rapper zegt bitch.", vec!["V"]),
        // Each hit is judged in its own sentence: a cancelled hit leaves a later one standing.
        (
            "Die rapper zegt bitch. Nog iets. En jij bent een bitch.",
            vec!["W", "V"],
        ),
        // Regex hits the same way.
        ("Wat een sl00ns.", vec!["W"]),
        ("In de les ging het over het woord sl00ns.", vec![]),
        // A masked word is read on its own, away from its sentence: no context cancels it.
        ("In de les zei je b*tch.", vec!["W", "V"]),
    ] {
        assert_eq!(ids(&r, &body(text)), want, "{text}");
    }
    // Without `unless`, the same texts hit.
    let bare = rules
        .replace("unless = [\"rapper\"]\n", "")
        .replace("unless-contexts = [\"les\"]\n", "");
    let r = set(&bare).unwrap();
    assert_eq!(
        ids(
            &r,
            &body("In de songtekst staat bitch, bespreek dat in de les.")
        ),
        vec!["W", "V"]
    );
    let err = set(&rules.replace("[\"les\"]", "[\"spel\"]"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "10-b.toml: rule W: unknown context `spel` in `unless-contexts` (known: les)"
    );
}

#[test]
fn loading_errors() {
    let ok = "[[rule]]\nid = \"A-1\"\nkind = \"damage\"\ndamage = [\"too-deep\"]\ncategory = \"onleesbaar\"\narticle = \"x\"\nmessage_nl = \"n\"\nmessage_en = \"e\"\n";
    let err = RuleSet::from_sources([
        ("a.toml".to_string(), ok.to_string()),
        ("b.toml".to_string(), ok.to_string()),
    ])
    .unwrap_err()
    .to_string();
    assert_eq!(err, "b.toml: rule id A-1 is used twice (also in a.toml)");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("10-a.toml"), ok).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not toml").unwrap();
    let set = RuleSet::load_dir(dir.path()).unwrap();
    assert_eq!(set.rules().len(), 1);
    assert_eq!(set.rules()[0].file, "10-a.toml");
    std::fs::write(dir.path().join("20-b.toml"), "[[rule]]\nid = \n").unwrap();
    let err = RuleSet::load_dir(dir.path()).unwrap_err().to_string();
    assert!(err.starts_with("20-b.toml: line 2"), "{err}");
    assert!(RuleSet::load_dir(&dir.path().join("missing"))
        .unwrap_err()
        .to_string()
        .contains("cannot read"));
}

proptest::proptest! {
    #[test]
    fn never_panics(text in "\\PC{0,200}", raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let r = embedded();
        let lossy = String::from_utf8_lossy(&raw).into_owned();
        for t in [&text, &lossy] {
            let folded = normalize::fold(t);
            proptest::prop_assert!(!folded.text.starts_with(' ') && !folded.text.ends_with(' '));
            proptest::prop_assert!(!folded.text.contains("  "));
            let _ = ids(&r, &body(t));
            let _ = privacy::find_bsns(t);
        }
    }
}

/// Rough throughput of fold + match with the default rules. Run with
/// `cargo test --release --lib rules::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let r = embedded();
    let para = "Beste ouders, volgende week is de sportdag van groep 5 en 6. Wilt u het formulier vóór vrijdag \
                inleveren? Met vriendelijke groet, juf Anneke (mail: anneke@school.example, tel. 06-12345678).\n";
    let text = para.repeat(4 * 1024 * 1024 / para.len());
    let a = body(&text);
    let start = std::time::Instant::now();
    let n = 5;
    for _ in 0..n {
        let _ = ids(&r, &a);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "throughput: {:.0} MB/s",
        (text.len() * n) as f64 / secs / 1e6
    );
}

/// Attachment contents (issue 14) from the mail's bytes to the rule that stops them: each dangerous form is
/// stopped by its rule at the right place, uninspectable archives the same way whatever their format, BSNs in
/// workbooks and zipped CSVs found in the extracted text; the innocent twins have no hits at all.
#[test]
#[allow(clippy::type_complexity)] // a table of test cases
fn attachment_contents_from_mail_to_rule() {
    use crate::message::archive::tests::{bzip2, exe, make_7z, make_rar5, make_tar, make_zip, xz};
    use crate::message::extract::tests::{docx, mail_with, xlsx};
    use crate::message::{analyse, Limits};

    let r = embedded();
    // The sender of `mail_with`'s messages.
    let e = env(Some("juf@school.nl"), &["ouder@example.com"]);
    let o = OrgContext {
        local_domains: vec!["school.nl".into()],
        send_as: vec![],
    };
    let cab = crate::message::archive::tests::make_cab(&[("setup.exe", b"MZ")]);
    let mut onenote = vec![
        0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d, 0xae, 0xb1, 0x53, 0x78, 0xd0, 0x29, 0x96,
        0xd3,
    ];
    onenote.resize(1024, 0);
    let mut vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1".to_vec();
    vba.resize(512, 0);
    vba.extend("_VBA_PROJECT".encode_utf16().flat_map(u16::to_le_bytes));
    let plain_xlsx = xlsx(
        &["Cijfer"],
        "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c></row>",
    );
    let xlsx_with_vba = make_zip(&[
        ("xl/workbook.xml", b"<workbook/>"),
        ("xl/vbaProject.bin", &vba),
    ]);
    let phish = b"<html><body><form action=\"https://x.example/p\"><input type=\"password\" name=\"p\"></form></body></html>";
    let smuggle = b"<html><body><script>var b=atob('TVqQ');</script></body></html>";
    let bsn_text = xlsx(
        &["Naam", "BSN", "123456782"],
        "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c></row><row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>Emma</t></is></c><c r=\"B2\" t=\"s\"><v>2</v></c></row>",
    );
    let bsn_number = xlsx(
        &["Naam", "BSN"],
        "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c></row><row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>Emma</t></is></c><c r=\"B2\"><v>1.23456782E8</v></c></row>",
    );
    let grades_number = xlsx(
        &["Naam", "Leerlingnummer"],
        "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c></row><row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>Emma</t></is></c><c r=\"B2\"><v>20231</v></c></row>",
    );
    let csv_zip = make_zip(&[("klaslijst.csv", b"naam;bsn\r\nEmma;123456782\r\n")]);
    let csv_zip_twin = make_zip(&[("klaslijst.csv", b"naam;groep\r\nEmma;6\r\n")]);
    let short_label = xlsx(
        &["Naam", "Burgerservicenr.", "Sofinr"],
        "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c><c r=\"C1\" t=\"s\"><v>2</v></c></row><row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>Emma</t></is></c><c r=\"B2\"><v>1.23456782E8</v></c></row>",
    );
    let unlabelled_list = make_zip(&[(
        "groep8.csv",
        b"Emma;123456782\r\nDaan;111222333\r\nLotte;012345672\r\n",
    )]);
    let exe = exe();
    let mut corrupt_7z = make_7z(&[("a.txt", b"hallo")], 0, true, false);
    corrupt_7z.truncate(corrupt_7z.len() - 5);
    let text = |member| Location::Text {
        origin: TextOrigin::AttachmentText { part: 2, member },
    };
    let att = Location::Attachment { part: 2 };
    let member = Location::ArchiveMember { part: 2 };
    // (label, file name, declared type, content, the hit wanted; None = an innocent twin, no hits at all)
    let cases: Vec<(&str, &str, &str, Vec<u8>, Option<(&str, Location)>)> = vec![
        (
            "cab by content",
            "update.dat",
            "application/octet-stream",
            cab.clone(),
            Some(("MW-BIJLAGE-06", att)),
        ),
        (
            "cab by name",
            "update.cab",
            "application/vnd.ms-cab-compressed",
            cab,
            Some(("MW-BIJLAGE-06", att)),
        ),
        (
            "onenote",
            "notities.one",
            "application/octet-stream",
            onenote.clone(),
            Some(("MW-BIJLAGE-06", att)),
        ),
        (
            "onenote in zip",
            "notities.zip",
            "application/zip",
            make_zip(&[("les.one", &onenote)]),
            Some(("MW-BIJLAGE-06", member)),
        ),
        (
            "xlsm by name",
            "cijfers.xlsm",
            "application/vnd.ms-excel.sheet.macroEnabled.12",
            plain_xlsx.clone(),
            Some(("MW-BIJLAGE-04", att)),
        ),
        (
            "docm by name",
            "brief.docm",
            "application/octet-stream",
            docx("<w:p/>"),
            Some(("MW-BIJLAGE-04", att)),
        ),
        (
            "xlsx with vbaProject.bin",
            "cijfers.xlsx",
            "application/octet-stream",
            xlsx_with_vba,
            Some(("MW-BIJLAGE-04", att)),
        ),
        (
            "xlsx twin",
            "cijfers.xlsx",
            "application/octet-stream",
            plain_xlsx,
            None,
        ),
        (
            "html password form",
            "document.html",
            "text/html",
            phish.to_vec(),
            Some(("MW-BIJLAGE-07", att)),
        ),
        (
            "html script",
            "factuur.htm",
            "application/octet-stream",
            smuggle.to_vec(),
            Some(("MW-BIJLAGE-07", att)),
        ),
        (
            "html form in zip",
            "scan.zip",
            "application/zip",
            make_zip(&[("scan.html", phish)]),
            Some(("MW-BIJLAGE-07", member)),
        ),
        (
            "exe in tar.xz",
            "les.tar.xz",
            "application/x-xz",
            xz(&make_tar(&[("setup.exe", &exe)], None)),
            Some(("MW-BIJLAGE-01", member)),
        ),
        (
            "exe in bz2",
            "foto.jpg.bz2",
            "application/x-bzip2",
            bzip2(&exe),
            Some(("MW-BIJLAGE-03", member)),
        ),
        (
            "7z, encrypted header",
            "stukken.7z",
            "application/x-7z-compressed",
            make_7z(&[("a.pdf", b"x")], 0, false, true),
            Some(("MW-BIJLAGE-08", att)),
        ),
        (
            "rar5, encrypted headers",
            "stukken.rar",
            "application/vnd.rar",
            make_rar5(&[], true),
            Some(("MW-BIJLAGE-08", att)),
        ),
        (
            "7z, damaged",
            "stukken.7z",
            "application/x-7z-compressed",
            corrupt_7z,
            Some(("MW-BIJLAGE-05", att)),
        ),
        (
            "BSN as text cell",
            "lijst.xlsx",
            "application/octet-stream",
            bsn_text,
            Some(("MW-PRIVACY-01", text(None))),
        ),
        (
            "BSN as number cell",
            "lijst.xlsx",
            "application/octet-stream",
            bsn_number,
            Some(("MW-PRIVACY-01", text(None))),
        ),
        (
            "pupil numbers twin",
            "lijst.xlsx",
            "application/octet-stream",
            grades_number,
            None,
        ),
        (
            "BSN in CSV in zip",
            "lijst.zip",
            "application/zip",
            csv_zip,
            Some(("MW-PRIVACY-01", text(Some(0)))),
        ),
        (
            "BSN column under a short label",
            "lijst.xlsx",
            "application/octet-stream",
            short_label,
            Some(("MW-PRIVACY-01", text(None))),
        ),
        (
            "unlabelled list of BSNs in zip",
            "lijst.zip",
            "application/zip",
            unlabelled_list,
            Some(("MW-PRIVACY-01", text(Some(0)))),
        ),
        (
            "CSV in zip twin",
            "lijst.zip",
            "application/zip",
            csv_zip_twin,
            None,
        ),
    ];
    for (label, name, ctype, data, want) in cases {
        let analysis = analyse(&mail_with(Some(name), ctype, &data), &Limits::default());
        let got = rule_hits(&r, &e, &o, &analysis);
        match want {
            Some((rule, location)) => assert!(
                got.iter().any(|(r, l)| r == rule && *l == location),
                "{label}: {got:?}"
            ),
            None => assert_eq!(got, vec![], "{label}"),
        }
    }
}
