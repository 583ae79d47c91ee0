//! The `--audio-dump` file: 48 kHz stereo 16-bit WAV, written as samples arrive, its header
//! brought up to date every second (so a killed viewer still leaves a readable file) and
//! finalised at the end. Private to this user, as the screen snapshot ([`crate::private_file`]).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::{Duration, Instant};

use tether_media::audio::{CHANNELS, SAMPLE_RATE};

use crate::private_file;

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
        let file = BufWriter::new(private_file::create_private(path)?);
        Ok(WavDump { writer: hound::WavWriter::new(file, spec)?, flushed: Instant::now() })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    #[test]
    fn the_dump_is_private_and_a_planted_symlink_is_not_followed() {
        let dir = std::env::temp_dir().join(format!("tether-wav-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (victim, dest) = (dir.join("victim"), dir.join("audio.wav"));
        std::fs::write(&victim, "precious").unwrap();
        symlink(&victim, &dest).unwrap();
        let mut dump = WavDump::create(&dest).unwrap();
        dump.write(&[0.5, -0.5]).unwrap();
        dump.finalize().unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "no symlink followed");
        let meta = std::fs::symlink_metadata(&dest).unwrap();
        assert!(meta.is_file(), "the link was replaced by the dump");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let reader = hound::WavReader::open(&dest).unwrap();
        assert_eq!((reader.spec().sample_rate, reader.len()), (SAMPLE_RATE, 2));
        let _ = std::fs::remove_dir_all(dir);
    }
}
