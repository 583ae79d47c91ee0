//! The connection states the session rules act on.

/// The states of a peer connection that the session rules act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// ICE and DTLS are being set up.
    Connecting,
    /// Media can flow.
    Connected,
    /// Connectivity was lost (consent checks failing); ICE may still recover, and the
    /// offering side restarts it ([`crate::IceRestart`]).
    Disconnected,
    /// ICE or DTLS failed for good: the session ends.
    Failed,
    /// Closed locally.
    Closed,
}

impl LinkState {
    /// The name the viewer's `stats:` line shows as `ice=`.
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Disconnected => "disconnected",
            LinkState::Failed => "failed",
            LinkState::Closed => "closed",
        }
    }

    /// Whether the connection is over for good.
    pub fn is_terminal(self) -> bool {
        matches!(self, LinkState::Failed | LinkState::Closed)
    }
}
