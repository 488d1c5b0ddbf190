//! The traffic side of the admin socket: auditor summaries (SOML/ProCon 8.2) and targeted inquiries
//! (SOML/ProCon 8.3, WereldKidz 6.6), with every inquiry action in the same audit log as quarantine access.
//!
//! Must not: return a record outside an inquiry's window or of another person, summarise anything but whole,
//! completed periods inside the retention window (see [`crate::traffic::summary`]), or reveal anything
//! before its audit entry is written.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::AuditLog;
use crate::config::Config;
use crate::traffic::summary::{self, Group, Summary, Unit, Window};
use crate::traffic::{inquiry, Inquiry, PseudonymKey, Record, TrafficStore};

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
    /// Open an inquiry on one address.
    InquiryOpen {
        person: String,
        reason: String,
        days: u64,
        by: String,
        from: Option<u64>,
    },
    /// The person's records inside the window (audited).
    InquiryReport { id: u64 },
    /// Close an inquiry (audited).
    InquiryClose { id: u64 },
    /// All inquiries.
    InquiryList,
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
        /// After closing: the Dutch text for informing the person (WereldKidz 6.6).
        notification: Option<String>,
    },
    Inquiries {
        inquiries: Vec<Inquiry>,
    },
}

/// The `[traffic]` settings (and the organisation's name) in force; replaced whole on reload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    retention_days: u64,
    k: u64,
    unit: Unit,
    max_days: u64,
    organisation: String,
}

impl Settings {
    fn from_config(config: &Config) -> Settings {
        Settings {
            retention_days: config.traffic.retention_days,
            k: config.traffic.k_anonymity,
            unit: config.traffic.summary_period,
            max_days: config.traffic.inquiry_max_days,
            organisation: config.organisation.name.clone(),
        }
    }
}

/// The traffic store, pseudonym key and `[traffic]` settings the admin service answers from. Cheap to
/// clone; clones share the settings, so [`TrafficService::reload`] on one reaches all.
#[derive(Debug, Clone)]
pub struct TrafficService {
    store: TrafficStore,
    key: PseudonymKey,
    settings: std::sync::Arc<arc_swap::ArcSwap<Settings>>,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

impl TrafficService {
    /// Over `store` with `key`, using `[traffic]` and the organisation's name from `config`.
    pub fn new(store: TrafficStore, key: PseudonymKey, config: &Config) -> TrafficService {
        TrafficService {
            store,
            key,
            settings: std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(Settings::from_config(
                config,
            ))),
        }
    }

    /// Take the `[traffic]` settings of a reloaded configuration.
    pub fn reload(&self, config: &Config) {
        self.settings
            .store(std::sync::Arc::new(Settings::from_config(config)));
    }

    /// The retention period in force, in days.
    pub fn retention_days(&self) -> u64 {
        self.settings.load().retention_days
    }

    /// The store (for the offline CLI to flush).
    pub fn store(&self) -> &TrafficStore {
        &self.store
    }

    async fn range(&self, from: u64, to: u64) -> Result<Vec<Record>, String> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.range(from, to))
            .await
            .map_err(e)?
            .map_err(e)
    }

    fn inquiry(&self, id: u64) -> Result<Inquiry, String> {
        self.store
            .inquiry(id)
            .map_err(e)?
            .ok_or_else(|| format!("no inquiry {id}"))
    }

    /// Answer one traffic request from `uid` at `now`, auditing into `audit`.
    pub async fn answer(
        &self,
        audit: &AuditLog,
        uid: u32,
        request: TrafficRequest,
        now: SystemTime,
    ) -> Result<TrafficResponse, String> {
        let settings = self.settings.load_full();
        match request {
            TrafficRequest::Summary { periods, group } => {
                let window = Window {
                    unit: settings.unit,
                    now: secs(now),
                    retention_days: settings.retention_days,
                    purged_before: self.store.purged_before().map_err(e)?,
                };
                let spans = summary_periods(&window, &periods)?;
                let mut releases = Vec::with_capacity(spans.len());
                for span in spans {
                    let records = self.range(span.start, span.end).await?;
                    releases.push(summary::release(&records, settings.unit, span, settings.k));
                }
                let summary = Summary::new(
                    settings.unit,
                    group,
                    settings.k,
                    settings.retention_days,
                    releases,
                );
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
                let person = inquiry::validate(&person, &reason, &by).map_err(e)?;
                let (from, to) = inquiry::window(
                    secs(now),
                    from,
                    days,
                    settings.max_days,
                    settings.retention_days,
                )
                .map_err(e)?;
                let inquiry = Inquiry {
                    id: self.store.next_inquiry_id().map_err(e)?,
                    person,
                    reason: reason.trim().to_string(),
                    by: by.trim().to_string(),
                    from,
                    to,
                    opened: secs(now),
                    closed: None,
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
                            "person={} window={}..{} by={}",
                            inquiry.person,
                            summary::stamp(from, true),
                            summary::stamp(to, true),
                            inquiry.by
                        ),
                    )
                    .map_err(e)?;
                self.store.put_inquiry(&inquiry).map_err(e)?;
                Ok(TrafficResponse::Inquiry { inquiry })
            }
            TrafficRequest::InquiryReport { id } => {
                let inquiry = self.inquiry(id)?;
                let records = self.range(inquiry.from, inquiry.to).await?;
                let mine = inquiry::select(&inquiry, &self.key, &records);
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
                    .closed
                    .map(|_| inquiry::notification(&inquiry, &settings.organisation, mine.len()));
                Ok(TrafficResponse::Report {
                    inquiry,
                    records: mine.into_iter().map(ReportLine::from).collect(),
                    notification,
                })
            }
            TrafficRequest::InquiryClose { id } => {
                let mut inquiry = self.inquiry(id)?;
                if inquiry.closed.is_some() {
                    return Err(format!("inquiry {id} is already closed"));
                }
                inquiry.closed = Some(secs(now));
                self.store.put_inquiry(&inquiry).map_err(e)?;
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
            TrafficRequest::InquiryList => Ok(TrafficResponse::Inquiries {
                inquiries: self.store.inquiries().map_err(e)?,
            }),
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

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn record(key: &PseudonymKey, time: u64, who: &str) -> Record {
        Record {
            time,
            sender: key.pseudonym(who),
            sender_domain: "school.example".into(),
            rcpt_local: 0,
            rcpt_external: 1,
            rcpt_domains: vec!["ouders.example".into()],
            size: 500 + time % 100,
            attachments: 1,
            verdict: "pass".into(),
            categories: vec![],
            exempt: None,
        }
    }

    /// A service over a store holding piet's records on days 1..=20 and jan's on the same days.
    fn service(dir: &std::path::Path) -> (Service, PseudonymKey) {
        let (store, _) = crate::quarantine::Store::open(dir).expect("quarantine");
        let audit = AuditLog::open(dir.join("audit.log")).expect("audit");
        let traffic = TrafficStore::open(dir).expect("traffic");
        let key = PseudonymKey::from_bytes([9; 32]);
        for d in 1..=20 {
            traffic
                .insert(&record(&key, d * DAY + 10, "piet@school.example"))
                .expect("insert");
            traffic
                .insert(&record(&key, d * DAY + 20, "jan@school.example"))
                .expect("insert");
        }
        let config = Config::default();
        let service = Service::new(
            store,
            audit,
            crate::smtp::NextHopSettings::default(),
            crate::message::Limits::default(),
        )
        .with_traffic(TrafficService::new(traffic, key.clone(), &config));
        (service, key)
    }

    async fn ask(service: &Service, request: TrafficRequest, now: u64) -> Response {
        service
            .handle(1000, Request::Traffic(request), at(now))
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
        // The free ranges of old are refused by the socket too.
        let old = r#"{"traffic":"summary","from":0,"to":86400,"by":"day","group":"domain"}"#;
        assert!(serde_json::from_str::<Request>(old).is_err());
    }

    #[tokio::test]
    async fn inquiry_sees_only_its_person_inside_its_window_and_every_action_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let (service, _) = service(dir.path());
        let now = 22 * DAY;
        let Response::Traffic(TrafficResponse::Inquiry { inquiry }) = ask(
            &service,
            TrafficRequest::InquiryOpen {
                person: "<Piet@School.example>".into(),
                reason: "vermoeden van misbruik".into(),
                days: 5,
                by: "J. de Vries".into(),
                from: Some(10 * DAY),
            },
            now,
        )
        .await
        else {
            panic!("not opened");
        };
        assert_eq!((inquiry.from, inquiry.to), (10 * DAY, 15 * DAY));
        let Response::Traffic(TrafficResponse::Report {
            records,
            notification,
            ..
        }) = ask(
            &service,
            TrafficRequest::InquiryReport { id: inquiry.id },
            now,
        )
        .await
        else {
            panic!("no report");
        };
        // Days 10..=14, piet only (his records are at +10 s, jan's at +20 s).
        let times: Vec<u64> = records.iter().map(|r| r.time).collect();
        assert_eq!(times, (10..15).map(|d| d * DAY + 10).collect::<Vec<_>>());
        assert!(notification.is_none());
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
        let Response::Traffic(TrafficResponse::Report { notification, .. }) = ask(
            &service,
            TrafficRequest::InquiryReport { id: inquiry.id },
            now,
        )
        .await
        else {
            panic!("no report");
        };
        let text = notification.expect("notification after close");
        assert!(text.contains("piet@school.example") && text.contains("artikel 6.6"));
        let (entries, v) = audit::read(&dir.path().join("audit.log")).unwrap();
        assert!(v.intact);
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
    async fn too_long_or_too_old_inquiries_are_refused_and_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (service, _) = service(dir.path());
        let now = 40 * DAY;
        for (days, from) in [(15, None), (3, Some(now - 29 * DAY)), (0, None)] {
            let r = ask(
                &service,
                TrafficRequest::InquiryOpen {
                    person: "piet@school.example".into(),
                    reason: "r".into(),
                    days,
                    by: "b".into(),
                    from,
                },
                now,
            )
            .await;
            let Response::Error { message } = r else {
                panic!("{days} days from {from:?} accepted");
            };
            if days == 15 {
                assert!(message.contains("maximum of 14 days"), "{message}");
            }
        }
        let Response::Traffic(TrafficResponse::Inquiries { inquiries }) =
            ask(&service, TrafficRequest::InquiryList, now).await
        else {
            panic!("no list");
        };
        assert!(inquiries.is_empty());
        assert!(audit::read(&dir.path().join("audit.log"))
            .unwrap()
            .0
            .is_empty());
    }

    #[tokio::test]
    async fn reloaded_settings_take_effect() {
        let dir = tempfile::tempdir().unwrap();
        let (service, _) = service(dir.path());
        let Some(traffic) = service.traffic.clone() else {
            panic!("traffic service");
        };
        let mut config = Config::default();
        config.traffic.k_anonymity = 2;
        config.traffic.summary_period = Unit::Day;
        config.traffic.inquiry_max_days = 20;
        traffic.reload(&config);
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
        let r = ask(
            &service,
            TrafficRequest::InquiryOpen {
                person: "piet@school.example".into(),
                reason: "r".into(),
                days: 20,
                by: "b".into(),
                from: None,
            },
            30 * DAY,
        )
        .await;
        assert!(
            matches!(r, Response::Traffic(TrafficResponse::Inquiry { .. })),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn summaries_are_of_whole_completed_periods_and_audited() {
        let dir = tempfile::tempdir().unwrap();
        let (service, key) = service(dir.path());
        // Six more senders in the week of 1970-01-12 (days 11..18), so that week has a shown cell.
        let Some(traffic) = service.traffic.clone() else {
            panic!("traffic service");
        };
        for i in 0..6 {
            let who = format!("leraar{i}@school.example");
            traffic
                .store()
                .insert(&record(&key, 12 * DAY + i, &who))
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
        let (entries, _) = audit::read(&dir.path().join("audit.log")).unwrap();
        let details: Vec<&str> = entries.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(details, ["weeks=1970-W03 group=domain k=5 p=10"]);
    }
}
