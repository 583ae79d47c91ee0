//! Exact frame comparison: which parts of a captured frame differ from the last capture.

use tether_media::codec::PixelRect;

use super::CapturedFrame;

/// Tells which parts of a frame differ from the frames it was shown before.
///
/// It keeps a packed copy of the screen and compares row by row (`==`, i.e. memcmp) and copies
/// only rows that differ. When the frame says where it may have changed (X DAMAGE rectangles),
/// only those rectangles are compared and copied, so a small change costs a small fraction of
/// a frame; otherwise the whole frame is (1920x1080 on fresh MIT-SHM frames, 2-core VM, thread
/// CPU time: 0.6-1.3 ms unchanged, 0.7-1.7 ms changed).
///
/// Every captured frame must be shown to it (the copy then always equals the last capture,
/// which is what DAMAGE rectangles are relative to).
#[derive(Debug, Default)]
pub struct ChangeDetector {
    size: (u32, u32),
    prev: Vec<u8>,
    changes: Vec<PixelRect>,
}

impl ChangeDetector {
    /// True for the first frame, after a size change, and whenever any pixel differs from the
    /// last frame.
    #[cfg(test)]
    pub fn changed(&mut self, frame: &CapturedFrame<'_>) -> bool {
        self.changes(frame).is_some()
    }

    /// The regions that differ from the last frame (each the rows that differ within one
    /// damaged rectangle, or within the whole frame), or `None` if nothing does. The first
    /// frame and a frame of a new size come back as one rectangle covering it.
    pub fn changes(&mut self, frame: &CapturedFrame<'_>) -> Option<&[PixelRect]> {
        let row_bytes = frame.row_bytes();
        let full = row_bytes * frame.height as usize;
        let whole = PixelRect { x: 0, y: 0, width: frame.width, height: frame.height };
        self.changes.clear();
        if (frame.width, frame.height) != self.size || self.prev.len() != full || row_bytes == 0 {
            self.size = (frame.width, frame.height);
            self.prev.clear();
            frame.rows().for_each(|row| self.prev.extend_from_slice(row));
            self.changes.push(whole);
            return Some(&self.changes);
        }
        match frame.damage {
            None => self.compare(frame, whole),
            Some(damage) => {
                for &rect in damage {
                    self.compare(frame, rect);
                }
            }
        }
        (!self.changes.is_empty()).then_some(&self.changes)
    }

    /// Compares `rect` (clipped to the frame) and copies the rows that differ, from the first
    /// to the last, into the kept copy; records them as a change.
    fn compare(&mut self, frame: &CapturedFrame<'_>, rect: PixelRect) {
        let (x0, y0) = (rect.x.min(frame.width), rect.y.min(frame.height));
        let x1 = rect.x.saturating_add(rect.width).min(frame.width);
        let y1 = rect.y.saturating_add(rect.height).min(frame.height);
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        let (row_bytes, columns) = (frame.row_bytes(), x0 as usize * 4..x1 as usize * 4);
        let pairs = || {
            let prev_rows = self.prev.chunks_exact(row_bytes);
            frame.rows().zip(prev_rows).enumerate().take(y1 as usize).skip(y0 as usize)
        };
        let differs = |(_, (new, old)): &(usize, (&[u8], &[u8]))| {
            new[columns.clone()] != old[columns.clone()]
        };
        let Some(first) = pairs().find(differs).map(|(y, _)| y) else { return };
        let last = pairs().filter(differs).last().map_or(first, |(y, _)| y);
        let rows = self.prev.chunks_exact_mut(row_bytes).zip(frame.rows());
        for (old, new) in rows.take(last + 1).skip(first) {
            old[columns.clone()].copy_from_slice(&new[columns.clone()]);
        }
        let (y, height) = (first as u32, (last - first + 1) as u32);
        self.changes.push(PixelRect { x: x0, y, width: x1 - x0, height });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn frame(width: u32, height: u32, stride: usize, data: &[u8]) -> CapturedFrame<'_> {
        CapturedFrame { width, height, stride, data, captured_at: Instant::now(), damage: None }
    }

    #[test]
    fn change_detector_sees_one_pixel() {
        let mut data = vec![7u8; 64 * 4 * 48];
        let mut detector = ChangeDetector::default();
        assert!(detector.changed(&frame(64, 48, 256, &data)), "first frame counts as changed");
        assert!(!detector.changed(&frame(64, 48, 256, &data)));
        data[256 * 47 + 255] = 8; // last byte of the last row
        assert!(detector.changed(&frame(64, 48, 256, &data)));
        assert!(!detector.changed(&frame(64, 48, 256, &data)), "the copy was updated");
        data[0] = 9;
        data[256 * 20] = 9;
        assert!(detector.changed(&frame(64, 48, 256, &data)));
        assert!(!detector.changed(&frame(64, 48, 256, &data)));
    }

    #[test]
    fn change_detector_ignores_stride_padding_and_sees_size_changes() {
        let mut data = vec![1u8; 40 * 10];
        let mut detector = ChangeDetector::default();
        assert!(detector.changed(&frame(8, 10, 40, &data)));
        for row in data.chunks_exact_mut(40) {
            row[32..].fill(0xee); // padding only
        }
        assert!(!detector.changed(&frame(8, 10, 40, &data)));
        assert!(detector.changed(&frame(10, 8, 40, &data)), "same bytes, new shape");
        assert!(detector.changed(&frame(0, 0, 0, &[])));
        assert!(detector.changed(&frame(0, 0, 0, &[])), "an empty frame never compares equal");
    }

    #[test]
    fn changes_are_the_differing_rows_of_each_damaged_rect() {
        let rect = |x, y, width, height| PixelRect { x, y, width, height };
        let mut data = vec![0u8; 64 * 4 * 48];
        let mut detector = ChangeDetector::default();
        let whole = detector.changes(&frame(64, 48, 256, &data)).map(<[_]>::to_vec);
        assert_eq!(whole, Some(vec![rect(0, 0, 64, 48)]));
        data[256 * 10 + 4 * 5] = 1; // pixel (5, 10)
        data[256 * 12 + 4 * 40] = 1; // pixel (40, 12)
        let all = detector.changes(&frame(64, 48, 256, &data)).map(<[_]>::to_vec);
        assert_eq!(all, Some(vec![rect(0, 10, 64, 3)]), "no damage: rows of the whole width");
        data[256 * 30 + 4 * 5] = 2;
        data[256 * 33 + 4 * 6] = 2;
        data[256 * 20 + 4 * 50] = 2; // drawn, but outside the damage: not looked at
        let damage = [rect(0, 28, 16, 10), rect(60, 0, 100, 100), rect(64, 0, 1, 1)];
        let mut damaged = frame(64, 48, 256, &data);
        damaged.damage = Some(&damage);
        let changes = detector.changes(&damaged).map(<[_]>::to_vec);
        assert_eq!(changes, Some(vec![rect(0, 30, 16, 4)]), "clipped, unchanged ones dropped");
        assert!(detector.changes(&damaged).is_none(), "the copy was updated");
        assert!(detector.changed(&frame(64, 48, 256, &data)), "(50, 20) was not copied");
    }
}
