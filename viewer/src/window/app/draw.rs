//! Painting the window: the picture, the code prompt, the state banner and the stats overlay,
//! in software into the softbuffer surface.

use std::num::NonZeroU32;

use tether_media::telemetry::ViewerStats;

use super::super::font::{CELL_H, draw_text, text_width};
use super::super::layout::{blit, place};
use super::{App, BACKGROUND, ERROR, OVERLAY, TEXT, TEXT_SCALE};

impl App {
    pub(super) fn draw(&mut self) {
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
pub(super) fn overlay_lines(stats: Option<&ViewerStats>, pair: &str) -> Vec<String> {
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
