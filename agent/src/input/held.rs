//! [`Held`]: which keys and buttons the viewer holds down on the agent's desktop, so that none
//! stays pressed when the session ends or the viewer loses focus.

use super::keys::Evdev;

/// A mouse button, numbered as W3C `MouseEvent.button` (0 main .. 4 forward).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MouseButton {
    Left,
    Middle,
    Right,
    Back,
    Forward,
}

impl MouseButton {
    /// The button of a W3C `MouseEvent.button` number.
    pub fn from_w3c(button: u8) -> Option<MouseButton> {
        Some(match button {
            0 => MouseButton::Left,
            1 => MouseButton::Middle,
            2 => MouseButton::Right,
            3 => MouseButton::Back,
            4 => MouseButton::Forward,
            _ => return None,
        })
    }
}

/// Keys and buttons pressed through this session and not yet released, in press order.
#[derive(Debug, Default)]
pub struct Held {
    keys: Vec<Evdev>,
    buttons: Vec<MouseButton>,
}

impl Held {
    /// Records a press. Repeats (auto-repeat sends several downs) are recorded once.
    pub fn press_key(&mut self, key: Evdev) {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }

    /// Records a release; false if the key was not held through this session (then the
    /// release is not passed on: it might be a key the person at the computer holds).
    pub fn release_key(&mut self, key: Evdev) -> bool {
        let held = self.keys.contains(&key);
        self.keys.retain(|&k| k != key);
        held
    }

    pub fn press_button(&mut self, button: MouseButton) {
        if !self.buttons.contains(&button) {
            self.buttons.push(button);
        }
    }

    /// As [`Held::release_key`], for buttons.
    pub fn release_button(&mut self, button: MouseButton) -> bool {
        let held = self.buttons.contains(&button);
        self.buttons.retain(|&b| b != button);
        held
    }

    /// Forgets everything and returns what must be released: buttons first, then keys, the
    /// latest press first (modifiers, usually pressed first, go last).
    pub fn take_all(&mut self) -> (Vec<MouseButton>, Vec<Evdev>) {
        let mut buttons = std::mem::take(&mut self.buttons);
        let mut keys = std::mem::take(&mut self.keys);
        buttons.reverse();
        keys.reverse();
        (buttons, keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIFT: Evdev = Evdev(42);
    const A: Evdev = Evdev(30);

    #[test]
    fn everything_pressed_is_released_latest_first() {
        let mut held = Held::default();
        held.press_key(SHIFT);
        held.press_key(A);
        held.press_key(A);
        held.press_button(MouseButton::Left);
        held.press_button(MouseButton::Right);
        assert!(held.release_button(MouseButton::Right));
        assert_eq!(held.take_all(), (vec![MouseButton::Left], vec![A, SHIFT]));
        assert_eq!(held.take_all(), (vec![], vec![]), "taken once");
    }

    #[test]
    fn releases_of_keys_never_pressed_are_refused() {
        let mut held = Held::default();
        assert!(!held.release_key(A));
        assert!(!held.release_button(MouseButton::Middle));
        held.press_key(A);
        assert!(held.release_key(A));
        assert!(!held.release_key(A), "released once only");
        assert_eq!(held.take_all(), (vec![], vec![]));
    }

    #[test]
    fn w3c_buttons() {
        assert_eq!(MouseButton::from_w3c(0), Some(MouseButton::Left));
        assert_eq!(MouseButton::from_w3c(1), Some(MouseButton::Middle));
        assert_eq!(MouseButton::from_w3c(2), Some(MouseButton::Right));
        assert_eq!(MouseButton::from_w3c(3), Some(MouseButton::Back));
        assert_eq!(MouseButton::from_w3c(4), Some(MouseButton::Forward));
        assert_eq!(MouseButton::from_w3c(5), None);
    }
}
