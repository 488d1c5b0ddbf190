//! Table-driven tests of [`analyse`] on small handmade messages.

use super::*;
use crate::message::archive::tests::make_zip;

pub(crate) fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
        if out.len() % 77 == 76 {
            out.push_str("\r\n");
        }
    }
    out
}

/// A multipart/mixed message with one text part and one base64 attachment.
pub(crate) fn with_attachment(disposition: &str, ctype: &str, data: &[u8]) -> Vec<u8> {
    format!(
        "From: Juf <juf@school.nl>\r\nTo: ouder@example.com\r\nSubject: bijlage\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nZie bijlage.\r\n\
--b1\r\nContent-Type: {ctype}\r\nContent-Disposition: {disposition}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        b64(data)
    )
    .into_bytes()
}

fn exe() -> Vec<u8> {
    let mut v = b"MZ\x90\x00".to_vec();
    v.resize(300, 0x41);
    v
}

fn texts_of(a: &Analysis, origin: fn(&TextOrigin) -> bool) -> Vec<String> {
    a.texts
        .iter()
        .filter(|t| origin(&t.origin))
        .map(|t| t.text.clone())
        .collect()
}

fn all_text(a: &Analysis) -> String {
    a.texts
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn text_extraction_table() {
    // (name, raw message, text that must appear somewhere in texts, text that must not)
    let cases: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        ("plain", b"Subject: hoi\r\n\r\nBeste ouders\r\n".to_vec(), "Beste ouders", None),
        (
            "alternative",
            b"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nplat\r\n--a\r\nContent-Type: text/html\r\n\r\n<p>op<b></b>maak</p>\r\n--a--\r\n".to_vec(),
            "opmaak",
            None,
        ),
        (
            "html span evasion",
            b"Content-Type: text/html\r\n\r\n<span>kan</span>ker &amp; k<b></b>anker &#107;anker caf&eacute;<script>geheim</script>\r\n".to_vec(),
            "kanker & kanker kanker caf\u{e9}",
            Some("geheim"),
        ),
        (
            "qp soft break",
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nkan=\r\nker =E9\r\n".to_vec(),
            "kanker \u{fffd}",
            None,
        ),
        (
            "base64 body",
            format!("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n", b64("geheim wachtwoord".as_bytes())).into_bytes(),
            "geheim wachtwoord",
            None,
        ),
        (
            "iso-8859-1",
            b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nna\xefef caf\xe9\r\n".to_vec(),
            "na\u{ef}ef caf\u{e9}",
            None,
        ),
        (
            "windows-1252",
            b"Content-Type: text/plain; charset=windows-1252\r\n\r\n\x93quote\x94 \x80 5\r\n".to_vec(),
            "\u{201c}quote\u{201d} \u{20ac} 5",
            None,
        ),
        (
            "rfc 2047 subject",
            b"Subject: =?UTF-8?Q?Caf=C3=A9_vergadering?=\r\n\r\nx\r\n".to_vec(),
            "Caf\u{e9} vergadering",
            None,
        ),
        (
            "text attachment is still text",
            b"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=notities.txt\r\n\r\nvertrouwelijk verslag\r\n--m--\r\n".to_vec(),
            "vertrouwelijk verslag",
            None,
        ),
    ];
    for (name, raw, want, not) in cases {
        let a = analyse(&raw, &Limits::default());
        let text = all_text(&a);
        assert!(text.contains(want), "case {name}: {want:?} not in {text:?}");
        if let Some(not) = not {
            assert!(!text.contains(not), "case {name}: {not:?} in {text:?}");
        }
        assert!(a.damage.is_empty(), "case {name}: {:?}", a.damage);
    }
}

/// Own text, quoted text and speech reported in either are told apart, in plain and HTML parts alike.
#[test]
fn who_wrote_what_is_recorded() {
    let raw = b"Subject: les\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n\
Content-Type: text/plain\r\n\r\nkijk even\r\n\r\nOp 2 april schreef Sanne:\r\n\
> Stuur geen berichten door waarin staat 'stuur dit naar 10 mensen'.\r\n> Groet\r\n\
--a\r\nContent-Type: text/html\r\n\r\n<p>Hij riep 'weg jij'.</p><blockquote type=\"cite\">\
Er stond 'doorsturen of pech'.</blockquote>\r\n--a--\r\n";
    let a = analyse(raw, &Limits::default());
    let origins: Vec<(TextOrigin, String)> = a
        .texts
        .iter()
        .map(|t| {
            (
                t.origin,
                t.text.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    let expected = [
        (TextOrigin::Subject, "les"),
        (
            TextOrigin::Body { part: 1 },
            "kijk even Op 2 april schreef Sanne:",
        ),
        (
            TextOrigin::Quote { part: 1 },
            "Stuur geen berichten door waarin staat ' '. Groet",
        ),
        (
            TextOrigin::ReportedInQuote { part: 1 },
            "stuur dit naar 10 mensen",
        ),
        (TextOrigin::Html { part: 2 }, "Hij riep ' '."),
        (TextOrigin::ReportedSpeech { part: 2 }, "weg jij"),
        (TextOrigin::Quote { part: 2 }, "Er stond ' '."),
        (
            TextOrigin::ReportedInQuote { part: 2 },
            "doorsturen of pech",
        ),
    ];
    assert_eq!(origins, expected.map(|(o, t)| (o, t.to_owned())).to_vec());
}

/// Speech an attachment reports is told apart from the rest of its text.
#[test]
fn speech_reported_in_an_attachment_is_recorded() {
    let raw = with_attachment(
        "attachment; filename=\"les.txt\"",
        "text/plain",
        b"De verdachte zegt daarin: 'ik maak je af'. We bespreken dat.",
    );
    let a = analyse(&raw, &Limits::default());
    let texts = |f: fn(&TextOrigin) -> bool| -> Vec<String> {
        texts_of(&a, f)
            .iter()
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(
        texts(|o| matches!(
            o,
            TextOrigin::AttachmentText {
                part: 2,
                member: None
            }
        )),
        ["De verdachte zegt daarin: ' '. We bespreken dat."]
    );
    assert_eq!(
        texts(|o| matches!(
            o,
            TextOrigin::ReportedInAttachment {
                part: 2,
                member: None
            }
        )),
        ["ik maak je af"]
    );
}

#[test]
fn origins_are_recorded() {
    let raw = b"Subject: onderwerp\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nplat\r\n--a\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--a--\r\n";
    let a = analyse(raw, &Limits::default());
    let origins: Vec<(TextOrigin, &str)> =
        a.texts.iter().map(|t| (t.origin, t.text.trim())).collect();
    assert_eq!(
        origins,
        vec![
            (TextOrigin::Subject, "onderwerp"),
            (TextOrigin::Body { part: 1 }, "plat"),
            (TextOrigin::Html { part: 2 }, "html"),
        ]
    );
}

#[test]
#[allow(clippy::type_complexity)] // a table of test cases
fn attachments_table() {
    let exe = exe();
    let zip_with_exe = make_zip(&[("setup.exe", &exe)]);
    let inner = make_zip(&[("virus.exe", &exe)]);
    let middle = make_zip(&[("inner.zip", &inner)]);
    let nested = make_zip(&[("middle.zip", &middle)]);
    // (case, raw, name, sniffed, member paths)
    let cases: Vec<(&str, Vec<u8>, Option<&str>, Option<FileKind>, Vec<&str>)> = vec![
        (
            "rfc 2231 name",
            with_attachment(
                "attachment; filename*=UTF-8''factuur.pdf.exe",
                "application/octet-stream",
                &exe,
            ),
            Some("factuur.pdf.exe"),
            Some(FileKind::WindowsExecutable),
            vec![],
        ),
        (
            "rfc 2047 name",
            with_attachment(
                "attachment; filename=\"=?UTF-8?B?cmFwcG9ydC5wZGY=?=\"",
                "application/pdf",
                b"%PDF-1.4\n",
            ),
            Some("rapport.pdf"),
            Some(FileKind::Pdf),
            vec![],
        ),
        (
            "renamed exe",
            with_attachment("attachment; filename=foto.jpg", "image/jpeg", &exe),
            Some("foto.jpg"),
            Some(FileKind::WindowsExecutable),
            vec![],
        ),
        (
            "zip with exe",
            with_attachment(
                "attachment; filename=docs.zip",
                "application/zip",
                &zip_with_exe,
            ),
            Some("docs.zip"),
            Some(FileKind::Zip),
            vec!["setup.exe"],
        ),
        (
            "nested zip depth 3",
            with_attachment("attachment; filename=a.zip", "application/zip", &nested),
            Some("a.zip"),
            Some(FileKind::Zip),
            vec![
                "middle.zip",
                "middle.zip/inner.zip",
                "middle.zip/inner.zip/virus.exe",
            ],
        ),
    ];
    for (name, raw, want_name, want_kind, want_members) in cases {
        let a = analyse(&raw, &Limits::default());
        assert_eq!(a.attachments.len(), 1, "case {name}: {:?}", a.attachments);
        let att = &a.attachments[0];
        assert_eq!(att.name.as_deref(), want_name, "case {name}");
        assert_eq!(att.sniffed, want_kind, "case {name}");
        assert_eq!(att.part, 2, "case {name}");
        let paths: Vec<&str> = att.members.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, want_members, "case {name}");
        assert_eq!(att.archive_problems, vec![], "case {name}");
        assert!(att.size > 0 && att.data.len() == att.size, "case {name}");
        // Names (and member paths) are text for the rules.
        let names = texts_of(&a, |o| matches!(o, TextOrigin::AttachmentName { part: 2 }));
        assert_eq!(names.first().map(String::as_str), want_name, "case {name}");
        assert_eq!(names.len(), 1 + want_members.len(), "case {name}");
    }
    // The executable in the nested zip is recognised.
    let a = analyse(
        &with_attachment("attachment; filename=a.zip", "application/zip", &nested),
        &Limits::default(),
    );
    assert_eq!(
        a.attachments[0].members.last().and_then(|m| m.sniffed),
        Some(FileKind::WindowsExecutable)
    );
}

#[test]
fn archive_problems_reach_the_analysis() {
    let zeros = vec![0u8; 50 * 1024 * 1024];
    let bomb = make_zip(&[("zeros.bin", &zeros)]);
    let many: Vec<(String, Vec<u8>)> = (0..20).map(|i| (format!("f{i}"), vec![b'x'])).collect();
    let many_zip = make_zip(
        &many
            .iter()
            .map(|(n, c)| (n.as_str(), c.as_slice()))
            .collect::<Vec<_>>(),
    );
    let mut corrupt = make_zip(&[("a.txt", b"aaaaaaaa")]);
    corrupt.truncate(corrupt.len() - 30);
    let limits = Limits {
        archive_max_entries: 5,
        ..Limits::default()
    };
    let cases: Vec<(&str, Vec<u8>, Vec<ArchiveProblem>)> = vec![
        (
            "bomb",
            bomb,
            vec![ArchiveProblem::CompressionRatio, ArchiveProblem::TooLarge],
        ),
        (
            "too many entries",
            many_zip,
            vec![ArchiveProblem::TooManyEntries],
        ),
        ("corrupt", corrupt, vec![ArchiveProblem::Corrupt]),
    ];
    for (name, zip, want) in cases {
        let started = std::time::Instant::now();
        let a = analyse(
            &with_attachment("attachment; filename=x.zip", "application/zip", &zip),
            &limits,
        );
        let problems = a
            .attachments
            .first()
            .map(|att| att.archive_problems.clone())
            .unwrap_or_default();
        assert!(
            !problems.is_empty() && problems.iter().all(|p| want.contains(p)),
            "case {name}: {problems:?}"
        );
        assert!(
            started.elapsed().as_secs() < 3,
            "case {name} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn headers_table() {
    let raw = b"From: \"Juf\" <Juf.Jansen@School.NL>\r\nTo: a@x.nl, Groep: B@y.nl, c@z.nl;\r\nCc: d@x.nl\r\nBcc: e@x.nl\r\nSubject: test\r\nSensitivity:  Personal \r\n\r\nbody\r\n";
    let a = analyse(raw, &Limits::default());
    assert_eq!(a.headers.from, vec!["juf.jansen@school.nl"]);
    assert_eq!(a.headers.to, vec!["a@x.nl", "b@y.nl", "c@z.nl"]);
    assert_eq!(a.headers.cc, vec!["d@x.nl"]);
    assert_eq!(a.headers.bcc, vec!["e@x.nl"]);
    assert_eq!(a.headers.sensitivity.as_deref(), Some("Personal"));
    assert_eq!(a.headers.raw_header_block, raw[..raw.len() - 8].to_vec());
    assert!(!a.headers.auto_generated);
}

#[test]
fn auto_generated_table() {
    let cases: &[(&str, bool)] = &[
        ("Auto-Submitted: auto-replied\r\n", true),
        ("Auto-Submitted: auto-generated; foo=bar\r\n", true),
        ("Auto-Submitted: no\r\n", false),
        ("Auto-Submitted: No (handmatig)\r\n", false),
        ("Precedence: bulk\r\n", true),
        ("Precedence: junk\r\n", true),
        ("Precedence: list\r\n", true),
        ("Precedence: normal\r\n", false),
        (
            "Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n",
            true,
        ),
        ("Content-Type: multipart/mixed; boundary=r\r\n", false),
        ("X-Autoreply: yes\r\n", true),
        ("X-Autorespond: yes\r\n", true),
        ("List-Id: <ouders.school.nl>\r\n", true),
        ("X-Mailer: Outlook\r\n", false),
    ];
    for (header, want) in cases {
        let raw = format!("From: a@b.nl\r\n{header}Subject: x\r\n\r\n--r\r\n\r\nx\r\n--r--\r\n");
        let a = analyse(raw.as_bytes(), &Limits::default());
        assert_eq!(a.headers.auto_generated, *want, "{header:?}");
    }
}

#[test]
#[allow(clippy::type_complexity)] // a table of test cases
fn hostile_structure_table() {
    let mut deep = b"Subject: diep\r\n".to_vec();
    for i in 0..2000 {
        deep.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                .as_bytes(),
        );
    }
    deep.extend_from_slice(b"Content-Type: text/plain\r\n\r\nverborgen tekst\r\n");
    let mut deep_messages = b"Subject: diep\r\n".to_vec();
    for _ in 0..20_000 {
        deep_messages.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    deep_messages.extend_from_slice(b"Subject: binnen\r\n\r\nverborgen tekst\r\n");
    let mut many_parts = b"Content-Type: multipart/mixed; boundary=m\r\n\r\n".to_vec();
    for _ in 0..50 {
        many_parts.extend_from_slice(b"--m\r\nContent-Type: text/plain\r\n\r\nverborgen tekst\r\n");
    }
    many_parts.extend_from_slice(b"--m--\r\n");
    let mut long_header = b"Subject: ".to_vec();
    long_header.extend(std::iter::repeat_n(b'a', 1_000_000));
    long_header.extend_from_slice(b"\r\nTo: a@b.nl\r\n\r\nverborgen tekst\r\n");
    let encoded_message = format!(
        "Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--m--\r\nverborgen tekst\r\n",
        b64(&deep_messages)
    );
    // A base64 nested message of ordinary depth (mail-parser's `rfc/008.eml` shape) is decoded and read.
    let encoded_ordinary = format!(
        "Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--m--\r\n",
        b64(b"Subject: x\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\ngeneste tekst\r\n--a--\r\n")
    );
    let mid_line = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=\"grens\"\r\n\r\n--grens\r\nContent-Type: text/plain\r\n\r\nzichtbaar --grens verborgen tekst\r\n--grens--\r\n".to_vec();
    let few_parts = Limits {
        max_parts: 10,
        ..Limits::default()
    };
    let default = Limits::default();
    // (name, raw, limits, damage that must be recorded, text that must still be visible)
    let cases: Vec<(&str, Vec<u8>, &Limits, Option<Damage>, Option<&str>)> = vec![
        (
            "2000 nested multiparts",
            deep,
            &default,
            Some(Damage::TooDeep),
            Some("verborgen tekst"),
        ),
        (
            "20000 nested messages",
            deep_messages,
            &default,
            Some(Damage::TooDeep),
            Some("verborgen tekst"),
        ),
        (
            "too many parts",
            many_parts,
            &few_parts,
            Some(Damage::TooManyParts),
            Some("verborgen tekst"),
        ),
        (
            "1,000,000-byte header line",
            long_header,
            &default,
            None,
            Some("verborgen tekst"),
        ),
        (
            "encoded nested message",
            encoded_message.into_bytes(),
            &default,
            Some(Damage::TooDeep),
            Some("verborgen tekst"),
        ),
        (
            "encoded nested message of ordinary depth",
            encoded_ordinary.into_bytes(),
            &default,
            None,
            Some("geneste tekst"),
        ),
        (
            "boundary mid-line",
            mid_line,
            &default,
            Some(Damage::BoundaryMidLine),
            Some("verborgen tekst"),
        ),
        (
            "no headers",
            b"\r\nalleen tekst\r\n".to_vec(),
            &default,
            None,
            None,
        ),
        (
            "empty",
            Vec::new(),
            &default,
            Some(Damage::Unparseable),
            None,
        ),
        (
            "garbage",
            (0..=255u8).cycle().take(5000).collect(),
            &default,
            None,
            None,
        ),
    ];
    for (name, raw, limits, want_damage, want_text) in cases {
        let started = std::time::Instant::now();
        let a = analyse(&raw, limits);
        assert!(
            started.elapsed().as_secs() < 5,
            "case {name} took {:?}",
            started.elapsed()
        );
        assert_eq!(a.size, raw.len(), "case {name}");
        if let Some(d) = want_damage {
            assert!(a.damage.contains(&d), "case {name}: {:?}", a.damage);
        }
        if let Some(t) = want_text {
            assert!(all_text(&a).contains(t), "case {name}: text not visible");
        }
        if want_damage.is_some_and(|d| d != Damage::Unparseable) {
            assert!(
                a.texts.iter().any(|t| t.origin == TextOrigin::Raw),
                "case {name}: no raw fallback"
            );
        }
    }
}

#[test]
fn text_budget_is_enforced() {
    let raw = format!("Subject: x\r\n\r\n{}\r\n", "é".repeat(1000));
    let limits = Limits {
        max_text_bytes: 101,
        ..Limits::default()
    };
    let a = analyse(raw.as_bytes(), &limits);
    let total: usize = a.texts.iter().map(|t| t.text.len()).sum();
    assert!(total <= 101, "{total}");
    assert!(a.damage.contains(&Damage::TextTruncated));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        with_attachment(
            "attachment; filename*=UTF-8''a.zip",
            "application/zip",
            &make_zip(&[("x.exe", &exe())]),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_on_bytes(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let a = analyse(&raw, &Limits::default());
            prop_assert_eq!(a.size, raw.len());
        }

        #[test]
        fn never_panics_on_mutated_messages(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..32), cut in any::<usize>()) {
            let mut raw = sample();
            for (pos, byte) in edits {
                let len = raw.len();
                raw[pos % len] = byte;
            }
            let keep = cut % (raw.len() + 1);
            raw.truncate(keep);
            let limits = Limits { max_text_bytes: 4096, ..Limits::default() };
            let a = analyse(&raw, &limits);
            let total: usize = a.texts.iter().filter(|t| t.origin != TextOrigin::Raw).map(|t| t.text.len()).sum();
            prop_assert!(total <= 4096);
        }
    }
}
