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
    Bye, ByeReason, ClientMsg, ErrorMsg, Hello, Join, Joined, PeerJoined, Role, ServerMsg,
    sanitize_name,
};
use tether_proto::{ErrorCode, PROTOCOL_VERSION, SessionCode};

use crate::config::Config;
use crate::limits::{JoinBudgets, JoinLimiter, limit_key};

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
    /// Consent prompts this connection caused (as agent or as viewer), newest last.
    prompts: VecDeque<Instant>,
    /// Agent: the used-up code its last viewer may rejoin with.
    resumable: Option<SessionCode>,
}

#[derive(Debug)]
struct Agent {
    conn: ConnId,
    viewer: Option<ConnId>,
    /// `None` while a viewer is paired: codes expire only when unused.
    expires_at: Option<Instant>,
    /// The token the paired viewer was given to rejoin with.
    resume_token: Option<String>,
}

/// A session that ended: its viewer may rejoin the agent with the token for a while.
#[derive(Debug)]
struct Resume {
    agent: ConnId,
    token: String,
    until: Instant,
}

/// Why a join did not pair.
enum JoinRefusal {
    /// Counted against the address: unknown, used-up or expired codes.
    Failed(ErrorCode, &'static str),
    /// The agent or this viewer caused too many prompts lately: wait this long.
    TooOften(Duration),
}

/// The sentence for a code nobody can join, live-but-busy included: a guesser must not learn
/// that a code is live.
const NO_SUCH_CODE: &str = "no computer is waiting with this code; check the digits";

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
    /// Used-up codes whose viewer may rejoin, at most one per agent.
    resumes: HashMap<SessionCode, Resume>,
    /// Agents registered per address (IPv6: per /64).
    agents_per_address: HashMap<IpAddr, usize>,
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
/// Longest any configured lifetime may be, so `Instant + ttl` cannot overflow.
const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// The window `prompts_per_minute` counts in.
const PROMPT_WINDOW: Duration = Duration::from_secs(60);

impl Rendezvous {
    /// An empty rendezvous drawing codes from `rng` (the OS CSPRNG outside tests).
    pub fn new(mut config: Config, rng: Box<dyn RngCore + Send>) -> Self {
        for lifetime in
            [&mut config.code_ttl, &mut config.expired_code_memory, &mut config.resume_window]
        {
            *lifetime = (*lifetime).min(MAX_LIFETIME);
        }
        config.join_failure_window = config.join_failure_window.min(MAX_LIFETIME);
        let budgets = JoinBudgets {
            per_address: config.join_failures_per_window,
            per_site: config.join_failures_per_site,
            global: config.join_failures_global,
        };
        let joins = JoinLimiter::new(budgets, config.join_failure_window, 100_000);
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
            resumes: HashMap::new(),
            agents_per_address: HashMap::new(),
        }
    }

    /// Handles one event; the returned actions must be carried out in order.
    pub fn handle(&mut self, now: Now, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Connected { conn, addr } => {
                let state = Conn {
                    addr,
                    role: None,
                    name: String::new(),
                    code: None,
                    prompts: VecDeque::new(),
                    resumable: None,
                };
                self.conns.insert(conn, state);
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
            (Some(Role::Viewer), ClientMsg::Join(join)) => self.handle_join(now, conn, join, out),
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
        let Some(state) = self.conns.get_mut(&conn) else { return };
        let key = limit_key(state.addr);
        if hello.role == Role::Agent {
            let registered = self.agents_per_address.entry(key).or_default();
            if *registered >= self.config.max_agents_per_address {
                out.push(error(
                    conn,
                    ErrorCode::Full,
                    "too many computers are registered from your address; try again later",
                ));
                out.push(Action::Close(conn));
                return;
            }
            *registered += 1;
        }
        state.role = Some(hello.role);
        state.name = sanitize_name(&hello.name);
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

    fn handle_join(&mut self, now: Now, conn: ConnId, join: Join, out: &mut Vec<Action>) {
        let Some(viewer) = self.conns.get(&conn) else { return };
        if viewer.code.is_some() {
            out.push(error(conn, ErrorCode::BadState, "already joined; send bye first"));
            return;
        }
        if join.commit.as_deref().is_some_and(|c| !tether_proto::is_commitment(c)) {
            let sentence = "commit must be 64 lower-case hex digits (SHA-256)";
            out.push(error(conn, ErrorCode::Malformed, sentence));
            return;
        }
        let addr = viewer.addr;
        if let Err(wait) = self.joins.check(now.mono, addr) {
            let sentence = "too many failed joins from your address or network; try again in";
            out.push(rate_limited(conn, sentence, wait));
            return;
        }
        let target = match join.resume {
            Some(token) => self.take_resume(now.mono, join.code, &token),
            None => Some(join.code),
        };
        let refusal = match target {
            Some(code) => match self.try_pair(now, conn, code, join.commit, out) {
                Ok(()) => return,
                Err(refusal) => refusal,
            },
            None => JoinRefusal::Failed(ErrorCode::UnknownCode, NO_SUCH_CODE),
        };
        match refusal {
            JoinRefusal::Failed(code, sentence) => {
                self.joins.record_failure(now.mono, addr);
                self.schedule_sweep(now.mono);
                out.push(error(conn, code, sentence));
            }
            JoinRefusal::TooOften(wait) => {
                let sentence = "this computer was asked too often; try again in";
                out.push(rate_limited(conn, sentence, wait));
            }
        }
    }

    /// The live code of the agent that `token` lets this viewer rejoin, once: a token is
    /// used up by the attempt, right or wrong code.
    fn take_resume(&mut self, now: Instant, code: SessionCode, token: &str) -> Option<SessionCode> {
        let resume = self.resumes.get(&code)?;
        if !same_secret(&resume.token, token) || resume.until <= now {
            return None;
        }
        let agent = resume.agent;
        self.resumes.remove(&code);
        let state = self.conns.get_mut(&agent)?;
        state.resumable = None;
        state.code
    }

    /// Pairs viewer `conn` with the agent holding `code` if it is free and not over its
    /// prompt budget.
    fn try_pair(
        &mut self,
        now: Now,
        conn: ConnId,
        code: SessionCode,
        commit: Option<String>,
        out: &mut Vec<Action>,
    ) -> Result<(), JoinRefusal> {
        let agent_conn = match self.agents.get(&code) {
            Some(agent) if agent.viewer.is_none() => agent.conn,
            Some(_) => return Err(JoinRefusal::Failed(ErrorCode::UnknownCode, NO_SUCH_CODE)),
            None if self.retired_set.contains_key(&code) => {
                let sentence =
                    "this code has expired or was used; ask for the new code shown on the computer";
                return Err(JoinRefusal::Failed(ErrorCode::Expired, sentence));
            }
            None => return Err(JoinRefusal::Failed(ErrorCode::UnknownCode, NO_SUCH_CODE)),
        };
        let max = self.config.prompts_per_minute;
        for side in [agent_conn, conn] {
            if let Some(wait) =
                self.conns.get_mut(&side).and_then(|c| over_budget(c, now.mono, max))
            {
                return Err(JoinRefusal::TooOften(wait));
            }
        }
        for side in [agent_conn, conn] {
            if let Some(state) = self.conns.get_mut(&side) {
                state.prompts.push_back(now.mono);
            }
        }
        if let Some(agent) = self.agents.get_mut(&code) {
            agent.viewer = Some(conn);
            if let Some(at) = agent.expires_at.take() {
                self.expiries.remove(&(at, code));
            }
        }
        self.pair(now, conn, commit, agent_conn, code, out);
        Ok(())
    }

    /// Pairs `viewer` (with the commitment from its join) and `agent`.
    fn pair(
        &mut self,
        now: Now,
        viewer: ConnId,
        commit: Option<String>,
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
        let token = self.random_hex(16);
        if let Some(entry) = self.agents.get_mut(&code) {
            entry.resume_token = Some(token.clone());
        }
        // TURN credentials only now, labelled with this session.
        let label = format!("s-{}", self.random_hex(6));
        let ice = self.config.ice.session_ice(now.unix_secs, &label);
        let addr = viewer_addr.to_string();
        let peer = PeerJoined { name: viewer_name, addr, ice: Some(ice.clone()), commit };
        out.push(Action::Send(agent, ServerMsg::PeerJoined(peer)));
        let joined = Joined { agent_name, ice, resume: Some(token) };
        out.push(Action::Send(viewer, ServerMsg::Joined(joined)));
    }

    fn handle_bye(&mut self, now: Now, conn: ConnId, bye: Bye, out: &mut Vec<Action>) {
        // A bye with no peer is harmless: ending twice is not an error.
        if let Some(peer) = self.peer_of(conn) {
            // The person said no, or stopped: that viewer does not come back on its own.
            let resumable = !matches!(
                bye.reason,
                ByeReason::Denied | ByeReason::Stopped | ByeReason::ConsentTimeout
            );
            out.push(Action::Send(peer, ServerMsg::Bye(bye)));
            self.unpair(now, conn, resumable, out);
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
        let role = self.conns.get(&conn).and_then(|c| c.role);
        if let Some(peer) = self.peer_of(conn) {
            out.push(Action::Send(
                peer,
                ServerMsg::Bye(Bye {
                    reason: ByeReason::PeerLeft,
                    message: Some("the other side disconnected".into()),
                }),
            ));
            if role == Some(Role::Viewer) {
                self.unpair(now, conn, true, out);
            } else if let Some(viewer) = self.conns.get_mut(&peer) {
                viewer.code = None;
            }
        }
        let Some(state) = self.conns.remove(&conn) else { return };
        if state.role != Some(Role::Agent) {
            return;
        }
        let key = limit_key(state.addr);
        if let Some(count) = self.agents_per_address.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.agents_per_address.remove(&key);
            }
        }
        if let Some(used) = state.resumable {
            self.resumes.remove(&used);
        }
        if let Some(code) = state.code {
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

    /// Ends `conn`'s session. Its code is used up (a join with it hears `expired`) and the
    /// agent gets a new one; if `resumable`, the viewer may rejoin with its token for a while.
    fn unpair(&mut self, now: Now, conn: ConnId, resumable: bool, out: &mut Vec<Action>) {
        let Some(code) = self.conns.get(&conn).and_then(|c| c.code) else { return };
        let Some(agent) = self.agents.get_mut(&code) else { return };
        let Some(viewer) = agent.viewer.take() else { return };
        let (agent_conn, token) = (agent.conn, agent.resume_token.take());
        if let Some(v) = self.conns.get_mut(&viewer) {
            v.code = None;
        }
        self.retire(now.mono, code);
        if let Some(old) = self.conns.get_mut(&agent_conn).and_then(|a| a.resumable.take()) {
            self.resumes.remove(&old);
        }
        if let (true, Some(token)) = (resumable, token) {
            let until = now.mono + self.config.resume_window;
            self.resumes.insert(code, Resume { agent: agent_conn, token, until });
            if let Some(state) = self.conns.get_mut(&agent_conn) {
                state.resumable = Some(code);
            }
        }
        self.issue_code(now, agent_conn, out);
    }

    /// `bytes` random bytes from the server's generator, as hex.
    fn random_hex(&mut self, bytes: usize) -> String {
        let mut raw = vec![0u8; bytes];
        self.rng.fill_bytes(&mut raw);
        raw.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn schedule_sweep(&mut self, now: Instant) {
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now + SWEEP_INTERVAL);
        }
    }
}

/// `Some(wait)` if `conn` caused `max` prompts within the last minute.
fn over_budget(conn: &mut Conn, now: Instant, max: usize) -> Option<Duration> {
    while conn.prompts.front().is_some_and(|t| now.saturating_duration_since(*t) >= PROMPT_WINDOW) {
        conn.prompts.pop_front();
    }
    let oldest = *conn.prompts.front()?;
    (conn.prompts.len() >= max.max(1))
        .then(|| (oldest + PROMPT_WINDOW).saturating_duration_since(now))
}

/// Compares two secrets without stopping at the first difference.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `rate_limited` with a sentence ending in the wait, whole seconds rounded up.
fn rate_limited(conn: ConnId, sentence: &str, wait: Duration) -> Action {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    Action::Send(
        conn,
        ServerMsg::Error(ErrorMsg {
            code: ErrorCode::RateLimited,
            message: format!("{sentence} {secs} s"),
            retry_after_secs: Some(secs),
        }),
    )
}

fn error(conn: ConnId, code: ErrorCode, message: impl Into<String>) -> Action {
    Action::Send(conn, ServerMsg::error(code, message))
}

mod codes;
#[cfg(test)]
mod tests;
