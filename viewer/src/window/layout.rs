//! Where the picture goes in the window, and back: pure geometry, scaling and the key and
//! button names of the input channel.

use tether_proto::input::is_key_code;
use winit::event::MouseButton;
use winit::keyboard::KeyCode;

/// How the picture is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Scaled to fit the window, aspect kept, bars around it.
    Fit,
    /// One screen pixel per window pixel; the view pans to follow the pointer.
    OneToOne,
}

/// The picture's placement in window pixels: its top-left corner (may be negative when panned
/// in 1:1 mode) and its displayed size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// Places a `fw` x `fh` picture in a `ww` x `wh` window. `pointer` (window pixels) chooses
/// the panned part in 1:1 mode when the picture is larger than the window.
pub fn place(
    scale: Scale,
    (fw, fh): (u32, u32),
    (ww, wh): (u32, u32),
    pointer: (f64, f64),
) -> Placement {
    let (fw, fh, ww, wh) = (f64::from(fw), f64::from(fh), f64::from(ww), f64::from(wh));
    if fw <= 0.0 || fh <= 0.0 || ww <= 0.0 || wh <= 0.0 {
        return Placement { x: 0.0, y: 0.0, w: 0.0, h: 0.0 };
    }
    match scale {
        Scale::Fit => {
            let s = (ww / fw).min(wh / fh);
            let (w, h) = (fw * s, fh * s);
            Placement { x: ((ww - w) / 2.0).round(), y: ((wh - h) / 2.0).round(), w, h }
        }
        Scale::OneToOne => {
            let axis = |frame: f64, window: f64, at: f64| {
                if frame <= window {
                    ((window - frame) / 2.0).floor()
                } else {
                    -((frame - window) * (at / window).clamp(0.0, 1.0)).round()
                }
            };
            Placement { x: axis(fw, ww, pointer.0), y: axis(fh, wh, pointer.1), w: fw, h: fh }
        }
    }
}

/// A window position as 0..1 of the shared display, or `None` without a picture.
pub fn normalise(p: &Placement, (x, y): (f64, f64)) -> Option<(f64, f64)> {
    if p.w <= 0.0 || p.h <= 0.0 {
        return None;
    }
    Some((((x - p.x) / p.w).clamp(0.0, 1.0), ((y - p.y) / p.h).clamp(0.0, 1.0)))
}

/// Draws an RGBA picture into a 0RGB window buffer at `p` (nearest neighbour), black around.
pub fn blit(
    dst: &mut [u32],
    (ww, wh): (usize, usize),
    src: &[u8],
    (fw, fh): (usize, usize),
    p: &Placement,
) {
    dst.fill(0);
    if p.w <= 0.0 || p.h <= 0.0 || src.len() < fw * fh * 4 || dst.len() < ww * wh {
        return;
    }
    // Source column for every destination column, once per frame.
    let columns: Vec<Option<usize>> = (0..ww)
        .map(|x| {
            let sx = ((x as f64 + 0.5 - p.x) * fw as f64 / p.w).floor();
            (sx >= 0.0 && sx < fw as f64).then_some(sx as usize)
        })
        .collect();
    for (y, row) in dst.chunks_exact_mut(ww).take(wh).enumerate() {
        let sy = ((y as f64 + 0.5 - p.y) * fh as f64 / p.h).floor();
        if sy < 0.0 || sy >= fh as f64 {
            continue;
        }
        let src_row = &src[sy as usize * fw * 4..(sy as usize + 1) * fw * 4];
        for (out, column) in row.iter_mut().zip(&columns) {
            if let Some(sx) = column {
                let px = &src_row[sx * 4..sx * 4 + 3];
                *out = u32::from(px[0]) << 16 | u32::from(px[1]) << 8 | u32::from(px[2]);
            }
        }
    }
}

/// W3C `KeyboardEvent.code` for a winit key: winit names its key codes after the W3C ones,
/// except that it says Super where W3C says Meta. `None` for keys the protocol does not have.
pub fn key_code(key: KeyCode) -> Option<String> {
    let name = format!("{key:?}");
    let name = match name.strip_prefix("Super") {
        Some(side) => format!("Meta{side}"),
        None => name,
    };
    is_key_code(&name).then_some(name)
}

/// W3C `MouseEvent.button` for a winit button.
pub fn button(button: MouseButton) -> Option<u8> {
    match button {
        MouseButton::Left => Some(0),
        MouseButton::Middle => Some(1),
        MouseButton::Right => Some(2),
        MouseButton::Back => Some(3),
        MouseButton::Forward => Some(4),
        MouseButton::Other(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_the_aspect_with_bars() {
        let p = place(Scale::Fit, (1920, 1080), (1000, 1000), (0.0, 0.0));
        assert_eq!((p.w.round(), p.h.round()), (1000.0, 563.0));
        assert_eq!((p.x, p.y), (0.0, 219.0));
        // The middle of the window is the middle of the screen; a bar clamps to the edge.
        let (x, y) = normalise(&p, (500.0, 500.0)).unwrap();
        assert!((x - 0.5).abs() < 1e-9 && (y - 0.5).abs() < 0.01, "{x} {y}");
        assert_eq!(normalise(&p, (0.0, 10.0)), Some((0.0, 0.0)));
    }

    #[test]
    fn one_to_one_centres_small_pictures_and_pans_large_ones() {
        let small = place(Scale::OneToOne, (640, 480), (1000, 1000), (0.0, 0.0));
        assert_eq!((small.x, small.y, small.w), (180.0, 260.0, 640.0));
        let large = place(Scale::OneToOne, (2000, 1000), (1000, 500), (1000.0, 0.0));
        assert_eq!((large.x, large.y), (-1000.0, 0.0));
        // The pointer at the window's right edge is at the screen's right edge.
        assert_eq!(normalise(&large, (1000.0, 0.0)), Some((1.0, 0.0)));
    }

    #[test]
    fn blit_scales_and_clears_the_bars() {
        // A 2x1 picture, red then blue, into a 4x4 window: two 2x2 blocks in the middle rows.
        let src = [255, 0, 0, 255, 0, 0, 255, 255];
        let mut dst = vec![7u32; 16];
        let p = place(Scale::Fit, (2, 1), (4, 4), (0.0, 0.0));
        blit(&mut dst, (4, 4), &src, (2, 1), &p);
        assert_eq!(&dst[0..4], &[0, 0, 0, 0]);
        assert_eq!(&dst[4..8], &[0xff0000, 0xff0000, 0x0000ff, 0x0000ff]);
        assert_eq!(&dst[12..16], &[0, 0, 0, 0]);
        // A short source buffer draws nothing rather than panicking.
        blit(&mut dst, (4, 4), &src[..4], (2, 1), &p);
    }

    #[test]
    fn keys_and_buttons_have_their_w3c_names() {
        assert_eq!(key_code(KeyCode::KeyA).as_deref(), Some("KeyA"));
        assert_eq!(key_code(KeyCode::ShiftLeft).as_deref(), Some("ShiftLeft"));
        assert_eq!(key_code(KeyCode::SuperRight).as_deref(), Some("MetaRight"));
        assert_eq!(key_code(KeyCode::NumpadEnter).as_deref(), Some("NumpadEnter"));
        assert_eq!(key_code(KeyCode::F24), None);
        assert_eq!(button(MouseButton::Right), Some(2));
        assert_eq!(button(MouseButton::Other(9)), None);
    }
}
