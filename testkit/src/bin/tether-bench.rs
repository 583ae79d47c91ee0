//! `tether-bench`: glass-to-glass latency, frame rate, CPU and memory of Tether and of the
//! GStreamer pipeline a user could pick instead, each into a native viewer and into headless
//! Chromium, in one run on the same painted Xvfb display, printed in the form of
//! `shared/notes/latency-bar.md` with Tether / GStreamer-openh264 ratios.
//!
//! Per scenario: Xvfb of the scenario's size; a painter thread that moves full-screen colour
//! bars and then paints the wall clock as the latency probe every `--paint-ms` (or a static
//! test pattern). On it, one after the other, each for `--seconds`:
//! - Tether: `tether-agent` (embedded signaling server on loopback) into `tether-viewer
//!   --headless --latency-probe` (`bench/tether.rs`) and into its own page in Chromium
//!   (`bench/browser.rs`, `e2e/browser/bench.mjs`);
//! - GStreamer openh264 and x264 (`bench/gst.rs`): RTP over UDP into a second gst-launch, and
//!   webrtcbin (`testkit/gst/webrtc_sender.py`) into a Chromium page.
//!
//! CPU and fps are measured from `--warmup` seconds after the first frame (the native viewer:
//! after `state: connected`). Run it from `target/release/` after `cargo build --release
//! --workspace` (it starts the agent and viewer found next to itself), or use
//! `scripts/bench.sh`, which also installs GStreamer, Chromium and playwright-core.
#![forbid(unsafe_code)]

#[path = "../bench/mod.rs"]
mod bench;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bench::compare::{self, Row, Sender, Viewer};
use bench::motion::PaintLoop;
use bench::pin::Placement;
use bench::procfs::{clock_ticks_per_second, machine_cores};
use bench::report::{HEADER, Measured};
use bench::scenario::{Kind, Scenario};
use bench::tether::{Setup, quiet_logs};
use bench::{browser, gst};
use clap::Parser;
use tether_testkit::paint::Painter;
use tether_testkit::process::workspace_bin;
use tether_testkit::pulse::PulseServer;
use tether_testkit::xvfb::Xvfb;

/// Measure Tether's glass-to-glass latency, frame rate, CPU and memory on loopback, beside
/// the GStreamer baselines.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Seconds each run lasts (the viewer's --duration).
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(3..))]
    seconds: u64,
    /// Milliseconds between the painter's ticks (motion, then the clock).
    #[arg(long, value_name = "MS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    paint_ms: u64,
    /// Run only this scenario (repeatable or comma-separated): 1080-motion, 1080-static,
    /// 720-motion, or 1080-clock (the static screen with only the painted clock changing; not
    /// run by default).
    #[arg(long, value_name = "SCENARIO")]
    only: Vec<String>,
    /// Instead of the scenarios, run Tether over the link lab with these profiles
    /// (comma-separated; `all`): 2mbit, 5mbit-2loss-60ms, 5loss-100ms, 20-1-20. Each runs
    /// with congestion control and with --fixed-bitrate. Needs root.
    #[arg(long, value_name = "PROFILES", value_delimiter = ',')]
    link: Vec<String>,
    /// Viewers, comma-separated: native (tether-viewer; for GStreamer a gst-launch receiver),
    /// browser (headless Chromium).
    #[arg(long, value_name = "LIST", default_value = "native,browser", value_delimiter = ',')]
    viewers: Vec<String>,
    /// GStreamer baselines, comma-separated: openh264, x264.
    #[arg(long, value_name = "LIST", default_value = "openh264,x264", value_delimiter = ',')]
    baseline: Vec<String>,
    /// No GStreamer baselines (Tether's rows only).
    #[arg(long)]
    no_baseline: bool,
    /// Pin the agent's side (Xvfb, painter, agent, GStreamer sender) to core 0 and the
    /// supporter's (viewers, Chromium, GStreamer receiver) to core 1.
    #[arg(long)]
    pin: bool,
    /// Extra arguments for tether-agent, split on whitespace, e.g. "--bitrate 4000".
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    agent_args: Option<String>,
    /// Seconds after the first frame (`state: connected`) left out of CPU and fps figures.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    warmup: f64,
    /// Pointer moves and key taps for the input latency run after the scenarios (0: none).
    #[arg(long, value_name = "N", default_value_t = 200)]
    input_events: usize,
    /// No system audio: no PulseAudio server, and the agent runs with --no-audio.
    #[arg(long)]
    no_audio: bool,
    /// MiB of a file sent viewer -> agent during a 1280x720 motion session after the
    /// scenarios, against the same session without it (0: not run).
    #[arg(long, value_name = "MIB", default_value_t = 0)]
    file_mib: u64,
}

/// What to run on each scenario's display.
struct Plan {
    viewers: Vec<Viewer>,
    baselines: Vec<Sender>,
    placement: Placement,
}

impl Plan {
    fn from(cli: &Cli) -> Result<Self> {
        let viewers = cli
            .viewers
            .iter()
            .map(|v| match v.trim() {
                "native" => Ok(Viewer::Native),
                "browser" | "chromium" => Ok(Viewer::Browser),
                other => bail!("no viewer {other:?}; there are: native, browser"),
            })
            .collect::<Result<Vec<_>>>()?;
        let baselines = match cli.no_baseline {
            true => Vec::new(),
            false => cli
                .baseline
                .iter()
                .filter(|b| !b.trim().is_empty())
                .map(|b| match b.trim() {
                    "openh264" => Ok(Sender::Openh264),
                    "x264" => Ok(Sender::X264),
                    other => bail!("no baseline {other:?}; there are: openh264, x264"),
                })
                .collect::<Result<Vec<_>>>()?,
        };
        let placement = if cli.pin { Placement::Pinned } else { Placement::Free };
        Ok(Plan { viewers, baselines, placement })
    }
}

struct Bins {
    agent: PathBuf,
    viewer: PathBuf,
}

/// One scenario's figures.
struct Outcome {
    label: String,
    /// Tether into tether-viewer, in full (the first table).
    measured: Option<Measured>,
    rows: Vec<Row>,
    notes: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let plan = match Plan::from(&cli) {
        Ok(plan) => plan,
        Err(err) => {
            eprintln!("tether-bench: {err:#}");
            return ExitCode::from(2);
        }
    };
    // First, before any thread exists, so that every thread and child inherits it.
    if let Err(err) = plan.placement.pin_self() {
        eprintln!("tether-bench: {err:#}");
        return ExitCode::FAILURE;
    }
    match run(&cli, &plan) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("tether-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the scenarios and prints the tables; false if any Tether run failed.
fn run(cli: &Cli, plan: &Plan) -> Result<bool> {
    let scenarios = bench::scenario::select(&cli.only)?;
    let bins =
        Bins { agent: workspace_bin("tether-agent"), viewer: workspace_bin("tether-viewer") };
    if !cli.link.is_empty() {
        return bench::link::run_profiles(&cli.link, &bins.agent, &bins.viewer);
    }
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
    let cores = machine_cores();
    println!(
        "tether-bench: {} s per run, paint every {} ms, warm-up {} s, {cores} cores, CLK_TCK \
         {hz}, agent args {:?}, {}",
        cli.seconds,
        cli.paint_ms,
        cli.warmup,
        cli.agent_args.as_deref().unwrap_or(""),
        plan.placement.describe()
    );
    let mut outcomes = Vec::new();
    for scenario in scenarios {
        println!("== {} ({})", scenario.name, scenario.label);
        let mut outcome = Outcome {
            label: scenario.label.to_owned(),
            measured: None,
            rows: Vec::new(),
            notes: Vec::new(),
        };
        if let Err(err) = measure(cli, plan, scenario, hz, &bins, &mut outcome) {
            eprintln!("tether-bench: {} failed: {err:#}", scenario.name);
            outcome.notes.push(format!("FAILED: {err:#}"));
        }
        outcomes.push(outcome);
    }
    print_report(cli, &outcomes);
    let input_ok = cli.input_events == 0 || input_latency(cli, &bins);
    let files_ok = cli.file_mib == 0 || file_transfer(cli, &bins);
    let tether_ok = outcomes.iter().all(|o| {
        o.measured.as_ref().is_none_or(|m| m.failure.is_none())
            && o.rows.iter().filter(|r| r.sender == Sender::Tether).all(|r| r.note.is_none())
            && !o.notes.iter().any(|n| n.starts_with("FAILED"))
    });
    Ok(tether_ok && input_ok && files_ok)
}

fn print_report(cli: &Cli, outcomes: &[Outcome]) {
    let measured: Vec<&Measured> = outcomes.iter().filter_map(|o| o.measured.as_ref()).collect();
    if !measured.is_empty() {
        println!("\nTether into tether-viewer\n\n{HEADER}");
        measured.iter().for_each(|m| println!("{}", m.row()));
        println!(
            "\nfps, CPU and kbit/s: from {} s after `state: connected` to the viewer's hang-up; \
             latency: the viewer's own figures over the whole session; RSS: peak (VmHWM).",
            cli.warmup
        );
    }
    let rows: Vec<Row> = outcomes.iter().flat_map(|o| o.rows.iter().cloned()).collect();
    println!("\nTether and the GStreamer baselines, same run, same display\n\n{}", compare::HEADER);
    rows.iter().for_each(|r| println!("{}", r.line()));
    compare::ratio_lines(&rows).iter().for_each(|l| println!("{l}"));
    println!(
        "\np50/p95/p99: painted -> decoded (native: the viewer's decode; Chromium: each frame \
         from a MediaStreamTrackProcessor). displayed: Chromium's requestVideoFrameCallback \
         expectedDisplayTime; last packet in: its receiveTime; jitter buffer: getStats() \
         jitterBufferDelay / jitterBufferEmittedCount. CPU: % of one core from {} s after the \
         first frame (Chromium: all its processes). Ratios: Tether / GStreamer openh264, same \
         viewer.",
        cli.warmup
    );
    for o in outcomes {
        println!("\n### {}", o.label);
        o.notes.iter().for_each(|n| println!("{n}"));
        if let Some(m) = &o.measured {
            println!("#### Tether -> tether-viewer");
            if let Some(failure) = &m.failure {
                println!("FAILED: {failure}");
            }
            m.details.iter().for_each(|d| println!("{d}"));
            m.raw.iter().for_each(|r| println!("  {r}"));
            m.warnings.iter().for_each(|w| println!("WARNING: {w}"));
        }
        for r in o.rows.iter().filter(|r| r.sender != Sender::Tether || r.viewer != Viewer::Native)
        {
            println!("#### {} -> {}", r.sender.label(), r.viewer.label());
            r.note.iter().for_each(|n| println!("{n}"));
            r.details.iter().for_each(|d| println!("{d}"));
        }
    }
}

/// The input latency run (`bench/input.rs`) and its lines; false if it failed.
fn input_latency(cli: &Cli, bins: &Bins) -> bool {
    println!(
        "\n### input latency (viewer sends -> X client sees; 1280x720, {} moves + taps)",
        cli.input_events
    );
    match bench::input::measure(&bins.agent, &bins.viewer, cli.input_events, &quiet_logs) {
        Ok(latency) => {
            println!("{}", latency.summary());
            if latency.misplaced > 0 {
                println!(
                    "WARNING: {} pointer events landed elsewhere than sent",
                    latency.misplaced
                );
            }
            println!("agent: input: {}", latency.agent_counters.as_deref().unwrap_or("(no line)"));
            true
        }
        Err(err) => {
            println!("FAILED: {err:#}");
            false
        }
    }
}

/// The file transfer run (`bench/files.rs`) and its lines; false if it failed.
fn file_transfer(cli: &Cli, bins: &Bins) -> bool {
    println!("\n### file transfer (viewer -> agent, {} MiB, 1280x720 moving screen)", cli.file_mib);
    let seconds = cli.seconds.max(8);
    match bench::files::measure(&bins.agent, &bins.viewer, cli.file_mib, seconds, &quiet_logs) {
        Ok((without, with)) => {
            let rate =
                with.mib_per_s.map_or("n/a (not finished)".to_owned(), |r| format!("{r:.1} MiB/s"));
            println!("throughput: {rate}");
            println!(
                "video: {:.1} fps while the file went ({:.0} s) against {:.1} fps without a file ({:.0} s): {:.2}x",
                with.fps,
                with.seconds,
                without.fps,
                without.seconds,
                with.fps / without.fps.max(0.1)
            );
            true
        }
        Err(err) => {
            println!("FAILED: {err:#}");
            false
        }
    }
}

/// One scenario: its display and painter, then every selected run on it in turn.
fn measure(
    cli: &Cli,
    plan: &Plan,
    s: &Scenario,
    hz: u64,
    bins: &Bins,
    out: &mut Outcome,
) -> Result<()> {
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
    let setup = Setup {
        agent: &bins.agent,
        viewer: &bins.viewer,
        display: &display,
        size: s.size,
        pulse: pulse.as_ref(),
        agent_args: cli.agent_args.as_deref().unwrap_or(""),
        seconds: cli.seconds,
        warmup: cli.warmup,
        hz,
        placement: plan.placement,
    };
    let (motion, probe) = (s.kind == Kind::Motion, s.kind != Kind::Static);
    for &viewer in &plan.viewers {
        println!("-- Tether -> {}", viewer.label());
        let row = match viewer {
            Viewer::Native => {
                let mut m = Measured { label: s.label.to_owned(), ..Measured::default() };
                if let Err(err) = bench::tether::native(&setup, motion, probe, &mut m) {
                    eprintln!("tether-bench: {} (native) failed: {err:#}", s.name);
                    m.failure = Some(format!("{err:#}"));
                }
                let row = compare::from_measured(&m);
                out.measured = Some(m);
                row
            }
            Viewer::Browser => {
                let mut row = Row::new(s.label, Sender::Tether, Viewer::Browser);
                match browser::missing() {
                    Some(why) => row = Row::not_run(s.label, Sender::Tether, viewer, &why),
                    None => {
                        if let Err(err) = browser::tether(&setup, &mut row) {
                            eprintln!("tether-bench: {} (browser) failed: {err:#}", s.name);
                            row.note = Some(format!("failed: {err:#}"));
                        }
                    }
                }
                row
            }
        };
        out.rows.push(row);
    }
    for &sender in &plan.baselines {
        for &viewer in &plan.viewers {
            println!("-- {} -> {}", sender.label(), viewer.label());
            if let Some(why) = gst::missing(sender, viewer) {
                out.rows.push(Row::not_run(s.label, sender, viewer, &why));
                continue;
            }
            let mut row = Row::new(s.label, sender, viewer);
            let result = match viewer {
                Viewer::Native => gst::native(&setup, sender, &mut row),
                Viewer::Browser => gst::webrtc(&setup, sender, &mut row),
            };
            if let Err(err) = result {
                eprintln!(
                    "tether-bench: {} ({} -> {}) failed: {err:#}",
                    s.name,
                    sender.label(),
                    viewer.label()
                );
                row.note = Some(format!("failed: {err:#}"));
            }
            out.rows.push(row);
        }
    }
    match painter.map(PaintLoop::stop).transpose() {
        Ok(Some(p)) => out.notes.push(format!(
            "painter: {} ticks in {:.1} s ({:.0}/s, {} late), {:.2} ms per tick",
            p.ticks,
            p.seconds,
            p.ticks as f64 / p.seconds.max(0.001),
            p.late,
            p.paint_us as f64 / 1000.0 / p.ticks.max(1) as f64
        )),
        Ok(None) => out.notes.push("painter: none (test pattern painted once)".into()),
        Err(err) => out.notes.push(format!("WARNING: painter failed: {err:#}")),
    }
    Ok(())
}
