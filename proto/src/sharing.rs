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

use std::time::{Duration, Instant};

use crate::SessionCode;
use crate::signal::{ByeReason, PeerJoined};

/// How long the consent question waits by default before it counts as Deny.
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// A viewer asks; the question is shown until `deadline`.
    Asked {
        /// Identifies this request, so a late answer to an earlier one is not taken for it.
        ask: u64,
        /// Who asks: the name the viewer gave and its address.
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
    /// The person quit, or the process is shutting down.
    Quit,
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// [`Sharing::phase`] or [`Sharing::code`] changed: update the tray, dialog or terminal.
    Show,
    /// Show the consent question for [`Phase::Asked`] (printed on the terminal, a dialog).
    Ask,
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
    auto_allow: bool,
    next_ask: u64,
}

impl Sharing {
    /// A machine that asks for consent, counting no answer within `consent_timeout` as Deny.
    /// With `auto_allow` every viewer is allowed without asking (unattended access; the caller
    /// only enables it behind an explicit flag).
    pub fn new(consent_timeout: Duration, auto_allow: bool) -> Self {
        Sharing { phase: Phase::Waiting, code: None, consent_timeout, auto_allow, next_ask: 1 }
    }

    /// Where the agent is.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The current session code, once the server issued one.
    pub fn code(&self) -> Option<SessionCode> {
        self.code
    }

    /// When to pass [`Event::Timeout`] next.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Asked { deadline, .. } => Some(*deadline),
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
                vec![bye(ByeReason::ConsentTimeout, "nobody answered the request"), Action::Show]
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
            Event::Consent { ask, decision } => self.consent(ask, decision),
            Event::Timeout => Vec::new(),
            Event::StartFailed(err) => self.end_session(
                ByeReason::Other,
                format!("the agent could not start the session: {err}"),
            ),
            Event::PeerConnected => match &self.phase {
                Phase::Allowed { peer, view_only } => {
                    self.phase = Phase::Streaming { peer: peer.clone(), view_only: *view_only };
                    vec![Action::StartStream, Action::Show]
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
                    vec![Action::Close(reason), Action::Show]
                }
            },
            Event::StopSharing => match self.phase {
                Phase::Asked { .. } => self.refuse(ByeReason::Denied, "the person declined"),
                _ => self.end_session(ByeReason::Stopped, "the person stopped sharing"),
            },
            Event::NewCode => match self.phase {
                Phase::Waiting => vec![Action::RequestNewCode],
                // The viewer holding the old code is refused first: the server allows no
                // new code while a viewer is paired.
                Phase::Asked { .. } => {
                    let mut actions = self.refuse(ByeReason::Denied, "the person declined");
                    actions.insert(1, Action::RequestNewCode);
                    actions
                }
                // Stop sharing first; the tray offers no New code meanwhile.
                _ => Vec::new(),
            },
            Event::Quit => {
                let mut actions = match self.phase {
                    Phase::Waiting => Vec::new(),
                    _ => vec![bye(ByeReason::Stopped, "the person stopped sharing")],
                };
                self.phase = Phase::Ended;
                actions.extend([Action::Show, Action::Exit]);
                actions
            }
        }
    }

    fn peer_joined(&mut self, now: Instant, peer: PeerJoined) -> Vec<Action> {
        if self.phase != Phase::Waiting {
            // The server pairs one viewer at a time; a second one cannot be asked about.
            return Vec::new();
        }
        if self.auto_allow {
            self.phase = Phase::Allowed { peer, view_only: false };
            return vec![Action::StartSession { view_only: false }, Action::Show];
        }
        let ask = self.next_ask;
        self.next_ask += 1;
        self.phase = Phase::Asked { ask, peer, deadline: now + self.consent_timeout };
        vec![Action::Ask, Action::Show]
    }

    fn consent(&mut self, answered: u64, decision: Decision) -> Vec<Action> {
        let Phase::Asked { ask, peer, .. } = &self.phase else { return Vec::new() };
        if *ask != answered {
            return Vec::new();
        }
        match decision {
            Decision::Allow { view_only } => {
                self.phase = Phase::Allowed { peer: peer.clone(), view_only };
                vec![Action::StartSession { view_only }, Action::Show]
            }
            Decision::Deny => self.refuse(ByeReason::Denied, "the person declined"),
        }
    }

    /// Answers the viewer being asked about with `bye`.
    fn refuse(&mut self, reason: ByeReason, message: &str) -> Vec<Action> {
        self.phase = Phase::Waiting;
        vec![bye(reason, message), Action::Show]
    }

    /// Ends an allowed or streaming session: closes it and tells the viewer.
    fn end_session(&mut self, reason: ByeReason, message: impl Into<String>) -> Vec<Action> {
        match self.phase {
            Phase::Allowed { .. } | Phase::Streaming { .. } => {
                self.phase = Phase::Waiting;
                vec![bye(reason, &message.into()), Action::Show]
            }
            _ => Vec::new(),
        }
    }
}

fn bye(reason: ByeReason, message: &str) -> Action {
    Action::Bye { reason, message: message.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(30);

    fn sam() -> PeerJoined {
        PeerJoined { name: "Sam".into(), addr: "192.0.2.7".into() }
    }

    fn code(n: u32) -> SessionCode {
        SessionCode::from_value(n).unwrap()
    }

    /// A machine with a code and a clock, asked by Sam; returns the request id.
    fn asked() -> (Sharing, Instant, u64) {
        let t0 = Instant::now();
        let mut m = Sharing::new(TIMEOUT, false);
        assert_eq!(m.handle(t0, Event::Code(code(482_913_075))), vec![Action::Show]);
        assert_eq!(m.handle(t0, Event::PeerJoined(sam())), vec![Action::Ask, Action::Show]);
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
        assert_eq!(actions, vec![Action::StartSession { view_only: false }, Action::Show]);
        assert_eq!(m.phase(), &Phase::Allowed { peer: sam(), view_only: false });
        assert_eq!(m.next_deadline(), None);
        assert_eq!(m.handle(t0, Event::PeerConnected), vec![Action::StartStream, Action::Show]);
        assert_eq!(m.phase(), &Phase::Streaming { peer: sam(), view_only: false });
        assert_eq!(m.code(), Some(code(482_913_075)));
    }

    #[test]
    fn allow_view_only_is_carried_to_the_session() {
        let (mut m, t0, ask) = asked();
        let actions =
            m.handle(t0, Event::Consent { ask, decision: Decision::Allow { view_only: true } });
        assert_eq!(actions[0], Action::StartSession { view_only: true });
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
        let other = PeerJoined { name: "Eve".into(), addr: "198.51.100.1".into() };
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
        assert_eq!(actions, vec![Action::Close(ByeReason::Hangup), Action::Show]);
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
        assert_eq!(actions[1], Action::RequestNewCode, "bye first: the server needs it");
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
        assert_eq!(actions, vec![Action::StartSession { view_only: false }, Action::Show]);
        assert_eq!(m.next_deadline(), None);
    }
}
