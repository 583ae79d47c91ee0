//! What a Tether peer (agent or viewer) needs to reach a signaling server, without the server:
//! the WebSocket [`client`], the peers' own ICE options ([`ice_args`]) and the [`process`]
//! helpers every binary shares (durations on the command line, logging, shutdown signals).
//!
//! The server (`tether-signal`, axum and a TURN stack) depends on this crate, never the other
//! way round, so the viewer's dependency tree stays free of it.
#![forbid(unsafe_code)]

pub mod client;
pub mod ice_args;
pub mod process;
