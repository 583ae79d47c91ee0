//! Tether's wire protocol, with no I/O: the signaling messages and their JSON encoding, the
//! input, clipboard and chat data channels' messages, session codes, typed wire errors, ICE server configuration
//! and TURN REST credentials. The peers' session rules built on it are `tether-session`.
//!
//! Nothing here reads the clock or the OS random source: callers pass time and randomness in,
//! so every rule is testable without a network (see `ARCHITECTURE.md`).
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod chat;
pub mod clipboard;
mod code;
pub mod display;
mod error;
pub mod files;
mod ice;
pub mod input;
mod sas;
pub mod signal;
mod turn;

pub use code::{CodeParseError, SessionCode};
pub use error::ErrorCode;
pub use ice::{IceConfig, IceServer, IceUrlError, LocalIce, TransportPolicy};
pub use sas::{Sas, commitment, fingerprint, is_commitment, normalise_fingerprint};
pub use turn::{RestUsernameError, TurnCredentials, rest_password, turn_rest_credentials};

/// The signaling protocol version this crate speaks. A hello with any other version is refused
/// with [`ErrorCode::Version`].
pub const PROTOCOL_VERSION: u32 = 1;

/// The HTTP path on which the signaling server accepts WebSocket upgrades; clients append it to
/// a server address given without it.
pub const WS_PATH: &str = "/ws";

/// Largest signaling frame, in bytes, that a peer may send. An SDP offer with audio, video and a
/// data channel is 3–6 KB; 64 KiB leaves room for many candidates without letting one client
/// make the server buffer megabytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
