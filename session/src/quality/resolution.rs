//! When to send the screen at half its size: the encoder's third output beside bitrate and
//! frame rate.
//!
//! A busy screen at full size can need more than the link carries even at the encoder's
//! coarsest quantiser: then the target is not met, frames queue behind the pacer and the
//! picture falls behind. Halving each side needs about a quarter of the bits. The evidence
//! is the encoder's own output, not a bits-per-pixel guess: screens differ too much.
//!
//! - full size -> half: the encoder sent more than [`OVERSHOOT`] x the target for
//!   [`OVERSHOOT_FOR`] on end (a keyframe or a burst of motion does not count);
//! - half -> full: the target rose to [`ROOM_AT_HALF`] x what the full-size picture needed
//!   when it was given up, or the half-size picture uses less than a quarter of the target
//!   (the screen calmed down: full size fits again);
//! - every switch costs a keyframe (a new picture size), so switches are [`SWITCH_HOLD`]
//!   apart.

use std::time::{Duration, Instant};

/// The encoder's output above this share of the target means the picture does not fit.
pub const OVERSHOOT: f64 = 1.4;
/// For this long.
pub const OVERSHOOT_FOR: Duration = Duration::from_secs(2);
/// Back to full size when the target reaches this share of what full size needed.
pub const ROOM_AT_HALF: f64 = 1.2;
/// Shortest time between two switches.
pub const SWITCH_HOLD: Duration = Duration::from_secs(5);

/// The size the screen is encoded at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolution {
    /// As captured.
    #[default]
    Full,
    /// Half the width and half the height.
    Half,
}

impl Resolution {
    /// How many captured pixels make one encoded pixel along each side.
    pub fn divisor(self) -> u32 {
        match self {
            Resolution::Full => 1,
            Resolution::Half => 2,
        }
    }
}

/// The rule above, with the state it needs.
#[derive(Debug, Clone, Default)]
pub struct ResolutionRule {
    current: Resolution,
    overshoot_since: Option<Instant>,
    /// What the full-size picture was sending when it was given up.
    full_needed_bps: u32,
    calm_since: Option<Instant>,
    last_switch: Option<Instant>,
}

impl ResolutionRule {
    /// The size to encode at now.
    pub fn current(&self) -> Resolution {
        self.current
    }

    /// Feeds the target and what the encoder produced over the last second; returns the new
    /// resolution when it changes.
    pub fn update(
        &mut self,
        now: Instant,
        target_bps: u32,
        encoded_bps: u32,
    ) -> Option<Resolution> {
        let (target, encoded) = (f64::from(target_bps), f64::from(encoded_bps));
        let held = self.last_switch.is_some_and(|at| now.duration_since(at) < SWITCH_HOLD);
        let next = match self.current {
            Resolution::Full => {
                let over = encoded > target * OVERSHOOT;
                let since = track(&mut self.overshoot_since, over, now)?;
                (now.duration_since(since) >= OVERSHOOT_FOR && !held).then(|| {
                    self.full_needed_bps = encoded_bps;
                    Resolution::Half
                })?
            }
            Resolution::Half => {
                let room = target >= f64::from(self.full_needed_bps) * ROOM_AT_HALF;
                let calm = track(&mut self.calm_since, encoded < target / 4.0, now)
                    .is_some_and(|since| now.duration_since(since) >= OVERSHOOT_FOR);
                ((room || calm) && !held).then_some(Resolution::Full)?
            }
        };
        self.current = next;
        self.last_switch = Some(now);
        self.overshoot_since = None;
        self.calm_since = None;
        Some(next)
    }
}

/// Since when `condition` has held (set now if it just began), or `None` (cleared) if not.
fn track(since: &mut Option<Instant>, condition: bool, now: Instant) -> Option<Instant> {
    if !condition {
        *since = None;
        return None;
    }
    Some(*since.get_or_insert(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rule: &mut ResolutionRule, at: &mut Instant, secs: u64, target: u32, encoded: u32) {
        let mut changes = Vec::new();
        for _ in 0..secs * 4 {
            *at += Duration::from_millis(250);
            changes.extend(rule.update(*at, target, encoded));
        }
        assert!(changes.len() <= 1, "one switch at most: {changes:?}");
    }

    #[test]
    fn a_picture_that_does_not_fit_is_halved_after_a_lasting_overshoot() {
        let mut at = Instant::now();
        let mut rule = ResolutionRule::default();
        run(&mut rule, &mut at, 1, 1_000_000, 2_500_000);
        assert_eq!(rule.current(), Resolution::Full, "a burst is not enough");
        run(&mut rule, &mut at, 1, 1_000_000, 1_000_000);
        run(&mut rule, &mut at, 3, 1_000_000, 2_500_000);
        assert_eq!(rule.current(), Resolution::Half);
    }

    #[test]
    fn full_size_returns_when_the_link_has_room_for_it() {
        let mut at = Instant::now();
        let mut rule = ResolutionRule::default();
        run(&mut rule, &mut at, 3, 1_000_000, 2_500_000);
        assert_eq!(rule.current(), Resolution::Half);
        run(&mut rule, &mut at, 10, 2_000_000, 700_000);
        assert_eq!(rule.current(), Resolution::Half, "2 Mbit/s is less than full size needed");
        run(&mut rule, &mut at, 1, 3_000_000, 700_000);
        assert_eq!(rule.current(), Resolution::Full);
    }

    #[test]
    fn a_calm_screen_goes_back_to_full_size() {
        let mut at = Instant::now();
        let mut rule = ResolutionRule::default();
        run(&mut rule, &mut at, 3, 1_000_000, 2_500_000);
        run(&mut rule, &mut at, 10, 1_000_000, 100_000);
        assert_eq!(rule.current(), Resolution::Full);
    }

    #[test]
    fn switches_are_held_apart() {
        let mut at = Instant::now();
        let mut rule = ResolutionRule::default();
        while rule.update(at, 1_000_000, 2_500_000).is_none() {
            at += Duration::from_millis(250);
        }
        let halved = at;
        while rule.current() == Resolution::Half {
            at += Duration::from_millis(250);
            rule.update(at, 6_000_000, 100_000);
        }
        assert!(at - halved >= SWITCH_HOLD);
    }
}
