//! Next-hop client tests against the test sink (`tests/support/sink.rs`).

#[path = "../../../tests/support/sink.rs"]
pub(crate) mod sink;

use sink::{Sink, SinkBehaviour};

use super::*;
use crate::envelope::Recipient;

fn hop(sink: &Sink, pool_size: usize) -> NextHop {
    NextHop::new(NextHopSettings {
        address: sink.addr().to_string(),
        helo_name: "mailwacht.test".into(),
        pool_size,
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
        data_timeout: Duration::from_secs(5),
        max_idle: Duration::from_secs(60),
    })
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope {
        mail_from: Some("juf@school.example".into()),
        mail_params: vec!["BODY=8BITMIME".into(), "SIZE=123".into(), "RET=HDRS".into()],
        rcpt_to: rcpts
            .iter()
            .map(|r| Recipient {
                address: r.to_string(),
                params: vec!["NOTIFY=NEVER".into()],
            })
            .collect(),
        xforward: vec![
            ("NAME".into(), "client.example".into()),
            ("ADDR".into(), "192.0.2.1".into()),
            ("HELO".into(), "[UNAVAILABLE]".into()),
            ("IDENT".into(), "ABC123".into()),
        ],
    }
}

async fn relay(hop: &NextHop, env: &Envelope, data: &[u8]) -> Result<Reply, RelayError> {
    let out = hop.begin(env).await?;
    out.send_data(data).await
}

#[tokio::test]
async fn relays_byte_exact() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let hop = hop(&sink, 2);
    let cases: Vec<(&[u8], &[u8])> = vec![
        (b"Subject: x\r\n\r\nbody\r\n", b"Subject: x\r\n\r\nbody\r\n"),
        (
            b".leading\r\n..two\r\n.\r\nend\r\n",
            b".leading\r\n..two\r\n.\r\nend\r\n",
        ),
        (b"bare\nlf\n.\nx\r\n", b"bare\nlf\n.\nx\r\n"),
        (
            b"8bit \xe9\xff\x00 and \r bare cr\r\n",
            b"8bit \xe9\xff\x00 and \r bare cr\r\n",
        ),
        // Without a final CRLF one is added before the dot (the only change allowed).
        (b"no final crlf", b"no final crlf\r\n"),
    ];
    for (input, _) in &cases {
        let reply = relay(&hop, &envelope(&["a@example.org"]), input)
            .await
            .expect("relay");
        assert_eq!(reply.code, 250);
        assert_eq!(reply.status, "2.0.0");
    }
    let got: Vec<Vec<u8>> = sink.messages().into_iter().map(|m| m.data).collect();
    let want: Vec<Vec<u8>> = cases.iter().map(|(_, w)| w.to_vec()).collect();
    assert_eq!(got, want);
    assert_eq!(sink.connections(), 1, "the pooled connection is reused");
}

#[tokio::test]
async fn envelope_forwarding_follows_capabilities() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    relay(&hop(&sink, 1), &envelope(&["a@example.org"]), b"x\r\n")
        .await
        .unwrap();
    let m = &sink.messages()[0];
    // Only the attributes the sink lists (NAME ADDR PROTO HELO), in received order, xtext kept.
    assert_eq!(
        m.xforward,
        vec!["XFORWARD NAME=client.example ADDR=192.0.2.1 HELO=[UNAVAILABLE]".to_string()]
    );
    // BODY and SIZE are offered; RET and NOTIFY need DSN, which is not.
    assert_eq!(m.mail_from, "<juf@school.example> BODY=8BITMIME SIZE=123");
    assert_eq!(m.rcpts, vec!["<a@example.org>".to_string()]);

    let plain = Sink::start(SinkBehaviour {
        xforward: vec![],
        eightbitmime: false,
        size: false,
        dsn: true,
        pipelining: false,
        ..SinkBehaviour::default()
    })
    .await;
    relay(&hop(&plain, 1), &envelope(&["a@example.org"]), b"x\r\n")
        .await
        .unwrap();
    let m = &plain.messages()[0];
    assert!(m.xforward.is_empty(), "no XFORWARD when not advertised");
    assert!(!plain.commands().iter().any(|c| c.starts_with("XFORWARD")));
    assert_eq!(m.mail_from, "<juf@school.example> RET=HDRS");
    assert_eq!(m.rcpts, vec!["<a@example.org> NOTIFY=NEVER".to_string()]);
}

#[tokio::test]
async fn helo_fallback() {
    let sink = Sink::start(SinkBehaviour {
        refuse_ehlo: true,
        ..SinkBehaviour::default()
    })
    .await;
    relay(&hop(&sink, 1), &envelope(&["a@example.org"]), b"x\r\n")
        .await
        .unwrap();
    assert!(sink.commands().iter().any(|c| c == "HELO mailwacht.test"));
    assert!(
        sink.messages()[0].xforward.is_empty(),
        "no extensions after HELO"
    );
}

#[tokio::test]
async fn xforward_lines_are_split() {
    let caps = Capabilities {
        xforward: vec!["NAME".into(), "HELO".into()],
        ..Capabilities::default()
    };
    let env = Envelope {
        xforward: vec![
            ("NAME".into(), "n".repeat(300)),
            ("HELO".into(), "h".repeat(300)),
            ("NAME".into(), "x".repeat(600)),
        ],
        ..Envelope::default()
    };
    let lines = xforward_lines(&caps, &env);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert!(
            line.len() <= XFORWARD_LINE_MAX
                && line.starts_with("XFORWARD ")
                && line.ends_with("\r\n")
        );
    }
}

#[tokio::test]
async fn per_recipient_replies() {
    for pipelining in [true, false] {
        let sink = Sink::start(SinkBehaviour {
            pipelining,
            rcpt_replies: vec![("perm".into(), 550), ("temp".into(), 450)],
            ..SinkBehaviour::default()
        })
        .await;
        let hop = hop(&sink, 1);
        let out = hop
            .begin(&envelope(&[
                "ok@x.example",
                "perm@x.example",
                "temp@x.example",
            ]))
            .await
            .unwrap();
        assert_eq!(out.mail_reply.code, 250);
        let codes: Vec<u16> = out.rcpt_replies.iter().map(|r| r.code).collect();
        assert_eq!(codes, vec![250, 550, 450], "pipelining {pipelining}");
        assert_eq!(out.rcpt_replies[1].status, "5.1.5");
        assert_eq!(out.send_data(b"x\r\n").await.unwrap().code, 250);

        // Nobody accepted: no DATA, the connection is reset and pooled.
        let out = hop.begin(&envelope(&["perm@x.example"])).await.unwrap();
        assert!(!out.any_accepted());
        assert!(matches!(
            out.send_data(b"x\r\n").await,
            Err(RelayError::NoAcceptedRecipients)
        ));
        assert_eq!(sink.messages().len(), 1);
        assert_eq!(hop.idle_connections(), 1);
    }
}

/// With PIPELINING, DATA goes out with the envelope; abandoning the transaction after its `354` closes the
/// connection (the next hop waits for content, RSET is not possible). Without PIPELINING nothing was sent
/// after RCPT, so RSET works and the connection is pooled.
#[tokio::test]
async fn abort_after_pipelined_data_closes_the_connection() {
    for pipelining in [true, false] {
        let sink = Sink::start(SinkBehaviour {
            pipelining,
            rcpt_replies: vec![("perm".into(), 550)],
            ..SinkBehaviour::default()
        })
        .await;
        let hop = hop(&sink, 1);
        let out = hop
            .begin(&envelope(&["ok@x.example", "perm@x.example"]))
            .await
            .unwrap();
        assert!(out.any_accepted());
        out.abort().await;
        assert_eq!(
            hop.idle_connections(),
            usize::from(!pipelining),
            "pipelining {pipelining}"
        );
        let commands = sink.commands();
        let data_at = commands.iter().position(|c| c == "DATA");
        assert_eq!(data_at.is_some(), pipelining, "{commands:?}");
        // The next transaction is whole, on the pooled connection or a fresh one.
        assert_eq!(
            relay(&hop, &envelope(&["ok@x.example"]), b"x\r\n")
                .await
                .unwrap()
                .code,
            250
        );
        assert_eq!(sink.messages().len(), 1);
    }
}

#[tokio::test]
async fn refused_mail_answers_every_recipient() {
    for pipelining in [true, false] {
        let sink = Sink::start(SinkBehaviour {
            pipelining,
            mail_reply: 451,
            ..SinkBehaviour::default()
        })
        .await;
        let out = hop(&sink, 1)
            .begin(&envelope(&["a@x.example", "b@x.example"]))
            .await
            .unwrap();
        assert_eq!(out.mail_reply.code, 451);
        assert!(out.rcpt_replies.iter().all(|r| r == &out.mail_reply));
        if !pipelining {
            assert!(
                !sink.commands().iter().any(|c| c.starts_with("RCPT")),
                "no RCPT after a refused MAIL"
            );
        }
    }
}

#[tokio::test]
async fn data_refusal_is_a_reply() {
    let sink = Sink::start(SinkBehaviour {
        data_reply: 554,
        ..SinkBehaviour::default()
    })
    .await;
    let reply = relay(&hop(&sink, 1), &envelope(&["a@x.example"]), b"x\r\n")
        .await
        .unwrap();
    assert_eq!((reply.code, reply.status.as_str()), (554, "5.0.0"));
}

#[tokio::test]
async fn next_hop_down_is_connect_error() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let hop = NextHop::new(NextHopSettings {
        address: addr.to_string(),
        ..NextHopSettings::default()
    });
    assert!(matches!(
        hop.begin(&envelope(&["a@x.example"])).await,
        Err(RelayError::Connect { .. })
    ));

    let sink = Sink::start(SinkBehaviour {
        close_after_greeting: true,
        ..SinkBehaviour::default()
    })
    .await;
    let err = hop_err(&sink).await;
    assert!(
        matches!(err, RelayError::Closed { stage: "EHLO" }),
        "{err:?}"
    );
}

async fn hop_err(sink: &Sink) -> RelayError {
    hop(sink, 1)
        .begin(&envelope(&["a@x.example"]))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn stale_pooled_connection_is_retried_once_on_a_fresh_one() {
    for pipelining in [true, false] {
        let sink = Sink::start(SinkBehaviour {
            reject_reuse_with_421: true,
            pipelining,
            ..SinkBehaviour::default()
        })
        .await;
        let hop = hop(&sink, 1);
        relay(&hop, &envelope(&["a@x.example"]), b"one\r\n")
            .await
            .unwrap();
        assert_eq!(hop.idle_connections(), 1);
        let reply = relay(&hop, &envelope(&["a@x.example"]), b"two\r\n")
            .await
            .unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(sink.connections(), 2, "one retry on a new connection");
        let data: Vec<Vec<u8>> = sink.messages().into_iter().map(|m| m.data).collect();
        assert_eq!(
            data,
            vec![b"one\r\n".to_vec(), b"two\r\n".to_vec()],
            "each message delivered once"
        );
    }
}

#[tokio::test]
async fn pool_never_exceeds_pool_size() {
    let sink = Sink::start(SinkBehaviour {
        delay: Duration::from_millis(20),
        ..SinkBehaviour::default()
    })
    .await;
    let hop = hop(&sink, 2);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let hop = hop.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("message {i}\r\n");
            relay(&hop, &envelope(&["a@x.example"]), body.as_bytes())
                .await
                .map(|r| r.code)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 250);
    }
    assert!(
        sink.connections() > 2,
        "concurrent transactions used separate connections"
    );
    assert_eq!(hop.idle_connections(), 2);
    assert_eq!(sink.messages().len(), 6);
    // The connections that did not fit were closed (QUIT), the pooled ones stay open.
    for _ in 0..100 {
        if sink.open_connections() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sink.open_connections(), 2);
}

#[tokio::test]
async fn expired_idle_connections_are_not_reused() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let mut settings = hop(&sink, 2).inner.settings.clone();
    settings.max_idle = Duration::ZERO;
    let hop = NextHop::new(settings);
    relay(&hop, &envelope(&["a@x.example"]), b"1\r\n")
        .await
        .unwrap();
    relay(&hop, &envelope(&["a@x.example"]), b"2\r\n")
        .await
        .unwrap();
    assert_eq!(sink.connections(), 2);
}

#[tokio::test]
async fn multi_line_replies() {
    let input: &[u8] = b"250-first\r\n250-2.0.0 second\r\n250 2.0.0 third\r\n220 next\r\n";
    let mut reader = BufReader::new(input);
    let reply = read_reply(&mut reader, "test").await.unwrap();
    assert_eq!(reply.code, 250);
    assert_eq!(reply.status, "");
    assert_eq!(reply.lines, vec!["first", "2.0.0 second", "2.0.0 third"]);
    let reply = read_reply(&mut reader, "test").await.unwrap();
    assert_eq!((reply.code, reply.lines), (220, vec!["next".to_string()]));
    assert!(matches!(
        read_reply(&mut reader, "test").await,
        Err(RelayError::Closed { .. })
    ));

    let mut reader = BufReader::new(&b"550-5.1.1 a\r\n550 5.1.1 b\r\n"[..]);
    let reply = read_reply(&mut reader, "test").await.unwrap();
    assert_eq!(
        (reply.status.as_str(), reply.lines),
        ("5.1.1", vec!["a".to_string(), "b".to_string()])
    );
    let mut reader = BufReader::new(&b"250-a\r\n451 b\r\n"[..]);
    assert!(matches!(
        read_reply(&mut reader, "test").await,
        Err(RelayError::Protocol { .. })
    ));
}

/// The byte-by-byte dot-stuffing `write_dot_stuffed` replaced: a dot doubled at the start and after every
/// LF, a CRLF added when missing, then the end-of-data line.
fn dot_stuffed_reference(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut start = 0;
    if data.first() == Some(&b'.') {
        out.push(b'.');
    }
    let mut search = 0;
    while let Some(offset) = data
        .get(search..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let lf = search + offset;
        if data.get(lf + 1) == Some(&b'.') {
            out.extend_from_slice(&data[start..=lf]);
            out.push(b'.');
            start = lf + 1;
        }
        search = lf + 1;
    }
    out.extend_from_slice(&data[start..]);
    if !data.is_empty() && !data.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

    #[test]
    fn dot_stuffing_matches_reference(
        data in proptest::strategy::Strategy::prop_map(
            proptest::collection::vec(
                proptest::sample::select(vec![&b"\r\n"[..], b"\n", b"\r", b".", b"..", b"a", b"\n.\n", b"\r\n.\r\n"]),
                0..40,
            ),
            |tokens: Vec<&'static [u8]>| tokens.concat(),
        )
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let mut got = Vec::new();
        runtime.block_on(write_dot_stuffed(&mut got, &data)).expect("write to a Vec");
        proptest::prop_assert_eq!(got, dot_stuffed_reference(&data));
    }
}
