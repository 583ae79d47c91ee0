//! The short authentication string: six digits both people read aloud to check that nobody
//! sits between their two peer connections.
//!
//! DTLS authenticates each end by the certificate fingerprint in its SDP, and those SDPs travel
//! through the signaling server. A server (or anyone on a plain `ws://` path) that swaps them
//! can terminate both DTLS sessions and relay screen and input. It cannot make both ends
//! compute the same digits: each end hashes the fingerprints *it* saw, the offer's and the
//! answer's, so a swap changes the digits on at least one side.
//!
//! The digits must be on the screen *before* the person allows the viewer, so the two
//! fingerprints are exchanged before the SDPs, in an order that keeps a machine in the middle
//! from searching for certificates that make both sides' digits agree (six digits are only
//! 10^6 tries): the viewer sends a [`commitment`] to its fingerprint in `join`, the agent
//! answers with its fingerprint, and only then does the viewer reveal its own. Whoever sits in
//! between must fix its fake fingerprint towards one side before it learns the real one from
//! that side, so it matches by chance: one in a million. The SDPs that follow must carry the
//! same fingerprints ([`fingerprint`]), or the session is refused.

use sha2::{Digest, Sha256};

/// Separates this hash from any other use of the same fingerprints.
const CONTEXT: &[u8] = b"tether-sas-v1";
/// The same for the commitment.
const COMMIT_CONTEXT: &[u8] = b"tether-sas-commit-v1";

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

/// The first `a=fingerprint:` of an SDP, normalised (see [`normalise_fingerprint`]).
pub fn fingerprint(sdp: &str) -> Option<String> {
    let line = sdp.lines().find_map(|l| l.trim().strip_prefix("a=fingerprint:"))?;
    normalise_fingerprint(line)
}

/// Longest fingerprint accepted: `sha-512` and 64 hex pairs, with room.
const MAX_FINGERPRINT_CHARS: usize = 256;

/// A fingerprint as `sha-256 AB:CD:…` (algorithm in lower case, hex in upper case), so that
/// every implementation hashes the same bytes; `None` if it is not one.
pub fn normalise_fingerprint(text: &str) -> Option<String> {
    let text = text.trim();
    if text.len() > MAX_FINGERPRINT_CHARS {
        return None;
    }
    let (algorithm, value) = text.split_once(' ')?;
    let value = value.trim();
    let hex_pairs =
        value.split(':').all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    let named = algorithm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if algorithm.is_empty() || !named || value.is_empty() || !hex_pairs {
        return None;
    }
    Some(format!("{} {}", algorithm.to_ascii_lowercase(), value.to_ascii_uppercase()))
}

/// What the viewer sends in `join` instead of its fingerprint: 64 lower-case hex digits of
/// SHA-256 over the normalised fingerprint. It binds the viewer to a certificate without
/// showing it.
pub fn commitment(fingerprint: &str) -> String {
    let mut hash = Sha256::new();
    for part in [COMMIT_CONTEXT, fingerprint.as_bytes()] {
        hash.update((part.len() as u32).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `text` has the shape of a [`commitment`] (what the server checks before relaying).
pub fn is_commitment(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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
    fn a_commitment_binds_one_fingerprint_and_hides_it() {
        let commit = commitment(FP_B);
        assert!(is_commitment(&commit), "{commit}");
        assert_ne!(commit, commitment(FP_M));
        assert!(!commit.contains("0F11"));
        assert!(!is_commitment(&commit.to_ascii_uppercase()));
        assert!(!is_commitment(&commit[1..]));
        assert_eq!(normalise_fingerprint(&FP_B.to_ascii_lowercase()).as_deref(), Some(FP_B));
        assert_eq!(normalise_fingerprint("sha 256 AB"), None);
        assert_eq!(normalise_fingerprint(&format!("sha-256 {}", "AB:".repeat(100))), None);
    }

    #[test]
    fn the_digits_are_pinned() {
        // The browser page computes the same with crypto.subtle (signal/web/sas.js); this value
        // is checked there too.
        assert_eq!(Sas::from_fingerprints(FP_A, FP_B).to_string(), PINNED);
        assert_eq!(commitment(FP_B), PINNED_COMMIT);
    }

    const PINNED_COMMIT: &str = "57dbe14c7de1058733af7f56b1eb84d3c96e6fd26c7e8ca285110a52052f501d";

    const PINNED: &str = "656 373";
}
