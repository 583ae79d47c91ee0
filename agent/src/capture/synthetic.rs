//! Generated frames, for tests and for benchmarks without a screen.

use std::time::Instant;

use super::{CaptureError, CapturedFrame, FrameSource};

/// Largest synthetic frame side; also keeps `width * height * 4` far from overflow.
pub(super) const MAX_SIDE: u32 = 16_384;

/// What a [`SyntheticSource`] shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Motion {
    /// The same frame forever (for "nothing changes" paths).
    Static,
    /// A light grey box bouncing over eight colour bars, a new position each frame.
    MovingBox,
}

/// Deterministic generated frames: eight vertical colour bars and, with [`Motion::MovingBox`],
/// a light grey box (an eighth of each side; not white, so it shows on the white bar) that moves
/// 7 px right and 5 px down per frame, bouncing off the edges.
pub struct SyntheticSource {
    width: u32,
    height: u32,
    motion: Motion,
    frames: u64,
    buf: Vec<u8>,
    /// Where the box was drawn last, to restore the bars there.
    drawn_box: Option<(u32, u32)>,
}

/// BGRX colours of the bars: white, yellow, cyan, green, magenta, red, blue, black.
const BARS: [[u8; 4]; 8] = [
    [0xff, 0xff, 0xff, 0],
    [0x00, 0xff, 0xff, 0],
    [0xff, 0xff, 0x00, 0],
    [0x00, 0xff, 0x00, 0],
    [0xff, 0x00, 0xff, 0],
    [0x00, 0x00, 0xff, 0],
    [0xff, 0x00, 0x00, 0],
    [0x00, 0x00, 0x00, 0],
];
const BOX: [u8; 4] = [0xf0, 0xf0, 0xf0, 0];

impl SyntheticSource {
    pub fn new(width: u32, height: u32, motion: Motion) -> Result<Self, CaptureError> {
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(CaptureError::BadSize { width, height });
        }
        let mut buf = vec![0; width as usize * height as usize * 4];
        for row in buf.chunks_exact_mut(width as usize * 4) {
            for (x, px) in row.chunks_exact_mut(4).enumerate() {
                px.copy_from_slice(&bar_colour(x as u32, width));
            }
        }
        Ok(Self { width, height, motion, frames: 0, buf, drawn_box: None })
    }

    /// The box as (x, y, w, h) in frame `n` (counting from 0).
    pub fn box_rect(&self, n: u64) -> (u32, u32, u32, u32) {
        let (w, h) = ((self.width / 8).max(1), (self.height / 8).max(1));
        (bounce(n * 7, self.width - w), bounce(n * 5, self.height - h), w, h)
    }

    fn paint_box(&mut self, x: u32, y: u32, colour: Option<[u8; 4]>) {
        let (_, _, w, h) = self.box_rect(0);
        let row_bytes = self.width as usize * 4;
        for row in self.buf.chunks_exact_mut(row_bytes).skip(y as usize).take(h as usize) {
            for (i, px) in row.chunks_exact_mut(4).skip(x as usize).take(w as usize).enumerate() {
                px.copy_from_slice(&colour.unwrap_or_else(|| bar_colour(x + i as u32, self.width)));
            }
        }
    }
}

fn bar_colour(x: u32, width: u32) -> [u8; 4] {
    BARS[(u64::from(x) * 8 / u64::from(width)).min(7) as usize]
}

/// `pos` folded into `0..=range`, going back and forth.
fn bounce(pos: u64, range: u32) -> u32 {
    let range = u64::from(range);
    if range == 0 {
        return 0;
    }
    let p = pos % (2 * range);
    (if p <= range { p } else { 2 * range - p }) as u32
}

impl FrameSource for SyntheticSource {
    /// A static picture changes only from nothing to its first frame; a moving box always moves.
    fn may_have_changed(&mut self) -> Result<bool, CaptureError> {
        Ok(self.motion == Motion::MovingBox || self.frames == 0)
    }

    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError> {
        if self.motion == Motion::MovingBox {
            if let Some((x, y)) = self.drawn_box.take() {
                self.paint_box(x, y, None);
            }
            let (x, y, _, _) = self.box_rect(self.frames);
            self.paint_box(x, y, Some(BOX));
            self.drawn_box = Some((x, y));
        }
        self.frames += 1;
        Ok(CapturedFrame {
            width: self.width,
            height: self.height,
            stride: self.width as usize * 4,
            data: &self.buf,
            captured_at: Instant::now(),
            // The whole frame is compared: synthetic sources are for tests and benchmarks.
            damage: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{ChangeDetector, DisplaySpec, open};

    #[test]
    fn synthetic_static_never_changes() {
        let mut source = SyntheticSource::new(64, 32, Motion::Static).unwrap();
        let mut detector = ChangeDetector::default();
        assert!(detector.changed(&source.capture().unwrap()));
        for _ in 0..5 {
            assert!(!detector.changed(&source.capture().unwrap()));
        }
    }

    #[test]
    fn synthetic_box_moves_deterministically() {
        let mut source = SyntheticSource::new(160, 90, Motion::MovingBox).unwrap();
        let mut detector = ChangeDetector::default();
        for n in 0..100 {
            let f = source.capture().unwrap();
            assert_eq!((f.width, f.height, f.stride, f.data.len()), (160, 90, 640, 160 * 90 * 4));
            assert!(detector.changed(&f), "frame {n} moved");
            let (x, y, w, h) =
                SyntheticSource::new(160, 90, Motion::MovingBox).unwrap().box_rect(n);
            assert!(x + w <= 160 && y + h <= 90, "frame {n}: box inside");
            let px = |x: u32, y: u32| &f.data[(y * 640 + x * 4) as usize..][..4];
            assert_eq!(px(x, y), BOX);
            assert_eq!(px(x + w - 1, y + h - 1), BOX);
            if y + h < 90 {
                assert_eq!(px(x, y + h), bar_colour(x, 160), "frame {n}: bars below the box");
            }
        }
        // Bars are restored behind the box: a box-free frame equals a static one.
        let still = SyntheticSource::new(160, 90, Motion::Static).unwrap().buf;
        let (x, y, w, h) = source.box_rect(99);
        let outside = (0..90u32)
            .flat_map(|r| (0..160u32).map(move |c| (c, r)))
            .filter(|&(c, r)| !(x..x + w).contains(&c) || !(y..y + h).contains(&r));
        for (c, r) in outside {
            let i = (r * 640 + c * 4) as usize;
            assert_eq!(source.buf[i..i + 4], still[i..i + 4], "pixel {c},{r}");
        }
    }

    #[test]
    fn synthetic_rejects_bad_sizes() {
        for (w, h) in [(0, 10), (10, 0), (MAX_SIDE + 1, 10)] {
            assert!(matches!(
                open(DisplaySpec::Synthetic { width: w, height: h, motion: Motion::Static }),
                Err(CaptureError::BadSize { .. })
            ));
        }
    }

    #[test]
    fn bounce_folds_back_and_forth() {
        let seq: Vec<u32> = (0..9).map(|p| bounce(p, 3)).collect();
        assert_eq!(seq, [0, 1, 2, 3, 2, 1, 0, 1, 2]);
        assert_eq!(bounce(12345, 0), 0);
    }

    #[test]
    fn synthetic_static_has_changed_only_before_its_first_capture() {
        let mut source = SyntheticSource::new(64, 32, Motion::Static).unwrap();
        assert!(source.may_have_changed().unwrap(), "nothing captured yet");
        assert!(source.may_have_changed().unwrap(), "asking again changes nothing");
        source.capture().unwrap();
        for _ in 0..3 {
            assert!(!source.may_have_changed().unwrap());
            source.capture().unwrap();
        }
    }

    #[test]
    fn synthetic_box_has_always_changed() {
        let mut source = SyntheticSource::new(64, 32, Motion::MovingBox).unwrap();
        for _ in 0..3 {
            assert!(source.may_have_changed().unwrap());
            source.capture().unwrap();
        }
    }
}
