//! The signaling server's pairing rules (`tether_signal::rendezvous::Rendezvous`) driven by a
//! sequence of connections, messages, disconnections and time steps built from the fuzz input.
//!
//! A small model of the hub runs beside it: connection ids are never reused, a `Close` is
//! followed (some steps later) by the disconnection, ticks are delivered while a deadline is
//! due. Checks, after every step: no panic; nothing is sent to a connection that is gone;
//! codes go to agents without a viewer, `joined` to viewers, `peer_joined` to agents; a pair is
//! made only by a join with the agent's current code (once: codes are single-use) or with an
//! unused resume token for that agent, and pairs are one to one; relayed messages go to the
//! peer and nowhere else; `busy` is never told (it would confirm a live code); the counts
//! agree with the model (sessions <= agents <= connections, agents <= the cap); ticks settle
//! (the next deadline is then in the future); once everyone left, nothing is left.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tether_proto::signal::{
    Bye, ByeReason, Candidate, ClientMsg, Hello, IceCandidate, Join, Role, Sdp, ServerMsg,
};
use tether_proto::{ErrorCode, PROTOCOL_VERSION, SessionCode};
use tether_signal::Config;
use tether_signal::rendezvous::{Action, ConnId, Event, Now, Rendezvous};

/// Connection slots the input addresses; each slot holds at most one live connection.
const SLOTS: u8 = 12;
/// Most ticks one time step may need before the next deadline is in the future.
const MAX_TICKS_PER_STEP: usize = 10_000;

#[derive(Arbitrary, Debug)]
struct Input {
    max_sessions: u8,
    max_agents_per_address: u8,
    code_ttl_secs: u16,
    memory_secs: u16,
    resume_secs: u16,
    join_failures: u8,
    join_failures_global: u8,
    prompts_per_minute: u8,
    seed: u64,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Connect {
        slot: u8,
        addr: u8,
    },
    Hello {
        slot: u8,
        agent: bool,
        version: Option<u32>,
        name: String,
    },
    NewCode {
        slot: u8,
    },
    /// Join with a code the server issued (`which` picks among them).
    JoinIssued {
        slot: u8,
        which: u8,
    },
    /// Join with any code.
    JoinAny {
        slot: u8,
        code: u32,
    },
    /// Rejoin with a resume token the server gave (and a code it issued).
    Resume {
        slot: u8,
        token: u8,
        code: u8,
        spoil: bool,
    },
    Offer {
        slot: u8,
        sdp: String,
    },
    Answer {
        slot: u8,
        sdp: String,
    },
    Candidate {
        slot: u8,
        candidate: Option<String>,
    },
    Bye {
        slot: u8,
        reason: u8,
    },
    Disconnect {
        slot: u8,
    },
    /// The connections the server closed go away.
    Reap,
    Advance {
        secs: u16,
        millis: u16,
    },
    Shutdown,
}

/// A deterministic RNG, so a crash replays.
struct SplitMix(u64);

impl rand_core::RngCore for SplitMix {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// A resume token the server gave a viewer.
struct Token {
    token: String,
    agent: ConnId,
    /// Until when it may rejoin: set when its session ended in a way that allows it, cleared
    /// when it is used or the agent's next session ends.
    valid_until: Option<Instant>,
}

#[derive(Default)]
struct Model {
    next_id: u64,
    /// Slot → the live connection in it.
    slots: BTreeMap<u8, ConnId>,
    /// Live connections and their role once hello was accepted.
    live: BTreeMap<ConnId, Option<Role>>,
    /// Connections the server closed, still open until reaped.
    closing: BTreeSet<ConnId>,
    /// Agent → viewer and viewer → agent.
    peer: BTreeMap<ConnId, ConnId>,
    /// Codes the server issued (possibly expired or used since).
    issued: Vec<SessionCode>,
    /// Each agent's current code.
    code_of: BTreeMap<ConnId, SessionCode>,
    /// Codes a session was started with: single-use.
    used: BTreeSet<SessionCode>,
    tokens: Vec<Token>,
    /// Agent → the token of its current session.
    session_token: BTreeMap<ConnId, String>,
    resume_window: Duration,
}

struct World {
    rv: Rendezvous,
    model: Model,
    max_sessions: usize,
    t0: Instant,
    now: Instant,
}

/// What one event should do, beyond the checks every action gets.
enum Expect {
    Relay {
        from: ConnId,
        kind: &'static str,
    },
    Join {
        viewer: ConnId,
        code: SessionCode,
        resume: Option<String>,
    },
    /// A bye (with its reason) or a disconnection (`None`).
    Bye {
        from: ConnId,
        reason: Option<ByeReason>,
    },
    Hello {
        from: ConnId,
        role: Role,
    },
    Other,
}

impl Expect {
    fn from(event: &Event) -> Self {
        match event {
            Event::Message { conn, msg: msg @ ClientMsg::Offer(_) }
            | Event::Message { conn, msg: msg @ ClientMsg::Answer(_) }
            | Event::Message { conn, msg: msg @ ClientMsg::Candidate(_) } => {
                Expect::Relay { from: *conn, kind: msg.kind() }
            }
            Event::Message { conn, msg: ClientMsg::Join(join) } => {
                Expect::Join { viewer: *conn, code: join.code, resume: join.resume.clone() }
            }
            Event::Message { conn, msg: ClientMsg::Bye(bye) } => {
                Expect::Bye { from: *conn, reason: Some(bye.reason) }
            }
            Event::Disconnected { conn } => Expect::Bye { from: *conn, reason: None },
            Event::Message { conn, msg: ClientMsg::Hello(h) } if h.version == PROTOCOL_VERSION => {
                Expect::Hello { from: *conn, role: h.role }
            }
            _ => Expect::Other,
        }
    }
}

impl World {
    fn at(&self) -> Now {
        Now { mono: self.now, unix_secs: 1_700_000_000 + (self.now - self.t0).as_secs() }
    }

    fn conn(&self, slot: u8) -> Option<ConnId> {
        self.model.slots.get(&(slot % SLOTS)).copied()
    }

    /// Delivers one event and checks what came back.
    fn handle(&mut self, event: Event) -> Vec<Action> {
        let now = self.at();
        let expect = Expect::from(&event);
        let actions = self.rv.handle(now, event);
        self.check(&expect, &actions);
        actions
    }

    fn message(&mut self, slot: u8, msg: ClientMsg) {
        if let Some(conn) = self.conn(slot) {
            self.handle(Event::Message { conn, msg });
        }
    }

    fn disconnect(&mut self, conn: ConnId) {
        // Gone before the event: nothing may be sent to it any more.
        self.model.live.remove(&conn);
        self.model.closing.remove(&conn);
        self.model.slots.retain(|_, c| *c != conn);
        self.model.code_of.remove(&conn);
        // An agent that leaves takes its viewers' way back with it.
        for token in self.model.tokens.iter_mut().filter(|t| t.agent == conn) {
            token.valid_until = None;
        }
        self.handle(Event::Disconnected { conn });
        self.model.session_token.remove(&conn);
    }

    fn check(&mut self, expect: &Expect, actions: &[Action]) {
        // What the event itself changes, so that the actions it caused are judged after it.
        let mut ended_peer = None;
        match expect {
            Expect::Hello { from, role } => {
                // Accepted unless refused: the role counts for what the same step sends.
                let refused = actions.iter().any(|a| match a {
                    Action::Close(c) | Action::Send(c, ServerMsg::Error(_)) => c == from,
                    Action::Send(..) => false,
                });
                if !refused && self.model.live.get(from) == Some(&None) {
                    self.model.live.insert(*from, Some(*role));
                }
            }
            Expect::Bye { from, reason } => {
                if let Some(peer) = self.model.peer.remove(from) {
                    self.model.peer.remove(&peer);
                    ended_peer = Some(peer);
                    let from_agent = self.model.session_token.contains_key(from);
                    let agent = if from_agent { *from } else { peer };
                    // Only this session's viewer may come back, and not after a refusal.
                    let resumable = match reason {
                        None => !from_agent,
                        Some(r) => !matches!(
                            r,
                            ByeReason::Denied | ByeReason::Stopped | ByeReason::ConsentTimeout
                        ),
                    };
                    let current = self.model.session_token.remove(&agent);
                    let until = self.now + self.model.resume_window;
                    for token in self.model.tokens.iter_mut().filter(|t| t.agent == agent) {
                        let this_session = current.as_ref() == Some(&token.token);
                        token.valid_until = (this_session && resumable).then_some(until);
                    }
                }
            }
            _ => {}
        }

        let mut joined = Vec::new();
        let mut peer_joined = Vec::new();
        for action in actions {
            let (Action::Send(to, _) | Action::Close(to)) = action;
            assert!(self.model.live.contains_key(to), "{action:?} to a connection that is gone");
            match action {
                Action::Close(to) => {
                    self.model.closing.insert(*to);
                }
                Action::Send(to, ServerMsg::Code(issued)) => {
                    assert_eq!(self.model.live[to], Some(Role::Agent), "code to a non-agent");
                    assert!(
                        !self.model.peer.contains_key(to),
                        "new code for an agent with a viewer"
                    );
                    assert!(!self.model.issued.contains(&issued.code), "a code issued twice");
                    self.model.issued.push(issued.code);
                    self.model.code_of.insert(*to, issued.code);
                }
                Action::Send(to, ServerMsg::Joined(j)) => {
                    assert_eq!(self.model.live[to], Some(Role::Viewer), "joined to a non-viewer");
                    joined.push((*to, j.resume.clone()));
                }
                Action::Send(to, ServerMsg::PeerJoined(_)) => {
                    assert_eq!(self.model.live[to], Some(Role::Agent), "peer_joined to a viewer");
                    peer_joined.push(*to);
                }
                Action::Send(_, ServerMsg::Error(e)) => {
                    assert_ne!(e.code, ErrorCode::Busy, "busy tells a guesser the code is live");
                }
                Action::Send(_, _) => {}
            }
        }

        match expect {
            Expect::Relay { from, kind } => match self.model.peer.get(from) {
                Some(peer) => {
                    assert_eq!(actions.len(), 1, "{kind}: {actions:?}");
                    assert!(
                        matches!(&actions[0], Action::Send(to, _) if to == peer),
                        "{kind} relayed to the wrong connection: {actions:?}"
                    );
                }
                None => assert!(
                    actions.iter().all(|a| matches!(a, Action::Send(_, ServerMsg::Error(_)))),
                    "{kind} with no peer relayed: {actions:?}"
                ),
            },
            Expect::Join { viewer, code, resume } => {
                if let [(viewer_got, ref token)] = joined[..] {
                    assert_eq!(viewer_got, *viewer);
                    let [agent] = peer_joined[..] else {
                        panic!("joined without peer_joined: {actions:?}")
                    };
                    assert!(!self.model.peer.contains_key(viewer), "a viewer paired twice");
                    assert!(!self.model.peer.contains_key(&agent), "an agent paired twice");
                    let current = self.model.code_of.get(&agent).copied();
                    match resume {
                        None => assert_eq!(current, Some(*code), "paired by a stale code"),
                        Some(resume) => {
                            let now = self.now;
                            let given = self.model.tokens.iter_mut().find(|t| t.token == *resume);
                            let given = given.expect("paired by a token never given");
                            assert_eq!(given.agent, agent, "a token rejoined another agent");
                            assert!(
                                given.valid_until.is_some_and(|until| now < until),
                                "a token used twice, after a refusal or a later session, or late"
                            );
                            given.valid_until = None;
                        }
                    }
                    let current = current.expect("the agent holds a code");
                    assert!(self.model.used.insert(current), "a code used twice");
                    self.model.peer.insert(*viewer, agent);
                    self.model.peer.insert(agent, *viewer);
                    let token = token.clone().expect("joined carries a resume token");
                    assert!(self.model.tokens.iter().all(|t| t.token != token), "token reused");
                    self.model.session_token.insert(agent, token.clone());
                    self.model.tokens.push(Token { token, agent, valid_until: None });
                } else {
                    assert!(joined.is_empty() && peer_joined.is_empty(), "{actions:?}");
                }
            }
            Expect::Bye { .. } => {
                if let Some(peer) = ended_peer {
                    assert!(
                        actions.iter().any(
                            |a| matches!(a, Action::Send(to, ServerMsg::Bye(_)) if *to == peer)
                        ),
                        "bye not passed to the peer: {actions:?}"
                    );
                }
                assert!(joined.is_empty() && peer_joined.is_empty(), "{actions:?}");
            }
            Expect::Hello { .. } | Expect::Other => {
                assert!(joined.is_empty() && peer_joined.is_empty(), "{actions:?}")
            }
        }
        self.check_counts();
    }

    fn check_counts(&self) {
        let counts = self.rv.counts();
        assert_eq!(counts.connections, self.model.live.len());
        assert!(counts.sessions <= counts.agents && counts.agents <= counts.connections);
        assert!(counts.agents <= self.max_sessions, "{counts:?}");
        assert_eq!(counts.sessions * 2, self.model.peer.len(), "{counts:?}");
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        let mut ticks = 0;
        while self.rv.next_deadline().is_some_and(|d| d <= self.now) {
            ticks += 1;
            assert!(ticks <= MAX_TICKS_PER_STEP, "ticks do not settle");
            self.handle(Event::Tick);
        }
    }
}

fn bye_reason(n: u8) -> ByeReason {
    match n % 8 {
        0 => ByeReason::Hangup,
        1 => ByeReason::Stopped,
        2 => ByeReason::Denied,
        3 => ByeReason::ConsentTimeout,
        4 => ByeReason::PeerLeft,
        5 => ByeReason::IceFailed,
        6 => ByeReason::ServerShutdown,
        _ => ByeReason::Other,
    }
}

fuzz_target!(|input: Input| {
    let max_sessions = usize::from(input.max_sessions % 8) + 1;
    let config = Config {
        // The CLI takes 10 s to 7 days.
        code_ttl: Duration::from_secs(u64::from(input.code_ttl_secs % 3600) + 10),
        expired_code_memory: Duration::from_secs(u64::from(input.memory_secs)),
        resume_window: Duration::from_secs(u64::from(input.resume_secs % 600)),
        join_failures_per_window: usize::from(input.join_failures % 10),
        join_failures_global: usize::from(input.join_failures_global % 40),
        max_agents_per_address: usize::from(input.max_agents_per_address % 6),
        prompts_per_minute: usize::from(input.prompts_per_minute % 8),
        max_sessions,
        ..Config::default()
    };
    let t0 = Instant::now();
    let model = Model { resume_window: config.resume_window, ..Model::default() };
    let mut world = World {
        rv: Rendezvous::new(config, Box::new(SplitMix(input.seed))),
        model,
        max_sessions,
        t0,
        now: t0,
    };

    for op in input.ops.into_iter().take(512) {
        match op {
            Op::Connect { slot, addr } => {
                let slot = slot % SLOTS;
                if world.model.slots.contains_key(&slot) {
                    continue;
                }
                world.model.next_id += 1;
                let conn = ConnId(world.model.next_id);
                world.model.slots.insert(slot, conn);
                world.model.live.insert(conn, None);
                // A few addresses, so the per-address limits are exercised.
                let addr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, addr % 4));
                world.handle(Event::Connected { conn, addr });
            }
            Op::Hello { slot, agent, version, name } => {
                let role = if agent { Role::Agent } else { Role::Viewer };
                let version = version.unwrap_or(PROTOCOL_VERSION);
                world.message(slot, ClientMsg::Hello(Hello { version, role, name }));
            }
            Op::NewCode { slot } => world.message(slot, ClientMsg::NewCode),
            Op::JoinIssued { slot, which } => {
                if world.model.issued.is_empty() {
                    continue;
                }
                let code = world.model.issued[usize::from(which) % world.model.issued.len()];
                world.message(slot, ClientMsg::Join(Join::new(code)));
            }
            Op::JoinAny { slot, code } => {
                if let Some(code) = SessionCode::from_value(code % 1_000_000_000) {
                    world.message(slot, ClientMsg::Join(Join::new(code)));
                }
            }
            Op::Resume { slot, token, code, spoil } => {
                if world.model.tokens.is_empty() || world.model.issued.is_empty() {
                    continue;
                }
                let mut resume =
                    world.model.tokens[usize::from(token) % world.model.tokens.len()].token.clone();
                if spoil {
                    resume.pop();
                    resume.push('x');
                }
                let code = world.model.issued[usize::from(code) % world.model.issued.len()];
                world.message(slot, ClientMsg::Join(Join { code, resume: Some(resume), commit: None }));
            }
            Op::Offer { slot, sdp } => world.message(slot, ClientMsg::Offer(Sdp { sdp })),
            Op::Answer { slot, sdp } => world.message(slot, ClientMsg::Answer(Sdp { sdp })),
            Op::Candidate { slot, candidate } => {
                let candidate = candidate.map(|candidate| IceCandidate {
                    candidate,
                    sdp_mid: None,
                    sdp_mline_index: Some(0),
                    username_fragment: None,
                });
                world.message(slot, ClientMsg::Candidate(Candidate { candidate }));
            }
            Op::Bye { slot, reason } => {
                let bye = Bye { reason: bye_reason(reason), message: None };
                world.message(slot, ClientMsg::Bye(bye));
            }
            Op::Disconnect { slot } => {
                if let Some(conn) = world.conn(slot) {
                    world.disconnect(conn);
                }
            }
            Op::Reap => {
                for conn in std::mem::take(&mut world.model.closing) {
                    world.disconnect(conn);
                }
            }
            Op::Advance { secs, millis } => {
                let by =
                    Duration::from_secs(u64::from(secs)) + Duration::from_millis(u64::from(millis));
                world.advance(by);
            }
            Op::Shutdown => {
                let actions = world.handle(Event::Shutdown);
                let closed = actions.iter().filter(|a| matches!(a, Action::Close(_))).count();
                assert_eq!(closed, world.model.live.len(), "shutdown closes every connection");
            }
        }
    }

    // Everyone leaves: nothing may be left behind.
    for conn in world.model.live.keys().copied().collect::<Vec<_>>() {
        world.disconnect(conn);
    }
    let counts = world.rv.counts();
    assert_eq!((counts.connections, counts.agents, counts.sessions), (0, 0, 0), "{counts:?}");
    world.advance(Duration::from_secs(24 * 3600));
});
