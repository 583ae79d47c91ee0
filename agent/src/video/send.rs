//! The async side: frames from the gate onto the track, keyframe requests back to the gate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::media::Sample;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};

use super::stats::Counter;
use super::{Shared, lock};

pub(super) async fn send_loop(
    shared: Arc<Shared>,
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    payload_type: u8,
) {
    let mut previous: Option<Instant> = None;
    while !shared.stopping() {
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
            shared.stats.add(Counter::Sent, 1);
            shared.stats.add(Counter::Bytes, bytes);
        }
    }
}

/// Turns PLI/FIR from the viewer into a keyframe request at the gate.
pub(super) async fn keyframe_requests(shared: Arc<Shared>, track: Arc<TrackLocalStaticSample>) {
    while let Some(event) = track.poll().await {
        // Only PLI and FIR reach the track (see tether_media::rtc's keyframe forwarder).
        if let TrackLocalEvent::OnRtcpPacket(_) = event {
            tracing::debug!("keyframe requested by the viewer");
            lock(&shared.gate).request_keyframe(Instant::now());
        }
    }
}
