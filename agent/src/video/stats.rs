//! Per-stage counters of the video pipeline: a log line every few seconds, and one stdout line
//! with the session's totals when it ends (the benchmark reads it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tether_media::telemetry::VideoSendStats;

/// Counters since the last report, and since the start.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) window: Counters,
    pub(super) total: Counters,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) polled: AtomicU64,
    pub(super) captured: AtomicU64,
    pub(super) encoded: AtomicU64,
    pub(super) keyframes: AtomicU64,
    pub(super) sent: AtomicU64,
    pub(super) bytes: AtomicU64,
    pub(super) capture_us: AtomicU64,
    pub(super) convert_us: AtomicU64,
    pub(super) encode_us: AtomicU64,
}

/// Which counter to add to.
#[derive(Clone, Copy)]
pub(super) enum Counter {
    /// Capture ticks, including those that found nothing drawn.
    Polled,
    Captured,
    Encoded,
    /// Encoded pictures that are IDRs.
    Keyframes,
    Sent,
    Bytes,
    CaptureUs,
    ConvertUs,
    EncodeUs,
}

impl Counters {
    fn get(&self, counter: Counter) -> &AtomicU64 {
        match counter {
            Counter::Polled => &self.polled,
            Counter::Captured => &self.captured,
            Counter::Encoded => &self.encoded,
            Counter::Keyframes => &self.keyframes,
            Counter::Sent => &self.sent,
            Counter::Bytes => &self.bytes,
            Counter::CaptureUs => &self.capture_us,
            Counter::ConvertUs => &self.convert_us,
            Counter::EncodeUs => &self.encode_us,
        }
    }
}

impl Stats {
    pub(super) fn add(&self, counter: Counter, n: u64) {
        self.window.get(counter).fetch_add(n, Ordering::Relaxed);
        self.total.get(counter).fetch_add(n, Ordering::Relaxed);
    }

    /// Adds the microseconds since `since`.
    pub(super) fn add_time(&self, counter: Counter, since: Instant) {
        self.add(counter, since.elapsed().as_micros().try_into().unwrap_or(u64::MAX));
    }

    pub(super) fn total(&self, counter: Counter) -> u64 {
        self.total.get(counter).load(Ordering::Relaxed)
    }

    /// Logs the window's rates and per-frame stage times, then starts a new window.
    pub(super) fn report(&self, over: Duration) {
        let take = |c: Counter| self.window.get(c).swap(0, Ordering::Relaxed);
        let (captured, encoded) = (take(Counter::Captured), take(Counter::Encoded));
        let secs = over.as_secs_f64().max(0.001);
        tracing::info!(
            captured_fps = format!("{:.1}", captured as f64 / secs),
            encoded_fps = format!("{:.1}", encoded as f64 / secs),
            sent_fps = format!("{:.1}", take(Counter::Sent) as f64 / secs),
            kbps = format!("{:.0}", take(Counter::Bytes) as f64 * 8.0 / 1000.0 / secs),
            capture_ms = per_frame_ms(take(Counter::CaptureUs), captured),
            convert_ms = per_frame_ms(take(Counter::ConvertUs), captured),
            encode_ms = per_frame_ms(take(Counter::EncodeUs), encoded),
            "video"
        );
    }

    /// The session's totals, printed as the `video:` line.
    pub(super) fn summary(&self) -> VideoSendStats {
        let (captured, encoded) = (self.total(Counter::Captured), self.total(Counter::Encoded));
        VideoSendStats {
            captured,
            encoded,
            keyframes: self.total(Counter::Keyframes),
            sent: self.total(Counter::Sent),
            bytes: self.total(Counter::Bytes),
            capture_ms: VideoSendStats::per_frame_ms(self.total(Counter::CaptureUs), captured),
            convert_ms: VideoSendStats::per_frame_ms(self.total(Counter::ConvertUs), captured),
            encode_ms: VideoSendStats::per_frame_ms(self.total(Counter::EncodeUs), encoded),
        }
    }
}

/// For the log: [`VideoSendStats::per_frame_ms`] as the `video:` line prints it.
fn per_frame_ms(us: u64, frames: u64) -> String {
    format!("{:.2}", VideoSendStats::per_frame_ms(us, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_gives_per_frame_times() {
        let stats = Stats::default();
        stats.add(Counter::Captured, 4);
        stats.add(Counter::CaptureUs, 2000);
        stats.add(Counter::Encoded, 2);
        stats.add(Counter::EncodeUs, 10_000);
        let summary = stats.summary();
        assert_eq!((summary.captured, summary.encoded), (4, 2));
        assert_eq!((summary.capture_ms, summary.encode_ms), (0.5, 5.0));
        assert_eq!(
            summary.to_string(),
            "video: captured=4 encoded=2 sent=0 bytes=0 capture_ms=0.50 convert_ms=0.00 encode_ms=5.00 keyframes=0"
        );
        stats.report(Duration::from_secs(1));
        assert_eq!(stats.total(Counter::Captured), 4, "reports do not reset totals");
    }
}
