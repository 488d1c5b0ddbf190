//! The after-queue face (Postfix `content_filter`): a decided message is relayed, bounced (a DSN to the
//! sender) or quarantined, and the answer is the SMTP reply to the final dot. **`250` only when the message is
//! safe**; every failure on the way is a `4xx`, so Postfix keeps the message and retries.

use super::*;

impl Filter {
    /// Decide about one received message, act, and return the reply to the final dot.
    pub async fn process(&self, txn: Transaction) -> Reply {
        let mut decided = match self.decide(&txn.envelope, txn.data).await {
            Ok(decided) => decided,
            Err(reply) => return reply,
        };
        let msg = InFlight {
            engine: &decided.engine,
            queue_id: &decided.queue_id,
            envelope: &txn.envelope,
            data: &decided.data,
            // Only the bounce uses the header block: moved out, not copied.
            original_headers: std::mem::take(&mut decided.original_headers),
            auto_generated: decided.auto_generated,
            received: decided.received,
        };
        let decision = &decided.decision;
        let outcome = match decision.verdict {
            Verdict::Pass => {
                let started = std::time::Instant::now();
                let outcome = self.relay(&msg).await;
                crate::metrics::relay_latency(started.elapsed());
                outcome
            }
            Verdict::Bounce => self.bounce(&msg, decision).await,
            Verdict::Quarantine => self.quarantine(&msg, decision).await,
            Verdict::Tempfail => tempfail(msg.queue_id, decision),
        };
        self.account(&decided, &txn.envelope, &outcome);
        outcome.reply
    }

    /// Pass the message on unchanged. Recipients the next hop refuses permanently while it accepts others
    /// are dealt with first ([`Filter::refused_part`]: a notice to the sender, or kept per
    /// `on_unnotifiable`), then the message goes to the others; any temporary refusal defers the whole
    /// message.
    async fn relay(&self, msg: &InFlight<'_>) -> Outcome {
        let (queue_id, envelope) = (msg.queue_id, msg.envelope);
        // The content goes out only when MAIL and every recipient were accepted ([`Deliver`]).
        let sent = match self.inner.next_hop.send(envelope, msg.data).await {
            Ok(sent) => sent,
            Err(e) => return next_hop_down(queue_id, &e),
        };
        if !sent.mail_reply.is_positive() {
            return passed_back(queue_id, sent.mail_reply, "refused");
        }
        let transient = sent.rcpt_replies.iter().find(|r| r.is_transient()).cloned();
        if let Some(reply) = transient {
            return passed_back(queue_id, reply, "deferred");
        }
        let rejected: Vec<(String, Reply)> = envelope
            .rcpt_to
            .iter()
            .zip(&sent.rcpt_replies)
            .filter(|(_, r)| r.is_permanent())
            .map(|(rcpt, r)| (rcpt.address.clone(), r.clone()))
            .collect();
        if rejected.is_empty() {
            return delivered(queue_id, sent);
        }
        if rejected.len() == envelope.rcpt_to.len() {
            // The next hop's own refusal of the whole message goes back to Postfix unchanged; Postfix then
            // applies its own bounce rules, as for any refusal by a next hop.
            let reply = sent
                .rcpt_replies
                .into_iter()
                .next()
                .unwrap_or_else(|| Reply::new(550, "5.1.1", "rejected"));
            return passed_back(queue_id, reply, "refused");
        }
        // Mixed: deal with the refused recipients, then deliver to the others.
        let notice = match self.refused_part(msg, &rejected).await {
            Ok(notice) => notice,
            Err(outcome) => return outcome,
        };
        let mut accepted = envelope.clone();
        accepted
            .rcpt_to
            .retain(|r| !rejected.iter().any(|(a, _)| *a == r.address));
        let sent = match self.inner.next_hop.send(&accepted, msg.data).await {
            Ok(sent) => sent,
            Err(e) => return next_hop_down(queue_id, &e).with_notice(notice),
        };
        if sent.envelope_refused() {
            return Outcome {
                reply: replies::next_hop_changed(queue_id),
                action: "deferred",
                notice,
            };
        }
        delivered(queue_id, sent).with_notice(notice)
    }

    /// The recipients the next hop refused permanently while it accepted others: tell the sender (RFC 3464),
    /// or, when the sender may not be notified or the notice is refused for good, keep that part of the
    /// message per `on_unnotifiable` (quarantined for exactly those recipients, or dropped) — never silently.
    /// Done once per message: a retry of the same message finds it in the notice memory and skips it.
    /// `Err` is the outcome to answer with (a `4xx`: nothing has been delivered yet).
    async fn refused_part(
        &self,
        msg: &InFlight<'_>,
        rejected: &[(String, Reply)],
    ) -> Result<Notice, Outcome> {
        let queue_id = msg.queue_id;
        let failed: Vec<String> = rejected.iter().map(|(a, _)| a.clone()).collect();
        let mut domains: Vec<String> = failed.iter().filter_map(|a| domain_of(a)).collect();
        domains.sort();
        domains.dedup();
        let key = notice_key(NOTICE_REFUSED, msg, &failed);
        let notice = if self.remembered(msg, key).await {
            Notice::AlreadySent
        } else {
            let withheld = match self.may_notify(msg) {
                Err(why) => Some(why),
                Ok(sender) => {
                    match self
                        .send_dsn(msg, sender, &failed, Reason::Rejected(rejected))
                        .await
                    {
                        Ok(()) => None,
                        Err(e) if e.is_permanent() => Some(Withheld::NoticeRefused),
                        Err(_) => return Err(notice_deferred(queue_id)),
                    }
                }
            };
            if withheld.is_some() {
                let mut part = msg.envelope.clone();
                part.rcpt_to
                    .retain(|r| rejected.iter().any(|(a, _)| *a == r.address));
                let detections: Vec<Detection> = msg
                    .envelope
                    .recipients()
                    .enumerate()
                    .filter_map(|(i, rcpt)| {
                        let (_, reply) = rejected.iter().find(|(a, _)| a == rcpt)?;
                        Some(Detection {
                            name: format!(
                                "refused by the next hop ({})",
                                bounce::refusal_code(reply)
                            ),
                            location: format!("envelope recipient {}", i + 1),
                        })
                    })
                    .collect();
                self.keep_unnotifiable(msg, &part, &detections).await?;
            }
            self.remember(msg, key).await;
            withheld.map_or(Notice::Sent, Notice::Withheld)
        };
        // Refused recipients are never dropped without a trace (domains only: no local parts in logs).
        warn!(
            queue_id,
            refused = failed.len(),
            refused_domains = %domains.join(","),
            notice = %notice,
            kept = if matches!(notice, Notice::Withheld(_)) {
                on_unnotifiable_name(msg.engine.on_unnotifiable)
            } else {
                "-"
            },
            "next hop refused some recipients permanently; delivering to the others"
        );
        Ok(notice)
    }

    /// Send the message back to its sender (WereldKidz 6.5); recipients get nothing. A sender who may not be
    /// notified gets nothing either: the message is kept per `on_unnotifiable`.
    async fn bounce(&self, msg: &InFlight<'_>, decision: &Decision) -> Outcome {
        let rules = msg.engine.hit_rules(decision);
        let reason = Reason::Rules(&rules);
        let sender = match self.may_notify(msg) {
            Ok(sender) => sender,
            Err(why) => return self.unnotifiable(msg, decision, why).await,
        };
        if msg.engine.bounce_mode == BounceMode::Reject {
            // Postfix writes the bounce on this 550 (after the queue); the sender may get it.
            return Outcome {
                reply: replies::refused(&reason),
                action: "rejected",
                notice: Notice::ByPostfix,
            };
        }
        let failed: Vec<String> = msg.envelope.recipients().map(String::from).collect();
        let key = notice_key(NOTICE_BOUNCE, msg, &failed);
        let notice = if self.remembered(msg, key).await {
            Notice::AlreadySent
        } else {
            match self.send_dsn(msg, sender, &failed, reason).await {
                Ok(()) => {
                    self.remember(msg, key).await;
                    Notice::Sent
                }
                Err(e) if e.is_permanent() => {
                    return self
                        .unnotifiable(msg, decision, Withheld::NoticeRefused)
                        .await
                }
                Err(_) => return notice_deferred(msg.queue_id),
            }
        };
        Outcome {
            reply: replies::bounced(msg.queue_id),
            action: "bounced",
            notice,
        }
    }

    /// A policy bounce whose sender may not be notified: quarantined with the rules that hit (ICT can
    /// release a mistake) or, when configured, dropped. `250` either way: a notice can never go out, so a
    /// retry would not help.
    async fn unnotifiable(
        &self,
        msg: &InFlight<'_>,
        decision: &Decision,
        why: Withheld,
    ) -> Outcome {
        let mut detections: Vec<Detection> = Vec::new();
        for hit in &decision.hits {
            let d = Detection {
                name: format!("{} [{}]", hit.rule_id, hit.category),
                location: hit.location.to_string(),
            };
            if !detections.contains(&d) {
                detections.push(d);
            }
        }
        if let Err(outcome) = self.keep_unnotifiable(msg, msg.envelope, &detections).await {
            return outcome;
        }
        let (text, action) = match msg.engine.on_unnotifiable {
            OnUnnotifiable::Quarantine => ("quarantined", "quarantined"),
            OnUnnotifiable::Discard => ("discarded", "discarded"),
        };
        Outcome {
            reply: replies::unnotifiable(msg.queue_id, text),
            action,
            notice: Notice::Withheld(why),
        }
    }

    /// Keep (the part of) a message that cannot go back to its sender, per `on_unnotifiable`: stored durably
    /// in the quarantine for `envelope`'s recipients with `detections` as the reason, or nothing. `Err` is
    /// the `4xx` to answer when the store fails.
    async fn keep_unnotifiable(
        &self,
        msg: &InFlight<'_>,
        envelope: &Envelope,
        detections: &[Detection],
    ) -> Result<(), Outcome> {
        if msg.engine.on_unnotifiable == OnUnnotifiable::Discard {
            return Ok(());
        }
        let stored =
            self.inner
                .quarantine
                .store(msg.queue_id, envelope, msg.data, detections, msg.received);
        let stored_id = stored.await.map_err(|e| {
            warn!(queue_id = msg.queue_id, error = %e, "quarantine store failed");
            internal_error(msg.queue_id)
        })?;
        // The id was taken by an entry of an earlier process: the quarantine chose a new one.
        if stored_id != msg.queue_id {
            warn!(queue_id = msg.queue_id, stored_as = %stored_id, "queue id already in the quarantine; stored under a new id");
        }
        Ok(())
    }

    /// Keep the infected message apart (WereldKidz 8.5), then tell the sender if they may be told;
    /// recipients get nothing.
    async fn quarantine(&self, msg: &InFlight<'_>, decision: &Decision) -> Outcome {
        let queue_id = msg.queue_id;
        let stored = self.inner.quarantine.store(
            queue_id,
            msg.envelope,
            msg.data,
            &decision.detections,
            msg.received,
        );
        let stored_id = match stored.await {
            Ok(id) => id,
            Err(e) => {
                warn!(queue_id, error = %e, "quarantine store failed");
                return internal_error(queue_id);
            }
        };
        // The id was taken by an entry of an earlier process: the quarantine chose a new one, and the reply
        // and the notice name the id the message is stored under.
        let renamed;
        let msg = if stored_id == queue_id {
            msg
        } else {
            warn!(queue_id, stored_as = %stored_id, "queue id already in the quarantine; stored under a new id");
            renamed = InFlight {
                queue_id: &stored_id,
                original_headers: msg.original_headers.clone(),
                ..*msg
            };
            &renamed
        };
        let queue_id = msg.queue_id;
        // The message is safe now; a failed notice must not make Postfix send it again.
        let notice = match self.may_notify(msg) {
            Err(why) => Notice::Withheld(why),
            Ok(sender) => {
                let failed: Vec<String> = msg.envelope.recipients().map(String::from).collect();
                let key = notice_key(NOTICE_INFECTED, msg, &failed);
                if self.remembered(msg, key).await {
                    Notice::AlreadySent
                } else {
                    let reason = Reason::Infected(&decision.detections);
                    match self.send_dsn(msg, sender, &failed, reason).await {
                        Ok(()) => {
                            self.remember(msg, key).await;
                            Notice::Sent
                        }
                        Err(_) => Notice::Failed,
                    }
                }
            }
        };
        Outcome {
            reply: replies::quarantined(queue_id),
            action: "quarantined",
            notice,
        }
    }

    /// May this message's sender get a notice? The sender's address when yes.
    fn may_notify<'m>(&self, msg: &InFlight<'m>) -> Result<&'m str, Withheld> {
        let sender = msg.envelope.mail_from.as_deref();
        bounce::may_notify(
            &msg.engine.notices,
            sender,
            &msg.envelope.xforward,
            msg.auto_generated,
        )?;
        sender.ok_or(Withheld::NullSender)
    }

    /// Build a DSN for `failed` and hand it to the next hop. Errors are logged here (no addresses);
    /// [`BounceError::is_permanent`] tells the caller whether a retry could help.
    async fn send_dsn(
        &self,
        msg: &InFlight<'_>,
        sender: &str,
        failed: &[String],
        reason: Reason<'_>,
    ) -> Result<(), BounceError> {
        let queue_id = msg.queue_id;
        let input = DsnInput {
            queue_id,
            envelope_sender: sender,
            failed_recipients: failed,
            original_headers: &msg.original_headers,
            arrival: msg.received,
            reason,
        };
        let dsn =
            bounce::build_dsn(&msg.engine.bounce, &input, SystemTime::now()).map_err(|e| {
                warn!(queue_id, error = %e, "cannot build bounce");
                e
            })?;
        bounce::send_dsn(&*self.inner.next_hop, sender, &dsn).await.map_err(|e| {
            warn!(queue_id, error = %e, permanent = e.is_permanent(), "bounce not accepted by next hop");
            e
        })
    }

    /// True when this notice was sent on an earlier attempt of the message. A memory that cannot be read
    /// counts as "not sent": at worst the sender hears twice, and the message is never held up.
    async fn remembered(&self, msg: &InFlight<'_>, key: NoticeKey) -> bool {
        let seen = self
            .inner
            .memory
            .seen(key, SystemTime::now(), msg.engine.remember)
            .await;
        seen.unwrap_or_else(|e| {
            warn!(queue_id = msg.queue_id, error = %e, "notice memory unreadable; the notice is sent");
            false
        })
    }

    /// Remember a notice as sent. A failure is logged and otherwise ignored: the message goes on, and a
    /// retry of it may repeat the notice.
    async fn remember(&self, msg: &InFlight<'_>, key: NoticeKey) {
        let written = self
            .inner
            .memory
            .remember(key, SystemTime::now(), msg.engine.remember)
            .await;
        if let Err(e) = written {
            warn!(
                queue_id = msg.queue_id,
                error = %e,
                "notice memory not written; a retry of this message may repeat the notice"
            );
        }
    }
}

/// What identifies a notice: its kind, the message bytes, the envelope (sender, recipients, and the XFORWARD
/// attributes, whose `IDENT` is Postfix's queue id), and the recipients it is about. Postfix sends the same
/// queue file with the same attributes on every retry, so a retry gets the same key; two messages Postfix
/// queued separately never do (each got its own `Received:` line and queue id).
fn notice_key(kind: &[u8], msg: &InFlight<'_>, failed: &[String]) -> NoticeKey {
    let envelope = msg.envelope;
    let sender = envelope.mail_from.as_deref().unwrap_or("");
    let rcpts = (envelope.rcpt_to.len() as u64).to_be_bytes();
    let attributes = (envelope.xforward.len() as u64).to_be_bytes();
    let parts = [kind, msg.data, sender.as_bytes(), &rcpts]
        .into_iter()
        .chain(envelope.recipients().map(str::as_bytes))
        .chain(std::iter::once(attributes.as_slice()))
        .chain(
            envelope
                .xforward
                .iter()
                .flat_map(|(name, value)| [name.as_bytes(), value.as_bytes()]),
        )
        .chain(failed.iter().map(|f| f.as_bytes()));
    NoticeKey::new(parts)
}

fn on_unnotifiable_name(on: OnUnnotifiable) -> &'static str {
    match on {
        OnUnnotifiable::Quarantine => "quarantined",
        OnUnnotifiable::Discard => "discarded",
    }
}

/// A notice that could not be handed on (yet): Postfix keeps the message and retries.
fn notice_deferred(queue_id: &str) -> Outcome {
    Outcome::new(replies::notice_deferred(queue_id), "deferred")
}

/// One message on its way through the after-queue face: what the actions need besides the decision.
struct InFlight<'a> {
    /// The engine the decision was made with (a reload mid-message does not mix rule sets).
    engine: &'a Engine,
    queue_id: &'a str,
    envelope: &'a Envelope,
    /// The message exactly as received.
    data: &'a [u8],
    /// The header block, for the DSN's `text/rfc822-headers` part.
    original_headers: Vec<u8>,
    /// Automatic mail is never bounced to.
    auto_generated: bool,
    received: SystemTime,
}

impl Handler for Filter {
    fn handle(&self, txn: Transaction) -> crate::util::BoxFuture<'static, Reply> {
        let filter = self.clone();
        Box::pin(async move { filter.process(txn).await })
    }

    fn refused_too_big(&self, envelope: &Envelope, limit: usize) {
        self.account_too_big(envelope, limit);
    }
}

fn internal_error(queue_id: &str) -> Outcome {
    Outcome::new(replies::internal_error(queue_id), "deferred")
}

fn next_hop_down(queue_id: &str, error: &crate::smtp::client::RelayError) -> Outcome {
    warn!(queue_id, error = %error, "next hop unavailable");
    crate::metrics::next_hop_error();
    Outcome::new(replies::next_hop_down(queue_id), "deferred")
}

/// The next hop's answer to the content of a relayed message: `250` only when it accepted it.
fn delivered(queue_id: &str, sent: Delivery) -> Outcome {
    match sent.data_reply {
        Some(reply) if reply.is_positive() => {
            Outcome::new(replies::relayed(queue_id, &reply), "relayed")
        }
        Some(reply) => passed_back(queue_id, reply, "refused"),
        // Not sent although the envelope was accepted: the client broke its promise; never a `250`.
        None => next_hop_down(
            queue_id,
            &crate::smtp::client::RelayError::Closed { stage: "DATA" },
        ),
    }
}

/// A next-hop refusal passed back upstream with its class kept; a temporary one defers the message.
fn passed_back(queue_id: &str, reply: Reply, action: &'static str) -> Outcome {
    let action = if reply.is_permanent() {
        action
    } else {
        "deferred"
    };
    Outcome::new(replies::passed_back(queue_id, &reply), action)
}
