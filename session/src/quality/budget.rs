//! [`EncodeBudget`]: the encoder's frame dropper. A busy screen at the encoder's coarsest
//! quantiser can need several times the target; without a budget the sender then carries
//! whatever the pacer lets through (2.5x the target) into a link that has 1x. The budget is a
//! leaky bucket: each encoded frame pours its bits in, the bucket drains at
//! [`BUDGET_HEADROOM`] x the target, and no new picture is encoded while it holds more than
//! [`BUDGET_BURST`] of the target. Pictures wait (the newest replaces an older one), so on a
//! slow link a busy screen gets fewer frames, each as sharp as the target allows, and the
//! link's queue stays short. libwebrtc's `FrameDropper` does the same.

use std::time::{Duration, Instant};

/// The bucket drains at this share of the target: the encoder's rate control overshoots a
/// little even on easy content, and that must not cost frames.
pub const BUDGET_HEADROOM: f64 = 1.2;
/// The bucket may hold this long at the target before pictures wait (a keyframe is several
/// frames' worth and goes in whole; the frames after it then wait for it to drain).
pub const BUDGET_BURST: Duration = Duration::from_millis(250);

/// The leaky bucket.
#[derive(Debug, Clone)]
pub struct EncodeBudget {
    rate_bps: f64,
    level_bits: f64,
    at: Option<Instant>,
}

impl EncodeBudget {
    /// Empty, draining at the headroom over `target_bps`.
    pub fn new(target_bps: u32) -> Self {
        EncodeBudget { rate_bps: rate(target_bps), level_bits: 0.0, at: None }
    }

    /// A new target (what is already in the bucket stays).
    pub fn set_target(&mut self, now: Instant, target_bps: u32) {
        self.drain(now);
        self.rate_bps = rate(target_bps);
    }

    /// Whether a picture may be encoded now.
    pub fn ready(&mut self, now: Instant) -> bool {
        self.drain(now);
        self.level_bits <= self.rate_bps / BUDGET_HEADROOM * BUDGET_BURST.as_secs_f64()
    }

    /// Counts one encoded frame.
    pub fn spend(&mut self, now: Instant, bytes: usize) {
        self.drain(now);
        self.level_bits += bytes as f64 * 8.0;
    }

    fn drain(&mut self, now: Instant) {
        if let Some(at) = self.at {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            self.level_bits = (self.level_bits - elapsed * self.rate_bps).max(0.0);
        }
        self.at = Some(now);
    }
}

fn rate(target_bps: u32) -> f64 {
    f64::from(target_bps.max(1)) * BUDGET_HEADROOM
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offers a picture every `every` for `duration`, each encoding to `bytes`; returns the
    /// bits sent.
    fn offer(
        budget: &mut EncodeBudget,
        at: &mut Instant,
        duration: Duration,
        every: Duration,
        bytes: usize,
    ) -> (u64, usize) {
        let (mut bits, mut frames) = (0, 0);
        let end = *at + duration;
        while *at < end {
            if budget.ready(*at) {
                budget.spend(*at, bytes);
                bits += bytes as u64 * 8;
                frames += 1;
            }
            *at += every;
        }
        (bits, frames)
    }

    #[test]
    fn a_picture_too_big_for_the_target_gets_fewer_frames_not_more_bits() {
        let mut at = Instant::now();
        let mut budget = EncodeBudget::new(1_500_000);
        // 25 KB a picture at 60 fps would be 12 Mbit/s.
        let (bits, frames) =
            offer(&mut budget, &mut at, Duration::from_secs(10), Duration::from_millis(16), 25_000);
        let sent_bps = bits as f64 / 10.0;
        assert!(sent_bps <= 1_500_000.0 * BUDGET_HEADROOM * 1.05, "{sent_bps}");
        assert!(sent_bps >= 1_500_000.0, "{sent_bps}");
        assert!((80..=100).contains(&frames), "{frames}");
    }

    #[test]
    fn pictures_that_fit_all_go() {
        let mut at = Instant::now();
        let mut budget = EncodeBudget::new(6_000_000);
        let (_, frames) =
            offer(&mut budget, &mut at, Duration::from_secs(2), Duration::from_millis(20), 10_000);
        assert_eq!(frames, 100);
    }

    #[test]
    fn a_keyframe_goes_whole_and_the_frames_after_it_wait() {
        let t0 = Instant::now();
        let mut budget = EncodeBudget::new(2_000_000);
        assert!(budget.ready(t0));
        budget.spend(t0, 150_000);
        assert!(!budget.ready(t0 + Duration::from_millis(100)));
        // 1.2 Mbit in, draining at 2.4 Mbit/s, ready again at 500 kbit: ~290 ms.
        assert!(!budget.ready(t0 + Duration::from_millis(280)));
        assert!(budget.ready(t0 + Duration::from_millis(300)));
    }

    #[test]
    fn a_lower_target_drains_slower() {
        let t0 = Instant::now();
        let mut budget = EncodeBudget::new(4_000_000);
        budget.spend(t0, 100_000);
        budget.set_target(t0, 1_000_000);
        assert!(!budget.ready(t0 + Duration::from_millis(300)));
        assert!(budget.ready(t0 + Duration::from_millis(480)));
    }
}
