//! The viewer's printed counters: the `stats:` line a second and the closing `latency:` line.

use std::sync::atomic::Ordering;
use std::time::Instant;

use webrtc::peer_connection::{PeerConnection, RTCStatsReportEntry, StatsSelector};

use crate::video::Shared;

/// RTP-level loss as webrtc-rs counts it: `packets=N packets_lost=N nacks=N plis=N`.
pub async fn network_stats(pc: &dyn PeerConnection) -> String {
    let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
    let (mut packets, mut lost, mut nacks, mut plis) = (0u64, 0i64, 0u64, 0u64);
    for inbound in report.inbound_rtp_streams() {
        packets += inbound.received_rtp_stream_stats.packets_received;
        lost += inbound.received_rtp_stream_stats.packets_lost;
        nacks += u64::from(inbound.nack_count);
        plis += u64::from(inbound.pli_count);
    }
    let rtt_ms = report
        .transport()
        .and_then(|t| match report.get(&t.selected_candidate_pair_id) {
            Some(RTCStatsReportEntry::IceCandidatePair(pair)) => Some(pair.current_round_trip_time),
            _ => None,
        })
        .unwrap_or(0.0)
        * 1000.0;
    format!("packets={packets} packets_lost={lost} nacks={nacks} plis={plis} rtt_ms={rtt_ms:.1}")
}

/// Turns the decode counters into one `stats:` line a second.
pub struct StatsPrinter {
    last: Instant,
    frames: u64,
    bytes: u64,
    decode_us: u64,
}

impl StatsPrinter {
    pub fn new() -> Self {
        StatsPrinter { last: Instant::now(), frames: 0, bytes: 0, decode_us: 0 }
    }

    pub fn line(&mut self, shared: &Shared) -> String {
        let s = &shared.stats;
        let (frames, bytes, decode_us) = (
            s.frames.load(Ordering::Relaxed),
            s.bytes.load(Ordering::Relaxed),
            s.decode_us.load(Ordering::Relaxed),
        );
        let secs = self.last.elapsed().as_secs_f64().max(0.001);
        let new_frames = frames - self.frames;
        let line = format!(
            "stats: fps={:.1} kbps={:.0} decode_ms={:.2} frames={} lost={} discarded={} dropped={} errors={} size={}x{}",
            new_frames as f64 / secs,
            (bytes - self.bytes) as f64 * 8.0 / 1000.0 / secs,
            (decode_us - self.decode_us) as f64 / 1000.0 / new_frames.max(1) as f64,
            frames,
            s.lost.load(Ordering::Relaxed),
            s.discarded.load(Ordering::Relaxed),
            s.queue_drops.load(Ordering::Relaxed),
            s.decode_errors.load(Ordering::Relaxed),
            s.width.load(Ordering::Relaxed),
            s.height.load(Ordering::Relaxed),
        );
        *self = StatsPrinter { last: Instant::now(), frames, bytes, decode_us };
        line
    }
}

/// `latency: frames=N p50=.. p95=.. p99=.. ms`, from the probe readings.
pub fn latency_line(latencies: &[f64]) -> String {
    if latencies.is_empty() {
        return "latency: frames=0 (no probe pattern read)".to_owned();
    }
    let mut sorted = latencies.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    format!(
        "latency: frames={} p50={:.1}ms p95={:.1}ms p99={:.1}ms max={:.1}ms",
        sorted.len(),
        pct(0.50),
        pct(0.95),
        pct(0.99),
        pct(1.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let line = latency_line(&samples);
        assert!(line.contains("frames=100"), "{line}");
        assert!(line.contains("p50=51.0ms") || line.contains("p50=50.0ms"), "{line}");
        assert!(line.contains("p99=99.0ms"), "{line}");
        assert_eq!(latency_line(&[]), "latency: frames=0 (no probe pattern read)");
    }
}
