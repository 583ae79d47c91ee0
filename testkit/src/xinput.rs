//! [`EventWindow`]: a real X client that sees remote control arrive. A window covering the
//! screen, with the input focus, that records pointer motion, buttons and keys as the server
//! delivers them, turns key presses into characters through the server's own keyboard
//! mapping (followed as it changes: injected text remaps spare keycodes), and collects the
//! typed characters like a text field.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    ClientMessageEvent, ConnectionExt as _, CreateWindowAux, EventMask, InputFocus, KeyButMask,
    Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::{COPY_DEPTH_FROM_PARENT, CURRENT_TIME};

/// What the window saw; positions are the window's, which covers the screen from (0, 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XInput {
    Motion {
        x: i16,
        y: i16,
    },
    /// X button numbers: 1 left, 2 middle, 3 right, 4/5 wheel up/down, 6/7 left/right, 8/9
    /// back/forward.
    ButtonPress {
        button: u8,
        x: i16,
        y: i16,
    },
    ButtonRelease {
        button: u8,
        x: i16,
        y: i16,
    },
    /// The keysym under the current modifiers, and its character if it has one.
    KeyPress {
        keycode: u8,
        keysym: u32,
        char: Option<char>,
    },
    KeyRelease {
        keycode: u8,
    },
}

/// One event and when this process received it (wall clock, comparable across processes).
#[derive(Debug, Clone)]
pub struct Seen {
    pub input: XInput,
    pub at: SystemTime,
}

pub struct EventWindow {
    conn: Arc<RustConnection>,
    window: Window,
    events: Receiver<Seen>,
    reader: Option<JoinHandle<()>>,
}

impl EventWindow {
    /// Opens the window on `display`, waits until it is mapped and has the focus.
    pub fn open(display: &str) -> Result<EventWindow> {
        Self::open_as(display, WindowClass::INPUT_OUTPUT)
    }

    /// The same, as an input-only window: it sees the same events but draws nothing, so what
    /// is painted on the root window stays on the screen.
    pub fn open_invisible(display: &str) -> Result<EventWindow> {
        Self::open_as(display, WindowClass::INPUT_ONLY)
    }

    fn open_as(display: &str, class: WindowClass) -> Result<EventWindow> {
        let (conn, screen) = x11rb::connect(Some(display))
            .with_context(|| format!("cannot connect to {display}"))?;
        let conn = Arc::new(conn);
        let screen = conn.setup().roots[screen].clone();
        let window = conn.generate_id()?;
        let mask = EventMask::POINTER_MOTION
            | EventMask::BUTTON_PRESS
            | EventMask::BUTTON_RELEASE
            | EventMask::KEY_PRESS
            | EventMask::KEY_RELEASE
            | EventMask::STRUCTURE_NOTIFY;
        let aux = CreateWindowAux::new().override_redirect(1).event_mask(mask);
        // An input-only window has no background to paint.
        let aux = match class {
            WindowClass::INPUT_ONLY => aux,
            _ => aux.background_pixel(screen.white_pixel),
        };
        conn.create_window(
            COPY_DEPTH_FROM_PARENT,
            window,
            screen.root,
            0,
            0,
            screen.width_in_pixels,
            screen.height_in_pixels,
            0,
            class,
            0,
            &aux,
        )?;
        conn.map_window(window)?;
        conn.flush()?;
        loop {
            if let Event::MapNotify(e) = conn.wait_for_event()? {
                if e.window == window {
                    break;
                }
            }
        }
        conn.set_input_focus(InputFocus::POINTER_ROOT, window, CURRENT_TIME)?.check()?;
        let mut keymap = Keymap::read(&conn)?;
        let (tx, events) = mpsc::channel();
        let reader_conn = conn.clone();
        let reader = thread::Builder::new().name("x-event-window".into()).spawn(move || {
            while let Ok(event) = reader_conn.wait_for_event() {
                let input = match event {
                    Event::MotionNotify(e) => XInput::Motion { x: e.event_x, y: e.event_y },
                    Event::ButtonPress(e) => {
                        XInput::ButtonPress { button: e.detail, x: e.event_x, y: e.event_y }
                    }
                    Event::ButtonRelease(e) => {
                        XInput::ButtonRelease { button: e.detail, x: e.event_x, y: e.event_y }
                    }
                    Event::KeyPress(e) => {
                        let keysym = keymap.keysym(e.detail, e.state);
                        XInput::KeyPress { keycode: e.detail, keysym, char: keysym_char(keysym) }
                    }
                    Event::KeyRelease(e) => XInput::KeyRelease { keycode: e.detail },
                    Event::MappingNotify(_) => {
                        // Read at once: events after this one were sent under the new mapping.
                        match Keymap::read(&reader_conn) {
                            Ok(new) => keymap = new,
                            Err(_) => return,
                        }
                        continue;
                    }
                    Event::ClientMessage(e) if e.window == window => return,
                    _ => continue,
                };
                if tx.send(Seen { input, at: SystemTime::now() }).is_err() {
                    return;
                }
            }
        })?;
        Ok(EventWindow { conn, window, events, reader: Some(reader) })
    }

    /// The next event, waiting up to `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Seen> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Collects events until `done` says the list is complete; fails after `timeout`, showing
    /// what did arrive.
    pub fn collect_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[Seen]) -> bool,
    ) -> Result<Vec<Seen>> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while !done(&seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => seen.push(event),
                Err(RecvTimeoutError::Timeout) => {
                    let inputs: Vec<&XInput> = seen.iter().map(|s| &s.input).collect();
                    bail!("not complete within {timeout:?}; the window saw {inputs:?}")
                }
                Err(RecvTimeoutError::Disconnected) => bail!("the X connection ended"),
            }
        }
        Ok(seen)
    }
}

/// The characters typed into the window, in order, as a text field would show them
/// (Return is a newline; other keys without a character add nothing).
pub fn typed_text(seen: &[Seen]) -> String {
    seen.iter()
        .filter_map(|s| match s.input {
            XInput::KeyPress { char, .. } => char,
            _ => None,
        })
        .collect()
}

impl Drop for EventWindow {
    fn drop(&mut self) {
        // Wakes the reader, which ends on this message.
        let event = ClientMessageEvent::new(32, self.window, x11rb::NONE, [0u32; 5]);
        let sent = self.conn.send_event(false, self.window, EventMask::NO_EVENT, event);
        if sent.is_ok() && self.conn.flush().is_ok() {
            if let Some(reader) = self.reader.take() {
                let _ = reader.join();
            }
        }
        let _ = self.conn.destroy_window(self.window);
        let _ = self.conn.flush();
    }
}

/// The server's keyboard mapping.
struct Keymap {
    min_keycode: u8,
    per_keycode: usize,
    keysyms: Vec<u32>,
}

impl Keymap {
    fn read(conn: &RustConnection) -> Result<Keymap> {
        let (min, max) = (conn.setup().min_keycode, conn.setup().max_keycode);
        let reply = conn.get_keyboard_mapping(min, max - min + 1)?.reply()?;
        Ok(Keymap {
            min_keycode: min,
            per_keycode: usize::from(reply.keysyms_per_keycode),
            keysyms: reply.keysyms,
        })
    }

    /// The keysym of `keycode` with `state`'s Shift (or Lock, for letters), as Xlib's
    /// `XLookupString` picks it from the first two columns.
    fn keysym(&self, keycode: u8, state: KeyButMask) -> u32 {
        let row = usize::from(keycode.saturating_sub(self.min_keycode)) * self.per_keycode;
        let column = |i: usize| self.keysyms.get(row + i).copied().unwrap_or(0);
        let (lower, upper) = (column(0), column(1));
        let upper = if upper == 0 { lower } else { upper };
        let shift = state.contains(KeyButMask::SHIFT);
        let lock = state.contains(KeyButMask::LOCK) && (0x61..=0x7a).contains(&lower);
        if shift != lock { upper } else { lower }
    }
}

/// The character a keysym types: Latin-1 keysyms are their code point, Unicode keysyms are
/// 0x0100_0000 + the code point; Return, Tab and the keypad's digits as they type.
fn keysym_char(keysym: u32) -> Option<char> {
    match keysym {
        0x20..=0x7e | 0xa0..=0xff => char::from_u32(keysym),
        0x0100_0000..=0x0110_ffff => char::from_u32(keysym - 0x0100_0000),
        0xff0d | 0xff8d => Some('\n'),
        0xff09 => Some('\t'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keysyms_to_characters() {
        assert_eq!(keysym_char(0x41), Some('A'));
        assert_eq!(keysym_char(0x21), Some('!'));
        assert_eq!(keysym_char(0xfc), Some('ü'));
        assert_eq!(keysym_char(0x0100_20ac), Some('€'));
        assert_eq!(keysym_char(0xff0d), Some('\n'));
        assert_eq!(keysym_char(0xffe1), None, "Shift types nothing");
    }

    #[test]
    fn shift_picks_the_second_column() {
        let keymap = Keymap {
            min_keycode: 8,
            per_keycode: 2,
            keysyms: vec![0x61, 0x41, 0x31, 0x21, 0x2e, 0],
        };
        assert_eq!(keymap.keysym(8, KeyButMask::default()), 0x61);
        assert_eq!(keymap.keysym(8, KeyButMask::SHIFT), 0x41);
        assert_eq!(keymap.keysym(8, KeyButMask::LOCK), 0x41);
        assert_eq!(keymap.keysym(9, KeyButMask::LOCK), 0x31, "Lock shifts letters only");
        assert_eq!(keymap.keysym(9, KeyButMask::SHIFT), 0x21);
        assert_eq!(keymap.keysym(10, KeyButMask::SHIFT), 0x2e, "no second column");
    }
}
