//! A token-bucket pacer for the video packets the agent writes: packets leave at a multiple of
//! the target bitrate (libwebrtc paces at 2.5x) instead of in one burst per frame, so a 1080p
//! keyframe does not flood the link's queue, yet drains in a few tens of milliseconds. Pure:
//! the caller passes the time and sleeps until [`Pacer::send_at`].

use std::time::{Duration, Instant};

/// How much faster than the target the pacer releases packets.
pub const PACING_FACTOR: f64 = 2.5;
/// Sending this far ahead of the schedule is allowed, so that the caller sleeps once per
/// few packets (timers are ~1 ms coarse) rather than once per packet.
pub const BURST: Duration = Duration::from_millis(5);

/// When each packet may leave.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate_bps: f64,
    /// When the packets released so far will have drained at the pacing rate.
    drained_at: Option<Instant>,
}

impl Pacer {
    /// Paces at [`PACING_FACTOR`] times `target_bps`.
    pub fn new(target_bps: u32) -> Self {
        let mut pacer = Pacer { rate_bps: 0.0, drained_at: None };
        pacer.set_target(target_bps);
        pacer
    }

    /// Follows a new target bitrate.
    pub fn set_target(&mut self, target_bps: u32) {
        self.rate_bps = (f64::from(target_bps) * PACING_FACTOR).max(1.0);
    }

    /// When a packet may leave if asked at `now`: `now` if within the burst allowance.
    pub fn send_at(&self, now: Instant) -> Instant {
        match self.drained_at {
            Some(drained) if drained > now + BURST => drained - BURST,
            _ => now,
        }
    }

    /// Counts a packet of `bytes` released at `now` (not before [`Pacer::send_at`]).
    pub fn sent(&mut self, now: Instant, bytes: usize) {
        let start = self.drained_at.map_or(now, |drained| drained.max(now));
        let duration = Duration::from_secs_f64(bytes as f64 * 8.0 / self.rate_bps);
        self.drained_at = Some(start + duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Releases `packets` of `bytes` as fast as the pacer lets them; returns when the last left.
    fn release(pacer: &mut Pacer, start: Instant, packets: usize, bytes: usize) -> Duration {
        let mut now = start;
        for _ in 0..packets {
            now = pacer.send_at(now);
            pacer.sent(now, bytes);
        }
        now - start
    }

    #[test]
    fn a_keyframe_leaves_at_two_and_a_half_times_the_target() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(4_000_000);
        // 120 kB (a 1080p keyframe): 960 kbit at 10 Mbit/s is 96 ms.
        let took = release(&mut pacer, t0, 100, 1200);
        let expected = Duration::from_millis(96) - BURST;
        assert!(took.abs_diff(expected) < Duration::from_millis(2), "{took:?}");
    }

    #[test]
    fn small_frames_leave_at_once_and_idle_time_is_not_saved_up() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(4_000_000);
        assert_eq!(release(&mut pacer, t0, 3, 1200), Duration::ZERO, "within the burst");
        // A second of silence does not let the next frame burst beyond the allowance.
        let later = t0 + Duration::from_secs(1);
        let took = release(&mut pacer, later, 100, 1200);
        assert!(took > Duration::from_millis(85), "{took:?}");
    }

    #[test]
    fn a_lower_target_slows_it_down() {
        let t0 = Instant::now();
        let mut fast = Pacer::new(8_000_000);
        let mut slow = Pacer::new(8_000_000);
        slow.set_target(1_000_000);
        let (a, b) = (release(&mut fast, t0, 50, 1200), release(&mut slow, t0, 50, 1200));
        assert!(b > a * 6, "{a:?} vs {b:?}");
    }
}
