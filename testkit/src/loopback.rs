//! One agent and its headless viewer on loopback, as most end-to-end tests start them: the
//! agent on its embedded server (`127.0.0.1`, any port), `--auto-allow`, no tray; the viewer
//! joining with the code the agent printed.

use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::process::{ChildProcess, workspace_bin};

/// The agent's command for X display `display`; add the test's own options, then
/// [`LoopbackAgent::start`] it.
pub fn agent_command(display: &str) -> Command {
    let mut agent = Command::new(workspace_bin("tether-agent"));
    agent
        .env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .args(["--bind", "127.0.0.1:0", "--udp-bind", "127.0.0.1:0"])
        .args(["--auto-allow", "--no-tray"]);
    agent
}

/// A running agent with the server address and session code it printed.
pub struct LoopbackAgent {
    pub process: ChildProcess,
    pub server: String,
    pub code: String,
}

impl LoopbackAgent {
    /// Spawns `command` and waits (up to `patience` for each) for its `server:` and `code:` lines.
    pub fn start(command: Command, patience: Duration) -> Result<Self> {
        let mut process = ChildProcess::spawn(command)?;
        let server = process.wait_for_line("server: ", patience)?;
        let code = process.wait_for_line("code: ", patience)?;
        Ok(LoopbackAgent { process, server, code })
    }

    /// The headless viewer's command joining this agent; add the test's own options.
    pub fn viewer_command(&self) -> Command {
        let mut viewer = Command::new(workspace_bin("tether-viewer"));
        viewer.arg(&self.code).args([
            "--server",
            &self.server,
            "--headless",
            "--udp-bind",
            "127.0.0.1:0",
        ]);
        viewer
    }
}
