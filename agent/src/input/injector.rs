//! [`Injector`]: turns validated [`InputMsg`]s into calls on an [`InputSink`]. It places the
//! pointer on the shared monitor, tracks what is held, adds up fractional wheel turns, types
//! newlines and tabs as keys and spells out the named actions. No I/O of its own.

use tether_proto::input::{Action, InputMsg};

use super::held::{Held, MouseButton};
use super::keys::{self, Evdev};
use super::{InjectError, InputSink};
use crate::capture::MonitorRect;

pub struct Injector<S> {
    sink: S,
    held: Held,
    /// Wheel notches not yet sent (fractions from touchpads and pixel-mode browsers).
    wheel: (f64, f64),
}

impl<S: InputSink> Injector<S> {
    pub fn new(sink: S) -> Self {
        Injector { sink, held: Held::default(), wheel: (0.0, 0.0) }
    }

    /// Injects one message.
    pub fn handle(&mut self, msg: InputMsg) -> Result<(), InjectError> {
        match msg {
            InputMsg::PointerMove { x, y } => {
                let (px, py) = to_pixels(self.sink.monitor()?, x, y);
                self.sink.move_to(px, py)
            }
            InputMsg::PointerButton { button, down } => {
                let button = MouseButton::from_w3c(button).ok_or(InjectError::Unsupported)?;
                if down {
                    self.held.press_button(button);
                } else if !self.held.release_button(button) {
                    return Ok(());
                }
                self.sink.button(button, down)
            }
            InputMsg::Wheel { dx, dy } => {
                let (sx, sy) = (whole(&mut self.wheel.0, dx), whole(&mut self.wheel.1, dy));
                if (sx, sy) == (0, 0) {
                    return Ok(());
                }
                self.sink.scroll(sx, sy)
            }
            InputMsg::Key { code, down } => {
                let key = keys::evdev(&code).ok_or(InjectError::Unsupported)?;
                self.key(key, down)
            }
            InputMsg::Text { text } => self.text(&text),
            InputMsg::Action { action } => self.action(action),
            InputMsg::ReleaseAll => self.release_all(),
        }
    }

    /// Releases every key and button still held; each is tried even if one fails.
    pub fn release_all(&mut self) -> Result<(), InjectError> {
        let (buttons, held_keys) = self.held.take_all();
        let mut outcome = Ok(());
        for button in buttons {
            outcome = outcome.and(self.sink.button(button, false));
        }
        for key in held_keys {
            outcome = outcome.and(self.sink.key(key, false));
        }
        outcome
    }

    fn key(&mut self, key: Evdev, down: bool) -> Result<(), InjectError> {
        if down {
            self.held.press_key(key);
        } else if !self.held.release_key(key) {
            return Ok(());
        }
        self.sink.key(key, down)
    }

    fn tap(&mut self, key: Evdev) -> Result<(), InjectError> {
        self.key(key, true)?;
        self.key(key, false)
    }

    /// Newlines and tabs are the Enter and Tab keys; everything between them is text.
    fn text(&mut self, text: &str) -> Result<(), InjectError> {
        let mut start = 0;
        for (at, c) in text.char_indices() {
            let key = match c {
                '\n' => keys::ENTER,
                '\t' => keys::TAB,
                _ => continue,
            };
            if at > start {
                self.sink.text(&text[start..at])?;
            }
            self.tap(key)?;
            start = at + 1;
        }
        if start < text.len() {
            self.sink.text(&text[start..])?;
        }
        Ok(())
    }

    fn action(&mut self, action: Action) -> Result<(), InjectError> {
        // Every action's keys are in the table (a proto test checks they are key codes).
        let combo: Vec<Evdev> = action.keys().iter().filter_map(|code| keys::evdev(code)).collect();
        for &key in &combo {
            self.key(key, true)?;
        }
        for &key in combo.iter().rev() {
            self.key(key, false)?;
        }
        Ok(())
    }

    #[cfg(test)]
    fn into_sink(self) -> S {
        self.sink
    }
}

/// The pixel under `(x, y)` (each 0..1, already clamped) of `rect`: `floor(x * width)`, the
/// last column for 1.0, plus the monitor's offset on the screen.
pub fn to_pixels(rect: MonitorRect, x: f64, y: f64) -> (i32, i32) {
    let along = |v: f64, size: u32| {
        let last = size.saturating_sub(1);
        // In range by the clamp: 0 <= v * size <= size, and size fits in u32.
        ((v.clamp(0.0, 1.0) * f64::from(size)).floor() as u32).min(last)
    };
    let px = rect.x.saturating_add_unsigned(along(x, rect.width));
    let py = rect.y.saturating_add_unsigned(along(y, rect.height));
    (px, py)
}

/// Adds `delta` to `pending` and takes out the whole notches. A turn the other way starts
/// afresh: the rest of a notch the other way is forgotten.
fn whole(pending: &mut f64, delta: f64) -> i32 {
    if *pending * delta < 0.0 {
        *pending = 0.0;
    }
    *pending += delta;
    let steps = pending.trunc();
    *pending -= steps;
    // |steps| <= 100 + 1 by the proto's clamp, so the cast is exact.
    steps as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    enum Call {
        Move(i32, i32),
        Button(MouseButton, bool),
        Scroll(i32, i32),
        Key(u16, bool),
        Text(String),
    }

    struct Recorder {
        rect: MonitorRect,
        calls: Vec<Call>,
    }

    impl InputSink for Recorder {
        fn monitor(&mut self) -> Result<MonitorRect, InjectError> {
            Ok(self.rect)
        }
        fn move_to(&mut self, x: i32, y: i32) -> Result<(), InjectError> {
            self.calls.push(Call::Move(x, y));
            Ok(())
        }
        fn button(&mut self, button: MouseButton, down: bool) -> Result<(), InjectError> {
            self.calls.push(Call::Button(button, down));
            Ok(())
        }
        fn scroll(&mut self, dx: i32, dy: i32) -> Result<(), InjectError> {
            self.calls.push(Call::Scroll(dx, dy));
            Ok(())
        }
        fn key(&mut self, key: Evdev, down: bool) -> Result<(), InjectError> {
            self.calls.push(Call::Key(key.0, down));
            Ok(())
        }
        fn text(&mut self, text: &str) -> Result<(), InjectError> {
            self.calls.push(Call::Text(text.to_owned()));
            Ok(())
        }
    }

    const SECOND_MONITOR: MonitorRect = MonitorRect { x: 1280, y: 0, width: 640, height: 480 };

    fn run(msgs: Vec<InputMsg>) -> Vec<Call> {
        let mut injector = Injector::new(Recorder { rect: SECOND_MONITOR, calls: vec![] });
        for msg in msgs {
            injector.handle(msg).unwrap();
        }
        injector.release_all().unwrap();
        injector.into_sink().calls
    }

    fn key(code: &str, down: bool) -> InputMsg {
        InputMsg::Key { code: code.into(), down }
    }

    #[test]
    fn positions_land_on_the_shared_monitor() {
        let full = MonitorRect { x: 0, y: 0, width: 1280, height: 720 };
        assert_eq!(to_pixels(full, 0.0, 0.0), (0, 0));
        assert_eq!(to_pixels(full, 1.0, 1.0), (1279, 719));
        assert_eq!(to_pixels(full, 0.5, 0.5), (640, 360));
        // The centre of pixel (100, 50), as a viewer computes it.
        assert_eq!(to_pixels(full, 100.5 / 1280.0, 50.5 / 720.0), (100, 50));
        assert_eq!(to_pixels(SECOND_MONITOR, 0.0, 0.0), (1280, 0));
        assert_eq!(to_pixels(SECOND_MONITOR, 0.5, 1.0), (1600, 479));
        let above = MonitorRect { x: -100, y: -480, width: 640, height: 480 };
        assert_eq!(to_pixels(above, 0.0, 0.5), (-100, -240));
        let empty = MonitorRect { x: 5, y: 5, width: 0, height: 0 };
        assert_eq!(to_pixels(empty, 1.0, 1.0), (5, 5));
    }

    #[test]
    fn moves_clicks_and_wheel() {
        let calls = run(vec![
            InputMsg::PointerMove { x: 0.5, y: 0.5 },
            InputMsg::PointerButton { button: 0, down: true },
            InputMsg::PointerButton { button: 0, down: false },
            InputMsg::Wheel { dx: 0.0, dy: 0.4 },
            InputMsg::Wheel { dx: 0.0, dy: 0.7 },
            InputMsg::Wheel { dx: -2.0, dy: -3.0 },
        ]);
        assert_eq!(
            calls,
            [
                Call::Move(1600, 240),
                Call::Button(MouseButton::Left, true),
                Call::Button(MouseButton::Left, false),
                Call::Scroll(0, 1),
                Call::Scroll(-2, -3),
            ]
        );
    }

    #[test]
    fn held_keys_and_buttons_are_released_at_the_end() {
        let calls = run(vec![
            key("ShiftLeft", true),
            key("KeyA", true),
            InputMsg::PointerButton { button: 2, down: true },
        ]);
        assert_eq!(
            calls,
            [
                Call::Key(42, true),
                Call::Key(30, true),
                Call::Button(MouseButton::Right, true),
                Call::Button(MouseButton::Right, false),
                Call::Key(30, false),
                Call::Key(42, false),
            ]
        );
    }

    #[test]
    fn release_all_lets_go_and_stray_releases_are_ignored() {
        let calls = run(vec![
            key("ControlLeft", true),
            InputMsg::ReleaseAll,
            key("ControlLeft", false),
            InputMsg::PointerButton { button: 1, down: false },
        ]);
        assert_eq!(calls, [Call::Key(29, true), Call::Key(29, false)]);
    }

    #[test]
    fn actions_press_and_release_in_order() {
        let calls = run(vec![
            InputMsg::Action { action: Action::CtrlAltDel },
            InputMsg::Action { action: Action::AltTab },
            InputMsg::Action { action: Action::Super },
            InputMsg::Action { action: Action::AltF4 },
            InputMsg::Action { action: Action::CtrlAltF7 },
        ]);
        let on = |k| Call::Key(k, true);
        let off = |k| Call::Key(k, false);
        assert_eq!(
            calls,
            [
                on(29),
                on(56),
                on(111),
                off(111),
                off(56),
                off(29),
                on(56),
                on(15),
                off(15),
                off(56),
                on(125),
                off(125),
                on(56),
                on(62),
                off(62),
                off(56),
                on(29),
                on(56),
                on(65),
                off(65),
                off(56),
                off(29)
            ]
        );
    }

    #[test]
    fn newlines_and_tabs_in_text_are_keys() {
        let calls = run(vec![InputMsg::Text { text: "Hi, you!\n\ta\tb\n".into() }]);
        let tap = |k| [Call::Key(k, true), Call::Key(k, false)];
        let mut expected = vec![Call::Text("Hi, you!".into())];
        expected.extend(tap(28));
        expected.extend(tap(15));
        expected.push(Call::Text("a".into()));
        expected.extend(tap(15));
        expected.push(Call::Text("b".into()));
        expected.extend(tap(28));
        assert_eq!(calls, expected);
    }
}
