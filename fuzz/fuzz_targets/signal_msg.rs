//! The signaling decoders on untrusted text: `ClientMsg::decode` (what the server reads from
//! every WebSocket) and `ServerMsg::decode` (what agents and viewers read from the server).
//!
//! Checks: no panic; a refusal carries one of the decoder's three codes, and `too_large`
//! exactly for frames over the limit; whatever decodes re-encodes to text that decodes to the
//! same value; a relayed message fits the peer's limit whenever the original fitted the
//! server's; a sanitised name is short and free of control characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_proto::signal::{ClientMsg, DecodeError, MAX_NAME_CHARS, ServerMsg, sanitize_name};
use tether_proto::{ErrorCode, MAX_MESSAGE_BYTES};

fuzz_target!(|data: &[u8]| {
    // WebSocket text frames are UTF-8 by the protocol; tungstenite refuses anything else.
    let Ok(text) = std::str::from_utf8(data) else { return };

    match ClientMsg::decode(text) {
        Ok(msg) => {
            assert!(text.len() <= MAX_MESSAGE_BYTES);
            round_trip(&msg, ClientMsg::encode, ClientMsg::decode);
            if let ClientMsg::Hello(hello) = &msg {
                check_name(&sanitize_name(&hello.name));
            }
            let _ = msg.kind();
            if let Some(relayed) = msg.into_relayed() {
                let wire = relayed.encode();
                assert!(
                    wire.len() <= MAX_MESSAGE_BYTES,
                    "a {}-byte frame is relayed as {} bytes, over the peer's limit",
                    text.len(),
                    wire.len()
                );
                assert_eq!(ServerMsg::decode(&wire).as_ref(), Ok(&relayed));
            }
        }
        Err(err) => check_refusal(text, &err),
    }

    match ServerMsg::decode(text) {
        Ok(msg) => round_trip(&msg, ServerMsg::encode, ServerMsg::decode),
        Err(err) => check_refusal(text, &err),
    }
});

fn round_trip<T: PartialEq + std::fmt::Debug>(
    msg: &T,
    encode: fn(&T) -> String,
    decode: fn(&str) -> Result<T, DecodeError>,
) {
    let wire = encode(msg);
    match decode(&wire) {
        Ok(again) => assert_eq!(&again, msg, "{wire}"),
        // Defaults written out (`"name":""`) can push a frame at the limit over it.
        Err(err) => assert!(
            err.code == ErrorCode::TooLarge && wire.len() > MAX_MESSAGE_BYTES,
            "{msg:?} encodes as {wire:?}, which does not decode: {err}"
        ),
    }
}

fn check_refusal(text: &str, err: &DecodeError) {
    assert!(
        matches!(err.code, ErrorCode::Malformed | ErrorCode::UnknownType | ErrorCode::TooLarge),
        "{err:?}"
    );
    assert_eq!(err.code == ErrorCode::TooLarge, text.len() > MAX_MESSAGE_BYTES, "{err:?}");
    // The refusal goes back to the client as an `error` message: it must stay small.
    let answer = ServerMsg::Error(err.clone().into()).encode();
    assert!(answer.len() < 1024, "{} bytes of error for a {}-byte frame", answer.len(), text.len());
}

fn check_name(name: &str) {
    assert!(name.chars().count() <= MAX_NAME_CHARS, "{name:?}");
    assert!(!name.chars().any(char::is_control), "{name:?}");
    assert!(!name.starts_with(char::is_whitespace), "{name:?}");
    assert!(!name.contains("  "), "{name:?}");
}
