//! Thin wrappers over libopus (the `opus` crate, libopus built from source) with Tether's
//! settings: full-band music mode, in-band FEC and DTX.

use super::{CHANNELS, FRAME_LEN, FRAME_SAMPLES, SAMPLE_RATE};

/// Largest Opus packet we produce or accept (RFC 6716 allows 1275 bytes per frame).
const MAX_PACKET: usize = 1500;
/// Longest a decoded packet may be: 120 ms.
const MAX_DECODED: usize = 6 * FRAME_LEN;

/// Why Opus refused.
#[derive(Debug, thiserror::Error)]
pub enum AudioCodecError {
    /// libopus returned an error.
    #[error("Opus: {0}")]
    Opus(#[from] opus::Error),
    /// A frame of the wrong size was given to the encoder.
    #[error("an Opus frame is {FRAME_LEN} interleaved samples, not {0}")]
    FrameSize(usize),
}

/// 48 kHz stereo, 20 ms frames.
pub struct OpusEncoder {
    inner: opus::Encoder,
    out: Vec<u8>,
}

impl OpusEncoder {
    /// An encoder at `bitrate_bps` with in-band FEC (for the expected `loss_percent`) and DTX.
    pub fn new(bitrate_bps: u32, loss_percent: u8) -> Result<Self, AudioCodecError> {
        let mut inner =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Stereo, opus::Application::Audio)?;
        inner.set_bitrate(opus::Bitrate::Bits(i32::try_from(bitrate_bps).unwrap_or(i32::MAX)))?;
        inner.set_inband_fec(true)?;
        inner.set_packet_loss_perc(i32::from(loss_percent.min(100)))?;
        inner.set_dtx(true)?;
        Ok(OpusEncoder { inner, out: vec![0; MAX_PACKET] })
    }

    /// Encodes one frame of [`FRAME_LEN`] interleaved samples in -1..1; returns the packet
    /// (at most [`super::DTX_MAX_BYTES`] long when the encoder is in DTX).
    pub fn encode(&mut self, frame: &[f32]) -> Result<&[u8], AudioCodecError> {
        if frame.len() != FRAME_LEN {
            return Err(AudioCodecError::FrameSize(frame.len()));
        }
        let n = self.inner.encode_float(frame, &mut self.out)?;
        Ok(&self.out[..n.min(self.out.len())])
    }
}

/// 48 kHz stereo decoder; packet loss concealment for missing frames.
pub struct OpusDecoder {
    inner: opus::Decoder,
    out: Vec<f32>,
}

impl OpusDecoder {
    pub fn new() -> Result<Self, AudioCodecError> {
        let inner = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Stereo)?;
        Ok(OpusDecoder { inner, out: vec![0.0; MAX_DECODED] })
    }

    /// Decodes a packet from the network into interleaved stereo samples. A malformed packet
    /// is an error, never a panic.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[f32], AudioCodecError> {
        if packet.is_empty() || packet.len() > MAX_PACKET {
            return Err(AudioCodecError::FrameSize(packet.len()));
        }
        let n = self.inner.decode_float(packet, &mut self.out, false)?;
        Ok(&self.out[..(n * CHANNELS).min(self.out.len())])
    }

    /// One frame of concealment for a lost packet: with `next` (the packet after the loss),
    /// the FEC data it carries; without, libopus's extrapolation.
    pub fn conceal(&mut self, next: Option<&[u8]>) -> Result<&[f32], AudioCodecError> {
        let out = &mut self.out[..FRAME_LEN];
        let n = match next {
            Some(packet) if !packet.is_empty() && packet.len() <= MAX_PACKET => {
                self.inner.decode_float(packet, out, true)?
            }
            _ => self.inner.decode_float(&[], out, false)?,
        };
        Ok(&self.out[..(n.min(FRAME_SAMPLES) * CHANNELS)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, frame_index: usize) -> Vec<f32> {
        (0..FRAME_SAMPLES)
            .flat_map(|i| {
                let t = (frame_index * FRAME_SAMPLES + i) as f32 / SAMPLE_RATE as f32;
                let s = 0.5 * (2.0 * std::f32::consts::PI * freq * t).sin();
                [s, s]
            })
            .collect()
    }

    #[test]
    fn a_tone_survives_the_round_trip_and_silence_becomes_dtx() {
        let mut enc = OpusEncoder::new(64_000, 5).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut energy = 0.0f64;
        for i in 0..50 {
            let packet = enc.encode(&tone(440.0, i)).unwrap().to_vec();
            assert!(packet.len() > super::super::DTX_MAX_BYTES, "a tone is not DTX");
            let pcm = dec.decode(&packet).unwrap();
            assert_eq!(pcm.len(), FRAME_LEN);
            if i > 10 {
                energy += pcm.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>();
            }
        }
        assert!(energy > 1000.0, "decoded tone energy {energy}");
        let silence = vec![0.0; FRAME_LEN];
        let sizes: Vec<usize> = (0..50).map(|_| enc.encode(&silence).unwrap().len()).collect();
        let dtx = sizes.iter().filter(|&&n| n <= super::super::DTX_MAX_BYTES).count();
        assert!(dtx > 30, "silence should be mostly DTX frames: {sizes:?}");
    }

    #[test]
    fn garbage_and_wrong_sizes_are_errors() {
        let mut enc = OpusEncoder::new(64_000, 5).unwrap();
        assert!(enc.encode(&[0.0; 100]).is_err());
        let mut dec = OpusDecoder::new().unwrap();
        assert!(dec.decode(&[]).is_err());
        assert!(dec.decode(&[0xff; 2000]).is_err());
        // Any bytes at all: an error or some samples, never a panic.
        for seed in 0u8..=255 {
            let junk: Vec<u8> = (0..40).map(|i| seed.wrapping_mul(31).wrapping_add(i)).collect();
            let _ = dec.decode(&junk);
        }
        assert_eq!(dec.conceal(None).unwrap().len(), FRAME_LEN);
    }
}
