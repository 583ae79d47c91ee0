//! The GStreamer baselines of `shared/notes/latency-bar.md`, on the scenario's own painted
//! display: `ximagesrc ! videoconvert ! openh264enc|x264enc ! rtph264pay` (Debian's GStreamer
//! 1.22), received (a) natively, RTP over loopback UDP into a second gst-launch that decodes
//! with avdec_h264 and hands the probe's corner to the bench as GRAY8 on a pipe, and (b) by
//! Chromium, through webrtcbin (`testkit/gst/webrtc_sender.py`) and bench.mjs's `gst` page.

use std::io::Read;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use tether_media::probe::{ProbeLayout, read_rgba};

use super::browser::{self, Piped, fold, follow, relay};
use super::compare::{Row, Sender, Viewer};
use super::motion::tenths_ms;
use super::procfs::{Sampler, Watch};
use super::report::show;
use super::tether::{EXIT_TIMEOUT, SAMPLE_EVERY, Setup};

const PYTHON: &str = "/usr/bin/python3";
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(20);
const RTP_CAPS: &str =
    "application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96";

/// Elements each part needs, with the Debian package that has them.
const SENDER: [(&str, &str); 3] = [
    ("ximagesrc", "gstreamer1.0-plugins-good"),
    ("videoconvert", "gstreamer1.0-plugins-base"),
    ("rtph264pay", "gstreamer1.0-plugins-good"),
];
const NATIVE: [(&str, &str); 6] = [
    ("udpsink", "gstreamer1.0-plugins-good"),
    ("udpsrc", "gstreamer1.0-plugins-good"),
    ("rtph264depay", "gstreamer1.0-plugins-good"),
    ("avdec_h264", "gstreamer1.0-libav"),
    ("videocrop", "gstreamer1.0-plugins-good"),
    ("fdsink", "libgstreamer1.0-0"),
];
const WEBRTC: [(&str, &str); 2] =
    [("webrtcbin", "gstreamer1.0-plugins-bad"), ("nicesrc", "gstreamer1.0-nice")];

impl Sender {
    /// The encoder as the bar measured it: 8 Mbit/s, no periodic keyframes.
    fn encoder(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Sender::Openh264 => (
                "openh264enc",
                "gstreamer1.0-plugins-bad and libopenh264-7",
                "openh264enc usage-type=screen complexity=low rate-control=bitrate \
                 bitrate=8000000 gop-size=0",
            ),
            Sender::X264 => (
                "x264enc",
                "gstreamer1.0-plugins-ugly",
                "x264enc tune=zerolatency speed-preset=ultrafast bitrate=8000 \
                 key-int-max=2147483647 ! video/x-h264,profile=constrained-baseline",
            ),
            Sender::Tether => ("", "", ""),
        }
    }
}

/// Capture, encode and packetise, up to the RTP caps.
fn sender_chain(sender: Sender, display: &str) -> String {
    format!(
        "ximagesrc display-name={display} use-damage=false show-pointer=false \
         ! video/x-raw,framerate=60/1 ! videoconvert ! {} \
         ! rtph264pay config-interval=-1 aggregate-mode=zero-latency pt=96 mtu=1200 ! {RTP_CAPS}",
        sender.encoder().2
    )
}

fn has_element(name: &str) -> bool {
    Command::new("gst-inspect-1.0")
        .arg(name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why `sender` into `viewer` cannot run here, naming the package that is missing.
pub fn missing(sender: Sender, viewer: Viewer) -> Option<String> {
    if Command::new("gst-launch-1.0").arg("--version").stdout(Stdio::null()).status().is_err() {
        return Some("gst-launch-1.0 not found (Debian package gstreamer1.0-tools)".into());
    }
    let (encoder, package, _) = sender.encoder();
    let mut needed: Vec<(&str, &str)> = SENDER.to_vec();
    needed.push((encoder, package));
    match viewer {
        Viewer::Native => needed.extend(NATIVE),
        Viewer::Browser => needed.extend(WEBRTC),
    }
    let absent: Vec<&(&str, &str)> = needed.iter().filter(|(e, _)| !has_element(e)).collect();
    if !absent.is_empty() {
        let elements: Vec<&str> = absent.iter().map(|(e, _)| *e).collect();
        let mut packages: Vec<&str> = Vec::new();
        for (_, package) in &absent {
            if !packages.contains(package) {
                packages.push(package);
            }
        }
        return Some(format!(
            "no GStreamer {} (Debian: {})",
            elements.join(", "),
            packages.join(", ")
        ));
    }
    if viewer == Viewer::Browser {
        let check = "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstSdp', \
                     '1.0'); gi.require_version('GstWebRTC', '1.0'); gi.require_version('Nice', \
                     '0.1')";
        let ok = Command::new(PYTHON)
            .args(["-c", check])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Some(format!(
                "{PYTHON} cannot load GStreamer's WebRTC bindings (python3-gi, \
                 gir1.2-gst-plugins-bad-1.0, gir1.2-gst-plugins-base-1.0, gir1.2-nice-0.1)"
            ));
        }
        return browser::missing();
    }
    None
}

/// A gst-launch child, killed on drop.
struct Launch(std::process::Child);

impl Drop for Launch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn launch(mut command: Command, pipeline: &str) -> Result<Launch> {
    command.arg("-q").args(pipeline.split_whitespace());
    Ok(Launch(command.spawn().context("cannot start gst-launch-1.0")?))
}

/// Whether a UDP socket is bound to 127.0.0.1:`port` (from /proc/net/udp).
fn udp_bound(port: u16) -> bool {
    let wanted = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp")
        .is_ok_and(|t| t.lines().any(|l| l.split_whitespace().nth(1) == Some(wanted.as_str())))
}

/// One frame from the receiver's pipe: when it arrived and its latency, if the probe read.
type Arrival = (Instant, Option<f64>);

/// Reads `w` x `h` GRAY8 frames (the probe's corner) until the pipe closes.
fn read_frames(mut pipe: impl Read + Send + 'static, (w, h): (u32, u32)) -> Result<ReadFrames> {
    let frames: Arc<Mutex<Vec<Arrival>>> = Arc::default();
    let thread = std::thread::Builder::new().name("bench-gst-reader".into()).spawn({
        let frames = frames.clone();
        move || {
            let layout = ProbeLayout::default();
            let mut grey = vec![0u8; (w * h) as usize];
            let mut rgba = vec![255u8; grey.len() * 4];
            while pipe.read_exact(&mut grey).is_ok() {
                let (at, wall) = (Instant::now(), SystemTime::now());
                for (px, &g) in rgba.chunks_exact_mut(4).zip(&grey) {
                    px[..3].fill(g);
                }
                let latency = read_rgba(&rgba, w, h, &layout)
                    .map(|painted| tenths_ms(wall).wrapping_sub(painted))
                    .filter(|&l| l < 100_000)
                    .map(|l| f64::from(l) / 10.0);
                if let Ok(mut frames) = frames.lock() {
                    frames.push((at, latency));
                }
            }
        }
    })?;
    Ok(ReadFrames { frames, thread })
}

struct ReadFrames {
    frames: Arc<Mutex<Vec<Arrival>>>,
    thread: JoinHandle<()>,
}

impl ReadFrames {
    fn first(&self) -> Option<Instant> {
        self.frames.lock().ok()?.first().map(|f| f.0)
    }
}

/// Nearest-rank percentile of sorted `values`.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

/// GStreamer into a second gst-launch on the supporter's side.
pub fn native(s: &Setup, sender: Sender, row: &mut Row) -> Result<()> {
    let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let (pw, ph) = ProbeLayout::default().size();
    let (w, h) = s.size;
    let receiver_pipeline = format!(
        "udpsrc address=127.0.0.1 port={port} buffer-size=4194304 caps={RTP_CAPS} \
         ! rtph264depay ! avdec_h264 ! videocrop right={} bottom={} ! videoconvert \
         ! video/x-raw,format=GRAY8,width={pw},height={ph} ! fdsink fd=1 sync=false",
        w.saturating_sub(pw),
        h.saturating_sub(ph),
    );
    let mut command = s.placement.supporter("gst-launch-1.0");
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut receiver = launch(command, &receiver_pipeline)?;
    let pipe = receiver.0.stdout.take().context("the receiver's stdout was not piped")?;
    let reader = read_frames(pipe, (pw, ph))?;
    let ready = Instant::now() + Duration::from_secs(10);
    while !udp_bound(port) {
        if Instant::now() > ready || !matches!(receiver.0.try_wait(), Ok(None)) {
            bail!("the GStreamer receiver did not bind 127.0.0.1:{port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let sender_pipeline = format!(
        "{} ! udpsink host=127.0.0.1 port={port} sync=false async=false",
        sender_chain(sender, s.display)
    );
    let mut command = Command::new("gst-launch-1.0");
    command.stdin(Stdio::null()).stdout(Stdio::null());
    let gst_sender = launch(command, &sender_pipeline)?;
    let sampler = Sampler::watch(
        vec![Watch::Process(gst_sender.0.id()), Watch::Process(receiver.0.id())],
        SAMPLE_EVERY,
    )?;
    let started = Instant::now();
    let first = loop {
        if let Some(first) = reader.first() {
            break first;
        }
        if started.elapsed() > FIRST_FRAME_TIMEOUT {
            bail!("no frame reached the GStreamer receiver within {FIRST_FRAME_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (from, to) = (first + Duration::from_secs_f64(s.warmup), first + secs(s.seconds));
    std::thread::sleep(to.saturating_duration_since(Instant::now()) + Duration::from_millis(100));
    drop(gst_sender);
    drop(receiver);
    let samples = sampler.stop();
    let _ = reader.thread.join();
    let frames = reader.frames.lock().map(|f| f.clone()).unwrap_or_default();
    let window: Vec<&Arrival> = frames.iter().filter(|f| f.0 >= from && f.0 <= to).collect();
    let mut latencies: Vec<f64> = window.iter().filter_map(|f| f.1).collect();
    latencies.sort_by(f64::total_cmp);
    let span = to.duration_since(from).as_secs_f64();
    row.fps = Some(window.len() as f64 / span);
    (row.p50, row.p95, row.p99) =
        (percentile(&latencies, 50.0), percentile(&latencies, 95.0), percentile(&latencies, 99.0));
    row.sender_cpu = samples.cpu_percent(0, from, to, s.hz);
    row.viewer_cpu = samples.cpu_percent(1, from, to, s.hz);
    row.details.push(format!(
        "{} frames received in {span:.1} s, probe read from {}; first frame {:.0} ms after the \
         sender started; max {} ms",
        window.len(),
        latencies.len(),
        (first - started).as_secs_f64() * 1000.0,
        show(latencies.last().copied(), 1)
    ));
    row.details.push(format!("sender: gst-launch-1.0 {sender_pipeline}"));
    Ok(())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn sender_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("gst/webrtc_sender.py")
}

/// GStreamer's webrtcbin into Chromium.
pub fn webrtc(s: &Setup, sender: Sender, row: &mut Row) -> Result<()> {
    let chain = sender_chain(sender, s.display);
    let mut python = Command::new(PYTHON);
    python.arg(sender_script()).arg(&chain).stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut python = Launch(python.spawn().with_context(|| format!("cannot start {PYTHON}"))?);
    let mut node = browser::start(s, &["gst".into()], true)?;
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let to_page = node.child.stdin.take().context("node's stdin was not piped")?;
    let from_sender = python.0.stdout.take().context("the sender's stdout was not piped")?;
    relay(from_sender, to_page, errors.clone());
    let sampler = Sampler::watch(
        vec![
            Watch::Process(python.0.id()),
            Watch::Descendants(node.child.id()),
            Watch::Process(node.child.id()),
        ],
        SAMPLE_EVERY,
    )?;
    let outcome = follow(&node, python.0.stdin.as_mut(), s.seconds);
    Piped::finish(node, EXIT_TIMEOUT);
    drop(python.0.stdin.take());
    drop(python);
    let samples = sampler.stop();
    let sender_errors = errors.lock().map(|e| e.join("; ")).unwrap_or_default();
    let json = outcome.result.with_context(|| format!("bench.mjs (gst) {sender_errors}"))?;
    fold(&json, row);
    if !sender_errors.is_empty() {
        row.details.push(format!("sender errors: {sender_errors}"));
    }
    browser::fold_cpu(
        row,
        &samples,
        outcome.window,
        s.hz,
        ["sender (python + webrtcbin)", "Chromium", "node"],
    );
    row.details.push(format!("sender: {chain} ! webrtcbin"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn pipelines_name_the_bars_settings() {
        let chain = sender_chain(Sender::Openh264, ":5");
        assert!(chain.starts_with("ximagesrc display-name=:5 use-damage=false"), "{chain}");
        assert!(chain.contains("usage-type=screen complexity=low rate-control=bitrate"));
        assert!(sender_chain(Sender::X264, ":5").contains("tune=zerolatency"));
        // gst-launch gets the pipeline split on whitespace: no element may hold a space.
        assert!(!RTP_CAPS.contains(' '));
    }
}
