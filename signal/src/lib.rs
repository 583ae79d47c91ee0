//! Tether's signaling server: pairs an agent and a viewer by session code and relays the SDP
//! offer/answer and trickled ICE candidates between them over WebSocket.
//!
//! [`serve`] runs it on a listener until a shutdown future resolves; `tether-signal` and the
//! agent's embedded mode both call it. [`client`] is the client side that agents, viewers and
//! the load command use.
#![forbid(unsafe_code)]

mod admission;
pub mod cli;
mod config;
mod connection;
mod hub;
pub mod limits;
mod listen;
mod origin;
mod outbox;
pub mod rendezvous;
mod server;
pub mod tls;
mod turn_filter;
pub mod turn_server;
mod web;

pub use config::{Config, IceSettings};
pub use server::{ServeError, serve};
