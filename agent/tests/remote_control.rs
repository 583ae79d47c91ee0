//! Remote control end to end under Xvfb: the real headless viewer replays an input script over
//! the `input` data channel, the real agent injects it, and a real X client (a window covering
//! the screen, `tether_testkit::xinput`) sees exactly those events at the right places, with
//! the typed text spelled out through the server's keyboard mapping.
//!
//! Build the binaries first: `cargo build --workspace --bins`.

use std::path::PathBuf;
use std::time::Duration;

use tether_media::telemetry::InputStats;
use tether_testkit::loopback::{LoopbackAgent, agent_command};
use tether_testkit::process::ChildProcess;
use tether_testkit::xinput::{EventWindow, Seen, XInput, typed_text};
use tether_testkit::xvfb::Xvfb;

const PATIENCE: Duration = Duration::from_secs(60);

/// The shared monitor: the primary, right half of a 1280x720 screen, so every position the
/// agent injects must include the monitor's offset.
const MONITOR: (i16, i16, u16, u16) = (640, 0, 640, 720);

fn two_monitors() -> Xvfb {
    let xvfb = Xvfb::start(1280, 720).expect("Xvfb starts");
    xvfb.add_monitor("LEFT", (0, 0, 640, 720), false).expect("left monitor");
    xvfb.add_monitor("RIGHT", MONITOR, true).expect("right monitor");
    xvfb
}

/// `pointer_move` to the centre of pixel (x, y) of the shared monitor.
fn move_to(x: u16, y: u16) -> String {
    let (w, h) = (f64::from(MONITOR.2), f64::from(MONITOR.3));
    format!(
        r#"{{"type":"pointer_move","x":{},"y":{}}}"#,
        (f64::from(x) + 0.5) / w,
        (f64::from(y) + 0.5) / h
    )
}

fn key(code: &str, down: bool) -> String {
    format!(r#"{{"type":"key","code":"{code}","down":{down}}}"#)
}

fn tap(code: &str) -> [String; 2] {
    [key(code, true), key(code, false)]
}

fn shifted(code: &str) -> Vec<String> {
    let mut lines = vec![key("ShiftLeft", true)];
    lines.extend(tap(code));
    lines.push(key("ShiftLeft", false));
    lines
}

fn write_script(name: &str, lines: &[String]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tether-{name}-{}.jsonl", std::process::id()));
    std::fs::write(&path, lines.join("\n") + "\n").expect("script written");
    path
}

struct Session {
    agent: ChildProcess,
    viewer: ChildProcess,
}

fn start_session(display: &str, agent_args: &[&str], script: &PathBuf) -> Session {
    let mut agent_cmd = agent_command(display);
    agent_cmd.arg("--no-audio").args(agent_args);
    let agent = LoopbackAgent::start(agent_cmd, PATIENCE).expect("agent starts");
    let mut viewer_cmd = agent.viewer_command();
    viewer_cmd.arg("--input-script").arg(script);
    let viewer = ChildProcess::spawn(viewer_cmd).expect("viewer starts");
    Session { agent: agent.process, viewer }
}

impl Session {
    /// Waits for the viewer to have sent the whole script.
    fn script_sent(&mut self) {
        self.viewer.wait_for_line("input: script done", PATIENCE).expect("script sent");
    }

    /// Waits for an `input:` line of the agent (printed each second while its counters move,
    /// and when the session ends) that `done` accepts.
    fn counters_until(&mut self, done: impl Fn(&InputStats) -> bool) -> InputStats {
        loop {
            let line = self.agent.wait_for_line("input: ", PATIENCE).expect("agent's input line");
            let counters = counters(&line);
            if done(&counters) {
                return counters;
            }
        }
    }

    /// Ends the session from the viewer's side and returns the agent's last `input:` counters.
    fn end(mut self) -> InputStats {
        self.viewer.terminate(Duration::from_secs(5)).expect("viewer ends");
        self.agent.wait_for_line("state: ", PATIENCE).expect("the agent's session ends");
        // Printed as the session ends (after which nothing is injected): the last line.
        let mut last = None;
        while let Ok(line) = self.agent.wait_for_line("input: ", Duration::from_secs(2)) {
            last = Some(line);
        }
        counters(&last.expect("agent's input line at the end of the session"))
    }
}

/// The agent's `input:` counters, from the rest of the line after `input: `.
fn counters(line: &str) -> InputStats {
    line.parse().unwrap_or_else(|err| panic!("{err}: input: {line}"))
}

fn pointer_events(seen: &[Seen]) -> Vec<XInput> {
    seen.iter()
        .map(|s| s.input.clone())
        .filter(|i| !matches!(i, XInput::KeyPress { .. } | XInput::KeyRelease { .. }))
        .collect()
}

#[test]
#[ignore = "needs Xvfb"]
fn the_viewer_moves_clicks_scrolls_and_types_on_the_desktop() {
    let xvfb = two_monitors();
    let window = EventWindow::open(xvfb.display()).expect("event window");

    let mut lines = vec!["# pointer, on the shared monitor".to_owned(), move_to(100, 50)];
    lines.push(format!(r#"{{"delay_ms":5,{}"#, &move_to(320, 360)[1..]));
    for button in [0, 2] {
        lines.push(format!(r#"{{"type":"pointer_button","button":{button},"down":true}}"#));
        lines.push(format!(r#"{{"type":"pointer_button","button":{button},"down":false}}"#));
    }
    lines.push(r#"{"type":"wheel","dy":2}"#.into());
    lines.push(r#"{"type":"wheel","dy":-1}"#.into());
    lines.push(r#"{"type":"wheel","dx":1}"#.into());
    lines.push(String::new());
    lines.push("# \"Hi, X!\" and Enter, key by key".into());
    lines.extend(shifted("KeyH"));
    lines.extend(tap("KeyI"));
    lines.extend(tap("Comma"));
    lines.extend(tap("Space"));
    lines.extend(shifted("KeyX"));
    lines.extend(shifted("Digit1"));
    lines.extend(tap("Enter"));
    lines.push("# and as text".into());
    lines.push(r#"{"type":"text","text":"Grüße, World! (42) <a@b.c>\n"}"#.into());
    let script = write_script("control", &lines);
    let expected_text = "Hi, X!\nGrüße, World! (42) <a@b.c>\n";

    let mut session = start_session(xvfb.display(), &[], &script);
    let seen = window
        .collect_until(PATIENCE, |seen| typed_text(seen) == expected_text)
        .expect("the X client sees the input");
    session.script_sent();

    let (ox, oy) = (MONITOR.0, MONITOR.1);
    let (cx, cy) = (ox + 320, oy + 360);
    let press = |button| XInput::ButtonPress { button, x: cx, y: cy };
    let release = |button| XInput::ButtonRelease { button, x: cx, y: cy };
    let expected = vec![
        XInput::Motion { x: ox + 100, y: oy + 50 },
        XInput::Motion { x: cx, y: cy },
        press(1),
        release(1),
        press(3),
        release(3),
        press(5),
        release(5),
        press(5),
        release(5),
        press(4),
        release(4),
        press(7),
        release(7),
    ];
    assert_eq!(pointer_events(&seen), expected);
    assert_eq!(typed_text(&seen), expected_text);

    let counters = session.end();
    let messages = lines.iter().filter(|l| l.starts_with('{')).count() as u64;
    assert_eq!(counters.received, messages, "{counters}");
    assert_eq!(counters.injected, messages, "{counters}");
    assert_eq!(counters.malformed + counters.failed, 0, "{counters}");
    let _ = std::fs::remove_file(script);
}

#[test]
#[ignore = "needs Xvfb"]
fn garbage_on_the_input_channel_is_counted_and_later_input_still_works() {
    let xvfb = two_monitors();
    let window = EventWindow::open(xvfb.display()).expect("event window");
    let garbage = [
        r#"{"raw":"not json at all"}"#,
        r#"{"raw":"{\"type\":\"pointer_move\",\"x\":\"left\",\"y\":0}"}"#,
        r#"{"raw":"{\"type\":\"key\",\"code\":\"KeyÄ\",\"down\":true}"}"#,
        r#"{"raw":"{\"type\":\"pointer_button\",\"button\":9,\"down\":true}"}"#,
        r#"{"raw":"{\"type\":\"launch_missiles\"}"}"#,
        r#"{"raw":"{\"type\":\"text\",\"text\":\"\u001b[2J\"}"}"#,
        r#"{"raw":""}"#,
    ];
    let mut lines: Vec<String> = garbage.iter().map(|s| (*s).to_owned()).collect();
    lines.push(move_to(10, 20));
    lines.push(r#"{"type":"text","text":"Still OK!"}"#.into());
    let script = write_script("garbage", &lines);

    let mut session = start_session(xvfb.display(), &[], &script);
    let seen = window
        .collect_until(PATIENCE, |seen| typed_text(seen) == "Still OK!")
        .expect("valid input after the garbage arrives");
    session.script_sent();
    assert_eq!(pointer_events(&seen), [XInput::Motion { x: MONITOR.0 + 10, y: MONITOR.1 + 20 }]);

    let counters = session.end();
    assert_eq!(counters.malformed, garbage.len() as u64, "{counters}");
    assert_eq!(counters.injected, 2, "{counters}");
    let _ = std::fs::remove_file(script);
}

#[test]
#[ignore = "needs Xvfb"]
fn view_only_injects_nothing_and_counts_the_attempts() {
    let xvfb = two_monitors();
    let window = EventWindow::open(xvfb.display()).expect("event window");
    let mut lines =
        vec![move_to(5, 5), r#"{"type":"pointer_button","button":0,"down":true}"#.into()];
    lines.extend(tap("KeyA"));
    lines.push(r#"{"type":"text","text":"nope"}"#.into());
    lines.push(r#"{"type":"action","action":"ctrl_alt_del"}"#.into());
    lines.push(r#"{"raw":"garbage"}"#.into());
    let script = write_script("view-only", &lines);

    let mut session = start_session(xvfb.display(), &["--view-only"], &script);
    session.script_sent();
    session.counters_until(|c| c.received == 7);
    let counters = session.end();
    assert_eq!(counters.refused, 6, "{counters}");
    assert_eq!(counters.malformed, 1, "{counters}");
    assert_eq!(counters.injected, 0, "{counters}");
    // The agent has handled every message (and ended the session): anything it injected
    // would already be queued for the window.
    let stray = window.next(Duration::from_millis(200));
    assert!(stray.is_none(), "view-only injected {stray:?}");
    let _ = std::fs::remove_file(script);
}
