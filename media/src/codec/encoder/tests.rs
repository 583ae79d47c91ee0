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

#[test]
fn small_bitrate_changes_are_ignored_large_ones_cost_a_keyframe() {
    let (w, h) = (320, 240);
    let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
    assert!(encode_bgra(&mut enc, &synthetic_bgra(w, h, 0), w, h, false).keyframe);
    enc.set_bitrate(8_500_000).unwrap();
    assert_eq!(enc.settings().bitrate_bps, 8_000_000);
    assert!(!encode_bgra(&mut enc, &synthetic_bgra(w, h, 1), w, h, false).keyframe);
    enc.set_bitrate(2_000_000).unwrap();
    assert_eq!(enc.settings().bitrate_bps, 2_000_000);
    assert!(encode_bgra(&mut enc, &synthetic_bgra(w, h, 2), w, h, false).keyframe);
    assert!(!encode_bgra(&mut enc, &synthetic_bgra(w, h, 3), w, h, false).keyframe);
    assert!(enc.set_bitrate(0).is_err());
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
