//! Check a message (role `ict`): upload an `.eml` or paste one, and see the verdict with every hit, its
//! rule, category, article and the part it came from — the engine of `mailwacht check` and of the running
//! filter ([`crate::filter::Engine::check`]), with the envelope taken from the headers as `check` does
//! without flags. Nothing is stored, audited or logged: the message is a teacher's mail.

use std::sync::Arc;
use std::time::SystemTime;

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages::{message, render};
use super::{authorise, check_csrf, Page, Web};
use crate::admin::Role;
use crate::envelope::Envelope;

/// The largest upload accepted (bigger is `413`); larger than the analysis limits, which record the rest.
pub const MAX_UPLOAD: usize = 25 * 1024 * 1024;

struct HitRow {
    rule: String,
    category: String,
    weight: String,
    location: String,
    article: String,
}

#[derive(Template)]
#[template(path = "check.html")]
struct CheckPage<'a> {
    page: &'a Page,
    checked: bool,
    verdict: String,
    score: String,
    exempt: String,
    hits: Vec<HitRow>,
    detections: Vec<String>,
    tempfail: String,
    damage: String,
}

impl<'a> CheckPage<'a> {
    fn empty(page: &'a Page) -> CheckPage<'a> {
        CheckPage {
            page,
            checked: false,
            verdict: String::new(),
            score: String::new(),
            exempt: String::new(),
            hits: Vec::new(),
            detections: Vec::new(),
            tempfail: String::new(),
            damage: String::new(),
        }
    }
}

pub(super) async fn form(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    match authorise(&web, &headers, &[Role::Ict], SystemTime::now()) {
        Ok((_, page)) => render(StatusCode::OK, &CheckPage::empty(&page)),
        Err(r) => *r,
    }
}

/// A serde value's name (`"bounce"`), for enums that serialise as a string.
fn name(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

pub(super) async fn check(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let (session, page) = match authorise(&web, &headers, &[Role::Ict], SystemTime::now()) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let (mut token, mut upload, mut pasted) = (String::new(), Vec::new(), String::new());
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let field_name = field.name().unwrap_or_default().to_string();
                let bytes = match field.bytes().await {
                    Ok(b) => b,
                    Err(e) => return too_big_or_bad(&page, e.status()),
                };
                match field_name.as_str() {
                    "csrf" => token = String::from_utf8_lossy(&bytes).into_owned(),
                    "message" => upload = bytes.to_vec(),
                    "pasted" => pasted = String::from_utf8_lossy(&bytes).into_owned(),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => return too_big_or_bad(&page, e.status()),
        }
    }
    if let Err(r) = check_csrf(&session, &page, &token) {
        return *r;
    }
    let raw = if upload.is_empty() {
        // A pasted message has the browser's line ends; SMTP's are CRLF.
        pasted
            .replace("\r\n", "\n")
            .replace('\n', "\r\n")
            .into_bytes()
    } else {
        upload
    };
    if raw.is_empty() {
        return message(
            &page,
            StatusCode::BAD_REQUEST,
            "err.title",
            page.t("check.empty").into(),
            "/check",
        );
    }
    let engine = (web.status.engine)();
    let envelope = Envelope::from_headers(&crate::message::analyse(&raw, &engine.limits).headers);
    let (analysis, decision) = engine.check(&envelope, &raw).await;
    let hits = decision
        .hits
        .iter()
        .map(|h| HitRow {
            rule: h.rule_id.clone(),
            category: h.category.clone(),
            weight: format!("{:.1}", h.weight),
            location: h.location.to_string(),
            article: engine
                .rules
                .rule(&h.rule_id)
                .map(|r| r.article.clone())
                .unwrap_or_default(),
        })
        .collect();
    render(
        StatusCode::OK,
        &CheckPage {
            page: &page,
            checked: true,
            verdict: name(decision.verdict),
            score: format!("{:.1}", decision.score),
            exempt: decision.exempt.map(name).unwrap_or_default(),
            hits,
            detections: decision
                .detections
                .iter()
                .map(|d| format!("{} ({})", d.name, d.location))
                .collect(),
            tempfail: decision.tempfail_reason.clone().unwrap_or_default(),
            damage: if analysis.damage.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&analysis.damage).unwrap_or_default()
            },
        },
    )
}

fn too_big_or_bad(page: &Page, status: StatusCode) -> Response {
    let key = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "check.too_big"
    } else {
        "check.bad"
    };
    message(page, status, "err.title", page.t(key).into(), "/check")
}
