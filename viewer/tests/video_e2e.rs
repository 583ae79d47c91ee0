//! The real binaries under Xvfb: a known picture on the X display arrives in the headless
//! viewer's snapshot, compared pixel-wise with the X server's own screenshot; then the picture
//! changes and the change arrives.

use std::path::Path;
use std::time::{Duration, Instant};

use tether_media::image::{psnr_rgba, read_png_rgba};
use tether_testkit::loopback::{LoopbackAgent, agent_command};
use tether_testkit::paint::{FilledRect, Painter, RgbaImage};
use tether_testkit::process::ChildProcess;
use tether_testkit::xvfb::Xvfb;

/// The snapshot must match the screen at least this well. Solid rectangles through H.264 at
/// this bitrate come out above 40 dB; 30 dB already means "the same picture".
const MIN_PSNR_DB: f64 = 30.0;
const PATIENCE: Duration = Duration::from_secs(30);

struct Session {
    _agent: ChildProcess,
    viewer: ChildProcess,
}

fn start_session(display: &str, snapshot: &Path) -> Session {
    let mut agent_cmd = agent_command(display);
    agent_cmd.arg("--no-audio");
    let mut agent = LoopbackAgent::start(agent_cmd, PATIENCE).expect("agent starts");
    let mut viewer_cmd = agent.viewer_command();
    viewer_cmd.arg("--snapshot").arg(snapshot);
    let mut viewer = ChildProcess::spawn(viewer_cmd).expect("viewer starts");
    // The short authentication string the two people compare: the same digits on both ends.
    let viewer_sas = viewer.wait_for_line("sas: ", PATIENCE).expect("viewer shows the SAS");
    let agent_sas = agent.process.wait_for_line("sas: ", PATIENCE).expect("agent shows the SAS");
    assert_eq!(viewer_sas, agent_sas);
    assert_eq!(viewer_sas.len(), 7, "{viewer_sas}");
    viewer.wait_for_line("state: connected", PATIENCE).expect("viewer connects");
    Session { _agent: agent.process, viewer }
}

/// Waits until the snapshot shows `expected` (PSNR above the threshold); returns the PSNR.
fn wait_for_picture(snapshot: &Path, expected: &RgbaImage) -> f64 {
    let deadline = Instant::now() + PATIENCE;
    let mut best = 0.0;
    while Instant::now() < deadline {
        if let Ok((w, h, rgba)) = read_png_rgba(snapshot) {
            if (w, h) == (expected.width, expected.height) {
                let psnr = psnr_rgba(&rgba, &expected.data);
                if psnr >= MIN_PSNR_DB {
                    return psnr;
                }
                best = f64::max(best, psnr);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{} never showed the screen: best PSNR {best:.1} dB < {MIN_PSNR_DB} dB",
        snapshot.display()
    );
}

#[test]
#[ignore = "needs Xvfb"]
fn the_screen_arrives_in_the_viewer_and_follows_changes() {
    let xvfb = Xvfb::start(1280, 720).expect("Xvfb starts");
    let painter = Painter::connect(xvfb.display()).expect("X connection");
    painter.fill_test_pattern(1280, 720).expect("pattern drawn");
    let reference = painter.screenshot().expect("X screenshot");

    let dir = std::env::temp_dir().join(format!("tether-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snapshot = dir.join("latest.png");
    // Kept on failure, beside the snapshot, to look at.
    let _ = tether_media::image::write_png_rgba(
        &dir.join("expected.png"),
        reference.width,
        reference.height,
        &reference.data,
    );
    let mut session = start_session(xvfb.display(), &snapshot);

    let psnr = wait_for_picture(&snapshot, &reference);
    eprintln!("first picture: PSNR {psnr:.1} dB");

    // Change the picture: a large block in a new colour.
    painter
        .fill_rects(&[FilledRect { x: 200, y: 150, w: 600, h: 300, rgb: 0x20c040 }])
        .expect("change drawn");
    let changed = painter.screenshot().expect("X screenshot");
    assert!(psnr_rgba(&changed.data, &reference.data) < MIN_PSNR_DB, "the change is visible");
    let psnr = wait_for_picture(&snapshot, &changed);
    eprintln!("changed picture: PSNR {psnr:.1} dB");

    let stats = session.viewer.wait_for_line("stats: ", PATIENCE).expect("stats line");
    assert!(stats.contains("size=1280x720"), "{stats}");
    let _ = std::fs::remove_dir_all(dir);
}
