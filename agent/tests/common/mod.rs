//! Helpers for the consent and tray tests: the agent and viewer binaries, a desktop with a
//! D-Bus session and an XEmbed tray, windows found with xdotool.

#![allow(dead_code)] // each test file uses part of this

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tether_testkit::paint::{Painter, RgbaImage};
use tether_testkit::process::{ChildProcess, workspace_bin};
use tether_testkit::xvfb::Xvfb;

pub const PATIENCE: Duration = Duration::from_secs(60);

/// Allow takes no answer for a second after the question appears (`ui::ALLOW_ARMS_AFTER`);
/// a test that allows waits this long after the question, with room to spare.
pub fn wait_until_allow_is_armed() {
    std::thread::sleep(Duration::from_millis(1500));
}

/// A running agent with its server address and code.
pub struct Agent {
    pub process: ChildProcess,
    pub server: String,
    pub code: String,
}

impl Agent {
    /// Starts the agent with its embedded server on loopback; `env` adds variables (DISPLAY).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tether-agent"));
        cmd.args(["--bind", "127.0.0.1:0", "--udp-bind", "127.0.0.1:0", "--no-audio"])
            .args(args)
            .env_remove("DISPLAY")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(env.iter().copied())
            .stdin(Stdio::piped());
        let mut process = ChildProcess::spawn(cmd).expect("agent starts");
        let server = process.wait_for_line("server: ", PATIENCE).expect("server line");
        let code = process.wait_for_line("code: ", PATIENCE).expect("code line");
        Agent { process, server, code }
    }

    /// Writes one line to the agent's stdin.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.process.stdin().expect("stdin is piped");
        writeln!(stdin, "{line}").expect("agent reads stdin");
        stdin.flush().unwrap();
    }

    pub fn wait_for(&mut self, prefix: &str) -> String {
        self.process.wait_for_line(prefix, PATIENCE).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// The first line starting with `one` or `other`, whole.
    pub fn wait_for_either(&mut self, one: &str, other: &str) -> String {
        loop {
            let line = self.wait_for("");
            if line.starts_with(one) || line.starts_with(other) {
                return line;
            }
        }
    }

    /// Starts a headless viewer that joins this agent as "Sam".
    pub fn viewer(&self, display: Option<&str>) -> ChildProcess {
        self.viewer_named("Sam", display)
    }

    /// Starts a headless viewer that joins this agent as `name`.
    pub fn viewer_named(&self, name: &str, display: Option<&str>) -> ChildProcess {
        let mut cmd = Command::new(workspace_bin("tether-viewer"));
        cmd.arg(&self.code)
            .args(["--server", &self.server, "--headless", "--name", name])
            .args(["--udp-bind", "127.0.0.1:0"]);
        if let Some(display) = display {
            cmd.env("DISPLAY", display);
        }
        ChildProcess::spawn(cmd).expect("viewer starts")
    }
}

/// Reads a viewer's lines until it ends; returns them all.
pub fn all_lines(viewer: &mut ChildProcess) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = viewer.wait_for_line("", PATIENCE) {
        lines.push(line);
    }
    lines
}

/// Waits for a child to exit.
pub fn wait_exit(child: &mut ChildProcess) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the process did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Xvfb with a D-Bus session bus and `trayer` (an XEmbed system tray) along the top left.
pub struct Desktop {
    pub xvfb: Xvfb,
    pub dbus_address: String,
    _dbus: ChildProcess,
    _trayer: Option<ChildProcess>,
}

impl Desktop {
    pub fn start(with_tray: bool) -> Self {
        let xvfb = Xvfb::start(1024, 768).expect("Xvfb starts");
        let mut dbus = Command::new("dbus-daemon");
        dbus.args(["--session", "--nofork", "--print-address=1"]);
        let mut dbus = ChildProcess::spawn(dbus).expect("dbus-daemon starts");
        let dbus_address = format!(
            "unix:{}",
            dbus.wait_for_line("unix:", PATIENCE).expect("dbus-daemon prints its address")
        );
        let trayer = with_tray.then(|| {
            let mut cmd = Command::new("trayer");
            cmd.env("DISPLAY", xvfb.display())
                .args(["--edge", "top", "--align", "left", "--widthtype", "pixel", "--width"])
                .args(["200", "--heighttype", "pixel", "--height", "32", "--SetDockType"])
                .args(["false", "--SetPartialStrut", "false", "--transparent", "false"])
                .stderr(Stdio::null());
            ChildProcess::spawn(cmd).expect("trayer starts")
        });
        let desktop = Desktop { xvfb, dbus_address, _dbus: dbus, _trayer: trayer };
        if with_tray {
            desktop.wait_for_window(&["--onlyvisible", "--class", "trayer"]);
        }
        desktop
    }

    pub fn display(&self) -> &str {
        self.xvfb.display()
    }

    pub fn env(&self) -> [(&str, &str); 2] {
        [("DISPLAY", self.display()), ("DBUS_SESSION_BUS_ADDRESS", &self.dbus_address)]
    }

    pub fn screenshot(&self) -> RgbaImage {
        Painter::connect(self.display()).expect("X connection").screenshot().expect("screenshot")
    }

    /// The largest visible window matching the xdotool search, as (x, y, w, h).
    pub fn window(&self, search: &[&str]) -> Option<(i32, i32, i32, i32)> {
        let out = self.xdotool(&[&["search"], search].concat());
        out.lines()
            .filter_map(|id| self.geometry(id.trim()))
            .filter(|g| g.2 > 1 && g.3 > 1)
            .max_by_key(|g| g.2 * g.3)
    }

    pub fn wait_for_window(&self, search: &[&str]) -> (i32, i32, i32, i32) {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(g) = self.window(search) {
                return g;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no window {search:?} appeared");
    }

    /// Moves the pointer to (x, y) and clicks the left button.
    pub fn click(&self, x: i32, y: i32) {
        self.xdotool(&["mousemove", &x.to_string(), &y.to_string(), "click", "1"]);
    }

    /// The CLIPBOARD selection as UTF-8 text, as a pasting client would ask for it; `None`
    /// while nobody owns it.
    pub fn clipboard(&self) -> Option<String> {
        use x11rb::connection::Connection;
        use x11rb::protocol::Event;
        use x11rb::protocol::xproto::{AtomEnum, ConnectionExt, CreateWindowAux, WindowClass};
        let (conn, screen) = x11rb::connect(Some(self.display())).ok()?;
        let root = conn.setup().roots[screen].root;
        let window = conn.generate_id().ok()?;
        conn.create_window(
            0,
            window,
            root,
            0,
            0,
            1,
            1,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new(),
        )
        .ok()?;
        let atom =
            |name: &str| Some(conn.intern_atom(false, name.as_bytes()).ok()?.reply().ok()?.atom);
        let (clipboard, utf8, target) =
            (atom("CLIPBOARD")?, atom("UTF8_STRING")?, atom("TETHER_PASTE")?);
        conn.convert_selection(window, clipboard, utf8, target, x11rb::CURRENT_TIME).ok()?;
        conn.flush().ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match conn.poll_for_event().ok()? {
                Some(Event::SelectionNotify(e)) if e.property == u32::from(AtomEnum::NONE) => {
                    return None;
                }
                Some(Event::SelectionNotify(_)) => {
                    let reply = conn
                        .get_property(true, window, target, AtomEnum::ANY, 0, 1024)
                        .ok()?
                        .reply()
                        .ok()?;
                    return String::from_utf8(reply.value).ok();
                }
                Some(_) => {}
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        None
    }

    /// Types keys (xdotool key names) to whatever has the keyboard.
    pub fn keys(&self, keys: &[&str]) {
        self.xdotool(&[&["key", "--delay", "100"], keys].concat());
    }

    fn geometry(&self, id: &str) -> Option<(i32, i32, i32, i32)> {
        let out = self.xdotool(&["getwindowgeometry", "--shell", id]);
        let field = |name: &str| {
            out.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        };
        Some((field("X")?, field("Y")?, field("WIDTH")?, field("HEIGHT")?))
    }

    fn xdotool(&self, args: &[&str]) -> String {
        let out = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", self.display())
            .output()
            .expect("xdotool runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Pixels within `tolerance` of `rgb` inside `(x, y, w, h)`, and outside it.
pub fn count_colour(image: &RgbaImage, area: (i32, i32, i32, i32), rgb: [u8; 3]) -> (usize, usize) {
    let (mut inside, mut outside) = (0, 0);
    for y in 0..image.height {
        for x in 0..image.width {
            let Some(p) = image.pixel(x, y) else { continue };
            let close = (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 12);
            if !close {
                continue;
            }
            let (x, y) = (x as i32, y as i32);
            if x >= area.0 && x < area.0 + area.2 && y >= area.1 && y < area.1 + area.3 {
                inside += 1;
            } else {
                outside += 1;
            }
        }
    }
    (inside, outside)
}
