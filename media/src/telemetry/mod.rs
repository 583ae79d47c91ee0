//! The peers' printed counters as typed values: one snapshot struct per stdout line kind, whose
//! `Display` is the line byte for byte and whose `FromStr` is the only parser of it (tests, the
//! benchmark and the native window's overlay read the values, never the text).
//!
//! | line | type | printed by |
//! | --- | --- | --- |
//! | `video: captured=.. encoded=.. ...` | [`VideoSendStats`] | the agent, when a session's video stops |
//! | `audio: frames=.. sent=.. ...` | [`AudioSendStats`] | the agent, when a session's audio stops |
//! | `input: received=.. injected=.. ...` | [`InputStats`] | the agent, each second while the counters move and at the end |
//! | `clipboard: sent=.. received=.. ...` | [`ClipboardStats`] | the agent, each second while the counters move and at the end |
//! | `chat: sent=.. received=.. malformed=..` | [`ChatStats`] | the agent, when a session ends |
//! | `files: sent=.. received=.. ...` | [`FileStats`] | both peers, when a session ends |
//! | `input: sent line=N type=T at_us=T` | [`InputSent`] | the viewer, per `--input-script` message |
//! | `stats: fps=.. kbps=.. ...` | [`ViewerStats`] | the viewer, each second |
//! | `audio: kbps=.. packets=.. ...` | [`AudioReceiveStats`] | the viewer, each second |
//! | `audio: onset unix_ms=T` | [`AudioOnset`] | the viewer, when sound starts after quiet |
//! | `latency: frames=N p50=..ms ...` | [`LatencySummary`] | the viewer, last, with `--latency-probe` |
//! | `freezes: count=N total_ms=T longest_ms=L` | [`FreezeSummary`] | the viewer, after `latency:` |
//! | `quality: kbps=.. fps=.. was_kbps=.. reason=..` | [`QualityChange`] | the agent, when its video target changes |
//!
//! Parsing is tolerant of what the printers produce and of a little more: the line's prefix
//! (`stats:`) may be missing (a test harness that waited for `"stats: "` has only the rest),
//! words that are not `key=value` are skipped, unknown keys are ignored, and the first of two
//! equal keys wins. Floating-point figures are printed at a fixed precision, so a parsed value
//! equals the printed one to that precision.
//!
//! Beside the lines: [`percentile`] (the one percentile rule of the viewer and the benchmark)
//! and [`Throttle`] (a pure time-based limit for repeated warnings).

mod audio;
mod error;
mod fields;
mod input;
mod latency;
mod link;
mod network;
mod percentile;
mod throttle;
mod toolbox;
mod video;
mod viewer;

pub use audio::{AudioOnset, AudioReceiveStats, AudioSendStats};
pub use error::ParseError;
pub use input::{InputSent, InputStats};
pub use latency::LatencySummary;
pub use link::{FREEZE_GAP, FreezeCounter, FreezeSummary, QualityChange};
pub use network::NetworkStats;
pub use percentile::{Percentiles, percentile};
pub use throttle::Throttle;
pub use toolbox::{ChatStats, ClipboardStats, FileStats};
pub use video::VideoSendStats;
pub use viewer::ViewerStats;
