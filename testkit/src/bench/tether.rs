//! Tether's own runs on a scenario's display: the agent, and `tether-viewer --headless
//! --latency-probe` as the native viewer (the browser one is in `browser.rs`).

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustix::process::{Pid, Signal, kill_process};
use tether_media::telemetry::{AudioOnset, AudioReceiveStats, ParseError, ViewerStats};
use tether_testkit::process::ChildProcess;
use tether_testkit::pulse::PulseServer;

use super::audio::{ToneBursts, describe_delays, median, onset_delays};
use super::pin::Placement;
use super::procfs::{Sampler, child_named};
use super::report::{Measured, Timed, audio_kbps, show, stats_means};

/// For the agent's `server:`/`code:` lines and the viewer's `state: connected`.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// For the viewer's last lines, beyond its `--duration` counted from `state: connected`.
const END_GRACE: Duration = Duration::from_secs(30);
/// For the agent's `video:` line and for each process to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// What every run on one scenario's display shares.
pub struct Setup<'a> {
    pub agent: &'a Path,
    pub viewer: &'a Path,
    pub display: &'a str,
    pub size: (u32, u32),
    pub pulse: Option<&'a PulseServer>,
    pub agent_args: &'a str,
    pub seconds: u64,
    pub warmup: f64,
    pub hz: u64,
    pub placement: Placement,
}

/// A running agent and what it printed to be joined.
pub struct Agent {
    pub child: ChildProcess,
    /// Its embedded server's address (`http://127.0.0.1:PORT`).
    pub server: String,
    pub code: String,
}

pub fn spawn_agent(s: &Setup) -> Result<Agent> {
    let mut command = Command::new(s.agent);
    command
        .args(["--bind", "127.0.0.1:0", "--udp-bind", "127.0.0.1:0", "--auto-allow"])
        .args(["--no-tray", "--max-fps", "60"])
        .args(s.agent_args.split_whitespace())
        .env("DISPLAY", s.display)
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null());
    match s.pulse {
        Some(pulse) => pulse.configure(&mut command),
        None => {
            command.arg("--no-audio");
        }
    }
    quiet_logs(&mut command);
    let mut child = ChildProcess::spawn(command).context("cannot start tether-agent")?;
    let server = child.wait_for_line("server: ", START_TIMEOUT)?.trim().to_owned();
    let code = child.wait_for_line("code: ", START_TIMEOUT)?.trim().to_owned();
    Ok(Agent { child, server, code })
}

/// Waits for the agent's `video:` line (printed when the session's video stops), sends SIGINT
/// if it is still running, and waits for it to exit.
pub fn stop_agent(agent: &mut Agent) -> (Result<String>, Result<ExitStatus>) {
    let child = &mut agent.child;
    let mut video = child.wait_for_line("video: ", EXIT_TIMEOUT);
    if let Err(err) = interrupt(child) {
        return (video, Err(err));
    }
    if video.is_err() {
        video = child.wait_for_line("video: ", EXIT_TIMEOUT).context(
            "tether-agent printed no `video:` line after the viewer hung up, nor after SIGINT",
        );
    }
    (video, wait_exit(child, EXIT_TIMEOUT))
}

fn interrupt(child: &mut ChildProcess) -> Result<()> {
    if child.try_wait()?.is_none() {
        let pid = Pid::from_raw(child.id() as i32).context("odd agent pid")?;
        kill_process(pid, Signal::INT).context("cannot send SIGINT to the agent")?;
    }
    Ok(())
}

/// Tether into tether-viewer; fills `m` as figures arrive so that a failure part-way still
/// reports them.
pub fn native(s: &Setup, motion: bool, probe: bool, m: &mut Measured) -> Result<()> {
    let mut agent = spawn_agent(s)?;
    let mut command = s.placement.supporter(s.viewer);
    command
        .arg(&agent.code)
        .args(["--server", &agent.server, "--headless", "--udp-bind", "127.0.0.1:0"])
        .args(["--latency-probe", "--duration", &format!("{}s", s.seconds)])
        .stdin(Stdio::null());
    quiet_logs(&mut command);
    let mut viewer =
        ChildProcess::spawn_as("tether-viewer", command).context("cannot start tether-viewer")?;
    // agent, viewer, this process (painter), and Xvfb if it can be found.
    let mut pids = vec![agent.child.id(), viewer.id(), std::process::id()];
    pids.extend(child_named(std::process::id(), "Xvfb"));
    let sampler = Sampler::start(pids, SAMPLE_EVERY)?;
    let joined = Instant::now();
    let pair = viewer.wait_for_line("state: connected", START_TIMEOUT)?;
    let connected = Instant::now();
    let bursts = s.pulse.map(ToneBursts::start).transpose()?;
    m.details.push(format!(
        "connected {:.2} s after the viewer started; selected pair{pair}",
        (connected - joined).as_secs_f64()
    ));

    // Every viewer line until `latency:`, which it prints last.
    let deadline = connected + Duration::from_secs(s.seconds) + END_GRACE;
    let mut stats: Vec<Timed<ViewerStats>> = Vec::new();
    let mut audio_stats: Vec<Timed<AudioReceiveStats>> = Vec::new();
    let mut onsets: Vec<AudioOnset> = Vec::new();
    let mut ended = None;
    let viewer_outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match viewer.wait_for_line("", left) {
            Ok(line) => line,
            Err(err) => break Err(err),
        };
        let at = Instant::now();
        m.raw.push(format!("viewer: {line}"));
        let warnings = &mut m.warnings;
        if line.starts_with("stats: ") {
            stats.extend(parse(&line, warnings).map(|stats| Timed { at, stats }));
        } else if line.starts_with("audio: kbps=") {
            audio_stats.extend(parse(&line, warnings).map(|stats| Timed { at, stats }));
        } else if line.starts_with("audio: onset") {
            onsets.extend(parse::<AudioOnset>(&line, warnings));
        } else if line.starts_with("latency: ") {
            m.latency = parse(&line, warnings);
            break Ok(());
        } else if line.starts_with("state: ended") {
            ended.get_or_insert(at);
        }
    };
    let viewer_status = wait_exit(&mut viewer, EXIT_TIMEOUT);
    let burst_times = bursts.map(ToneBursts::stop).unwrap_or_default();
    let (video, agent_status) = stop_agent(&mut agent);
    let samples = sampler.stop();

    // Figures.
    let to = ended.or(stats.last().map(|s| s.at)).unwrap_or_else(Instant::now);
    let mut from = connected + Duration::from_secs_f64(s.warmup.max(0.0));
    if to.saturating_duration_since(from) < Duration::from_secs(1) {
        m.warnings.push("run too short for the warm-up: measured from `state: connected`".into());
        from = connected;
    }
    let window = to.saturating_duration_since(from).as_secs_f64();
    let means = stats_means(&stats, from, to);
    m.fps = means.fps;
    m.kbps = means.kbps;
    m.decode_ms = means.decode_ms;
    m.agent_cpu = samples.cpu_percent(0, from, to, s.hz);
    m.viewer_cpu = samples.cpu_percent(1, from, to, s.hz);
    let mib = |kib: Option<u64>| kib.map(|k| k as f64 / 1024.0);
    m.agent_rss_mib = mib(samples.peak_kib.first().copied().flatten());
    m.viewer_rss_mib = mib(samples.peak_kib.get(1).copied().flatten());
    m.details.push(format!(
        "measured {window:.1} s ({} per-second stats lines); CPU % of one core: agent {}, \
         viewer {}, tether-bench itself (painter) {}, Xvfb {}",
        means.lines,
        show(m.agent_cpu, 0),
        show(m.viewer_cpu, 0),
        show(samples.cpu_percent(2, from, to, s.hz), 0),
        show(samples.cpu_percent(3, from, to, s.hz), 0),
    ));
    let cores = super::procfs::machine_cores();
    let busy = samples.system_percent(from, to, cores);
    let ours: Option<f64> = (0..4).map(|i| samples.cpu_percent(i, from, to, s.hz)).sum();
    m.details.push(format!(
        "machine: {} % of one core busy out of {}; of that, everything else (other jobs, \
         kernel) {} %",
        show(busy, 0),
        cores * 100,
        show(busy.zip(ours).map(|(b, o)| (b - o).max(0.0)), 0),
    ));
    if s.pulse.is_some() {
        let delays = onset_delays(&burst_times, &onsets);
        m.audio_kbps = audio_kbps(&audio_stats, from, to);
        m.audio_delay_ms = median(&delays);
        m.details.push(format!(
            "audio: {} kbit/s mean ({} ms 1 kHz bursts every 1.5 s, silence between); \
             delay burst played -> arrived at the viewer: {}",
            show(m.audio_kbps, 1),
            super::audio::BURST_MS,
            describe_delays(&delays)
        ));
    }
    let last_stats = stats.last().map(|s| &s.stats);
    if let Some(frames) = last_stats.map(|l| l.frames) {
        let secs = to.saturating_duration_since(connected).as_secs_f64().max(0.001);
        m.details.push(format!(
            "frames decoded / connected seconds: {frames} / {secs:.1} = {:.1} fps",
            frames as f64 / secs
        ));
    }
    match video {
        Ok(v) => {
            m.video = parse(&format!("video: {v}"), &mut m.warnings);
            m.raw.push(format!("agent: video: {v}"));
        }
        Err(err) => m.warnings.push(format!("{err:#}")),
    }
    for (name, status) in [("tether-viewer", viewer_status), ("tether-agent", agent_status)] {
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => m.warnings.push(format!("{name} exited with {status}")),
            Err(err) => m.warnings.push(format!("{name}: {err:#}")),
        }
    }
    m.check(motion, probe, last_stats);
    viewer_outcome.context("reading the viewer's output")
}

/// `line` as a telemetry value; one that does not parse becomes a warning instead.
fn parse<T: FromStr<Err = ParseError>>(line: &str, warnings: &mut Vec<String>) -> Option<T> {
    line.parse().map_err(|err| warnings.push(format!("{err}: {line}"))).ok()
}

/// Child logs (stderr, inherited) at warnings plus Tether's own info lines, without colour,
/// unless the caller set `RUST_LOG` / `NO_COLOR` themselves.
pub fn quiet_logs(command: &mut Command) {
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "warn,tether_agent=info,tether_viewer=info");
    }
    if std::env::var_os("NO_COLOR").is_none() {
        command.env("NO_COLOR", "1");
    }
}

/// Waits up to `timeout` for `child` to exit; then terminates it and says so.
pub fn wait_exit(child: &mut ChildProcess, timeout: Duration) -> Result<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.terminate(Duration::from_secs(5))?;
    bail!("did not exit within {timeout:?}; terminated ({status})")
}
