//! The winit application: the code prompt, the session's reports and input capture; painting
//! is `draw`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use tether_media::codec::DecodedFrame;
use tether_media::telemetry::ViewerStats;
use tether_proto::SessionCode;
use tether_proto::input::InputMsg;
use tether_session::viewing::Report;
use tokio::sync::mpsc;
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, KeyEvent, MouseScrollDelta, WindowEvent};
use winit::event_loop::ActiveEventLoop;
use winit::keyboard::{KeyCode, PhysicalKey};
use winit::window::{Fullscreen, Window, WindowId};

use super::layout::{Placement, Scale, button, key_code, normalise};
use super::{FrameSlot, UiEvent};

mod draw;

const TEXT_SCALE: usize = 2;
const BACKGROUND: u32 = 0x202020;
const TEXT: u32 = 0xeeeeee;
const ERROR: u32 = 0xff9080;
const OVERLAY: u32 = 0x90ff90;

type Surface = softbuffer::Surface<Arc<Window>, Arc<Window>>;

pub struct App {
    window: Option<(Arc<Window>, Surface)>,
    slot: Arc<FrameSlot>,
    frame: Option<DecodedFrame>,
    codes: mpsc::Sender<SessionCode>,
    input: Option<mpsc::Sender<InputMsg>>,
    /// Digits typed so far, while the code prompt shows.
    prompt: Option<String>,
    message: String,
    banner: Option<String>,
    stats: Option<ViewerStats>,
    pair: String,
    show_stats: bool,
    scale: Scale,
    pointer: (f64, f64),
    placement: Placement,
    held: HashSet<String>,
    sized_for: Option<(u32, u32)>,
    code_entered: Option<Instant>,
    input_dropped: u64,
}

impl App {
    pub fn new(
        slot: Arc<FrameSlot>,
        codes: mpsc::Sender<SessionCode>,
        input: mpsc::Sender<InputMsg>,
        code: Option<SessionCode>,
    ) -> Self {
        let mut app = App {
            window: None,
            slot,
            frame: None,
            codes,
            input: Some(input),
            prompt: Some(String::new()),
            message: String::new(),
            banner: None,
            stats: None,
            pair: String::new(),
            show_stats: false,
            scale: Scale::Fit,
            pointer: (0.0, 0.0),
            placement: Placement { x: 0.0, y: 0.0, w: 0.0, h: 0.0 },
            held: HashSet::new(),
            sized_for: None,
            code_entered: None,
            input_dropped: 0,
        };
        if let Some(code) = code {
            app.submit(code);
        }
        app
    }

    fn submit(&mut self, code: SessionCode) {
        if self.codes.try_send(code).is_ok() {
            self.prompt = None;
            self.frame = None;
            self.code_entered = Some(Instant::now());
            self.banner = Some(format!("Joining {code}..."));
        }
    }

    fn redraw_soon(&self) {
        if let Some((window, _)) = &self.window {
            window.request_redraw();
        }
    }

    fn streaming(&self) -> bool {
        self.prompt.is_none() && self.frame.is_some()
    }

    fn send(&mut self, msg: InputMsg) {
        if !self.streaming() {
            return;
        }
        if let Some(input) = &self.input {
            if input.try_send(msg).is_err() {
                self.input_dropped += 1;
                tracing::debug!(dropped = self.input_dropped, "input queue full; event dropped");
            }
        }
    }

    fn release_all(&mut self) {
        self.held.clear();
        self.send(InputMsg::ReleaseAll);
    }

    fn on_report(&mut self, report: Report) {
        match report {
            // In the title, where it stays in sight without covering the picture.
            Report::Secured(sas) => {
                if let Some((window, _)) = &self.window {
                    window.set_title(&format!("Tether viewer — security code {sas}"));
                }
            }
            Report::Connected(pair) => {
                self.pair = match pair {
                    Some(pair) => format!("{}, pair={}", pair.description, pair.kinds),
                    None => "pair=unknown".to_owned(),
                };
                self.banner = None;
            }
            other => {
                let line = other.to_string();
                self.banner = Some(line.strip_prefix("state: ").unwrap_or(&line).to_owned());
            }
        }
        self.redraw_soon();
    }

    fn on_stats(&mut self, stats: ViewerStats) {
        self.stats = Some(stats);
        self.redraw_soon();
    }

    fn on_frame(&mut self) {
        if !self.slot.take_into(&mut self.frame) || self.prompt.is_some() {
            return;
        }
        let Some(frame) = &self.frame else { return };
        if let Some(entered) = self.code_entered.take() {
            println!("first frame: {} ms after the code", entered.elapsed().as_millis());
        }
        let size = (frame.width, frame.height);
        if self.sized_for != Some(size) {
            self.sized_for = Some(size);
            if let Some((window, _)) = &self.window {
                if window.fullscreen().is_none() {
                    let _ = window.request_inner_size(PhysicalSize::new(size.0, size.1));
                }
            }
        }
        self.redraw_soon();
    }

    fn on_key(&mut self, event: &KeyEvent) {
        let PhysicalKey::Code(code) = event.physical_key else { return };
        let down = event.state == ElementState::Pressed;
        if let Some(prompt) = &mut self.prompt {
            if down {
                match code {
                    KeyCode::Backspace => {
                        prompt.pop();
                    }
                    KeyCode::Enter | KeyCode::NumpadEnter => match prompt.parse::<SessionCode>() {
                        Ok(code) => self.submit(code),
                        Err(_) => self.message = "A session code has nine digits.".into(),
                    },
                    _ => {
                        let digit = event.text.as_ref().and_then(|t| t.chars().next());
                        if let Some(d) = digit.filter(char::is_ascii_digit) {
                            if prompt.len() < 9 {
                                prompt.push(d);
                            }
                        }
                    }
                }
                self.redraw_soon();
            }
            return;
        }
        match (code, down) {
            (KeyCode::F10, true) => {
                self.scale = if self.scale == Scale::Fit { Scale::OneToOne } else { Scale::Fit };
                self.redraw_soon();
            }
            (KeyCode::F11, true) => {
                if let Some((window, _)) = &self.window {
                    let next = match window.fullscreen() {
                        Some(_) => None,
                        None => Some(Fullscreen::Borderless(None)),
                    };
                    window.set_fullscreen(next);
                }
            }
            (KeyCode::F12, true) => {
                self.show_stats = !self.show_stats;
                self.redraw_soon();
            }
            (KeyCode::F10 | KeyCode::F11 | KeyCode::F12, false) => {}
            _ => {
                let Some(name) = key_code(code) else { return };
                if down && (event.repeat || self.held.contains(&name)) {
                    return;
                }
                if down {
                    self.held.insert(name.clone());
                } else if !self.held.remove(&name) {
                    return;
                }
                self.send(InputMsg::Key { code: name, down });
            }
        }
    }

    fn pointer_msg(&self) -> Option<InputMsg> {
        normalise(&self.placement, self.pointer).map(|(x, y)| InputMsg::PointerMove { x, y })
    }
}

impl ApplicationHandler<UiEvent> for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.window.is_some() {
            return;
        }
        let attributes = Window::default_attributes()
            .with_title("Tether viewer")
            .with_inner_size(PhysicalSize::new(1280, 720));
        let made = event_loop.create_window(attributes).map_err(|e| e.to_string()).and_then(|w| {
            let window = Arc::new(w);
            let context = softbuffer::Context::new(window.clone()).map_err(|e| e.to_string())?;
            let surface = Surface::new(&context, window.clone()).map_err(|e| e.to_string())?;
            Ok((window, surface))
        });
        match made {
            Ok(made) => self.window = Some(made),
            Err(err) => {
                eprintln!("error: cannot open the viewer window: {err}");
                event_loop.exit();
            }
        }
    }

    fn user_event(&mut self, _event_loop: &ActiveEventLoop, event: UiEvent) {
        match event {
            UiEvent::Frame => self.on_frame(),
            UiEvent::Report(report) => self.on_report(report),
            UiEvent::Stats(stats) => self.on_stats(stats),
            UiEvent::Finished(message) => {
                self.release_all();
                self.frame = None;
                self.message = message;
                self.prompt = Some(String::new());
                self.redraw_soon();
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => {
                self.release_all();
                self.input = None;
                event_loop.exit();
            }
            WindowEvent::RedrawRequested => self.draw(),
            WindowEvent::Resized(_) => self.redraw_soon(),
            WindowEvent::Focused(false) => self.release_all(),
            WindowEvent::KeyboardInput { event, .. } => self.on_key(&event),
            WindowEvent::CursorMoved { position, .. } => {
                self.pointer = (position.x, position.y);
                if self.scale == Scale::OneToOne {
                    self.redraw_soon();
                }
                if let Some(msg) = self.pointer_msg() {
                    self.send(msg);
                }
            }
            WindowEvent::MouseInput { state, button: b, .. } => {
                if let (Some(b), Some(at)) = (button(b), self.pointer_msg()) {
                    self.send(at);
                    self.send(InputMsg::PointerButton { button: b, down: state.is_pressed() });
                }
            }
            WindowEvent::MouseWheel { delta, .. } => {
                // winit: positive y scrolls up; the protocol (like W3C) says positive dy is down.
                let (dx, dy) = match delta {
                    MouseScrollDelta::LineDelta(x, y) => (-f64::from(x), -f64::from(y)),
                    MouseScrollDelta::PixelDelta(p) => (-p.x / 100.0, -p.y / 100.0),
                };
                self.send(InputMsg::Wheel { dx, dy });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
