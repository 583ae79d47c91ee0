use super::*;

const LIMITS: QualityLimits = QualityLimits {
    max_bitrate_bps: 8_000_000,
    min_bitrate_bps: 300_000,
    max_fps: 60.0,
    min_fps: 10.0,
};
const MOVING: f32 = 60.0;

fn feedback(estimate: u32) -> Feedback {
    Feedback { estimate_bps: Some(estimate), encoded_fps: MOVING, ..Feedback::default() }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_falling_estimate_lowers_the_target_at_once_and_the_frame_rate_with_it() {
    let t0 = Instant::now();
    let mut q = QualityController::new(LIMITS, 8_000_000);
    assert_eq!(q.current(), Quality { bitrate_bps: 8_000_000, fps: 60.0 });
    let change = q.update(t0, feedback(1_000_000)).expect("a change");
    assert_eq!(change.reason, Reason::Estimate);
    assert_eq!(change.from.bitrate_bps, 8_000_000);
    assert_eq!(change.to, Quality { bitrate_bps: 1_000_000, fps: 30.0 });
    assert_eq!(q.update(t0 + ms(500), feedback(1_000_000)), None, "steady");
}

#[test]
fn heavy_loss_and_a_full_queue_lower_it_even_when_the_estimate_does_not() {
    let t0 = Instant::now();
    let mut q = QualityController::new(LIMITS, 4_000_000);
    let lossy = Feedback { loss: 0.3, ..feedback(4_000_000) };
    let change = q.update(t0, lossy).unwrap();
    assert_eq!((change.reason, change.to.bitrate_bps), (Reason::Loss, 3_400_000));
    assert_eq!(q.update(t0 + ms(300), Feedback { loss: 0.05, ..feedback(4_000_000) }), None);
    let queued = Feedback { queue_delay: ms(300), ..feedback(4_000_000) };
    assert_eq!(q.update(t0 + ms(600), queued), None, "the same second's feedback again");
    let change = q.update(t0 + REACT_EVERY, queued).unwrap();
    assert_eq!((change.reason, change.to.bitrate_bps), (Reason::Queue, 2_380_000));
    let short_queue = Feedback { queue_delay: QUEUE_LIMIT, ..feedback(2_380_000) };
    assert_eq!(q.update(t0 + ms(1900), short_queue), None);
}

#[test]
fn decreases_are_spaced_so_one_burst_of_feedback_is_one_step() {
    let t0 = Instant::now();
    let mut q = QualityController::new(LIMITS, 8_000_000);
    assert!(q.update(t0, feedback(4_000_000)).is_some());
    assert_eq!(q.update(t0 + ms(100), feedback(2_000_000)), None, "too soon");
    let change = q.update(t0 + DECREASE_EVERY, feedback(2_000_000)).unwrap();
    assert_eq!(change.to.bitrate_bps, 2_000_000);
}

#[test]
fn a_still_screen_holds_the_target_and_a_moving_one_ramps_back_in_steps() {
    let t0 = Instant::now();
    let mut q = QualityController::new(LIMITS, 8_000_000);
    q.update(t0, feedback(1_000_000)).unwrap();
    let still = Feedback { encoded_fps: 0.0, ..feedback(8_000_000) };
    for s in 1..10 {
        assert_eq!(q.update(t0 + Duration::from_secs(s), still), None, "held at {s} s");
    }
    assert_eq!(q.current().bitrate_bps, 1_000_000);
    let mut at = t0 + Duration::from_secs(10);
    let mut steps = Vec::new();
    while let Some(change) = q.update(at, feedback(8_000_000)) {
        assert_eq!(change.reason, Reason::Recovering);
        assert!(
            f64::from(change.to.bitrate_bps) <= f64::from(change.from.bitrate_bps) * MAX_STEP_UP
        );
        assert_eq!(q.update(at + ms(400), feedback(8_000_000)), None, "one step at a time");
        steps.push(change.to.bitrate_bps);
        at += INCREASE_EVERY;
    }
    assert_eq!(steps.last(), Some(&8_000_000), "back to full quality: {steps:?}");
    assert_eq!(steps.len(), 8, "1 -> 8 Mbit/s in 30 % steps: {steps:?}");
    assert_eq!(q.current().fps, 60.0);
}

#[test]
fn small_moves_are_ignored() {
    let t0 = Instant::now();
    let mut q = QualityController::new(LIMITS, 4_000_000);
    assert_eq!(q.update(t0, feedback(4_300_000)), None);
    assert_eq!(q.update(t0 + Duration::from_secs(2), feedback(3_700_000)), None);
    assert_eq!(q.update(t0 + Duration::from_secs(3), Feedback::default()), None, "no estimate yet");
}

#[test]
fn the_limits_hold() {
    let t0 = Instant::now();
    let mut q = QualityController::new(LIMITS, 50_000_000);
    assert_eq!(q.current().bitrate_bps, 8_000_000, "started within the limits");
    assert_eq!(q.update(t0, feedback(20_000_000)), None, "never above --bitrate");
    let change = q.update(t0 + ms(300), feedback(10_000)).unwrap();
    assert_eq!(change.to, Quality { bitrate_bps: 300_000, fps: 10.0 });
    assert_eq!(q.update(t0 + ms(600), feedback(10_000)), None);
}
