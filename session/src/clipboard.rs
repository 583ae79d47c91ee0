//! Clipboard sharing as a plain value: what to send when this side's clipboard changes, what
//! to do with the peer's messages, and when to say no. Used by the agent and the native
//! viewer alike; the I/O (the X selection, the data channel) is theirs.
//!
//! The one subtle rule is the echo: text put on this clipboard for the peer comes back as a
//! local change, and must not be sent back (nor text the peer already has).

use tether_proto::clipboard::{ClipboardError, ClipboardMsg, ClipboardRefusal};

/// Whether this side shares its clipboard in this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipboardPolicy {
    /// Both ways.
    On,
    /// A view-only session: nothing either way.
    ViewOnly,
    /// The person turned it off.
    Off,
}

/// What to do with a change of this side's clipboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// Send this to the peer.
    Send(ClipboardMsg),
    /// Nothing to send: the peer has this text already (it came from there, or was sent).
    Echo,
    /// Not shared in this session.
    NotShared,
    /// Over the size limit or with control characters: not shared; the bytes are said.
    Unfit(usize),
}

/// What to do with a message from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// Put `text` on the clipboard, then answer with [`ClipboardSync::applied`].
    Apply {
        /// The message's `seq`, for the answer.
        seq: u64,
        /// The text.
        text: String,
    },
    /// Send this refusal back; nothing changes here.
    Refuse(ClipboardMsg),
    /// The peer answered one of ours.
    Answered {
        /// Which.
        seq: u64,
        /// `None`: applied; otherwise why not.
        refusal: Option<ClipboardRefusal>,
    },
    /// The peer shares no clipboard in this session.
    PeerOff(ClipboardRefusal),
    /// Malformed: count and drop, no answer.
    Malformed(ClipboardError),
}

/// One side's clipboard sharing in one session.
#[derive(Debug)]
pub struct ClipboardSync {
    policy: ClipboardPolicy,
    sent: u64,
    /// The text both sides hold now, as far as this side knows.
    shared: Option<String>,
}

impl ClipboardSync {
    /// Starts with nothing shared: what was on the clipboard before the session stays here.
    pub fn new(policy: ClipboardPolicy) -> Self {
        ClipboardSync { policy, sent: 0, shared: None }
    }

    /// The policy in force.
    pub fn policy(&self) -> ClipboardPolicy {
        self.policy
    }

    /// Changes the policy for the rest of the session (the person's toggle).
    pub fn set_policy(&mut self, policy: ClipboardPolicy) {
        self.policy = policy;
    }

    /// What to tell the peer as the channel opens: that this side shares nothing, if so.
    pub fn announcement(&self) -> Option<ClipboardMsg> {
        match self.policy {
            ClipboardPolicy::On => None,
            ClipboardPolicy::ViewOnly => {
                Some(ClipboardMsg::Off { reason: ClipboardRefusal::ViewOnly })
            }
            ClipboardPolicy::Off => Some(ClipboardMsg::Off { reason: ClipboardRefusal::Off }),
        }
    }

    /// This side's clipboard now holds `text`.
    pub fn local_changed(&mut self, text: String) -> Outgoing {
        if self.policy != ClipboardPolicy::On {
            return Outgoing::NotShared;
        }
        if self.shared.as_deref() == Some(text.as_str()) {
            return Outgoing::Echo;
        }
        let bytes = text.len();
        match ClipboardMsg::text(self.sent + 1, text.clone()) {
            Ok(msg) => {
                self.sent += 1;
                self.shared = Some(text);
                Outgoing::Send(msg)
            }
            Err(_) => Outgoing::Unfit(bytes),
        }
    }

    /// A message from the peer, as decoded.
    pub fn received(&mut self, msg: Result<ClipboardMsg, ClipboardError>) -> Incoming {
        let msg = match msg {
            Ok(msg) => msg,
            Err(ClipboardError::TextTooLarge { seq, .. }) => {
                return Incoming::Refuse(refusal(seq, ClipboardRefusal::TooLarge));
            }
            Err(err) => return Incoming::Malformed(err),
        };
        match msg {
            ClipboardMsg::Text { seq, text } => match self.policy {
                ClipboardPolicy::On => Incoming::Apply { seq, text },
                ClipboardPolicy::ViewOnly => {
                    Incoming::Refuse(refusal(seq, ClipboardRefusal::ViewOnly))
                }
                ClipboardPolicy::Off => Incoming::Refuse(refusal(seq, ClipboardRefusal::Off)),
            },
            ClipboardMsg::Applied { seq } => Incoming::Answered { seq, refusal: None },
            ClipboardMsg::Refused { seq, reason } => {
                Incoming::Answered { seq, refusal: Some(reason) }
            }
            ClipboardMsg::Off { reason } => Incoming::PeerOff(reason),
        }
    }

    /// The answer to [`Incoming::Apply`] once tried: `ok` if the text is on the clipboard.
    pub fn applied(&mut self, seq: u64, text: String, ok: bool) -> ClipboardMsg {
        if !ok {
            return refusal(seq, ClipboardRefusal::Failed);
        }
        // The change this causes here is the peer's own text coming back: not sent.
        self.shared = Some(text);
        ClipboardMsg::Applied { seq }
    }
}

fn refusal(seq: u64, reason: ClipboardRefusal) -> ClipboardMsg {
    ClipboardMsg::Refused { seq, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_proto::clipboard::MAX_CLIPBOARD_TEXT_BYTES;

    fn text(seq: u64, text: &str) -> Result<ClipboardMsg, ClipboardError> {
        Ok(ClipboardMsg::Text { seq, text: text.into() })
    }

    #[test]
    fn local_changes_go_out_numbered_and_the_peers_text_is_not_sent_back() {
        let mut sync = ClipboardSync::new(ClipboardPolicy::On);
        assert_eq!(sync.announcement(), None);
        let Outgoing::Send(first) = sync.local_changed("one".into()) else { panic!() };
        assert_eq!(first, ClipboardMsg::Text { seq: 1, text: "one".into() });
        assert_eq!(sync.local_changed("one".into()), Outgoing::Echo, "nothing new");

        let Incoming::Apply { seq, text: received } = sync.received(text(1, "two")) else {
            panic!()
        };
        assert_eq!(sync.applied(seq, received, true), ClipboardMsg::Applied { seq: 1 });
        assert_eq!(sync.local_changed("two".into()), Outgoing::Echo, "the peer's text came back");

        let Outgoing::Send(second) = sync.local_changed("one".into()) else { panic!() };
        assert_eq!(second, ClipboardMsg::Text { seq: 2, text: "one".into() }, "copied again");
    }

    #[test]
    fn a_failed_apply_is_refused_and_the_text_stays_unshared() {
        let mut sync = ClipboardSync::new(ClipboardPolicy::On);
        let answer = sync.applied(4, "x".into(), false);
        assert_eq!(answer, ClipboardMsg::Refused { seq: 4, reason: ClipboardRefusal::Failed });
        assert!(matches!(sync.local_changed("x".into()), Outgoing::Send(_)));
    }

    #[test]
    fn view_only_and_off_share_nothing_and_refuse_everything() {
        for (policy, reason) in [
            (ClipboardPolicy::ViewOnly, ClipboardRefusal::ViewOnly),
            (ClipboardPolicy::Off, ClipboardRefusal::Off),
        ] {
            let mut sync = ClipboardSync::new(policy);
            assert_eq!(sync.announcement(), Some(ClipboardMsg::Off { reason }));
            assert_eq!(sync.local_changed("secret".into()), Outgoing::NotShared);
            assert_eq!(
                sync.received(text(3, "paste me")),
                Incoming::Refuse(ClipboardMsg::Refused { seq: 3, reason })
            );
        }
    }

    #[test]
    fn turning_it_off_mid_session_stops_both_ways() {
        let mut sync = ClipboardSync::new(ClipboardPolicy::On);
        assert!(matches!(sync.local_changed("a".into()), Outgoing::Send(_)));
        sync.set_policy(ClipboardPolicy::Off);
        assert_eq!(sync.local_changed("b".into()), Outgoing::NotShared);
        assert!(matches!(sync.received(text(1, "c")), Incoming::Refuse(_)));
    }

    #[test]
    fn oversized_and_malformed_text() {
        let mut sync = ClipboardSync::new(ClipboardPolicy::On);
        let big = "x".repeat(MAX_CLIPBOARD_TEXT_BYTES + 1);
        assert_eq!(sync.local_changed(big.clone()), Outgoing::Unfit(big.len()));
        assert_eq!(sync.local_changed("\u{1b}[2J".into()), Outgoing::Unfit(4));
        let too_large = ClipboardMsg::decode(&ClipboardMsg::Text { seq: 9, text: big }.encode());
        assert_eq!(
            sync.received(too_large),
            Incoming::Refuse(ClipboardMsg::Refused { seq: 9, reason: ClipboardRefusal::TooLarge })
        );
        assert!(matches!(sync.received(ClipboardMsg::decode("{")), Incoming::Malformed(_)));
    }

    #[test]
    fn answers_are_reported_with_their_seq() {
        let mut sync = ClipboardSync::new(ClipboardPolicy::On);
        assert_eq!(
            sync.received(Ok(ClipboardMsg::Applied { seq: 1 })),
            Incoming::Answered { seq: 1, refusal: None }
        );
        let refused = ClipboardMsg::Refused { seq: 2, reason: ClipboardRefusal::Off };
        assert_eq!(
            sync.received(Ok(refused)),
            Incoming::Answered { seq: 2, refusal: Some(ClipboardRefusal::Off) }
        );
    }
}
