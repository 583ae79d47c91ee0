//! A received file on disk: written to a private temporary file beside its destination, hashed
//! as it comes, and given its final name only once it is whole (a hard link, which never
//! replaces an existing file: `report.pdf`, `report (1).pdf`, ...). Dropped unfinished, the
//! temporary file is deleted: a cancelled or broken transfer leaves nothing behind.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tether_session::files::{numbered_name, safe_file_name};

/// Names tried before giving up.
const MAX_NUMBER: u32 = 1000;

/// A file being received.
pub struct IncomingFile {
    dir: PathBuf,
    name: String,
    part: PathBuf,
    file: Option<File>,
    hash: Sha256,
    done: bool,
}

impl IncomingFile {
    /// Starts receiving a file offered as `offered_name` into `dir` (created if missing).
    pub fn create(dir: &Path, offered_name: &str, id: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let part = dir.join(format!(".tether-{id}-{}.part", std::process::id()));
        let file = private_new_file(&part)?;
        Ok(IncomingFile {
            dir: dir.to_owned(),
            name: safe_file_name(offered_name),
            part,
            file: Some(file),
            hash: Sha256::new(),
            done: false,
        })
    }

    /// The plain name it will be saved under (before numbering).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.hash.update(chunk);
        match &mut self.file {
            Some(file) => file.write_all(chunk),
            None => Err(std::io::Error::other("the file is finished")),
        }
    }

    /// The SHA-256 of what was written, lower-case hex.
    pub fn sha256(&self) -> String {
        hex(&self.hash.clone().finalize())
    }

    /// Flushes it and gives it its final name in the directory; the path.
    pub fn keep(mut self) -> std::io::Result<PathBuf> {
        if let Some(file) = self.file.take() {
            file.sync_all()?;
        }
        for n in 0..MAX_NUMBER {
            let path = self.dir.join(numbered_name(&self.name, n));
            match std::fs::hard_link(&self.part, &path) {
                Ok(()) => {
                    self.done = true;
                    let _ = std::fs::remove_file(&self.part);
                    return Ok(path);
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err),
            }
        }
        Err(std::io::Error::other(format!("{MAX_NUMBER} files named like {} already", self.name)))
    }
}

impl Drop for IncomingFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

/// A new file only its owner can read (the person's downloads are theirs).
fn private_new_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The person's Downloads folder: `XDG_DOWNLOAD_DIR` from the environment or
/// `~/.config/user-dirs.dirs`, else `~/Downloads`.
pub fn downloads_dir() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    if let Some(dir) = std::env::var_os("XDG_DOWNLOAD_DIR") {
        return Some(PathBuf::from(dir));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME").map_or(home.join(".config"), PathBuf::from);
    let dirs = std::fs::read_to_string(config.join("user-dirs.dirs")).unwrap_or_default();
    let configured = dirs.lines().find_map(|line| {
        let value = line.trim().strip_prefix("XDG_DOWNLOAD_DIR=")?.trim_matches('"');
        Some(match value.strip_prefix("$HOME") {
            Some(rest) => home.join(rest.trim_start_matches('/')),
            None => PathBuf::from(value),
        })
    });
    Some(configured.unwrap_or_else(|| home.join("Downloads")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tether-disk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_whole_file_gets_a_new_name_and_nothing_is_overwritten() {
        let dir = temp_dir("keep");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("report.pdf"), b"the person's own").unwrap();
        let mut incoming = IncomingFile::create(&dir, "../../report.pdf", "v1").unwrap();
        incoming.write(b"abc").unwrap();
        assert_eq!(
            incoming.sha256(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let saved = incoming.keep().unwrap();
        assert_eq!(saved, dir.join("report (1).pdf"));
        assert_eq!(std::fs::read(&saved).unwrap(), b"abc");
        assert_eq!(std::fs::read(dir.join("report.pdf")).unwrap(), b"the person's own");
        let names: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unfinished_file_leaves_nothing() {
        let dir = temp_dir("drop");
        let mut incoming = IncomingFile::create(&dir, "big.iso", "v2").unwrap();
        incoming.write(&[0; 1000]).unwrap();
        drop(incoming);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
