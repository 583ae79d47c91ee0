//! `tether-bench --link PROFILES`: Tether over the link lab (`tether_testkit::linklab`), the
//! agent in one namespace and `tether-viewer --headless --latency-probe` in the other, once
//! with congestion control and once with `--fixed-bitrate` (what Tether did before), on a
//! 1280x720 moving screen. docs/linklab.md lists the profiles and the columns.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tether_media::telemetry::{
    FreezeSummary, LatencySummary, QualityChange, VideoSendStats, ViewerStats,
};
use tether_testkit::linklab::{AGENT_IP, End, Impairment, LinkLab, VIEWER_IP};
use tether_testkit::process::ChildProcess;
use tether_testkit::xvfb::Xvfb;

use super::motion::PaintLoop;
use super::tether::{EXIT_TIMEOUT, START_TIMEOUT, quiet_logs, wait_exit};

/// The agent's ceiling in every profile.
const BITRATE_KBPS: u32 = 6000;
const SIZE: (u32, u32) = (1280, 720);

/// One profile: what the link does from each offset after `state: connected`.
pub struct Profile {
    pub name: &'static str,
    pub steps: Vec<(Duration, Impairment)>,
    pub seconds: u64,
}

fn link(rate_kbit: Option<u32>, loss: f64, rtt_ms: u64) -> Impairment {
    Impairment { rate_kbit, loss, rtt: Duration::from_millis(rtt_ms) }
}

/// The profiles.
pub fn profiles() -> Vec<Profile> {
    let secs = Duration::from_secs;
    vec![
        Profile { name: "2mbit", steps: vec![(secs(0), link(Some(2000), 0.0, 0))], seconds: 20 },
        Profile {
            name: "5mbit-2loss-60ms",
            steps: vec![(secs(0), link(Some(5000), 0.02, 60))],
            seconds: 20,
        },
        Profile { name: "5loss-100ms", steps: vec![(secs(0), link(None, 0.05, 100))], seconds: 20 },
        Profile {
            name: "20-1-20",
            steps: vec![
                (secs(0), link(Some(20_000), 0.0, 0)),
                (secs(10), link(Some(1000), 0.0, 0)),
                (secs(20), link(Some(20_000), 0.0, 0)),
            ],
            seconds: 35,
        },
    ]
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct LinkRow {
    pub profile: String,
    pub adaptive: bool,
    pub fps: Option<f64>,
    pub latency: Option<LatencySummary>,
    pub freezes: Option<FreezeSummary>,
    pub sent_kbps: Option<f64>,
    pub keyframes: Option<u64>,
    pub changes: Vec<QualityChange>,
    /// From the last step (the link back) to the agent's target at its ceiling again.
    pub recovered_s: Option<f64>,
    pub failure: Option<String>,
}

pub const HEADER: &str = "| profile | sender | fps | p50 ms | p99 ms | freezes | frozen ms | \
    longest freeze ms | sent kbit/s | keyframes | quality changes | back to full s |\n\
    | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |";

impl LinkRow {
    pub fn line(&self) -> String {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "n/a".into());
        let latency = self.latency.as_ref().filter(|l| l.frames > 0);
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.profile,
            if self.adaptive { "Tether" } else { "Tether --fixed-bitrate" },
            opt(self.fps.map(|v| format!("{v:.1}"))),
            opt(latency.map(|l| format!("{:.1}", l.p50_ms))),
            opt(latency.map(|l| format!("{:.1}", l.p99_ms))),
            opt(self.freezes.map(|f| f.count.to_string())),
            opt(self.freezes.map(|f| f.total_ms.to_string())),
            opt(self.freezes.map(|f| f.longest_ms.to_string())),
            opt(self.sent_kbps.map(|v| format!("{v:.0}"))),
            opt(self.keyframes.map(|v| v.to_string())),
            self.changes.len(),
            opt(self.recovered_s.map(|v| format!("{v:.1}"))),
        )
    }
}

/// Runs `profile` once; a failure is recorded in the row.
pub fn run(
    profile: &Profile,
    adaptive: bool,
    agent: &std::path::Path,
    viewer: &std::path::Path,
) -> LinkRow {
    let mut row = LinkRow { profile: profile.name.to_owned(), adaptive, ..LinkRow::default() };
    if let Err(err) = measure(profile, adaptive, agent, viewer, &mut row) {
        row.failure = Some(format!("{err:#}"));
    }
    row
}

fn measure(
    profile: &Profile,
    adaptive: bool,
    agent_bin: &std::path::Path,
    viewer_bin: &std::path::Path,
    row: &mut LinkRow,
) -> Result<()> {
    let xvfb = Xvfb::start(SIZE.0, SIZE.1).context("cannot start Xvfb")?;
    let _painter = PaintLoop::busy(xvfb.display(), SIZE, Duration::from_millis(16))?;
    let mut lab = LinkLab::new().context("link lab (needs root and network namespaces)")?;
    lab.set(&profile.steps[0].1)?;
    let mut command = lab.command(End::Agent, agent_bin);
    command
        .args(["--bind", &format!("{AGENT_IP}:0"), "--udp-bind", &format!("{AGENT_IP}:0")])
        .args(["--auto-allow", "--no-tray", "--no-audio", "--max-fps", "60"])
        .args(["--bitrate", &BITRATE_KBPS.to_string()])
        .env("DISPLAY", xvfb.display())
        .stdin(Stdio::null());
    if !adaptive {
        command.arg("--fixed-bitrate");
    }
    quiet_logs(&mut command);
    let mut agent = ChildProcess::spawn_as("tether-agent", command)?;
    let server = agent.wait_for_line("server: ", START_TIMEOUT)?.trim().to_owned();
    let code = agent.wait_for_line("code: ", START_TIMEOUT)?.trim().to_owned();
    let mut command = lab.command(End::Viewer, viewer_bin);
    command
        .arg(&code)
        .args(["--server", &server, "--headless", "--udp-bind", &format!("{VIEWER_IP}:0")])
        .args(["--latency-probe", "--duration", &format!("{}s", profile.seconds)])
        .stdin(Stdio::null());
    quiet_logs(&mut command);
    let mut viewer = ChildProcess::spawn_as("tether-viewer", command)?;
    viewer.wait_for_line("state: connected", START_TIMEOUT)?;
    let connected = Instant::now();
    let lab = Arc::new(Mutex::new(lab));
    let steps = step_thread(lab.clone(), &profile.steps, connected);
    let connected_unix_ms = unix_ms();
    let mut stats = Vec::new();
    let deadline = connected + Duration::from_secs(profile.seconds + 30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = viewer.wait_for_line("", left)?;
        if line.starts_with("stats: ") {
            stats.extend(line.parse::<ViewerStats>().ok());
        } else if line.starts_with("latency: ") {
            row.latency = line.parse().ok();
        } else if line.starts_with("freezes: ") {
            row.freezes = line.parse().ok();
            break;
        }
    }
    steps.0.store(true, Ordering::Relaxed);
    let _ = steps.1.join();
    wait_exit(&mut viewer, EXIT_TIMEOUT)?;
    // Skip the first two seconds (connection start) for the delivered frame rate.
    let settled: Vec<&ViewerStats> = stats.iter().skip(2).collect();
    if !settled.is_empty() {
        row.fps = Some(settled.iter().map(|s| s.fps).sum::<f64>() / settled.len() as f64);
    }
    collect_agent(&mut agent, profile, connected, connected_unix_ms, row)
}

fn unix_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis() as u64)
}

/// Applies each later step at its offset; returns its stop flag and handle.
fn step_thread(
    lab: Arc<Mutex<LinkLab>>,
    steps: &[(Duration, Impairment)],
    start: Instant,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let later: Vec<(Duration, Impairment)> = steps.iter().skip(1).cloned().collect();
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        for (at, impairment) in later {
            while start.elapsed() < at {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(mut lab) = lab.lock() {
                if let Err(err) = lab.set(&impairment) {
                    eprintln!("tether-bench: link step failed: {err:#}");
                }
            }
        }
    });
    (stop, handle)
}

/// The agent's `quality:` lines and its `video:` totals.
fn collect_agent(
    agent: &mut ChildProcess,
    profile: &Profile,
    connected: Instant,
    connected_unix_ms: u64,
    row: &mut LinkRow,
) -> Result<()> {
    let video = loop {
        let line = agent.wait_for_line("", EXIT_TIMEOUT)?;
        if let Ok(change) = line.parse::<QualityChange>() {
            row.changes.push(change);
        } else if line.starts_with("video: ") {
            break line.parse::<VideoSendStats>().ok();
        }
    };
    let Some(video) = video else { bail!("the agent's video: line did not parse") };
    row.keyframes = Some(video.keyframes);
    let seconds = connected.elapsed().as_secs_f64().max(1.0);
    row.sent_kbps = Some(video.bytes as f64 * 8.0 / 1000.0 / seconds);
    if let (Some((last_step, _)), true) = (profile.steps.last(), profile.steps.len() > 1) {
        let restored = connected_unix_ms + last_step.as_millis() as u64;
        row.recovered_s = recovery(&row.changes, restored);
    }
    Ok(())
}

/// Seconds from `restored_ms` (the link back) to the agent's target at its ceiling again;
/// zero if it never left it.
fn recovery(changes: &[QualityChange], restored_ms: u64) -> Option<f64> {
    let before: Vec<&QualityChange> = changes.iter().filter(|c| c.unix_ms <= restored_ms).collect();
    if before.last().is_none_or(|c| c.kbps >= BITRATE_KBPS) {
        return Some(0.0);
    }
    let back = changes.iter().find(|c| c.unix_ms > restored_ms && c.kbps >= BITRATE_KBPS)?;
    Some((back.unix_ms - restored_ms) as f64 / 1000.0)
}

/// The notes printed under the table.
pub fn notes() -> String {
    format!(
        "Each profile on its own link lab: agent --bitrate {BITRATE_KBPS} --max-fps 60 on a \
         {}x{} moving screen, tether-viewer --headless --latency-probe. fps: the viewer's \
         stats lines after the first 2 s; p50/p99: painted -> decoded; freezes: gaps over 200 ms \
         between decoded pictures; sent: the agent's video bytes over the connected time; \
         back to full: seconds from the link's return to the agent's `quality:` line at its \
         ceiling (0: it never left it).",
        SIZE.0, SIZE.1
    )
}

/// `--link`: each profile with and without congestion control, then the table.
pub fn run_profiles(
    names: &[String],
    agent: &std::path::Path,
    viewer: &std::path::Path,
) -> Result<bool> {
    let all = profiles();
    let chosen: Vec<&Profile> = match names.iter().any(|n| n == "all") {
        true => all.iter().collect(),
        false => names
            .iter()
            .map(|n| all.iter().find(|p| p.name == n).with_context(|| format!("no profile {n:?}")))
            .collect::<Result<_>>()?,
    };
    let mut rows = Vec::new();
    for profile in chosen {
        for adaptive in [true, false] {
            println!("== {} ({})", profile.name, if adaptive { "adaptive" } else { "fixed" });
            rows.push(run(profile, adaptive, agent, viewer));
        }
    }
    println!("\nTether over the link lab\n\n{}", HEADER);
    rows.iter().for_each(|r| println!("{}", r.line()));
    println!("\n{}", notes());
    for row in &rows {
        for change in &row.changes {
            println!(
                "{} ({}): {change}",
                row.profile,
                if row.adaptive { "adaptive" } else { "fixed" }
            );
        }
        if let Some(failure) = &row.failure {
            println!("FAILED {}: {failure}", row.profile);
        }
    }
    Ok(rows.iter().all(|r| r.failure.is_none()))
}
