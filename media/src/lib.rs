//! Media plumbing shared by the agent and the viewer: H.264 encoding and decoding with
//! openh264, colour conversion, WebRTC peer connections (webrtc-rs), and the latency probe
//! pattern the benchmark paints into the screen.
// `deny`, not `forbid`: codec/raw_options.rs is the one audited exception (openh264 options the
// openh264 crate only offers through its unsafe raw API).
#![deny(unsafe_code)]

pub mod audio;
pub mod codec;
pub mod desktop_clipboard;
pub mod files;
pub mod image;
pub mod probe;
pub mod rtc;
pub mod telemetry;
