//! The three session machines together, in quinn's style: the agent's `Sharing`, the server's
//! `Rendezvous` and the viewer's `Viewing` exchange their messages through in-memory queues in
//! virtual time, with no sockets and no peer connection (the harness says when ICE connects).
//! Each flow a person meets end to end is checked here, at the level of the rules.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tether_proto::signal::{Bye, ByeReason, ClientMsg, Fingerprint, Hello, Role, Sdp, ServerMsg};
use tether_proto::{ErrorCode, LocalIce, Sas, SessionCode, commitment};
use tether_session::sharing::{self, Decision, Phase, Sharing};
use tether_session::viewing::{self, Outcome, Reconnect, Report, Viewing};
use tether_signal::Config;
use tether_signal::rendezvous::{self, ConnId, Now, Rendezvous};

const CONSENT_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const CODE_TTL: Duration = Duration::from_secs(600);
const AGENT: ConnId = ConnId(1);
const ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
/// The agent's and the viewer's certificates, and the one of a machine in between.
const FP_AGENT: &str = "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3A:2E:61:9F:7B:90:42:5A:8E:1F:26:E7";
const FP_VIEWER: &str = "sha-256 0F:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
const FP_MITM: &str = "sha-256 DE:AD:BE:EF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB";

/// An SDP carrying `fingerprint`, numbered so tests can tell them apart.
fn sdp(kind: &str, n: u32, fingerprint: &str) -> Sdp {
    Sdp { sdp: format!("{kind}-{n}\r\na=fingerprint:{fingerprint}\r\n") }
}

/// How a machine between the peers and the server rewrites what it relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mitm {
    /// Nothing: the server and the path are honest.
    None,
    /// Terminates both sides with its own certificate: every fingerprint, commitment and SDP
    /// either side sees names the middle's.
    Both,
    /// Swaps the viewer's revealed fingerprint only (the commitment is the viewer's).
    RevealOnly,
    /// Sends the viewer an offer with another certificate than the agent announced.
    OfferOnly,
}

/// The viewer's side: its machine, what it showed and how it ended.
struct ViewerEnd {
    conn: ConnId,
    machine: Viewing,
    reports: Vec<Report>,
    outcome: Option<Outcome>,
    answers: u32,
}

struct Harness {
    t0: Instant,
    now: Instant,
    server: Rendezvous,
    agent: Sharing,
    agent_offers: u32,
    agent_answers: Vec<Sdp>,
    streaming: bool,
    viewer: Option<ViewerEnd>,
    next_conn: u64,
    to_server: VecDeque<(ConnId, ClientMsg)>,
    to_agent: VecDeque<ServerMsg>,
    to_viewer: VecDeque<ServerMsg>,
    mitm: Mitm,
}

impl Harness {
    /// A server and a registered agent that answers consent requests itself (`auto_allow`).
    fn new(auto_allow: bool) -> Self {
        let config = Config { code_ttl: CODE_TTL, ..Config::default() };
        let t0 = Instant::now();
        let mut h = Harness {
            t0,
            now: t0,
            server: Rendezvous::new(config, Box::new(StdRng::seed_from_u64(7))),
            agent: Sharing::new(CONSENT_TIMEOUT, auto_allow),
            agent_offers: 0,
            agent_answers: Vec::new(),
            streaming: false,
            viewer: None,
            next_conn: 2,
            to_server: VecDeque::new(),
            to_agent: VecDeque::new(),
            to_viewer: VecDeque::new(),
            mitm: Mitm::None,
        };
        h.server_event(rendezvous::Event::Connected { conn: AGENT, addr: ADDR });
        h.to_server.push_back((AGENT, hello(Role::Agent)));
        h.settle();
        h
    }

    fn code(&self) -> SessionCode {
        self.agent.code().expect("the agent has a code")
    }

    fn at(&self) -> Now {
        Now { mono: self.now, unix_secs: 1_700_000_000 + (self.now - self.t0).as_secs() }
    }

    /// A viewer connects and joins `code`.
    fn join(&mut self, code: SessionCode) {
        self.join_resuming(code, None);
    }

    /// Joins with `code` as a new viewer connection; with `token`, rejoins a session that ended.
    fn join_resuming(&mut self, code: SessionCode, token: Option<String>) {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.server_event(rendezvous::Event::Connected { conn, addr: ADDR });
        self.to_server.push_back((conn, hello(Role::Viewer)));
        let mut machine = Viewing::new(code, CONNECT_TIMEOUT, LocalIce::default())
            .resuming(token)
            .with_fingerprint(FP_VIEWER.into());
        let start = machine.start(self.now);
        self.viewer =
            Some(ViewerEnd { conn, machine, reports: Vec::new(), outcome: None, answers: 0 });
        self.viewer_actions(start);
        self.settle();
    }

    /// ICE and DTLS come up on both sides.
    fn ice_connects(&mut self) {
        self.agent_event(sharing::Event::PeerConnected);
        self.viewer_event(viewing::Event::Connected(None));
        self.settle();
    }

    /// The agent restarts ICE: a new offer on the live session.
    fn ice_restart(&mut self) {
        self.agent_offers += 1;
        let offer = sdp("offer", self.agent_offers, FP_AGENT);
        self.to_server.push_back((AGENT, ClientMsg::Offer(offer)));
        self.settle();
    }

    fn consent(&mut self, decision: Decision) {
        let Phase::Asked { ask, .. } = self.agent.phase() else { panic!("not asked") };
        let ask = *ask;
        self.agent_event(sharing::Event::Consent { ask, decision });
        self.settle();
    }

    /// Moves virtual time on, waking every machine whose deadline passed.
    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        loop {
            let deadlines = [
                self.server.next_deadline(),
                self.agent.next_deadline(),
                self.viewer.as_ref().and_then(|v| v.machine.next_deadline()),
            ];
            let Some(next) = deadlines.into_iter().flatten().filter(|d| *d <= until).min() else {
                break;
            };
            self.now = self.now.max(next);
            self.server_event(rendezvous::Event::Tick);
            self.agent_event(sharing::Event::Timeout);
            self.viewer_event(viewing::Event::Timeout);
            self.settle();
        }
        self.now = until;
    }

    /// Delivers queued messages until nothing moves.
    fn settle(&mut self) {
        loop {
            if let Some((conn, msg)) = self.to_server.pop_front() {
                self.server_event(rendezvous::Event::Message { conn, msg });
            } else if let Some(msg) = self.to_agent.pop_front() {
                self.agent_message(msg);
            } else if let Some(msg) = self.to_viewer.pop_front() {
                self.viewer_message(msg);
            } else {
                return;
            }
        }
    }

    fn server_event(&mut self, event: rendezvous::Event) {
        let now = self.at();
        for action in self.server.handle(now, event) {
            match action {
                rendezvous::Action::Send(AGENT, msg) => {
                    let msg = self.tamper(msg, true);
                    self.to_agent.push_back(msg);
                }
                rendezvous::Action::Send(conn, msg) => {
                    if self.viewer.as_ref().is_some_and(|v| v.conn == conn) {
                        let msg = self.tamper(msg, false);
                        self.to_viewer.push_back(msg);
                    }
                }
                rendezvous::Action::Close(_) => {}
            }
        }
    }

    /// What the machine in between makes of a message on its way to the agent or the viewer.
    fn tamper(&self, msg: ServerMsg, to_agent: bool) -> ServerMsg {
        let mitm = self.mitm;
        match msg {
            ServerMsg::PeerJoined(mut peer) if mitm == Mitm::Both => {
                peer.commit = Some(commitment(FP_MITM));
                ServerMsg::PeerJoined(peer)
            }
            ServerMsg::Fingerprint(_)
                if mitm == Mitm::Both || (mitm == Mitm::RevealOnly && to_agent) =>
            {
                ServerMsg::Fingerprint(Fingerprint { fingerprint: FP_MITM.into() })
            }
            ServerMsg::Offer(offer) if matches!(mitm, Mitm::Both | Mitm::OfferOnly) => {
                ServerMsg::Offer(Sdp { sdp: offer.sdp.replace(FP_AGENT, FP_MITM) })
            }
            ServerMsg::Answer(answer) if mitm == Mitm::Both => {
                ServerMsg::Answer(Sdp { sdp: answer.sdp.replace(FP_VIEWER, FP_MITM) })
            }
            other => other,
        }
    }

    /// The agent's glue (agent/src/run.rs) without I/O.
    fn agent_message(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Code(issued) => self.agent_event(sharing::Event::Code(issued.code)),
            ServerMsg::PeerJoined(peer) => self.agent_event(sharing::Event::PeerJoined(peer)),
            ServerMsg::Fingerprint(Fingerprint { fingerprint }) => {
                let ours = FP_AGENT.to_owned();
                self.agent_event(sharing::Event::PeerFingerprint { ours, theirs: fingerprint })
            }
            ServerMsg::Answer(answer) if !self.agent.answer_matches(&answer.sdp) => {
                let why = "the answer's certificate is not the one revealed".to_owned();
                self.agent_event(sharing::Event::StartFailed(why));
            }
            ServerMsg::Answer(answer) => self.agent_answers.push(answer),
            ServerMsg::Bye(bye) => self.agent_event(sharing::Event::ViewerLeft(bye.reason)),
            _ => {}
        }
    }

    fn agent_event(&mut self, event: sharing::Event) {
        for action in self.agent.handle(self.now, event) {
            match action {
                sharing::Action::StartSession { .. } => {
                    self.agent_offers += 1;
                    let offer = sdp("offer", self.agent_offers, FP_AGENT);
                    self.to_server.push_back((AGENT, ClientMsg::Offer(offer)));
                }
                sharing::Action::RevealFingerprint => {
                    let fingerprint = Fingerprint { fingerprint: FP_AGENT.into() };
                    self.to_server.push_back((AGENT, ClientMsg::Fingerprint(fingerprint)));
                }
                sharing::Action::StartStream => self.streaming = true,
                sharing::Action::Bye { reason, message } => {
                    self.streaming = false;
                    let bye = Bye { reason, message: Some(message) };
                    self.to_server.push_back((AGENT, ClientMsg::Bye(bye)));
                }
                sharing::Action::Close(_) => self.streaming = false,
                sharing::Action::RequestNewCode => {
                    self.to_server.push_back((AGENT, ClientMsg::NewCode));
                }
                sharing::Action::Show | sharing::Action::Ask | sharing::Action::Exit => {}
            }
        }
    }

    fn viewer_message(&mut self, msg: ServerMsg) {
        self.viewer_event(viewing::Event::Server(msg));
    }

    fn viewer_event(&mut self, event: viewing::Event) {
        let Some(viewer) = &mut self.viewer else { return };
        let actions = viewer.machine.handle(self.now, event);
        self.viewer_actions(actions);
    }

    /// The viewer's glue (viewer/src/session.rs) with a peer connection that always answers.
    fn viewer_actions(&mut self, actions: Vec<viewing::Action>) {
        let mut queue = VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            let viewer = self.viewer.as_mut().expect("a viewer");
            match action {
                viewing::Action::Send(msg) => self.to_server.push_back((viewer.conn, msg)),
                viewing::Action::Report(report) => viewer.reports.push(report),
                viewing::Action::Answer { .. } | viewing::Action::Reanswer(_) => {
                    viewer.answers += 1;
                    let answer = sdp("answer", viewer.answers, FP_VIEWER);
                    let event = viewing::Event::Answered(answer);
                    queue.extend(viewer.machine.handle(self.now, event));
                }
                viewing::Action::AddCandidate(_) => {}
                viewing::Action::End(outcome) => {
                    viewer.outcome = Some(outcome);
                    let conn = viewer.conn;
                    self.server_event(rendezvous::Event::Disconnected { conn });
                }
            }
        }
    }

    fn viewer(&self) -> &ViewerEnd {
        self.viewer.as_ref().expect("a viewer")
    }

    fn lines(&self) -> Vec<String> {
        self.viewer().reports.iter().map(ToString::to_string).collect()
    }

    fn outcome(&self) -> &Outcome {
        self.viewer().outcome.as_ref().expect("the viewer's session ended")
    }
}

fn hello(role: Role) -> ClientMsg {
    ClientMsg::Hello(Hello { version: 1, role, name: "front-desk".into() })
}

fn bye_reason(outcome: &Outcome) -> Option<ByeReason> {
    match outcome {
        Outcome::Bye(bye) => Some(bye.reason),
        _ => None,
    }
}

#[test]
fn allow_connect_and_hang_up() {
    let mut h = Harness::new(false);
    let code = h.code();
    h.join(code);
    assert!(matches!(h.agent.phase(), Phase::Asked { .. }));
    h.consent(Decision::Allow { view_only: false });
    h.ice_connects();
    assert!(h.streaming, "the agent streams once connected");
    assert_eq!(h.agent_answers, [sdp("answer", 1, FP_VIEWER)], "the answer reached the agent");
    h.viewer_event(viewing::Event::HangUp);
    h.settle();
    let lines = h.lines();
    assert_eq!(lines[0], format!("state: joining {code}"));
    assert!(lines[1].starts_with("state: joined \"front-desk\""), "{lines:?}");
    let sas = Sas::from_fingerprints(FP_AGENT, FP_VIEWER);
    assert_eq!(
        lines[2..],
        [
            format!("sas: {sas}"),
            "state: connecting".into(),
            "state: connected (pair=unknown)".into(),
            "state: ended (hung up)".into()
        ]
    );
    assert_eq!(h.outcome(), &Outcome::HungUp);
    assert_eq!(*h.agent.phase(), Phase::Waiting, "the agent waits for the next viewer");
    assert!(!h.streaming);
}

#[test]
fn a_denied_viewer_is_told_and_does_not_retry() {
    let mut h = Harness::new(false);
    h.join(h.code());
    h.consent(Decision::Deny);
    assert_eq!(h.lines().last().unwrap(), "state: ended (the person declined)");
    assert!(h.outcome().is_error());
    assert_eq!(Reconnect::default().after(false, h.outcome()), None);
    assert_eq!(*h.agent.phase(), Phase::Waiting);
    assert_eq!(h.agent_offers, 0, "nothing was offered");
}

#[test]
fn an_unanswered_request_times_out_on_both_sides() {
    let mut h = Harness::new(false);
    h.join(h.code());
    h.advance(CONSENT_TIMEOUT);
    assert_eq!(bye_reason(h.outcome()), Some(ByeReason::ConsentTimeout));
    assert_eq!(h.lines().last().unwrap(), "state: ended (nobody answered the request)");
    assert_eq!(*h.agent.phase(), Phase::Waiting);
}

#[test]
fn stop_sharing_ends_the_viewers_session_for_good() {
    let mut h = Harness::new(true);
    h.join(h.code());
    h.ice_connects();
    assert!(h.streaming);
    h.agent_event(sharing::Event::StopSharing);
    h.settle();
    assert_eq!(bye_reason(h.outcome()), Some(ByeReason::Stopped));
    assert!(!h.outcome().is_error());
    assert_eq!(Reconnect::default().after(true, h.outcome()), None, "stopping is deliberate");
}

#[test]
fn a_new_code_retires_the_old_one() {
    let mut h = Harness::new(false);
    let old = h.code();
    h.agent_event(sharing::Event::NewCode);
    h.settle();
    assert_ne!(h.code(), old);
    h.join(old);
    assert!(
        matches!(
            h.outcome(),
            Outcome::ServerError { code: ErrorCode::Expired | ErrorCode::UnknownCode, .. }
        ),
        "{:?}",
        h.outcome()
    );
    assert!(h.lines().iter().all(|l| !l.starts_with("state: joined")));
    h.join(h.code());
    assert!(matches!(h.agent.phase(), Phase::Asked { .. }), "the new code works");
}

#[test]
fn an_unused_code_expires() {
    let mut h = Harness::new(false);
    let code = h.code();
    h.advance(CODE_TTL + Duration::from_secs(1));
    h.join(code);
    assert!(matches!(h.outcome(), Outcome::ServerError { code: ErrorCode::Expired, .. }));
}

#[test]
fn no_connection_in_time_is_ice_failed_and_frees_the_agent() {
    let mut h = Harness::new(true);
    h.join(h.code());
    h.advance(CONNECT_TIMEOUT);
    assert!(matches!(h.outcome(), Outcome::IceFailed(_)));
    assert_eq!(*h.agent.phase(), Phase::Waiting, "the agent heard bye ice_failed");
}

#[test]
fn an_ice_restart_is_answered_on_the_live_session() {
    let mut h = Harness::new(true);
    h.join(h.code());
    h.ice_connects();
    h.ice_restart();
    assert_eq!(h.lines().last().unwrap(), "state: reconnecting (ICE restart)");
    assert_eq!(h.agent_answers.last().unwrap().sdp, sdp("answer", 2, FP_VIEWER).sdp);
    assert_eq!(h.viewer().machine.phase(), viewing::Phase::Connected);
    assert!(h.streaming, "the stream goes on across the restart");
}

#[test]
fn a_cut_off_viewer_joins_again_and_is_asked_again() {
    let mut h = Harness::new(false);
    let code = h.code();
    h.join(code);
    h.consent(Decision::Allow { view_only: false });
    h.ice_connects();
    h.viewer_event(viewing::Event::Link(tether_session::LinkState::Failed));
    h.settle();
    assert!(matches!(h.outcome(), Outcome::IceFailed(_)));
    assert_eq!(*h.agent.phase(), Phase::Waiting);
    let mut reconnect = Reconnect::default();
    let pause = reconnect.after(true, h.outcome()).expect("a running session that was cut off");
    h.advance(pause);
    let token = h.viewer().machine.resume_token().map(str::to_owned);
    assert!(token.is_some(), "joined gave a resume token");
    assert_ne!(h.code(), code, "the agent shows a new code: the old one is used up");
    h.join_resuming(code, token);
    assert!(matches!(h.agent.phase(), Phase::Asked { .. }), "consent is asked again");
    h.consent(Decision::Allow { view_only: false });
    h.ice_connects();
    assert_eq!(h.viewer().machine.phase(), viewing::Phase::Connected);
}

/// The digits the viewer reported, if any.
fn viewer_sas(h: &Harness) -> Option<Sas> {
    h.viewer().reports.iter().find_map(|r| match r {
        Report::Secured(sas) => Some(*sas),
        _ => None,
    })
}

#[test]
fn both_people_see_the_same_security_code_before_consent() {
    let mut h = Harness::new(false);
    h.join(h.code());
    assert!(matches!(h.agent.phase(), Phase::Asked { .. }), "{:?}", h.agent.phase());
    let agent_sas = h.agent.verified().expect("the viewer was verified").sas;
    assert_eq!(viewer_sas(&h), Some(agent_sas), "shown while the person is asked");
    assert_eq!(agent_sas, Sas::from_fingerprints(FP_AGENT, FP_VIEWER));
    h.consent(Decision::Allow { view_only: false });
    h.ice_connects();
    assert!(h.streaming);
}

#[test]
fn a_machine_in_the_middle_shows_different_codes() {
    let mut h = Harness::new(false);
    h.mitm = Mitm::Both;
    h.join(h.code());
    // Each side completes the exchange with the middle, and each sees the middle's digits.
    let agent_sas = h.agent.verified().expect("the middle's commitment holds").sas;
    let viewer_sas = viewer_sas(&h).expect("the viewer shows digits");
    assert_ne!(agent_sas, viewer_sas, "the two people read different codes");
    assert_eq!(agent_sas, Sas::from_fingerprints(FP_AGENT, FP_MITM));
    assert_eq!(viewer_sas, Sas::from_fingerprints(FP_MITM, FP_VIEWER));
}

#[test]
fn a_swapped_reveal_is_refused_before_the_person_is_asked() {
    let mut h = Harness::new(false);
    h.mitm = Mitm::RevealOnly;
    h.join(h.code());
    assert_eq!(*h.agent.phase(), Phase::Waiting, "never asked");
    assert_eq!(bye_reason(h.outcome()), Some(ByeReason::Other), "{:?}", h.outcome());
    assert!(h.outcome().to_string().contains("committed"), "{}", h.outcome());
}

#[test]
fn an_offer_with_another_certificate_than_announced_ends_the_viewers_session() {
    let mut h = Harness::new(false);
    h.mitm = Mitm::OfferOnly;
    h.join(h.code());
    h.consent(Decision::Allow { view_only: false });
    assert!(
        matches!(h.outcome(), Outcome::Failed(why) if why.contains("announced")),
        "{:?}",
        h.outcome()
    );
    assert_eq!(h.viewer().answers, 0, "nothing was answered");
}

#[test]
fn a_viewer_that_never_reveals_is_not_asked_about() {
    let mut h = Harness::new(false);
    let code = h.code();
    let conn = ConnId(h.next_conn);
    h.next_conn += 1;
    h.server_event(rendezvous::Event::Connected { conn, addr: ADDR });
    h.to_server.push_back((conn, hello(Role::Viewer)));
    let join =
        tether_proto::signal::Join { code, resume: None, commit: Some(commitment(FP_VIEWER)) };
    h.to_server.push_back((conn, ClientMsg::Join(join)));
    h.settle();
    assert!(matches!(h.agent.phase(), Phase::Verifying { .. }));
    h.advance(sharing::VERIFY_TIMEOUT);
    assert_eq!(*h.agent.phase(), Phase::Waiting, "refused, never asked");
}
