//! Audio stage shared by agent and viewer: Opus at 48 kHz stereo in 20 ms frames, a small
//! resampler for capture and playback devices that run at other rates, and the pure RTP
//! timing logic of both ends (timestamps from the capture's sample clock on the way out;
//! losses, DTX gaps and duplicates on the way in).

mod opus_codec;
mod resample;
mod timeline;

pub use opus_codec::{AudioCodecError, OpusDecoder, OpusEncoder};
pub use resample::{Resampler, to_stereo};
pub use timeline::{AudioStamper, Placement, ReceiveTimeline, StampedFrame};

/// Opus's and Tether's audio rate, in Hz (also the RTP clock rate of Opus).
pub const SAMPLE_RATE: u32 = 48_000;
/// Channels sent: the system output is usually stereo, and Opus stereo costs little more.
pub const CHANNELS: usize = 2;
/// Samples per channel in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 960;
/// Interleaved samples in one frame.
pub const FRAME_LEN: usize = FRAME_SAMPLES * CHANNELS;
/// Opus packets of this size or smaller are DTX frames: "nothing changed, still silent".
/// They are not sent; the gap in RTP timestamps says the same thing for free.
pub const DTX_MAX_BYTES: usize = 2;
