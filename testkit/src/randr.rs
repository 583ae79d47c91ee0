//! RandR changes a user or a monitor hot-plug would make: screen size and monitors.

use anyhow::{Context, Result, ensure};
use x11rb::connection::Connection;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::xproto::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

fn connect(display: &str) -> Result<(RustConnection, usize)> {
    x11rb::connect(Some(display)).with_context(|| format!("cannot connect to {display}"))
}

/// Millimetres for `px` pixels at 96 dpi.
fn mm(px: u16) -> u32 {
    u32::from(px) * 254 / 960
}

/// Changes the screen size through RandR, as a user changing resolution would. Xvfb can
/// only go down to, or back up to, the size it started with: its framebuffer is fixed.
pub fn resize(display: &str, width: u16, height: u16) -> Result<()> {
    let (conn, screen) = connect(display)?;
    let root = conn.setup().roots[screen].root;
    conn.randr_query_version(1, 5)?.reply()?;
    let range = conn.randr_get_screen_size_range(root)?.reply()?;
    ensure!(
        width <= range.max_width && height <= range.max_height,
        "Xvfb cannot grow past the size it started with ({}x{}); {width}x{height} asked",
        range.max_width,
        range.max_height
    );
    let res = conn.randr_get_screen_resources(root)?.reply()?;
    let (&output, &crtc) = res.outputs.first().zip(res.crtcs.first()).context("no RandR output")?;
    let mode = match res.modes.iter().find(|m| (m.width, m.height) == (width, height)) {
        Some(mode) => mode.id,
        None => {
            let name = format!("{width}x{height}");
            let info = randr::ModeInfo {
                width,
                height,
                name_len: u16::try_from(name.len())?,
                ..Default::default()
            };
            conn.randr_create_mode(root, info, name.as_bytes())?.reply()?.mode
        }
    };
    if !conn.randr_get_output_info(output, res.config_timestamp)?.reply()?.modes.contains(&mode) {
        conn.randr_add_output_mode(output, mode)?.check()?;
    }
    // Screen size and CRTC must stay consistent: turn the CRTC off, resize, turn it on.
    let set_crtc = |mode, outputs: &[u32]| -> Result<()> {
        let info = conn.randr_get_crtc_info(crtc, res.config_timestamp)?.reply()?;
        let rotation = randr::Rotation::ROTATE0;
        let reply = conn
            .randr_set_crtc_config(
                crtc,
                info.timestamp,
                res.config_timestamp,
                0,
                0,
                mode,
                rotation,
                outputs,
            )?
            .reply()?;
        ensure!(reply.status == randr::SetConfig::SUCCESS, "SetCrtcConfig: {:?}", reply.status);
        Ok(())
    };
    set_crtc(0, &[])?;
    conn.randr_set_screen_size(root, width, height, mm(width), mm(height))?.check()?;
    set_crtc(mode, &[output])
}

/// Adds a RandR 1.5 monitor (a named rectangle of the screen), as a multi-monitor setup
/// shows them. The server lists the primary monitor first.
pub fn add_monitor(
    display: &str,
    name: &str,
    (x, y, width, height): (i16, i16, u16, u16),
    primary: bool,
) -> Result<()> {
    let (conn, screen) = connect(display)?;
    let root = conn.setup().roots[screen].root;
    conn.randr_query_version(1, 5)?.reply()?;
    let name = conn.intern_atom(false, name.as_bytes())?.reply()?.atom;
    let info = randr::MonitorInfo {
        name,
        primary,
        automatic: false,
        x,
        y,
        width,
        height,
        width_in_millimeters: mm(width),
        height_in_millimeters: mm(height),
        outputs: Vec::new(),
    };
    conn.randr_set_monitor(root, info)?.check()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xvfb::Xvfb;

    fn root_size(display: &str) -> (u16, u16) {
        let (conn, screen) = connect(display).unwrap();
        let root = conn.setup().roots[screen].root;
        let geometry = conn.get_geometry(root).unwrap().reply().unwrap();
        (geometry.width, geometry.height)
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn resize_changes_the_root_size() {
        let xvfb = Xvfb::start(800, 600).unwrap();
        resize(xvfb.display(), 640, 480).unwrap();
        assert_eq!(root_size(xvfb.display()), (640, 480));
        resize(xvfb.display(), 800, 600).unwrap();
        assert_eq!(root_size(xvfb.display()), (800, 600));
        let err = resize(xvfb.display(), 1024, 768).unwrap_err();
        assert!(format!("{err:#}").contains("cannot grow"), "{err:#}");
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn added_monitors_are_listed_primary_first() {
        let xvfb = Xvfb::start(800, 600).unwrap();
        add_monitor(xvfb.display(), "LEFT", (0, 0, 400, 600), false).unwrap();
        add_monitor(xvfb.display(), "RIGHT", (400, 0, 400, 600), true).unwrap();
        let (conn, screen) = connect(xvfb.display()).unwrap();
        let root = conn.setup().roots[screen].root;
        let monitors = conn.randr_get_monitors(root, true).unwrap().reply().unwrap().monitors;
        let rects: Vec<_> = monitors.iter().map(|m| (m.x, m.y, m.width, m.height)).collect();
        assert_eq!(rects, [(400, 0, 400, 600), (0, 0, 400, 600), (0, 0, 800, 600)]);
    }
}
