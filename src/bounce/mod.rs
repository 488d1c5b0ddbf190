//! Bouncing (WereldKidz 6.5: a suspect message is sent back to its sender automatically).
//!
//! Builds the RFC 3464 delivery status notification (a `multipart/report; report-type=delivery-status`,
//! RFC 6522), Dutch first and English second, and sends it with a null sender via the next hop.
//!
//! - [`build_dsn`] (in `dsn.rs`) is pure: no clock, no I/O; the time is passed in.
//! - [`reject_reply`] is the SMTP answer for `bounce_mode = "reject"` (Postfix then writes the bounce itself).
//! - [`may_notify`] (in `notify.rs`) is pure: it decides whether a sender may get a notice at all (only our
//!   own senders, never automatic mail or an address no notice can reach: no backscatter).
//! - [`send_dsn`] (in `mailer.rs`) hands a finished DSN to the next hop through the same client as relayed
//!   mail ([`crate::smtp::Deliver`]); [`NoticeMemory`] (in `memory.rs`) remembers which notices went out, so a message Postfix retries does not cause a second one. These two
//!   are the only I/O here.
//!
//! What this module must never do: carry the forbidden content or an infected file back to the sender, or
//! write to anyone [`may_notify`] refused. The DSN holds the human explanation (rule category, article and
//! the rule's own advice, or the detection name), the machine-readable delivery status (the next hop's code
//! and status for a refused recipient, never its free text), and the header fields the sender's own mail
//! program wrote to identify the message (`From`, `To`, `Cc`, `Subject`, `Date`, `Message-ID`, …) — never the
//! body, never an attachment, never headers added on the way (`Received`, signatures, other filters'
//! fields), and the explanation never repeats the subject.
//!
//! # Templates
//!
//! The human-readable part is made from two templates, Dutch (`templates/nl.txt`) then English
//! (`templates/en.txt`), embedded in the binary and replaceable with [`BounceSettings::template_nl`] /
//! [`BounceSettings::template_en`]. A template is plain UTF-8 text with these placeholders:
//!
//! | placeholder      | replaced by                                                                  |
//! |------------------|------------------------------------------------------------------------------|
//! | `{organisation}` | [`BounceSettings::organisation`], e.g. `de school`                           |
//! | `{helpdesk}`     | [`BounceSettings::helpdesk`], e.g. `de ICT-servicedesk`                       |
//! | `{summary}`      | one paragraph on what happened (policy bounce, malware, or refused recipients) |
//! | `{reasons}`      | one `- …` item per reason, in the template's language, citing the article     |
//! | `{advice}`       | what the sender can do, fitting the kind of reason                           |
//! | `{recipients}`   | one `- address` line per recipient that did not receive the message          |
//! | `{queue_id}`     | the queue id of the message, the reference for the helpdesk                  |
//!
//! `{{` and `}}` stand for literal braces. Any other `{name}` is an error ([`validate_template`]), so a typo in
//! a custom template is found when the configuration loads, not when the first bounce is built.
//!
//! The wording of `{summary}`, `{advice}` and the `{reasons}` items (per kind of reason, Dutch and English)
//! is not in the Rust code either: it comes from `templates/nl-parts.txt` and `templates/en-parts.txt`,
//! embedded and compiled once (`wording.rs`).

mod dsn;
mod mailer;
mod memory;
mod notify;
mod template;
mod wording;

pub use dsn::{build_dsn, check_host_name, probe_dsn};
pub use mailer::{check_next_hop, dsn_envelope, dsn_outcome, send_dsn};
pub use memory::{MemoryError, NoticeKey, NoticeMemory};
pub use notify::{check_address, may_notify, AddressProblem, NoticePolicy, Withheld};
pub use template::{validate_template, PLACEHOLDERS};

use serde::{Deserialize, Serialize};

use crate::rules::RuleInfo;
use crate::scan::Detection;
use crate::smtp::Reply;

/// The embedded Dutch template (see the module docs for the placeholders).
pub const TEMPLATE_NL: &str = include_str!("templates/nl.txt");
/// The embedded English template.
pub const TEMPLATE_EN: &str = include_str!("templates/en.txt");

/// The article cited for infected mail: WereldKidz 8.5 (infected messages are kept apart for investigation).
pub const ARTICLE_MALWARE: &str = "WereldKidz 8.5";

/// Who writes the bounce (`[policy] bounce_mode`): `dsn`, mailwacht sends the RFC 3464 notice and answers
/// `250`; `reject`, it answers `550 5.7.1` and Postfix writes the bounce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BounceMode {
    Dsn,
    Reject,
}

/// What happens to a message whose sender may not be notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnnotifiable {
    /// Stored in the quarantine with the rule ids (or the next hop's refusal), releasable by ICT.
    Quarantine,
    /// Dropped; the log line says so.
    Discard,
}

/// How bounces look (from the `[bounce]` section of the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceSettings {
    /// Host name used in `Reporting-MTA`, the `From:` address (`MAILER-DAEMON@…`) and the `Message-ID`.
    pub reporting_mta: String,
    /// The organisation's name as used in a sentence, e.g. `de school` or `OBS De Regenboog`.
    pub organisation: String,
    /// Who the sender can contact, as used in a sentence, e.g. `de ICT-servicedesk (ict@school.example)`.
    pub helpdesk: String,
    /// A Dutch template replacing the embedded one.
    pub template_nl: Option<String>,
    /// An English template replacing the embedded one.
    pub template_en: Option<String>,
}

impl Default for BounceSettings {
    fn default() -> Self {
        BounceSettings {
            reporting_mta: "localhost".into(),
            organisation: "de school".into(),
            helpdesk: "de ICT-servicedesk".into(),
            template_nl: None,
            template_en: None,
        }
    }
}

impl BounceSettings {
    /// Check the settings once, when the configuration loads: the host name and both custom templates.
    pub fn validate(&self) -> Result<(), BounceError> {
        dsn::check_host_name(&self.reporting_mta)?;
        if let Some(t) = &self.template_nl {
            validate_template(t)?;
        }
        if let Some(t) = &self.template_en {
            validate_template(t)?;
        }
        Ok(())
    }
}

/// Why the message goes back to its sender.
#[derive(Debug, Clone, Copy)]
pub enum Reason<'a> {
    /// Content, sender or destination rules hit (deduplicated by the caller).
    Rules(&'a [&'a RuleInfo]),
    /// Infected and quarantined (WereldKidz 8.5). The DSN names the detection, never the file.
    Infected(&'a [Detection]),
    /// The next hop refused these recipients permanently (5xx); the others were delivered.
    Rejected(&'a [(String, Reply)]),
}

/// Everything a DSN is built from.
#[derive(Debug, Clone, Copy)]
pub struct DsnInput<'a> {
    /// The queue id, the reference the sender gives the helpdesk.
    pub queue_id: &'a str,
    /// The envelope sender the DSN goes to. Must not be empty: the null sender never gets a bounce
    /// (RFC 5321 §4.5.5).
    pub envelope_sender: &'a str,
    /// The recipients that did not receive the message (at least one; RFC 3464 §2.3).
    pub failed_recipients: &'a [String],
    /// The original header block (the body is cut off here if it is still attached).
    pub original_headers: &'a [u8],
    /// When the message arrived (`Arrival-Date`).
    pub arrival: std::time::SystemTime,
    /// Why it is bounced.
    pub reason: Reason<'a>,
}

/// A DSN that cannot be built or sent. Messages name the input, never an address's local part or content.
#[derive(Debug, thiserror::Error)]
pub enum BounceError {
    #[error("the null sender never gets a bounce (RFC 5321 section 4.5.5)")]
    NullSender,
    #[error("a bounce needs at least one failed recipient")]
    NoRecipients,
    #[error("the {which} address contains a control character or no '@'")]
    InvalidAddress { which: String },
    #[error("invalid reporting_mta host name {name:?}")]
    InvalidHostName { name: String },
    #[error("template: unknown placeholder {{{name}}} (known: {{organisation}}, {{helpdesk}}, {{reasons}}, {{recipients}}, {{queue_id}})")]
    UnknownPlaceholder { name: String },
    #[error("template: unclosed '{{' at byte {offset} (write {{{{ for a literal brace)")]
    UnclosedPlaceholder { offset: usize },
    #[error("template: stray '}}' at byte {offset} (write }}}} for a literal brace)")]
    StrayBrace { offset: usize },
    #[error("cannot format the date {what}: {reason}")]
    Date { what: &'static str, reason: String },
    #[error("invalid next hop {address:?}: expected host:port")]
    InvalidNextHop { address: String },
    #[error("embedded DSN wording {file}: {message}")]
    Wording { file: &'static str, message: String },
    #[error("the next hop did not take the bounce: {reason}")]
    Send { reason: String },
    #[error("the next hop refused the bounce permanently ({reply})")]
    Refused { reply: String },
    #[error("the next hop answered {code} instead of 250 to the bounce")]
    NotAccepted { code: u16 },
}

impl BounceError {
    /// True when sending this DSN again cannot succeed: the recipient address is unusable or the next hop
    /// refused it permanently. Anything else (next hop down, a timeout, a `4xx`) may work on a retry.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            BounceError::NullSender
                | BounceError::NoRecipients
                | BounceError::InvalidAddress { .. }
                | BounceError::Refused { .. }
        )
    }
}

/// Longest reply line text, so that `550-5.7.1 ` + text + CRLF stays within 512 bytes (RFC 5321 §4.5.3.1.5).
const REPLY_TEXT_MAX: usize = 498;
/// Rule explanations carried in one reply, per language (a reply is not a report).
const REPLY_RULES_MAX: usize = 5;

/// The SMTP answer for `bounce_mode = "reject"`: `550 5.7.1`, Dutch lines first, then English, ASCII only
/// (SMTP replies are ASCII: `é` becomes `e`), every line ≤ 512 bytes.
///
/// For [`Reason::Rejected`] the next hop's own permanent code and status are passed on (falling back to
/// `550 5.0.0` when it gave none that is permanent), since that refusal was not a policy decision.
pub fn reject_reply(reason: &Reason<'_>) -> Reply {
    let mut lines: Vec<String> = Vec::new();
    let (mut code, mut status) = (550u16, "5.7.1".to_string());
    match reason {
        Reason::Rules(rules) => {
            let cats = rules_summary(rules);
            lines.push(format!(
                "Bericht geweigerd: het voldoet niet aan de ICT-gedragscode ({cats}). Uw bericht is niet verzonden."
            ));
            lines.extend(
                rules
                    .iter()
                    .take(REPLY_RULES_MAX)
                    .map(|r| r.message_nl.clone()),
            );
            lines.push(format!(
                "Message refused: it does not comply with the ICT code of conduct ({cats}). Your message was not sent."
            ));
            lines.extend(
                rules
                    .iter()
                    .take(REPLY_RULES_MAX)
                    .map(|r| r.message_en.clone()),
            );
        }
        Reason::Infected(detections) => {
            let names = detection_names(detections);
            lines.push(format!(
                "Bericht geweigerd: schadelijke software gevonden ({names}). Het bericht is in quarantaine geplaatst ({ARTICLE_MALWARE})."
            ));
            lines.push(format!(
                "Message refused: malicious software found ({names}). The message was quarantined ({ARTICLE_MALWARE})."
            ));
        }
        Reason::Rejected(rejections) => {
            if let Some((_, first)) = rejections.first() {
                if first.is_permanent() && first.code < 600 {
                    code = first.code;
                    status = valid_status(&first.status).unwrap_or("5.0.0").to_string();
                } else {
                    status = "5.0.0".into();
                }
            }
            let n = rejections.len();
            lines.push(format!(
                "Bericht geweigerd door de ontvangende mailserver voor {n} ontvanger(s)."
            ));
            lines.push(format!(
                "Message refused by the receiving mail server for {n} recipient(s)."
            ));
            for (_, reply) in rejections.iter().take(REPLY_RULES_MAX) {
                lines.push(refusal_code(reply));
            }
        }
    }
    let lines = lines
        .iter()
        .map(|l| truncate_ascii(&to_ascii(l), REPLY_TEXT_MAX))
        .collect();
    Reply {
        code,
        status,
        lines,
    }
}

/// `category (article); …` for a set of rules, without repeating a category.
fn rules_summary(rules: &[&RuleInfo]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for r in rules {
        let part = if r.article.trim().is_empty() {
            r.category.clone()
        } else {
            format!("{}: {}", r.category, r.article.trim())
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    parts.join("; ")
}

/// Detection names joined, each cleaned of control characters (they come from a scanner).
fn detection_names(detections: &[Detection]) -> String {
    let names: Vec<String> = detections.iter().map(|d| one_line(&d.name, 200)).collect();
    if names.is_empty() {
        "unknown".into()
    } else {
        names.join(", ")
    }
}

/// A next-hop refusal as its code and enhanced status only (`550 5.1.1`): the free text after them is the
/// next hop's own, may quote addresses or other text the sender did not write, and RFC 3464 does not need it.
pub(crate) fn refusal_code(reply: &Reply) -> String {
    match valid_status(&reply.status) {
        Some(status) => format!("{} {status}", reply.code),
        None => reply.code.to_string(),
    }
}

/// An RFC 3463 status code `class.subject.detail` with a permanent or temporary class, if `s` is one.
fn valid_status(s: &str) -> Option<&str> {
    let mut it = s.split('.');
    let class = it.next()?;
    let subject = it.next()?;
    let detail = it.next()?;
    let ok = it.next().is_none()
        && matches!(class, "4" | "5")
        && (1..=3).contains(&subject.len())
        && (1..=3).contains(&detail.len())
        && subject
            .bytes()
            .chain(detail.bytes())
            .all(|b| b.is_ascii_digit());
    ok.then_some(s)
}

/// `s` on one line: control characters (CR, LF, tab, …) become spaces, runs of spaces collapse, at most
/// `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars().map(|c| if c.is_control() { ' ' } else { c }) {
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end().chars().take(max).collect()
}

/// Transliterate to printable ASCII for SMTP replies and header fields: diacritics are dropped (`é` → `e`,
/// via NFKD), a few common signs are spelled out, control characters become spaces, anything else `?`.
pub(crate) fn to_ascii(s: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(s.len());
    for c in s.nfkd() {
        match c {
            ' '..='~' => out.push(c),
            c if c.is_control() || c.is_whitespace() => out.push(' '),
            c if is_combining_mark(c) => {}
            'ß' => out.push_str("ss"),
            'æ' => out.push_str("ae"),
            'Æ' => out.push_str("AE"),
            'ø' => out.push('o'),
            'Ø' => out.push('O'),
            'ł' => out.push('l'),
            'Ł' => out.push('L'),
            '€' => out.push_str("EUR"),
            '‘' | '’' | '‚' => out.push('\''),
            '“' | '”' | '„' => out.push('"'),
            '–' | '—' | '‐' | '‑' => out.push('-'),
            _ => out.push('?'),
        }
    }
    out
}

/// Cut an ASCII string to at most `max` bytes (it is ASCII, so every byte is a char boundary).
fn truncate_ascii(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Action;

    pub(super) fn rule(id: &str, category: &str, article: &str, nl: &str, en: &str) -> RuleInfo {
        RuleInfo {
            id: id.into(),
            category: category.into(),
            article: article.into(),
            weight: 5.0,
            action: Action::Bounce,
            message_nl: nl.into(),
            message_en: en.into(),
            file: "test.toml".into(),
        }
    }

    #[test]
    fn reject_reply_for_rules_is_550_571_ascii_dutch_first() {
        let r = rule(
            "MW-BELEDIGEND-01",
            "beledigend",
            "SOML/ProCon 2.1; WereldKidz 5.7g",
            "Uw bericht bevat beledigende taal. Neem contact op met de ICT-servicedesk als u denkt dat dit een vergissing is – één keer.",
            "Your message contains insulting language.",
        );
        let rules = [&r];
        let reply = reject_reply(&Reason::Rules(&rules));
        assert_eq!((reply.code, reply.status.as_str()), (550, "5.7.1"));
        let wire = reply.to_wire();
        assert!(wire.is_ascii(), "{wire}");
        assert!(wire.contains("een keer"), "é transliterated: {wire}");
        assert!(wire.contains("beledigend: SOML/ProCon 2.1; WereldKidz 5.7g"));
        let nl = wire.find("Bericht geweigerd").unwrap();
        let en = wire.find("Message refused").unwrap();
        assert!(nl < en, "Dutch first");
        for line in wire.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() + 2 <= 512, "line too long: {}", line.len());
            assert!(
                line.starts_with("550-5.7.1 ") || line.starts_with("550 5.7.1 "),
                "{line}"
            );
        }
    }

    #[test]
    fn reject_reply_lines_are_cut_to_512_bytes() {
        let long = "é".repeat(2000);
        let r = rule("X", "privacy", "Uniek 3.2.3", &long, &long);
        let rules = [&r];
        let wire = reject_reply(&Reason::Rules(&rules)).to_wire();
        assert!(wire.is_ascii());
        for line in wire.split("\r\n") {
            assert!(line.len() + 2 <= 512, "line too long: {}", line.len());
        }
    }

    #[test]
    fn reject_reply_for_infected_names_detection_and_article() {
        let d = [Detection {
            name: "Eicar-Test-Signature\r\nInjected: x".into(),
            location: "part 2".into(),
        }];
        let reply = reject_reply(&Reason::Infected(&d));
        assert_eq!((reply.code, reply.status.as_str()), (550, "5.7.1"));
        let wire = reply.to_wire();
        assert!(wire.contains("Eicar-Test-Signature Injected: x"), "{wire}");
        assert!(wire.contains("WereldKidz 8.5"));
        assert_eq!(
            wire.matches("\r\n").count(),
            reply.lines.len(),
            "no injected line breaks"
        );
    }

    #[test]
    fn reject_reply_for_rejected_passes_next_hop_status_not_its_text() {
        let cases: &[(Reply, u16, &str, &str)] = &[
            (
                Reply::new(550, "5.1.1", "<x@intern.example>: User unknown"),
                550,
                "5.1.1",
                "550 5.1.1",
            ),
            (Reply::new(554, "", "No such map"), 554, "5.0.0", "554"),
            (Reply::new(550, "x.y", "odd status"), 550, "5.0.0", "550"),
            (
                Reply::new(451, "4.3.0", "not permanent"),
                550,
                "5.0.0",
                "451 4.3.0",
            ),
        ];
        for (next_hop, code, status, shown) in cases {
            let rej = [("a@example.org".to_string(), next_hop.clone())];
            let reply = reject_reply(&Reason::Rejected(&rej));
            assert_eq!(
                (reply.code, reply.status.as_str()),
                (*code, *status),
                "{next_hop:?}"
            );
            let wire = reply.to_wire();
            assert!(wire.contains(shown), "{wire}");
            assert!(
                !wire.contains(&next_hop.lines[0]),
                "the next hop's own text is not repeated: {wire}"
            );
        }
    }

    #[test]
    fn ascii_transliteration() {
        let cases = [
            ("café", "cafe"),
            ("Mongolië", "Mongolie"),
            ("straße", "strasse"),
            ("€ 5 – „ja”", "EUR 5 - \"ja\""),
            ("a\r\nb", "a  b"),
            ("日本", "??"),
        ];
        for (input, want) in cases {
            assert_eq!(to_ascii(input), want, "{input}");
        }
    }

    #[test]
    fn status_codes() {
        for (s, ok) in [
            ("5.7.1", true),
            ("4.2.2", true),
            ("2.0.0", false),
            ("5.7", false),
            ("5.a.1", false),
            ("", false),
        ] {
            assert_eq!(valid_status(s).is_some(), ok, "{s}");
        }
    }

    #[test]
    fn settings_validation() {
        assert!(BounceSettings::default().validate().is_ok());
        let bad_host = BounceSettings {
            reporting_mta: "mx\r\nBcc: x".into(),
            ..Default::default()
        };
        assert!(matches!(
            bad_host.validate(),
            Err(BounceError::InvalidHostName { .. })
        ));
        let bad_tpl = BounceSettings {
            template_en: Some("Hi {sender}".into()),
            ..Default::default()
        };
        match bad_tpl.validate() {
            Err(BounceError::UnknownPlaceholder { name }) => assert_eq!(name, "sender"),
            other => panic!("expected unknown placeholder, got {other:?}"),
        }
    }
}
