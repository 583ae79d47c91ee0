//! Reassembles H.264 access units from RTP packets, waiting briefly for retransmissions.
//!
//! webrtc-rs's `SampleBuilder` only releases a frame when a packet of the next one arrives,
//! which adds a frame of latency and freezes a static screen on its last frame. This assembler
//! releases a frame as soon as every packet up to its marker bit is in. A gap that NACK does not
//! fill within `max_wait` loses the frames it touches; from then on delta frames are discarded
//! until a keyframe arrives (a decoder fed a broken reference chain shows garbage), and
//! [`FrameAssembler::wants_keyframe`] tells the caller to send a PLI.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;

/// One access unit in Annex-B form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledFrame {
    /// NAL units with 4-byte start codes.
    pub data: Vec<u8>,
    /// Holds an IDR slice (or SPS): decodable on its own.
    pub keyframe: bool,
    /// RTP timestamp (90 kHz).
    pub rtp_timestamp: u32,
}

/// Counters for the viewer's stats line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Frames released.
    pub frames: u64,
    /// Frames lost to gaps.
    pub frames_lost: u64,
    /// Complete frames discarded while waiting for a keyframe.
    pub frames_discarded: u64,
    /// Packets that could not be depacketized.
    pub bad_packets: u64,
}

struct Pending {
    timestamp: u32,
    marker: bool,
    payload: Bytes,
    /// When it came: the first packet after a hole dates the hole.
    arrived: Instant,
}

/// Most packets held while waiting for a gap to fill: a 1080p keyframe is a few hundred.
const MAX_PENDING: usize = 4096;

/// Turns RTP packets into access units.
pub struct FrameAssembler {
    max_wait: Duration,
    pending: BTreeMap<u64, Pending>,
    /// Extended sequence number of the next frame's first packet.
    next_seq: Option<u64>,
    /// Packets from `next_seq` up to this one are in and end no frame: where the search for the
    /// next marker resumes, so a long frame costs one look per packet, not one per packet held.
    scanned: u64,
    highest: Option<u64>,
    awaiting_keyframe: bool,
    stats: AssemblerStats,
}

/// How long to wait for a missing packet on a path with round-trip time `rtt`: long enough for
/// a NACK (sent within the NACK interval, 20 ms) and its retransmission, and for the second
/// NACK's if the first retransmission is lost too (two round trips), with room for the
/// retransmission to queue behind the frame being sent; at least `floor`, at most a second.
/// Giving up sooner than a retransmission can come only turns a repairable loss into a lost
/// frame and a keyframe request, which on a slow or lossy link feeds on itself.
pub fn reorder_wait(rtt: Duration, floor: Duration) -> Duration {
    (rtt * 2 + Duration::from_millis(60)).clamp(floor, Duration::from_secs(1).max(floor))
}

impl FrameAssembler {
    /// Changes how long a missing packet is waited for.
    pub fn set_max_wait(&mut self, max_wait: Duration) {
        self.max_wait = max_wait;
    }

    /// An assembler that gives up on a missing packet after `max_wait`.
    pub fn new(max_wait: Duration) -> Self {
        FrameAssembler {
            max_wait,
            pending: BTreeMap::new(),
            next_seq: None,
            scanned: 0,
            highest: None,
            awaiting_keyframe: true,
            stats: AssemblerStats::default(),
        }
    }

    /// Adds one packet; returns the frames it completed, oldest first.
    pub fn push(
        &mut self,
        now: Instant,
        sequence_number: u16,
        timestamp: u32,
        marker: bool,
        payload: Bytes,
    ) -> Vec<AssembledFrame> {
        let seq = self.extend(sequence_number);
        let next = *self.next_seq.get_or_insert(seq);
        if seq < next || self.pending.contains_key(&seq) {
            return Vec::new(); // late duplicate or retransmission of something already released
        }
        self.pending.insert(seq, Pending { timestamp, marker, payload, arrived: now });
        let mut out = Vec::new();
        self.release(&mut out);
        // Every overdue hole goes at once: after a stall the frames behind one hole have holes
        // of their own, as old, and waiting out each in turn would put the picture seconds
        // behind. Over the cap even without a hole: a frame that never ends (no marker) is
        // given up too.
        while self.pending.len() > MAX_PENDING || self.hole_overdue(now) {
            if !self.skip_gap() {
                break;
            }
            self.release(&mut out);
        }
        out
    }

    /// Whether the first missing packet has been missing for `max_wait`: counted from the
    /// arrival of the first packet after it, when the hole became visible (and NACKed).
    fn hole_overdue(&self, now: Instant) -> bool {
        if !self.has_gap() {
            return false;
        }
        let Some(next) = self.next_seq else { return false };
        let mut missing = next.max(self.scanned);
        while self.pending.contains_key(&missing) {
            missing += 1;
        }
        self.pending
            .range(missing..)
            .next()
            .is_some_and(|(_, p)| now.saturating_duration_since(p.arrived) >= self.max_wait)
    }

    /// True while the decoder needs a keyframe: at the start and after a loss.
    pub fn wants_keyframe(&self) -> bool {
        self.awaiting_keyframe
    }

    /// Counters so far.
    pub fn stats(&self) -> AssemblerStats {
        self.stats
    }

    /// Packets held now, waiting for their frame to complete (for the fuzz target's bound).
    #[doc(hidden)]
    pub fn buffered_packets(&self) -> usize {
        self.pending.len()
    }

    /// Unwraps the 16-bit sequence number relative to the highest seen.
    fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.highest {
            None => u64::from(seq) + (1 << 16), // start one cycle in so early packets can go back
            Some(high) => {
                let cycle = high & !0xffff;
                let candidates = [cycle.wrapping_sub(1 << 16), cycle, cycle + (1 << 16)];
                candidates
                    .into_iter()
                    .map(|c| c | u64::from(seq))
                    .min_by_key(|c| c.abs_diff(high))
                    .unwrap_or(cycle | u64::from(seq))
            }
        };
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        ext
    }

    /// Releases every frame whose packets are all in, starting at `next_seq`.
    fn release(&mut self, out: &mut Vec<AssembledFrame>) {
        while let Some(next) = self.next_seq {
            let mut end = next.max(self.scanned);
            let mut complete = false;
            while let Some(p) = self.pending.get(&end) {
                if p.marker {
                    complete = true;
                    break;
                }
                end += 1;
            }
            if !complete {
                self.scanned = end;
                return;
            }
            let packets: Vec<Pending> =
                (next..=end).filter_map(|s| self.pending.remove(&s)).collect();
            self.next_seq = Some(end + 1);
            if let Some(frame) = self.depacketize(&packets) {
                if frame.keyframe {
                    self.awaiting_keyframe = false;
                }
                if self.awaiting_keyframe {
                    self.stats.frames_discarded += 1;
                } else {
                    self.stats.frames += 1;
                    out.push(frame);
                }
            }
        }
    }

    /// Whether a packet is missing between the next frame's start and the newest packet (a
    /// frame still arriving in order is not a gap).
    fn has_gap(&self) -> bool {
        match (self.next_seq, self.pending.keys().next_back()) {
            (Some(next), Some(&last)) => last + 1 - next > self.pending.len() as u64,
            _ => false,
        }
    }

    /// Gives up on the missing packets: drops everything up to the first frame boundary after
    /// the gap and asks for a keyframe. False if there was nothing to drop.
    fn skip_gap(&mut self) -> bool {
        let Some(next) = self.next_seq else { return false };
        if self.pending.is_empty() {
            return false;
        }
        // The first marker at or after the gap ends the broken frame; the frame after it starts
        // clean (it may still be a delta frame, which waits for the keyframe).
        let boundary = self.pending.iter().find(|(_, p)| p.marker).map(|(&s, _)| s);
        let resume = match boundary {
            Some(marker_seq) => marker_seq + 1,
            None => self.pending.keys().next_back().map_or(next, |&last| last + 1),
        };
        let lost_timestamps: std::collections::BTreeSet<u32> =
            self.pending.range(..resume).map(|(_, p)| p.timestamp).collect();
        self.stats.frames_lost += lost_timestamps.len().max(1) as u64;
        self.pending = self.pending.split_off(&resume);
        self.next_seq = Some(resume);
        self.awaiting_keyframe = true;
        true
    }

    fn depacketize(&mut self, packets: &[Pending]) -> Option<AssembledFrame> {
        let timestamp = packets.first()?.timestamp;
        // A fresh depacketizer per frame: a broken FU-A from a lost frame must not leak in.
        let mut depacketizer = H264Packet::default();
        let mut data = Vec::new();
        for packet in packets {
            match depacketizer.depacketize(&packet.payload) {
                Ok(nals) => data.extend_from_slice(&nals),
                Err(_) => {
                    self.stats.bad_packets += 1;
                    self.stats.frames_lost += 1;
                    self.awaiting_keyframe = true;
                    return None;
                }
            }
        }
        let keyframe = contains_idr(&data);
        Some(AssembledFrame { data, keyframe, rtp_timestamp: timestamp })
    }
}

/// Whether an Annex-B access unit holds an IDR slice (NAL type 5).
pub(crate) fn contains_idr(annex_b: &[u8]) -> bool {
    let mut i = 0;
    while i + 3 < annex_b.len() {
        if annex_b[i] == 0 && annex_b[i + 1] == 0 && annex_b[i + 2] == 1 {
            if annex_b[i + 3] & 0x1f == 5 {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_covers_a_retransmission() {
        let floor = Duration::from_millis(120);
        assert_eq!(reorder_wait(Duration::ZERO, floor), floor);
        assert_eq!(reorder_wait(Duration::from_millis(60), floor), Duration::from_millis(180));
        assert_eq!(reorder_wait(Duration::from_millis(200), floor), Duration::from_millis(460));
        assert_eq!(reorder_wait(Duration::from_secs(5), floor), Duration::from_secs(1));
    }

    const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00];
    const DELTA: &[u8] = &[0x41, 0x9a, 0x02, 0x00];

    /// Single-NAL packets: one frame per packet, marker set.
    fn push(
        a: &mut FrameAssembler,
        now: Instant,
        seq: u16,
        ts: u32,
        nal: &[u8],
    ) -> Vec<AssembledFrame> {
        a.push(now, seq, ts, true, Bytes::copy_from_slice(nal))
    }

    /// FU-A fragments of one NAL over three packets.
    fn fua(nal: &[u8]) -> [Bytes; 3] {
        let header = nal[0];
        let indicator = (header & 0xe0) | 28;
        let kind = header & 0x1f;
        let body = &nal[1..];
        let third = body.len() / 3;
        let part = |start: bool, end: bool, bytes: &[u8]| {
            let mut v =
                vec![indicator, kind | if start { 0x80 } else { 0 } | if end { 0x40 } else { 0 }];
            v.extend_from_slice(bytes);
            Bytes::from(v)
        };
        [
            part(true, false, &body[..third]),
            part(false, false, &body[third..2 * third]),
            part(false, true, &body[2 * third..]),
        ]
    }

    #[test]
    fn after_a_stall_every_overdue_hole_goes_at_once() {
        let t = Instant::now();
        let wait = Duration::from_millis(100);
        let mut a = FrameAssembler::new(wait);
        assert_eq!(push(&mut a, t, 10, 0, IDR).len(), 1);
        // Four frames, each with a hole before it (11, 13, 15, 17 never come), then a keyframe:
        // all in within a few milliseconds, as after a stall on the way.
        for (i, seq) in [12u16, 14, 16, 18].into_iter().enumerate() {
            let at = t + Duration::from_millis(i as u64);
            assert!(push(&mut a, at, seq, 3000 * u32::from(seq), DELTA).is_empty());
        }
        assert!(push(&mut a, t + Duration::from_millis(5), 19, 60_000, IDR).is_empty());
        // One wait later every hole is as old as the wait: the keyframe and the frame after
        // it come out now, not one wait per hole later.
        let frames = push(&mut a, t + wait + Duration::from_millis(6), 20, 63_000, DELTA);
        let keyframes = frames.iter().filter(|f| f.keyframe).count();
        assert_eq!((frames.len(), keyframes), (2, 1), "{frames:?}");
        assert!(!a.wants_keyframe());
    }

    #[test]
    fn a_hole_waits_from_when_it_became_visible() {
        let t = Instant::now();
        let wait = Duration::from_millis(100);
        let mut a = FrameAssembler::new(wait);
        assert_eq!(push(&mut a, t, 10, 0, IDR).len(), 1);
        // 11 is missing; 12 shows the hole at t + 50 ms.
        let seen = t + Duration::from_millis(50);
        assert!(push(&mut a, seen, 12, 6000, DELTA).is_empty());
        assert!(push(&mut a, seen + wait - Duration::from_millis(1), 13, 9000, DELTA).is_empty());
        // Its retransmission, late but inside the wait counted from 12's arrival.
        let frames = push(&mut a, seen + wait - Duration::from_millis(1), 11, 3000, DELTA);
        assert_eq!(frames.len(), 3);
        assert_eq!(a.stats().frames_lost, 0);
    }

    #[test]
    fn waits_for_a_keyframe_then_releases_each_frame_at_its_marker() {
        let t = Instant::now();
        let mut a = FrameAssembler::new(Duration::from_millis(100));
        assert!(push(&mut a, t, 10, 0, DELTA).is_empty());
        assert!(a.wants_keyframe());
        let frames = push(&mut a, t, 11, 3000, IDR);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].keyframe);
        assert_eq!(frames[0].data, [&[0, 0, 0, 1][..], IDR].concat());
        assert!(!a.wants_keyframe());
        let frames = push(&mut a, t, 12, 6000, DELTA);
        assert_eq!(frames.len(), 1);
        assert!(!frames[0].keyframe);
        assert_eq!(a.stats().frames_discarded, 1);
    }

    #[test]
    fn fragments_are_joined_and_reordering_is_tolerated() {
        let t = Instant::now();
        let mut a = FrameAssembler::new(Duration::from_millis(100));
        let big_idr: Vec<u8> = [&[0x65u8][..], &[7u8; 30]].concat();
        let [p0, p1, p2] = fua(&big_idr);
        assert!(a.push(t, 100, 0, false, p0).is_empty());
        assert!(a.push(t, 102, 0, true, p2).is_empty());
        let frames = a.push(t, 101, 0, false, p1);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data, [&[0, 0, 0, 1][..], &big_idr].concat());
    }

    #[test]
    fn a_retransmission_within_the_wait_loses_nothing() {
        let t = Instant::now();
        let mut a = FrameAssembler::new(Duration::from_millis(100));
        push(&mut a, t, 1, 0, IDR);
        // Packet 2 is lost; 3 arrives; the NACKed 2 comes back 20 ms later.
        assert!(push(&mut a, t, 3, 6000, DELTA).is_empty());
        let frames = push(&mut a, t + Duration::from_millis(20), 2, 3000, DELTA);
        assert_eq!(frames.iter().map(|f| f.rtp_timestamp).collect::<Vec<_>>(), [3000, 6000]);
        assert_eq!(a.stats().frames_lost, 0);
    }

    #[test]
    fn an_unfilled_gap_loses_frames_until_the_next_keyframe() {
        let t = Instant::now();
        let mut a = FrameAssembler::new(Duration::from_millis(100));
        push(&mut a, t, 1, 0, IDR);
        assert!(push(&mut a, t, 3, 6000, DELTA).is_empty()); // 2 lost for good
        // Past the wait: the gap is skipped, and the delta frames after it are not shown.
        assert!(push(&mut a, t + Duration::from_millis(150), 4, 9000, DELTA).is_empty());
        assert!(a.wants_keyframe());
        assert!(push(&mut a, t + Duration::from_millis(160), 5, 12000, DELTA).is_empty());
        let frames = push(&mut a, t + Duration::from_millis(170), 6, 15000, IDR);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].keyframe);
        assert!(a.stats().frames_lost >= 1);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let t = Instant::now();
        let mut a = FrameAssembler::new(Duration::from_millis(100));
        push(&mut a, t, 65534, 0, IDR);
        push(&mut a, t, 65535, 3000, DELTA);
        let frames = push(&mut a, t, 0, 6000, DELTA);
        assert_eq!(frames.len(), 1);
        assert_eq!(push(&mut a, t, 1, 9000, DELTA).len(), 1);
        assert_eq!(a.stats().frames, 4);
    }

    #[test]
    fn garbage_payloads_are_counted_not_panicked_on() {
        let t = Instant::now();
        let mut a = FrameAssembler::new(Duration::from_millis(100));
        push(&mut a, t, 1, 0, IDR);
        for (i, junk) in
            [&[][..], &[0x1c][..], &[0x1c, 0x00][..], &[0x18, 0xff, 0xff][..], &[0xff; 3][..]]
                .iter()
                .enumerate()
        {
            let _ =
                a.push(t, 2 + i as u16, 3000 * (i as u32 + 1), true, Bytes::copy_from_slice(junk));
        }
        assert!(a.stats().bad_packets >= 1);
    }

    #[test]
    fn a_frame_that_never_ends_is_not_held_forever() {
        // Found by the rtp_assembler fuzz target: packets in order with no marker bit were all
        // held (no gap, so the cap was never checked), without bound.
        let t = Instant::now();
        let mut a = FrameAssembler::new(Duration::from_millis(100));
        push(&mut a, t, 1, 0, IDR);
        for seq in 2..2 + 3 * MAX_PENDING as u16 {
            let _ = a.push(t, seq, 3000, false, Bytes::copy_from_slice(DELTA));
            assert!(a.buffered_packets() <= MAX_PENDING, "{} held", a.buffered_packets());
        }
        assert!(a.wants_keyframe());
        assert!(a.stats().frames_lost >= 1);
        // The stream recovers at the next keyframe.
        let seq = 2 + 3 * MAX_PENDING as u16;
        assert_eq!(push(&mut a, t, seq, 9000, IDR).len(), 1);
    }

    #[test]
    fn idr_detection() {
        assert!(contains_idr(&[0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x65, 9]));
        assert!(!contains_idr(&[0, 0, 0, 1, 0x41, 9]));
        assert!(!contains_idr(&[]));
    }
}
