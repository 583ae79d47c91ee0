//! The candidate pair ICE selected, with the real candidate types.
//!
//! webrtc-rs 0.21's stats report names the selected pair's candidates only by id (it does not
//! list the candidate entries), so the pair is read from the ICE transport itself: a sender's or
//! receiver's DTLS transport → its ICE transport → `get_selected_candidate_pair()`, whose
//! candidates carry type, address and port.

use std::fmt;
use std::time::Duration;

use webrtc::peer_connection::{PeerConnection, RTCIceCandidate, RTCIceCandidateType};

/// One side of the selected pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairEnd {
    /// `host`, `srflx`, `prflx` or `relay`.
    pub kind: &'static str,
    /// `address:port` of the candidate.
    pub addr: String,
}

/// The selected pair: what this side sends from and where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedPair {
    /// This side's candidate.
    pub local: PairEnd,
    /// The peer's candidate.
    pub remote: PairEnd,
}

impl SelectedPair {
    /// `local->remote` candidate types, e.g. `srflx->relay`, as in `pair=srflx->relay`.
    pub fn kinds(&self) -> String {
        format!("{}->{}", self.local.kind, self.remote.kind)
    }

    /// Whether media goes through a TURN relay (either side's candidate is a relay).
    pub fn is_relayed(&self) -> bool {
        self.local.kind == "relay" || self.remote.kind == "relay"
    }
}

impl fmt::Display for SelectedPair {
    /// `host 10.1.0.2:5000 -> srflx 203.0.113.5:6000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (l, r) = (&self.local, &self.remote);
        write!(f, "{} {} -> {} {}", l.kind, l.addr, r.kind, r.addr)
    }
}

/// The name ICE gives a candidate type (RFC 8445 §5.1.1.1).
pub fn kind_name(kind: RTCIceCandidateType) -> &'static str {
    match kind {
        RTCIceCandidateType::Host => "host",
        RTCIceCandidateType::Srflx => "srflx",
        RTCIceCandidateType::Prflx => "prflx",
        RTCIceCandidateType::Relay => "relay",
        _ => "unknown",
    }
}

fn end(candidate: &RTCIceCandidate) -> PairEnd {
    let addr = if candidate.address.contains(':') {
        format!("[{}]:{}", candidate.address, candidate.port)
    } else {
        format!("{}:{}", candidate.address, candidate.port)
    };
    PairEnd { kind: kind_name(candidate.typ), addr }
}

/// The selected candidate pair, once ICE has chosen one. With max-bundle every sender and
/// receiver shares one transport, so the first that has one answers.
pub async fn selected_pair(pc: &dyn PeerConnection) -> Option<SelectedPair> {
    let mut transports = Vec::new();
    for sender in pc.get_senders().await {
        transports.push(sender.transport().await);
    }
    for receiver in pc.get_receivers().await {
        transports.push(receiver.transport().await);
    }
    if let Some(sctp) = pc.sctp().await {
        transports.push(Ok(Some(sctp.transport())));
    }
    for dtls in transports.into_iter().flatten().flatten() {
        match dtls.ice_transport().get_selected_candidate_pair().await {
            Ok(Some(pair)) => {
                return Some(SelectedPair { local: end(pair.local()), remote: end(pair.remote()) });
            }
            Ok(None) => {}
            Err(err) => tracing::debug!(%err, "selected pair unavailable"),
        }
    }
    None
}

/// As [`selected_pair`], waiting up to `patience` for it: on the controlled side the
/// connection can report `connected` a moment before the transport names its pair.
pub async fn settled_pair(pc: &dyn PeerConnection, patience: Duration) -> Option<SelectedPair> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(pair) = selected_pair(pc).await {
            return Some(pair);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_prints_types_and_addresses() {
        let pair = SelectedPair {
            local: PairEnd { kind: "srflx", addr: "203.0.113.5:6000".into() },
            remote: PairEnd { kind: "relay", addr: "198.51.100.1:49152".into() },
        };
        assert_eq!(pair.kinds(), "srflx->relay");
        assert!(pair.is_relayed());
        assert_eq!(pair.to_string(), "srflx 203.0.113.5:6000 -> relay 198.51.100.1:49152");
        assert_eq!(kind_name(RTCIceCandidateType::Prflx), "prflx");
        let v6 = RTCIceCandidate {
            address: "fd00::1".into(),
            port: 9,
            typ: RTCIceCandidateType::Host,
            ..Default::default()
        };
        assert_eq!(end(&v6).addr, "[fd00::1]:9");
    }
}
