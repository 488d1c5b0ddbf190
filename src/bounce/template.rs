//! Bounce text templates: `{placeholder}` substitution with `{{`/`}}` escapes. Pure; values are inserted
//! literally (a value containing `{reasons}` is not expanded again).

use super::BounceError;

/// The placeholders a template may use (see the module docs of [`crate::bounce`]).
pub const PLACEHOLDERS: &[&str] = &[
    "organisation",
    "helpdesk",
    "summary",
    "reasons",
    "advice",
    "recipients",
    "queue_id",
];

/// One piece of a parsed template.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Literal(&'a str),
    Brace(char),
    Placeholder(&'a str),
}

/// Split a template into literal text and placeholders; every error names the offending input.
fn parse(text: &str) -> Result<Vec<Piece<'_>>, BounceError> {
    parse_with(text, PLACEHOLDERS)
}

/// [`parse`] with its own set of placeholder names (the wording's sections each have theirs).
fn parse_with<'a>(text: &'a str, known: &[&str]) -> Result<Vec<Piece<'a>>, BounceError> {
    let mut pieces = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'{') => {
                pieces.push(Piece::Literal(&text[start..i]));
                if bytes.get(i + 1) == Some(&b'{') {
                    pieces.push(Piece::Brace('{'));
                    i += 2;
                } else {
                    let rest = &text[i + 1..];
                    let end = rest
                        .find('}')
                        .ok_or(BounceError::UnclosedPlaceholder { offset: i })?;
                    let name = &rest[..end];
                    if name.contains('{') || name.contains('\n') {
                        return Err(BounceError::UnclosedPlaceholder { offset: i });
                    }
                    if !known.contains(&name) {
                        return Err(BounceError::UnknownPlaceholder {
                            name: name.to_string(),
                        });
                    }
                    pieces.push(Piece::Placeholder(name));
                    i += end + 2;
                }
                start = i;
            }
            Some(b'}') => {
                pieces.push(Piece::Literal(&text[start..i]));
                if bytes.get(i + 1) == Some(&b'}') {
                    pieces.push(Piece::Brace('}'));
                    i += 2;
                    start = i;
                } else {
                    return Err(BounceError::StrayBrace { offset: i });
                }
            }
            _ => i += 1,
        }
    }
    pieces.push(Piece::Literal(&text[start..]));
    Ok(pieces)
}

/// Check a custom template: every `{name}` must be one of [`PLACEHOLDERS`], braces must be balanced or
/// doubled. Call it when the configuration loads.
pub fn validate_template(text: &str) -> Result<(), BounceError> {
    parse(text).map(|_| ())
}

/// Fill in a template. `value` gives the text for each placeholder name.
pub(super) fn render(text: &str, value: impl Fn(&str) -> String) -> Result<String, BounceError> {
    Ok(fill(&parse(text)?, value))
}

/// A template parsed once and filled in many times (the embedded DSN wording).
#[derive(Debug)]
pub(super) struct Compiled {
    pieces: Vec<Piece<'static>>,
}

impl Compiled {
    /// Parse `text`, allowing only the placeholders in `known`.
    pub(super) fn new(text: &'static str, known: &[&str]) -> Result<Compiled, BounceError> {
        Ok(Compiled {
            pieces: parse_with(text, known)?,
        })
    }

    /// Fill in the template. `value` gives the text for each placeholder name.
    pub(super) fn render(&self, value: impl Fn(&str) -> String) -> String {
        fill(&self.pieces, value)
    }
}

/// The pieces with each placeholder replaced, literally.
fn fill(pieces: &[Piece<'_>], value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(256);
    for piece in pieces {
        match piece {
            Piece::Literal(s) => out.push_str(s),
            Piece::Brace(c) => out.push(*c),
            Piece::Placeholder(name) => out.push_str(&value(name)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_templates_are_valid_and_use_every_placeholder() {
        for t in [super::super::TEMPLATE_NL, super::super::TEMPLATE_EN] {
            validate_template(t).unwrap();
            for p in PLACEHOLDERS {
                assert!(t.contains(&format!("{{{p}}}")), "template lacks {{{p}}}");
            }
        }
    }

    #[test]
    fn validation_table() {
        let cases: &[(&str, Result<(), &str>)] = &[
            ("plain text", Ok(())),
            (
                "{organisation} {helpdesk} {reasons} {recipients} {queue_id}",
                Ok(()),
            ),
            ("literal {{braces}} ok", Ok(())),
            ("Hallo {naam}", Err("unknown:naam")),
            ("{Organisation}", Err("unknown:Organisation")),
            ("{}", Err("unknown:")),
            ("open { here", Err("unclosed")),
            ("{reasons", Err("unclosed")),
            ("stray } here", Err("stray")),
            ("line {rea\nsons}", Err("unclosed")),
        ];
        for (text, want) in cases {
            let got = match validate_template(text) {
                Ok(()) => Ok(()),
                Err(BounceError::UnknownPlaceholder { name }) => Err(format!("unknown:{name}")),
                Err(BounceError::UnclosedPlaceholder { .. }) => Err("unclosed".to_string()),
                Err(BounceError::StrayBrace { .. }) => Err("stray".to_string()),
                Err(e) => Err(format!("other: {e}")),
            };
            assert_eq!(got, want.map_err(str::to_string), "{text:?}");
        }
    }

    #[test]
    fn unknown_placeholder_error_names_it() {
        let err = validate_template("Beste {afzender},").unwrap_err();
        assert!(err.to_string().contains("{afzender}"), "{err}");
    }

    #[test]
    fn render_substitutes_literally() {
        let out = render("a {queue_id} b {{x}} {reasons}", |name| match name {
            "queue_id" => "Q1".into(),
            "reasons" => "{organisation}".into(),
            _ => String::new(),
        })
        .unwrap();
        assert_eq!(out, "a Q1 b {x} {organisation}");
    }

    #[test]
    fn render_handles_multibyte_text() {
        let out = render("één {helpdesk} – ü", |_| "zoë".into()).unwrap();
        assert_eq!(out, "één zoë – ü");
    }
}
