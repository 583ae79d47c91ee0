//! Private Xvfb servers. Each one lets the server pick a free display number (`-displayfd`), so
//! parallel tests never collide; it is stopped and reaped on drop.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use x11rb::rust_connection::RustConnection;

use crate::randr;

/// Time for Xvfb to start listening (it compiles a keymap first, which is slow on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Xvfb at depth 24 with MIT-SHM and RandR.
pub struct Xvfb {
    child: Child,
    display: String,
    log: PathBuf,
    /// Drains stdout (the `-displayfd` pipe) until the server exits.
    reader: Option<JoinHandle<()>>,
}

/// Options for [`Xvfb`]; see [`Xvfb::builder`].
pub struct XvfbBuilder {
    width: u32,
    height: u32,
    args: Vec<OsString>,
    program: OsString,
    private_ipc: bool,
}

impl XvfbBuilder {
    /// Extra server arguments, after the defaults (so `-extension MIT-SHM` turns it off again).
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The server binary (default `Xvfb`).
    pub fn program(mut self, program: impl Into<OsString>) -> Self {
        self.program = program.into();
        self
    }

    /// Runs the server in its own IPC namespace (`unshare --user --map-root-user --ipc`), so it
    /// cannot see clients' SysV shared memory: how MIT-SHM fails in containers and over SSH.
    /// Needs unprivileged user namespaces.
    pub fn private_ipc_namespace(mut self) -> Self {
        self.private_ipc = true;
        self
    }

    pub fn start(self) -> Result<Xvfb> {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!("tether-xvfb-{}-{n}.log", std::process::id()));
        let log_file =
            File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = if self.private_ipc {
            let mut c = Command::new("unshare");
            c.args(["--user", "--map-root-user", "--ipc"]).arg(&self.program);
            c
        } else {
            Command::new(&self.program)
        };
        // The display number comes back on fd 1, which is our pipe; the log goes to a file so a
        // chatty server never blocks on a full pipe.
        command
            .args(["-displayfd", "1", "-screen", "0"])
            .arg(format!("{}x{}x24", self.width, self.height))
            .args(["-nolisten", "tcp", "+extension", "MIT-SHM", "+extension", "RANDR"])
            // Without it the server resets whenever its last client disconnects, undoing
            // resizes and monitors and refusing connections for a moment.
            .arg("-noreset")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let program = self.program.to_string_lossy();
        let child = command.spawn().map_err(|e| {
            let _ = fs::remove_file(&log);
            match e.kind() {
                std::io::ErrorKind::NotFound if self.private_ipc => {
                    anyhow!("unshare is not installed: {e}")
                }
                std::io::ErrorKind::NotFound => {
                    anyhow!("{program} is not installed: run scripts/deps.sh test")
                }
                _ => anyhow!("cannot start {program}: {e}"),
            }
        })?;
        // From here on, dropping `xvfb` stops the server and removes the log.
        let mut xvfb = Xvfb { child, display: String::new(), log, reader: None };
        let stdout = xvfb.child.stdout.take().context("stdout was not piped")?;
        let (tx, rx) = mpsc::channel();
        let reader = thread::Builder::new().name("xvfb-displayfd".into()).spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            lines.for_each(drop);
        })?;
        xvfb.reader = Some(reader);
        let number = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line.trim().parse::<u32>().ok(),
            _ => None,
        };
        let Some(number) = number else {
            bail!(
                "{program} did not report a display number within {START_TIMEOUT:?}{}",
                xvfb.log_tail()
            );
        };
        xvfb.display = format!(":{number}");
        // The number is written once the server listens; check that it also speaks X11.
        if let Err(e) = x11rb::connect(Some(&xvfb.display)) {
            bail!(
                "{program} on {} does not accept connections: {e}{}",
                xvfb.display,
                xvfb.log_tail()
            );
        }
        Ok(xvfb)
    }
}

impl Xvfb {
    pub fn builder(width: u32, height: u32) -> XvfbBuilder {
        XvfbBuilder { width, height, args: Vec::new(), program: "Xvfb".into(), private_ipc: false }
    }

    /// Starts `Xvfb -displayfd 1 -screen 0 WxHx24 -nolisten tcp +extension MIT-SHM +extension RANDR
    /// -noreset`.
    pub fn start(width: u32, height: u32) -> Result<Xvfb> {
        Self::builder(width, height).start()
    }

    /// The display name, `:N`.
    pub fn display(&self) -> &str {
        &self.display
    }

    pub fn connect(&self) -> Result<(RustConnection, usize)> {
        x11rb::connect(Some(&self.display))
            .with_context(|| format!("cannot connect to {}", self.display))
    }

    /// See [`randr::resize`]: Xvfb can shrink and grow back, never past its starting size.
    pub fn resize(&self, width: u16, height: u16) -> Result<()> {
        randr::resize(&self.display, width, height)
    }

    /// See [`randr::add_monitor`].
    pub fn add_monitor(&self, name: &str, rect: (i16, i16, u16, u16), primary: bool) -> Result<()> {
        randr::add_monitor(&self.display, name, rect, primary)
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "; server log ({}):\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(15)..].join("\n")
        )
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM lets the server remove its lock file and socket.
        let _ = crate::process::terminate(&mut self.child, Duration::from_secs(5));
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let _ = fs::remove_file(&self.log);
    }
}

/// A display name nobody serves: no socket, lock file or abstract socket for it. Xvfb's
/// `-displayfd` counts up from 0, so the search starts high to stay out of its way.
pub fn unused_display() -> String {
    let abstract_sockets = fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let n = (4000..)
        .find(|n| {
            let socket = format!("/tmp/.X11-unix/X{n}");
            !PathBuf::from(&socket).exists()
                && !PathBuf::from(format!("/tmp/.X{n}-lock")).exists()
                && !abstract_sockets.lines().any(|l| l.ends_with(&format!("@{socket}")))
        })
        .unwrap_or(4000);
    format!(":{n}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use x11rb::connection::{Connection, RequestConnection};
    use x11rb::protocol::xproto::ConnectionExt as _;

    fn root_size(xvfb: &Xvfb) -> (u16, u16) {
        let (conn, screen) = xvfb.connect().unwrap();
        let root = conn.setup().roots[screen].root;
        let geometry = conn.get_geometry(root).unwrap().reply().unwrap();
        (geometry.width, geometry.height)
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn servers_get_their_own_displays() {
        let a = Xvfb::start(320, 240).unwrap();
        let b = Xvfb::start(640, 480).unwrap();
        assert_ne!(a.display(), b.display());
        assert_eq!(root_size(&a), (320, 240));
        assert_eq!(root_size(&b), (640, 480));
        let (conn, _) = a.connect().unwrap();
        assert!(conn.extension_information("MIT-SHM").unwrap().is_some());
        let display = a.display().to_owned();
        drop(a);
        assert!(x11rb::connect(Some(&display)).is_err(), "stopped on drop");
    }

    #[test]
    fn missing_server_says_how_to_install_it() {
        let err = Xvfb::builder(320, 240).program("Xvfb-not-installed").start().err().unwrap();
        assert!(err.to_string().contains("run scripts/deps.sh test"), "{err}");
    }

    #[test]
    fn unused_display_has_no_socket() {
        let display = unused_display();
        let n = display.trim_start_matches(':');
        assert!(!PathBuf::from(format!("/tmp/.X11-unix/X{n}")).exists());
        assert!(x11rb::connect(Some(&display)).is_err());
    }
}
