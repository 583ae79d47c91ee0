//! The agent's decoder for the `input` data channel: every message a viewer sends to drive the
//! mouse and keyboard goes through `InputMsg::decode`.
//!
//! Checks: no panic; `too_large` exactly for messages over the limit; what decodes is valid as
//! documented (positions in 0..1, wheel within ±MAX_WHEEL_STEPS, buttons 0..=4, known key codes,
//! no control characters but newline and tab); it re-encodes to a message that decodes to the
//! same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_proto::input::{InputError, InputMsg, MAX_INPUT_BYTES, MAX_WHEEL_STEPS, is_key_code};

fuzz_target!(|data: &[u8]| {
    // Data-channel strings are UTF-8; the agent drops binary messages before decoding.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let msg = match InputMsg::decode(text) {
        Ok(msg) => msg,
        Err(InputError::TooLarge(n)) => {
            assert!(n == text.len() && n > MAX_INPUT_BYTES);
            return;
        }
        Err(_) => {
            assert!(text.len() <= MAX_INPUT_BYTES);
            return;
        }
    };
    assert!(text.len() <= MAX_INPUT_BYTES);
    match &msg {
        InputMsg::PointerMove { x, y } => {
            assert!((0.0..=1.0).contains(x) && (0.0..=1.0).contains(y), "{msg:?}");
        }
        InputMsg::PointerButton { button, .. } => assert!(*button <= 4, "{msg:?}"),
        InputMsg::Wheel { dx, dy } => {
            let range = -MAX_WHEEL_STEPS..=MAX_WHEEL_STEPS;
            assert!(range.contains(dx) && range.contains(dy), "{msg:?}");
        }
        InputMsg::Key { code, .. } => assert!(is_key_code(code), "{msg:?}"),
        InputMsg::Text { text } => {
            assert!(!text.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{msg:?}");
        }
        InputMsg::Action { .. } | InputMsg::ReleaseAll => {}
    }
    let wire = msg.encode();
    assert!(!wire.is_empty(), "{msg:?} did not encode");
    match InputMsg::decode(&wire) {
        Ok(again) => assert_eq!(again, msg, "{wire}"),
        // Numbers written as `1.0` and defaults written out can grow a message at the limit.
        Err(InputError::TooLarge(_)) => {}
        Err(err) => panic!("{msg:?} encodes as {wire:?}, which does not decode: {err}"),
    }
});
