//! A private PulseAudio server per test: a null sink as the default output, reachable only
//! through its own socket; tones played into it; stopped (and its files removed) on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The null sink every test plays into; its monitor is what the agent captures.
pub const SINK: &str = "tether_out";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct PulseServer {
    dir: PathBuf,
    child: Child,
}

impl PulseServer {
    /// Starts `pulseaudio` with only `module-null-sink` and `module-native-protocol-unix`
    /// (no autospawn, no idle exit, no D-Bus, no hardware) and waits until it answers.
    pub fn start() -> Result<Self> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tether-pulse-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("runtime"))?;
        let socket = dir.join("native");
        std::fs::write(
            dir.join("default.pa"),
            format!(
                "load-module module-null-sink sink_name={SINK} rate=48000 channels=2\n\
                 load-module module-native-protocol-unix auth-anonymous=1 socket={}\n\
                 set-default-sink {SINK}\n",
                socket.display()
            ),
        )?;
        std::fs::write(dir.join("client.conf"), "autospawn = no\n")?;
        let mut command = Command::new("pulseaudio");
        command
            .arg("-n")
            .arg("-F")
            .arg(dir.join("default.pa"))
            .args(["--exit-idle-time=-1", "--daemonize=no", "--use-pid-file=no"])
            .args(["--log-target=stderr", "--log-level=error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        Self::private_env(&mut command, &dir);
        let child = command.spawn().context("cannot start pulseaudio (scripts/deps.sh test)")?;
        let mut server = PulseServer { dir, child };
        server.wait_ready()?;
        Ok(server)
    }

    /// What a client needs to reach this server; can be moved to other threads.
    pub fn client(&self) -> PulseClient {
        PulseClient { dir: self.dir.clone() }
    }

    /// Points `command` at this server (and nowhere else).
    pub fn configure(&self, command: &mut Command) {
        self.client().configure(command);
    }

    fn private_env(command: &mut Command, dir: &Path) {
        command
            .env("HOME", dir)
            .env("XDG_RUNTIME_DIR", dir.join("runtime"))
            .env("PULSE_RUNTIME_PATH", dir.join("runtime"))
            .env("PULSE_STATE_PATH", dir.join("state"))
            .env("PULSE_CLIENTCONFIG", dir.join("client.conf"));
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("pulseaudio exited at start ({status})");
            }
            let mut pactl = Command::new("pactl");
            pactl.arg("info").stdout(Stdio::null()).stderr(Stdio::null());
            self.configure(&mut pactl);
            if pactl.status().is_ok_and(|s| s.success()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("pulseaudio did not answer within {READY_TIMEOUT:?}")
    }

    /// Plays `wav` into the sink and waits until it has been played.
    pub fn play(&self, wav: &Path) -> Result<()> {
        self.client().play(wav)
    }

    /// Records what the sink plays (its monitor) into `raw`, as 48 kHz stereo s16le, until the
    /// returned child is killed (read it with [`crate::tone::read_raw_mono`]).
    pub fn spawn_record(&self, raw: &Path) -> Result<Child> {
        let mut parec = Command::new("parec");
        parec
            .arg(format!("--device={SINK}.monitor"))
            .args(["--raw", "--format=s16le", "--rate=48000", "--channels=2"])
            .arg("--latency-msec=20")
            .stdout(std::fs::File::create(raw)?);
        self.configure(&mut parec);
        parec.spawn().context("cannot start parec")
    }

    /// A scratch directory that goes away with the server.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PulseServer {
    fn drop(&mut self) {
        let _ = crate::process::terminate(&mut self.child, Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client's view of a [`PulseServer`]: its environment, and tones played into its sink.
#[derive(Debug, Clone)]
pub struct PulseClient {
    dir: PathBuf,
}

impl PulseClient {
    /// The `PULSE_SERVER` value that reaches the server.
    pub fn server(&self) -> String {
        format!("unix:{}", self.dir.join("native").display())
    }

    /// Points `command` at the server (and nowhere else).
    pub fn configure(&self, command: &mut Command) {
        PulseServer::private_env(command, &self.dir);
        command.env("PULSE_SERVER", self.server());
    }

    /// A `paplay` of `wav` into the sink, started and not waited for.
    pub fn spawn_play(&self, wav: &Path) -> Result<Child> {
        let mut paplay = Command::new("paplay");
        paplay.arg(format!("--device={SINK}")).arg(wav).stdout(Stdio::null());
        self.configure(&mut paplay);
        paplay.spawn().context("cannot start paplay")
    }

    /// Plays `wav` into the sink and waits until it has been played.
    pub fn play(&self, wav: &Path) -> Result<()> {
        let status = self.spawn_play(wav)?.wait()?;
        if !status.success() {
            bail!("paplay {} failed ({status})", wav.display());
        }
        Ok(())
    }
}
