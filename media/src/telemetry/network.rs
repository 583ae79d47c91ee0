//! The RTP-level part of the viewer's `stats:` line.

use std::fmt;

/// `packets=N packets_lost=N nacks=N plis=N rtt_ms=N.N`, as webrtc-rs counts them over the
/// inbound streams, and the selected pair's round-trip time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetworkStats {
    pub packets: u64,
    /// RTCP's cumulative loss, which duplicates can make negative.
    pub packets_lost: i64,
    pub nacks: u64,
    pub plis: u64,
    pub rtt_ms: f64,
}

impl fmt::Display for NetworkStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "packets={} packets_lost={} nacks={} plis={} rtt_ms={:.1}",
            self.packets, self.packets_lost, self.nacks, self.plis, self.rtt_ms
        )
    }
}
