//! Picture comparison and PNG snapshots for tests and the benchmark.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mean squared error over the R, G and B channels of two RGBA buffers (alpha ignored).
/// `None` when the lengths differ, are not whole pixels, or are empty.
pub fn mse_rgba(a: &[u8], b: &[u8]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() || a.len() % 4 != 0 {
        return None;
    }
    let sum: u64 = a
        .chunks_exact(4)
        .zip(b.chunks_exact(4))
        .map(|(p, q)| (0..3).map(|i| u64::from(p[i].abs_diff(q[i])).pow(2)).sum::<u64>())
        .sum();
    Some(sum as f64 / (a.len() / 4 * 3) as f64)
}

/// Peak signal-to-noise ratio in dB over R, G and B (alpha ignored); `f64::INFINITY` for
/// identical pictures. Mismatched or empty buffers give NaN, which fails every threshold
/// comparison, so a test cannot pass by accident.
pub fn psnr_rgba(a: &[u8], b: &[u8]) -> f64 {
    match mse_rgba(a, b) {
        None => f64::NAN,
        Some(0.0) => f64::INFINITY,
        Some(mse) => 10.0 * (255.0 * 255.0 / mse).log10(),
    }
}

/// Distinguishes temp files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes an RGBA picture as PNG, atomically: readers see the old file or the new one, never a
/// partial one (the viewer rewrites its snapshot every second while tests read it).
///
/// The data goes to a temporary file in the same directory, which is then renamed over `path`.
pub fn write_png_rgba(path: &Path, width: u32, height: u32, rgba: &[u8]) -> io::Result<()> {
    let need = (width as usize).checked_mul(height as usize).and_then(|n| n.checked_mul(4));
    if width == 0 || height == 0 || need != Some(rgba.len()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} bytes is not a {width}x{height} RGBA picture", rgba.len()),
        ));
    }
    let temp = temp_path(path)?;
    let result = write_png_file(&temp, width, height, rgba).and_then(|()| {
        // No fsync: the point is that readers never see a torn file, not crash durability.
        std::fs::rename(&temp, path)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "PNG path has no file name"))?;
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(format!(".{}.{n}.tmp", std::process::id()));
    Ok(path.with_file_name(temp))
}

fn write_png_file(path: &Path, width: u32, height: u32, rgba: &[u8]) -> io::Result<()> {
    let mut file = BufWriter::new(File::create(path)?);
    let mut encoder = png::Encoder::new(&mut file, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    // Snapshots are written every second by the viewer: speed over size.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgba)?;
    writer.finish()?;
    file.flush()
}

/// Reads a PNG of any 8- or 16-bit colour type as RGBA8: `(width, height, rgba)`.
pub fn read_png_rgba(path: &Path) -> io::Result<(u32, u32, Vec<u8>)> {
    let mut decoder = png::Decoder::new(BufReader::new(File::open(path)?));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info()?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "PNG too large for memory"))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    let pixels = (info.width as usize) * (info.height as usize);
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        png::ColorType::GrayscaleAlpha => {
            buf.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect()
        }
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::Indexed => {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "indexed PNG was not expanded"));
        }
    };
    if rgba.len() != pixels * 4 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "PNG data does not match its size"));
    }
    Ok((info.width, info.height, rgba))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: u32, h: u32) -> Vec<u8> {
        (0..w * h).flat_map(|i| [(i % 251) as u8, (i / 7 % 256) as u8, 77, (i % 3) as u8]).collect()
    }

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tether-image-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn psnr_of_identical_noisy_and_mismatched_pictures() {
        let a = picture(8, 8);
        assert_eq!(psnr_rgba(&a, &a), f64::INFINITY);
        // Alpha is ignored.
        let mut b = a.clone();
        b.iter_mut().skip(3).step_by(4).for_each(|x| *x = 255);
        assert_eq!(psnr_rgba(&a, &b), f64::INFINITY);
        // Every channel off by 1: MSE 1, PSNR 20*log10(255).
        let c: Vec<u8> = a.iter().map(|&x| x ^ 1).collect();
        assert!((psnr_rgba(&a, &c) - 48.13).abs() < 0.01);
        // Black vs white: 0 dB.
        assert_eq!(psnr_rgba(&[0, 0, 0, 0], &[255, 255, 255, 0]), 0.0);
        assert!(psnr_rgba(&a, &a[4..]).is_nan());
        assert!(psnr_rgba(&[], &[]).is_nan());
        assert!(psnr_rgba(&[1, 2, 3], &[1, 2, 3]).is_nan());
    }

    #[test]
    fn png_round_trip_replaces_atomically_and_leaves_no_temp_files() {
        let dir = scratch_dir("roundtrip");
        let path = dir.join("snapshot.png");
        let first = picture(33, 17);
        write_png_rgba(&path, 33, 17, &first).unwrap();
        assert_eq!(read_png_rgba(&path).unwrap(), (33, 17, first));
        let second = picture(20, 10);
        write_png_rgba(&path, 20, 10, &second).unwrap();
        assert_eq!(read_png_rgba(&path).unwrap(), (20, 10, second));
        let names: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["snapshot.png"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn png_errors_are_io_errors() {
        let dir = scratch_dir("errors");
        let path = dir.join("x.png");
        let bad = write_png_rgba(&path, 4, 4, &[0; 10]).unwrap_err();
        assert_eq!(bad.kind(), io::ErrorKind::InvalidInput);
        assert!(write_png_rgba(&dir.join("missing/x.png"), 1, 1, &[0; 4]).is_err());
        assert!(read_png_rgba(&path).is_err());
        std::fs::write(&path, b"\x89PNG\r\n\x1a\nnot really").unwrap();
        assert!(read_png_rgba(&path).is_err());
        let names: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["x.png"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_rgb_and_grey_pngs_as_rgba() {
        let dir = scratch_dir("colour");
        let path = dir.join("grey.png");
        let file = BufWriter::new(File::create(&path).unwrap());
        let mut enc = png::Encoder::new(file, 2, 1);
        enc.set_color(png::ColorType::Grayscale);
        enc.write_header().unwrap().write_image_data(&[10, 200]).unwrap();
        assert_eq!(
            read_png_rgba(&path).unwrap(),
            (2, 1, vec![10, 10, 10, 255, 200, 200, 200, 255])
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
