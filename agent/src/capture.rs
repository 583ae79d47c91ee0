//! The capture stage: screen images for the encoder.
//!
//! A [`FrameSource`] hands out borrowed BGRX frames; the caller converts each one to I420 before
//! asking for the next. [`X11Source`] reads an X11 monitor through MIT-SHM with `scrap`;
//! [`SyntheticSource`] draws a moving box for tests and benchmarks. [`ChangeDetector`] lets the
//! caller skip encoding while the screen stands still.
//!
//! scrap's handles are `!Send`: call [`open`] on the thread that will capture.

use std::ffi::{CString, OsString};
use std::rc::Rc;
use std::time::{Duration, Instant};

use scrap::x11::{Capturer, Rect, Server};
use thiserror::Error;
use x11rb::connection::Connection;
use x11rb::errors::{ConnectionError, ReplyError};
use x11rb::protocol::Event;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, ImageOrder, Window};
use x11rb::rust_connection::RustConnection;

/// One captured image, borrowed from its source until the next `capture` call.
#[derive(Debug)]
pub struct CapturedFrame<'a> {
    pub width: u32,
    pub height: u32,
    /// Bytes from the start of one row to the start of the next.
    pub stride: usize,
    /// BGRX: blue, green, red, then a byte to ignore (not alpha).
    pub data: &'a [u8],
    /// When the pixels were read from the screen (or drawn, for synthetic frames).
    pub captured_at: Instant,
}

impl CapturedFrame<'_> {
    /// Bytes of picture in each row (`width * 4`), without stride padding.
    pub fn row_bytes(&self) -> usize {
        self.width as usize * 4
    }

    /// The rows of the picture, without stride padding; stops early if `data` is short.
    pub fn rows(&self) -> impl Iterator<Item = &[u8]> {
        let row_bytes = self.row_bytes();
        self.data
            .chunks(self.stride.max(1))
            .take(self.height as usize)
            .map_while(move |row| row.get(..row_bytes))
    }
}

/// Something that yields screen images. `capture` blocks; run it on a dedicated thread.
pub trait FrameSource {
    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError>;
}

/// What to capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisplaySpec {
    /// An X11 monitor. `display` is an X display name (`:0`); `None` reads `DISPLAY`.
    /// `monitor` indexes the X server's RandR monitor list, the list `scrap::Display::all()`
    /// returns; the server lists the primary monitor first, so 0 is the primary (or only) one.
    /// This is the agent's `--display N`.
    X11 { display: Option<String>, monitor: usize },
    /// Generated frames, see [`SyntheticSource`].
    Synthetic { width: u32, height: u32, motion: Motion },
}

/// Parses the agent's `--display` value: a monitor number of `DISPLAY` (`0`, `1`, ...), or
/// `synthetic:WIDTHxHEIGHT` / `synthetic-static:WIDTHxHEIGHT` for benchmarks without a screen.
impl std::str::FromStr for DisplaySpec {
    type Err = BadDisplaySpec;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadDisplaySpec(s.to_owned());
        if let Ok(monitor) = s.parse() {
            return Ok(DisplaySpec::X11 { display: None, monitor });
        }
        let (motion, size) = match s.split_once(':').ok_or_else(bad)? {
            ("synthetic", size) => (Motion::MovingBox, size),
            ("synthetic-static", size) => (Motion::Static, size),
            _ => return Err(bad()),
        };
        let (width, height) = size.split_once('x').ok_or_else(bad)?;
        let (width, height) =
            (width.parse().map_err(|_| bad())?, height.parse().map_err(|_| bad())?);
        Ok(DisplaySpec::Synthetic { width, height, motion })
    }
}

/// A `--display` value that [`DisplaySpec`] cannot parse.
#[derive(Debug, Error)]
#[error(
    "invalid display {0:?}: give a monitor number (0 is the primary), synthetic:WIDTHxHEIGHT or \
     synthetic-static:WIDTHxHEIGHT"
)]
pub struct BadDisplaySpec(String);

impl From<usize> for DisplaySpec {
    /// Monitor `n` of the X display named by `DISPLAY`.
    fn from(monitor: usize) -> Self {
        DisplaySpec::X11 { display: None, monitor }
    }
}

/// Opens a frame source. Call it on the capture thread: X11 sources cannot move between threads.
pub fn open(spec: impl Into<DisplaySpec>) -> Result<Box<dyn FrameSource>, CaptureError> {
    Ok(match spec.into() {
        DisplaySpec::X11 { display, monitor } => {
            Box::new(X11Source::open(display.as_deref(), monitor)?)
        }
        DisplaySpec::Synthetic { width, height, motion } => {
            Box::new(SyntheticSource::new(width, height, motion)?)
        }
    })
}

/// Why capture could not start or went on. Messages say what to do about it.
#[derive(Debug, Error)]
pub enum CaptureError {
    #[error(
        "no X11 display: DISPLAY is not set. Run the agent inside an X11 session, or set DISPLAY=:0"
    )]
    DisplayNotSet,
    #[error(
        "no X11 display: this is a Wayland session (WAYLAND_DISPLAY={wayland}) and DISPLAY is not \
         set. Log in to an \"X11\"/\"Xorg\" session, or set DISPLAY to an XWayland display (only X11 \
         windows are then visible); native Wayland capture is not supported yet"
    )]
    WaylandOnly { wayland: String },
    #[error(
        "cannot connect to X11 display {display:?}: {reason}. Check that an X server runs there \
         and that this user may use it (XAUTHORITY, xhost)"
    )]
    Connect { display: String, reason: String },
    #[error(
        "X11 display {display:?} lacks the {extension} extension{found}, which screen capture \
         needs. Enable it in the X server (Xvfb: +extension {extension})"
    )]
    MissingExtension { display: String, extension: &'static str, found: String },
    #[error(
        "MIT-SHM does not work on X11 display {display:?}: the server cannot see this process's \
         shared memory, so frames come back empty. Run the agent on the machine that shows the \
         screen (not through SSH X forwarding) and in the X server's IPC namespace (containers: \
         --ipc=host)"
    )]
    ShmNotShared { display: String },
    #[error(
        "X11 display {display:?} uses {depth}-bit colour with {bits_per_pixel} bits per pixel \
         ({order}); capture needs 24-bit colour in 32-bit little-endian pixels. Run the X server \
         at depth 24"
    )]
    PixelFormat { display: String, depth: u8, bits_per_pixel: u8, order: &'static str },
    #[error(
        "monitor {index} does not exist: X11 display {display:?} has {count} monitor(s), numbered \
         from 0 (the primary)"
    )]
    NoMonitor { display: String, index: usize, count: usize },
    #[error("monitor {index} of X11 display {display:?} has no area ({width}x{height})")]
    EmptyMonitor { display: String, index: usize, width: u16, height: u16 },
    #[error("cannot set up shared memory for screen capture: {0}")]
    Shm(#[source] std::io::Error),
    #[error("lost the connection to the X server (did the X session end?): {0}")]
    X11Connection(#[from] ConnectionError),
    #[error("X11 request failed: {0}")]
    X11Request(#[from] ReplyError),
    #[error("invalid synthetic frame size {width}x{height}: each side must be 1..={MAX_SIDE}")]
    BadSize { width: u32, height: u32 },
    /// A later stage of the capture thread (conversion, encoding) failed.
    #[error("{0}")]
    Other(String),
}

/// Largest synthetic frame side; also keeps `width * height * 4` far from overflow.
const MAX_SIDE: u32 = 16_384;

/// Picks the X display name, or explains why there is none.
fn x11_display_name(
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
pub struct X11Source {
    display: String,
    monitor: usize,
    /// Our own connection for checks, monitor geometry and RandR events; scrap's raw xcb
    /// connection exposes none of that.
    conn: RustConnection,
    server: Rc<Server>,
    root: Window,
    rect: Rect,
    capturer: Capturer,
    last_geometry_check: Instant,
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
        let last_geometry_check = Instant::now();
        let source =
            Self { display, monitor, conn, server, root, rect, capturer, last_geometry_check };
        let name = source.display.as_str();
        tracing::info!(
            display = name,
            monitor,
            width = rect.w,
            height = rect.h,
            x = rect.x,
            y = rect.y,
            "capturing"
        );
        Ok(source)
    }

    /// Re-creates the capturer when the monitor's rectangle changed, so the next frame has the
    /// new size. A frame taken in the instant between the change and its event may be stale.
    fn follow_geometry(&mut self) -> Result<(), CaptureError> {
        let mut recheck = self.last_geometry_check.elapsed() >= GEOMETRY_POLL;
        while let Some(event) = self.conn.poll_for_event()? {
            recheck |= matches!(event, Event::RandrScreenChangeNotify(_) | Event::RandrNotify(_));
        }
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
            (self.root, self.rect) = (root, rect);
        }
        Ok(())
    }
}

impl FrameSource for X11Source {
    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError> {
        self.follow_geometry()?;
        let (width, height) = (u32::from(self.rect.w), u32::from(self.rect.h));
        let captured_at = Instant::now();
        let data = self.capturer.frame();
        Ok(CapturedFrame { width, height, stride: width as usize * 4, data, captured_at })
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
fn list_monitors(conn: &RustConnection) -> Result<Vec<(Window, Rect)>, CaptureError> {
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

fn select_monitor(
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

/// What a [`SyntheticSource`] shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Motion {
    /// The same frame forever (for "nothing changes" paths).
    Static,
    /// A white box bouncing over eight colour bars, a new position each frame.
    MovingBox,
}

/// Deterministic generated frames: eight vertical colour bars and, with [`Motion::MovingBox`],
/// a white box (an eighth of each side) that moves 7 px right and 5 px down per frame, bouncing.
pub struct SyntheticSource {
    width: u32,
    height: u32,
    motion: Motion,
    frames: u64,
    buf: Vec<u8>,
    /// Where the box was drawn last, to restore the bars there.
    drawn_box: Option<(u32, u32)>,
}

/// BGRX colours of the bars: white, yellow, cyan, green, magenta, red, blue, black.
const BARS: [[u8; 4]; 8] = [
    [0xff, 0xff, 0xff, 0],
    [0x00, 0xff, 0xff, 0],
    [0xff, 0xff, 0x00, 0],
    [0x00, 0xff, 0x00, 0],
    [0xff, 0x00, 0xff, 0],
    [0x00, 0x00, 0xff, 0],
    [0xff, 0x00, 0x00, 0],
    [0x00, 0x00, 0x00, 0],
];
const BOX: [u8; 4] = [0xf0, 0xf0, 0xf0, 0];

impl SyntheticSource {
    pub fn new(width: u32, height: u32, motion: Motion) -> Result<Self, CaptureError> {
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(CaptureError::BadSize { width, height });
        }
        let mut buf = vec![0; width as usize * height as usize * 4];
        for row in buf.chunks_exact_mut(width as usize * 4) {
            for (x, px) in row.chunks_exact_mut(4).enumerate() {
                px.copy_from_slice(&bar_colour(x as u32, width));
            }
        }
        Ok(Self { width, height, motion, frames: 0, buf, drawn_box: None })
    }

    /// The box as (x, y, w, h) in frame `n` (counting from 0).
    pub fn box_rect(&self, n: u64) -> (u32, u32, u32, u32) {
        let (w, h) = ((self.width / 8).max(1), (self.height / 8).max(1));
        (bounce(n * 7, self.width - w), bounce(n * 5, self.height - h), w, h)
    }

    fn paint_box(&mut self, x: u32, y: u32, colour: Option<[u8; 4]>) {
        let (_, _, w, h) = self.box_rect(0);
        let row_bytes = self.width as usize * 4;
        for row in self.buf.chunks_exact_mut(row_bytes).skip(y as usize).take(h as usize) {
            for (i, px) in row.chunks_exact_mut(4).skip(x as usize).take(w as usize).enumerate() {
                px.copy_from_slice(&colour.unwrap_or_else(|| bar_colour(x + i as u32, self.width)));
            }
        }
    }
}

fn bar_colour(x: u32, width: u32) -> [u8; 4] {
    BARS[(u64::from(x) * 8 / u64::from(width)).min(7) as usize]
}

/// `pos` folded into `0..=range`, going back and forth.
fn bounce(pos: u64, range: u32) -> u32 {
    let range = u64::from(range);
    if range == 0 {
        return 0;
    }
    let p = pos % (2 * range);
    (if p <= range { p } else { 2 * range - p }) as u32
}

impl FrameSource for SyntheticSource {
    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError> {
        if self.motion == Motion::MovingBox {
            if let Some((x, y)) = self.drawn_box.take() {
                self.paint_box(x, y, None);
            }
            let (x, y, _, _) = self.box_rect(self.frames);
            self.paint_box(x, y, Some(BOX));
            self.drawn_box = Some((x, y));
        }
        self.frames += 1;
        Ok(CapturedFrame {
            width: self.width,
            height: self.height,
            stride: self.width as usize * 4,
            data: &self.buf,
            captured_at: Instant::now(),
        })
    }
}

/// Tells whether a frame differs from the last one reported as changed.
///
/// It keeps a packed copy of that frame and compares row by row (`==`, i.e. memcmp), stopping at
/// the first differing row and copying only from there on. At 1920x1080 an unchanged frame costs
/// about 0.3 ms, the same as hashing it with xxh3, and unlike a hash it is exact.
#[derive(Debug, Default)]
pub struct ChangeDetector {
    size: (u32, u32),
    prev: Vec<u8>,
}

impl ChangeDetector {
    /// True for the first frame, after a size change, and whenever any pixel differs from the
    /// last changed frame.
    pub fn changed(&mut self, frame: &CapturedFrame<'_>) -> bool {
        let row_bytes = frame.row_bytes();
        let full = row_bytes * frame.height as usize;
        if (frame.width, frame.height) != self.size || self.prev.len() != full || row_bytes == 0 {
            self.size = (frame.width, frame.height);
            self.prev.clear();
            frame.rows().for_each(|row| self.prev.extend_from_slice(row));
            return true;
        }
        let first = frame.rows().zip(self.prev.chunks_exact(row_bytes)).position(|(a, b)| a != b);
        let Some(first) = first else { return false };
        for (dst, src) in self.prev.chunks_exact_mut(row_bytes).zip(frame.rows()).skip(first) {
            dst.copy_from_slice(src);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use tether_testkit::paint::Painter;
    use tether_testkit::xvfb::Xvfb;

    fn frame(width: u32, height: u32, stride: usize, data: &[u8]) -> CapturedFrame<'_> {
        CapturedFrame { width, height, stride, data, captured_at: Instant::now() }
    }

    #[test]
    fn display_name_prefers_explicit_then_env() {
        let name = x11_display_name(Some(":5"), Some(":0".into()), None);
        assert_eq!(name.ok().as_deref(), Some(":5"));
        let name = x11_display_name(None, Some(":0".into()), Some("wayland-0".into()));
        assert_eq!(name.ok().as_deref(), Some(":0"));
    }

    #[test]
    fn display_unset_says_what_to_do() {
        let err = x11_display_name(None, None, None).unwrap_err();
        assert!(matches!(err, CaptureError::DisplayNotSet));
        assert!(err.to_string().contains("set DISPLAY=:0"), "{err}");
        let err = x11_display_name(Some(""), Some("".into()), Some("".into())).unwrap_err();
        assert!(matches!(err, CaptureError::DisplayNotSet));
    }

    #[test]
    fn wayland_without_display_is_named() {
        let err = x11_display_name(None, None, Some("wayland-0".into())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("Wayland session") && msg.contains("XWayland"), "{msg}");
    }

    #[test]
    fn monitor_index_is_checked() {
        let rect = |w, h| Rect { x: 0, y: 0, w, h };
        let monitors = [(1, rect(800, 600)), (1, rect(0, 600))];
        assert_eq!(select_monitor(&monitors, 0, ":1").ok(), Some((1, rect(800, 600))));
        let err = select_monitor(&monitors, 2, ":1").unwrap_err();
        assert!(matches!(err, CaptureError::NoMonitor { index: 2, count: 2, .. }), "{err}");
        assert!(matches!(
            select_monitor(&monitors, 1, ":1"),
            Err(CaptureError::EmptyMonitor { .. })
        ));
    }

    #[test]
    fn rows_skip_stride_padding_and_stop_on_short_data() {
        let data: Vec<u8> = (0..24).collect();
        let f = frame(2, 3, 12, &data[..20]);
        let rows: Vec<&[u8]> = f.rows().collect();
        assert_eq!(rows, [&data[0..8], &data[12..20]]);
    }

    #[test]
    fn change_detector_sees_one_pixel() {
        let mut data = vec![7u8; 64 * 4 * 48];
        let mut detector = ChangeDetector::default();
        assert!(detector.changed(&frame(64, 48, 256, &data)), "first frame counts as changed");
        assert!(!detector.changed(&frame(64, 48, 256, &data)));
        data[256 * 47 + 255] = 8; // last byte of the last row
        assert!(detector.changed(&frame(64, 48, 256, &data)));
        assert!(!detector.changed(&frame(64, 48, 256, &data)), "the copy was updated");
        data[0] = 9;
        data[256 * 20] = 9;
        assert!(detector.changed(&frame(64, 48, 256, &data)));
        assert!(!detector.changed(&frame(64, 48, 256, &data)));
    }

    #[test]
    fn change_detector_ignores_stride_padding_and_sees_size_changes() {
        let mut data = vec![1u8; 40 * 10];
        let mut detector = ChangeDetector::default();
        assert!(detector.changed(&frame(8, 10, 40, &data)));
        for row in data.chunks_exact_mut(40) {
            row[32..].fill(0xee); // padding only
        }
        assert!(!detector.changed(&frame(8, 10, 40, &data)));
        assert!(detector.changed(&frame(10, 8, 40, &data)), "same bytes, new shape");
        assert!(detector.changed(&frame(0, 0, 0, &[])));
        assert!(detector.changed(&frame(0, 0, 0, &[])), "an empty frame never compares equal");
    }

    #[test]
    fn synthetic_static_never_changes() {
        let mut source = SyntheticSource::new(64, 32, Motion::Static).unwrap();
        let mut detector = ChangeDetector::default();
        assert!(detector.changed(&source.capture().unwrap()));
        for _ in 0..5 {
            assert!(!detector.changed(&source.capture().unwrap()));
        }
    }

    #[test]
    fn synthetic_box_moves_deterministically() {
        let mut source = SyntheticSource::new(160, 90, Motion::MovingBox).unwrap();
        let mut detector = ChangeDetector::default();
        for n in 0..100 {
            let f = source.capture().unwrap();
            assert_eq!((f.width, f.height, f.stride, f.data.len()), (160, 90, 640, 160 * 90 * 4));
            assert!(detector.changed(&f), "frame {n} moved");
            let (x, y, w, h) =
                SyntheticSource::new(160, 90, Motion::MovingBox).unwrap().box_rect(n);
            assert!(x + w <= 160 && y + h <= 90, "frame {n}: box inside");
            let px = |x: u32, y: u32| &f.data[(y * 640 + x * 4) as usize..][..4];
            assert_eq!(px(x, y), BOX);
            assert_eq!(px(x + w - 1, y + h - 1), BOX);
            if y + h < 90 {
                assert_eq!(px(x, y + h), bar_colour(x, 160), "frame {n}: bars below the box");
            }
        }
        // Bars are restored behind the box: a box-free frame equals a static one.
        let still = SyntheticSource::new(160, 90, Motion::Static).unwrap().buf;
        let (x, y, w, h) = source.box_rect(99);
        let outside = (0..90u32)
            .flat_map(|r| (0..160u32).map(move |c| (c, r)))
            .filter(|&(c, r)| !(x..x + w).contains(&c) || !(y..y + h).contains(&r));
        for (c, r) in outside {
            let i = (r * 640 + c * 4) as usize;
            assert_eq!(source.buf[i..i + 4], still[i..i + 4], "pixel {c},{r}");
        }
    }

    #[test]
    fn synthetic_rejects_bad_sizes() {
        for (w, h) in [(0, 10), (10, 0), (MAX_SIDE + 1, 10)] {
            assert!(matches!(
                open(DisplaySpec::Synthetic { width: w, height: h, motion: Motion::Static }),
                Err(CaptureError::BadSize { .. })
            ));
        }
    }

    #[test]
    fn display_spec_parses_monitors_and_synthetic_sizes() {
        let parse = |s: &str| s.parse::<DisplaySpec>().ok();
        assert_eq!(parse("0"), Some(DisplaySpec::X11 { display: None, monitor: 0 }));
        assert_eq!(parse("2"), Some(DisplaySpec::X11 { display: None, monitor: 2 }));
        let moving =
            DisplaySpec::Synthetic { width: 1920, height: 1080, motion: Motion::MovingBox };
        assert_eq!(parse("synthetic:1920x1080"), Some(moving));
        let still = DisplaySpec::Synthetic { width: 64, height: 48, motion: Motion::Static };
        assert_eq!(parse("synthetic-static:64x48"), Some(still));
        for bad in ["", "-1", ":0", "synthetic", "synthetic:1920", "synthetic:axb", "other:1x1"] {
            let err = bad.parse::<DisplaySpec>().unwrap_err().to_string();
            assert!(err.contains("monitor number"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn bounce_folds_back_and_forth() {
        let seq: Vec<u32> = (0..9).map(|p| bounce(p, 3)).collect();
        assert_eq!(seq, [0, 1, 2, 3, 2, 1, 0, 1, 2]);
        assert_eq!(bounce(12345, 0), 0);
    }

    /// Captures monitor `monitor` of `display` and returns (width, height, RGBA).
    fn capture_rgba(source: &mut dyn FrameSource) -> (u32, u32, Vec<u8>) {
        let f = source.capture().unwrap();
        let rgba = f.rows().flat_map(|r| r.chunks_exact(4)).flat_map(|p| [p[2], p[1], p[0], 255]);
        (f.width, f.height, rgba.collect())
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn x11_capture_matches_test_pattern() {
        let xvfb = Xvfb::start(1000, 700).unwrap();
        let painter = Painter::connect(xvfb.display()).unwrap();
        let expected = painter.fill_test_pattern(1000, 700).unwrap();
        let mut source =
            open(DisplaySpec::X11 { display: Some(xvfb.display().into()), monitor: 0 }).unwrap();
        let (w, h, rgba) = capture_rgba(source.as_mut());
        assert_eq!((w, h), (1000, 700));
        assert!(rgba == expected.data, "captured pixels differ from the painted pattern");
        assert!(painter.screenshot().unwrap().data == rgba, "and from the server's GetImage");
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn x11_frame_is_fresh() {
        let xvfb = Xvfb::start(320, 240).unwrap();
        let painter = Painter::connect(xvfb.display()).unwrap();
        let mut source = X11Source::open(Some(xvfb.display()), 0).unwrap();
        for colour in [0x10_20_30, 0xa0_b0_c0, 0x40_50_60] {
            painter.fill_rect(0, 0, 320, 240, colour).unwrap();
            let f = source.capture().unwrap();
            let [_, r, g, b] = u32::to_be_bytes(colour);
            assert_eq!(
                &f.data[..3],
                [b, g, r],
                "a single capture shows what was painted before it"
            );
        }
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn x11_follows_screen_resize() {
        let xvfb = Xvfb::start(800, 600).unwrap();
        let painter = Painter::connect(xvfb.display()).unwrap();
        let mut source = X11Source::open(Some(xvfb.display()), 0).unwrap();
        assert_eq!(capture_rgba(&mut source).0, 800);
        for (w, h) in [(640, 480), (800, 600), (320, 200)] {
            xvfb.resize(w, h).unwrap();
            let expected = painter.fill_test_pattern(w.into(), h.into()).unwrap();
            // RandR events reach our connection before the capture that follows the resize.
            let (cw, ch, rgba) = capture_rgba(&mut source);
            assert_eq!((cw, ch), (w.into(), h.into()));
            assert!(rgba == expected.data, "pixels after resizing to {w}x{h}");
        }
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn x11_selects_monitor_by_index() {
        let xvfb = Xvfb::start(800, 600).unwrap();
        xvfb.add_monitor("LEFT", (0, 0, 300, 600), false).unwrap();
        xvfb.add_monitor("RIGHT", (300, 100, 500, 400), true).unwrap();
        let painter = Painter::connect(xvfb.display()).unwrap();
        let screen = painter.fill_test_pattern(800, 600).unwrap();
        let crop = |x: u32, y: u32, w: u32, h: u32| -> Vec<u8> {
            (y..y + h)
                .flat_map(|r| {
                    screen.data[((r * 800 + x) * 4) as usize..][..(w * 4) as usize].to_vec()
                })
                .collect()
        };
        // The server lists the primary first, then the rest; the output's own monitor is last.
        for (index, (x, y, w, h)) in
            [(0, (300, 100, 500, 400)), (1, (0, 0, 300, 600)), (2, (0, 0, 800, 600))]
        {
            let mut source = X11Source::open(Some(xvfb.display()), index).unwrap();
            let (cw, ch, rgba) = capture_rgba(&mut source);
            assert_eq!((cw, ch), (w, h), "monitor {index}");
            assert!(rgba == crop(x, y, w, h), "monitor {index} pixels");
        }
        let err = X11Source::open(Some(xvfb.display()), 3).err().unwrap();
        assert!(err.to_string().contains("has 3 monitor(s)"), "{err}");
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn x11_unreachable_display_is_a_clear_error() {
        let display = tether_testkit::xvfb::unused_display();
        let err = X11Source::open(Some(&display), 0).err().unwrap();
        assert!(matches!(err, CaptureError::Connect { .. }), "{err}");
        assert!(err.to_string().contains("cannot connect to X11 display"), "{err}");
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn x11_missing_extensions_are_named() {
        for (extension, needle) in [("MIT-SHM", "MIT-SHM"), ("RANDR", "RANDR 1.5")] {
            let xvfb = Xvfb::builder(320, 240).args(["-extension", extension]).start().unwrap();
            let err = X11Source::open(Some(xvfb.display()), 0).err().unwrap();
            assert!(matches!(err, CaptureError::MissingExtension { .. }), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    #[ignore = "needs Xvfb and unprivileged user namespaces (unshare -r)"]
    fn x11_shm_in_another_ipc_namespace_is_detected() {
        let xvfb = Xvfb::builder(320, 240).private_ipc_namespace().start().unwrap();
        Painter::connect(xvfb.display()).unwrap().fill_rect(0, 0, 320, 240, 0x336699).unwrap();
        let err = X11Source::open(Some(xvfb.display()), 0).err().unwrap();
        assert!(matches!(err, CaptureError::ShmNotShared { .. }), "{err}");
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn x11_black_screen_is_not_mistaken_for_broken_shm() {
        let xvfb = Xvfb::start(320, 240).unwrap();
        Painter::connect(xvfb.display()).unwrap().fill_rect(0, 0, 320, 240, 0).unwrap();
        let mut source = X11Source::open(Some(xvfb.display()), 0).unwrap();
        assert!(source.capture().unwrap().data.iter().all(|&b| b == 0));
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn x11_server_exit_ends_capture_with_an_error() {
        let xvfb = Xvfb::start(320, 240).unwrap();
        let mut source = X11Source::open(Some(xvfb.display()), 0).unwrap();
        source.capture().unwrap();
        drop(xvfb);
        // The geometry check (events now, a round trip within a second) notices the lost server.
        source.last_geometry_check -= GEOMETRY_POLL;
        let err = source.capture().err().unwrap();
        assert!(
            matches!(err, CaptureError::X11Connection(_) | CaptureError::X11Request(_)),
            "{err}"
        );
    }

    /// `open` reads `DISPLAY` and `WAYLAND_DISPLAY`, which cannot be changed safely inside this
    /// multi-threaded test process: the test re-runs itself in children with them set up.
    #[test]
    fn open_without_display_explains() {
        const CHILD: &str = "TETHER_CAPTURE_TEST_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let err = open(0usize).err().expect("no display, no source");
            match std::env::var_os("WAYLAND_DISPLAY") {
                Some(_) => assert!(matches!(err, CaptureError::WaylandOnly { .. }), "{err}"),
                None => assert!(matches!(err, CaptureError::DisplayNotSet), "{err}"),
            }
            return;
        }
        for wayland in [None, Some("wayland-0")] {
            let mut child = Command::new(std::env::current_exe().unwrap());
            child.args(["--exact", "capture::tests::open_without_display_explains"]);
            child.env(CHILD, "1").env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
            if let Some(wayland) = wayland {
                child.env("WAYLAND_DISPLAY", wayland);
            }
            let out = child.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success() && stdout.contains("1 passed"), "{wayland:?}: {stdout}");
        }
    }
}
