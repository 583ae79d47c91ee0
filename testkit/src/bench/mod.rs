//! Pieces of `tether-bench` (included by the binary with `#[path]`, not part of the library).

pub mod audio;
pub mod browser;
pub mod compare;
pub mod files;
pub mod gst;
pub mod input;
pub mod json;
pub mod link;
pub mod motion;
pub mod pin;
pub mod procfs;
pub mod report;
pub mod scenario;
pub mod tether;
