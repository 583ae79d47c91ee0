//! Channel mapping and rate conversion for devices that do not run at 48 kHz stereo.
//!
//! Linear interpolation: system sounds and voices come through it clean enough for support
//! work, it needs no lookahead (so no added delay), and it is a few lines with tests. A
//! device at 48 kHz (the usual case with PulseAudio and PipeWire) skips it.

use super::CHANNELS;

/// Interleaved samples with `channels` channels as interleaved stereo: mono is doubled, the
/// first two of more channels are kept (front left and right in every standard layout).
pub fn to_stereo(input: &[f32], channels: usize, out: &mut Vec<f32>) {
    match channels {
        0 => {}
        1 => out.extend(input.iter().flat_map(|&s| [s, s])),
        2 => out.extend_from_slice(input),
        n => out.extend(input.chunks_exact(n).flat_map(|f| [f[0], f[1]])),
    }
}

/// Streaming stereo rate converter.
pub struct Resampler {
    /// Input frames per output frame.
    step: f64,
    /// Position of the next output frame, in input frames after `prev`.
    pos: f64,
    prev: [f32; CHANNELS],
    passthrough: bool,
}

impl Resampler {
    /// From `from_hz` to `to_hz` (both non-zero; zero is treated as `to_hz`).
    pub fn new(from_hz: u32, to_hz: u32) -> Self {
        let from = if from_hz == 0 { to_hz } else { from_hz };
        Resampler {
            step: f64::from(from) / f64::from(to_hz.max(1)),
            pos: 1.0,
            prev: [0.0; CHANNELS],
            passthrough: from == to_hz,
        }
    }

    /// Converts interleaved stereo `input`, appending to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.passthrough {
            out.extend_from_slice(input);
            return;
        }
        let frames: Vec<[f32; CHANNELS]> =
            input.chunks_exact(CHANNELS).map(|f| [f[0], f[1]]).collect();
        let n = frames.len();
        if n == 0 {
            return;
        }
        // Frame k: k == 0 is `prev`, k >= 1 is frames[k - 1].
        let frame = |k: usize| if k == 0 { self.prev } else { frames[k - 1] };
        while self.pos < n as f64 {
            let k = self.pos.floor() as usize;
            let frac = (self.pos - k as f64) as f32;
            let (a, b) = (frame(k), frame(k + 1));
            out.extend((0..CHANNELS).map(|c| a[c] + (b[c] - a[c]) * frac));
            self.pos += self.step;
        }
        self.pos -= n as f64;
        self.prev = frames[n - 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_map_to_stereo() {
        let mut out = Vec::new();
        to_stereo(&[0.1, 0.2], 1, &mut out);
        assert_eq!(out, [0.1, 0.1, 0.2, 0.2]);
        out.clear();
        to_stereo(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, &mut out);
        assert_eq!(out, [1.0, 2.0, 4.0, 5.0]);
    }

    #[test]
    fn rates_convert_in_proportion_across_chunks() {
        let mut r = Resampler::new(44_100, 48_000);
        let mut out = Vec::new();
        for _ in 0..100 {
            r.process(&[0.5; 441 * 2], &mut out);
        }
        // One second in, one second (give or take a frame) out.
        let frames = out.len() / 2;
        assert!((47_999..=48_001).contains(&frames), "{frames}");
        assert!(out[200..].iter().all(|s| (s - 0.5).abs() < 1e-6));
    }

    #[test]
    fn a_ramp_is_interpolated() {
        let mut r = Resampler::new(24_000, 48_000);
        let input: Vec<f32> = (0..8).flat_map(|i| [i as f32, -(i as f32)]).collect();
        let mut out = Vec::new();
        r.process(&input, &mut out);
        let left: Vec<f32> = out.chunks(2).map(|f| f[0]).collect();
        assert_eq!(&left[..6], &[0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
    }

    #[test]
    fn the_same_rate_passes_through() {
        let mut r = Resampler::new(48_000, 48_000);
        let mut out = Vec::new();
        r.process(&[0.25, -0.25], &mut out);
        assert_eq!(out, [0.25, -0.25]);
    }
}
