//! Targeted inquiries (SOML/ProCon 8.3): when one person is suspected of breaking the rules, an inquiry may
//! look at that person's traffic records for a fixed, short window — nothing outside it, nobody else, no
//! content — and the person is told afterwards (WereldKidz 6.6).
//!
//! The rules an inquiry must pass before it exists ([`validate`], [`window`], [`check_cap`]):
//! - a reason of substance (at least [`REASON_MIN_CHARS`] non-space characters, [`MIN_LETTERS`] letters) and
//!   a responsible person by name (at least [`MIN_LETTERS`] letters); the caller's uid and login are stored
//!   with it by the service;
//! - a window of at most `inquiry_max_days`, inside the retention period, not in the future;
//! - no chaining: a window may not overlap, repeat or directly follow (less than a day apart) another
//!   inquiry's window on the same person, and within any stretch of [`cap_period_days`] (the retention
//!   period, or twice `inquiry_max_days` if that is longer) the inquiry days on one person add up to at most
//!   `inquiry_max_days`. So a person is under inquiry at most half of the time, and of the traffic data kept
//!   about them at most `inquiry_max_days` days' worth has ever been inside an inquiry.
//!
//! An inquiry is over when it was closed or its window ended ([`Inquiry::is_over`]); then the person must be
//! informed within `notify_within_days` ([`Inquiry::overdue`]), and who did so, when and how is recorded
//! ([`Notified`], [`check_notified`]).
//!
//! Pure: the checks, the selection of records and the notification text take the time and the keys as
//! arguments. Storing inquiries and auditing them is the caller's job ([`crate::admin`]).

use serde::{Deserialize, Serialize};

use super::summary::{date, stamp};
use super::{EpochKey, Record, DAY};

/// Fewest non-space characters in the reason of an inquiry.
pub const REASON_MIN_CHARS: usize = 10;

/// Fewest letters in a reason, a responsible person's name and a notification's "how".
pub const MIN_LETTERS: usize = 3;

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
    /// When it was closed (by a person, or at the window's end by the daemon: see `auto_closed`).
    pub closed: Option<u64>,
    /// The uid that opened it (peer uid on the admin socket, the local uid offline). Absent in inquiries
    /// stored by versions before this field.
    #[serde(default)]
    pub opened_uid: Option<u32>,
    /// That uid's login name, when the system knows it.
    #[serde(default)]
    pub opened_login: Option<String>,
    /// Closed because the window ended, not by a person.
    #[serde(default)]
    pub auto_closed: bool,
    /// When, how and by whom the person was informed (WereldKidz 6.6).
    #[serde(default)]
    pub notified: Option<Notified>,
}

/// The record that the person under inquiry was informed (WereldKidz 6.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notified {
    /// The day the person was informed (00:00 UTC).
    pub date: u64,
    /// How (a conversation, a letter, ...), in the words of whoever recorded it.
    pub how: String,
    /// The uid that recorded it.
    pub uid: u32,
    /// That uid's login name, when the system knows it.
    pub login: Option<String>,
    /// When it was recorded.
    pub recorded: u64,
}

/// `login (uid N)`, or `uid N` when the login is unknown.
pub fn who(uid: u32, login: Option<&str>) -> String {
    match login {
        Some(l) => format!("{l} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

impl Inquiry {
    /// The end of what the inquiry may see: the window's end, or the close if that came first.
    pub fn end(&self) -> u64 {
        self.closed
            .map_or(self.to, |c| c.min(self.to).max(self.from))
    }

    /// Closed, or the window has ended.
    pub fn is_over(&self, now: u64) -> bool {
        self.closed.is_some() || now >= self.to
    }

    /// The day by which the person must have been informed: `notify_within_days` after the end.
    pub fn notify_by(&self, notify_within_days: u64) -> u64 {
        self.end()
            .saturating_add(notify_within_days.saturating_mul(DAY))
    }

    /// Over, not yet notified, and the notification term has passed.
    pub fn overdue(&self, now: u64, notify_within_days: u64) -> bool {
        self.is_over(now) && self.notified.is_none() && now >= self.notify_by(notify_within_days)
    }
}

/// A window as shown in messages.
fn span(from: u64, to: u64) -> String {
    format!("{} .. {} UTC", stamp(from, true), stamp(to, true))
}

fn ids(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why an inquiry cannot be opened, or a notification not recorded. Dutch first, then English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InquiryError {
    #[error("--days {days} is langer dan het maximum van {max} dagen voor een onderzoek / --days {days} is longer than the maximum of {max} days for an inquiry ([traffic] inquiry_max_days, SOML/ProCon 8.3: a fixed, short period)")]
    TooLong { days: u64, max: u64 },
    #[error("--days moet minstens 1 zijn / --days must be at least 1")]
    NoDays,
    #[error("--from ligt voor de bewaartermijn van {retention_days} dagen / --from lies before the retention period of {retention_days} days: those records no longer exist")]
    BeforeRetention { retention_days: u64 },
    #[error("--from ligt in de toekomst / --from lies in the future")]
    InFuture,
    #[error("{person:?} is geen adres / {person:?} is not an address")]
    NotAnAddress { person: String },
    #[error("de reden is te mager: geef het vermoeden in minstens {REASON_MIN_CHARS} tekens (zonder spaties) met minstens {MIN_LETTERS} letters / the reason {reason:?} is too thin: state the suspicion in at least {REASON_MIN_CHARS} non-space characters with at least {MIN_LETTERS} letters (it goes to the audit log and to the person)")]
    ThinReason { reason: String },
    #[error("--by moet de naam van de verantwoordelijke zijn (minstens {MIN_LETTERS} letters) / --by {by:?} is not the name of the person responsible (at least {MIN_LETTERS} letters)")]
    NoName { by: String },
    #[error("geweigerd: het venster overlapt met onderzoek {id} naar deze persoon ({window}) / refused: the window overlaps inquiry {id} on this person ({window})", window = span(*.from, *.to))]
    Overlap { id: u64, from: u64, to: u64 },
    #[error("geweigerd: het venster sluit direct aan op onderzoek {id} naar deze persoon ({window}); een onderzoek verlengen of aaneenrijgen mag niet / refused: the window directly follows or precedes inquiry {id} on this person ({window}); inquiries cannot be extended or chained (SOML/ProCon 8.3)", window = span(*.from, *.to))]
    Adjacent { id: u64, from: u64, to: u64 },
    #[error("geweigerd: samen met onderzoek {list} zou deze persoon {days} dagen binnen {period} dagen onderzocht worden, meer dan [traffic] inquiry_max_days = {max} / refused: together with inquiry {list} this person would be under inquiry for {days} days within {period} days, more than [traffic] inquiry_max_days = {max} per {period} days (SOML/ProCon 8.3)", list = ids(.with))]
    Cap {
        with: Vec<u64>,
        days: u64,
        max: u64,
        period: u64,
    },
    #[error("onderzoek {id} loopt nog tot {end}; sluit het eerst / inquiry {id} is still open until {end}; close it first", end = stamp(*.to, true))]
    NotOver { id: u64, to: u64 },
    #[error("onderzoek {id}: de kennisgeving is al vastgelegd ({day}) / inquiry {id}: the notification was already recorded ({day})", day = date(*.on))]
    AlreadyNotified { id: u64, on: u64 },
    #[error("--date {day} ligt voor het einde van onderzoek {id} ({end}) of in de toekomst / --date {day} lies before the end of inquiry {id} ({end}) or in the future", day = date(*.on), end = date(*.end))]
    NotifiedDate { id: u64, on: u64, end: u64 },
    #[error("--how moet zeggen hoe de persoon is ingelicht (minstens {MIN_LETTERS} letters, bv. \"gesprek\", \"brief\") / --how must say how the person was informed (at least {MIN_LETTERS} letters, e.g. \"conversation\", \"letter\")")]
    ThinHow,
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

fn letters(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphabetic()).count()
}

/// Check and normalise the person, reason and name of a new inquiry: returns the person's address
/// lowercased. The reason needs substance (at least [`REASON_MIN_CHARS`] non-space characters, of which
/// [`MIN_LETTERS`] letters), the name of the responsible person at least [`MIN_LETTERS`] letters.
pub fn validate(person: &str, reason: &str, by: &str) -> Result<String, InquiryError> {
    let person = person
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_lowercase();
    let local_and_domain = person
        .rsplit_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty());
    if !local_and_domain || person.contains(char::is_whitespace) {
        return Err(InquiryError::NotAnAddress { person });
    }
    let solid = reason.chars().filter(|c| !c.is_whitespace()).count();
    if solid < REASON_MIN_CHARS || letters(reason) < MIN_LETTERS {
        return Err(InquiryError::ThinReason {
            reason: reason.trim().to_string(),
        });
    }
    if letters(by) < MIN_LETTERS {
        return Err(InquiryError::NoName {
            by: by.trim().to_string(),
        });
    }
    Ok(person)
}

/// The stretch of days within which the inquiry days on one person may add up to at most `max_days`: the
/// retention period, or twice `max_days` if that is longer (so at most half of any stretch).
pub fn cap_period_days(retention_days: u64, max_days: u64) -> u64 {
    retention_days.max(max_days.saturating_mul(2))
}

/// Seconds that `[a.0, a.1)` and `[b.0, b.1)` share.
fn shared(a: (u64, u64), b: (u64, u64)) -> u64 {
    a.1.min(b.1).saturating_sub(a.0.max(b.0))
}

/// May `person` get an inquiry over `[from, to)`, given the `existing` inquiries (of anyone)? Refused when
/// the window overlaps or lies less than a day from another inquiry's window on the same person, or when
/// within some stretch of `period_days` the inquiry days on that person would exceed `max_days`. A window
/// counts up to its end or its close, whichever came first (what was never inside an inquiry's window was
/// never visible to it).
pub fn check_cap(
    person: &str,
    (from, to): (u64, u64),
    existing: &[Inquiry],
    max_days: u64,
    period_days: u64,
) -> Result<(), InquiryError> {
    let mine: Vec<(u64, u64, u64)> = existing
        .iter()
        .filter(|i| i.person == person)
        .map(|i| (i.from, i.end(), i.id))
        .filter(|(f, e, _)| e > f)
        .collect();
    for &(f, e, id) in &mine {
        if from < e && f < to {
            return Err(InquiryError::Overlap { id, from: f, to: e });
        }
        let gap = if from >= e { from - e } else { f - to };
        if gap < DAY {
            return Err(InquiryError::Adjacent { id, from: f, to: e });
        }
    }
    let period = period_days.saturating_mul(DAY);
    let max = max_days.saturating_mul(DAY);
    let new = (from, to);
    // The inquiry time inside [s, s + period) is piecewise linear in s; its maximum lies where a stretch
    // starts or ends at a window's start or end.
    let mut starts = Vec::new();
    for (f, e) in mine.iter().map(|&(f, e, _)| (f, e)).chain([(from, to)]) {
        starts.extend([f, e, f.saturating_sub(period), e.saturating_sub(period)]);
    }
    for s in starts {
        let stretch = (s, s.saturating_add(period));
        if shared(new, stretch) == 0 {
            continue;
        }
        let others: Vec<(u64, u64)> = mine
            .iter()
            .map(|&(f, e, id)| (id, shared((f, e), stretch)))
            .filter(|(_, t)| *t > 0)
            .collect();
        let total = shared(new, stretch) + others.iter().map(|(_, t)| t).sum::<u64>();
        if total > max {
            return Err(InquiryError::Cap {
                with: others.iter().map(|(id, _)| *id).collect(),
                days: total.div_ceil(DAY),
                max: max_days,
                period: period_days,
            });
        }
    }
    Ok(())
}

/// May the notification of `inquiry` on day `on` (00:00 UTC) by `how` be recorded at `now`? The inquiry
/// must be over and not yet notified, the day not before its end nor in the future.
pub fn check_notified(inquiry: &Inquiry, on: u64, how: &str, now: u64) -> Result<(), InquiryError> {
    if !inquiry.is_over(now) {
        return Err(InquiryError::NotOver {
            id: inquiry.id,
            to: inquiry.to,
        });
    }
    if let Some(n) = &inquiry.notified {
        return Err(InquiryError::AlreadyNotified {
            id: inquiry.id,
            on: n.date,
        });
    }
    let end_day = inquiry.end() - inquiry.end() % DAY;
    if on < end_day || on > now {
        return Err(InquiryError::NotifiedDate {
            id: inquiry.id,
            on,
            end: inquiry.end(),
        });
    }
    if letters(how) < MIN_LETTERS {
        return Err(InquiryError::ThinHow);
    }
    Ok(())
}

/// The records of this inquiry: the person's inside the window only (a window closed early ends then). The
/// person's pseudonym is computed under every key whose period meets the window, and a record matches only
/// the pseudonym of its own period's key.
pub fn select(inquiry: &Inquiry, keys: &[EpochKey], records: &[Record]) -> Vec<Record> {
    let end = inquiry.end();
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

/// The Dutch notification for the person, once the inquiry is over (WereldKidz 6.6).
pub fn notification(inquiry: &Inquiry, organisation: &str, records: usize) -> String {
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
        from = date(inquiry.from),
        to = date(inquiry.end()),
        reason = inquiry.reason,
        by = inquiry.by,
        closed = date(inquiry.end()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::PseudonymKey;

    fn inq(id: u64, person: &str, from: u64, to: u64, closed: Option<u64>) -> Inquiry {
        Inquiry {
            id,
            person: person.into(),
            reason: "vermoeden van misbruik".into(),
            by: "J. de Vries".into(),
            from,
            to,
            opened: from,
            closed,
            opened_uid: Some(1000),
            opened_login: Some("jdevries".into()),
            auto_closed: false,
            notified: None,
        }
    }

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

    #[test]
    fn a_reason_of_substance_and_a_name_are_required() {
        let ok = "melding 2026-17 van de directeur";
        assert_eq!(
            validate("<Piet@School.example>", ok, "J. de Vries"),
            Ok("piet@school.example".into())
        );
        // (reason, by, accepted)
        let table = [
            (".", "J. de Vries", false),
            ("", "J. de Vries", false),
            ("melding", "J. de Vries", false),
            ("m e l d i n g 1 2", "J. de Vries", false),
            ("..........", "J. de Vries", false),
            ("1234567890", "J. de Vries", false),
            ("melding 123", "J. de Vries", true),
            ("klacht ouder", "J. de Vries", true),
            (ok, ".", false),
            (ok, "", false),
            (ok, "J.V.", false),
            (ok, "  ", false),
            (ok, "Els", true),
        ];
        for (reason, by, accepted) in table {
            let got = validate("piet@school.example", reason, by);
            assert_eq!(got.is_ok(), accepted, "{reason:?} {by:?}: {got:?}");
        }
        for bad in ["piet", "@school.example", "piet@", "piet @x"] {
            assert!(matches!(
                validate(bad, ok, "Els"),
                Err(InquiryError::NotAnAddress { .. })
            ));
        }
        let e = validate("p@x", ".", "Els").unwrap_err().to_string();
        assert!(e.starts_with("de reden") && e.contains("the reason"), "{e}");
    }

    const P: &str = "piet@school.example";

    #[test]
    fn overlapping_duplicate_adjacent_and_chained_windows_are_refused() {
        let d = DAY;
        // Inquiry 1 on piet: days 10..24 (14 days, the maximum).
        let existing = vec![
            inq(1, P, 10 * d, 24 * d, None),
            inq(2, "jan@school.example", 30 * d, 44 * d, None),
        ];
        let check = |from: u64, to: u64| check_cap(P, (from, to), &existing, 14, 28);
        // The three back-to-back 14-day inquiries of the issue: the 2nd and 3rd are refused.
        assert!(matches!(
            check(24 * d, 38 * d),
            Err(InquiryError::Adjacent { id: 1, .. })
        ));
        // The third (days 38..52) is possible only because the second was refused: every 28 days hold
        // at most 14 inquiry days; a day earlier is one too many.
        assert!(check(38 * d, 52 * d).is_ok());
        assert!(matches!(
            check(37 * d, 51 * d),
            Err(InquiryError::Cap { days: 15, .. })
        ));
        // Duplicates and overlaps.
        assert!(matches!(
            check(10 * d, 24 * d),
            Err(InquiryError::Overlap { id: 1, .. })
        ));
        assert!(matches!(
            check(5 * d, 11 * d),
            Err(InquiryError::Overlap { id: 1, .. })
        ));
        // Directly before, or less than a day apart.
        assert!(matches!(
            check(3 * d, 10 * d),
            Err(InquiryError::Adjacent { .. })
        ));
        assert!(matches!(
            check(24 * d + 3600, 26 * d),
            Err(InquiryError::Adjacent { .. })
        ));
        // A gap does not help: within 28 days at most 14 inquiry days on one person.
        assert!(matches!(
            check(26 * d, 28 * d),
            Err(InquiryError::Cap { days: 16, .. })
        ));
        assert!(check(52 * d, 66 * d).is_ok());
        // The stretch: the retention period, or twice the maximum (so at most half of any stretch).
        for (retention, max, period) in [(28, 14, 28), (21, 14, 28), (7, 3, 7), (14, 14, 28)] {
            assert_eq!(cap_period_days(retention, max), period);
        }
        // Someone else is not limited by piet's inquiries; a different person's window may overlap.
        assert!(check_cap("els@school.example", (10 * d, 24 * d), &existing, 14, 28).is_ok());
        // Messages: Dutch first, then English, naming the conflicting inquiry and its window.
        let e = check(10 * d, 12 * d).unwrap_err().to_string();
        assert!(
            e.starts_with("geweigerd") && e.contains("inquiry 1") && e.contains("1970-01-11"),
            "{e}"
        );
        let e = check(26 * d, 28 * d).unwrap_err().to_string();
        assert!(
            e.contains("inquiry 1") && e.contains("16 days within 28"),
            "{e}"
        );
    }

    #[test]
    fn a_window_closed_early_counts_only_until_its_close() {
        let d = DAY;
        // Opened for 14 days, closed after 2: 12 days left in the cap.
        let existing = vec![inq(1, P, 10 * d, 24 * d, Some(12 * d))];
        assert!(check_cap(P, (14 * d, 26 * d), &existing, 14, 28).is_ok());
        assert!(check_cap(P, (14 * d, 27 * d), &existing, 14, 28).is_err());
        // Still no chaining onto the close.
        assert!(matches!(
            check_cap(P, (12 * d, 13 * d), &existing, 14, 28),
            Err(InquiryError::Adjacent { .. })
        ));
        // Closed before anything was visible: nothing counts.
        let nothing = vec![inq(1, P, 10 * d, 24 * d, Some(10 * d))];
        assert!(check_cap(P, (10 * d, 24 * d), &nothing, 14, 28).is_ok());
    }

    #[test]
    fn over_and_overdue_follow_the_clock_and_the_notification() {
        let d = DAY;
        let mut i = inq(1, P, 10 * d, 14 * d, None);
        assert!(!i.is_over(14 * d - 1) && i.is_over(14 * d));
        assert_eq!(i.notify_by(14), 28 * d);
        assert!(!i.overdue(28 * d - 1, 14) && i.overdue(28 * d, 14));
        assert!(matches!(
            check_notified(&i, 13 * d, "gesprek", 13 * d),
            Err(InquiryError::NotOver { .. })
        ));
        // Not before the end, not in the future, with a "how".
        for (on, how, ok) in [
            (13 * d, "gesprek", false),
            (14 * d, "gesprek", true),
            (20 * d, "brief", true),
            (21 * d, "brief", false),
            (20 * d, "-", false),
        ] {
            assert_eq!(
                check_notified(&i, on, how, 20 * d + 5).is_ok(),
                ok,
                "{on} {how}"
            );
        }
        i.notified = Some(Notified {
            date: 20 * d,
            how: "gesprek".into(),
            uid: 1000,
            login: None,
            recorded: 20 * d,
        });
        assert!(!i.overdue(40 * d, 14));
        assert!(matches!(
            check_notified(&i, 20 * d, "gesprek", 21 * d),
            Err(InquiryError::AlreadyNotified { .. })
        ));
        // Closed early: over at the close, and the term runs from there.
        let early = inq(2, P, 10 * d, 24 * d, Some(12 * d));
        assert!(early.is_over(12 * d) && early.notify_by(14) == 26 * d);
    }

    fn record(key: &PseudonymKey, t: u64, who: &str) -> Record {
        Record {
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
            would: None,
        }
    }

    #[test]
    fn selection_sees_only_the_person_inside_the_window() {
        let key = PseudonymKey::from_bytes([7; 32]);
        let keys = [EpochKey {
            from: 0,
            to: 1000,
            key: key.clone(),
        }];
        let inq = inq(1, "piet@school.example", 100, 200, None);
        let records = vec![
            record(&key, 99, "piet@school.example"),
            record(&key, 100, "Piet@School.example"),
            record(&key, 150, "jan@school.example"),
            record(&key, 199, "piet@school.example"),
            record(&key, 200, "piet@school.example"),
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
        let records = vec![
            record(&a, 120, P),
            record(&b, 160, P),
            // Piet's pseudonym of the first period, placed in the second: not his there.
            record(&a, 170, P),
            record(&b, 180, "jan@school.example"),
        ];
        let got: Vec<u64> = select(&inq(1, P, 100, 200, None), &keys, &records)
            .iter()
            .map(|r| r.time)
            .collect();
        assert_eq!(got, vec![120, 160]);
        assert_ne!(a.pseudonym(P), b.pseudonym(P));
    }

    #[test]
    fn inquiries_stored_by_an_older_version_still_read() {
        let old = r#"{"id":1,"person":"p@x.example","reason":"r","by":"b","from":1,"to":2,"opened":1,"closed":null}"#;
        let i: Inquiry = serde_json::from_str(old).expect("old layout");
        assert_eq!(
            (i.opened_uid, i.auto_closed, i.notified),
            (None, false, None)
        );
    }

    #[test]
    fn notification_is_dutch_and_names_the_window() {
        let i = Inquiry {
            id: 3,
            closed: Some(2 * DAY),
            ..inq(3, "piet@school.example", 0, 2 * DAY, None)
        };
        let text = notification(&i, "De School", 4);
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
