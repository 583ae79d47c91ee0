//! The latency probe: a number painted into the screen as black and white blocks.
//!
//! The benchmark paints the wall clock (tenths of a millisecond of `CLOCK_REALTIME`, modulo
//! 2^32, read by the caller) into the agent's screen; the viewer reads it back from each
//! decoded frame, so both ends use the same clock and no clock sync is needed.
//!
//! Pattern: two rows of 34 square blocks. Row 0 holds a guard pair (white, black) and the 32
//! bits, most significant first, white for 1. Row 1 holds the complement of every block above
//! it. A reader accepts the value only if every block is clearly black or white and every
//! column pairs opposite colours, so a read from a picture that was captured mid-paint, torn
//! between the rows, or blurred by the encoder is rejected instead of giving a wrong time.

/// Blocks per row: 2 guard blocks + 32 bits.
const COLUMNS: u32 = 34;
/// Blocks before the first bit.
const GUARD: u32 = 2;
/// A block is white or black only if its sampled brightness is this far from mid-grey.
const MARGIN: u32 = 48;

/// Where the pattern sits on the screen and how big its blocks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeLayout {
    /// Left edge in pixels.
    pub x: u32,
    /// Top edge in pixels.
    pub y: u32,
    /// Side of one square block in pixels. 16 survives H.264 at usual bitrates; aligning
    /// `x`, `y` and `block` to 16 (the macroblock size) keeps edges sharpest.
    pub block: u32,
}

impl Default for ProbeLayout {
    fn default() -> Self {
        Self { x: 0, y: 0, block: 16 }
    }
}

impl ProbeLayout {
    /// Width and height of the whole pattern in pixels (saturating).
    pub fn size(&self) -> (u32, u32) {
        (self.block.saturating_mul(COLUMNS), self.block.saturating_mul(2))
    }

    /// Whether the pattern fits inside a `width` x `height` picture.
    pub fn fits(&self, width: u32, height: u32) -> bool {
        let (w, h) = self.size();
        self.block > 0
            && self.x.checked_add(w).is_some_and(|r| r <= width)
            && self.y.checked_add(h).is_some_and(|b| b <= height)
    }
}

/// Colour of the block in `column` of `row` (0 or 1) for `value`: true is white.
fn cell(value: u32, row: u32, column: u32) -> bool {
    let top = if column < GUARD { column == 0 } else { (value >> (COLUMNS - 1 - column)) & 1 == 1 };
    top != (row == 1)
}

/// The blocks to paint for `value` as `(x, y, width, height, white)`.
///
/// Paint them in this order (row 0 left to right, then row 1): a capture taken while the
/// painter is part-way through then reads as the old value, the new value, or nothing, never
/// a mix. Blocks beyond `u32` coordinates are left out.
pub fn probe_rects(value: u32, layout: &ProbeLayout) -> Vec<(u32, u32, u32, u32, bool)> {
    let b = layout.block;
    (0..2)
        .flat_map(|row| (0..COLUMNS).map(move |column| (row, column)))
        .filter_map(|(row, column)| {
            let x = layout.x.checked_add(column.checked_mul(b)?)?;
            let y = layout.y.checked_add(row * b)?;
            Some((x, y, b, b, cell(value, row, column)))
        })
        .collect()
}

/// Paints the pattern into a tightly packed RGBA picture, clipped to the picture (for tests
/// and synthetic sources).
pub fn paint_rgba(value: u32, layout: &ProbeLayout, rgba: &mut [u8], width: u32, height: u32) {
    let (w, h) = (width as usize, height as usize);
    if rgba.len() < w.saturating_mul(h).saturating_mul(4) {
        return;
    }
    for (x, y, bw, bh, white) in probe_rects(value, layout) {
        let level = if white { 255 } else { 0 };
        let (x0, y0) = (x as usize, y as usize);
        let x1 = x0.saturating_add(bw as usize).min(w);
        let y1 = y0.saturating_add(bh as usize).min(h);
        for row in y0..y1 {
            if x0 < x1 {
                for px in rgba[(row * w + x0) * 4..(row * w + x1) * 4].chunks_exact_mut(4) {
                    px.copy_from_slice(&[level, level, level, 255]);
                }
            }
        }
    }
}

/// Reads the value back from a tightly packed RGBA picture, or `None` if the pattern is not
/// there, does not fit, or any block is unclear or fails its complement check.
pub fn read_rgba(rgba: &[u8], width: u32, height: u32, layout: &ProbeLayout) -> Option<u32> {
    let (w, h) = (width as usize, height as usize);
    if !layout.fits(width, height) || rgba.len() < w.checked_mul(h)?.checked_mul(4)? {
        return None;
    }
    let b = layout.block;
    // Average a square around the centre spanning half the block, away from edges that the
    // codec smears.
    let reach = b / 4;
    let sample = |row: u32, column: u32| -> Option<bool> {
        let cx = layout.x + column * b + b / 2;
        let cy = layout.y + row * b + b / 2;
        let (mut sum, mut n) = (0u64, 0u64);
        for y in cy - reach..=cy + reach {
            let start = (y as usize * w + (cx - reach) as usize) * 4;
            let end = (y as usize * w + (cx + reach) as usize + 1) * 4;
            for px in rgba.get(start..end)?.chunks_exact(4) {
                sum += u64::from(px[0]) + u64::from(px[1]) + u64::from(px[2]);
                n += 3;
            }
        }
        let level = u32::try_from(sum / n.max(1)).ok()?;
        if level >= 128 + MARGIN {
            Some(true)
        } else if level + MARGIN < 128 {
            Some(false)
        } else {
            None
        }
    };
    let mut value = 0u32;
    for column in 0..COLUMNS {
        let top = sample(0, column)?;
        if sample(1, column)? == top {
            return None;
        }
        if column < GUARD {
            if top != (column == 0) {
                return None;
            }
        } else {
            value = (value << 1) | u32::from(top);
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::{bgra_to_rgba, synthetic_bgra};
    use crate::codec::{
        EncoderSettings, H264Decoder, H264Encoder, I420Frame, VideoEncoder, bgra_to_i420,
    };

    const VALUES: [u32; 6] = [0, u32::MAX, 1, 0x8000_0000, 0xA5A5_5A5A, 123_456_789];

    fn grey(w: u32, h: u32, level: u8) -> Vec<u8> {
        [level, level, level, 255].repeat((w * h) as usize)
    }

    #[test]
    fn paint_then_read_round_trips() {
        let layouts = [
            ProbeLayout::default(),
            ProbeLayout { x: 13, y: 7, block: 8 },
            ProbeLayout { x: 100, y: 50, block: 20 },
            ProbeLayout { x: 0, y: 0, block: 1 },
        ];
        for layout in layouts {
            for value in VALUES {
                let mut rgba = grey(800, 200, 128);
                paint_rgba(value, &layout, &mut rgba, 800, 200);
                assert_eq!(read_rgba(&rgba, 800, 200, &layout), Some(value), "{layout:?}");
            }
        }
    }

    #[test]
    fn rects_cover_the_pattern_row_by_row() {
        let layout = ProbeLayout { x: 10, y: 20, block: 16 };
        let rects = probe_rects(0xFFFF_0000, &layout);
        assert_eq!(rects.len(), 68);
        assert_eq!(rects[0], (10, 20, 16, 16, true));
        assert_eq!(rects[1], (26, 20, 16, 16, false));
        assert_eq!(rects[2], (42, 20, 16, 16, true));
        assert_eq!(rects[33], (10 + 33 * 16, 20, 16, 16, false));
        assert_eq!(rects[34], (10, 36, 16, 16, false));
        assert!(rects[..34].iter().zip(&rects[34..]).all(|(a, b)| a.4 != b.4));
        assert_eq!(layout.size(), (544, 32));
    }

    #[test]
    fn survives_h264_at_720p() {
        let (w, h) = (1280, 720);
        let layouts = [ProbeLayout::default(), ProbeLayout { x: 301, y: 403, block: 16 }];
        let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut yuv = I420Frame::default();
        for (t, value) in VALUES.into_iter().enumerate() {
            let mut bgra = synthetic_bgra(w, h, t as u32);
            for layout in &layouts {
                paint_rgba(value, layout, &mut bgra, w, h); // grey: BGRA == RGBA
            }
            bgra_to_i420(&bgra, w, h, w as usize * 4, &mut yuv).unwrap();
            let frame = enc.encode(&yuv, false).unwrap().unwrap();
            let decoded = dec.decode(&frame.data).unwrap().unwrap();
            for layout in &layouts {
                let read = read_rgba(&decoded.rgba, w, h, layout);
                assert_eq!(read, Some(value), "frame {t} {layout:?}");
            }
        }
    }

    #[test]
    fn half_painted_pattern_is_rejected_or_reads_a_whole_value() {
        let layout = ProbeLayout::default();
        let (old, new) = (0x0F0F_1234, !0x0F0F_1234);
        let rects = probe_rects(new, &layout);
        // Painter interrupted after every possible number of blocks.
        for painted in 0..=rects.len() {
            let mut rgba = grey(600, 40, 128);
            paint_rgba(old, &layout, &mut rgba, 600, 40);
            let mut partial = vec![0u8; rgba.len()];
            paint_rgba(new, &layout, &mut partial, 600, 40);
            for &(x, y, bw, bh, _) in &rects[..painted] {
                for row in y..y + bh {
                    let span = ((row * 600 + x) * 4) as usize..((row * 600 + x + bw) * 4) as usize;
                    rgba[span.clone()].copy_from_slice(&partial[span]);
                }
            }
            let read = read_rgba(&rgba, 600, 40, &layout);
            let whole = match painted {
                0..=2 => Some(old), // the guard blocks are the same for every value
                68 => Some(new),
                _ => None, // every bit differs, so any other partial paint must be caught
            };
            assert_eq!(read, whole, "{painted} blocks painted");
        }
    }

    #[test]
    fn picture_torn_between_scanlines_reads_old_new_or_nothing() {
        let layout = ProbeLayout { x: 4, y: 4, block: 16 };
        let (old, new) = (0xDEAD_BEEF, 0xDEAD_0000);
        let (mut a, mut b) = (grey(600, 40, 128), grey(600, 40, 128));
        paint_rgba(old, &layout, &mut a, 600, 40);
        paint_rgba(new, &layout, &mut b, 600, 40);
        for tear in 0..40 {
            let split = tear * 600 * 4;
            let torn = [&b[..split], &a[split..]].concat();
            let read = read_rgba(&torn, 600, 40, &layout);
            assert!(read.is_none() || read == Some(old) || read == Some(new), "tear {tear}");
        }
    }

    #[test]
    fn missing_blurred_or_misplaced_patterns_are_rejected() {
        let layout = ProbeLayout::default();
        assert_eq!(read_rgba(&grey(640, 64, 128), 640, 64, &layout), None);
        assert_eq!(read_rgba(&grey(640, 64, 255), 640, 64, &layout), None);
        let screen = bgra_to_rgba(&synthetic_bgra(640, 360, 0));
        assert_eq!(read_rgba(&screen, 640, 360, &layout), None);

        let mut rgba = grey(640, 64, 0);
        paint_rgba(42, &layout, &mut rgba, 640, 64);
        let mut blurred = rgba.clone();
        // One block's centre goes mid-grey.
        let (cx, cy) = (20 * 16 + 8, 8usize);
        for y in cy - 4..=cy + 4 {
            for x in cx - 4..=cx + 4 {
                blurred[(y * 640 + x) * 4..][..3].copy_from_slice(&[128, 128, 128]);
            }
        }
        assert_eq!(read_rgba(&blurred, 640, 64, &layout), None);
        // Inverted picture: guards are wrong.
        let inverted: Vec<u8> = rgba.iter().map(|&v| 255 - v).collect();
        assert_eq!(read_rgba(&inverted, 640, 64, &layout), None);
        // Does not fit, short buffer, absurd layout: None, no panic.
        assert_eq!(read_rgba(&rgba, 500, 64, &layout), None);
        assert_eq!(read_rgba(&rgba[..100], 640, 64, &layout), None);
        let huge = ProbeLayout { x: u32::MAX - 5, y: 0, block: u32::MAX };
        assert_eq!(read_rgba(&rgba, 640, 64, &huge), None);
        assert_eq!(read_rgba(&rgba, 640, 64, &ProbeLayout { block: 0, ..layout }), None);
        paint_rgba(1, &huge, &mut rgba, 640, 64);
        paint_rgba(1, &layout, &mut rgba[..10], 640, 64);
        // Clipped painting at the picture's edge does not panic either.
        let mut small = grey(100, 20, 128);
        paint_rgba(7, &layout, &mut small, 100, 20);
    }
}
