//! The winit application: drawing, the code prompt, and input capture.

use std::collections::HashSet;
use std::num::NonZeroU32;
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

use super::font::{CELL_H, draw_text, text_width};
use super::layout::{Placement, Scale, blit, button, key_code, normalise, place};
use super::{FrameSlot, UiEvent};

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

    fn draw(&mut self) {
        let Some((window, surface)) = &mut self.window else { return };
        let size = window.inner_size();
        let (Some(w), Some(h)) = (NonZeroU32::new(size.width), NonZeroU32::new(size.height)) else {
            return;
        };
        if let Err(err) = surface.resize(w, h) {
            tracing::warn!(%err, "window surface not resized");
            return;
        }
        let (ww, wh) = (size.width as usize, size.height as usize);
        let Ok(mut buf) = surface.buffer_mut() else { return };
        match (&self.frame, &self.prompt) {
            (Some(frame), None) => {
                let fsize = (frame.width, frame.height);
                self.placement = place(self.scale, fsize, (size.width, size.height), self.pointer);
                let fsize = (frame.width as usize, frame.height as usize);
                blit(&mut buf, (ww, wh), &frame.rgba, fsize, &self.placement);
            }
            _ => buf.fill(BACKGROUND),
        }
        let line_h = CELL_H * TEXT_SCALE;
        if let Some(prompt) = &self.prompt {
            let shown: String = (0..9)
                .map(|i| prompt.chars().nth(i).unwrap_or('_'))
                .enumerate()
                .flat_map(|(i, c)| (i > 0 && i % 3 == 0).then_some(' ').into_iter().chain([c]))
                .collect();
            let lines = [
                ("TETHER", TEXT),
                ("Type the session code, then Enter:", TEXT),
                (shown.as_str(), TEXT),
                (self.message.as_str(), ERROR),
            ];
            let top = wh.saturating_sub(lines.len() * line_h * 2) / 2;
            for (i, (text, rgb)) in lines.iter().enumerate() {
                let x = ww.saturating_sub(text_width(text, TEXT_SCALE)) / 2;
                draw_text(&mut buf, ww, x, top + i * line_h * 2, TEXT_SCALE, text, *rgb);
            }
        } else if let Some(banner) = &self.banner {
            let top = wh.saturating_sub(line_h + 8);
            if let Some(band) = buf.get_mut(top * ww..) {
                band.fill(0);
            }
            let rgb = if banner.starts_with("ended") { ERROR } else { TEXT };
            draw_text(&mut buf, ww, 8, top + 4, TEXT_SCALE, banner, rgb);
        }
        if self.show_stats && self.prompt.is_none() {
            let lines = overlay_lines(self.stats.as_ref(), &self.pair);
            let width = lines.iter().map(|l| text_width(l, TEXT_SCALE)).max().unwrap_or(0) + 16;
            for y in 0..(lines.len() * line_h + 12).min(wh) {
                if let Some(row) = buf.get_mut(y * ww..y * ww + width.min(ww)) {
                    row.fill(0);
                }
            }
            for (i, line) in lines.iter().enumerate() {
                draw_text(&mut buf, ww, 8, 6 + i * line_h, TEXT_SCALE, line, OVERLAY);
            }
        }
        if let Err(err) = buf.present() {
            tracing::warn!(%err, "window not presented");
        }
    }
}

/// The overlay's lines from the last `stats:` line (`?` before the first, and for the round
/// trip when the network's statistics timed out) and the selected candidate pair. The figures
/// have the line's precision.
fn overlay_lines(stats: Option<&ViewerStats>, pair: &str) -> Vec<String> {
    let field = |show: fn(&ViewerStats) -> Option<String>| {
        stats.and_then(show).unwrap_or_else(|| "?".to_owned())
    };
    vec![
        format!("fps        {}", field(|s| Some(format!("{:.1}", s.fps)))),
        format!("bitrate    {} kbit/s", field(|s| Some(format!("{:.0}", s.kbps)))),
        format!("rtt        {} ms", field(|s| s.network.map(|n| format!("{:.1}", n.rtt_ms)))),
        format!("decode     {} ms", field(|s| Some(format!("{:.2}", s.decode_ms)))),
        format!("resolution {}", field(|s| Some(format!("{}x{}", s.width, s.height)))),
        format!("ice        {pair}"),
    ]
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
mod tests {
    use super::*;
    use tether_media::telemetry::NetworkStats;

    #[test]
    fn the_overlay_reads_the_stats_line() {
        let stats = ViewerStats {
            fps: 29.8,
            kbps: 1200.0,
            decode_ms: 1.25,
            frames: 9,
            width: 1280,
            height: 720,
            network: Some(NetworkStats { packets: 3, rtt_ms: 0.4, ..NetworkStats::default() }),
            ..ViewerStats::default()
        };
        let lines = overlay_lines(Some(&stats), "host 127.0.0.1:1 -> host 127.0.0.1:2");
        assert_eq!(lines[0], "fps        29.8");
        assert_eq!(lines[1], "bitrate    1200 kbit/s");
        assert_eq!(lines[2], "rtt        0.4 ms");
        assert_eq!(lines[3], "decode     1.25 ms");
        assert_eq!(lines[4], "resolution 1280x720");
        assert!(lines[5].ends_with("-> host 127.0.0.1:2"));
        assert_eq!(overlay_lines(None, "")[0], "fps        ?");
        let timed_out = ViewerStats { network: None, ..stats };
        assert_eq!(overlay_lines(Some(&timed_out), "")[2], "rtt        ? ms");
    }
}
