//! Handler tests: every route through the real router and the real service over a temporary data
//! directory — access per role, CSRF, four eyes, what lands in the audit log. The same flows in a real
//! browser against the real binary: `deploy/e2e/browser.sh`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, Request as HttpRequest, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::admin::{audit, AuditEntry, AuditLog, Service, TrafficService};
use crate::config::Config;
use crate::envelope::{Envelope, Recipient};
use crate::quarantine::{Quarantine, Store};
use crate::scan::Detection;

const MAIL: &[u8] = b"From: juf@school.example\r\nTo: ouder@example.org\r\nSubject: geheim onderwerp\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n\
Hallo inhoud\r\n--B\r\nContent-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"virus.com\"\r\n\r\nnot really a virus\r\n--B--\r\n";

const PASSWORD: &str = "een lang wachtwoord";

struct World {
    dir: tempfile::TempDir,
    web: Arc<Web>,
    router: Router,
}

/// The sign-in events of the audit log (kept apart so the other tests' audit expectations need not list
/// every login).
const SIGN_INS: [&str; 4] = ["login", "login-failed", "logout", "lockout"];

fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

async fn world() -> World {
    world_with(|_| {}).await
}

/// A world whose `[web]` settings `adjust` changes.
async fn world_with(adjust: impl FnOnce(&mut WebSection)) -> World {
    world_relaying_to(dead_addr(), adjust).await
}

/// A world whose next hop (for releases) is `next_hop`.
async fn world_relaying_to(next_hop: String, adjust: impl FnOnce(&mut WebSection)) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let audit = AuditLog::open(data.join("audit.log")).expect("audit");
    let (store, _) = Store::open(&data).expect("store");
    audit.settle(SystemTime::now(), 0).expect("settle");
    let envelope = Envelope {
        mail_from: Some("juf@school.example".into()),
        rcpt_to: vec![Recipient {
            address: "ouder@example.org".into(),
            params: vec![],
        }],
        ..Envelope::default()
    };
    store
        .store(
            "MW1",
            &envelope,
            MAIL,
            &[Detection {
                name: "Eicar-Test-Signature".into(),
                location: "part 2".into(),
            }],
            UNIX_EPOCH + Duration::from_secs(1_764_600_000),
        )
        .await
        .expect("quarantine");
    let traffic = crate::traffic::TrafficStore::open(&data).expect("traffic");
    // Last week (a whole, ended period): twelve senders of school.example, six bounced for "pesten"; and
    // one lone sender, whose row and category must never show.
    let last_week = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("now")
        .as_secs()
        - 7 * 86_400;
    for i in 0..12u64 {
        let (verdict, cats): (&str, &[&str]) = if i < 6 {
            ("bounce", &["pesten"])
        } else {
            ("pass", &[])
        };
        let record = crate::traffic::summary::tests::rec(
            last_week + i,
            &format!("sender{i}"),
            "school.example",
            verdict,
            cats,
            1000,
        );
        traffic.insert(&record).expect("record");
    }
    let lone = crate::traffic::summary::tests::rec(
        last_week,
        "alleen",
        "eenling.example",
        "bounce",
        &["geheimcategorie"],
        5,
    );
    traffic.insert(&lone).expect("record");
    let (keys, _) =
        crate::traffic::KeyRing::open(&dir.path().join("keys"), &data, 28, 0).expect("keys");
    let mut config = Config::default();
    config.smtp.next_hop = next_hop;
    let service = Arc::new(
        Service::new(
            store,
            audit,
            config.next_hop_settings(),
            crate::message::Limits::default(),
        )
        .with_traffic(TrafficService::new(
            traffic.into(),
            Arc::new(keys),
            config.traffic_settings(),
        )),
    );
    let now = SystemTime::now();
    for (name, role) in [
        ("anna", Role::Ict),
        ("bert", Role::Ict),
        ("petra", Role::Privacy),
        ("aart", Role::Auditor),
    ] {
        service
            .accounts()
            .add(name, role, PASSWORD, now)
            .expect("account");
    }
    let engine = Arc::new(config.engine().expect("engine"));
    let status = StatusSource {
        engine: Box::new(move || engine.clone()),
        next_hop: config.smtp.next_hop.clone(),
        mode: "content_filter (SMTP 127.0.0.1:10025)".into(),
        loaded: Arc::new(Mutex::new(now)),
    };
    let mut settings = WebSection {
        enabled: true,
        max_failed_logins: 3,
        ..WebSection::default()
    };
    adjust(&mut settings);
    let web = Arc::new(Web::new(service, settings, status));
    World {
        dir,
        router: router(web.clone()),
        web,
    }
}

impl World {
    /// The audit log but for sign-in events.
    fn audit(&self) -> Vec<AuditEntry> {
        self.all_audit()
            .into_iter()
            .filter(|e| !SIGN_INS.contains(&e.action.as_str()))
            .collect()
    }

    /// The sign-in events of the audit log: (action, id, detail).
    fn sign_ins(&self) -> Vec<(String, String, String)> {
        self.all_audit()
            .into_iter()
            .filter(|e| SIGN_INS.contains(&e.action.as_str()))
            .map(|e| (e.action, e.id, e.detail))
            .collect()
    }

    fn all_audit(&self) -> Vec<AuditEntry> {
        let (entries, v) = audit::read(&self.dir.path().join("data/audit.log")).expect("audit");
        assert!(v.intact, "{v:?}");
        entries
    }

    fn exists(&self, id: &str) -> bool {
        self.dir
            .path()
            .join(format!("data/quarantine/{id}.eml"))
            .exists()
    }

    async fn send(&self, request: HttpRequest<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.expect("answer");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            raw: body.to_vec(),
        }
    }

    async fn get(&self, client: &Client, path: &str) -> Answer {
        self.send(
            HttpRequest::get(path)
                .header(header::COOKIE, &client.cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    async fn post(&self, client: &Client, path: &str, form: &[(&str, &str)]) -> Answer {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
            .collect();
        self.send(
            HttpRequest::post(path)
                .header(header::COOKIE, &client.cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body.join("&")))
                .expect("request"),
        )
        .await
    }

    async fn post_owned(&self, client: &Client, path: &str, form: &[(&str, String)]) -> Answer {
        let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post(client, path, &refs).await
    }

    /// A four-eyes step (approve, refuse, use) with the client's token.
    async fn step(&self, client: &Client, path: &str) -> Answer {
        self.post(client, path, &[("csrf", client.csrf.as_str())])
            .await
    }

    /// Fetch the login form and post `name`/`password`.
    async fn try_login(&self, name: &str, password: &str) -> Answer {
        let form = self.get(&Client::nobody(), "/login").await;
        let login_cookie = form.cookie(LOGIN_COOKIE).expect("login cookie");
        let csrf = form.csrf().expect("csrf in form");
        let client = Client {
            cookie: format!("{LOGIN_COOKIE}={login_cookie}"),
            csrf: String::new(),
        };
        self.post(
            &client,
            "/login",
            &[
                ("csrf", csrf.as_str()),
                ("username", name),
                ("password", password),
            ],
        )
        .await
    }

    async fn login(&self, name: &str) -> Client {
        let answer = self.try_login(name, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let session = answer.cookie(SESSION_COOKIE).expect("session cookie");
        let mut client = Client {
            cookie: format!("{SESSION_COOKIE}={session}"),
            csrf: String::new(),
        };
        let page = self.get(&client, "/lang?to=nl").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        let page = self.get(&client, "/status").await;
        let page = if page.status == StatusCode::OK {
            page
        } else {
            self.get(&client, "/traffic").await
        };
        client.csrf = page.csrf().expect("csrf in page");
        client
    }
}

struct Client {
    cookie: String,
    csrf: String,
}

impl Client {
    fn nobody() -> Client {
        Client {
            cookie: String::new(),
            csrf: String::new(),
        }
    }
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
    raw: Vec<u8>,
}

/// The text of an XLSX workbook: its shared strings and first sheet (zip members read with `zip`).
fn xlsx_sheet(bytes: &[u8]) -> String {
    use std::io::Read as _;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("xlsx is a zip");
    let mut text = String::new();
    for name in ["xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"] {
        if let Ok(mut member) = zip.by_name(name) {
            member.read_to_string(&mut text).expect("member");
        }
    }
    text
}

impl Answer {
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                v.strip_prefix(&format!("{name}="))
                    .map(|rest| rest.split(';').next().unwrap_or_default().to_string())
            })
    }

    fn csrf(&self) -> Option<String> {
        let rest = self.body.split("name=\"csrf\" value=\"").nth(1)?;
        Some(rest.split('"').next()?.to_string())
    }

    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn login_sets_a_strict_httponly_secure_cookie_and_every_answer_forbids_script_and_caching() {
    let w = world().await;
    let answer = w.try_login("anna", PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let set: Vec<&str> = answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("mw_session="))
        .expect("session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    for answer in [
        &answer,
        &w.get(&Client::nobody(), "/login").await,
        &w.get(&Client::nobody(), "/style.css").await,
    ] {
        let csp = answer.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
        assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
    }
    let form = w.get(&Client::nobody(), "/login").await;
    assert!(form.body.contains("name=\"username\"") && form.body.contains("name=\"password\""));
    assert!(form.body.contains("Aanmelden"), "Dutch first");
    assert!(!form.body.contains("<script"));
}

#[tokio::test]
async fn wrong_passwords_lock_the_account_out_and_a_login_without_its_token_is_refused() {
    let w = world().await;
    for _ in 0..3 {
        let answer = w.try_login("anna", "wrong password!").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(answer
            .body
            .contains("Onjuiste gebruikersnaam of wachtwoord"));
    }
    // Locked now, even with the right password.
    let answer = w.try_login("anna", PASSWORD).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(answer.cookie(SESSION_COOKIE).is_none());
    // Another account is not locked by anna's failures.
    assert_eq!(
        w.try_login("bert", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    // No login cookie / token: refused before the password is looked at.
    let answer = w
        .post(
            &Client::nobody(),
            "/login",
            &[("csrf", "x"), ("username", "bert"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.cookie(SESSION_COOKIE).is_none());
}

/// Every page, who may see it.
const ROUTES: &[(&str, &[&str])] = &[
    ("/quarantine", &["anna"]),
    ("/quarantine/MW1", &["anna"]),
    ("/access", &["anna", "petra"]),
    ("/audit", &["petra"]),
    ("/audit.csv", &["petra"]),
    ("/status", &["anna", "petra"]),
    ("/traffic", &["aart", "petra"]),
    ("/traffic.csv", &["aart", "petra"]),
    ("/inquiries", &["aart", "petra"]),
    ("/check", &["anna"]),
];

#[tokio::test]
async fn every_page_needs_a_session_and_the_right_role() {
    let w = world().await;
    let mut clients = Vec::new();
    for name in ["anna", "petra", "aart"] {
        clients.push((name, w.login(name).await));
    }
    for (path, allowed) in ROUTES {
        let answer = w.get(&Client::nobody(), path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(answer.location(), "/login");
        let forged = Client {
            cookie: format!("{SESSION_COOKIE}={}", "0".repeat(64)),
            csrf: String::new(),
        };
        assert_eq!(w.get(&forged, path).await.location(), "/login", "{path}");
        for (name, client) in &clients {
            let answer = w.get(client, path).await;
            let expected = if allowed.contains(name) {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(answer.status, expected, "{name} {path}: {}", answer.body);
        }
    }
    // The POST routes too (refused before CSRF or anything else is looked at).
    let (_, aart) = &clients[2];
    for path in [
        "/quarantine/MW1/request",
        "/quarantine/MW1/delete",
        "/access/1/approve",
    ] {
        let answer = w.step(aart, path).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Home sends each role to its page.
    for ((_, client), page) in clients.iter().zip(["/quarantine", "/access", "/traffic"]) {
        assert_eq!(w.get(client, "/").await.location(), page);
    }
    assert_eq!(
        w.get(&Client::nobody(), "/nope").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_list_and_the_entry_show_metadata_and_structure_never_content() {
    let w = world().await;
    let anna = w.login("anna").await;
    let list = w.get(&anna, "/quarantine").await;
    assert!(list.body.contains(">MW1<"), "{}", list.body);
    assert!(list.body.contains("school.example"));
    assert!(!list.body.contains("juf@"), "no local parts in the list");
    assert!(list.body.contains("Eicar-Test-Signature"));
    assert!(
        list.body.contains("2025-12-01 15:40:00 CET"),
        "Europe/Amsterdam"
    );
    let none = w.get(&anna, "/quarantine?domain=elders.example").await;
    assert!(!none.body.contains(">MW1<") && none.body.contains("Geen berichten"));
    let none = w.get(&anna, "/quarantine?from=2030-01-01").await;
    assert!(!none.body.contains(">MW1<"));
    let bad = w.get(&anna, "/quarantine?from=gisteren").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let entry = w.get(&anna, "/quarantine/MW1").await;
    assert_eq!(entry.status, StatusCode::OK);
    assert!(entry.body.contains("virus.com") && entry.body.contains("application/octet-stream"));
    assert!(entry.body.contains("class=\"infected\""));
    for content in ["not really a virus", "Hallo inhoud", "geheim onderwerp"] {
        assert!(!entry.body.contains(content), "{content} shown");
    }
    assert_eq!(
        w.get(&anna, "/quarantine/MW9").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        w.get(&anna, "/quarantine/..%2Fx").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(w.audit().iter().all(|e| e.action != "show-raw"));
}

#[tokio::test]
async fn every_form_needs_the_sessions_csrf_token() {
    let w = world().await;
    let anna = w.login("anna").await;
    let bert = w.login("bert").await;
    let before = w.audit().len();
    for token in ["", "deadbeef", bert.csrf.as_str()] {
        for (path, form) in [
            (
                "/quarantine/MW1/delete",
                vec![("csrf", token), ("reason", "melding helpdesk 1234")],
            ),
            (
                "/quarantine/MW1/request",
                vec![
                    ("csrf", token),
                    ("action", "show-raw"),
                    ("reason", "melding helpdesk 1234"),
                ],
            ),
            ("/access/1/approve", vec![("csrf", token)]),
            ("/logout", vec![("csrf", token)]),
        ] {
            let answer = w.post(&anna, path, &form).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path} {token:?}");
        }
    }
    assert!(w.exists("MW1"));
    assert_eq!(w.audit().len(), before, "nothing audited, nothing done");
    // The session still works after the refusals; logout with the token ends it.
    assert_eq!(w.get(&anna, "/quarantine").await.status, StatusCode::OK);
    let out = w
        .post(&anna, "/logout", &[("csrf", anna.csrf.as_str())])
        .await;
    assert_eq!(out.location(), "/login");
    assert_eq!(w.get(&anna, "/quarantine").await.location(), "/login");
}

#[tokio::test]
async fn content_needs_a_second_person_once_and_both_names_are_audited() {
    let w = world().await;
    let anna = w.login("anna").await;
    let bert = w.login("bert").await;
    let petra = w.login("petra").await;
    let request = |reason: &str| {
        [
            ("csrf", anna.csrf.clone()),
            ("action", "show-raw".to_string()),
            ("reason", reason.to_string()),
        ]
    };
    let refs = |form: &[(&'static str, String)]| -> Vec<(&'static str, String)> { form.to_vec() };
    // A reason that says nothing is refused by the service's check_reason.
    let short = w
        .post_owned(&anna, "/quarantine/MW1/request", &refs(&request("kijken")))
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.body.contains("says too little"), "{}", short.body);
    let ok = w
        .post_owned(
            &anna,
            "/quarantine/MW1/request",
            &refs(&request("melding helpdesk 1234, bijlage controleren")),
        )
        .await;
    assert_eq!(
        (ok.status, ok.location()),
        (StatusCode::SEE_OTHER, "/access")
    );
    let list = w.get(&anna, "/access").await;
    assert!(list.body.contains("wacht op goedkeuring"), "{}", list.body);
    // Not usable before approval, not approvable by the requester, not usable by someone else.
    let early = w.step(&anna, "/access/1/use").await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert!(!early.body.contains("not really a virus"));
    let own = w.step(&anna, "/access/1/approve").await;
    assert_eq!(own.status, StatusCode::CONFLICT);
    assert!(
        own.body.contains("another person must approve"),
        "{}",
        own.body
    );
    let approved = w.step(&petra, "/access/1/approve").await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    assert_eq!(
        w.step(&bert, "/access/1/approve").await.status,
        StatusCode::CONFLICT
    );
    let theirs = w.step(&bert, "/access/1/use").await;
    assert_eq!(theirs.status, StatusCode::CONFLICT);
    assert!(!theirs.body.contains("not really a virus"));
    let shown = w.step(&anna, "/access/1/use").await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(shown.body.contains("not really a virus"));
    assert_eq!(shown.headers[header::CACHE_CONTROL], "no-store");
    let twice = w.step(&anna, "/access/1/use").await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert!(!twice.body.contains("not really a virus"));
    let audit: Vec<(String, String)> = w
        .audit()
        .into_iter()
        .filter(|e| e.action != audit::BREAK_ACTION)
        .map(|e| (e.action, e.detail))
        .collect();
    assert_eq!(
        audit,
        vec![
            (
                "access-request".into(),
                "web user anna; wants show-raw (request 1)".into()
            ),
            (
                "access-approve".into(),
                "web user petra; approves show-raw for anna (request 1)".into()
            ),
            (
                "show-raw".into(),
                "web user anna, approved by petra (request 1)".into()
            ),
        ]
    );
    // An auditor may not approve.
    let aart = w.login("aart").await;
    assert_eq!(
        w.step(&aart, "/access/1/approve").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn export_through_four_eyes_downloads_the_original_and_a_refusal_ends_a_request() {
    let w = world().await;
    let anna = w.login("anna").await;
    let bert = w.login("bert").await;
    let request = [
        ("csrf", anna.csrf.clone()),
        ("action", "export".to_string()),
        ("reason", "melding CERT 42 voor analyse".to_string()),
    ];
    w.post_owned(&anna, "/quarantine/MW1/request", &request)
        .await;
    assert_eq!(
        w.step(&bert, "/access/1/refuse").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        w.step(&anna, "/access/1/use").await.status,
        StatusCode::CONFLICT
    );
    w.post_owned(&anna, "/quarantine/MW1/request", &request)
        .await;
    w.step(&bert, "/access/2/approve").await;
    let file = w.step(&anna, "/access/2/use").await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(
        file.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"MW1.eml\""
    );
    assert_eq!(file.body.as_bytes(), MAIL);
    let actions: Vec<String> = w.audit().into_iter().map(|e| e.action).collect();
    assert!(actions.ends_with(&[
        "access-request".into(),
        "access-refuse".into(),
        "access-request".into(),
        "access-approve".into(),
        "export".into()
    ]));
    assert_eq!(
        w.step(&anna, "/access/x/use").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn delete_needs_a_reason_and_is_audited_with_the_name() {
    let w = world().await;
    let anna = w.login("anna").await;
    let delete = |reason: &str| [("csrf", anna.csrf.clone()), ("reason", reason.to_string())];
    let short = w
        .post_owned(&anna, "/quarantine/MW1/delete", &delete("weg"))
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(w.exists("MW1"));
    let reason = delete("bevestigd virus, melding 77");
    let done = w.post_owned(&anna, "/quarantine/MW1/delete", &reason).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(!w.exists("MW1"));
    let last = w.audit().pop().expect("entry");
    assert_eq!(
        (last.action.as_str(), last.id.as_str(), last.detail.as_str()),
        ("delete", "MW1", "web user anna")
    );
    assert_eq!(last.reason, "bevestigd virus, melding 77");
    let gone = w.post_owned(&anna, "/quarantine/MW1/delete", &reason).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.body);
}

#[tokio::test]
async fn audit_status_and_traffic_pages() {
    let w = world().await;
    let petra = w.login("petra").await;
    let audit = w.get(&petra, "/audit").await;
    assert!(audit.body.contains("Keten intact"), "{}", audit.body);
    let status = w.get(&petra, "/status").await;
    assert!(status.body.contains(env!("CARGO_PKG_VERSION")));
    assert!(
        status.body.contains("builtin: antwoordt"),
        "{}",
        status.body
    );
    assert!(status.body.contains("antwoordt niet"), "next hop is down");
    assert!(status.body.contains("content_filter"));
    assert!(
        status
            .body
            .contains("<dd id=\"screening\">handhaven (enforce)"),
        "{}",
        status.body
    );
    let aart = w.login("aart").await;
    let report = w.get(&aart, "/traffic").await;
    assert!(report.body.contains("Verkeersrapport") && report.body.contains("k-anonimiteit"));
    let csv = w.get(&aart, "/traffic.csv?group=verdict").await;
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    // The charts are the HTML report's own: inline SVG, no script, no style attribute (strict CSP).
    let charts = report
        .body
        .split("<section id=\"charts\">")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .expect("charts section");
    assert!(charts.matches("<svg").count() == 2, "{charts}");
    assert!(charts.contains("pesten") && charts.contains("teruggestuurd"));
    for banned in ["<script", "style=", "geheimcategorie", "eenling"] {
        assert!(!report.body.contains(banned), "{banned} on the page");
    }
    assert!(report.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp")
        .starts_with("default-src 'none'"));
    let mut summary = None;
    if let Some(summary_text) = report.body.split("<table id=\"traffic\">").nth(1) {
        summary = Some(summary_text.contains("school.example"));
    }
    assert_eq!(summary, Some(true), "{}", report.body);
    // The XLSX download: the CLI's writer (a zip with the workbook's sheet, Dutch column names).
    let xlsx = w.get(&aart, "/traffic.xlsx?group=verdict").await;
    assert_eq!(xlsx.status, StatusCode::OK);
    assert_eq!(
        xlsx.headers[header::CONTENT_TYPE],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(xlsx.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .expect("disposition")
        .contains("verkeersgegevens-verdict.xlsx"));
    assert!(xlsx.raw.starts_with(b"PK\x03\x04"), "a zip file");
    let sheet = xlsx_sheet(&xlsx.raw);
    assert!(
        sheet.contains("teruggestuurd") && sheet.contains("uitkomst"),
        "{sheet}"
    );
    assert!(!sheet.contains("geheimcategorie"));
    // Not for ICT, and a bad group is refused.
    let anna = w.login("anna").await;
    assert_eq!(
        w.get(&anna, "/traffic.xlsx").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.get(&aart, "/traffic.xlsx?group=nonsense").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        w.get(&aart, "/traffic?group=nonsense").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn english_on_request_and_a_disabled_account_loses_its_session() {
    let w = world().await;
    let anna = w.login("anna").await;
    let en = Client {
        cookie: format!("{}; {LANG_COOKIE}=en", anna.cookie),
        csrf: anna.csrf.clone(),
    };
    let page = w.get(&en, "/quarantine").await;
    assert!(page.body.contains("Sender domain") && page.body.contains("lang=\"en\""));
    let switch = w.get(&anna, "/lang?to=en").await;
    assert!(switch.cookie(LANG_COOKIE).is_some_and(|c| c == "en"));
    let accounts = crate::admin::Accounts::new(&w.dir.path().join("data"));
    accounts.disable("anna").expect("disable");
    assert_eq!(w.get(&anna, "/quarantine").await.location(), "/login");
    assert_eq!(
        w.try_login("anna", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_audit_trail_filters_by_person_action_and_date_and_downloads_as_csv() {
    let w = world().await;
    let anna = w.login("anna").await;
    let delete = [
        ("csrf", anna.csrf.clone()),
        ("reason", "=HYPERLINK(\"x\") melding 5".to_string()),
    ];
    let done = w.post_owned(&anna, "/quarantine/MW1/delete", &delete).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let petra = w.login("petra").await;
    assert!(w.get(&petra, "/audit").await.body.contains("web user anna"));
    for (query, shown) in [
        ("person=anna", true),
        ("person=bert", false),
        ("action=delete", true),
        ("action=export", false),
        ("from=2999-01-01", false),
    ] {
        let page = w.get(&petra, &format!("/audit?{query}")).await;
        assert_eq!(page.body.contains("web user anna"), shown, "{query}");
    }
    let csv = w.get(&petra, "/audit.csv?person=anna").await;
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(
        csv.body.starts_with("\u{feff}# keten intact"),
        "{}",
        csv.body
    );
    assert!(
        csv.body
            .contains(";delete;MW1;\"'=HYPERLINK(\"\"x\"\") melding 5\";web user anna\r\n"),
        "{}",
        csv.body
    );
    assert_eq!(
        w.get(&anna, "/audit.csv").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.get(&petra, "/audit?from=gisteren").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn an_auditor_requests_an_inquiry_the_privacy_officer_opens_it_and_records_the_notification()
{
    let w = world().await;
    let aart = w.login("aart").await;
    let petra = w.login("petra").await;
    let anna = w.login("anna").await;
    let request = |c: &Client, reason: &str| {
        [
            ("csrf", c.csrf.clone()),
            ("person", "Piet@School.example".to_string()),
            ("reason", reason.to_string()),
            ("days", "7".to_string()),
        ]
    };
    let reason = "vermoeden van lekken van leerlinggegevens, melding 12";
    let ict = w
        .post_owned(&anna, "/inquiries/request", &request(&anna, reason))
        .await;
    assert_eq!(ict.status, StatusCode::FORBIDDEN);
    let thin = w
        .post_owned(&aart, "/inquiries/request", &request(&aart, "kijken"))
        .await;
    assert_eq!(thin.status, StatusCode::BAD_REQUEST);
    let filed = w
        .post_owned(&aart, "/inquiries/request", &request(&aart, reason))
        .await;
    assert_eq!(
        (filed.status, filed.location()),
        (StatusCode::SEE_OTHER, "/inquiries")
    );
    let page = w.get(&petra, "/inquiries").await;
    assert!(page.body.contains("inquiry-request-1") && page.body.contains("piet@school.example"));
    assert!(
        !w.get(&anna, "/access").await.body.contains("piet@"),
        "not among content requests"
    );
    // Not the auditor, not ICT: the privacy officer approves (and so opens) an inquiry.
    assert_eq!(
        w.step(&aart, "/access/1/approve").await.status,
        StatusCode::FORBIDDEN
    );
    let by_ict = w.step(&anna, "/access/1/approve").await;
    assert_eq!(by_ict.status, StatusCode::CONFLICT);
    assert!(
        by_ict.body.contains("role privacy needed"),
        "{}",
        by_ict.body
    );
    let opened = w.step(&petra, "/access/1/approve").await;
    assert_eq!(
        (opened.status, opened.location()),
        (StatusCode::SEE_OTHER, "/inquiries"),
        "{}",
        opened.body
    );
    let list = w.get(&aart, "/inquiries").await;
    assert!(list.body.contains("id=\"inquiry-1\""), "{}", list.body);
    let report = w.get(&aart, "/inquiries/1").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert!(report.body.contains("Alleen verkeersgegevens"));
    assert_eq!(
        w.get(&aart, "/inquiries/9").await.status,
        StatusCode::NOT_FOUND
    );
    // The person can be informed once it is over.
    let today = crate::traffic::summary::date(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("now")
            .as_secs(),
    );
    let notify = [
        ("csrf", petra.csrf.clone()),
        ("date", today),
        ("how", "gesprek met leidinggevende".to_string()),
    ];
    let early = w.post_owned(&petra, "/inquiries/1/notified", &notify).await;
    assert_eq!(early.status, StatusCode::BAD_REQUEST, "{}", early.body);
    assert_eq!(
        w.step(&aart, "/inquiries/1/close").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.step(&petra, "/inquiries/1/close").await.status,
        StatusCode::SEE_OTHER
    );
    let recorded = w.post_owned(&petra, "/inquiries/1/notified", &notify).await;
    assert_eq!(recorded.status, StatusCode::SEE_OTHER, "{}", recorded.body);
    assert!(w
        .get(&aart, "/inquiries")
        .await
        .body
        .contains("gesprek met leidinggevende"));
    let entries: Vec<(String, String)> = w
        .audit()
        .into_iter()
        .filter(|e| e.action.starts_with("access-") || e.action.starts_with("inquiry-"))
        .map(|e| (e.action, e.detail))
        .collect();
    let actions: Vec<&str> = entries.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "access-request",
            "access-approve",
            "inquiry-open",
            "inquiry-report",
            "inquiry-close",
            "inquiry-notified"
        ]
    );
    let open = &entries
        .iter()
        .find(|(a, _)| a == "inquiry-open")
        .expect("opened")
        .1;
    assert!(
        open.starts_with(
            "web user aart, approved by petra (request 1); person=piet@school.example"
        ),
        "{open}"
    );
    let notified = &entries
        .iter()
        .find(|(a, _)| a == "inquiry-notified")
        .expect("notified")
        .1;
    assert!(notified.starts_with("web user petra; "), "{notified}");
}

impl World {
    /// POST /check as multipart: `csrf`, and `message` (a file) or `pasted`.
    async fn check(&self, client: &Client, field: &str, message: &[u8]) -> Answer {
        let mut body = Vec::new();
        for (name, value, file) in [
            ("csrf", client.csrf.as_bytes(), false),
            (field, message, field == "message"),
        ] {
            body.extend_from_slice(b"--XYZ\r\nContent-Disposition: form-data; name=\"");
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(if file {
                b"\"; filename=\"m.eml\"\r\nContent-Type: message/rfc822\r\n\r\n".as_slice()
            } else {
                b"\"\r\n\r\n".as_slice()
            });
            body.extend_from_slice(value);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XYZ--\r\n");
        self.send(
            HttpRequest::post("/check")
                .header(header::COOKIE, &client.cookie)
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XYZ")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
    }
}

#[tokio::test]
async fn checking_a_message_gives_the_engines_verdict_and_hits_and_stores_nothing() {
    let w = world().await;
    let anna = w.login("anna").await;
    let aart = w.login("aart").await;
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/bounce/beledigend-kankerlijer.eml"
    ))
    .expect("fixture");
    let engine = Config::default().engine().expect("engine");
    let envelope = Envelope::from_headers(&crate::message::analyse(&raw, &engine.limits).headers);
    let (_, decision) = engine.check(&envelope, &raw).await;
    assert!(!decision.hits.is_empty());
    let before = w.audit().len();
    let page = w.check(&anna, "message", &raw).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<dd id=\"verdict\">bounce</dd>"),
        "{}",
        page.body
    );
    for hit in &decision.hits {
        assert!(
            page.body.contains(&format!("<td>{}</td>", hit.rule_id)),
            "{}",
            hit.rule_id
        );
    }
    let pasted = String::from_utf8_lossy(&raw).replace("\r\n", "\n");
    let page = w.check(&anna, "pasted", pasted.as_bytes()).await;
    assert!(page.body.contains("<dd id=\"verdict\">bounce</dd>"));
    let clean = w
        .check(
            &anna,
            "pasted",
            b"From: a@school.example\nTo: b@example.org\nSubject: ouderavond\n\nTot donderdag.\n",
        )
        .await;
    assert!(
        clean.body.contains("<dd id=\"verdict\">pass</dd>"),
        "{}",
        clean.body
    );
    assert_eq!(
        w.check(&anna, "pasted", b"").await.status,
        StatusCode::BAD_REQUEST
    );
    let forged = Client {
        cookie: anna.cookie.clone(),
        csrf: "0".repeat(64),
    };
    assert_eq!(
        w.check(&forged, "message", &raw).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.check(&aart, "message", &raw).await.status,
        StatusCode::FORBIDDEN
    );
    let huge = vec![b'a'; super::check::MAX_UPLOAD + 1024];
    assert_eq!(
        w.check(&anna, "message", &huge).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(w.audit().len(), before, "nothing audited");
    assert_eq!(
        std::fs::read_dir(w.dir.path().join("data/quarantine"))
            .expect("quarantine")
            .count(),
        2,
        "nothing stored beside MW1"
    );
}

// ------------------------------------------------------------------------------------------------------
// Sign-ins in the audit log, single sign-on through a trusted proxy, TLS in the binary
// ------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn logins_failures_lockouts_and_logouts_are_audited_without_passwords() {
    let w = world().await;
    for _ in 0..3 {
        w.try_login("anna", "wrong password!").await;
    }
    let unknown = w.try_login("niemand", "geheim-wachtwoord-123").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let bert = w.login("bert").await;
    let out = w.step(&bert, "/logout").await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let failed = (
        "login-failed".to_string(),
        "anna".to_string(),
        "web user anna; password, from 0.0.0.0".to_string(),
    );
    assert_eq!(
        w.sign_ins(),
        vec![
            failed.clone(),
            failed.clone(),
            failed,
            event(
                "lockout",
                "anna",
                "web user anna; locked out for 15 minutes after failed logins, from 0.0.0.0"
            ),
            event(
                "login-failed",
                "",
                "unknown account; password, from 0.0.0.0"
            ),
            event("login", "bert", "web user bert; password, from 0.0.0.0"),
            event("logout", "bert", "web user bert"),
        ]
    );
    let log = std::fs::read_to_string(w.dir.path().join("data/audit.log")).expect("log");
    for secret in ["wrong password", "geheim", "niemand", PASSWORD] {
        assert!(!log.contains(secret), "{secret} in the audit log");
    }
    // The audit page finds a person's sign-ins like their other actions.
    let petra = w.login("petra").await;
    let page = w.get(&petra, "/audit?person=bert&action=logout").await;
    assert!(page.body.contains("web user bert"), "{}", page.body);
}

/// A sign-in event as [`World::sign_ins`] lists it.
fn event(action: &str, id: &str, detail: &str) -> (String, String, String) {
    (action.to_string(), id.to_string(), detail.to_string())
}

/// `path` from TCP peer `peer` with the proxy's header naming `user` (when given) and `cookie`.
async fn via(w: &World, peer: &str, user: Option<&str>, path: &str, cookie: &str) -> Answer {
    let mut request = HttpRequest::get(path).header(header::COOKIE, cookie);
    if let Some(user) = user {
        request = request.header("X-Remote-User", user);
    }
    let mut request = request.body(Body::empty()).expect("request");
    let peer = SocketAddr::new(peer.parse().expect("ip"), 40_000);
    request.extensions_mut().insert(ConnectInfo(peer));
    w.send(request).await
}

fn ignored_sso_headers() -> u64 {
    crate::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix("mailwacht_web_sso_header_ignored_total "))
        .and_then(|n| n.parse().ok())
        .expect("metric")
}

#[tokio::test]
async fn single_sign_on_only_from_a_trusted_proxy_and_only_for_an_enabled_account() {
    let w = world_with(|s| {
        s.trusted_user_header = Some("X-Remote-User".into());
        s.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
    })
    .await;
    // From the proxy: a session for anna, with her role.
    let first = via(&w, "127.0.0.1", Some("anna"), "/quarantine", "").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first.body.contains(">MW1<"));
    let key = first.cookie(SESSION_COOKIE).expect("session cookie");
    let cookie = format!("{SESSION_COOKIE}={key}");
    // The next request of that session opens no second one.
    let again = via(&w, "127.0.0.1", Some("anna"), "/quarantine/MW1", &cookie).await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.cookie(SESSION_COOKIE).is_none());
    // The role is the account's: an auditor by single sign-on still may not see the quarantine.
    let aart = via(&w, "127.0.0.1", Some("aart"), "/quarantine", "").await;
    assert_eq!(aart.status, StatusCode::FORBIDDEN);
    // From anywhere else the header is ignored (and counted): no session, to the login page.
    let before = ignored_sso_headers();
    let forged = via(&w, "192.0.2.7", Some("anna"), "/quarantine", "").await;
    assert_eq!(
        (forged.status, forged.location()),
        (StatusCode::SEE_OTHER, "/login")
    );
    assert!(forged.cookie(SESSION_COOKIE).is_none());
    assert!(ignored_sso_headers() > before);
    // Unknown and disabled names: 403 in Dutch and English, no session.
    w.web
        .service
        .accounts()
        .disable("bert")
        .expect("disable bert");
    for name in ["onbekend", "bert"] {
        let refused = via(&w, "127.0.0.1", Some(name), "/quarantine", "").await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{name}");
        assert!(refused.body.contains("geen actief mailwacht-account"));
        assert!(refused.body.contains("no enabled mailwacht account"));
        assert!(refused.cookie(SESSION_COOKIE).is_none());
    }
    // Without the header, or with an empty one, the proxy's clients log in with a password as before.
    for user in [None, Some(""), Some("  ")] {
        let answer = via(&w, "127.0.0.1", user, "/quarantine", "").await;
        assert_eq!(
            answer.location(),
            "/login",
            "{user:?} {} {}",
            answer.status,
            answer.body
        );
    }
    assert_eq!(
        w.sign_ins(),
        vec![
            event(
                "login",
                "anna",
                "web user anna; single sign-on, via proxy 127.0.0.1"
            ),
            event(
                "login",
                "aart",
                "web user aart; single sign-on, via proxy 127.0.0.1"
            ),
            event(
                "login-failed",
                "",
                "unknown account; single sign-on: no enabled account, via proxy 127.0.0.1"
            ),
            event(
                "login-failed",
                "bert",
                "web user bert; single sign-on: no enabled account, via proxy 127.0.0.1"
            ),
        ]
    );
}

#[test]
fn sso_and_tls_settings_are_checked_when_the_configuration_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed(dir.path(), "a");
    let (_, other_key) = self_signed(dir.path(), "b");
    let with = |f: &dyn Fn(&mut WebSection)| {
        let mut s = WebSection {
            enabled: true,
            ..WebSection::default()
        };
        f(&mut s);
        s.validate()
    };
    assert!(with(&|s| {
        s.tls_cert = Some(cert.clone());
        s.tls_key = Some(key.clone());
    })
    .is_ok());
    let (k, why) = with(&|s| {
        s.tls_cert = Some(cert.clone());
        s.tls_key = Some(other_key.clone());
    })
    .unwrap_err();
    assert_eq!(k, "tls_cert");
    assert!(why.contains("does not belong"), "{why}");
    let (k, why) = with(&|s| {
        s.tls_cert = Some(cert.clone());
        s.tls_key = Some(dir.path().join("nope.pem"));
    })
    .unwrap_err();
    assert_eq!(k, "tls_key");
    assert!(why.contains("nope.pem"), "{why}");
    let (k, why) = with(&|s| {
        s.tls_cert = Some(key.clone());
        s.tls_key = Some(key.clone());
    })
    .unwrap_err();
    assert_eq!(k, "tls_cert", "{why}");
    assert_eq!(
        with(&|s| s.tls_cert = Some(cert.clone())).unwrap_err().0,
        "tls_key"
    );
    assert_eq!(
        with(&|s| {
            s.tls_cert = Some(cert.clone());
            s.tls_key = Some(key.clone());
            s.plain_http_loopback = true;
        })
        .unwrap_err()
        .0,
        "plain_http_loopback"
    );
    assert_eq!(
        with(&|s| s.trusted_user_header = Some("X-Remote-User".into()))
            .unwrap_err()
            .0,
        "trusted_proxies"
    );
    assert_eq!(
        with(&|s| {
            s.trusted_user_header = Some("X Remote User".into());
            s.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
        })
        .unwrap_err()
        .0,
        "trusted_user_header"
    );
}

/// A self-signed certificate for `localhost` and its key, as `NAME-cert.pem` and `NAME-key.pem`.
fn self_signed(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let (cert, key) = (
        dir.join(format!("{name}-cert.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&cert, made.cert.pem()).expect("cert");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("key");
    (cert, key)
}

/// Everything a connection sends until it closes (or errs, or 10 s pass).
async fn read_all(mut stream: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[tokio::test]
async fn the_console_serves_tls_itself_and_plain_http_on_its_port_gets_no_page() {
    use tokio::io::AsyncWriteExt as _;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::{self, pki_types};
    let w = world().await;
    let (cert, key) = self_signed(w.dir.path(), "web");
    let config = tls::server_config(&cert, &key).expect("server config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, Some(config), w.web.clone(), async {
        let _ = stopped.await;
    }));
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&cert).expect("read cert");
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.expect("pem")).expect("root");
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    tls.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let page = String::from_utf8_lossy(&read_all(tls).await).into_owned();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("Aanmelden"));
    let set_cookie = page
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: mw_login="))
        .expect("login cookie");
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    // Plain HTTP to the same port: no page, the connection is closed.
    let mut plain = tokio::net::TcpStream::connect(addr).await.expect("connect");
    plain
        .write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let answer = read_all(plain).await;
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    assert!(!String::from_utf8_lossy(&answer).contains("Aanmelden"));
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops")
        .expect("join")
        .expect("served");
}

// ------------------------------------------------------------------------------------------------------
// Release through the console
// ------------------------------------------------------------------------------------------------------

// The test next hop of the SMTP client's tests (tests/support/sink.rs, compiled once).
use crate::smtp::client::tests::sink;

#[tokio::test]
async fn a_release_is_requested_approved_by_another_performed_once_and_reaches_the_next_hop() {
    let hop = sink::Sink::start(sink::SinkBehaviour::default()).await;
    let w = world_relaying_to(hop.addr().to_string(), |_| {}).await;
    let anna = w.login("anna").await;
    let bert = w.login("bert").await;
    let request = [
        ("csrf", anna.csrf.clone()),
        ("action", "release".to_string()),
        (
            "reason",
            "vals alarm: melding helpdesk 77, door ouder gevraagd".to_string(),
        ),
    ];
    let filed = w
        .post_owned(&anna, "/quarantine/MW1/request", &request)
        .await;
    assert_eq!(
        (filed.status, filed.location()),
        (StatusCode::SEE_OTHER, "/access"),
        "{}",
        filed.body
    );
    // Nothing leaves before a second person approved.
    assert_eq!(
        w.step(&anna, "/access/1/use").await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        w.step(&anna, "/access/1/approve").await.status,
        StatusCode::CONFLICT
    );
    assert!(hop.messages().is_empty());
    let approved = w.step(&bert, "/access/1/approve").await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let released = w.step(&anna, "/access/1/use").await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    assert!(
        released.body.contains("ouder@example.org"),
        "{}",
        released.body
    );
    let delivered = hop.messages();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].rcpts, vec!["<ouder@example.org>".to_string()]);
    assert!(String::from_utf8_lossy(&delivered[0].data).contains("Hallo inhoud"));
    // The approval was for one release: a second use is refused and sends nothing.
    let twice = w.step(&anna, "/access/1/use").await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
    assert_eq!(hop.messages().len(), 1);
    let entry = w.get(&anna, "/quarantine/MW1").await;
    assert!(entry.body.contains("vrijgegeven"), "{}", entry.body);
    let audit: Vec<(String, String)> = w
        .audit()
        .into_iter()
        .filter(|e| e.action != audit::BREAK_ACTION)
        .map(|e| (e.action, e.detail))
        .collect();
    assert_eq!(audit.len(), 3, "{audit:?}");
    assert_eq!(audit[0].0, "access-request");
    assert_eq!(
        audit[1],
        (
            "access-approve".to_string(),
            "web user bert; approves release for anna (request 1)".to_string()
        )
    );
    assert_eq!(audit[2].0, "release");
    assert!(
        audit[2]
            .1
            .starts_with("web user anna, approved by bert (request 1)"),
        "{audit:?}"
    );
}
