//! Four eyes for content (WereldKidz 6.10, Uniek 3.2.3 h: nobody reads mail alone): revealing a
//! quarantined message, exporting it or releasing it needs a request with a reason by one person and an
//! approval by a *different* person; the approval is good for one use, by the requester, within a short
//! time. This module is the bookkeeping only — a pure state machine with time passed in; the
//! [`super::Service`] checks reasons and roles, writes the audit log and runs the approved action.
//!
//! Requests live in the daemon's memory: a restart drops open requests and unused approvals (they are
//! short-lived by design; the audit log keeps what happened). With `[storage] backend = "postgres"` they
//! live in the shared database instead ([`Shared`]), so that a request made on one node can be approved on
//! another; the state machine is this one either way.
//!
//! Must not: hold content, or let an approval be used twice, by someone else, or after it expired.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An action that shows or moves content and so needs a second person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Guarded {
    /// See the original message.
    ShowRaw,
    /// Download the original message.
    Export,
    /// Re-inject it to its recipients, or to `to`.
    Release { to: Option<String> },
    /// Open a targeted inquiry (SOML/ProCon 8.3) on the request's `entry` (the person's address) for
    /// `days`: requested by an auditor, approved by the privacy officer.
    InquiryOpen { days: u64 },
}

impl Guarded {
    /// The audit log's name of the action.
    pub fn action(&self) -> &'static str {
        match self {
            Guarded::ShowRaw => "show-raw",
            Guarded::Export => "export",
            Guarded::Release { .. } => "release",
            Guarded::InquiryOpen { .. } => "inquiry-open",
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum AccessState {
    /// Waiting for a second person.
    Pending,
    /// Approved at `at` (seconds); usable once by the requester until `at + approval_valid`.
    Approved { by: String, at: u64 },
    /// Refused by `by`.
    Refused { by: String },
    /// Approved by `approved_by` and used.
    Used { approved_by: String },
    /// Not approved, or not used, in time.
    Expired,
}

/// One request for a [`Guarded`] action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    /// Its number (the console's handle; starts at 1 per daemon run).
    pub number: u64,
    pub action: Guarded,
    /// The quarantine id (for an inquiry: the person's address).
    pub entry: String,
    /// Why, in the requester's words (already checked by the service).
    pub reason: String,
    pub requester: String,
    /// Seconds since the epoch.
    pub requested: u64,
    pub state: AccessState,
}

/// Why a step on a request was refused (each changes nothing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("no access request {0}")]
    Unknown(u64),
    #[error(
        "access request {0}: you asked for it yourself; another person must approve it (four eyes)"
    )]
    OwnRequest(u64),
    #[error("access request {0} is not waiting for approval")]
    NotPending(u64),
    #[error(
        "access request {0} is not approved (or was used already: an approval is good for one use)"
    )]
    NotApproved(u64),
    #[error("access request {0} belongs to another person")]
    NotYours(u64),
    #[error("access request {0} has expired; ask again")]
    Expired(u64),
}

/// The open and recent requests of one daemon (or, stored as JSON, of every node: see [`Shared`]).
#[derive(Debug, Serialize, Deserialize)]
pub struct Approvals {
    next: u64,
    requests: BTreeMap<u64, AccessRequest>,
    /// How long a request waits for approval (each node's own `[web]` setting, never stored).
    #[serde(skip)]
    request_valid: Duration,
    /// How long an approval can be used (as `request_valid`).
    #[serde(skip)]
    approval_valid: Duration,
}

/// Requests kept for the list (older finished ones are dropped; the audit log has them).
const KEPT: usize = 200;

impl Approvals {
    pub fn new(request_valid: Duration, approval_valid: Duration) -> Approvals {
        Approvals {
            next: 1,
            requests: BTreeMap::new(),
            request_valid,
            approval_valid,
        }
    }

    /// Change the time limits (reload); requests already approved keep the limit they are checked with now.
    pub fn set_limits(&mut self, request_valid: Duration, approval_valid: Duration) {
        self.request_valid = request_valid;
        self.approval_valid = approval_valid;
    }

    /// The time limits: how long a request waits, how long an approval can be used.
    pub fn limits(&self) -> (Duration, Duration) {
        (self.request_valid, self.approval_valid)
    }

    /// Expire what is past its time at `now` (seconds).
    fn expire(&mut self, now: u64) {
        let (request_valid, approval_valid) =
            (self.request_valid.as_secs(), self.approval_valid.as_secs());
        for r in self.requests.values_mut() {
            let expired = match &r.state {
                AccessState::Pending => now >= r.requested.saturating_add(request_valid),
                AccessState::Approved { at, .. } => now >= at.saturating_add(approval_valid),
                _ => false,
            };
            if expired {
                r.state = AccessState::Expired;
            }
        }
        while self.requests.len() > KEPT {
            let first = self.requests.keys().next().copied();
            match first {
                Some(k) => self.requests.remove(&k),
                None => break,
            };
        }
    }

    /// Open a request; returns it.
    pub fn request(
        &mut self,
        requester: &str,
        action: Guarded,
        entry: &str,
        reason: &str,
        now: u64,
    ) -> AccessRequest {
        self.expire(now);
        let request = AccessRequest {
            number: self.next,
            action,
            entry: entry.to_string(),
            reason: reason.to_string(),
            requester: requester.to_string(),
            requested: now,
            state: AccessState::Pending,
        };
        self.next += 1;
        self.requests.insert(request.number, request.clone());
        request
    }

    fn get_mut(&mut self, number: u64, now: u64) -> Result<&mut AccessRequest, AccessError> {
        self.expire(now);
        self.requests
            .get_mut(&number)
            .ok_or(AccessError::Unknown(number))
    }

    /// `approver` approves request `number` (never their own).
    pub fn approve(
        &mut self,
        number: u64,
        approver: &str,
        now: u64,
    ) -> Result<AccessRequest, AccessError> {
        let r = self.get_mut(number, now)?;
        if r.requester == approver {
            return Err(AccessError::OwnRequest(number));
        }
        match r.state {
            AccessState::Pending => {}
            AccessState::Expired => return Err(AccessError::Expired(number)),
            _ => return Err(AccessError::NotPending(number)),
        }
        r.state = AccessState::Approved {
            by: approver.to_string(),
            at: now,
        };
        Ok(r.clone())
    }

    /// `refuser` refuses request `number` (the requester may withdraw their own this way).
    pub fn refuse(
        &mut self,
        number: u64,
        refuser: &str,
        now: u64,
    ) -> Result<AccessRequest, AccessError> {
        let r = self.get_mut(number, now)?;
        match r.state {
            AccessState::Pending | AccessState::Approved { .. } => {}
            AccessState::Expired => return Err(AccessError::Expired(number)),
            _ => return Err(AccessError::NotPending(number)),
        }
        r.state = AccessState::Refused {
            by: refuser.to_string(),
        };
        Ok(r.clone())
    }

    /// The requester uses the approval of `number`: returns the request and the approver's name, and the
    /// approval is spent.
    pub fn take(
        &mut self,
        number: u64,
        user: &str,
        now: u64,
    ) -> Result<(AccessRequest, String), AccessError> {
        let r = self.get_mut(number, now)?;
        if r.requester != user {
            return Err(AccessError::NotYours(number));
        }
        let by = match &r.state {
            AccessState::Approved { by, .. } => by.clone(),
            AccessState::Expired => return Err(AccessError::Expired(number)),
            _ => return Err(AccessError::NotApproved(number)),
        };
        r.state = AccessState::Used {
            approved_by: by.clone(),
        };
        Ok((r.clone(), by))
    }

    /// A request's current state.
    pub fn get(&mut self, number: u64, now: u64) -> Result<AccessRequest, AccessError> {
        self.get_mut(number, now).map(|r| r.clone())
    }

    /// All kept requests, newest first.
    pub fn list(&mut self, now: u64) -> Vec<AccessRequest> {
        self.expire(now);
        self.requests.values().rev().cloned().collect()
    }
}

/// The requests of every node in the shared database (table `access_requests`, one row of JSON). Each step
/// runs in one transaction with that row locked, so two nodes never hand out the same number or use an
/// approval twice.
#[derive(Debug, Clone)]
pub struct Shared {
    pg: crate::storage::postgres::Pg,
}

impl Shared {
    pub fn new(pg: crate::storage::postgres::Pg) -> Shared {
        Shared { pg }
    }

    /// Apply `step` to the shared requests, with this node's time `limits`, and store the result.
    pub async fn with<T>(
        &self,
        limits: (Duration, Duration),
        step: impl FnOnce(&mut Approvals) -> T,
    ) -> Result<T, crate::storage::postgres::PgError> {
        use crate::storage::postgres::PgError;
        let mut client = self.pg.checked_client().await?;
        let tx = client.transaction().await.map_err(PgError::from)?;
        let row = tx
            .query_one("SELECT state::text FROM access_requests FOR UPDATE", &[])
            .await
            .map_err(PgError::from)?;
        let mut approvals: Approvals =
            serde_json::from_str(row.get::<_, &str>(0)).map_err(|e| {
                PgError::Settings(format!("access_requests has an unknown layout: {e}"))
            })?;
        approvals.set_limits(limits.0, limits.1);
        let out = step(&mut approvals);
        let json = serde_json::to_string(&approvals).unwrap_or_default();
        tx.execute(
            "UPDATE access_requests SET state = $1::text::jsonb",
            &[&json],
        )
        .await
        .map_err(PgError::from)?;
        tx.commit().await.map_err(PgError::from)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approvals() -> Approvals {
        Approvals::new(Duration::from_secs(3600), Duration::from_secs(600))
    }

    #[test]
    fn four_eyes_once_and_in_time() {
        let mut a = approvals();
        let r = a.request("anna", Guarded::ShowRaw, "Q1", "melding helpdesk 12", 1000);
        assert_eq!(
            a.take(r.number, "anna", 1001),
            Err(AccessError::NotApproved(1))
        );
        assert_eq!(
            a.approve(r.number, "anna", 1001),
            Err(AccessError::OwnRequest(1))
        );
        a.approve(r.number, "bert", 1002).unwrap();
        assert_eq!(
            a.approve(r.number, "carl", 1003),
            Err(AccessError::NotPending(1))
        );
        assert_eq!(
            a.take(r.number, "bert", 1004),
            Err(AccessError::NotYours(1))
        );
        let (used, by) = a.take(r.number, "anna", 1005).unwrap();
        assert_eq!((used.entry.as_str(), by.as_str()), ("Q1", "bert"));
        assert_eq!(
            a.take(r.number, "anna", 1006),
            Err(AccessError::NotApproved(1))
        );
        assert_eq!(a.take(99, "anna", 1006), Err(AccessError::Unknown(99)));
    }

    #[test]
    fn approvals_and_requests_expire() {
        let mut a = approvals();
        let r = a.request("anna", Guarded::Export, "Q1", "melding helpdesk 12", 1000);
        a.approve(r.number, "bert", 1100).unwrap();
        assert_eq!(a.take(r.number, "anna", 1700), Err(AccessError::Expired(1)));
        let r = a.request("anna", Guarded::Export, "Q1", "melding helpdesk 12", 2000);
        assert_eq!(
            a.approve(r.number, "bert", 2000 + 3600),
            Err(AccessError::Expired(2))
        );
        let r = a.request("anna", Guarded::ShowRaw, "Q1", "melding helpdesk 12", 9000);
        a.refuse(r.number, "bert", 9001).unwrap();
        assert_eq!(
            a.approve(r.number, "carl", 9002),
            Err(AccessError::NotPending(3))
        );
        assert_eq!(a.list(9003).len(), 3);
    }
}
