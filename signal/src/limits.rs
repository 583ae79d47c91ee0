//! Rate limits, as plain values driven by the caller's clock.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Limits failed joins per client address so that the 10^9 codes cannot be walked: at most
/// `max_failures` in any `window`, then every join from that address is refused until the
/// oldest failure leaves the window.
#[derive(Debug)]
pub struct JoinLimiter {
    max_failures: usize,
    window: Duration,
    max_tracked: usize,
    failures: HashMap<IpAddr, VecDeque<Instant>>,
}

impl JoinLimiter {
    /// A limiter tracking at most `max_tracked` addresses (the oldest are forgotten first when
    /// an attacker spreads over more, which costs it the limit only for addresses it no longer
    /// uses).
    pub fn new(max_failures: usize, window: Duration, max_tracked: usize) -> Self {
        JoinLimiter {
            max_failures: max_failures.max(1),
            window,
            max_tracked,
            failures: HashMap::new(),
        }
    }

    /// `Err(retry_after)` if joins from `addr` are refused at `now`.
    pub fn check(&mut self, now: Instant, addr: IpAddr) -> Result<(), Duration> {
        let key = limit_key(addr);
        let Some(times) = self.failures.get_mut(&key) else { return Ok(()) };
        prune(times, now, self.window);
        if times.len() < self.max_failures {
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        Err((oldest + self.window).saturating_duration_since(now))
    }

    /// Records a failed join from `addr` at `now`.
    pub fn record_failure(&mut self, now: Instant, addr: IpAddr) {
        if self.failures.len() >= self.max_tracked {
            self.sweep(now);
        }
        if self.failures.len() >= self.max_tracked {
            // Still full of live entries: forget an arbitrary one rather than grow without bound.
            if let Some(victim) = self.failures.keys().next().copied() {
                self.failures.remove(&victim);
            }
        }
        let times = self.failures.entry(limit_key(addr)).or_default();
        prune(times, now, self.window);
        times.push_back(now);
        while times.len() > self.max_failures {
            times.pop_front();
        }
    }

    /// Forgets addresses whose failures have all left the window.
    pub fn sweep(&mut self, now: Instant) {
        let window = self.window;
        self.failures.retain(|_, times| {
            prune(times, now, window);
            !times.is_empty()
        });
    }

    /// Number of addresses tracked.
    pub fn tracked(&self) -> usize {
        self.failures.len()
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times.front().is_some_and(|t| now.saturating_duration_since(*t) >= window) {
        times.pop_front();
    }
}

/// IPv6 clients usually own a whole /64, so they are limited per /64 rather than per address.
pub(crate) fn limit_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

/// A token bucket: `rate` messages a second on average, bursts of up to `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(now: Instant, rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket { rate: rate.max(0.0), burst, tokens: burst, last: now }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn five_failures_a_minute_then_refused_until_the_oldest_leaves() {
        let t0 = Instant::now();
        let mut limiter = JoinLimiter::new(5, Duration::from_secs(60), 1000);
        for i in 0..5 {
            assert_eq!(limiter.check(t0 + Duration::from_secs(i), A), Ok(()));
            limiter.record_failure(t0 + Duration::from_secs(i), A);
        }
        assert_eq!(limiter.check(t0 + Duration::from_secs(10), A), Err(Duration::from_secs(50)));
        // Other addresses are not affected.
        assert_eq!(limiter.check(t0 + Duration::from_secs(10), B), Ok(()));
        // The first failure leaves the window at t0 + 60 s.
        assert_eq!(limiter.check(t0 + Duration::from_secs(60), A), Ok(()));
        limiter.record_failure(t0 + Duration::from_secs(60), A);
        assert_eq!(limiter.check(t0 + Duration::from_secs(60), A), Err(Duration::from_secs(1)));
    }

    #[test]
    fn sweep_forgets_idle_addresses_and_memory_is_bounded() {
        let t0 = Instant::now();
        let mut limiter = JoinLimiter::new(5, Duration::from_secs(60), 100);
        for i in 0..1000u32 {
            limiter.record_failure(t0, IpAddr::V4(Ipv4Addr::from(i)));
        }
        assert!(limiter.tracked() <= 100);
        limiter.sweep(t0 + Duration::from_secs(61));
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn ipv6_is_limited_per_64() {
        let t0 = Instant::now();
        let mut limiter = JoinLimiter::new(2, Duration::from_secs(60), 100);
        limiter.record_failure(t0, IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1)));
        limiter.record_failure(t0, IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9)));
        let same_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 7, 7, 7, 7));
        assert!(limiter.check(t0, same_64).is_err());
        let other_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert!(limiter.check(t0, other_64).is_ok());
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        limiter.record_failure(t0, mapped);
        limiter.record_failure(t0, A);
        assert!(limiter.check(t0, A).is_err());
    }

    #[test]
    fn token_bucket_allows_bursts_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(t0, 10.0, 3);
        assert!((0..3).all(|_| bucket.try_take(t0)));
        assert!(!bucket.try_take(t0));
        assert!(bucket.try_take(t0 + Duration::from_millis(100)));
        assert!(!bucket.try_take(t0 + Duration::from_millis(100)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.try_take(later)));
        assert!(!bucket.try_take(later));
    }
}
