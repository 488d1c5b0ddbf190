//! The web console (`[web] enabled = true`): quarantine review under four eyes for ICT staff, the audit
//! trail for the privacy officer, traffic reports for auditors, and a status page — served by
//! `mailwacht serve` on `[web] listen` (loopback by default; TLS by a reverse proxy or, with `[web]
//! tls_cert`/`tls_key`, by the console itself; single sign-on by a trusted proxy's header: see the README).
//!
//! A front end only: every review, traffic and audit step is a call into [`crate::admin::Service`], the
//! same service the admin socket and the offline CLI use (one path per job); this module adds login,
//! sessions, CSRF tokens, roles and pages. Pages are compiled askama templates (`templates/`) and one
//! embedded stylesheet; no script at all, so the Content-Security-Policy allows none, and every action is
//! a plain form. Everything is sent `Cache-Control: no-store`.
//!
//! Must not: log content, subjects, addresses' local parts or passwords; show content before a second
//! person approved it; change anything on a GET.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::admin::{Caller, Role, Service};

mod check;
mod inquiries;
mod pages;
pub mod session;
pub mod settings;
mod sso;
mod status;
mod text;
pub mod tls;

pub use settings::WebSection;
pub use status::StatusSource;
use text::Lang;

/// The session cookie.
const SESSION_COOKIE: &str = "mw_session";
/// The login form's own CSRF cookie (double submit: there is no session yet).
const LOGIN_COOKIE: &str = "mw_login";
/// The language cookie (`nl` or `en`).
const LANG_COOKIE: &str = "mw_lang";

/// The embedded stylesheet.
const STYLE: &str = include_str!("style.css");

/// The template sources, for the test that every text key they use exists.
#[cfg(test)]
const TEMPLATES: &[&str] = &[
    include_str!("templates/base.html"),
    include_str!("templates/login.html"),
    include_str!("templates/message.html"),
    include_str!("templates/quarantine.html"),
    include_str!("templates/entry.html"),
    include_str!("templates/access.html"),
    include_str!("templates/raw.html"),
    include_str!("templates/audit.html"),
    include_str!("templates/status.html"),
    include_str!("templates/traffic.html"),
    include_str!("templates/inquiries.html"),
    include_str!("templates/inquiry.html"),
    include_str!("templates/check.html"),
];

/// Everything the console's handlers share.
pub struct Web {
    /// The one review/traffic/audit service (shared with the admin socket).
    service: Arc<Service>,
    settings: WebSection,
    /// Sessions and failed logins: in memory, or in the shared database beside the accounts.
    sessions: session::SessionStore,
    status: StatusSource,
    /// The daemon's uid: what audit entries of console users carry beside their names.
    uid: u32,
    /// Europe/Amsterdam (UTC if the system has no time zone data).
    tz: jiff::tz::TimeZone,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("settings", &self.settings)
            .field("uid", &self.uid)
            .finish_non_exhaustive()
    }
}

impl Web {
    /// The console over `service`, configured by `settings`, showing `status`.
    pub fn new(service: Arc<Service>, settings: WebSection, status: StatusSource) -> Web {
        service.set_access_limits(settings.request_valid(), settings.approval_valid());
        let tz = jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap_or_else(|e| {
            tracing::warn!(error = %e, "no time zone data for Europe/Amsterdam; the console shows UTC");
            jiff::tz::TimeZone::UTC
        });
        // Where the accounts are, the sessions are: one node's memory, or every node's database.
        let sessions = session::SessionStore::for_accounts(service.accounts());
        Web {
            service,
            settings,
            sessions,
            status,
            // SAFETY: geteuid has no preconditions and cannot fail.
            uid: unsafe { libc::geteuid() },
            tz,
        }
    }

    /// `secs` as local time in Europe/Amsterdam, `2026-11-30 14:05:09 CET`.
    fn local_time(&self, secs: u64) -> String {
        i64::try_from(secs)
            .ok()
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .map(|t| {
                t.to_zoned_datetime(self.tz.clone())
                    .strftime("%Y-%m-%d %H:%M:%S %Z")
                    .to_string()
            })
            .unwrap_or_else(|| secs.to_string())
    }

    /// Write a sign-in event to the audit log ([`Service::record_web_login`]); a failure is logged, and
    /// the login goes on (the audit log's own checks report a damaged log).
    fn audit_login(&self, action: &str, name: &str, detail: &str, now: SystemTime) {
        if let Err(e) = self
            .service
            .record_web_login(self.uid, action, name, detail, now)
        {
            tracing::error!(error = %e, action, "cannot audit a console sign-in event");
        }
    }

    fn caller(&self, session: &session::Session) -> Caller {
        Caller::web(self.uid, &session.user)
    }
}

/// When `[web] enabled`: bind `[web] listen` and serve the console over `service` until `shutdown` (over
/// TLS when `[web] tls_cert`/`tls_key` are set).
pub async fn start(
    settings: &WebSection,
    service: Arc<Service>,
    status: StatusSource,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<Option<tokio::task::JoinHandle<std::io::Result<()>>>> {
    if !settings.enabled {
        return Ok(None);
    }
    let tls = match settings.tls() {
        Some((cert, key)) => Some(tls::server_config(cert, key).map_err(std::io::Error::other)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(&settings.listen).await?;
    tracing::info!(
        listen = %listener.local_addr()?,
        tls = tls.is_some(),
        secure_cookies = !settings.plain_http_loopback,
        single_sign_on = settings.trusted_user_header.is_some(),
        "web console listening"
    );
    let web = Arc::new(Web::new(service, settings.clone(), status));
    Ok(Some(tokio::spawn(serve(listener, tls, web, shutdown))))
}

/// Serve the console on `listener` until `shutdown` completes: over TLS with `tls` (then a client that
/// speaks plain HTTP gets no answer), else plain HTTP for a TLS proxy in front.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    web: Arc<Web>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let app = router(web).into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        // `tap_io` only to get axum's connect info (the peer's address) for a listener of our own.
        Some(config) => {
            axum::serve(tls::TlsListener::new(listener, config)?.tap_io(|_| ()), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// Every route of the console.
pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/style.css", get(style))
        .route("/lang", get(pages::language))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/quarantine", get(pages::quarantine))
        .route("/quarantine/{id}", get(pages::entry))
        .route("/quarantine/{id}/request", post(pages::request_access))
        .route("/quarantine/{id}/delete", post(pages::delete))
        .route("/access", get(pages::access))
        .route("/access/{number}/{step}", post(pages::access_step))
        .route("/audit", get(pages::audit))
        .route("/audit.csv", get(pages::audit_csv))
        .route("/inquiries", get(inquiries::list))
        .route("/inquiries/request", post(inquiries::request))
        .route("/inquiries/{id}", get(inquiries::report))
        .route("/inquiries/{id}/notified", post(inquiries::notified))
        .route("/inquiries/{id}/close", post(inquiries::close))
        .route(
            "/check",
            get(check::form)
                .post(check::check)
                .layer(axum::extract::DefaultBodyLimit::max(check::MAX_UPLOAD)),
        )
        .route("/status", get(pages::status))
        .route("/traffic", get(pages::traffic))
        .route("/traffic.csv", get(pages::traffic_csv))
        .route("/traffic.xlsx", get(pages::traffic_xlsx))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(web.clone(), sso::sso))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(web)
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

/// The headers every answer carries: no script, no framing, no caching, no referrer.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The cookies of a request.
fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict; Path=/`, `Secure` unless plain HTTP on loopback is
/// configured; `max_age` 0 removes the cookie.
fn cookie(web: &Web, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if !web.settings.plain_http_loopback {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// What every page's frame needs.
#[derive(Debug, Clone)]
pub struct Page {
    lang: Lang,
    user: Option<String>,
    role: Option<Role>,
    csrf: String,
}

impl Page {
    fn t(&self, key: &str) -> &'static str {
        text::t(self.lang, key)
    }

    fn is(&self, role: &str) -> bool {
        self.role.map(Role::as_str) == Some(role)
    }

    fn role_name(&self) -> &'static str {
        self.role.map(Role::as_str).unwrap_or("")
    }

    fn other_lang(&self) -> &'static str {
        match self.lang {
            Lang::Nl => "en",
            Lang::En => "nl",
        }
    }
}

fn lang_of(headers: &HeaderMap) -> Lang {
    cookies(headers)
        .get(LANG_COOKIE)
        .map(|c| Lang::from_code(c))
        .unwrap_or_default()
}

/// The client's address (unspecified when the server was not started with connect info, as in tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}

/// A logged-in request: the session and its page frame, or the answer to give instead (to the login
/// page when there is no valid session, 403 for a role without access).
fn authorise(
    web: &Web,
    headers: &HeaderMap,
    roles: &[Role],
    now: SystemTime,
) -> Result<(session::Session, Page), Box<Response>> {
    let lang = lang_of(headers);
    let key = cookies(headers).get(SESSION_COOKIE).cloned();
    let session = match key.as_deref() {
        None => None,
        // A disabled account, or one whose role changed, loses its sessions at once (the store checks).
        Some(key) => match web.sessions.touch(key, web.settings.idle(), now) {
            Ok(session) => session,
            Err(e) => return Err(Box::new(unavailable(lang, &e))),
        },
    };
    let Some(session) = session else {
        return Err(Box::new(Redirect::to("/login").into_response()));
    };
    let page = Page {
        lang,
        user: Some(session.user.clone()),
        role: Some(session.role),
        csrf: session.csrf.clone(),
    };
    if !roles.contains(&session.role) {
        return Err(Box::new(pages::message(
            &page,
            StatusCode::FORBIDDEN,
            "err.title",
            page.t("err.forbidden").to_string(),
            "/",
        )));
    }
    Ok((session, page))
}

/// The answer while the sessions or accounts cannot be read (the shared database does not answer): a 503
/// page in Dutch and English both (it may be shown before the language is known), nobody let in.
pub(super) fn unavailable(lang: Lang, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "console: sessions or accounts unavailable");
    in_both_languages(
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        "err.unavailable",
        "/login",
    )
}

/// A message page whose text `key` is given in Dutch, then English, for a visitor with no session (whose
/// language is only a guess).
fn in_both_languages(lang: Lang, status: StatusCode, key: &str, back: &str) -> Response {
    let page = Page {
        lang,
        user: None,
        role: None,
        csrf: String::new(),
    };
    let both = format!("{} / {}", text::t(Lang::Nl, key), text::t(Lang::En, key));
    pages::message(&page, status, "err.title", both, back)
}

/// Check the CSRF token of a form against the session's.
fn check_csrf(session: &session::Session, page: &Page, token: &str) -> Result<(), Box<Response>> {
    if session::same_token(&session.csrf, token) {
        Ok(())
    } else {
        Err(Box::new(pages::message(
            page,
            StatusCode::FORBIDDEN,
            "err.title",
            page.t("err.csrf").to_string(),
            "/",
        )))
    }
}

#[cfg(test)]
mod tests;
