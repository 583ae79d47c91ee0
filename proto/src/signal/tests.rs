use super::*;
use crate::{IceServer, TransportPolicy};
use serde_json::json;

fn code() -> SessionCode {
    SessionCode::from_value(482_913_075).unwrap()
}

fn roundtrip_client(msg: ClientMsg, expected: serde_json::Value) {
    let text = msg.encode();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), expected);
    assert_eq!(ClientMsg::decode(&text).unwrap(), msg);
}

fn roundtrip_server(msg: ServerMsg, expected: serde_json::Value) {
    let text = msg.encode();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), expected);
    assert_eq!(ServerMsg::decode(&text).unwrap(), msg);
}

#[test]
fn client_messages_have_the_documented_shape() {
    roundtrip_client(
        ClientMsg::Hello(Hello { version: 1, role: Role::Agent, name: "front-desk".into() }),
        json!({"type": "hello", "version": 1, "role": "agent", "name": "front-desk"}),
    );
    roundtrip_client(ClientMsg::NewCode, json!({"type": "new_code"}));
    roundtrip_client(
        ClientMsg::Join(Join::new(code())),
        json!({"type": "join", "code": "482913075"}),
    );
    let commit = "57dbe14c7de1058733af7f56b1eb84d3c96e6fd26c7e8ca285110a52052f501d";
    roundtrip_client(
        ClientMsg::Join(Join { code: code(), resume: None, commit: Some(commit.into()) }),
        json!({"type": "join", "code": "482913075", "commit": commit}),
    );
    let fingerprint = "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3A:2E:61:9F:7B:90:42:5A:8E:1F:26:E7";
    roundtrip_client(
        ClientMsg::Fingerprint(Fingerprint { fingerprint: fingerprint.into() }),
        json!({"type": "fingerprint", "fingerprint": fingerprint}),
    );
    roundtrip_client(
        ClientMsg::Offer(Sdp { sdp: "v=0\r\n".into() }),
        json!({"type": "offer", "sdp": "v=0\r\n"}),
    );
    roundtrip_client(
        ClientMsg::Candidate(Candidate {
            candidate: Some(IceCandidate {
                candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
                username_fragment: None,
            }),
        }),
        json!({"type": "candidate", "candidate": {
            "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host",
            "sdpMid": "0", "sdpMLineIndex": 0}}),
    );
    roundtrip_client(
        ClientMsg::Candidate(Candidate { candidate: None }),
        json!({"type": "candidate", "candidate": null}),
    );
    roundtrip_client(
        ClientMsg::Bye(Bye { reason: ByeReason::Stopped, message: None }),
        json!({"type": "bye", "reason": "stopped"}),
    );
}

#[test]
fn server_messages_have_the_documented_shape() {
    let ice = IceConfig {
        ice_servers: vec![IceServer::stun("stun:192.0.2.1:3478")],
        ice_transport_policy: TransportPolicy::All,
    };
    let ice_json = json!({"ice_servers": [{"urls": ["stun:192.0.2.1:3478"]}],
                          "ice_transport_policy": "all"});
    roundtrip_server(
        ServerMsg::Code(CodeIssued { code: code(), expires_in_secs: 600, ice: ice.clone() }),
        json!({"type": "code", "code": "482913075", "expires_in_secs": 600, "ice": ice_json}),
    );
    roundtrip_server(
        ServerMsg::PeerJoined(PeerJoined {
            name: "Sam".into(),
            addr: "192.0.2.7".into(),
            ice: None,
            commit: None,
        }),
        json!({"type": "peer_joined", "name": "Sam", "addr": "192.0.2.7"}),
    );
    let commit = "57dbe14c7de1058733af7f56b1eb84d3c96e6fd26c7e8ca285110a52052f501d";
    roundtrip_server(
        ServerMsg::PeerJoined(PeerJoined {
            name: "Sam".into(),
            addr: "192.0.2.7".into(),
            ice: None,
            commit: Some(commit.into()),
        }),
        json!({"type": "peer_joined", "name": "Sam", "addr": "192.0.2.7", "commit": commit}),
    );
    roundtrip_server(
        ServerMsg::Joined(Joined { agent_name: "front-desk".into(), ice, resume: None }),
        json!({"type": "joined", "agent_name": "front-desk", "ice": ice_json}),
    );
    roundtrip_server(
        ServerMsg::Error(ErrorMsg {
            code: ErrorCode::RateLimited,
            message: "wait".into(),
            retry_after_secs: Some(42),
        }),
        json!({"type": "error", "code": "rate_limited", "message": "wait", "retry_after_secs": 42}),
    );
}

#[test]
fn name_defaults_to_empty_and_unknown_fields_are_ignored() {
    let msg = ClientMsg::decode(r#"{"type":"hello","version":1,"role":"viewer","x":1}"#).unwrap();
    assert_eq!(
        msg,
        ClientMsg::Hello(Hello { version: 1, role: Role::Viewer, name: String::new() })
    );
}

#[test]
fn relayed_messages_keep_their_content() {
    let sdp = Sdp { sdp: "v=0".into() };
    assert_eq!(ClientMsg::Offer(sdp.clone()).into_relayed(), Some(ServerMsg::Offer(sdp)));
    let fp = Fingerprint { fingerprint: "sha-256 AB:CD".into() };
    let relayed = ClientMsg::Fingerprint(fp.clone()).into_relayed();
    assert_eq!(relayed, Some(ServerMsg::Fingerprint(fp)));
    assert_eq!(ClientMsg::NewCode.into_relayed(), None);
}

#[test]
fn unknown_bye_reasons_decode_as_other() {
    let msg = ServerMsg::decode(r#"{"type":"bye","reason":"meteor"}"#).unwrap();
    assert_eq!(msg, ServerMsg::Bye(Bye { reason: ByeReason::Other, message: None }));
}

fn decode_code(text: &str) -> ErrorCode {
    ClientMsg::decode(text).unwrap_err().code
}

#[test]
fn hostile_frames_are_classified_not_panicked_on() {
    use ErrorCode::*;
    let cases: &[(&str, ErrorCode)] = &[
        ("", Malformed),
        ("null", Malformed),
        ("[]", Malformed),
        ("\"hello\"", Malformed),
        ("{", Malformed),
        ("{}", Malformed),
        (r#"{"type":7}"#, Malformed),
        (r#"{"type":null}"#, Malformed),
        (r#"{"type":"reboot"}"#, UnknownType),
        (r#"{"type":"HELLO","version":1,"role":"agent"}"#, UnknownType),
        (r#"{"type":"hello"}"#, Malformed),
        (r#"{"type":"hello","version":-1,"role":"agent"}"#, Malformed),
        (r#"{"type":"hello","version":1,"role":"admin"}"#, Malformed),
        (r#"{"type":"join","code":"12345"}"#, Malformed),
        (r#"{"type":"join","code":482913075}"#, Malformed),
        (r#"{"type":"offer"}"#, Malformed),
        (r#"{"type":"candidate","candidate":{"sdpMid":"0"}}"#, Malformed),
        (r#"{"type":"candidate","candidate":{"candidate":"c","sdpMLineIndex":70000}}"#, Malformed),
        ("\u{0}\u{1}\u{2}", Malformed),
    ];
    for (text, expected) in cases {
        assert_eq!(decode_code(text), *expected, "{text:?}");
    }
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(decode_code(&nested), Malformed);
}

#[test]
fn oversized_frames_are_too_large() {
    let sdp = "a".repeat(MAX_MESSAGE_BYTES);
    let text = ClientMsg::Offer(Sdp { sdp }).encode();
    let err = ClientMsg::decode(&text).unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge);
    assert!(err.message.contains("65536"), "{}", err.message);
}

#[test]
fn long_unknown_types_are_truncated_in_the_sentence() {
    let text = format!(r#"{{"type":"{}"}}"#, "x".repeat(5000));
    let err = ClientMsg::decode(&text).unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownType);
    assert!(err.message.len() < 100);
}

#[test]
fn refusals_do_not_echo_the_frame() {
    // Found by the signal_msg fuzz target: serde quotes the offending value, so a 60 KB string
    // where a number belongs came back as a 60 KB error sentence, over the client's limit.
    let long = "x".repeat(60_000);
    for text in [
        format!(r#"{{"type":"hello","version":"{long}","role":"agent"}}"#),
        format!(r#"{{"type":"hello","version":1,"role":"{long}"}}"#),
        format!(r#""{long}""#),
    ] {
        let err = ClientMsg::decode(&text).unwrap_err();
        assert_eq!(err.code, ErrorCode::Malformed);
        assert!(err.message.chars().count() < 300, "{} chars", err.message.chars().count());
        let answer = ServerMsg::Error(err.into()).encode();
        assert!(answer.len() < 1024, "{} bytes", answer.len());
    }
}

#[test]
fn names_are_sanitised() {
    assert_eq!(sanitize_name("  Sam\t\nfrom   IT\u{7} "), "Sam from IT");
    assert_eq!(sanitize_name(&"é".repeat(100)).chars().count(), MAX_NAME_CHARS);
    assert_eq!(sanitize_name("\u{1b}[31mred"), "[31mred");
}
