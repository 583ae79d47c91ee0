//! The network side of the video: RTP from webrtc-rs's track into the decode thread, and
//! keyframe requests (PLI) back to the agent while the decoder waits for one.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::decode::{Feeder, RtpIn, Shared};

/// At most one keyframe request per this interval while the decoder waits for one.
const PLI_EVERY: Duration = Duration::from_millis(300);
/// With no frame decoded this long after the track opened, keyframes are asked for anyway.
const FIRST_FRAME_PATIENCE: Duration = Duration::from_secs(1);

/// Moves RTP from webrtc-rs's track queue to the decode thread as fast as it comes: that
/// queue drops packets when full, and such drops are never retransmitted.
pub async fn read_track(track: Arc<dyn TrackRemote>, feeder: Feeder) {
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let rtp = RtpIn {
                    sequence_number: packet.header.sequence_number,
                    timestamp: packet.header.timestamp,
                    marker: packet.header.marker,
                    payload: packet.payload,
                };
                if !feeder.feed(rtp) {
                    return;
                }
            }
            TrackRemoteEvent::OnEnded => return,
            _ => {}
        }
    }
}

/// Sends a PLI while the decoder waits for a keyframe, at most every [`PLI_EVERY`].
pub async fn request_keyframes(track: Arc<dyn TrackRemote>, shared: Arc<Shared>) {
    // Not at once: the first keyframe is usually still arriving when the track opens.
    let opened = tokio::time::Instant::now();
    let mut tick = tokio::time::interval_at(opened + PLI_EVERY, PLI_EVERY);
    loop {
        tick.tick().await;
        // A first keyframe lost whole (e.g. sent while a TURN channel was still being bound)
        // leaves no gap for the decoder to notice, and a still screen sends nothing else.
        let nothing_yet = shared.stats.frames.load(Ordering::Relaxed) == 0
            && opened.elapsed() >= FIRST_FRAME_PATIENCE;
        if !shared.wants_keyframe.swap(false, Ordering::Relaxed) && !nothing_yet {
            continue;
        }
        let Some(&ssrc) = track.ssrcs().await.first() else { continue };
        let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: ssrc };
        if let Err(err) = track.write_rtcp(vec![Box::new(pli)]).await {
            tracing::debug!(%err, "PLI not sent");
        }
    }
}
