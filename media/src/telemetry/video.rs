//! The agent's `video:` line: one session's video totals.

use std::fmt;
use std::str::FromStr;

use super::ParseError;
use super::fields::Fields;

/// `video: captured=600 encoded=590 sent=588 bytes=1234567 capture_ms=0.40 convert_ms=0.31
/// encode_ms=6.10 keyframes=2`: frames and bytes over the session, the mean time per frame of
/// each stage (capture and conversion per captured frame, encoding per encoded frame), and how
/// many encoded pictures were keyframes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VideoSendStats {
    pub captured: u64,
    pub encoded: u64,
    pub sent: u64,
    pub bytes: u64,
    pub capture_ms: f64,
    pub convert_ms: f64,
    pub encode_ms: f64,
    pub keyframes: u64,
}

impl VideoSendStats {
    /// Mean milliseconds per frame from a total in microseconds (no frames: the total itself).
    pub fn per_frame_ms(total_us: u64, frames: u64) -> f64 {
        total_us as f64 / 1000.0 / frames.max(1) as f64
    }
}

impl fmt::Display for VideoSendStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "video: captured={} encoded={} sent={} bytes={} capture_ms={:.2} convert_ms={:.2} \
             encode_ms={:.2} keyframes={}",
            self.captured,
            self.encoded,
            self.sent,
            self.bytes,
            self.capture_ms,
            self.convert_ms,
            self.encode_ms,
            self.keyframes
        )
    }
}

impl FromStr for VideoSendStats {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "video:")?;
        Ok(VideoSendStats {
            captured: f.get("captured")?,
            encoded: f.get("encoded")?,
            sent: f.get("sent")?,
            bytes: f.get("bytes")?,
            capture_ms: f.float("capture_ms", "")?,
            convert_ms: f.float("convert_ms", "")?,
            encode_ms: f.float("encode_ms", "")?,
            keyframes: f.get("keyframes")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VideoSendStats {
        VideoSendStats {
            captured: 600,
            encoded: 590,
            sent: 588,
            bytes: 1_234_567,
            capture_ms: 0.4,
            convert_ms: 0.31,
            encode_ms: 6.1,
            keyframes: 2,
        }
    }

    #[test]
    fn the_line_is_todays() {
        assert_eq!(
            sample().to_string(),
            "video: captured=600 encoded=590 sent=588 bytes=1234567 capture_ms=0.40 \
             convert_ms=0.31 encode_ms=6.10 keyframes=2"
        );
        assert_eq!(
            VideoSendStats::default().to_string(),
            "video: captured=0 encoded=0 sent=0 bytes=0 capture_ms=0.00 convert_ms=0.00 \
             encode_ms=0.00 keyframes=0"
        );
        assert_eq!(VideoSendStats::per_frame_ms(2000, 4), 0.5);
        assert_eq!(VideoSendStats::per_frame_ms(2000, 0), 2.0);
    }

    #[test]
    fn round_trip() {
        for stats in [sample(), VideoSendStats::default()] {
            assert_eq!(stats.to_string().parse::<VideoSendStats>(), Ok(stats));
        }
        let rest = sample().to_string().strip_prefix("video: ").unwrap().to_owned();
        assert_eq!(rest.parse::<VideoSendStats>(), Ok(sample()), "without the prefix");
        assert_eq!(
            "video: captured=1".parse::<VideoSendStats>(),
            Err(ParseError::Missing { kind: "video:", key: "encoded" })
        );
    }
}
