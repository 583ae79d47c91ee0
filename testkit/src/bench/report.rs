//! Turning the agent's and viewer's stdout lines (parsed as `tether_media::telemetry` values)
//! into one result row per scenario.

use std::time::Instant;

use tether_media::telemetry::{AudioReceiveStats, LatencySummary, VideoSendStats, ViewerStats};

/// A per-second line and when the bench read it.
pub struct Timed<T> {
    pub at: Instant,
    pub stats: T,
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

/// The lines whose second lies wholly in `[from, to]`.
fn within<T>(lines: &[Timed<T>], from: Instant, to: Instant) -> Vec<&T> {
    lines
        .iter()
        .filter(|s| {
            s.at.checked_duration_since(from).is_some_and(|d| d.as_secs_f64() >= 0.9) && s.at <= to
        })
        .map(|s| &s.stats)
        .collect()
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(sum, n), v| (sum + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

pub fn stats_means(stats: &[Timed<ViewerStats>], from: Instant, to: Instant) -> StatsMeans {
    let lines = within(stats, from, to);
    let (mut weighted, mut frames) = (0.0, 0.0);
    for line in &lines {
        weighted += line.fps * line.decode_ms;
        frames += line.fps;
    }
    StatsMeans {
        lines: lines.len(),
        fps: mean(lines.iter().map(|l| l.fps)),
        kbps: mean(lines.iter().map(|l| l.kbps)),
        decode_ms: (frames > 0.0).then(|| weighted / frames),
    }
}

/// The mean of the viewer's `audio: kbps=` lines over the same seconds as [`stats_means`].
pub fn audio_kbps(stats: &[Timed<AudioReceiveStats>], from: Instant, to: Instant) -> Option<f64> {
    mean(within(stats, from, to).iter().map(|l| l.kbps))
}

/// Everything one scenario's row and record need.
#[derive(Default)]
pub struct Measured {
    pub label: String,
    pub fps: Option<f64>,
    /// The viewer's `latency:` line.
    pub latency: Option<LatencySummary>,
    pub agent_cpu: Option<f64>,
    /// tether-viewer's CPU (for the comparison table).
    pub viewer_cpu: Option<f64>,
    pub agent_rss_mib: Option<f64>,
    pub viewer_rss_mib: Option<f64>,
    pub kbps: Option<f64>,
    pub decode_ms: Option<f64>,
    /// The agent's `video:` line.
    pub video: Option<VideoSendStats>,
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
    /// The latency figures, if the probe was read from any frame.
    pub fn latency_read(&self) -> Option<&LatencySummary> {
        self.latency.as_ref().filter(|l| l.has_readings())
    }

    pub fn row(&self) -> String {
        let video = |stage: fn(&VideoSendStats) -> f64| self.video.as_ref().map(stage);
        let stages = [
            video(|v| v.capture_ms),
            video(|v| v.convert_ms),
            video(|v| v.encode_ms),
            self.decode_ms,
        ];
        let stages: Vec<String> = stages.iter().map(|s| show(*s, 2)).collect();
        let label = match &self.failure {
            Some(_) => format!("{} (failed)", self.label),
            None => self.label.clone(),
        };
        format!(
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            show(self.fps, 1),
            show(self.latency_read().map(|l| l.p50_ms), 1),
            show(self.latency_read().map(|l| l.p95_ms), 1),
            show(self.latency_read().map(|l| l.p99_ms), 1),
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
    pub fn check(&mut self, motion: bool, probe: bool, last_stats: Option<&ViewerStats>) {
        let latency_frames = self.latency.as_ref().map(|l| l.frames);
        if probe && latency_frames.is_none_or(|f| f == 0) {
            self.warnings.push("no latency readings (latency frames=0 or no latency line)".into());
        }
        if motion && self.fps.is_none_or(|f| f < 50.0) {
            self.warnings.push(format!("delivered fps {} is well below 60", show(self.fps, 1)));
        }
        if let Some(line) = last_stats {
            let counted = [
                ("lost", line.lost),
                ("discarded", line.discarded),
                ("dropped", line.dropped),
                ("errors", line.errors),
            ];
            for (key, n) in counted {
                if n > 0 {
                    self.warnings.push(format!("viewer counted {key}={n}"));
                }
            }
            if let Some(n) = latency_frames {
                let frames = line.frames as f64;
                if probe && frames > 0.0 && (n as f64) < frames * 0.5 {
                    self.warnings.push(format!(
                        "the probe was read from only {n} of {frames:.0} decoded frames"
                    ));
                }
            }
        }
        if let Some(video) = &self.video {
            // A frame or two can still be in the gate or being sent when the video stops.
            if video.sent + 2 < video.encoded {
                self.details.push(format!(
                    "agent: {} encoded frames were never sent (replaced in the gate)",
                    video.encoded - video.sent
                ));
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

    fn viewer_line(fps: f64, decode_ms: f64) -> ViewerStats {
        ViewerStats { fps, kbps: 1000.0, decode_ms, frames: 1, ..ViewerStats::default() }
    }

    #[test]
    fn stats_means_skip_warm_up_and_the_final_line() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let stats = vec![
            Timed { at: at(1000), stats: viewer_line(10.0, 9.0) },
            Timed { at: at(3000), stats: viewer_line(60.0, 2.0) },
            Timed { at: at(4000), stats: viewer_line(30.0, 5.0) },
            Timed { at: at(9000), stats: viewer_line(1.0, 50.0) },
        ];
        let m = stats_means(&stats, at(2000), at(5000));
        assert_eq!(m.lines, 2);
        assert_eq!(m.fps, Some(45.0));
        assert_eq!(m.kbps, Some(1000.0));
        assert_eq!(m.decode_ms, Some(3.0));
        assert_eq!(stats_means(&[], at(0), at(1)), StatsMeans::default());
        let audio = |kbps| AudioReceiveStats { kbps, ..AudioReceiveStats::default() };
        let audio = [
            Timed { at: at(3000), stats: audio(60.0) },
            Timed { at: at(4000), stats: audio(2.0) },
            Timed { at: at(9000), stats: audio(500.0) },
        ];
        assert_eq!(audio_kbps(&audio, at(2000), at(5000)), Some(31.0));
        assert_eq!(audio_kbps(&audio, at(8500), at(8900)), None);
    }

    #[test]
    fn rows_show_missing_figures_as_na() {
        let mut m = Measured { label: "1920x1080 static".into(), ..Measured::default() };
        assert_eq!(
            m.row(),
            "| 1920x1080 static | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a / n/a / n/a / n/a | n/a | n/a |"
        );
        m.latency = "latency: frames=0 (no probe pattern read)".parse().ok();
        assert!(m.row().starts_with("| 1920x1080 static | n/a | n/a | n/a | n/a |"), "{}", m.row());
        m.latency = "latency: frames=10 p50=20.04ms p95=25ms p99=30ms max=31ms".parse().ok();
        m.video = "video: captured=1 encoded=1 sent=1 bytes=9 capture_ms=0.41 convert_ms=0.30 encode_ms=6.10 keyframes=1".parse().ok();
        m.agent_cpu = Some(41.6);
        assert!(m.row().contains("| 20.0 | 25.0 | 30.0 | 42 % |"), "{}", m.row());
        assert!(m.row().ends_with("| 0.41 / 0.30 / 6.10 / n/a | n/a | n/a |"), "{}", m.row());
        let last = ViewerStats { fps: 1.0, frames: 100, lost: 2, ..ViewerStats::default() };
        m.check(true, true, Some(&last));
        assert_eq!(
            m.warnings,
            [
                "delivered fps n/a is well below 60",
                "viewer counted lost=2",
                "the probe was read from only 10 of 100 decoded frames"
            ]
        );
        assert!(m.details.is_empty());
        m.video =
            "video: captured=9 encoded=9 sent=5 bytes=9 capture_ms=0 convert_ms=0 encode_ms=0 keyframes=1"
                .parse()
                .ok();
        m.check(false, false, None);
        assert_eq!(m.details, ["agent: 4 encoded frames were never sent (replaced in the gate)"]);
    }
}
