//! [`ShownMonitor`]: which monitor a session shows, shared by the capture thread, the input
//! injector and the `display` channel. The channel sets it; capture and input read it before
//! each frame and each pointer event, and follow a change there.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use tether_session::monitors::Shown;

/// `usize::MAX` stands for [`Shown::All`].
const ALL: usize = usize::MAX;

/// The shared choice.
#[derive(Debug)]
pub struct ShownMonitor(AtomicUsize);

impl ShownMonitor {
    /// Shows `shown` until [`set`](Self::set) says otherwise.
    pub fn new(shown: Shown) -> Arc<Self> {
        Arc::new(ShownMonitor(AtomicUsize::new(encode(shown))))
    }

    /// Always monitor `n` (nothing calls `set`).
    #[cfg(test)]
    pub fn fixed(n: usize) -> Arc<Self> {
        Self::new(Shown::Monitor(n))
    }

    pub fn get(&self) -> Shown {
        match self.0.load(Ordering::Acquire) {
            ALL => Shown::All,
            n => Shown::Monitor(n),
        }
    }

    pub fn set(&self, shown: Shown) {
        self.0.store(encode(shown), Ordering::Release);
    }
}

fn encode(shown: Shown) -> usize {
    match shown {
        // No X server has usize::MAX monitors: the sentinel cannot collide.
        Shown::Monitor(n) => n.min(ALL - 1),
        Shown::All => ALL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_round_trips() {
        let shown = ShownMonitor::fixed(2);
        assert_eq!(shown.get(), Shown::Monitor(2));
        shown.set(Shown::All);
        assert_eq!(shown.get(), Shown::All);
        shown.set(Shown::Monitor(0));
        assert_eq!(shown.get(), Shown::Monitor(0));
    }
}
