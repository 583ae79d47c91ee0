//! [`X11Source`]: one X11 monitor, read through MIT-SHM with `scrap`, followed through RandR,
//! and watched through DAMAGE so a still screen costs (almost) nothing.

use std::ffi::{CString, OsString};
use std::rc::Rc;
use std::time::{Duration, Instant};

use scrap::x11::{Capturer, Rect, Server};
use x11rb::connection::{Connection, SequenceNumber};
use x11rb::errors::{ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::protocol::Event;
use x11rb::protocol::damage::{ConnectionExt as _, Damage};
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::{ConnectionExt as _, Region};
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, ImageOrder, Window};
use x11rb::rust_connection::RustConnection;

use self::damage_rects::{damage_available, monitor_rects, watch_damage};
use super::{CaptureError, CapturedFrame, FrameSource, PixelRect};

/// Picks the X display name, or explains why there is none.
pub(super) fn x11_display_name(
    explicit: Option<&str>,
    display_env: Option<OsString>,
    wayland_env: Option<OsString>,
) -> Result<String, CaptureError> {
    if let Some(name) = explicit.filter(|n| !n.is_empty()) {
        return Ok(name.to_owned());
    }
    match display_env.filter(|v| !v.is_empty()) {
        Some(name) => Ok(name.to_string_lossy().into_owned()),
        None => match wayland_env.filter(|v| !v.is_empty()) {
            Some(wayland) => {
                Err(CaptureError::WaylandOnly { wayland: wayland.to_string_lossy().into_owned() })
            }
            None => Err(CaptureError::DisplayNotSet),
        },
    }
}

/// How often to re-read the monitor geometry when no RandR event said it changed (a backstop:
/// not every server reports every monitor change).
const GEOMETRY_POLL: Duration = Duration::from_secs(1);

/// One X11 monitor, captured through MIT-SHM.
///
/// Freshness: scrap queues the next `ShmGetImage` at the end of `frame()` but xcb does not flush
/// it; it reaches the server when the next `frame()` waits for its reply. So each image is taken
/// during the call, not one call earlier (under Xvfb a colour painted 50 ms after a `frame()` is in
/// the next one; see `x11_frame_is_fresh`). Nothing else uses scrap's connection, so this holds
/// and one `frame()` per capture is enough.
///
/// Change tracking: a DAMAGE object on the root window sends one `DamageNotify` when its region
/// goes from empty to not empty (`ReportLevel::NON_EMPTY`). `capture` empties the region and
/// waits for the server to have done so *before* it reads the pixels, so drawing that lands
/// during the read sends a new notify: a change is in the frame, reported again, or both; never
/// lost. Notifies the server sent before that subtract (their sequence number is older) describe
/// pixels the read already shows and are ignored. Damage anywhere on the root counts, also on
/// other monitors: the caller's [`ChangeDetector`](super::ChangeDetector) sorts those out.
///
/// The subtract also hands back the region it emptied (`parts`), fetched in the same round
/// trip: what was drawn since the last capture. Each frame carries it as
/// [`CapturedFrame::damage`], clipped to the monitor, so the stages after capture can look at
/// those pixels only.
pub struct X11Source {
    display: String,
    monitor: usize,
    /// Our own connection for checks, monitor geometry, RandR and DAMAGE events; scrap's raw xcb
    /// connection exposes none of that.
    conn: RustConnection,
    server: Rc<Server>,
    root: Window,
    rect: Rect,
    capturer: Capturer,
    last_geometry_check: Instant,
    /// A RandR event arrived: re-read the monitors before the next frame.
    randr_event: bool,
    /// The DAMAGE object on `root` and the XFixes region its damage is moved into; `None`
    /// when the server lacks the extension.
    damage: Option<(Damage, Region)>,
    /// What the last subtract emptied, in monitor coordinates.
    damage_rects: Vec<PixelRect>,
    /// The next frame must count as wholly changed: nothing was captured since opening or
    /// since the monitor changed.
    whole: bool,
    /// Something was drawn since the last capture, or nothing was captured since opening or
    /// since the monitor changed.
    damaged: bool,
    /// Sequence number of the last `DamageSubtract`; older notifies are stale.
    subtracted_at: SequenceNumber,
}

impl X11Source {
    /// Connects to `display` (`None`: `DISPLAY`) and prepares to capture monitor `monitor`.
    pub fn open(display: Option<&str>, monitor: usize) -> Result<Self, CaptureError> {
        let wayland = std::env::var_os("WAYLAND_DISPLAY");
        let display = x11_display_name(display, std::env::var_os("DISPLAY"), wayland.clone())?;
        let connect_error =
            |reason: String| CaptureError::Connect { display: display.clone(), reason };
        let (conn, _) = x11rb::connect(Some(&display)).map_err(|e| connect_error(e.to_string()))?;
        check_extensions(&conn, &display)?;
        let (root, rect) = select_monitor(&list_monitors(&conn)?, monitor, &display)?;
        check_pixel_format(&conn, root, &display)?;
        let changes = randr::NotifyMask::SCREEN_CHANGE
            | randr::NotifyMask::CRTC_CHANGE
            | randr::NotifyMask::OUTPUT_CHANGE;
        conn.randr_select_input(root, changes)?.check()?;
        let damage = if damage_available(&conn, &display)? {
            Some(watch_damage(&conn, root)?)
        } else {
            None
        };
        let name =
            CString::new(display.as_str()).map_err(|_| connect_error("NUL in name".into()))?;
        let server = Server::connect(name.as_ptr().cast())
            .map_err(|e| connect_error(format!("xcb: {e:?}")))?;
        let server = Rc::new(server);
        let mut capturer = new_capturer(&server, root, rect)?;
        if !shm_works(&conn, root, rect, capturer.frame())? {
            return Err(CaptureError::ShmNotShared { display });
        }
        if wayland.is_some() {
            tracing::warn!("XWayland: native Wayland windows will not be visible");
        }
        let source = Self {
            display,
            monitor,
            conn,
            server,
            root,
            rect,
            capturer,
            last_geometry_check: Instant::now(),
            randr_event: false,
            damage,
            damage_rects: Vec::new(),
            whole: true,
            damaged: true,
            subtracted_at: 0,
        };
        let name = source.display.as_str();
        tracing::info!(
            display = name,
            monitor,
            width = rect.w,
            height = rect.h,
            x = rect.x,
            y = rect.y,
            damage = damage.is_some(),
            "capturing"
        );
        Ok(source)
    }

    /// Takes every event that has arrived, without waiting for more.
    fn drain_events(&mut self) -> Result<(), CaptureError> {
        while let Some((event, sequence)) = self.conn.poll_for_event_with_sequence()? {
            match event {
                Event::RandrScreenChangeNotify(_) | Event::RandrNotify(_) => {
                    self.randr_event = true;
                }
                Event::DamageNotify(notify) if Some(notify.damage) == self.damage_id() => {
                    self.damaged |= sequence >= self.subtracted_at;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Re-creates the capturer when the monitor's rectangle changed, so the next frame has the
    /// new size. A frame taken in the instant between the change and its event may be stale.
    fn follow_geometry(&mut self) -> Result<(), CaptureError> {
        self.drain_events()?;
        let recheck = std::mem::take(&mut self.randr_event)
            || self.last_geometry_check.elapsed() >= GEOMETRY_POLL;
        if !recheck {
            return Ok(());
        }
        self.last_geometry_check = Instant::now();
        let (root, rect) =
            select_monitor(&list_monitors(&self.conn)?, self.monitor, &self.display)?;
        if (root, rect) != (self.root, self.rect) {
            tracing::info!(
                width = rect.w,
                height = rect.h,
                x = rect.x,
                y = rect.y,
                "monitor changed"
            );
            self.capturer = new_capturer(&self.server, root, rect)?;
            if let Some((damage, region)) = self.damage.filter(|_| root != self.root) {
                self.conn.damage_destroy(damage)?;
                self.conn.xfixes_destroy_region(region)?;
                self.damage = Some(watch_damage(&self.conn, root)?);
            }
            (self.root, self.rect) = (root, rect);
            self.damaged = true;
            self.whole = true;
        }
        Ok(())
    }

    /// Empties the damage region and waits until the server has done so: whatever is drawn
    /// from here on, even while the pixels are read, sends a new notify.
    fn subtract_damage(&mut self) -> Result<(), CaptureError> {
        let Some((damage, region)) = self.damage else { return Ok(()) };
        let cookie = self.conn.damage_subtract(damage, x11rb::NONE, region)?;
        self.subtracted_at = cookie.sequence_number();
        let parts = self.conn.xfixes_fetch_region(region)?;
        // A round trip: scrap's `ShmGetImage` goes over another connection, which the server
        // may serve first unless this one has been answered.
        cookie.check()?;
        let parts = parts.reply()?;
        self.damaged = false;
        self.damage_rects = monitor_rects(&parts, self.rect);
        Ok(())
    }

    fn damage_id(&self) -> Option<Damage> {
        self.damage.map(|(damage, _)| damage)
    }

    /// [`FrameSource::capture`], running `meanwhile` after the damage was subtracted and before
    /// the pixels are read: where a change must not be lost (tests draw there).
    fn capture_with(
        &mut self,
        meanwhile: impl FnOnce(),
    ) -> Result<CapturedFrame<'_>, CaptureError> {
        self.follow_geometry()?;
        self.subtract_damage()?;
        meanwhile();
        let (width, height) = (u32::from(self.rect.w), u32::from(self.rect.h));
        let captured_at = Instant::now();
        let data = self.capturer.frame();
        let whole = std::mem::take(&mut self.whole) || self.damage.is_none();
        let damage = (!whole).then_some(self.damage_rects.as_slice());
        Ok(CapturedFrame { width, height, stride: width as usize * 4, data, captured_at, damage })
    }
}

impl FrameSource for X11Source {
    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError> {
        self.capture_with(|| {})
    }

    /// Takes the events that have already arrived, without waiting, and once a second re-reads
    /// the monitor list (one round trip). A notify still on its way is seen by a later call.
    fn may_have_changed(&mut self) -> Result<bool, CaptureError> {
        self.follow_geometry()?;
        Ok(self.damaged || self.damage.is_none())
    }
}

impl From<ReplyOrIdError> for CaptureError {
    fn from(e: ReplyOrIdError) -> Self {
        match e {
            ReplyOrIdError::ConnectionError(e) => e.into(),
            ReplyOrIdError::X11Error(e) => ReplyError::X11Error(e).into(),
            ReplyOrIdError::IdsExhausted => {
                CaptureError::Other("the X server has no more resource ids for this client".into())
            }
        }
    }
}

fn new_capturer(server: &Rc<Server>, root: Window, rect: Rect) -> Result<Capturer, CaptureError> {
    // SAFETY: `Display::new` only stores its arguments; `root` and `rect` come from this server's
    // own RandR reply. Building it ourselves avoids scrap's monitor iterator, which reads a reply
    // after freeing it and dereferences a null reply on servers without RandR 1.5.
    let display = unsafe { scrap::x11::Display::new(server.clone(), false, rect, root) };
    Capturer::new(display).map_err(CaptureError::Shm)
}

/// Monitors of every screen, in scrap's order: by screen, then as the server lists them.
pub(super) fn list_monitors(conn: &RustConnection) -> Result<Vec<(Window, Rect)>, CaptureError> {
    let mut monitors = Vec::new();
    for screen in &conn.setup().roots {
        let reply = conn.randr_get_monitors(screen.root, true)?.reply()?;
        monitors.extend(
            reply
                .monitors
                .iter()
                .map(|m| (screen.root, Rect { x: m.x, y: m.y, w: m.width, h: m.height })),
        );
    }
    Ok(monitors)
}

pub(super) fn select_monitor(
    monitors: &[(Window, Rect)],
    index: usize,
    display: &str,
) -> Result<(Window, Rect), CaptureError> {
    let display = display.to_owned();
    match monitors.get(index) {
        None => Err(CaptureError::NoMonitor { display, index, count: monitors.len() }),
        Some((_, r)) if r.w == 0 || r.h == 0 => {
            Err(CaptureError::EmptyMonitor { display, index, width: r.w, height: r.h })
        }
        Some(&found) => Ok(found),
    }
}

/// MIT-SHM for capture, RandR 1.5 for monitors. Checked here because scrap sends its requests
/// unchecked and would crash or silently return nothing without them.
fn check_extensions(conn: &RustConnection, display: &str) -> Result<(), CaptureError> {
    let missing = |extension, found: String| CaptureError::MissingExtension {
        display: display.to_owned(),
        extension,
        found,
    };
    match conn.shm_query_version() {
        Err(ConnectionError::UnsupportedExtension) => {
            return Err(missing(shm::X11_EXTENSION_NAME, String::new()));
        }
        cookie => drop(cookie?.reply()?),
    }
    let version = match conn.randr_query_version(1, 5) {
        Err(ConnectionError::UnsupportedExtension) => {
            return Err(missing("RANDR 1.5", String::new()));
        }
        cookie => cookie?.reply()?,
    };
    if (version.major_version, version.minor_version) < (1, 5) {
        let found = format!(" (it has {}.{})", version.major_version, version.minor_version);
        return Err(missing("RANDR 1.5", found));
    }
    Ok(())
}

/// scrap reads the root's pixels as they are stored: they must be 32-bit little-endian BGRX.
fn check_pixel_format(
    conn: &RustConnection,
    root: Window,
    display: &str,
) -> Result<(), CaptureError> {
    let setup = conn.setup();
    let Some(screen) = setup.roots.iter().find(|s| s.root == root) else {
        return Err(CaptureError::Other(format!("root window {root} is not in the X11 setup")));
    };
    let depth = screen.root_depth;
    let bits_per_pixel =
        setup.pixmap_formats.iter().find(|f| f.depth == depth).map_or(0, |f| f.bits_per_pixel);
    let bgrx = screen
        .allowed_depths
        .iter()
        .flat_map(|d| &d.visuals)
        .find(|v| v.visual_id == screen.root_visual)
        .is_some_and(|v| (v.red_mask, v.green_mask, v.blue_mask) == (0xff_0000, 0xff00, 0xff));
    let little_endian = setup.image_byte_order == ImageOrder::LSB_FIRST;
    if depth == 24 && bits_per_pixel == 32 && little_endian && bgrx {
        return Ok(());
    }
    let order = match (little_endian, bgrx) {
        (false, _) => "big-endian",
        (true, false) => "not BGRX",
        (true, true) => "BGRX",
    };
    Err(CaptureError::PixelFormat { display: display.to_owned(), depth, bits_per_pixel, order })
}

/// scrap cannot report a failed `ShmAttach` (a server on another machine or in another IPC
/// namespace): its frames just stay zero. An all-zero frame is only trusted when the server,
/// asked without SHM, also says the monitor is black.
fn shm_works(
    conn: &RustConnection,
    root: Window,
    rect: Rect,
    frame: &[u8],
) -> Result<bool, CaptureError> {
    if frame.chunks(4096).any(|c| c.iter().fold(0, |acc, b| acc | b) != 0) {
        return Ok(true);
    }
    const BAND: u16 = 64; // rows per GetImage, to bound the reply size
    for top in (0..rect.h).step_by(usize::from(BAND)) {
        let rows = BAND.min(rect.h - top);
        let y = rect.y.saturating_add_unsigned(top);
        let band = conn.get_image(ImageFormat::Z_PIXMAP, root, rect.x, y, rect.w, rows, !0)?;
        if band.reply()?.data.iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
    Ok(true)
}

mod damage_rects;
#[cfg(test)]
mod tests;
