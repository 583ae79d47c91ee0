//! When to try the signaling server again after the connection to it was lost: exponential
//! back-off with jitter, reset once a connection has held for a while.
//!
//! The caller reports each registration that succeeded ([`Backoff::connected`]) and each loss or
//! failed attempt ([`Backoff::failed`], which says how long to wait). Randomness comes in as a
//! number in `0..=1`, so the rule is tested without a random source.

use std::time::{Duration, Instant};

/// The agent's back-off: 0.5 s, doubling up to 30 s; a connection that held for a minute
/// starts the sequence again.
pub const AGENT_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(500), Duration::from_secs(30), Duration::from_secs(60));

/// The back-off state of one client.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    stable_after: Duration,
    /// Losses and failed attempts since the last stable connection.
    failures: u32,
    /// When the current connection came up, if one is up.
    up_since: Option<Instant>,
}

impl Backoff {
    /// Waits of `first`, doubling up to `max`; a connection that lasted `stable_after` resets
    /// them.
    pub const fn new(first: Duration, max: Duration, stable_after: Duration) -> Self {
        Backoff { first, max, stable_after, failures: 0, up_since: None }
    }

    /// A connection came up at `now` (the server accepted the registration).
    pub fn connected(&mut self, now: Instant) {
        self.up_since = Some(now);
    }

    /// The connection was lost, or an attempt failed, at `now`: how long to wait before the
    /// next attempt. `jitter` (`0..=1`, from the caller's random source) takes up to half of
    /// the wait off, so that many clients cut off together do not come back together.
    pub fn failed(&mut self, now: Instant, jitter: f64) -> Duration {
        if let Some(since) = self.up_since.take() {
            if now.saturating_duration_since(since) >= self.stable_after {
                self.failures = 0;
            }
        }
        let step = self.step();
        self.failures = self.failures.saturating_add(1);
        step.mul_f64(1.0 - jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// The wait before jitter: `first * 2^failures`, at most `max`.
    fn step(&self) -> Duration {
        let doublings = self.failures.min(31);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn waits_double_from_half_a_second_up_to_thirty() {
        let mut b = AGENT_BACKOFF;
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..9).map(|_| b.failed(t0, 0.0)).collect();
        let expected = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000].map(ms);
        assert_eq!(waits, expected);
    }

    #[test]
    fn jitter_takes_up_to_half_off() {
        let t0 = Instant::now();
        let wait = |jitter| AGENT_BACKOFF.clone().failed(t0, jitter);
        assert_eq!(wait(1.0), ms(250));
        assert_eq!(wait(0.5), ms(375));
        assert_eq!(wait(7.0), ms(250), "out-of-range jitter is clamped");
        assert_eq!(wait(-1.0), ms(500));
    }

    #[test]
    fn a_connection_that_held_starts_the_waits_again() {
        let mut b = AGENT_BACKOFF;
        let t0 = Instant::now();
        for _ in 0..5 {
            b.failed(t0, 0.0);
        }
        b.connected(t0);
        assert_eq!(b.failed(t0 + Duration::from_secs(60), 0.0), ms(500));
    }

    #[test]
    fn a_connection_cut_off_at_once_keeps_backing_off() {
        let mut b = AGENT_BACKOFF;
        let t0 = Instant::now();
        for _ in 0..3 {
            b.failed(t0, 0.0);
        }
        // Registered, then knocked off within seconds, again and again: no reset.
        b.connected(t0);
        assert_eq!(b.failed(t0 + Duration::from_secs(2), 0.0), ms(4000));
        b.connected(t0);
        assert_eq!(b.failed(t0 + Duration::from_secs(2), 0.0), ms(8000));
    }
}
