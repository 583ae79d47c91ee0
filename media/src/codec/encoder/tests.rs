//! Tests of [`H264Encoder`](super::H264Encoder).

use super::*;
use crate::codec::annexb_nal_units;
use crate::codec::tests::{encode_bgra, synthetic_bgra};

fn nal_type(nal: &[u8]) -> u8 {
    nal[0] & 0x1f
}

#[test]
fn keyframe_starts_with_sps_pps_of_constrained_baseline() {
    let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
    let key = encode_bgra(&mut enc, &synthetic_bgra(640, 360, 0), 640, 360, false);
    assert!(key.data.starts_with(&[0, 0, 0, 1]));
    let nals: Vec<&[u8]> = annexb_nal_units(&key.data).collect();
    assert_eq!(nal_type(nals[0]), 7, "SPS first");
    assert_eq!(nal_type(nals[1]), 8, "PPS second");
    assert!(nals[2..].iter().all(|n| nal_type(n) == 5), "IDR slices");
    let sps = nals[0];
    assert_eq!(sps[1], 66, "profile_idc baseline");
    assert_ne!(sps[2] & 0x40, 0, "constraint_set1: constrained baseline");
    assert_eq!(sps[3], 31, "level 3.1 for 640x360 at 60 fps");
    let delta = encode_bgra(&mut enc, &synthetic_bgra(640, 360, 1), 640, 360, false);
    assert!(annexb_nal_units(&delta.data).all(|n| nal_type(n) == 1));
    let big = encode_bgra(&mut enc, &synthetic_bgra(1920, 1080, 0), 1920, 1080, false);
    let sps = annexb_nal_units(&big.data).next().unwrap();
    assert_eq!(sps[3], 42, "level 4.2 for 1080p60");
}

#[test]
fn size_limited_slices_fit_one_rtp_packet() {
    let settings = EncoderSettings {
        slicing: Slicing::MaxBytes(1100),
        threads: 1,
        ..EncoderSettings::default()
    };
    let mut enc = H264Encoder::new(settings).unwrap();
    let key = encode_bgra(&mut enc, &synthetic_bgra(1280, 720, 0), 1280, 720, false);
    let sizes: Vec<usize> = annexb_nal_units(&key.data).map(<[u8]>::len).collect();
    assert!(sizes.len() > 10, "{sizes:?}");
    assert!(sizes.iter().all(|&s| s <= 1100), "{sizes:?}");
}

/// A still, detailed picture with a 96-pixel square of new detail each time (a small video
/// playing): busy enough that the rate control has work, small enough not to be a scene change.
fn noisy_bgra(w: u32, h: u32, t: u32) -> Vec<u8> {
    let noise = |seed: u32, n: u32| {
        let mut state = 0x9e37_79b9_u32 ^ seed.wrapping_mul(0x85eb_ca6b);
        (0..n).map(move |_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
    };
    let mut bgra: Vec<u8> = noise(0, w * h * 4).collect();
    let mut square = noise(t + 1, 96 * 96 * 4);
    for y in 64..160 {
        let row = (y * w + 64) as usize * 4;
        for byte in &mut bgra[row..row + 96 * 4] {
            *byte = square.next().unwrap_or(0);
        }
    }
    bgra
}

/// Mean encoded bytes of `frames` consecutive pictures from `first`, none of them a keyframe.
fn delta_bytes(enc: &mut H264Encoder, first: u32, frames: u32, (w, h): (u32, u32)) -> usize {
    let total: usize = (first..first + frames)
        .map(|t| {
            let frame = encode_bgra(enc, &noisy_bgra(w, h, t), w, h, false);
            assert!(!frame.keyframe, "picture {t} is a keyframe");
            frame.data.len()
        })
        .sum();
    total / frames as usize
}

#[test]
fn bitrate_and_frame_rate_change_in_place_without_a_keyframe() {
    let size = (320, 240);
    let settings = EncoderSettings { bitrate_bps: 6_000_000, max_fps: 30.0, ..Default::default() };
    let mut enc = H264Encoder::new(settings).unwrap();
    assert!(encode_bgra(&mut enc, &noisy_bgra(size.0, size.1, 0), size.0, size.1, false).keyframe);
    let high = delta_bytes(&mut enc, 1, 30, size);
    enc.set_bitrate(300_000).unwrap();
    assert_eq!(enc.settings().bitrate_bps, 300_000);
    // openh264's rate control needs a few pictures to settle on the new budget.
    delta_bytes(&mut enc, 31, 15, size);
    let low = delta_bytes(&mut enc, 46, 30, size);
    // What an encoder built at 300 kbit/s makes of the same pictures: the change took full
    // effect (openh264's highest QP bounds how small busy pictures get).
    let fresh_settings = EncoderSettings { bitrate_bps: 300_000, ..enc.settings().clone() };
    let mut fresh = H264Encoder::new(fresh_settings).unwrap();
    encode_bgra(&mut fresh, &noisy_bgra(size.0, size.1, 0), size.0, size.1, false);
    delta_bytes(&mut fresh, 1, 45, size);
    let fresh_low = delta_bytes(&mut fresh, 46, 30, size);
    assert!(low * 3 < high * 2, "6 Mbit/s: {high} bytes a frame, 300 kbit/s: {low}");
    assert!(low * 10 < fresh_low * 13, "in place {low}, fresh encoder {fresh_low}");
    enc.set_bitrate(6_000_000).unwrap();
    enc.set_frame_rate(15.0).unwrap();
    assert_eq!(enc.settings().max_fps, 15.0);
    delta_bytes(&mut enc, 76, 15, size);
    let back = delta_bytes(&mut enc, 91, 30, size);
    assert!(back * 2 > high, "back to 6 Mbit/s: {back} bytes a frame, was {high}");
    // Above the rate it was built with (openh264's maximum started there).
    enc.set_bitrate(20_000_000).unwrap();
    delta_bytes(&mut enc, 121, 15, size);
    let higher = delta_bytes(&mut enc, 136, 30, size);
    assert!(higher > back, "20 Mbit/s: {higher} bytes a frame, 6 Mbit/s: {back}");
    assert!(enc.set_bitrate(0).is_err());
    assert!(enc.set_frame_rate(0.0).is_err());
}

#[test]
fn bad_settings_and_frames_are_errors() {
    let bad = |s: EncoderSettings| H264Encoder::new(s).is_err();
    let ok = EncoderSettings::default();
    assert!(bad(EncoderSettings { bitrate_bps: 0, ..ok.clone() }));
    assert!(bad(EncoderSettings { max_fps: f32::NAN, ..ok.clone() }));
    assert!(bad(EncoderSettings { max_fps: 0.0, ..ok.clone() }));
    assert!(bad(EncoderSettings { slicing: Slicing::MaxBytes(100), ..ok.clone() }));
    assert!(!bad(EncoderSettings { slicing: Slicing::Single, ..ok.clone() }));

    let mut enc = H264Encoder::new(ok).unwrap();
    let mut frame = I420Frame::new(64, 64);
    frame.u.pop();
    assert!(matches!(enc.encode(&frame, false), Err(EncodeError::Planes { .. })));
    for (w, h) in [(8, 8), (4000, 1080), (2200, 2200)] {
        let frame = I420Frame::new(w, h);
        assert!(matches!(enc.encode(&frame, false), Err(EncodeError::Size { .. })));
    }
    // Portrait is fine.
    let portrait = enc.encode(&I420Frame::new(360, 640), false).unwrap();
    assert!(portrait.is_some_and(|f| f.keyframe));
}

#[test]
fn every_slice_layout_round_trips_through_the_decoder() {
    use crate::codec::H264Decoder;
    use crate::codec::tests::bgra_to_rgba;
    use crate::image::psnr_rgba;
    let (w, h) = (1280, 720);
    let layouts = [
        (Slicing::Count(2), 2, Some(2)),
        (Slicing::Count(4), 2, Some(4)),
        (Slicing::Count(3), 1, Some(3)),
        (Slicing::MaxBytes(1100), 2, None),
        (Slicing::Single, 1, Some(1)),
    ];
    for (slicing, threads, slices) in layouts {
        let settings = EncoderSettings { slicing, threads, ..EncoderSettings::default() };
        let mut enc = H264Encoder::new(settings).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        for t in 0..4 {
            let src = synthetic_bgra(w, h, t);
            let frame = encode_bgra(&mut enc, &src, w, h, false);
            // The priming picture that applies a slice count is never sent: the first frame
            // out is the IDR with the asked-for layout.
            assert_eq!(frame.keyframe, t == 0, "{slicing:?} frame {t}");
            let vcl = annexb_nal_units(&frame.data).filter(|n| matches!(nal_type(n), 1 | 5));
            let count = vcl.count();
            match slices {
                Some(n) => assert_eq!(count, n, "{slicing:?} frame {t}"),
                None => assert!(t > 0 || count > 10, "{slicing:?}: {count} slices in the IDR"),
            }
            let decoded = dec.decode(&frame.data).unwrap().expect("a picture");
            let psnr = psnr_rgba(&decoded.rgba, &bgra_to_rgba(&src));
            assert!(psnr > 30.0, "{slicing:?} frame {t}: PSNR {psnr:.1} dB");
        }
    }
}

#[test]
fn slice_count_and_threads_are_checked() {
    let bad = |slicing, threads| {
        H264Encoder::new(EncoderSettings { slicing, threads, ..EncoderSettings::default() })
            .is_err()
    };
    assert!(bad(Slicing::Count(0), 2));
    assert!(bad(Slicing::Count(33), 2));
    assert!(bad(Slicing::Count(2), 0));
    assert!(bad(Slicing::Count(2), 5));
    assert!(!bad(Slicing::Count(32), 4));
}
