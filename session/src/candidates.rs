//! Remote ICE candidates that arrive before they can be used (before the peer connection or
//! its remote description exists), held in a queue bounded in items and in bytes: a real peer
//! sends a handful of lines of about a hundred bytes; a flood of large ones is dropped, not
//! kept.

use tether_proto::signal::IceCandidate;

/// Most candidates held.
pub const MAX_EARLY_CANDIDATES: usize = 64;
/// Most bytes held, over all candidates.
pub const MAX_EARLY_BYTES: usize = 16 * 1024;
/// Largest candidate taken at all: an RFC 8839 candidate line with every extension is well
/// under this.
pub const MAX_CANDIDATE_BYTES: usize = 1024;

/// The held candidates.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EarlyCandidates {
    held: Vec<IceCandidate>,
    bytes: usize,
    dropped: u64,
}

impl EarlyCandidates {
    /// Holds `candidate` if it is small enough and there is room; says whether it was kept.
    pub fn push(&mut self, candidate: IceCandidate) -> bool {
        let size = candidate_bytes(&candidate);
        let room = self.held.len() < MAX_EARLY_CANDIDATES && self.bytes + size <= MAX_EARLY_BYTES;
        if !acceptable(&candidate) || !room {
            self.dropped += 1;
            return false;
        }
        self.bytes += size;
        self.held.push(candidate);
        true
    }

    /// Everything held, in arrival order; the queue is empty afterwards.
    pub fn take(&mut self) -> Vec<IceCandidate> {
        self.bytes = 0;
        std::mem::take(&mut self.held)
    }

    /// How many were held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// How many were refused so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Whether a candidate is small enough to be a real one.
pub fn acceptable(candidate: &IceCandidate) -> bool {
    candidate_bytes(candidate) <= MAX_CANDIDATE_BYTES
}

/// The bytes a candidate holds: its line, mid and username fragment.
fn candidate_bytes(c: &IceCandidate) -> usize {
    let optional = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    c.candidate.len() + optional(&c.sdp_mid) + optional(&c.username_fragment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(line: String) -> IceCandidate {
        IceCandidate {
            candidate: line,
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: None,
        }
    }

    fn host(n: usize) -> IceCandidate {
        candidate(format!("candidate:{n} 1 udp 2130706431 192.0.2.{n} 5000 typ host"))
    }

    #[test]
    fn candidates_are_held_in_order_and_taken_once() {
        let mut q = EarlyCandidates::default();
        assert!(q.push(host(1)) && q.push(host(2)));
        assert_eq!(q.take(), vec![host(1), host(2)]);
        assert!(q.is_empty());
        assert!(q.take().is_empty());
    }

    #[test]
    fn a_flood_is_bounded_in_items() {
        let mut q = EarlyCandidates::default();
        let kept = (0..1000).filter(|n| q.push(host(n % 250))).count();
        assert_eq!(kept, MAX_EARLY_CANDIDATES);
        assert_eq!(q.dropped(), 1000 - MAX_EARLY_CANDIDATES as u64);
    }

    #[test]
    fn a_flood_of_large_candidates_is_bounded_in_bytes() {
        let mut q = EarlyCandidates::default();
        let big = candidate("x".repeat(MAX_CANDIDATE_BYTES - 1));
        let kept = (0..1000).filter(|_| q.push(big.clone())).count();
        assert!(kept * MAX_CANDIDATE_BYTES <= MAX_EARLY_BYTES, "{kept} kept");
        assert_eq!(kept, MAX_EARLY_BYTES / MAX_CANDIDATE_BYTES);
        // Emptied, it takes candidates again.
        q.take();
        assert!(q.push(host(1)));
    }

    #[test]
    fn an_oversized_candidate_is_never_taken() {
        let mut q = EarlyCandidates::default();
        let huge = candidate("x".repeat(60 * 1024));
        assert!(!acceptable(&huge));
        assert!(!q.push(huge));
        assert!(q.is_empty());
        assert!(acceptable(&host(1)));
    }
}
