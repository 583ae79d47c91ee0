//! The network side of the video: RTP from webrtc-rs's track into the decode thread, and
//! keyframe requests (PLI) back to the agent while the decoder waits for one.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::decode::{Feeder, RtpIn, Shared};

/// How often the decoder's need for a keyframe is looked at.
const PLI_CHECK: Duration = Duration::from_millis(50);
/// The shortest gap between two keyframe requests.
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

/// How long after a keyframe request the next may go: the keyframe it asked for needs a round
/// trip to be made and sent, and a while to cross the link (a large frame on a slow link),
/// during which the decoder still waits. Asking again meanwhile buys a second keyframe on top
/// of the first: on a lossy or slow link, the start of a keyframe storm.
pub fn keyframe_request_spacing(rtt: Duration) -> Duration {
    (rtt * 2 + Duration::from_millis(200)).clamp(PLI_EVERY, Duration::from_secs(2))
}

/// Sends a PLI while the decoder waits for a keyframe, spaced by
/// [`keyframe_request_spacing`].
pub async fn request_keyframes(track: Arc<dyn TrackRemote>, shared: Arc<Shared>) {
    // Not at once: the first keyframe is usually still arriving when the track opens.
    let opened = tokio::time::Instant::now();
    let mut tick = tokio::time::interval_at(opened + PLI_EVERY, PLI_CHECK);
    let mut next_allowed = opened;
    loop {
        let now = tick.tick().await;
        if now < next_allowed {
            continue;
        }
        // A first keyframe lost whole (e.g. sent while a TURN channel was still being bound)
        // leaves no gap for the decoder to notice, and a still screen sends nothing else.
        let nothing_yet = shared.stats.frames.load(Ordering::Relaxed) == 0
            && opened.elapsed() >= FIRST_FRAME_PATIENCE;
        if !shared.wants_keyframe.swap(false, Ordering::Relaxed) && !nothing_yet {
            continue;
        }
        let rtt = Duration::from_micros(shared.rtt_us.load(Ordering::Relaxed));
        next_allowed = now + keyframe_request_spacing(rtt);
        let Some(&ssrc) = track.ssrcs().await.first() else { continue };
        let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: ssrc };
        if let Err(err) = track.write_rtcp(vec![Box::new(pli)]).await {
            tracing::debug!(%err, "PLI not sent");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_requests_wait_for_the_keyframe_they_asked_for() {
        assert_eq!(keyframe_request_spacing(Duration::ZERO), PLI_EVERY);
        assert_eq!(keyframe_request_spacing(Duration::from_millis(60)), Duration::from_millis(320));
        // A full queue on the way (the round trip grows with it): fewer requests, not more.
        assert_eq!(
            keyframe_request_spacing(Duration::from_millis(360)),
            Duration::from_millis(920)
        );
        assert_eq!(keyframe_request_spacing(Duration::from_secs(3)), Duration::from_secs(2));
    }
}
