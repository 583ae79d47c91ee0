//! The viewer's H.264 frame assembler (`tether_media::rtc::FrameAssembler`) fed RTP packets
//! built from the fuzz input: any sequence numbers (reordered, duplicated, wrapping, jumping),
//! markers, timestamps, payloads (H.264 NAL units, STAP-A, FU-A or garbage) and arrival times.
//!
//! Checks, after every packet: no panic or overflow; the packets held stay within the
//! assembler's cap (4,096); the counters only grow and `frames` counts what was released; the
//! first frame released after a keyframe was wanted is a keyframe; `reorder_wait` stays within
//! its bounds.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tether_media::rtc::{AssemblerStats, FrameAssembler, reorder_wait};

/// `MAX_PENDING` in media/src/rtc/assembler.rs.
const CAP: usize = 4096;
/// Packets per input: enough to pass the cap once, few enough to keep runs fast.
const MAX_PACKETS: usize = 6000;

#[derive(Arbitrary, Debug)]
struct Input {
    max_wait_ms: u16,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// The next packet relative to the last one (1 is in order).
    Next { seq_step: i16, ts_step: u32, marker: bool, payload: Vec<u8>, after_ms: u16 },
    /// A packet with any sequence number.
    At { seq: u16, ts: u32, marker: bool, payload: Vec<u8>, after_ms: u16 },
    /// Many packets in order with the same payload: a long frame, or a flood.
    Burst { count: u16, marker_last: bool, payload: Vec<u8>, after_ms: u8 },
    /// The viewer's RTT-driven wait.
    Rtt { rtt_us: u32, floor_ms: u16 },
}

fuzz_target!(|input: Input| {
    let mut now = Instant::now();
    let mut a = FrameAssembler::new(Duration::from_millis(u64::from(input.max_wait_ms)));
    let mut seq: u16 = 0;
    let mut ts: u32 = 0;
    let mut stats = a.stats();

    let mut push =
        |a: &mut FrameAssembler, now: Instant, seq: u16, ts: u32, marker: bool, payload: &[u8]| {
            let wanted = a.wants_keyframe();
            let frames = a.push(now, seq, ts, marker, Bytes::copy_from_slice(payload));
            assert!(a.buffered_packets() <= CAP, "{} packets held", a.buffered_packets());
            if let (true, Some(first)) = (wanted, frames.first()) {
                assert!(first.keyframe, "a delta frame released while a keyframe was wanted");
            }
            let now_stats = a.stats();
            check_counters(&stats, &now_stats, frames.len());
            stats = now_stats;
        };

    let mut budget = MAX_PACKETS;
    for op in input.ops.into_iter().take(2048) {
        if budget == 0 {
            break;
        }
        budget -= 1;
        match op {
            Op::Next { seq_step, ts_step, marker, payload, after_ms } => {
                now += Duration::from_millis(u64::from(after_ms));
                seq = seq.wrapping_add_signed(seq_step);
                ts = ts.wrapping_add(ts_step);
                push(&mut a, now, seq, ts, marker, &payload);
            }
            Op::At { seq: s, ts: t, marker, payload, after_ms } => {
                now += Duration::from_millis(u64::from(after_ms));
                (seq, ts) = (s, t);
                push(&mut a, now, seq, ts, marker, &payload);
            }
            Op::Burst { count, marker_last, payload, after_ms } => {
                let count = (usize::from(count) % (CAP + 300)).min(budget);
                budget -= count;
                for i in 0..count {
                    now += Duration::from_millis(u64::from(after_ms));
                    seq = seq.wrapping_add(1);
                    push(&mut a, now, seq, ts, marker_last && i + 1 == count, &payload);
                }
                ts = ts.wrapping_add(3000);
            }
            Op::Rtt { rtt_us, floor_ms } => {
                let floor = Duration::from_millis(u64::from(floor_ms));
                let wait = reorder_wait(Duration::from_micros(u64::from(rtt_us)), floor);
                assert!(wait >= floor && wait <= Duration::from_secs(1).max(floor), "{wait:?}");
                a.set_max_wait(wait);
            }
        }
    }
});

fn check_counters(before: &AssemblerStats, after: &AssemblerStats, released: usize) {
    assert_eq!(after.frames, before.frames + released as u64);
    assert!(after.frames_lost >= before.frames_lost);
    assert!(after.frames_discarded >= before.frames_discarded);
    assert!(after.bad_packets >= before.bad_packets);
}
