//! Every answer the filter gives, in one place: the `250`s that say a message is safe and the `4xx`/`5xx`
//! that say it is not, for both faces (the before-queue face sends the same code, status and text as the
//! milter reply). The protocol-level refusals (syntax, too many recipients) are the servers' own; the size
//! refusal is [`Reply::too_big`] in both servers and here alike.
//!
//! Must not: name content, rules' matched words or local parts; the queue id is always there, so an
//! operator can find the message's log line.

use crate::bounce::{self, Reason};
use crate::smtp::Reply;

/// An internal failure (a failed task, a quarantine that could not store): Postfix retries.
pub(super) fn internal_error(queue_id: &str) -> Reply {
    Reply::new(
        451,
        "4.3.0",
        format!("{queue_id} internal error, try again later"),
    )
}

/// The scanner failed and `[scan] on_error = "tempfail"`: Postfix retries.
pub(super) fn scan_unavailable(queue_id: &str) -> Reply {
    Reply::new(
        451,
        "4.7.0",
        format!("{queue_id} temporary failure: malware scan unavailable, try again later"),
    )
}

/// The next hop could not be reached or failed mid-transaction.
pub(super) fn next_hop_down(queue_id: &str) -> Reply {
    Reply::new(
        451,
        "4.4.1",
        format!("{queue_id} next hop unavailable, try again later"),
    )
}

/// The next hop accepted recipients on the first attempt and not on the second.
pub(super) fn next_hop_changed(queue_id: &str) -> Reply {
    Reply::new(
        451,
        "4.4.0",
        format!("{queue_id} next hop changed its answer, try again later"),
    )
}

/// A notice that could not be handed on (yet).
pub(super) fn notice_deferred(queue_id: &str) -> Reply {
    Reply::new(
        451,
        "4.4.1",
        format!("{queue_id} cannot hand the bounce to the next hop, try again later"),
    )
}

/// A next-hop refusal passed back upstream with its class kept (4xx stays 4xx, 5xx stays 5xx).
pub(super) fn passed_back(queue_id: &str, reply: &Reply) -> Reply {
    let code = if reply.is_permanent() {
        reply.code
    } else {
        451
    };
    let status = match (reply.status.is_empty(), reply.is_permanent()) {
        (false, _) => reply.status.clone(),
        (true, true) => "5.0.0".to_string(),
        (true, false) => "4.0.0".to_string(),
    };
    Reply::new(
        code,
        &status,
        format!("{queue_id} next hop said: {}", reply_summary(reply)),
    )
}

/// Relayed: the next hop accepted the message.
pub(super) fn relayed(queue_id: &str, next_hop: &Reply) -> Reply {
    Reply::new(
        250,
        "2.0.0",
        format!(
            "Ok: {queue_id} passed, next hop: {}",
            reply_summary(next_hop)
        ),
    )
}

/// Bounced: the DSN went to the sender (or had gone on an earlier attempt).
pub(super) fn bounced(queue_id: &str) -> Reply {
    Reply::new(
        250,
        "2.7.0",
        format!("Ok: {queue_id} not delivered, returned to sender (policy)"),
    )
}

/// A policy bounce whose sender may not be notified: `kept` is `quarantined` or `discarded`.
pub(super) fn unnotifiable(queue_id: &str, kept: &str) -> Reply {
    Reply::new(
        250,
        "2.7.0",
        format!("Ok: {queue_id} not delivered (policy), {kept}; sender not notified"),
    )
}

/// Infected and durably quarantined (after the queue).
pub(super) fn quarantined(queue_id: &str) -> Reply {
    Reply::new(
        250,
        "2.7.0",
        format!("Ok: {queue_id} quarantined (infected), not delivered"),
    )
}

/// Passed before the queue: the MTA continues with the message.
pub(super) fn passed(queue_id: &str) -> Reply {
    Reply::new(250, "2.0.0", format!("{queue_id} passed"))
}

/// Infected, quarantined and discarded before the queue (`[milter] on_infected = "discard"`).
pub(super) fn quarantined_discarded(stored_id: &str) -> Reply {
    Reply::new(250, "2.7.0", format!("{stored_id} quarantined, discarded"))
}

/// The `550 5.7.1` refusal with the notice's wording (rules that hit, or the detections), from the bounce
/// templates: `bounce_mode = "reject"` after the queue, every bounce and infected message before it.
pub(super) fn refused(reason: &Reason<'_>) -> Reply {
    bounce::reject_reply(reason)
}

/// A message over the size limit: both sessions refuse it before the filter sees it, with the one
/// [`Reply::too_big`] (a leaf, so the protocols can reach it); the account logs the same reply.
pub(super) fn too_big() -> Reply {
    Reply::too_big()
}

/// The next hop's reply in one line, bounded.
fn reply_summary(reply: &Reply) -> String {
    let mut text = format!("{} {}", reply.code, reply.lines.join(" "));
    if text.len() > 200 {
        let mut cut = 200;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}
