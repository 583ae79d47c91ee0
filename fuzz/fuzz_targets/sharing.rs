//! The agent's consent and sharing machine (`tether_session::sharing::Sharing`) driven by a
//! sequence of server messages, peer-connection events, the person's commands and time.
//!
//! Checks, after every event: no panic; nothing is started without consent: a session starts
//! only on Allow for the request being shown, before its deadline (or on a join with
//! `auto_allow`), with the view-only choice given, and the stream only when that session
//! connects before its connect deadline; a phase change is announced first (`Show`); the
//! consent deadline exists exactly while asking, the connect deadline exactly while allowed;
//! requests are numbered upwards; who asks is kept display-safe; `Exit` only on Quit, and
//! nothing after it. A viewer that committed to a fingerprint is asked about only after
//! revealing the committed one, before the reveal deadline, and then with the security code
//! of the two fingerprints.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tether_proto::signal::{ByeReason, PeerJoined};
use tether_proto::{Sas, SessionCode, commitment, normalise_fingerprint};
use tether_session::sharing::{Action, Decision, Event, Phase, Sharing, VERIFY_TIMEOUT};

const FP_AGENT: &str = "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3A:2E:61:9F:7B:90:42:5A:8E:1F:26:E7";
const FP_VIEWER: &str = "sha-256 0F:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

#[derive(Arbitrary, Debug)]
struct Input {
    timeout_ms: u32,
    connect_timeout_ms: u32,
    auto_allow: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Code(u32),
    PeerJoined {
        name: String,
        addr: String,
        /// Commits to `FP_VIEWER`.
        committed: bool,
    },
    /// The viewer reveals `FP_VIEWER` (`None`) or this text.
    Reveal(Option<String>),
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
    SignalingLost,
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
    let connect_timeout = Duration::from_millis(u64::from(input.connect_timeout_ms % 600_000));
    let mut m = Sharing::new(timeout, input.auto_allow).with_connect_timeout(connect_timeout);
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
            Op::PeerJoined { name, addr, committed } => {
                let commit = committed.then(|| commitment(FP_VIEWER));
                Event::PeerJoined(PeerJoined { name, addr, ice: None, commit })
            }
            Op::Reveal(text) => Event::PeerFingerprint {
                ours: FP_AGENT.into(),
                theirs: text.unwrap_or_else(|| FP_VIEWER.into()),
            },
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
            Op::SignalingLost => Event::SignalingLost,
            Op::Quit => Event::Quit,
        };
        // A deadline that passed counts before the event: what the event meets.
        let connect_due = m.connect_deadline().is_some_and(|by| now >= by);
        let met = match &before {
            Phase::Asked { deadline, .. } | Phase::Verifying { deadline, .. }
                if now >= *deadline =>
            {
                Phase::Waiting
            }
            Phase::Allowed { .. } if connect_due => Phase::Waiting,
            other => other.clone(),
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
            match (&met, &event) {
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
                _ => panic!("{event:?} in {met:?} started a session: {actions:?}"),
            }
            assert!(matches!(after, Phase::Allowed { view_only: v, .. } if v == view_only));
        }
        if actions.contains(&Action::StartStream) {
            assert!(matches!(met, Phase::Allowed { .. }), "stream started in {met:?}");
            assert_eq!(event, Event::PeerConnected);
            assert!(matches!(after, Phase::Streaming { .. }));
        }
        // Streaming is reached only from Allowed, Allowed only by a start.
        if let Phase::Streaming { peer, view_only } = &after {
            match &met {
                Phase::Streaming { .. } => assert_eq!(&before, &after),
                Phase::Allowed { peer: p, view_only: v } => {
                    assert!(p == peer && v == view_only);
                    assert!(actions.contains(&Action::StartStream));
                }
                _ => panic!("{met:?} -> {after:?}"),
            }
        }
        if matches!(after, Phase::Allowed { .. }) && !matches!(met, Phase::Allowed { .. }) {
            assert_eq!(started.len(), 1, "{met:?} -> {after:?} without a start");
        }

        // The UI hears of a change first.
        if after != before || m.code() != code_before {
            assert_eq!(actions.first(), Some(&Action::Show), "{before:?} -> {after:?}");
        }
        if actions.contains(&Action::Ask) {
            assert!(matches!(after, Phase::Asked { .. }), "asked in {after:?}");
            // A committed viewer is asked about only on its matching reveal, in time.
            if let Phase::Verifying { deadline, .. } = &met {
                let Event::PeerFingerprint { theirs, .. } = &event else {
                    panic!("{event:?} asked about a committed viewer")
                };
                assert_eq!(normalise_fingerprint(theirs).as_deref(), Some(FP_VIEWER));
                assert!(now < *deadline);
                let sas = Sas::from_fingerprints(FP_AGENT, FP_VIEWER);
                assert_eq!(m.verified().map(|v| v.sas), Some(sas));
            } else {
                let committed = matches!(&event, Event::PeerJoined(p) if p.commit.is_some());
                assert!(!committed, "a committed viewer asked about before its reveal");
                assert_eq!(m.verified(), None);
            }
        }
        if actions.contains(&Action::RevealFingerprint) {
            assert!(matches!(after, Phase::Verifying { .. }), "revealed in {after:?}");
            assert!(matches!(&event, Event::PeerJoined(p) if p.commit.is_some()));
        }
        match &after {
            Phase::Allowed { .. } => {
                let by = m.connect_deadline().expect("an allowed session has a connect deadline");
                if !started.is_empty() {
                    assert_eq!(by, now + connect_timeout);
                }
            }
            _ => assert_eq!(m.connect_deadline(), None),
        }
        if let Phase::Asked { peer, .. }
        | Phase::Verifying { peer, .. }
        | Phase::Allowed { peer, .. }
        | Phase::Streaming { peer, .. } = &after
        {
            display_safe(&peer.name);
            display_safe(&peer.addr);
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
            Phase::Verifying { deadline, .. } => {
                assert_eq!(m.next_deadline(), Some(*deadline));
                if !matches!(&before, Phase::Verifying { .. }) {
                    assert_eq!(*deadline, now + VERIFY_TIMEOUT);
                }
                assert!(!input.auto_allow, "verifying with auto_allow");
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

/// What a consent prompt may show: no control, bidi or zero-width characters, one space at a
/// time, at most 64 characters.
fn display_safe(name: &str) {
    assert!(name.chars().count() <= 64, "{name:?}");
    assert!(!name.starts_with(' ') && !name.ends_with(' ') && !name.contains("  "), "{name:?}");
    for c in name.chars() {
        let hidden = c.is_control()
            || (c.is_whitespace() && c != ' ')
            || matches!(u32::from(c), 0x200B..=0x200F | 0x202A..=0x202E | 0x2066..=0x2069 | 0xFEFF);
        assert!(!hidden, "{name:?} shows {c:?}");
    }
}
