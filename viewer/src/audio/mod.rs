//! The receiving half of the audio: Opus RTP from webrtc-rs to a decode thread that places
//! each packet on the stream's timeline (silence for DTX pauses, concealment for losses),
//! decodes it, and hands the samples to the WAV dump and the speaker.
//!
//! ```text
//! tokio track task --RTP (bounded, try_send)--> tether-audio-decode thread --> WAV dump (--audio-dump)
//!                                                          |-------------> playback (cpal callback thread)
//! ```

mod decode;
pub mod playback;
mod wav;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use tether_media::telemetry::AudioReceiveStats;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

/// Packets between the network and the decoder: 2.5 s of 20 ms packets.
const RTP_QUEUE: usize = 128;

/// What the command line asked of the audio.
#[derive(Debug, Clone, Default)]
pub struct AudioSettings {
    /// Write what arrives to this WAV file (48 kHz stereo, 16-bit).
    pub dump: Option<PathBuf>,
    /// Play it on the default output device.
    pub play: bool,
}

struct Packet {
    sequence_number: u16,
    timestamp: u32,
    payload: Bytes,
    arrived: SystemTime,
}

/// Counters for the `audio:` line.
#[derive(Default)]
pub struct AudioStats {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub concealed: AtomicU64,
    pub late: AtomicU64,
    pub errors: AtomicU64,
    pub queue_drops: AtomicU64,
    /// Peak level of the last second, in hundredths of a dBFS below full scale.
    pub peak_centibels: AtomicU64,
}

/// The running audio receive side.
pub struct AudioReceiver {
    pub stats: Arc<AudioStats>,
    packets: Option<SyncSender<Packet>>,
    thread: Option<JoinHandle<()>>,
}

impl AudioReceiver {
    pub fn start(settings: AudioSettings) -> std::io::Result<Self> {
        let stats = Arc::new(AudioStats::default());
        // Nothing heard yet.
        stats.peak_centibels.store(u64::MAX, Ordering::Relaxed);
        let (tx, rx) = sync_channel(RTP_QUEUE);
        let thread = std::thread::Builder::new().name("tether-audio-decode".into()).spawn({
            let stats = stats.clone();
            move || decode::run(&settings, &rx, &stats)
        })?;
        Ok(AudioReceiver { stats, packets: Some(tx), thread: Some(thread) })
    }

    /// Reads the audio track until it ends; spawn it as a task.
    pub fn read_track(&self, track: Arc<dyn TrackRemote>) -> impl Future<Output = ()> + use<> {
        let (packets, stats) = (self.packets.clone(), self.stats.clone());
        async move {
            let Some(packets) = packets else { return };
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(p) => {
                        let packet = Packet {
                            sequence_number: p.header.sequence_number,
                            timestamp: p.header.timestamp,
                            payload: p.payload,
                            arrived: SystemTime::now(),
                        };
                        match packets.try_send(packet) {
                            Ok(()) => {}
                            Err(TrySendError::Full(_)) => {
                                stats.queue_drops.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(TrySendError::Disconnected(_)) => return,
                        }
                    }
                    TrackRemoteEvent::OnEnded => return,
                    _ => {}
                }
            }
        }
    }

    /// Ends the decode thread once the queue is drained; the dump is finalised.
    pub fn stop(mut self) {
        self.packets.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Turns the counters into one `audio:` line a second.
pub struct AudioStatsPrinter {
    last: Instant,
    bytes: u64,
}

impl AudioStatsPrinter {
    pub fn new() -> Self {
        AudioStatsPrinter { last: Instant::now(), bytes: 0 }
    }

    /// The `audio:` line: the rate and peak since the last call, and the session's counters.
    pub fn line(&mut self, stats: &AudioStats) -> AudioReceiveStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let bytes = get(&stats.bytes);
        let secs = self.last.elapsed().as_secs_f64().max(0.001);
        let peak = stats.peak_centibels.swap(u64::MAX, Ordering::Relaxed);
        let line = AudioReceiveStats {
            kbps: (bytes - self.bytes) as f64 * 8.0 / 1000.0 / secs,
            packets: get(&stats.packets),
            concealed: get(&stats.concealed),
            late: get(&stats.late),
            errors: get(&stats.errors),
            dropped: get(&stats.queue_drops),
            peak_dbfs: AudioReceiveStats::peak_from_centibels(peak),
        };
        *self = AudioStatsPrinter { last: Instant::now(), bytes };
        line
    }
}
