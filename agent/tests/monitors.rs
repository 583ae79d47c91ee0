//! Monitors end to end under a two-monitor Xvfb: the agent lists them on the `display` channel,
//! the real headless viewer switches with `--monitor`, the snapshot shows the other monitor,
//! and a click lands on it (seen by a real X client); `all` shows the whole screen and a
//! monitor added meanwhile is announced; `--display N` locks the session on one monitor.
//!
//! Build the binaries first: `cargo build --workspace --bins`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tether_media::image::read_png_rgba;
use tether_testkit::loopback::{LoopbackAgent, agent_command};
use tether_testkit::paint::Painter;
use tether_testkit::process::ChildProcess;
use tether_testkit::xinput::{EventWindow, XInput};
use tether_testkit::xvfb::Xvfb;

const PATIENCE: Duration = Duration::from_secs(60);

/// Monitor 1 of the list: not primary, listed after the primary.
const LEFT: (i16, i16, u16, u16) = (0, 0, 800, 720);
/// The primary, listed first: smaller, so that switching changes the picture's size.
const RIGHT: (i16, i16, u16, u16) = (800, 0, 480, 360);
const LEFT_RGB: u32 = 0xd0_20_20;
const RIGHT_RGB: u32 = 0x20_20_d0;
const REST_RGB: u32 = 0x20_d0_20;

fn two_monitors() -> Xvfb {
    let xvfb = Xvfb::start(1280, 720).expect("Xvfb starts");
    xvfb.add_monitor("LEFT", LEFT, false).expect("left monitor");
    xvfb.add_monitor("RIGHT", RIGHT, true).expect("right monitor");
    let painter = Painter::connect(xvfb.display()).expect("painter");
    painter.fill_rect(0, 0, 1280, 720, REST_RGB).unwrap();
    let fill = |(x, y, w, h): (i16, i16, u16, u16), rgb| {
        painter.fill_rect(x as u32, y as u32, w.into(), h.into(), rgb).unwrap();
    };
    fill(LEFT, LEFT_RGB);
    fill(RIGHT, RIGHT_RGB);
    xvfb
}

struct Session {
    agent: ChildProcess,
    viewer: ChildProcess,
    snapshot: PathBuf,
}

fn start_session(display: &str, agent_args: &[&str], viewer_args: &[&str]) -> Session {
    let mut agent_cmd = agent_command(display);
    agent_cmd.arg("--no-audio").args(agent_args);
    let agent = LoopbackAgent::start(agent_cmd, PATIENCE).expect("agent starts");
    let snapshot = std::env::temp_dir().join(format!(
        "tether-monitors-{}-{}.png",
        std::process::id(),
        display.trim_start_matches(':')
    ));
    let _ = std::fs::remove_file(&snapshot);
    let mut viewer_cmd = agent.viewer_command();
    viewer_cmd.arg("--snapshot").arg(&snapshot).args(viewer_args);
    let viewer = ChildProcess::spawn(viewer_cmd).expect("viewer starts");
    Session { agent: agent.process, viewer, snapshot }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.snapshot);
    }
}

/// Waits until the snapshot is `width` x `height` and its pixel at `(x, y)` is `rgb` (within
/// the codec's error).
fn wait_for_picture(snapshot: &Path, (width, height): (u32, u32), (x, y): (u32, u32), rgb: u32) {
    let deadline = Instant::now() + PATIENCE;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok((w, h, rgba)) = read_png_rgba(snapshot)
            && x < w
            && y < h
        {
            let at = ((y * w + x) * 4) as usize;
            let centre = [rgba[at], rgba[at + 1], rgba[at + 2]];
            let expected = [(rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8];
            let close = centre.iter().zip(expected).all(|(&a, b)| a.abs_diff(b) <= 24);
            if (w, h) == (width, height) && close {
                return;
            }
            last = Some((w, h, centre));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the snapshot never showed {width}x{height} of #{rgb:06x}: last {last:?}");
}

fn script(lines: &[&str]) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("tether-monitor-click-{}.jsonl", std::process::id()));
    std::fs::write(&path, lines.join("\n") + "\n").expect("script written");
    path
}

#[test]
#[ignore = "needs Xvfb"]
fn the_viewer_switches_to_the_second_monitor_and_clicks_there() {
    let xvfb = two_monitors();
    let window = EventWindow::open_invisible(xvfb.display()).expect("event window");
    let click = script(&[
        r#"{"type":"pointer_move","x":0.5,"y":0.5}"#,
        r#"{"type":"pointer_button","button":0,"down":true}"#,
        r#"{"type":"pointer_button","button":0,"down":false}"#,
    ]);
    let args = ["--monitor", "1", "--input-script", click.to_str().unwrap()];
    let mut session = start_session(xvfb.display(), &[], &args);

    let listed = session.viewer.wait_for_line("display: monitors ", PATIENCE).expect("list");
    assert_eq!(
        listed,
        r#"0 "RIGHT" 480x360+800+0 primary, 1 "LEFT" 800x720+0+0, 2 "screen" 1280x720+0+0 (switchable)"#,
        "the primary first, with names, sizes and positions (Xvfb keeps its whole-screen one)"
    );
    session.viewer.wait_for_line("display: showing 0", PATIENCE).expect("starts on the primary");
    session.viewer.wait_for_line("display: showing 1", PATIENCE).expect("switched");
    let agent_says = session.agent.wait_for_line("display: showing ", PATIENCE).unwrap();
    assert_eq!(agent_says, r#"1 "LEFT" 800x720+0+0"#);
    wait_for_picture(&session.snapshot, (800, 720), (400, 360), LEFT_RGB);

    // The script waited for the switch: its centre click is the left monitor's centre.
    let seen = window
        .collect_until(PATIENCE, |seen| {
            seen.iter().any(|s| matches!(s.input, XInput::ButtonRelease { .. }))
        })
        .expect("the click arrives");
    let press = seen.iter().find(|s| matches!(s.input, XInput::ButtonPress { .. })).unwrap();
    assert_eq!(press.input, XInput::ButtonPress { button: 1, x: 400, y: 360 });

    session.viewer.terminate(Duration::from_secs(5)).expect("viewer ends");
    let totals = session.agent.wait_for_line("display: switches=", PATIENCE).unwrap();
    assert_eq!(totals, "1 refused=0 malformed=0");
    let _ = std::fs::remove_file(click);
}

#[test]
#[ignore = "needs Xvfb"]
fn all_monitors_make_one_picture_and_a_new_monitor_is_announced() {
    let xvfb = two_monitors();
    let mut session = start_session(xvfb.display(), &[], &["--monitor", "all"]);
    session.viewer.wait_for_line("display: showing all", PATIENCE).expect("shows all");
    wait_for_picture(&session.snapshot, (1280, 720), (1000, 500), REST_RGB);

    xvfb.add_monitor("EXTRA", (800, 360, 480, 360), false).expect("a monitor is added");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let listed = session.viewer.wait_for_line("display: monitors ", PATIENCE).unwrap();
        if listed.contains(r#""EXTRA" 480x360+800+360"#) {
            break;
        }
        assert!(Instant::now() < deadline, "the new monitor was never announced: {listed}");
    }
    // Still all of them: the new list did not move the picture.
    let moved = session.viewer.wait_for_line("display: showing", Duration::from_secs(2));
    assert!(moved.is_err(), "{moved:?}");
    wait_for_picture(&session.snapshot, (1280, 720), (1000, 500), REST_RGB);
}

#[test]
#[ignore = "needs Xvfb"]
fn a_monitor_chosen_by_the_person_cannot_be_switched() {
    let xvfb = two_monitors();
    let mut session = start_session(xvfb.display(), &["--display", "0"], &["--monitor", "1"]);
    let listed = session.viewer.wait_for_line("display: monitors ", PATIENCE).expect("list");
    assert!(listed.ends_with("(locked)"), "{listed}");
    session.viewer.wait_for_line("display: refused locked", PATIENCE).expect("refused");
    wait_for_picture(&session.snapshot, (480, 360), (240, 180), RIGHT_RGB);
    session.viewer.terminate(Duration::from_secs(5)).expect("viewer ends");
    let totals = session.agent.wait_for_line("display: switches=", PATIENCE).unwrap();
    assert_eq!(totals, "0 refused=1 malformed=0");
}
