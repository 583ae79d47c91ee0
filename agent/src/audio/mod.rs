//! System audio of one session: what the computer plays, as Opus on a second track.
//!
//! ```text
//! capture callback (cpal's thread): samples --try_send, drops counted--> [chunks 64]
//! tether-audio thread:   chunks -> stereo -> 48 kHz -> 20 ms frames -> Opus -> stamp
//!                        --try_send, drops counted--> [frames 50]
//! tokio sender task:     frames -> RTP packets on the audio track (webrtc-rs)
//! ```
//! DTX frames (silence) are stamped but not sent. A missing or broken audio device ends only
//! the audio thread, with a warning: the video goes on.

mod encode_thread;
mod send;
#[cfg(test)]
mod synthetic;
mod system;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tether_media::audio::AudioCodecError;
use tether_media::rtc::{RtcError, audio_track};
use tether_media::telemetry::AudioSendStats;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

#[cfg(test)]
pub use synthetic::ToneSource;
pub use system::open_system_output;

/// Encoded frames waiting for the sender task: 1 s. More means the network task is stuck,
/// and old audio is worth nothing then.
const FRAME_QUEUE: usize = 50;

/// What a capture device delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFormat {
    pub sample_rate: u32,
    pub channels: usize,
}

/// Interleaved samples in -1..1, as the device delivered them.
pub struct Chunk {
    pub samples: Vec<f32>,
    /// Frames (samples per channel) the device delivered before this chunk that were dropped
    /// because the audio thread was behind; the clock skips them.
    pub lost_before: u64,
}

/// A source of captured audio: the system output, or a synthetic tone in tests.
pub trait AudioSource {
    fn format(&self) -> AudioFormat;
    /// What is being captured, for the log.
    fn describe(&self) -> String;
    /// Waits up to `timeout` for the next chunk; `Ok(None)` if none came.
    fn next_chunk(&mut self, timeout: Duration) -> Result<Option<Chunk>, AudioError>;
}

/// Opens the source on the audio thread (cpal streams may not move between threads).
pub type AudioSourceFactory = Box<dyn FnOnce() -> Result<Box<dyn AudioSource>, AudioError> + Send>;

/// Why there is no audio.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// No device to capture the system output from.
    #[error("no system audio to capture: {0}")]
    NoDevice(String),
    /// The device refused or failed.
    #[error("audio device: {0}")]
    Device(String),
    /// The source stopped delivering for good.
    #[error("the audio source ended")]
    Ended,
    #[error(transparent)]
    Codec(#[from] AudioCodecError),
}

/// Settings for one session's audio.
#[derive(Debug, Clone, Copy)]
pub struct AudioSettings {
    pub bitrate_bps: u32,
}

impl Default for AudioSettings {
    fn default() -> Self {
        // Transparent for music at 48 kHz stereo; speech and system sounds need far less,
        // and silence costs nothing with DTX.
        AudioSettings { bitrate_bps: 64_000 }
    }
}

/// Counters shared by the audio thread and the sender, printed as the `audio:` line.
#[derive(Default)]
struct Stats {
    captured_frames: AtomicU64,
    device_drops: AtomicU64,
    encoded: AtomicU64,
    dtx: AtomicU64,
    queue_drops: AtomicU64,
    sent: AtomicU64,
    bytes: AtomicU64,
}

impl Stats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The session's totals, printed as the `audio:` line.
    fn summary(&self) -> AudioSendStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AudioSendStats {
            frames: get(&self.encoded),
            sent: get(&self.sent),
            dtx: get(&self.dtx),
            bytes: get(&self.bytes),
            device_drops: get(&self.device_drops),
            queue_drops: get(&self.queue_drops),
        }
    }
}

/// One encoded frame on its way to the network.
struct OutFrame {
    data: bytes::Bytes,
    stamp: tether_media::audio::StampedFrame,
    /// When its first sample reached the audio thread.
    captured_at: Instant,
}

/// The session's audio track, added to the peer connection before the offer.
pub struct AudioTrack {
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
}

impl AudioTrack {
    pub async fn add_to(pc: &dyn PeerConnection, ssrc: u32) -> Result<Self, RtcError> {
        let track = audio_track(ssrc);
        let sender = pc.add_track(track.clone()).await?;
        Ok(AudioTrack { track, sender, ssrc })
    }

    /// Starts capturing and sending, once connected. `Ok(None)` if the viewer accepted no
    /// audio codec (the video goes on without).
    pub async fn start(
        &self,
        open: AudioSourceFactory,
        settings: AudioSettings,
    ) -> std::io::Result<Option<AudioPipeline>> {
        let params = self.sender.get_parameters().await;
        let Some(payload_type) =
            params.ok().and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type))
        else {
            tracing::warn!("the viewer accepted no audio codec; sharing video only");
            return Ok(None);
        };
        AudioPipeline::start(open, settings, self.track.clone(), self.ssrc, payload_type).map(Some)
    }
}

/// A running audio pipeline; [`AudioPipeline::stop`] ends and joins what it started.
pub struct AudioPipeline {
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    thread: Option<JoinHandle<Result<(), AudioError>>>,
    sender: tokio::task::JoinHandle<()>,
}

impl AudioPipeline {
    pub fn start(
        open: AudioSourceFactory,
        settings: AudioSettings,
        track: Arc<TrackLocalStaticRTP>,
        ssrc: u32,
        payload_type: u8,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let (frames_tx, frames_rx) = mpsc::channel(FRAME_QUEUE);
        let thread = std::thread::Builder::new().name("tether-audio".into()).spawn({
            let (stop, stats) = (stop.clone(), stats.clone());
            move || {
                let result = encode_thread::run(open, settings, &stop, &stats, &frames_tx);
                if let Err(err) = &result {
                    // Not fatal: the session goes on with video only.
                    tracing::warn!(%err, "system audio is not shared");
                    println!("audio: off ({err})");
                }
                result
            }
        })?;
        let sender =
            tokio::spawn(send::send_loop(frames_rx, track, ssrc, payload_type, stats.clone()));
        Ok(AudioPipeline { stop, stats, thread: Some(thread), sender })
    }

    /// Stops and joins; prints the session's `audio:` totals.
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        // The thread dropped its end of the channel: the sender drains what is left and ends.
        let _ = (&mut self.sender).await;
        println!("{}", self.stats.summary());
    }
}

impl Drop for AudioPipeline {
    /// Dropped without `stop` (an error path): the thread stops capturing, and the sender ends
    /// with its channel.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
