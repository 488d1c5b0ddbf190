//! Tests of the review operations (offline: the same [`Service`] the daemon runs). Release against a real
//! next hop is tested end to end in `tests/quarantine.rs`.

use std::time::Duration;

use super::*;
use crate::quarantine::Quarantine;
use crate::scan::Detection;

const MAIL: &[u8] = b"From: juf@school.example\r\nTo: ouder@example.org\r\nSubject: t\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nHallo\r\n\
--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"virus.com\"\r\n\r\n\
not really a virus\r\n--B--\r\n";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

async fn service(dir: &std::path::Path, next_hop: &str) -> (Service, String) {
    // As the daemon does at its first start: the audit head exists before anything is quarantined.
    let audit = AuditLog::open(dir.join("audit.log")).expect("audit");
    audit.settle(at(1), 0).expect("settle");
    let (store, _) = Store::open(dir).expect("open");
    let analysis = message::analyse(MAIL, &Limits::default());
    let part = analysis.attachments[0].part;
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
                location: format!("part {part}"),
            }],
            at(1000),
        )
        .await
        .expect("store");
    let settings = NextHopSettings {
        address: next_hop.into(),
        connect_timeout: Duration::from_secs(2),
        ..NextHopSettings::default()
    };
    (
        Service::new(store, audit, settings, Limits::default()),
        format!("part {part}"),
    )
}

fn audit_actions(service: &Service) -> Vec<(String, String, u32)> {
    let (entries, v) = audit::read(service.audit.path()).expect("read");
    assert!(v.intact);
    entries
        .into_iter()
        .map(|e| (e.action, e.reason, e.uid))
        .collect()
}

fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

#[tokio::test]
async fn show_gives_structure_and_places_the_detection_without_revealing_content() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (svc, part) = service(tmp.path(), &dead_addr()).await;
    let r = svc
        .handle(
            1000,
            Request::Show {
                id: "MW1".into(),
                raw: false,
                reason: None,
            },
            at(2000),
        )
        .await;
    let Response::Shown {
        parts,
        raw_base64,
        message_detections,
        ..
    } = r
    else {
        panic!("{r:?}")
    };
    assert!(raw_base64.is_none());
    assert!(message_detections.is_empty());
    let infected: Vec<_> = parts.iter().filter(|p| !p.detections.is_empty()).collect();
    assert_eq!(infected.len(), 1);
    assert_eq!(format!("part {}", infected[0].part), part);
    assert_eq!(infected[0].name.as_deref(), Some("virus.com"));
    assert!(parts.iter().any(|p| p.kind == "text"));
    assert!(audit_actions(&svc).is_empty(), "metadata is not audited");
}

#[tokio::test]
async fn raw_needs_a_reason_and_is_audited() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (svc, _) = service(tmp.path(), &dead_addr()).await;
    for reason in [None, Some("  ".to_string())] {
        let r = svc
            .handle(
                1000,
                Request::Show {
                    id: "MW1".into(),
                    raw: true,
                    reason,
                },
                at(2000),
            )
            .await;
        assert!(matches!(r, Response::Error { .. }), "{r:?}");
    }
    let r = svc
        .handle(
            1000,
            Request::Show {
                id: "MW1".into(),
                raw: true,
                reason: Some("melding helpdesk 42".into()),
            },
            at(2000),
        )
        .await;
    let Response::Shown {
        raw_base64: Some(raw),
        ..
    } = r
    else {
        panic!("{r:?}")
    };
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .expect("b64"),
        MAIL
    );
    assert_eq!(
        audit_actions(&svc),
        vec![("show-raw".into(), "melding helpdesk 42".into(), 1000)]
    );
}

#[tokio::test]
async fn release_with_next_hop_down_is_an_error_and_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (svc, _) = service(tmp.path(), &dead_addr()).await;
    let r = svc
        .handle(
            1000,
            Request::Release {
                id: "MW1".into(),
                reason: "vals alarm".into(),
                to: None,
            },
            at(2000),
        )
        .await;
    let Response::Error { message } = r else {
        panic!("{r:?}")
    };
    assert!(message.contains("not released"), "{message}");
    assert_eq!(
        svc.store.get("MW1").expect("still there").status,
        Status::Held
    );
    assert!(audit_actions(&svc).is_empty());
}

#[tokio::test]
async fn unknown_and_malicious_ids_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (svc, _) = service(tmp.path(), &dead_addr()).await;
    for (id, want) in [
        ("MW404", "no quarantine entry"),
        ("../../etc/passwd", "not a quarantine id"),
    ] {
        for request in [
            Request::Show {
                id: id.into(),
                raw: false,
                reason: None,
            },
            Request::Export {
                id: id.into(),
                reason: Some("melding helpdesk 42".into()),
            },
            Request::Delete {
                id: id.into(),
                reason: "onderzoek afgerond".into(),
            },
        ] {
            let r = svc.handle(1000, request.clone(), at(2000)).await;
            match r {
                Response::Error { message } => assert!(message.contains(want), "{message}"),
                other => panic!("{request:?} gave {other:?}"),
            }
        }
    }
    assert!(audit_actions(&svc).is_empty());
}

#[tokio::test]
async fn export_and_delete_are_audited_and_listed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (svc, _) = service(tmp.path(), &dead_addr()).await;
    let r = svc
        .handle(
            7,
            Request::Export {
                id: "MW1".into(),
                reason: Some("naar CERT voor analyse".into()),
            },
            at(2000),
        )
        .await;
    assert!(matches!(r, Response::Exported { .. }), "{r:?}");
    let r = svc
        .handle(
            7,
            Request::Delete {
                id: "MW1".into(),
                reason: "onderzocht, klaar".into(),
            },
            at(3000),
        )
        .await;
    assert_eq!(r, Response::Deleted { id: "MW1".into() });
    let r = svc.handle(7, Request::List { since: None }, at(3000)).await;
    assert_eq!(r, Response::Entries { entries: vec![] });
    let r = svc.handle(7, Request::AuditList, at(3000)).await;
    let Response::Audit {
        entries,
        verification,
        ..
    } = r
    else {
        panic!("{r:?}")
    };
    assert!(verification.intact);
    let got: Vec<_> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.id.as_str(), e.time))
        .collect();
    assert_eq!(got, vec![("export", "MW1", 2000), ("delete", "MW1", 3000)]);
}

#[test]
fn requests_are_json_lines_with_a_tag() {
    let r: Request =
        serde_json::from_str(r#"{"request":"release","id":"MW1","reason":"r","to":null}"#)
            .expect("parse");
    assert_eq!(
        r,
        Request::Release {
            id: "MW1".into(),
            reason: "r".into(),
            to: None
        }
    );
    assert!(serde_json::from_str::<Request>(r#"{"request":"rm -rf","id":"x"}"#).is_err());
    assert!(serde_json::from_str::<Request>(r#"{"request":"list","since":1,"extra":2}"#).is_err());
}

#[tokio::test]
async fn retention_purge_is_audited() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (svc, _) = service(tmp.path(), &dead_addr()).await;
    // Stored at t=1000; 1 day retention; at t=1000+86_399 it stays, at 1000+86_401 it goes.
    assert!(svc
        .purge(0, at(1000 + 86_399), 1)
        .await
        .expect("purge")
        .is_empty());
    assert_eq!(
        svc.purge(0, at(1000 + 86_401), 1).await.expect("purge"),
        vec!["MW1"]
    );
    assert_eq!(
        audit_actions(&svc),
        vec![("purge".into(), "retention 1 days".into(), 0)]
    );
}

/// Every request that reveals or moves content needs a reason of substance, in the service itself (so the
/// socket is held to it too, not only the CLI); a refused request reveals, changes and audits nothing.
#[tokio::test]
async fn content_requests_without_a_reason_of_substance_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (svc, _) = service(tmp.path(), &dead_addr()).await;
    let weak: [Option<&str>; 6] = [
        None,
        Some(""),
        Some("   \t "),
        Some("CERT"),
        Some("1234567890"),
        Some(".........."),
    ];
    for reason in weak {
        let owned = reason.map(String::from);
        let requests = [
            Request::Show {
                id: "MW1".into(),
                raw: true,
                reason: owned.clone(),
            },
            Request::Export {
                id: "MW1".into(),
                reason: owned.clone(),
            },
            Request::Release {
                id: "MW1".into(),
                reason: owned.clone().unwrap_or_default(),
                to: None,
            },
            Request::Delete {
                id: "MW1".into(),
                reason: owned.clone().unwrap_or_default(),
            },
        ];
        for request in requests {
            let r = svc.handle(1000, request.clone(), at(2000)).await;
            match r {
                Response::Error { message } => {
                    assert!(message.contains("--reason"), "{request:?}: {message}")
                }
                other => panic!("{request:?} was answered: {other:?}"),
            }
        }
    }
    assert!(audit_actions(&svc).is_empty());
    assert_eq!(
        svc.store.get("MW1").expect("still there").status,
        Status::Held
    );
    // Ten characters with words in them pass, trimmed.
    let r = svc
        .handle(
            1000,
            Request::Export {
                id: "MW1".into(),
                reason: Some("  naar CERT!  ".into()),
            },
            at(2000),
        )
        .await;
    assert!(matches!(r, Response::Exported { .. }), "{r:?}");
    assert_eq!(
        audit_actions(&svc),
        vec![("export".into(), "naar CERT!".into(), 1000)]
    );
}

/// `audit list` through the service reports a log deleted while the quarantine holds mail.
#[tokio::test]
async fn a_deleted_audit_log_with_a_full_quarantine_is_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (svc, _) = service(tmp.path(), &dead_addr()).await;
    let r = svc.handle(7, Request::AuditList, at(3000)).await;
    assert!(
        matches!(&r, Response::Audit { verification, .. } if verification.intact),
        "{r:?}"
    );
    std::fs::remove_file(tmp.path().join("audit.head")).expect("rm head");
    let r = svc.handle(7, Request::AuditList, at(3000)).await;
    let Response::Audit { verification, .. } = r else {
        panic!("{r:?}")
    };
    assert!(!verification.intact);
    assert!(
        verification.problems[0]
            .contains("audit.head is missing, but the quarantine holds 1 message"),
        "{verification:?}"
    );
}

#[tokio::test]
async fn a_console_user_gets_content_only_through_a_request_another_ict_or_privacy_user_approved() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (svc, _) = service(tmp.path(), &dead_addr()).await;
    for (name, role) in [("anna", Role::Ict), ("aart", Role::Auditor)] {
        svc.accounts()
            .add(name, role, "een lang wachtwoord", at(1500))
            .expect("account");
    }
    let anna = Caller::web(0, "anna");
    let reason = Some("melding helpdesk 1234".to_string());
    for request in [
        Request::Show {
            id: "MW1".into(),
            raw: true,
            reason: reason.clone(),
        },
        Request::Export {
            id: "MW1".into(),
            reason: reason.clone(),
        },
        Request::Release {
            id: "MW1".into(),
            reason: "melding helpdesk 1234".into(),
            to: None,
        },
    ] {
        let r = svc.handle_as(&anna, request, at(2000)).await;
        let Response::Error { message } = r else {
            panic!("a console user got {r:?} without approval");
        };
        assert!(message.contains("four eyes"), "{message}");
    }
    assert!(svc
        .request_access(
            &anna,
            Guarded::ShowRaw,
            "MW9",
            "melding helpdesk 1234",
            at(2000)
        )
        .await
        .is_err());
    assert!(svc
        .request_access(&anna, Guarded::ShowRaw, "MW1", "kijken", at(2000))
        .await
        .is_err());
    let request = svc
        .request_access(
            &anna,
            Guarded::ShowRaw,
            "MW1",
            "melding helpdesk 1234",
            at(2000),
        )
        .await
        .expect("request");
    let auditor = svc
        .approve_access(&Caller::web(0, "aart"), request.number, at(2001))
        .await;
    assert!(auditor.is_err_and(|e| e.contains("may not approve")));
    let unknown = svc
        .approve_access(&Caller::web(0, "nobody"), request.number, at(2001))
        .await;
    assert!(unknown.is_err());
    let local = svc
        .approve_access(&Caller::local(0), request.number, at(2001))
        .await;
    assert!(local.is_err());
    let actions: Vec<String> = audit_actions(&svc).into_iter().map(|(a, _, _)| a).collect();
    assert_eq!(actions, ["access-request"]);
}
