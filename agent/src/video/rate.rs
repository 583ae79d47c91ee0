//! The encode thread's side of congestion control: a few times a second it reads the link
//! estimate (over the viewer's transport-wide feedback), the sender's lag and how many
//! pictures and bytes were encoded, asks [`QualityController`] what to run at, and applies the
//! answer to the encoder (in place: no keyframe), the capture rate and the pacer; and asks
//! [`ResolutionRule`] whether the screen should be sent at half size.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tether_media::codec::VideoEncoder;
use tether_media::rtc::LinkEstimate;
use tether_media::telemetry::QualityChange;
use tether_session::quality::{
    Change, EncodeBudget, Feedback, QualityController, QualityLimits, Resolution, ResolutionRule,
};

use super::{Shared, VideoSettings};

/// How often the controller is asked.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// The lowest bitrate the controller goes to: below it text is unreadable anyway.
pub const MIN_BITRATE_BPS: u32 = 300_000;
/// The frame rate at the lowest bitrates.
const MIN_FPS: f32 = 10.0;

pub(super) struct RateControl {
    controller: QualityController,
    resolution: ResolutionRule,
    /// The frame dropper; only with an estimate (`--fixed-bitrate` sends what the encoder
    /// makes, as before).
    budget: Option<EncodeBudget>,
    estimate: Option<Arc<LinkEstimate>>,
    /// When each picture of the last second reached the encoder.
    offered: VecDeque<Instant>,
    /// When each picture of the last second was encoded, and its size in bytes.
    encoded: VecDeque<(Instant, usize)>,
    encoded_bytes: usize,
    next_check: Instant,
}

impl RateControl {
    /// Without an estimate (no congestion control negotiated) the settings hold.
    pub(super) fn new(settings: &VideoSettings, estimate: Option<Arc<LinkEstimate>>) -> Self {
        let limits = QualityLimits {
            max_bitrate_bps: settings.bitrate_bps,
            min_bitrate_bps: MIN_BITRATE_BPS,
            max_fps: settings.max_fps,
            min_fps: MIN_FPS.min(settings.max_fps),
        };
        RateControl {
            controller: QualityController::new(limits, settings.bitrate_bps),
            resolution: ResolutionRule::default(),
            budget: estimate.is_some().then(|| EncodeBudget::new(settings.bitrate_bps)),
            estimate,
            offered: VecDeque::new(),
            encoded: VecDeque::new(),
            encoded_bytes: 0,
            next_check: Instant::now(),
        }
    }

    /// A new picture reached the encoder (encoded or not).
    pub(super) fn picture_offered(&mut self, now: Instant) {
        self.offered.push_back(now);
        self.forget_before(now);
    }

    /// Whether the budget lets a picture be encoded now.
    pub(super) fn may_encode(&mut self, now: Instant) -> bool {
        self.budget.as_mut().is_none_or(|budget| budget.ready(now))
    }

    pub(super) fn frame_encoded(&mut self, now: Instant, bytes: usize) {
        if let Some(budget) = &mut self.budget {
            budget.spend(now, bytes);
        }
        self.encoded.push_back((now, bytes));
        self.encoded_bytes += bytes;
        self.forget_before(now);
    }

    fn forget_before(&mut self, now: Instant) {
        let second = Duration::from_secs(1);
        while self.offered.front().is_some_and(|&at| now.duration_since(at) > second) {
            self.offered.pop_front();
        }
        while let Some(&(at, bytes)) = self.encoded.front() {
            if now.duration_since(at) <= second {
                break;
            }
            self.encoded.pop_front();
            self.encoded_bytes -= bytes;
        }
    }

    /// The size to encode the screen at.
    pub(super) fn resolution(&self) -> Resolution {
        self.resolution.current()
    }

    /// Logs what the congestion controller sees (with the encode thread's periodic figures).
    pub(super) fn log_link(&self) {
        let Some(link) = self.estimate.as_ref().map(|e| e.snapshot()) else { return };
        let quality = self.controller.current();
        tracing::info!(
            estimate_kbps = link.target_bps.map(|b| b / 1000),
            delivered_kbps = link.delivered_bps / 1000,
            loss = link.loss,
            target_kbps = quality.bitrate_bps / 1000,
            fps = quality.fps,
            "link"
        );
    }

    /// Asks the controller, if it is time, and applies its change.
    pub(super) fn poll(&mut self, now: Instant, shared: &Shared, encoder: &mut dyn VideoEncoder) {
        if now < self.next_check {
            return;
        }
        self.next_check = now + CHECK_EVERY;
        self.forget_before(now);
        let Some(link) = self.estimate.as_ref().map(|e| e.snapshot()) else { return };
        shared.estimate_bps.store(link.target_bps.unwrap_or(0), Ordering::Relaxed);
        let feedback = Feedback {
            estimate_bps: link.target_bps,
            // Not `link.loss`: GCC already lowers its estimate on loss, and the feedback window
            // counts packets the congestion controller writes off seconds later as lost then.
            loss: 0.0,
            queue_delay: Duration::from_micros(shared.send_lag_us.load(Ordering::Relaxed)),
            encoded_fps: self.encoded.len() as f32,
        };
        if let Some(change) = self.controller.update(now, feedback) {
            apply(&change, shared, encoder, link.delivered_bps);
            if let Some(budget) = &mut self.budget {
                budget.set_target(now, change.to.bitrate_bps);
            }
        }
        let target = self.controller.current();
        let demanded_bps = self.demanded_bps(target.fps);
        if let Some(resolution) = self.resolution.update(now, target.bitrate_bps, demanded_bps) {
            tracing::info!(
                ?resolution,
                target_kbps = target.bitrate_bps / 1000,
                demanded_kbps = demanded_bps / 1000,
                "video resolution"
            );
        }
    }

    /// What the encoder would send without the budget: the last second's mean frame size at
    /// the rate pictures came (up to the target frame rate).
    fn demanded_bps(&self, target_fps: f32) -> u32 {
        let Some(frames) = NonZeroUsize::new(self.encoded.len()) else { return 0 };
        let frame_bits = (self.encoded_bytes * 8 / frames) as f64;
        let fps = (self.offered.len() as f64).min(f64::from(target_fps));
        (frame_bits * fps).min(f64::from(u32::MAX)) as u32
    }
}

fn apply(change: &Change, shared: &Shared, encoder: &mut dyn VideoEncoder, delivered_bps: u32) {
    let (from, to) = (change.from, change.to);
    tracing::info!(
        from_kbps = from.bitrate_bps / 1000,
        to_kbps = to.bitrate_bps / 1000,
        fps = to.fps,
        delivered_kbps = delivered_bps / 1000,
        reason = %change.reason,
        "video quality"
    );
    // Scripts and the benchmark read this line.
    let line = QualityChange {
        kbps: to.bitrate_bps / 1000,
        fps: f64::from(to.fps),
        was_kbps: from.bitrate_bps / 1000,
        reason: change.reason.name().to_owned(),
        unix_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
    };
    println!("{line}");
    if let Err(err) = encoder.set_bitrate(to.bitrate_bps) {
        tracing::warn!(%err, "bitrate not changed");
    }
    if let Err(err) = encoder.set_frame_rate(to.fps) {
        tracing::warn!(%err, "frame rate not changed");
    }
    shared.target_bps.store(to.bitrate_bps, Ordering::Relaxed);
    shared.target_fps_bits.store(to.fps.to_bits(), Ordering::Relaxed);
}
