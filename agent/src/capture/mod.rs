//! The capture stage: screen images for the encoder.
//!
//! A [`FrameSource`] hands out borrowed BGRX frames; the caller converts each one to I420 before
//! asking for the next. [`X11Source`] (`x11.rs`) reads an X11 monitor through MIT-SHM, into
//! memory only it and the X server can see, and tells through X DAMAGE whether the screen may
//! have changed;
//! [`SyntheticSource`] (`synthetic.rs`) draws a moving box for tests and benchmarks.
//! [`ChangeDetector`] (`change.rs`) lets the caller skip encoding while the screen stands still
//! and tells which regions changed; [`update_picture`] (`picture.rs`) converts only those.
//! [`MonitorGeometry`] (`geometry.rs`) tells the input stage where the shared monitor lies.
//!
//! An X11 source holds a mapping of memory the X server writes to, and is `!Send`: call
//! [`open`] on the thread that will capture.

mod change;
mod geometry;
mod picture;
mod synthetic;
mod x11;

use std::time::Instant;

pub use tether_media::codec::PixelRect;
use thiserror::Error;
use x11rb::errors::{ConnectionError, ReplyError};

pub use self::change::ChangeDetector;
pub use self::geometry::{MonitorGeometry, MonitorRect};
pub use self::picture::{copy_picture, update_picture};
use self::synthetic::MAX_SIDE;
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

/// What to capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisplaySpec {
    /// An X11 monitor. `display` is an X display name (`:0`); `None` reads `DISPLAY`.
    /// `monitor` indexes the X server's RandR monitor list (`RRGetMonitors`, screen by
    /// screen); the server lists the primary monitor first, so 0 is the primary (or only) one.
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
