//! What quality the link allows: the agent's video bitrate and frame rate from the congestion
//! controller's estimate, the loss the viewer reports, the sender's queue and whether the
//! screen is changing. A plain value, time passed in ([`QualityController::update`]).
//!
//! The rules, in the order they apply:
//! - the estimate bounds the target, within the configured limits;
//! - a queue behind the pacer longer than [`QUEUE_LIMIT`] means the link is full whatever the
//!   estimate says: down to 70 % at once;
//! - loss over 10 % takes `loss / 2` off (GCC's loss rule, in case its estimate lags);
//! - decreases apply at once (at most every [`DECREASE_EVERY`] for the estimate, every
//!   [`REACT_EVERY`] for loss and queues, which the last second's feedback shows), increases at
//!   most every [`INCREASE_EVERY`] and by 30 % at a time (1 to 6 Mbit/s in 3.5 s: the estimate
//!   is the careful part), and only while the screen changes: a still
//!   screen sends nothing that could prove the link has room (RustDesk's `video_qos.rs` has the
//!   same rule);
//! - changes under [`HYSTERESIS`] are ignored, so the picture does not pump (but a limit is
//!   always reached);
//! - the frame rate follows the bitrate: below [`FULL_FPS_BITRATE`] fewer, sharper pictures.

mod budget;
mod resolution;
#[cfg(test)]
mod tests;

pub use budget::{BUDGET_BURST, BUDGET_HEADROOM, EncodeBudget};
pub use resolution::{
    OVERSHOOT, OVERSHOOT_FOR, ROOM_AT_HALF, Resolution, ResolutionRule, SWITCH_HOLD,
};

use std::fmt;
use std::time::{Duration, Instant};

/// A frame still being paced out this long after it was encoded (the pacer runs at 2.5x the
/// target) means the encoder overshoots far beyond what the link is given.
pub const QUEUE_LIMIT: Duration = Duration::from_millis(250);
/// Relative changes smaller than this are not made.
pub const HYSTERESIS: f64 = 0.10;
/// Shortest time between two decreases on a falling estimate.
pub const DECREASE_EVERY: Duration = Duration::from_millis(250);
/// Shortest time between two decreases for loss or a queue: the feedback that shows them
/// covers the last second, so reacting again sooner would count the same loss twice.
pub const REACT_EVERY: Duration = Duration::from_secs(1);
/// Shortest time from any change to an increase.
pub const INCREASE_EVERY: Duration = Duration::from_millis(500);
/// Largest increase at a time.
pub const MAX_STEP_UP: f64 = 1.3;
/// At and above this bitrate the frame rate is the configured maximum.
pub const FULL_FPS_BITRATE: u32 = 2_000_000;
/// Fewer encoded frames a second than this: the screen is still.
pub const STILL_FPS: f32 = 2.0;

/// The bounds the person (or the defaults) set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityLimits {
    /// `--bitrate`: never more.
    pub max_bitrate_bps: u32,
    /// Never less: below this a screen is unreadable anyway.
    pub min_bitrate_bps: u32,
    /// `--max-fps`.
    pub max_fps: f32,
    /// The frame rate at the lowest bitrates.
    pub min_fps: f32,
}

/// What the sender knows of the link at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Feedback {
    /// The congestion controller's target; `None` before its first estimate.
    pub estimate_bps: Option<u32>,
    /// Fraction (0..=1) of the packets the viewer's feedback reported lost, last second.
    pub loss: f64,
    /// How long the oldest packet waiting to be sent has waited.
    pub queue_delay: Duration,
    /// Pictures encoded over the last second.
    pub encoded_fps: f32,
}

/// What the encoder and the capture should run at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Encoder target.
    pub bitrate_bps: u32,
    /// Capture and encoder frame rate.
    pub fps: f32,
}

/// Why the quality changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The link estimate fell.
    Estimate,
    /// Packets queued up behind the pacer.
    Queue,
    /// The viewer reports heavy loss.
    Loss,
    /// The estimate has room again and the screen is changing.
    Recovering,
}

impl Reason {
    /// One word, for printed lines.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Estimate => "estimate",
            Reason::Queue => "queue",
            Reason::Loss => "loss",
            Reason::Recovering => "recovering",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Estimate => "the link estimate fell",
            Reason::Queue => "packets queued behind the pacer",
            Reason::Loss => "heavy loss",
            Reason::Recovering => "the link has room again",
        })
    }
}

/// One change, for the encoder and the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// Before.
    pub from: Quality,
    /// After.
    pub to: Quality,
    /// Why.
    pub reason: Reason,
}

/// The rules above, with the state they need.
#[derive(Debug, Clone)]
pub struct QualityController {
    limits: QualityLimits,
    current: Quality,
    last_change: Option<Instant>,
}

impl QualityController {
    /// Starts at `start_bps` (clamped to the limits).
    pub fn new(limits: QualityLimits, start_bps: u32) -> Self {
        let bitrate = clamp_bitrate(&limits, f64::from(start_bps));
        let current = Quality { bitrate_bps: bitrate, fps: fps_for(&limits, bitrate) };
        QualityController { limits, current, last_change: None }
    }

    /// What to run at now.
    pub fn current(&self) -> Quality {
        self.current
    }

    /// Feeds what the sender knows now; returns the change to make, if any.
    pub fn update(&mut self, now: Instant, feedback: Feedback) -> Option<Change> {
        let current = f64::from(self.current.bitrate_bps);
        let (desired, reason) = self.desired(current, &feedback);
        // A limit is reached even when it is closer than the hysteresis.
        let desired = f64::from(clamp_bitrate(&self.limits, desired));
        let at_limit = desired == f64::from(self.limits.max_bitrate_bps)
            || desired == f64::from(self.limits.min_bitrate_bps);
        let margin = if at_limit { 0.0 } else { HYSTERESIS };
        let since_change = self.last_change.map_or(Duration::MAX, |at| now - at);
        let reason = if desired < current * (1.0 - margin) {
            let spacing = match reason {
                Reason::Estimate => DECREASE_EVERY,
                _ => REACT_EVERY,
            };
            (since_change >= spacing).then_some(reason)?
        } else if desired > current * (1.0 + margin) {
            let changing = feedback.encoded_fps >= STILL_FPS;
            (changing && since_change >= INCREASE_EVERY).then_some(Reason::Recovering)?
        } else {
            return None;
        };
        let target = match reason {
            Reason::Recovering => desired.min(current * MAX_STEP_UP),
            _ => desired,
        };
        let bitrate = clamp_bitrate(&self.limits, target);
        if bitrate == self.current.bitrate_bps {
            return None;
        }
        let to = Quality { bitrate_bps: bitrate, fps: fps_for(&self.limits, bitrate) };
        let change = Change { from: self.current, to, reason };
        self.current = to;
        self.last_change = Some(now);
        Some(change)
    }

    /// The target the feedback asks for, and the rule that bound it.
    fn desired(&self, current: f64, feedback: &Feedback) -> (f64, Reason) {
        let mut desired = (feedback.estimate_bps.map_or(current, f64::from), Reason::Estimate);
        if feedback.queue_delay > QUEUE_LIMIT {
            desired = lower(desired, (current * 0.7, Reason::Queue));
        }
        if feedback.loss > 0.10 {
            desired =
                lower(desired, (current * (1.0 - feedback.loss.min(1.0) / 2.0), Reason::Loss));
        }
        desired
    }
}

fn lower(a: (f64, Reason), b: (f64, Reason)) -> (f64, Reason) {
    if b.0 < a.0 { b } else { a }
}

fn clamp_bitrate(limits: &QualityLimits, bps: f64) -> u32 {
    let (min, max) = (limits.min_bitrate_bps.min(limits.max_bitrate_bps), limits.max_bitrate_bps);
    bps.clamp(f64::from(min), f64::from(max)) as u32
}

/// The configured maximum at [`FULL_FPS_BITRATE`] and above, proportionally fewer below.
fn fps_for(limits: &QualityLimits, bitrate_bps: u32) -> f32 {
    let share = (f64::from(bitrate_bps) / f64::from(FULL_FPS_BITRATE)).min(1.0) as f32;
    (limits.max_fps * share).clamp(limits.min_fps.min(limits.max_fps), limits.max_fps)
}
