//! Halving an I420 picture (each output pixel the mean of a 2x2 block), for a link too slow
//! for the full-size screen.

use super::I420Frame;

/// Writes `src` at half its width and height into `dst` (both even: a side of 2 mod 4 loses
/// one pixel column or row). `dst` keeps its buffers when the size stays.
pub fn half_size(src: &I420Frame, dst: &mut I420Frame) {
    debug_assert!(src.is_consistent());
    let (width, height) = ((src.width / 2) & !1, (src.height / 2) & !1);
    dst.resize(width, height);
    let (sw, w, h) = (src.width as usize, width as usize, height as usize);
    halve_plane(&src.y, sw, &mut dst.y, w, h);
    halve_plane(&src.u, sw / 2, &mut dst.u, w / 2, h / 2);
    halve_plane(&src.v, sw / 2, &mut dst.v, w / 2, h / 2);
}

/// `dst` (`width` x `height`, packed) from the 2x2 blocks of `src` (rows of `src_stride`).
fn halve_plane(src: &[u8], src_stride: usize, dst: &mut [u8], width: usize, height: usize) {
    for (row, out) in dst.chunks_exact_mut(width).take(height).enumerate() {
        let top = &src[2 * row * src_stride..][..2 * width];
        let bottom = &src[(2 * row + 1) * src_stride..][..2 * width];
        for ((out, top), bottom) in
            out.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2))
        {
            let sum =
                u16::from(top[0]) + u16::from(top[1]) + u16::from(bottom[0]) + u16::from(bottom[1]);
            *out = ((sum + 2) / 4) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_output_pixel_is_the_mean_of_its_block() {
        let mut src = I420Frame::new(8, 4);
        src.y = (0..32).map(|i| (i * 8) as u8).collect();
        src.u = vec![10, 20, 30, 40, 50, 60, 70, 80];
        let mut dst = I420Frame::default();
        half_size(&src, &mut dst);
        assert_eq!((dst.width, dst.height), (4, 2));
        assert!(dst.is_consistent());
        // Block (0,0): 0, 8, 64, 72 -> 36.
        assert_eq!(dst.y[0], 36);
        assert_eq!(dst.y[7], ((22 + 23 + 30 + 31) * 8 / 4) as u8);
        assert_eq!(dst.u, vec![(10 + 20 + 50 + 60 + 2) / 4, (30 + 40 + 70 + 80 + 2) / 4]);
    }

    #[test]
    fn a_720p_screen_becomes_640x360_and_1080p_960x540() {
        for ((w, h), half) in
            [((1280, 720), (640, 360)), ((1920, 1080), (960, 540)), ((1366, 768), (682, 384))]
        {
            let mut dst = I420Frame::default();
            half_size(&I420Frame::new(w, h), &mut dst);
            assert_eq!((dst.width, dst.height), half);
            assert!(dst.is_consistent());
            assert!(dst.y.iter().all(|&v| v == 16), "black stays black");
        }
    }
}
