//! [`FrameGate`]: the one-frame slot between the encoder thread and the network sender.
//!
//! Encoded video is a chain: every delta frame references the frame before it, so losing any
//! frame makes every later delta undecodable until the next keyframe. The gate therefore never
//! lets through a delta whose predecessor it dropped, and asks the encoder for a keyframe
//! instead. Pure: time comes in as an [`Instant`] from the caller.

use std::time::{Duration, Instant};

/// How often [`FrameGate::keyframe_wanted`] repeats a keyframe request that has not been
/// answered yet (the encoder may have missed it, or its keyframe may have been replaced).
/// It is also the shortest gap between a pushed keyframe and the next request, as in
/// libwebrtc's minimum keyframe send interval: without it a sender that is slower than the
/// frame rate gets nothing but keyframes, each one making the congestion worse.
pub const KEYFRAME_RETRY: Duration = Duration::from_millis(250);

/// What [`FrameGate::push`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The slot was empty; the frame waits there for [`FrameGate::take`].
    Queued,
    /// A keyframe took the place of the frame that was waiting, which is counted as dropped.
    ReplacedPending,
    /// The frame was thrown away (counted as discarded): it was a delta frame and either the
    /// chain was already broken or another frame was still waiting.
    Discarded,
}

/// Latest-frame-wins slot that keeps the H.264 reference chain decodable.
///
/// Rules:
/// - A keyframe always enters the slot, replacing whatever waits there, and mends the chain.
/// - A delta frame enters only an empty slot of an unbroken chain. If a frame is already
///   waiting, the new delta is discarded rather than the waiting one: the new delta references
///   the waiting frame, so dropping the older one would send a frame nobody can decode. A
///   waiting keyframe in particular is never evicted by a delta (selkies issue #329).
/// - Every discard breaks the chain: deltas are discarded until the next keyframe, and
///   [`keyframe_wanted`](Self::keyframe_wanted) asks for one.
#[derive(Debug)]
pub struct FrameGate<T> {
    pending: Option<(T, bool)>,
    chain_broken: bool,
    /// When `keyframe_wanted` should next return true; `None` while no keyframe is wanted.
    keyframe_due: Option<Instant>,
    last_keyframe: Option<Instant>,
    /// [`KEYFRAME_RETRY`], or longer on a slow link (see [`FrameGate::set_keyframe_spacing`]).
    spacing: Duration,
    dropped: u64,
    discarded: u64,
}

impl<T> Default for FrameGate<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> FrameGate<T> {
    /// An empty gate with an intact chain and no keyframe request.
    pub fn new() -> Self {
        Self {
            pending: None,
            chain_broken: false,
            keyframe_due: None,
            last_keyframe: None,
            spacing: KEYFRAME_RETRY,
            dropped: 0,
            discarded: 0,
        }
    }

    /// Spaces keyframes (and repeated requests) at least `spacing` apart, never less than
    /// [`KEYFRAME_RETRY`]. On a slow link a keyframe takes long to send; asking for the next
    /// before the link has carried this one twice over is how a lossy link drowns in them.
    pub fn set_keyframe_spacing(&mut self, spacing: Duration) {
        self.spacing = spacing.max(KEYFRAME_RETRY);
    }

    /// Offers an encoded frame to the sender.
    pub fn push(&mut self, now: Instant, frame: T, keyframe: bool) -> Pushed {
        if keyframe {
            self.chain_broken = false;
            self.keyframe_due = None;
            self.last_keyframe = Some(now);
            return match self.pending.replace((frame, true)) {
                Some(_) => {
                    // The keyframe stands alone, so losing the older frame breaks nothing.
                    self.dropped += 1;
                    Pushed::ReplacedPending
                }
                None => Pushed::Queued,
            };
        }
        if self.chain_broken || self.pending.is_some() {
            self.discarded += 1;
            self.break_chain(now);
            return Pushed::Discarded;
        }
        self.pending = Some((frame, false));
        Pushed::Queued
    }

    /// Takes the waiting frame and whether it is a keyframe, leaving the slot empty.
    pub fn take(&mut self) -> Option<(T, bool)> {
        self.pending.take()
    }

    /// Whether a frame is waiting in the slot.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Asks for a keyframe without discarding anything, e.g. for a PLI from the viewer.
    ///
    /// A request while another is outstanding keeps the outstanding one's timing, so a burst of
    /// PLIs costs one keyframe.
    pub fn request_keyframe(&mut self, now: Instant) {
        self.want_keyframe(now);
    }

    /// Whether the encoder should make the next frame a keyframe.
    ///
    /// True once when a keyframe becomes wanted (not sooner than [`KEYFRAME_RETRY`] after the
    /// last pushed keyframe), then again every [`KEYFRAME_RETRY`] until a keyframe is pushed.
    /// Call it before encoding each frame.
    pub fn keyframe_wanted(&mut self, now: Instant) -> bool {
        match self.keyframe_due {
            Some(due) if now >= due => {
                self.keyframe_due = Some(later(now, self.spacing));
                true
            }
            _ => false,
        }
    }

    /// When [`keyframe_wanted`](Self::keyframe_wanted) will next return true, if a keyframe is
    /// wanted; lets an idle encoder loop wake up in time.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.keyframe_due
    }

    /// Whether delta frames are being discarded until the next keyframe.
    pub fn chain_broken(&self) -> bool {
        self.chain_broken
    }

    /// Frames that had entered the slot and were then replaced by a keyframe before the sender
    /// took them.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Delta frames refused by [`push`](Self::push).
    pub fn discarded(&self) -> u64 {
        self.discarded
    }

    fn break_chain(&mut self, now: Instant) {
        self.chain_broken = true;
        self.want_keyframe(now);
    }

    fn want_keyframe(&mut self, now: Instant) {
        if self.keyframe_due.is_some() {
            return;
        }
        let spacing = self.spacing;
        let earliest = self.last_keyframe.map(|at| later(at, spacing));
        self.keyframe_due = Some(match earliest {
            Some(earliest) if earliest > now => earliest,
            _ => now,
        });
    }
}

/// `at` plus `spacing`, saturating instead of panicking at the far end of time.
fn later(at: Instant, spacing: Duration) -> Instant {
    at.checked_add(spacing).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(16);

    fn gate() -> (FrameGate<u32>, Instant) {
        (FrameGate::new(), Instant::now())
    }

    #[test]
    fn empty_gate_queues_and_hands_out_one_frame() {
        let (mut g, t) = gate();
        assert_eq!(g.take(), None);
        assert_eq!(g.push(t, 1, true), Pushed::Queued);
        assert!(g.has_pending());
        assert_eq!(g.take(), Some((1, true)));
        assert_eq!(g.take(), None);
        assert_eq!(g.push(t + FRAME, 2, false), Pushed::Queued);
        assert_eq!(g.take(), Some((2, false)));
        assert!(!g.keyframe_wanted(t + FRAME));
        assert_eq!((g.dropped(), g.discarded()), (0, 0));
    }

    #[test]
    fn keyframe_replaces_pending_delta_without_breaking_the_chain() {
        let (mut g, t) = gate();
        g.push(t, 1, false);
        assert_eq!(g.push(t + FRAME, 2, true), Pushed::ReplacedPending);
        assert_eq!(g.dropped(), 1);
        assert!(!g.chain_broken());
        assert!(!g.keyframe_wanted(t + FRAME));
        assert_eq!(g.take(), Some((2, true)));
        assert_eq!(g.push(t + FRAME * 2, 3, false), Pushed::Queued);
    }

    #[test]
    fn newer_keyframe_replaces_pending_keyframe() {
        let (mut g, t) = gate();
        g.push(t, 1, true);
        assert_eq!(g.push(t + FRAME, 2, true), Pushed::ReplacedPending);
        assert_eq!(g.take(), Some((2, true)));
        assert!(!g.chain_broken());
    }

    #[test]
    fn delta_on_pending_delta_is_discarded_and_breaks_the_chain() {
        let (mut g, t) = gate();
        g.push(t, 1, true);
        g.take();
        g.push(t + FRAME, 2, false);
        assert_eq!(g.push(t + FRAME * 2, 3, false), Pushed::Discarded);
        assert_eq!((g.dropped(), g.discarded()), (0, 1));
        assert!(g.chain_broken());
        // The waiting delta still decodes (its predecessor went out), so it is kept.
        assert_eq!(g.take(), Some((2, false)));
        assert_eq!(g.push(t + FRAME * 3, 4, false), Pushed::Discarded);
        assert_eq!(g.take(), None);
        assert_eq!(g.discarded(), 2);
    }

    #[test]
    fn pending_keyframe_survives_the_next_delta_selkies_329() {
        // A recovery keyframe sits in the slot; the encoder's next delta must not evict it.
        let (mut g, t) = gate();
        g.push(t, 1, false);
        g.take();
        g.push(t + FRAME, 2, false);
        g.push(t + FRAME * 2, 3, false); // discarded: chain broken
        assert!(g.keyframe_wanted(t + FRAME * 2));
        g.take();
        assert_eq!(g.push(t + FRAME * 3, 10, true), Pushed::Queued);
        assert_eq!(g.push(t + FRAME * 4, 11, false), Pushed::Discarded);
        assert_eq!(g.push(t + FRAME * 5, 12, false), Pushed::Discarded);
        assert_eq!(g.take(), Some((10, true)));
        // The discarded delta broke the chain again, so its successors wait for a keyframe.
        assert!(g.chain_broken());
        assert_eq!(g.push(t + FRAME * 6, 13, false), Pushed::Discarded);
        assert_eq!(g.take(), None);
    }

    #[test]
    fn keyframe_mends_a_broken_chain() {
        let (mut g, t) = gate();
        g.push(t, 1, false);
        g.push(t, 2, false);
        assert!(g.chain_broken());
        g.take();
        assert_eq!(g.push(t + FRAME, 3, true), Pushed::Queued);
        assert!(!g.chain_broken());
        g.take();
        assert_eq!(g.push(t + FRAME * 2, 4, false), Pushed::Queued);
        assert_eq!(g.take(), Some((4, false)));
        assert_eq!(g.next_deadline(), None);
    }

    #[test]
    fn break_asks_at_once_then_every_retry_until_a_keyframe() {
        let (mut g, t) = gate();
        g.push(t, 1, false);
        g.push(t, 2, false);
        assert_eq!(g.next_deadline(), Some(t));
        assert!(g.keyframe_wanted(t));
        assert!(!g.keyframe_wanted(t));
        assert!(!g.keyframe_wanted(t + KEYFRAME_RETRY - Duration::from_millis(1)));
        assert!(g.keyframe_wanted(t + KEYFRAME_RETRY));
        assert_eq!(g.next_deadline(), Some(t + KEYFRAME_RETRY * 2));
        assert!(!g.keyframe_wanted(t + KEYFRAME_RETRY + FRAME));
        assert!(g.keyframe_wanted(t + KEYFRAME_RETRY * 2 + FRAME));
        g.push(t + KEYFRAME_RETRY * 3, 3, true);
        assert!(!g.keyframe_wanted(t + KEYFRAME_RETRY * 10));
    }

    #[test]
    fn further_breaks_do_not_restart_the_retry_timer() {
        let (mut g, t) = gate();
        g.push(t, 1, false);
        g.push(t, 2, false);
        assert!(g.keyframe_wanted(t));
        g.push(t + FRAME, 3, false);
        assert!(!g.keyframe_wanted(t + FRAME));
        assert!(g.keyframe_wanted(t + KEYFRAME_RETRY));
    }

    #[test]
    fn requests_soon_after_a_keyframe_wait_for_the_retry_interval() {
        let (mut g, t) = gate();
        g.push(t, 1, true);
        g.push(t + FRAME, 2, false); // discarded behind the keyframe
        assert!(!g.keyframe_wanted(t + FRAME));
        assert_eq!(g.next_deadline(), Some(t + KEYFRAME_RETRY));
        assert!(g.keyframe_wanted(t + KEYFRAME_RETRY));
    }

    #[test]
    fn external_request_fires_without_discarding_deltas() {
        let (mut g, t) = gate();
        g.request_keyframe(t);
        assert!(!g.chain_broken());
        assert_eq!(g.push(t, 1, false), Pushed::Queued);
        assert!(g.keyframe_wanted(t));
        assert!(!g.keyframe_wanted(t + FRAME));
        g.take();
        assert_eq!(g.push(t + FRAME, 2, false), Pushed::Queued);
        assert!(g.keyframe_wanted(t + KEYFRAME_RETRY));
        g.take();
        g.push(t + KEYFRAME_RETRY + FRAME, 3, true);
        assert!(!g.keyframe_wanted(t + KEYFRAME_RETRY * 3));
        assert_eq!((g.dropped(), g.discarded()), (0, 0));
    }

    #[test]
    fn burst_of_requests_costs_one_keyframe() {
        let (mut g, t) = gate();
        g.request_keyframe(t);
        assert!(g.keyframe_wanted(t));
        for i in 1..10 {
            g.request_keyframe(t + FRAME * i);
            assert!(!g.keyframe_wanted(t + FRAME * i));
        }
    }

    #[test]
    fn a_clock_that_goes_backwards_does_not_panic() {
        let t = Instant::now() + Duration::from_secs(10);
        let mut g = FrameGate::new();
        g.push(t, 1u8, true);
        g.push(t, 2, false);
        g.request_keyframe(t - Duration::from_secs(5));
        assert!(!g.keyframe_wanted(t - Duration::from_secs(5)));
        assert!(g.keyframe_wanted(t + KEYFRAME_RETRY));
    }

    #[test]
    fn a_slow_link_spaces_keyframes_further_apart() {
        let (mut g, t) = gate();
        g.set_keyframe_spacing(Duration::from_secs(2));
        g.push(t, 1, true);
        g.take();
        g.request_keyframe(t + FRAME);
        assert!(!g.keyframe_wanted(t + KEYFRAME_RETRY), "the short spacing no longer applies");
        assert!(g.keyframe_wanted(t + Duration::from_secs(2)));
        assert!(!g.keyframe_wanted(t + Duration::from_secs(3)), "repeats are spaced too");
        assert!(g.keyframe_wanted(t + Duration::from_secs(4)));
        g.set_keyframe_spacing(Duration::ZERO);
        g.push(t + Duration::from_secs(5), 2, true);
        g.request_keyframe(t + Duration::from_secs(5));
        assert!(
            g.keyframe_wanted(t + Duration::from_secs(5) + KEYFRAME_RETRY),
            "never below the floor"
        );
    }
}
