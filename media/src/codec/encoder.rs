//! H.264 encoding with openh264, set up for real-time screen content sent over WebRTC.

use bytes::Bytes;
use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::YUVSlices;

use super::convert::I420Frame;

/// Largest picture openh264 encodes (either orientation).
pub const MAX_WIDTH: u32 = 3840;
/// See [`MAX_WIDTH`].
pub const MAX_HEIGHT: u32 = 2160;

/// A bitrate change smaller than this fraction of the running bitrate is ignored: applying one
/// rebuilds the encoder and costs a keyframe.
const BITRATE_HYSTERESIS: f64 = 0.15;

/// openh264 needs room for one worst-case macroblock (400 bytes) plus NAL overhead per slice.
const MIN_SLICE_BYTES: u32 = 500;

/// How the encoder should run.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderSettings {
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// Frame rate the rate control budgets for (frames may come slower).
    pub max_fps: f32,
    /// Upper bound for one slice NAL in bytes, so that each slice fits one RTP packet and a
    /// keyframe needs no fragmentation; `None` encodes one slice per frame.
    pub max_slice_bytes: Option<u32>,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        Self {
            bitrate_bps: 8_000_000,
            max_fps: 60.0,
            // 1200-byte MTU minus IP/UDP/SRTP/RTP headers and extensions.
            max_slice_bytes: Some(1100),
        }
    }
}

/// One encoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// The access unit in Annex-B form with 4-byte start codes; keyframes start with SPS and PPS.
    pub data: Bytes,
    /// An IDR picture: decodable without any earlier frame.
    pub keyframe: bool,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
}

/// Why encoding failed.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The settings cannot work.
    #[error("invalid encoder settings: {0}")]
    Settings(&'static str),
    /// The frame's size is outside what the encoder supports.
    #[error("unsupported picture size {width}x{height}")]
    Size {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The frame's planes do not match its dimensions.
    #[error("I420 planes do not match {width}x{height}")]
    Planes {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// openh264 returned a bitstream marked invalid ("encoder not ready").
    #[error("openh264 produced no valid picture")]
    InvalidOutput,
    /// openh264 reported an error.
    #[error("openh264: {0}")]
    OpenH264(#[from] openh264::Error),
}

/// A video encoder stage of the agent; a synthetic one can stand in for tests.
pub trait VideoEncoder: Send {
    /// Encodes one picture. `force_keyframe` makes it an IDR. `Ok(None)` means the encoder
    /// produced nothing for this picture; send nothing.
    fn encode(
        &mut self,
        frame: &I420Frame,
        force_keyframe: bool,
    ) -> Result<Option<EncodedFrame>, EncodeError>;

    /// Changes the target bitrate (e.g. from the congestion controller's estimate).
    fn set_bitrate(&mut self, bps: u32) -> Result<(), EncodeError>;
}

/// openh264 as a [`VideoEncoder`]: constrained baseline, no periodic IDR (keyframes come on
/// request), size-limited slices, one thread.
pub struct H264Encoder {
    settings: EncoderSettings,
    /// Built on the first frame and rebuilt after a size or bitrate change or an error.
    encoder: Option<Encoder>,
    size: (u32, u32),
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("settings", &self.settings)
            .field("size", &self.size)
            .field("ready", &self.encoder.is_some())
            .finish()
    }
}

impl H264Encoder {
    /// Checks the settings; the openh264 instance is made on the first frame, when the size is
    /// known.
    pub fn new(settings: EncoderSettings) -> Result<Self, EncodeError> {
        validate(&settings)?;
        Ok(Self { settings, encoder: None, size: (0, 0) })
    }

    /// The settings in force, including a bitrate that [`VideoEncoder::set_bitrate`] accepted.
    pub fn settings(&self) -> &EncoderSettings {
        &self.settings
    }

    fn config(&self) -> EncoderConfig {
        let mut config = EncoderConfig::new()
            .usage_type(UsageType::ScreenContentRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(self.settings.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(self.settings.max_fps))
            // Skipping would leave a changed screen undelivered until the next change, which
            // may never come (a static desktop after a click). openh264 warns that the bitrate
            // is then not strictly held: its rate control still steers QP, and a burst is left
            // to the frame gate, pacing and the congestion controller's next bitrate.
            .skip_frames(false)
            .profile(Profile::Baseline)
            // No level: openh264 picks the lowest that fits the size, frame rate and bitrate
            // (3.1 for 720p30, 4.2 for 1080p60, 5.1 for 4K) and sizes its reference buffers
            // to it. A fixed 4.1 would understate 1080p60 and starve 4K of reference frames.
            // Browsers decode any level whatever profile-level-id the SDP negotiated.
            .intra_frame_period(IntraFramePeriod::from_num_frames(0))
            .num_threads(1)
            .complexity(Complexity::Low)
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            // Screen content mode turns these off anyway; saying so keeps openh264 from
            // logging a warning on every rebuild.
            .adaptive_quantization(false)
            .background_detection(false)
            // Tell decoders how the picture was converted (see convert.rs).
            .vui(VuiConfig::bt601());
        if let Some(bytes) = self.settings.max_slice_bytes {
            config = config.max_slice_len(bytes);
        }
        config
    }

    fn encode_inner(
        &mut self,
        frame: &I420Frame,
        force_keyframe: bool,
    ) -> Result<Option<EncodedFrame>, EncodeError> {
        let size = (frame.width, frame.height);
        if self.encoder.is_some() && self.size != size {
            // A fresh instance is simpler to trust than openh264's in-place reinit, and
            // starts with an IDR carrying the new SPS either way.
            self.encoder = None;
        }
        let encoder = match self.encoder.take() {
            Some(mut encoder) => {
                if force_keyframe {
                    encoder.force_intra_frame();
                }
                encoder
            }
            // A new encoder's first picture is an IDR, so there is nothing to force.
            None => Encoder::with_api_config(OpenH264API::from_source(), self.config())?,
        };
        let encoder = self.encoder.insert(encoder);
        self.size = size;
        let (w, h) = (frame.width as usize, frame.height as usize);
        let source = YUVSlices::new((&frame.y, &frame.u, &frame.v), (w, h), (w, w / 2, w / 2));
        let stream = encoder.encode(&source)?;
        let keyframe = match stream.frame_type() {
            FrameType::Skip => return Ok(None),
            FrameType::Invalid => return Err(EncodeError::InvalidOutput),
            FrameType::IDR => true,
            FrameType::I | FrameType::P | FrameType::IPMixed => false,
        };
        let mut data = Vec::with_capacity(encoded_len(&stream));
        stream.write_vec(&mut data);
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedFrame {
            data: Bytes::from(data),
            keyframe,
            width: frame.width,
            height: frame.height,
        }))
    }
}

impl VideoEncoder for H264Encoder {
    fn encode(
        &mut self,
        frame: &I420Frame,
        force_keyframe: bool,
    ) -> Result<Option<EncodedFrame>, EncodeError> {
        let (width, height) = (frame.width, frame.height);
        let (long, short) = (width.max(height), width.min(height));
        if width < 16 || height < 16 || long > MAX_WIDTH || short > MAX_HEIGHT {
            return Err(EncodeError::Size { width, height });
        }
        // The YUVSlices constructor asserts these; check them first so a bad frame is an error.
        if !frame.is_consistent() {
            return Err(EncodeError::Planes { width, height });
        }
        let result = self.encode_inner(frame, force_keyframe);
        if result.is_err() {
            // openh264's reference state is unknown after a failure: start over with an IDR.
            self.encoder = None;
        }
        result
    }

    /// openh264 has no safe runtime bitrate setter (only an unsafe raw option, and this crate
    /// forbids unsafe code), so a change rebuilds the encoder before the next frame, which then
    /// is an IDR. Changes under 15 % of the running bitrate are therefore ignored.
    fn set_bitrate(&mut self, bps: u32) -> Result<(), EncodeError> {
        if bps == 0 {
            return Err(EncodeError::Settings("bitrate must be positive"));
        }
        let current = f64::from(self.settings.bitrate_bps);
        if (f64::from(bps) - current).abs() <= current * BITRATE_HYSTERESIS {
            return Ok(());
        }
        tracing::debug!(
            from = self.settings.bitrate_bps,
            to = bps,
            "encoder bitrate change, next frame is an IDR"
        );
        self.settings.bitrate_bps = bps;
        self.encoder = None;
        Ok(())
    }
}

fn validate(settings: &EncoderSettings) -> Result<(), EncodeError> {
    if settings.bitrate_bps == 0 {
        return Err(EncodeError::Settings("bitrate must be positive"));
    }
    if !(settings.max_fps.is_finite() && settings.max_fps >= 1.0 && settings.max_fps <= 240.0) {
        return Err(EncodeError::Settings("max_fps must be within 1..=240"));
    }
    if settings.max_slice_bytes.is_some_and(|b| b < MIN_SLICE_BYTES) {
        return Err(EncodeError::Settings("max_slice_bytes must be at least 500"));
    }
    Ok(())
}

fn encoded_len(stream: &openh264::encoder::EncodedBitStream<'_>) -> usize {
    let mut len = 0;
    for layer in (0..stream.num_layers()).filter_map(|i| stream.layer(i)) {
        len += (0..layer.nal_count())
            .filter_map(|n| layer.nal_unit(n))
            .map(<[u8]>::len)
            .sum::<usize>();
    }
    len
}

#[cfg(test)]
mod tests {
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
    fn slices_fit_one_rtp_packet() {
        let mut enc = H264Encoder::new(EncoderSettings::default()).unwrap();
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
        assert!(bad(EncoderSettings { max_slice_bytes: Some(100), ..ok.clone() }));
        assert!(!bad(EncoderSettings { max_slice_bytes: None, ..ok.clone() }));

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
}
