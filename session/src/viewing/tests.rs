use super::*;
use tether_proto::signal::{ErrorMsg, Fingerprint, Joined};
use tether_proto::{ErrorCode, IceServer, TransportPolicy};
use tether_proto::{Sas, commitment};

const TIMEOUT: Duration = Duration::from_secs(20);

fn code() -> SessionCode {
    "482913075".parse().unwrap()
}

fn viewing() -> (Viewing, Instant) {
    let mut v = Viewing::new(code(), TIMEOUT, LocalIce::default());
    let t0 = Instant::now();
    v.start(t0);
    (v, t0)
}

fn joined(name: &str) -> Event {
    Event::Server(ServerMsg::Joined(Joined {
        agent_name: name.into(),
        ice: IceConfig::default(),
        resume: None,
    }))
}

fn offer(sdp: &str) -> Event {
    Event::Server(ServerMsg::Offer(Sdp { sdp: sdp.into() }))
}

fn candidate(text: &str) -> IceCandidate {
    IceCandidate {
        candidate: text.into(),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
        username_fragment: None,
    }
}

fn remote(text: &str) -> Event {
    Event::Server(ServerMsg::Candidate(Candidate { candidate: Some(candidate(text)) }))
}

fn bye_event(reason: ByeReason) -> Event {
    Event::Server(ServerMsg::Bye(Bye { reason, message: None }))
}

fn lines(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Report(report) => Some(report.to_string()),
            _ => None,
        })
        .collect()
}

fn outcome(actions: &[Action]) -> Option<&Outcome> {
    actions.iter().find_map(|a| match a {
        Action::End(outcome) => Some(outcome),
        _ => None,
    })
}

/// Joined and answered: the state of a live session.
fn connected() -> (Viewing, Instant) {
    let (mut v, t0) = viewing();
    v.handle(t0, joined("desk"));
    v.handle(t0, offer("o1"));
    v.handle(t0, Event::Answered(Sdp { sdp: "a1".into() }));
    v.handle(t0, Event::Connected(None));
    (v, t0)
}

#[test]
fn a_session_goes_from_join_to_connected_with_todays_lines() {
    let (mut v, t0) = viewing();
    let start = v.start(t0);
    assert_eq!(start[0], Action::Send(ClientMsg::Join(Join::new(code()))));
    assert_eq!(lines(&start), ["state: joining 482 913 075"]);
    assert_eq!(
        lines(&v.handle(t0, joined("desk"))),
        ["state: joined \"desk\"; waiting for the person there to allow"]
    );
    assert_eq!(v.phase(), Phase::Joined);
    let acts = v.handle(t0, offer("o1"));
    assert_eq!(lines(&acts), ["state: connecting"]);
    assert!(matches!(&acts[1], Action::Answer { offer, .. } if offer.sdp == "o1"));
    assert_eq!(v.phase(), Phase::Connecting);
    let acts = v.handle(t0, Event::Answered(Sdp { sdp: "a1".into() }));
    assert_eq!(acts, [Action::Send(ClientMsg::Answer(Sdp { sdp: "a1".into() }))]);
    let pair = PairText { description: "host a -> host b".into(), kinds: "host/host".into() };
    let acts = v.handle(t0, Event::Connected(Some(pair)));
    assert_eq!(lines(&acts), ["state: connected (host a -> host b, pair=host/host)"]);
    assert_eq!(v.phase(), Phase::Connected);
    assert_eq!(v.link_name(), "connected");
    assert_eq!(v.next_deadline(), None, "connected disarms the deadline");
}

#[test]
fn the_servers_ice_is_merged_under_the_local_settings() {
    let local = LocalIce { ice_servers: vec![IceServer::stun("stun:l:3478")], relay_only: true };
    let mut v = Viewing::new(code(), TIMEOUT, local);
    let t0 = Instant::now();
    v.start(t0);
    let server =
        IceConfig { ice_servers: vec![IceServer::stun("stun:s:3478")], ..Default::default() };
    v.handle(
        t0,
        Event::Server(ServerMsg::Joined(Joined {
            agent_name: "x".into(),
            ice: server,
            resume: None,
        })),
    );
    let acts = v.handle(t0, offer("o"));
    let Some(Action::Answer { ice, .. }) = acts.get(1) else { panic!("{acts:?}") };
    assert_eq!(ice.ice_transport_policy, TransportPolicy::Relay);
    let urls: Vec<_> = ice.ice_servers.iter().flat_map(|s| s.urls.clone()).collect();
    assert_eq!(urls, ["stun:l:3478", "stun:s:3478"]);
}

#[test]
fn candidates_before_the_answer_wait_and_then_go_in_order() {
    let (mut v, t0) = viewing();
    v.handle(t0, joined("desk"));
    assert!(v.handle(t0, remote("c1")).is_empty());
    v.handle(t0, offer("o1"));
    assert!(v.handle(t0, remote("c2")).is_empty(), "still answering");
    let acts = v.handle(t0, Event::Answered(Sdp { sdp: "a1".into() }));
    assert_eq!(
        acts[1..],
        [Action::AddCandidate(candidate("c1")), Action::AddCandidate(candidate("c2"))]
    );
    assert_eq!(v.handle(t0, remote("c3")), [Action::AddCandidate(candidate("c3"))]);
    let end_of_candidates = Event::Server(ServerMsg::Candidate(Candidate { candidate: None }));
    assert!(v.handle(t0, end_of_candidates).is_empty());
}

#[test]
fn a_flood_of_early_candidates_is_bounded() {
    let (mut v, t0) = viewing();
    for i in 0..10_000 {
        v.handle(t0, remote(&format!("c{i}")));
    }
    v.handle(t0, offer("o"));
    let acts = v.handle(t0, Event::Answered(Sdp { sdp: "a".into() }));
    let added = acts.iter().filter(|a| matches!(a, Action::AddCandidate(_))).count();
    assert_eq!(added, EARLY_CANDIDATES);
}

#[test]
fn a_flood_of_large_early_candidates_is_bounded_in_bytes() {
    let (mut v, t0) = viewing();
    let line = "x".repeat(crate::candidates::MAX_CANDIDATE_BYTES - 8);
    for _ in 0..10_000 {
        v.handle(t0, remote(&line));
    }
    v.handle(t0, offer("o"));
    let acts = v.handle(t0, Event::Answered(Sdp { sdp: "a".into() }));
    let held: usize = acts
        .iter()
        .filter_map(|a| match a {
            Action::AddCandidate(c) => Some(c.candidate.len()),
            _ => None,
        })
        .sum();
    assert!(held > 0 && held <= crate::candidates::MAX_EARLY_BYTES, "{held} bytes held");
}

#[test]
fn a_second_offer_is_an_ice_restart_answered_on_the_same_connection() {
    let (mut v, t0) = connected();
    assert_eq!(v.handle(t0, offer("o2")), [Action::Reanswer(Sdp { sdp: "o2".into() })]);
    let acts = v.handle(t0, Event::Answered(Sdp { sdp: "a2".into() }));
    assert_eq!(acts[0], Action::Send(ClientMsg::Answer(Sdp { sdp: "a2".into() })));
    assert_eq!(lines(&acts), ["state: reconnecting (ICE restart)"]);
    assert_eq!(v.phase(), Phase::Connected);
    v.handle(t0, Event::Link(LinkState::Disconnected));
    assert_eq!(v.link_name(), "disconnected");
}

#[test]
fn not_connecting_in_time_is_ice_failed() {
    let (mut v, t0) = viewing();
    assert_eq!(v.next_deadline(), Some(t0 + JOIN_TIMEOUT));
    v.handle(t0, joined("desk"));
    assert_eq!(v.next_deadline(), None, "waiting for consent has no deadline");
    v.handle(t0, offer("o"));
    assert_eq!(v.next_deadline(), Some(t0 + TIMEOUT));
    assert!(v.handle(t0 + TIMEOUT / 2, Event::Timeout).is_empty(), "early wake-up");
    let acts = v.handle(t0 + TIMEOUT, Event::Timeout);
    assert_eq!(
        acts[0],
        Action::Send(ClientMsg::Bye(Bye { reason: ByeReason::IceFailed, message: None }))
    );
    assert_eq!(
        lines(&acts),
        [
            "state: ended (no network path to the computer could be found (ICE failed: not connected within 20s))"
        ]
    );
    assert!(outcome(&acts).unwrap().is_error());
    assert_eq!(v.phase(), Phase::Ended);
    assert!(v.handle(t0 + TIMEOUT, remote("late")).is_empty(), "nothing after the end");
}

#[test]
fn failed_checks_end_the_session_with_a_bye() {
    let (mut v, t0) = connected();
    let acts = v.handle(t0, Event::Link(LinkState::Failed));
    assert_eq!(
        acts[0],
        Action::Send(ClientMsg::Bye(Bye { reason: ByeReason::IceFailed, message: None }))
    );
    assert_eq!(
        lines(&acts),
        [
            "state: ended (no network path to the computer could be found (ICE failed: the connectivity checks failed))"
        ]
    );
}

#[test]
fn the_error_policy_matches_the_page() {
    let cases = [
        (ByeReason::Denied, "state: ended (the person declined)", true, true),
        (ByeReason::ConsentTimeout, "state: ended (nobody answered the request)", true, true),
        (ByeReason::IceFailed, "state: ended (no network path could be found)", true, false),
        (ByeReason::Stopped, "state: ended (the person stopped sharing)", false, true),
        (ByeReason::PeerLeft, "state: ended (the computer disconnected)", false, false),
        (ByeReason::ServerShutdown, "state: ended (the signaling server shut down)", false, false),
        (ByeReason::Hangup, "state: ended (the viewer hung up)", false, true),
    ];
    for (reason, line, error, deliberate) in cases {
        let (mut v, t0) = connected();
        let acts = v.handle(t0, bye_event(reason));
        assert_eq!(lines(&acts), [line]);
        let outcome = outcome(&acts).unwrap();
        assert_eq!(outcome.is_error(), error, "{reason:?}");
        assert_eq!(outcome.is_deliberate(), deliberate, "{reason:?}");
    }
    let (mut v, t0) = viewing();
    let message = Some("gone fishing".to_owned());
    let acts =
        v.handle(t0, Event::Server(ServerMsg::Bye(Bye { reason: ByeReason::Stopped, message })));
    assert_eq!(lines(&acts), ["state: ended (the person stopped sharing: gone fishing)"]);
    let (mut v, t0) = viewing();
    let message = Some("the person declined".to_owned());
    let acts =
        v.handle(t0, Event::Server(ServerMsg::Bye(Bye { reason: ByeReason::Denied, message })));
    assert_eq!(lines(&acts), ["state: ended (the person declined)"], "not said twice");
}

#[test]
fn server_errors_end_the_session_without_a_state_line() {
    let (mut v, t0) = viewing();
    let error = ErrorMsg::new(ErrorCode::UnknownCode, "no computer has that code");
    let acts = v.handle(t0, Event::Server(ServerMsg::Error(error)));
    assert!(lines(&acts).is_empty());
    let outcome = outcome(&acts).unwrap();
    assert!(outcome.is_error() && !outcome.is_deliberate());
    assert_eq!(outcome.to_string(), "no computer has that code (unknown_code)");
    assert_eq!(v.phase(), Phase::Ended);
}

#[test]
fn hanging_up_says_bye_and_ends_normally() {
    let (mut v, t0) = connected();
    let acts = v.handle(t0, Event::HangUp);
    assert_eq!(
        acts[0],
        Action::Send(ClientMsg::Bye(Bye { reason: ByeReason::Hangup, message: None }))
    );
    assert_eq!(lines(&acts), ["state: ended (hung up)"]);
    assert_eq!(outcome(&acts), Some(&Outcome::HungUp));
    assert!(!Outcome::HungUp.is_error());
}

#[test]
fn answering_failures_and_a_lost_server_are_errors() {
    let (mut v, t0) = viewing();
    v.handle(t0, offer("garbage"));
    let acts = v.handle(t0, Event::AnswerFailed("the offer is not valid SDP".into()));
    assert_eq!(
        acts[0],
        Action::Send(ClientMsg::Bye(Bye { reason: ByeReason::Hangup, message: None }))
    );
    assert_eq!(outcome(&acts), Some(&Outcome::Failed("the offer is not valid SDP".into())));
    let (mut v, t0) = connected();
    let acts = v.handle(t0, Event::SignalingLost("reset by peer".into()));
    assert_eq!(outcome(&acts).unwrap().to_string(), "signaling connection lost: reset by peer");
    assert!(outcome(&acts).unwrap().is_error());
}

#[test]
fn local_candidates_are_trickled() {
    let (mut v, t0) = connected();
    assert_eq!(
        v.handle(t0, Event::LocalCandidate(candidate("l1"))),
        [Action::Send(ClientMsg::Candidate(Candidate { candidate: Some(candidate("l1")) }))]
    );
}

#[test]
fn only_cut_off_sessions_are_joined_again_a_few_times() {
    let peer_left = Outcome::Bye(Bye { reason: ByeReason::PeerLeft, message: None });
    let stopped = Outcome::Bye(Bye { reason: ByeReason::Stopped, message: None });
    let wrong_code = Outcome::ServerError { code: ErrorCode::UnknownCode, message: "no".into() };
    assert_eq!(Reconnect::default().after(true, &peer_left), Some(Reconnect::AFTER));
    assert_eq!(Reconnect::default().after(true, &stopped), None);
    assert_eq!(Reconnect::default().after(true, &Outcome::HungUp), None);
    assert_eq!(Reconnect::default().after(false, &wrong_code), None, "a wrong code stays wrong");
    let mut retry = Reconnect::default();
    assert!(retry.after(true, &peer_left).is_some());
    // The agent is gone for good: each new join fails without connecting.
    let retries = (0..10).take_while(|_| retry.after(false, &wrong_code).is_some()).count();
    assert_eq!(retries as u32, Reconnect::TRIES - 1);
    assert_eq!(Report::Retrying(Reconnect::AFTER).to_string(), "state: reconnecting in 2s");
}

#[test]
fn an_unanswered_join_times_out() {
    let (mut v, t0) = viewing();
    assert!(v.handle(t0 + JOIN_TIMEOUT / 2, Event::Timeout).is_empty());
    let acts = v.handle(t0 + JOIN_TIMEOUT, Event::Timeout);
    assert!(lines(&acts).is_empty(), "no state line, as for other server failures");
    assert_eq!(outcome(&acts), Some(&Outcome::JoinTimeout));
    assert!(Outcome::JoinTimeout.is_error());
}

#[test]
fn errors_about_one_message_do_not_end_a_live_session() {
    let (mut v, t0) = connected();
    let bad_state = ErrorMsg::new(ErrorCode::BadState, "not now");
    assert!(v.handle(t0, Event::Server(ServerMsg::Error(bad_state))).is_empty());
    assert_eq!(v.phase(), Phase::Connected);
    let slow = ErrorMsg::new(ErrorCode::SlowConsumer, "too slow");
    let acts = v.handle(t0, Event::Server(ServerMsg::Error(slow)));
    assert!(matches!(
        outcome(&acts),
        Some(Outcome::ServerError { code: ErrorCode::SlowConsumer, .. })
    ));
}

#[test]
fn the_resume_token_from_joined_goes_into_the_next_join() {
    let t0 = Instant::now();
    let mut first = Viewing::new(code(), Duration::from_secs(20), LocalIce::default());
    first.start(t0);
    assert_eq!(first.resume_token(), None);
    let joined =
        Joined { agent_name: "x".into(), ice: IceConfig::default(), resume: Some("t1".into()) };
    first.handle(t0, Event::Server(ServerMsg::Joined(joined)));
    assert_eq!(first.resume_token(), Some("t1"));
    let token = first.resume_token().map(str::to_owned);
    let mut second =
        Viewing::new(code(), Duration::from_secs(20), LocalIce::default()).resuming(token);
    let start = second.start(t0);
    let resume = Some("t1".to_owned());
    assert_eq!(
        start[0],
        Action::Send(ClientMsg::Join(Join { code: code(), resume, commit: None }))
    );
}

const FP_AGENT: &str = "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3A:2E:61:9F:7B:90:42:5A:8E:1F:26:E7";
const FP_VIEWER: &str = "sha-256 0F:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

fn agent_fingerprint(fp: &str) -> Event {
    Event::Server(ServerMsg::Fingerprint(Fingerprint { fingerprint: fp.into() }))
}

/// A viewer that committed to `FP_VIEWER`, joined.
fn committed_and_joined() -> (Viewing, Instant) {
    let t0 = Instant::now();
    let mut v =
        Viewing::new(code(), TIMEOUT, LocalIce::default()).with_fingerprint(FP_VIEWER.into());
    v.start(t0);
    v.handle(t0, joined("front-desk"));
    (v, t0)
}

/// An offer whose certificate has `fp`.
fn offer_with(fp: &str) -> Event {
    offer(&format!("v=0\r\na=fingerprint:{fp}\r\n"))
}

fn sent(actions: &[Action]) -> Vec<&ClientMsg> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(msg) => Some(msg),
            _ => None,
        })
        .collect()
}

#[test]
fn the_join_commits_and_the_fingerprint_is_revealed_once_after_the_agents() {
    let t0 = Instant::now();
    let mut v =
        Viewing::new(code(), TIMEOUT, LocalIce::default()).with_fingerprint(FP_VIEWER.into());
    let start = v.start(t0);
    let Action::Send(ClientMsg::Join(join)) = &start[0] else { panic!("{start:?}") };
    assert_eq!(join.commit.as_deref(), Some(commitment(FP_VIEWER).as_str()));
    v.handle(t0, joined("front-desk"));
    let actions = v.handle(t0, agent_fingerprint(&FP_AGENT.to_ascii_lowercase()));
    let reveal = ClientMsg::Fingerprint(Fingerprint { fingerprint: FP_VIEWER.into() });
    assert_eq!(sent(&actions), [&reveal]);
    let sas = Sas::from_fingerprints(FP_AGENT, FP_VIEWER);
    assert!(actions.contains(&Action::Report(Report::Secured(sas))), "{actions:?}");
    // Once: a second one (a replay, a confused agent) is ignored.
    assert_eq!(v.handle(t0, agent_fingerprint(FP_VIEWER)), vec![]);
    // The offer with the announced certificate is answered, and the digits are not repeated.
    let actions = v.handle(t0, offer_with(FP_AGENT));
    assert!(actions.iter().any(|a| matches!(a, Action::Answer { .. })), "{actions:?}");
    assert!(!actions.iter().any(|a| matches!(a, Action::Report(Report::Secured(_)))));
}

#[test]
fn an_offer_with_another_certificate_ends_the_session_unanswered() {
    let (mut v, t0) = committed_and_joined();
    v.handle(t0, agent_fingerprint(FP_AGENT));
    let actions = v.handle(t0, offer_with(FP_VIEWER));
    assert!(!actions.iter().any(|a| matches!(a, Action::Answer { .. })));
    assert!(matches!(actions.last(), Some(Action::End(Outcome::Failed(_)))), "{actions:?}");
    assert_eq!(v.phase(), Phase::Ended);
}

#[test]
fn without_an_announcement_the_offers_certificate_gives_the_code_and_binds_restarts() {
    let (mut v, t0) = committed_and_joined();
    let actions = v.handle(t0, offer_with(FP_AGENT));
    let sas = Sas::from_fingerprints(FP_AGENT, FP_VIEWER);
    assert!(actions.contains(&Action::Report(Report::Secured(sas))), "{actions:?}");
    v.handle(t0, Event::Answered(Sdp { sdp: "answer".into() }));
    // A restart offer must keep the certificate.
    let swapped = v.handle(t0, offer_with(FP_VIEWER));
    assert!(matches!(swapped.last(), Some(Action::End(Outcome::Failed(_)))), "{swapped:?}");
}

#[test]
fn a_fingerprint_without_a_commitment_of_ours_is_ignored() {
    let (mut v, t0) = viewing();
    v.handle(t0, joined("front-desk"));
    assert_eq!(v.handle(t0, agent_fingerprint(FP_AGENT)), vec![]);
}
