//! Every error code, sent as a typed message on a connection that stays usable.

mod common;

use std::time::Duration;

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use common::{TestServer, expect_error, next};
use tether_proto::signal::{
    Bye, ByeReason, Candidate, ClientMsg, Hello, IceCandidate, Join, Role, Sdp, ServerMsg,
};
use tether_proto::{ErrorCode, MAX_MESSAGE_BYTES, SessionCode};
use tether_signal::Config;

fn wrong_code(right: SessionCode) -> SessionCode {
    let value: u32 = right.compact().parse().unwrap();
    SessionCode::from_value((value + 1) % 1_000_000_000).unwrap()
}

#[tokio::test]
async fn unknown_code_then_the_right_one() {
    let server = TestServer::default().await;
    let (mut agent, code) = server.agent().await;
    let mut viewer = server.viewer().await;
    viewer.send(&ClientMsg::Join(Join::new(wrong_code(code)))).await.unwrap();
    let err = expect_error(&mut viewer, ErrorCode::UnknownCode).await;
    assert!(err.message.contains("check the digits"), "{}", err.message);
    viewer.send(&ClientMsg::Join(Join::new(code))).await.unwrap();
    assert!(matches!(next(&mut viewer).await, ServerMsg::Joined(_)));
    assert!(matches!(next(&mut agent).await, ServerMsg::PeerJoined(_)));
}

#[tokio::test]
async fn a_code_in_use_answers_like_an_unknown_one() {
    let server = TestServer::default().await;
    let (_agent, _viewer, code) = server.pair().await;
    let mut second = server.viewer().await;
    second.send(&ClientMsg::Join(Join::new(code))).await.unwrap();
    let busy = expect_error(&mut second, ErrorCode::UnknownCode).await;
    second.send(&ClientMsg::Join(Join::new(wrong_code(code)))).await.unwrap();
    let unknown = expect_error(&mut second, ErrorCode::UnknownCode).await;
    assert_eq!(busy, unknown, "a guesser must not learn that a code is live");
}

#[tokio::test]
async fn codes_expire_unused_and_the_agent_gets_a_new_one() {
    let config = Config { code_ttl: Duration::from_secs(1), ..Config::default() };
    let server = TestServer::start(config).await;
    let (mut agent, old) = server.agent().await;
    // Wait for the server's word rather than for a time.
    let new = match next(&mut agent).await {
        ServerMsg::Code(issued) => issued.code,
        other => panic!("{other:?}"),
    };
    assert_ne!(old, new);
    let mut viewer = server.viewer().await;
    viewer.send(&ClientMsg::Join(Join::new(old))).await.unwrap();
    let err = expect_error(&mut viewer, ErrorCode::Expired).await;
    assert!(err.message.contains("new code"), "{}", err.message);
    viewer.send(&ClientMsg::Join(Join::new(new))).await.unwrap();
    assert!(matches!(next(&mut viewer).await, ServerMsg::Joined(_)));
}

#[tokio::test]
async fn new_code_on_request() {
    let server = TestServer::default().await;
    let (mut agent, old) = server.agent().await;
    agent.send(&ClientMsg::NewCode).await.unwrap();
    let ServerMsg::Code(issued) = next(&mut agent).await else { panic!("no code") };
    assert_ne!(issued.code, old);
    assert_eq!(issued.expires_in_secs, 600);
}

#[tokio::test]
async fn failed_joins_are_rate_limited_then_recover() {
    let config = Config { join_failure_window: Duration::from_secs(2), ..Config::default() };
    let server = TestServer::start(config).await;
    let (_agent, code) = server.agent().await;
    let mut viewer = server.viewer().await;
    for _ in 0..5 {
        viewer.send(&ClientMsg::Join(Join::new(wrong_code(code)))).await.unwrap();
        expect_error(&mut viewer, ErrorCode::UnknownCode).await;
    }
    // A new connection from the same address does not escape the limit, and the right code is
    // refused too so that a guesser learns nothing.
    let mut again = server.viewer().await;
    again.send(&ClientMsg::Join(Join::new(code))).await.unwrap();
    let err = expect_error(&mut again, ErrorCode::RateLimited).await;
    let wait = err.retry_after_secs.expect("a retry hint");
    assert!((1..=2).contains(&wait), "{wait}");
    // Recovery: after the hinted wait the right code works.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let mut joined = false;
    for _ in 0..20 {
        again.send(&ClientMsg::Join(Join::new(code))).await.unwrap();
        match next(&mut again).await {
            ServerMsg::Joined(_) => {
                joined = true;
                break;
            }
            ServerMsg::Error(e) if e.code == ErrorCode::RateLimited => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(joined, "the limit never lifted");
}

#[tokio::test]
async fn malformed_and_unknown_type_keep_the_connection() {
    let server = TestServer::default().await;
    let mut raw = server.raw().await;
    raw.send_text("{not json").await;
    raw.expect_error(ErrorCode::Malformed).await;
    raw.send_text(r#"{"type":"join"}"#).await;
    raw.expect_error(ErrorCode::Malformed).await;
    raw.ws.send(tokio_tungstenite::tungstenite::Message::binary(vec![1u8, 2, 3])).await.unwrap();
    raw.expect_error(ErrorCode::Malformed).await;
    raw.send_text(r#"{"type":"teleport"}"#).await;
    raw.expect_error(ErrorCode::UnknownType).await;
    // A frame of exactly the limit is read (and refused for its state: no hello yet).
    let padding = MAX_MESSAGE_BYTES - r#"{"type":"offer","sdp":""}"#.len();
    raw.send_text(format!(r#"{{"type":"offer","sdp":"{}"}}"#, "a".repeat(padding))).await;
    raw.expect_error(ErrorCode::BadState).await;
    // Still usable: a hello registers an agent.
    raw.send_text(r#"{"type":"hello","version":1,"role":"agent"}"#).await;
    assert!(matches!(raw.next().await, Some(ServerMsg::Code(_))));
}

#[tokio::test]
async fn a_frame_over_the_limit_gets_too_large_then_the_close() {
    let server = TestServer::default().await;
    let raw = server.raw().await;
    let (mut tx, mut rx) = futures_util::StreamExt::split(raw.ws);
    // The server stops reading mid-frame, so the send itself may fail: that is expected.
    let frame = format!(r#"{{"type":"offer","sdp":"{}"}}"#, "a".repeat(MAX_MESSAGE_BYTES));
    let sending = tokio::spawn(async move {
        let _ = tx.send(tokio_tungstenite::tungstenite::Message::text(frame)).await;
        tx
    });
    let mut raw = common::RawStream { rx: &mut rx };
    raw.expect_error(ErrorCode::TooLarge).await;
    let _ = sending.await;
    assert!(raw.next().await.is_none(), "the connection closes after the error");
}

#[tokio::test]
async fn a_frame_header_announcing_a_mebibyte_is_refused_before_its_body() {
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::MaybeTlsStream;
    let server = TestServer::default().await;
    let mut raw = server.raw().await;
    let MaybeTlsStream::Plain(tcp) = raw.ws.get_mut() else { panic!("plain TCP expected") };
    // FIN + text, masked, 64-bit length 1 MiB, a mask key, and no payload at all.
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 20).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    tcp.write_all(&header).await.unwrap();
    raw.expect_error(ErrorCode::TooLarge).await;
    assert!(raw.next().await.is_none(), "the connection closes without waiting for the body");
}

#[tokio::test]
async fn unsupported_version_is_refused() {
    let server = TestServer::default().await;
    let mut client = server.client().await;
    client
        .send(&ClientMsg::Hello(Hello { version: 99, role: Role::Agent, name: String::new() }))
        .await
        .unwrap();
    let err = expect_error(&mut client, ErrorCode::Version).await;
    assert!(err.message.contains("version 1"), "{}", err.message);
}

#[tokio::test]
async fn messages_out_of_order_are_bad_state() {
    let server = TestServer::default().await;
    let mut client = server.client().await;
    client.send(&ClientMsg::Join(Join::new(SessionCode::from_value(1).unwrap()))).await.unwrap();
    expect_error(&mut client, ErrorCode::BadState).await;
    let (mut agent, _) = server.agent().await;
    agent.send(&ClientMsg::Offer(Sdp { sdp: "v=0".into() })).await.unwrap();
    expect_error(&mut agent, ErrorCode::BadState).await;
}

#[tokio::test]
async fn a_full_server_says_so() {
    let config = Config { max_sessions: 1, ..Config::default() };
    let server = TestServer::start(config).await;
    let (_agent, _) = server.agent().await;
    let mut second = server.client().await;
    second.hello(Role::Agent, "").await.unwrap();
    expect_error(&mut second, ErrorCode::Full).await;

    let config = Config { max_connections: 1, ..Config::default() };
    let server = TestServer::start(config).await;
    let _first = server.client().await;
    let mut raw = server.raw().await;
    raw.expect_error(ErrorCode::Full).await;
}

#[tokio::test]
async fn message_floods_are_rate_limited() {
    let config = Config { messages_per_second: 1.0, message_burst: 5, ..Config::default() };
    let server = TestServer::start(config).await;
    let mut raw = server.raw().await;
    for _ in 0..10 {
        raw.send_text("{}").await;
    }
    let mut limited = 0;
    for _ in 0..10 {
        match raw.next().await {
            Some(ServerMsg::Error(e)) if e.code == ErrorCode::RateLimited => limited += 1,
            Some(ServerMsg::Error(e)) if e.code == ErrorCode::Malformed => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(limited >= 4, "{limited}");
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_cut_off_with_slow_consumer() {
    let config = Config { messages_per_second: 1e6, message_burst: 1_000_000, ..Config::default() };
    let server = TestServer::start(config).await;
    let (mut agent, viewer, _) = server.pair().await;
    // The viewer stops reading; the agent keeps sending large candidates until the server gives
    // up on the viewer and tells the agent the peer left.
    let big = Sdp { sdp: "a".repeat(60_000) };
    let mut bye = None;
    for _ in 0..2000 {
        agent.send(&ClientMsg::Offer(big.clone())).await.unwrap();
        if let Ok(Ok(msg)) = tokio::time::timeout(Duration::from_millis(1), agent.recv()).await {
            bye = Some(msg);
            break;
        }
    }
    match bye {
        Some(ServerMsg::Bye(b)) => assert_eq!(b.reason, tether_proto::signal::ByeReason::PeerLeft),
        other => panic!("the slow viewer was never cut off: {other:?}"),
    }
    drop(viewer);
}

#[tokio::test]
async fn message_bursts_do_not_cut_the_agent_off() {
    // 25 join/bye pairs sent the agent 50 small messages at once, and the 32-deep outbox cut
    // the *agent*. Codes are single-use now, so the same burst of small messages comes from
    // the paired viewer instead: trickle ICE sends dozens of candidates at once.
    let server = TestServer::default().await;
    let (mut agent, mut viewer, _) = server.pair().await;
    let candidate = Candidate {
        candidate: Some(IceCandidate {
            candidate: "candidate:1 1 udp 2130706431 192.0.2.7 50000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: None,
        }),
    };
    for _ in 0..60 {
        viewer.send(&ClientMsg::Candidate(candidate.clone())).await.unwrap();
    }
    for n in 0..60 {
        match next(&mut agent).await {
            ServerMsg::Candidate(_) => {}
            other => panic!("after {n} candidates: {other:?}"),
        }
    }
    // Still paired and registered.
    agent.send(&ClientMsg::Offer(Sdp { sdp: "v=0".into() })).await.unwrap();
    assert!(matches!(next(&mut viewer).await, ServerMsg::Offer(_)));
}

#[tokio::test]
async fn join_and_bye_loops_burn_the_code_and_cannot_flood_the_agent() {
    let server = TestServer::default().await;
    let (mut agent, code) = server.agent().await;
    let mut viewer = server.viewer().await;
    for _ in 0..25 {
        viewer.send(&ClientMsg::Join(Join::new(code))).await.unwrap();
        let bye = Bye { reason: ByeReason::Hangup, message: None };
        viewer.send(&ClientMsg::Bye(bye)).await.unwrap();
    }
    // One prompt, its end, and a new code for the next supporter: the old code is used up.
    assert!(matches!(next(&mut agent).await, ServerMsg::PeerJoined(_)));
    assert!(matches!(next(&mut agent).await, ServerMsg::Bye(_)));
    let fresh = match next(&mut agent).await {
        ServerMsg::Code(issued) => issued.code,
        other => panic!("{other:?}"),
    };
    // The 24 joins with the used-up code counted as failures: this address is locked out, even
    // with the fresh code (everything here comes from 127.0.0.1).
    let mut same_address = server.viewer().await;
    same_address.send(&ClientMsg::Join(Join::new(fresh))).await.unwrap();
    expect_error(&mut same_address, ErrorCode::RateLimited).await;
    // The agent is still registered and answers.
    agent.send(&ClientMsg::NewCode).await.unwrap();
    assert!(matches!(next(&mut agent).await, ServerMsg::Code(_)));
}

#[tokio::test]
async fn binary_frames_cost_tokens_too() {
    let config = Config { messages_per_second: 1.0, message_burst: 5, ..Config::default() };
    let server = TestServer::start(config).await;
    let mut raw = server.raw().await;
    for _ in 0..10 {
        raw.ws.send(Message::binary(vec![0u8; 16])).await.unwrap();
    }
    let mut limited = 0;
    for _ in 0..10 {
        match raw.next().await {
            Some(ServerMsg::Error(e)) if e.code == ErrorCode::RateLimited => limited += 1,
            Some(ServerMsg::Error(e)) if e.code == ErrorCode::Malformed => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(limited >= 4, "{limited}");
}

#[tokio::test]
async fn a_client_that_floods_and_stops_reading_is_closed_by_time() {
    // Each bad message earns an error reply; a client that never reads them fills the socket.
    // The write that the socket does not take within `write_timeout` ends the connection.
    let config = Config {
        messages_per_second: 1e9,
        message_burst: 10_000_000,
        write_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let mut raw = server.raw().await;
    let bad = format!(r#"{{"type":"nonsense","pad":"{}"}}"#, "p".repeat(2000));
    let started = std::time::Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(20) {
        let sending = raw.ws.send(Message::text(bad.clone()));
        match tokio::time::timeout(Duration::from_secs(2), sending).await {
            Ok(Ok(())) => sent += 1,
            // Reset: the server has closed already.
            Ok(Err(_)) => break,
            // The server stopped reading (its writer is stuck on us).
            Err(_) => break,
        }
    }
    // Read what came back: the errors that fit in the buffers, then the end (a connection kept
    // open would instead go quiet, and `next` fails the test after its patience).
    let mut replies = 0;
    while let Some(msg) = raw.next().await {
        assert!(matches!(msg, ServerMsg::Error(_)), "{msg:?}");
        replies += 1;
    }
    assert!(replies < sent, "closed after {replies} of {sent} replies");
}
