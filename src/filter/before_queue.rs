//! The before-queue face (Postfix `smtpd_milters`): a decided message is let through (`continue`, with the
//! `X-Mailwacht` header when configured), refused (`550 5.7.1` with the bounce wording; Postfix tells the
//! client) or quarantined and then refused or discarded (`[milter] on_infected`). Anything failing is a
//! `451`, never an acceptance.
//!
//! Must not: send a DSN (the client is still connected and hears the refusal), or accept mail it could not
//! evaluate.

use super::*;
use crate::milter::codec::Response;
use crate::milter::session::{reply_code, Collected};
use crate::milter::{OnInfected, HEADER_NAME};

impl Filter {
    /// Decide about one message and return the responses to SMFIC_BODYEOB (modifications first, then the
    /// final answer).
    pub async fn end_of_message(&self, msg: Collected, on_infected: OnInfected) -> Vec<Response> {
        let Collected {
            envelope,
            policy_envelope,
            data,
            may_add_header,
            header_leading_space,
        } = msg;
        let decided = match self.decide(&policy_envelope, data).await {
            Ok(decided) => decided,
            Err(reply) => return vec![Response::ReplyCode(reply_code(&reply))],
        };
        let (queue_id, decision) = (&decided.queue_id, &decided.decision);
        let mut responses = Vec::new();
        let (answer, outcome) = match decision.verdict {
            Verdict::Pass => {
                if may_add_header {
                    // Postfix shows `Name:value` as given once HDR_LEADSPC is on, `Name: value` otherwise.
                    let space = if header_leading_space { " " } else { "" };
                    responses.push(Response::AddHeader {
                        name: HEADER_NAME.into(),
                        value: format!("{space}pass ({queue_id})"),
                    });
                }
                let outcome = Outcome::new(replies::passed(queue_id), "accepted");
                (Response::Continue, outcome)
            }
            Verdict::Bounce => {
                let rules = decided.engine.hit_rules(decision);
                refusal(Outcome::new(
                    replies::refused(&Reason::Rules(&rules)),
                    "rejected",
                ))
            }
            Verdict::Quarantine => {
                self.quarantine_before_queue(&decided, &envelope, on_infected)
                    .await
            }
            Verdict::Tempfail => refusal(tempfail(queue_id, decision)),
        };
        responses.push(answer);
        self.account(&decided, &policy_envelope, &outcome);
        responses
    }

    /// Store the infected message (under the MTA's envelope, as received), then refuse or discard it.
    async fn quarantine_before_queue(
        &self,
        decided: &Decided,
        envelope: &Envelope,
        on_infected: OnInfected,
    ) -> (Response, Outcome) {
        let queue_id = &decided.queue_id;
        let detections = &decided.decision.detections;
        let stored = self
            .inner
            .quarantine
            .store(
                queue_id,
                envelope,
                &decided.data,
                detections,
                decided.received,
            )
            .await;
        match (stored, on_infected) {
            (Err(e), _) => {
                warn!(queue_id, error = %e, "quarantine store failed");
                refusal(Outcome::new(replies::internal_error(queue_id), "deferred"))
            }
            (Ok(stored_id), on_infected) => {
                if stored_id != *queue_id {
                    warn!(queue_id, stored_as = %stored_id, "queue id already in the quarantine; stored under a new id");
                }
                match on_infected {
                    OnInfected::Reject => refusal(Outcome::new(
                        replies::refused(&Reason::Infected(detections)),
                        "quarantined",
                    )),
                    OnInfected::Discard => {
                        let reply = replies::quarantined_discarded(&stored_id);
                        (Response::Discard, Outcome::new(reply, "quarantined"))
                    }
                }
            }
        }
    }
}

/// The outcome's reply sent as the milter's answer.
fn refusal(outcome: Outcome) -> (Response, Outcome) {
    (Response::ReplyCode(reply_code(&outcome.reply)), outcome)
}

impl crate::milter::Handler for Filter {
    fn end_of_message(
        &self,
        msg: Collected,
        on_infected: OnInfected,
    ) -> crate::util::BoxFuture<'static, Vec<Response>> {
        let filter = self.clone();
        Box::pin(async move { filter.end_of_message(msg, on_infected).await })
    }

    fn refused_too_big(&self, envelope: &Envelope, limit: usize) {
        self.account_too_big(envelope, limit);
    }
}
