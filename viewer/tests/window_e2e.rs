//! The native viewer window end to end: the agent shares one Xvfb display, the viewer's window
//! opens on a second one and the code is typed into its prompt; a screenshot of that second display must show the agent's picture,
//! and clicks, wheel and keys synthesised into the window with xdotool must arrive on the
//! agent's display; text copied on either display can be pasted on the other.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tether_media::image::{psnr_rgba, write_png_rgba};
use tether_testkit::paint::{Painter, RgbaImage};
use tether_testkit::process::{ChildProcess, workspace_bin};
use tether_testkit::xclip::{wait_for_selection, xclip_copy};
use tether_testkit::xinput::{EventWindow, XInput, typed_text};
use tether_testkit::xvfb::Xvfb;

const MIN_PSNR_DB: f64 = 28.0;
const PATIENCE: Duration = Duration::from_secs(60);

/// The `width` x `height` block at the top-left corner of `image`.
fn crop(image: &RgbaImage, width: u32, height: u32) -> Vec<u8> {
    let row = width as usize * 4;
    image
        .data
        .chunks_exact(image.width as usize * 4)
        .take(height as usize)
        .flat_map(|r| &r[..row])
        .copied()
        .collect()
}

fn xdotool(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .env("DISPLAY", display)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("xdotool runs");
    assert!(out.status.success(), "xdotool {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The viewer's window id, once it is mapped.
fn find_window(display: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let out = Command::new("xdotool")
            .env("DISPLAY", display)
            .args(["search", "--onlyvisible", "--name", "Tether viewer"])
            .output()
            .expect("xdotool runs");
        let found = String::from_utf8_lossy(&out.stdout);
        if let Some(id) = found.lines().next() {
            return id.to_owned();
        }
        assert!(Instant::now() < deadline, "the viewer's window never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `log` until it contains every one of `needles`.
fn wait_for_log(log: &Path, needles: &[&str]) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if needles.iter().all(|n| text.contains(n)) {
            return text;
        }
        assert!(Instant::now() < deadline, "the viewer never logged all of {needles:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs Xvfb"]
fn the_window_shows_the_screen_and_sends_input() {
    let shared = Xvfb::start(1280, 720).expect("Xvfb for the agent");
    // A real X client on the agent's display that records what is injected; drawn over.
    let events = EventWindow::open(shared.display()).expect("event window");
    let painter = Painter::connect(shared.display()).expect("X connection");
    painter.fill_test_pattern(1280, 720).expect("pattern drawn");
    let reference = painter.screenshot().expect("X screenshot");
    let desk = Xvfb::start(1600, 900).expect("Xvfb for the viewer");
    let out = std::env::temp_dir().join(format!("tether-window-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();

    let mut agent_cmd = Command::new(workspace_bin("tether-agent"));
    agent_cmd
        .env("DISPLAY", shared.display())
        .args(["--bind", "127.0.0.1:0", "--udp-bind", "127.0.0.1:0"])
        .args(["--auto-allow", "--no-tray", "--no-audio"]);
    let mut agent = ChildProcess::spawn(agent_cmd).expect("agent starts");
    let server = agent.wait_for_line("server: ", PATIENCE).expect("server line");
    let code = agent.wait_for_line("code: ", PATIENCE).expect("code line");

    let log = out.join("viewer.log");
    let mut viewer_cmd = Command::new(workspace_bin("tether-viewer"));
    viewer_cmd
        .env("DISPLAY", desk.display())
        .env("RUST_LOG", "info,tether_viewer=debug")
        .env("NO_COLOR", "1")
        .args(["--server", &server, "--udp-bind", "127.0.0.1:0"])
        .stderr(std::fs::File::create(&log).unwrap());
    let mut viewer = ChildProcess::spawn(viewer_cmd).expect("viewer starts");
    // Started without a code: the window asks for it, and it is typed in.
    let window = find_window(desk.display());
    xdotool(desk.display(), &["windowfocus", "--sync", &window]);
    xdotool(desk.display(), &["type", "--delay", "20", &code]);
    xdotool(desk.display(), &["key", "Return"]);
    let first = viewer.wait_for_line("first frame: ", PATIENCE).expect("a first frame");
    eprintln!("native viewer: first frame {first}");

    // The window (no window manager: at the top-left corner) shows the picture 1:1.
    let deadline = Instant::now() + PATIENCE;
    let mut best = 0.0;
    loop {
        let shot = Painter::connect(desk.display()).and_then(|p| p.screenshot()).expect("shot");
        let shown = crop(&shot, reference.width, reference.height);
        let psnr = psnr_rgba(&shown, &reference.data);
        if psnr >= MIN_PSNR_DB {
            eprintln!("window screenshot: PSNR {psnr:.1} dB");
            break;
        }
        best = f64::max(best, psnr);
        if Instant::now() > deadline {
            let _ = write_png_rgba(&out.join("window.png"), shot.width, shot.height, &shot.data);
            panic!("the window never showed the screen: best {best:.1} dB; see {out:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    // Input synthesised into the window, as a user's X server would deliver it.
    xdotool(desk.display(), &["windowfocus", "--sync", &window]);
    xdotool(desk.display(), &["mousemove", "--sync", "320", "180"]);
    xdotool(desk.display(), &["click", "1"]);
    xdotool(desk.display(), &["click", "5"]);
    xdotool(desk.display(), &["key", "a", "shift+Return"]);
    let text = wait_for_log(
        &log,
        &[
            "PointerMove { x: 0.25, y: 0.25 }",
            "PointerButton { button: 0, down: true }",
            "PointerButton { button: 0, down: false }",
            "Wheel { dx: ",
            "dy: 1.0 }",
            "Key { code: \"KeyA\", down: true }",
            "Key { code: \"KeyA\", down: false }",
            "Key { code: \"ShiftLeft\", down: true }",
            "Key { code: \"Enter\", down: false }",
        ],
    );
    assert!(!text.contains("button: 4"), "wheel clicks are not buttons");
    let seen = events
        .collect_until(PATIENCE, |seen| typed_text(seen).ends_with('\n'))
        .expect("the window's input arrives on the agent's display");
    let inputs: Vec<&XInput> = seen.iter().map(|s| &s.input).collect();
    let at = |x: i16, y: i16| (x - 320).abs() <= 1 && (y - 180).abs() <= 1;
    assert!(
        seen.iter().any(|s| matches!(s.input, XInput::ButtonPress { button: 1, x, y } if at(x, y))),
        "a left click at (320, 180): {inputs:?}"
    );
    assert!(
        seen.iter().any(|s| matches!(s.input, XInput::ButtonPress { button: 5, .. })),
        "a wheel notch down: {inputs:?}"
    );
    assert_eq!(typed_text(&seen), "a\n", "{inputs:?}");

    // Focus leaves the window (to the root window): everything is let go.
    let root = Command::new("xwininfo").env("DISPLAY", desk.display()).arg("-root").output();
    let root = String::from_utf8_lossy(&root.expect("xwininfo runs").stdout).into_owned();
    let root = root.split_whitespace().find(|w| w.starts_with("0x")).expect("root id").to_owned();
    xdotool(desk.display(), &["windowfocus", &root]);
    wait_for_log(&log, &["ReleaseAll"]);

    // The window shares its own X clipboard with the computer's, both ways.
    xclip_copy(shared.display(), "copied on the computer");
    wait_for_selection(desk.display(), "clipboard", "copied on the computer");
    xclip_copy(desk.display(), "copied by the supporter");
    wait_for_selection(shared.display(), "clipboard", "copied by the supporter");

    viewer.terminate(Duration::from_secs(10)).expect("viewer stops");
    agent.terminate(Duration::from_secs(10)).expect("agent stops");
    let _ = std::fs::remove_dir_all(out);
}
