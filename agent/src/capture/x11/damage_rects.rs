//! DAMAGE for [`X11Source`](super::X11Source): setting it up, and turning the region a
//! subtract emptied into the monitor's damaged rectangles.

use x11rb::connection::Connection;
use x11rb::cookie::{Cookie, VoidCookie};
use x11rb::errors::ConnectionError;
use x11rb::protocol::damage::{self, ConnectionExt as _, Damage};
use x11rb::protocol::xfixes::{ConnectionExt as _, FetchRegionReply, Region};
use x11rb::protocol::xproto::{Rectangle, Window};
use x11rb::rust_connection::RustConnection;

use super::Rect;
use crate::capture::{CaptureError, PixelRect};

/// More damaged rectangles than this are handed on as their bounding box: comparing many
/// small pieces costs more in bookkeeping than the few extra pixels of the box.
const MAX_DAMAGE_RECTS: usize = 32;

/// Whether the server has DAMAGE (and so XFixes). Without it every frame is captured and
/// compared whole; that is logged here, once per source.
pub(super) fn damage_available(conn: &RustConnection, display: &str) -> Result<bool, CaptureError> {
    // The server refuses other DAMAGE requests until the client has said its version.
    match conn.damage_query_version(1, 1) {
        Err(ConnectionError::UnsupportedExtension) => {
            // Not `display,`: inside tracing's macros that name is its `display` function.
            let name = display;
            tracing::warn!(
                display = name,
                "the X server lacks the DAMAGE extension: the static-screen optimisation is off, \
                 every frame is read and compared even when nothing changes"
            );
            Ok(false)
        }
        cookie => {
            cookie?.reply()?;
            // DAMAGE needs XFixes (its regions carry the damaged rectangles); the server
            // likewise wants XFixes' version first.
            conn.xfixes_query_version(2, 0)?.reply()?;
            Ok(true)
        }
    }
}

/// A DAMAGE object on `root` that notifies when its region stops being empty, and an empty
/// XFixes region to move its damage into.
pub(super) fn watch_damage(
    conn: &RustConnection,
    root: Window,
) -> Result<(Damage, Region), CaptureError> {
    let damage = conn.generate_id()?;
    conn.damage_create(damage, root, damage::ReportLevel::NON_EMPTY)?.check()?;
    let region = conn.generate_id()?;
    conn.xfixes_create_region(region, &[])?.check()?;
    Ok((damage, region))
}

/// A queued damage subtract and the fetch of the region it emptied.
pub(super) type PendingSubtract<'c> =
    (VoidCookie<'c, RustConnection>, Cookie<'c, RustConnection, FetchRegionReply>);

/// Queues emptying `damage`'s region into `region` and fetching what it held; nothing is sent
/// until a reply is waited for.
pub(super) fn request_subtract(
    conn: &RustConnection,
    (damage, region): (Damage, Region),
) -> Result<PendingSubtract<'_>, ConnectionError> {
    let subtract = conn.damage_subtract(damage, x11rb::NONE, region)?;
    Ok((subtract, conn.xfixes_fetch_region(region)?))
}

/// The damaged rectangles (root coordinates) that fall on the monitor, in its coordinates.
pub(super) fn monitor_rects(parts: &FetchRegionReply, monitor: Rect) -> Vec<PixelRect> {
    let rects = if parts.rectangles.len() > MAX_DAMAGE_RECTS {
        std::slice::from_ref(&parts.extents)
    } else {
        &parts.rectangles[..]
    };
    let (mx, my) = (i32::from(monitor.x), i32::from(monitor.y));
    let (mw, mh) = (i32::from(monitor.w), i32::from(monitor.h));
    let clip = |r: &Rectangle| {
        let x0 = (i32::from(r.x) - mx).clamp(0, mw);
        let y0 = (i32::from(r.y) - my).clamp(0, mh);
        let x1 = (i32::from(r.x) + i32::from(r.width) - mx).clamp(0, mw);
        let y1 = (i32::from(r.y) + i32::from(r.height) - my).clamp(0, mh);
        // Non-negative after the clamps.
        let [x, y, w, h] = [x0, y0, x1 - x0, y1 - y0].map(|v| v as u32);
        (w > 0 && h > 0).then_some(PixelRect { x, y, width: w, height: h })
    };
    rects.iter().filter_map(clip).collect()
}
