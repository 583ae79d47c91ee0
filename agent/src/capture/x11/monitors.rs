//! The X server's monitors (RandR 1.5 `GetMonitors`): their rectangles for capture and input,
//! their names for the viewer's monitor menu, and the rectangle a [`Shown`] choice covers.

use x11rb::connection::Connection;
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt as _, Window};
use x11rb::rust_connection::RustConnection;

use super::Rect;
use crate::capture::{CaptureError, Shown};
use tether_proto::display::{Monitor, monitor_name};

/// Monitors of every screen: by screen, then as the server lists them (the primary first).
pub(in crate::capture) fn list_monitors(
    conn: &RustConnection,
) -> Result<Vec<(Window, Rect)>, CaptureError> {
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

/// The same list as [`list_monitors`], for the viewer: names, positions, the primary flag.
pub(in crate::capture) fn named_monitors(
    conn: &RustConnection,
) -> Result<Vec<Monitor>, CaptureError> {
    let mut monitors = Vec::new();
    for screen in &conn.setup().roots {
        let reply = conn.randr_get_monitors(screen.root, true)?.reply()?;
        let names: Vec<_> =
            reply.monitors.iter().map(|m| conn.get_atom_name(m.name)).collect::<Result<_, _>>()?;
        for (m, name) in reply.monitors.iter().zip(names) {
            let name = String::from_utf8_lossy(&name.reply()?.name).into_owned();
            monitors.push(Monitor {
                name: monitor_name(&name),
                x: m.x.into(),
                y: m.y.into(),
                width: m.width.into(),
                height: m.height.into(),
                primary: m.primary,
            });
        }
    }
    Ok(monitors)
}

/// The root window and rectangle that `shown` covers. [`Shown::All`] is the bounding box of
/// the first screen's monitors: the whole desktop as one picture.
pub(in crate::capture) fn select_monitor(
    monitors: &[(Window, Rect)],
    shown: Shown,
    display: &str,
) -> Result<(Window, Rect), CaptureError> {
    let display = display.to_owned();
    let (index, found) = match shown {
        Shown::Monitor(index) => (index, monitors.get(index).copied()),
        Shown::All => (0, bounding_box(monitors)),
    };
    match found {
        None => Err(CaptureError::NoMonitor { display, index, count: monitors.len() }),
        Some((_, r)) if r.w == 0 || r.h == 0 => {
            Err(CaptureError::EmptyMonitor { display, index, width: r.w, height: r.h })
        }
        Some(found) => Ok(found),
    }
}

/// The smallest rectangle holding every monitor of the first listed screen.
fn bounding_box(monitors: &[(Window, Rect)]) -> Option<(Window, Rect)> {
    let root = monitors.first()?.0;
    let rects = monitors.iter().filter(|(r, _)| *r == root).map(|(_, rect)| *rect);
    let (mut left, mut top, mut right, mut bottom) = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
    for r in rects {
        left = left.min(r.x.into());
        top = top.min(r.y.into());
        right = right.max(i32::from(r.x) + i32::from(r.w));
        bottom = bottom.max(i32::from(r.y) + i32::from(r.h));
    }
    let clamp_pos = |v: i32| i16::try_from(v).unwrap_or(i16::MAX);
    let clamp_len = |v: i32| u16::try_from(v.max(0)).unwrap_or(u16::MAX);
    let rect = Rect {
        x: clamp_pos(left),
        y: clamp_pos(top),
        w: clamp_len(right - left),
        h: clamp_len(bottom - top),
    };
    Some((root, rect))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: Window = 7;

    fn rect(x: i16, y: i16, w: u16, h: u16) -> Rect {
        Rect { x, y, w, h }
    }

    #[test]
    fn all_is_the_bounding_box_of_the_first_screen() {
        let monitors = [
            (ROOT, rect(0, 0, 640, 480)),
            (ROOT, rect(640, 120, 320, 240)),
            (9, rect(0, 0, 2000, 2000)),
        ];
        assert_eq!(
            select_monitor(&monitors, Shown::All, ":1").unwrap(),
            (ROOT, rect(0, 0, 960, 480))
        );
        assert_eq!(select_monitor(&monitors, Shown::Monitor(1), ":1").unwrap(), monitors[1]);
        assert!(matches!(
            select_monitor(&monitors, Shown::Monitor(3), ":1"),
            Err(CaptureError::NoMonitor { index: 3, count: 3, .. })
        ));
        assert!(matches!(
            select_monitor(&[], Shown::All, ":1"),
            Err(CaptureError::NoMonitor { .. })
        ));
    }
}
