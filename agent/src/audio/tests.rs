//! The encode path with a synthetic source: resampling, framing, Opus, DTX and stamps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tether_media::audio::{FRAME_SAMPLES, OpusDecoder, SAMPLE_RATE};
use tether_testkit::tone::{dominant_frequency, rms};
use tokio::sync::mpsc;

use super::*;

/// Runs the audio thread's loop over a tone source to its end; returns what it sent.
fn encode(
    format: AudioFormat,
    freq: f32,
    tone_ms: u32,
    total_ms: u32,
) -> (Vec<OutFrame>, Arc<Stats>) {
    let stats = Arc::new(Stats::default());
    let (tx, mut rx) = mpsc::channel(1000);
    let open: AudioSourceFactory =
        Box::new(move || Ok(Box::new(ToneSource::new(format, freq, tone_ms, total_ms))));
    let stop = AtomicBool::new(false);
    let result = encode_thread::run(open, AudioSettings::default(), &stop, &stats, &tx);
    assert!(matches!(result, Err(AudioError::Ended)), "the source ran to its end");
    let mut frames = Vec::new();
    while let Ok(f) = rx.try_recv() {
        frames.push(f);
    }
    (frames, stats)
}

#[test]
fn a_tone_at_44k1_mono_arrives_as_48k_stereo_opus_with_contiguous_stamps() {
    let format = AudioFormat { sample_rate: 44_100, channels: 1 };
    let (frames, stats) = encode(format, 440.0, 1000, 2000);
    // 1 s of tone is 50 frames; the silence after it goes into DTX within about ten frames,
    // then only a refresh frame every 400 ms is sent.
    assert!((50..=66).contains(&frames.len()), "{} frames sent", frames.len());
    assert!(stats.dtx.load(Ordering::Relaxed) > 35, "{}", stats.summary());
    assert!(frames[0].stamp.marker);
    for (i, pair) in frames.windows(2).enumerate() {
        let (a, b) = (pair[0].stamp, pair[1].stamp);
        assert_eq!(b.sequence_number, a.sequence_number.wrapping_add(1), "packets are numbered");
        let step = b.timestamp.wrapping_sub(a.timestamp);
        assert_eq!(step % FRAME_SAMPLES as u32, 0, "timestamps count whole frames");
        // The tone is contiguous; later, DTX gaps end with a marked packet.
        assert_eq!(b.marker, step != FRAME_SAMPLES as u32, "marker after a gap only");
        if i < 49 {
            assert_eq!(step, FRAME_SAMPLES as u32, "the tone's frames are contiguous");
        }
    }
    let mut decoder = OpusDecoder::new().unwrap();
    let mut left = Vec::new();
    for f in &frames {
        left.extend(decoder.decode(&f.data).unwrap().chunks(2).map(|s| s[0]));
    }
    let middle = &left[12_000..36_000];
    let freq = dominant_frequency(middle, SAMPLE_RATE, 100.0, 2000.0);
    assert!((freq - 440.0).abs() < 3.0, "dominant frequency {freq} Hz");
    assert!(rms(middle) > 0.25, "level {}", rms(middle));
}

#[test]
fn silence_sends_almost_nothing() {
    let format = AudioFormat { sample_rate: 48_000, channels: 2 };
    let (frames, stats) = encode(format, 440.0, 0, 5000);
    let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
    // 5 s of silence (250 frames): about ten frames before DTX starts, then a refresh about
    // every 400 ms, a few bytes each.
    assert!(frames.len() <= 30, "{} packets for silence", frames.len());
    assert!(bytes < 1000, "{bytes} bytes for 5 s of silence; {}", stats.summary());
}

#[test]
fn a_missing_device_is_an_error_not_a_panic() {
    let stats = Stats::default();
    let (tx, _rx) = mpsc::channel(1);
    let open: AudioSourceFactory = Box::new(|| Err(AudioError::NoDevice("none here".into())));
    let result =
        encode_thread::run(open, AudioSettings::default(), &AtomicBool::new(false), &stats, &tx);
    assert!(matches!(result, Err(AudioError::NoDevice(_))));
}
