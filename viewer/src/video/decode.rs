//! The receiving half of the video: RTP from webrtc-rs goes to a decode thread that
//! reassembles access units, decodes them, keeps running stats, reads the latency probe, and
//! hands the latest picture to a snapshot writer.
//!
//! ```text
//! tokio track task --RTP (bounded, try_send)--> tether-decode thread --1/s--> tether-snapshot thread
//!        ^                                               |
//!        +---------------- PLI when wants_keyframe ------+
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tether_media::codec::{DecodedFrame, H264Decoder};
use tether_media::probe::{ProbeLayout, read_rgba};
use tether_media::rtc::{FrameAssembler, reorder_wait};
use tether_media::telemetry::{FreezeCounter, FreezeSummary};

use crate::private_file::write_png_private;
use crate::ui::SessionUi;

/// RTP packets buffered between the network and the decoder: a 1080p keyframe is a few
/// hundred, so this absorbs one without blocking webrtc-rs's track queue.
const RTP_QUEUE: usize = 4096;
/// How long a missing packet may be waited for (NACK retransmission) before the frame is lost,
/// at least; on a longer round trip, longer (`reorder_wait`).
const REORDER_WAIT: Duration = Duration::from_millis(120);
/// Latency readings in the first second after the first picture are left out: they measure
/// connection start-up (the first keyframe, the decoder warming up), not the steady state.
const LATENCY_WARMUP: Duration = Duration::from_secs(1);
/// The snapshot is rewritten at least this often while frames arrive.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);

/// One RTP packet as the decode thread needs it.
pub struct RtpIn {
    pub sequence_number: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub payload: Bytes,
}

/// Running counters, read by the stats line.
#[derive(Default)]
pub struct DecodeStats {
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    pub decode_us: AtomicU64,
    pub lost: AtomicU64,
    pub discarded: AtomicU64,
    pub queue_drops: AtomicU64,
    pub decode_errors: AtomicU64,
    pub width: AtomicU64,
    pub height: AtomicU64,
}

/// What the decode thread shares with the session.
pub struct Shared {
    pub stats: DecodeStats,
    pub wants_keyframe: AtomicBool,
    latencies_ms: Mutex<Vec<f64>>,
    freezes: Mutex<FreezeCounter>,
    /// The path's round-trip time, from the session's stats, in microseconds.
    pub rtt_us: AtomicU64,
}

impl Shared {
    /// Glass-to-glass latencies read so far, in milliseconds.
    pub fn latencies(&self) -> Vec<f64> {
        self.latencies_ms.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Gaps between decoded pictures over 200 ms, since the first picture.
    pub fn freezes(&self) -> FreezeSummary {
        self.freezes.lock().map(|f| f.summary).unwrap_or_default()
    }
}

/// The running decode side.
pub struct Decoding {
    pub shared: Arc<Shared>,
    rtp: Option<SyncSender<RtpIn>>,
    thread: Option<JoinHandle<()>>,
}

impl Decoding {
    pub fn start(
        snapshot: Option<PathBuf>,
        latency_probe: bool,
        ui: Option<Arc<dyn SessionUi>>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            stats: DecodeStats::default(),
            wants_keyframe: AtomicBool::new(false),
            latencies_ms: Mutex::new(Vec::new()),
            freezes: Mutex::new(FreezeCounter::default()),
            rtt_us: AtomicU64::new(0),
        });
        let (tx, rx) = sync_channel(RTP_QUEUE);
        let thread = std::thread::Builder::new().name("tether-decode".into()).spawn({
            let shared = shared.clone();
            move || decode_loop(rx, &shared, snapshot, latency_probe, ui.as_deref())
        })?;
        Ok(Decoding { shared, rtp: Some(tx), thread: Some(thread) })
    }

    /// A handle for the track task to feed packets in.
    pub fn feeder(&self) -> Option<Feeder> {
        self.rtp.clone().map(|tx| Feeder { tx, shared: self.shared.clone() })
    }

    /// Stops the thread after it has drained what it has; writes the last snapshot.
    pub fn stop(mut self) {
        self.rtp.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Feeds RTP packets to the decode thread without ever blocking the async side.
#[derive(Clone)]
pub struct Feeder {
    tx: SyncSender<RtpIn>,
    shared: Arc<Shared>,
}

impl Feeder {
    /// Queues a packet; returns false once the decode thread is gone.
    pub fn feed(&self, packet: RtpIn) -> bool {
        match self.tx.try_send(packet) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                // Dropping a packet breaks the frame it belongs to; the assembler notices the
                // gap and asks for a keyframe. Counted so it shows in the stats.
                self.shared.stats.queue_drops.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

fn decode_loop(
    rx: Receiver<RtpIn>,
    shared: &Shared,
    snapshot: Option<PathBuf>,
    latency_probe: bool,
    ui: Option<&dyn SessionUi>,
) {
    let mut decoder = match H264Decoder::new() {
        Ok(decoder) => decoder,
        Err(err) => {
            tracing::error!(%err, "cannot start the H.264 decoder");
            return;
        }
    };
    let mut assembler = FrameAssembler::new(REORDER_WAIT);
    // The round trip the wait was last set for (it changes once a second at most).
    let mut assembler_rtt_us = 0;
    let snapshots = snapshot.map(SnapshotWriter::start);
    let mut last_snapshot: Option<Instant> = None;
    let mut latest: Option<DecodedFrame> = None;
    let layout = ProbeLayout::default();
    // The widest picture seen: the screen's own size. On a slow link the agent sends the
    // screen at half size, and the probe with it.
    let mut full_width = 0;
    let mut first_picture: Option<Instant> = None;
    let mut have_picture = false;
    let mut decoder_broken = false;
    let stats = &shared.stats;
    loop {
        // Wake at least a few times a second so the snapshot is rewritten even when the screen
        // is still and no packets come.
        let packet = match rx.recv_timeout(SNAPSHOT_EVERY / 4) {
            Ok(packet) => Some(packet),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if let (Some(writer), Some(frame), true) = (&snapshots, &latest, have_picture) {
            if last_snapshot.is_none_or(|t| t.elapsed() >= SNAPSHOT_EVERY) {
                writer.offer(frame.clone());
                last_snapshot = Some(Instant::now());
            }
        }
        let Some(packet) = packet else { continue };
        let rtt_us = shared.rtt_us.load(Ordering::Relaxed);
        if rtt_us != assembler_rtt_us {
            assembler_rtt_us = rtt_us;
            assembler.set_max_wait(reorder_wait(Duration::from_micros(rtt_us), REORDER_WAIT));
        }
        let frames = assembler.push(
            Instant::now(),
            packet.sequence_number,
            packet.timestamp,
            packet.marker,
            packet.payload,
        );
        for frame in frames {
            let started = Instant::now();
            // One picture buffer, reused: a fresh 8 MB allocation per 1080p frame costs more
            // than the colour conversion that fills it.
            let decoded = latest.get_or_insert_with(DecodedFrame::default);
            match decoder.decode_into(&frame.data, decoded) {
                Ok(true) => {
                    let decoded_at = SystemTime::now();
                    if let Ok(mut freezes) = shared.freezes.lock() {
                        freezes.frame(Instant::now());
                    }
                    stats
                        .decode_us
                        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                    stats.frames.fetch_add(1, Ordering::Relaxed);
                    stats.bytes.fetch_add(frame.data.len() as u64, Ordering::Relaxed);
                    stats.width.store(u64::from(decoded.width), Ordering::Relaxed);
                    stats.height.store(u64::from(decoded.height), Ordering::Relaxed);
                    let warm =
                        first_picture.get_or_insert_with(Instant::now).elapsed() >= LATENCY_WARMUP;
                    full_width = full_width.max(decoded.width);
                    if latency_probe && warm {
                        let layout = scaled(layout, full_width, decoded.width);
                        if let Some(painted) =
                            read_rgba(&decoded.rgba, decoded.width, decoded.height, &layout)
                        {
                            let latency = tenths_ms(decoded_at).wrapping_sub(painted);
                            // A read older than 10 s is a stale or misread pattern, not a latency.
                            if latency < 100_000 {
                                if let Ok(mut l) = shared.latencies_ms.lock() {
                                    l.push(f64::from(latency) / 10.0);
                                }
                            }
                        }
                    }
                    if let Some(ui) = ui {
                        ui.frame(decoded);
                    }
                    have_picture = true;
                    decoder_broken &= !frame.keyframe;
                }
                Ok(false) => {}
                Err(err) => {
                    stats.decode_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%err, "frame did not decode; asking for a keyframe");
                    decoder_broken = true;
                }
            }
        }
        let a = assembler.stats();
        stats.lost.store(a.frames_lost, Ordering::Relaxed);
        stats.discarded.store(a.frames_discarded, Ordering::Relaxed);
        // The current need, not a latch: a keyframe that completes right after its first
        // packets must not be followed by a PLI asking for another one.
        let wanted = assembler.wants_keyframe() || decoder_broken;
        shared.wants_keyframe.store(wanted, Ordering::Relaxed);
    }
    if let (Some(writer), Some(frame), true) = (snapshots, latest, have_picture) {
        writer.offer(frame);
        writer.finish();
    }
}

/// Tenths of a millisecond of the wall clock, modulo 2^32: the probe's unit.
pub fn tenths_ms(at: SystemTime) -> u32 {
    let micros = at.duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    (micros / 100) as u32
}

/// Writes PNGs on its own thread so that compression never holds up decoding; only the
/// newest picture is kept.
struct SnapshotWriter {
    slot: Arc<(Mutex<Option<DecodedFrame>>, std::sync::Condvar)>,
    done: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl SnapshotWriter {
    fn start(path: PathBuf) -> Self {
        let slot: Arc<(Mutex<Option<DecodedFrame>>, std::sync::Condvar)> = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("tether-snapshot".into())
            .spawn({
                let (slot, done) = (slot.clone(), done.clone());
                move || loop {
                    let frame = {
                        let (lock, ready) = &*slot;
                        let Ok(mut guard) = lock.lock() else { return };
                        while guard.is_none() && !done.load(Ordering::Relaxed) {
                            guard = match ready.wait(guard) {
                                Ok(g) => g,
                                Err(_) => return,
                            };
                        }
                        guard.take()
                    };
                    match frame {
                        Some(f) => {
                            let written = write_png_private(&path, f.width, f.height, &f.rgba);
                            if let Err(err) = written {
                                tracing::warn!(%err, path = %path.display(), "snapshot not written");
                            }
                        }
                        None => return,
                    }
                }
            })
            .unwrap_or_else(|_| std::thread::spawn(|| {}));
        SnapshotWriter { slot, done, thread }
    }

    fn offer(&self, frame: DecodedFrame) {
        let (lock, ready) = &*self.slot;
        if let Ok(mut guard) = lock.lock() {
            *guard = Some(frame);
            ready.notify_one();
        }
    }

    /// Writes what is pending and stops.
    fn finish(self) {
        self.done.store(true, Ordering::Relaxed);
        self.slot.1.notify_one();
        let _ = self.thread.join();
    }
}

/// The probe's layout in a picture `width` wide that shows a screen `full_width` wide.
fn scaled(layout: ProbeLayout, full_width: u32, width: u32) -> ProbeLayout {
    let divisor = (full_width / width.max(1)).max(1);
    ProbeLayout { x: layout.x / divisor, y: layout.y / divisor, block: layout.block / divisor }
}
