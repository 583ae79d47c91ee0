//! The lines that show how the video follows the link: the agent's `quality:` on each change
//! of its target, and the viewer's closing `freezes:` (with `--latency-probe`).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use super::ParseError;
use super::fields::Fields;

/// `quality: kbps=1200 fps=18.0 was_kbps=6000 reason=estimate unix_ms=1796607064094`: the
/// agent's video target changed (the reason is one word: `estimate`, `queue`, `loss` or
/// `recovering`) at that wall-clock millisecond.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityChange {
    pub kbps: u32,
    pub fps: f64,
    pub was_kbps: u32,
    pub reason: String,
    pub unix_ms: u64,
}

impl fmt::Display for QualityChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "quality: kbps={} fps={:.1} was_kbps={} reason={} unix_ms={}",
            self.kbps, self.fps, self.was_kbps, self.reason, self.unix_ms
        )
    }
}

impl FromStr for QualityChange {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "quality:")?;
        Ok(QualityChange {
            kbps: f.get("kbps")?,
            fps: f.float("fps", "")?,
            was_kbps: f.get("was_kbps")?,
            reason: f.get("reason")?,
            unix_ms: f.get("unix_ms")?,
        })
    }
}

/// A gap between two decoded pictures longer than this, while the sender's screen moves, is a
/// freeze.
pub const FREEZE_GAP: Duration = Duration::from_millis(200);

/// `freezes: count=2 total_ms=640 longest_ms=410`: gaps of more than [`FREEZE_GAP`] between
/// decoded pictures over the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FreezeSummary {
    pub count: u64,
    pub total_ms: u64,
    pub longest_ms: u64,
}

impl FreezeSummary {
    /// Counts the gap since the previous picture, `gap`.
    pub fn add_gap(&mut self, gap: Duration) {
        if gap > FREEZE_GAP {
            let ms = u64::try_from(gap.as_millis()).unwrap_or(u64::MAX);
            self.count += 1;
            self.total_ms = self.total_ms.saturating_add(ms);
            self.longest_ms = self.longest_ms.max(ms);
        }
    }
}

/// Feeds a [`FreezeSummary`] with the instants pictures were decoded.
#[derive(Debug, Clone, Default)]
pub struct FreezeCounter {
    last: Option<Instant>,
    pub summary: FreezeSummary,
}

impl FreezeCounter {
    /// A picture was decoded at `at`.
    pub fn frame(&mut self, at: Instant) {
        if let Some(last) = self.last.replace(at) {
            self.summary.add_gap(at.saturating_duration_since(last));
        }
    }
}

impl fmt::Display for FreezeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "freezes: count={} total_ms={} longest_ms={}",
            self.count, self.total_ms, self.longest_ms
        )
    }
}

impl FromStr for FreezeSummary {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "freezes:")?;
        Ok(FreezeSummary {
            count: f.get("count")?,
            total_ms: f.get("total_ms")?,
            longest_ms: f.get("longest_ms")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_lines_round_trip() {
        let change = QualityChange {
            kbps: 1200,
            fps: 18.0,
            was_kbps: 6000,
            reason: "estimate".into(),
            unix_ms: 17,
        };
        let line = change.to_string();
        assert_eq!(line, "quality: kbps=1200 fps=18.0 was_kbps=6000 reason=estimate unix_ms=17");
        assert_eq!(line.parse::<QualityChange>().unwrap(), change);
        assert!("stats: kbps=1".parse::<QualityChange>().is_err());
    }

    #[test]
    fn only_gaps_over_200_ms_are_freezes() {
        let t0 = Instant::now();
        let mut counter = FreezeCounter::default();
        for ms in [0, 16, 33, 300, 316, 816, 833] {
            counter.frame(t0 + Duration::from_millis(ms));
        }
        let summary = counter.summary;
        assert_eq!(summary, FreezeSummary { count: 2, total_ms: 767, longest_ms: 500 });
        let line = summary.to_string();
        assert_eq!(line, "freezes: count=2 total_ms=767 longest_ms=500");
        assert_eq!(line.parse::<FreezeSummary>().unwrap(), summary);
    }
}
