//! W3C `KeyboardEvent.code` to the platform's physical key.
//!
//! A code names a key's position, so it maps to a scan code, not to a character: Linux evdev
//! codes (`linux/input-event-codes.h`), which X11 servers with the evdev or libinput driver
//! (and Xvfb's default keymap) number as X keycode = evdev + 8. Windows scan codes and macOS
//! virtual key codes would be further columns of this table.

/// A physical key as Linux numbers it (`KEY_A` = 30).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Evdev(pub u16);

impl Evdev {
    /// The key's X11 keycode under the evdev keycode set.
    pub fn x11_keycode(self) -> u16 {
        self.0 + 8
    }
}

/// The evdev code of a W3C key code, `None` for a code Tether does not know.
pub fn evdev(code: &str) -> Option<Evdev> {
    TABLE.iter().find(|(c, _)| *c == code).map(|&(_, k)| Evdev(k))
}

pub const TAB: Evdev = Evdev(15);
pub const ENTER: Evdev = Evdev(28);

/// `(KeyboardEvent.code, evdev code)`, in `linux/input-event-codes.h` order.
const TABLE: &[(&str, u16)] = &[
    ("Escape", 1),
    ("Digit1", 2),
    ("Digit2", 3),
    ("Digit3", 4),
    ("Digit4", 5),
    ("Digit5", 6),
    ("Digit6", 7),
    ("Digit7", 8),
    ("Digit8", 9),
    ("Digit9", 10),
    ("Digit0", 11),
    ("Minus", 12),
    ("Equal", 13),
    ("Backspace", 14),
    ("Tab", 15),
    ("KeyQ", 16),
    ("KeyW", 17),
    ("KeyE", 18),
    ("KeyR", 19),
    ("KeyT", 20),
    ("KeyY", 21),
    ("KeyU", 22),
    ("KeyI", 23),
    ("KeyO", 24),
    ("KeyP", 25),
    ("BracketLeft", 26),
    ("BracketRight", 27),
    ("Enter", 28),
    ("ControlLeft", 29),
    ("KeyA", 30),
    ("KeyS", 31),
    ("KeyD", 32),
    ("KeyF", 33),
    ("KeyG", 34),
    ("KeyH", 35),
    ("KeyJ", 36),
    ("KeyK", 37),
    ("KeyL", 38),
    ("Semicolon", 39),
    ("Quote", 40),
    ("Backquote", 41),
    ("ShiftLeft", 42),
    ("Backslash", 43),
    ("KeyZ", 44),
    ("KeyX", 45),
    ("KeyC", 46),
    ("KeyV", 47),
    ("KeyB", 48),
    ("KeyN", 49),
    ("KeyM", 50),
    ("Comma", 51),
    ("Period", 52),
    ("Slash", 53),
    ("ShiftRight", 54),
    ("NumpadMultiply", 55),
    ("AltLeft", 56),
    ("Space", 57),
    ("CapsLock", 58),
    ("F1", 59),
    ("F2", 60),
    ("F3", 61),
    ("F4", 62),
    ("F5", 63),
    ("F6", 64),
    ("F7", 65),
    ("F8", 66),
    ("F9", 67),
    ("F10", 68),
    ("NumLock", 69),
    ("ScrollLock", 70),
    ("Numpad7", 71),
    ("Numpad8", 72),
    ("Numpad9", 73),
    ("NumpadSubtract", 74),
    ("Numpad4", 75),
    ("Numpad5", 76),
    ("Numpad6", 77),
    ("NumpadAdd", 78),
    ("Numpad1", 79),
    ("Numpad2", 80),
    ("Numpad3", 81),
    ("Numpad0", 82),
    ("NumpadDecimal", 83),
    ("IntlBackslash", 86),
    ("F11", 87),
    ("F12", 88),
    ("NumpadEnter", 96),
    ("ControlRight", 97),
    ("NumpadDivide", 98),
    ("PrintScreen", 99),
    ("AltRight", 100),
    ("Home", 102),
    ("ArrowUp", 103),
    ("PageUp", 104),
    ("ArrowLeft", 105),
    ("ArrowRight", 106),
    ("End", 107),
    ("ArrowDown", 108),
    ("PageDown", 109),
    ("Insert", 110),
    ("Delete", 111),
    ("Pause", 119),
    ("MetaLeft", 125),
    ("MetaRight", 126),
    ("ContextMenu", 127),
    ("Help", 138),
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use tether_proto::input::KEY_CODES;

    use super::*;

    #[test]
    fn every_code_a_viewer_may_send_has_a_key_of_its_own() {
        let mut keys = HashSet::new();
        for code in KEY_CODES {
            let key = evdev(code).unwrap_or_else(|| panic!("{code} has no evdev code"));
            assert!(keys.insert(key), "{code} shares {key:?} with another code");
            assert!((1..=255 - 8).contains(&key.0), "{code}: {key:?} is no X11 keycode");
        }
        assert_eq!(TABLE.len(), KEY_CODES.len(), "the table lists codes no viewer may send");
    }

    #[test]
    fn keys_sit_where_linux_puts_them() {
        // Spot checks against linux/input-event-codes.h and Xvfb's keymap (`xmodmap -pke`).
        assert_eq!(evdev("KeyA"), Some(Evdev(30)));
        assert_eq!(evdev("KeyA").map(Evdev::x11_keycode), Some(38));
        assert_eq!(evdev("Enter"), Some(ENTER));
        assert_eq!(evdev("ShiftLeft").map(Evdev::x11_keycode), Some(50));
        assert_eq!(evdev("ControlLeft"), Some(Evdev(29)));
        assert_eq!(evdev("AltLeft"), Some(Evdev(56)));
        assert_eq!(evdev("MetaLeft"), Some(Evdev(125)));
        assert_eq!(evdev("Delete"), Some(Evdev(111)));
        assert_eq!(evdev("Tab"), Some(TAB));
        assert_eq!(evdev("PrintScreen"), Some(Evdev(99)));
        assert_eq!(evdev("keya"), None);
        assert_eq!(evdev(""), None);
    }
}

#[cfg(test)]
mod x11_tests {
    use tether_proto::input::KEY_CODES;
    use tether_testkit::xvfb::Xvfb;
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::ConnectionExt as _;

    use super::*;

    /// Every code reaches a key of Xvfb's keymap, and the key means what the code names.
    #[test]
    #[ignore = "needs Xvfb"]
    fn every_code_is_a_key_of_the_x_keymap() {
        let xvfb = Xvfb::start(320, 240).unwrap();
        let (conn, _) = xvfb.connect().unwrap();
        let (min, max) = (conn.setup().min_keycode, conn.setup().max_keycode);
        let map = conn.get_keyboard_mapping(min, max - min + 1).unwrap().reply().unwrap();
        let per = usize::from(map.keysyms_per_keycode);
        let keysym = |code: &str| {
            let keycode = evdev(code).unwrap().x11_keycode();
            let row = usize::from(keycode) - usize::from(min);
            map.keysyms[row * per]
        };
        for code in KEY_CODES {
            assert_ne!(keysym(code), 0, "{code}: X keycode without a keysym");
        }
        // X11/keysymdef.h.
        let expected = [
            ("KeyA", 0x61),
            ("KeyZ", 0x7a),
            ("Digit1", 0x31),
            ("Semicolon", 0x3b),
            ("Enter", 0xff0d),
            ("ShiftLeft", 0xffe1),
            ("ControlRight", 0xffe4),
            ("AltLeft", 0xffe9),
            ("MetaLeft", 0xffeb),
            ("Delete", 0xffff),
            ("ArrowUp", 0xff52),
            ("F12", 0xffc9),
            ("PrintScreen", 0xff61),
            ("Pause", 0xff13),
            ("ContextMenu", 0xff67),
            ("Help", 0xff6a),
            ("NumpadEnter", 0xff8d),
        ];
        for (code, sym) in expected {
            assert_eq!(keysym(code), sym, "{code}");
        }
    }
}
