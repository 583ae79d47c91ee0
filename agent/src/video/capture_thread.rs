//! The capture thread: paces itself to the (rate-controlled) frame rate, skips still screens, converts the
//! changed parts of frames to I420 and hands the newest picture to the encoder.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tether_media::codec::I420Frame;

use super::stats::Counter;
use super::{RawFrame, Shared, SourceFactory, lock};
use crate::capture::{CaptureError, ChangeDetector, copy_picture, update_picture};

pub(super) fn run(open_source: SourceFactory, shared: &Shared) -> Result<(), CaptureError> {
    let mut source = open_source()?;
    let mut detector = ChangeDetector::default();
    // The screen as I420, kept between frames: only what changed is converted into it.
    let mut picture = I420Frame::default();
    let mut work = I420Frame::new(2, 2);
    let mut next_tick = Instant::now();
    while !shared.stopping() {
        let now = Instant::now();
        if next_tick > now {
            std::thread::sleep(next_tick - now);
        }
        wait_for_encoder(shared);
        // The rate controller lowers the frame rate on a slow link.
        let interval = Duration::from_secs_f32(1.0 / shared.target_fps().max(1.0));
        next_tick = (next_tick + interval).max(Instant::now());
        shared.stats.add(Counter::Polled, 1);
        // DAMAGE says whether anything was drawn: a still screen costs no copy and no compare.
        if !source.may_have_changed()? {
            continue;
        }
        let started = Instant::now();
        let frame = source.capture()?;
        shared.stats.add(Counter::Captured, 1);
        shared.stats.add_time(Counter::CaptureUs, started);
        let Some(changes) = detector.changes(&frame) else { continue };
        let started = Instant::now();
        update_picture(&frame, changes, &mut picture)
            .map_err(|e| CaptureError::Other(format!("colour conversion failed: {e}")))?;
        copy_picture(&picture, &mut work);
        shared.stats.add_time(Counter::ConvertUs, started);
        let captured_at = frame.captured_at;
        work = hand_over(shared, RawFrame { i420: work, captured_at });
    }
    Ok(())
}

/// Waits while the encoder is busy: a picture captured now would only wait for it, growing
/// stale. The spin is coarse (0.5 ms), far below a frame interval.
fn wait_for_encoder(shared: &Shared) {
    while shared.encoding.load(Ordering::Acquire) && !shared.stopping() {
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Puts `frame` in the slot (replacing a picture the encoder has not taken: raw pictures have
/// no reference chain, so the newest simply wins) and returns a buffer for the next one.
fn hand_over(shared: &Shared, frame: RawFrame) -> I420Frame {
    let mut slot = lock(&shared.raw);
    let replaced = slot.frame.replace(frame);
    shared.raw_ready.notify_one();
    match replaced {
        Some(old) => old.i420,
        None => slot.spare.take().unwrap_or_default(),
    }
}
