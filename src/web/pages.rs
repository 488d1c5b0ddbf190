//! The console's handlers: each checks the session and role, calls the [`crate::admin::Service`], and
//! renders a template. No review, traffic or audit logic of its own.

use std::sync::Arc;
use std::time::SystemTime;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine as _;
use serde::Deserialize;

use super::session::{self, Session};
use super::{authorise, check_csrf, cookie, cookies, lang_of, ClientIp, Page, Web};
use super::{LANG_COOKIE, LOGIN_COOKIE, SESSION_COOKIE};
use crate::admin::accounts::LoginRefused;
use crate::admin::{
    AccessState, AuditEntry, Guarded, PartInfo, Request, Response as Answer, Role, TrafficRequest,
    TrafficResponse,
};
use crate::quarantine::{Entry, Status};
use crate::traffic::summary::Group;

/// Entries per page of the quarantine list.
const PER_PAGE: usize = 50;

/// Render `template`, or a plain 500 when it cannot be (never half a page).
pub(super) fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    page: &'a Page,
    heading: &'static str,
    text: String,
    class: &'static str,
    back: &'a str,
}

/// A page with one message (an error, or what was done).
pub(super) fn message(
    page: &Page,
    status: StatusCode,
    heading: &str,
    text: String,
    back: &str,
) -> Response {
    render(
        status,
        &MessagePage {
            page,
            heading: page.t(heading),
            text,
            class: if status.is_success() { "ok" } else { "error" },
            back,
        },
    )
}

pub(super) async fn not_found(headers: HeaderMap) -> Response {
    let page = anonymous(&headers, String::new());
    message(
        &page,
        StatusCode::NOT_FOUND,
        "err.title",
        page.t("err.not_found").into(),
        "/",
    )
}

fn anonymous(headers: &HeaderMap, csrf: String) -> Page {
    Page {
        lang: lang_of(headers),
        user: None,
        role: None,
        csrf,
    }
}

/// Where each role starts.
pub(super) async fn home(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let (session, _) = match authorise(
        &web,
        &headers,
        &[Role::Ict, Role::Privacy, Role::Auditor],
        SystemTime::now(),
    ) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    Redirect::to(match session.role {
        Role::Ict => "/quarantine",
        Role::Privacy => "/access",
        Role::Auditor => "/traffic",
    })
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct LangQuery {
    to: String,
}

/// Switch the language (a cookie; changes nothing else).
pub(super) async fn language(State(web): State<Arc<Web>>, Query(q): Query<LangQuery>) -> Response {
    let code = super::Lang::from_code(&q.to).code();
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie(&web, LANG_COOKIE, code, Some(365 * 86_400)),
    );
    r
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    page: &'a Page,
    problem: Option<&'static str>,
}

/// The login form, with a fresh CSRF token in a cookie and the form (double submit).
fn login_page(
    web: &Web,
    headers: &HeaderMap,
    status: StatusCode,
    problem: Option<&'static str>,
) -> Response {
    let Some(token) = session::token() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no randomness available").into_response();
    };
    let page = anonymous(headers, token.clone());
    let mut r = render(
        status,
        &LoginPage {
            page: &page,
            problem,
        },
    );
    r.headers_mut()
        .append(header::SET_COOKIE, cookie(web, LOGIN_COOKIE, &token, None));
    r
}

pub(super) async fn login_form(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    login_page(&web, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    csrf: String,
    username: String,
    password: String,
}

pub(super) async fn login(
    State(web): State<Arc<Web>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = SystemTime::now();
    let expected = cookies(&headers)
        .get(LOGIN_COOKIE)
        .cloned()
        .unwrap_or_default();
    if expected.is_empty() || !session::same_token(&expected, &form.csrf) {
        return login_page(&web, &headers, StatusCode::FORBIDDEN, Some("login.expired"));
    }
    let name = form.username.trim().to_string();
    let attempt = session::Attempt { user: &name, ip };
    let limits = session::Limits {
        max: web.settings.max_failed_logins,
        lockout: web.settings.lockout(),
    };
    match web.sessions.login_allowed(attempt, limits, now) {
        Ok(true) => {}
        Ok(false) => {
            // Audited once, when the lockout began (below); not each try during it.
            tracing::warn!(client = %ip, "console login refused: locked out after failed attempts");
            return login_page(
                &web,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                Some("login.locked"),
            );
        }
        // Failures cannot be counted: nobody is let in (an attacker must not get uncounted tries).
        Err(e) => return super::unavailable(lang_of(&headers), &e),
    }
    let accounts = web.service.accounts().clone();
    let password = form.password;
    let checked = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || accounts.verify(&name, &password)).await
    };
    let account = match checked {
        Ok(Ok(account)) => account,
        Ok(Err(LoginRefused::Unavailable)) => {
            return super::unavailable(lang_of(&headers), &"the accounts cannot be read")
        }
        _ => {
            let locked = match web.sessions.login_failed(attempt, limits, now) {
                Ok(locked) => locked,
                Err(e) => return super::unavailable(lang_of(&headers), &e),
            };
            tracing::info!(client = %ip, "console login failed");
            let detail = format!("password, from {ip}");
            web.audit_login("login-failed", &name, &detail, now);
            if locked {
                let detail = format!(
                    "locked out for {} minutes after failed logins, from {ip}",
                    web.settings.lockout_minutes
                );
                web.audit_login("lockout", &name, &detail, now);
            }
            return login_page(
                &web,
                &headers,
                StatusCode::UNAUTHORIZED,
                Some("login.failed"),
            );
        }
    };
    let opened = web.sessions.login_succeeded(&account.name).and_then(|()| {
        web.sessions
            .open(&account.name, account.role, web.settings.idle(), now)
    });
    let key = match opened {
        Ok(key) => key,
        Err(e) => return super::unavailable(lang_of(&headers), &e),
    };
    tracing::info!(client = %ip, role = account.role.as_str(), "console login");
    web.audit_login("login", &account.name, &format!("password, from {ip}"), now);
    let mut r = Redirect::to("/").into_response();
    let h = r.headers_mut();
    h.append(header::SET_COOKIE, cookie(&web, SESSION_COOKIE, &key, None));
    h.append(header::SET_COOKIE, cookie(&web, LOGIN_COOKIE, "", Some(0)));
    r
}

/// A form with nothing but its CSRF token (logout, four-eyes steps).
#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

pub(super) async fn logout(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let all = [Role::Ict, Role::Privacy, Role::Auditor];
    let now = SystemTime::now();
    let session = match authorise_form(&web, &headers, &all, &form.csrf, now) {
        Ok((session, _)) => session,
        Err(r) => return *r,
    };
    if let Some(key) = cookies(&headers).get(SESSION_COOKIE) {
        // Ended on every node, or not at all: then the person is told, and stays logged in.
        if let Err(e) = web.sessions.close(key) {
            return super::unavailable(lang_of(&headers), &e);
        }
    }
    web.audit_login("logout", &session.user, "", now);
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie(&web, SESSION_COOKIE, "", Some(0)),
    );
    r
}

// ------------------------------------------------------------------------------------------------------
// Quarantine (role ict)
// ------------------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub(super) struct Filter {
    #[serde(default)]
    from: String,
    #[serde(default)]
    detection: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: Option<usize>,
}

struct Row {
    id: String,
    time: String,
    detection: String,
    domain: String,
    size: usize,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "quarantine.html")]
struct QuarantinePage<'a> {
    page: &'a Page,
    filter: &'a Filter,
    rows: Vec<Row>,
    page_number: usize,
    pages: usize,
    prev: Option<String>,
    next: Option<String>,
}

/// The sender's domain only (the local part names a person; the list does not need it).
fn sender_domain(entry: &Entry) -> String {
    entry
        .mail_from
        .as_deref()
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.to_lowercase())
        .unwrap_or_else(|| "<>".into())
}

fn status_key(status: Status) -> &'static str {
    match status {
        Status::Held => "q.held",
        Status::Released => "q.released",
    }
}

fn detections(entry: &Entry) -> String {
    entry
        .detections
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A query string of the filter with `page` set (values are percent-encoded).
fn filter_link(filter: &Filter, page: usize) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    format!(
        "/quarantine?from={}&detection={}&domain={}&status={}&page={page}",
        enc(&filter.from),
        enc(&filter.detection),
        enc(&filter.domain),
        enc(&filter.status)
    )
}

pub(super) async fn quarantine(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Response {
    let now = SystemTime::now();
    let (session, page) = match authorise(&web, &headers, &[Role::Ict], now) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let since = match filter.from.trim() {
        "" => None,
        day => match crate::traffic::summary::parse_date(day) {
            Ok(t) => Some(t),
            Err(e) => {
                return message(
                    &page,
                    StatusCode::BAD_REQUEST,
                    "err.title",
                    e.to_string(),
                    "/quarantine",
                )
            }
        },
    };
    let entries = match web
        .service
        .handle_as(&web.caller(&session), Request::List { since }, now)
        .await
    {
        Answer::Entries { entries } => entries,
        other => return service_error(&page, other, "/"),
    };
    let detection = filter.detection.trim().to_lowercase();
    let domain = filter.domain.trim().to_lowercase();
    let mut rows: Vec<Row> = entries
        .iter()
        .rev()
        .filter(|e| detection.is_empty() || detections(e).to_lowercase().contains(&detection))
        .filter(|e| domain.is_empty() || sender_domain(e).contains(&domain))
        .filter(|e| {
            filter.status.is_empty() || status_key(e.status).ends_with(filter.status.as_str())
        })
        .map(|e| Row {
            id: e.id.clone(),
            time: web.local_time(e.received),
            detection: detections(e),
            domain: sender_domain(e),
            size: e.size,
            status: status_key(e.status),
        })
        .collect();
    let pages = rows.len().div_ceil(PER_PAGE).max(1);
    let number = filter.page.unwrap_or(1).clamp(1, pages);
    let rows: Vec<Row> = rows
        .drain(..)
        .skip((number - 1) * PER_PAGE)
        .take(PER_PAGE)
        .collect();
    render(
        StatusCode::OK,
        &QuarantinePage {
            page: &page,
            filter: &filter,
            rows,
            page_number: number,
            pages,
            prev: (number > 1).then(|| filter_link(&filter, number - 1)),
            next: (number < pages).then(|| filter_link(&filter, number + 1)),
        },
    )
}

/// The answer for an error from the service (or an answer of the wrong kind).
pub(super) fn service_error(page: &Page, answer: Answer, back: &str) -> Response {
    match answer {
        Answer::Error { message: text } => {
            let status = if text.contains("no quarantine entry") || text.contains("not found") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            message(page, status, "err.title", text, back)
        }
        _ => message(
            page,
            StatusCode::INTERNAL_SERVER_ERROR,
            "err.title",
            "unexpected answer from the service".into(),
            back,
        ),
    }
}

/// A quarantine id from the path, or a 404 page.
fn entry_id(page: &Page, id: &str) -> Result<String, Box<Response>> {
    if crate::quarantine::valid_id(id) {
        Ok(id.to_string())
    } else {
        Err(Box::new(message(
            page,
            StatusCode::NOT_FOUND,
            "err.title",
            page.t("err.not_found").into(),
            "/quarantine",
        )))
    }
}

#[derive(Template)]
#[template(path = "entry.html")]
struct EntryPage<'a> {
    page: &'a Page,
    id: String,
    time: String,
    domain: String,
    recipients: String,
    size: usize,
    status: &'static str,
    whole: String,
    parts: Vec<PartInfo>,
}

pub(super) async fn entry(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let now = SystemTime::now();
    let (session, page) = match authorise(&web, &headers, &[Role::Ict], now) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let id = match entry_id(&page, &id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let request = Request::Show {
        id,
        raw: false,
        reason: None,
    };
    match web
        .service
        .handle_as(&web.caller(&session), request, now)
        .await
    {
        Answer::Shown {
            entry,
            parts,
            message_detections,
            ..
        } => render(
            StatusCode::OK,
            &EntryPage {
                page: &page,
                time: web.local_time(entry.received),
                domain: sender_domain(&entry),
                recipients: entry.rcpt_to.join(", "),
                size: entry.size,
                status: status_key(entry.status),
                whole: message_detections.join(", "),
                id: entry.id,
                parts,
            },
        ),
        other => service_error(&page, other, "/quarantine"),
    }
}

/// A form posted on quarantine entry `id` by an `ict` user: the session, the page frame and the id, once
/// the role, the CSRF token and the id are checked.
fn entry_form(
    web: &Web,
    headers: &HeaderMap,
    token: &str,
    id: &str,
    now: SystemTime,
) -> Result<(Session, Page, String), Box<Response>> {
    let (session, page) = authorise_form(web, headers, &[Role::Ict], token, now)?;
    let id = entry_id(&page, id)?;
    Ok((session, page, id))
}

/// A posted form: the session and page frame once the role and the CSRF token are checked.
pub(super) fn authorise_form(
    web: &Web,
    headers: &HeaderMap,
    roles: &[Role],
    token: &str,
    now: SystemTime,
) -> Result<(Session, Page), Box<Response>> {
    let (session, page) = authorise(web, headers, roles, now)?;
    check_csrf(&session, &page, token)?;
    Ok((session, page))
}

#[derive(Deserialize)]
pub(super) struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn request_access(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<RequestForm>,
) -> Response {
    let now = SystemTime::now();
    let (session, page, id) = match entry_form(&web, &headers, &form.csrf, &id, now) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let action = match form.action.as_str() {
        "show-raw" => Guarded::ShowRaw,
        "export" => Guarded::Export,
        "release" => Guarded::Release { to: None },
        _ => {
            return message(
                &page,
                StatusCode::BAD_REQUEST,
                "err.title",
                format!("unknown action {:?}", form.action),
                "/quarantine",
            )
        }
    };
    let back = format!("/quarantine/{id}");
    match web
        .service
        .request_access(&web.caller(&session), action, &id, &form.reason, now)
        .await
    {
        Ok(_) => Redirect::to("/access").into_response(),
        Err(text) => service_error(&page, Answer::Error { message: text }, &back),
    }
}

#[derive(Deserialize)]
pub(super) struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn delete(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Response {
    let now = SystemTime::now();
    let (session, page, id) = match entry_form(&web, &headers, &form.csrf, &id, now) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let back = format!("/quarantine/{id}");
    let request = Request::Delete {
        id,
        reason: form.reason,
    };
    match web
        .service
        .handle_as(&web.caller(&session), request, now)
        .await
    {
        Answer::Deleted { id } => message(
            &page,
            StatusCode::OK,
            "q.delete",
            format!("{} ({id})", page.t("q.deleted")),
            "/quarantine",
        ),
        other => service_error(&page, other, &back),
    }
}

// ------------------------------------------------------------------------------------------------------
// Four-eyes access requests (roles ict and privacy)
// ------------------------------------------------------------------------------------------------------

struct AccessRow {
    number: u64,
    entry: String,
    action: &'static str,
    requester: String,
    reason: String,
    state: &'static str,
    by: String,
    can_approve: bool,
    can_refuse: bool,
    can_use: bool,
}

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage<'a> {
    page: &'a Page,
    rows: Vec<AccessRow>,
}

pub(super) async fn access(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let now = SystemTime::now();
    let (session, page) = match authorise(&web, &headers, &[Role::Ict, Role::Privacy], now) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let rows = web
        .service
        .access_requests(now)
        .await
        .into_iter()
        .filter(|r| !matches!(r.action, Guarded::InquiryOpen { .. }))
        .map(|r| {
            let mine = r.requester == session.user;
            let (state, by) = match &r.state {
                AccessState::Pending => ("st.pending", String::new()),
                AccessState::Approved { by, .. } => ("st.approved", by.clone()),
                AccessState::Refused { by } => ("st.refused", by.clone()),
                AccessState::Used { approved_by } => ("st.used", approved_by.clone()),
                AccessState::Expired => ("st.expired", String::new()),
            };
            let pending = matches!(r.state, AccessState::Pending);
            let approved = matches!(r.state, AccessState::Approved { .. });
            AccessRow {
                number: r.number,
                action: match r.action {
                    Guarded::ShowRaw => "a.show-raw",
                    Guarded::Export => "a.export",
                    Guarded::Release { .. } => "a.release",
                    Guarded::InquiryOpen { .. } => "a.inquiry",
                },
                entry: r.entry,
                requester: r.requester,
                reason: r.reason,
                state,
                by,
                // Offered to everyone who may approve; the service refuses the requester (four eyes).
                can_approve: pending,
                can_refuse: pending || approved,
                can_use: approved && mine,
            }
        })
        .collect();
    render(StatusCode::OK, &AccessPage { page: &page, rows })
}

#[derive(Template)]
#[template(path = "raw.html")]
struct RawPage<'a> {
    page: &'a Page,
    id: String,
    parts: Vec<PartInfo>,
    raw: String,
}

pub(super) async fn access_step(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((number, step)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let now = SystemTime::now();
    let roles = [Role::Ict, Role::Privacy];
    let (session, page) = match authorise_form(&web, &headers, &roles, &form.csrf, now) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let Ok(number) = number.parse::<u64>() else {
        return not_found(headers).await;
    };
    let caller = web.caller(&session);
    let refused = |text: String| message(&page, StatusCode::CONFLICT, "err.title", text, "/access");
    match step.as_str() {
        "approve" => match web.service.approve_access(&caller, number, now).await {
            Ok(r) if matches!(r.action, Guarded::InquiryOpen { .. }) => {
                Redirect::to("/inquiries").into_response()
            }
            Ok(_) => Redirect::to("/access").into_response(),
            Err(text) => refused(text),
        },
        "refuse" => match web.service.refuse_access(&caller, number, now).await {
            Ok(r) if matches!(r.action, Guarded::InquiryOpen { .. }) => {
                Redirect::to("/inquiries").into_response()
            }
            Ok(_) => Redirect::to("/access").into_response(),
            Err(text) => refused(text),
        },
        "use" => use_access(&web, &session, &page, number, now).await,
        _ => not_found(headers).await,
    }
}

/// Carry out an approved request: show the content, download it, or report the release.
async fn use_access(
    web: &Web,
    session: &Session,
    page: &Page,
    number: u64,
    now: SystemTime,
) -> Response {
    let b64 = base64::engine::general_purpose::STANDARD;
    match web
        .service
        .use_access(&web.caller(session), number, now)
        .await
    {
        Answer::Shown {
            entry,
            parts,
            raw_base64: Some(raw),
            ..
        } => {
            let bytes = b64.decode(raw).unwrap_or_default();
            render(
                StatusCode::OK,
                &RawPage {
                    page,
                    id: entry.id,
                    parts,
                    raw: String::from_utf8_lossy(&bytes).into_owned(),
                },
            )
        }
        Answer::Exported { id, raw_base64 } => {
            let bytes = b64.decode(raw_base64).unwrap_or_default();
            let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{id}.eml\""))
                .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    ),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response()
        }
        Answer::Released { id, to } => message(
            page,
            StatusCode::OK,
            "a.release",
            format!("{id}: {} {}", page.t("rel.done"), to.join(", ")),
            "/quarantine",
        ),
        Answer::Error { message: text } => {
            message(page, StatusCode::CONFLICT, "err.title", text, "/access")
        }
        other => service_error(page, other, "/access"),
    }
}

// ------------------------------------------------------------------------------------------------------
// Audit trail (privacy), status (ict, privacy)
// ------------------------------------------------------------------------------------------------------

struct AuditRow {
    number: usize,
    time: String,
    uid: u32,
    action: String,
    id: String,
    reason: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    page: &'a Page,
    filter: &'a AuditFilter,
    intact: bool,
    problems: Vec<String>,
    rows: Vec<AuditRow>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct AuditFilter {
    /// A console account (its name in the entry's detail) or a uid.
    #[serde(default)]
    person: String,
    #[serde(default)]
    action: String,
    /// YYYY-MM-DD (UTC), entries on or after.
    #[serde(default)]
    from: String,
}

impl AuditFilter {
    fn keeps(&self, e: &AuditEntry, since: u64) -> bool {
        let person = self.person.trim();
        let named = |p: &str| {
            e.uid.to_string() == p
                || e.detail.starts_with(&format!("web user {p}"))
                || e.detail.contains(&format!("approved by {p} "))
                || (e.action.starts_with("user-") && e.id == p)
        };
        (person.is_empty() || named(person))
            && (self.action.trim().is_empty() || e.action == self.action.trim())
            && e.time >= since
    }
}

/// The verified audit log, filtered; or the page to show instead.
async fn audit_entries(
    web: &Web,
    headers: &HeaderMap,
    filter: &AuditFilter,
) -> Result<(Page, Vec<(usize, AuditEntry)>, crate::admin::Verification), Box<Response>> {
    let now = SystemTime::now();
    let (session, page) = authorise(web, headers, &[Role::Privacy], now)?;
    let since = match filter.from.trim() {
        "" => 0,
        day => crate::traffic::summary::parse_date(day).map_err(|e| {
            Box::new(message(
                &page,
                StatusCode::BAD_REQUEST,
                "err.title",
                e.to_string(),
                "/audit",
            ))
        })?,
    };
    match web
        .service
        .handle_as(&web.caller(&session), Request::AuditList, now)
        .await
    {
        Answer::Audit {
            entries,
            verification,
            ..
        } => {
            let kept = entries
                .into_iter()
                .enumerate()
                .map(|(i, e)| (i + 1, e))
                .filter(|(_, e)| filter.keeps(e, since))
                .collect();
            Ok((page, kept, verification))
        }
        other => Err(Box::new(service_error(&page, other, "/"))),
    }
}

pub(super) async fn audit(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(filter): Query<AuditFilter>,
) -> Response {
    let (page, entries, verification) = match audit_entries(&web, &headers, &filter).await {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let rows = entries
        .into_iter()
        .rev()
        .map(|(number, e)| AuditRow {
            number,
            time: web.local_time(e.time),
            uid: e.uid,
            action: e.action,
            id: e.id,
            reason: e.reason,
            detail: e.detail,
        })
        .collect();
    render(
        StatusCode::OK,
        &AuditPage {
            page: &page,
            intact: verification.intact,
            problems: verification.problems,
            filter: &filter,
            rows,
        },
    )
}

/// The filtered audit log as CSV (Dutch Excel: `;`, UTF-8 with BOM), with the chain's state first.
pub(super) async fn audit_csv(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(filter): Query<AuditFilter>,
) -> Response {
    use crate::traffic::summary::csv_field;
    let (_, entries, verification) = match audit_entries(&web, &headers, &filter).await {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let mut out = String::from("\u{feff}");
    out.push_str(&csv_field(&if verification.intact {
        "# keten intact / chain intact".to_string()
    } else {
        format!(
            "# KETEN GEBROKEN / CHAIN BROKEN: {}",
            verification.problems.join(" | ")
        )
    }));
    out.push_str("\r\nnumber;time;uid;action;id;reason;detail\r\n");
    for (number, e) in entries {
        let fields = [
            number.to_string(),
            web.local_time(e.time),
            e.uid.to_string(),
            e.action,
            e.id,
            e.reason,
            e.detail,
        ];
        let fields: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(";"));
        out.push_str("\r\n");
    }
    csv_download(out, "auditlog.csv")
}

/// A CSV answer that downloads as `name`.
fn csv_download(text: String, name: &str) -> Response {
    download(text.into_bytes(), "text/csv; charset=utf-8", name)
}

/// `bytes` of `content_type`, downloaded as `name`.
fn download(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage<'a> {
    page: &'a Page,
    scanner_name: String,
    scanner_ok: bool,
    scanner_detail: String,
    hop: String,
    hop_ok: bool,
    hop_detail: String,
    mode: String,
    screening: &'static str,
    rules: usize,
    version: &'static str,
    reloaded: String,
}

pub(super) async fn status(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let now = SystemTime::now();
    let (_, page) = match authorise(&web, &headers, &[Role::Ict, Role::Privacy], now) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let s = web.status.probe().await;
    let loaded = s
        .loaded
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    render(
        StatusCode::OK,
        &StatusPage {
            page: &page,
            scanner_name: s.scanner,
            scanner_ok: s.scanner_probe.is_ok(),
            scanner_detail: s.scanner_probe.err().unwrap_or_default(),
            hop: web.status.next_hop.clone(),
            hop_ok: s.next_hop_probe.is_ok(),
            hop_detail: s.next_hop_probe.err().unwrap_or_default(),
            mode: web.status.mode.clone(),
            screening: page.t(match s.screening {
                crate::rules::Mode::Enforce => "status.enforce",
                crate::rules::Mode::Monitor => "status.monitor",
            }),
            rules: s.rules,
            version: env!("CARGO_PKG_VERSION"),
            reloaded: web.local_time(loaded),
        },
    )
}

// ------------------------------------------------------------------------------------------------------
// Traffic report (auditor, privacy)
// ------------------------------------------------------------------------------------------------------

#[derive(Deserialize)]
pub(super) struct TrafficQuery {
    group: Option<Group>,
}

#[derive(Template)]
#[template(path = "traffic.html")]
struct TrafficPage<'a> {
    page: &'a Page,
    k: u64,
    retention: u64,
    groups: Vec<(&'static str, bool)>,
    group: &'static str,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    /// The HTML report's charts ([`crate::traffic::report::charts_html`]): inline SVG, no script.
    charts: String,
}

/// The summary of every period that may be shown now, from the same service call as `traffic summary`.
async fn summary(
    web: &Web,
    session: &Session,
    group: Group,
    now: SystemTime,
) -> Result<crate::traffic::summary::Summary, Answer> {
    let request = Request::Traffic(TrafficRequest::Summary {
        periods: Vec::new(),
        group,
    });
    match web
        .service
        .handle_as(&web.caller(session), request, now)
        .await
    {
        Answer::Traffic(TrafficResponse::Summary { summary }) => Ok(summary),
        other => Err(other),
    }
}

/// For the traffic page and its downloads (roles `auditor` and `privacy`): the page frame, the chosen
/// group and its summary; or the answer to give instead (an error links to `back`).
async fn traffic_summary(
    web: &Web,
    headers: &HeaderMap,
    q: &TrafficQuery,
    back: &str,
) -> Result<(Page, Group, crate::traffic::summary::Summary), Box<Response>> {
    let now = SystemTime::now();
    let (session, page) = authorise(web, headers, &[Role::Auditor, Role::Privacy], now)?;
    let group = q.group.unwrap_or(Group::Domain);
    match summary(web, &session, group, now).await {
        Ok(summary) => Ok((page, group, summary)),
        Err(other) => Err(Box::new(service_error(&page, other, back))),
    }
}

const GROUPS: [Group; 4] = [
    Group::Domain,
    Group::Verdict,
    Group::Category,
    Group::DomainVerdict,
];

pub(super) async fn traffic(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<TrafficQuery>,
) -> Response {
    let (page, group, summary) = match traffic_summary(&web, &headers, &q, "/").await {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let table = summary.table();
    let charts = crate::traffic::report::charts_html(&summary);
    render(
        StatusCode::OK,
        &TrafficPage {
            charts,
            page: &page,
            k: summary.k,
            retention: summary.retention_days,
            groups: GROUPS.iter().map(|g| (g.name(), *g == group)).collect(),
            group: group.name(),
            columns: table.columns,
            rows: table
                .rows
                .into_iter()
                .map(|r| {
                    let mut cells = vec![r.period, r.group];
                    cells.extend(r.figures.into_iter().map(|f| f.text()));
                    cells
                })
                .collect(),
        },
    )
}

/// The summary as the same Dutch XLSX workbook as `mailwacht traffic summary --format xlsx`.
pub(super) async fn traffic_xlsx(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<TrafficQuery>,
) -> Response {
    let (page, group, summary) = match traffic_summary(&web, &headers, &q, "/traffic").await {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let made = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match crate::traffic::report::to_xlsx(&summary, made) {
        Ok(bytes) => download(
            bytes,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &format!("verkeersgegevens-{}.xlsx", group.name()),
        ),
        Err(e) => message(
            &page,
            StatusCode::INTERNAL_SERVER_ERROR,
            "err.title",
            e.to_string(),
            "/traffic",
        ),
    }
}

pub(super) async fn traffic_csv(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<TrafficQuery>,
) -> Response {
    match traffic_summary(&web, &headers, &q, "/traffic").await {
        Ok((_, group, summary)) => csv_download(
            summary.to_csv(),
            &format!("verkeersgegevens-{}.csv", group.name()),
        ),
        Err(r) => *r,
    }
}
