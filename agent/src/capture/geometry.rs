//! [`MonitorGeometry`]: where the shared monitor lies on the X screen, for the input stage,
//! which moves the pointer in screen coordinates while the viewer sends positions relative to
//! the picture it sees.

use std::time::{Duration, Instant};

use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::CaptureError;
use super::x11::{list_monitors, select_monitor, x11_display_name};

/// How long a looked-up rectangle is trusted: monitors change rarely, and the capture side
/// follows the same list at the same pace.
const RECHECK: Duration = Duration::from_secs(1);

/// A monitor's rectangle in the coordinates of its X screen (the root window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorRect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

/// Monitor `monitor` (the agent's `--display`, as in [`super::DisplaySpec::X11`]) of an X
/// display, looked up on its own connection and re-read at most once a [`RECHECK`].
pub struct MonitorGeometry {
    conn: RustConnection,
    display: String,
    monitor: usize,
    rect: MonitorRect,
    checked: Instant,
}

impl MonitorGeometry {
    /// Connects to `display` (`None`: `DISPLAY`) and reads the rectangle of `monitor`.
    pub fn open(display: Option<&str>, monitor: usize) -> Result<Self, CaptureError> {
        let wayland = std::env::var_os("WAYLAND_DISPLAY");
        let display = x11_display_name(display, std::env::var_os("DISPLAY"), wayland)?;
        let (conn, _) = x11rb::connect(Some(&display)).map_err(|e| CaptureError::Connect {
            display: display.clone(),
            reason: e.to_string(),
        })?;
        // RandR answers GetMonitors only to clients that announced 1.5.
        conn.randr_query_version(1, 5)?.reply()?;
        let rect = read(&conn, monitor, &display)?;
        Ok(MonitorGeometry { conn, display, monitor, rect, checked: Instant::now() })
    }

    /// The monitor's rectangle now (at most [`RECHECK`] old).
    pub fn rect(&mut self) -> Result<MonitorRect, CaptureError> {
        if self.checked.elapsed() >= RECHECK {
            self.rect = read(&self.conn, self.monitor, &self.display)?;
            self.checked = Instant::now();
        }
        Ok(self.rect)
    }
}

fn read(conn: &RustConnection, monitor: usize, display: &str) -> Result<MonitorRect, CaptureError> {
    let (_, r) = select_monitor(&list_monitors(conn)?, monitor, display)?;
    Ok(MonitorRect { x: r.x.into(), y: r.y.into(), width: r.w.into(), height: r.h.into() })
}
