//! `tether-bench`: glass-to-glass latency, frame rate, CPU and memory of a local agent and
//! headless viewer on private Xvfb displays, printed in the form of
//! `shared/notes/latency-bar.md` so the figures compare line by line.
//!
//! Per scenario: Xvfb of the scenario's size; a painter thread that moves full-screen colour
//! bars and then paints the wall clock as the latency probe every `--paint-ms` (or a static
//! test pattern); `tether-agent` with its embedded signaling server on loopback; `tether-viewer
//! --headless --latency-probe --duration N`. CPU and fps are measured from `--warmup` seconds
//! after the viewer's `state: connected` until its hang-up; latency is the viewer's own figure
//! over the whole session. Run it from `target/release/` after `cargo build --release
//! --workspace`: it starts the agent and viewer found next to itself.
#![forbid(unsafe_code)]

#[path = "../bench/mod.rs"]
mod bench;

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench::audio::{ToneBursts, describe_delays, median, onset_delays};
use bench::motion::PaintLoop;
use bench::procfs::{Sampler, child_named, clock_ticks_per_second};
use bench::report::{HEADER, Measured, Timed, show, stats_means};
use clap::Parser;
use rustix::process::{Pid, Signal, kill_process};
use tether_testkit::paint::Painter;
use tether_testkit::process::{ChildProcess, workspace_bin};
use tether_testkit::pulse::PulseServer;
use tether_testkit::xvfb::Xvfb;

/// For the agent's `server:`/`code:` lines and the viewer's `state: connected`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// For the viewer's last lines, beyond its `--duration` counted from `state: connected`.
const END_GRACE: Duration = Duration::from_secs(30);
/// For the agent's `video:` line and for each process to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Moving bars and the clock.
    Motion,
    /// A test pattern painted once; nothing changes.
    Static,
    /// The test pattern with only the clock changing (latency-bar.md's "static" figures).
    Clock,
}

struct Scenario {
    name: &'static str,
    label: &'static str,
    size: (u32, u32),
    kind: Kind,
    /// Run when no `--only` is given.
    default: bool,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "1080-motion",
        label: "1920x1080 motion",
        size: (1920, 1080),
        kind: Kind::Motion,
        default: true,
    },
    Scenario {
        name: "1080-static",
        label: "1920x1080 static",
        size: (1920, 1080),
        kind: Kind::Static,
        default: true,
    },
    Scenario {
        name: "720-motion",
        label: "1280x720 motion",
        size: (1280, 720),
        kind: Kind::Motion,
        default: true,
    },
    Scenario {
        name: "1080-clock",
        label: "1920x1080 static + clock",
        size: (1920, 1080),
        kind: Kind::Clock,
        default: false,
    },
];

/// Measure Tether's glass-to-glass latency, frame rate, CPU and memory on loopback.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Seconds each scenario runs (the viewer's --duration).
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(3..))]
    seconds: u64,
    /// Milliseconds between the painter's ticks (motion, then the clock).
    #[arg(long, value_name = "MS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    paint_ms: u64,
    /// Run only this scenario (repeatable): 1080-motion, 1080-static, 720-motion, or 1080-clock
    /// (the static screen with only the painted clock changing; not run by default).
    #[arg(long, value_name = "SCENARIO")]
    only: Vec<String>,
    /// Extra arguments for tether-agent, split on whitespace, e.g. "--bitrate 4000".
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    agent_args: Option<String>,
    /// Seconds after the viewer's `state: connected` left out of CPU and fps figures.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    warmup: f64,
    /// No system audio: no PulseAudio server, and the agent runs with --no-audio.
    #[arg(long)]
    no_audio: bool,
}

struct Bins {
    agent: PathBuf,
    viewer: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("tether-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the scenarios and prints the table; false if any scenario failed.
fn run(cli: &Cli) -> Result<bool> {
    let scenarios: Vec<&Scenario> = if cli.only.is_empty() {
        SCENARIOS.iter().filter(|s| s.default).collect()
    } else {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        cli.only
            .iter()
            .flat_map(|o| o.split(','))
            .map(|o| {
                SCENARIOS
                    .iter()
                    .find(|s| s.name == o.trim())
                    .with_context(|| format!("no scenario {o:?}; there are: {}", names.join(", ")))
            })
            .collect::<Result<_>>()?
    };
    let bins =
        Bins { agent: workspace_bin("tether-agent"), viewer: workspace_bin("tether-viewer") };
    for bin in [&bins.agent, &bins.viewer] {
        if !bin.is_file() {
            bail!(
                "{} not found: build everything first with `cargo build --release --workspace` \
                 and run target/release/tether-bench (it starts the binaries next to itself)",
                bin.display()
            );
        }
    }
    let hz = clock_ticks_per_second();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "tether-bench: {} s per scenario, paint every {} ms, warm-up {} s, {cores} cores, \
         CLK_TCK {hz}, agent args {:?}",
        cli.seconds,
        cli.paint_ms,
        cli.warmup,
        cli.agent_args.as_deref().unwrap_or("")
    );
    let mut results = Vec::new();
    for scenario in scenarios {
        println!("== {} ({})", scenario.name, scenario.label);
        let mut measured = Measured { label: scenario.label.to_owned(), ..Measured::default() };
        if let Err(err) = measure(cli, scenario, hz, &bins, &mut measured) {
            eprintln!("tether-bench: {} failed: {err:#}", scenario.name);
            measured.failure = Some(format!("{err:#}"));
        }
        results.push(measured);
    }

    println!("\n{HEADER}");
    for m in &results {
        println!("{}", m.row());
    }
    println!(
        "\nfps, CPU and kbit/s: from {} s after `state: connected` to the viewer's hang-up; \
         latency: the viewer's own figures over the whole session; RSS: peak (VmHWM).",
        cli.warmup
    );
    for m in &results {
        println!("\n### {}", m.label);
        if let Some(failure) = &m.failure {
            println!("FAILED: {failure}");
        }
        m.details.iter().for_each(|d| println!("{d}"));
        m.raw.iter().for_each(|r| println!("  {r}"));
        m.warnings.iter().for_each(|w| println!("WARNING: {w}"));
    }
    Ok(results.iter().all(|m| m.failure.is_none()))
}

/// One scenario; fills `m` as figures arrive so that a failure part-way still reports them.
fn measure(cli: &Cli, s: &Scenario, hz: u64, bins: &Bins, m: &mut Measured) -> Result<()> {
    let (width, height) = s.size;
    // Declared first so that it is dropped (stopped and removed) last.
    let xvfb = Xvfb::start(width, height).context("cannot start Xvfb")?;
    let display = xvfb.display().to_owned();
    let interval = Duration::from_millis(cli.paint_ms);
    if s.kind != Kind::Motion {
        Painter::connect(&display)?.fill_test_pattern(width, height)?;
    }
    let painter = match s.kind {
        Kind::Motion => Some(PaintLoop::start(&display, s.size, interval, true)?),
        Kind::Clock => Some(PaintLoop::start(&display, s.size, interval, false)?),
        Kind::Static => None,
    };

    // Tone bursts go into its null sink; the agent captures the monitor.
    let pulse = match cli.no_audio {
        true => None,
        false => Some(PulseServer::start().context("cannot start pulseaudio")?),
    };
    let mut command = Command::new(&bins.agent);
    command
        .args(["--bind", "127.0.0.1:0", "--udp-bind", "127.0.0.1:0", "--auto-allow"])
        .args(["--no-tray", "--max-fps", "60"])
        .args(cli.agent_args.as_deref().unwrap_or("").split_whitespace())
        .env("DISPLAY", &display)
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null());
    match &pulse {
        Some(pulse) => pulse.configure(&mut command),
        None => {
            command.arg("--no-audio");
        }
    }
    quiet_logs(&mut command);
    let mut agent = ChildProcess::spawn(command).context("cannot start tether-agent")?;
    let server = agent.wait_for_line("server: ", START_TIMEOUT)?.trim().to_owned();
    let code = agent.wait_for_line("code: ", START_TIMEOUT)?.trim().to_owned();

    let mut command = Command::new(&bins.viewer);
    command
        .arg(&code)
        .args(["--server", &server, "--headless", "--udp-bind", "127.0.0.1:0"])
        .args(["--latency-probe", "--duration", &format!("{}s", cli.seconds)])
        .stdin(Stdio::null());
    quiet_logs(&mut command);
    let mut viewer = ChildProcess::spawn(command).context("cannot start tether-viewer")?;
    // agent, viewer, this process (painter), and Xvfb if it can be found.
    let mut pids = vec![agent.id(), viewer.id(), std::process::id()];
    pids.extend(child_named(std::process::id(), "Xvfb"));
    let sampler = Sampler::start(pids, SAMPLE_EVERY)?;
    let joined = Instant::now();
    let pair = viewer.wait_for_line("state: connected", START_TIMEOUT)?;
    let connected = Instant::now();
    let bursts = pulse.as_ref().map(ToneBursts::start).transpose()?;
    m.details.push(format!(
        "connected {:.2} s after the viewer started; selected pair{pair}",
        (connected - joined).as_secs_f64()
    ));

    // Every viewer line until `latency:`, which it prints last.
    let deadline = connected + Duration::from_secs(cli.seconds) + END_GRACE;
    let mut stats: Vec<Timed> = Vec::new();
    let (mut audio_stats, mut onsets): (Vec<Timed>, Vec<String>) = (Vec::new(), Vec::new());
    let mut ended = None;
    let viewer_outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match viewer.wait_for_line("", left) {
            Ok(line) => line,
            Err(err) => break Err(err),
        };
        let at = Instant::now();
        m.raw.push(format!("viewer: {line}"));
        if line.starts_with("stats: ") {
            stats.push(Timed { at, line });
        } else if line.starts_with("audio: kbps=") {
            audio_stats.push(Timed { at, line });
        } else if line.starts_with("audio: onset") {
            onsets.push(line);
        } else if line.starts_with("latency: ") {
            m.latency = Some(line);
            break Ok(());
        } else if line.starts_with("state: ended") {
            ended.get_or_insert(at);
        }
    };
    let viewer_status = wait_exit(&mut viewer, EXIT_TIMEOUT);
    let burst_times = bursts.map(ToneBursts::stop).unwrap_or_default();
    let painted = painter.map(PaintLoop::stop).transpose();

    // The agent prints `video:` when the session's video stops (the viewer's bye); SIGINT
    // makes it stop if that did not happen.
    let mut video = agent.wait_for_line("video: ", EXIT_TIMEOUT);
    let agent_pid = Pid::from_raw(agent.id() as i32).context("odd agent pid")?;
    if agent.try_wait()?.is_none() {
        kill_process(agent_pid, Signal::INT).context("cannot send SIGINT to the agent")?;
    }
    if video.is_err() {
        video = agent.wait_for_line("video: ", EXIT_TIMEOUT).context(
            "tether-agent printed no `video:` line after the viewer hung up, nor after SIGINT",
        );
    }
    let agent_status = wait_exit(&mut agent, EXIT_TIMEOUT);
    let samples = sampler.stop();

    // Figures.
    let to = ended.or(stats.last().map(|s| s.at)).unwrap_or_else(Instant::now);
    let mut from = connected + Duration::from_secs_f64(cli.warmup.max(0.0));
    if to.saturating_duration_since(from) < Duration::from_secs(1) {
        m.warnings.push("run too short for the warm-up: measured from `state: connected`".into());
        from = connected;
    }
    let window = to.saturating_duration_since(from).as_secs_f64();
    let means = stats_means(&stats, from, to);
    m.fps = means.fps;
    m.kbps = means.kbps;
    m.decode_ms = means.decode_ms;
    m.agent_cpu = samples.cpu_percent(0, from, to, hz);
    let mib = |kib: Option<u64>| kib.map(|k| k as f64 / 1024.0);
    m.agent_rss_mib = mib(samples.peak_kib.first().copied().flatten());
    m.viewer_rss_mib = mib(samples.peak_kib.get(1).copied().flatten());
    m.details.push(format!(
        "measured {window:.1} s ({} per-second stats lines); CPU % of one core: agent {}, \
         viewer {}, tether-bench itself (painter) {}, Xvfb {}",
        means.lines,
        show(m.agent_cpu, 0),
        show(samples.cpu_percent(1, from, to, hz), 0),
        show(samples.cpu_percent(2, from, to, hz), 0),
        show(samples.cpu_percent(3, from, to, hz), 0),
    ));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let busy = samples.system_percent(from, to, cores);
    let ours: Option<f64> = (0..4).map(|i| samples.cpu_percent(i, from, to, hz)).sum();
    m.details.push(format!(
        "machine: {} % of one core busy out of {}; of that, everything else (other jobs, \
         kernel) {} %",
        show(busy, 0),
        cores * 100,
        show(busy.zip(ours).map(|(b, o)| (b - o).max(0.0)), 0),
    ));
    if pulse.is_some() {
        let delays = onset_delays(&burst_times, &onsets);
        m.audio_kbps = stats_means(&audio_stats, from, to).kbps;
        m.audio_delay_ms = median(&delays);
        m.details.push(format!(
            "audio: {} kbit/s mean ({} ms 1 kHz bursts every 1.5 s, silence between); \
             delay burst played -> arrived at the viewer: {}",
            show(m.audio_kbps, 1),
            bench::audio::BURST_MS,
            describe_delays(&delays)
        ));
    }
    let last_stats = stats.last().map(|s| s.line.clone());
    if let Some(frames) = last_stats.as_deref().and_then(|l| bench::report::number(l, "frames")) {
        let secs = to.saturating_duration_since(connected).as_secs_f64().max(0.001);
        m.details.push(format!(
            "frames decoded / connected seconds: {frames:.0} / {secs:.1} = {:.1} fps",
            frames / secs
        ));
    }
    match &painted {
        Ok(Some(p)) => m.details.push(format!(
            "painter: {} ticks in {:.1} s ({:.0}/s, {} late), {:.2} ms per tick",
            p.ticks,
            p.seconds,
            p.ticks as f64 / p.seconds.max(0.001),
            p.late,
            p.paint_us as f64 / 1000.0 / p.ticks.max(1) as f64
        )),
        Ok(None) => m.details.push("painter: none (test pattern painted once)".into()),
        Err(err) => m.warnings.push(format!("painter failed: {err:#}")),
    }
    match video {
        Ok(v) => {
            m.video = Some(format!("video: {v}"));
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
    m.check(s.kind == Kind::Motion, s.kind != Kind::Static, last_stats.as_deref());
    viewer_outcome.context("reading the viewer's output")
}

/// Child logs (stderr, inherited) at warnings plus Tether's own info lines, without colour,
/// unless the caller set `RUST_LOG` / `NO_COLOR` themselves.
fn quiet_logs(command: &mut Command) {
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "warn,tether_agent=info,tether_viewer=info");
    }
    if std::env::var_os("NO_COLOR").is_none() {
        command.env("NO_COLOR", "1");
    }
}

/// Waits up to `timeout` for `child` to exit; then terminates it and says so.
fn wait_exit(child: &mut ChildProcess, timeout: Duration) -> Result<std::process::ExitStatus> {
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
