//! The pairing rules as a plain value: codes, expiry, pairing, relay and join limits.
//!
//! [`Rendezvous::handle`] takes one event with the current time and returns what to do; the
//! hub task carries the actions out. Nothing here touches a socket or reads the clock, so every
//! rule is tested below in virtual time.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand_core::RngCore;
use tether_proto::signal::{
    Bye, ByeReason, ClientMsg, ErrorMsg, Hello, Joined, PeerJoined, Role, ServerMsg, sanitize_name,
};
use tether_proto::{ErrorCode, PROTOCOL_VERSION, SessionCode};

use crate::config::Config;
use crate::limits::JoinLimiter;

/// Identifies one WebSocket connection for the life of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The clock, as the caller reads it.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time, for expiry and limits.
    pub mono: Instant,
    /// Seconds since the Unix epoch, for TURN credential expiry.
    pub unix_secs: u64,
}

/// What happened.
#[derive(Debug)]
pub enum Event {
    /// A WebSocket connection opened from `addr`.
    Connected {
        /// The new connection.
        conn: ConnId,
        /// The client's address.
        addr: IpAddr,
    },
    /// A decoded message arrived.
    Message {
        /// From this connection.
        conn: ConnId,
        /// The message.
        msg: ClientMsg,
    },
    /// The connection closed, for whatever reason.
    Disconnected {
        /// The connection.
        conn: ConnId,
    },
    /// Time passed: expire what is due.
    Tick,
    /// The server is shutting down.
    Shutdown,
}

/// What to do.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Send a message on a connection.
    Send(ConnId, ServerMsg),
    /// Close a connection after what was sent before.
    Close(ConnId),
}

#[derive(Debug)]
struct Conn {
    addr: IpAddr,
    role: Option<Role>,
    name: String,
    /// Agent: its code. Viewer: the code it joined.
    code: Option<SessionCode>,
}

#[derive(Debug)]
struct Agent {
    conn: ConnId,
    viewer: Option<ConnId>,
    /// `None` while a viewer is paired: codes expire only when unused.
    expires_at: Option<Instant>,
}

/// The whole pairing state of one server.
pub struct Rendezvous {
    config: Config,
    rng: Box<dyn RngCore + Send>,
    conns: HashMap<ConnId, Conn>,
    agents: HashMap<SessionCode, Agent>,
    expiries: BTreeSet<(Instant, SessionCode)>,
    /// Codes that expired or were replaced, oldest first, for `expired` answers.
    retired: VecDeque<(Instant, SessionCode)>,
    retired_set: HashMap<SessionCode, Instant>,
    joins: JoinLimiter,
    next_sweep: Option<Instant>,
}

/// Counts for `/healthz` and the load command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Open connections.
    pub connections: usize,
    /// Registered agents.
    pub agents: usize,
    /// Agents with a viewer.
    pub sessions: usize,
}

const MAX_RETIRED_CODES: usize = 200_000;
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

impl Rendezvous {
    /// An empty rendezvous drawing codes from `rng` (the OS CSPRNG outside tests).
    pub fn new(config: Config, rng: Box<dyn RngCore + Send>) -> Self {
        let joins =
            JoinLimiter::new(config.join_failures_per_window, config.join_failure_window, 100_000);
        Rendezvous {
            config,
            rng,
            conns: HashMap::new(),
            agents: HashMap::new(),
            expiries: BTreeSet::new(),
            retired: VecDeque::new(),
            retired_set: HashMap::new(),
            joins,
            next_sweep: None,
        }
    }

    /// Handles one event; the returned actions must be carried out in order.
    pub fn handle(&mut self, now: Now, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Connected { conn, addr } => {
                self.conns.insert(conn, Conn { addr, role: None, name: String::new(), code: None });
            }
            Event::Message { conn, msg } => self.handle_message(now, conn, msg, &mut out),
            Event::Disconnected { conn } => self.handle_disconnect(now, conn, &mut out),
            Event::Tick => self.handle_tick(now, &mut out),
            Event::Shutdown => {
                let bye = Bye {
                    reason: ByeReason::ServerShutdown,
                    message: Some("the signaling server is shutting down".into()),
                };
                let mut ids: Vec<_> = self.conns.keys().copied().collect();
                ids.sort();
                for id in ids {
                    out.push(Action::Send(id, ServerMsg::Bye(bye.clone())));
                    out.push(Action::Close(id));
                }
            }
        }
        out
    }

    /// When [`Event::Tick`] should next be delivered.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.expiries.first().map(|(t, _)| *t),
            self.retired.front().map(|(t, _)| *t),
            self.next_sweep,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Current counts.
    pub fn counts(&self) -> Counts {
        Counts {
            connections: self.conns.len(),
            agents: self.agents.len(),
            sessions: self.agents.values().filter(|a| a.viewer.is_some()).count(),
        }
    }

    fn handle_message(&mut self, now: Now, conn: ConnId, msg: ClientMsg, out: &mut Vec<Action>) {
        let Some(state) = self.conns.get(&conn) else { return };
        let role = state.role;
        match (role, msg) {
            (None, ClientMsg::Hello(hello)) => self.handle_hello(now, conn, hello, out),
            (None, other) => out.push(error(
                conn,
                ErrorCode::BadState,
                format!("send hello before {:?}", other.kind()),
            )),
            (Some(_), ClientMsg::Hello(_)) => {
                out.push(error(conn, ErrorCode::BadState, "hello was already sent"))
            }
            (Some(Role::Agent), ClientMsg::NewCode) => self.handle_new_code(now, conn, out),
            (Some(Role::Viewer), ClientMsg::Join(join)) => {
                self.handle_join(now, conn, join.code, out)
            }
            (Some(role), msg @ (ClientMsg::NewCode | ClientMsg::Join(_))) => out.push(error(
                conn,
                ErrorCode::BadState,
                format!("{:?} is not a message for the {role:?} role", msg.kind()),
            )),
            (Some(_), ClientMsg::Bye(bye)) => self.handle_bye(now, conn, bye, out),
            (Some(_), msg) => self.relay(conn, msg, out),
        }
    }

    fn handle_hello(&mut self, now: Now, conn: ConnId, hello: Hello, out: &mut Vec<Action>) {
        if hello.version != PROTOCOL_VERSION {
            out.push(error(
                conn,
                ErrorCode::Version,
                format!(
                    "protocol version {} is not supported; this server speaks version {PROTOCOL_VERSION}",
                    hello.version
                ),
            ));
            out.push(Action::Close(conn));
            return;
        }
        if hello.role == Role::Agent && self.agents.len() >= self.config.max_sessions {
            out.push(error(
                conn,
                ErrorCode::Full,
                "this server holds all the sessions it can; try again later",
            ));
            out.push(Action::Close(conn));
            return;
        }
        if let Some(state) = self.conns.get_mut(&conn) {
            state.role = Some(hello.role);
            state.name = sanitize_name(&hello.name);
        }
        if hello.role == Role::Agent {
            self.issue_code(now, conn, out);
        }
    }

    fn handle_new_code(&mut self, now: Now, conn: ConnId, out: &mut Vec<Action>) {
        let Some(old) = self.conns.get(&conn).and_then(|c| c.code) else { return };
        if self.agents.get(&old).is_some_and(|a| a.viewer.is_some()) {
            out.push(error(
                conn,
                ErrorCode::BadState,
                "a viewer is connected; send bye before asking for a new code",
            ));
            return;
        }
        self.retire(now.mono, old);
        self.issue_code(now, conn, out);
    }

    fn handle_join(&mut self, now: Now, conn: ConnId, code: SessionCode, out: &mut Vec<Action>) {
        let Some(viewer) = self.conns.get(&conn) else { return };
        if viewer.code.is_some() {
            out.push(error(conn, ErrorCode::BadState, "already joined; send bye first"));
            return;
        }
        let addr = viewer.addr;
        if let Err(wait) = self.joins.check(now.mono, addr) {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            out.push(Action::Send(
                conn,
                ServerMsg::Error(ErrorMsg {
                    code: ErrorCode::RateLimited,
                    message: format!(
                        "too many failed joins from your address; try again in {secs} s"
                    ),
                    retry_after_secs: Some(secs.max(1)),
                }),
            ));
            return;
        }
        let failure = match self.agents.get_mut(&code) {
            Some(agent) if agent.viewer.is_some() => {
                Some((ErrorCode::Busy, "another viewer is already connected with this code"))
            }
            Some(agent) => {
                agent.viewer = Some(conn);
                let agent_conn = agent.conn;
                if let Some(at) = agent.expires_at.take() {
                    self.expiries.remove(&(at, code));
                }
                self.pair(now, conn, agent_conn, code, out);
                None
            }
            None if self.retired_set.contains_key(&code) => Some((
                ErrorCode::Expired,
                "this code has expired; ask for the new code shown on the computer",
            )),
            None => Some((
                ErrorCode::UnknownCode,
                "no computer is waiting with this code; check the digits",
            )),
        };
        if let Some((code, sentence)) = failure {
            self.joins.record_failure(now.mono, addr);
            self.schedule_sweep(now.mono);
            out.push(error(conn, code, sentence));
        }
    }

    fn pair(
        &mut self,
        now: Now,
        viewer: ConnId,
        agent: ConnId,
        code: SessionCode,
        out: &mut Vec<Action>,
    ) {
        let (viewer_name, viewer_addr) = match self.conns.get_mut(&viewer) {
            Some(v) => {
                v.code = Some(code);
                (v.name.clone(), v.addr)
            }
            None => return,
        };
        let agent_name = self.conns.get(&agent).map(|a| a.name.clone()).unwrap_or_default();
        tracing::info!(code = %code.masked(), viewer = ?viewer, agent = ?agent, "paired");
        out.push(Action::Send(
            agent,
            ServerMsg::PeerJoined(PeerJoined { name: viewer_name, addr: viewer_addr.to_string() }),
        ));
        let ice = self.config.ice.ice_config(now.unix_secs);
        out.push(Action::Send(viewer, ServerMsg::Joined(Joined { agent_name, ice })));
    }

    fn handle_bye(&mut self, now: Now, conn: ConnId, bye: Bye, out: &mut Vec<Action>) {
        // A bye with no peer is harmless: ending twice is not an error.
        if let Some(peer) = self.peer_of(conn) {
            out.push(Action::Send(peer, ServerMsg::Bye(bye)));
            self.unpair(now, conn);
        }
    }

    fn relay(&mut self, conn: ConnId, msg: ClientMsg, out: &mut Vec<Action>) {
        let kind = msg.kind();
        match (self.peer_of(conn), msg.into_relayed()) {
            (Some(peer), Some(relayed)) => out.push(Action::Send(peer, relayed)),
            _ => out.push(error(
                conn,
                ErrorCode::BadState,
                format!("no peer to relay {kind:?} to: the session has not started or has ended"),
            )),
        }
    }

    fn handle_disconnect(&mut self, now: Now, conn: ConnId, out: &mut Vec<Action>) {
        if let Some(peer) = self.peer_of(conn) {
            out.push(Action::Send(
                peer,
                ServerMsg::Bye(Bye {
                    reason: ByeReason::PeerLeft,
                    message: Some("the other side disconnected".into()),
                }),
            ));
            self.unpair(now, conn);
        }
        let Some(state) = self.conns.remove(&conn) else { return };
        if let (Some(Role::Agent), Some(code)) = (state.role, state.code) {
            if let Some(agent) = self.agents.remove(&code) {
                if let Some(at) = agent.expires_at {
                    self.expiries.remove(&(at, code));
                }
            }
        }
    }

    /// The connection on the other end of `conn`'s session.
    fn peer_of(&self, conn: ConnId) -> Option<ConnId> {
        let state = self.conns.get(&conn)?;
        let agent = self.agents.get(&state.code?)?;
        match state.role? {
            Role::Agent => agent.viewer,
            Role::Viewer => (agent.viewer == Some(conn)).then_some(agent.conn),
        }
    }

    /// Ends `conn`'s session: the viewer is free to join again, the agent's code becomes
    /// unused again with a fresh expiry, so the same supporter can reconnect.
    fn unpair(&mut self, now: Now, conn: ConnId) {
        let Some(code) = self.conns.get(&conn).and_then(|c| c.code) else { return };
        let Some(agent) = self.agents.get_mut(&code) else { return };
        let Some(viewer) = agent.viewer.take() else { return };
        let at = now.mono + self.config.code_ttl;
        agent.expires_at = Some(at);
        self.expiries.insert((at, code));
        if let Some(v) = self.conns.get_mut(&viewer) {
            v.code = None;
        }
    }

    fn schedule_sweep(&mut self, now: Instant) {
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now + SWEEP_INTERVAL);
        }
    }
}

fn error(conn: ConnId, code: ErrorCode, message: impl Into<String>) -> Action {
    Action::Send(conn, ServerMsg::error(code, message))
}

mod codes;
#[cfg(test)]
mod tests;
