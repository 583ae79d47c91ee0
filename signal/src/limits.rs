//! Rate limits, as plain values driven by the caller's clock.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How many failed joins each tier allows in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinBudgets {
    /// Per IPv4 address (/32) or IPv6 /64.
    pub per_address: usize,
    /// Per IPv6 /48 (a site), so that one site cannot walk the codes from 65,536 /64s.
    pub per_site: usize,
    /// Across the whole server: a circuit breaker that bounds how fast anybody, from however
    /// many addresses, can walk the 10^9 codes. Past it every join is refused for a while.
    pub global: usize,
}

/// Limits failed joins so that the 10^9 codes cannot be walked: at most a budget of failures
/// in any `window` per address, per IPv6 site and globally; past a budget, every join from
/// that address, site or anywhere is refused until the oldest failure leaves the window.
#[derive(Debug)]
pub struct JoinLimiter {
    window: Duration,
    max_tracked: usize,
    tiers: [Tier; 3],
}

/// One tier of the limiter: failures grouped by a key derived from the address.
#[derive(Debug)]
struct Tier {
    max_failures: usize,
    key: fn(IpAddr) -> Option<IpAddr>,
    failures: HashMap<IpAddr, VecDeque<Instant>>,
}

impl Tier {
    fn new(max_failures: usize, key: fn(IpAddr) -> Option<IpAddr>) -> Self {
        Tier { max_failures: max_failures.max(1), key, failures: HashMap::new() }
    }

    /// When joins from `addr` are allowed again, if they are refused now.
    fn refused_until(&mut self, now: Instant, window: Duration, addr: IpAddr) -> Option<Instant> {
        let times = self.failures.get_mut(&(self.key)(addr)?)?;
        prune(times, now, window);
        (times.len() >= self.max_failures).then(|| times.front().copied().unwrap_or(now) + window)
    }

    fn record(&mut self, now: Instant, window: Duration, addr: IpAddr, max_tracked: usize) {
        let Some(key) = (self.key)(addr) else { return };
        if self.failures.len() >= max_tracked && !self.failures.contains_key(&key) {
            self.sweep(now, window);
            if self.failures.len() >= max_tracked {
                // Still full of live entries: forget an arbitrary one rather than grow.
                if let Some(victim) = self.failures.keys().next().copied() {
                    self.failures.remove(&victim);
                }
            }
        }
        let times = self.failures.entry(key).or_default();
        prune(times, now, window);
        times.push_back(now);
        while times.len() > self.max_failures {
            times.pop_front();
        }
    }

    fn sweep(&mut self, now: Instant, window: Duration) {
        self.failures.retain(|_, times| {
            prune(times, now, window);
            !times.is_empty()
        });
    }
}

impl JoinLimiter {
    /// A limiter tracking at most `max_tracked` addresses or sites (the oldest are forgotten
    /// first when an attacker spreads over more; the global tier still counts them).
    pub fn new(budgets: JoinBudgets, window: Duration, max_tracked: usize) -> Self {
        JoinLimiter {
            window,
            max_tracked,
            tiers: [
                Tier::new(budgets.per_address, |addr| Some(limit_key(addr))),
                Tier::new(budgets.per_site, site_key),
                Tier::new(budgets.global, |_| Some(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))),
            ],
        }
    }

    /// `Err(retry_after)` if joins from `addr` are refused at `now`.
    pub fn check(&mut self, now: Instant, addr: IpAddr) -> Result<(), Duration> {
        let window = self.window;
        let until = self.tiers.iter_mut().filter_map(|t| t.refused_until(now, window, addr)).max();
        match until {
            Some(until) => Err(until.saturating_duration_since(now)),
            None => Ok(()),
        }
    }

    /// Records a failed join from `addr` at `now`.
    pub fn record_failure(&mut self, now: Instant, addr: IpAddr) {
        for tier in &mut self.tiers {
            tier.record(now, self.window, addr, self.max_tracked);
        }
    }

    /// Forgets addresses whose failures have all left the window.
    pub fn sweep(&mut self, now: Instant) {
        for tier in &mut self.tiers {
            tier.sweep(now, self.window);
        }
    }

    /// Number of addresses tracked (per-address tier).
    pub fn tracked(&self) -> usize {
        self.tiers[0].failures.len()
    }
}

/// The /48 an IPv6 address belongs to; IPv4 has no site tier.
fn site_key(addr: IpAddr) -> Option<IpAddr> {
    match limit_key(addr) {
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[3..].fill(0);
            Some(IpAddr::V6(segments.into()))
        }
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

    /// `per_address` for each address; the wider tiers out of the way.
    fn budgets(per_address: usize) -> JoinBudgets {
        JoinBudgets { per_address, per_site: 1_000_000, global: 1_000_000 }
    }

    fn v6(segments: [u16; 8]) -> IpAddr {
        IpAddr::V6(segments.into())
    }

    #[test]
    fn one_ipv6_site_cannot_walk_the_codes_from_many_64s() {
        let t0 = Instant::now();
        let tight = JoinBudgets { per_address: 5, per_site: 20, global: 1_000_000 };
        let mut limiter = JoinLimiter::new(tight, Duration::from_secs(60), 1000);
        // Four failures from each of five /64s in the same /48: every /64 is under its 5.
        for net in 0..5u16 {
            for host in 0..4u16 {
                let addr = v6([0x2001, 0xdb8, 7, net, 0, 0, 0, host]);
                assert_eq!(limiter.check(t0, addr), Ok(()), "{addr}");
                limiter.record_failure(t0, addr);
            }
        }
        let fresh_64 = v6([0x2001, 0xdb8, 7, 99, 0, 0, 0, 1]);
        assert_eq!(limiter.check(t0, fresh_64), Err(Duration::from_secs(60)));
        assert_eq!(limiter.check(t0, v6([0x2001, 0xdb8, 8, 0, 0, 0, 0, 1])), Ok(()));
        assert_eq!(limiter.check(t0, A), Ok(()), "IPv4 has no site tier");
    }

    #[test]
    fn the_global_budget_stops_a_walk_from_many_addresses() {
        let t0 = Instant::now();
        let tight = JoinBudgets { per_address: 5, per_site: 20, global: 100 };
        let mut limiter = JoinLimiter::new(tight, Duration::from_secs(60), 1000);
        for i in 0..100u32 {
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i * 256));
            assert_eq!(limiter.check(t0, addr), Ok(()));
            limiter.record_failure(t0 + Duration::from_millis(u64::from(i)), addr);
        }
        let later = t0 + Duration::from_secs(1);
        assert_eq!(limiter.check(later, B), Err(Duration::from_secs(59)));
        // Memory stays bounded by max_tracked, but the global tier keeps counting.
        assert_eq!(limiter.check(t0 + Duration::from_secs(60), B), Ok(()));
    }

    #[test]
    fn five_failures_a_minute_then_refused_until_the_oldest_leaves() {
        let t0 = Instant::now();
        let mut limiter = JoinLimiter::new(budgets(5), Duration::from_secs(60), 1000);
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
        let mut limiter = JoinLimiter::new(budgets(5), Duration::from_secs(60), 100);
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
        let mut limiter = JoinLimiter::new(budgets(2), Duration::from_secs(60), 100);
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
