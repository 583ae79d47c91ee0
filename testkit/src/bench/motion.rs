//! The painter thread: full-screen motion and the latency probe, every few milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use tether_media::probe::ProbeLayout;
use tether_testkit::paint::{FilledRect, Painter};

/// Width of one vertical bar.
const BAR: u32 = 120;
/// How far the bars move each tick.
const STEP: u32 = 4;
/// Mid-level colours: nothing pure black or white, so nothing looks like a probe block.
const COLOURS: [u32; 8] =
    [0xc0c0c0, 0xc0c000, 0x00c0c0, 0x00a000, 0xc000c0, 0xc00000, 0x0000c0, 0x505050];

/// Tenths of a millisecond of the wall clock, modulo 2^32: the probe's unit, computed exactly
/// as the viewer's `decode::tenths_ms` does.
pub fn tenths_ms(at: SystemTime) -> u32 {
    let micros = at.duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    (micros / 100) as u32
}

/// Vertical colour bars over a `width` x `height` screen, moved right by `shift` pixels,
/// leaving out the probe's `probe_w` x `probe_h` corner at the top left (only the probe paints
/// there, so a capture between the two paints never shows bars where the probe is read).
/// Sorted by colour so that `Painter::fill_rects` sends one request per colour.
pub fn bar_rects(width: u32, height: u32, shift: u32, probe: (u32, u32)) -> Vec<FilledRect> {
    let period = BAR * COLOURS.len() as u32;
    let shift = shift % period;
    let (pw, ph) = (probe.0.min(width), probe.1.min(height));
    let mut rects = Vec::new();
    // Bar i covers [i * BAR + shift - period, ...): start one period to the left so the screen's
    // left edge is always covered.
    let bars = (width + 2 * period) / BAR + 1;
    for i in 0..bars {
        let x0 = i64::from(i * BAR + shift) - i64::from(period);
        let x1 = x0 + i64::from(BAR);
        let (x0, x1) = (x0.clamp(0, width.into()) as u32, x1.clamp(0, width.into()) as u32);
        if x0 >= x1 {
            continue;
        }
        let rgb = COLOURS[i as usize % COLOURS.len()];
        let mut push = |x: u32, w: u32, y: u32| {
            if w > 0 && y < height {
                rects.push(FilledRect { x, y, w, h: height - y, rgb });
            }
        };
        // Left of the probe's right edge the bar starts below the probe.
        let split = x1.min(pw).max(x0);
        push(x0, split - x0, ph);
        push(split, x1 - split, 0);
    }
    rects.sort_by_key(|r| r.rgb);
    rects
}

/// [`BUSY_SQUARES`] squares at places and in colours that change every tick, below the probe's
/// rows.
fn busy_squares(width: u32, height: u32, tick: u64, probe: (u32, u32)) -> Vec<FilledRect> {
    let mut state = (tick as u32).wrapping_mul(0x9e37_79b9) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let top = probe.1 + 1;
    if width <= BUSY_SIDE || height <= top + BUSY_SIDE {
        return Vec::new();
    }
    (0..BUSY_SQUARES)
        .map(|_| FilledRect {
            x: next() % (width - BUSY_SIDE),
            y: top + next() % (height - top - BUSY_SIDE),
            w: BUSY_SIDE,
            h: BUSY_SIDE,
            // Mid-level colours only: nothing black or white, as for the bars.
            rgb: 0x303030 + (next() & 0x8f8f8f),
        })
        .collect()
}

/// How the painter kept up.
#[derive(Debug, Default)]
pub struct PaintStats {
    pub ticks: u64,
    /// Ticks that started later than planned (the X server or the CPU could not keep up).
    pub late: u64,
    pub paint_us: u64,
    pub seconds: f64,
}

/// Paints every `interval` on its own X connection until stopped or dropped.
pub struct PaintLoop {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<PaintStats>>>,
}

/// What the painter draws each tick besides the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Nothing,
    /// The moving bars: cheap to encode (most macroblocks move as a whole).
    Bars,
    /// The bars plus squares of new colours all over the screen: a stream that wants several
    /// Mbit/s, for the link lab.
    Busy,
}

/// Squares of [`Content::Busy`] per tick, and their side.
const BUSY_SQUARES: u32 = 400;
const BUSY_SIDE: u32 = 24;

impl PaintLoop {
    /// `motion`: bars plus probe each tick; otherwise the probe alone.
    pub fn start(
        display: &str,
        size: (u32, u32),
        interval: Duration,
        motion: bool,
    ) -> Result<Self> {
        let content = if motion { Content::Bars } else { Content::Nothing };
        Self::spawn(display, size, interval, content)
    }

    /// Bars, busy squares and the probe each tick.
    pub fn busy(display: &str, size: (u32, u32), interval: Duration) -> Result<Self> {
        Self::spawn(display, size, interval, Content::Busy)
    }

    fn spawn(
        display: &str,
        size: (u32, u32),
        interval: Duration,
        content: Content,
    ) -> Result<Self> {
        let painter = Painter::connect(display)?;
        let layout = ProbeLayout::default();
        ensure!(layout.fits(size.0, size.1), "the probe does not fit {}x{}", size.0, size.1);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("bench-painter".into())
            .spawn({
                let stop = stop.clone();
                move || paint_loop(&painter, size, interval, content, &layout, &stop)
            })
            .context("cannot start the painter thread")?;
        Ok(PaintLoop { stop, thread: Some(thread) })
    }

    pub fn stop(mut self) -> Result<PaintStats> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => anyhow::bail!("the painter thread panicked"),
            None => Ok(PaintStats::default()),
        }
    }
}

impl Drop for PaintLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn paint_loop(
    painter: &Painter,
    (width, height): (u32, u32),
    interval: Duration,
    content: Content,
    layout: &ProbeLayout,
    stop: &AtomicBool,
) -> Result<PaintStats> {
    let mut stats = PaintStats::default();
    let started = Instant::now();
    let mut next = started;
    while !stop.load(Ordering::Relaxed) {
        let paint_started = Instant::now();
        if content != Content::Nothing {
            let period = u64::from(BAR) * COLOURS.len() as u64;
            let shift = (stats.ticks.wrapping_mul(STEP.into()) % period) as u32;
            let mut rects = bar_rects(width, height, shift, layout.size());
            if content == Content::Busy {
                rects.extend(busy_squares(width, height, stats.ticks, layout.size()));
            }
            painter.fill_rects(&rects)?;
        }
        // After the motion: a frame that shows this time also shows the motion before it.
        painter.paint_probe(tenths_ms(SystemTime::now()), layout)?;
        stats.paint_us += paint_started.elapsed().as_micros() as u64;
        stats.ticks += 1;
        next += interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            stats.late += 1;
            next = now;
        }
    }
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_testkit::paint::RgbaImage;

    #[test]
    fn bars_cover_everything_but_the_probe_corner_at_every_shift() {
        let (w, h, probe) = (1000, 300, (544, 32));
        for shift in [0, 1, 4, 119, 120, 500, 959, 960, 12_345] {
            let mut image = RgbaImage::new(w, h, 0x123456);
            let rects = bar_rects(w, h, shift, probe);
            rects.iter().for_each(|r| image.fill(r));
            assert!(rects.iter().all(|r| r.x + r.w <= w && r.y + r.h <= h));
            for (x, y) in [(0, 40), (999, 0), (999, 299), (543, 32), (544, 0), (600, 10)] {
                assert_ne!(image.pixel(x, y), Some([0x12, 0x34, 0x56, 255]), "{shift}: {x},{y}");
            }
            for (x, y) in [(0, 0), (543, 31), (300, 16)] {
                assert_eq!(image.pixel(x, y), Some([0x12, 0x34, 0x56, 255]), "{shift}: {x},{y}");
            }
            assert!(rects.windows(2).all(|p| p[0].rgb <= p[1].rgb), "sorted by colour");
        }
        assert_ne!(bar_rects(w, h, 0, probe), bar_rects(w, h, STEP, probe), "bars move");
    }

    #[test]
    fn tenths_ms_matches_the_viewer() {
        let at = UNIX_EPOCH + Duration::from_micros(1_764_000_000_123_456);
        assert_eq!(tenths_ms(at), (17_640_000_001_234u64 % (1 << 32)) as u32);
    }
}
