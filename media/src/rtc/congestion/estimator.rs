//! [`LinkEstimator`]: webrtc-rs's delay pieces (arrival groups, the Kalman slope, the adaptive
//! overuse threshold) feeding Tether's own rate rules ([`super::rules`]), published after
//! every feedback to the shared [`LinkEstimate`].

use std::sync::Arc;
use std::time::Instant;

use rtc::interceptor::{
    BandwidthEstimator, EstimatorStats, OveruseDetector, PacketReport, RateCalculator,
    SlopeEstimator,
};

use super::rules::{Bounds, DelayRule, LossRule};
use super::{CongestionSettings, FeedbackWindow, LinkEstimate};

pub(crate) struct LinkEstimator {
    slope: SlopeEstimator,
    detector: OveruseDetector,
    received: RateCalculator,
    delay: DelayRule,
    loss: LossRule,
    window: FeedbackWindow,
    shared: Arc<LinkEstimate>,
}

impl LinkEstimator {
    pub(crate) fn new(settings: &CongestionSettings) -> Self {
        let bounds =
            Bounds { min_bps: f64::from(settings.min_bps), max_bps: f64::from(settings.max_bps) };
        LinkEstimator {
            slope: SlopeEstimator::new(),
            detector: OveruseDetector::new(),
            received: RateCalculator::default(),
            delay: DelayRule::new(bounds, f64::from(settings.initial_bps)),
            loss: LossRule::new(bounds),
            window: FeedbackWindow::default(),
            shared: settings.estimate.clone(),
        }
    }

    fn publish(&self) {
        self.shared.publish(self.target_bitrate(), self.window.delivered_bps(), self.window.loss());
    }
}

impl BandwidthEstimator for LinkEstimator {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        if reports.is_empty() {
            return;
        }
        let mut usage = self.detector.usage();
        for report in reports {
            if report.arrived {
                self.received.add(now, report.size);
            }
            self.window.add(now, report.size, report.arrived);
            if let Some(trend) = self.slope.accumulate(report) {
                usage = self.detector.update(trend.at, trend.estimate_ms);
            }
        }
        let received = self.received.rate_bits_per_second(now);
        self.delay.update(now, usage, received);
        self.loss.update(now, self.window.loss(), received);
        self.publish();
    }

    fn target_bitrate(&self) -> f64 {
        self.delay.target().min(self.loss.target())
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.window.expire(now);
        self.publish();
    }

    fn stats(&self) -> EstimatorStats {
        let mut stats = EstimatorStats::default();
        stats.delay_based_bitrate = Some(self.delay.target());
        stats.loss_based_bitrate = Some(self.loss.target());
        stats.packet_loss = Some(self.window.loss());
        stats
    }
}
