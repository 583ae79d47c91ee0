//! H.264 decoding with openh264 for the viewer. Input comes from the network, so every failure
//! is an error value: nothing here asserts on the decoder's output.

use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

use super::convert::{ConvertError, I420View, i420_to_rgba};

/// Largest access unit accepted; a 4K IDR at high quality is a few MB.
pub const MAX_ACCESS_UNIT_BYTES: usize = 16 * 1024 * 1024;

/// Largest decoded picture side accepted; bounds the RGBA buffer a hostile stream can make us
/// allocate (openh264 itself goes up to level 5.2 sizes).
pub const MAX_DECODED_SIDE: u32 = 4096;

/// A decoded picture in RGBA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes, row after row, alpha 255.
    pub rgba: Vec<u8>,
}

/// Why an access unit did not decode.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The access unit was empty.
    #[error("empty access unit")]
    Empty,
    /// The access unit is larger than [`MAX_ACCESS_UNIT_BYTES`].
    #[error("access unit of {0} bytes is too large")]
    TooLarge(usize),
    /// The stream declares a picture size we refuse.
    #[error("decoded picture size {width}x{height} is not accepted")]
    Size {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// openh264 rejected the bitstream (corrupt data, or a delta frame without its reference:
    /// ask the sender for a keyframe).
    #[error("openh264: {0}")]
    OpenH264(#[from] openh264::Error),
    /// The decoded planes could not be converted.
    #[error(transparent)]
    Convert(#[from] ConvertError),
}

/// openh264's decoder. `Send`, so it can live on the viewer's decode thread.
pub struct H264Decoder {
    decoder: Decoder,
}

impl std::fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Decoder").finish_non_exhaustive()
    }
}

impl H264Decoder {
    /// A decoder waiting for SPS, PPS and an IDR.
    pub fn new() -> Result<Self, DecodeError> {
        Ok(Self { decoder: Decoder::new()? })
    }

    /// Decodes one Annex-B access unit into `out`, reusing its buffer. Returns whether a
    /// picture came out (`false`: the decoder needs more data, e.g. after SPS/PPS alone).
    pub fn decode_into(
        &mut self,
        access_unit: &[u8],
        out: &mut DecodedFrame,
    ) -> Result<bool, DecodeError> {
        let converted = self.decode_yuv(access_unit, |view| {
            i420_to_rgba(&view, &mut out.rgba).map(|()| (view.width, view.height))
        })?;
        match converted {
            Some(result) => {
                (out.width, out.height) = result?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Decodes one access unit into a new [`DecodedFrame`].
    pub fn decode(&mut self, access_unit: &[u8]) -> Result<Option<DecodedFrame>, DecodeError> {
        let mut frame = DecodedFrame::default();
        Ok(self.decode_into(access_unit, &mut frame)?.then_some(frame))
    }

    /// Decodes one access unit and lends the picture's planes to `f` (to convert into another
    /// pixel format, or to compare in YUV) without copying them.
    pub fn decode_yuv<R>(
        &mut self,
        access_unit: &[u8],
        f: impl FnOnce(I420View<'_>) -> R,
    ) -> Result<Option<R>, DecodeError> {
        if access_unit.is_empty() {
            return Err(DecodeError::Empty);
        }
        if access_unit.len() > MAX_ACCESS_UNIT_BYTES {
            return Err(DecodeError::TooLarge(access_unit.len()));
        }
        let Some(yuv) = self.decoder.decode(access_unit)? else {
            return Ok(None);
        };
        let (width, height) = yuv.dimensions();
        let (y_stride, uv_stride, _) = yuv.strides();
        let side = |n: usize| u32::try_from(n).ok().filter(|&n| n > 0 && n <= MAX_DECODED_SIDE);
        let (Some(w), Some(h)) = (side(width), side(height)) else {
            return Err(DecodeError::Size { width, height });
        };
        // Plane lengths and strides are checked again by the converter before any read.
        Ok(Some(f(I420View {
            width: w,
            height: h,
            y: yuv.y(),
            y_stride,
            u: yuv.u(),
            v: yuv.v(),
            uv_stride,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::{encode_bgra, synthetic_bgra};
    use crate::codec::{EncoderSettings, H264Encoder};

    /// xorshift64*: deterministic noise without a dependency.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut s = seed.max(1);
        (0..len)
            .map(|_| {
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    fn stream(n: u32) -> Vec<Vec<u8>> {
        let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
        (0..n)
            .map(|t| encode_bgra(&mut enc, &synthetic_bgra(320, 240, t), 320, 240, false))
            .map(|f| f.data.to_vec())
            .collect()
    }

    #[test]
    fn empty_and_oversized_input_are_errors() {
        let mut dec = H264Decoder::new().unwrap();
        assert!(matches!(dec.decode(&[]), Err(DecodeError::Empty)));
        let big = vec![0u8; MAX_ACCESS_UNIT_BYTES + 1];
        assert!(matches!(dec.decode(&big), Err(DecodeError::TooLarge(_))));
    }

    #[test]
    fn random_bytes_never_panic_and_never_yield_a_picture() {
        let mut dec = H264Decoder::new().unwrap();
        for seed in 1..200u64 {
            let mut data = noise(seed, 16 + (seed as usize * 37) % 4000);
            if seed % 2 == 0 {
                // Give the parser something to chew on: start codes and plausible NAL headers.
                for (i, nal) in [0x67u8, 0x68, 0x65, 0x41].iter().enumerate() {
                    let at = (i * data.len() / 4).min(data.len() - 5);
                    data[at..at + 5].copy_from_slice(&[0, 0, 0, 1, *nal]);
                }
            }
            let result = dec.decode(&data);
            assert!(!matches!(result, Ok(Some(_))), "seed {seed} made a picture");
        }
    }

    #[test]
    fn truncated_and_corrupted_units_are_errors_then_a_keyframe_recovers() {
        let units = stream(3);
        let mut dec = H264Decoder::new().unwrap();
        // A delta before any keyframe has nothing to reference.
        assert!(dec.decode(&units[1]).is_err());
        let key = &units[0];
        // Five bytes are only the start of the SPS: openh264 waits for more.
        assert!(matches!(H264Decoder::new().unwrap().decode(&key[..5]), Ok(None)));
        for cut in [20, key.len() / 3, key.len() / 2, key.len() - 7] {
            let mut fresh = H264Decoder::new().unwrap();
            assert!(fresh.decode(&key[..cut]).is_err(), "cut at {cut}");
        }
        let mut fresh = H264Decoder::new().unwrap();
        for seed in 1..40u64 {
            let mut bad = key.clone();
            for (i, b) in noise(seed, 8).into_iter().enumerate() {
                let at = 40 + (seed as usize * 131 + i * 977) % (bad.len() - 40);
                bad[at] ^= b | 1;
            }
            // Anything but a panic or crash; flips in residual data can still decode.
            let _ = fresh.decode(&bad);
        }
        let mut frame = DecodedFrame::default();
        assert!(fresh.decode_into(key, &mut frame).unwrap());
        assert_eq!((frame.width, frame.height, frame.rgba.len()), (320, 240, 320 * 240 * 4));
        assert!(fresh.decode_into(&units[1], &mut frame).unwrap());
    }

    #[test]
    fn decode_into_reuses_the_buffer_and_decode_yuv_lends_planes() {
        let units = stream(3);
        let mut dec = H264Decoder::new().unwrap();
        let mut frame = DecodedFrame::default();
        assert!(dec.decode_into(&units[0], &mut frame).unwrap());
        let ptr = frame.rgba.as_ptr();
        assert!(dec.decode_into(&units[1], &mut frame).unwrap());
        assert_eq!(frame.rgba.as_ptr(), ptr);
        let dims = dec.decode_yuv(&units[2], |v| (v.width, v.height, v.y.len() >= 320 * 240));
        assert_eq!(dims.unwrap(), Some((320, 240, true)));
    }
}
