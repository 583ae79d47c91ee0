//! The agent's side of one session as a plain value: who asks, what the person answered, whether
//! the screen is being shared.
//!
//! `Waiting → Asked → Allowed → Streaming → Waiting …`, and `Ended` once the agent quits. Server
//! messages, peer connection events, the person's commands (from the tray or the terminal) and
//! time go in through [`Sharing::handle`]; what to do comes out as [`Action`]s. The consent
//! timeout is a deadline ([`Sharing::next_deadline`]): the caller wakes up then and passes
//! [`Event::Timeout`]. Nothing here captures, sends or sleeps, so every rule is unit-tested in
//! virtual time, and nothing can be captured or sent before the person said yes: the only way
//! to [`Action::StartSession`] is an [`Decision::Allow`] for the request that is being shown (or
//! `auto_allow`, the explicit unattended mode).
//!
//! A viewer that committed to its certificate's fingerprint in `join` is verified before the
//! question is shown (`Waiting → Verifying → Asked`): the agent sends its own fingerprint, the
//! viewer's must match the commitment, and the question then carries the short
//! authentication string ([`Sharing::verified`]) for the person to compare with the
//! supporter's (`tether_proto::sas`).

use std::time::{Duration, Instant};

use tether_proto::signal::{ByeReason, PeerJoined};
use tether_proto::{Sas, SessionCode, commitment, fingerprint, normalise_fingerprint};

use crate::display::display_name;

/// How long the consent question waits by default before it counts as Deny.
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an allowed session may take to connect by default: longer than the viewer's own
/// connect timeout (30 s), so that normally the viewer gives up first and says why.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);

/// How long a viewer that committed to a fingerprint has to reveal it once it has the agent's.
/// A working viewer answers within a round trip; one that does not is not asked about.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The person's answer to one consent request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Share the screen; with `view_only` the viewer may watch but not control.
    Allow {
        /// No input from the viewer is injected.
        view_only: bool,
    },
    /// Refuse: the viewer gets `bye` with `denied`.
    Deny,
}

/// Where the agent is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Registered, showing the code (once it arrived), no viewer.
    Waiting,
    /// A viewer committed to a fingerprint; ours went out, theirs must come by `deadline`.
    /// Nothing is shown to the person yet.
    Verifying {
        /// Who asks, display-safe.
        peer: PeerJoined,
        /// When the viewer is refused for not completing the exchange.
        deadline: Instant,
    },
    /// A viewer asks; the question is shown until `deadline`.
    Asked {
        /// Identifies this request, so a late answer to an earlier one is not taken for it.
        ask: u64,
        /// Who asks: the name the viewer gave and its address, made display-safe
        /// ([`crate::display::display_name`]).
        peer: PeerJoined,
        /// When the question counts as Deny.
        deadline: Instant,
    },
    /// The person said yes: the offer is out, the connection comes up.
    Allowed {
        /// Who watches.
        peer: PeerJoined,
        /// Watch only, no control.
        view_only: bool,
    },
    /// Connected: the screen is captured and sent.
    Streaming {
        /// Who watches.
        peer: PeerJoined,
        /// Watch only, no control.
        view_only: bool,
    },
    /// The agent quits; nothing more happens.
    Ended,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The server issued a (new) session code.
    Code(SessionCode),
    /// A viewer joined with the code and waits for consent.
    PeerJoined(PeerJoined),
    /// The viewer revealed its fingerprint (`theirs`); `ours` is the one the agent sent.
    PeerFingerprint {
        /// The agent's certificate's fingerprint, as it went out.
        ours: String,
        /// What the viewer sent.
        theirs: String,
    },
    /// The person answered request `ask`.
    Consent {
        /// The request answered ([`Phase::Asked::ask`]).
        ask: u64,
        /// The answer.
        decision: Decision,
    },
    /// A deadline passed (or may have): see [`Sharing::next_deadline`].
    Timeout,
    /// The session could not be started after Allow.
    StartFailed(String),
    /// ICE and DTLS are up.
    PeerConnected,
    /// The peer connection failed or closed.
    PeerFailed,
    /// The capture or the encoder stopped with an error.
    StreamFailed(String),
    /// The viewer (or the server on its behalf) ended the session.
    ViewerLeft(ByeReason),
    /// The person chose Stop sharing.
    StopSharing,
    /// The person asked for a new code.
    NewCode,
    /// The connection to the signaling server was lost; the code went with it, and a new one
    /// comes as [`Event::Code`] once the agent is registered again.
    SignalingLost,
    /// The person quit, or the process is shutting down.
    Quit,
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// [`Sharing::phase`] or [`Sharing::code`] changed: update the tray, dialog or terminal.
    /// It comes first, so the UI knows the new phase before anything else is done or printed.
    Show,
    /// Show the consent question for [`Phase::Asked`] (printed on the terminal, a dialog),
    /// with [`Sharing::verified`]'s security code if there is one.
    Ask,
    /// Send the agent's certificate fingerprint to the viewer (then pass
    /// [`Event::PeerFingerprint`] when the viewer's comes).
    RevealFingerprint,
    /// Build the peer connection and send the offer.
    StartSession {
        /// Carried to the session's input setting.
        view_only: bool,
    },
    /// Start capturing and sending the screen.
    StartStream,
    /// Close the peer connection now, if there is one, and send `bye` with this reason.
    Bye {
        /// Why, for the viewer.
        reason: ByeReason,
        /// A sentence for people.
        message: String,
    },
    /// Close the peer connection, if there is one, without a `bye` (the viewer already left).
    Close(ByeReason),
    /// Send `new_code` to the server.
    RequestNewCode,
    /// Stop everything and exit.
    Exit,
}

/// The machine. Its time comes from the caller.
#[derive(Debug)]
pub struct Sharing {
    phase: Phase,
    code: Option<SessionCode>,
    consent_timeout: Duration,
    connect_timeout: Duration,
    /// When the allowed session must have connected (meaningful in [`Phase::Allowed`]).
    connect_by: Option<Instant>,
    auto_allow: bool,
    next_ask: u64,
    /// The viewer's checked fingerprint and the digits, for the request being handled.
    verified: Option<Verified>,
}

/// A viewer whose fingerprint matched its commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The short authentication string both people compare.
    pub sas: Sas,
    /// The viewer's fingerprint: its answer must carry this one.
    pub peer_fingerprint: String,
}

impl Sharing {
    /// A machine that asks for consent, counting no answer within `consent_timeout` as Deny.
    /// With `auto_allow` every viewer is allowed without asking (unattended access; the caller
    /// only enables it behind an explicit flag).
    pub fn new(consent_timeout: Duration, auto_allow: bool) -> Self {
        Sharing {
            phase: Phase::Waiting,
            code: None,
            consent_timeout,
            connect_timeout: CONNECT_TIMEOUT,
            connect_by: None,
            auto_allow,
            next_ask: 1,
            verified: None,
        }
    }

    /// The same machine, giving an allowed session `timeout` to connect (default
    /// [`CONNECT_TIMEOUT`]).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Where the agent is.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The current session code, once the server issued one.
    pub fn code(&self) -> Option<SessionCode> {
        self.code
    }

    /// The viewer of the current request or session, if it was verified (see the module).
    pub fn verified(&self) -> Option<&Verified> {
        match self.phase {
            Phase::Asked { .. } | Phase::Allowed { .. } | Phase::Streaming { .. } => {
                self.verified.as_ref()
            }
            _ => None,
        }
    }

    /// Whether the viewer's answer carries the certificate it revealed (any, if unverified).
    pub fn answer_matches(&self, answer_sdp: &str) -> bool {
        match self.verified() {
            Some(v) => fingerprint(answer_sdp).as_ref() == Some(&v.peer_fingerprint),
            None => true,
        }
    }

    /// When the consent question counts as Deny, or the viewer's fingerprint is overdue: pass
    /// [`Event::Timeout`] then.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Asked { deadline, .. } | Phase::Verifying { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }

    /// When an allowed session that has not connected is given up: pass [`Event::Timeout`]
    /// then too. (Apart from [`Sharing::next_deadline`], whose callers expect a deadline only
    /// while asking.)
    pub fn connect_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Allowed { .. } => self.connect_by,
            _ => None,
        }
    }

    /// Takes one event at time `now` and says what to do.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        if self.phase == Phase::Ended {
            return Vec::new();
        }
        // A deadline that passed counts first, whatever else arrived with it.
        let mut actions = self.expire(now);
        actions.extend(self.apply(now, event));
        actions
    }

    fn expire(&mut self, now: Instant) -> Vec<Action> {
        match &self.phase {
            Phase::Asked { deadline, .. } if now >= *deadline => {
                self.phase = Phase::Waiting;
                vec![Action::Show, bye(ByeReason::ConsentTimeout, "nobody answered the request")]
            }
            Phase::Verifying { deadline, .. } if now >= *deadline => {
                self.refuse(ByeReason::Other, "the viewer did not complete the security check")
            }
            Phase::Allowed { .. } if self.connect_by.is_some_and(|by| now >= by) => {
                let waited = self.connect_timeout.as_secs();
                let message = format!("the viewer did not connect within {waited} s");
                self.end_session(ByeReason::IceFailed, message)
            }
            _ => Vec::new(),
        }
    }

    fn apply(&mut self, now: Instant, event: Event) -> Vec<Action> {
        match event {
            Event::Code(code) => {
                self.code = Some(code);
                vec![Action::Show]
            }
            Event::PeerJoined(peer) => self.peer_joined(now, peer),
            Event::PeerFingerprint { ours, theirs } => self.peer_fingerprint(now, &ours, &theirs),
            Event::Consent { ask, decision } => self.consent(now, ask, decision),
            Event::Timeout => Vec::new(),
            Event::StartFailed(err) => self.end_session(
                ByeReason::Other,
                format!("the agent could not start the session: {err}"),
            ),
            Event::PeerConnected => match &self.phase {
                Phase::Allowed { peer, view_only } => {
                    self.phase = Phase::Streaming { peer: peer.clone(), view_only: *view_only };
                    vec![Action::Show, Action::StartStream]
                }
                _ => Vec::new(),
            },
            Event::PeerFailed => self
                .end_session(ByeReason::IceFailed, "the network connection to the viewer failed"),
            Event::StreamFailed(err) => self.end_session(ByeReason::Stopped, err),
            Event::ViewerLeft(reason) => match self.phase {
                Phase::Waiting => Vec::new(),
                _ => {
                    self.phase = Phase::Waiting;
                    vec![Action::Show, Action::Close(reason)]
                }
            },
            Event::StopSharing => match self.phase {
                Phase::Asked { .. } | Phase::Verifying { .. } => {
                    self.refuse(ByeReason::Denied, "the person declined")
                }
                _ => self.end_session(ByeReason::Stopped, "the person stopped sharing"),
            },
            Event::NewCode => match self.phase {
                Phase::Waiting => vec![Action::RequestNewCode],
                // The viewer holding the old code is refused first: the server allows no
                // new code while a viewer is paired.
                Phase::Asked { .. } | Phase::Verifying { .. } => {
                    let mut actions = self.refuse(ByeReason::Denied, "the person declined");
                    actions.push(Action::RequestNewCode);
                    actions
                }
                // Stop sharing first; the tray offers no New code meanwhile.
                _ => Vec::new(),
            },
            Event::SignalingLost => self.signaling_lost(),
            Event::Quit => {
                let mut actions = vec![Action::Show];
                if self.phase != Phase::Waiting {
                    actions.push(bye(ByeReason::Stopped, "the person stopped sharing"));
                }
                self.phase = Phase::Ended;
                actions.push(Action::Exit);
                actions
            }
        }
    }

    fn peer_joined(&mut self, now: Instant, mut peer: PeerJoined) -> Vec<Action> {
        if self.phase != Phase::Waiting {
            // The server pairs one viewer at a time; a second one cannot be asked about.
            return Vec::new();
        }
        // Every prompt, line and log shows who asks as it is kept here: display-safe.
        peer.name = display_name(&peer.name);
        peer.addr = display_name(&peer.addr);
        self.verified = None;
        if self.auto_allow {
            return self.allow(now, peer, false);
        }
        if peer.commit.is_some() {
            self.phase = Phase::Verifying { peer, deadline: now + VERIFY_TIMEOUT };
            return vec![Action::Show, Action::RevealFingerprint];
        }
        self.ask(now, peer)
    }

    /// Checks the viewer's fingerprint against its commitment; asks the person if it holds.
    fn peer_fingerprint(&mut self, now: Instant, ours: &str, theirs: &str) -> Vec<Action> {
        let Phase::Verifying { peer, .. } = &self.phase else { return Vec::new() };
        let theirs = normalise_fingerprint(theirs);
        let committed = peer.commit.as_deref();
        match theirs.filter(|t| committed == Some(commitment(t).as_str())) {
            Some(theirs) => {
                let sas = Sas::from_fingerprints(ours, &theirs);
                self.verified = Some(Verified { sas, peer_fingerprint: theirs });
                let peer = peer.clone();
                self.ask(now, peer)
            }
            None => self.refuse(
                ByeReason::Other,
                "the viewer's certificate does not match the one it committed to",
            ),
        }
    }

    fn ask(&mut self, now: Instant, peer: PeerJoined) -> Vec<Action> {
        let ask = self.next_ask;
        self.next_ask += 1;
        self.phase = Phase::Asked { ask, peer, deadline: now + self.consent_timeout };
        vec![Action::Show, Action::Ask]
    }

    fn consent(&mut self, now: Instant, answered: u64, decision: Decision) -> Vec<Action> {
        let Phase::Asked { ask, peer, .. } = &self.phase else { return Vec::new() };
        if *ask != answered {
            return Vec::new();
        }
        match decision {
            Decision::Allow { view_only } => self.allow(now, peer.clone(), view_only),
            Decision::Deny => self.refuse(ByeReason::Denied, "the person declined"),
        }
    }

    /// Starts the session for `peer`, which must connect within the connect timeout.
    fn allow(&mut self, now: Instant, peer: PeerJoined, view_only: bool) -> Vec<Action> {
        self.phase = Phase::Allowed { peer, view_only };
        self.connect_by = Some(now + self.connect_timeout);
        vec![Action::Show, Action::StartSession { view_only }]
    }

    /// Without the server the pairing is gone: a viewer being asked about has been told by the
    /// server, a session still negotiating cannot finish (answer and candidates come through the
    /// server), and a streaming one goes on (media does not need the server).
    fn signaling_lost(&mut self) -> Vec<Action> {
        self.code = None;
        match self.phase {
            Phase::Asked { .. } | Phase::Verifying { .. } => {
                self.phase = Phase::Waiting;
                vec![Action::Show]
            }
            Phase::Allowed { .. } => self.end_session(
                ByeReason::Other,
                "the connection to the signaling server was lost before the viewer connected",
            ),
            _ => vec![Action::Show],
        }
    }

    /// Answers the viewer being asked about with `bye`.
    fn refuse(&mut self, reason: ByeReason, message: &str) -> Vec<Action> {
        self.phase = Phase::Waiting;
        vec![Action::Show, bye(reason, message)]
    }

    /// Ends an allowed or streaming session: closes it and tells the viewer.
    fn end_session(&mut self, reason: ByeReason, message: impl Into<String>) -> Vec<Action> {
        match self.phase {
            Phase::Allowed { .. } | Phase::Streaming { .. } => {
                self.phase = Phase::Waiting;
                vec![Action::Show, bye(reason, &message.into())]
            }
            _ => Vec::new(),
        }
    }
}

fn bye(reason: ByeReason, message: &str) -> Action {
    Action::Bye { reason, message: message.to_owned() }
}

#[cfg(test)]
mod tests;
