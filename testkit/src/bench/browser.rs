//! Headless Chromium as the viewer: runs `e2e/browser/bench.mjs` and folds its `result:` line
//! into a comparison [`Row`]. Tether's run is here; the GStreamer one (`gst.rs`) uses the same
//! script in its `gst` mode, with signalling relayed by [`relay`].

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::compare::{Row, Sender};
use super::json;
use super::procfs::{Sampler, Watch};
use super::report::show;
use super::tether::{EXIT_TIMEOUT, SAMPLE_EVERY, Setup, spawn_agent, stop_agent};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Chromium's start, the connection and the first frame: bench.mjs itself gives up after 60 s.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(90);

/// e2e/browser/ of the checkout this binary was built from.
pub fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/browser")
}

/// Why the browser viewer cannot run here (with the package or step that fixes it), if so.
pub fn missing() -> Option<String> {
    let dir = script_dir();
    if !Path::new(CHROMIUM).is_file() {
        return Some(format!("{CHROMIUM} not found (Debian package chromium)"));
    }
    if Command::new("node").arg("--version").stdout(Stdio::null()).status().is_err() {
        return Some("node not found (Debian package nodejs)".into());
    }
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Some(format!("no playwright-core: run `npm ci --prefix {}`", dir.display()));
    }
    None
}

/// A child whose stdout lines arrive on a channel (each also echoed as `[name] line`, except
/// the long signalling ones); killed and reaped on drop.
pub struct Piped {
    name: String,
    pub child: Child,
    lines: Receiver<String>,
}

impl Piped {
    pub fn spawn(name: &str, mut command: Command) -> Result<Self> {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let stdout = child.stdout.take().context("stdout was not piped")?;
        let (tx, lines) = mpsc::channel();
        let label = name.to_owned();
        std::thread::Builder::new().name(format!("{name}-stdout")).spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !line.starts_with("signal: ") {
                    println!("[{label}] {line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        })?;
        Ok(Piped { name: name.to_owned(), child, lines })
    }

    /// The next line before `deadline`; an error on timeout or end of output.
    pub fn next_line(&self, deadline: Instant) -> Result<String> {
        match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => bail!("{} printed nothing in time", self.name),
            Err(RecvTimeoutError::Disconnected) => bail!("{} ended its output early", self.name),
        }
    }
}

impl Piped {
    /// Waits up to `timeout` for the child to exit by itself (node closes Chromium first).
    pub fn finish(self, timeout: Duration) {
        let mut this = self;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !matches!(this.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("tether-bench: {} did not exit within {timeout:?}; killed", this.name);
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies `from`'s lines to `to` on a thread (the sender's signalling into the page), keeping
/// lines that report an error in `errors`.
pub fn relay(from: ChildStdout, mut to: ChildStdin, errors: Arc<Mutex<Vec<String>>>) {
    let spawned = std::thread::Builder::new().name("bench-relay".into()).spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if line.contains("\"type\": \"error\"") {
                eprintln!("[gst sender] {line}");
                if let Ok(mut errors) = errors.lock() {
                    errors.push(json::string(&line, "message").unwrap_or(line.clone()));
                }
            }
            if writeln!(to, "{line}").and_then(|()| to.flush()).is_err() {
                break;
            }
        }
    });
    if let Err(err) = spawned {
        eprintln!("tether-bench: cannot start the signalling relay: {err}");
    }
}

/// `node bench.mjs <args>` on the supporter's side, stdin piped when signalling is relayed.
pub fn start(s: &Setup, args: &[String], piped_stdin: bool) -> Result<Piped> {
    let dir = script_dir();
    let mut command = s.placement.supporter("node");
    command
        .arg(dir.join("bench.mjs"))
        .args(args)
        .args(["--seconds", &s.seconds.to_string(), "--warmup", &s.warmup.to_string()])
        .current_dir(&dir)
        .stdin(if piped_stdin { Stdio::piped() } else { Stdio::null() });
    Piped::spawn("bench.mjs", command)
}

/// What bench.mjs reported, and when it measured.
pub struct Outcome {
    pub window: Option<(Instant, Instant)>,
    pub result: Result<String>,
}

/// Reads bench.mjs's lines until `result:`; `signal:` lines go to `signalling`.
pub fn follow(node: &Piped, mut signalling: Option<&mut ChildStdin>, seconds: u64) -> Outcome {
    let deadline = Instant::now() + FIRST_FRAME_TIMEOUT + Duration::from_secs(seconds);
    let (mut start, mut end) = (None, None);
    let result = loop {
        let line = match node.next_line(deadline) {
            Ok(line) => line,
            Err(err) => break Err(err),
        };
        if let Some(msg) = line.strip_prefix("signal: ") {
            if let Some(to) = signalling.as_deref_mut() {
                // A closed sender shows up as its error or as no first frame.
                let _ = writeln!(to, "{msg}").and_then(|()| to.flush());
            }
        } else if line == "bench: window-start" {
            start = Some(Instant::now());
        } else if line == "bench: window-end" {
            end = Some(Instant::now());
        } else if let Some(json) = line.strip_prefix("result: ") {
            break Ok(json.to_owned());
        }
    };
    Outcome { window: start.zip(end), result }
}

/// Fills `row` from bench.mjs's result line.
pub fn fold(json: &str, row: &mut Row) {
    let n = |key| json::number(json, key);
    row.fps = n("fps");
    row.p50 = n("decodedP50");
    row.p95 = n("decodedP95");
    row.p99 = n("decodedP99");
    row.jitter_ms = n("jitterMs");
    row.received_p50 = n("receivedP50");
    row.displayed_p50 = n("displayedP50");
    row.displayed_p99 = n("displayedP99");
    if row.sender == Sender::Tether {
        row.first_frame_ms = n("firstFrameMs");
    }
    if let Some(error) = json::string(json, "error") {
        row.note = Some(format!("failed: {error}"));
        return;
    }
    row.details.push(format!(
        "Chromium: {} decoded, {} kbit/s, decode {} ms; probe read from {} decoded frames \
         ({} unreadable, reader {} fps, MediaStreamTrackProcessor {}) and {} displayed \
         ({} rVFC/s); last packet in p50 {} / p99 {} ms; dropped {}, lost {}, NACKs {}, PLIs {}, \
         freezes {}; decoder {}; page clock - Date.now() {} ms",
        json::string(json, "size").unwrap_or_default(),
        show(n("kbps"), 0),
        show(n("decodeMs"), 2),
        show(n("decodedN"), 0),
        show(n("unreadable"), 0),
        show(n("readFps"), 1),
        json::string(json, "mstp").unwrap_or_default(),
        show(n("displayedN"), 0),
        show(n("displayedFps"), 1),
        show(n("receivedP50"), 1),
        show(n("receivedP99"), 1),
        show(n("framesDropped"), 0),
        show(n("packetsLost"), 0),
        show(n("nackCount"), 0),
        show(n("pliCount"), 0),
        show(n("freezeCount"), 0),
        json::string(json, "decoder").unwrap_or_else(|| "n/a".into()),
        show(n("clockSkewMs").map(|v| -v), 2),
    ));
    if let Some(ms) = n("pageFirstFrameMs") {
        row.details.push(format!("the page's own Connect -> first frame: {ms:.0} ms"));
    }
    if let Some(errors) = json::string(json, "pageErrors") {
        row.details.push(format!("page errors: {errors}"));
    }
}

/// Tether into its own page in Chromium.
/// The sender's and Chromium's CPU over the page's measuring window, as figures and a line
/// naming the three watched process groups (sender, Chromium, node) in `names`.
pub fn fold_cpu(
    row: &mut Row,
    samples: &super::procfs::Samples,
    window: Option<(Instant, Instant)>,
    hz: u64,
    names: [&str; 3],
) {
    let Some((from, to)) = window else { return };
    row.sender_cpu = samples.cpu_percent(0, from, to, hz);
    row.viewer_cpu = samples.cpu_percent(1, from, to, hz);
    row.details.push(format!(
        "CPU % of one core: {} {}, {} {}, {} {}",
        names[0],
        show(row.sender_cpu, 0),
        names[1],
        show(row.viewer_cpu, 0),
        names[2],
        show(samples.cpu_percent(2, from, to, hz), 0)
    ));
}

pub fn tether(s: &Setup, row: &mut Row) -> Result<()> {
    let mut agent = spawn_agent(s)?;
    // `server:` names the WebSocket; the page is served from the same address.
    let base = agent.server.trim_end_matches('/');
    let url = match base.strip_prefix("ws://") {
        Some(rest) => format!("http://{rest}/"),
        None => format!("{}/", base.replacen("wss://", "https://", 1)),
    };
    let args = ["tether".into(), "--url".into(), url, "--code".into(), agent.code.clone()];
    let node = start(s, &args, false)?;
    let sampler = Sampler::watch(
        vec![
            Watch::Process(agent.child.id()),
            Watch::Descendants(node.child.id()),
            Watch::Process(node.child.id()),
        ],
        SAMPLE_EVERY,
    )?;
    let outcome = follow(&node, None, s.seconds);
    node.finish(EXIT_TIMEOUT);
    let (video, _status) = stop_agent(&mut agent);
    let samples = sampler.stop();
    let json = outcome.result.context("bench.mjs (tether)")?;
    fold(&json, row);
    fold_cpu(
        row,
        &samples,
        outcome.window,
        s.hz,
        ["agent", "Chromium (all its processes)", "node (playwright)"],
    );
    match video {
        Ok(v) => row.details.push(format!("agent: video: {v}")),
        Err(err) => row.details.push(format!("agent: {err:#}")),
    }
    Ok(())
}
