//! [`X11Source`]: one X11 monitor, read through MIT-SHM into memory private to this process
//! and the X server, followed through RandR, and watched through DAMAGE so a still screen costs
//! (almost) nothing.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use x11rb::connection::{Connection, SequenceNumber};
use x11rb::errors::{ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::protocol::damage::{ConnectionExt as _, Damage};
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::{ConnectionExt as _, Region};
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, ImageOrder, Window};
use x11rb::protocol::{ErrorKind, Event};
use x11rb::rust_connection::RustConnection;

use self::damage_rects::{damage_available, monitor_rects, request_subtract, watch_damage};
pub(super) use self::monitors::{list_monitors, named_monitors, select_monitor};
use self::shm_image::{ImageCookie, Sharing, ShmImage, preferred_sharing};
use super::{CaptureError, CapturedFrame, FrameSource, PixelRect, Shown, ShownMonitor};

/// A monitor's rectangle in root-window coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rect {
    pub x: i16,
    pub y: i16,
    pub w: u16,
    pub h: u16,
}

impl Rect {
    /// Bytes of one BGRX image of the rectangle.
    fn image_len(self) -> usize {
        usize::from(self.w) * usize::from(self.h) * 4
    }
}

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
/// Privacy: the buffer the server writes the screen into is a memfd passed to it as a
/// descriptor (MIT-SHM 1.2), or else a SysV segment of mode 0600 whose id is removed as soon as
/// the server has attached it ([`ShmImage`]): no other local user can read it, and nothing is
/// left behind when the agent dies.
///
/// Freshness: `capture` sends its `ShmGetImage` and waits for the reply, so each image is taken
/// during the call (`x11_frame_is_fresh`).
///
/// Change tracking: a DAMAGE object on the root window sends one `DamageNotify` when its region
/// goes from empty to not empty (`ReportLevel::NON_EMPTY`). `capture` empties the region
/// *before* it reads the pixels, on the same connection, so the server does the two in that
/// order and drawing that lands during the read sends a new notify: a change is in the frame,
/// reported again, or both; never lost. Notifies the server sent before that subtract (their
/// sequence number is older) describe pixels the read already shows and are ignored. Damage
/// anywhere on the root counts, also on other monitors: the caller's
/// [`ChangeDetector`](super::ChangeDetector) sorts those out.
///
/// The subtract also hands back the region it emptied (`parts`): what was drawn since the last
/// capture. Each frame carries it as [`CapturedFrame::damage`], clipped to the monitor, so the
/// stages after capture can look at those pixels only. Subtract, fetch and image go out
/// together: one round trip per capture.
pub struct X11Source {
    display: String,
    /// What the session shows, followed before each frame.
    shown: Arc<ShownMonitor>,
    /// What `rect` was chosen for.
    showing: Shown,
    /// The one connection: checks, monitor geometry, RandR and DAMAGE events, and the images.
    conn: RustConnection,
    root: Window,
    rect: Rect,
    image: ShmImage,
    /// Memfd when the server can take one, SysV otherwise.
    sharing: Sharing,
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
    #[cfg(test)]
    pub fn open(display: Option<&str>, monitor: usize) -> Result<Self, CaptureError> {
        Self::open_shown(display, ShownMonitor::fixed(monitor))
    }

    /// Connects to `display` (`None`: `DISPLAY`) and prepares to capture what `shown` says,
    /// following it when it changes.
    pub fn open_shown(
        display: Option<&str>,
        shown: Arc<ShownMonitor>,
    ) -> Result<Self, CaptureError> {
        Self::open_sharing(display, shown, Sharing::Memfd)
    }

    /// [`open_shown`](Self::open_shown), with a memfd only if `prefer` and the server allow it.
    fn open_sharing(
        display: Option<&str>,
        shown: Arc<ShownMonitor>,
        prefer: Sharing,
    ) -> Result<Self, CaptureError> {
        let wayland = std::env::var_os("WAYLAND_DISPLAY");
        let display = x11_display_name(display, std::env::var_os("DISPLAY"), wayland.clone())?;
        let connect_error =
            |reason: String| CaptureError::Connect { display: display.clone(), reason };
        let (conn, _) = x11rb::connect(Some(&display)).map_err(|e| connect_error(e.to_string()))?;
        let shm_version = check_extensions(&conn, &display)?;
        let sharing = match prefer {
            Sharing::Memfd => preferred_sharing(&conn, shm_version),
            Sharing::SysV => Sharing::SysV,
        };
        let showing = shown.get();
        let (root, rect) = select_monitor(&list_monitors(&conn)?, showing, &display)?;
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
        let image = ShmImage::attach(&conn, rect.image_len(), sharing, &display)?;
        if wayland.is_some() {
            tracing::warn!("XWayland: native Wayland windows will not be visible");
        }
        let mut source = Self {
            display,
            shown,
            showing,
            conn,
            root,
            rect,
            image,
            sharing,
            last_geometry_check: Instant::now(),
            randr_event: false,
            damage,
            damage_rects: Vec::new(),
            whole: true,
            damaged: true,
            subtracted_at: 0,
        };
        source.read_image()?;
        if !shm_works(&source.conn, root, rect, source.frame_bytes())? {
            return Err(CaptureError::ShmNotShared { display: source.display });
        }
        let name = source.display.as_str();
        tracing::info!(
            display = name,
            ?showing,
            width = rect.w,
            height = rect.h,
            x = rect.x,
            y = rect.y,
            damage = damage.is_some(),
            sharing = ?source.sharing,
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

    /// Follows a change of the monitor's rectangle (a new buffer when its size changed), so the
    /// next frame has the new geometry. A request sent in the instant between the change and
    /// its event is retried ([`settle_image`](Self::settle_image)).
    fn follow_geometry(&mut self) -> Result<(), CaptureError> {
        self.drain_events()?;
        let wanted = self.shown.get();
        let recheck = std::mem::take(&mut self.randr_event)
            || wanted != self.showing
            || self.last_geometry_check.elapsed() >= GEOMETRY_POLL;
        if !recheck {
            return Ok(());
        }
        self.last_geometry_check = Instant::now();
        let (root, rect) = select_monitor(&list_monitors(&self.conn)?, wanted, &self.display)?;
        self.showing = wanted;
        if (root, rect) != (self.root, self.rect) {
            tracing::info!(
                width = rect.w,
                height = rect.h,
                x = rect.x,
                y = rect.y,
                "monitor changed"
            );
            if rect.image_len() != self.image.len() {
                let image =
                    ShmImage::attach(&self.conn, rect.image_len(), self.sharing, &self.display)?;
                std::mem::replace(&mut self.image, image).detach(&self.conn)?;
            }
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

    fn damage_id(&self) -> Option<Damage> {
        self.damage.map(|(damage, _)| damage)
    }

    fn request_image(&self) -> Result<ImageCookie<'_>, ConnectionError> {
        self.image.request(&self.conn, self.root, self.rect)
    }

    /// Reads the monitor into the buffer and waits until it is there.
    fn read_image(&mut self) -> Result<(), CaptureError> {
        let reply = self.request_image()?.reply();
        self.settle_image(reply)
    }

    /// Takes the answer to an image request. A monitor that no longer fits the screen (it
    /// changed after the last geometry check) is re-read and its image requested again, once.
    fn settle_image(
        &mut self,
        reply: Result<shm::GetImageReply, ReplyError>,
    ) -> Result<(), CaptureError> {
        match reply {
            Ok(_) => Ok(()),
            Err(ReplyError::X11Error(e)) if e.error_kind == ErrorKind::Match => {
                tracing::debug!("the monitor changed under the image request: re-reading it");
                self.randr_event = true;
                self.follow_geometry()?;
                self.request_image()?.reply()?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The buffer's current image: `rect`'s BGRX rows, without padding.
    fn frame_bytes(&self) -> &[u8] {
        &self.image.pixels()[..self.rect.image_len()]
    }

    /// [`FrameSource::capture`], running `meanwhile` after the damage subtract is queued and
    /// before the image is requested: where a change must not be lost (tests draw there, after
    /// a round trip on the connection they are given so that the server has done the subtract).
    fn capture_with(
        &mut self,
        meanwhile: impl FnOnce(&RustConnection),
    ) -> Result<CapturedFrame<'_>, CaptureError> {
        self.follow_geometry()?;
        let (captured_at, subtracted_at, parts, image) = {
            let subtract = self.damage.map(|d| request_subtract(&self.conn, d)).transpose()?;
            meanwhile(&self.conn);
            let captured_at = Instant::now();
            let image = self.request_image()?;
            let subtracted_at = subtract.as_ref().map(|(cookie, _)| cookie.sequence_number());
            // Waiting for these flushes all three requests: one round trip.
            let parts = subtract.map(|(cookie, parts)| cookie.check().and(parts.reply()));
            (captured_at, subtracted_at, parts.transpose()?, image.reply())
        };
        if let (Some(sequence), Some(parts)) = (subtracted_at, parts) {
            self.subtracted_at = sequence;
            self.damaged = false;
            self.damage_rects = monitor_rects(&parts, self.rect);
        }
        self.settle_image(image)?;
        let (width, height) = (u32::from(self.rect.w), u32::from(self.rect.h));
        let whole = std::mem::take(&mut self.whole) || self.damage.is_none();
        let damage = (!whole).then_some(self.damage_rects.as_slice());
        let data = self.frame_bytes();
        Ok(CapturedFrame { width, height, stride: width as usize * 4, data, captured_at, damage })
    }
}

impl FrameSource for X11Source {
    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError> {
        self.capture_with(|_| {})
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

/// MIT-SHM for capture, RandR 1.5 for monitors, each named when missing; returns MIT-SHM's
/// version (1.2 takes a memfd).
fn check_extensions(conn: &RustConnection, display: &str) -> Result<(u16, u16), CaptureError> {
    let missing = |extension, found: String| CaptureError::MissingExtension {
        display: display.to_owned(),
        extension,
        found,
    };
    let shm = match conn.shm_query_version() {
        Err(ConnectionError::UnsupportedExtension) => {
            return Err(missing(shm::X11_EXTENSION_NAME, String::new()));
        }
        cookie => cookie?.reply()?,
    };
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
    Ok((shm.major_version, shm.minor_version))
}

/// `ShmGetImage` hands the root's pixels as they are stored: they must be 32-bit little-endian
/// BGRX.
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

/// A second line behind the checked attach: a server that attached some other memory (a SysV
/// id that means another segment where it runs) fills ours with nothing. An all-zero frame is
/// only trusted when the server, asked without SHM, also says the monitor is black.
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
mod monitors;
mod shared_memory;
mod shm_image;
#[cfg(test)]
mod shm_tests;
#[cfg(test)]
mod tests;
