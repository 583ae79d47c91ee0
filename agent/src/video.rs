//! The video pipeline of one session: a capture/encode thread and a sender task, joined by a
//! latest-frame-wins [`FrameGate`].
//!
//! ```text
//! tether-video thread: capture -> changed? -> BGRA->I420 -> H.264 --push--> FrameGate
//! tokio sender task:                               FrameGate --take--> RTP (webrtc-rs)
//! tokio rtcp task:     PLI/FIR from the viewer --> gate.request_keyframe()
//! ```
//! The capture thread paces itself to the frame rate and does no encoding while the screen
//! does not change. A slow network never builds a queue: the gate holds one frame.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtc::media::Sample;
use tether_media::codec::{
    EncodedFrame, EncoderSettings, H264Encoder, I420Frame, VideoEncoder, bgra_to_i420,
};
use tether_proto::FrameGate;
use tokio::sync::Notify;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};

use crate::capture::{CaptureError, ChangeDetector, FrameSource};

/// Opens the frame source on the capture thread (X11 handles cannot move between threads).
pub type SourceFactory = Box<dyn FnOnce() -> Result<Box<dyn FrameSource>, CaptureError> + Send>;

/// Settings for one session's video.
#[derive(Debug, Clone)]
pub struct VideoSettings {
    pub max_fps: f32,
    pub bitrate_bps: u32,
}

/// A frame on its way to the network.
struct OutFrame {
    frame: EncodedFrame,
    captured_at: Instant,
}

/// What the capture thread and the sender share.
struct Shared {
    gate: Mutex<FrameGate<OutFrame>>,
    frame_ready: Notify,
    stop: AtomicBool,
    stats: Stats,
}

/// Per-stage counters; `report` prints and resets them every few seconds, `summary` prints the
/// whole session's totals (the benchmark reads that line).
#[derive(Default)]
struct Stats {
    captured: AtomicU64,
    encoded: AtomicU64,
    sent: AtomicU64,
    bytes: AtomicU64,
    capture_us: AtomicU64,
    convert_us: AtomicU64,
    encode_us: AtomicU64,
    total: Totals,
}

#[derive(Default)]
struct Totals {
    captured: AtomicU64,
    encoded: AtomicU64,
    sent: AtomicU64,
    bytes: AtomicU64,
    capture_us: AtomicU64,
    convert_us: AtomicU64,
    encode_us: AtomicU64,
}

fn add(counter: &AtomicU64, total: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
    total.fetch_add(n, Ordering::Relaxed);
}

/// A running pipeline; [`VideoPipeline::stop`] ends and joins everything it started.
pub struct VideoPipeline {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), CaptureError>>>,
    sender: tokio::task::JoinHandle<()>,
    rtcp: tokio::task::JoinHandle<()>,
}

impl VideoPipeline {
    /// Starts capturing and sending on `track` (`ssrc`, negotiated `payload_type`).
    pub fn start(
        open_source: SourceFactory,
        settings: VideoSettings,
        track: Arc<TrackLocalStaticSample>,
        ssrc: u32,
        payload_type: u8,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            gate: Mutex::new(FrameGate::new()),
            frame_ready: Notify::new(),
            stop: AtomicBool::new(false),
            stats: Stats::default(),
        });
        let thread = std::thread::Builder::new().name("tether-video".into()).spawn({
            let shared = shared.clone();
            move || capture_loop(open_source, settings, &shared)
        })?;
        let sender = tokio::spawn(send_loop(shared.clone(), track.clone(), ssrc, payload_type));
        let rtcp = tokio::spawn(keyframe_requests(shared.clone(), track));
        Ok(VideoPipeline { shared, thread: Some(thread), sender, rtcp })
    }

    /// Whether the capture thread ended on its own (a capture error).
    pub fn capture_ended(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops the thread and tasks and waits for them; returns the capture error, if any.
    pub async fn stop(mut self) -> Option<CaptureError> {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.frame_ready.notify_one();
        self.sender.abort();
        self.rtcp.abort();
        let thread = self.thread.take()?;
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        println!("{}", summary(&self.shared.stats));
        match joined {
            Ok(Ok(Err(err))) => Some(err),
            _ => None,
        }
    }
}

fn capture_loop(
    open_source: SourceFactory,
    settings: VideoSettings,
    shared: &Shared,
) -> Result<(), CaptureError> {
    let mut source = open_source()?;
    let mut encoder = H264Encoder::new(EncoderSettings {
        bitrate_bps: settings.bitrate_bps,
        max_fps: settings.max_fps,
        ..EncoderSettings::default()
    })
    .map_err(|e| CaptureError::Other(format!("cannot start the H.264 encoder: {e}")))?;
    let mut detector = ChangeDetector::default();
    let mut i420 = I420Frame::new(2, 2);
    let interval = Duration::from_secs_f32(1.0 / settings.max_fps.max(1.0));
    let mut next_tick = Instant::now();
    let mut first = true;
    let mut last_report = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if next_tick > now {
            std::thread::sleep(next_tick - now);
        }
        next_tick = (next_tick + interval).max(Instant::now());
        let capture_started = Instant::now();
        let frame = source.capture()?;
        let stats = &shared.stats;
        add(&stats.captured, &stats.total.captured, 1);
        add(&stats.capture_us, &stats.total.capture_us, micros(capture_started));
        let changed = detector.changed(&frame);
        let force_keyframe = first || lock(&shared.gate).keyframe_wanted(frame.captured_at);
        if !changed && !force_keyframe {
            continue;
        }
        let convert_started = Instant::now();
        bgra_to_i420(frame.data, frame.width, frame.height, frame.stride, &mut i420)
            .map_err(|e| CaptureError::Other(format!("colour conversion failed: {e}")))?;
        add(&stats.convert_us, &stats.total.convert_us, micros(convert_started));
        let captured_at = frame.captured_at;
        let encode_started = Instant::now();
        let encoded = match encoder.encode(&i420, force_keyframe) {
            Ok(Some(encoded)) => encoded,
            Ok(None) => continue,
            Err(err) => {
                tracing::warn!(%err, "encoding failed; asking for a keyframe");
                lock(&shared.gate).request_keyframe(Instant::now());
                continue;
            }
        };
        first = false;
        add(&stats.encode_us, &stats.total.encode_us, micros(encode_started));
        add(&stats.encoded, &stats.total.encoded, 1);
        let keyframe = encoded.keyframe;
        lock(&shared.gate).push(Instant::now(), OutFrame { frame: encoded, captured_at }, keyframe);
        shared.frame_ready.notify_one();
        if last_report.elapsed() >= Duration::from_secs(5) {
            report(stats, last_report.elapsed());
            last_report = Instant::now();
        }
    }
    Ok(())
}

fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros().try_into().unwrap_or(u64::MAX)
}

fn per_frame_ms(us: u64, frames: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0 / frames.max(1) as f64)
}

fn report(stats: &Stats, over: Duration) {
    let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
    let (captured, encoded) = (take(&stats.captured), take(&stats.encoded));
    let secs = over.as_secs_f64().max(0.001);
    tracing::info!(
        captured_fps = format!("{:.1}", captured as f64 / secs),
        encoded_fps = format!("{:.1}", encoded as f64 / secs),
        sent_fps = format!("{:.1}", take(&stats.sent) as f64 / secs),
        kbps = format!("{:.0}", take(&stats.bytes) as f64 * 8.0 / 1000.0 / secs),
        capture_ms = per_frame_ms(take(&stats.capture_us), captured),
        convert_ms = per_frame_ms(take(&stats.convert_us), encoded),
        encode_ms = per_frame_ms(take(&stats.encode_us), encoded),
        "video"
    );
}

/// One stdout line with the session's totals, e.g.
/// `video: captured=600 encoded=590 sent=588 bytes=... capture_ms=0.40 convert_ms=0.31 encode_ms=6.10`.
fn summary(stats: &Stats) -> String {
    let t = &stats.total;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let (captured, encoded) = (get(&t.captured), get(&t.encoded));
    format!(
        "video: captured={captured} encoded={encoded} sent={} bytes={} capture_ms={} convert_ms={} encode_ms={}",
        get(&t.sent),
        get(&t.bytes),
        per_frame_ms(get(&t.capture_us), captured),
        per_frame_ms(get(&t.convert_us), encoded),
        per_frame_ms(get(&t.encode_us), encoded),
    )
}

async fn send_loop(
    shared: Arc<Shared>,
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    payload_type: u8,
) {
    let mut previous: Option<Instant> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        shared.frame_ready.notified().await;
        loop {
            let Some((out, _keyframe)) = lock(&shared.gate).take() else { break };
            // The packetizer stamps this sample with the current RTP time and then advances it
            // by `duration`; capture-to-capture spacing keeps the clock true to the screen.
            let duration = previous.map_or(Duration::from_millis(16), |p| {
                out.captured_at.saturating_duration_since(p)
            });
            previous = Some(out.captured_at);
            let bytes = out.frame.data.len() as u64;
            let sample = Sample { data: out.frame.data, duration, ..Sample::new(out.captured_at) };
            if let Err(err) = track.sample_writer(ssrc, payload_type).write_sample(&sample).await {
                tracing::debug!(%err, "frame not sent");
                continue;
            }
            let stats = &shared.stats;
            add(&stats.sent, &stats.total.sent, 1);
            add(&stats.bytes, &stats.total.bytes, bytes);
        }
    }
}

/// Turns PLI/FIR from the viewer into a keyframe request at the gate.
async fn keyframe_requests(shared: Arc<Shared>, track: Arc<TrackLocalStaticSample>) {
    while let Some(event) = track.poll().await {
        // Only PLI and FIR reach the track (see tether_media::rtc's keyframe forwarder).
        if let TrackLocalEvent::OnRtcpPacket(_) = event {
            tracing::debug!("keyframe requested by the viewer");
            lock(&shared.gate).request_keyframe(Instant::now());
        }
    }
}

/// The gate's lock is never held across anything that can panic; a poisoned lock still holds
/// consistent state, so take it rather than propagate the panic.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
