//! Input latency: from the viewer sending a scripted message on the `input` data channel to a
//! real X client receiving the event the agent injected. Both clocks are this machine's wall
//! clock: the viewer prints each message's send time (`input: sent line=N ... at_us=T`) and
//! [`EventWindow`] stamps each event as it arrives.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use tether_media::telemetry::{InputSent, Percentiles};
use tether_testkit::process::ChildProcess;
use tether_testkit::xinput::{EventWindow, Seen, XInput};
use tether_testkit::xvfb::Xvfb;

const SIZE: (u16, u16) = (1280, 720);
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Between one pointer move or key tap and the next.
const EVERY_MS: u32 = 20;

/// What one run measured, in milliseconds.
pub struct InputLatency {
    pub pointer_ms: Vec<f64>,
    pub key_ms: Vec<f64>,
    /// Events that arrived somewhere other than where they were sent (should be none).
    pub misplaced: usize,
    pub agent_counters: Option<String>,
}

impl InputLatency {
    /// `pointer: n=.. p50=..ms p99=..ms max=..ms; keys: ...`.
    pub fn summary(&self) -> String {
        format!(
            "pointer moves: {}; key presses: {}",
            describe(&self.pointer_ms),
            describe(&self.key_ms)
        )
    }
}

fn describe(samples: &[f64]) -> String {
    let p = Percentiles::new(samples);
    let (Some(p50), Some(p99), Some(max)) = (p.at(0.5), p.at(0.99), p.max()) else {
        return "n=0".into();
    };
    format!("n={} p50={p50:.2}ms p99={p99:.2}ms max={max:.2}ms", p.len())
}

/// What the script sends for event `i`, and the X event it must cause.
enum Expect {
    Motion(i16, i16),
    KeyPress,
}

/// `count` pointer moves to distinct pixels, each followed by a tap of `KeyA`.
fn script(count: usize) -> (String, HashMap<usize, Expect>) {
    let (w, h) = (i32::from(SIZE.0), i32::from(SIZE.1));
    let mut text = String::from("# tether-bench input latency\n");
    let mut expect = HashMap::new();
    let mut line = 1;
    for i in 0..count {
        let i = i32::try_from(i).unwrap_or(i32::MAX);
        // Walk the screen in steps that never land on the previous pixel.
        let (x, y) = (16 + (i * 37) % (w - 32), 16 + (i * 23) % (h - 32));
        let (nx, ny) = ((f64::from(x) + 0.5) / f64::from(w), (f64::from(y) + 0.5) / f64::from(h));
        text += &format!(
            "{{\"delay_ms\":{EVERY_MS},\"type\":\"pointer_move\",\"x\":{nx},\"y\":{ny}}}\n"
        );
        line += 1;
        expect.insert(line, Expect::Motion(x as i16, y as i16));
        text += &format!(
            "{{\"delay_ms\":{EVERY_MS},\"type\":\"key\",\"code\":\"KeyA\",\"down\":true}}\n"
        );
        line += 1;
        expect.insert(line, Expect::KeyPress);
        text += "{\"type\":\"key\",\"code\":\"KeyA\",\"down\":false}\n";
        line += 1;
    }
    (text, expect)
}

/// Runs one session on a private Xvfb; `tune` sets up each child's environment (logs).
pub fn measure(
    agent_bin: &Path,
    viewer_bin: &Path,
    count: usize,
    tune: &dyn Fn(&mut Command),
) -> Result<InputLatency> {
    let xvfb = Xvfb::start(u32::from(SIZE.0), u32::from(SIZE.1)).context("cannot start Xvfb")?;
    let window = EventWindow::open(xvfb.display())?;
    let (text, expect) = script(count);
    let path =
        std::env::temp_dir().join(format!("tether-bench-input-{}.jsonl", std::process::id()));
    std::fs::write(&path, text)?;

    let mut command = Command::new(agent_bin);
    command
        .args(["--bind", "127.0.0.1:0", "--udp-bind", "127.0.0.1:0", "--auto-allow"])
        .args(["--no-tray", "--no-audio"])
        .env("DISPLAY", xvfb.display())
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null());
    tune(&mut command);
    let mut agent = ChildProcess::spawn(command).context("cannot start tether-agent")?;
    let server = agent.wait_for_line("server: ", START_TIMEOUT)?.trim().to_owned();
    let code = agent.wait_for_line("code: ", START_TIMEOUT)?.trim().to_owned();
    let mut command = Command::new(viewer_bin);
    command
        .arg(&code)
        .args(["--server", &server, "--headless", "--udp-bind", "127.0.0.1:0"])
        .arg("--input-script")
        .arg(&path)
        .stdin(Stdio::null());
    tune(&mut command);
    let mut viewer = ChildProcess::spawn(command).context("cannot start tether-viewer")?;

    // Send times by script line, until the script is done.
    let script_time = Duration::from_millis(u64::from(EVERY_MS) * 2 * count as u64);
    let mut sent: HashMap<usize, f64> = HashMap::new();
    loop {
        let line = viewer.wait_for_line("input: ", START_TIMEOUT + script_time)?;
        if line.starts_with("script done") {
            break;
        }
        let Ok(InputSent { line: n, at_us, .. }) = line.parse() else {
            bail!("odd viewer line: input: {line}");
        };
        sent.insert(n, at_us as f64 / 1000.0);
    }
    let presses =
        |seen: &[Seen]| seen.iter().filter(|s| matches!(s.input, XInput::KeyPress { .. })).count();
    let seen = window.collect_until(START_TIMEOUT, |seen| presses(seen) >= count)?;
    viewer.terminate(Duration::from_secs(5))?;
    let mut agent_counters = None;
    while let Ok(line) = agent.wait_for_line("input: ", Duration::from_secs(3)) {
        agent_counters = Some(line);
    }
    let _ = agent.terminate(Duration::from_secs(5));
    let _ = std::fs::remove_file(&path);

    // Events in order against the sent messages in order, one kind at a time.
    let mut lines: Vec<usize> = expect.keys().copied().collect();
    lines.sort_unstable();
    let ms = |s: &Seen| s.at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let motions = seen.iter().filter(|s| matches!(s.input, XInput::Motion { .. }));
    let keys = seen.iter().filter(|s| matches!(s.input, XInput::KeyPress { .. }));
    let mut result =
        InputLatency { pointer_ms: vec![], key_ms: vec![], misplaced: 0, agent_counters };
    let motion_lines = lines.iter().filter(|l| matches!(expect[l], Expect::Motion(..)));
    for (line, event) in motion_lines.zip(motions) {
        let (Expect::Motion(x, y), Some(at)) = (&expect[line], sent.get(line)) else { continue };
        if event.input != (XInput::Motion { x: *x, y: *y }) {
            result.misplaced += 1;
        }
        result.pointer_ms.push(ms(event) - at);
    }
    let key_lines = lines.iter().filter(|l| matches!(expect[l], Expect::KeyPress));
    for (line, event) in key_lines.zip(keys) {
        if let Some(at) = sent.get(line) {
            result.key_ms.push(ms(event) - at);
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_described_as_before() {
        let hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(describe(&hundred), "n=100 p50=51.00ms p99=99.00ms max=100.00ms");
        assert_eq!(describe(&[2.5]), "n=1 p50=2.50ms p99=2.50ms max=2.50ms");
        assert_eq!(describe(&[]), "n=0");
    }
}
