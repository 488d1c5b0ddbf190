//! The delivery status notification itself (RFC 3464 inside an RFC 6522 `multipart/report`), written by hand
//! so that every byte is under control: CRLF everywhere, header fields ASCII (the recipient address aside,
//! RFC 6532), the human text in quoted-printable UTF-8, no line over 998 bytes (RFC 5322 §2.1.1).
//!
//! Pure: the clock is an argument, nothing is read or written. Never copies the original body.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::template::render;
use super::wording::{wording, Lang};
use super::{
    detection_names, refusal_code, valid_status, BounceError, BounceSettings, DsnInput, Reason,
    ARTICLE_MALWARE, TEMPLATE_EN, TEMPLATE_NL,
};

/// `Subject:` of every DSN. Fixed, ASCII, and never the original subject (that could carry the content).
const SUBJECT: &str =
    "Onbestelbaar: uw bericht is niet verzonden / Undelivered Mail Returned to Sender";
/// Display name in `From:`.
const FROM_NAME: &str = "Mail Delivery System (mailwacht)";
/// The original header block is copied up to this size; a larger one is cut (it is for diagnosis only).
const MAX_HEADER_COPY: usize = 64 * 1024;
/// Longest line the DSN may contain, without CRLF (RFC 5322 §2.1.1).
const MAX_LINE: usize = 998;
/// Quoted-printable line length (RFC 2045 §6.7 rule 5), without the soft-break `=`.
const QP_LINE: usize = 75;
/// Width the reason texts are wrapped at (they are read in mail clients).
const WRAP: usize = 70;

/// Build the DSN for one bounced message. Pure: `now` is the `Date:` of the DSN.
///
/// Fails when there is nobody to send it to (null sender, RFC 5321 §4.5.5), no failed recipient, an address
/// with control characters, a bad `reporting_mta`, or a custom template with an unknown placeholder.
pub fn build_dsn(
    settings: &BounceSettings,
    input: &DsnInput<'_>,
    now: SystemTime,
) -> Result<Vec<u8>, BounceError> {
    let mta = check_host_name(&settings.reporting_mta)?;
    let sender = input.envelope_sender.trim();
    if sender.is_empty() || sender == "<>" {
        return Err(BounceError::NullSender);
    }
    check_address(sender, "envelope sender")?;
    if input.failed_recipients.is_empty() {
        return Err(BounceError::NoRecipients);
    }
    for (i, r) in input.failed_recipients.iter().enumerate() {
        check_address(r, &format!("failed recipient {}", i + 1))?;
    }
    let queue_id = safe_token(input.queue_id);
    let date = rfc5322_date(now, "of the bounce")?;
    let arrival = rfc5322_date(input.arrival, "of arrival")?;

    let text = human_text(settings, input, &queue_id)?;
    let text_part = quoted_printable(text.as_bytes());
    let status_part = delivery_status(mta, &queue_id, &arrival, input);
    let (headers_part, headers_cte) = header_copy(input.original_headers);

    let stamp = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let unique = format!("{}{:09}", stamp.as_secs(), stamp.subsec_nanos());
    // The boundary must not occur in any part (RFC 2046 §5.1.1); the text part is QP so it cannot hold
    // `=_`, but the copied headers could, so look and vary it until it is unique.
    let mut boundary = format!("=_mailwacht-dsn-{unique}-{queue_id}");
    let mut n = 0u32;
    while [&text_part, &status_part, &headers_part]
        .iter()
        .any(|p| contains(p.as_bytes(), boundary.as_bytes()))
    {
        n += 1;
        boundary = format!("=_mailwacht-dsn-{unique}-{queue_id}-{n}");
    }

    let mut out = String::with_capacity(text_part.len() + headers_part.len() + 2048);
    let _ = write!(out, "From: \"{FROM_NAME}\" <MAILER-DAEMON@{mta}>\r\n");
    let _ = write!(out, "To: <{sender}>\r\n");
    // Folded once so the line stays under the recommended 78 characters (RFC 5322 §2.1.1).
    let (subject_a, subject_b) = SUBJECT.split_once(" / ").unwrap_or((SUBJECT, ""));
    let _ = write!(out, "Subject: {subject_a} /\r\n {subject_b}\r\n");
    let _ = write!(out, "Date: {date}\r\n");
    let _ = write!(
        out,
        "Message-ID: <mailwacht-dsn.{unique}.{queue_id}@{mta}>\r\n"
    );
    // RFC 3834 §5: marks the DSN as automatic so that auto-responders do not answer it (no loops).
    out.push_str("Auto-Submitted: auto-replied\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    let _ = write!(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n");
    out.push_str("\r\nDit is een bericht in MIME-formaat. / This is a MIME-formatted message.\r\n");

    let _ = write!(out, "\r\n--{boundary}\r\n");
    out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    out.push_str("Content-Transfer-Encoding: quoted-printable\r\n");
    out.push_str("Content-Description: Toelichting / Notification\r\n\r\n");
    out.push_str(&text_part);

    let _ = write!(out, "\r\n--{boundary}\r\n");
    out.push_str("Content-Type: message/delivery-status\r\n");
    out.push_str("Content-Description: Afleverstatus / Delivery report\r\n\r\n");
    out.push_str(&status_part);

    let _ = write!(out, "\r\n--{boundary}\r\n");
    out.push_str("Content-Type: text/rfc822-headers\r\n");
    if let Some(cte) = headers_cte {
        let _ = write!(out, "Content-Transfer-Encoding: {cte}\r\n");
    }
    out.push_str(
        "Content-Description: Kopregels van het bericht / Undelivered message headers\r\n\r\n",
    );
    out.push_str(&headers_part);

    let _ = write!(out, "\r\n--{boundary}--\r\n");
    Ok(out.into_bytes())
}

/// The human-readable part: the Dutch template, then the English one.
fn human_text(
    settings: &BounceSettings,
    input: &DsnInput<'_>,
    queue_id: &str,
) -> Result<String, BounceError> {
    let nl = settings.template_nl.as_deref().unwrap_or(TEMPLATE_NL);
    let en = settings.template_en.as_deref().unwrap_or(TEMPLATE_EN);
    let recipients: String = input
        .failed_recipients
        .iter()
        .map(|r| format!("- {}\n", r.trim()))
        .collect();
    let recipients = recipients.as_str();
    let fill = |lang: Lang| -> Result<_, BounceError> {
        let reasons = reasons(lang, &input.reason, settings)?;
        let summary = wrap(&summary(lang, &input.reason, settings)?, WRAP).join("\n");
        let advice = wrap(&advice(lang, &input.reason, settings, queue_id)?, WRAP).join("\n");
        Ok(move |name: &str| match name {
            "organisation" => settings.organisation.clone(),
            "helpdesk" => settings.helpdesk.clone(),
            "reasons" => reasons.trim_end().to_string(),
            "recipients" => recipients.trim_end().to_string(),
            "queue_id" => queue_id.to_string(),
            "summary" => summary.clone(),
            "advice" => advice.clone(),
            _ => String::new(),
        })
    };
    let dutch = render(nl, fill(Lang::Nl)?)?;
    let english = render(en, fill(Lang::En)?)?;
    let mut text = String::new();
    text.push_str("(English version below)\n\n");
    text.push_str(dutch.trim_end());
    text.push_str("\n\n");
    text.push_str(&"-".repeat(WRAP));
    text.push_str("\n\n");
    text.push_str(english.trim_end());
    text.push('\n');
    Ok(text)
}

/// The `{summary}` text: what happened, in one paragraph fitting the kind of reason.
fn summary(
    lang: Lang,
    reason: &Reason<'_>,
    settings: &BounceSettings,
) -> Result<String, BounceError> {
    Ok(wording(lang)?.summary(reason, &settings.organisation))
}

/// The `{advice}` text: what the sender can do.
fn advice(
    lang: Lang,
    reason: &Reason<'_>,
    settings: &BounceSettings,
    queue_id: &str,
) -> Result<String, BounceError> {
    Ok(wording(lang)?.advice(reason, &settings.helpdesk, queue_id))
}

/// The `{reasons}` text: one item per reason, citing the article. Never any content of the message.
fn reasons(
    lang: Lang,
    reason: &Reason<'_>,
    settings: &BounceSettings,
) -> Result<String, BounceError> {
    let wording = wording(lang)?;
    let mut out = String::new();
    match reason {
        Reason::Rules(rules) => {
            for r in rules.iter() {
                let article = r.article.trim();
                let message = if lang == Lang::Nl {
                    &r.message_nl
                } else {
                    &r.message_en
                };
                let mut lines =
                    vec![wording.render("reason.category", &[("category", &r.category)])];
                if !article.is_empty() {
                    lines.push(wording.render("reason.article", &[("article", article)]));
                }
                lines.push(message.clone());
                push_item(&mut out, &lines);
            }
        }
        Reason::Infected(detections) => {
            let names = detection_names(detections);
            let head = wording.render(
                "reason.malware",
                &[("names", &names), ("article", ARTICLE_MALWARE)],
            );
            let body = wording.render("reason.quarantined", &[("helpdesk", &settings.helpdesk)]);
            push_item(&mut out, &[head, body]);
        }
        Reason::Rejected(rejections) => {
            // The code and status only: the next hop's free text is not the sender's to read (it can quote
            // other addresses, internal host names or map names).
            for (address, reply) in rejections.iter() {
                let line = wording.render(
                    "reason.refused",
                    &[("address", address.trim()), ("code", &refusal_code(reply))],
                );
                push_item(&mut out, &[line]);
            }
        }
    }
    Ok(out)
}

/// One `- ` item: each paragraph wrapped and indented under the dash.
fn push_item(out: &mut String, paragraphs: &[String]) {
    let lines = paragraphs.iter().flat_map(|p| wrap(p, WRAP - 2));
    for (i, line) in lines.enumerate() {
        out.push_str(if i == 0 { "- " } else { "  " });
        out.push_str(&line);
        out.push('\n');
    }
}

/// Greedy word wrap; a word longer than `width` stays whole (QP keeps the physical lines short anyway).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

/// The `message/delivery-status` body (RFC 3464 §2.2–2.3): per-message fields, then one block per recipient.
fn delivery_status(mta: &str, queue_id: &str, arrival: &str, input: &DsnInput<'_>) -> String {
    let mut out = String::new();
    let _ = write!(out, "Reporting-MTA: dns; {mta}\r\n");
    let _ = write!(out, "X-Mailwacht-Queue-ID: {queue_id}\r\n");
    let _ = write!(out, "Arrival-Date: {arrival}\r\n");
    for recipient in input.failed_recipients {
        let recipient = recipient.trim();
        let (status, diagnostic) = match &input.reason {
            Reason::Rules(rules) => {
                let mut cats: Vec<&str> = Vec::new();
                for r in rules.iter() {
                    if !cats.contains(&r.category.as_str()) {
                        cats.push(&r.category);
                    }
                }
                (
                    "5.7.1".to_string(),
                    format!(
                        "550 5.7.1 Message refused by content policy ({})",
                        cats.join(", ")
                    ),
                )
            }
            Reason::Infected(detections) => (
                "5.7.1".to_string(),
                format!(
                    "550 5.7.1 Message quarantined: malicious software found ({})",
                    detection_names(detections)
                ),
            ),
            Reason::Rejected(rejections) => {
                match rejections
                    .iter()
                    .find(|(a, _)| a.trim().eq_ignore_ascii_case(recipient))
                {
                    Some((_, reply)) => (
                        valid_status(&reply.status).unwrap_or("5.0.0").to_string(),
                        refusal_code(reply),
                    ),
                    None => (
                        "5.0.0".to_string(),
                        "550 5.0.0 Refused by the next hop".to_string(),
                    ),
                }
            }
        };
        out.push_str("\r\n");
        let _ = write!(out, "Final-Recipient: {}\r\n", final_recipient(recipient));
        out.push_str("Action: failed\r\n");
        let _ = write!(out, "Status: {status}\r\n");
        // ASCII and bounded: a header field.
        let diagnostic = super::truncate_ascii(&super::to_ascii(&diagnostic), 900);
        let _ = write!(out, "Diagnostic-Code: smtp; {diagnostic}\r\n");
    }
    out
}

/// `rfc822; addr`, or for a non-ASCII address the `utf-8` type with its xtext form (RFC 6533 §3).
fn final_recipient(address: &str) -> String {
    if address.is_ascii() {
        return format!("rfc822; {address}");
    }
    let mut out = String::from("utf-8; ");
    for c in address.chars() {
        match c {
            '!'..='*' | ','..='<' | '>'..='[' | ']'..='~' => out.push(c),
            _ => {
                let _ = write!(out, "\\x{{{:X}}}", c as u32);
            }
        }
    }
    out
}

/// The header fields copied into `text/rfc822-headers`: the ones the sender's own mail program wrote to
/// identify the message, so the sender recognises it. `Received`, signatures, `Authentication-Results` and
/// whatever other systems added on the way are left out (RFC 3464 §2 makes the whole part optional).
const COPIED_FIELDS: &[&str] = &[
    "date",
    "from",
    "sender",
    "to",
    "cc",
    "subject",
    "message-id",
    "in-reply-to",
    "references",
];

/// The original header fields for `text/rfc822-headers`: cut at the first empty line (headers only, never
/// the body), capped, only [`COPIED_FIELDS`] (with their folded continuation lines), line ends made CRLF,
/// NULs dropped. Sent as-is when it is plain ASCII with short lines, otherwise quoted-printable (which keeps
/// 8-bit bytes and over-long lines intact and the DSN 7-bit).
fn header_copy(raw: &[u8]) -> (String, Option<&'static str>) {
    let end = find(raw, b"\r\n\r\n")
        .or_else(|| find(raw, b"\n\n"))
        .unwrap_or(raw.len());
    let block = raw.get(..end.min(MAX_HEADER_COPY)).unwrap_or_default();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    // Whether the field the current line belongs to is copied (a continuation line follows its field).
    let mut copying = false;
    for line in block.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if !copying {
                continue;
            }
        } else {
            copying = line.iter().position(|b| *b == b':').is_some_and(|colon| {
                let name = String::from_utf8_lossy(&line[..colon]);
                COPIED_FIELDS.contains(&name.trim().to_ascii_lowercase().as_str())
            });
            if !copying {
                continue;
            }
        }
        let line: Vec<u8> = line
            .iter()
            .filter(|b| **b != 0)
            .map(|b| if *b == b'\r' { b' ' } else { *b })
            .collect();
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let plain = lines
        .iter()
        .all(|l| l.len() <= MAX_LINE && l.iter().all(|b| *b == b'\t' || (0x20..0x7f).contains(b)));
    let mut joined = Vec::with_capacity(block.len() + lines.len());
    for l in &lines {
        joined.extend_from_slice(l);
        joined.extend_from_slice(b"\r\n");
    }
    if plain {
        (String::from_utf8_lossy(&joined).into_owned(), None)
    } else {
        (quoted_printable(&joined), Some("quoted-printable"))
    }
}

/// Quoted-printable (RFC 2045 §6.7) of text whose line ends are LF or CRLF; output lines end in CRLF and are
/// at most 76 bytes. Spaces and tabs before a line end are encoded (rule 3); so is a leading `.` or
/// `From ` (harmless to decoders, and safe with old MTAs).
fn quoted_printable(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len() * 11 / 10 + 16);
    let text = input.strip_suffix(b"\n").unwrap_or(input);
    for line in text.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut len = 0usize;
        for (i, &b) in line.iter().enumerate() {
            let last = i + 1 == line.len();
            let literal = match b {
                b'=' => false,
                b' ' | b'\t' => !last,
                b'.' => len != 0,
                b'F' => len != 0 || line.get(i..i + 5) != Some(b"From "),
                33..=126 => true,
                _ => false,
            };
            let piece = if literal {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            // Keep room for the soft-break `=` (rule 5).
            if len + piece.len() > QP_LINE {
                out.push_str("=\r\n");
                len = 0;
            }
            // After a soft break the character may now start a line; the rules above already allow that.
            out.push_str(&piece);
            len += piece.len();
        }
        out.push_str("\r\n");
    }
    out
}

/// A queue id made safe for header fields and the boundary: `[A-Za-z0-9._-]`, at most 64 characters.
fn safe_token(s: &str) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect();
    if t.is_empty() {
        "NOQUEUE".into()
    } else {
        t
    }
}

/// Build a DSN for a made-up infected message with `settings`, as the configuration check does: a
/// `reporting_mta` or a template that would make every notice fail shows here, before mail flows.
pub fn probe_dsn(settings: &BounceSettings) -> Result<(), BounceError> {
    let detections = [crate::scan::Detection {
        name: "Eicar-Test-Signature".into(),
        location: "part 1".into(),
    }];
    let input = DsnInput {
        queue_id: "MWCONFIGCHECK",
        envelope_sender: "juf.anna@school.example",
        failed_recipients: &["ouder@example.org".to_string()],
        original_headers: b"From: juf.anna@school.example\r\nSubject: proef\r\n\r\n",
        arrival: UNIX_EPOCH,
        reason: Reason::Infected(&detections),
    };
    build_dsn(settings, &input, UNIX_EPOCH).map(|_| ())
}

/// `reporting_mta` must be a plain host name (letters, digits, `-`, `.`) or an address literal in brackets.
pub fn check_host_name(name: &str) -> Result<&str, BounceError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && (name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            || (name.starts_with('[')
                && name.ends_with(']')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b":.[]".contains(&b))));
    if ok {
        Ok(name)
    } else {
        Err(BounceError::InvalidHostName {
            name: name.to_string(),
        })
    }
}

/// An address that goes into a header field or a DSN field: no control characters (header injection), no
/// angle brackets or spaces, an `@`.
fn check_address(address: &str, which: &str) -> Result<(), BounceError> {
    let a = address.trim();
    let ok = a.contains('@')
        && a.len() <= 512
        && !a
            .chars()
            .any(|c| c.is_control() || c == '<' || c == '>' || c == ' ');
    if ok {
        Ok(())
    } else {
        Err(BounceError::InvalidAddress {
            which: which.to_string(),
        })
    }
}

/// RFC 5322 §3.3 date-time in UTC.
fn rfc5322_date(t: SystemTime, what: &'static str) -> Result<String, BounceError> {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc2822)
        .map_err(|e| BounceError::Date {
            what,
            reason: e.to_string(),
        })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::super::tests::rule;
    use super::*;
    use crate::rules::RuleInfo;
    use crate::scan::Detection;
    use crate::smtp::Reply;
    use mail_parser::{MessageParser, MimeHeaders};
    use std::time::Duration;

    const ORIGINAL: &[u8] = b"From: Juf Anna <anna@school.example>\r\n\
To: ouders@example.org\r\n\
Subject: Over de les van morgen\r\n\
Date: Mon, 3 Mar 2025 10:00:00 +0100\r\n\
Message-ID: <les-1@school.example>\r\n\
\r\n\
Beste ouders, dit is een verboden woord: kankerlijer. Groet.\r\n";

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_741_000_000)
    }

    fn rules() -> Vec<RuleInfo> {
        vec![
            rule(
                "MW-BELEDIGEND-01",
                "beledigend",
                "SOML/ProCon 2.1; WereldKidz 5.7g",
                "Uw bericht bevat beledigende taal. Is het bericht privé, markeer het dan als persoonlijk. Twijfelt u, neem dan contact op met de ICT-servicedesk.",
                "Your message contains insulting language. If it is private, mark it as personal.",
            ),
            rule(
                "MW-PRIVACY-02",
                "privacy",
                "Uniek 3.2.3 e",
                "Gebruik BCC wanneer u veel externe ontvangers mailt.",
                "Use BCC when you mail many external recipients.",
            ),
        ]
    }

    fn build(reason: Reason<'_>, recipients: &[String]) -> Vec<u8> {
        let input = DsnInput {
            queue_id: "4XyZ12",
            envelope_sender: "anna@school.example",
            failed_recipients: recipients,
            original_headers: ORIGINAL,
            arrival: now() - Duration::from_secs(5),
            reason,
        };
        build_dsn(&BounceSettings::default(), &input, now()).unwrap()
    }

    fn recipients() -> Vec<String> {
        vec![
            "ouders@example.org".to_string(),
            "zoë@example.net".to_string(),
        ]
    }

    /// Structural checks that every DSN must pass, whatever the reason.
    fn check_wire_format(dsn: &[u8]) {
        for (i, w) in dsn.windows(2).enumerate() {
            if w[1] == b'\n' {
                assert_eq!(w[0], b'\r', "bare LF at byte {}", i + 1);
            }
            if w[0] == b'\r' {
                assert_eq!(w[1], b'\n', "bare CR at byte {i}");
            }
        }
        assert_ne!(dsn.first(), Some(&b'\n'));
        assert!(dsn.ends_with(b"\r\n"));
        for line in dsn.split(|b| *b == b'\n') {
            assert!(line.len() <= MAX_LINE + 1, "line of {} bytes", line.len());
        }
        let head_end = find(dsn, b"\r\n\r\n").unwrap();
        assert!(
            dsn[..head_end].is_ascii(),
            "headers are ASCII when the sender is"
        );
    }

    #[test]
    fn dsn_for_rules_parses_as_a_three_part_report() {
        let rules = rules();
        let refs: Vec<&RuleInfo> = rules.iter().collect();
        let dsn = build(Reason::Rules(&refs), &recipients());
        check_wire_format(&dsn);

        let msg = MessageParser::default().parse(&dsn).expect("parses");
        let ct = msg.content_type().expect("content type");
        assert_eq!(ct.ctype(), "multipart");
        assert_eq!(ct.subtype(), Some("report"));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        assert_eq!(
            msg.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-replied")
        );
        assert_eq!(
            msg.from().and_then(|a| a.first()).and_then(|a| a.address()),
            Some("MAILER-DAEMON@localhost")
        );
        assert_eq!(
            msg.from().and_then(|a| a.first()).and_then(|a| a.name()),
            Some(FROM_NAME)
        );
        assert_eq!(
            msg.to().and_then(|a| a.first()).and_then(|a| a.address()),
            Some("anna@school.example")
        );
        assert_eq!(msg.subject(), Some(SUBJECT));
        assert!(msg.date().is_some());
        assert!(msg
            .message_id()
            .is_some_and(|id| id.ends_with("@localhost")));

        // Three parts below the root, in order.
        let kinds: Vec<String> = msg
            .parts
            .iter()
            .skip(1)
            .map(|p| {
                let ct = p.content_type().unwrap();
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "text/plain",
                "message/delivery-status",
                "text/rfc822-headers"
            ]
        );

        let text = msg.body_text(0).expect("human text").replace("\r\n", "\n");
        let nl = text
            .find("Uw e-mailbericht is niet verzonden")
            .expect("Dutch text");
        let en = text
            .find("Your e-mail message has not been sent")
            .expect("English text");
        assert!(nl < en, "Dutch before English");
        for needle in [
            "- Categorie: beledigend\n  Gedragscode: SOML/ProCon 2.1; WereldKidz 5.7g\n  Uw bericht",
            "- Category: privacy\n  Code of conduct: Uniek 3.2.3 e\n  Use BCC",
            "Is het bericht privé",
            "Gebruik BCC",
            "Use BCC when you mail many external recipients.",
            "- ouders@example.org",
            "- zoë@example.net",
            "4XyZ12",
            "de ICT-servicedesk",
            "Het ICT-team van de school",
        ] {
            assert!(
                text.contains(needle),
                "human text lacks {needle:?}:\n{text}"
            );
        }
        // The Dutch rule message sits in the Dutch half, the English one in the English half.
        assert!(text.find("Gebruik BCC").unwrap() < en);
        assert!(text.find("Use BCC").unwrap() > en);

        let raw = String::from_utf8_lossy(&dsn);
        assert!(
            !raw.contains("kankerlijer"),
            "the forbidden body word must never come back"
        );
        assert!(
            !text.contains("Over de les van morgen"),
            "the subject is not repeated in the text"
        );
        assert!(
            raw.contains("Subject: Over de les van morgen"),
            "but the original headers are attached"
        );
        assert!(raw.contains("Message-ID: <les-1@school.example>"));

        let status = String::from_utf8_lossy(msg.parts[2].contents()).into_owned();
        for needle in [
            "Reporting-MTA: dns; localhost\r\n",
            "X-Mailwacht-Queue-ID: 4XyZ12\r\n",
            "Arrival-Date: ",
            "\r\n\r\nFinal-Recipient: rfc822; ouders@example.org\r\nAction: failed\r\nStatus: 5.7.1\r\n",
            "Final-Recipient: utf-8; zo\\x{EB}@example.net\r\n",
            "Diagnostic-Code: smtp; 550 5.7.1 Message refused by content policy (beledigend, privacy)\r\n",
        ] {
            assert!(status.contains(needle), "delivery-status lacks {needle:?}:\n{status}");
        }
        let headers = String::from_utf8_lossy(msg.parts[3].contents()).into_owned();
        assert!(
            headers.starts_with("From: Juf Anna <anna@school.example>\r\n"),
            "{headers}"
        );
        assert!(!headers.contains("Beste ouders"));
    }

    #[test]
    fn dsn_for_infected_names_detection_not_file_and_keeps_headers_only() {
        let d = [Detection {
            name: "Eicar-Test-Signature".into(),
            location: "part 2".into(),
        }];
        let original = b"From: a@school.example\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Disposition: attachment; filename=\"virus.com\"\r\n\r\nX5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\r\n--b--\r\n";
        let rcpts = ["b@example.org".to_string()];
        let input = DsnInput {
            queue_id: "Q9",
            envelope_sender: "a@school.example",
            failed_recipients: &rcpts,
            original_headers: original,
            arrival: now(),
            reason: Reason::Infected(&d),
        };
        let dsn = build_dsn(&BounceSettings::default(), &input, now()).unwrap();
        check_wire_format(&dsn);
        let raw = String::from_utf8_lossy(&dsn);
        assert!(!raw.contains("EICAR-STANDARD"), "never the infected file");
        assert!(!raw.contains("virus.com"), "never the file name");
        let msg = MessageParser::default().parse(&dsn).unwrap();
        let text = msg.body_text(0).unwrap().into_owned();
        for needle in [
            "Eicar-Test-Signature",
            "WereldKidz 8.5",
            "quarantaine",
            "niemand heeft het ontvangen",
            "quarantined",
        ] {
            assert!(text.contains(needle), "lacks {needle:?}:\n{text}");
        }
        assert!(String::from_utf8_lossy(msg.parts[3].contents()).contains("Subject: x"));
    }

    #[test]
    fn dsn_for_rejected_uses_next_hop_status_without_article_or_its_text() {
        let rej = [(
            "b@example.org".to_string(),
            Reply::new(
                550,
                "5.1.1",
                "<b@example.org>: User unknown in virtual mailbox table intern-7.school.lan",
            ),
        )];
        let rcpts = ["b@example.org".to_string(), "c@example.org".to_string()];
        let input = DsnInput {
            queue_id: "Q1",
            envelope_sender: "a@school.example",
            failed_recipients: &rcpts,
            original_headers: ORIGINAL,
            arrival: now(),
            reason: Reason::Rejected(&rej),
        };
        let dsn = build_dsn(&BounceSettings::default(), &input, now()).unwrap();
        check_wire_format(&dsn);
        let msg = MessageParser::default().parse(&dsn).unwrap();
        let status = String::from_utf8_lossy(msg.parts[2].contents()).into_owned();
        assert!(status.contains("Final-Recipient: rfc822; b@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1\r\n"), "{status}");
        assert!(
            status.contains(
                "Final-Recipient: rfc822; c@example.org\r\nAction: failed\r\nStatus: 5.0.0\r\n"
            ),
            "{status}"
        );
        let text = msg.body_text(0).unwrap().into_owned();
        // Unwrapped, so the test does not depend on where the lines break.
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for line in [
            "- b@example.org: de ontvangende mailserver weigerde dit adres (550 5.1.1).",
            "- b@example.org: the receiving mail server refused this address (550 5.1.1).",
        ] {
            assert!(flat.contains(line), "{text}");
        }
        let raw = String::from_utf8_lossy(&dsn);
        for echo in ["User unknown", "virtual mailbox", "intern-7"] {
            assert!(
                !raw.contains(echo),
                "the next hop's text {echo:?} came back"
            );
        }
        assert!(
            !text.contains("gedragscode:"),
            "no article for a next-hop refusal"
        );
    }

    #[test]
    fn awkward_original_headers_stay_within_limits() {
        let mut original =
            b"From: a@school.example\nSubject: caf\xc3\xa9\nReferences: =_mailwacht-dsn-\nTo: "
                .to_vec();
        original.extend(std::iter::repeat_n(b'x', 100_000));
        original.extend_from_slice(b"\nCc: beyond the cap\n\nbody kankerlijer\n");
        let rcpts = ["b@example.org".to_string()];
        let d = [Detection {
            name: "X".into(),
            location: "message".into(),
        }];
        let input = DsnInput {
            queue_id: "Q<2>\r\n",
            envelope_sender: "a@school.example",
            failed_recipients: &rcpts,
            original_headers: &original,
            arrival: now(),
            reason: Reason::Infected(&d),
        };
        let dsn = build_dsn(&BounceSettings::default(), &input, now()).unwrap();
        check_wire_format(&dsn);
        assert!(dsn.is_ascii(), "QP keeps the DSN 7-bit");
        assert!(!String::from_utf8_lossy(&dsn).contains("kankerlijer"));
        let msg = MessageParser::default().parse(&dsn).unwrap();
        assert_eq!(msg.parts.len(), 4, "boundary stayed unique");
        let headers = msg.parts[3].contents();
        assert!(
            find(headers, "Subject: café".as_bytes()).is_some(),
            "QP round trip"
        );
        assert!(
            find(headers, &[b'x'; 1000]).is_some(),
            "long line kept (QP soft breaks)"
        );
        assert!(
            find(headers, b"beyond the cap").is_none(),
            "capped at {MAX_HEADER_COPY} bytes"
        );
        assert!(headers.len() <= MAX_HEADER_COPY + 8, "{}", headers.len());
        assert!(
            msg.message_id().is_some_and(|id| id.contains(".Q2@")),
            "queue id sanitised"
        );
    }

    /// Only the fields the sender's mail program wrote come back, with their continuation lines; what was
    /// added on the way (trace fields, signatures, other filters' verdicts) does not.
    #[test]
    fn only_the_senders_own_header_fields_are_copied() {
        let raw = b"Received: from pc12 (pc12.intern.school.lan [10.1.2.3])\r\n\tby mx.school.example\r\n\
Return-Path: <a@school.example>\r\n\
DKIM-Signature: v=1; a=rsa-sha256; d=school.example;\r\n b=abc\r\n\
From: Juf Anna <a@school.example>\r\n\
To: ouders@example.org,\r\n\tanderen@example.org\r\n\
X-Spam-Status: No, score=-1.0\r\n\
Authentication-Results: mx.school.example; spf=pass\r\n\
subject: Over de les\r\n\
Date: Mon, 3 Mar 2025 10:00:00 +0100\r\n\
Message-ID: <les-1@school.example>\r\n\
\x20continuation of the message id\r\n\
garbage line without colon\r\n\
\r\nbody\r\n";
        let (copy, cte) = header_copy(raw);
        assert_eq!(cte, None);
        assert_eq!(
            copy,
            "From: Juf Anna <a@school.example>\r\nTo: ouders@example.org,\r\n\tanderen@example.org\r\n\
subject: Over de les\r\nDate: Mon, 3 Mar 2025 10:00:00 +0100\r\nMessage-ID: <les-1@school.example>\r\n \
continuation of the message id\r\n"
        );
    }

    #[test]
    fn control_characters_in_original_headers_are_neutralised() {
        let cases: &[(&[u8], &[u8], Option<&str>)] = &[
            (b"To: 1\r\nCc: 2\r\n\r\nbody", b"To: 1\r\nCc: 2\r\n", None),
            (b"To: 1\nCc: 2\n\nbody", b"To: 1\r\nCc: 2\r\n", None),
            (b"To: x\x00y\rz\r\n", b"To: xy z\r\n", None),
            (
                b"Subject: caf\xc3\xa9\r\n",
                b"Subject: caf=C3=A9\r\n",
                Some("quoted-printable"),
            ),
            (
                b"Subject: bell\x07\r\n",
                b"Subject: bell=07\r\n",
                Some("quoted-printable"),
            ),
            (b"", b"", None),
        ];
        for (raw, want, cte) in cases {
            let (copy, got_cte) = header_copy(raw);
            assert_eq!(copy.as_bytes(), *want, "{:?}", String::from_utf8_lossy(raw));
            assert_eq!(got_cte, *cte);
        }
    }

    #[test]
    fn custom_templates_are_used_and_checked() {
        let rules = rules();
        let refs: Vec<&RuleInfo> = rules.iter().collect();
        let rcpts = ["b@example.org".to_string()];
        let mut settings = BounceSettings {
            organisation: "OBS De Regenboog".into(),
            template_nl: Some("Hallo van {organisation}. {reasons} Kenmerk {queue_id}.".into()),
            ..Default::default()
        };
        let input = DsnInput {
            queue_id: "Q7",
            envelope_sender: "a@school.example",
            failed_recipients: &rcpts,
            original_headers: ORIGINAL,
            arrival: now(),
            reason: Reason::Rules(&refs),
        };
        let dsn = build_dsn(&settings, &input, now()).unwrap();
        let msg = MessageParser::default().parse(&dsn).unwrap();
        let text = msg.body_text(0).unwrap().into_owned();
        assert!(text.contains("Hallo van OBS De Regenboog."), "{text}");
        assert!(text.contains("Kenmerk Q7."));
        assert!(
            text.contains("The ICT team of OBS De Regenboog"),
            "English template still embedded"
        );

        settings.template_nl = Some("Hallo {afzender}".into());
        match build_dsn(&settings, &input, now()) {
            Err(BounceError::UnknownPlaceholder { name }) => assert_eq!(name, "afzender"),
            other => panic!("expected an unknown placeholder error, got {other:?}"),
        }
    }

    #[test]
    fn refuses_what_cannot_be_bounced() {
        let rules = rules();
        let refs: Vec<&RuleInfo> = rules.iter().collect();
        let ok_rcpts = ["b@example.org".to_string()];
        let cases: &[(&str, &[String], &str)] = &[
            ("", &ok_rcpts, "null"),
            ("<>", &ok_rcpts, "null"),
            ("a@school.example", &[], "norcpt"),
            ("a@school.example\r\nBcc: x@example.org", &ok_rcpts, "addr"),
            ("no-at-sign", &ok_rcpts, "addr"),
        ];
        for (sender, rcpts, want) in cases {
            let input = DsnInput {
                queue_id: "Q",
                envelope_sender: sender,
                failed_recipients: rcpts,
                original_headers: ORIGINAL,
                arrival: now(),
                reason: Reason::Rules(&refs),
            };
            let got = match build_dsn(&BounceSettings::default(), &input, now()) {
                Err(BounceError::NullSender) => "null",
                Err(BounceError::NoRecipients) => "norcpt",
                Err(BounceError::InvalidAddress { .. }) => "addr",
                Err(e) => panic!("unexpected {e}"),
                Ok(_) => "ok",
            };
            assert_eq!(got, *want, "{sender:?}");
        }
        let bad = ["b@example.org\nX: y".to_string()];
        let input = DsnInput {
            queue_id: "Q",
            envelope_sender: "a@school.example",
            failed_recipients: &bad,
            original_headers: ORIGINAL,
            arrival: now(),
            reason: Reason::Rules(&refs),
        };
        assert!(matches!(
            build_dsn(&BounceSettings::default(), &input, now()),
            Err(BounceError::InvalidAddress { .. })
        ));
    }

    #[test]
    fn quoted_printable_table() {
        let cases: &[(&[u8], &str)] = &[
            (b"abc", "abc\r\n"),
            (b"a=b", "a=3Db\r\n"),
            (b"trailing \nnext\t", "trailing=20\r\nnext=09\r\n"),
            ("één".as_bytes(), "=C3=A9=C3=A9n\r\n"),
            (b".dot\r\nFrom me", "=2Edot\r\n=46rom me\r\n"),
            (b"", "\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(
                quoted_printable(input),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long = quoted_printable(&[b'y'; 200]);
        assert!(long.split("\r\n").all(|l| l.len() <= 76), "{long}");
        assert_eq!(long.replace("=\r\n", "").trim_end(), "y".repeat(200));
    }

    #[test]
    fn wrap_keeps_words_whole() {
        let lines = wrap("een twee drie vier vijf", 9);
        assert_eq!(lines, ["een twee", "drie vier", "vijf"]);
    }
}
