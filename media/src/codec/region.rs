//! Converting part of a picture: when only a small region of the screen changed, only that
//! region of the I420 picture kept between frames is rewritten.

use yuv::{BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix};

use super::convert::{ConvertError, I420Frame};

/// A rectangle in pixels from the picture's top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PixelRect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl PixelRect {
    /// The rectangle grown to even edges (4:2:0 chroma covers 2x2 blocks, so a region must
    /// own whole blocks) and clipped to a `width` x `height` picture; `None` if nothing is left.
    pub fn to_even_within(self, width: u32, height: u32) -> Option<PixelRect> {
        let (w, h) = (width & !1, height & !1);
        let x0 = (self.x & !1).min(w);
        let y0 = (self.y & !1).min(h);
        let x1 = self.x.saturating_add(self.width).saturating_add(1).min(w) & !1;
        let y1 = self.y.saturating_add(self.height).saturating_add(1).min(h) & !1;
        (x1 > x0 && y1 > y0).then(|| PixelRect { x: x0, y: y0, width: x1 - x0, height: y1 - y0 })
    }
}

/// The part of a `width` x `height` picture that converting `rect` rewrites.
///
/// The `yuv` crate walks whole row pairs of the buffers it is given (`chunks_exact` of two
/// strides), however many rows `height` says, so each buffer is cut to exactly the region's
/// rows. A region on the bottom edge then starts at column 0, or its last row pair would be
/// short in every plane; converting more of the same frame is harmless.
fn converted_area(rect: PixelRect, width: u32, height: u32) -> Option<PixelRect> {
    let r = rect.to_even_within(width, height)?;
    Some(match r.y + r.height == (height & !1) && r.x > 0 {
        true => PixelRect { x: 0, width: r.x + r.width, ..r },
        false => r,
    })
}

/// Converts `rect` of a BGRA (BGRX) picture into the same place of `dst`, which already has
/// the picture's (even) size, e.g. from an earlier [`bgra_to_i420`](super::bgra_to_i420) of a
/// whole frame. The rectangle is grown to even edges and clipped to `dst`. The result is the
/// same as converting the whole picture: the `yuv` crate computes each 2x2 block on its own.
pub fn bgra_to_i420_region(
    src: &[u8],
    stride_bytes: usize,
    rect: PixelRect,
    dst: &mut I420Frame,
) -> Result<(), ConvertError> {
    if !dst.is_consistent() {
        return Err(ConvertError::TooSmall { width: dst.width, height: dst.height });
    }
    let Some(r) = converted_area(rect, dst.width, dst.height) else { return Ok(()) };
    let (full_w, x, y, h) = (dst.width as usize, r.x as usize, r.y as usize, r.height as usize);
    let src_start = y.checked_mul(stride_bytes).and_then(|n| n.checked_add(x * 4));
    let src_end = src_start.and_then(|s| s.checked_add(stride_bytes.checked_mul(h)?));
    let (Some(src_start), Some(src_end)) = (src_start, src_end) else {
        return Err(ConvertError::Overflow);
    };
    if src.len() < src_end || stride_bytes < full_w * 4 {
        return Err(ConvertError::Short { what: "BGRA", need: src_end, got: src.len() });
    }
    let stride = u32::try_from(stride_bytes).map_err(|_| ConvertError::Overflow)?;
    let (luma, chroma) = (y * full_w + x, (y / 2) * (full_w / 2) + x / 2);
    let chroma_len = (full_w / 2) * (h / 2);
    let mut planes = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(&mut dst.y[luma..luma + full_w * h]),
        y_stride: dst.width,
        u_plane: BufferStoreMut::Borrowed(&mut dst.u[chroma..chroma + chroma_len]),
        u_stride: dst.width / 2,
        v_plane: BufferStoreMut::Borrowed(&mut dst.v[chroma..chroma + chroma_len]),
        v_stride: dst.width / 2,
        width: r.width,
        height: r.height,
    };
    let src = &src[src_start..src_end];
    yuv::bgra_to_yuv420(
        &mut planes,
        src,
        stride,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
        YuvConversionMode::Balanced,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::bgra_to_i420;

    /// Noise, so any misplaced byte shows.
    fn noise_bgra(h: u32, stride: usize, seed: u32) -> Vec<u8> {
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        (0..stride * h as usize)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect()
    }

    #[test]
    fn even_rects_grow_and_clip() {
        let r = |x, y, width, height| PixelRect { x, y, width, height };
        assert_eq!(r(3, 5, 4, 1).to_even_within(100, 100), Some(r(2, 4, 6, 2)));
        assert_eq!(r(98, 0, 10, 10).to_even_within(101, 100), Some(r(98, 0, 2, 10)));
        assert_eq!(r(100, 0, 10, 10).to_even_within(101, 100), None);
        assert_eq!(r(0, 0, 0, 0).to_even_within(100, 100), None);
        assert_eq!(r(u32::MAX, 1, u32::MAX, 1).to_even_within(100, 100), None);
    }

    #[test]
    fn regions_give_the_same_picture_as_a_whole_conversion() {
        let (w, h, stride) = (333, 203, 333 * 4 + 8);
        let (old, new) = (noise_bgra(h, stride, 1), noise_bgra(h, stride, 2));
        let mut want = I420Frame::default();
        bgra_to_i420(&new, w, h, stride, &mut want).unwrap();
        let mut got = I420Frame::default();
        bgra_to_i420(&old, w, h, stride, &mut got).unwrap();
        // Odd edges, a 1x1, the corners, strips on the right and bottom edges.
        let rects =
            [(0, 0, 1, 1), (5, 7, 31, 17), (301, 1, 32, 150), (0, 190, 333, 9), (100, 199, 9, 4)];
        let mut covered = vec![false; (w * h) as usize];
        for (x, y, width, height) in rects {
            let rect = PixelRect { x, y, width, height };
            bgra_to_i420_region(&new, stride, rect, &mut got).unwrap();
            let r = converted_area(rect, w & !1, h & !1).unwrap();
            for row in r.y..r.y + r.height {
                covered[(row * w + r.x) as usize..][..r.width as usize].fill(true);
            }
        }
        // Inside the rects: exactly the whole conversion; elsewhere: still the old picture.
        let mut old_i420 = I420Frame::default();
        bgra_to_i420(&old, w, h, stride, &mut old_i420).unwrap();
        for (i, (&g, (&n, &o))) in got.y.iter().zip(want.y.iter().zip(&old_i420.y)).enumerate() {
            let (x, y) = (i % (w as usize & !1), i / (w as usize & !1));
            let inside = covered[y * w as usize + x];
            assert_eq!(g, if inside { n } else { o }, "Y at {x},{y} inside={inside}");
        }
        bgra_to_i420_region(&new, stride, PixelRect { x: 0, y: 0, width: w, height: h }, &mut got)
            .unwrap();
        assert_eq!(got, want, "the whole picture as one region");
    }

    #[test]
    fn short_sources_and_unsized_targets_are_errors() {
        let src = noise_bgra(64, 256, 3);
        let mut dst = I420Frame::new(64, 64);
        let rect = PixelRect { x: 10, y: 10, width: 20, height: 20 };
        assert!(bgra_to_i420_region(&src[..1000], 256, rect, &mut dst).is_err());
        assert!(bgra_to_i420_region(&src, 200, rect, &mut dst).is_err());
        let mut broken = I420Frame::new(64, 64);
        broken.u.clear();
        assert!(bgra_to_i420_region(&src, 256, rect, &mut broken).is_err());
    }
}
