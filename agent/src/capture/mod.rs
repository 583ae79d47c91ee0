//! The capture stage: screen images for the encoder.
//!
//! A [`FrameSource`] hands out borrowed BGRX frames; the caller converts each one to I420 before
//! asking for the next. [`X11Source`] (`x11.rs`) reads an X11 monitor through MIT-SHM, into
//! memory only it and the X server can see, and tells through X DAMAGE whether the screen may
//! have changed;
//! [`SyntheticSource`] (`synthetic.rs`, tests only) draws a moving box.
//! [`ChangeDetector`] (`change.rs`) lets the caller skip encoding while the screen stands still
//! and tells which regions changed; [`update_picture`] (`picture.rs`) converts only those.
//! [`MonitorGeometry`] (`geometry.rs`) tells the input stage where the shown monitor lies, and
//! [`MonitorWatch`] lists the monitors for the viewer; [`ShownMonitor`] (`shown.rs`) is the
//! session's choice among them, which capture and input follow.
//!
//! An X11 source holds a mapping of memory the X server writes to, and is `!Send`: call
//! [`open_shown`] on the thread that will capture.

mod change;
mod geometry;
mod picture;
mod shown;
#[cfg(test)]
mod synthetic;
mod x11;

use std::sync::Arc;
use std::time::Instant;

pub use tether_media::codec::PixelRect;
use thiserror::Error;
use x11rb::errors::{ConnectionError, ReplyError};

pub use self::change::ChangeDetector;
pub use self::geometry::{MonitorGeometry, MonitorRect, MonitorWatch};
pub use self::picture::{copy_picture, update_picture};
pub use self::shown::{Shown, ShownMonitor};
#[cfg(test)]
use self::synthetic::MAX_SIDE;
#[cfg(test)]
pub use self::synthetic::{Motion, SyntheticSource};
pub use self::x11::X11Source;

/// One captured image, borrowed from its source until the next `capture` call.
pub struct CapturedFrame<'a> {
    pub width: u32,
    pub height: u32,
    /// Bytes from the start of one row to the start of the next.
    pub stride: usize,
    /// BGRX: blue, green, red, then a byte to ignore (not alpha).
    pub data: &'a [u8],
    /// When the pixels were read from the screen (or drawn, for synthetic frames).
    pub captured_at: Instant,
    /// Where this frame can differ from the source's previous one (X DAMAGE rectangles, in
    /// frame coordinates); `None` when the source cannot tell, or for the first frame and the
    /// first after a size change: anything may have changed.
    pub damage: Option<&'a [PixelRect]>,
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

impl std::fmt::Debug for CapturedFrame<'_> {
    // Not the megabytes of pixels.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { width, height, stride, data, captured_at, damage } = self;
        write!(
            f,
            "CapturedFrame({width}x{height}, stride {stride}, {} bytes, {captured_at:?}, damage \
             {damage:?})",
            data.len()
        )
    }
}

/// Something that yields screen images. `capture` blocks; run it on a dedicated thread.
pub trait FrameSource {
    fn capture(&mut self) -> Result<CapturedFrame<'_>, CaptureError>;

    /// Whether the screen may have changed since the last `capture`. Sources that cannot tell
    /// return true. Cheap: no pixels are read.
    ///
    /// A false answer is never final: a change is reported by a later call (or shown by the
    /// next `capture`), never lost. The first call after opening, and after the monitor changed
    /// size, returns true.
    fn may_have_changed(&mut self) -> Result<bool, CaptureError> {
        Ok(true)
    }
}

/// What a test captures.
#[cfg(test)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisplaySpec {
    /// Monitor `monitor` of the X display `display` (`None`: `DISPLAY`).
    X11 { display: Option<String>, monitor: usize },
    /// Generated frames, see [`SyntheticSource`].
    Synthetic { width: u32, height: u32, motion: Motion },
}

/// Opens a frame source. Call it on the capture thread: X11 sources cannot move between threads.
#[cfg(test)]
pub fn open(spec: DisplaySpec) -> Result<Box<dyn FrameSource>, CaptureError> {
    Ok(match spec {
        DisplaySpec::X11 { display, monitor } => {
            Box::new(X11Source::open_shown(display.as_deref(), ShownMonitor::fixed(monitor))?)
        }
        DisplaySpec::Synthetic { width, height, motion } => {
            Box::new(SyntheticSource::new(width, height, motion)?)
        }
    })
}

/// Opens the X11 display in `DISPLAY`, showing what `shown` says as it changes. Call it on the
/// capture thread: X11 sources cannot move between threads.
pub fn open_shown(shown: Arc<ShownMonitor>) -> Result<Box<dyn FrameSource>, CaptureError> {
    Ok(Box::new(X11Source::open_shown(None, shown)?))
}

/// Why capture could not start or could not go on. Messages say what to do about it.
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
    #[cfg(test)]
    #[error("invalid synthetic frame size {width}x{height}: each side must be 1..={MAX_SIDE}")]
    BadSize { width: u32, height: u32 },
    /// A later stage of the capture thread (conversion, encoding) failed.
    #[error("{0}")]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn rows_skip_stride_padding_and_stop_on_short_data() {
        let data: Vec<u8> = (0..24).collect();
        let f = CapturedFrame {
            width: 2,
            height: 3,
            stride: 12,
            data: &data[..20],
            captured_at: Instant::now(),
            damage: None,
        };
        let rows: Vec<&[u8]> = f.rows().collect();
        assert_eq!(rows, [&data[0..8], &data[12..20]]);
    }

    /// `open` reads `DISPLAY` and `WAYLAND_DISPLAY`, which cannot be changed safely inside this
    /// multi-threaded test process: the test re-runs itself in children with them set up.
    #[test]
    fn open_without_display_explains() {
        const CHILD: &str = "TETHER_CAPTURE_TEST_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let err = open_shown(ShownMonitor::fixed(0)).err().expect("no display, no source");
            match std::env::var_os("WAYLAND_DISPLAY") {
                Some(_) => assert!(matches!(err, CaptureError::WaylandOnly { .. }), "{err}"),
                None => assert!(matches!(err, CaptureError::DisplayNotSet), "{err}"),
            }
            return;
        }
        // libtest names tests by module path without the crate name.
        let module = module_path!().split_once("::").map_or("", |(_, path)| path);
        let name = format!("{module}::open_without_display_explains");
        for wayland in [None, Some("wayland-0")] {
            let mut child = Command::new(std::env::current_exe().unwrap());
            child.args(["--exact", &name]);
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
