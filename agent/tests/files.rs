//! File transfer end to end under Xvfb, agent and headless viewer on loopback: a 20 MiB
//! random file each way arrives with the same SHA-256, a cancelled transfer leaves no partial
//! file, a hostile name lands as a plain file name in Downloads, and a view-only session takes
//! no file.
//!
//! Build the binaries first: `cargo build --workspace --bins`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tether_media::telemetry::FileStats;
use tether_testkit::loopback::{LoopbackAgent, agent_command};
use tether_testkit::process::ChildProcess;
use tether_testkit::xvfb::Xvfb;

const PATIENCE: Duration = Duration::from_secs(60);
const FILE_BYTES: usize = 20 << 20;

/// A fresh directory for this test.
fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `bytes` of random data in `path`; its SHA-256.
fn random_file(path: &Path, bytes: usize) -> String {
    use rand::RngCore;
    let mut data = vec![0; bytes];
    rand::thread_rng().fill_bytes(&mut data);
    std::fs::write(path, &data).unwrap();
    sha256(&data)
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

struct Session {
    agent: ChildProcess,
    viewer: ChildProcess,
}

fn start(xvfb: &Xvfb, downloads: &Path, agent_args: &[&str], viewer_args: &[&str]) -> Session {
    let mut agent_cmd = agent_command(xvfb.display());
    agent_cmd.arg("--no-audio").arg("--downloads").arg(downloads).args(agent_args);
    agent_cmd.stdin(Stdio::piped());
    let agent = LoopbackAgent::start(agent_cmd, PATIENCE).expect("agent starts");
    let mut viewer_cmd = agent.viewer_command();
    viewer_cmd.args(viewer_args);
    let viewer = ChildProcess::spawn(viewer_cmd).expect("viewer starts");
    let mut session = Session { agent: agent.process, viewer };
    session.agent.wait_for_line("state: connected", PATIENCE).expect("connected");
    session
}

impl Session {
    /// Ends the session from the viewer's side; the agent's `files:` counters.
    fn end(mut self) -> FileStats {
        self.viewer.terminate(Duration::from_secs(5)).expect("viewer ends");
        let line = self.agent.wait_for_line("files: ", PATIENCE).expect("files line");
        format!("files: {line}").parse().unwrap()
    }
}

#[test]
#[ignore = "needs Xvfb"]
fn a_20_mib_file_goes_each_way_with_its_hash() {
    let xvfb = Xvfb::start(640, 480).expect("Xvfb starts");
    let (work, agent_downloads, viewer_downloads) =
        (dir("work"), dir("agent-dl"), dir("viewer-dl"));
    let installer = work.join("installer.deb");
    let installer_hash = random_file(&installer, FILE_BYTES);
    std::fs::write(agent_downloads.join("installer.deb"), b"already here").unwrap();
    let viewer_args = ["--send-file", installer.to_str().unwrap(), "--downloads"];
    let mut session = start(
        &xvfb,
        &agent_downloads,
        &[],
        &[&viewer_args[..], &[viewer_downloads.to_str().unwrap()]].concat(),
    );

    // The person is told, with the name and size.
    let announced = session.agent.wait_for_line("file: receiving ", PATIENCE).unwrap();
    assert_eq!(announced, "\"installer.deb\" (20.0 MiB) from the viewer");
    let saved = session.agent.wait_for_line("file: saved ", PATIENCE).unwrap();
    assert!(saved.starts_with("\"installer (1).deb\" in "), "not overwritten: {saved}");
    let sent = session.viewer.wait_for_line("file: sent ", PATIENCE).unwrap();
    eprintln!("viewer -> agent: {sent}");
    let arrived = std::fs::read(agent_downloads.join("installer (1).deb")).unwrap();
    assert_eq!(sha256(&arrived), installer_hash);
    assert_eq!(std::fs::read(agent_downloads.join("installer.deb")).unwrap(), b"already here");

    // The person sends a log file back.
    let log = work.join("cups-error.log");
    let log_hash = random_file(&log, FILE_BYTES);
    let stdin = session.agent.stdin().expect("piped");
    writeln!(stdin, "f {}", log.display()).unwrap();
    stdin.flush().unwrap();
    let saved = session.viewer.wait_for_line("file: saved ", PATIENCE).unwrap();
    eprintln!("agent -> viewer: {saved}");
    session.agent.wait_for_line("file: sent ", PATIENCE).expect("the agent hears it arrived");
    let arrived = std::fs::read(viewer_downloads.join("cups-error.log")).unwrap();
    assert_eq!(sha256(&arrived), log_hash);

    let stats = session.end();
    assert_eq!((stats.sent, stats.received, stats.failed, stats.cancelled), (1, 1, 0, 0));
    assert_eq!(names(&agent_downloads), ["installer (1).deb", "installer.deb"], "no .part left");
    for d in [work, agent_downloads, viewer_downloads] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
#[ignore = "needs Xvfb"]
fn a_cancelled_transfer_leaves_nothing_and_a_hostile_name_stays_in_downloads() {
    let xvfb = Xvfb::start(640, 480).expect("Xvfb starts");
    let (work, downloads) = (dir("cancel-work"), dir("cancel-dl"));
    let big = work.join("big.iso");
    random_file(&big, FILE_BYTES);
    let viewer_args = ["--send-file", big.to_str().unwrap(), "--cancel-after-bytes", "4000000"];
    let mut session = start(&xvfb, &downloads, &[], &viewer_args);
    let cancelled = session.agent.wait_for_line("file: cancelled ", PATIENCE).unwrap();
    assert_eq!(cancelled, "\"big.iso\" by the viewer");
    assert_eq!(session.end().cancelled, 1);
    assert!(names(&downloads).is_empty(), "a partial file was left: {:?}", names(&downloads));

    let small = work.join("innocent.txt");
    let hash = random_file(&small, 1000);
    let viewer_args = ["--send-file", small.to_str().unwrap(), "--offer-name", "../../.bashrc"];
    let mut session = start(&xvfb, &downloads, &[], &viewer_args);
    let saved = session.agent.wait_for_line("file: saved ", PATIENCE).unwrap();
    assert!(saved.starts_with("\"bashrc\" in "), "{saved}");
    assert_eq!(names(&downloads), ["bashrc"]);
    assert_eq!(sha256(&std::fs::read(downloads.join("bashrc")).unwrap()), hash);
    assert!(!work.join(".bashrc").exists() && !downloads.join("../.bashrc").exists());
    session.end();
    std::fs::remove_dir_all(work).unwrap();
    std::fs::remove_dir_all(downloads).unwrap();
}

#[test]
#[ignore = "needs Xvfb"]
fn a_view_only_session_takes_no_file() {
    let xvfb = Xvfb::start(640, 480).expect("Xvfb starts");
    let (work, downloads) = (dir("vo-work"), dir("vo-dl"));
    let file = work.join("payload.sh");
    random_file(&file, 1000);
    let viewer_args = ["--send-file", file.to_str().unwrap()];
    let mut session = start(&xvfb, &downloads, &["--view-only"], &viewer_args);
    let rejected = session.viewer.wait_for_line("file: rejected ", PATIENCE).unwrap();
    assert!(rejected.starts_with("\"payload.sh\" reason=view_only"), "{rejected}");
    let stats = session.end();
    assert_eq!((stats.rejected, stats.received), (1, 0));
    assert!(names(&downloads).is_empty());
    std::fs::remove_dir_all(work).unwrap();
    std::fs::remove_dir_all(downloads).unwrap();
}
