//! [`EnigoSink`]: the real desktop, through enigo's pure-Rust X11 backend (XTEST; no libxdo).

use enigo::{Axis, Button, Coordinate, Direction, Enigo, Keyboard, Mouse, Settings};

use super::held::MouseButton;
use super::keys::Evdev;
use super::{InjectError, InputSink};
use crate::capture::{MonitorGeometry, MonitorRect, ShownMonitor};
use std::sync::Arc;

pub struct EnigoSink {
    enigo: Enigo,
    geometry: MonitorGeometry,
}

impl EnigoSink {
    /// Connects to the X display in `DISPLAY` and looks up the monitor `shown` says on it.
    pub fn open(shown: Arc<ShownMonitor>) -> Result<Self, InjectError> {
        let geometry = MonitorGeometry::open(None, shown)?;
        let settings = Settings {
            // enigo's default waits 12 ms in the X server before each button event and before
            // some keys; a remote pointer needs no such pause.
            linux_delay: 0,
            release_keys_when_dropped: true,
            ..Settings::default()
        };
        let enigo = Enigo::new(&settings).map_err(|e| InjectError::Open(e.to_string()))?;
        Ok(EnigoSink { enigo, geometry })
    }
}

fn direction(down: bool) -> Direction {
    if down { Direction::Press } else { Direction::Release }
}

fn failed(e: enigo::InputError) -> InjectError {
    InjectError::Inject(e.to_string())
}

impl InputSink for EnigoSink {
    fn monitor(&mut self) -> Result<MonitorRect, InjectError> {
        Ok(self.geometry.rect()?)
    }

    fn move_to(&mut self, x: i32, y: i32) -> Result<(), InjectError> {
        self.enigo.move_mouse(x, y, Coordinate::Abs).map_err(failed)
    }

    fn button(&mut self, button: MouseButton, down: bool) -> Result<(), InjectError> {
        let button = match button {
            MouseButton::Left => Button::Left,
            MouseButton::Middle => Button::Middle,
            MouseButton::Right => Button::Right,
            MouseButton::Back => Button::Back,
            MouseButton::Forward => Button::Forward,
        };
        self.enigo.button(button, direction(down)).map_err(failed)
    }

    fn scroll(&mut self, dx: i32, dy: i32) -> Result<(), InjectError> {
        if dx != 0 {
            self.enigo.scroll(dx, Axis::Horizontal).map_err(failed)?;
        }
        if dy != 0 {
            self.enigo.scroll(dy, Axis::Vertical).map_err(failed)?;
        }
        Ok(())
    }

    fn key(&mut self, key: Evdev, down: bool) -> Result<(), InjectError> {
        self.enigo.raw(key.x11_keycode(), direction(down)).map_err(failed)
    }

    fn text(&mut self, text: &str) -> Result<(), InjectError> {
        self.enigo.text(text).map_err(failed)
    }
}
