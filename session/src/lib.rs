//! The session rules of both peers as plain values, in the style of str0m and quinn:
//! `handle(now, Event) -> Vec<Action>` and `next_deadline()`, with no I/O.
//!
//! - [`sharing`]: the agent's side: consent, stop, new code.
//! - [`viewing`]: the viewer's side: join, answer, connect deadline, ICE-restart re-answers,
//!   the error policy, the typed reports its user interfaces show and the reconnect decision.
//! - [`clipboard`]: what each side shares of its clipboard, and the echo rule.
//! - [`candidates`]: remote ICE candidates held until they can be used, bounded.
//! - [`files`]: which file offers a side takes, safe names for received files, and the
//!   length check.
//! - [`display`]: names from the network made safe to show in a prompt.
//! - [`monitors`]: which monitor the agent shows, as the viewer asks and the monitors change.
//! - [`quality`]: the agent's video bitrate and frame rate from what the link allows.
//! - [`IceRestart`]: when the offering side restarts ICE after a lasting disconnection.
//! - [`Backoff`]: when a peer tries its signaling server again after losing it.
//! - [`FrameGate`]: the slot between the agent's encoder and its sender that keeps the H.264
//!   reference chain decodable.
//!
//! Nothing here reads the clock, opens a socket or spawns: callers pass time in, so every rule is
//! tested in virtual time (checked in `scripts/test.sh` with `cargo tree`).
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod backoff;
pub mod candidates;
pub mod clipboard;
pub mod display;
pub mod files;
mod gate;
mod ice_restart;
mod link;
pub mod monitors;
pub mod quality;
pub mod sharing;
pub mod viewing;

pub use backoff::{AGENT_BACKOFF, Backoff};
pub use gate::{FrameGate, KEYFRAME_RETRY, Pushed};
pub use ice_restart::{IceRestart, RESTART_AFTER};
pub use link::LinkState;
