//! Targeted inquiries (SOML/ProCon 8.3): when one person is suspected of breaking the rules, an inquiry may
//! look at that person's traffic records for a fixed, short window — nothing outside it, nobody else, no
//! content — and the person is told afterwards (WereldKidz 6.6).
//!
//! Pure: the window check, the selection of records and the notification text take the time and the
//! pseudonym keys as arguments. Storing inquiries and auditing them is the caller's job ([`crate::admin`]).

use serde::{Deserialize, Serialize};

use super::{EpochKey, Record, DAY};

/// One inquiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inquiry {
    /// 1, 2, ...
    pub id: u64,
    /// The address under inquiry (lowercased); its pseudonym selects the records.
    pub person: String,
    /// Why (the suspicion), as given by the person who opened it.
    pub reason: String,
    /// Who is responsible for the inquiry (name).
    pub by: String,
    /// Window start, seconds since the epoch (inclusive).
    pub from: u64,
    /// Window end, seconds since the epoch (exclusive).
    pub to: u64,
    /// When it was opened.
    pub opened: u64,
    /// When it was closed.
    pub closed: Option<u64>,
}

/// Why an inquiry cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InquiryError {
    #[error("--days {days} is longer than the maximum of {max} days for an inquiry ([traffic] inquiry_max_days, SOML/ProCon 8.3: a fixed, short period)")]
    TooLong { days: u64, max: u64 },
    #[error("--days must be at least 1")]
    NoDays,
    #[error("--from lies before the retention period of {retention_days} days: those records no longer exist")]
    BeforeRetention { retention_days: u64 },
    #[error("--from lies in the future")]
    InFuture,
    #[error("{person:?} is not an address")]
    NotAnAddress { person: String },
    #[error("an inquiry needs a non-empty {what}")]
    Missing { what: &'static str },
}

/// The window `[from, from + days)` of a new inquiry, checked against the maximum and the retention period.
/// `from` defaults to `now` (the window then covers the days to come).
pub fn window(
    now: u64,
    from: Option<u64>,
    days: u64,
    max_days: u64,
    retention_days: u64,
) -> Result<(u64, u64), InquiryError> {
    if days == 0 {
        return Err(InquiryError::NoDays);
    }
    if days > max_days {
        return Err(InquiryError::TooLong {
            days,
            max: max_days,
        });
    }
    let from = from.unwrap_or(now);
    if from > now {
        return Err(InquiryError::InFuture);
    }
    if from < now.saturating_sub(retention_days.saturating_mul(DAY)) {
        return Err(InquiryError::BeforeRetention { retention_days });
    }
    Ok((from, from.saturating_add(days * DAY)))
}

/// Check and normalise the person, reason and name of a new inquiry.
pub fn validate(person: &str, reason: &str, by: &str) -> Result<String, InquiryError> {
    let person = person
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_lowercase();
    if !person.contains('@') || person.contains(char::is_whitespace) {
        return Err(InquiryError::NotAnAddress { person });
    }
    if reason.trim().is_empty() {
        return Err(InquiryError::Missing { what: "--reason" });
    }
    if by.trim().is_empty() {
        return Err(InquiryError::Missing { what: "--by" });
    }
    Ok(person)
}

/// The records of this inquiry: the person's inside the window only (closing an inquiry early ends its
/// window then). The person's pseudonym is computed under every key whose period meets the window, and a
/// record matches only the pseudonym of its own period's key.
pub fn select(inquiry: &Inquiry, keys: &[EpochKey], records: &[Record]) -> Vec<Record> {
    let end = inquiry.closed.map_or(inquiry.to, |c| c.min(inquiry.to));
    let pseudonyms: Vec<(u64, u64, String)> = keys
        .iter()
        .filter(|k| k.from < end && inquiry.from < k.to)
        .map(|k| (k.from, k.to, k.key.pseudonym(&inquiry.person)))
        .collect();
    records
        .iter()
        .filter(|r| r.time >= inquiry.from && r.time < end)
        .filter(|r| {
            pseudonyms
                .iter()
                .any(|(f, t, p)| *f <= r.time && r.time < *t && *p == r.sender)
        })
        .cloned()
        .collect()
}

/// The Dutch notification for the person, after the inquiry is closed (WereldKidz 6.6).
pub fn notification(inquiry: &Inquiry, organisation: &str, records: usize) -> String {
    let day = |t: u64| crate::traffic::summary::date(t);
    format!(
        "Beste {person},\n\n\
         Hierbij informeren wij u, zoals het ICT-reglement voorschrijft (artikel 6.6), dat {organisation} \
         een gericht onderzoek heeft gedaan naar het e-mailverkeer van uw adres {person}.\n\n\
         Periode: {from} tot {to}\n\
         Reden: {reason}\n\
         Verantwoordelijk: {by}\n\
         Onderzochte gegevens: alleen verkeersgegevens ({records} berichten): tijdstip, grootte, aantal en \
         domeinen van ontvangers, de uitkomst van de controle en de categorieën van de regels. De inhoud van \
         uw berichten (onderwerp, tekst, bijlagen) is niet bekeken.\n\
         Het onderzoek is afgesloten op {closed}.\n\n\
         Heeft u vragen of bent u het er niet mee eens, neem dan contact op met {by} of met de \
         functionaris gegevensbescherming.\n",
        person = inquiry.person,
        from = day(inquiry.from),
        to = day(inquiry.to),
        reason = inquiry.reason,
        by = inquiry.by,
        closed = inquiry.closed.map(day).unwrap_or_else(|| "-".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_bounded() {
        let now = 100 * DAY;
        type Case = (Option<u64>, u64, Result<(u64, u64), InquiryError>);
        let table: &[Case] = &[
            (None, 14, Ok((now, now + 14 * DAY))),
            (Some(now - 10 * DAY), 3, Ok((now - 10 * DAY, now - 7 * DAY))),
            (None, 15, Err(InquiryError::TooLong { days: 15, max: 14 })),
            (None, 0, Err(InquiryError::NoDays)),
            (
                Some(now - 29 * DAY),
                1,
                Err(InquiryError::BeforeRetention { retention_days: 28 }),
            ),
            (Some(now + 1), 1, Err(InquiryError::InFuture)),
        ];
        for (from, days, want) in table {
            assert_eq!(&window(now, *from, *days, 14, 28), want, "{from:?} {days}");
        }
    }

    #[test]
    fn too_long_error_names_the_maximum() {
        let e = window(0, None, 30, 14, 28).unwrap_err().to_string();
        assert!(e.contains("30") && e.contains("14"), "{e}");
    }

    use crate::traffic::PseudonymKey;

    #[test]
    fn selection_sees_only_the_person_inside_the_window() {
        let key = PseudonymKey::from_bytes([7; 32]);
        let keys = [EpochKey {
            from: 0,
            to: 1000,
            key: key.clone(),
        }];
        let inq = Inquiry {
            id: 1,
            person: "piet@school.example".into(),
            reason: "r".into(),
            by: "b".into(),
            from: 100,
            to: 200,
            opened: 100,
            closed: None,
        };
        let mk = |t: u64, who: &str| Record {
            time: t,
            sender: key.pseudonym(who),
            sender_domain: "school.example".into(),
            rcpt_local: 0,
            rcpt_external: 1,
            rcpt_domains: vec!["x.example".into()],
            size: t,
            attachments: 0,
            verdict: "pass".into(),
            categories: vec![],
            exempt: None,
        };
        let records = vec![
            mk(99, "piet@school.example"),
            mk(100, "Piet@School.example"),
            mk(150, "jan@school.example"),
            mk(199, "piet@school.example"),
            mk(200, "piet@school.example"),
        ];
        let got: Vec<u64> = select(&inq, &keys, &records)
            .iter()
            .map(|r| r.time)
            .collect();
        assert_eq!(got, vec![100, 199]);
        let closed_early = Inquiry {
            closed: Some(150),
            ..inq
        };
        let got: Vec<u64> = select(&closed_early, &keys, &records)
            .iter()
            .map(|r| r.time)
            .collect();
        assert_eq!(got, vec![100]);
    }

    #[test]
    fn selection_spans_key_periods_and_matches_each_record_under_its_own_key() {
        let (a, b) = (
            PseudonymKey::from_bytes([1; 32]),
            PseudonymKey::from_bytes([2; 32]),
        );
        let keys = [
            EpochKey {
                from: 0,
                to: 150,
                key: a.clone(),
            },
            EpochKey {
                from: 150,
                to: 1000,
                key: b.clone(),
            },
        ];
        let p = "piet@school.example";
        let mk = |key: &PseudonymKey, t: u64, who: &str| Record {
            time: t,
            sender: key.pseudonym(who),
            sender_domain: "school.example".into(),
            rcpt_local: 0,
            rcpt_external: 1,
            rcpt_domains: vec![],
            size: t,
            attachments: 0,
            verdict: "pass".into(),
            categories: vec![],
            exempt: None,
        };
        let records = vec![
            mk(&a, 120, p),
            mk(&b, 160, p),
            // Piet's pseudonym of the first period, placed in the second: not his there.
            mk(&a, 170, p),
            mk(&b, 180, "jan@school.example"),
        ];
        let inq = Inquiry {
            id: 1,
            person: p.into(),
            reason: "r".into(),
            by: "b".into(),
            from: 100,
            to: 200,
            opened: 100,
            closed: None,
        };
        let got: Vec<u64> = select(&inq, &keys, &records)
            .iter()
            .map(|r| r.time)
            .collect();
        assert_eq!(got, vec![120, 160]);
        assert_ne!(a.pseudonym(p), b.pseudonym(p));
    }

    #[test]
    fn notification_is_dutch_and_names_the_window() {
        let inq = Inquiry {
            id: 3,
            person: "piet@school.example".into(),
            reason: "vermoeden van misbruik".into(),
            by: "J. de Vries".into(),
            from: 0,
            to: 2 * DAY,
            opened: 0,
            closed: Some(2 * DAY),
        };
        let text = notification(&inq, "De School", 4);
        for want in [
            "artikel 6.6",
            "1970-01-01 tot 1970-01-03",
            "J. de Vries",
            "4 berichten",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
    }
}
