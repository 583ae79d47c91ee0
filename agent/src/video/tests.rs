//! The capture and encode threads with a synthetic source: still screens cost no encoding,
//! keyframe requests are answered, the hand-offs never queue.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::stats::Counter;
use super::{OutFrame, Shared, SourceFactory, VideoSettings, lock, spawn_threads};
use crate::capture::{DisplaySpec, Motion, open};

fn synthetic(motion: Motion) -> SourceFactory {
    Box::new(move || open(DisplaySpec::Synthetic { width: 320, height: 240, motion }))
}

fn start(motion: Motion) -> (Arc<Shared>, impl FnOnce()) {
    let shared = Shared::new();
    let settings = VideoSettings { max_fps: 100.0, bitrate_bps: 1_000_000 };
    let (capture, encode) = spawn_threads(&shared, synthetic(motion), settings).unwrap();
    let stopper = shared.clone();
    (shared, move || {
        stopper.request_stop();
        capture.join().unwrap().unwrap();
        encode.join().unwrap().unwrap();
    })
}

/// Takes the next frame from the gate, waiting up to 5 s.
fn next_frame(shared: &Shared) -> Option<(OutFrame, bool)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(frame) = lock(&shared.gate).take() {
            return Some(frame);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_still_screen_costs_no_encoding_until_a_keyframe_is_requested() {
    let (shared, stop) = start(Motion::Static);
    let (first, keyframe) = next_frame(&shared).expect("a first frame");
    assert!(keyframe, "a session starts with a keyframe");
    assert!(first.frame.data.len() > 100);
    // The screen does not change: many ticks, no copy after the first, no more encodes.
    let polled = shared.stats.total(Counter::Polled);
    wait_until("ten more ticks", || shared.stats.total(Counter::Polled) >= polled + 10);
    assert_eq!(shared.stats.total(Counter::Captured), 1);
    assert_eq!(shared.stats.total(Counter::Encoded), 1);
    assert!(lock(&shared.gate).take().is_none());
    // A PLI from the viewer, past the gate's keyframe spacing: the unchanged screen is encoded
    // again, as an IDR.
    std::thread::sleep(tether_session::KEYFRAME_RETRY);
    lock(&shared.gate).request_keyframe(Instant::now());
    let (_, keyframe) = next_frame(&shared).expect("a frame after the request");
    assert!(keyframe, "the requested frame is a keyframe");
    stop();
}

#[test]
fn motion_is_encoded_and_the_gate_never_queues() {
    let (shared, stop) = start(Motion::MovingBox);
    let (_, keyframe) = next_frame(&shared).expect("a first frame");
    assert!(keyframe);
    // Nobody takes frames for a while: at most one waits in the gate, never a queue.
    wait_until("ten encodes", || shared.stats.total(Counter::Encoded) >= 10);
    let mut gate = lock(&shared.gate);
    let _ = gate.take();
    assert!(gate.take().is_none(), "at most one frame waits");
    drop(gate);
    assert!(shared.stop.load(Ordering::Relaxed) || shared.stats.total(Counter::Captured) >= 10);
    stop();
}
