//! The viewer's printed counters: the `stats:` line a second and the closing `latency:` line,
//! as `tether_media::telemetry` values.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tether_media::telemetry::{LatencySummary, NetworkStats, ViewerStats};
use webrtc::peer_connection::{PeerConnection, RTCStatsReportEntry, StatsSelector};

use crate::video::Shared;

/// RTP-level loss as webrtc-rs counts it, and the selected pair's round-trip time.
pub async fn network_stats(pc: &dyn PeerConnection) -> NetworkStats {
    let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
    let mut network = NetworkStats::default();
    for inbound in report.inbound_rtp_streams() {
        network.packets += inbound.received_rtp_stream_stats.packets_received;
        network.packets_lost += inbound.received_rtp_stream_stats.packets_lost;
        network.nacks += u64::from(inbound.nack_count);
        network.plis += u64::from(inbound.pli_count);
    }
    network.rtt_ms = report
        .transport()
        .and_then(|t| match report.get(&t.selected_candidate_pair_id) {
            Some(RTCStatsReportEntry::IceCandidatePair(pair)) => Some(pair.current_round_trip_time),
            _ => None,
        })
        .unwrap_or(0.0)
        * 1000.0;
    network
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

    /// The `stats:` line: the decode counters since the last call, with the network's
    /// (`None`: they timed out), the connection state and the selected pair's types.
    pub fn line(
        &mut self,
        shared: &Shared,
        network: Option<NetworkStats>,
        ice: &str,
        pair: String,
    ) -> ViewerStats {
        let s = &shared.stats;
        let (frames, bytes, decode_us) = (
            s.frames.load(Ordering::Relaxed),
            s.bytes.load(Ordering::Relaxed),
            s.decode_us.load(Ordering::Relaxed),
        );
        let secs = self.last.elapsed().as_secs_f64().max(0.001);
        let new_frames = frames - self.frames;
        let line = ViewerStats {
            fps: new_frames as f64 / secs,
            kbps: (bytes - self.bytes) as f64 * 8.0 / 1000.0 / secs,
            decode_ms: (decode_us - self.decode_us) as f64 / 1000.0 / new_frames.max(1) as f64,
            frames,
            lost: s.lost.load(Ordering::Relaxed),
            discarded: s.discarded.load(Ordering::Relaxed),
            dropped: s.queue_drops.load(Ordering::Relaxed),
            errors: s.decode_errors.load(Ordering::Relaxed),
            width: s.width.load(Ordering::Relaxed),
            height: s.height.load(Ordering::Relaxed),
            network,
            ice: ice.to_owned(),
            pair,
        };
        *self = StatsPrinter { last: Instant::now(), frames, bytes, decode_us };
        line
    }
}

/// The `latency:` line from the probe readings (milliseconds).
pub fn latency_line(latencies: &[f64]) -> LatencySummary {
    LatencySummary::from_samples(latencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let line = latency_line(&samples).to_string();
        assert_eq!(line, "latency: frames=100 p50=51.0ms p95=95.0ms p99=99.0ms max=100.0ms");
        assert_eq!(latency_line(&[]).to_string(), "latency: frames=0 (no probe pattern read)");
    }
}
