//! The short authentication string: six digits both people read aloud to check that nobody
//! sits between their two peer connections.
//!
//! DTLS authenticates each end by the certificate fingerprint in its SDP, and those SDPs travel
//! through the signaling server. A server (or anyone on a plain `ws://` path) that swaps them
//! can terminate both DTLS sessions and relay screen and input. It cannot make both ends
//! compute the same digits: each end hashes the fingerprints *it* saw, the offer's and the
//! answer's, so a swap changes the digits on at least one side.

use sha2::{Digest, Sha256};

/// Separates this hash from any other use of the same fingerprints.
const CONTEXT: &[u8] = b"tether-sas-v1";

/// Six digits, shown as `123 456`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sas(u32);

impl Sas {
    /// The string for the session whose offer and answer SDPs these are; `None` if either has
    /// no `a=fingerprint` line.
    pub fn from_sdps(offer: &str, answer: &str) -> Option<Self> {
        Some(Self::from_fingerprints(&fingerprint(offer)?, &fingerprint(answer)?))
    }

    /// The string for two normalised fingerprints (see [`fingerprint`]).
    pub fn from_fingerprints(offer: &str, answer: &str) -> Self {
        let mut hash = Sha256::new();
        for part in [CONTEXT, offer.as_bytes(), answer.as_bytes()] {
            hash.update((part.len() as u32).to_be_bytes());
            hash.update(part);
        }
        let digest = hash.finalize();
        let first = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        Sas(first % 1_000_000)
    }
}

impl std::fmt::Display for Sas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:03} {:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// The first `a=fingerprint:` of an SDP, normalised to `sha-256 AB:CD:…` (algorithm in lower
/// case, hex in upper case), so that every implementation hashes the same bytes.
pub fn fingerprint(sdp: &str) -> Option<String> {
    let line = sdp.lines().find_map(|l| l.trim().strip_prefix("a=fingerprint:"))?;
    let (algorithm, value) = line.trim().split_once(' ')?;
    let value = value.trim();
    let hex_pairs =
        value.split(':').all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if algorithm.is_empty() || value.is_empty() || !hex_pairs {
        return None;
    }
    Some(format!("{} {}", algorithm.to_ascii_lowercase(), value.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP_A: &str = "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3A:2E:61:9F:7B:90:42:5A:8E:1F:26:E7";
    const FP_B: &str = "sha-256 0F:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
    const FP_M: &str = "sha-256 DE:AD:BE:EF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB";

    fn sdp(fp: &str) -> String {
        format!(
            "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=fingerprint:{fp}\r\na=setup:actpass\r\n"
        )
    }

    #[test]
    fn both_ends_compute_the_same_digits_from_the_same_sdps() {
        let sas = Sas::from_sdps(&sdp(FP_A), &sdp(FP_B)).unwrap();
        // Case and surrounding text do not matter; order (offer, answer) does.
        let lower = sdp(&FP_A.to_ascii_lowercase());
        assert_eq!(Sas::from_sdps(&lower, &sdp(FP_B)), Some(sas));
        assert_ne!(Sas::from_sdps(&sdp(FP_B), &sdp(FP_A)), Some(sas));
        let shown = sas.to_string();
        assert_eq!(shown.len(), 7, "{shown}");
        assert_eq!(shown.as_bytes()[3], b' ');
    }

    #[test]
    fn a_swapped_fingerprint_changes_the_digits() {
        // A machine in the middle answers the agent with its own certificate and offers the
        // viewer its own: the agent hashes (A, M), the viewer (M, B).
        let honest = Sas::from_fingerprints(FP_A, FP_B);
        let agent_sees = Sas::from_fingerprints(FP_A, FP_M);
        let viewer_sees = Sas::from_fingerprints(FP_M, FP_B);
        assert_ne!(agent_sees, viewer_sees);
        assert_ne!(agent_sees, honest);
    }

    #[test]
    fn sdps_without_a_usable_fingerprint_have_no_sas() {
        assert_eq!(fingerprint("v=0\r\n"), None);
        assert_eq!(fingerprint("a=fingerprint:sha-256\r\n"), None);
        assert_eq!(fingerprint("a=fingerprint:sha-256 ZZ:11\r\n"), None);
        assert_eq!(Sas::from_sdps("v=0", &sdp(FP_B)), None);
        assert_eq!(fingerprint(&sdp(FP_A)).as_deref(), Some(FP_A));
    }

    #[test]
    fn the_digits_are_pinned() {
        // The browser page computes the same with crypto.subtle (signal/web/sas.js); this value
        // is checked there too.
        assert_eq!(Sas::from_fingerprints(FP_A, FP_B).to_string(), PINNED);
    }

    const PINNED: &str = "656 373";
}
