//! Tones in and out of WAV files, and the analysis the audio tests and the benchmark make:
//! the dominant frequency of a stretch (Goertzel), its RMS level, where sound starts and ends.

use std::path::Path;

use anyhow::{Context, Result};

/// Writes `ms` of a `freq` Hz sine at `amplitude` (0..1), 48 kHz stereo 16-bit.
pub fn write_tone_wav(path: &Path, freq: f32, ms: u32, amplitude: f32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).context("cannot create the tone WAV")?;
    let frames = 48 * ms as usize;
    for i in 0..frames {
        let s = amplitude * (std::f32::consts::TAU * freq * i as f32 / 48_000.0).sin();
        let v = (s * f32::from(i16::MAX)) as i16;
        w.write_sample(v)?;
        w.write_sample(v)?;
    }
    w.finalize()?;
    Ok(())
}

/// A WAV file as mono samples in -1..1 (channels averaged) and its rate.
pub fn read_wav_mono(path: &Path) -> Result<(u32, Vec<f32>)> {
    let mut r =
        hound::WavReader::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let spec = r.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => r
            .samples::<i16>()
            .map(|s| s.map(|v| f32::from(v) / 32768.0))
            .collect::<Result<_, _>>()?,
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>()?,
    };
    let mono = samples.chunks(channels).map(|f| f.iter().sum::<f32>() / channels as f32).collect();
    Ok((spec.sample_rate, mono))
}

/// A raw 48 kHz stereo s16le recording as mono samples in -1..1.
pub fn read_raw_mono(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|f| {
            let l = f32::from(i16::from_le_bytes([f[0], f[1]]));
            let r = f32::from(i16::from_le_bytes([f[2], f[3]]));
            (l + r) / 2.0 / 32768.0
        })
        .collect())
}

/// Power of `freq` in `samples` (Goertzel).
pub fn goertzel(samples: &[f32], rate: u32, freq: f32) -> f64 {
    let w = std::f64::consts::TAU * f64::from(freq) / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The frequency between `lo` and `hi` Hz with the most power: a 5 Hz scan, then 0.25 Hz
/// steps around the best.
pub fn dominant_frequency(samples: &[f32], rate: u32, lo: f32, hi: f32) -> f32 {
    let best = |from: f32, to: f32, step: f32| {
        let mut f = from;
        let (mut best_f, mut best_p) = (from, f64::MIN);
        while f <= to {
            let p = goertzel(samples, rate, f);
            if p > best_p {
                (best_f, best_p) = (f, p);
            }
            f += step;
        }
        best_f
    };
    let coarse = best(lo, hi, 5.0);
    best(coarse - 5.0, coarse + 5.0, 0.25)
}

pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
        as f32
}

/// Stretches where the 10 ms RMS is at least `threshold`, as (first, end) sample indices;
/// stretches closer than 50 ms are joined.
pub fn sound_spans(samples: &[f32], rate: u32, threshold: f32) -> Vec<(usize, usize)> {
    let window = (rate / 100).max(1) as usize;
    let join = 5 * window;
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (i, w) in samples.chunks(window).enumerate() {
        if rms(w) < threshold {
            continue;
        }
        let (start, end) = (i * window, i * window + w.len());
        match spans.last_mut() {
            Some(last) if start <= last.1 + join => last.1 = end,
            _ => spans.push((start, end)),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, n: usize) -> Vec<f32> {
        (0..n).map(|i| (std::f32::consts::TAU * freq * i as f32 / 48_000.0).sin()).collect()
    }

    #[test]
    fn finds_the_frequency_and_the_spans() {
        let tone = sine(441.0, 24_000);
        let f = dominant_frequency(&tone, 48_000, 100.0, 2000.0);
        assert!((f - 441.0).abs() < 1.0, "{f}");
        let mut signal = vec![0.0; 4800];
        signal.extend(&tone);
        signal.extend(vec![0.0; 9600]);
        signal.extend(sine(880.0, 4800));
        let spans = sound_spans(&signal, 48_000, 0.05);
        assert_eq!(spans, vec![(4800, 28_800), (38_400, 43_200)]);
        assert!(rms(&signal[29_000..38_000]) < 1e-6);
    }

    #[test]
    fn a_tone_wav_reads_back() {
        let path = std::env::temp_dir().join(format!("tether-tone-{}.wav", std::process::id()));
        write_tone_wav(&path, 880.0, 200, 0.5).unwrap();
        let (rate, mono) = read_wav_mono(&path).unwrap();
        assert_eq!((rate, mono.len()), (48_000, 9600));
        assert!((rms(&mono) - 0.5 / 2f32.sqrt()).abs() < 0.01);
        let _ = std::fs::remove_file(path);
    }
}
