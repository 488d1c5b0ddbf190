//! The control side of the quarantine: ICT staff review infected mail (WereldKidz 8.5) through the daemon.
//!
//! The daemon owns the store (sled allows one process), so `mailwacht quarantine ...` sends a [`Request`]
//! over the admin unix socket ([`server`], JSON lines: one request object → one response object) and the
//! daemon answers with a [`Response`]; whoever can open the socket (mode 0660, `[admin] group`) is allowed
//! to review — that is the access control. When no daemon answers, the CLI opens the store itself and calls
//! the same [`Service::handle`] (offline mode), so both paths run the same code.
//!
//! Every content reveal (`show --raw`), export, release and delete needs a reason of substance
//! ([`check_reason`], enforced here so the socket and the CLI are held to the same rule) and is written to
//! the [`audit`] log before the content leaves (reveal, export) or once the action is done (release,
//! delete); if the audit entry cannot be written, content is not revealed. Must not: log content, subjects
//! or file names.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::envelope::{Envelope, Recipient};
use crate::message::{self, Limits, TextOrigin};
use crate::quarantine::{Entry, Status, Store};
use crate::smtp::client::{Deliver, NextHop};
use crate::smtp::NextHopSettings;

pub mod accounts;
pub mod approval;
pub mod audit;
pub mod client;
pub mod server;
pub mod traffic;

pub use accounts::{AccountInfo, Accounts, Role};
pub use approval::{AccessRequest, AccessState, Guarded};
pub use audit::{AuditEntry, AuditLog, Settled, Verification};
pub use traffic::{TrafficRequest, TrafficResponse, TrafficService, TrafficSettings};

/// One request on the admin socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Entries received at or after `since` (seconds since the epoch; all when absent).
    List { since: Option<u64> },
    /// Metadata and MIME structure; with `raw` also the original bytes (needs a `reason`; audited).
    Show {
        id: String,
        #[serde(default)]
        raw: bool,
        reason: Option<String>,
    },
    /// Re-inject the original to its recipients, or to `to` (an investigator), via the next hop.
    Release {
        id: String,
        reason: String,
        to: Option<String>,
    },
    /// The original bytes, for the CLI to write to a file (audited).
    Export { id: String, reason: Option<String> },
    /// Delete the entry (audited).
    Delete { id: String, reason: String },
    /// The audit log, with the chain verified.
    AuditList,
    /// Traffic summaries and targeted inquiries ([`traffic`]).
    Traffic(TrafficRequest),
    /// The web console's accounts ([`accounts`]; `mailwacht user ...`).
    User(UserRequest),
}

/// A change to, or the list of, the console's accounts (each change audited).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "user", rename_all = "kebab-case", deny_unknown_fields)]
pub enum UserRequest {
    List,
    Add {
        name: String,
        role: Role,
        password: String,
    },
    Passwd {
        name: String,
        password: String,
    },
    Disable {
        name: String,
    },
}

/// Without the password (a request may end up in a debug line).
impl std::fmt::Debug for UserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserRequest::List => write!(f, "List"),
            UserRequest::Add { name, role, .. } => {
                write!(f, "Add {{ name: {name:?}, role: {role:?} }}")
            }
            UserRequest::Passwd { name, .. } => write!(f, "Passwd {{ name: {name:?} }}"),
            UserRequest::Disable { name } => write!(f, "Disable {{ name: {name:?} }}"),
        }
    }
}

/// Who asks the service for something: a local user (the admin socket's peer uid, or the CLI offline), or a
/// person logged in to the web console (then `uid` is the daemon's and the names go into the audit entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    /// The console account, when the request comes from the web console.
    pub web_user: Option<String>,
    /// The second person who approved this action (four eyes), with the request's number.
    pub approved_by: Option<(String, u64)>,
}

impl Caller {
    /// A local user.
    pub fn local(uid: u32) -> Caller {
        Caller {
            uid,
            web_user: None,
            approved_by: None,
        }
    }

    /// A console account, served by the daemon running as `uid`.
    pub fn web(uid: u32, name: &str) -> Caller {
        Caller {
            uid,
            web_user: Some(name.to_string()),
            approved_by: None,
        }
    }

    /// What the audit entry's detail says about the people involved ("" for a local user).
    fn describe(&self) -> String {
        match (&self.web_user, &self.approved_by) {
            (Some(user), Some((by, number))) => {
                format!("web user {user}, approved by {by} (request {number})")
            }
            (Some(user), None) => format!("web user {user}"),
            (None, _) => String::new(),
        }
    }
}

/// One MIME part as shown to the reviewer (names are shown to ICT staff, never logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    /// Index in the message's part list (what detections' `part N` refers to).
    pub part: usize,
    /// `text`, `html` or `attachment`.
    pub kind: String,
    /// Declared content type.
    pub content_type: String,
    /// Attachment file name, if any.
    pub name: Option<String>,
    /// Decoded size in bytes.
    pub size: usize,
    /// Archive members listed.
    pub members: usize,
    /// Detections located in this part.
    pub detections: Vec<String>,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub enum Response {
    Entries {
        entries: Vec<Entry>,
    },
    Shown {
        entry: Entry,
        parts: Vec<PartInfo>,
        /// Detections for the message as a whole (location `message`).
        message_detections: Vec<String>,
        raw_base64: Option<String>,
    },
    Released {
        id: String,
        to: Vec<String>,
    },
    Exported {
        id: String,
        raw_base64: String,
    },
    Deleted {
        id: String,
    },
    Audit {
        entries: Vec<AuditEntry>,
        verification: Verification,
        /// SHA-256 of each entry's line, in the order of `entries` (compare with the shipped copy).
        #[serde(default)]
        hashes: Vec<String>,
    },
    Traffic(TrafficResponse),
    Users {
        users: Vec<AccountInfo>,
    },
    UserChanged {
        name: String,
    },
    Error {
        message: String,
    },
}

/// The review operations over one store, audit log and next hop.
#[derive(Debug)]
pub struct Service {
    store: Store,
    audit: AuditLog,
    next_hop: NextHopSettings,
    limits: Limits,
    /// Absent when the traffic store is not open (then traffic requests are an error).
    traffic: Option<TrafficService>,
    /// The web console's accounts (`users.json` beside the audit log, or the shared database's).
    accounts: Accounts,
    /// Four-eyes requests for content (kept in memory, see [`approval`]).
    approvals: std::sync::Mutex<approval::Approvals>,
    /// With the shared store: the requests of every node live there instead (`approvals` then holds only
    /// this node's time limits).
    shared_access: Option<approval::Shared>,
}

/// The audit log as written for one caller: the names of a console user go before each entry's detail.
#[derive(Debug, Clone, Copy)]
pub struct Audited<'a> {
    log: &'a AuditLog,
    caller: &'a Caller,
}

impl Audited<'_> {
    /// The log itself (for entries the daemon writes on its own account).
    pub fn log(&self) -> &AuditLog {
        self.log
    }

    /// [`AuditLog::append`], with the caller's names before `detail`.
    pub fn append(
        &self,
        now: SystemTime,
        uid: u32,
        action: &str,
        id: &str,
        reason: &str,
        detail: &str,
    ) -> Result<AuditEntry, audit::AuditError> {
        let who = self.caller.describe();
        let detail = match (who.is_empty(), detail.is_empty()) {
            (true, _) => detail.to_string(),
            (false, true) => who,
            (false, false) => format!("{who}; {detail}"),
        };
        self.log.append(now, uid, action, id, reason, &detail)
    }
}

/// How long a content request waits for a second person, by default.
pub const ACCESS_REQUEST_VALID: Duration = Duration::from_secs(24 * 3600);
/// How long an approval can be used, by default.
pub const ACCESS_APPROVAL_VALID: Duration = Duration::from_secs(15 * 60);

/// An error message for [`Response::Error`].
fn error(message: impl std::fmt::Display) -> String {
    message.to_string()
}

/// Shortest reason accepted for an action that reveals or moves content (the same bar as an inquiry's).
pub const REASON_MIN_CHARS: usize = 10;

/// The reason for `action`, trimmed, when it says something: at least [`REASON_MIN_CHARS`] characters with
/// a letter among them ("x", "." or "1234567890" say nothing an auditor can check later).
pub fn check_reason(reason: Option<&str>, action: &str) -> Result<String, String> {
    let reason = reason.map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(error(format!(
            "{action} needs --reason TEXT: why you need this message (it goes to the audit log)"
        )));
    }
    if reason.chars().count() < REASON_MIN_CHARS || !reason.chars().any(char::is_alphabetic) {
        return Err(error(format!(
            "{action}: --reason {reason:?} says too little; give the why in words, at least \
             {REASON_MIN_CHARS} characters (e.g. \"melding helpdesk 1234, bijlage naar CERT\")"
        )));
    }
    Ok(reason.to_string())
}

impl Service {
    /// A service over `store`, writing to `audit`, releasing via `next_hop`.
    pub fn new(
        store: Store,
        audit: AuditLog,
        next_hop: NextHopSettings,
        limits: Limits,
    ) -> Service {
        let accounts = Accounts::new(audit.path().parent().unwrap_or(std::path::Path::new(".")));
        let service = Service {
            store,
            audit,
            next_hop,
            limits,
            traffic: None,
            accounts,
            approvals: std::sync::Mutex::new(approval::Approvals::new(
                ACCESS_REQUEST_VALID,
                ACCESS_APPROVAL_VALID,
            )),
            shared_access: None,
        };
        service.tell_audit_what_the_stores_hold();
        service
    }

    /// Keep the console's accounts in `accounts` instead of `users.json` beside the audit log (the shared
    /// database's, see [`Accounts::postgres`]).
    pub fn with_accounts(mut self, accounts: Accounts) -> Service {
        self.accounts = accounts;
        self
    }

    /// Also answer traffic requests from `traffic`.
    pub fn with_traffic(mut self, traffic: TrafficService) -> Service {
        self.traffic = Some(traffic);
        self.tell_audit_what_the_stores_hold();
        self
    }

    /// What the stores hold that implies an audit log existed ("the quarantine holds 3 messages"): with no
    /// log entries and no head, that means the log was deleted.
    fn stored_history(&self) -> Option<String> {
        let mut held = Vec::new();
        match self.store.list(UNIX_EPOCH) {
            Ok(entries) if entries.len() == 1 => held.push("the quarantine holds 1 message".into()),
            Ok(entries) if !entries.is_empty() => {
                held.push(format!("the quarantine holds {} messages", entries.len()))
            }
            Ok(_) => {}
            // Not evidence either way; the audit list says what it can.
            Err(e) => tracing::warn!(error = %e, "cannot count the quarantine for the audit check"),
        }
        // The embedded store only: this check runs in a constructor, and a shared store's inquiries belong
        // with a shared audit log (issue 17), which checks its own history.
        let embedded = self.traffic.as_ref().and_then(|t| match t.store() {
            crate::traffic::Traffic::Embedded(store) => Some(store),
            crate::traffic::Traffic::Postgres(_) => None,
        });
        match embedded.map(|store| store.inquiries()) {
            Some(Ok(inquiries)) if inquiries.len() == 1 => held.push("1 inquiry was opened".into()),
            Some(Ok(inquiries)) if !inquiries.is_empty() => {
                held.push(format!("{} inquiries were opened", inquiries.len()))
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot count the inquiries for the audit check")
            }
            _ => {}
        }
        (!held.is_empty()).then(|| held.join(" and "))
    }

    fn tell_audit_what_the_stores_hold(&self) {
        if let Err(e) = self.audit.expect_history(self.stored_history()) {
            tracing::error!(error = %e, "audit log state");
        }
    }

    /// At daemon start: record any damage found in the audit log as break entries and anchor its head
    /// ([`AuditLog::settle`]), as `uid` (the daemon).
    pub fn settle_audit(&self, uid: u32, now: SystemTime) -> Result<Settled, String> {
        self.audit.settle(now, uid).map_err(error)
    }

    /// Retention (WereldKidz 6.7: nothing kept longer than needed): delete entries older than
    /// `retention_days` before `now`, each written to the audit log as `purge` by `uid` (the daemon).
    pub async fn purge(
        &self,
        uid: u32,
        now: SystemTime,
        retention_days: u64,
    ) -> Result<Vec<String>, String> {
        let purged = self.store.purge(now, retention_days).await.map_err(error)?;
        let reason = format!("retention {retention_days} days");
        for id in &purged {
            self.audit
                .append(now, uid, "purge", id, &reason, "")
                .map_err(error)?;
        }
        Ok(purged)
    }

    /// Close the inquiries whose window has ended, audited as `uid` (the daemon's hourly run; see
    /// [`TrafficService::close_ended`]). Returns their ids.
    pub async fn close_ended_inquiries(
        &self,
        uid: u32,
        now: SystemTime,
    ) -> Result<Vec<u64>, String> {
        match &self.traffic {
            Some(t) => t.close_ended(&self.audit, uid, now).await,
            None => Ok(Vec::new()),
        }
    }

    /// Answer one request from local user `uid` at `now`.
    pub async fn handle(&self, uid: u32, request: Request, now: SystemTime) -> Response {
        self.handle_as(&Caller::local(uid), request, now).await
    }

    /// Answer one request from `caller` at `now`. The actions that need four eyes
    /// ([`Guarded`]) are not taken from a console user this way: see [`Service::use_access`].
    pub async fn handle_as(&self, caller: &Caller, request: Request, now: SystemTime) -> Response {
        let guarded = matches!(
            request,
            Request::Show { raw: true, .. } | Request::Export { .. } | Request::Release { .. }
        );
        if guarded && caller.web_user.is_some() && caller.approved_by.is_none() {
            return Response::Error {
                message: error("this action needs the approval of a second person (four eyes)"),
            };
        }
        match self.answer(caller, request, now).await {
            Ok(r) => r,
            Err(message) => Response::Error { message },
        }
    }

    /// Write an audit entry for `caller` ([`Audited::append`]).
    fn record(
        &self,
        caller: &Caller,
        now: SystemTime,
        action: &str,
        id: &str,
        reason: &str,
        detail: &str,
    ) -> Result<AuditEntry, audit::AuditError> {
        Audited {
            log: &self.audit,
            caller,
        }
        .append(now, caller.uid, action, id, reason, detail)
    }

    /// The console's accounts (read at login).
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Set how long content requests wait and approvals stay usable (`[web]` settings; also on reload).
    pub fn set_access_limits(&self, request_valid: Duration, approval_valid: Duration) {
        if let Ok(mut a) = self.approvals.lock() {
            a.set_limits(request_valid, approval_valid);
        }
    }

    fn approvals(&self) -> Result<std::sync::MutexGuard<'_, approval::Approvals>, String> {
        self.approvals
            .lock()
            .map_err(|_| error("the access requests are unavailable (lock poisoned)"))
    }

    /// Keep the four-eyes requests in the shared database (`[storage] backend = "postgres"`), so that a
    /// request made on one node can be approved and used on another.
    pub fn with_shared_access(mut self, pg: crate::storage::postgres::Pg) -> Service {
        self.shared_access = Some(approval::Shared::new(pg));
        self
    }

    /// One step on the access requests: in memory, or on the shared ones (see [`approval::Shared`]).
    async fn on_approvals<T>(
        &self,
        step: impl FnOnce(&mut approval::Approvals) -> T,
    ) -> Result<T, String> {
        match &self.shared_access {
            None => Ok(step(&mut *self.approvals()?)),
            Some(shared) => {
                let limits = self.approvals()?.limits();
                shared.with(limits, step).await.map_err(error)
            }
        }
    }

    /// Console user `caller` asks to `action` quarantined message `id`, because `reason` (checked as for
    /// the CLI). Audited as `access-request`. Returns the request.
    pub async fn request_access(
        &self,
        caller: &Caller,
        action: Guarded,
        id: &str,
        reason: &str,
        now: SystemTime,
    ) -> Result<AccessRequest, String> {
        let name = caller
            .web_user
            .as_deref()
            .ok_or_else(|| error("access requests are for console users"))?;
        let reason = check_reason(Some(reason), action.action())?;
        let (needed, ok) = match action {
            Guarded::InquiryOpen { .. } => ("auditor", Role::Auditor),
            _ => ("ict", Role::Ict),
        };
        if self.accounts.role_of(name).map_err(error)? != Some(ok) {
            return Err(error(format!(
                "{name} may not ask for {} (role {needed} needed)",
                action.action()
            )));
        }
        if !matches!(action, Guarded::InquiryOpen { .. }) {
            self.store.get(id).map_err(error)?;
        }
        let detail = format!("wants {}", action.action());
        let request = self
            .on_approvals(|a| a.request(name, action, id, &reason, unix_secs(now)))
            .await?;
        self.record(
            caller,
            now,
            "access-request",
            id,
            &reason,
            &format!("{detail} (request {})", request.number),
        )
        .map_err(error)?;
        Ok(request)
    }

    /// Console user `caller` (never the requester) approves request `number`: content access needs role
    /// `ict` or `privacy`, an inquiry the privacy officer (`privacy`), who thereby opens it (as the
    /// requester, approved by `caller`). Audited as `access-approve` with both names.
    pub async fn approve_access(
        &self,
        caller: &Caller,
        number: u64,
        now: SystemTime,
    ) -> Result<AccessRequest, String> {
        let name = self.approver(caller)?;
        let pending = self
            .on_approvals(|a| a.get(number, unix_secs(now)))
            .await?
            .map_err(error)?;
        if let Guarded::InquiryOpen { days } = pending.action {
            if self.accounts.role_of(&name).map_err(error)? != Some(Role::Privacy) {
                return Err(error(format!(
                    "{name} may not approve an inquiry (role privacy needed: SOML/ProCon 8.3)"
                )));
            }
            let approved = self.approve_recorded(caller, &name, number, now).await?;
            let requester = Caller::web(caller.uid, &approved.requester);
            let used = self
                .on_approvals(|a| a.take(number, &approved.requester, unix_secs(now)))
                .await?
                .map_err(error)?;
            let opener = Caller {
                approved_by: Some((used.1, number)),
                ..requester
            };
            let open = Request::Traffic(TrafficRequest::InquiryOpen {
                person: approved.entry.clone(),
                reason: approved.reason.clone(),
                days,
                by: Some(approved.requester.clone()),
                from: None,
            });
            return match self.handle_as(&opener, open, now).await {
                Response::Error { message } => Err(message),
                _ => Ok(used.0),
            };
        }
        self.approve_recorded(caller, &name, number, now).await
    }

    /// Approve request `number` as `name` and write the `access-approve` entry.
    async fn approve_recorded(
        &self,
        caller: &Caller,
        name: &str,
        number: u64,
        now: SystemTime,
    ) -> Result<AccessRequest, String> {
        let approved = self
            .on_approvals(|a| a.approve(number, name, unix_secs(now)))
            .await?
            .map_err(error)?;
        self.record(
            caller,
            now,
            "access-approve",
            &approved.entry,
            &approved.reason,
            &format!(
                "approves {} for {} (request {number})",
                approved.action.action(),
                approved.requester
            ),
        )
        .map_err(error)?;
        Ok(approved)
    }

    /// Console user `caller` refuses request `number` (or the requester withdraws it). Audited.
    pub async fn refuse_access(
        &self,
        caller: &Caller,
        number: u64,
        now: SystemTime,
    ) -> Result<AccessRequest, String> {
        let name = caller
            .web_user
            .clone()
            .ok_or_else(|| error("access requests are for console users"))?;
        let current = self
            .on_approvals(|a| a.get(number, unix_secs(now)))
            .await?
            .map_err(error)?;
        if current.requester != name {
            self.approver(caller)?;
        }
        let refused = self
            .on_approvals(|a| a.refuse(number, &name, unix_secs(now)))
            .await?
            .map_err(error)?;
        self.record(
            caller,
            now,
            "access-refuse",
            &refused.entry,
            &refused.reason,
            &format!(
                "refuses {} for {} (request {number})",
                refused.action.action(),
                refused.requester
            ),
        )
        .map_err(error)?;
        Ok(refused)
    }

    /// The name of `caller` when they may approve content access: a console account with role `ict` or
    /// `privacy` that is still enabled.
    fn approver(&self, caller: &Caller) -> Result<String, String> {
        let name = caller
            .web_user
            .clone()
            .ok_or_else(|| error("access requests are for console users"))?;
        match self.accounts.role_of(&name).map_err(error)? {
            Some(Role::Ict | Role::Privacy) => Ok(name),
            _ => Err(error(format!(
                "{name} may not approve access to content (role ict or privacy needed)"
            ))),
        }
    }

    /// The requester uses the approval of request `number`: the action runs once, audited with both names.
    pub async fn use_access(&self, caller: &Caller, number: u64, now: SystemTime) -> Response {
        let Some(name) = caller.web_user.clone() else {
            return Response::Error {
                message: error("access requests are for console users"),
            };
        };
        let taken = self
            .on_approvals(|a| a.take(number, &name, unix_secs(now)))
            .await
            .and_then(|t| t.map_err(error));
        let (request, by) = match taken {
            Ok(t) => t,
            Err(message) => return Response::Error { message },
        };
        let approved = Caller {
            approved_by: Some((by, number)),
            ..caller.clone()
        };
        let (id, reason) = (request.entry, request.reason);
        let request = match request.action {
            Guarded::ShowRaw => Request::Show {
                id,
                raw: true,
                reason: Some(reason),
            },
            Guarded::Export => Request::Export {
                id,
                reason: Some(reason),
            },
            Guarded::Release { to } => Request::Release { id, reason, to },
            Guarded::InquiryOpen { .. } => {
                return Response::Error {
                    message: error("an approved inquiry is opened at its approval"),
                }
            }
        };
        self.handle_as(&approved, request, now).await
    }

    /// The kept access requests, newest first.
    pub async fn access_requests(&self, now: SystemTime) -> Vec<AccessRequest> {
        self.on_approvals(|a| a.list(unix_secs(now)))
            .await
            .unwrap_or_default()
    }

    /// A console sign-in event, audited as `uid` (the daemon): `login`, `login-failed`, `logout` or
    /// `lockout`, with `detail` (how, from where). The entry names the account only when it exists (a
    /// mistyped name may be a password); a password never reaches this function.
    pub fn record_web_login(
        &self,
        uid: u32,
        action: &str,
        name: &str,
        detail: &str,
        now: SystemTime,
    ) -> Result<(), String> {
        let known = self
            .accounts
            .list()
            .is_ok_and(|list| list.iter().any(|a| a.name == name));
        let (caller, id, detail) = if known {
            (Caller::web(uid, name), name, detail.to_string())
        } else {
            (Caller::local(uid), "", format!("unknown account; {detail}"))
        };
        self.record(&caller, now, action, id, "", &detail)
            .map(drop)
            .map_err(error)
    }

    /// A user request ([`UserRequest`]); each change is audited (`user-add`, `user-passwd`, `user-disable`).
    fn answer_user(
        &self,
        caller: &Caller,
        request: UserRequest,
        now: SystemTime,
    ) -> Result<Response, String> {
        let (action, name, detail) = match request {
            UserRequest::List => {
                return Ok(Response::Users {
                    users: self.accounts.list().map_err(error)?,
                })
            }
            UserRequest::Add {
                name,
                role,
                password,
            } => {
                self.accounts
                    .add(&name, role, &password, now)
                    .map_err(error)?;
                ("user-add", name, format!("role {}", role.as_str()))
            }
            UserRequest::Passwd { name, password } => {
                self.accounts
                    .set_password(&name, &password)
                    .map_err(error)?;
                ("user-passwd", name, String::new())
            }
            UserRequest::Disable { name } => {
                self.accounts.disable(&name).map_err(error)?;
                ("user-disable", name, String::new())
            }
        };
        self.record(caller, now, action, &name, "", &detail)
            .map_err(|e| error(format!("{name} changed, but {e}")))?;
        Ok(Response::UserChanged { name })
    }

    async fn answer(
        &self,
        caller: &Caller,
        request: Request,
        now: SystemTime,
    ) -> Result<Response, String> {
        match request {
            Request::List { since } => {
                let since = UNIX_EPOCH + Duration::from_secs(since.unwrap_or(0));
                Ok(Response::Entries {
                    entries: self.store.list(since).map_err(error)?,
                })
            }
            Request::Show { id, raw, reason } => {
                let reason = if raw {
                    Some(check_reason(reason.as_deref(), "show --raw")?)
                } else {
                    None
                };
                let (entry, bytes) = self.get_raw(&id).await?;
                let raw_base64 = if let Some(reason) = reason {
                    self.record(caller, now, "show-raw", &id, &reason, "")
                        .map_err(error)?;
                    Some(base64::engine::general_purpose::STANDARD.encode(&bytes))
                } else {
                    None
                };
                let (entry, parts, message_detections) = {
                    let limits = self.limits.clone();
                    tokio::task::spawn_blocking(move || {
                        let (parts, whole) = structure(&entry, &bytes, &limits);
                        (entry, parts, whole)
                    })
                    .await
                    .map_err(error)?
                };
                Ok(Response::Shown {
                    entry,
                    parts,
                    message_detections,
                    raw_base64,
                })
            }
            Request::Export { id, reason } => {
                let reason = check_reason(reason.as_deref(), "export")?;
                let (_, bytes) = self.get_raw(&id).await?;
                self.record(caller, now, "export", &id, &reason, "")
                    .map_err(error)?;
                Ok(Response::Exported {
                    id,
                    raw_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
                })
            }
            Request::Delete { id, reason } => {
                let reason = check_reason(Some(&reason), "delete")?;
                self.store.get(&id).map_err(error)?;
                self.store.delete(&id).await.map_err(error)?;
                self.record(caller, now, "delete", &id, &reason, "")
                    .map_err(|e| error(format!("{id} deleted, but {e}")))?;
                Ok(Response::Deleted { id })
            }
            Request::Release { id, reason, to } => {
                let reason = check_reason(Some(&reason), "release")?;
                let (entry, bytes) = self.get_raw(&id).await?;
                let recipients = match to {
                    Some(to) => {
                        let to = to.trim().trim_matches(|c| c == '<' || c == '>').to_string();
                        if !to.contains('@') || to.contains(char::is_whitespace) {
                            return Err(error(format!("--to {to:?} is not an address")));
                        }
                        vec![to]
                    }
                    None => entry.rcpt_to.clone(),
                };
                self.release(&entry, &bytes, &recipients).await?;
                self.store
                    .set_status(&id, Status::Released)
                    .await
                    .map_err(|e| error(format!("{id} released, but {e}")))?;
                self.record(
                    caller,
                    now,
                    "release",
                    &id,
                    &reason,
                    &format!("to={}", recipients.join(",")),
                )
                .map_err(|e| error(format!("{id} released, but {e}")))?;
                Ok(Response::Released { id, to: recipients })
            }
            Request::Traffic(request) => match &self.traffic {
                Some(t) => t
                    .answer(
                        &Audited {
                            log: &self.audit,
                            caller,
                        },
                        caller.uid,
                        request,
                        now,
                    )
                    .await
                    .map(Response::Traffic),
                None => Err(error("the traffic store is not open")),
            },
            Request::User(request) => self.answer_user(caller, request, now),
            Request::AuditList => {
                let report = self
                    .audit
                    .report(self.stored_history().as_deref())
                    .map_err(error)?;
                Ok(Response::Audit {
                    entries: report.entries,
                    verification: report.verification,
                    hashes: report.hashes,
                })
            }
        }
    }

    /// Read an entry and its bytes on the blocking pool (a message can be tens of MiB).
    async fn get_raw(&self, id: &str) -> Result<(Entry, Vec<u8>), String> {
        let store = self.store.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || store.get_raw(&id))
            .await
            .map_err(error)?
            .map_err(error)
    }

    /// Hand the original to the next hop; any refusal is an error and nothing changes.
    async fn release(&self, entry: &Entry, bytes: &[u8], to: &[String]) -> Result<(), String> {
        let envelope = Envelope {
            mail_from: entry.mail_from.clone(),
            mail_params: entry.mail_params.clone(),
            rcpt_to: to
                .iter()
                .map(|a| Recipient {
                    address: a.clone(),
                    params: Vec::new(),
                })
                .collect(),
            xforward: Vec::new(),
        };
        let hop = NextHop::new(NextHopSettings {
            pool_size: 0,
            ..self.next_hop.clone()
        });
        let down = |what: String| {
            error(format!(
                "next hop {} {what}; {} was not released and is unchanged",
                self.next_hop.address, entry.id
            ))
        };
        // The same client and rules as relayed mail: the content only when the whole envelope is accepted.
        let delivery = hop
            .send(&envelope, bytes)
            .await
            .map_err(|e| down(format!("is unavailable or failed ({e})")))?;
        match (delivery.refusal(), &delivery.data_reply) {
            (None, Some(_)) => Ok(()),
            (Some(reply), _) if delivery.envelope_refused() => {
                Err(down(format!("refused the envelope ({})", reply.code)))
            }
            (Some(reply), _) => Err(down(format!("refused the message ({})", reply.code))),
            (None, None) => Err(down("took no content".into())),
        }
    }
}

fn unix_secs(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The MIME structure of a stored message, with the detections placed on their parts.
pub fn structure(entry: &Entry, raw: &[u8], limits: &Limits) -> (Vec<PartInfo>, Vec<String>) {
    let analysis = message::analyse(raw, limits);
    let mut parts: Vec<PartInfo> = Vec::new();
    for t in &analysis.texts {
        let (part, kind, ct) = match t.origin {
            TextOrigin::Body { part } => (part, "text", "text/plain"),
            TextOrigin::Html { part } => (part, "html", "text/html"),
            _ => continue,
        };
        parts.push(PartInfo {
            part,
            kind: kind.into(),
            content_type: ct.into(),
            name: None,
            size: t.text.len(),
            members: 0,
            detections: Vec::new(),
        });
    }
    for a in &analysis.attachments {
        parts.push(PartInfo {
            part: a.part,
            kind: "attachment".into(),
            content_type: a.content_type.clone(),
            name: a.name.clone(),
            size: a.size,
            members: a.members.len(),
            detections: Vec::new(),
        });
    }
    parts.sort_by_key(|p| p.part);
    let mut whole = Vec::new();
    for d in &entry.detections {
        let located = d
            .location
            .strip_prefix("part ")
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.trim().parse::<usize>().ok());
        let label = format!("{} ({})", d.name, d.location);
        match located.and_then(|n| parts.iter_mut().find(|p| p.part == n)) {
            Some(p) => p.detections.push(label),
            None => whole.push(label),
        }
    }
    (parts, whole)
}

#[cfg(test)]
mod tests;
