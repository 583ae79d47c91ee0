//! The async side: frames from the gate onto the track as RTP stamped with their capture
//! time and paced at a multiple of the target bitrate, keyframe requests back to the gate.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tether_media::rtc::{Pacer, PacketizerStart, VideoPacketizer};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};

use super::stats::Counter;
use super::{Shared, lock};

pub(super) async fn send_loop(
    shared: Arc<Shared>,
    track: Arc<TrackLocalStaticRTP>,
    start: PacketizerStart,
) {
    let mut rtp = VideoPacketizer::new(start);
    let mut pacer = Pacer::new(shared.target_bps.load(Ordering::Relaxed));
    let mut last_capture: Option<Instant> = None;
    while !shared.stopping() {
        shared.frame_ready.notified().await;
        loop {
            let Some((out, _keyframe)) = lock(&shared.gate).take() else { break };
            // The encoder waits while a frame is pending: it may go on.
            shared.raw_ready.notify_one();
            // A keyframe re-encoded from the last capture (asked for on a still screen) shows
            // that picture as of now, not as of its capture long ago.
            let stamp = match last_capture {
                Some(last) if out.captured_at <= last => Instant::now(),
                _ => out.captured_at,
            };
            last_capture = Some(out.captured_at);
            let packets = match rtp.packetize(&out.frame.data, stamp) {
                Ok(packets) => packets,
                Err(err) => {
                    tracing::warn!(%err, "frame not sent; asking for a keyframe");
                    lock(&shared.gate).request_keyframe(Instant::now());
                    continue;
                }
            };
            // The link estimate, when it is above the encoder's target, is what the link can
            // carry: a frame larger than the target (a keyframe, a busy screen at the lowest
            // rate) drains at that pace rather than backing up behind a slow pacer.
            let target = shared.target_bps.load(Ordering::Relaxed);
            let link_bps = target.max(shared.estimate_bps.load(Ordering::Relaxed));
            pacer.set_target(link_bps);
            if out.frame.keyframe {
                // The next keyframe no sooner than this one takes the link twice over.
                let bits = out.frame.data.len() as f64 * 8.0;
                let spacing = Duration::from_secs_f64(2.0 * bits / f64::from(link_bps.max(1)));
                lock(&shared.gate).set_keyframe_spacing(spacing);
            }
            if send_packets(&track, &mut pacer, packets).await {
                shared.stats.add(Counter::Sent, 1);
                shared.stats.add(Counter::Bytes, out.frame.data.len() as u64);
            }
            let lag = out.encoded_at.elapsed().as_micros();
            shared.send_lag_us.store(u64::try_from(lag).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }
}

/// RTP header and SRTP tag, besides the payload, counted against the pacing budget.
const PACKET_OVERHEAD: usize = 12 + 10;

/// Writes one frame's packets as the pacer releases them; false if any could not be written.
async fn send_packets(
    track: &TrackLocalStaticRTP,
    pacer: &mut Pacer,
    packets: Vec<rtc::rtp::packet::Packet>,
) -> bool {
    let mut all = true;
    for packet in packets {
        let now = Instant::now();
        let at = pacer.send_at(now);
        if at > now {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        }
        pacer.sent(at, packet.payload.len() + PACKET_OVERHEAD);
        if let Err(err) = track.write_rtp(packet).await {
            tracing::debug!(%err, "video packet not sent");
            all = false;
        }
    }
    all
}

/// Turns PLI/FIR from the viewer into a keyframe request at the gate.
pub(super) async fn keyframe_requests(shared: Arc<Shared>, track: Arc<TrackLocalStaticRTP>) {
    while let Some(event) = track.poll().await {
        // Only PLI and FIR reach the track (see tether_media::rtc's keyframe forwarder).
        if let TrackLocalEvent::OnRtcpPacket(_) = event {
            tracing::debug!("keyframe requested by the viewer");
            lock(&shared.gate).request_keyframe(Instant::now());
        }
    }
}
