//! Address rules: suspect senders (WereldKidz 5.7f, anonymous or fictitious names), a `From:` that is not the
//! real sender (WereldKidz 4.2a, the sender must be shown correctly) and suspect destinations (anonymous
//! remailers, disposable mail; WereldKidz 8.1c).
//!
//! Patterns are simple globs (`*` any run, `?` one character), matched case-insensitively against whole
//! addresses. Pure; never logs or returns the addresses themselves.

use std::borrow::Cow;

use crate::envelope::{domain_of, is_local};

/// A list of address globs, lowercased once when the rules load. An address is lowercased once per
/// [`Globs::matches`], not once per pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Globs {
    patterns: Vec<String>,
}

impl Globs {
    /// Compile the patterns (trimmed and lowercased here).
    pub fn new<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> Globs {
        Globs {
            patterns: patterns
                .into_iter()
                .map(|p| lowercase(p.as_ref().trim()).into_owned())
                .collect(),
        }
    }

    /// No patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether a pattern is the empty string (a mistake in a rules file).
    pub fn has_empty(&self) -> bool {
        self.patterns.iter().any(String::is_empty)
    }

    /// True when any pattern matches the whole of `address`, case-insensitively.
    pub fn matches(&self, address: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let address = lowercase(address);
        self.patterns.iter().any(|p| wildcard_lower(p, &address))
    }
}

/// Case-insensitive glob match of a whole address: `*` matches any run of characters, `?` exactly one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    wildcard_lower(&lowercase(pattern), &lowercase(text))
}

/// `s` with every character lowercased (`char::to_lowercase`); borrowed when nothing changes, as for most
/// addresses.
fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().flat_map(char::to_lowercase).collect())
    }
}

/// [`glob_match`] of a lowercased pattern and text: on bytes when both are ASCII, on characters otherwise
/// (`?` is one character).
fn wildcard_lower(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        wildcard(pattern.as_bytes(), text.as_bytes(), b'*', b'?')
    } else {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        wildcard(&p, &t, '*', '?')
    }
}

/// Classic iterative wildcard matching with one backtrack point: linear-ish, no recursion.
fn wildcard<T: Copy + PartialEq>(p: &[T], t: &[T], star: T, one: T) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut last_star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(&c) if c == star => {
                last_star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == one || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match last_star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    last_star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == star))
}

/// True when `address` is on one of `domains` (exactly or a subdomain).
pub fn on_domain(address: &str, domains: &[String]) -> bool {
    match domain_of(address) {
        Some(d) => domains.iter().any(|l| {
            d == *l
                || d.strip_suffix(l.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        }),
        None => false,
    }
}

/// WereldKidz 4.2a: is `from` (a `From:` address) a suspect stand-in for `envelope_sender`?
///
/// Only mail sent by one of our own users is judged (envelope sender in `local_domains`); a `From:` equal to
/// the envelope sender (case-insensitive) is fine, and so is a pair listed in `send_as` (shared mailboxes,
/// aliases; each side a glob such as `*@school.example` or `*`).
pub fn sender_mismatch(
    envelope_sender: Option<&str>,
    from: &str,
    local_domains: &[String],
    send_as: &[(String, String)],
) -> bool {
    let Some(sender) = envelope_sender else {
        return false;
    };
    if local_domains.is_empty() || sender.is_empty() || !is_local(sender, local_domains) {
        return false;
    }
    if sender.eq_ignore_ascii_case(from) || sender.to_lowercase() == from.to_lowercase() {
        return false;
    }
    !send_as
        .iter()
        .any(|(s, f)| glob_match(s, sender) && glob_match(f, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases: &[(&str, &str, bool)] = &[
            ("*@*.onion", "x@abc.onion", true),
            ("*@*.onion", "x@abc.onion.nl", false),
            ("anoniem@*", "Anoniem@school.example", true),
            ("anoniem@*", "niet.anoniem@school.example", false),
            ("*", "", true),
            ("*", "a@b", true),
            ("a?c@x", "abc@x", true),
            ("a?c@x", "ac@x", false),
            ("*@school.example", "juf@school.example", true),
            ("*@school.example", "juf@andere-school.example", false),
            ("**a", "bba", true),
            ("", "", true),
            ("", "a", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob_match(p, t), *want, "{p} vs {t}");
            assert_eq!(Globs::new([p]).matches(t), *want, "{p} vs {t}");
        }
        // Case and characters beyond ASCII (`?` is one character, not one byte).
        assert!(Globs::new(["ANONIEM@*"]).matches("anoniem@School.Example"));
        assert!(Globs::new(["j?@école.example"]).matches("Jé@ÉCOLE.example"));
        assert!(!Globs::new(["j?@école.example"]).matches("jée@école.example"));
        assert!(!Globs::new(Vec::<String>::new()).matches("a@b"));
    }

    #[test]
    fn mismatch_table() {
        let local = vec!["school.example".to_string()];
        let send_as = vec![
            (
                "*@school.example".to_string(),
                "info@school.example".to_string(),
            ),
            (
                "directie@school.example".to_string(),
                "*@bestuur.example".to_string(),
            ),
        ];
        let cases: &[(Option<&str>, &str, &[String], bool)] = &[
            (
                Some("juf@school.example"),
                "juf@school.example",
                &local,
                false,
            ),
            (
                Some("Juf@School.example"),
                "juf@school.example",
                &local,
                false,
            ),
            (
                Some("juf@school.example"),
                "directeur@school.example",
                &local,
                true,
            ),
            (
                Some("juf@school.example"),
                "juf@gmail.example",
                &local,
                true,
            ),
            (
                Some("juf@school.example"),
                "info@school.example",
                &local,
                false,
            ),
            (
                Some("directie@school.example"),
                "voorzitter@bestuur.example",
                &local,
                false,
            ),
            (
                Some("juf@school.example"),
                "voorzitter@bestuur.example",
                &local,
                true,
            ),
            (
                Some("iemand@extern.example"),
                "ander@extern.example",
                &local,
                false,
            ),
            (None, "juf@school.example", &local, false),
            (
                Some("juf@school.example"),
                "ander@school.example",
                &[],
                false,
            ),
        ];
        for (sender, from, local, want) in cases {
            assert_eq!(
                sender_mismatch(*sender, from, local, &send_as),
                *want,
                "{sender:?} / {from}"
            );
        }
    }

    #[test]
    fn domains() {
        let d = vec!["guerrillamail.com".to_string()];
        assert!(on_domain("x@guerrillamail.com", &d));
        assert!(on_domain("x@mx.guerrillamail.com", &d));
        assert!(!on_domain("x@notguerrillamail.com", &d));
        assert!(!on_domain("postmaster", &d));
    }
}
