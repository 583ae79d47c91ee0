//! The pairing rules in virtual time.

use std::net::{IpAddr, Ipv4Addr};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tether_proto::IceConfig;
use tether_proto::signal::{Candidate, Fingerprint, IceCandidate, Join, Sdp};

use super::*;

const VIEWER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
const AGENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

struct World {
    rv: Rendezvous,
    t0: Instant,
    now: Instant,
}

impl World {
    fn new() -> Self {
        Self::with(Config {
            code_ttl: Duration::from_secs(600),
            max_agents_per_address: usize::MAX,
            ..Config::default()
        })
    }

    fn with(config: Config) -> Self {
        let t0 = Instant::now();
        World { rv: Rendezvous::new(config, Box::new(StdRng::seed_from_u64(1))), t0, now: t0 }
    }

    fn at(&self) -> Now {
        Now { mono: self.now, unix_secs: 1_700_000_000 + (self.now - self.t0).as_secs() }
    }

    fn ev(&mut self, event: Event) -> Vec<Action> {
        let now = self.at();
        self.rv.handle(now, event)
    }

    fn msg(&mut self, conn: u64, msg: ClientMsg) -> Vec<Action> {
        self.ev(Event::Message { conn: ConnId(conn), msg })
    }

    fn advance(&mut self, by: Duration) -> Vec<Action> {
        self.now += by;
        let mut out = Vec::new();
        while self.rv.next_deadline().is_some_and(|d| d <= self.now) {
            out.extend(self.ev(Event::Tick));
        }
        out
    }

    fn connect(&mut self, conn: u64, addr: IpAddr, role: Role, name: &str) -> Vec<Action> {
        self.ev(Event::Connected { conn: ConnId(conn), addr });
        self.msg(conn, ClientMsg::Hello(Hello { version: 1, role, name: name.into() }))
    }

    /// Connects agent `conn` and returns its code.
    fn agent(&mut self, conn: u64) -> SessionCode {
        let out = self.connect(conn, AGENT_IP, Role::Agent, "front-desk");
        issued_code(&out, conn)
    }

    fn join(&mut self, conn: u64, code: SessionCode) -> Vec<Action> {
        self.msg(conn, ClientMsg::Join(Join::new(code)))
    }

    fn resume(&mut self, conn: u64, code: SessionCode, token: &str) -> Vec<Action> {
        self.msg(conn, ClientMsg::Join(Join { code, resume: Some(token.into()), commit: None }))
    }

    fn bye(&mut self, conn: u64, reason: ByeReason) -> Vec<Action> {
        self.msg(conn, ClientMsg::Bye(Bye { reason, message: None }))
    }
}

/// The resume token in a `joined` for `conn`.
fn resume_token(out: &[Action], conn: u64) -> String {
    out.iter()
        .find_map(|a| match a {
            Action::Send(c, ServerMsg::Joined(j)) if *c == ConnId(conn) => j.resume.clone(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no joined with a token for {conn}: {out:?}"))
}

/// The new code sent to agent `conn` among `out`.
fn new_code(out: &[Action], conn: u64) -> SessionCode {
    out.iter()
        .find_map(|a| match a {
            Action::Send(c, ServerMsg::Code(issued)) if *c == ConnId(conn) => Some(issued.code),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no new code for {conn}: {out:?}"))
}

fn pairs(out: &[Action], agent: u64) -> bool {
    matches!(out, [Action::Send(a, ServerMsg::PeerJoined(_)), _] if *a == ConnId(agent))
}

fn issued_code(out: &[Action], conn: u64) -> SessionCode {
    match out {
        [Action::Send(to, ServerMsg::Code(c))] if *to == ConnId(conn) => c.code,
        other => panic!("expected one code for {conn}, got {other:?}"),
    }
}

fn error_codes(out: &[Action]) -> Vec<(u64, ErrorCode)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Send(c, ServerMsg::Error(e)) => Some((c.0, e.code)),
            _ => None,
        })
        .collect()
}

fn offer(text: &str) -> ClientMsg {
    ClientMsg::Offer(Sdp { sdp: text.into() })
}

#[test]
fn a_whole_pairing_relays_both_ways() {
    let mut w = World::new();
    let code = w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "Sam");
    let out = w.join(2, code);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[0],
        Action::Send(
            ConnId(1),
            ServerMsg::PeerJoined(PeerJoined {
                name: "Sam".into(),
                addr: "192.0.2.7".into(),
                ice: Some(IceConfig::default()),
                commit: None,
            })
        )
    );
    assert!(
        matches!(&out[1], Action::Send(ConnId(2), ServerMsg::Joined(j)) if j.agent_name == "front-desk")
    );

    assert_eq!(
        w.msg(1, offer("o")),
        vec![Action::Send(ConnId(2), ServerMsg::Offer(Sdp { sdp: "o".into() }))]
    );
    let answer = ClientMsg::Answer(Sdp { sdp: "a".into() });
    assert_eq!(
        w.msg(2, answer),
        vec![Action::Send(ConnId(1), ServerMsg::Answer(Sdp { sdp: "a".into() }))]
    );
    let cand = Candidate {
        candidate: Some(IceCandidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: None,
        }),
    };
    for (from, to) in [(1, 2), (2, 1)] {
        let out = w.msg(from, ClientMsg::Candidate(cand.clone()));
        assert_eq!(out, vec![Action::Send(ConnId(to), ServerMsg::Candidate(cand.clone()))]);
    }
    assert_eq!(w.rv.counts(), Counts { connections: 2, agents: 1, sessions: 1 });
}

#[test]
fn unused_codes_expire_and_are_replaced() {
    let mut w = World::new();
    let code = w.agent(1);
    assert!(w.advance(Duration::from_secs(599)).is_empty());
    let out = w.advance(Duration::from_secs(1));
    let new_code = issued_code(&out, 1);
    assert_ne!(new_code, code);
    w.connect(2, VIEWER_IP, Role::Viewer, "");
    assert_eq!(error_codes(&w.join(2, code)), vec![(2, ErrorCode::Expired)]);
    assert!(matches!(
        w.join(2, new_code).as_slice(),
        [Action::Send(ConnId(1), ServerMsg::PeerJoined(_)), _]
    ));
    // A code in use does not expire.
    assert!(w.advance(Duration::from_secs(3600)).is_empty());
    // The retired code is forgotten after an hour: then it is merely unknown.
    w.connect(3, VIEWER_IP, Role::Viewer, "");
    assert_eq!(error_codes(&w.join(3, code)), vec![(3, ErrorCode::UnknownCode)]);
}

#[test]
fn new_code_retires_the_old_one() {
    let mut w = World::new();
    let old = w.agent(1);
    let new = issued_code(&w.msg(1, ClientMsg::NewCode), 1);
    assert_ne!(old, new);
    w.connect(2, VIEWER_IP, Role::Viewer, "");
    assert_eq!(error_codes(&w.join(2, old)), vec![(2, ErrorCode::Expired)]);
    w.join(2, new);
    assert_eq!(error_codes(&w.msg(1, ClientMsg::NewCode)), vec![(1, ErrorCode::BadState)]);
}

#[test]
fn failed_joins_are_limited_per_address_and_recover() {
    let mut w = World::new();
    let code = w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "");
    let wrong = SessionCode::from_value(1).unwrap();
    for _ in 0..5 {
        assert_eq!(error_codes(&w.join(2, wrong)), vec![(2, ErrorCode::UnknownCode)]);
    }
    w.advance(Duration::from_secs(20));
    // Even the right code is refused now, so a guesser learns nothing.
    let out = w.join(2, code);
    match &out[..] {
        [Action::Send(ConnId(2), ServerMsg::Error(e))] => {
            assert_eq!(e.code, ErrorCode::RateLimited);
            assert_eq!(e.retry_after_secs, Some(40));
            assert!(e.message.contains("40 s"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    // Another address is unaffected.
    w.ev(Event::Connected { conn: ConnId(3), addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)) });
    w.msg(3, ClientMsg::Hello(Hello { version: 1, role: Role::Viewer, name: String::new() }));
    assert_eq!(error_codes(&w.join(3, wrong)), vec![(3, ErrorCode::UnknownCode)]);
    // After the window the right code works (the agent's code was renewed meanwhile? no: 60 s < ttl).
    w.advance(Duration::from_secs(40));
    assert!(matches!(
        w.join(2, code).as_slice(),
        [Action::Send(ConnId(1), ServerMsg::PeerJoined(_)), _]
    ));
}

#[test]
fn protocol_errors_are_typed() {
    let mut w = World::new();
    w.ev(Event::Connected { conn: ConnId(1), addr: AGENT_IP });
    assert_eq!(error_codes(&w.msg(1, ClientMsg::NewCode)), vec![(1, ErrorCode::BadState)]);
    let out =
        w.msg(1, ClientMsg::Hello(Hello { version: 2, role: Role::Agent, name: String::new() }));
    assert_eq!(error_codes(&out), vec![(1, ErrorCode::Version)]);
    assert_eq!(out.last(), Some(&Action::Close(ConnId(1))));

    let code = w.agent(2);
    assert_eq!(
        error_codes(&w.msg(
            2,
            ClientMsg::Hello(Hello { version: 1, role: Role::Agent, name: String::new() })
        )),
        vec![(2, ErrorCode::BadState)]
    );
    assert_eq!(error_codes(&w.join(2, code)), vec![(2, ErrorCode::BadState)]);
    w.connect(3, VIEWER_IP, Role::Viewer, "");
    assert_eq!(error_codes(&w.msg(3, ClientMsg::NewCode)), vec![(3, ErrorCode::BadState)]);
    assert_eq!(error_codes(&w.msg(3, offer("o"))), vec![(3, ErrorCode::BadState)]);
}

#[test]
fn server_capacity_is_enforced() {
    let mut w = World::new();
    w.rv.config.max_sessions = 1;
    w.agent(1);
    let out = w.connect(2, AGENT_IP, Role::Agent, "");
    assert_eq!(error_codes(&out), vec![(2, ErrorCode::Full)]);
    assert_eq!(out.last(), Some(&Action::Close(ConnId(2))));
}

#[test]
fn two_sessions_never_cross() {
    let mut w = World::new();
    let c1 = w.agent(1);
    let c2 = w.agent(2);
    w.connect(11, VIEWER_IP, Role::Viewer, "");
    w.connect(12, VIEWER_IP, Role::Viewer, "");
    w.join(11, c1);
    w.join(12, c2);
    for (from, to) in [(1, 11), (11, 1), (2, 12), (12, 2)] {
        let out = w.msg(from, offer(&format!("from {from}")));
        assert_eq!(
            out,
            vec![Action::Send(ConnId(to), ServerMsg::Offer(Sdp { sdp: format!("from {from}") }))]
        );
    }
}

#[test]
fn shutdown_says_bye_to_everyone() {
    let mut w = World::new();
    w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "");
    let out = w.ev(Event::Shutdown);
    assert_eq!(out.len(), 4);
    assert!(
        matches!(&out[0], Action::Send(ConnId(1), ServerMsg::Bye(b)) if b.reason == ByeReason::ServerShutdown)
    );
    assert_eq!(out[3], Action::Close(ConnId(2)));
}

#[test]
fn names_are_sanitised_before_reaching_the_agent() {
    let mut w = World::new();
    let code = w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "Sam\n\u{7}  IT");
    let out = w.join(2, code);
    assert!(matches!(&out[0], Action::Send(_, ServerMsg::PeerJoined(p)) if p.name == "Sam IT"));
}

#[test]
fn codes_are_unique_among_live_and_retired_codes() {
    let mut w = World::new();
    let mut seen = std::collections::HashSet::new();
    for conn in 0..2000 {
        assert!(seen.insert(w.agent(conn)));
    }
}

#[test]
fn a_code_is_used_up_by_its_session_and_only_its_viewer_may_resume() {
    let mut w = World::new();
    let code = w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "");
    let token = resume_token(&w.join(2, code), 2);
    let out = w.bye(2, ByeReason::Hangup);
    let bye = Bye { reason: ByeReason::Hangup, message: None };
    assert_eq!(out[0], Action::Send(ConnId(1), ServerMsg::Bye(bye.clone())));
    let next = new_code(&out, 1);
    assert_ne!(next, code);
    // No peer any more: relays fail, a second bye is ignored.
    assert_eq!(error_codes(&w.msg(1, offer("o"))), vec![(1, ErrorCode::BadState)]);
    assert!(w.msg(2, ClientMsg::Bye(bye)).is_empty());
    // Somebody else with the old code (the attack: it was overheard) gets nothing.
    w.connect(3, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)), Role::Viewer, "");
    assert_eq!(error_codes(&w.join(3, code)), vec![(3, ErrorCode::Expired)]);
    assert_eq!(error_codes(&w.resume(3, code, "00")), vec![(3, ErrorCode::UnknownCode)]);
    // The same viewer rejoins with its token, once; it gets a fresh token.
    let out = w.resume(2, code, &token);
    assert!(pairs(&out, 1), "{out:?}");
    let again = resume_token(&out, 2);
    assert_ne!(again, token);
    // The resumed session used up `next`; its end brings the agent another code.
    let newest = new_code(&w.bye(2, ByeReason::Hangup), 1);
    assert_eq!(error_codes(&w.resume(2, code, &token)), vec![(2, ErrorCode::UnknownCode)]);
    assert_eq!(error_codes(&w.join(3, next)), vec![(3, ErrorCode::Expired)]);
    // The newest code works for a new supporter.
    assert!(pairs(&w.join(3, newest), 1));
}

#[test]
fn resume_tokens_expire_and_a_refusal_leaves_none() {
    let mut w = World::new();
    let code = w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "");
    let token = resume_token(&w.join(2, code), 2);
    let next = new_code(&w.bye(2, ByeReason::Hangup), 1);
    w.advance(Duration::from_secs(121));
    assert_eq!(error_codes(&w.resume(2, code, &token)), vec![(2, ErrorCode::UnknownCode)]);

    // The person clicks Deny: that viewer cannot come back by itself.
    let token = resume_token(&w.join(2, next), 2);
    let out = w.bye(1, ByeReason::Denied);
    let deny = Bye { reason: ByeReason::Denied, message: None };
    assert_eq!(out[0], Action::Send(ConnId(2), ServerMsg::Bye(deny)));
    new_code(&out, 1);
    assert_eq!(error_codes(&w.msg(2, offer("x"))), vec![(2, ErrorCode::BadState)]);
    assert_eq!(error_codes(&w.resume(2, next, &token)), vec![(2, ErrorCode::UnknownCode)]);
}

#[test]
fn a_vanished_peer_is_reported_to_the_other_side() {
    let mut w = World::new();
    let code = w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "");
    w.join(2, code);
    let out = w.ev(Event::Disconnected { conn: ConnId(1) });
    assert!(
        matches!(&out[..], [Action::Send(ConnId(2), ServerMsg::Bye(b))] if b.reason == ByeReason::PeerLeft)
    );
    // The agent is gone, so its code is unknown now.
    w.connect(3, VIEWER_IP, Role::Viewer, "");
    assert_eq!(error_codes(&w.join(3, code)), vec![(3, ErrorCode::UnknownCode)]);
    assert_eq!(w.rv.counts(), Counts { connections: 2, agents: 0, sessions: 0 });

    // And the other way round: the viewer vanishes; its token lets it back on a new connection.
    let code = w.agent(4);
    let token = resume_token(&w.join(2, code), 2);
    let out = w.ev(Event::Disconnected { conn: ConnId(2) });
    assert!(
        matches!(&out[0], Action::Send(ConnId(4), ServerMsg::Bye(b)) if b.reason == ByeReason::PeerLeft)
    );
    new_code(&out, 4);
    assert_eq!(error_codes(&w.join(3, code)), vec![(3, ErrorCode::Expired)]);
    assert!(pairs(&w.resume(3, code, &token), 4));
}

#[test]
fn busy_looks_like_unknown() {
    let mut w = World::new();
    let code = w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "");
    w.connect(3, VIEWER_IP, Role::Viewer, "");
    w.join(2, code);
    let busy = w.join(3, code);
    w.connect(4, VIEWER_IP, Role::Viewer, "");
    let unknown = w.join(4, SessionCode::from_value(1).unwrap());
    let sentence = |out: &[Action]| match out {
        [Action::Send(_, ServerMsg::Error(e))] => (e.code, e.message.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(sentence(&busy), sentence(&unknown));
    assert_eq!(sentence(&busy).0, ErrorCode::UnknownCode);
    assert_eq!(error_codes(&w.join(2, code)), vec![(2, ErrorCode::BadState)]);
}

#[test]
fn consent_prompts_are_limited_per_agent_and_per_viewer() {
    // The attack: join and bye in a loop with the resume token, a prompt each time.
    let mut w = World::new();
    let mut code = w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "");
    let mut token = resume_token(&w.join(2, code), 2);
    for _ in 1..6 {
        let next = new_code(&w.bye(2, ByeReason::Hangup), 1);
        token = resume_token(&w.resume(2, code, &token), 2);
        code = next;
    }
    w.bye(2, ByeReason::Hangup);
    let out = w.resume(2, code, &token);
    assert_eq!(error_codes(&out), vec![(2, ErrorCode::RateLimited)]);
    // Other agents and viewers are not affected.
    let other = w.agent(5);
    w.connect(6, VIEWER_IP, Role::Viewer, "");
    assert!(pairs(&w.join(6, other), 5));
}

#[test]
fn agents_are_capped_per_address() {
    let mut w = World::with(Config { max_agents_per_address: 3, ..Config::default() });
    for conn in 0..3 {
        w.agent(conn);
    }
    let out = w.connect(3, AGENT_IP, Role::Agent, "");
    assert_eq!(error_codes(&out), vec![(3, ErrorCode::Full)]);
    assert_eq!(out[1], Action::Close(ConnId(3)));
    // Another address registers; a disconnect frees a place.
    let out = w.connect(4, VIEWER_IP, Role::Agent, "");
    issued_code(&out, 4);
    w.ev(Event::Disconnected { conn: ConnId(0) });
    issued_code(&w.connect(5, AGENT_IP, Role::Agent, ""), 5);
}

#[test]
fn huge_lifetimes_do_not_panic() {
    let config = Config {
        code_ttl: Duration::MAX,
        expired_code_memory: Duration::MAX,
        resume_window: Duration::MAX,
        join_failure_window: Duration::MAX,
        ..Config::default()
    };
    let mut w = World::with(config);
    let code = w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "");
    w.join(2, SessionCode::from_value(1).unwrap());
    w.join(2, code);
    w.bye(2, ByeReason::Hangup);
    w.advance(Duration::from_secs(3600));
}

#[test]
fn the_viewers_commitment_reaches_the_agent_and_fingerprints_are_relayed() {
    let mut w = World::new();
    let code = w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "Sam");
    let commit = "57dbe14c7de1058733af7f56b1eb84d3c96e6fd26c7e8ca285110a52052f501d".to_owned();
    let join = Join { code, resume: None, commit: Some(commit.clone()) };
    let out = w.msg(2, ClientMsg::Join(join));
    assert!(
        matches!(&out[0], Action::Send(ConnId(1), ServerMsg::PeerJoined(p)) if p.commit == Some(commit)),
        "{out:?}"
    );
    let fp = Fingerprint { fingerprint: "sha-256 AB:CD".into() };
    let out = w.msg(1, ClientMsg::Fingerprint(fp.clone()));
    assert_eq!(out, vec![Action::Send(ConnId(2), ServerMsg::Fingerprint(fp))]);
}

#[test]
fn a_commitment_that_is_not_a_sha256_is_malformed_and_pairs_nothing() {
    let mut w = World::new();
    let code = w.agent(1);
    w.connect(2, VIEWER_IP, Role::Viewer, "Sam");
    for bad in ["", "xyz", &"A".repeat(64), &"0".repeat(65_000)] {
        let join = Join { code, resume: None, commit: Some(bad.to_owned()) };
        let out = w.msg(2, ClientMsg::Join(join));
        assert!(
            matches!(&out[..], [Action::Send(ConnId(2), ServerMsg::Error(e))] if e.code == ErrorCode::Malformed),
            "{out:?}"
        );
    }
    assert!(matches!(w.join(2, code)[0], Action::Send(ConnId(1), ServerMsg::PeerJoined(_))));
}
