//! Draw known pictures on an X display and read back what the server shows.
//!
//! Drawing goes straight onto the root window with `IncludeInferiors`, so it lands in the
//! framebuffer over any windows; MIT-SHM capture (`ShmGetImage`) and `GetImage` both read that.
//! Every drawing call ends with a round trip, so the pixels are on screen when it returns.

use anyhow::{Context, Result, ensure};
use tether_media::probe::{ProbeLayout, probe_rects};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ChangeGCAux, ConnectionExt as _, CreateGCAux, Gcontext, ImageFormat, ImageOrder, Rectangle,
    SubwindowMode, Window,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// An RGBA picture, rows packed (`width * 4` bytes each), alpha always 255.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbaImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbaImage {
    /// A picture filled with `rgb` (`0xRRGGBB`).
    pub fn new(width: u32, height: u32, rgb: u32) -> Self {
        let pixel = rgba(rgb);
        Self { width, height, data: pixel.repeat(width as usize * height as usize) }
    }

    /// Fills a rectangle, clipped to the picture.
    pub fn fill(&mut self, r: &FilledRect) {
        let pixel = rgba(r.rgb);
        let (x0, x1) =
            (r.x.min(self.width) as usize, r.x.saturating_add(r.w).min(self.width) as usize);
        for row in self
            .data
            .chunks_exact_mut(self.width as usize * 4)
            .skip(r.y as usize)
            .take(r.h as usize)
        {
            row[x0 * 4..x1 * 4].chunks_exact_mut(4).for_each(|p| p.copy_from_slice(&pixel));
        }
    }

    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        self.data.get(i..i + 4)?.try_into().ok()
    }
}

impl std::fmt::Debug for RgbaImage {
    // Megabytes of pixels help nobody in an assertion message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbaImage({}x{}, {} bytes)", self.width, self.height, self.data.len())
    }
}

fn rgba(rgb: u32) -> [u8; 4] {
    let [_, r, g, b] = rgb.to_be_bytes();
    [r, g, b, 255]
}

/// A solid rectangle, `rgb` as `0xRRGGBB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilledRect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub rgb: u32,
}

/// The test picture for a `width` x `height` area: eight colour bars over the top two thirds,
/// a dark band below with three rectangles. Solid areas, with edges on multiples of 16 where
/// the size allows, so H.264 reproduces it closely; asymmetric, so a crop or flip shows.
pub fn test_pattern(width: u32, height: u32) -> Vec<FilledRect> {
    const BARS: [u32; 8] =
        [0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x000000];
    let snap = |v: u32| v & !15;
    let band = snap(height * 2 / 3);
    let mut rects: Vec<FilledRect> = (0..8u32)
        .map(|i| {
            let x = snap(width * i / 8);
            let end = if i == 7 { width } else { snap(width * (i + 1) / 8) };
            FilledRect { x, y: 0, w: end - x, h: band, rgb: BARS[i as usize] }
        })
        .collect();
    let (bw, bh) = (width, height - band);
    rects.push(FilledRect { x: 0, y: band, w: bw, h: bh, rgb: 0x202020 });
    rects.push(FilledRect {
        x: snap(bw / 16),
        y: band + snap(bh / 4),
        w: snap(bw / 4),
        h: snap(bh / 2),
        rgb: 0xe0e0e0,
    });
    rects.push(FilledRect {
        x: snap(bw * 3 / 8),
        y: band + snap(bh / 8),
        w: snap(bw / 8),
        h: snap(bh * 3 / 4),
        rgb: 0xff8000,
    });
    rects.push(FilledRect {
        x: snap(bw * 5 / 8),
        y: band + snap(bh / 3),
        w: snap(bw * 5 / 16),
        h: snap(bh / 3),
        rgb: 0x3060c0,
    });
    rects
}

/// Draws on the root window of one X display.
pub struct Painter {
    conn: RustConnection,
    root: Window,
    gc: Gcontext,
}

impl Painter {
    pub fn connect(display: &str) -> Result<Self> {
        let (conn, screen) = x11rb::connect(Some(display))
            .with_context(|| format!("cannot connect to {display}"))?;
        let screen = &conn.setup().roots[screen];
        ensure!(screen.root_depth == 24, "{display} has depth {}, not 24", screen.root_depth);
        ensure!(conn.setup().image_byte_order == ImageOrder::LSB_FIRST, "{display} is big-endian");
        let root = screen.root;
        let gc = conn.generate_id()?;
        let aux = CreateGCAux::new()
            .subwindow_mode(SubwindowMode::INCLUDE_INFERIORS)
            .graphics_exposures(0);
        conn.create_gc(gc, root, &aux)?.check()?;
        Ok(Self { conn, root, gc })
    }

    /// The root window's current size (it follows RandR resizes).
    pub fn size(&self) -> Result<(u32, u32)> {
        let geometry = self.conn.get_geometry(self.root)?.reply()?;
        Ok((geometry.width.into(), geometry.height.into()))
    }

    pub fn fill_rect(&self, x: u32, y: u32, w: u32, h: u32, rgb: u32) -> Result<()> {
        self.fill_rects(&[FilledRect { x, y, w, h, rgb }])
    }

    /// Fills the rectangles in order (later ones on top), one request per run of equal colour.
    pub fn fill_rects(&self, rects: &[FilledRect]) -> Result<()> {
        for run in rects.chunk_by(|a, b| a.rgb == b.rgb) {
            self.conn.change_gc(self.gc, &ChangeGCAux::new().foreground(run[0].rgb))?;
            let xrects = run.iter().map(x_rect).collect::<Result<Vec<_>>>()?;
            self.conn.poly_fill_rectangle(self.root, self.gc, &xrects)?;
        }
        self.conn.sync()?;
        Ok(())
    }

    /// Paints [`test_pattern`] over the top-left `width` x `height` (pass the root's size to
    /// cover it) and returns the picture that area should now show.
    pub fn fill_test_pattern(&self, width: u32, height: u32) -> Result<RgbaImage> {
        let rects = test_pattern(width, height);
        self.fill_rects(&rects)?;
        let mut expected = RgbaImage::new(width, height, 0);
        rects.iter().for_each(|r| expected.fill(r));
        Ok(expected)
    }

    /// Paints the latency probe for `value` (white and black blocks from
    /// `tether_media::probe::probe_rects`).
    pub fn paint_probe(&self, value: u32, layout: &ProbeLayout) -> Result<()> {
        let rects: Vec<FilledRect> = probe_rects(value, layout)
            .into_iter()
            .map(|(x, y, w, h, white)| FilledRect {
                x,
                y,
                w,
                h,
                rgb: if white { 0xffffff } else { 0 },
            })
            .collect();
        self.fill_rects(&rects)
    }

    /// The whole root as the server itself has it (`GetImage`, no MIT-SHM).
    pub fn screenshot(&self) -> Result<RgbaImage> {
        let (width, height) = self.size()?;
        let reply = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, self.root, 0, 0, width as u16, height as u16, !0)?
            .reply()?;
        let bgrx = reply.data;
        ensure!(
            bgrx.len() == width as usize * height as usize * 4,
            "GetImage: {} bytes for {width}x{height}",
            bgrx.len()
        );
        let data = bgrx.chunks_exact(4).flat_map(|p| [p[2], p[1], p[0], 255]).collect();
        Ok(RgbaImage { width, height, data })
    }
}

fn x_rect(r: &FilledRect) -> Result<Rectangle> {
    let too_big = || format!("{r:?} does not fit X11 coordinates");
    Ok(Rectangle {
        x: r.x.try_into().with_context(too_big)?,
        y: r.y.try_into().with_context(too_big)?,
        width: r.w.try_into().with_context(too_big)?,
        height: r.h.try_into().with_context(too_big)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xvfb::Xvfb;

    #[test]
    fn test_pattern_covers_the_area_with_bars_on_16_pixel_edges() {
        for (w, h) in [(1920, 1080), (1000, 700), (64, 48)] {
            let rects = test_pattern(w, h);
            let bars = &rects[..8];
            assert_eq!(bars[0].x, 0);
            assert_eq!(bars[7].x + bars[7].w, w);
            for pair in bars.windows(2) {
                assert_eq!(pair[0].x + pair[0].w, pair[1].x, "{w}x{h}: bars touch");
                assert_eq!(pair[1].x % 16, 0);
            }
            assert_eq!(rects[8].y + rects[8].h, h, "{w}x{h}: band reaches the bottom");
            assert!(rects.iter().all(|r| r.x + r.w <= w && r.y + r.h <= h), "{w}x{h}: inside");
        }
    }

    #[test]
    fn expected_image_follows_the_rects() {
        let mut image = RgbaImage::new(4, 3, 0x010203);
        image.fill(&FilledRect { x: 1, y: 1, w: 10, h: 1, rgb: 0xff8000 });
        assert_eq!(image.pixel(0, 1), Some([1, 2, 3, 255]));
        assert_eq!(image.pixel(3, 1), Some([0xff, 0x80, 0, 255]));
        assert_eq!(image.pixel(3, 2), Some([1, 2, 3, 255]));
        assert_eq!(image.pixel(4, 0), None);
        let pattern = test_pattern(1920, 1080);
        let mut a = RgbaImage::new(1920, 1080, 0);
        pattern.iter().for_each(|r| a.fill(r));
        assert_eq!(a.pixel(0, 0), Some([255, 255, 255, 255]));
        assert_eq!(a.pixel(1919, 0), Some([0, 0, 0, 255]));
        assert_eq!(a.pixel(1919, 1079), Some([0x20, 0x20, 0x20, 255]));
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn screenshot_shows_what_was_painted() {
        let xvfb = Xvfb::start(1000, 700).unwrap();
        let painter = Painter::connect(xvfb.display()).unwrap();
        assert_eq!(painter.size().unwrap(), (1000, 700));
        let expected = painter.fill_test_pattern(1000, 700).unwrap();
        assert!(painter.screenshot().unwrap() == expected);
        painter.fill_rect(10, 20, 30, 40, 0x123456).unwrap();
        let shot = painter.screenshot().unwrap();
        assert_eq!(shot.pixel(10, 20), Some([0x12, 0x34, 0x56, 255]));
        assert_eq!(shot.pixel(39, 59), Some([0x12, 0x34, 0x56, 255]));
        assert_eq!(shot.pixel(40, 60), expected.pixel(40, 60));
    }

    #[test]
    #[ignore = "needs Xvfb"]
    fn probe_is_painted_as_probe_rects_says() {
        let xvfb = Xvfb::start(640, 480).unwrap();
        let painter = Painter::connect(xvfb.display()).unwrap();
        painter.fill_rect(0, 0, 640, 480, 0x808080).unwrap();
        let layout = ProbeLayout::default();
        for value in [0, 1, 0xdead_beef, u32::MAX] {
            painter.paint_probe(value, &layout).unwrap();
            let shot = painter.screenshot().unwrap();
            let rects = probe_rects(value, &layout);
            assert!(!rects.is_empty());
            for (x, y, w, h, white) in rects {
                let want = if white { [255, 255, 255, 255] } else { [0, 0, 0, 255] };
                for (px, py) in [(x, y), (x + w - 1, y + h - 1)] {
                    assert_eq!(shot.pixel(px, py), Some(want), "value {value:#x} at {px},{py}");
                }
            }
        }
    }

    #[test]
    fn rects_outside_x11_range_are_errors() {
        let r = FilledRect { x: 70_000, y: 0, w: 1, h: 1, rgb: 0 };
        assert!(x_rect(&r).is_err());
    }
}
