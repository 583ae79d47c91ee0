//! Test and benchmark harness for Tether; never shipped.
//!
//! - [`xvfb`]: private Xvfb servers (own display number each), RandR resizes and monitors.
//! - [`paint`]: draw known pictures on a display and read back what the server shows.
//! - [`process`]: child processes for end-to-end tests: stdout lines, waiting, kill on drop,
//!   and where the workspace's binaries are.
#![forbid(unsafe_code)]

pub mod paint;
pub mod process;
pub mod xvfb;
