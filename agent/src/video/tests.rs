//! The capture and encode threads with a synthetic source: still screens cost no encoding,
//! keyframe requests are answered, the hand-offs never queue.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tether_media::rtc::LinkEstimate;
use tether_session::quality::MAX_STEP_UP;

use super::stats::Counter;
use super::{OutFrame, Shared, SourceFactory, VideoSettings, lock, spawn_threads};
use crate::capture::{DisplaySpec, Motion, open};

fn synthetic(motion: Motion) -> SourceFactory {
    Box::new(move || open(DisplaySpec::Synthetic { width: 320, height: 240, motion }))
}

fn start(motion: Motion) -> (Arc<Shared>, impl FnOnce()) {
    start_with(motion, None, 1_000_000)
}

fn start_with(
    motion: Motion,
    estimate: Option<Arc<LinkEstimate>>,
    bitrate_bps: u32,
) -> (Arc<Shared>, impl FnOnce()) {
    let settings = VideoSettings { max_fps: 100.0, bitrate_bps, adaptive: true };
    let shared = Shared::new(&settings);
    let (capture, encode) = spawn_threads(&shared, synthetic(motion), settings, estimate).unwrap();
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
fn the_encoder_waits_for_the_sender_so_nothing_queues_or_breaks_the_chain() {
    let (shared, stop) = start(Motion::MovingBox);
    let (_, keyframe) = next_frame(&shared).expect("a first frame");
    assert!(keyframe);
    // Nobody takes frames (a sender pacing a big one out): one waits in the gate, and the
    // encoder encodes nothing more meanwhile, while the capture goes on.
    wait_until("a frame waiting", || lock(&shared.gate).has_pending());
    let (encoded, captured) =
        (shared.stats.total(Counter::Encoded), shared.stats.total(Counter::Captured));
    wait_until("ten more captures", || shared.stats.total(Counter::Captured) >= captured + 10);
    assert_eq!(shared.stats.total(Counter::Encoded), encoded, "no encoding while one waits");
    // Taking it lets the newest picture through, as a delta: the chain never broke.
    let (_, keyframe) = next_frame(&shared).expect("the waiting frame");
    assert!(!keyframe);
    let (_, keyframe) = next_frame(&shared).expect("the next picture");
    assert!(!keyframe, "no keyframe asked for");
    let gate = lock(&shared.gate);
    assert_eq!((gate.discarded(), gate.dropped()), (0, 0), "nothing dropped at the gate");
    drop(gate);
    assert!(shared.stop.load(Ordering::Relaxed) || shared.stats.total(Counter::Captured) >= 10);
    stop();
}

#[test]
fn the_link_estimate_steers_bitrate_and_frame_rate_without_keyframes() {
    let estimate = Arc::new(LinkEstimate::default());
    let (shared, stop) = start_with(Motion::MovingBox, Some(estimate.clone()), 8_000_000);
    let (_, keyframe) = next_frame(&shared).expect("a first frame");
    assert!(keyframe);
    estimate.publish(500_000.0, 400_000, 0.0);
    wait_until("the lower target", || shared.target_bps.load(Ordering::Relaxed) == 500_000);
    assert_eq!(
        shared.target_fps(),
        25.0,
        "a quarter of the full-rate bitrate, a quarter of 100 fps"
    );
    // Frames after the change are P frames: the encoder changed its rate in place. (A frame
    // the gate had to drop while nobody took frames asks for a keyframe: that one is allowed.)
    let _ = lock(&shared.gate).take();
    let dropped = {
        let gate = lock(&shared.gate);
        gate.dropped() + gate.discarded()
    };
    for _ in 0..5 {
        let (_, keyframe) = next_frame(&shared).expect("frames go on");
        let gate = lock(&shared.gate);
        let chain_kept = gate.dropped() + gate.discarded() == dropped;
        assert!(!(keyframe && chain_kept), "a bitrate change costs no keyframe");
    }
    // The link has room again and the screen moves: the target climbs back, a step at a time.
    estimate.publish(8_000_000.0, 500_000, 0.0);
    wait_until("a step up", || shared.target_bps.load(Ordering::Relaxed) > 500_000);
    let stepped = shared.target_bps.load(Ordering::Relaxed);
    assert!(f64::from(stepped) <= 500_000.0 * MAX_STEP_UP, "one step at a time: {stepped}");
    stop();
}

#[test]
fn a_pipeline_dropped_without_stop_stops_capturing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let settings = VideoSettings { max_fps: 100.0, bitrate_bps: 1_000_000, adaptive: false };
    let rtp = tether_media::rtc::PacketizerStart {
        ssrc: 1,
        payload_type: 96,
        sequence: 0,
        timestamp_base: 0,
        epoch: Instant::now(),
        playout_delay_id: None,
    };
    let track = tether_media::rtc::video_track(1);
    let pipeline =
        super::VideoPipeline::start(synthetic(Motion::MovingBox), settings, track, rtp, None)
            .unwrap();
    let shared = pipeline.shared.clone();
    wait_until("capturing", || shared.stats.total(Counter::Captured) >= 3);
    // An error path drops the session: its threads and tasks must not go on capturing.
    drop(pipeline);
    wait_until("every thread and task let go", || Arc::strong_count(&shared) == 1);
    let captured = shared.stats.total(Counter::Captured);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(shared.stats.total(Counter::Captured), captured);
}
