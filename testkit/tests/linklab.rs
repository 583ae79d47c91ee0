//! The link lab: the real agent and viewer on either side of a router whose link towards the
//! viewer is slower than the agent's stream. The agent must bring its target under the link
//! and the viewer must keep decoding; with `--fixed-bitrate` (no congestion control) the same
//! link is what `tether-bench --link` shows freezing. docs/linklab.md has the lab.
//!
//! Needs root (namespaces, tc, iptables, NFQUEUE), Xvfb and the workspace binaries
//! (`cargo build --workspace --bins`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tether_media::telemetry::{QualityChange, ViewerStats};
use tether_testkit::linklab::{AGENT_IP, End, Impairment, LinkLab, VIEWER_IP};
use tether_testkit::paint::Painter;
use tether_testkit::process::{ChildProcess, workspace_bin};
use tether_testkit::xvfb::Xvfb;

const PATIENCE: Duration = Duration::from_secs(30);
const LINK_KBIT: u32 = 1500;

/// Squares of new colours all over the screen, 30 times a second: a stream that wants about
/// twice the link at the agent's ceiling, and fits it at a lower rate.
fn busy_painter(display: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let painter = Painter::connect(display).expect("painter connects");
    std::thread::spawn(move || {
        let mut state = 0x1234_5678_u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..40 {
                let (x, y, rgb) = (next() % 600, next() % 340, 0x303030 + (next() & 0x8f8f8f));
                let _ = painter.fill_rect(x, y, 24, 24, rgb);
            }
            std::thread::sleep(Duration::from_millis(33));
        }
    })
}

#[test]
#[ignore = "needs root and network namespaces"]
fn a_link_slower_than_the_stream_brings_the_target_under_it_and_frames_keep_coming() {
    let mut lab = LinkLab::new().expect("link lab (needs root)");
    let slow = Impairment { rate_kbit: Some(LINK_KBIT), ..Impairment::CLEAR };
    lab.set(&slow).expect("impairment");
    let xvfb = Xvfb::start(640, 360).expect("Xvfb starts");
    let stop = Arc::new(AtomicBool::new(false));
    let painter = busy_painter(xvfb.display(), stop.clone());

    let mut cmd = lab.command(End::Agent, workspace_bin("tether-agent"));
    cmd.env("DISPLAY", xvfb.display())
        .args(["--bind", &format!("{AGENT_IP}:0"), "--udp-bind", &format!("{AGENT_IP}:0")])
        .args(["--auto-allow", "--no-tray", "--no-audio", "--bitrate", "6000"]);
    let mut agent = ChildProcess::spawn_as("tether-agent", cmd).expect("agent starts");
    let server = agent.wait_for_line("server: ", PATIENCE).expect("embedded server");
    let code = agent.wait_for_line("code: ", PATIENCE).expect("code");
    let mut cmd = lab.command(End::Viewer, workspace_bin("tether-viewer"));
    cmd.arg(code.trim())
        .args(["--server", server.trim(), "--headless", "--duration", "60s"])
        .args(["--udp-bind", &format!("{VIEWER_IP}:0")]);
    let mut viewer = ChildProcess::spawn_as("tether-viewer", cmd).expect("viewer starts");
    viewer.wait_for_line("state: connected", PATIENCE).expect("viewer connects");

    // The agent's target comes under the link.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = agent.wait_for_line("quality: ", left).expect("the target follows the link");
        let change: QualityChange = line.parse().expect("a quality line");
        if change.kbps <= LINK_KBIT {
            break;
        }
    }
    // And pictures keep arriving over the slow link afterwards.
    let frames = |viewer: &mut ChildProcess| -> u64 {
        let line = viewer.wait_for_line("stats: ", PATIENCE).expect("stats");
        line.parse::<ViewerStats>().expect("a stats line").frames
    };
    let before = frames(&mut viewer);
    std::thread::sleep(Duration::from_secs(8));
    // Skip the lines queued during the sleep: the newest shows the total now.
    let mut after = frames(&mut viewer);
    while let Ok(line) = viewer.wait_for_line("stats: ", Duration::from_millis(100)) {
        after = line.parse::<ViewerStats>().map_or(after, |s| s.frames);
    }
    println!("linklab: {LINK_KBIT} kbit/s, decoded frames over 8 s: {before} -> {after}");
    assert!(after > before + 10, "frames over the slow link: {before} -> {after}");
    stop.store(true, Ordering::Relaxed);
    let _ = painter.join();
}
