//! The async side: frames from the gate onto the track as RTP stamped with their capture
//! time, keyframe requests back to the gate.

use std::sync::Arc;
use std::time::Instant;

use tether_media::rtc::{PacketizerStart, VideoPacketizer};
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
    let mut last_capture: Option<Instant> = None;
    while !shared.stopping() {
        shared.frame_ready.notified().await;
        loop {
            let Some((out, _keyframe)) = lock(&shared.gate).take() else { break };
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
            if send_packets(&track, packets).await {
                shared.stats.add(Counter::Sent, 1);
                shared.stats.add(Counter::Bytes, out.frame.data.len() as u64);
            }
        }
    }
}

/// Writes one frame's packets; false if any of them could not be written.
async fn send_packets(track: &TrackLocalStaticRTP, packets: Vec<rtc::rtp::packet::Packet>) -> bool {
    let mut all = true;
    for packet in packets {
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
