//! The estimator's two rate rules, pure (time passed in): what the delay signal allows
//! ([`DelayRule`]) and what the loss allows ([`LossRule`]).
//!
//! They differ from webrtc-rs's `Gcc` (whose delay pieces [`super::estimator`] reuses) where a
//! remote-support stream needs it:
//! - **recovery**: GCC climbs 8 % a second, and only one packet per round trip near the rate
//!   where it last backed off. After a link comes back from 1 to 20 Mbit/s that takes
//!   minutes. Here the climb near the last back-off's rate is [`NEAR_CEILING_GROWTH`], and once
//!   the target has passed that rate by [`CEILING_PASSED`] without the queue growing, the link
//!   has grown: the climb speeds up the longer the delay stays quiet, from 8 % to 100 % a
//!   second (a queue that starts to grow ends it at once, so overshoot costs one back-off).
//!   The ceiling is not forgotten by time alone: on a link that stays as it was, a fast climb
//!   through its capacity overflows the router's queue (a loss burst that takes keyframes with
//!   it) before the delay signal can stop it;
//! - **random loss**: GCC lowers its loss target above 10 % and holds it between 2 and 10 %,
//!   so a Wi-Fi link losing 2–5 % at random never climbs again. Here loss lowers the rate
//!   only above [`LOSS_CONGESTION`]: below it, retransmission repairs it and the delay signal
//!   tells congestion apart.

use std::time::{Duration, Instant};

use rtc::interceptor::{RateControlState, Usage};

/// Back off to this share of what the viewer received while the queue grew.
pub const DECREASE_FACTOR: f64 = 0.85;
/// Changes on a quiet delay signal are this far apart.
pub const INCREASE_EVERY: Duration = Duration::from_millis(200);
/// The target this far above the last back-off's rate, reached on a quiet delay signal, means
/// the link has grown: the ceiling is forgotten.
pub const CEILING_PASSED: f64 = 1.05;
/// Growth a second right after the ceiling is forgotten, and at most.
pub const SLOW_GROWTH: f64 = 1.08;
pub const FAST_GROWTH: f64 = 2.0;
/// From slow to fast growth over this much quiet time.
pub const GROWTH_RAMP: Duration = Duration::from_secs(2);
/// Near the ceiling: this much of the target a second (GCC adds one packet per round trip,
/// about 1 % a second at 5 Mbit/s): slow enough for the delay signal to see the queue start.
pub const NEAR_CEILING_GROWTH: f64 = 0.10;
/// Loss above this is congestion, not noise.
pub const LOSS_CONGESTION: f64 = 0.15;
/// Shortest time between two loss back-offs: the loss figure covers the last second.
pub const LOSS_REACT_EVERY: Duration = Duration::from_secs(1);
/// The loss rule's recovery, a second.
pub const LOSS_RECOVERY: f64 = 1.25;
/// The loss rule's target this far above what got through at its last back-off: the link has
/// grown (or the loss was not the link's), climb fast again.
pub const LOSS_CEILING_PASSED: f64 = 1.25;

/// Bounds for both rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min_bps: f64,
    pub max_bps: f64,
}

impl Bounds {
    fn clamp(&self, bps: f64) -> f64 {
        bps.clamp(self.min_bps, self.max_bps.max(self.min_bps))
    }
}

/// AIMD on the delay signal (the overuse detector's [`Usage`]).
#[derive(Debug, Clone)]
pub struct DelayRule {
    bounds: Bounds,
    state: RateControlState,
    target: f64,
    /// The received rate at the last back-off, and when.
    ceiling: Option<(f64, Instant)>,
    /// The last increase, or the moment quiet began.
    last_change: Option<Instant>,
    /// Since when the delay signal has been quiet with no ceiling in force.
    free_since: Option<Instant>,
}

impl DelayRule {
    pub fn new(bounds: Bounds, initial_bps: f64) -> Self {
        DelayRule {
            bounds,
            state: RateControlState::default(),
            target: bounds.clamp(initial_bps),
            ceiling: None,
            last_change: None,
            free_since: None,
        }
    }

    pub fn target(&self) -> f64 {
        self.target
    }

    /// Feeds the delay signal and, when known, the rate the viewer receives.
    pub fn update(&mut self, now: Instant, usage: Usage, received_bps: Option<f64>) -> f64 {
        let was_decreasing = self.state == RateControlState::Decrease;
        self.state = self.state.next(usage);
        if self.ceiling.is_some_and(|(ceiling, _)| self.target > ceiling * CEILING_PASSED) {
            self.ceiling = None;
        }
        match self.state {
            RateControlState::Decrease => self.decrease(now, received_bps, was_decreasing),
            RateControlState::Hold => self.free_since = None,
            RateControlState::Increase => self.increase(now),
        }
        self.target
    }

    /// Backs off from what arrives. The ceiling is what arrived when the queue began to grow
    /// (the first overuse sample of a back-off): later samples of the same episode see the
    /// collapse itself (the loss burst the full queue caused) and would put it far below the
    /// link, and a climb that passes a ceiling is a fast one.
    fn decrease(&mut self, now: Instant, received_bps: Option<f64>, continuing: bool) {
        self.free_since = None;
        let Some(received) = received_bps else { return };
        // From what the path delivers, not from the target: the target may be far above it.
        self.target = self.bounds.clamp((received * DECREASE_FACTOR).min(self.target));
        let ceiling = match (continuing, self.ceiling) {
            (true, Some((ceiling, _))) => ceiling,
            _ => received,
        };
        self.ceiling = Some((ceiling, now));
        self.last_change = Some(now);
    }

    fn increase(&mut self, now: Instant) {
        let since = self.last_change.map_or(INCREASE_EVERY, |at| now.duration_since(at));
        if since < INCREASE_EVERY {
            return;
        }
        let seconds = since.min(Duration::from_secs(1)).as_secs_f64();
        let near_ceiling = self.ceiling.is_some_and(|(ceiling, _)| self.target >= ceiling * 0.85);
        self.target = if near_ceiling {
            self.free_since = None;
            self.target * (1.0 + NEAR_CEILING_GROWTH * seconds)
        } else {
            let free_since = *self.free_since.get_or_insert(now);
            let ramp =
                (now.duration_since(free_since).as_secs_f64() / GROWTH_RAMP.as_secs_f64()).min(1.0);
            let growth = SLOW_GROWTH + (FAST_GROWTH - SLOW_GROWTH) * ramp;
            self.target * growth.powf(seconds)
        };
        self.target = self.bounds.clamp(self.target);
        self.last_change = Some(now);
    }
}

/// Backs off on heavy loss only; climbs back fast to near the rate that got through when the
/// loss came, then gently ([`NEAR_CEILING_GROWTH`]) until past it by [`LOSS_CEILING_PASSED`]
/// (what got through during the loss is below the link, by how much it cannot tell): heavy
/// loss on a link whose delay signal says nothing (a short router queue that overflows) would
/// otherwise come back every few seconds, each time with the keyframes it destroys.
#[derive(Debug, Clone)]
pub struct LossRule {
    bounds: Bounds,
    target: f64,
    last_change: Option<Instant>,
    /// What the viewer received at the last back-off.
    ceiling: Option<f64>,
}

impl LossRule {
    pub fn new(bounds: Bounds) -> Self {
        LossRule { bounds, target: bounds.max_bps, last_change: None, ceiling: None }
    }

    pub fn target(&self) -> f64 {
        self.target
    }

    /// Feeds the loss of the last second and what the viewer received.
    pub fn update(&mut self, now: Instant, loss: f64, received_bps: Option<f64>) -> f64 {
        let since = self.last_change.map_or(Duration::MAX, |at| now.duration_since(at));
        if self.ceiling.is_some_and(|ceiling| self.target > ceiling * LOSS_CEILING_PASSED) {
            self.ceiling = None;
        }
        if loss > LOSS_CONGESTION {
            if since >= LOSS_REACT_EVERY {
                let base = received_bps.map_or(self.target, |r| r.min(self.target));
                self.target = self.bounds.clamp(base * (1.0 - loss.min(1.0) / 2.0));
                self.ceiling = Some(base);
                self.last_change = Some(now);
            }
        } else if self.target < self.bounds.max_bps && since >= INCREASE_EVERY {
            let seconds = since.min(Duration::from_secs(1)).as_secs_f64();
            let near = self.ceiling.is_some_and(|ceiling| self.target >= ceiling * 0.85);
            let growth = match near {
                true => 1.0 + NEAR_CEILING_GROWTH * seconds,
                false => LOSS_RECOVERY.powf(seconds),
            };
            self.target = self.bounds.clamp(self.target * growth);
            self.last_change = Some(now);
        }
        self.target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds { min_bps: 300_000.0, max_bps: 6_000_000.0 };

    /// Feeds `usage` every 50 ms for `duration`, the viewer receiving `received`.
    fn run(
        rule: &mut DelayRule,
        at: &mut Instant,
        duration: Duration,
        usage: Usage,
        received: f64,
    ) {
        let end = *at + duration;
        while *at < end {
            *at += Duration::from_millis(50);
            rule.update(*at, usage, Some(received));
        }
    }

    #[test]
    fn overuse_backs_off_to_below_what_arrives() {
        let mut at = Instant::now();
        let mut rule = DelayRule::new(BOUNDS, 6_000_000.0);
        rule.update(at, Usage::Over, Some(2_000_000.0));
        assert_eq!(rule.target(), 1_700_000.0);
        at += Duration::from_millis(50);
        rule.update(at, Usage::Over, Some(1_900_000.0));
        assert_eq!(rule.target(), 1_615_000.0, "each overuse sample backs off again");
    }

    #[test]
    fn near_the_last_back_off_the_climb_is_gentle() {
        let mut at = Instant::now();
        let mut rule = DelayRule::new(BOUNDS, 6_000_000.0);
        rule.update(at, Usage::Over, Some(2_000_000.0));
        run(&mut rule, &mut at, Duration::from_millis(1500), Usage::Normal, 1_700_000.0);
        let target = rule.target();
        assert!(target > 1_700_000.0 && target < 2_000_000.0, "{target}");
    }

    #[test]
    fn a_link_that_comes_back_is_found_within_seconds() {
        let mut at = Instant::now();
        let mut rule = DelayRule::new(BOUNDS, 6_000_000.0);
        rule.update(at, Usage::Over, Some(1_000_000.0));
        // The link is back: quiet delay while the sender climbs.
        let started = at;
        while rule.target() < BOUNDS.max_bps {
            at += Duration::from_millis(50);
            rule.update(at, Usage::Normal, Some(rule.target()));
            assert!(at - started < Duration::from_secs(10), "stuck at {}", rule.target());
        }
        let took = at - started;
        assert!(took < Duration::from_secs(6), "took {took:?}");
        assert!(took > Duration::from_secs(2), "the ceiling held first: {took:?}");
    }

    #[test]
    fn the_ceiling_is_where_the_queue_began_to_grow_not_the_collapse_after() {
        let mut at = Instant::now();
        let mut rule = DelayRule::new(BOUNDS, 6_000_000.0);
        // The queue grows at 5 Mbit/s; the loss burst that follows shows ever less arriving.
        rule.update(at, Usage::Over, Some(5_000_000.0));
        for received in [3_000_000.0, 2_000_000.0, 1_500_000.0] {
            at += Duration::from_millis(50);
            rule.update(at, Usage::Over, Some(received));
        }
        assert_eq!(rule.target(), 1_275_000.0);
        // The climb back is the fast one up to near 5 Mbit/s, then gentle: 4 s later it is
        // around the link's rate, not at the 6 Mbit/s the fast climb would reach.
        run(&mut rule, &mut at, Duration::from_secs(4), Usage::Normal, 1_275_000.0);
        let target = rule.target();
        assert!(target > 4_000_000.0 && target < 5_600_000.0, "{target}");
    }

    #[test]
    fn on_a_link_that_stays_the_ceiling_is_not_forgotten_by_time() {
        let mut at = Instant::now();
        let mut rule = DelayRule::new(BOUNDS, 6_000_000.0);
        rule.update(at, Usage::Over, Some(5_000_000.0));
        // Ten seconds of a draining queue, no climb: the ceiling still holds afterwards.
        run(&mut rule, &mut at, Duration::from_secs(10), Usage::Under, 4_250_000.0);
        run(&mut rule, &mut at, Duration::from_millis(250), Usage::Normal, 4_250_000.0);
        let before = rule.target();
        assert!(before < 5_000_000.0, "{before}");
        run(&mut rule, &mut at, Duration::from_secs(1), Usage::Normal, before);
        let grown = rule.target() / before;
        assert!(grown < 1.0 + NEAR_CEILING_GROWTH + 0.01, "{grown}");
    }

    #[test]
    fn a_growing_queue_ends_the_fast_climb() {
        let mut at = Instant::now();
        let mut rule = DelayRule::new(BOUNDS, 1_000_000.0);
        run(&mut rule, &mut at, Duration::from_secs(3), Usage::Normal, 1_000_000.0);
        let climbed = rule.target();
        assert!(climbed > 2_000_000.0, "{climbed}");
        run(&mut rule, &mut at, Duration::from_millis(100), Usage::Over, 2_500_000.0);
        assert!(rule.target() <= 2_125_000.0, "{}", rule.target());
        // After the back-off the climb starts slowly again.
        run(&mut rule, &mut at, Duration::from_millis(500), Usage::Normal, 2_000_000.0);
        assert!(rule.target() < 2_300_000.0, "{}", rule.target());
    }

    #[test]
    fn a_draining_queue_holds() {
        let mut at = Instant::now();
        let mut rule = DelayRule::new(BOUNDS, 2_000_000.0);
        run(&mut rule, &mut at, Duration::from_secs(2), Usage::Under, 2_000_000.0);
        assert_eq!(rule.target(), 2_000_000.0);
    }

    #[test]
    fn random_loss_does_not_lower_the_rate() {
        let at = Instant::now();
        let mut rule = LossRule::new(BOUNDS);
        for i in 0..100 {
            rule.update(at + Duration::from_millis(i * 100), 0.08, Some(4_000_000.0));
        }
        assert_eq!(rule.target(), BOUNDS.max_bps);
    }

    #[test]
    fn heavy_loss_backs_off_once_a_second_and_recovers() {
        let at = Instant::now();
        let mut rule = LossRule::new(BOUNDS);
        rule.update(at, 0.4, Some(3_000_000.0));
        assert_eq!(rule.target(), 2_400_000.0);
        rule.update(at + Duration::from_millis(500), 0.4, Some(2_000_000.0));
        assert_eq!(rule.target(), 2_400_000.0, "the same second's loss counts once");
        for i in 1..=20 {
            rule.update(at + Duration::from_millis(1000 + i * 250), 0.0, Some(2_400_000.0));
        }
        assert_eq!(rule.target(), BOUNDS.max_bps);
    }

    #[test]
    fn after_heavy_loss_the_climb_slows_near_the_rate_that_got_through() {
        let at = Instant::now();
        let mut rule = LossRule::new(BOUNDS);
        // A 5 Mbit/s link overflowing: 4.5 Mbit/s arrive, 20 % lost.
        rule.update(at, 0.2, Some(4_500_000.0));
        assert_eq!(rule.target(), 4_050_000.0);
        for i in 1..=8 {
            rule.update(at + Duration::from_millis(1000 + i * 250), 0.02, Some(4_000_000.0));
        }
        // Three seconds on: near 4.5 Mbit/s, not back at 6 (25 % a second would be).
        let target = rule.target();
        assert!(target > 4_500_000.0 && target < 4_500_000.0 * LOSS_CEILING_PASSED, "{target}");
    }

    #[test]
    fn both_rules_stay_within_bounds() {
        let mut at = Instant::now();
        let mut delay = DelayRule::new(BOUNDS, 1e9);
        assert_eq!(delay.target(), BOUNDS.max_bps);
        run(&mut delay, &mut at, Duration::from_secs(5), Usage::Over, 1_000.0);
        assert_eq!(delay.target(), BOUNDS.min_bps);
        let mut loss = LossRule::new(BOUNDS);
        for i in 0..20 {
            loss.update(at + Duration::from_secs(i), 1.0, Some(1_000.0));
        }
        assert_eq!(loss.target(), BOUNDS.min_bps);
    }
}
