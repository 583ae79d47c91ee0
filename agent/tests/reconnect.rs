//! The agent keeps its signaling server: when the server is killed or shut down, the agent
//! does not exit; once a server listens on the same port again, it registers again and prints
//! a new code, which a viewer can join. The tray shows the time in between.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use tether_signal::Config;
use tether_testkit::process::{ChildProcess, workspace_bin};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

const PATIENCE: Duration = Duration::from_secs(60);

/// A real `tether-signal` in this process, on a runtime of its own.
struct Server {
    runtime: Runtime,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tether_signal::ServeError>>,
}

impl Server {
    fn start(addr: SocketAddr) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(bind(addr));
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(tether_signal::serve(listener, Config::default(), async {
            let _ = stopped.await;
        }));
        Server { runtime, addr, stop, task }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Gone at once, as in a crash: every task and socket dropped, no `bye`.
    fn kill(self) {
        self.runtime.shutdown_background();
    }

    /// `bye{server_shutdown}` to everyone, then every connection closed.
    fn shut_down(self) {
        let Server { runtime, stop, task, .. } = self;
        let _ = stop.send(());
        let finished = runtime.block_on(async { tokio::time::timeout(PATIENCE, task).await });
        finished.expect("the server stops").unwrap().unwrap();
    }
}

/// Binds `addr`, trying again for a while (the port's old sockets may linger).
async fn bind(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("cannot listen on {addr} again");
}

fn agent(server: &str) -> ChildProcess {
    agent_with(server, &["--no-tray"], &[])
}

fn agent_with(server: &str, args: &[&str], env: &[(&str, &str)]) -> ChildProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tether-agent"));
    cmd.args(["--server", server, "--no-audio", "--udp-bind", "127.0.0.1:0"])
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .envs(env.iter().copied())
        .stdin(Stdio::piped());
    ChildProcess::spawn(cmd).expect("agent starts")
}

fn line(process: &mut ChildProcess, prefix: &str) -> String {
    process.wait_for_line(prefix, PATIENCE).unwrap_or_else(|e| panic!("{e:#}"))
}

fn still_running(agent: &mut ChildProcess) {
    let status = agent.try_wait().expect("try_wait");
    assert!(status.is_none(), "the agent exited: {status:?}");
}

/// A viewer joins `code` and the agent is asked about it (then denies).
fn a_viewer_can_join(agent: &mut ChildProcess, server: &str, code: &str) {
    let mut cmd = Command::new(workspace_bin("tether-viewer"));
    cmd.args([code, "--server", server, "--headless", "--name", "Sam"]);
    let _viewer = ChildProcess::spawn(cmd).expect("viewer starts");
    assert_eq!(line(agent, "state: asked by "), "\"Sam\" from 127.0.0.1");
    let stdin = agent.stdin().expect("stdin is piped");
    writeln!(stdin, "n").unwrap();
    assert_eq!(line(agent, "state: waiting ("), "the person declined)");
}

#[test]
fn a_killed_server_comes_back_and_the_agent_registers_again_with_a_new_code() {
    let server = Server::start("127.0.0.1:0".parse().unwrap());
    let (addr, url) = (server.addr, server.url());
    let mut agent = agent(&url);
    let first = line(&mut agent, "code: ");

    server.kill();
    line(&mut agent, "state: server lost (");
    // Nothing listens for a while: attempts fail, the agent waits and tries again.
    std::thread::sleep(Duration::from_secs(2));
    still_running(&mut agent);

    let server = Server::start(addr);
    let second = line(&mut agent, "code: ");
    assert_ne!(second, first, "a new registration, a new code");
    a_viewer_can_join(&mut agent, &url, &second);
    still_running(&mut agent);
    drop(server);
}

#[test]
fn the_agent_does_not_exit_when_its_server_shuts_down() {
    let server = Server::start("127.0.0.1:0".parse().unwrap());
    let (addr, url) = (server.addr, server.url());
    let mut agent = agent(&url);
    let first = line(&mut agent, "code: ");

    server.shut_down();
    assert!(line(&mut agent, "state: server lost (").contains("reconnecting in"));
    std::thread::sleep(Duration::from_secs(3));
    still_running(&mut agent);

    let _server = Server::start(addr);
    let second = line(&mut agent, "code: ");
    assert_ne!(second, first);
    // It answers its terminal as before.
    writeln!(agent.stdin().unwrap(), "c").unwrap();
    assert_eq!(line(&mut agent, "code: "), second);
    still_running(&mut agent);
}

#[test]
#[ignore = "needs Xvfb"]
fn the_tray_shows_reconnecting_until_the_server_is_back() {
    let desktop = common::Desktop::start(true);
    let server = Server::start("127.0.0.1:0".parse().unwrap());
    let (addr, url) = (server.addr, server.url());
    let mut agent = agent_with(&url, &[], &desktop.env());
    line(&mut agent, "tray: up");
    line(&mut agent, "code: ");
    server.kill();
    assert_eq!(line(&mut agent, "tray: icon "), "Offline");
    let _server = Server::start(addr);
    line(&mut agent, "code: ");
    assert_eq!(line(&mut agent, "tray: icon "), "Waiting");
}
