//! Turning the agent's and viewer's stdout lines into one result row per scenario.

use std::time::Instant;

/// The `key=value` pairs of a line such as `stats: fps=59.8 kbps=4000 ... size=1920x1080`.
pub fn fields(line: &str) -> Vec<(&str, &str)> {
    line.split_whitespace().filter_map(|token| token.split_once('=')).collect()
}

/// The number after `key=`, with a trailing `ms` or `%` removed; `None` if absent or odd.
pub fn number(line: &str, key: &str) -> Option<f64> {
    let (_, value) = fields(line).into_iter().find(|(k, _)| *k == key)?;
    let value = value.trim_end_matches("ms").trim_end_matches('%').trim_end_matches(',');
    value.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A line and when the bench read it.
pub struct Timed {
    pub at: Instant,
    pub line: String,
}

/// Means over the viewer's per-second `stats:` lines whose second lies wholly in
/// `[from, to]` (a line covers the second before it was printed).
#[derive(Debug, Default, PartialEq)]
pub struct StatsMeans {
    pub lines: usize,
    pub fps: Option<f64>,
    pub kbps: Option<f64>,
    /// Weighted by each second's frames.
    pub decode_ms: Option<f64>,
}

pub fn stats_means(stats: &[Timed], from: Instant, to: Instant) -> StatsMeans {
    let lines: Vec<&str> = stats
        .iter()
        .filter(|s| {
            s.at.checked_duration_since(from).is_some_and(|d| d.as_secs_f64() >= 0.9) && s.at <= to
        })
        .map(|s| s.line.as_str())
        .collect();
    let mean = |key: &str| {
        let values: Vec<f64> = lines.iter().filter_map(|l| number(l, key)).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let (mut weighted, mut frames) = (0.0, 0.0);
    for line in &lines {
        if let (Some(fps), Some(ms)) = (number(line, "fps"), number(line, "decode_ms")) {
            weighted += fps * ms;
            frames += fps;
        }
    }
    StatsMeans {
        lines: lines.len(),
        fps: mean("fps"),
        kbps: mean("kbps"),
        decode_ms: (frames > 0.0).then(|| weighted / frames),
    }
}

/// Everything one scenario's row and record need.
#[derive(Default)]
pub struct Measured {
    pub label: String,
    pub fps: Option<f64>,
    pub latency: Option<String>,
    pub agent_cpu: Option<f64>,
    /// tether-viewer's CPU (for the comparison table).
    pub viewer_cpu: Option<f64>,
    pub agent_rss_mib: Option<f64>,
    pub viewer_rss_mib: Option<f64>,
    pub kbps: Option<f64>,
    pub decode_ms: Option<f64>,
    pub video: Option<String>,
    /// Mean of the viewer's `audio: kbps=` lines.
    pub audio_kbps: Option<f64>,
    /// Median delay from a tone burst played to its arrival at the viewer.
    pub audio_delay_ms: Option<f64>,
    /// Anything else for the record, one line each.
    pub details: Vec<String>,
    /// Raw lines for the record.
    pub raw: Vec<String>,
    /// What looked wrong.
    pub warnings: Vec<String>,
    /// Why the scenario stopped early, if it did.
    pub failure: Option<String>,
}

pub const HEADER: &str = "| scenario | fps | p50 ms | p95 ms | p99 ms | agent CPU (% of one core) | agent RSS MiB | viewer RSS MiB | kbit/s | capture/convert/encode/decode ms | audio kbit/s | audio delay p50 ms |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |";

/// `value` with `decimals` places, or `n/a`.
pub fn show(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.decimals$}"))
}

impl Measured {
    pub fn latency_ms(&self, key: &str) -> Option<f64> {
        number(self.latency.as_deref()?, key)
    }

    pub fn row(&self) -> String {
        let video = |key| self.video.as_deref().and_then(|v| number(v, key));
        let stages = [video("capture_ms"), video("convert_ms"), video("encode_ms"), self.decode_ms];
        let stages: Vec<String> = stages.iter().map(|s| show(*s, 2)).collect();
        let label = match &self.failure {
            Some(_) => format!("{} (failed)", self.label),
            None => self.label.clone(),
        };
        format!(
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            show(self.fps, 1),
            show(self.latency_ms("p50"), 1),
            show(self.latency_ms("p95"), 1),
            show(self.latency_ms("p99"), 1),
            self.agent_cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.0} %")),
            show(self.agent_rss_mib, 0),
            show(self.viewer_rss_mib, 0),
            show(self.kbps, 0),
            stages.join(" / "),
            show(self.audio_kbps, 1),
            show(self.audio_delay_ms, 1),
        )
    }

    /// Flags figures that suggest something is wrong; `motion` scenarios should run at the
    /// agent's frame rate and read the probe from most frames.
    pub fn check(&mut self, motion: bool, probe: bool, last_stats: Option<&str>) {
        let latency_frames = self.latency.as_deref().and_then(|l| number(l, "frames"));
        if probe && latency_frames.is_none_or(|f| f == 0.0) {
            self.warnings.push("no latency readings (latency frames=0 or no latency line)".into());
        }
        if motion && self.fps.is_none_or(|f| f < 50.0) {
            self.warnings.push(format!("delivered fps {} is well below 60", show(self.fps, 1)));
        }
        if let Some(line) = last_stats {
            for key in ["lost", "discarded", "dropped", "errors"] {
                if number(line, key).is_some_and(|n| n > 0.0) {
                    self.warnings
                        .push(format!("viewer counted {key}={}", show(number(line, key), 0)));
                }
            }
            if let (Some(frames), Some(n)) = (number(line, "frames"), latency_frames) {
                if probe && frames > 0.0 && n < frames * 0.5 {
                    self.warnings.push(format!(
                        "the probe was read from only {n:.0} of {frames:.0} decoded frames"
                    ));
                }
            }
        }
        if let Some(video) = self.video.as_deref() {
            let (encoded, sent) = (number(video, "encoded"), number(video, "sent"));
            if let (Some(e), Some(s)) = (encoded, sent) {
                // A frame or two can still be in the gate or being sent when the video stops.
                if s + 2.0 < e {
                    self.details.push(format!(
                        "agent: {:.0} encoded frames were never sent (replaced in the gate)",
                        e - s
                    ));
                }
            }
        } else {
            self.warnings.push("no `video:` line from the agent".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn numbers_are_read_tolerantly() {
        let line = "latency: frames=580 p50=21.3ms p95=25.0ms p99=30.1ms max=41.0ms";
        assert_eq!(number(line, "frames"), Some(580.0));
        assert_eq!(number(line, "p95"), Some(25.0));
        assert_eq!(number(line, "p90"), None);
        assert_eq!(number("latency: frames=0 (no probe pattern read)", "p50"), None);
        assert_eq!(number("stats: fps=NaN size=1920x1080", "fps"), None);
        assert_eq!(number("stats: size=1920x1080", "size"), None);
        assert_eq!(number("", "x"), None);
    }

    #[test]
    fn stats_means_skip_warm_up_and_the_final_line() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let line =
            |fps: f64, ms: f64| format!("stats: fps={fps} kbps=1000 decode_ms={ms} frames=1");
        let stats = vec![
            Timed { at: at(1000), line: line(10.0, 9.0) },
            Timed { at: at(3000), line: line(60.0, 2.0) },
            Timed { at: at(4000), line: line(30.0, 5.0) },
            Timed { at: at(9000), line: line(1.0, 50.0) },
        ];
        let m = stats_means(&stats, at(2000), at(5000));
        assert_eq!(m.lines, 2);
        assert_eq!(m.fps, Some(45.0));
        assert_eq!(m.kbps, Some(1000.0));
        assert_eq!(m.decode_ms, Some(3.0));
        assert_eq!(stats_means(&[], at(0), at(1)), StatsMeans::default());
    }

    #[test]
    fn rows_show_missing_figures_as_na() {
        let mut m = Measured { label: "1920x1080 static".into(), ..Measured::default() };
        assert_eq!(
            m.row(),
            "| 1920x1080 static | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a / n/a / n/a / n/a | n/a | n/a |"
        );
        m.latency = Some("latency: frames=10 p50=20.04ms p95=25ms p99=30ms max=31ms".into());
        m.video = Some("video: captured=1 encoded=1 sent=1 bytes=9 capture_ms=0.41 convert_ms=0.30 encode_ms=6.10".into());
        m.agent_cpu = Some(41.6);
        assert!(m.row().contains("| 20.0 | 25.0 | 30.0 | 42 % |"), "{}", m.row());
        assert!(m.row().ends_with("| 0.41 / 0.30 / 6.10 / n/a | n/a | n/a |"), "{}", m.row());
        m.check(true, true, Some("stats: fps=1 frames=100 lost=2 dropped=0"));
        assert_eq!(m.warnings.len(), 3, "{:?}", m.warnings);
    }
}
