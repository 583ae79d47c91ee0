//! A thousand malformed or oversized frames neither crash nor stall the server.

mod common;

use common::TestServer;
use tether_proto::signal::ServerMsg;
use tether_proto::{ErrorCode, MAX_MESSAGE_BYTES};
use tether_signal::Config;

fn junk(i: usize) -> String {
    match i % 10 {
        0 => String::new(),
        1 => "\u{0}".repeat(i),
        2 => "{".repeat(i % 500 + 1),
        3 => format!("[{}]", "[".repeat(200)),
        4 => format!(r#"{{"type":"{}"}}"#, "z".repeat(i)),
        5 => r#"{"type":"hello","version":"one","role":"agent"}"#.into(),
        6 => format!(r#"{{"type":"join","code":"{}"}}"#, "9".repeat(i)),
        7 => r#"{"type":"candidate","candidate":{"candidate":5}}"#.into(),
        // At the limit exactly: read, then refused for want of a hello.
        8 => format!(r#"{{"type":"offer","sdp":"{}"}}"#, "x".repeat(MAX_MESSAGE_BYTES - 25)),
        _ => "\"\\ud800\"".into(),
    }
}

#[tokio::test]
async fn a_thousand_bad_frames_then_a_normal_session() {
    // Generous message limits: this test is about parsing, not flood control.
    let config = Config { messages_per_second: 1e6, message_burst: 1_000_000, ..Config::default() };
    let server = TestServer::start(config).await;
    let mut raw = server.raw().await;
    let (mut agent_before, _) = server.agent().await;

    let sender = tokio::spawn({
        let frames: Vec<String> = (0..1000).map(junk).collect();
        let mut raw_tx = server.raw().await;
        async move {
            for frame in frames {
                raw_tx.send_text(frame).await;
            }
            raw_tx
        }
    });
    for i in 0..1000 {
        raw.send_text(junk(i)).await;
        match raw.next().await {
            Some(ServerMsg::Error(e)) => {
                let expected = if i % 10 == 8 {
                    ErrorCode::BadState
                } else if i % 10 == 4 && i > 0 {
                    ErrorCode::UnknownType
                } else {
                    ErrorCode::Malformed
                };
                assert_eq!(e.code, expected, "frame {i}");
            }
            other => panic!("frame {i}: {other:?}"),
        }
    }
    let mut raw_tx = sender.await.unwrap();
    let mut answered = 0;
    while answered < 1000 {
        match raw_tx.next().await {
            Some(ServerMsg::Error(_)) => answered += 1,
            other => panic!("{other:?}"),
        }
    }
    // The server still pairs, and an agent that registered before the junk still works.
    let (_agent, _viewer, _) = server.pair().await;
    agent_before.send(&tether_proto::signal::ClientMsg::NewCode).await.unwrap();
    assert!(matches!(common::next(&mut agent_before).await, ServerMsg::Code(_)));
    assert_eq!(server.healthz().await["status"], "ok");
    server.shutdown().await;
}
