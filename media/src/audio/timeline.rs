//! RTP timing of the audio track, as plain values.
//!
//! Sending: [`AudioStamper`] gives each 20 ms frame the RTP timestamp of its first sample on
//! the capture's own sample clock (48 kHz, so one tick per sample), and numbers only the
//! packets actually sent. DTX frames are not sent; the jump in timestamps across them tells
//! the receiver how long the silence lasted, and the first packet after it carries the marker
//! bit (RFC 7587). Video timestamps come from the same capture instants (see
//! `agent/src/audio`), which is what RTCP sender reports need to line the two up.
//!
//! Receiving: [`ReceiveTimeline`] says where each packet goes: after how much silence (a DTX
//! gap), after how many concealed frames (lost packets), or nowhere (a duplicate or a packet
//! that came too late to be played in order).

use super::FRAME_SAMPLES;

const FRAME_TICKS: u32 = FRAME_SAMPLES as u32;
/// Losses longer than this (in packets) are treated as a restart of the stream.
const MAX_CONCEALED: u16 = 50;
/// Silences longer than this (in samples, 10 s) are cut to it: the dump and the speaker
/// need not replay a long pause in full, and a hostile timestamp cannot make us write gigabytes.
const MAX_SILENCE: u32 = 10 * 48_000;

/// The header fields of one audio packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StampedFrame {
    pub timestamp: u32,
    pub sequence_number: u16,
    /// First packet of a talkspurt (after the start or a DTX silence).
    pub marker: bool,
}

/// Numbers and timestamps the frames of one sending stream.
#[derive(Debug)]
pub struct AudioStamper {
    next_timestamp: u32,
    next_sequence: u16,
    in_silence: bool,
}

impl AudioStamper {
    /// Starts at random `timestamp` and `sequence` values, as RFC 3550 asks.
    pub fn new(timestamp: u32, sequence: u16) -> Self {
        AudioStamper { next_timestamp: timestamp, next_sequence: sequence, in_silence: true }
    }

    /// The next frame was encoded into `packet_len` bytes: its header if it is to be sent,
    /// `None` for a DTX frame (which still advances the clock).
    pub fn frame(&mut self, packet_len: usize) -> Option<StampedFrame> {
        let timestamp = self.next_timestamp;
        self.next_timestamp = timestamp.wrapping_add(FRAME_TICKS);
        if packet_len <= super::DTX_MAX_BYTES {
            self.in_silence = true;
            return None;
        }
        let sequence_number = self.next_sequence;
        self.next_sequence = sequence_number.wrapping_add(1);
        let marker = std::mem::replace(&mut self.in_silence, false);
        Some(StampedFrame { timestamp, sequence_number, marker })
    }
}

/// Where a received packet goes in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Decode and play it, after `concealed` frames of loss concealment for lost packets and
    /// then `silence` samples (per channel) of silence for a DTX pause.
    Play { concealed: u16, silence: u32 },
    /// Already played, or older than what was played: drop it.
    Late,
}

/// Tracks the received stream's sequence numbers and timestamps.
#[derive(Debug, Default)]
pub struct ReceiveTimeline {
    /// Sequence number and timestamp expected next, once a packet arrived.
    expected: Option<(u16, u32)>,
}

impl ReceiveTimeline {
    pub fn handle(&mut self, sequence_number: u16, timestamp: u32) -> Placement {
        let placement = match self.expected {
            None => Placement::Play { concealed: 0, silence: 0 },
            Some((seq, ts)) => {
                let ahead = sequence_number.wrapping_sub(seq);
                if ahead >= u16::MAX / 2 {
                    return Placement::Late;
                }
                if ahead > MAX_CONCEALED {
                    // A restart (or a hostile jump): play it from here.
                    Placement::Play { concealed: 0, silence: 0 }
                } else {
                    // `ahead` packets were lost; each covered one frame of the timestamp gap.
                    let gap = timestamp.wrapping_sub(ts);
                    let covered = u32::from(ahead) * FRAME_TICKS;
                    let silence = if gap >= u32::MAX / 2 {
                        0 // a timestamp going backwards: nothing to fill
                    } else {
                        gap.saturating_sub(covered).min(MAX_SILENCE)
                    };
                    Placement::Play { concealed: ahead, silence }
                }
            }
        };
        self.expected =
            Some((sequence_number.wrapping_add(1), timestamp.wrapping_add(FRAME_TICKS)));
        placement
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtx_frames_are_skipped_and_the_next_talkspurt_is_marked() {
        let mut s = AudioStamper::new(1000, 65_535);
        let first = s.frame(80).unwrap();
        assert_eq!(first, StampedFrame { timestamp: 1000, sequence_number: 65_535, marker: true });
        let second = s.frame(80).unwrap();
        assert_eq!((second.timestamp, second.sequence_number, second.marker), (1960, 0, false));
        assert_eq!(s.frame(1), None);
        assert_eq!(s.frame(2), None);
        let after = s.frame(60).unwrap();
        assert_eq!(
            (after.timestamp, after.sequence_number, after.marker),
            (1000 + 4 * 960, 1, true)
        );
    }

    #[test]
    fn gaps_become_silence_and_losses_concealment() {
        let mut t = ReceiveTimeline::default();
        let play = |concealed, silence| Placement::Play { concealed, silence };
        assert_eq!(t.handle(10, 5000), play(0, 0));
        assert_eq!(t.handle(11, 5960), play(0, 0));
        // DTX: the next packet is next in sequence but 10 frames later.
        assert_eq!(t.handle(12, 5960 + 11 * 960), play(0, 10 * 960));
        // Two packets lost in a row of continuous frames.
        assert_eq!(t.handle(15, 5960 + 14 * 960), play(2, 0));
        // A duplicate and a late packet.
        assert_eq!(t.handle(15, 5960 + 14 * 960), Placement::Late);
        assert_eq!(t.handle(13, 0), Placement::Late);
    }

    #[test]
    fn wraparound_and_hostile_jumps_stay_bounded() {
        let mut t = ReceiveTimeline::default();
        t.handle(65_535, u32::MAX - 100);
        assert_eq!(
            t.handle(0, (u32::MAX - 100).wrapping_add(960)),
            Placement::Play { concealed: 0, silence: 0 }
        );
        // A huge timestamp jump is cut to ten seconds of silence.
        assert_eq!(t.handle(1, 2_000_000_000), Placement::Play { concealed: 0, silence: 480_000 });
        // A huge sequence jump restarts the stream.
        assert_eq!(t.handle(20_000, 7), Placement::Play { concealed: 0, silence: 0 });
        assert_eq!(t.handle(20_001, 967), Placement::Play { concealed: 0, silence: 0 });
    }
}
