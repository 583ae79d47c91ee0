//! Child processes for end-to-end tests.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustix::process::{Pid, Signal, kill_process};

/// How many earlier stdout lines an error message shows.
const KEPT_LINES: usize = 40;

/// A child whose stdout lines arrive on a channel; killed (SIGKILL) and reaped on drop.
///
/// Each line is also printed as `[name] line`, which the test harness captures and shows when a
/// test fails. stderr is left as the `Command` has it (inherited by default).
pub struct ChildProcess {
    name: String,
    child: Child,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
    /// Lines already read that did not match, for error messages.
    seen: VecDeque<String>,
}

impl ChildProcess {
    pub fn spawn(command: Command) -> Result<Self> {
        let program = PathBuf::from(command.get_program());
        let name =
            program.file_name().unwrap_or(program.as_os_str()).to_string_lossy().into_owned();
        Self::spawn_as(&name, command)
    }

    /// As [`ChildProcess::spawn`], with `name` in its log lines and errors (for wrappers such
    /// as `ip netns exec`).
    pub fn spawn_as(name: &str, mut command: Command) -> Result<Self> {
        let name = name.to_owned();
        let program = PathBuf::from(command.get_program());
        let mut child = command.stdout(Stdio::piped()).spawn().with_context(|| {
            if program.components().count() > 1 && !program.exists() {
                format!(
                    "{} does not exist: build it first (cargo build --workspace --bins)",
                    program.display()
                )
            } else {
                format!("cannot start {}", program.display())
            }
        })?;
        let stdout = child.stdout.take().context("stdout was not piped")?;
        let (tx, lines) = mpsc::channel();
        let label = name.clone();
        let reader = thread::Builder::new().name(format!("{name}-stdout")).spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                println!("[{label}] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        })?;
        Ok(Self { name, child, lines, reader: Some(reader), seen: VecDeque::new() })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdin, if the command had `stdin(Stdio::piped())`.
    pub fn stdin(&mut self) -> Option<&mut std::process::ChildStdin> {
        self.child.stdin.as_mut()
    }

    /// Waits for a stdout line starting with `prefix` and returns the rest of it. Lines before
    /// it are consumed.
    pub fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => match line.strip_prefix(prefix) {
                    Some(rest) => return Ok(rest.to_owned()),
                    None => {
                        if self.seen.len() == KEPT_LINES {
                            self.seen.pop_front();
                        }
                        self.seen.push_back(line);
                    }
                },
                Err(RecvTimeoutError::Timeout) => {
                    bail!(
                        "{} printed no line starting with {prefix:?} within {timeout:?}{}",
                        self.name,
                        self.history()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status =
                        self.child.try_wait()?.map_or("still running".into(), |s| s.to_string());
                    bail!(
                        "{} closed stdout ({status}) before a line starting with {prefix:?}{}",
                        self.name,
                        self.history()
                    )
                }
            }
        }
    }

    /// The exit status if the child has ended.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// SIGINT (what Ctrl-C sends: the binaries end their session cleanly), then waits up to
    /// `timeout` for the child to end.
    pub fn interrupt(&mut self, timeout: Duration) -> Result<ExitStatus> {
        kill_process(Pid::from_child(&self.child), Signal::INT)?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        bail!("{} did not end within {timeout:?} of SIGINT{}", self.name, self.history())
    }

    /// SIGTERM, then SIGKILL if it has not ended after `grace`; returns how it ended.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        Ok(terminate(&mut self.child, grace)?)
    }

    fn history(&self) -> String {
        if self.seen.is_empty() {
            return "; it printed nothing else".into();
        }
        let lines: Vec<&str> = self.seen.iter().map(String::as_str).collect();
        format!("; its last lines:\n  {}", lines.join("\n  "))
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // stdout reaches EOF once the child is gone, unless a grandchild still holds it; then the
        // reader ends with that grandchild instead of blocking this drop.
        if let Some(reader) = self.reader.take_if(|r| r.is_finished()) {
            let _ = reader.join();
        }
    }
}

/// Sends SIGTERM and waits up to `grace` for the child to end, then kills it.
pub fn terminate(child: &mut Child, grace: Duration) -> io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    kill_process(Pid::from_child(child), Signal::TERM)?;
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        thread::sleep(Duration::from_millis(5));
    }
    child.kill()?;
    child.wait()
}

/// Path of workspace binary `name` in the target directory this test executable was built in
/// (`target/debug/<name>` or `target/release/<name>`). `cargo test -p X` builds only X's own
/// binaries: build the others first (`cargo build --workspace --bins`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    // Test executables live in target/<profile>/deps; binaries one level up.
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs a command to completion (`args[0]` is the program), failing with its stderr when it
/// fails: the labs' `ip`, `tc` and `iptables` calls.
pub fn run(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("cannot run {}", args[0]))?;
    if !out.status.success() {
        bail!("`{}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn wait_for_line_returns_the_rest_of_the_line() {
        let mut child =
            ChildProcess::spawn(sh("echo hello; echo 'code: 482 913 075'; echo done")).unwrap();
        let code = child.wait_for_line("code: ", Duration::from_secs(10)).unwrap();
        assert_eq!(code, "482 913 075");
        assert_eq!(child.wait_for_line("do", Duration::from_secs(10)).unwrap(), "ne");
    }

    #[test]
    fn wait_for_line_errors_show_earlier_lines() {
        let mut child = ChildProcess::spawn(sh("echo first; echo second; exec sleep 30")).unwrap();
        let err = child.wait_for_line("never", Duration::from_millis(300)).unwrap_err().to_string();
        assert!(err.contains("within 300ms") && err.contains("first\n  second"), "{err}");

        let mut child = ChildProcess::spawn(sh("echo only; exit 3")).unwrap();
        let err = child.wait_for_line("never", Duration::from_secs(10)).unwrap_err().to_string();
        assert!(err.contains("closed stdout") && err.contains("only"), "{err}");
    }

    #[test]
    fn drop_kills_the_child() {
        let child = ChildProcess::spawn(sh("exec sleep 30")).unwrap();
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        drop(child);
        // Reaped by drop, so the pid no longer exists (signal 0 checks existence).
        assert!(rustix::process::test_kill_process(pid).is_err());
    }

    #[test]
    fn terminate_sends_sigterm_first() {
        let mut child = ChildProcess::spawn(sh(
            "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done",
        ))
        .unwrap();
        child.wait_for_line("ready", Duration::from_secs(10)).unwrap();
        let status = child.terminate(Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(7));
        child.wait_for_line("got-term", Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn missing_binary_says_to_build_it() {
        let err = ChildProcess::spawn(Command::new(workspace_bin("no-such-binary"))).err().unwrap();
        assert!(format!("{err:#}").contains("cargo build --workspace --bins"), "{err:#}");
    }

    #[test]
    fn workspace_bin_is_in_the_profile_directory() {
        let path = workspace_bin("tether-agent");
        assert!(path.parent().unwrap().join("deps").is_dir(), "{path:?}");
    }
}
