use super::*;

const TIMEOUT: Duration = Duration::from_secs(30);

fn sam() -> PeerJoined {
    PeerJoined { name: "Sam".into(), addr: "192.0.2.7".into(), ice: None, commit: None }
}

fn code(n: u32) -> SessionCode {
    SessionCode::from_value(n).unwrap()
}

/// A machine with a code and a clock, asked by Sam; returns the request id.
fn asked() -> (Sharing, Instant, u64) {
    let t0 = Instant::now();
    let mut m = Sharing::new(TIMEOUT, false);
    assert_eq!(m.handle(t0, Event::Code(code(482_913_075))), vec![Action::Show]);
    assert_eq!(m.handle(t0, Event::PeerJoined(sam())), vec![Action::Show, Action::Ask]);
    let Phase::Asked { ask, peer, deadline } = m.phase().clone() else { panic!() };
    assert_eq!(peer, sam());
    assert_eq!(deadline, t0 + TIMEOUT);
    assert_eq!(m.next_deadline(), Some(t0 + TIMEOUT));
    (m, t0, ask)
}

fn bye_reason(actions: &[Action]) -> Option<ByeReason> {
    actions.iter().find_map(|a| match a {
        Action::Bye { reason, .. } => Some(*reason),
        _ => None,
    })
}

fn starts(actions: &[Action]) -> bool {
    actions.iter().any(|a| matches!(a, Action::StartSession { .. } | Action::StartStream))
}

#[test]
fn allow_starts_the_session_and_connecting_starts_the_stream() {
    let (mut m, t0, ask) = asked();
    let actions =
        m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: false } });
    assert_eq!(actions, vec![Action::Show, Action::StartSession { view_only: false }]);
    assert_eq!(m.phase(), &Phase::Allowed { peer: sam(), view_only: false });
    assert_eq!(m.next_deadline(), None);
    assert_eq!(m.handle(t0, Event::PeerConnected), vec![Action::Show, Action::StartStream]);
    assert_eq!(m.phase(), &Phase::Streaming { peer: sam(), view_only: false });
    assert_eq!(m.code(), Some(code(482_913_075)));
}

#[test]
fn allow_view_only_is_carried_to_the_session() {
    let (mut m, t0, ask) = asked();
    let actions =
        m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: true } });
    assert_eq!(actions[1], Action::StartSession { view_only: true });
    m.handle(t0, Event::PeerConnected);
    assert_eq!(m.phase(), &Phase::Streaming { peer: sam(), view_only: true });
}

#[test]
fn deny_refuses_and_nothing_starts() {
    let (mut m, t0, ask) = asked();
    let actions = m.handle(t0, Event::Consent { ask, decision: Decision::Deny });
    assert_eq!(bye_reason(&actions), Some(ByeReason::Denied));
    assert!(!starts(&actions));
    assert_eq!(m.phase(), &Phase::Waiting);
    // A connection event without a session does nothing.
    assert!(m.handle(t0, Event::PeerConnected).is_empty());
}

#[test]
fn no_answer_by_the_deadline_is_a_timeout() {
    let (mut m, t0, ask) = asked();
    assert!(m.handle(t0 + TIMEOUT - Duration::from_millis(1), Event::Timeout).is_empty());
    let actions = m.handle(t0 + TIMEOUT, Event::Timeout);
    assert_eq!(bye_reason(&actions), Some(ByeReason::ConsentTimeout));
    assert_eq!(m.phase(), &Phase::Waiting);
    assert_eq!(m.next_deadline(), None);
    // A click that arrives afterwards starts nothing.
    let late = m.handle(
        t0 + TIMEOUT,
        Event::Consent { ask, decision: Decision::Allow { view_only: false } },
    );
    assert!(late.is_empty());
}

#[test]
fn an_answer_arriving_with_the_deadline_passed_is_too_late() {
    let (mut m, t0, ask) = asked();
    let actions = m.handle(
        t0 + TIMEOUT + Duration::from_secs(1),
        Event::Consent { ask, decision: Decision::Allow { view_only: false } },
    );
    assert_eq!(bye_reason(&actions), Some(ByeReason::ConsentTimeout));
    assert!(!starts(&actions));
}

#[test]
fn an_answer_to_an_earlier_request_is_ignored() {
    let (mut m, t0, first) = asked();
    m.handle(t0, Event::Consent { ask: first, decision: Decision::Deny });
    m.handle(t0, Event::PeerJoined(sam()));
    let Phase::Asked { ask: second, .. } = m.phase().clone() else { panic!() };
    assert_ne!(first, second);
    let stale = Event::Consent { ask: first, decision: Decision::Allow { view_only: false } };
    assert!(m.handle(t0, stale).is_empty());
    assert!(matches!(m.phase(), Phase::Asked { .. }));
}

#[test]
fn a_second_viewer_is_not_asked_about() {
    let (mut m, t0, ask) = asked();
    let other =
        PeerJoined { name: "Eve".into(), addr: "198.51.100.1".into(), ice: None, commit: None };
    assert!(m.handle(t0, Event::PeerJoined(other.clone())).is_empty());
    m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: false } });
    assert!(m.handle(t0, Event::PeerJoined(other)).is_empty());
    assert_eq!(m.phase(), &Phase::Allowed { peer: sam(), view_only: false });
}

#[test]
fn stop_sharing_closes_with_stopped() {
    let (mut m, t0, ask) = asked();
    m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: false } });
    m.handle(t0, Event::PeerConnected);
    let actions = m.handle(t0, Event::StopSharing);
    assert_eq!(bye_reason(&actions), Some(ByeReason::Stopped));
    assert_eq!(m.phase(), &Phase::Waiting);
    // Nothing to stop any more.
    assert!(m.handle(t0, Event::StopSharing).is_empty());
}

#[test]
fn stop_sharing_while_asked_denies() {
    let (mut m, t0, _) = asked();
    assert_eq!(bye_reason(&m.handle(t0, Event::StopSharing)), Some(ByeReason::Denied));
}

#[test]
fn the_viewer_leaving_closes_without_a_bye() {
    let (mut m, t0, ask) = asked();
    m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: false } });
    let actions = m.handle(t0, Event::ViewerLeft(ByeReason::Hangup));
    assert_eq!(actions, vec![Action::Show, Action::Close(ByeReason::Hangup)]);
    assert_eq!(m.phase(), &Phase::Waiting);

    // Leaving while the question is shown withdraws it.
    let (mut m, t0, _) = asked();
    m.handle(t0, Event::ViewerLeft(ByeReason::PeerLeft));
    assert_eq!(m.phase(), &Phase::Waiting);
    assert_eq!(m.next_deadline(), None);
}

#[test]
fn failures_end_the_session_with_their_reason() {
    let cases = [
        (Event::PeerFailed, ByeReason::IceFailed),
        (Event::StreamFailed("display gone".into()), ByeReason::Stopped),
        (Event::StartFailed("no socket".into()), ByeReason::Other),
    ];
    for (event, reason) in cases {
        let (mut m, t0, ask) = asked();
        m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: false } });
        assert_eq!(bye_reason(&m.handle(t0, event.clone())), Some(reason), "{event:?}");
        assert_eq!(m.phase(), &Phase::Waiting);
    }
    // Without a session they do nothing.
    let mut m = Sharing::new(TIMEOUT, false);
    assert!(m.handle(Instant::now(), Event::PeerFailed).is_empty());
}

#[test]
fn new_code_is_asked_for_only_without_a_session() {
    let (mut m, t0, ask) = asked();
    let actions = m.handle(t0, Event::NewCode);
    assert_eq!(bye_reason(&actions), Some(ByeReason::Denied));
    assert_eq!(actions.last(), Some(&Action::RequestNewCode), "bye first: the server needs it");
    assert_eq!(m.handle(t0, Event::NewCode), vec![Action::RequestNewCode]);
    m.handle(t0, Event::PeerJoined(sam()));
    let Phase::Asked { ask: next, .. } = m.phase().clone() else { panic!() };
    assert_ne!(ask, next);
    m.handle(t0, Event::Consent { ask: next, decision: Decision::Allow { view_only: false } });
    assert!(m.handle(t0, Event::NewCode).is_empty());
}

#[test]
fn quit_says_bye_and_ends_for_good() {
    let (mut m, t0, ask) = asked();
    m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: false } });
    let actions = m.handle(t0, Event::Quit);
    assert_eq!(bye_reason(&actions), Some(ByeReason::Stopped));
    assert_eq!(actions.last(), Some(&Action::Exit));
    assert_eq!(m.phase(), &Phase::Ended);
    assert!(m.handle(t0, Event::PeerJoined(sam())).is_empty());

    let mut idle = Sharing::new(TIMEOUT, false);
    assert_eq!(idle.handle(t0, Event::Quit), vec![Action::Show, Action::Exit]);
}

#[test]
fn auto_allow_starts_without_asking() {
    let mut m = Sharing::new(TIMEOUT, true);
    let t0 = Instant::now();
    let actions = m.handle(t0, Event::PeerJoined(sam()));
    assert_eq!(actions, vec![Action::Show, Action::StartSession { view_only: false }]);
    assert_eq!(m.next_deadline(), None);
}

#[test]
fn losing_the_server_drops_the_code_and_withdraws_the_question() {
    let (mut m, t0, ask) = asked();
    assert_eq!(m.handle(t0, Event::SignalingLost), vec![Action::Show]);
    assert_eq!(m.phase(), &Phase::Waiting);
    assert_eq!(m.code(), None);
    assert_eq!(m.next_deadline(), None);
    // A late Allow on the withdrawn question starts nothing.
    let late = m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: false } });
    assert!(!starts(&late));
    // Registered again: the new code is shown.
    assert_eq!(m.handle(t0, Event::Code(code(111_222_333))), vec![Action::Show]);
    assert_eq!(m.code(), Some(code(111_222_333)));
}

#[test]
fn losing_the_server_ends_a_session_still_negotiating_but_not_a_streaming_one() {
    let (mut m, t0, ask) = asked();
    m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: false } });
    let actions = m.handle(t0, Event::SignalingLost);
    assert_eq!(bye_reason(&actions), Some(ByeReason::Other));
    assert_eq!(m.phase(), &Phase::Waiting);

    let (mut m, t0, ask) = asked();
    m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: true } });
    m.handle(t0, Event::PeerConnected);
    assert_eq!(m.handle(t0, Event::SignalingLost), vec![Action::Show]);
    assert_eq!(m.phase(), &Phase::Streaming { peer: sam(), view_only: true });
    assert_eq!(m.code(), None);
    // The person can still stop it.
    assert_eq!(bye_reason(&m.handle(t0, Event::StopSharing)), Some(ByeReason::Stopped));
}

#[test]
fn who_asks_is_kept_as_it_may_be_shown() {
    let mut m = Sharing::new(TIMEOUT, false);
    let t0 = Instant::now();
    let mut tricky = sam();
    tricky.name = "Sam\u{202E}gnp.exe\r\nAllowed".into();
    m.handle(t0, Event::PeerJoined(tricky));
    let Phase::Asked { peer, .. } = m.phase() else { panic!("not asked") };
    assert_eq!(peer.name, "Sam\u{FFFD}gnp.exe Allowed");
    assert_eq!(peer.addr, "192.0.2.7");
}

#[test]
fn an_allowed_session_that_never_connects_is_given_up() {
    let (m, t0, ask) = asked();
    let mut m = m.with_connect_timeout(Duration::from_secs(20));
    m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: false } });
    let by = t0 + Duration::from_secs(20);
    assert_eq!(m.connect_deadline(), Some(by));
    assert_eq!(m.next_deadline(), None, "the consent deadline is over");
    assert!(m.handle(by - Duration::from_millis(1), Event::Timeout).is_empty());
    let actions = m.handle(by, Event::Timeout);
    assert_eq!(bye_reason(&actions), Some(ByeReason::IceFailed));
    assert_eq!(m.phase(), &Phase::Waiting);
    assert_eq!(m.connect_deadline(), None);
}

#[test]
fn a_session_that_connected_has_no_connect_deadline() {
    let mut m = Sharing::new(TIMEOUT, true);
    let t0 = Instant::now();
    m.handle(t0, Event::PeerJoined(sam()));
    assert_eq!(m.connect_deadline(), Some(t0 + CONNECT_TIMEOUT), "auto-allowed sessions too");
    m.handle(t0, Event::PeerConnected);
    assert_eq!(m.connect_deadline(), None);
    assert!(m.handle(t0 + CONNECT_TIMEOUT * 2, Event::Timeout).is_empty());
    assert!(matches!(m.phase(), Phase::Streaming { .. }));
}

const FP_AGENT: &str = "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3A:2E:61:9F:7B:90:42:5A:8E:1F:26:E7";
const FP_VIEWER: &str = "sha-256 0F:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

/// Sam, committed to `FP_VIEWER`: the agent reveals its fingerprint and waits for Sam's.
fn verifying() -> (Sharing, Instant) {
    let t0 = Instant::now();
    let mut m = Sharing::new(TIMEOUT, false);
    m.handle(t0, Event::Code(code(482_913_075)));
    let peer = PeerJoined { commit: Some(commitment(FP_VIEWER)), ..sam() };
    let actions = m.handle(t0, Event::PeerJoined(peer));
    assert_eq!(actions, vec![Action::Show, Action::RevealFingerprint]);
    assert!(matches!(m.phase(), Phase::Verifying { .. }));
    assert_eq!(m.next_deadline(), Some(t0 + VERIFY_TIMEOUT));
    assert_eq!(m.verified(), None);
    (m, t0)
}

fn reveal(theirs: &str) -> Event {
    Event::PeerFingerprint { ours: FP_AGENT.into(), theirs: theirs.into() }
}

#[test]
fn a_committed_viewer_is_asked_with_the_security_code_once_its_fingerprint_matches() {
    let (mut m, t0) = verifying();
    // The viewer's own spelling (lower case) is normalised before it is checked.
    let actions = m.handle(t0, reveal(&FP_VIEWER.to_ascii_lowercase()));
    assert_eq!(actions, vec![Action::Show, Action::Ask]);
    let verified = m.verified().expect("verified").clone();
    assert_eq!(verified.sas, Sas::from_fingerprints(FP_AGENT, FP_VIEWER));
    let Phase::Asked { ask, .. } = m.phase().clone() else { panic!() };
    m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: false } });
    assert!(m.answer_matches(&format!("v=0\r\na=fingerprint:{FP_VIEWER}\r\n")));
    assert!(!m.answer_matches(&format!("v=0\r\na=fingerprint:{FP_AGENT}\r\n")));
    assert!(!m.answer_matches("v=0\r\n"), "an answer with no fingerprint is not the viewer's");
    // A second reveal changes nothing.
    assert_eq!(m.handle(t0, reveal(FP_AGENT)), vec![]);
    assert_eq!(m.verified(), Some(&verified));
}

#[test]
fn a_fingerprint_that_breaks_the_commitment_is_refused_unasked() {
    for wrong in [FP_AGENT, "not a fingerprint", ""] {
        let (mut m, t0) = verifying();
        let actions = m.handle(t0, reveal(wrong));
        assert_eq!(bye_reason(&actions), Some(ByeReason::Other), "{wrong:?}");
        assert!(!actions.contains(&Action::Ask));
        assert_eq!(m.phase(), &Phase::Waiting);
        assert_eq!(m.verified(), None);
    }
}

#[test]
fn a_viewer_that_does_not_reveal_in_time_is_refused_unasked() {
    let (mut m, t0) = verifying();
    assert_eq!(m.handle(t0 + VERIFY_TIMEOUT / 2, Event::Timeout), vec![]);
    let actions = m.handle(t0 + VERIFY_TIMEOUT, Event::Timeout);
    assert_eq!(bye_reason(&actions), Some(ByeReason::Other));
    assert_eq!(m.phase(), &Phase::Waiting);
    // A late reveal is about no request.
    assert_eq!(m.handle(t0 + VERIFY_TIMEOUT, reveal(FP_VIEWER)), vec![]);
}

#[test]
fn a_viewer_without_a_commitment_is_asked_without_a_code_and_any_answer_goes() {
    let (m, _, _) = asked();
    assert_eq!(m.verified(), None);
    assert!(m.answer_matches("v=0\r\n"));
}
