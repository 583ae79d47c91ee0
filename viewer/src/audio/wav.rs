//! The `--audio-dump` file: 48 kHz stereo 16-bit WAV, written as samples arrive, its header
//! brought up to date every second (so a killed viewer still leaves a readable file) and
//! finalised at the end.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::{Duration, Instant};

use tether_media::audio::{CHANNELS, SAMPLE_RATE};

const FLUSH_EVERY: Duration = Duration::from_secs(1);

pub struct WavDump {
    writer: hound::WavWriter<BufWriter<File>>,
    flushed: Instant,
}

impl WavDump {
    pub fn create(path: &Path) -> Result<Self, hound::Error> {
        let spec = hound::WavSpec {
            channels: CHANNELS as u16,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(WavDump { writer: hound::WavWriter::create(path, spec)?, flushed: Instant::now() })
    }

    /// Interleaved stereo samples in -1..1.
    pub fn write(&mut self, samples: &[f32]) -> Result<(), hound::Error> {
        for &s in samples {
            self.writer.write_sample((s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16)?;
        }
        if self.flushed.elapsed() >= FLUSH_EVERY {
            self.writer.flush()?;
            self.flushed = Instant::now();
        }
        Ok(())
    }

    /// `frames` frames of silence.
    pub fn write_silence(&mut self, frames: usize) -> Result<(), hound::Error> {
        let mut w = self.writer.get_i16_writer((frames * CHANNELS) as u32);
        for _ in 0..frames * CHANNELS {
            w.write_sample(0);
        }
        w.flush()
    }

    pub fn finalize(self) -> Result<(), hound::Error> {
        self.writer.finalize()
    }
}
