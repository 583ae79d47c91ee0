//! The encode thread: H.264-encodes the newest picture and pushes it through the frame gate.
//! It keeps the last picture so that a keyframe request on a still screen can be answered
//! without a new capture.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tether_media::codec::{EncoderSettings, H264Encoder, I420Frame, VideoEncoder, half_size};
use tether_media::rtc::LinkEstimate;

use tether_session::quality::Resolution;

use super::rate::RateControl;
use super::stats::Counter;
use super::{OutFrame, RawFrame, Shared, VideoSettings, lock};

/// How long the encoder waits for a picture before checking for keyframe requests.
const IDLE_WAKE: Duration = Duration::from_millis(20);
/// How often the running figures are logged.
const REPORT_EVERY: Duration = Duration::from_secs(5);

pub(super) fn run(
    settings: &VideoSettings,
    estimate: Option<Arc<LinkEstimate>>,
    shared: &Shared,
) -> Result<(), String> {
    let mut encoder = H264Encoder::new(EncoderSettings {
        bitrate_bps: settings.bitrate_bps,
        max_fps: settings.max_fps,
        ..EncoderSettings::default()
    })
    .map_err(|e| format!("cannot start the H.264 encoder: {e}"))?;
    let mut last: Option<RawFrame> = None;
    let mut first = true;
    let mut last_report = Instant::now();
    let mut rate = RateControl::new(settings, estimate);
    // The half-size picture, when the link is too slow for the full one.
    let mut halved = I420Frame::default();
    // `last` has not been encoded yet.
    let mut unencoded = false;
    while !shared.stopping() {
        rate.poll(Instant::now(), shared, &mut encoder);
        if let Some(frame) = next_picture(shared) {
            rate.picture_offered(Instant::now());
            if let Some(old) = last.replace(frame) {
                lock(&shared.raw).spare = Some(old.i420);
            }
            unencoded = true;
        }
        // The sender is still pacing out the previous frame: one encoded now would only be
        // dropped at the gate (and a keyframe asked for, which on a slow link feeds on itself).
        // Wait; the newest picture is encoded once the sender takes that frame.
        // On a link slower than the picture needs, fewer frames rather than a longer queue.
        if !rate.may_encode(Instant::now()) {
            continue;
        }
        let keyframe_wanted = {
            let mut gate = lock(&shared.gate);
            if gate.has_pending() {
                continue;
            }
            gate.keyframe_wanted(Instant::now())
        };
        if !unencoded && !keyframe_wanted {
            continue;
        }
        // A new picture, or a keyframe request answered with the last picture.
        let Some(frame) = &last else { continue };
        unencoded = false;
        let started = Instant::now();
        shared.encoding.store(true, Ordering::Release);
        let picture = match rate.resolution() {
            Resolution::Full => &frame.i420,
            Resolution::Half => {
                half_size(&frame.i420, &mut halved);
                &halved
            }
        };
        // A new size starts a new encoder, whose first picture is a keyframe.
        let result = encoder.encode(picture, first || keyframe_wanted);
        shared.encoding.store(false, Ordering::Release);
        match result {
            Ok(Some(encoded)) => {
                first = false;
                shared.stats.add_time(Counter::EncodeUs, started);
                shared.stats.add(Counter::Encoded, 1);
                let keyframe = encoded.keyframe;
                shared.stats.add(Counter::Keyframes, u64::from(keyframe));
                let encoded_at = Instant::now();
                rate.frame_encoded(encoded_at, encoded.data.len());
                let out = OutFrame { frame: encoded, captured_at: frame.captured_at, encoded_at };
                lock(&shared.gate).push(Instant::now(), out, keyframe);
                shared.frame_ready.notify_one();
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(%err, "encoding failed; asking for a keyframe");
                lock(&shared.gate).request_keyframe(Instant::now());
            }
        }
        if last_report.elapsed() >= REPORT_EVERY {
            shared.stats.report(last_report.elapsed());
            rate.log_link();
            last_report = Instant::now();
        }
    }
    Ok(())
}

/// The newest picture from the capture thread, waiting up to [`IDLE_WAKE`] for one.
fn next_picture(shared: &Shared) -> Option<RawFrame> {
    let mut slot = lock(&shared.raw);
    if slot.frame.is_none() && !shared.stopping() {
        slot = match shared.raw_ready.wait_timeout(slot, IDLE_WAKE) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
    slot.frame.take()
}
