//! The wording of a DSN's `{summary}`, `{advice}` and `{reasons}`, Dutch and English: the embedded
//! `templates/nl-parts.txt` and `templates/en-parts.txt`, parsed once (on first use) into one compiled
//! template per section. Pure: no I/O after the first use, and the texts are data, not Rust.
//!
//! A parts file is plain UTF-8: text before the first `[section]` line explains the file; every section's
//! non-empty lines are joined with spaces into one paragraph (the DSN wraps it). Each section allows only
//! its own placeholders ([`SECTIONS`]); a missing, unknown or repeated section is an error, so a test
//! catches a broken file before a DSN does.

use std::sync::LazyLock;

use super::template::Compiled;
use super::{BounceError, Reason};

/// Every section of a parts file with the placeholders it may use.
pub(super) const SECTIONS: &[(&str, &[&str])] = &[
    ("summary.rules", &["organisation"]),
    ("summary.infected", &["organisation"]),
    ("summary.rejected", &["organisation"]),
    ("advice.rules", &["helpdesk", "queue_id"]),
    ("advice.infected", &["helpdesk", "queue_id"]),
    ("advice.rejected", &["helpdesk", "queue_id"]),
    // One item per rule: its category, then (when it has one) the article of the code of conduct.
    ("reason.category", &["category"]),
    ("reason.article", &["article"]),
    // The item for infected mail: the detections and the article, then what happened to the message.
    ("reason.malware", &["names", "article"]),
    ("reason.quarantined", &["helpdesk"]),
    // One item per recipient the next hop refused, with its code and enhanced status only.
    ("reason.refused", &["address", "code"]),
];

/// The embedded Dutch parts.
const PARTS_NL: &str = include_str!("templates/nl-parts.txt");
/// The embedded English parts.
const PARTS_EN: &str = include_str!("templates/en-parts.txt");

/// The language of a text: the DSN has the Dutch one first, then the English one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    Nl,
    En,
}

/// One language's wording, every section compiled, in the order of [`SECTIONS`].
#[derive(Debug)]
pub(super) struct Wording {
    sections: Vec<Compiled>,
}

static NL: LazyLock<Result<Wording, String>> =
    LazyLock::new(|| Wording::parse(PARTS_NL).map_err(|e| e.to_string()));
static EN: LazyLock<Result<Wording, String>> =
    LazyLock::new(|| Wording::parse(PARTS_EN).map_err(|e| e.to_string()));

/// The embedded wording for `lang` (parsed on first use; an error only if the embedded file is broken).
pub(super) fn wording(lang: Lang) -> Result<&'static Wording, BounceError> {
    let (parsed, file) = match lang {
        Lang::Nl => (&*NL, "nl-parts.txt"),
        Lang::En => (&*EN, "en-parts.txt"),
    };
    parsed.as_ref().map_err(|message| BounceError::Wording {
        file,
        message: message.clone(),
    })
}

impl Wording {
    /// Split a parts file into its sections and compile each.
    fn parse(text: &'static str) -> Result<Wording, BounceError> {
        let invalid = |message: String| BounceError::Wording {
            file: "parts",
            message,
        };
        let mut texts: Vec<Option<String>> = vec![None; SECTIONS.len()];
        let mut current: Option<usize> = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let i = SECTIONS
                    .iter()
                    .position(|(n, _)| *n == name)
                    .ok_or_else(|| invalid(format!("unknown section [{name}]")))?;
                if texts[i].is_some() {
                    return Err(invalid(format!("section [{name}] twice")));
                }
                texts[i] = Some(String::new());
                current = Some(i);
            } else if let (Some(i), false) = (current, line.is_empty()) {
                if let Some(paragraph) = texts[i].as_mut() {
                    if !paragraph.is_empty() {
                        paragraph.push(' ');
                    }
                    paragraph.push_str(line);
                }
            }
        }
        let mut sections = Vec::with_capacity(SECTIONS.len());
        for ((name, known), text) in SECTIONS.iter().zip(texts) {
            let text = text.ok_or_else(|| invalid(format!("section [{name}] missing")))?;
            if text.is_empty() {
                return Err(invalid(format!("section [{name}] is empty")));
            }
            // Parsed once per process and kept for its lifetime: leaking the joined text gives the compiled
            // pieces a `'static` home.
            let text: &'static str = Box::leak(text.into_boxed_str());
            sections
                .push(Compiled::new(text, known).map_err(|e| invalid(format!("[{name}]: {e}")))?);
        }
        Ok(Wording { sections })
    }

    /// Render the section `name` with `values` (placeholder name → text).
    pub(super) fn render(&self, name: &str, values: &[(&str, &str)]) -> String {
        // `parse` compiled every section of `SECTIONS`, in order; the names are this module's constants.
        let section = SECTIONS
            .iter()
            .position(|(n, _)| *n == name)
            .and_then(|i| self.sections.get(i));
        let Some(section) = section else {
            return String::new();
        };
        section.render(|placeholder| {
            values
                .iter()
                .find(|(n, _)| *n == placeholder)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        })
    }

    /// The `{summary}` section for a kind of reason.
    pub(super) fn summary(&self, reason: &Reason<'_>, organisation: &str) -> String {
        let name = match reason {
            Reason::Rules(_) => "summary.rules",
            Reason::Infected(_) => "summary.infected",
            Reason::Rejected(_) => "summary.rejected",
        };
        self.render(name, &[("organisation", organisation)])
    }

    /// The `{advice}` section for a kind of reason.
    pub(super) fn advice(&self, reason: &Reason<'_>, helpdesk: &str, queue_id: &str) -> String {
        let name = match reason {
            Reason::Rules(_) => "advice.rules",
            Reason::Infected(_) => "advice.infected",
            Reason::Rejected(_) => "advice.rejected",
        };
        self.render(name, &[("helpdesk", helpdesk), ("queue_id", queue_id)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both embedded files parse, and every section renders in both languages as one paragraph with no
    /// placeholder left over; every kind of reason has its summary and advice.
    #[test]
    fn every_section_renders_in_both_languages() {
        for lang in [Lang::Nl, Lang::En] {
            let w = wording(lang).unwrap();
            for (name, known) in SECTIONS {
                let values: Vec<(&str, String)> =
                    known.iter().map(|p| (*p, format!("<{p}>"))).collect();
                let values: Vec<(&str, &str)> =
                    values.iter().map(|(p, v)| (*p, v.as_str())).collect();
                let text = w.render(name, &values);
                assert!(!text.trim().is_empty(), "{lang:?} [{name}]");
                assert!(!text.contains('\n'), "{lang:?} [{name}] is one paragraph");
                assert!(!text.contains(['{', '}']), "{lang:?} [{name}]: {text}");
            }
            // Every verdict that makes a DSN has its summary and advice.
            for reason in [
                Reason::Rules(&[]),
                Reason::Infected(&[]),
                Reason::Rejected(&[]),
            ] {
                let summary = w.summary(&reason, "<org>");
                let advice = w.advice(&reason, "<desk>", "<id>");
                assert!(!summary.is_empty(), "{lang:?} {reason:?}");
                assert!(
                    advice.contains("<desk>") && advice.contains("<id>"),
                    "{advice}"
                );
            }
        }
    }

    /// The two languages say the same things: the same sections, each with the same placeholders.
    #[test]
    fn both_languages_use_the_same_placeholders_per_section() {
        let placeholders = |text: &str, section: &str| -> Vec<String> {
            let body = text
                .split(&format!("[{section}]"))
                .nth(1)
                .and_then(|rest| rest.split("\n[").next())
                .unwrap_or_default();
            let mut found: Vec<String> = body
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_string()))
                .collect();
            found.sort();
            found
        };
        for (name, _) in SECTIONS {
            assert_eq!(
                placeholders(PARTS_NL, name),
                placeholders(PARTS_EN, name),
                "[{name}]"
            );
        }
    }

    #[test]
    fn broken_parts_files_are_refused_with_the_section_named() {
        let full: String = SECTIONS
            .iter()
            .map(|(name, _)| format!("[{name}]\ntext\n"))
            .collect();
        assert!(Wording::parse(Box::leak(full.clone().into_boxed_str())).is_ok());
        let cases = [
            (
                full.replace("[reason.refused]\ntext\n", ""),
                "[reason.refused] missing",
            ),
            (
                format!("{full}[summary.rules]\nx\n"),
                "[summary.rules] twice",
            ),
            (
                format!("{full}[summary.other]\nx\n"),
                "unknown section [summary.other]",
            ),
            (
                full.replace(
                    "[advice.rules]\ntext",
                    "[advice.rules]\nvraag {organisation}",
                ),
                "{organisation}",
            ),
            (
                full.replace("[reason.article]\ntext", "[reason.article]\n"),
                "[reason.article] is empty",
            ),
        ];
        for (text, want) in cases {
            let err = Wording::parse(Box::leak(text.into_boxed_str())).unwrap_err();
            assert!(err.to_string().contains(want), "{err} lacks {want}");
        }
    }
}
