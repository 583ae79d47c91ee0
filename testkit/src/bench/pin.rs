//! `--pin`: "the agent's computer" on core 0, "the supporter's computer" on core 1.
//!
//! tether-bench pins itself (its painter thread is the agent-side screen's application) before
//! it starts any thread, so that everything it starts inherits core 0: Xvfb, tether-agent, the
//! GStreamer senders. Viewers (tether-viewer, node and the Chromium it starts, the GStreamer
//! receiver) are started through `taskset -c 1`. Unpinned, nothing changes.

use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

/// Where the two sides run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// Wherever the kernel puts them.
    #[default]
    Free,
    /// Agent side on core 0, supporter side on core 1.
    Pinned,
}

const AGENT_CORE: &str = "0";
const SUPPORTER_CORE: &str = "1";

impl Placement {
    /// Pins this process's only thread (call it first thing in `main`) when `Pinned`.
    pub fn pin_self(self) -> Result<()> {
        if self == Placement::Free {
            return Ok(());
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ensure!(cores >= 2, "--pin needs two cores; this process may use {cores}");
        // Children may not run where the parent may not.
        let status = Command::new("taskset")
            .args(["-p", "-c", AGENT_CORE, &std::process::id().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .context("cannot run taskset (util-linux) for --pin")?;
        if !status.success() {
            bail!("taskset -p -c {AGENT_CORE} failed ({status})");
        }
        Ok(())
    }

    /// A command for the supporter's side: `program` itself, or `taskset -c 1 program`.
    pub fn supporter(self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match self {
            Placement::Free => Command::new(program),
            Placement::Pinned => {
                let mut command = Command::new("taskset");
                command.args(["-c", SUPPORTER_CORE]).arg(program);
                command
            }
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Placement::Free => "unpinned",
            Placement::Pinned => {
                "pinned: agent side (Xvfb, painter, agent, GStreamer sender) on core 0, \
                 supporter side (viewers, Chromium, GStreamer receiver) on core 1"
            }
        }
    }
}
