//! Single sign-on through a trusted reverse proxy (`[web] trusted_user_header`, `trusted_proxies`): a
//! proxy that did the login (oauth2-proxy with Entra ID or Google, Apache mod_auth_mellon with Entree
//! Federatie) names the person in a header, and the console opens a session for that local account.
//!
//! The header is believed only on a connection whose TCP peer is one of the proxies — never on the word of
//! an `X-Forwarded-For` — and the name must be an enabled local account, whose role decides what it sees
//! (unknown or disabled: 403). From any other address the header is removed, counted and logged without
//! the name. A session opened this way is audited as `login` like a password login.
//!
//! Must not: log the header's value for an untrusted peer, or let the header pick a role.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::{cookie, cookies, lang_of, ClientIp, Web, SESSION_COOKIE};

/// Run before every handler: turn a trusted proxy's header into a session, or drop an untrusted one.
pub(super) async fn sso(
    State(web): State<Arc<Web>>,
    ClientIp(ip): ClientIp,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(header_name) = web.settings.trusted_user_header.as_deref() else {
        return next.run(request).await;
    };
    let Some(value) = request.headers().get(header_name).cloned() else {
        return next.run(request).await;
    };
    if !web.settings.trusted_proxies.contains(&ip) {
        crate::metrics::web_sso_header_ignored();
        tracing::warn!(
            client = %ip,
            header = header_name,
            "single sign-on header ignored: the client is not a trusted proxy"
        );
        request.headers_mut().remove(header_name);
        return next.run(request).await;
    }
    let now = SystemTime::now();
    let name = value
        .to_str()
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        // The proxy names nobody (nginx sends an empty value as no header; others may not): a password
        // login, as without the header.
        return next.run(request).await;
    }
    // A session of this person already: nothing to do. A session of someone else: it ends.
    match same_person(&web, &request, &name, now) {
        Ok(true) => return next.run(request).await,
        Ok(false) => {}
        Err(e) => return super::unavailable(lang_of(request.headers()), &e),
    }
    let role = match web.service.accounts().role_of(&name) {
        Ok(Some(role)) if crate::admin::accounts::valid_name(&name) => role,
        _ => {
            tracing::info!(client = %ip, "single sign-on refused: no enabled account of that name");
            web.audit_login(
                "login-failed",
                &name,
                &format!("single sign-on: no enabled account, via proxy {ip}"),
                now,
            );
            return refused(&request);
        }
    };
    let key = match web.sessions.open(&name, role, web.settings.idle(), now) {
        Ok(key) => key,
        Err(e) => return super::unavailable(lang_of(request.headers()), &e),
    };
    tracing::info!(client = %ip, role = role.as_str(), "console login by single sign-on");
    web.audit_login(
        "login",
        &name,
        &format!("single sign-on, via proxy {ip}"),
        now,
    );
    // This request already counts as the new session's (the later cookie wins in [`cookies`]).
    if let Ok(cookie_header) = HeaderValue::from_str(&format!("{SESSION_COOKIE}={key}")) {
        request.headers_mut().append(header::COOKIE, cookie_header);
    }
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie(&web, SESSION_COOKIE, &key, None));
    response
}

/// Whether the request's session is `name`'s; a session of someone else ends here.
fn same_person(
    web: &Web,
    request: &Request,
    name: &str,
    now: SystemTime,
) -> Result<bool, super::session::SessionError> {
    let Some(key) = cookies(request.headers()).get(SESSION_COOKIE).cloned() else {
        return Ok(false);
    };
    match web.sessions.touch(&key, web.settings.idle(), now)? {
        Some(s) if s.user == name => Ok(true),
        Some(_) => web.sessions.close(&key).map(|()| false),
        None => Ok(false),
    }
}

/// The 403 page for a name without an enabled account: in Dutch and English both, since the person has
/// no account whose language could be known.
fn refused(request: &Request) -> Response {
    super::in_both_languages(
        lang_of(request.headers()),
        StatusCode::FORBIDDEN,
        "err.sso",
        "/",
    )
}
