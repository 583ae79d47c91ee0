//! File transfer on loopback: how fast a file goes from the headless viewer to the agent while
//! a 1280x720 screen moves, and what it costs the video's frame rate (the same session length
//! without a file, back to back, is the baseline).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tether_media::telemetry::ViewerStats;
use tether_testkit::process::ChildProcess;
use tether_testkit::xvfb::Xvfb;

use super::motion::PaintLoop;

const SIZE: (u32, u32) = (1280, 720);
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds of `stats:` lines left out after connecting (the first keyframe, the encoder's
/// start).
const WARMUP_LINES: usize = 2;

/// One run's figures.
pub struct FileRun {
    /// MiB/s as the sender saw it, from offer to the receiver's `saved`.
    pub mib_per_s: Option<f64>,
    /// Mean decoded fps while the file went (or over the run, without one).
    pub fps: f64,
    pub seconds: f64,
}

/// Runs the session twice on one display: without a file, then sending `mib` MiB.
pub fn measure(
    agent_bin: &Path,
    viewer_bin: &Path,
    mib: u64,
    seconds: u64,
    tune: &dyn Fn(&mut Command),
) -> Result<(FileRun, FileRun)> {
    let xvfb = Xvfb::start(SIZE.0, SIZE.1).context("cannot start Xvfb")?;
    let painter = PaintLoop::start(xvfb.display(), SIZE, Duration::from_millis(5), true)?;
    let dir = std::env::temp_dir().join(format!("tether-bench-files-{}", std::process::id()));
    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&downloads)?;
    let file = dir.join("payload.bin");
    write_pseudo_random(&file, mib << 20)?;
    let without = session(agent_bin, viewer_bin, xvfb.display(), &downloads, None, seconds, tune);
    let with =
        session(agent_bin, viewer_bin, xvfb.display(), &downloads, Some(&file), seconds, tune);
    let _ = painter.stop();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((without?, with?))
}

/// Incompressible bytes, quickly (a xorshift stream: the link must not see zeros).
fn write_pseudo_random(path: &Path, bytes: u64) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..bytes / 8 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.write_all(&state.to_le_bytes())?;
    }
    out.flush()?;
    Ok(())
}

fn session(
    agent_bin: &Path,
    viewer_bin: &Path,
    display: &str,
    downloads: &Path,
    file: Option<&Path>,
    seconds: u64,
    tune: &dyn Fn(&mut Command),
) -> Result<FileRun> {
    let mut command = Command::new(agent_bin);
    command
        .args(["--bind", "127.0.0.1:0", "--udp-bind", "127.0.0.1:0", "--auto-allow"])
        .args(["--no-tray", "--no-audio", "--downloads"])
        .arg(downloads)
        .env("DISPLAY", display)
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
        .args(["--duration", &format!("{seconds}s")])
        .stdin(Stdio::null());
    if let Some(file) = file {
        command.arg("--send-file").arg(file);
    }
    tune(&mut command);
    let mut viewer = ChildProcess::spawn(command).context("cannot start tether-viewer")?;
    let deadline = Instant::now() + START_TIMEOUT + Duration::from_secs(seconds);
    let (mut fps, mut sending, mut mib_per_s, mut lines) = (Vec::new(), file.is_some(), None, 0);
    while Instant::now() < deadline {
        let Ok(line) = viewer.wait_for_line("", START_TIMEOUT) else { break };
        if let Some(rest) = line.strip_prefix("stats: ") {
            lines += 1;
            let stats: ViewerStats = rest.parse().context("the viewer's stats line")?;
            // With a file, only the seconds while it goes; without, the whole run.
            if lines > WARMUP_LINES && (sending || file.is_none()) {
                fps.push(stats.fps);
            }
        } else if let Some(rest) = line.strip_prefix("file: sent ") {
            sending = false;
            mib_per_s = sent_rate(rest);
        } else if line.starts_with("file: failed") || line.starts_with("file: rejected") {
            bail!("the file did not go: {line}");
        }
    }
    let _ = viewer.terminate(Duration::from_secs(5));
    let _ = agent.terminate(Duration::from_secs(5));
    if fps.is_empty() {
        bail!("no stats lines while the file went (it took under {WARMUP_LINES} s)");
    }
    let mean = fps.iter().sum::<f64>() / fps.len() as f64;
    Ok(FileRun { mib_per_s, fps: mean, seconds: fps.len() as f64 })
}

/// The MiB/s in `"payload.bin" (200.0 MiB, 2.3 s, 87.0 MiB/s), saved there as …`.
fn sent_rate(rest: &str) -> Option<f64> {
    let (_, after) = rest.split_once(" s, ")?;
    let (value, unit) = after.split_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let per_mib = match unit.split('/').next()? {
        "B" => 1.0 / (1024.0 * 1024.0),
        "KiB" => 1.0 / 1024.0,
        "MiB" => 1.0,
        "GiB" => 1024.0,
        _ => return None,
    };
    Some(value * per_mib)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_senders_rate_is_read_off_its_line() {
        let line = "\"payload.bin\" (200.0 MiB, 2.3 s, 87.0 MiB/s), saved there as \"p.bin\"";
        assert_eq!(sent_rate(line), Some(87.0));
        assert_eq!(
            sent_rate("\"x\" (1.0 KiB, 0.0 s, 512.0 KiB/s), saved there as \"x\""),
            Some(0.5)
        );
        assert_eq!(sent_rate("garbage"), None);
    }
}
