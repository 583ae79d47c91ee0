//! Video codec stage: BGRA capture → I420 → H.264 (agent), H.264 → RGBA (viewer).

mod convert;
mod decoder;
mod encoder;
mod raw_options;
mod region;
mod scale;

pub use convert::{ConvertError, I420Frame, I420View, bgra_to_i420, i420_to_bgra, i420_to_rgba};
pub use decoder::{
    DecodeError, DecodedFrame, H264Decoder, MAX_ACCESS_UNIT_BYTES, MAX_DECODED_SIDE,
};
pub use encoder::{
    EncodeError, EncodedFrame, EncoderSettings, H264Encoder, MAX_HEIGHT, MAX_WIDTH, Slicing,
    VideoEncoder,
};
pub use region::{PixelRect, bgra_to_i420_region};
pub use scale::half_size;

/// Splits an Annex-B byte stream into NAL units (without start codes). Tolerates 3- and 4-byte
/// start codes and ignores bytes before the first one.
pub fn annexb_nal_units(stream: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = stream;
    let mut started = false;
    std::iter::from_fn(move || {
        loop {
            let start = find_start_code(rest);
            let Some((at, len)) = start else {
                let nal = std::mem::take(&mut rest);
                return (started && !nal.is_empty()).then_some(nal);
            };
            let (nal, after) = (&rest[..at], &rest[at + len..]);
            rest = after;
            let was_started = std::mem::replace(&mut started, true);
            if was_started && !nal.is_empty() {
                return Some(nal);
            }
        }
    })
}

/// Position and length of the first start code (`00 00 01` or `00 00 00 01`).
fn find_start_code(data: &[u8]) -> Option<(usize, usize)> {
    let at = data.windows(3).position(|w| w == [0, 0, 1])?;
    Some(match at.checked_sub(1) {
        Some(before) if data[before] == 0 => (before, 4),
        _ => (at, 3),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::image::psnr_rgba;

    /// A screen-like test picture in BGRA: horizontal and vertical gradients, a few sharp
    /// stripes, and a white box whose position depends on `t`.
    pub(crate) fn synthetic_bgra(width: u32, height: u32, t: u32) -> Vec<u8> {
        let (w, h) = (width as usize, height as usize);
        let mut out = vec![0u8; w * h * 4];
        let (bx, by) = ((t as usize * 7) % (w - 64).max(1), (t as usize * 3) % (h - 48).max(1));
        for (i, px) in out.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i % w, i / w);
            let mut bgra =
                [(x * 255 / w) as u8, (y * 255 / h) as u8, ((x + y) * 255 / (w + h)) as u8, 255];
            if (y / 40) % 4 == 1 && (x / 8) % 2 == 0 {
                bgra[..3].copy_from_slice(&[40, 40, 40]);
            }
            if (bx..bx + 64).contains(&x) && (by..by + 48).contains(&y) {
                bgra[..3].copy_from_slice(&[250, 250, 250]);
            }
            px.copy_from_slice(&bgra);
        }
        out
    }

    /// BGRA to RGBA, to compare decoder output with the source.
    pub(crate) fn bgra_to_rgba(bgra: &[u8]) -> Vec<u8> {
        bgra.chunks_exact(4).flat_map(|p| [p[2], p[1], p[0], p[3]]).collect()
    }

    pub(crate) fn encode_bgra(
        encoder: &mut H264Encoder,
        bgra: &[u8],
        width: u32,
        height: u32,
        force_keyframe: bool,
    ) -> EncodedFrame {
        let mut yuv = I420Frame::default();
        bgra_to_i420(bgra, width, height, width as usize * 4, &mut yuv).unwrap();
        encoder.encode(&yuv, force_keyframe).unwrap().expect("a frame")
    }

    fn check_decoded(decoder: &mut H264Decoder, frame: &EncodedFrame, source_bgra: &[u8]) -> f64 {
        let decoded = decoder.decode(&frame.data).unwrap().expect("a picture");
        assert_eq!((decoded.width, decoded.height), (frame.width, frame.height));
        psnr_rgba(&decoded.rgba, &bgra_to_rgba(source_bgra))
    }

    #[test]
    fn round_trip_640x360_moving_box() {
        let (w, h) = (640, 360);
        let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut sizes = Vec::new();
        for t in 0..10 {
            let src = synthetic_bgra(w, h, t);
            let frame = encode_bgra(&mut enc, &src, w, h, false);
            assert_eq!(frame.keyframe, t == 0, "frame {t}");
            let psnr = check_decoded(&mut dec, &frame, &src);
            assert!(psnr > 30.0, "frame {t}: PSNR {psnr:.1} dB");
            sizes.push(frame.data.len());
        }
        // The box moved a few pixels: a small fraction of the keyframe.
        assert!(sizes[1..].iter().all(|&s| s * 5 < sizes[0]), "{sizes:?}");
    }

    #[test]
    fn round_trip_1080p() {
        let (w, h) = (1920, 1080);
        let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let src = synthetic_bgra(w, h, 5);
        let key = encode_bgra(&mut enc, &src, w, h, false);
        assert!(key.keyframe);
        let psnr = check_decoded(&mut dec, &key, &src);
        assert!(psnr > 30.0, "PSNR {psnr:.1} dB");
        // An unchanged screen is refined for a few frames, then costs almost nothing.
        let mut last = 0;
        for _ in 0..6 {
            let same = encode_bgra(&mut enc, &src, w, h, false);
            assert!(!same.keyframe);
            assert!(check_decoded(&mut dec, &same, &src) > 30.0);
            last = same.data.len();
        }
        assert!(last * 50 < key.data.len(), "{last} vs {}", key.data.len());
    }

    #[test]
    fn force_keyframe_mid_stream() {
        let (w, h) = (320, 240);
        let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        for t in 0..6 {
            let src = synthetic_bgra(w, h, t);
            let frame = encode_bgra(&mut enc, &src, w, h, t == 3);
            assert_eq!(frame.keyframe, t == 0 || t == 3, "frame {t}");
            assert!(check_decoded(&mut dec, &frame, &src) > 30.0);
        }
        // A fresh decoder can join at the forced keyframe.
        let src = synthetic_bgra(w, h, 9);
        let key = encode_bgra(&mut enc, &src, w, h, true);
        let mut late = H264Decoder::new().unwrap();
        assert!(check_decoded(&mut late, &key, &src) > 30.0);
    }

    #[test]
    fn resolution_change_restarts_with_a_keyframe() {
        let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        for (i, (w, h)) in
            [(640, 360), (640, 360), (1280, 720), (1280, 720), (642, 362)].into_iter().enumerate()
        {
            let src = synthetic_bgra(w, h, i as u32);
            let frame = encode_bgra(&mut enc, &src, w, h, false);
            assert_eq!(frame.keyframe, i != 1 && i != 3, "frame {i} {w}x{h}");
            assert_eq!((frame.width, frame.height), (w, h));
            assert!(check_decoded(&mut dec, &frame, &src) > 30.0, "frame {i}");
        }
    }

    #[test]
    fn largest_picture_round_trips() {
        let (w, h) = (MAX_WIDTH, MAX_HEIGHT);
        let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let src = synthetic_bgra(w, h, 1);
        let key = encode_bgra(&mut enc, &src, w, h, false);
        assert!(key.keyframe);
        assert!(check_decoded(&mut dec, &key, &src) > 30.0);
    }

    #[test]
    fn annexb_splitter_handles_both_start_codes() {
        let stream = [9, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65];
        let nals: Vec<&[u8]> = annexb_nal_units(&stream).collect();
        assert_eq!(nals, [&[0x67, 1, 2][..], &[0x68, 3], &[0x65]]);
        assert_eq!(annexb_nal_units(&[1, 2, 3]).count(), 0);
        assert_eq!(annexb_nal_units(&[]).count(), 0);
        assert_eq!(annexb_nal_units(&[0, 0, 1]).count(), 0);
    }
}
