//! The async side: stamped Opus frames onto the audio track as RTP packets.

use std::sync::Arc;

use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;

use super::{OutFrame, Stats};

pub(super) async fn send_loop(
    mut frames: mpsc::Receiver<OutFrame>,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    payload_type: u8,
    stats: Arc<Stats>,
) {
    while let Some(frame) = frames.recv().await {
        let bytes = frame.data.len() as u64;
        let packet = Packet {
            header: Header {
                version: 2,
                marker: frame.stamp.marker,
                payload_type,
                sequence_number: frame.stamp.sequence_number,
                timestamp: frame.stamp.timestamp,
                ssrc,
                ..Default::default()
            },
            payload: frame.data,
        };
        if let Err(err) = track.write_rtp(packet).await {
            tracing::debug!(%err, "audio frame not sent");
            continue;
        }
        tracing::trace!(waited = ?frame.captured_at.elapsed(), "audio frame sent");
        Stats::add(&stats.sent, 1);
        Stats::add(&stats.bytes, bytes);
    }
}
