//! The sender's congestion control: webrtc-rs's send-side TWCC (every RTP packet numbered,
//! its departure recorded) and, over the viewer's transport-wide feedback, [`LinkEstimator`]:
//! GCC's delay detector with rate rules of Tether's own ([`rules`]). The agent reads the
//! estimate, with the loss and delivered rate the feedback showed, from a shared
//! [`LinkEstimate`].

mod estimator;
pub mod rules;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtc::interceptor::{CongestionControlBuilder, CongestionControlInterceptor};

use self::estimator::LinkEstimator;

/// How much feedback [`FeedbackWindow`] looks back over.
const WINDOW: Duration = Duration::from_secs(1);
/// Most packets the window keeps (a second at ~100 Mbit/s of 1,200-byte packets).
const WINDOW_PACKETS: usize = 10_000;

/// How the sender's estimator starts and where it is bounded.
#[derive(Debug, Clone)]
pub struct CongestionSettings {
    /// Where the estimate starts.
    pub initial_bps: u32,
    /// It never goes below this.
    pub min_bps: u32,
    /// Nor above this.
    pub max_bps: u32,
    /// Where it is published.
    pub estimate: Arc<LinkEstimate>,
}

/// The latest estimate, written by the peer connection's driver and read by the encoder.
#[derive(Debug, Default)]
pub struct LinkEstimate {
    target_bps: AtomicU64,
    delivered_bps: AtomicU64,
    loss_ppm: AtomicU64,
    reports: AtomicU64,
}

/// One reading of [`LinkEstimate`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EstimateSnapshot {
    /// GCC's target; `None` until the first feedback arrived.
    pub target_bps: Option<u32>,
    /// What the viewer acknowledged over the last second.
    pub delivered_bps: u32,
    /// Fraction of the packets of the last second that feedback reported lost.
    pub loss: f64,
}

impl LinkEstimate {
    /// The latest values.
    pub fn snapshot(&self) -> EstimateSnapshot {
        let seen = self.reports.load(Ordering::Relaxed) > 0;
        let target = self.target_bps.load(Ordering::Relaxed);
        EstimateSnapshot {
            target_bps: seen.then(|| u32::try_from(target).unwrap_or(u32::MAX)),
            delivered_bps: u32::try_from(self.delivered_bps.load(Ordering::Relaxed))
                .unwrap_or(u32::MAX),
            loss: self.loss_ppm.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    /// Stores a new estimate (the estimator does, after each feedback).
    pub fn publish(&self, target_bps: f64, delivered_bps: u32, loss: f64) {
        self.target_bps.store(target_bps.max(0.0) as u64, Ordering::Relaxed);
        self.delivered_bps.store(u64::from(delivered_bps), Ordering::Relaxed);
        self.loss_ppm.store((loss.clamp(0.0, 1.0) * 1e6) as u64, Ordering::Relaxed);
        self.reports.fetch_add(1, Ordering::Relaxed);
    }
}

/// The interceptor that records departures and feeds feedback to the estimator.
pub(crate) fn interceptor(
    settings: &CongestionSettings,
) -> CongestionControlInterceptor<LinkEstimator> {
    CongestionControlBuilder::new(LinkEstimator::new(settings)).build()
}

/// Delivered bytes and losses of the last second of feedback.
#[derive(Debug, Default)]
pub struct FeedbackWindow {
    /// (when reported, bytes, arrived)
    packets: VecDeque<(Instant, usize, bool)>,
    delivered_bytes: usize,
    lost: usize,
}

impl FeedbackWindow {
    /// Counts one reported packet.
    pub fn add(&mut self, now: Instant, bytes: usize, arrived: bool) {
        self.expire(now);
        if self.packets.len() >= WINDOW_PACKETS {
            self.pop();
        }
        self.packets.push_back((now, bytes, arrived));
        match arrived {
            true => self.delivered_bytes += bytes,
            false => self.lost += 1,
        }
    }

    /// Forgets reports older than the window.
    pub fn expire(&mut self, now: Instant) {
        while self.packets.front().is_some_and(|&(at, ..)| now.duration_since(at) > WINDOW) {
            self.pop();
        }
    }

    fn pop(&mut self) {
        if let Some((_, bytes, arrived)) = self.packets.pop_front() {
            match arrived {
                true => self.delivered_bytes -= bytes,
                false => self.lost -= 1,
            }
        }
    }

    /// Acknowledged bits per second over the window.
    pub fn delivered_bps(&self) -> u32 {
        let bits = self.delivered_bytes as f64 * 8.0 / WINDOW.as_secs_f64();
        bits.min(f64::from(u32::MAX)) as u32
    }

    /// Fraction of the window's packets reported lost.
    pub fn loss(&self) -> f64 {
        match self.packets.len() {
            0 => 0.0,
            n => self.lost as f64 / n as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_counts_a_second_of_feedback() {
        let t0 = Instant::now();
        let mut w = FeedbackWindow::default();
        for i in 0..100 {
            w.add(t0 + Duration::from_millis(i * 10), 1000, i % 10 != 0);
        }
        assert_eq!(w.loss(), 0.1);
        assert_eq!(w.delivered_bps(), 90 * 1000 * 8);
        w.expire(t0 + Duration::from_millis(1500));
        assert_eq!(w.packets.len(), 50, "only the last second");
        w.expire(t0 + Duration::from_secs(5));
        assert_eq!((w.loss(), w.delivered_bps()), (0.0, 0));
    }

    #[test]
    fn the_window_is_bounded() {
        let t0 = Instant::now();
        let mut w = FeedbackWindow::default();
        for _ in 0..WINDOW_PACKETS + 500 {
            w.add(t0, 1200, true);
        }
        assert_eq!(w.packets.len(), WINDOW_PACKETS);
        assert_eq!(w.delivered_bytes, WINDOW_PACKETS * 1200);
    }

    #[test]
    fn nothing_is_estimated_before_feedback() {
        let estimate = LinkEstimate::default();
        assert_eq!(estimate.snapshot().target_bps, None);
        estimate.publish(2_500_000.0, 0, 1.0);
        let snapshot = estimate.snapshot();
        assert_eq!(snapshot.target_bps, Some(2_500_000));
        assert_eq!(snapshot.loss, 1.0);
    }
}
