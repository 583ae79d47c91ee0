//! [`MonitorGeometry`]: where the shared monitor lies on the X screen, for the input stage,
//! which moves the pointer in screen coordinates while the viewer sends positions relative to
//! the picture it sees; [`MonitorWatch`]: the monitor list and its changes, for the viewer's
//! monitor menu.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tether_proto::display::Monitor;
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use super::x11::{list_monitors, named_monitors, select_monitor, x11_display_name};
use super::{CaptureError, Shown, ShownMonitor};

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

/// The shown monitor of an X display (as the session's [`ShownMonitor`] says), looked up on its
/// own connection, re-read at most once a [`RECHECK`] and at once when the choice changes.
pub struct MonitorGeometry {
    conn: RustConnection,
    display: String,
    shown: Arc<ShownMonitor>,
    showing: Shown,
    rect: MonitorRect,
    checked: Instant,
}

impl MonitorGeometry {
    /// Connects to `display` (`None`: `DISPLAY`) and reads the rectangle `shown` covers.
    pub fn open(display: Option<&str>, shown: Arc<ShownMonitor>) -> Result<Self, CaptureError> {
        let (conn, display) = connect(display)?;
        let showing = shown.get();
        let rect = read(&conn, showing, &display)?;
        Ok(MonitorGeometry { conn, display, shown, showing, rect, checked: Instant::now() })
    }

    /// The shown rectangle now (at most [`RECHECK`] old, and of the current choice).
    pub fn rect(&mut self) -> Result<MonitorRect, CaptureError> {
        let wanted = self.shown.get();
        if wanted != self.showing || self.checked.elapsed() >= RECHECK {
            self.rect = read(&self.conn, wanted, &self.display)?;
            (self.showing, self.checked) = (wanted, Instant::now());
        }
        Ok(self.rect)
    }
}

fn read(conn: &RustConnection, shown: Shown, display: &str) -> Result<MonitorRect, CaptureError> {
    let (_, r) = select_monitor(&list_monitors(conn)?, shown, display)?;
    Ok(MonitorRect { x: r.x.into(), y: r.y.into(), width: r.w.into(), height: r.h.into() })
}

/// Connects to `display` (`None`: `DISPLAY`) for RandR 1.5 monitor queries.
fn connect(display: Option<&str>) -> Result<(RustConnection, String), CaptureError> {
    let wayland = std::env::var_os("WAYLAND_DISPLAY");
    let display = x11_display_name(display, std::env::var_os("DISPLAY"), wayland)?;
    let (conn, _) = x11rb::connect(Some(&display))
        .map_err(|e| CaptureError::Connect { display: display.clone(), reason: e.to_string() })?;
    // RandR answers GetMonitors only to clients that announced 1.5.
    conn.randr_query_version(1, 5)?.reply()?;
    Ok((conn, display))
}

/// The X server's monitor list, with names, and whether RandR said it changed.
pub struct MonitorWatch {
    conn: RustConnection,
}

impl MonitorWatch {
    /// Connects to `display` (`None`: `DISPLAY`) and asks for RandR's change notifications.
    pub fn open(display: Option<&str>) -> Result<Self, CaptureError> {
        let (conn, _) = connect(display)?;
        let changes = randr::NotifyMask::SCREEN_CHANGE
            | randr::NotifyMask::CRTC_CHANGE
            | randr::NotifyMask::OUTPUT_CHANGE;
        for screen in &conn.setup().roots {
            conn.randr_select_input(screen.root, changes)?.check()?;
        }
        Ok(MonitorWatch { conn })
    }

    /// Every monitor, the primary first.
    pub fn list(&self) -> Result<Vec<Monitor>, CaptureError> {
        named_monitors(&self.conn)
    }

    /// Whether a RandR event arrived since the last call; takes what has arrived, never waits.
    pub fn changed(&self) -> Result<bool, CaptureError> {
        let mut changed = false;
        while let Some(event) = self.conn.poll_for_event()? {
            changed |= matches!(event, Event::RandrScreenChangeNotify(_) | Event::RandrNotify(_));
        }
        Ok(changed)
    }
}
