//! The SMTP envelope of one message, as received from Postfix. Plain data, no I/O.

use serde::Serialize;

/// Envelope sender, recipients and the client attributes Postfix forwarded with XFORWARD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Envelope {
    /// `MAIL FROM` address without angle brackets; `None` for the null sender `<>` (bounces).
    pub mail_from: Option<String>,
    /// Parameters given with `MAIL FROM` (e.g. `BODY=8BITMIME`, `SMTPUTF8`, `SIZE=…`), as received.
    pub mail_params: Vec<String>,
    /// `RCPT TO` addresses without angle brackets, in the order received.
    pub rcpt_to: Vec<Recipient>,
    /// XFORWARD attributes received from Postfix, to be passed on to the next hop unchanged.
    pub xforward: Vec<(String, String)>,
}

/// One envelope recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// The address without angle brackets.
    pub address: String,
    /// Parameters given with `RCPT TO` (e.g. `ORCPT=rfc822;…`, `NOTIFY=…`), as received.
    pub params: Vec<String>,
}

impl Envelope {
    /// The envelope a message's headers suggest: the first From address as sender, To, Cc and Bcc as
    /// recipients. Used by `mailwacht check` when no envelope is given.
    pub fn from_headers(headers: &crate::message::HeaderView) -> Envelope {
        Envelope {
            mail_from: headers.from.first().cloned(),
            rcpt_to: headers
                .to
                .iter()
                .chain(&headers.cc)
                .chain(&headers.bcc)
                .map(|address| Recipient {
                    address: address.clone(),
                    params: Vec::new(),
                })
                .collect(),
            ..Envelope::default()
        }
    }

    /// The recipients' addresses.
    pub fn recipients(&self) -> impl Iterator<Item = &str> {
        self.rcpt_to.iter().map(|r| r.address.as_str())
    }
}

/// The domain of an address (the part after the last `@`), lowercased; `None` when there is none.
pub fn domain_of(address: &str) -> Option<String> {
    let (_, domain) = address.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('>').trim_end_matches('.');
    if domain.is_empty() {
        None
    } else {
        Some(domain.to_ascii_lowercase())
    }
}

/// True when `address` belongs to one of `local_domains` (exact domain or a subdomain of it).
pub fn is_local(address: &str, local_domains: &[String]) -> bool {
    match domain_of(address) {
        Some(d) => local_domains.iter().any(|l| {
            let l = l.to_ascii_lowercase();
            d == l || d.ends_with(&format!(".{l}"))
        }),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(
            domain_of("Juf@School.Example").as_deref(),
            Some("school.example")
        );
        assert_eq!(domain_of("postmaster"), None);
        assert_eq!(domain_of("a@"), None);
        let local = vec!["school.example".to_string()];
        assert!(is_local("a@school.example", &local));
        assert!(is_local("a@mail.school.example", &local));
        assert!(!is_local("a@otherschool.example", &local));
        assert!(!is_local("a@example.org", &local));
    }
}
