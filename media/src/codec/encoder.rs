//! H.264 encoding with openh264, set up for real-time screen content sent over WebRTC.

use bytes::Bytes;
use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::YUVSlices;

use super::convert::I420Frame;
use super::raw_options::{self, RawOptions};

/// Largest picture openh264 encodes (either orientation).
pub const MAX_WIDTH: u32 = 3840;
/// See [`MAX_WIDTH`].
pub const MAX_HEIGHT: u32 = 2160;

/// openh264 needs room for one worst-case macroblock (400 bytes) plus NAL overhead per slice.
const MIN_SLICE_BYTES: u32 = 500;
/// openh264's limit for a fixed slice count (`MAX_SLICES_NUM_TMP` is 35; keep a margin).
const MAX_SLICES: u32 = 32;
/// openh264's thread limit (`MAX_THREADS_NUM`).
const MAX_THREADS: u16 = 4;

/// How each picture is cut into slices (NAL units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slicing {
    /// One slice per picture: no parallelism inside a picture.
    Single,
    /// Slices of at most this many bytes, so each fits one RTP packet without fragmentation.
    /// openh264 then encodes the picture row after row (a slice ends when it is full), so more
    /// threads help little.
    MaxBytes(u32),
    /// This many slices of (about) equal area: openh264 encodes them on its threads in
    /// parallel; large slices travel as FU-A fragments.
    Count(u32),
}

/// How the encoder should run.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderSettings {
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// Frame rate the rate control budgets for (frames may come slower).
    pub max_fps: f32,
    /// How pictures are cut into slices.
    pub slicing: Slicing,
    /// openh264's worker threads (1..=4); more than one only helps with several slices.
    pub threads: u16,
}

impl Default for EncoderSettings {
    /// Two slices on two threads: in `examples/encode_bench.rs` on the 2-core machine the
    /// least CPU per 1080p frame and the lowest median encode time of the layouts tried (one
    /// thread with 1,100-byte slices, two threads with 1,100-byte slices, 1/2/4/8 slices).
    /// Delta frames of screen content are small, so each slice still fits a packet mostly;
    /// keyframe slices travel as FU-A fragments.
    fn default() -> Self {
        Self { bitrate_bps: 8_000_000, max_fps: 60.0, slicing: Slicing::Count(2), threads: 2 }
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

    /// Changes the target bitrate (e.g. from the congestion controller's estimate), without
    /// a keyframe.
    fn set_bitrate(&mut self, bps: u32) -> Result<(), EncodeError>;

    /// Changes the frame rate the rate control budgets for (frames may still come slower).
    fn set_frame_rate(&mut self, fps: f32) -> Result<(), EncodeError>;
}

/// openh264 as a [`VideoEncoder`]: constrained baseline, no periodic IDR (keyframes come on
/// request), slices and threads as [`EncoderSettings`] say.
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
            .num_threads(self.settings.threads)
            .complexity(Complexity::Low)
            // Screen content forces scene-change detection on whatever is asked (it also
            // yields the static-block map that lets unchanged macroblocks be skipped cheaply,
            // and runs openh264's scroll detection).
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            // Screen content mode turns these off anyway; saying so keeps openh264 from
            // logging a warning on every rebuild.
            .adaptive_quantization(false)
            .background_detection(false)
            // Tell decoders how the picture was converted (see convert.rs).
            .vui(VuiConfig::bt601());
        if let Slicing::MaxBytes(bytes) = self.settings.slicing {
            config = config.max_slice_len(bytes);
        }
        config
    }

    /// What the crate's config cannot say, for [`raw_options::apply`].
    fn raw_options(&self) -> Option<RawOptions> {
        match self.settings.slicing {
            Slicing::Count(slice_count) => Some(RawOptions { slice_count }),
            Slicing::Single | Slicing::MaxBytes(_) => None,
        }
    }

    /// A new openh264 instance for pictures of `width` x `height`, its first picture an IDR.
    fn build(&self, width: u32, height: u32) -> Result<Encoder, EncodeError> {
        let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), self.config())?;
        if let Some(options) = self.raw_options() {
            // The crate sets openh264 up on its first picture, and raw options can only be
            // changed after that: prime it with a black picture (cheap, thrown away). A new
            // slice layout rebuilds openh264's context, so the next picture is an IDR anyway;
            // forcing one keeps that true whatever changed.
            let black = I420Frame::new(width, height);
            encoder.encode(&yuv_slices(&black))?;
            raw_options::apply(&mut encoder, options)?;
            encoder.force_intra_frame();
        }
        Ok(encoder)
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
            None => self.build(frame.width, frame.height)?,
        };
        let encoder = self.encoder.insert(encoder);
        self.size = size;
        let stream = encoder.encode(&yuv_slices(frame))?;
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

    /// In place through openh264's `ENCODER_OPTION_BITRATE` (see `raw_options`): the next
    /// picture is a P frame. Only if openh264 refuses (a rate beyond the level it chose) is the
    /// encoder rebuilt, at the cost of an IDR.
    fn set_bitrate(&mut self, bps: u32) -> Result<(), EncodeError> {
        if bps == 0 {
            return Err(EncodeError::Settings("bitrate must be positive"));
        }
        let from = std::mem::replace(&mut self.settings.bitrate_bps, bps);
        if let Some(encoder) = &mut self.encoder {
            if let Err(err) = raw_options::set_bitrate(encoder, from, bps) {
                tracing::warn!(%err, bps, "openh264 refused the bitrate in place; rebuilding (IDR)");
                self.encoder = None;
            }
        }
        Ok(())
    }

    fn set_frame_rate(&mut self, fps: f32) -> Result<(), EncodeError> {
        if !(fps.is_finite() && (1.0..=240.0).contains(&fps)) {
            return Err(EncodeError::Settings("max_fps must be within 1..=240"));
        }
        self.settings.max_fps = fps;
        if let Some(encoder) = &mut self.encoder {
            if let Err(err) = raw_options::set_frame_rate(encoder, fps) {
                tracing::warn!(%err, fps, "openh264 refused the frame rate in place; rebuilding");
                self.encoder = None;
            }
        }
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
    match settings.slicing {
        Slicing::MaxBytes(bytes) if bytes < MIN_SLICE_BYTES => {
            return Err(EncodeError::Settings("slices must be allowed at least 500 bytes"));
        }
        Slicing::Count(count) if !(1..=MAX_SLICES).contains(&count) => {
            return Err(EncodeError::Settings("slice count must be within 1..=32"));
        }
        _ => {}
    }
    if !(1..=MAX_THREADS).contains(&settings.threads) {
        return Err(EncodeError::Settings("threads must be within 1..=4"));
    }
    Ok(())
}

/// The crate's view of a consistent frame (its constructor asserts the plane sizes).
fn yuv_slices(frame: &I420Frame) -> YUVSlices<'_> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    YUVSlices::new((&frame.y, &frame.u, &frame.v), (w, h), (w, w / 2, w / 2))
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
mod tests;
