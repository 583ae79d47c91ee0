//! Pieces of `tether-bench` (included by the binary with `#[path]`, not part of the library).

pub mod audio;
pub mod input;
pub mod motion;
pub mod procfs;
pub mod report;
