//! The viewer's `stats:` line, once a second.

use std::fmt;
use std::str::FromStr;

use super::fields::Fields;
use super::{NetworkStats, ParseError};

/// What `network` prints when webrtc-rs's statistics did not come in time.
const TIMED_OUT: &str = "packets=? (stats timed out)";

/// `stats: fps=59.8 kbps=4000 decode_ms=2.10 frames=600 lost=0 discarded=0 dropped=0 errors=0
/// size=1920x1080 packets=.. packets_lost=.. nacks=.. plis=.. rtt_ms=.. ice=connected
/// pair=host->host`: the last second's rates, the session's decode counters, the network's,
/// the connection state and the selected pair's candidate types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewerStats {
    /// Frames decoded per second over the last second.
    pub fps: f64,
    pub kbps: f64,
    /// Mean decode time of the last second's frames.
    pub decode_ms: f64,
    /// Frames decoded in the session.
    pub frames: u64,
    /// Frames lost to gaps in the RTP sequence.
    pub lost: u64,
    /// Delta frames discarded after a loss, until the next keyframe.
    pub discarded: u64,
    /// Packets dropped in front of the decode thread.
    pub dropped: u64,
    pub errors: u64,
    /// The picture's size in pixels, `0x0` before the first one.
    pub width: u64,
    pub height: u64,
    /// `None`: the statistics query timed out (`packets=? (stats timed out)`).
    pub network: Option<NetworkStats>,
    /// The connection state's name (`connected`, `disconnected`, ...).
    pub ice: String,
    /// The selected pair's candidate types (`host->srflx`), `none` if there is none yet,
    /// `?` if asking timed out.
    pub pair: String,
}

impl fmt::Display for ViewerStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stats: fps={:.1} kbps={:.0} decode_ms={:.2} frames={} lost={} discarded={} \
             dropped={} errors={} size={}x{} ",
            self.fps,
            self.kbps,
            self.decode_ms,
            self.frames,
            self.lost,
            self.discarded,
            self.dropped,
            self.errors,
            self.width,
            self.height,
        )?;
        match &self.network {
            Some(network) => write!(f, "{network}")?,
            None => f.write_str(TIMED_OUT)?,
        }
        write!(f, " ice={} pair={}", self.ice, self.pair)
    }
}

impl FromStr for ViewerStats {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "stats:")?;
        let size = f.raw("size")?;
        let (width, height) = size
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
            .ok_or_else(|| f.invalid("size", size))?;
        let network = match f.raw("packets")? {
            "?" => None,
            _ => Some(NetworkStats {
                packets: f.get("packets")?,
                packets_lost: f.get("packets_lost")?,
                nacks: f.get("nacks")?,
                plis: f.get("plis")?,
                rtt_ms: f.float("rtt_ms", "")?,
            }),
        };
        Ok(ViewerStats {
            fps: f.float("fps", "")?,
            kbps: f.float("kbps", "")?,
            decode_ms: f.float("decode_ms", "")?,
            frames: f.get("frames")?,
            lost: f.get("lost")?,
            discarded: f.get("discarded")?,
            dropped: f.get("dropped")?,
            errors: f.get("errors")?,
            width,
            height,
            network,
            ice: f.get("ice")?,
            pair: f.get("pair")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ViewerStats {
        ViewerStats {
            fps: 59.76,
            kbps: 4000.0,
            decode_ms: 2.124,
            frames: 600,
            lost: 1,
            discarded: 2,
            dropped: 3,
            errors: 4,
            width: 1920,
            height: 1080,
            network: Some(NetworkStats {
                packets: 9000,
                packets_lost: -1,
                nacks: 5,
                plis: 6,
                rtt_ms: 0.24,
            }),
            ice: "connected".into(),
            pair: "host->host".into(),
        }
    }

    #[test]
    fn the_line_is_todays() {
        assert_eq!(
            sample().to_string(),
            "stats: fps=59.8 kbps=4000 decode_ms=2.12 frames=600 lost=1 discarded=2 dropped=3 \
             errors=4 size=1920x1080 packets=9000 packets_lost=-1 nacks=5 plis=6 rtt_ms=0.2 \
             ice=connected pair=host->host"
        );
        let timed_out = ViewerStats {
            network: None,
            ice: "new".into(),
            pair: "?".into(),
            ..ViewerStats::default()
        };
        assert_eq!(
            timed_out.to_string(),
            "stats: fps=0.0 kbps=0 decode_ms=0.00 frames=0 lost=0 discarded=0 dropped=0 errors=0 \
             size=0x0 packets=? (stats timed out) ice=new pair=?"
        );
    }

    #[test]
    fn round_trip() {
        // Figures the line's precision holds.
        let exact = ViewerStats { fps: 59.5, decode_ms: 2.25, ..sample() };
        let exact = ViewerStats {
            network: exact.network.map(|n| NetworkStats { rtt_ms: 0.5, ..n }),
            ..exact
        };
        let timed_out = ViewerStats { network: None, pair: "none".into(), ..exact.clone() };
        for stats in [exact, timed_out, ViewerStats::default()] {
            let line = stats.to_string();
            assert_eq!(line.parse::<ViewerStats>().as_ref(), Ok(&stats), "{line}");
            let rest = line.strip_prefix("stats: ").unwrap();
            assert_eq!(rest.parse::<ViewerStats>(), Ok(stats), "without the prefix");
        }
        // Rounded figures come back as printed.
        let parsed: ViewerStats = sample().to_string().parse().unwrap();
        assert_eq!((parsed.fps, parsed.decode_ms), (59.8, 2.12));
        assert_eq!(parsed.to_string(), sample().to_string());
    }

    #[test]
    fn odd_lines_are_refused() {
        let line = sample().to_string();
        let bad = line.replace("size=1920x1080", "size=1920");
        assert_eq!(
            bad.parse::<ViewerStats>(),
            Err(ParseError::Invalid { kind: "stats:", key: "size", value: "1920".into() })
        );
        let short = line.replace(" nacks=5", "");
        assert_eq!(
            short.parse::<ViewerStats>(),
            Err(ParseError::Missing { kind: "stats:", key: "nacks" })
        );
        let more = format!("{line} future=1");
        assert_eq!(more.parse::<ViewerStats>().map(|s| s.frames), Ok(600), "unknown keys ignored");
    }
}
