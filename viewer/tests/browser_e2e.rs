//! The browser viewer end to end: the agent (embedded server, consent on its terminal) shares
//! an Xvfb display; Debian's Chromium, driven by playwright-core (`e2e/browser/viewer.mjs`),
//! opens the page the agent prints and types the code; the page must show the agent's security
//! code while the person is asked, then decode H.264 frames that show the known picture.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tether_media::image::{psnr_rgba, read_png_rgba, write_png_rgba};
use tether_proto::input::InputMsg;
use tether_testkit::paint::Painter;
use tether_testkit::process::{ChildProcess, workspace_bin};
use tether_testkit::xinput::{EventWindow, Seen, XInput, typed_text};
use tether_testkit::xvfb::Xvfb;

/// Solid rectangles through H.264 and Chromium's scaler-free 1:1 display come out far above
/// this; a wrong, shifted or black picture far below.
const MIN_PSNR_DB: f64 = 28.0;
const PATIENCE: Duration = Duration::from_secs(60);
/// Chromium's start, the join and the checks in the script, on a busy machine.
const BROWSER_PATIENCE: Duration = Duration::from_secs(180);

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/browser")
}

struct Agent {
    process: ChildProcess,
    page: String,
    code: String,
}

fn start_agent(display: &str) -> Agent {
    let mut cmd = Command::new(workspace_bin("tether-agent"));
    cmd.env("DISPLAY", display)
        .args(["--bind", "127.0.0.1:0", "--udp-bind", "127.0.0.1:0"])
        .args(["--no-tray", "--no-audio"])
        .stdin(Stdio::piped());
    let mut process = ChildProcess::spawn(cmd).expect("agent starts");
    let page = process.wait_for_line("viewer: ", PATIENCE).expect("viewer line");
    let code = process.wait_for_line("code: ", PATIENCE).expect("code line");
    Agent { process, page, code }
}

/// Starts the playwright script; [`browser_result`] reads what it reports.
fn start_browser(page: &str, code: &str, out: &Path, extra: &[&str]) -> ChildProcess {
    let dir = e2e_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix e2e/browser` (scripts/test.sh does)"
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("viewer.mjs"))
        .args(["--url", page, "--code", code, "--out"])
        .arg(out)
        .args(extra);
    ChildProcess::spawn(cmd).expect("node starts")
}

/// The script's `result:` object.
fn browser_result(node: &mut ChildProcess) -> Value {
    let line = node.wait_for_line("result: ", BROWSER_PATIENCE).expect("the script reports");
    let result: Value = serde_json::from_str(&line).expect("the result is JSON");
    assert!(result.get("error").is_none(), "the browser script failed: {result:#}");
    result
}

#[test]
#[ignore = "needs Xvfb and Chromium"]
fn a_browser_decodes_the_screen_as_h264() {
    let xvfb = Xvfb::start(1280, 720).expect("Xvfb starts");
    // A real X client that records what the agent injects; the pattern is drawn over it.
    let events = EventWindow::open(xvfb.display()).expect("event window");
    let painter = Painter::connect(xvfb.display()).expect("X connection");
    painter.fill_test_pattern(1280, 720).expect("pattern drawn");
    let reference = painter.screenshot().expect("X screenshot");
    let out = std::env::temp_dir().join(format!("tether-browser-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let _ = write_png_rgba(
        &out.join("expected.png"),
        reference.width,
        reference.height,
        &reference.data,
    );

    let mut agent = start_agent(xvfb.display());
    assert!(agent.page.starts_with("http://127.0.0.1:") && agent.page.ends_with('/'));
    let args = ["--consent", "--clicks", "0.25,0.75,0;0.5,0.5,2", "--keys", "KeyA,Shift+Enter"];
    let mut node = start_browser(&agent.page, &agent.code, &out, &args);
    // While the person is asked, both show the same security code.
    agent.process.wait_for_line("state: asked by ", BROWSER_PATIENCE).expect("the agent asks");
    let agent_sas = agent.process.wait_for_line("sas: ", PATIENCE).expect("agent shows the SAS");
    let waiting = node.wait_for_line("waiting: ", BROWSER_PATIENCE).expect("the page waits");
    let waiting: Value = serde_json::from_str(&waiting).expect("JSON");
    assert_eq!(waiting["sas"], agent_sas.as_str(), "{waiting:#}");
    let waiting_text = waiting["stateText"].as_str().unwrap_or_default();
    assert!(waiting_text.contains(&format!("Security code {agent_sas}")), "{waiting_text}");
    // A yes counts a second after the question (agent/src/ui).
    std::thread::sleep(Duration::from_millis(1500));
    writeln!(agent.process.stdin().expect("piped"), "y").expect("answered");
    let result = browser_result(&mut node);
    // The same digits beside "Connected".
    assert_eq!(result["sas"], agent_sas.as_str(), "{result:#}");
    let state_text = result["stateText"].as_str().unwrap_or_default();
    assert!(state_text.contains(&format!("Security code {agent_sas}")), "{state_text}");
    eprintln!(
        "browser: first frame {} ms after Connect ({})",
        result["firstFrameMs"], result["marks"]
    );

    assert_eq!(result["codec"], "video/H264", "{result:#}");
    assert_eq!((result["width"].as_u64(), result["height"].as_u64()), (Some(1280), Some(720)));
    let (before, after) = (result["framesBefore"].as_u64(), result["framesAfter"].as_u64());
    assert!(after > before, "framesDecoded grows: {before:?} -> {after:?}");
    let overlay = result["overlay"].as_str().unwrap_or_default();
    for field in ["fps", "bitrate", "rtt", "decode", "resolution 1280x720", "ice"] {
        assert!(overlay.contains(field), "the overlay shows {field}: {overlay}");
    }

    // The page's own pixels: the video's content rectangle, shown 1:1 in a 1280-wide window.
    let shot = Path::new(result["screenshot"].as_str().expect("a screenshot path"));
    let (w, h, rgba) = read_png_rgba(shot).expect("the screenshot is a PNG");
    assert_eq!((w, h), (reference.width, reference.height), "shown 1:1");
    let psnr = psnr_rgba(&rgba, &reference.data);
    eprintln!("browser screenshot: PSNR {psnr:.1} dB");
    assert!(psnr >= MIN_PSNR_DB, "the page shows the screen: {psnr:.1} dB; see {out:?}");

    check_input(&result);
    if result["inputChannel"] == "agent" {
        check_x_events(&events);
    }

    agent.process.terminate(Duration::from_secs(10)).expect("agent stops");
    let _ = std::fs::remove_dir_all(out);
}

/// The page's input messages: valid by the protocol, the pointer mapped over the letterboxed
/// picture, W3C buttons and key codes, the wheel in notches, and everything let go on blur.
fn check_input(result: &Value) {
    let sent: Vec<InputMsg> = result["sent"]
        .as_array()
        .expect("the page's input messages")
        .iter()
        .map(|m| InputMsg::decode(m.as_str().unwrap_or_default()).expect("a valid input message"))
        .collect();
    eprintln!("input via the {} channel: {} messages", result["inputChannel"], sent.len());
    let near = |x: f64, y: f64| {
        sent.iter().any(|m| {
            matches!(m, InputMsg::PointerMove { x: mx, y: my }
                if (mx - x).abs() < 0.01 && (my - y).abs() < 0.01)
        })
    };
    assert!(near(0.25, 0.75) && near(0.5, 0.5), "pointer positions: {sent:?}");
    let position = |wanted: &InputMsg| {
        sent.iter().position(|m| m == wanted).unwrap_or_else(|| panic!("{wanted:?} in {sent:?}"))
    };
    let button = |button, down| InputMsg::PointerButton { button, down };
    let key = |code: &str, down| InputMsg::Key { code: code.into(), down };
    assert!(position(&button(0, true)) < position(&button(0, false)));
    assert!(position(&button(2, true)) < position(&button(2, false)));
    assert!(position(&key("KeyA", true)) < position(&key("KeyA", false)));
    let shift = position(&key("ShiftLeft", true));
    assert!(shift < position(&key("Enter", true)));
    assert!(position(&key("Enter", false)) < position(&key("ShiftLeft", false)));
    assert!(
        sent.iter().any(|m| matches!(m, InputMsg::Wheel { dy, .. } if (dy - 3.0).abs() < 1e-9)),
        "300 px of wheel is 3 notches: {sent:?}"
    );
    assert_eq!(sent.last(), Some(&InputMsg::ReleaseAll), "blur lets go of everything");
}

/// What the agent injected, as the X client on its display saw it: the clicks where the page
/// was clicked (0.25, 0.75 and the centre of 1280x720), three wheel notches down, "a", Return.
fn check_x_events(events: &EventWindow) {
    let seen = events
        .collect_until(PATIENCE, |seen| typed_text(seen).ends_with('\n'))
        .expect("the browser's input arrives on the X display");
    let pressed = |button: u8, x: i16, y: i16| {
        seen.iter().any(|s: &Seen| {
            matches!(s.input, XInput::ButtonPress { button: b, x: px, y: py }
                if b == button && (px - x).abs() <= 1 && (py - y).abs() <= 1)
        })
    };
    let inputs: Vec<&XInput> = seen.iter().map(|s| &s.input).collect();
    assert!(pressed(1, 320, 540), "left click at (320, 540): {inputs:?}");
    assert!(pressed(3, 640, 360), "right click at (640, 360): {inputs:?}");
    let notches =
        seen.iter().filter(|s| matches!(s.input, XInput::ButtonPress { button: 5, .. })).count();
    assert_eq!(notches, 3, "three notches down: {inputs:?}");
    assert_eq!(typed_text(&seen), "a\n", "{inputs:?}");
}

/// Clipboard and chat between Chromium and the agent: the page's Ctrl+V sends the browser's
/// clipboard before the keys, the agent's X clipboard reaches the browser's, chat goes both
/// ways, and none of the keys typed into the chat panel reach the computer.
#[test]
#[ignore = "needs Xvfb, xclip and Chromium"]
fn the_browser_shares_the_clipboard_and_chats() {
    use tether_testkit::xclip::{wait_for_selection, xclip_copy};
    let xvfb = Xvfb::start(640, 480).expect("Xvfb starts");
    let display = xvfb.display().to_owned();
    let mut cmd = Command::new(workspace_bin("tether-agent"));
    cmd.env("DISPLAY", &display)
        .args(["--bind", "127.0.0.1:0", "--udp-bind", "127.0.0.1:0"])
        .args(["--no-tray", "--no-audio", "--auto-allow"])
        .stdin(Stdio::piped());
    let mut agent = ChildProcess::spawn(cmd).expect("agent starts");
    let page = agent.wait_for_line("viewer: ", PATIENCE).expect("viewer line");
    let code = agent.wait_for_line("code: ", PATIENCE).expect("code line");
    let out = std::env::temp_dir().join(format!("tether-browser-toolbox-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();

    let (pasted, copied) = ("pasted from the browser ✓", "copied on the computer\nline two");
    let args = [
        "--chat",
        "Hello from support",
        "--paste",
        pasted,
        "--expect-chat",
        "Hi, I am here",
        "--expect-clipboard",
        copied,
    ];
    let mut node = start_browser(&page, &code, &out, &args);
    let heard = agent.wait_for_line("chat: viewer: ", BROWSER_PATIENCE).expect("chat arrives");
    assert_eq!(heard, "\"Hello from support\"");
    writeln!(agent.stdin().expect("piped"), "m Hi, I am here").expect("answered");

    node.wait_for_line("clipboard: applied seq=1", BROWSER_PATIENCE).expect("the paste applied");
    wait_for_selection(&display, "clipboard", pasted);
    xclip_copy(&display, copied);
    let received = node.wait_for_line("clipboard: received ", BROWSER_PATIENCE).expect("copied");
    assert_eq!(received, serde_json::to_string(copied).unwrap());

    let result = browser_result(&mut node);
    let chat = result["chat"].as_array().expect("the page's chat log");
    let said = |from: &str, text: &str| chat.iter().any(|e| e["from"] == from && e["text"] == text);
    assert!(said("you", "Hello from support") && said("computer", "Hi, I am here"), "{chat:?}");
    // The chat panel's keys are the supporter's own; the paste's Ctrl+V goes to the computer.
    let sent: Vec<InputMsg> = result["sent"]
        .as_array()
        .expect("the page's input messages")
        .iter()
        .filter_map(|m| InputMsg::decode(m.as_str().unwrap_or_default()).ok())
        .collect();
    let keys: Vec<&str> = sent
        .iter()
        .filter_map(|m| match m {
            InputMsg::Key { code, down: true } => Some(code.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(keys, ["ControlLeft", "KeyV"], "only the paste's keys: {sent:?}");

    agent.terminate(Duration::from_secs(10)).expect("agent stops");
    let _ = std::fs::remove_dir_all(out);
}

/// Files between Chromium and the agent, 20 MiB each way: the page's file goes to the computer's Downloads with
/// the same hash, the person's file comes down to the page with the same hash.
#[test]
#[ignore = "needs Xvfb and Chromium"]
fn the_browser_sends_and_receives_files() {
    use sha2::{Digest, Sha256};
    let sha256 = |data: &[u8]| -> String {
        Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
    };
    let xvfb = Xvfb::start(640, 480).expect("Xvfb starts");
    let out = std::env::temp_dir().join(format!("tether-browser-files-{}", std::process::id()));
    let downloads = out.join("agent-downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let mut data = vec![0u8; 20 << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in data.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let (upload, report) = (out.join("installer.deb"), out.join("report.txt"));
    std::fs::write(&upload, &data).unwrap();
    let backwards: Vec<u8> = data.iter().rev().copied().collect();
    std::fs::write(&report, &backwards).unwrap();

    let mut cmd = Command::new(workspace_bin("tether-agent"));
    cmd.env("DISPLAY", xvfb.display())
        .args(["--bind", "127.0.0.1:0", "--udp-bind", "127.0.0.1:0"])
        .args(["--no-tray", "--no-audio", "--auto-allow", "--downloads"])
        .arg(&downloads)
        .stdin(Stdio::piped());
    let mut agent = ChildProcess::spawn(cmd).expect("agent starts");
    let page = agent.wait_for_line("viewer: ", PATIENCE).expect("viewer line");
    let code = agent.wait_for_line("code: ", PATIENCE).expect("code line");
    let args = ["--send-file", upload.to_str().unwrap(), "--expect-file", "report.txt"];
    let mut node = start_browser(&page, &code, &out, &args);

    let saved = agent.wait_for_line("file: saved ", BROWSER_PATIENCE).expect("the upload");
    assert!(saved.starts_with("\"installer.deb\" in "), "{saved}");
    let sent = node.wait_for_line("file: sent ", BROWSER_PATIENCE).expect("the page hears");
    eprintln!("browser -> agent: {sent}");
    assert_eq!(sha256(&std::fs::read(downloads.join("installer.deb")).unwrap()), sha256(&data));

    writeln!(agent.stdin().expect("piped"), "f {}", report.display()).expect("typed");
    let received = node.wait_for_line("file: received ", BROWSER_PATIENCE).expect("download");
    eprintln!("agent -> browser: {received}");
    let expected = format!("\"report.txt\" {} bytes sha256={}", 20 << 20, sha256(&backwards));
    assert_eq!(received, expected);
    agent.wait_for_line("file: sent ", PATIENCE).expect("the agent hears it arrived");
    browser_result(&mut node);
    agent.terminate(Duration::from_secs(10)).expect("agent stops");
    let _ = std::fs::remove_dir_all(out);
}
