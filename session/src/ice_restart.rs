//! When to restart ICE: the connection has been `Disconnected` (consent checks failing, e.g.
//! the network changed) for a few seconds. The offering side (the agent, ICE's controlling side) then re-offers
//! with fresh ICE credentials; it retries every interval until the connection comes back or
//! webrtc-rs declares it failed.

use std::time::{Duration, Instant};

use crate::LinkState;

/// How long a disconnection lasts before the agent restarts ICE.
pub const RESTART_AFTER: Duration = Duration::from_secs(3);

/// Tracks disconnections and says when to restart.
#[derive(Debug)]
pub struct IceRestart {
    after: Duration,
    due: Option<Instant>,
    /// Restarts asked for so far, for the log.
    pub count: u32,
}

impl IceRestart {
    /// Restarts after a disconnection lasting `after`, and every `after` while it lasts.
    pub fn new(after: Duration) -> Self {
        IceRestart { after, due: None, count: 0 }
    }

    /// Feeds a connection state change.
    pub fn handle_state(&mut self, now: Instant, state: LinkState) {
        match state {
            LinkState::Disconnected => {
                self.due.get_or_insert(now + self.after);
            }
            _ => self.due = None,
        }
    }

    /// When the next restart is due, while disconnected.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Whether to restart now; if so, the next restart is due one interval later.
    pub fn poll_restart(&mut self, now: Instant) -> bool {
        match self.due {
            Some(due) if now >= due => {
                self.due = Some(now + self.after);
                self.count += 1;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_after_a_lasting_disconnection_only() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut r = IceRestart::new(3 * s);
        r.handle_state(t0, LinkState::Connected);
        assert!(!r.poll_restart(t0 + 10 * s));
        r.handle_state(t0, LinkState::Disconnected);
        r.handle_state(t0 + s, LinkState::Disconnected); // repeated: keeps the first time
        assert_eq!(r.due(), Some(t0 + 3 * s));
        assert!(!r.poll_restart(t0 + 2 * s));
        assert!(r.poll_restart(t0 + 3 * s));
        assert!(!r.poll_restart(t0 + 4 * s));
        assert!(r.poll_restart(t0 + 6 * s));
        assert_eq!(r.count, 2);
        r.handle_state(t0 + 7 * s, LinkState::Connected);
        assert!(!r.poll_restart(t0 + 60 * s));
    }
}
