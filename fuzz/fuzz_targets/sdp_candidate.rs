//! What Tether does with the SDP, candidates and ICE servers a peer or the server sends it.
//!
//! The first byte picks the case, the rest is UTF-8 text:
//! - 0: an SDP offer or answer, as `PeerLink::answer`/`apply_answer` parse it
//!   (`RTCSessionDescription::offer`/`answer`, webrtc-rs's SDP parser);
//! - 1: a trickled candidate line, as `PeerLink::add_candidate` hands it on
//!   (`candidate_from_proto`, then the ICE candidate parser), and back (`candidate_to_proto`);
//! - 2: a STUN/TURN url (`IceServer::check_url`);
//! - 3: the viewer's `Viewing` machine fed one server message per line (JSON) or a control line
//!   (`!answered`, `!failed`, `!connected`, `!timeout`, `!hangup`, `!+<ms>`), its offers and
//!   candidates parsed as in cases 0 and 1.
//!
//! Checks: no panic; an accepted url has a STUN/TURN scheme and a host; a candidate keeps its
//! fields through the conversions and loses only an empty mid or ufrag; the viewer holds at most
//! `MAX_EARLY_CANDIDATES` candidates and `MAX_EARLY_BYTES` before its answer, none over
//! `MAX_CANDIDATE_BYTES`, answers only offers, and is silent once ended.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rtc::peer_connection::sdp::RTCSessionDescription;
use tether_media::rtc::{candidate_from_proto, candidate_to_proto};
use tether_proto::signal::{IceCandidate, ServerMsg};
use tether_proto::{IceServer, LocalIce, SessionCode};
use tether_session::candidates::{MAX_CANDIDATE_BYTES, MAX_EARLY_BYTES, MAX_EARLY_CANDIDATES};
use tether_session::viewing::{Action, Event, Phase, Viewing};

fuzz_target!(|data: &[u8]| {
    let Some((&case, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    match case % 4 {
        0 => sdp(text, case & 0x80 != 0),
        1 => {
            // The fields after the line come from the same message in practice; derive them.
            let mid = (case & 0x10 != 0).then(|| text.chars().take(3).collect::<String>());
            let ufrag = (case & 0x20 != 0).then(|| text.chars().rev().take(4).collect::<String>());
            let index = (case & 0x40 != 0).then_some(u16::from(case));
            candidate(&IceCandidate {
                candidate: text.to_owned(),
                sdp_mid: mid,
                sdp_mline_index: index,
                username_fragment: ufrag,
            });
        }
        2 => url(text),
        _ => viewing(text),
    }
});

fn sdp(text: &str, answer: bool) {
    let parsed = if answer {
        RTCSessionDescription::answer(text.to_owned())
    } else {
        RTCSessionDescription::offer(text.to_owned())
    };
    if let Ok(desc) = parsed {
        // What set_remote_description reads again.
        let _ = desc.unmarshal();
    }
}

fn candidate(wire: &IceCandidate) {
    let init = candidate_from_proto(wire);
    assert_eq!(init.candidate, wire.candidate);
    assert_eq!(init.sdp_mid, wire.sdp_mid);
    assert_eq!(init.sdp_mline_index, wire.sdp_mline_index);
    assert_eq!(init.username_fragment, wire.username_fragment);
    // As webrtc-rs's add_ice_candidate: the `candidate:` prefix is optional.
    let line = init.candidate.strip_prefix("candidate:").unwrap_or(&init.candidate);
    if let Ok(parsed) = rtc::ice::candidate::unmarshal_candidate(line) {
        let _ = parsed.marshal();
    }
    let back = candidate_to_proto(init);
    assert_eq!(back.candidate, wire.candidate);
    assert_eq!(back.sdp_mid, wire.sdp_mid.clone().filter(|m| !m.is_empty()));
    assert_eq!(back.sdp_mline_index, wire.sdp_mline_index.or(Some(0)));
    assert_eq!(back.username_fragment, wire.username_fragment.clone().filter(|u| !u.is_empty()));
}

fn url(text: &str) {
    if IceServer::check_url(text).is_ok() {
        let rest = ["stun:", "stuns:", "turn:", "turns:"]
            .iter()
            .find_map(|scheme| text.strip_prefix(scheme))
            .expect("an accepted url has a STUN/TURN scheme");
        assert!(!rest.trim_start_matches('/').is_empty(), "{text:?} has no host");
    }
}

fn viewing(text: &str) {
    let code = SessionCode::from_value(482_913_075).expect("nine digits");
    let mut now = Instant::now();
    let mut v = Viewing::new(code, Duration::from_secs(10), LocalIce::default());
    let _ = v.start(now);
    let mut answered = false;
    for line in text.lines().take(512) {
        let event = match line {
            "!answered" => Event::Answered(tether_proto::signal::Sdp { sdp: "v=0".into() }),
            "!failed" => Event::AnswerFailed("fuzz".into()),
            "!connected" => Event::Connected(None),
            "!timeout" => Event::Timeout,
            "!hangup" => Event::HangUp,
            _ => match line.strip_prefix("!+").and_then(|ms| ms.parse::<u32>().ok()) {
                Some(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    Event::Timeout
                }
                None => match ServerMsg::decode(line) {
                    Ok(msg) => Event::Server(msg),
                    Err(_) => continue,
                },
            },
        };
        let ended = v.phase() == Phase::Ended;
        let is_offer = matches!(event, Event::Server(ServerMsg::Offer(_)));
        let is_answered = matches!(event, Event::Answered(_));
        let is_candidate = matches!(event, Event::Server(ServerMsg::Candidate(_)));
        let actions = v.handle(now, event);
        if ended {
            assert!(actions.is_empty(), "{actions:?} after the end");
            continue;
        }
        let added: Vec<&IceCandidate> = actions
            .iter()
            .filter_map(|a| match a {
                Action::AddCandidate(c) => Some(c),
                _ => None,
            })
            .collect();
        let bytes = |c: &IceCandidate| {
            c.candidate.len()
                + c.sdp_mid.as_ref().map_or(0, String::len)
                + c.username_fragment.as_ref().map_or(0, String::len)
        };
        let held: usize = added.iter().map(|c| bytes(c)).sum();
        let added = added.len();
        if is_answered && !answered {
            assert!(added <= MAX_EARLY_CANDIDATES, "{added} early candidates held");
            assert!(held <= MAX_EARLY_BYTES, "{held} bytes of early candidates held");
            for action in &actions {
                if let Action::AddCandidate(c) = action {
                    assert!(bytes(c) <= MAX_CANDIDATE_BYTES, "a {}-byte candidate held", bytes(c));
                }
            }
            answered = true;
        } else if is_candidate && answered {
            assert!(added <= 1);
        } else {
            assert_eq!(added, 0, "candidates added on another event: {actions:?}");
        }
        for action in &actions {
            match action {
                Action::Answer { offer, .. } | Action::Reanswer(offer) => {
                    assert!(is_offer, "an answer without an offer: {actions:?}");
                    assert_eq!(matches!(action, Action::Reanswer(_)), answered);
                    sdp(&offer.sdp, false);
                }
                Action::AddCandidate(c) => candidate(c),
                _ => {}
            }
        }
    }
}
