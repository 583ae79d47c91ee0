//! The screen as an I420 picture kept between frames: only the parts of a frame that changed
//! are converted into it.

use tether_media::codec::{ConvertError, I420Frame, PixelRect, bgra_to_i420, bgra_to_i420_region};

use super::CapturedFrame;

/// Converts the `changes` of `frame` into `picture`, or all of it when the size changed.
pub fn update_picture(
    frame: &CapturedFrame<'_>,
    changes: &[PixelRect],
    picture: &mut I420Frame,
) -> Result<(), ConvertError> {
    let (width, height, stride) = (frame.width, frame.height, frame.stride);
    if (picture.width, picture.height) != (width & !1, height & !1) || !picture.is_consistent() {
        return bgra_to_i420(frame.data, width, height, stride, picture);
    }
    changes.iter().try_for_each(|&rect| bgra_to_i420_region(frame.data, stride, rect, picture))
}

/// Copies `src` into `dst`, reusing its buffers: the encoder reads `dst` while the next
/// frame's changes go into `src`. A plain copy, at memory speed (3 MB at 1080p).
pub fn copy_picture(src: &I420Frame, dst: &mut I420Frame) {
    (dst.width, dst.height) = (src.width, src.height);
    for (d, s) in [(&mut dst.y, &src.y), (&mut dst.u, &src.u), (&mut dst.v, &src.v)] {
        d.clear();
        d.extend_from_slice(s);
    }
}
