//! The agent's consent and sharing machine (`tether_session::sharing::Sharing`) driven by a
//! sequence of server messages, peer-connection events, the person's commands and time.
//!
//! Checks, after every event: no panic; nothing is started without consent: a session starts
//! only on Allow for the request being shown, before its deadline (or on a join with
//! `auto_allow`), with the view-only choice given, and the stream only when that session
//! connects; a phase change is announced first (`Show`); a deadline exists exactly while asking;
//! requests are numbered upwards; `Exit` only on Quit, and nothing after it.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tether_proto::SessionCode;
use tether_proto::signal::{ByeReason, PeerJoined};
use tether_session::sharing::{Action, Decision, Event, Phase, Sharing};

#[derive(Arbitrary, Debug)]
struct Input {
    timeout_ms: u32,
    auto_allow: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Code(u32),
    PeerJoined {
        name: String,
        addr: String,
    },
    /// An answer to the request being shown (`stale` answers an earlier or later one).
    Consent {
        stale: Option<u64>,
        allow: bool,
        view_only: bool,
    },
    Timeout,
    StartFailed(String),
    PeerConnected,
    PeerFailed,
    StreamFailed(String),
    ViewerLeft(u8),
    StopSharing,
    NewCode,
    Quit,
    Advance(u32),
}

fn reason(n: u8) -> ByeReason {
    [
        ByeReason::Hangup,
        ByeReason::Stopped,
        ByeReason::Denied,
        ByeReason::ConsentTimeout,
        ByeReason::PeerLeft,
        ByeReason::IceFailed,
        ByeReason::ServerShutdown,
        ByeReason::Other,
    ][usize::from(n % 8)]
}

fuzz_target!(|input: Input| {
    let timeout = Duration::from_millis(u64::from(input.timeout_ms % 600_000));
    let mut m = Sharing::new(timeout, input.auto_allow);
    let mut now = Instant::now();
    let mut last_ask = 0;

    for op in input.ops.into_iter().take(1024) {
        let before = m.phase().clone();
        let code_before = m.code();
        let event = match op {
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms % 1_000_000));
                continue;
            }
            Op::Code(n) => match SessionCode::from_value(n % 1_000_000_000) {
                Some(code) => Event::Code(code),
                None => continue,
            },
            Op::PeerJoined { name, addr } => {
                Event::PeerJoined(PeerJoined { name, addr, ice: None })
            }
            Op::Consent { stale, allow, view_only } => {
                let shown = match &before {
                    Phase::Asked { ask, .. } => *ask,
                    _ => last_ask,
                };
                let ask = stale.map_or(shown, |n| shown.wrapping_add(n.max(1)));
                let decision = if allow { Decision::Allow { view_only } } else { Decision::Deny };
                Event::Consent { ask, decision }
            }
            Op::Timeout => Event::Timeout,
            Op::StartFailed(why) => Event::StartFailed(why),
            Op::PeerConnected => Event::PeerConnected,
            Op::PeerFailed => Event::PeerFailed,
            Op::StreamFailed(why) => Event::StreamFailed(why),
            Op::ViewerLeft(n) => Event::ViewerLeft(reason(n)),
            Op::StopSharing => Event::StopSharing,
            Op::NewCode => Event::NewCode,
            Op::Quit => Event::Quit,
        };
        let actions = m.handle(now, event.clone());
        let after = m.phase().clone();

        if before == Phase::Ended {
            assert!(actions.is_empty() && after == Phase::Ended, "{event:?} after the end");
            continue;
        }

        // Consent: the only ways to a session.
        let started: Vec<bool> = actions
            .iter()
            .filter_map(|a| match a {
                Action::StartSession { view_only } => Some(*view_only),
                _ => None,
            })
            .collect();
        assert!(started.len() <= 1, "{actions:?}");
        if let Some(&view_only) = started.first() {
            match (&before, &event) {
                (
                    Phase::Asked { ask, deadline, .. },
                    Event::Consent { ask: answered, decision: Decision::Allow { view_only: v } },
                ) => {
                    assert_eq!(ask, answered, "a session started on another request's answer");
                    assert!(now < *deadline, "a session started on an answer past its deadline");
                    assert_eq!(view_only, *v);
                }
                (Phase::Waiting, Event::PeerJoined(_)) => {
                    assert!(input.auto_allow, "a join started a session without asking");
                    assert!(!view_only);
                }
                _ => panic!("{event:?} in {before:?} started a session: {actions:?}"),
            }
            assert!(matches!(after, Phase::Allowed { view_only: v, .. } if v == view_only));
        }
        if actions.contains(&Action::StartStream) {
            assert!(matches!(before, Phase::Allowed { .. }), "stream started in {before:?}");
            assert_eq!(event, Event::PeerConnected);
            assert!(matches!(after, Phase::Streaming { .. }));
        }
        // Streaming is reached only from Allowed, Allowed only by a start.
        if let Phase::Streaming { peer, view_only } = &after {
            match &before {
                Phase::Streaming { .. } => assert_eq!(&before, &after),
                Phase::Allowed { peer: p, view_only: v } => {
                    assert!(p == peer && v == view_only);
                    assert!(actions.contains(&Action::StartStream));
                }
                _ => panic!("{before:?} -> {after:?}"),
            }
        }
        if matches!(after, Phase::Allowed { .. }) && !matches!(before, Phase::Allowed { .. }) {
            assert_eq!(started.len(), 1, "{before:?} -> {after:?} without a start");
        }

        // The UI hears of a change first.
        if after != before || m.code() != code_before {
            assert_eq!(actions.first(), Some(&Action::Show), "{before:?} -> {after:?}");
        }
        if actions.contains(&Action::Ask) {
            assert!(matches!(after, Phase::Asked { .. }), "asked in {after:?}");
        }
        match &after {
            Phase::Asked { ask, deadline, .. } => {
                assert_eq!(m.next_deadline(), Some(*deadline));
                if !matches!(&before, Phase::Asked { ask: a, .. } if a == ask) {
                    assert!(*ask > last_ask, "request ids go up");
                    last_ask = *ask;
                    assert_eq!(*deadline, now + timeout);
                }
                assert!(!input.auto_allow, "asked with auto_allow");
            }
            _ => assert_eq!(m.next_deadline(), None),
        }
        if actions.contains(&Action::RequestNewCode) {
            assert_eq!(after, Phase::Waiting);
        }
        let exits = actions.iter().filter(|a| **a == Action::Exit).count();
        assert_eq!(exits == 1, event == Event::Quit, "{event:?}: {actions:?}");
        assert_eq!(after == Phase::Ended, event == Event::Quit);
        if exits == 1 {
            assert_eq!(actions.last(), Some(&Action::Exit));
        }
    }
});
