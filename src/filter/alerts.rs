//! Alerts to ICT when mail is quarantined (WereldKidz 8.5: an infected message is kept apart *for
//! investigation*, so someone has to know it is there): `[quarantine] notify` gets a short Dutch-then-English
//! notice per quarantined message (`notify_each`, the default) and/or one summary a day (`digest = "daily"`).
//!
//! A notice names the queue id, the detection (signature names or rule ids), the sender's *domain*, the size
//! and how to review — never content, the subject, local parts or file names. It goes through the next-hop
//! client ([`Deliver`], the one [`crate::smtp::NextHop`]) straight to the re-injection smtpd (`[smtp] next_hop`, which has no content filter
//! and no milters), so it never passes the filter itself; it is `Auto-Submitted: auto-generated` with the null
//! sender unless `notify_sender` is set. Sending happens on its own task after the message is safe: a failure
//! never delays or loses the quarantined message; it is logged and counted (`mailwacht_alerts_total`).
//!
//! Building the notices is pure (time passed in); only [`send`] does I/O.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::envelope::{Envelope, Recipient};
use crate::smtp::client::Deliver;

/// How long one alert may take to hand over.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// How often the digest goes out (counted from the daemon's start).
pub const DIGEST_EVERY: Duration = Duration::from_secs(86_400);

/// Most quarantined messages a digest lists one by one (the count is always complete).
const DIGEST_LINES: usize = 200;

/// Whether a daily summary goes out (`[quarantine] digest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Digest {
    /// No summary (the default).
    #[default]
    Off,
    /// One summary every 24 hours, when anything was quarantined.
    Daily,
}

/// Who gets alerts and how (from `[quarantine]`, `[smtp] hostname` and `[organisation] name`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertSettings {
    /// ICT's addresses; empty: no alerts.
    pub notify: Vec<String>,
    /// A notice per quarantined message.
    pub each: bool,
    pub digest: Digest,
    /// The envelope sender and `From:`; `None`: the null sender, `From: MAILER-DAEMON@hostname`.
    pub sender: Option<String>,
    /// This host's name, for `From:` and `Message-ID:`.
    pub hostname: String,
    /// The organisation, for the subject.
    pub organisation: String,
}

/// What an alert says about one quarantined message. Nothing here is content.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The id `mailwacht quarantine show` knows.
    pub queue_id: String,
    /// Signature names, or rule ids with their categories.
    pub detection: String,
    /// `<>` for the null sender.
    pub sender_domain: String,
    pub size: usize,
    pub received: SystemTime,
}

/// Quarantined messages waiting for the next digest.
#[derive(Debug, Default)]
pub struct Pending {
    alerts: Mutex<Vec<Alert>>,
    /// How many were quarantined since the last digest (also those past [`DIGEST_LINES`]).
    count: Mutex<usize>,
}

impl Pending {
    /// Keep an alert for the digest.
    pub fn push(&self, alert: Alert) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *count += 1;
        let mut alerts = self.alerts.lock().unwrap_or_else(|e| e.into_inner());
        if alerts.len() < DIGEST_LINES {
            alerts.push(alert);
        }
    }

    /// Everything kept since the last call, and how many there were in all.
    pub fn take(&self) -> (Vec<Alert>, usize) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let mut alerts = self.alerts.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut *alerts), std::mem::take(&mut *count))
    }
}

fn headers(settings: &AlertSettings, subject: &str, id: &str, now: SystemTime) -> String {
    let from = settings
        .sender
        .clone()
        .unwrap_or_else(|| format!("MAILER-DAEMON@{}", settings.hostname));
    let date = time::OffsetDateTime::from(now)
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut out = String::new();
    let _ = write!(
        out,
        "From: \"mailwacht\" <{from}>\r\nTo: {}\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <mailwacht-alert.{id}.{nanos}@{}>\r\nAuto-Submitted: auto-generated\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        settings.notify.join(", "),
        settings.hostname,
    );
    out
}

fn utc(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The notice about one quarantined message (Dutch, then English).
pub fn build_notice(settings: &AlertSettings, alert: &Alert, now: SystemTime) -> Vec<u8> {
    let Alert {
        queue_id,
        detection,
        sender_domain,
        size,
        received,
    } = alert;
    let subject = format!(
        "[mailwacht] Bericht in quarantaine / Message quarantined: {queue_id} ({})",
        settings.organisation
    );
    let received = utc(*received);
    let mut out = headers(settings, &subject, queue_id, now);
    let _ = write!(
        out,
        "Een bericht is in quarantaine geplaatst: het wordt apart bewaard voor onderzoek (WereldKidz 8.5)\r\n\
         en niemand heeft het ontvangen.\r\n\r\n\
         Kenmerk:        {queue_id}\r\nDetectie:       {detection}\r\nAfzenderdomein: {sender_domain}\r\n\
         Grootte:        {size} bytes\r\nOntvangen:      {received}\r\n\r\n\
         Bekijken: mailwacht quarantine show {queue_id} (als lid van de beheergroep), of in de webconsole.\r\n\
         Deze melding bevat bewust geen inhoud, onderwerp of adressen.\r\n\r\n\
         ----------------------------------------------------------------------\r\n\r\n\
         A message has been quarantined: it is kept apart for investigation (WereldKidz 8.5) and nobody\r\n\
         has received it.\r\n\r\n\
         Queue id:       {queue_id}\r\nDetection:      {detection}\r\nSender domain:  {sender_domain}\r\n\
         Size:           {size} bytes\r\nReceived:       {received}\r\n\r\n\
         Review: mailwacht quarantine show {queue_id} (as a member of the admin group), or in the web console.\r\n\
         This notice deliberately holds no content, subject or addresses.\r\n"
    );
    out.into_bytes()
}

/// The daily summary of `alerts` (`total` quarantined in all; the list may be capped).
pub fn build_digest(
    settings: &AlertSettings,
    alerts: &[Alert],
    total: usize,
    now: SystemTime,
) -> Vec<u8> {
    let subject = format!(
        "[mailwacht] Quarantaine, afgelopen 24 uur / Quarantine, last 24 hours: {total} ({})",
        settings.organisation
    );
    let mut out = headers(settings, &subject, "digest", now);
    let _ = write!(
        out,
        "In de afgelopen 24 uur zijn {total} berichten in quarantaine geplaatst (WereldKidz 8.5).\r\n\
         In the last 24 hours {total} messages were quarantined (WereldKidz 8.5).\r\n\r\n\
         Ontvangen / received (UTC) | kenmerk / queue id | detectie / detection | afzenderdomein / sender domain | bytes\r\n"
    );
    for a in alerts {
        let _ = write!(
            out,
            "{} | {} | {} | {} | {}\r\n",
            utc(a.received),
            a.queue_id,
            a.detection,
            a.sender_domain,
            a.size
        );
    }
    if alerts.len() < total {
        let _ = write!(
            out,
            "… en {} meer / and {} more\r\n",
            total - alerts.len(),
            total - alerts.len()
        );
    }
    let _ = write!(
        out,
        "\r\nBekijken / review: mailwacht quarantine list (als lid van de beheergroep / as a member of the admin group).\r\n"
    );
    out.into_bytes()
}

/// Hand one alert to the next hop, within [`SEND_TIMEOUT`]. `Err` says why (safe to log: no addresses).
pub async fn send(
    next_hop: &dyn Deliver,
    settings: &AlertSettings,
    message: &[u8],
) -> Result<(), String> {
    let envelope = Envelope {
        mail_from: settings.sender.clone(),
        rcpt_to: settings
            .notify
            .iter()
            .map(|address| Recipient {
                address: address.clone(),
                params: Vec::new(),
            })
            .collect(),
        ..Envelope::default()
    };
    let exchange = async {
        let delivery = next_hop
            .send(&envelope, message)
            .await
            .map_err(|e| e.to_string())?;
        match (delivery.refusal(), &delivery.data_reply) {
            (None, Some(_)) => Ok(()),
            (Some(reply), _) => Err(format!("refused by the next hop ({})", reply.code)),
            (None, None) => Err("the next hop took no content".to_string()),
        }
    };
    tokio::time::timeout(SEND_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", SEND_TIMEOUT.as_secs())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AlertSettings {
        AlertSettings {
            notify: vec!["ict@school.example".into()],
            each: true,
            digest: Digest::Daily,
            sender: None,
            hostname: "gw.school.example".into(),
            organisation: "Stichting Voorbeeld".into(),
        }
    }

    fn alert(id: &str) -> Alert {
        Alert {
            queue_id: id.into(),
            detection: "Eicar-Test-Signature".into(),
            sender_domain: "school.example".into(),
            size: 1834,
            received: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000),
        }
    }

    #[test]
    fn a_notice_names_id_detection_domain_size_and_review_in_dutch_first() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_100);
        let text = String::from_utf8(build_notice(&settings(), &alert("MW1"), now)).expect("utf-8");
        for needle in [
            "From: \"mailwacht\" <MAILER-DAEMON@gw.school.example>\r\n",
            "To: ict@school.example\r\n",
            "Auto-Submitted: auto-generated\r\n",
            "Kenmerk:        MW1",
            "Detectie:       Eicar-Test-Signature",
            "Afzenderdomein: school.example",
            "1834 bytes",
            "mailwacht quarantine show MW1",
            "Sender domain:  school.example",
        ] {
            assert!(text.contains(needle), "{needle:?} in {text}");
        }
        assert!(text.find("Kenmerk").expect("nl") < text.find("Queue id").expect("en"));
    }

    #[test]
    fn a_digest_counts_all_and_lists_at_most_its_cap() {
        let pending = Pending::default();
        for i in 0..DIGEST_LINES + 3 {
            pending.push(alert(&format!("MW{i}")));
        }
        let (alerts, total) = pending.take();
        assert_eq!((alerts.len(), total), (DIGEST_LINES, DIGEST_LINES + 3));
        assert_eq!(pending.take(), (Vec::new(), 0), "taken once");
        let now = SystemTime::UNIX_EPOCH;
        let text =
            String::from_utf8(build_digest(&settings(), &alerts, total, now)).expect("utf-8");
        assert!(
            text.contains(&format!(": {} (", DIGEST_LINES + 3)),
            "{text}"
        );
        assert!(text.contains("| MW0 | Eicar-Test-Signature | school.example | 1834"));
        assert!(text.contains("… en 3 meer / and 3 more"));
    }
}
