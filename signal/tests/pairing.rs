//! A whole session over real WebSockets: pairing, relay both ways, bye, a vanishing peer, and
//! two sessions side by side.

mod common;

use common::{TestServer, expect_error, next};
use tether_proto::ErrorCode;
use tether_proto::signal::{
    Bye, ByeReason, Candidate, ClientMsg, IceCandidate, Join, Sdp, ServerMsg,
};

fn candidate(n: u16) -> Candidate {
    Candidate {
        candidate: Some(IceCandidate {
            candidate: format!("candidate:{n} 1 udp 2130706431 127.0.0.1 {} typ host", 50_000 + n),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: Some("ufrag".into()),
        }),
    }
}

#[tokio::test]
async fn offer_answer_and_candidates_are_relayed_both_ways() {
    let server = TestServer::default().await;
    let (mut agent, code) = server.agent().await;
    let mut viewer = server.viewer().await;
    viewer.send(&ClientMsg::Join(Join::new(code))).await.unwrap();
    match next(&mut agent).await {
        ServerMsg::PeerJoined(p) => {
            assert_eq!(p.name, "Sam");
            assert_eq!(p.addr, "127.0.0.1");
        }
        other => panic!("{other:?}"),
    }
    let token = match next(&mut viewer).await {
        ServerMsg::Joined(j) => {
            assert_eq!(j.agent_name, "front-desk");
            j.resume.expect("a resume token")
        }
        other => panic!("{other:?}"),
    };

    let offer = Sdp { sdp: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n".into() };
    agent.send(&ClientMsg::Offer(offer.clone())).await.unwrap();
    assert_eq!(next(&mut viewer).await, ServerMsg::Offer(offer));
    let answer = Sdp { sdp: "v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\n".into() };
    viewer.send(&ClientMsg::Answer(answer.clone())).await.unwrap();
    assert_eq!(next(&mut agent).await, ServerMsg::Answer(answer));

    // Trickle: candidates cross while both sides keep sending, in order.
    for n in 0..20 {
        agent.send(&ClientMsg::Candidate(candidate(n))).await.unwrap();
        viewer.send(&ClientMsg::Candidate(candidate(100 + n))).await.unwrap();
    }
    agent.send(&ClientMsg::Candidate(Candidate { candidate: None })).await.unwrap();
    for n in 0..20 {
        assert_eq!(next(&mut viewer).await, ServerMsg::Candidate(candidate(n)));
        assert_eq!(next(&mut agent).await, ServerMsg::Candidate(candidate(100 + n)));
    }
    assert_eq!(next(&mut viewer).await, ServerMsg::Candidate(Candidate { candidate: None }));

    let health = server.healthz().await;
    assert_eq!(health["counts"]["sessions"], 1);
    assert_eq!(health["counts"]["agents"], 1);

    // Bye from the viewer reaches the agent; the code is used up (the agent gets a new one) and
    // only this viewer's token rejoins with it.
    let bye = Bye { reason: ByeReason::Hangup, message: Some("done".into()) };
    viewer.send(&ClientMsg::Bye(bye.clone())).await.unwrap();
    assert_eq!(next(&mut agent).await, ServerMsg::Bye(bye));
    assert!(matches!(next(&mut agent).await, ServerMsg::Code(c) if c.code != code));
    viewer.send(&ClientMsg::Join(Join::new(code))).await.unwrap();
    expect_error(&mut viewer, ErrorCode::Expired).await;
    viewer.send(&ClientMsg::Join(Join { code, resume: Some(token), commit: None })).await.unwrap();
    assert!(matches!(next(&mut viewer).await, ServerMsg::Joined(_)));
    assert!(matches!(next(&mut agent).await, ServerMsg::PeerJoined(_)));
    server.shutdown().await;
}

#[tokio::test]
async fn a_peer_vanishing_mid_session_is_reported() {
    let server = TestServer::default().await;
    let (mut agent, viewer, _) = server.pair().await;
    // The viewer's process dies: the socket drops with no close frame and no bye.
    drop(viewer);
    match next(&mut agent).await {
        ServerMsg::Bye(b) => assert_eq!(b.reason, ByeReason::PeerLeft),
        other => panic!("{other:?}"),
    }
    // The agent is ready for the next viewer, with a new code.
    let code = match next(&mut agent).await {
        ServerMsg::Code(issued) => issued.code,
        other => panic!("{other:?}"),
    };
    let mut second = server.viewer().await;
    second.send(&ClientMsg::Join(Join::new(code))).await.unwrap();
    assert!(matches!(next(&mut second).await, ServerMsg::Joined(_)));
    assert!(matches!(next(&mut agent).await, ServerMsg::PeerJoined(_)));

    // Now the agent vanishes.
    drop(agent);
    match next(&mut second).await {
        ServerMsg::Bye(b) => assert_eq!(b.reason, ByeReason::PeerLeft),
        other => panic!("{other:?}"),
    }
    second.send(&ClientMsg::Join(Join::new(code))).await.unwrap();
    expect_error(&mut second, ErrorCode::UnknownCode).await;
    server.shutdown().await;
}

#[tokio::test]
async fn two_sessions_at_once_never_cross() {
    let server = TestServer::default().await;
    let (mut a1, mut v1, c1) = server.pair().await;
    let (mut a2, mut v2, c2) = server.pair().await;
    assert_ne!(c1, c2);
    for round in 0..50 {
        let tag = |who: &str| Sdp { sdp: format!("{who} {round}") };
        a1.send(&ClientMsg::Offer(tag("a1"))).await.unwrap();
        a2.send(&ClientMsg::Offer(tag("a2"))).await.unwrap();
        v1.send(&ClientMsg::Answer(tag("v1"))).await.unwrap();
        v2.send(&ClientMsg::Answer(tag("v2"))).await.unwrap();
        assert_eq!(next(&mut v1).await, ServerMsg::Offer(tag("a1")));
        assert_eq!(next(&mut v2).await, ServerMsg::Offer(tag("a2")));
        assert_eq!(next(&mut a1).await, ServerMsg::Answer(tag("v1")));
        assert_eq!(next(&mut a2).await, ServerMsg::Answer(tag("v2")));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_tells_every_peer() {
    let server = TestServer::default().await;
    let (mut agent, mut viewer, _) = server.pair().await;
    let (mut idle_agent, _) = server.agent().await;
    server.shutdown().await;
    for client in [&mut agent, &mut viewer, &mut idle_agent] {
        match next(client).await {
            ServerMsg::Bye(b) => assert_eq!(b.reason, ByeReason::ServerShutdown),
            other => panic!("{other:?}"),
        }
    }
}
