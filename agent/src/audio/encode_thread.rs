//! The `tether-audio` thread: captured chunks to stamped Opus frames.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand_core::RngCore;
use tether_media::audio::{
    AudioStamper, FRAME_LEN, OpusEncoder, Resampler, SAMPLE_RATE, to_stereo,
};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::{AudioError, AudioSettings, AudioSourceFactory, OutFrame, Stats};

/// How long to wait for a chunk before looking at the stop flag again.
const POLL: Duration = Duration::from_millis(100);
/// Expected loss the encoder spends in-band FEC on.
const LOSS_PERCENT: u8 = 5;
/// At most this much silence stands in for chunks the device dropped: 1 s.
const MAX_FILL: u64 = SAMPLE_RATE as u64;

pub(super) fn run(
    open: AudioSourceFactory,
    settings: AudioSettings,
    stop: &AtomicBool,
    stats: &Stats,
    frames: &mpsc::Sender<OutFrame>,
) -> Result<(), AudioError> {
    let mut source = open()?;
    let format = source.format();
    tracing::info!(source = %source.describe(), rate = format.sample_rate, channels = format.channels, "capturing system audio");
    println!("audio: capturing {}", source.describe());
    let mut encoder = OpusEncoder::new(settings.bitrate_bps, LOSS_PERCENT)?;
    let mut resampler = Resampler::new(format.sample_rate, SAMPLE_RATE);
    let mut rng = rand_core::OsRng;
    let mut stamper = AudioStamper::new(rng.next_u32(), rng.next_u32() as u16);
    let (mut stereo, mut pending) = (Vec::new(), Vec::with_capacity(4 * FRAME_LEN));
    let mut live = false;
    while !stop.load(Ordering::Relaxed) {
        let Some(chunk) = source.next_chunk(POLL)? else { continue };
        if !live {
            live = true;
            // Tests and scripts wait for this: devices take from milliseconds to seconds to
            // deliver their first samples.
            println!("audio: live");
        }
        if chunk.lost_before > 0 {
            Stats::add(&stats.device_drops, chunk.lost_before);
            // Silence keeps the clock true across what the device dropped.
            let frames_48k =
                chunk.lost_before * u64::from(SAMPLE_RATE) / u64::from(format.sample_rate.max(1));
            let fill = usize::try_from(frames_48k.min(MAX_FILL)).unwrap_or(0) * 2;
            pending.resize(pending.len() + fill, 0.0);
        }
        Stats::add(&stats.captured_frames, (chunk.samples.len() / format.channels.max(1)) as u64);
        stereo.clear();
        to_stereo(&chunk.samples, format.channels, &mut stereo);
        resampler.process(&stereo, &mut pending);
        let mut used = 0;
        while pending.len() - used >= FRAME_LEN {
            let packet = encoder.encode(&pending[used..used + FRAME_LEN])?;
            used += FRAME_LEN;
            Stats::add(&stats.encoded, 1);
            let Some(stamp) = stamper.frame(packet.len()) else {
                Stats::add(&stats.dtx, 1);
                continue;
            };
            let out = OutFrame {
                data: bytes::Bytes::copy_from_slice(packet),
                stamp,
                captured_at: Instant::now(),
            };
            match frames.try_send(out) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => Stats::add(&stats.queue_drops, 1),
                Err(TrySendError::Closed(_)) => return Ok(()),
            }
        }
        pending.drain(..used);
    }
    Ok(())
}
