//! The viewer's closing `latency:` line.

use std::fmt;
use std::str::FromStr;

use super::fields::Fields;
use super::{ParseError, Percentiles};

/// What the line says when the probe pattern was never read.
const NO_PROBE: &str = "latency: frames=0 (no probe pattern read)";

/// `latency: frames=N p50=..ms p95=..ms p99=..ms max=..ms`: glass-to-glass latency over the
/// frames whose probe pattern was read, or `latency: frames=0 (no probe pattern read)`; then
/// the figures are zero.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencySummary {
    pub frames: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    /// The summary of latencies in milliseconds, by [`super::percentile`]'s rule.
    pub fn from_samples(latencies_ms: &[f64]) -> Self {
        let p = Percentiles::new(latencies_ms);
        let at = |q: f64| p.at(q).unwrap_or(0.0);
        LatencySummary {
            frames: p.len(),
            p50_ms: at(0.5),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: p.max().unwrap_or(0.0),
        }
    }

    /// Whether the probe was read from any frame (the figures mean something).
    pub fn has_readings(&self) -> bool {
        self.frames > 0
    }
}

impl fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.frames == 0 {
            return f.write_str(NO_PROBE);
        }
        write!(
            f,
            "latency: frames={} p50={:.1}ms p95={:.1}ms p99={:.1}ms max={:.1}ms",
            self.frames, self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms
        )
    }
}

impl FromStr for LatencySummary {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "latency:")?;
        let frames = f.get("frames")?;
        if frames == 0 {
            return Ok(LatencySummary::default());
        }
        Ok(LatencySummary {
            frames,
            p50_ms: f.float("p50", "ms")?,
            p95_ms: f.float("p95", "ms")?,
            p99_ms: f.float("p99", "ms")?,
            max_ms: f.float("max", "ms")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_todays() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            LatencySummary::from_samples(&hundred).to_string(),
            "latency: frames=100 p50=51.0ms p95=95.0ms p99=99.0ms max=100.0ms"
        );
        assert_eq!(
            LatencySummary::from_samples(&[21.34, 19.96, 40.0]).to_string(),
            "latency: frames=3 p50=21.3ms p95=40.0ms p99=40.0ms max=40.0ms"
        );
        assert_eq!(LatencySummary::from_samples(&[]).to_string(), NO_PROBE);
        assert!(!LatencySummary::from_samples(&[]).has_readings());
    }

    #[test]
    fn round_trip() {
        let read =
            LatencySummary { frames: 580, p50_ms: 21.5, p95_ms: 25.0, p99_ms: 30.5, max_ms: 41.0 };
        for summary in [read, LatencySummary::default()] {
            assert_eq!(summary.to_string().parse(), Ok(summary));
        }
        assert_eq!(NO_PROBE.parse(), Ok(LatencySummary::default()));
        let loose: LatencySummary =
            "frames=10 p50=20.04ms p95=25ms p99=30 max=31ms".parse().unwrap();
        assert_eq!((loose.p50_ms, loose.p95_ms, loose.p99_ms), (20.04, 25.0, 30.0));
        assert_eq!(
            "latency: frames=3 p50=1ms".parse::<LatencySummary>(),
            Err(ParseError::Missing { kind: "latency:", key: "p95" })
        );
    }
}
