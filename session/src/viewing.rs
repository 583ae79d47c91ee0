//! The viewer's side of one session as a plain value.
//!
//! `Joining → Joined → Connecting → Connected → Ended(outcome)`. Server messages, the peer
//! connection's answers and state changes, the user's hang-up and time go in through
//! [`Viewing::handle`]; what to send, what to do with the peer connection and what to tell the
//! user come out as [`Action`]s. The connect deadline is [`Viewing::next_deadline`]: the caller
//! wakes up then and passes [`Event::Timeout`].
//!
//! The error policy is the browser page's (`signal/web/session.js`): every `bye` ends the
//! session, and a refusal, a consent timeout and a failed ICE end it with an error (the person
//! stopping, the viewer hanging up, the computer disconnecting and the server shutting down end
//! it normally); a server `error` ends it before the offer, and afterwards only if the server
//! closes the connection after it (the rest are logged by the caller and ignored); no `joined`
//! within [`JOIN_TIMEOUT`] ends it. Which ended sessions are joined again is [`Reconnect`]'s
//! decision.
//!
//! With the fingerprint of its certificate ([`Viewing::with_fingerprint`]) the viewer commits
//! to it in `join`, reveals it when the agent's `fingerprint` comes, and reports the short
//! authentication string then, while the person is still being asked (`tether_proto::sas`).
//! An offer whose certificate is not the one the agent announced ends the session.

mod report;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use tether_proto::signal::{
    Bye, ByeReason, Candidate, ClientMsg, Fingerprint, IceCandidate, Join, Sdp, ServerMsg,
};
use tether_proto::{IceConfig, LocalIce, Sas, SessionCode, commitment, fingerprint};

use crate::LinkState;
use crate::candidates::EarlyCandidates;

pub use report::{Outcome, PairText, Reconnect, Report};

/// How long `join` may go unanswered (the page's `JOIN_TIMEOUT_MS`).
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Remote candidates kept while no peer connection exists yet (they come before or with the
/// offer). A real offer brings a handful; the rest of a flood is dropped (and so are
/// candidates past [`crate::candidates::MAX_EARLY_BYTES`] in all).
pub const EARLY_CANDIDATES: usize = crate::candidates::MAX_EARLY_CANDIDATES;

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `join` sent, waiting for `joined`.
    Joining,
    /// Joined; the person at the computer is being asked.
    Joined,
    /// The offer came (the person allowed): answering and checking connectivity.
    Connecting,
    /// Media flows.
    Connected,
    /// Over; the last action was [`Action::End`].
    Ended,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message from the signaling server.
    Server(ServerMsg),
    /// The peer connection answered the first offer, or a restart offer.
    Answered(Sdp),
    /// Answering an offer failed (unreadable SDP, no usable transport).
    AnswerFailed(String),
    /// The peer connection found a local candidate to trickle.
    LocalCandidate(IceCandidate),
    /// The transport changed state; `Connected` comes as [`Event::Connected`].
    Link(LinkState),
    /// The transport connected, over this pair if it is known.
    Connected(Option<PairText>),
    /// The user hung up (closed the window, pressed Ctrl-C, the run's time is up).
    HangUp,
    /// The connection to the signaling server broke.
    SignalingLost(String),
    /// [`Viewing::next_deadline`] has passed.
    Timeout,
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this to the signaling server.
    Send(ClientMsg),
    /// Tell the user (print the line, show it in the window).
    Report(Report),
    /// Make the peer connection with this ICE configuration and answer the offer; then pass
    /// [`Event::Answered`] or [`Event::AnswerFailed`].
    Answer {
        /// Local servers and policy merged over the server's.
        ice: IceConfig,
        /// The agent's offer.
        offer: Sdp,
    },
    /// Answer a restart offer on the live peer connection; then pass [`Event::Answered`] or
    /// [`Event::AnswerFailed`].
    Reanswer(Sdp),
    /// Give this remote candidate to the peer connection.
    AddCandidate(IceCandidate),
    /// The session is over: close the peer connection and stop.
    End(Outcome),
}

/// The viewer's session rules.
#[derive(Debug)]
pub struct Viewing {
    code: SessionCode,
    connect_timeout: Duration,
    local_ice: LocalIce,
    phase: Phase,
    ice: IceConfig,
    /// A peer connection exists (its first answer went out).
    answered: bool,
    early_candidates: EarlyCandidates,
    /// Armed by [`Viewing::start`], disarmed by `joined`.
    join_by: Option<Instant>,
    /// Armed by the first offer, disarmed by [`Event::Connected`].
    connect_by: Option<Instant>,
    link: Option<LinkState>,
    /// The token to rejoin with (codes are single-use): given by the caller, then by `joined`.
    resume: Option<String>,
    /// Our certificate's fingerprint, if the caller gave it.
    own_fingerprint: Option<String>,
    /// The agent's, once it sent it (before the offer) or its first offer carried it.
    agent_fingerprint: Option<String>,
    /// The short authentication string, once reported.
    sas: Option<Sas>,
}

impl Viewing {
    /// A session that joins `code`; if the offer has not connected within `connect_timeout`
    /// it ends as ICE failed. `local_ice` is merged over the server's ICE settings.
    pub fn new(code: SessionCode, connect_timeout: Duration, local_ice: LocalIce) -> Self {
        Viewing {
            code,
            connect_timeout,
            local_ice,
            phase: Phase::Joining,
            ice: IceConfig::default(),
            answered: false,
            early_candidates: EarlyCandidates::default(),
            join_by: None,
            connect_by: None,
            link: None,
            resume: None,
            own_fingerprint: None,
            agent_fingerprint: None,
            sas: None,
        }
    }

    /// The session's peer connection will use the certificate with this (normalised)
    /// fingerprint: `join` commits to it, so the security code can be compared before consent.
    pub fn with_fingerprint(mut self, fingerprint: String) -> Self {
        self.own_fingerprint = Some(fingerprint);
        self
    }

    /// Rejoins a session that ended with the token its `joined` gave (see
    /// [`Viewing::resume_token`]); without one the join is a first join.
    pub fn resuming(mut self, token: Option<String>) -> Self {
        self.resume = token;
        self
    }

    /// The token a later session may rejoin with, once the server has given one.
    pub fn resume_token(&self) -> Option<&str> {
        self.resume.as_deref()
    }

    /// The first actions, once the caller has said hello: join and tell the user.
    pub fn start(&mut self, now: Instant) -> Vec<Action> {
        self.join_by = Some(now + JOIN_TIMEOUT);
        vec![
            Action::Send(ClientMsg::Join(Join {
                code: self.code,
                resume: self.resume.clone(),
                commit: self.own_fingerprint.as_deref().map(commitment),
            })),
            Action::Report(Report::Joining(self.code)),
        ]
    }

    /// Where the session is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The transport's last state, as the `stats:` line's `ice=` shows it (`new` before any).
    pub fn link_name(&self) -> &'static str {
        self.link.map_or("new", LinkState::name)
    }

    /// When to pass [`Event::Timeout`]: the join deadline until `joined`, the connect
    /// deadline while connecting.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Ended => None,
            _ => self.join_by.or(self.connect_by),
        }
    }

    /// Feeds one event; returns what to do.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        if self.phase == Phase::Ended {
            return Vec::new();
        }
        match event {
            Event::Server(msg) => self.on_server(now, msg),
            Event::Answered(sdp) => self.on_answered(sdp),
            Event::AnswerFailed(why) => {
                // The agent would otherwise wait for an answer until its own deadline.
                let mut actions = vec![bye(ByeReason::Hangup)];
                actions.extend(self.end(Outcome::Failed(why)));
                actions
            }
            Event::LocalCandidate(candidate) => {
                vec![Action::Send(ClientMsg::Candidate(Candidate { candidate: Some(candidate) }))]
            }
            Event::Link(LinkState::Failed) => {
                self.link = Some(LinkState::Failed);
                self.fail_ice("the connectivity checks failed".to_owned())
            }
            Event::Link(state) => {
                self.link = Some(state);
                Vec::new()
            }
            Event::Connected(pair) => {
                self.link = Some(LinkState::Connected);
                self.connect_by = None;
                self.phase = Phase::Connected;
                vec![Action::Report(Report::Connected(pair))]
            }
            Event::HangUp => {
                let mut actions = vec![bye(ByeReason::Hangup)];
                actions.extend(self.end(Outcome::HungUp));
                actions
            }
            Event::SignalingLost(why) => self.end(Outcome::SignalingLost(why)),
            Event::Timeout => match (self.join_by, self.connect_by) {
                (Some(at), _) if now >= at => self.end(Outcome::JoinTimeout),
                (None, Some(at)) if now >= at => {
                    let waited = self.connect_timeout;
                    self.fail_ice(format!("not connected within {waited:?}"))
                }
                _ => Vec::new(),
            },
        }
    }

    fn on_server(&mut self, now: Instant, msg: ServerMsg) -> Vec<Action> {
        match msg {
            ServerMsg::Joined(joined) => {
                self.ice = self.local_ice.apply(joined.ice);
                self.join_by = None;
                if joined.resume.is_some() {
                    self.resume = joined.resume;
                }
                if self.phase == Phase::Joining {
                    self.phase = Phase::Joined;
                }
                vec![Action::Report(Report::Joined { agent_name: joined.agent_name })]
            }
            ServerMsg::Fingerprint(Fingerprint { fingerprint }) => {
                self.on_fingerprint(&fingerprint)
            }
            ServerMsg::Offer(offer) if !self.offer_is_announced(&offer) => {
                let mut actions = vec![bye(ByeReason::Hangup)];
                actions.extend(self.end(Outcome::Failed(IMPOSTOR.to_owned())));
                actions
            }
            // A new offer on a live session is the agent's ICE restart.
            ServerMsg::Offer(offer) if self.answered => vec![Action::Reanswer(offer)],
            ServerMsg::Offer(offer) => {
                self.phase = Phase::Connecting;
                self.connect_by = Some(now + self.connect_timeout);
                let mut actions = vec![Action::Report(Report::Connecting)];
                if self.agent_fingerprint.is_none() {
                    // The agent did not announce one (an older agent): the offer's counts.
                    self.agent_fingerprint = fingerprint(&offer.sdp);
                    actions.extend(self.report_sas());
                }
                actions.push(Action::Answer { ice: self.ice.clone(), offer });
                actions
            }
            ServerMsg::Candidate(Candidate { candidate: Some(candidate) }) if self.answered => {
                vec![Action::AddCandidate(candidate)]
            }
            ServerMsg::Candidate(Candidate { candidate: Some(candidate) }) => {
                self.early_candidates.push(candidate);
                Vec::new()
            }
            ServerMsg::Bye(bye) => self.end(Outcome::Bye(bye)),
            // Before the offer an error is the answer to the join (a wrong code, a full
            // server); afterwards it is about one message, unless the server hangs up after it.
            ServerMsg::Error(error) if !self.answered || error.code.closes_connection() => {
                self.end(Outcome::ServerError { code: error.code, message: error.message })
            }
            _ => Vec::new(),
        }
    }

    /// The agent's fingerprint, before its offer: reveal ours and show the digits. Only once,
    /// only while the person is being asked, and only if we committed to one.
    fn on_fingerprint(&mut self, theirs: &str) -> Vec<Action> {
        let waiting = matches!(self.phase, Phase::Joining | Phase::Joined);
        let Some(own) = self.own_fingerprint.clone().filter(|_| waiting) else { return Vec::new() };
        if self.agent_fingerprint.is_some() {
            return Vec::new();
        }
        let Some(theirs) = tether_proto::normalise_fingerprint(theirs) else { return Vec::new() };
        self.agent_fingerprint = Some(theirs);
        let mut actions =
            vec![Action::Send(ClientMsg::Fingerprint(Fingerprint { fingerprint: own }))];
        actions.extend(self.report_sas());
        actions
    }

    /// Whether `offer` carries the certificate the agent announced (any, if it announced none).
    fn offer_is_announced(&self, offer: &Sdp) -> bool {
        match &self.agent_fingerprint {
            Some(announced) => fingerprint(&offer.sdp).as_ref() == Some(announced),
            None => true,
        }
    }

    /// [`Report::Secured`], once both fingerprints are known.
    fn report_sas(&mut self) -> Option<Action> {
        let (agent, own) = (self.agent_fingerprint.as_ref()?, self.own_fingerprint.as_ref()?);
        if self.sas.is_some() {
            return None;
        }
        let sas = Sas::from_fingerprints(agent, own);
        self.sas = Some(sas);
        Some(Action::Report(Report::Secured(sas)))
    }

    fn on_answered(&mut self, sdp: Sdp) -> Vec<Action> {
        let mut actions = vec![Action::Send(ClientMsg::Answer(sdp))];
        if self.answered {
            actions.push(Action::Report(Report::Reconnecting));
            return actions;
        }
        self.answered = true;
        actions.extend(self.early_candidates.take().into_iter().map(Action::AddCandidate));
        actions
    }

    fn fail_ice(&mut self, detail: String) -> Vec<Action> {
        let mut actions = vec![bye(ByeReason::IceFailed)];
        actions.extend(self.end(Outcome::IceFailed(detail)));
        actions
    }

    /// Ends the session: the `state: ended` line (for the outcomes that have one) and
    /// [`Action::End`].
    fn end(&mut self, outcome: Outcome) -> Vec<Action> {
        self.phase = Phase::Ended;
        self.join_by = None;
        self.connect_by = None;
        let mut actions = Vec::new();
        if outcome.has_line() {
            actions.push(Action::Report(Report::Ended(outcome.clone())));
        }
        actions.push(Action::End(outcome));
        actions
    }
}

/// Why a session whose offer carries another certificate than announced ends.
const IMPOSTOR: &str = "the computer's connection offer carries another certificate than the one it announced; someone may be in between (connect again and compare the security code)";

fn bye(reason: ByeReason) -> Action {
    Action::Send(ClientMsg::Bye(Bye { reason, message: None }))
}
