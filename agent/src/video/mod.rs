//! The video pipeline of one session: a capture thread, an encode thread and a sender task.
//!
//! ```text
//! tether-capture thread: capture -> changed? -> BGRA->I420 --latest wins--> raw slot
//! tether-encode thread:  raw slot -> H.264 --push--> FrameGate (latest wins, chain-safe)
//! tokio sender task:     FrameGate --take--> RTP, paced at 2.5x the target (webrtc-rs)
//! tokio rtcp task:       PLI/FIR from the viewer --> gate.request_keyframe()
//! webrtc-rs driver:      TWCC feedback --> LinkEstimator --> LinkEstimate --> rate::RateControl (encode
//!                        thread) --> encoder bitrate, fps, half size, frame budget; pacer rate
//! ```
//! Capture and encoding overlap on the two threads, so a frame's capture never waits for the
//! previous frame's encode. Neither hand-off queues: a slow encoder or network drops frames
//! (the gate keeps the reference chain intact), and a still screen costs no encoding at all.

mod capture_thread;
mod encode_thread;
mod rate;
mod send;
mod stats;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use tether_media::codec::{EncodedFrame, I420Frame};
use tether_media::rtc::{LinkEstimate, PacketizerStart};
use tether_session::FrameGate;
use tokio::sync::Notify;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;

use crate::capture::{CaptureError, FrameSource};
pub use rate::MIN_BITRATE_BPS;
use stats::Stats;

/// Opens the frame source on the capture thread (X11 handles cannot move between threads).
pub type SourceFactory = Box<dyn FnOnce() -> Result<Box<dyn FrameSource>, CaptureError> + Send>;

/// Settings for one session's video.
#[derive(Debug, Clone)]
pub struct VideoSettings {
    pub max_fps: f32,
    pub bitrate_bps: u32,
    /// Follow the link's estimate (off with `--fixed-bitrate`).
    pub adaptive: bool,
}

/// A converted picture waiting for the encoder.
struct RawFrame {
    i420: I420Frame,
    captured_at: Instant,
}

/// The capture-to-encode hand-off: at most one waiting picture, plus a spare buffer passed
/// back so that 1080p frames are not reallocated each time.
#[derive(Default)]
struct RawSlot {
    frame: Option<RawFrame>,
    spare: Option<I420Frame>,
}

/// A frame on its way to the network.
struct OutFrame {
    frame: EncodedFrame,
    captured_at: Instant,
    encoded_at: Instant,
}

/// What the threads and tasks share.
struct Shared {
    raw: Mutex<RawSlot>,
    raw_ready: Condvar,
    gate: Mutex<FrameGate<OutFrame>>,
    frame_ready: Notify,
    /// Set while the encoder works on a picture: the capture thread then waits, so that the
    /// picture it takes next is as fresh as possible when the encoder is free for it, and two
    /// busy threads do not fight over the cores the viewer and the X server also need.
    encoding: AtomicBool,
    stop: AtomicBool,
    stats: Stats,
    /// The rate controller's bitrate, for the pacer.
    target_bps: AtomicU32,
    /// The link estimate (0 before one), for the pacer.
    estimate_bps: AtomicU32,
    /// The rate controller's frame rate (`f32` bits), for the capture thread.
    target_fps_bits: AtomicU32,
    /// How long the last frame took from the encoder to its last packet's release: more than
    /// a frame interval means the sender is falling behind.
    send_lag_us: AtomicU64,
}

impl Shared {
    fn new(settings: &VideoSettings) -> Arc<Self> {
        Arc::new(Shared {
            raw: Mutex::new(RawSlot::default()),
            raw_ready: Condvar::new(),
            gate: Mutex::new(FrameGate::new()),
            frame_ready: Notify::new(),
            encoding: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            stats: Stats::default(),
            target_bps: AtomicU32::new(settings.bitrate_bps),
            estimate_bps: AtomicU32::new(0),
            target_fps_bits: AtomicU32::new(settings.max_fps.to_bits()),
            send_lag_us: AtomicU64::new(0),
        })
    }

    fn target_fps(&self) -> f32 {
        f32::from_bits(self.target_fps_bits.load(Ordering::Relaxed))
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.raw_ready.notify_all();
        self.frame_ready.notify_one();
    }
}

/// A running pipeline; [`VideoPipeline::stop`] ends and joins everything it started.
pub struct VideoPipeline {
    shared: Arc<Shared>,
    capture: Option<JoinHandle<Result<(), CaptureError>>>,
    encode: Option<JoinHandle<Result<(), String>>>,
    sender: tokio::task::JoinHandle<()>,
    rtcp: tokio::task::JoinHandle<()>,
}

impl VideoPipeline {
    /// Starts capturing and sending on `track`, packetized as `rtp` says (its epoch must not
    /// be later than now: captures are stamped relative to it). With `estimate`, the
    /// congestion controller's, quality follows the link.
    pub fn start(
        open_source: SourceFactory,
        settings: VideoSettings,
        track: Arc<TrackLocalStaticRTP>,
        rtp: PacketizerStart,
        estimate: Option<Arc<LinkEstimate>>,
    ) -> std::io::Result<Self> {
        let shared = Shared::new(&settings);
        let (capture, encode) = spawn_threads(&shared, open_source, settings, estimate)?;
        let sender = tokio::spawn(send::send_loop(shared.clone(), track.clone(), rtp));
        let rtcp = tokio::spawn(send::keyframe_requests(shared.clone(), track));
        Ok(VideoPipeline { shared, capture: Some(capture), encode: Some(encode), sender, rtcp })
    }

    /// Whether a thread ended on its own (a capture or encoder error).
    pub fn capture_ended(&self) -> bool {
        fn done<T>(thread: &Option<JoinHandle<T>>) -> bool {
            thread.as_ref().is_none_or(JoinHandle::is_finished)
        }
        done(&self.capture) || done(&self.encode)
    }

    /// Stops the threads and tasks and waits for them; returns why capture or encoding
    /// stopped, if it stopped with an error. Prints the session's `video:` totals.
    pub async fn stop(mut self) -> Option<String> {
        self.halt();
        let (capture, encode) = (self.capture.take(), self.encode.take());
        let joined = tokio::task::spawn_blocking(move || {
            (capture.map(|t| t.join()), encode.map(|t| t.join()))
        })
        .await;
        println!("{}", self.shared.stats.summary());
        match joined {
            Ok((Some(Ok(Err(err))), _)) => Some(err.to_string()),
            Ok((_, Some(Ok(Err(err))))) => Some(err),
            _ => None,
        }
    }
}

impl VideoPipeline {
    /// Tells the threads to stop and ends the tasks, without waiting.
    fn halt(&self) {
        self.shared.request_stop();
        self.sender.abort();
        self.rtcp.abort();
    }
}

impl Drop for VideoPipeline {
    /// Dropped without `stop` (an error path): nothing goes on capturing the screen.
    fn drop(&mut self) {
        self.halt();
    }
}

type Threads = (JoinHandle<Result<(), CaptureError>>, JoinHandle<Result<(), String>>);

fn spawn_threads(
    shared: &Arc<Shared>,
    open_source: SourceFactory,
    settings: VideoSettings,
    estimate: Option<Arc<LinkEstimate>>,
) -> std::io::Result<Threads> {
    let capture = std::thread::Builder::new().name("tether-capture".into()).spawn({
        let shared = shared.clone();
        move || {
            let result = capture_thread::run(open_source, &shared);
            // The encoder has nothing more to wait for.
            shared.request_stop();
            result
        }
    })?;
    let encode = std::thread::Builder::new().name("tether-encode".into()).spawn({
        let shared = shared.clone();
        move || {
            let result = encode_thread::run(&settings, estimate, &shared);
            shared.request_stop();
            result
        }
    })?;
    Ok((capture, encode))
}

/// The locks here are never held across anything that can panic; a poisoned lock still holds
/// consistent state, so take it rather than propagate the panic.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
