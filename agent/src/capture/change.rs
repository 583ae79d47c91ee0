//! Exact frame comparison: whether a captured frame differs from the last changed one.

use super::CapturedFrame;

/// Tells whether a frame differs from the last one reported as changed.
///
/// It keeps a packed copy of that frame and compares row by row (`==`, i.e. memcmp), stopping at
/// the first differing row and copying only from there on. Measured at 1920x1080 on fresh
/// MIT-SHM frames (2-core VM, thread CPU time): 0.6-1.3 ms unchanged, 0.7-1.7 ms changed; an
/// xxh3 hash of the frame costs 0.6-1.1 ms, saves the 8 MB copy, but is not exact.
#[derive(Debug, Default)]
pub struct ChangeDetector {
    size: (u32, u32),
    prev: Vec<u8>,
}

impl ChangeDetector {
    /// True for the first frame, after a size change, and whenever any pixel differs from the
    /// last changed frame.
    pub fn changed(&mut self, frame: &CapturedFrame<'_>) -> bool {
        let row_bytes = frame.row_bytes();
        let full = row_bytes * frame.height as usize;
        if (frame.width, frame.height) != self.size || self.prev.len() != full || row_bytes == 0 {
            self.size = (frame.width, frame.height);
            self.prev.clear();
            frame.rows().for_each(|row| self.prev.extend_from_slice(row));
            return true;
        }
        let first = frame.rows().zip(self.prev.chunks_exact(row_bytes)).position(|(a, b)| a != b);
        let Some(first) = first else { return false };
        for (dst, src) in self.prev.chunks_exact_mut(row_bytes).zip(frame.rows()).skip(first) {
            dst.copy_from_slice(src);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn frame(width: u32, height: u32, stride: usize, data: &[u8]) -> CapturedFrame<'_> {
        CapturedFrame { width, height, stride, data, captured_at: Instant::now() }
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
}
