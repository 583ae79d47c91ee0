//! The NAT lab: the real agent, viewer and signaling server (with its built-in STUN/TURN, or
//! Debian's coturn) in network namespaces behind routers that model each kind of NAT. For
//! every pair of NAT kinds the viewer must decode frames, over a direct pair where the NATs
//! allow one and a relayed pair only where they do not. docs/netlab.md has the table.
//!
//! Needs root (namespaces, iptables), Xvfb and the workspace binaries
//! (`cargo build --workspace --bins`). Run: `cargo test -p tether-testkit --test netlab --
//! --include-ignored --test-threads 2`.

use std::time::{Duration, Instant};

use tether_media::telemetry::ViewerStats;
use tether_testkit::netlab::{Lab, Nat, SERVER_IP, Site};
use tether_testkit::paint::Painter;
use tether_testkit::process::{ChildProcess, workspace_bin};
use tether_testkit::xvfb::Xvfb;

const PATIENCE: Duration = Duration::from_secs(60);
const SECRET: &str = "netlab-shared-secret";
/// The viewer's own bound on reaching `connected` (its `--connect-timeout`); docs/netlab.md
/// states it.
const CONNECT_TIMEOUT: &str = "30s";

struct Case {
    lab: Lab,
    _xvfb: Xvfb,
    _servers: Vec<ChildProcess>,
    agent: ChildProcess,
    server_url: String,
    code: String,
}

/// The signaling server on the internet segment, with the built-in STUN/TURN server.
fn signal(lab: &Lab, extra: &[&str]) -> ChildProcess {
    let mut cmd = lab.command(Site::Internet, workspace_bin("tether-signal"));
    cmd.args(["--bind", &format!("{SERVER_IP}:7878"), "--turn-secret", SECRET]).args(extra);
    let mut signal = ChildProcess::spawn_as("tether-signal", cmd).expect("signal starts");
    signal.wait_for_line("listening on ", PATIENCE).expect("signal listens");
    signal
}

/// The lab's "internet" is TEST-NET-3, which the built-in TURN server refuses to relay to
/// unless allowed; the peers' private host addresses stay refused, as in a deployment.
fn builtin_turn() -> Vec<&'static str> {
    vec!["--turn", "--turn-listen", "203.0.113.254:3478", "--turn-allow-peer", "203.0.113.0/24"]
}

fn start(agent_nat: Nat, viewer_nat: Nat, signal_args: &[&str]) -> Case {
    let lab = Lab::new(agent_nat, viewer_nat).expect("lab namespaces (needs root)");
    let xvfb = Xvfb::start(640, 360).expect("Xvfb starts");
    let servers = vec![signal(&lab, signal_args)];
    let server_url = format!("ws://{SERVER_IP}:7878");
    let mut cmd = lab.command(Site::Agent, workspace_bin("tether-agent"));
    // The display's filesystem socket (/tmp/.X11-unix) is reachable from any network
    // namespace; X clients fall back to it when the abstract one (per namespace) refuses.
    cmd.env("DISPLAY", xvfb.display())
        .args(["--server", &server_url, "--auto-allow", "--no-tray", "--no-audio"])
        .args(["--max-fps", "15", "--bitrate", "1000"]);
    let mut agent = ChildProcess::spawn_as("tether-agent", cmd).expect("agent starts");
    let code = agent.wait_for_line("code: ", PATIENCE).expect("agent registers");
    Case { lab, _xvfb: xvfb, _servers: servers, agent, server_url, code }
}

fn viewer(case: &Case, site: Site) -> ChildProcess {
    let mut cmd = case.lab.command(site, workspace_bin("tether-viewer"));
    cmd.arg(&case.code)
        .args(["--server", &case.server_url, "--headless", "--duration", "120s"])
        .args(["--connect-timeout", CONNECT_TIMEOUT]);
    ChildProcess::spawn_as("tether-viewer", cmd).expect("viewer starts")
}

/// `pair=host->srflx)` at the end of a `state: connected (...)` line.
fn pair_of(line: &str) -> String {
    let at = line.rfind("pair=").map_or(line.len(), |i| i + 5);
    line[at..].trim_end_matches(')').to_owned()
}

/// Waits until a `stats:` line shows decoded frames; returns that line.
fn wait_for_frames(viewer: &mut ChildProcess) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = viewer.wait_for_line("stats: ", left).expect("stats with frames");
        if frames_of(&line) > 0 {
            return line;
        }
    }
}

/// Connects a viewer behind `viewer_nat` to an agent behind `agent_nat`; returns the pair.
fn connect(agent_nat: Nat, viewer_nat: Nat, signal_args: &[&str]) -> String {
    let mut case = start(agent_nat, viewer_nat, signal_args);
    let mut viewer = viewer(&case, Site::Viewer);
    let line = viewer.wait_for_line("state: connected", PATIENCE).expect("viewer connects");
    let pair = pair_of(&line);
    let stats = wait_for_frames(&mut viewer);
    let agent_line = case.agent.wait_for_line("state: connected", PATIENCE).expect("agent line");
    println!(
        "netlab: agent={} viewer={} viewer-pair={pair} agent-pair={} | {stats}",
        agent_nat.name(),
        viewer_nat.name(),
        pair_of(&agent_line)
    );
    pair
}

fn is_relayed(pair: &str) -> bool {
    pair.contains("relay")
}

macro_rules! nat_pair {
    ($name:ident, $a:ident, $b:ident, relayed = $relayed:expr) => {
        #[test]
        #[ignore = "needs root and network namespaces"]
        fn $name() {
            let pair = connect(Nat::$a, Nat::$b, &builtin_turn());
            assert_eq!(is_relayed(&pair), $relayed, "pair {pair}");
        }
    };
}

nat_pair!(full_cone_to_full_cone, FullCone, FullCone, relayed = false);
nat_pair!(full_cone_to_addr_restricted, FullCone, AddressRestricted, relayed = false);
nat_pair!(full_cone_to_port_restricted, FullCone, PortRestricted, relayed = false);
nat_pair!(full_cone_to_symmetric, FullCone, Symmetric, relayed = false);
nat_pair!(
    addr_restricted_to_addr_restricted,
    AddressRestricted,
    AddressRestricted,
    relayed = false
);
nat_pair!(addr_restricted_to_port_restricted, AddressRestricted, PortRestricted, relayed = false);
nat_pair!(addr_restricted_to_symmetric, AddressRestricted, Symmetric, relayed = false);
nat_pair!(port_restricted_to_port_restricted, PortRestricted, PortRestricted, relayed = false);
nat_pair!(port_restricted_to_symmetric, PortRestricted, Symmetric, relayed = true);
nat_pair!(symmetric_to_port_restricted, Symmetric, PortRestricted, relayed = true);
nat_pair!(symmetric_to_symmetric, Symmetric, Symmetric, relayed = true);

/// TURN blocked and symmetric NATs on both sides: the viewer says ICE failed within its
/// connect timeout and exits non-zero; the agent goes back to waiting and serves the next
/// viewer (one on the internet segment, which it can reach directly).
#[test]
#[ignore = "needs root and network namespaces"]
fn ice_failure_is_reported_and_the_agent_serves_the_next_viewer() {
    let mut case = start(Nat::Symmetric, Nat::Symmetric, &builtin_turn());
    case.lab.block_udp_port(3478).expect("block TURN");
    let started = Instant::now();
    let mut failed = viewer(&case, Site::Viewer);
    let ended = failed.wait_for_line("state: ended (", PATIENCE).expect("viewer gives up");
    let took = started.elapsed();
    println!("netlab: ICE failure reported after {took:?}: {ended}");
    assert!(ended.contains("ICE"), "{ended}");
    let status = wait_exit(&mut failed);
    assert!(!status.success(), "the viewer exits non-zero: {status}");
    case.agent.wait_for_line("state: waiting", PATIENCE).expect("agent waits again");
    // Codes are single-use: the next supporter is read the agent's new code.
    case.code = case.agent.wait_for_line("code: ", PATIENCE).expect("a new code");

    let mut next = viewer(&case, Site::Internet);
    next.wait_for_line("state: connected", PATIENCE).expect("second viewer connects");
    wait_for_frames(&mut next);
}

fn wait_exit(child: &mut ChildProcess) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the viewer did not exit");
}

/// `tether-signal`'s flags that hand out coturn (on the server address) instead of running
/// the built-in STUN/TURN server: no other TURN server runs in the lab.
fn coturn_signal_args() -> Vec<String> {
    let turn_url = format!("turn:{SERVER_IP}:3478?transport=udp");
    let stun_url = format!("stun:{SERVER_IP}:3478");
    ["--turn-url", &turn_url, "--stun-url", &stun_url].map(String::from).to_vec()
}

/// Peers coturn refuses (RFC 1918), among them the peers' host candidates. Without this,
/// coturn's relay socket sends to them fail (the internet segment has no route to the private
/// networks: `ENETUNREACH`) and coturn closes the whole allocation (`closed (2nd stage) …
/// reason: general`), so no media flows; with it, those permissions are refused (`403
/// Forbidden IP`) and the allocation lives. Public deployments deny them too. docs/netlab.md.
const PRIVATE_RANGES: [&str; 3] =
    ["10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255"];

/// Debian's coturn on the internet segment, checking the signaling server's REST credentials
/// with the same shared secret; `-v` logs every request and its result on stdout.
fn coturn(lab: &Lab) -> ChildProcess {
    let mut coturn = lab.command(Site::Internet, "turnserver");
    coturn
        .args(["-n", "--no-cli", "--use-auth-secret", "--realm", "tether"])
        .arg(format!("--static-auth-secret={SECRET}"))
        .args(["--listening-ip", SERVER_IP, "--relay-ip", SERVER_IP, "--listening-port", "3478"])
        .args(["--no-tcp", "--no-tls", "--no-dtls", "--log-file", "stdout", "--simple-log", "-v"])
        .args(["--pidfile", "/dev/null"])
        .args(PRIVATE_RANGES.map(|range| format!("--denied-peer-ip={range}")));
    let mut coturn =
        ChildProcess::spawn_as("turnserver", coturn).expect("coturn starts (scripts/deps.sh test)");
    coturn.wait_for_line("", PATIENCE).expect("coturn runs");
    coturn
}

/// Waits for a coturn log line that contains every one of `parts`; returns it.
fn coturn_logged(coturn: &mut ChildProcess, parts: &[&str]) -> String {
    loop {
        let line = coturn.wait_for_line("", PATIENCE).expect("coturn logs it");
        assert!(!line.contains("401: Unauthorized") || !line.contains(":s-"), "{line}");
        if parts.iter().all(|part| line.contains(part)) {
            return line;
        }
    }
}

/// Symmetric NATs on both sides: coturn accepts the REST credentials that the signaling
/// server handed out, and both peers' allocations succeed (the `coturn_relays_media_*` cases
/// below carry media through it).
#[test]
#[ignore = "needs root and network namespaces"]
fn coturn_accepts_the_rest_credentials() {
    let signal_args = coturn_signal_args();
    let signal_args: Vec<&str> = signal_args.iter().map(String::as_str).collect();
    let mut case = start(Nat::Symmetric, Nat::Symmetric, &signal_args);
    let mut coturn = coturn(&case.lab);
    let _viewer = viewer(&case, Site::Viewer);
    for _ in 0..2 {
        coturn_logged(&mut coturn, &["ALLOCATE processed, success", ":s-"]);
    }
    case.agent.wait_for_line("state: sharing", PATIENCE).expect("agent shares");
}

/// Connects a viewer to an agent with coturn (the only TURN server in the lab) as the relay;
/// waits for decoded frames and returns both sides' pairs (viewer's, agent's).
fn connect_through_coturn(agent_nat: Nat, viewer_nat: Nat) -> (String, String) {
    let signal_args = coturn_signal_args();
    let signal_args: Vec<&str> = signal_args.iter().map(String::as_str).collect();
    let mut case = start(agent_nat, viewer_nat, &signal_args);
    let mut coturn = coturn(&case.lab);
    let mut viewer = viewer(&case, Site::Viewer);
    let line = viewer.wait_for_line("state: connected", PATIENCE).expect("viewer connects");
    let pair = pair_of(&line);
    let stats = wait_for_frames(&mut viewer);
    let agent_line = case.agent.wait_for_line("state: connected", PATIENCE).expect("agent line");
    let agent_pair = pair_of(&agent_line);
    println!(
        "netlab: coturn agent={} viewer={} viewer-pair={pair} agent-pair={agent_pair} | {stats}",
        agent_nat.name(),
        viewer_nat.name()
    );
    coturn_logged(&mut coturn, &["ALLOCATE processed, success", ":s-"]);
    (pair, agent_pair)
}

/// Media through Debian's coturn where one side needs the relay: the viewer behind a
/// symmetric NAT cannot be reached directly from the agent's port-restricted NAT.
#[test]
#[ignore = "needs root and network namespaces"]
fn coturn_relays_media_to_a_viewer_behind_symmetric_nat() {
    let (pair, agent_pair) = connect_through_coturn(Nat::PortRestricted, Nat::Symmetric);
    assert!(is_relayed(&pair) || is_relayed(&agent_pair), "pairs {pair} / {agent_pair}");
}

/// Media through Debian's coturn with symmetric NATs on both sides.
#[test]
#[ignore = "needs root and network namespaces"]
fn coturn_relays_media_between_symmetric_nats() {
    let (pair, agent_pair) = connect_through_coturn(Nat::Symmetric, Nat::Symmetric);
    assert!(is_relayed(&pair) || is_relayed(&agent_pair), "pairs {pair} / {agent_pair}");
}

/// A UDP outage on the agent's side: the connection goes `disconnected`, the agent restarts
/// ICE (a new offer with fresh credentials), the viewer answers it, and once the network is
/// back both sides report `connected` again and a new picture arrives over the new path.
#[test]
#[ignore = "needs root and network namespaces"]
fn ice_restart_reconnects_after_an_outage() {
    let mut case = start(Nat::FullCone, Nat::PortRestricted, &builtin_turn());
    let mut viewer = viewer(&case, Site::Viewer);
    viewer.wait_for_line("state: connected", PATIENCE).expect("viewer connects");
    wait_for_frames(&mut viewer);
    case.agent.wait_for_line("state: connected", PATIENCE).expect("agent connects");
    case.lab.cut_udp(Site::Agent, true).expect("cut");
    case.agent.wait_for_line("state: reconnecting", PATIENCE).expect("agent restarts ICE");
    case.lab.cut_udp(Site::Agent, false).expect("restore");
    viewer.wait_for_line("state: reconnecting", PATIENCE).expect("viewer answers the restart");
    let again = viewer.wait_for_line("state: connected", PATIENCE).expect("viewer reconnects");
    case.agent.wait_for_line("state: connected", PATIENCE).expect("agent reconnects");
    println!("netlab: after the ICE restart: connected{again}");
    let before = frames_of(&viewer.wait_for_line("stats: ", PATIENCE).expect("stats"));
    // Something new on the screen, so that a frame is sent over the new path.
    let painter = Painter::connect(case._xvfb.display()).expect("X connection");
    painter.fill_test_pattern(640, 360).expect("paint");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = viewer.wait_for_line("stats: ", left).expect("frames after the restart");
        if frames_of(&line) > before {
            println!("netlab: after the ICE restart: {line}");
            break;
        }
    }
}

fn frames_of(stats: &str) -> u64 {
    stats.parse::<ViewerStats>().map_or(0, |s| s.frames)
}
