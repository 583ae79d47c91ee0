//! The `input` data channel: what a viewer sends to drive the agent's mouse and keyboard.
//!
//! JSON text messages, one object each, tagged by `"type"`, on an ordered, reliable data channel
//! labelled [`INPUT_CHANNEL`] that the agent opens. Pointer positions are normalised to 0..1 of
//! the shared display, buttons are numbered as W3C `MouseEvent.button`, keys are named by W3C
//! `KeyboardEvent.code` (so the viewer's keyboard layout does not matter) and text is Unicode.
//! [`InputMsg::decode`] validates everything; a bad message is an [`InputError`] that the agent
//! counts and drops, never a reason to end the session. `docs/protocol.md` lists every message.

use serde::{Deserialize, Serialize};

/// Label of the data channel that carries [`InputMsg`]s.
pub const INPUT_CHANNEL: &str = "input";

/// Largest input message, in bytes. Text is sent in pieces no longer than this.
pub const MAX_INPUT_BYTES: usize = 4096;

/// Largest wheel movement in one message, in notches, either way.
pub const MAX_WHEEL_STEPS: f64 = 100.0;

/// One input event from the viewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputMsg {
    /// The pointer moved to `(x, y)`, each 0..1 of the shared display (0,0 top left).
    PointerMove {
        /// Horizontal position, 0 = left edge, 1 = right edge.
        x: f64,
        /// Vertical position, 0 = top edge, 1 = bottom edge.
        y: f64,
    },
    /// A mouse button was pressed or released (at the last pointer position).
    PointerButton {
        /// W3C `MouseEvent.button`: 0 main (left), 1 auxiliary (middle), 2 secondary (right),
        /// 3 back, 4 forward.
        button: u8,
        /// Pressed (`true`) or released (`false`).
        down: bool,
    },
    /// The wheel turned. Units are notches (lines); positive `dy` scrolls down, positive `dx`
    /// scrolls right, as W3C `WheelEvent.deltaY`/`deltaX`.
    Wheel {
        /// Horizontal notches.
        #[serde(default)]
        dx: f64,
        /// Vertical notches.
        #[serde(default)]
        dy: f64,
    },
    /// A physical key was pressed or released, named by W3C `KeyboardEvent.code`.
    Key {
        /// `KeyA`, `ShiftLeft`, `Enter`, ...: one of [`KEY_CODES`].
        code: String,
        /// Pressed (`true`) or released (`false`).
        down: bool,
    },
    /// Text to type as it is (any Unicode), independent of keyboard layouts.
    Text {
        /// The text; control characters other than newline and tab are refused.
        text: String,
    },
    /// A combination the viewer's own OS would swallow if typed there.
    Action {
        /// Which one.
        action: Action,
    },
    /// Release every key and button the viewer holds (sent on focus loss).
    ReleaseAll,
}

/// Named combinations: they cannot be typed on the viewer's machine because its own OS acts on
/// them first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Ctrl+Alt+Delete.
    CtrlAltDel,
    /// Alt+Tab: switch to the previous window.
    AltTab,
    /// A tap of the Windows / Super / Command key.
    Super,
    /// Print Screen.
    PrintScreen,
    /// Alt+F4: close the focused window.
    AltF4,
    /// Ctrl+Alt+F1 .. Ctrl+Alt+F7: switch to virtual terminal 1..7 (Linux).
    CtrlAltF1,
    /// Ctrl+Alt+F2.
    CtrlAltF2,
    /// Ctrl+Alt+F3.
    CtrlAltF3,
    /// Ctrl+Alt+F4.
    CtrlAltF4,
    /// Ctrl+Alt+F5.
    CtrlAltF5,
    /// Ctrl+Alt+F6.
    CtrlAltF6,
    /// Ctrl+Alt+F7.
    CtrlAltF7,
}

impl Action {
    /// Every action, in the order viewers list them in their special-keys menus.
    pub const ALL: [Action; 12] = [
        Action::CtrlAltDel,
        Action::Super,
        Action::AltTab,
        Action::AltF4,
        Action::PrintScreen,
        Action::CtrlAltF1,
        Action::CtrlAltF2,
        Action::CtrlAltF3,
        Action::CtrlAltF4,
        Action::CtrlAltF5,
        Action::CtrlAltF6,
        Action::CtrlAltF7,
    ];

    /// The keys pressed in this order (and released in the reverse), as `KeyboardEvent.code`s.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Action::CtrlAltDel => &["ControlLeft", "AltLeft", "Delete"],
            Action::AltTab => &["AltLeft", "Tab"],
            Action::Super => &["MetaLeft"],
            Action::PrintScreen => &["PrintScreen"],
            Action::AltF4 => &["AltLeft", "F4"],
            Action::CtrlAltF1 => &["ControlLeft", "AltLeft", "F1"],
            Action::CtrlAltF2 => &["ControlLeft", "AltLeft", "F2"],
            Action::CtrlAltF3 => &["ControlLeft", "AltLeft", "F3"],
            Action::CtrlAltF4 => &["ControlLeft", "AltLeft", "F4"],
            Action::CtrlAltF5 => &["ControlLeft", "AltLeft", "F5"],
            Action::CtrlAltF6 => &["ControlLeft", "AltLeft", "F6"],
            Action::CtrlAltF7 => &["ControlLeft", "AltLeft", "F7"],
        }
    }

    /// How a menu names it: `Ctrl+Alt+Del`, `Super`, ...
    pub fn label(self) -> &'static str {
        match self {
            Action::CtrlAltDel => "Ctrl+Alt+Del",
            Action::AltTab => "Alt+Tab",
            Action::Super => "Super",
            Action::PrintScreen => "PrintScreen",
            Action::AltF4 => "Alt+F4",
            Action::CtrlAltF1 => "Ctrl+Alt+F1",
            Action::CtrlAltF2 => "Ctrl+Alt+F2",
            Action::CtrlAltF3 => "Ctrl+Alt+F3",
            Action::CtrlAltF4 => "Ctrl+Alt+F4",
            Action::CtrlAltF5 => "Ctrl+Alt+F5",
            Action::CtrlAltF6 => "Ctrl+Alt+F6",
            Action::CtrlAltF7 => "Ctrl+Alt+F7",
        }
    }
}

/// Why an input message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Longer than [`MAX_INPUT_BYTES`].
    #[error("input message of {0} bytes is over the {MAX_INPUT_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not JSON, not an object, an unknown `type` or field, or a field of the wrong type.
    #[error("malformed input message: {0}")]
    Malformed(String),
    /// A position or wheel delta that is not a finite number.
    #[error("{0} is not a finite number")]
    NotFinite(&'static str),
    /// A button number beyond 4.
    #[error("mouse button {0} does not exist (0..=4)")]
    UnknownButton(u8),
    /// A key code that is not in [`KEY_CODES`].
    #[error("unknown key code {0:?}")]
    UnknownKey(String),
    /// Text with control characters.
    #[error("text contains control characters")]
    ControlCharacters,
}

impl InputMsg {
    /// Parses and validates one message. Positions are clamped into 0..1 and wheel deltas to
    /// ±[`MAX_WHEEL_STEPS`] (a pointer dragged past the video's edge is still a valid event).
    pub fn decode(text: &str) -> Result<InputMsg, InputError> {
        if text.len() > MAX_INPUT_BYTES {
            return Err(InputError::TooLarge(text.len()));
        }
        let msg: InputMsg =
            serde_json::from_str(text).map_err(|e| InputError::Malformed(e.to_string()))?;
        msg.validated()
    }

    /// The message as JSON text.
    pub fn encode(&self) -> String {
        // Serialising these plain enums cannot fail: no maps with non-string keys, no NaN
        // (decode refuses them and constructors are the caller's responsibility).
        serde_json::to_string(self).unwrap_or_default()
    }

    fn validated(self) -> Result<InputMsg, InputError> {
        Ok(match self {
            InputMsg::PointerMove { x, y } => {
                InputMsg::PointerMove { x: unit(x, "x")?, y: unit(y, "y")? }
            }
            InputMsg::PointerButton { button, .. } if button > 4 => {
                return Err(InputError::UnknownButton(button));
            }
            InputMsg::Wheel { dx, dy } => {
                InputMsg::Wheel { dx: steps(dx, "dx")?, dy: steps(dy, "dy")? }
            }
            InputMsg::Key { code, .. } if !is_key_code(&code) => {
                return Err(InputError::UnknownKey(code));
            }
            InputMsg::Text { text }
                if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') =>
            {
                return Err(InputError::ControlCharacters);
            }
            other => other,
        })
    }
}

fn unit(v: f64, name: &'static str) -> Result<f64, InputError> {
    if !v.is_finite() {
        return Err(InputError::NotFinite(name));
    }
    Ok(v.clamp(0.0, 1.0))
}

fn steps(v: f64, name: &'static str) -> Result<f64, InputError> {
    if !v.is_finite() {
        return Err(InputError::NotFinite(name));
    }
    Ok(v.clamp(-MAX_WHEEL_STEPS, MAX_WHEEL_STEPS))
}

/// Whether `code` is a W3C `KeyboardEvent.code` that Tether accepts.
pub fn is_key_code(code: &str) -> bool {
    KEY_CODES.contains(&code)
}

/// Every W3C `KeyboardEvent.code` a viewer may send: the writing-system keys of a US/ISO
/// keyboard, the functional keys, the control pad, the arrow keys and the numpad.
pub const KEY_CODES: &[&str] = &[
    // Writing system keys.
    "Backquote",
    "Backslash",
    "BracketLeft",
    "BracketRight",
    "Comma",
    "Digit0",
    "Digit1",
    "Digit2",
    "Digit3",
    "Digit4",
    "Digit5",
    "Digit6",
    "Digit7",
    "Digit8",
    "Digit9",
    "Equal",
    "IntlBackslash",
    "KeyA",
    "KeyB",
    "KeyC",
    "KeyD",
    "KeyE",
    "KeyF",
    "KeyG",
    "KeyH",
    "KeyI",
    "KeyJ",
    "KeyK",
    "KeyL",
    "KeyM",
    "KeyN",
    "KeyO",
    "KeyP",
    "KeyQ",
    "KeyR",
    "KeyS",
    "KeyT",
    "KeyU",
    "KeyV",
    "KeyW",
    "KeyX",
    "KeyY",
    "KeyZ",
    "Minus",
    "Period",
    "Quote",
    "Semicolon",
    "Slash",
    // Functional keys.
    "AltLeft",
    "AltRight",
    "Backspace",
    "CapsLock",
    "ContextMenu",
    "ControlLeft",
    "ControlRight",
    "Enter",
    "MetaLeft",
    "MetaRight",
    "ShiftLeft",
    "ShiftRight",
    "Space",
    "Tab",
    // Control pad and arrows.
    "Delete",
    "End",
    "Help",
    "Home",
    "Insert",
    "PageDown",
    "PageUp",
    "ArrowDown",
    "ArrowLeft",
    "ArrowRight",
    "ArrowUp",
    // Numpad.
    "NumLock",
    "Numpad0",
    "Numpad1",
    "Numpad2",
    "Numpad3",
    "Numpad4",
    "Numpad5",
    "Numpad6",
    "Numpad7",
    "Numpad8",
    "Numpad9",
    "NumpadAdd",
    "NumpadDecimal",
    "NumpadDivide",
    "NumpadEnter",
    "NumpadMultiply",
    "NumpadSubtract",
    // Function section.
    "Escape",
    "F1",
    "F2",
    "F3",
    "F4",
    "F5",
    "F6",
    "F7",
    "F8",
    "F9",
    "F10",
    "F11",
    "F12",
    "PrintScreen",
    "ScrollLock",
    "Pause",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        let messages = [
            InputMsg::PointerMove { x: 0.25, y: 1.0 },
            InputMsg::PointerButton { button: 2, down: true },
            InputMsg::Wheel { dx: 0.0, dy: -3.0 },
            InputMsg::Key { code: "ShiftLeft".into(), down: false },
            InputMsg::Text { text: "Grüße, World!\n".into() },
            InputMsg::Action { action: Action::CtrlAltDel },
            InputMsg::ReleaseAll,
        ];
        for msg in messages {
            assert_eq!(InputMsg::decode(&msg.encode()), Ok(msg.clone()), "{msg:?}");
        }
    }

    #[test]
    fn the_wire_form_is_the_documented_one() {
        let move_json = r#"{"type":"pointer_move","x":0.5,"y":0.25}"#;
        assert_eq!(InputMsg::decode(move_json), Ok(InputMsg::PointerMove { x: 0.5, y: 0.25 }));
        assert_eq!(
            InputMsg::decode(r#"{"type":"action","action":"alt_tab"}"#),
            Ok(InputMsg::Action { action: Action::AltTab })
        );
        assert_eq!(
            InputMsg::decode(r#"{"type":"wheel","dy":2}"#),
            Ok(InputMsg::Wheel { dx: 0.0, dy: 2.0 })
        );
        assert_eq!(InputMsg::ReleaseAll.encode(), r#"{"type":"release_all"}"#);
    }

    #[test]
    fn every_action_has_a_wire_name_and_known_keys() {
        let names: Vec<String> = Action::ALL
            .iter()
            .map(|a| serde_json::to_value(a).unwrap().as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names[0], "ctrl_alt_del");
        assert!(names.contains(&"alt_f4".to_owned()), "{names:?}");
        assert!(names.contains(&"ctrl_alt_f7".to_owned()), "{names:?}");
        for action in Action::ALL {
            let json = format!(r#"{{"type":"action","action":"{}"}}"#, action_name(action));
            assert_eq!(InputMsg::decode(&json), Ok(InputMsg::Action { action }));
            assert!(action.keys().iter().all(|k| is_key_code(k)), "{action:?}");
        }
    }

    fn action_name(action: Action) -> String {
        serde_json::to_value(action).unwrap().as_str().unwrap().to_owned()
    }

    #[test]
    fn positions_and_wheel_are_clamped() {
        assert_eq!(
            InputMsg::decode(r#"{"type":"pointer_move","x":-0.2,"y":7}"#),
            Ok(InputMsg::PointerMove { x: 0.0, y: 1.0 })
        );
        assert_eq!(
            InputMsg::decode(r#"{"type":"wheel","dx":1e9,"dy":-1e300}"#),
            Ok(InputMsg::Wheel { dx: MAX_WHEEL_STEPS, dy: -MAX_WHEEL_STEPS })
        );
    }

    #[test]
    fn hostile_messages_are_refused_not_fatal() {
        let cases = [
            "",
            "null",
            "[]",
            "{}",
            r#"{"type":"pointer_move"}"#,
            r#"{"type":"pointer_move","x":"0.5","y":0}"#,
            r#"{"type":"pointer_move","x":0.5,"y":0,"z":1}"#,
            r#"{"type":"pointer_button","button":-1,"down":true}"#,
            r#"{"type":"pointer_button","button":256,"down":true}"#,
            r#"{"type":"key","code":"KeyA"}"#,
            r#"{"type":"action","action":"format_c"}"#,
            r#"{"type":"launch_missiles"}"#,
            "\u{0}\u{1}garbage",
        ];
        for case in cases {
            assert!(
                matches!(InputMsg::decode(case), Err(InputError::Malformed(_))),
                "{case:?} -> {:?}",
                InputMsg::decode(case)
            );
        }
        assert_eq!(
            InputMsg::decode(r#"{"type":"pointer_button","button":9,"down":true}"#),
            Err(InputError::UnknownButton(9))
        );
        assert_eq!(
            InputMsg::decode(r#"{"type":"key","code":"KeyÄ","down":true}"#),
            Err(InputError::UnknownKey("KeyÄ".into()))
        );
        assert_eq!(
            InputMsg::decode(r#"{"type":"text","text":"rm -rf /\u001b[A"}"#),
            Err(InputError::ControlCharacters)
        );
        let huge = format!(r#"{{"type":"text","text":"{}"}}"#, "a".repeat(MAX_INPUT_BYTES));
        assert!(matches!(InputMsg::decode(&huge), Err(InputError::TooLarge(_))));
    }

    #[test]
    fn key_codes_are_unique_and_w3c_shaped() {
        let mut seen = std::collections::HashSet::new();
        for code in KEY_CODES {
            assert!(seen.insert(code), "{code} listed twice");
            assert!(code.chars().next().is_some_and(|c| c.is_ascii_uppercase()), "{code}");
            assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");
        }
        assert!(is_key_code("KeyA") && is_key_code("Enter") && !is_key_code("keya"));
    }
}
