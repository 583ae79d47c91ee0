//! A synthetic source for tests: a sine tone, then silence, as fast as it is read.

use std::time::Duration;

use super::{AudioError, AudioFormat, AudioSource, Chunk};

pub struct ToneSource {
    format: AudioFormat,
    freq: f32,
    tone_frames: usize,
    total_frames: usize,
    position: usize,
    chunk_frames: usize,
}

impl ToneSource {
    /// `tone_ms` of `freq` Hz at half scale, then silence until `total_ms`, then the end.
    pub fn new(format: AudioFormat, freq: f32, tone_ms: u32, total_ms: u32) -> Self {
        let frames = |ms: u32| (u64::from(format.sample_rate) * u64::from(ms) / 1000) as usize;
        ToneSource {
            format,
            freq,
            tone_frames: frames(tone_ms),
            total_frames: frames(total_ms),
            position: 0,
            // 10 ms, the size PulseAudio and WASAPI typically deliver.
            chunk_frames: frames(10).max(1),
        }
    }
}

impl AudioSource for ToneSource {
    fn format(&self) -> AudioFormat {
        self.format
    }

    fn describe(&self) -> String {
        format!("a {} Hz test tone", self.freq)
    }

    fn next_chunk(&mut self, _timeout: Duration) -> Result<Option<Chunk>, AudioError> {
        if self.position >= self.total_frames {
            return Err(AudioError::Ended);
        }
        let rate = self.format.sample_rate as f32;
        let mut samples = Vec::with_capacity(self.chunk_frames * self.format.channels);
        for i in self.position..self.position + self.chunk_frames {
            let s = if i < self.tone_frames {
                0.5 * (std::f32::consts::TAU * self.freq * i as f32 / rate).sin()
            } else {
                0.0
            };
            samples.extend(std::iter::repeat_n(s, self.format.channels));
        }
        self.position += self.chunk_frames;
        Ok(Some(Chunk { samples, lost_before: 0 }))
    }
}
