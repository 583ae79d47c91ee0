//! The viewer's video, mirroring the agent's `video/`: [`receive`] takes RTP off the track and
//! asks for keyframes, [`decode`] reassembles, decodes, measures and hands pictures on.

pub mod decode;
pub mod receive;

pub use decode::{Decoding, Shared};
