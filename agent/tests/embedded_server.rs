//! The real binaries: the agent starts its embedded server and prints its code; a viewer joins
//! with that code through the printed address.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

struct Agent {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Agent {
    fn start(args: &[&str]) -> Self {
        let mut all = vec!["--bind", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Self::start_exactly(&all)
    }

    /// Without the tests' own `--bind`.
    fn start_exactly(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tether-agent"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tether-agent starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::sync_channel(64);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Agent { child, lines }
    }

    fn line_starting(&self, prefix: &str) -> String {
        loop {
            let line = self.lines.recv_timeout(PATIENCE).expect("the agent prints in time");
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The viewer binary, built next to the agent by `cargo test --workspace` (cargo cannot name
/// another package's binary here).
fn viewer() -> Command {
    let path =
        std::path::Path::new(env!("CARGO_BIN_EXE_tether-agent")).with_file_name("tether-viewer");
    assert!(path.exists(), "{} missing: run `cargo build -p tether-viewer` first", path.display());
    Command::new(path)
}

fn is_display_code(code: &str) -> bool {
    let groups: Vec<&str> = code.split(' ').collect();
    groups.len() == 3
        && groups.iter().all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn agent_prints_address_and_code_and_a_viewer_can_join() {
    let agent = Agent::start(&[]);
    let server = agent.line_starting("server: ");
    assert!(server.starts_with("ws://127.0.0.1:"), "{server}");
    let code = agent.line_starting("code: ");
    assert!(is_display_code(&code), "{code:?}");

    // No terminal to ask on and no --auto-allow: the agent must deny, and say so.
    let out = viewer()
        .args([code.as_str(), "--server", &server.replace("ws://", "http://"), "--name", "Sam"])
        .arg("--headless")
        .output()
        .expect("tether-viewer runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a denied viewer exits with an error: {stdout}");
    assert!(stdout.contains("state: joined"), "{stdout}");
    assert!(stdout.contains("state: ended (the person declined"), "{stdout}");
}

#[test]
fn the_host_name_does_not_go_to_whoever_has_the_code() {
    let agent = Agent::start(&[]);
    let server = agent.line_starting("server: ");
    let code = agent.line_starting("code: ");
    let out = viewer()
        .args([code.as_str(), "--server", &server, "--name", "Sam", "--headless"])
        .output()
        .expect("tether-viewer runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Joined, not yet allowed: the viewer learns nothing about the computer.
    assert!(stdout.contains("state: joined \"\";"), "{stdout}");
}

#[test]
fn the_code_is_printed_again_when_it_changes() {
    // The shortest time-to-live the server accepts.
    let agent = Agent::start(&["--code-ttl", "10s"]);
    let first = agent.line_starting("code: ");
    let second = agent.line_starting("code: ");
    assert!(is_display_code(&second));
    assert_ne!(first, second);
}

#[test]
fn a_wrong_code_is_a_clear_error() {
    let agent = Agent::start(&[]);
    let server = agent.line_starting("server: ");
    let code = agent.line_starting("code: ");
    let wrong =
        if code.starts_with('0') { code.replacen('0', "1", 1) } else { format!("0{}", &code[1..]) };
    let out = viewer().args([wrong.as_str(), "--server", &server, "--headless"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown_code"), "{stderr}");

    let out = viewer().args(["12-34", "--server", &server, "--headless"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("9 digits"));
}

#[test]
fn by_default_the_embedded_server_listens_on_this_computer_only() {
    let agent = Agent::start_exactly(&["--no-tray", "--no-audio"]);
    let server = agent.line_starting("server: ");
    let port: u16 = server
        .strip_prefix("ws://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a loopback address, not {server:?}"));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "reachable here");
    // Every other address of this machine refuses the port.
    let others: Vec<std::net::IpAddr> =
        local_addresses().into_iter().filter(|ip| !ip.is_loopback()).collect();
    for ip in others {
        let to = std::net::SocketAddr::new(ip, port);
        let refused = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(1)).is_err();
        assert!(refused, "{to} must not accept connections without --lan");
    }
}

#[test]
fn lan_and_bind_cannot_both_be_given() {
    let out = Command::new(env!("CARGO_BIN_EXE_tether-agent"))
        .args(["--lan", "--bind", "0.0.0.0:0", "--no-tray"])
        .output()
        .expect("tether-agent runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

/// This machine's IPv4 addresses, from `ip -4 -o addr` (the test has no crate for it).
fn local_addresses() -> Vec<std::net::IpAddr> {
    let out = Command::new("ip").args(["-4", "-o", "addr"]).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "inet")?;
            words.get(at + 1)?.split('/').next()?.parse().ok()
        })
        .collect()
}
