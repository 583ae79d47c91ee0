//! Files that hold the remote screen or sound (`--snapshot`, `--audio-dump`): readable by this
//! user only (0600), made under an unpredictable name in the destination's directory and
//! renamed into place. A symlink planted at the destination is replaced, not followed; one
//! planted at a temporary name makes that attempt fail (`create_new`), never write through it.

use std::collections::hash_map::RandomState;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Names to try before giving up: each is 64 random bits, so a clash means someone is guessing.
const ATTEMPTS: usize = 8;

/// Writes `dest` whole and atomically: readers see the old file or the new one, never a part
/// (the snapshot is rewritten every second while tests read it).
pub fn write_private(
    dest: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> io::Result<()>,
) -> io::Result<()> {
    let (file, temp) = create_temp(dest)?;
    let written = (|| {
        let mut out = BufWriter::new(&file);
        write(&mut out)?;
        out.flush()?;
        // No fsync: the point is that readers never see a torn file, not crash durability.
        std::fs::rename(&temp, dest)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Creates `dest` empty and private, for a file written as it goes (the audio dump: a killed
/// viewer still leaves a readable file at `dest`).
pub fn create_private(dest: &Path) -> io::Result<File> {
    let (file, temp) = create_temp(dest)?;
    if let Err(err) = std::fs::rename(&temp, dest) {
        let _ = std::fs::remove_file(&temp);
        return Err(err);
    }
    Ok(file)
}

/// Writes an RGBA picture to `dest` as PNG, privately and atomically.
pub fn write_png_private(dest: &Path, width: u32, height: u32, rgba: &[u8]) -> io::Result<()> {
    let need = (width as usize).checked_mul(height as usize).and_then(|n| n.checked_mul(4));
    if width == 0 || height == 0 || need != Some(rgba.len()) {
        let msg = format!("{} bytes is not a {width}x{height} RGBA picture", rgba.len());
        return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    }
    write_private(dest, |out| {
        let mut encoder = png::Encoder::new(out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        // Snapshots are written every second: speed over size.
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgba)?;
        Ok(writer.finish()?)
    })
}

/// A new 0600 file next to `dest`, and its name.
fn create_temp(dest: &Path) -> io::Result<(File, PathBuf)> {
    let name = dest.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{} names no file", dest.display()))
    })?;
    let mut last_err = None;
    for _ in 0..ATTEMPTS {
        let temp = dest.with_file_name(temp_name(name));
        let opened = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp);
        match opened {
            Ok(file) => return Ok((file, temp)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last_err = Some(err),
            Err(err) => return Err(err),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no temporary name left")))
}

/// `.NAME.RANDOM.tmp`: hidden, and not guessable by another user.
fn temp_name(name: &std::ffi::OsStr) -> OsString {
    // `RandomState` is keyed from the OS's random source: its hash of the time is 64 bits
    // nobody else can predict, without a dependency for it.
    let random = RandomState::new().hash_one(SystemTime::now());
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(".{random:016x}.tmp"));
    temp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// A fresh directory for one test, and a file outside the written paths that a planted
    /// symlink points at.
    fn scratch(name: &str) -> (PathBuf, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("tether-private-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        (dir, victim)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn snapshots_are_private_and_replace_a_planted_symlink() {
        let (dir, victim) = scratch("png");
        let dest = dir.join("latest.png");
        symlink(&victim, &dest).unwrap();
        // Where the viewer (through tether_media::image) used to write its temp file.
        for n in 0..4 {
            let old_temp = dir.join(format!(".latest.png.{}.{n}.tmp", std::process::id()));
            symlink(&victim, old_temp).unwrap();
        }
        write_png_private(&dest, 2, 1, &[1, 2, 3, 255, 4, 5, 6, 255]).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "no symlink followed");
        assert!(std::fs::symlink_metadata(&dest).unwrap().is_file(), "the link was replaced");
        assert_eq!(mode(&dest), 0o600);
        let (w, h, rgba) = tether_media::image::read_png_rgba(&dest).unwrap();
        assert_eq!((w, h, rgba), (2, 1, vec![1, 2, 3, 255, 4, 5, 6, 255]));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_existing_file_is_replaced_by_a_private_one() {
        let (dir, _) = scratch("existing");
        let dest = dir.join("dump");
        std::fs::write(&dest, "old").unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut file = create_private(&dest).unwrap();
        file.write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
        assert_eq!(mode(&dest), 0o600);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn failures_leave_no_temporary_file() {
        let (dir, _) = scratch("failure");
        let dest = dir.join("latest.png");
        let failed = write_private(&dest, |_| Err(io::Error::other("encoder failed")));
        assert!(failed.is_err());
        let left: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [OsString::from("victim")]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
