//! The `audio:` lines: the agent's session totals, the viewer's per-second counters and its
//! onsets.

use std::fmt;
use std::str::FromStr;

use super::ParseError;
use super::fields::Fields;

/// The agent's `audio: frames=.. sent=.. dtx=.. bytes=.. device_drops=.. queue_drops=..`: one
/// session's totals (frames encoded, of which sent and DTX; drops at the device and in front
/// of the sender).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioSendStats {
    pub frames: u64,
    pub sent: u64,
    pub dtx: u64,
    pub bytes: u64,
    pub device_drops: u64,
    pub queue_drops: u64,
}

impl fmt::Display for AudioSendStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "audio: frames={} sent={} dtx={} bytes={} device_drops={} queue_drops={}",
            self.frames, self.sent, self.dtx, self.bytes, self.device_drops, self.queue_drops
        )
    }
}

impl FromStr for AudioSendStats {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "audio:")?;
        Ok(AudioSendStats {
            frames: f.get("frames")?,
            sent: f.get("sent")?,
            dtx: f.get("dtx")?,
            bytes: f.get("bytes")?,
            device_drops: f.get("device_drops")?,
            queue_drops: f.get("queue_drops")?,
        })
    }
}

/// The viewer's `audio: kbps=.. packets=.. concealed=.. late=.. errors=.. dropped=..
/// peak=..`, once a second: the last second's bitrate and peak level, and the session's
/// counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AudioReceiveStats {
    pub kbps: f64,
    pub packets: u64,
    pub concealed: u64,
    pub late: u64,
    pub errors: u64,
    pub dropped: u64,
    /// The last second's peak in dBFS (`peak=-12.3dBFS`); `None` if nothing was heard
    /// (`peak=silent`).
    pub peak_dbfs: Option<f64>,
}

impl AudioReceiveStats {
    /// The peak from hundredths of a dB below full scale, `u64::MAX` meaning silence (as the
    /// decode thread keeps it).
    pub fn peak_from_centibels(centibels: u64) -> Option<f64> {
        (centibels != u64::MAX).then(|| -(centibels as f64) / 100.0)
    }
}

impl fmt::Display for AudioReceiveStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "audio: kbps={:.1} packets={} concealed={} late={} errors={} dropped={} peak=",
            self.kbps, self.packets, self.concealed, self.late, self.errors, self.dropped
        )?;
        match self.peak_dbfs {
            None => f.write_str("silent"),
            Some(db) => write!(f, "{db:.1}dBFS"),
        }
    }
}

impl FromStr for AudioReceiveStats {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "audio:")?;
        let peak_dbfs = match f.raw("peak")? {
            "silent" => None,
            _ => Some(f.float("peak", "dBFS")?),
        };
        Ok(AudioReceiveStats {
            kbps: f.float("kbps", "")?,
            packets: f.get("packets")?,
            concealed: f.get("concealed")?,
            late: f.get("late")?,
            errors: f.get("errors")?,
            dropped: f.get("dropped")?,
            peak_dbfs,
        })
    }
}

/// The viewer's `audio: onset unix_ms=T`: sound after quiet arrived at wall-clock time `T`
/// (the benchmark's audio delay probe).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioOnset {
    pub unix_ms: u64,
}

impl fmt::Display for AudioOnset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "audio: onset unix_ms={}", self.unix_ms)
    }
}

impl FromStr for AudioOnset {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "audio:")?;
        Ok(AudioOnset { unix_ms: f.get("unix_ms")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEND: AudioSendStats = AudioSendStats {
        frames: 250,
        sent: 40,
        dtx: 210,
        bytes: 6400,
        device_drops: 1,
        queue_drops: 2,
    };

    fn receive() -> AudioReceiveStats {
        AudioReceiveStats {
            kbps: 64.5,
            packets: 500,
            concealed: 3,
            late: 1,
            errors: 0,
            dropped: 2,
            peak_dbfs: Some(-12.5),
        }
    }

    #[test]
    fn the_lines_are_todays() {
        assert_eq!(
            SEND.to_string(),
            "audio: frames=250 sent=40 dtx=210 bytes=6400 device_drops=1 queue_drops=2"
        );
        assert_eq!(
            receive().to_string(),
            "audio: kbps=64.5 packets=500 concealed=3 late=1 errors=0 dropped=2 peak=-12.5dBFS"
        );
        let silent = AudioReceiveStats { peak_dbfs: None, ..AudioReceiveStats::default() };
        assert_eq!(
            silent.to_string(),
            "audio: kbps=0.0 packets=0 concealed=0 late=0 errors=0 dropped=0 peak=silent"
        );
        let full_scale = AudioReceiveStats::peak_from_centibels(0);
        assert!(format!("{:?}", full_scale).contains("-0.0"), "as today: -0 is printed -0.0");
        let loud = AudioReceiveStats { peak_dbfs: full_scale, ..silent };
        assert!(loud.to_string().ends_with(" peak=-0.0dBFS"), "{loud}");
        assert_eq!(AudioReceiveStats::peak_from_centibels(1234), Some(-12.34));
        assert_eq!(AudioReceiveStats::peak_from_centibels(u64::MAX), None);
        assert_eq!(
            AudioOnset { unix_ms: 1_700_000_000_123 }.to_string(),
            "audio: onset unix_ms=1700000000123"
        );
    }

    #[test]
    fn round_trip() {
        assert_eq!(SEND.to_string().parse(), Ok(SEND));
        let silent = AudioReceiveStats { peak_dbfs: None, ..receive() };
        for stats in [receive(), silent] {
            assert_eq!(stats.to_string().parse::<AudioReceiveStats>(), Ok(stats));
        }
        let onset = AudioOnset { unix_ms: 42 };
        assert_eq!(onset.to_string().parse(), Ok(onset));
        assert_eq!(" unix_ms=42".parse(), Ok(onset), "after `audio: onset` was waited for");
    }

    #[test]
    fn the_two_audio_lines_are_told_apart() {
        assert!(receive().to_string().parse::<AudioSendStats>().is_err());
        assert!(SEND.to_string().parse::<AudioReceiveStats>().is_err());
        assert!(SEND.to_string().parse::<AudioOnset>().is_err());
        assert_eq!(
            "audio: kbps=1 packets=1 concealed=0 late=0 errors=0 dropped=0 peak=loud"
                .parse::<AudioReceiveStats>(),
            Err(ParseError::Invalid { kind: "audio:", key: "peak", value: "loud".into() })
        );
    }
}
