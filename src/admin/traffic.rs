//! The traffic side of the admin socket: auditor summaries (SOML/ProCon 8.2) and targeted inquiries
//! (SOML/ProCon 8.3, WereldKidz 6.6), with every inquiry action in the same audit log as quarantine access.
//!
//! The inquiry rules ([`inquiry`]: a reason of substance, a responsible person by name, no overlapping or
//! chained windows, a cap per person per retention period) are enforced here, for the socket and the
//! offline CLI alike; the caller's uid (SO_PEERCRED, or `getuid` offline) and its login name are stored with
//! every inquiry and notification. Inquiries whose window has ended are closed — and that close audited —
//! before any inquiry request is answered and by the daemon's hourly run ([`TrafficService::close_ended`]).
//!
//! Must not: return a record outside an inquiry's window or of another person, summarise anything but whole,
//! completed periods inside the retention window (see [`crate::traffic::summary`]), or reveal anything
//! before its audit entry is written.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::AuditLog;
use crate::storage::postgres::locks;
use crate::traffic::backend::Held;
use crate::traffic::inquiry::{self, Notified};
use crate::traffic::summary::{self, Group, Summary, Unit, Window};
use crate::traffic::{Inquiry, KeyRing, Record, Traffic};

/// One line of an inquiry report: traffic data only (art. 8.3), no content, no pseudonym.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportLine {
    pub time: u64,
    pub size: u64,
    pub rcpt_local: u32,
    pub rcpt_external: u32,
    pub rcpt_domains: Vec<String>,
    pub attachments: u32,
    pub verdict: String,
    pub categories: Vec<String>,
    pub exempt: Option<String>,
}

impl From<Record> for ReportLine {
    fn from(r: Record) -> Self {
        ReportLine {
            time: r.time,
            size: r.size,
            rcpt_local: r.rcpt_local,
            rcpt_external: r.rcpt_external,
            rcpt_domains: r.rcpt_domains,
            attachments: r.attachments,
            verdict: r.verdict,
            categories: r.categories,
            exempt: r.exempt,
        }
    }
}

/// Traffic requests (part of [`super::Request`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "traffic", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TrafficRequest {
    /// Aggregated summary of whole periods of `[traffic] summary_period`, named like `2026-W47` (weeks) or
    /// `2026-11-23` (days); none: every period that may be summarised now.
    Summary {
        #[serde(default)]
        periods: Vec<String>,
        group: Group,
    },
    /// Open an inquiry on one address. Without `by`, the responsible person is the caller's full name from
    /// the password database.
    InquiryOpen {
        person: String,
        reason: String,
        days: u64,
        #[serde(default)]
        by: Option<String>,
        from: Option<u64>,
    },
    /// The person's records inside the window (audited).
    InquiryReport { id: u64 },
    /// Close an inquiry (audited).
    InquiryClose { id: u64 },
    /// Record that the person was informed (WereldKidz 6.6) on day `date` (00:00 UTC), and how (audited).
    InquiryNotified { id: u64, date: u64, how: String },
    /// All inquiries.
    InquiryList,
}

/// One inquiry as listed: with the day by which its person must be informed, and whether that is overdue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    #[serde(flatten)]
    pub inquiry: Inquiry,
    /// `[traffic] notify_within_days` after the inquiry's end (seconds since the epoch).
    pub notify_by: u64,
    /// Over, not notified, and `notify_by` has passed.
    pub overdue: bool,
}

/// Traffic answers (part of [`super::Response`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "traffic", rename_all = "kebab-case")]
pub enum TrafficResponse {
    Summary {
        summary: Summary,
    },
    Inquiry {
        inquiry: Inquiry,
    },
    Report {
        inquiry: Inquiry,
        records: Vec<ReportLine>,
        /// Once the inquiry is over: the Dutch text for informing the person (WereldKidz 6.6).
        notification: Option<String>,
    },
    Inquiries {
        inquiries: Vec<Listed>,
    },
}

/// The `[traffic]` settings (and the organisation's name) in force; replaced whole on reload. Built by the
/// configuration (`Config::traffic_settings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSettings {
    /// Days a traffic record is kept (`[traffic] retention_days`).
    pub retention_days: u64,
    /// The *k* of k-anonymous summaries (`[traffic] k_anonymity`).
    pub k: u64,
    /// The period a summary covers (`[traffic] summary_period`).
    pub unit: Unit,
    /// Longest inquiry window in days (`[traffic] inquiry_max_days`).
    pub max_days: u64,
    /// Days after an inquiry within which the person must be told (`[traffic] notify_within_days`).
    pub notify_within_days: u64,
    /// The organisation's name, for the notification text.
    pub organisation: String,
}

/// The traffic store, pseudonym keys and `[traffic]` settings the admin service answers from. Cheap to
/// clone; clones share the settings, so [`TrafficService::reload`] on one reaches all.
#[derive(Debug, Clone)]
pub struct TrafficService {
    store: Traffic,
    keys: Arc<KeyRing>,
    settings: Arc<arc_swap::ArcSwap<TrafficSettings>>,
    /// Held while inquiries are checked and changed: two requests at once cannot both pass the cap, take
    /// the same id, or close the same inquiry twice (with the shared store also across nodes: see
    /// [`TrafficService::changing`]).
    changing: Arc<tokio::sync::Mutex<()>>,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

/// The login name and the full name (the first GECOS field) of `uid`, as far as the system knows them.
fn account(uid: u32) -> (Option<String>, Option<String>) {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers point to live, correctly sized buffers for the duration of the call.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return (None, None);
    }
    let text = |p: *const libc::c_char| {
        // SAFETY: getpwuid_r filled these with NUL-terminated strings inside `buf`, which is still alive.
        (!p.is_null())
            .then(|| unsafe { std::ffi::CStr::from_ptr(p) })
            .and_then(|c| c.to_str().ok())
            .map(str::to_string)
    };
    let login = text(pwd.pw_name).filter(|l| !l.is_empty());
    let name = text(pwd.pw_gecos)
        .and_then(|g| g.split(',').next().map(|n| n.trim().to_string()))
        .filter(|n| !n.is_empty());
    (login, name)
}

/// The uid of this process (the daemon's, or the local user's offline): whoever closes an inquiry whose
/// window ended.
fn own_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

impl TrafficService {
    /// Over `store` with the pseudonym `keys`, using `settings` (`[traffic]` and the organisation's name).
    pub fn new(store: Traffic, keys: Arc<KeyRing>, settings: TrafficSettings) -> TrafficService {
        TrafficService {
            store,
            keys,
            settings: Arc::new(arc_swap::ArcSwap::from_pointee(settings)),
            changing: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Take the `[traffic]` settings of a reloaded configuration.
    pub fn reload(&self, settings: TrafficSettings) {
        self.keys.set_retention(settings.retention_days);
        self.settings.store(Arc::new(settings));
    }

    /// Take the right to change inquiries: in this process, and on the shared store across nodes
    /// ([`locks::INQUIRY_EXPIRY`], waited for when `wait`); `None` when another node holds it and not `wait`.
    async fn changing(
        &self,
        wait: bool,
    ) -> Result<Option<(tokio::sync::MutexGuard<'_, ()>, Held)>, String> {
        let local = self.changing.lock().await;
        let shared = self
            .store
            .exclusive(locks::INQUIRY_EXPIRY, wait)
            .await
            .map_err(e)?;
        Ok(shared.map(|shared| (local, shared)))
    }

    /// Close every inquiry whose window has ended and that nobody closed, each audited as `inquiry-close`
    /// by `uid` with the reason "window ended". Idempotent: a closed inquiry is never closed again, also
    /// when several nodes share the store (the one that holds the lock closes; the others skip this run).
    /// Returns the ids closed.
    pub async fn close_ended(
        &self,
        audit: &AuditLog,
        uid: u32,
        now: SystemTime,
    ) -> Result<Vec<u64>, String> {
        let Some(_changing) = self.changing(false).await? else {
            return Ok(Vec::new());
        };
        let mut closed = Vec::new();
        for mut inquiry in self.store.inquiries().await.map_err(e)? {
            if inquiry.closed.is_some() || secs(now) < inquiry.to {
                continue;
            }
            // Audited first: a close that is not in the log is tried again at the next run.
            audit
                .append(
                    now,
                    uid,
                    "inquiry-close",
                    &format!("inquiry-{}", inquiry.id),
                    "venster verstreken / window ended",
                    &format!(
                        "person={} window={}..{} automatic",
                        inquiry.person,
                        summary::stamp(inquiry.from, true),
                        summary::stamp(inquiry.to, true)
                    ),
                )
                .map_err(e)?;
            inquiry.closed = Some(inquiry.to);
            inquiry.auto_closed = true;
            self.store.put_inquiry(&inquiry).await.map_err(e)?;
            closed.push(inquiry.id);
        }
        Ok(closed)
    }

    /// The retention period in force, in days.
    pub fn retention_days(&self) -> u64 {
        self.settings.load().retention_days
    }

    /// The store (for the offline CLI to flush).
    pub fn store(&self) -> &Traffic {
        &self.store
    }

    async fn range(&self, from: u64, to: u64) -> Result<Vec<Record>, String> {
        self.store.range(from, to).await.map_err(e)
    }

    async fn inquiry(&self, id: u64) -> Result<Inquiry, String> {
        self.store
            .inquiry(id)
            .await
            .map_err(e)?
            .ok_or_else(|| format!("no inquiry {id}"))
    }

    /// Answer one traffic request from `uid` at `now`, auditing into `audit` (which adds the names of a
    /// console user to each entry).
    pub async fn answer(
        &self,
        audit: &super::Audited<'_>,
        uid: u32,
        request: TrafficRequest,
        now: SystemTime,
    ) -> Result<TrafficResponse, String> {
        let settings = self.settings.load_full();
        if !matches!(request, TrafficRequest::Summary { .. }) {
            // Whatever the request, an inquiry whose window has ended is shown closed, with its close audited.
            self.close_ended(audit.log(), own_uid(), now).await?;
        }
        match request {
            TrafficRequest::Summary { periods, group } => {
                let window = Window {
                    unit: settings.unit,
                    now: secs(now),
                    retention_days: settings.retention_days,
                    purged_before: self.store.purged_before().await.map_err(e)?,
                };
                let spans = summary_periods(&window, &periods)?;
                let mut releases = Vec::with_capacity(spans.len());
                for span in spans {
                    let parts = self.store.contributions(span).await.map_err(e)?;
                    releases.push(summary::release_of(&parts, settings.unit, span, settings.k));
                }
                let mut summary = Summary::new(
                    settings.unit,
                    group,
                    settings.k,
                    settings.retention_days,
                    releases,
                );
                summary.organisation = settings.organisation.clone();
                let labels: Vec<&str> = summary.releases.iter().map(|r| r.label.as_str()).collect();
                audit
                    .append(
                        now,
                        uid,
                        "traffic-summary",
                        "-",
                        "",
                        &format!(
                            "{}s={} group={} k={} p={}",
                            settings.unit.name(),
                            labels.join(","),
                            group.name(),
                            settings.k,
                            summary.dominance_percent
                        ),
                    )
                    .map_err(e)?;
                Ok(TrafficResponse::Summary { summary })
            }
            TrafficRequest::InquiryOpen {
                person,
                reason,
                days,
                by,
                from,
            } => {
                let _changing = self.changing(true).await?;
                let (login, full_name) = account(uid);
                let by = by
                    .map(|b| b.trim().to_string())
                    .filter(|b| !b.is_empty())
                    .or(full_name)
                    .unwrap_or_default();
                let person = inquiry::validate(&person, &reason, &by).map_err(e)?;
                let (from, to) = inquiry::window(
                    secs(now),
                    from,
                    days,
                    settings.max_days,
                    settings.retention_days,
                )
                .map_err(e)?;
                let existing = self.store.inquiries().await.map_err(e)?;
                inquiry::check_cap(
                    &person,
                    (from, to),
                    &existing,
                    settings.max_days,
                    inquiry::cap_period_days(settings.retention_days, settings.max_days),
                )
                .map_err(e)?;
                let inquiry = Inquiry {
                    id: self.store.next_inquiry_id().await.map_err(e)?,
                    person,
                    reason: reason.trim().to_string(),
                    by,
                    from,
                    to,
                    opened: secs(now),
                    closed: None,
                    opened_uid: Some(uid),
                    opened_login: login,
                    auto_closed: false,
                    notified: None,
                };
                // Audited first: an inquiry that is not in the log does not exist.
                audit
                    .append(
                        now,
                        uid,
                        "inquiry-open",
                        &format!("inquiry-{}", inquiry.id),
                        &inquiry.reason,
                        &format!(
                            "person={} window={}..{} by={} opened_by={}",
                            inquiry.person,
                            summary::stamp(from, true),
                            summary::stamp(to, true),
                            inquiry.by,
                            inquiry::who(uid, inquiry.opened_login.as_deref()),
                        ),
                    )
                    .map_err(e)?;
                self.store.put_inquiry(&inquiry).await.map_err(e)?;
                Ok(TrafficResponse::Inquiry { inquiry })
            }
            TrafficRequest::InquiryReport { id } => {
                let inquiry = self.inquiry(id).await?;
                let records = self.range(inquiry.from, inquiry.end()).await?;
                let mine = inquiry::select(&inquiry, &self.keys.keys(), &records);
                audit
                    .append(
                        now,
                        uid,
                        "inquiry-report",
                        &format!("inquiry-{id}"),
                        &inquiry.reason,
                        &format!("person={} records={}", inquiry.person, mine.len()),
                    )
                    .map_err(e)?;
                let notification = inquiry
                    .is_over(secs(now))
                    .then(|| inquiry::notification(&inquiry, &settings.organisation, mine.len()));
                Ok(TrafficResponse::Report {
                    inquiry,
                    records: mine.into_iter().map(ReportLine::from).collect(),
                    notification,
                })
            }
            TrafficRequest::InquiryClose { id } => {
                let _changing = self.changing(true).await?;
                let mut inquiry = self.inquiry(id).await?;
                if inquiry.closed.is_some() {
                    return Err(format!(
                        "onderzoek {id} is al gesloten / inquiry {id} is already closed"
                    ));
                }
                inquiry.closed = Some(secs(now));
                self.store.put_inquiry(&inquiry).await.map_err(e)?;
                audit
                    .append(
                        now,
                        uid,
                        "inquiry-close",
                        &format!("inquiry-{id}"),
                        &inquiry.reason,
                        &format!("person={}", inquiry.person),
                    )
                    .map_err(|x| format!("inquiry {id} closed, but {x}"))?;
                Ok(TrafficResponse::Inquiry { inquiry })
            }
            TrafficRequest::InquiryNotified { id, date, how } => {
                let _changing = self.changing(true).await?;
                let mut inquiry = self.inquiry(id).await?;
                let how = how.trim().to_string();
                inquiry::check_notified(&inquiry, date, &how, secs(now)).map_err(e)?;
                let (login, _) = account(uid);
                // Audited first, like an opening: the log is the record of who informed whom.
                audit
                    .append(
                        now,
                        uid,
                        "inquiry-notified",
                        &format!("inquiry-{id}"),
                        &how,
                        &format!(
                            "person={} date={} by={}",
                            inquiry.person,
                            summary::date(date),
                            inquiry::who(uid, login.as_deref())
                        ),
                    )
                    .map_err(e)?;
                inquiry.notified = Some(Notified {
                    date,
                    how,
                    uid,
                    login,
                    recorded: secs(now),
                });
                self.store.put_inquiry(&inquiry).await.map_err(e)?;
                Ok(TrafficResponse::Inquiry { inquiry })
            }
            TrafficRequest::InquiryList => {
                let now = secs(now);
                let within = settings.notify_within_days;
                Ok(TrafficResponse::Inquiries {
                    inquiries: self
                        .store
                        .inquiries()
                        .await
                        .map_err(e)?
                        .into_iter()
                        .map(|inquiry| Listed {
                            notify_by: inquiry.notify_by(within),
                            overdue: inquiry.overdue(now, within),
                            inquiry,
                        })
                        .collect(),
                })
            }
        }
    }
}

/// The periods a summary request names, checked against `window`; none named: every period in it.
fn summary_periods(window: &Window, names: &[String]) -> Result<Vec<summary::Span>, String> {
    let available = window.periods();
    if names.is_empty() {
        if available.is_empty() {
            return Err(format!(
                "no whole {} has ended inside the retention window yet: nothing can be summarised",
                window.unit.name()
            ));
        }
        return Ok(available);
    }
    let hint = match (available.first(), available.last()) {
        (Some(first), Some(last)) => format!(
            " (periods that can be summarised now: {} .. {})",
            window.unit.label(*first),
            window.unit.label(*last)
        ),
        _ => String::new(),
    };
    names
        .iter()
        .map(|name| {
            let span = window.unit.parse(name)?;
            window.check(span)?;
            Ok(span)
        })
        .collect::<Result<Vec<_>, summary::PeriodError>>()
        .map_err(|err| format!("{err}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{audit, Request, Response, Service};
    use crate::traffic::DAY;
    use std::time::Duration;

    const REASON: &str = "vermoeden van misbruik";

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn record(keys: &KeyRing, time: u64, who: &str) -> Record {
        Record {
            time,
            sender: keys.key_for(time).expect("key").pseudonym(who),
            sender_domain: "school.example".into(),
            rcpt_local: 0,
            rcpt_external: 1,
            rcpt_domains: vec!["ouders.example".into()],
            size: 500 + time % 100,
            attachments: 1,
            verdict: "pass".into(),
            categories: vec![],
            exempt: None,
            would: None,
        }
    }

    /// A service over `dir/data` (keys in `dir/keys`) holding piet's records on days 1..=20 and jan's on the
    /// same days. With 28 days' retention the key periods are [0, day 4) and [day 4, day 32).
    fn service(dir: &std::path::Path) -> Service {
        let data = dir.join("data");
        let (store, _) = crate::quarantine::Store::open(&data).expect("quarantine");
        let audit = AuditLog::open(data.join("audit.log")).expect("audit");
        let traffic = crate::traffic::TrafficStore::open(&data).expect("traffic");
        let (keys, _) = KeyRing::open(&dir.join("keys"), &data, 28, 0).expect("keys");
        for d in 1..=20 {
            traffic
                .insert(&record(&keys, d * DAY + 10, "piet@school.example"))
                .expect("insert");
            traffic
                .insert(&record(&keys, d * DAY + 20, "jan@school.example"))
                .expect("insert");
        }
        assert_eq!(keys.keys().len(), 2);
        Service::new(
            store,
            audit,
            crate::smtp::NextHopSettings::default(),
            crate::message::Limits::default(),
        )
        .with_traffic(TrafficService::new(
            traffic.into(),
            Arc::new(keys),
            defaults(),
        ))
    }

    /// The settings of the default configuration (`[traffic]` defaults, organisation `de school`).
    fn defaults() -> TrafficSettings {
        TrafficSettings {
            retention_days: 28,
            k: 5,
            unit: Unit::Week,
            max_days: 14,
            notify_within_days: 14,
            organisation: "de school".into(),
        }
    }

    fn audit_log(dir: &std::path::Path) -> Vec<audit::AuditEntry> {
        let (entries, v) = audit::read(&dir.join("data/audit.log")).unwrap();
        assert!(v.intact);
        entries
    }

    async fn ask(service: &Service, request: TrafficRequest, now: u64) -> Response {
        service
            .handle(1000, Request::Traffic(request), at(now))
            .await
    }

    fn open(person: &str, days: u64, from: Option<u64>) -> TrafficRequest {
        TrafficRequest::InquiryOpen {
            person: person.into(),
            reason: REASON.into(),
            days,
            by: Some("J. de Vries".into()),
            from,
        }
    }

    async fn opened(service: &Service, request: TrafficRequest, now: u64) -> Inquiry {
        match ask(service, request, now).await {
            Response::Traffic(TrafficResponse::Inquiry { inquiry }) => inquiry,
            other => panic!("not opened: {other:?}"),
        }
    }

    async fn refused(service: &Service, request: TrafficRequest, now: u64) -> String {
        match ask(service, request, now).await {
            Response::Error { message } => message,
            other => panic!("accepted: {other:?}"),
        }
    }

    async fn list(service: &Service, now: u64) -> Vec<Listed> {
        match ask(service, TrafficRequest::InquiryList, now).await {
            Response::Traffic(TrafficResponse::Inquiries { inquiries }) => inquiries,
            other => panic!("no list: {other:?}"),
        }
    }

    async fn report(service: &Service, id: u64, now: u64) -> (Vec<u64>, Option<String>) {
        match ask(service, TrafficRequest::InquiryReport { id }, now).await {
            Response::Traffic(TrafficResponse::Report {
                records,
                notification,
                ..
            }) => (records.iter().map(|r| r.time).collect(), notification),
            other => panic!("no report: {other:?}"),
        }
    }

    /// Opens (on day 11) an inquiry on piet over days 10 and 11.
    async fn ends_on_day_12(service: &Service) -> Inquiry {
        opened(
            service,
            open("piet@school.example", 2, Some(10 * DAY)),
            11 * DAY,
        )
        .await
    }

    #[test]
    fn traffic_requests_round_trip_as_json_lines() {
        let r = Request::Traffic(TrafficRequest::InquiryReport { id: 3 });
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        let r = Request::Traffic(TrafficRequest::Summary {
            periods: vec!["2026-W47".into()],
            group: Group::DomainVerdict,
        });
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        // An older client's request with `by` as a plain string still parses.
        let old = r#"{"request":"traffic","traffic":"inquiry-open","person":"p@x","reason":"r","days":1,"by":"b","from":null}"#;
        assert!(serde_json::from_str::<Request>(old).is_ok());
        // The free ranges of old are refused by the socket too.
        let old = r#"{"traffic":"summary","from":0,"to":86400,"by":"day","group":"domain"}"#;
        assert!(serde_json::from_str::<Request>(old).is_err());
    }

    #[tokio::test]
    async fn inquiry_sees_only_its_person_inside_its_window_and_every_action_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let now = 12 * DAY;
        let inquiry = opened(
            &service,
            open("<Piet@School.example>", 5, Some(10 * DAY)),
            now,
        )
        .await;
        assert_eq!((inquiry.from, inquiry.to), (10 * DAY, 15 * DAY));
        assert_eq!(inquiry.opened_uid, Some(1000));
        let (times, notification) = report(&service, inquiry.id, now).await;
        // Days 10..=14, piet only (his records are at +10 s, jan's at +20 s).
        assert_eq!(times, (10..15).map(|d| d * DAY + 10).collect::<Vec<_>>());
        assert!(notification.is_none(), "still open");
        let closed = ask(
            &service,
            TrafficRequest::InquiryClose { id: inquiry.id },
            now,
        )
        .await;
        assert!(matches!(
            closed,
            Response::Traffic(TrafficResponse::Inquiry { .. })
        ));
        let (times, notification) = report(&service, inquiry.id, now).await;
        assert_eq!(
            times,
            vec![10 * DAY + 10, 11 * DAY + 10],
            "ends at the close"
        );
        let text = notification.expect("notification after close");
        assert!(text.contains("piet@school.example") && text.contains("artikel 6.6"));
        let entries = audit_log(dir.path());
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "inquiry-open",
                "inquiry-report",
                "inquiry-close",
                "inquiry-report"
            ]
        );
        assert!(entries.iter().all(|e| e.id == "inquiry-1" && e.uid == 1000));
    }

    #[tokio::test]
    async fn an_inquiry_across_a_key_period_boundary_finds_records_in_both_periods() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        // Window days 2..6 crosses the key change at day 4 (1970-01-05, the first Monday).
        let inquiry = opened(
            &service,
            open("piet@school.example", 4, Some(2 * DAY)),
            5 * DAY,
        )
        .await;
        let (times, _) = report(&service, inquiry.id, 5 * DAY).await;
        assert_eq!(times, (2..6).map(|d| d * DAY + 10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn too_long_too_old_thin_or_anonymous_inquiries_are_refused_and_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let now = 40 * DAY;
        for (days, from) in [(15, None), (3, Some(now - 29 * DAY)), (0, None)] {
            let message = refused(&service, open("piet@school.example", days, from), now).await;
            if days == 15 {
                assert!(message.contains("maximum of 14 days"), "{message}");
            }
        }
        // Enforced here, not in the CLI: whatever a client sends over the socket.
        for (reason, by) in [
            (".", Some("J. de Vries")),
            ("melding", Some("J. de Vries")),
            (REASON, Some(".")),
            // uid 1000 has no full name in the password database to stand in for --by (or does not exist).
            (REASON, None),
        ] {
            let message = refused(
                &service,
                TrafficRequest::InquiryOpen {
                    person: "piet@school.example".into(),
                    reason: reason.into(),
                    days: 3,
                    by: by.map(str::to_string),
                    from: None,
                },
                now,
            )
            .await;
            assert!(message.contains(" / "), "Dutch, then English: {message}");
        }
        assert!(list(&service, now).await.is_empty());
        assert!(audit_log(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn without_by_the_callers_full_name_is_responsible() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let (login, name) = account(0);
        let r = service
            .handle(
                0,
                Request::Traffic(TrafficRequest::InquiryOpen {
                    person: "piet@school.example".into(),
                    reason: REASON.into(),
                    days: 3,
                    by: None,
                    from: None,
                }),
                at(30 * DAY),
            )
            .await;
        match (r, name) {
            (Response::Traffic(TrafficResponse::Inquiry { inquiry }), Some(name)) => {
                assert_eq!(inquiry.by, name);
                assert_eq!(inquiry.opened_login, login);
                assert_eq!(inquiry.opened_uid, Some(0));
            }
            (Response::Error { .. }, None) => {}
            (r, name) => panic!("{r:?} with full name {name:?}"),
        }
    }

    #[tokio::test]
    async fn duplicate_overlapping_and_chained_inquiries_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let now = 20 * DAY;
        let first = opened(&service, open("piet@school.example", 7, Some(2 * DAY)), now).await;
        for request in [
            open("piet@school.example", 7, Some(2 * DAY)),
            open("PIET@school.example", 3, Some(5 * DAY)),
            open("piet@school.example", 7, Some(9 * DAY)),
            open("piet@school.example", 8, Some(11 * DAY)),
        ] {
            let message = refused(&service, request, now).await;
            assert!(
                message.contains(&format!("inquiry {}", first.id)),
                "{message}"
            );
        }
        // Within the cap and a day apart: allowed; someone else: allowed.
        opened(
            &service,
            open("piet@school.example", 7, Some(10 * DAY)),
            now,
        )
        .await;
        opened(&service, open("jan@school.example", 14, Some(2 * DAY)), now).await;
        assert_eq!(list(&service, now).await.len(), 3);
    }

    #[tokio::test]
    async fn ended_inquiries_close_themselves_once_and_audited() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let inquiry = ends_on_day_12(&service).await;
        assert!(list(&service, 11 * DAY).await[0].inquiry.closed.is_none());
        let later = 12 * DAY + 5;
        let listed = list(&service, later).await;
        assert_eq!(listed[0].inquiry.closed, Some(12 * DAY));
        assert!(listed[0].inquiry.auto_closed);
        // Again, through the list, a report and the daemon's hourly run: closed once only.
        list(&service, later + 10).await;
        let (_, notification) = report(&service, inquiry.id, later + 20).await;
        assert!(notification.is_some());
        assert!(service
            .close_ended_inquiries(0, at(later + 30))
            .await
            .unwrap()
            .is_empty());
        let closes: Vec<_> = audit_log(dir.path())
            .into_iter()
            .filter(|e| e.action == "inquiry-close")
            .collect();
        assert_eq!(closes.len(), 1, "{closes:?}");
        assert!(closes[0].reason.contains("window ended"));
        assert!(refused(
            &service,
            TrafficRequest::InquiryClose { id: inquiry.id },
            later
        )
        .await
        .contains("already closed"));
    }

    #[tokio::test]
    async fn the_notification_is_recorded_once_and_overdue_until_then() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let inquiry = ends_on_day_12(&service).await;
        let notified = |date: u64| TrafficRequest::InquiryNotified {
            id: inquiry.id,
            date,
            how: "gesprek met leidinggevende".into(),
        };
        // Not while it runs.
        assert!(refused(&service, notified(11 * DAY), 11 * DAY + 5)
            .await
            .contains("still open"));
        // Ended day 12; due by day 26 (14 days).
        let listed = list(&service, 25 * DAY).await;
        assert_eq!(listed[0].notify_by, 26 * DAY);
        assert!(!listed[0].overdue);
        assert!(list(&service, 26 * DAY).await[0].overdue);
        let done = opened(&service, notified(27 * DAY), 27 * DAY + 5).await;
        let n = done.notified.expect("notified");
        assert_eq!((n.date, n.uid), (27 * DAY, 1000));
        assert!(!list(&service, 27 * DAY + 6).await[0].overdue);
        assert!(refused(&service, notified(27 * DAY), 27 * DAY + 7)
            .await
            .contains("already recorded"));
        let entry = audit_log(dir.path())
            .into_iter()
            .find(|e| e.action == "inquiry-notified")
            .expect("audited");
        assert_eq!(entry.reason, "gesprek met leidinggevende");
        assert!(entry.detail.contains("date=1970-01-28"), "{}", entry.detail);
    }

    #[tokio::test]
    async fn reloaded_settings_take_effect() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let Some(traffic) = service.traffic.clone() else {
            panic!("traffic service");
        };
        traffic.reload(TrafficSettings {
            k: 2,
            unit: Unit::Day,
            max_days: 20,
            ..defaults()
        });
        let Response::Traffic(TrafficResponse::Summary { summary }) = ask(
            &service,
            TrafficRequest::Summary {
                periods: vec![],
                group: Group::Domain,
            },
            30 * DAY,
        )
        .await
        else {
            panic!("no summary");
        };
        assert_eq!((summary.k, summary.unit), (2, Unit::Day));
        // Days 3..=28: day 2 begins too close to the retention cut-off, day 29 ended less than an hour ago.
        assert_eq!(summary.releases.len(), 26);
        // Two senders never make a shown figure, whatever k: each could subtract their own part.
        assert!(summary.releases.iter().all(|r| r.cells.is_empty()));
        opened(&service, open("piet@school.example", 20, None), 30 * DAY).await;
    }

    #[tokio::test]
    async fn summaries_are_of_whole_completed_periods_and_audited() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let (keys, _) =
            KeyRing::open(&dir.path().join("keys"), &dir.path().join("data"), 28, 0).expect("keys");
        // Six more senders in the week of 1970-01-12 (days 11..18), so that week has a shown cell.
        let Some(traffic) = service.traffic.clone() else {
            panic!("traffic service");
        };
        for i in 0..6 {
            let who = format!("leraar{i}@school.example");
            traffic
                .store()
                .insert(&record(&keys, 12 * DAY + i, &who))
                .await
                .expect("insert");
        }
        let summary = |periods: &[&str], now: u64| {
            let service = &service;
            let periods = periods.iter().map(|p| p.to_string()).collect();
            async move {
                ask(
                    service,
                    TrafficRequest::Summary {
                        periods,
                        group: Group::Domain,
                    },
                    now,
                )
                .await
            }
        };
        let Response::Traffic(TrafficResponse::Summary { summary: s }) =
            summary(&["1970-W03"], 30 * DAY).await
        else {
            panic!("no summary");
        };
        assert_eq!(s.unit, Unit::Week);
        assert_eq!(s.releases.len(), 1);
        let cell = &s.releases[0].cells[0];
        // piet and jan on 7 days each, and the six teachers.
        assert_eq!(
            (cell.domain.as_str(), cell.messages),
            ("school.example", 20)
        );
        // Refused: a day in week mode, a week that is still running, a week before the retention window.
        for (period, now, want) in [
            ("1970-01-12", 30 * DAY, "is not a week"),
            ("1970-W03", 17 * DAY, "has not ended yet"),
            ("1970-W02", 40 * DAY, "begins before"),
        ] {
            let Response::Error { message } = summary(&[period], now).await else {
                panic!("{period} accepted");
            };
            assert!(message.contains(want), "{message}");
            assert!(message.contains("can be summarised"), "{message}");
        }
        let entries = audit_log(dir.path());
        let details: Vec<&str> = entries.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(details, ["weeks=1970-W03 group=domain k=5 p=10"]);
    }
}
