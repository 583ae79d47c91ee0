//! Test and benchmark harness for Tether; never shipped.
//!
//! - [`xvfb`]: private Xvfb servers, each with its own display number.
//! - [`randr`]: screen size changes and extra monitors, as users and hot-plugs make them.
//! - [`paint`]: draw known pictures on a display and read back what the server shows.
//! - [`xinput`]: a real X client that records the pointer, button and key events it receives.
//! - [`process`]: child processes for end-to-end tests: stdout lines, waiting, kill on drop,
//!   and where the workspace's binaries are.
//! - [`loopback`]: an agent and its headless viewer on loopback, as end-to-end tests start them.
//! - [`netlab`]: network namespaces with NAT routers between an agent, a viewer and a server.
//! - [`pulse`]: private PulseAudio servers with a null sink, and tones played into them.
//! - [`tone`]: tone WAV files and their analysis (dominant frequency, level, sound spans).
#![forbid(unsafe_code)]

pub mod linklab;
pub mod loopback;
pub mod netlab;
pub mod paint;
pub mod process;
pub mod pulse;
pub mod randr;
pub mod tone;
pub mod xclip;
pub mod xinput;
pub mod xvfb;
