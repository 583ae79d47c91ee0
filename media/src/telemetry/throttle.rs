//! A time-based limit for a warning that may repeat many times a second.

use std::time::{Duration, Instant};

/// Lets a repeated warning through at most once per `every`, counting the ones held back.
/// Pure: the caller passes the time in.
///
/// ```
/// # use std::time::{Duration, Instant};
/// # use tether_media::telemetry::Throttle;
/// let mut throttle = Throttle::new(Duration::from_secs(1));
/// let t0 = Instant::now();
/// assert_eq!(throttle.ready(t0), Some(0));
/// assert_eq!(throttle.ready(t0 + Duration::from_millis(10)), None);
/// // One warning was held back since the last that went out.
/// assert_eq!(throttle.ready(t0 + Duration::from_secs(1)), Some(1));
/// ```
#[derive(Debug, Clone)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub const fn new(every: Duration) -> Self {
        Throttle { every, last: None, suppressed: 0 }
    }

    /// Whether to warn at `now`: `Some(n)` with the number of warnings held back since the
    /// last one let through (the first always passes), or `None` (counted as held back).
    pub fn ready(&mut self, now: Instant) -> Option<u64> {
        let due = self.last.is_none_or(|last| now.saturating_duration_since(last) >= self.every);
        if !due {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }

    /// Warnings held back since the last one let through.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_period_with_the_count_held_back() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut t = Throttle::new(ms(100));
        assert_eq!(t.ready(t0), Some(0), "the first passes");
        assert_eq!(t.ready(t0), None);
        assert_eq!(t.ready(t0 + ms(99)), None);
        assert_eq!(t.suppressed(), 2);
        assert_eq!(t.ready(t0 + ms(100)), Some(2));
        assert_eq!(t.suppressed(), 0);
        // The period runs from the last warning let through, not from the held-back ones.
        assert_eq!(t.ready(t0 + ms(150)), None);
        assert_eq!(t.ready(t0 + ms(200)), Some(1));
        assert_eq!(t.ready(t0 + ms(10_000)), Some(0));
    }

    #[test]
    fn time_going_backwards_holds_back() {
        let t0 = Instant::now() + Duration::from_secs(5);
        let mut t = Throttle::new(Duration::from_secs(1));
        assert_eq!(t.ready(t0), Some(0));
        assert_eq!(t.ready(t0 - Duration::from_secs(3)), None);
        let mut zero = Throttle::new(Duration::ZERO);
        assert_eq!((zero.ready(t0), zero.ready(t0)), (Some(0), Some(0)), "no limit");
    }
}
