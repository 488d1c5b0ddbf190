//! Targeted inquiries (SOML/ProCon 8.3, WereldKidz 6.6) in the console: an auditor requests one (person,
//! reason, days); the privacy officer approves it — which opens it through the service, four eyes — or
//! refuses it; both see the inquiries, their reports (traffic data only) and whether the person has been
//! informed, and the privacy officer records that. Every step is the service's, and audited there.

use std::sync::Arc;
use std::time::SystemTime;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::pages::{authorise_form, message, render, service_error, CsrfForm};
use super::{authorise, Page, Web};
use crate::admin::{
    AccessState, Guarded, Request, Response as Answer, Role, TrafficRequest, TrafficResponse,
};

struct InquiryRow {
    id: u64,
    person: String,
    by: String,
    window: String,
    closed: bool,
    notified: String,
    overdue: bool,
    can_notify: bool,
    can_close: bool,
}

struct PendingRow {
    number: u64,
    person: String,
    requester: String,
    reason: String,
    days: u64,
    state: &'static str,
    by: String,
    can_decide: bool,
}

#[derive(Template)]
#[template(path = "inquiries.html")]
struct InquiriesPage<'a> {
    page: &'a Page,
    rows: Vec<InquiryRow>,
    pending: Vec<PendingRow>,
    can_request: bool,
}

pub(super) async fn list(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let now = SystemTime::now();
    let (session, page) = match authorise(&web, &headers, &[Role::Auditor, Role::Privacy], now) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let request = Request::Traffic(TrafficRequest::InquiryList);
    let listed = match web
        .service
        .handle_as(&web.caller(&session), request, now)
        .await
    {
        Answer::Traffic(TrafficResponse::Inquiries { inquiries }) => inquiries,
        other => return service_error(&page, other, "/"),
    };
    let privacy = session.role == Role::Privacy;
    let rows = listed
        .into_iter()
        .rev()
        .map(|l| {
            let i = l.inquiry;
            InquiryRow {
                id: i.id,
                window: format!("{} – {}", web.local_time(i.from), web.local_time(i.to)),
                closed: i.closed.is_some(),
                notified: i
                    .notified
                    .as_ref()
                    .map(|n| format!("{} ({})", crate::traffic::summary::date(n.date), n.how))
                    .unwrap_or_default(),
                can_notify: privacy && i.closed.is_some() && i.notified.is_none(),
                can_close: privacy && i.closed.is_none(),
                overdue: l.overdue,
                person: i.person,
                by: i.by,
            }
        })
        .collect();
    let pending = web
        .service
        .access_requests(now)
        .await
        .into_iter()
        .filter_map(|r| {
            let Guarded::InquiryOpen { days } = r.action else {
                return None;
            };
            let (state, by) = match &r.state {
                AccessState::Pending => ("st.pending", String::new()),
                AccessState::Approved { by, .. } | AccessState::Used { approved_by: by } => {
                    ("inq.opened", by.clone())
                }
                AccessState::Refused { by } => ("st.refused", by.clone()),
                AccessState::Expired => ("st.expired", String::new()),
            };
            Some(PendingRow {
                can_decide: privacy && matches!(r.state, AccessState::Pending),
                number: r.number,
                person: r.entry,
                requester: r.requester,
                reason: r.reason,
                days,
                state,
                by,
            })
        })
        .collect();
    render(
        StatusCode::OK,
        &InquiriesPage {
            page: &page,
            rows,
            pending,
            can_request: session.role == Role::Auditor,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    days: String,
}

pub(super) async fn request(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<RequestForm>,
) -> Response {
    let now = SystemTime::now();
    let (session, page) = match authorise_form(&web, &headers, &[Role::Auditor], &form.csrf, now) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let Ok(days) = form.days.trim().parse::<u64>() else {
        let text = format!("{:?} is not a number of days", form.days);
        return message(
            &page,
            StatusCode::BAD_REQUEST,
            "err.title",
            text,
            "/inquiries",
        );
    };
    let person = form.person.trim().to_lowercase();
    match web
        .service
        .request_access(
            &web.caller(&session),
            Guarded::InquiryOpen { days },
            &person,
            &form.reason,
            now,
        )
        .await
    {
        Ok(_) => Redirect::to("/inquiries").into_response(),
        Err(text) => message(
            &page,
            StatusCode::BAD_REQUEST,
            "err.title",
            text,
            "/inquiries",
        ),
    }
}

#[derive(Template)]
#[template(path = "inquiry.html")]
struct ReportPage<'a> {
    page: &'a Page,
    id: u64,
    person: String,
    reason: String,
    by: String,
    rows: Vec<[String; 8]>,
    notification: String,
}

/// An inquiry id from the path, or a 404 page.
fn inquiry_id(page: &Page, id: &str) -> Result<u64, Box<Response>> {
    id.parse().map_err(|_| {
        Box::new(message(
            page,
            StatusCode::NOT_FOUND,
            "err.title",
            page.t("err.not_found").into(),
            "/inquiries",
        ))
    })
}

pub(super) async fn report(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let now = SystemTime::now();
    let (session, page) = match authorise(&web, &headers, &[Role::Auditor, Role::Privacy], now) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let id = match inquiry_id(&page, &id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let request = Request::Traffic(TrafficRequest::InquiryReport { id });
    match web
        .service
        .handle_as(&web.caller(&session), request, now)
        .await
    {
        Answer::Traffic(TrafficResponse::Report {
            inquiry,
            records,
            notification,
        }) => render(
            StatusCode::OK,
            &ReportPage {
                page: &page,
                id: inquiry.id,
                person: inquiry.person,
                reason: inquiry.reason,
                by: inquiry.by,
                rows: records
                    .into_iter()
                    .map(|r| {
                        [
                            web.local_time(r.time),
                            r.size.to_string(),
                            r.rcpt_local.to_string(),
                            r.rcpt_external.to_string(),
                            r.rcpt_domains.join(", "),
                            r.attachments.to_string(),
                            r.verdict,
                            r.categories.join(", "),
                        ]
                    })
                    .collect(),
                notification: notification.unwrap_or_default(),
            },
        ),
        Answer::Error { message: text } if text.contains("no inquiry") => message(
            &page,
            StatusCode::NOT_FOUND,
            "err.title",
            text,
            "/inquiries",
        ),
        other => service_error(&page, other, "/inquiries"),
    }
}

#[derive(Deserialize)]
pub(super) struct NotifiedForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    how: String,
}

pub(super) async fn notified(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<NotifiedForm>,
) -> Response {
    let date = crate::traffic::summary::parse_date(form.date.trim()).map_err(|e| e.to_string());
    privacy_step(&web, &headers, &form.csrf, &id, |id| {
        Ok(TrafficRequest::InquiryNotified {
            id,
            date: date?,
            how: form.how,
        })
    })
    .await
}

/// The privacy officer ends an inquiry before its window does.
pub(super) async fn close(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    privacy_step(&web, &headers, &form.csrf, &id, |id| {
        Ok(TrafficRequest::InquiryClose { id })
    })
    .await
}

/// A step of the privacy officer's on inquiry `id` (from the path): role, token and id checked, the
/// request made by `request` (or its complaint shown), answered by the service, back to the list.
async fn privacy_step(
    web: &Web,
    headers: &HeaderMap,
    token: &str,
    id: &str,
    request: impl FnOnce(u64) -> Result<TrafficRequest, String>,
) -> Response {
    let now = SystemTime::now();
    let (session, page) = match authorise_form(web, headers, &[Role::Privacy], token, now) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let id = match inquiry_id(&page, id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let request = match request(id) {
        Ok(r) => Request::Traffic(r),
        Err(text) => {
            return message(
                &page,
                StatusCode::BAD_REQUEST,
                "err.title",
                text,
                "/inquiries",
            )
        }
    };
    match web
        .service
        .handle_as(&web.caller(&session), request, now)
        .await
    {
        Answer::Traffic(_) => Redirect::to("/inquiries").into_response(),
        other => service_error(&page, other, "/inquiries"),
    }
}
