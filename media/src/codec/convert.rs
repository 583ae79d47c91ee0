//! Colour conversion between captured BGRA, the I420 planes openh264 encodes, and RGBA for
//! display, with the `yuv` crate's SIMD kernels (about 50 times faster than openh264's own
//! RGB→YUV path at 1080p).
//!
//! Both directions use BT.601 limited range: that is what openh264's encoder assumes, what the
//! encoder's VUI signals to browsers, and what its decoder-side converters use.

use yuv::{
    BufferStoreMut, YuvConversionMode, YuvError, YuvPlanarImage, YuvPlanarImageMut, YuvRange,
    YuvStandardMatrix,
};

const RANGE: YuvRange = YuvRange::Limited;
const MATRIX: YuvStandardMatrix = YuvStandardMatrix::Bt601;

/// Why a conversion was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The picture has no pixels left after cropping to even dimensions.
    #[error("picture of {width}x{height} is too small (needs at least 2x2)")]
    TooSmall {
        /// Width as given.
        width: u32,
        /// Height as given.
        height: u32,
    },
    /// A source row is shorter than the picture width.
    #[error("stride of {stride} bytes is shorter than a row of {width} pixels")]
    Stride {
        /// Row stride in bytes.
        stride: usize,
        /// Picture width in pixels.
        width: u32,
    },
    /// A buffer is shorter than its dimensions need.
    #[error("{what} buffer holds {got} bytes, needs {need}")]
    Short {
        /// Which buffer.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// The dimensions overflow the address space.
    #[error("picture dimensions overflow")]
    Overflow,
    /// The `yuv` crate refused the planes.
    #[error("colour conversion failed: {0}")]
    Yuv(#[from] YuvError),
}

/// An I420 (YUV 4:2:0 planar) picture with tightly packed planes: the Y stride is `width`, the
/// U and V strides are `width / 2`. Both dimensions are even.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct I420Frame {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Luma, `width * height` bytes.
    pub y: Vec<u8>,
    /// Blue-difference chroma, `width/2 * height/2` bytes.
    pub u: Vec<u8>,
    /// Red-difference chroma, `width/2 * height/2` bytes.
    pub v: Vec<u8>,
}

impl I420Frame {
    /// A black picture; odd dimensions are cropped by one pixel, because 4:2:0 chroma covers
    /// 2x2 blocks and openh264 refuses odd sizes.
    pub fn new(width: u32, height: u32) -> Self {
        let mut frame = Self::default();
        frame.resize(width & !1, height & !1);
        frame
    }

    /// Whether the plane lengths match the dimensions (the fields are public).
    pub fn is_consistent(&self) -> bool {
        let (w, h) = (self.width as usize, self.height as usize);
        self.width % 2 == 0
            && self.height % 2 == 0
            && self.y.len() == w * h
            && self.u.len() == (w / 2) * (h / 2)
            && self.v.len() == (w / 2) * (h / 2)
    }

    /// A borrowed view for [`i420_to_rgba`].
    pub fn view(&self) -> I420View<'_> {
        I420View {
            width: self.width,
            height: self.height,
            y: &self.y,
            y_stride: self.width as usize,
            u: &self.u,
            v: &self.v,
            uv_stride: (self.width / 2) as usize,
        }
    }

    /// Sets even dimensions, reallocating only when they change. Black after a change.
    pub(crate) fn resize(&mut self, width: u32, height: u32) {
        if (self.width, self.height) == (width, height) && self.is_consistent() {
            return;
        }
        let (w, h) = (width as usize, height as usize);
        self.width = width;
        self.height = height;
        // Limited-range black, so a frame that is never filled encodes as black, not green.
        self.y = vec![16; w * h];
        self.u = vec![128; (w / 2) * (h / 2)];
        self.v = vec![128; (w / 2) * (h / 2)];
    }
}

/// Borrowed I420 planes with arbitrary strides, as a decoder hands them out. Any dimensions;
/// chroma planes cover `ceil(width/2) x ceil(height/2)`.
#[derive(Debug, Clone, Copy)]
pub struct I420View<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Luma plane.
    pub y: &'a [u8],
    /// Bytes per luma row.
    pub y_stride: usize,
    /// U plane.
    pub u: &'a [u8],
    /// V plane.
    pub v: &'a [u8],
    /// Bytes per chroma row (U and V share it).
    pub uv_stride: usize,
}

/// Converts a BGRA (or BGRX) capture to I420, cropping an odd width or height by one pixel.
///
/// `stride_bytes` is the length of one source row including padding. `dst` keeps its buffers
/// unless the (cropped) size changed.
pub fn bgra_to_i420(
    src: &[u8],
    width: u32,
    height: u32,
    stride_bytes: usize,
    dst: &mut I420Frame,
) -> Result<(), ConvertError> {
    let (even_w, even_h) = (width & !1, height & !1);
    if even_w == 0 || even_h == 0 {
        return Err(ConvertError::TooSmall { width, height });
    }
    let row = (width as usize).checked_mul(4).ok_or(ConvertError::Overflow)?;
    if stride_bytes < row {
        return Err(ConvertError::Stride { stride: stride_bytes, width });
    }
    let need = stride_bytes
        .checked_mul(height as usize - 1)
        .and_then(|n| n.checked_add(row))
        .ok_or(ConvertError::Overflow)?;
    if src.len() < need {
        return Err(ConvertError::Short { what: "BGRA", need, got: src.len() });
    }
    let stride = u32::try_from(stride_bytes).map_err(|_| ConvertError::Overflow)?;
    dst.resize(even_w, even_h);
    let mut planes = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(&mut dst.y),
        y_stride: even_w,
        u_plane: BufferStoreMut::Borrowed(&mut dst.u),
        u_stride: even_w / 2,
        v_plane: BufferStoreMut::Borrowed(&mut dst.v),
        v_stride: even_w / 2,
        width: even_w,
        height: even_h,
    };
    // Cropping is free: the converter reads the first even_w pixels of the first even_h rows.
    yuv::bgra_to_yuv420(&mut planes, src, stride, RANGE, MATRIX, YuvConversionMode::Balanced)?;
    Ok(())
}

/// Converts I420 planes to tightly packed RGBA (alpha 255), resizing `dst` to
/// `width * height * 4` (no reallocation when the size is unchanged).
pub fn i420_to_rgba(src: &I420View<'_>, dst: &mut Vec<u8>) -> Result<(), ConvertError> {
    to_packed(src, dst, yuv::yuv420_to_rgba)
}

/// Like [`i420_to_rgba`] but in BGRA byte order, which is a little-endian `0xAARRGGBB` `u32`
/// framebuffer as window toolkits want it.
pub fn i420_to_bgra(src: &I420View<'_>, dst: &mut Vec<u8>) -> Result<(), ConvertError> {
    to_packed(src, dst, yuv::yuv420_to_bgra)
}

type PackedConverter =
    fn(&YuvPlanarImage<u8>, &mut [u8], u32, YuvRange, YuvStandardMatrix) -> Result<(), YuvError>;

fn to_packed(
    src: &I420View<'_>,
    dst: &mut Vec<u8>,
    convert: PackedConverter,
) -> Result<(), ConvertError> {
    if src.width == 0 || src.height == 0 {
        return Err(ConvertError::TooSmall { width: src.width, height: src.height });
    }
    let row = (src.width as usize).checked_mul(4).ok_or(ConvertError::Overflow)?;
    let len = row.checked_mul(src.height as usize).ok_or(ConvertError::Overflow)?;
    let planes = YuvPlanarImage {
        y_plane: src.y,
        y_stride: u32::try_from(src.y_stride).map_err(|_| ConvertError::Overflow)?,
        u_plane: src.u,
        u_stride: u32::try_from(src.uv_stride).map_err(|_| ConvertError::Overflow)?,
        v_plane: src.v,
        v_stride: u32::try_from(src.uv_stride).map_err(|_| ConvertError::Overflow)?,
        width: src.width,
        height: src.height,
    };
    // The yuv crate checks every plane against the strides and returns an error, never panics.
    planes.check_constraints(yuv::YuvChromaSubsampling::Yuv420)?;
    dst.resize(len, 0);
    let stride = u32::try_from(row).map_err(|_| ConvertError::Overflow)?;
    convert(&planes, dst, stride, RANGE, MATRIX)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Textbook BT.601 limited-range conversion in floating point.
    fn reference_yuv(r: u8, g: u8, b: u8) -> (f64, f64, f64) {
        let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
        let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
        let u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
        let v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
        (y, u, v)
    }

    const COLOURS: [(u8, u8, u8); 8] = [
        (0, 0, 0),
        (255, 255, 255),
        (255, 0, 0),
        (0, 255, 0),
        (0, 0, 255),
        (128, 128, 128),
        (200, 120, 40),
        (30, 160, 220),
    ];

    fn solid_bgra(w: u32, h: u32, stride: usize, (r, g, b): (u8, u8, u8)) -> Vec<u8> {
        let mut v = vec![0xEE; stride * h as usize];
        for row in v.chunks_mut(stride) {
            for px in row[..w as usize * 4].chunks_mut(4) {
                px.copy_from_slice(&[b, g, r, 255]);
            }
        }
        v
    }

    fn near(got: u8, want: f64) -> bool {
        (f64::from(got) - want).abs() <= 2.0
    }

    #[test]
    fn bgra_to_i420_matches_scalar_reference() {
        let mut dst = I420Frame::default();
        for colour in COLOURS {
            // 34 wide with a padded stride exercises the SIMD body and the scalar tail.
            let src = solid_bgra(34, 6, 34 * 4 + 12, colour);
            bgra_to_i420(&src, 34, 6, 34 * 4 + 12, &mut dst).unwrap();
            let (y, u, v) = reference_yuv(colour.0, colour.1, colour.2);
            assert!(dst.y.iter().all(|&p| near(p, y)), "{colour:?} Y {}", dst.y[0]);
            assert!(dst.u.iter().all(|&p| near(p, u)), "{colour:?} U {}", dst.u[0]);
            assert!(dst.v.iter().all(|&p| near(p, v)), "{colour:?} V {}", dst.v[0]);
        }
    }

    #[test]
    fn round_trip_through_rgba_is_close() {
        let mut yuv = I420Frame::default();
        let mut rgba = Vec::new();
        for colour in COLOURS {
            let src = solid_bgra(16, 4, 64, colour);
            bgra_to_i420(&src, 16, 4, 64, &mut yuv).unwrap();
            i420_to_rgba(&yuv.view(), &mut rgba).unwrap();
            let px = &rgba[..4];
            let want = [colour.0, colour.1, colour.2, 255];
            for (got, want) in px.iter().zip(want) {
                assert!(got.abs_diff(want) <= 3, "{colour:?} -> {px:?}");
            }
            let mut bgra = Vec::new();
            i420_to_bgra(&yuv.view(), &mut bgra).unwrap();
            assert_eq!(bgra[..3], [px[2], px[1], px[0]]);
        }
    }

    #[test]
    fn odd_sizes_are_cropped_and_buffers_reused() {
        let src = solid_bgra(33, 7, 33 * 4, (10, 20, 30));
        let mut dst = I420Frame::new(33, 7);
        assert_eq!((dst.width, dst.height), (32, 6));
        let y_ptr = dst.y.as_ptr();
        bgra_to_i420(&src, 33, 7, 33 * 4, &mut dst).unwrap();
        assert!(dst.is_consistent());
        assert_eq!(dst.y.as_ptr(), y_ptr, "same size must not reallocate");
        let src = solid_bgra(64, 8, 256, (10, 20, 30));
        bgra_to_i420(&src, 64, 8, 256, &mut dst).unwrap();
        assert_eq!((dst.width, dst.height, dst.y.len()), (64, 8, 512));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut dst = I420Frame::default();
        let src = solid_bgra(16, 4, 64, (1, 2, 3));
        assert!(matches!(
            bgra_to_i420(&src[..src.len() - 1], 16, 4, 64, &mut dst),
            Err(ConvertError::Short { .. })
        ));
        assert!(matches!(
            bgra_to_i420(&src, 16, 4, 60, &mut dst),
            Err(ConvertError::Stride { .. })
        ));
        assert!(matches!(
            bgra_to_i420(&src, 1, 4, 64, &mut dst),
            Err(ConvertError::TooSmall { .. })
        ));
        assert!(bgra_to_i420(&src, u32::MAX, u32::MAX, usize::MAX, &mut dst).is_err());
        let mut rgba = Vec::new();
        let view = I420View {
            width: 16,
            height: 4,
            y: &[0; 63],
            y_stride: 16,
            u: &[0; 16],
            v: &[0; 16],
            uv_stride: 8,
        };
        assert!(i420_to_rgba(&view, &mut rgba).is_err());
        let broken = I420Frame { width: 16, height: 4, y: vec![0; 64], u: vec![], v: vec![] };
        assert!(!broken.is_consistent());
        assert!(i420_to_rgba(&broken.view(), &mut rgba).is_err());
    }

    #[test]
    fn odd_view_sizes_convert() {
        // A cropped decoder output can be odd: chroma covers ceil(w/2) x ceil(h/2).
        let (y, u) = (vec![128u8; 40 * 5], vec![128u8; 20 * 3]);
        let view =
            I420View { width: 33, height: 5, y: &y, y_stride: 40, u: &u, v: &u, uv_stride: 20 };
        let mut rgba = Vec::new();
        i420_to_rgba(&view, &mut rgba).unwrap();
        assert_eq!(rgba.len(), 33 * 5 * 4);
    }
}
