//! The audio half of a scenario: a private PulseAudio server whose null sink the agent
//! captures, tone bursts played into it at known wall-clock times, and the figures: the
//! audio bitrate (the viewer's `audio: kbps=` lines) and the delay from a burst's start
//! (`paplay` launched) to its onset arriving at the viewer (`audio: onset unix_ms=`, the
//! arrival time of the first packet with the tone, which is also the moment it is written to
//! the dump).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use tether_testkit::pulse::{PulseClient, PulseServer};
use tether_testkit::tone::write_tone_wav;

use tether_media::telemetry::{AudioOnset, Percentiles};

/// One burst: long enough to be heard, short enough that the pauses stay DTX.
pub const BURST_MS: u32 = 300;
const BURST_EVERY: Duration = Duration::from_millis(1500);
/// An onset further than this from the last burst belongs to none.
const MATCH_WITHIN_MS: u64 = 1000;

/// Plays a 1 kHz burst every [`BURST_EVERY`] until stopped; returns when each began.
pub struct ToneBursts {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<u64>>,
}

impl ToneBursts {
    pub fn start(pulse: &PulseServer) -> Result<Self> {
        let wav = pulse.dir().join("burst.wav");
        write_tone_wav(&wav, 1000.0, BURST_MS, 0.5)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("tone-bursts".into()).spawn({
            let (stop, client) = (stop.clone(), pulse.client());
            move || play_bursts(&client, &wav, &stop)
        })?;
        Ok(ToneBursts { stop, thread })
    }

    pub fn stop(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn play_bursts(client: &PulseClient, wav: &Path, stop: &AtomicBool) -> Vec<u64> {
    let mut started = Vec::new();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        // Paced to the wall clock: the pauses between bursts are the point.
        std::thread::sleep(next.saturating_duration_since(Instant::now()).min(BURST_EVERY));
        if Instant::now() < next {
            continue;
        }
        next += BURST_EVERY;
        let at = unix_ms();
        match client.play(wav) {
            Ok(()) => started.push(at),
            Err(err) => eprintln!("tether-bench: burst not played: {err:#}"),
        }
    }
    started
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Delays (ms) from each burst to the onset that followed it.
pub fn onset_delays(bursts: &[u64], onsets: &[AudioOnset]) -> Vec<f64> {
    onsets
        .iter()
        .map(|o| o.unix_ms)
        .filter_map(|onset| {
            let burst = bursts.iter().rev().find(|&&b| b <= onset)?;
            (onset - burst <= MATCH_WITHIN_MS).then(|| (onset - burst) as f64)
        })
        .collect()
}

/// The median (upper of the middle two), if any.
pub fn median(values: &[f64]) -> Option<f64> {
    Percentiles::new(values).median()
}

/// `p50 / max (n)` of the delays.
pub fn describe_delays(delays: &[f64]) -> String {
    if delays.is_empty() {
        return "no burst arrived".to_owned();
    }
    let max = delays.iter().copied().fold(f64::MIN, f64::max);
    format!(
        "p50 {:.1} ms, max {max:.1} ms over {} bursts",
        median(delays).unwrap_or_default(),
        delays.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onsets_match_the_burst_before_them() {
        let bursts = [1000, 2500, 4000];
        let lines =
            ["audio: onset unix_ms=1050", "audio: onset unix_ms=2560", "audio: onset unix_ms=9000"];
        let onsets: Vec<AudioOnset> = lines.iter().map(|l| l.parse().unwrap()).collect();
        assert_eq!(onset_delays(&bursts, &onsets), vec![50.0, 60.0]);
        assert_eq!(median(&[3.0, 1.0, 4.0, 2.0]), Some(3.0), "the upper of the middle two");
        assert_eq!(median(&[]), None);
        assert_eq!(describe_delays(&[50.0, 60.0]), "p50 60.0 ms, max 60.0 ms over 2 bursts");
    }
}
