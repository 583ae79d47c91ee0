//! File transfer rules as plain values: which offers a side takes, what a received file may be
//! called, and whether what arrived is what was offered. The disk and the channels are the
//! callers' (`tether_media::files`).

use tether_proto::files::{FileRefusal, is_transfer_id};

/// Largest file a side takes.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Transfers running at once in one session (each way together).
pub const MAX_TRANSFERS: usize = 4;

/// Longest name a received file is saved under, in bytes (file systems allow 255).
const MAX_SAVED_NAME_BYTES: usize = 200;

/// Whether this side takes files in this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilesPolicy {
    /// Offers are taken (up to the limits).
    On,
    /// A view-only session: no files either way.
    ViewOnly,
    /// Turned off on this side.
    Off,
}

/// Whether to accept an offer of `size` bytes under `policy`, with `running` transfers going
/// and `id_used` saying whether the id was seen before in this session.
pub fn decide_offer(
    policy: FilesPolicy,
    id: &str,
    size: u64,
    running: usize,
    id_used: bool,
) -> Result<(), FileRefusal> {
    match policy {
        FilesPolicy::ViewOnly => return Err(FileRefusal::ViewOnly),
        FilesPolicy::Off => return Err(FileRefusal::Off),
        FilesPolicy::On => {}
    }
    if size > MAX_FILE_BYTES {
        return Err(FileRefusal::TooLarge);
    }
    if running >= MAX_TRANSFERS || id_used || !is_transfer_id(id) {
        return Err(FileRefusal::Busy);
    }
    Ok(())
}

/// The plain file name to save an offered `name` under: its last component whichever
/// separator the sender's system uses, without control characters, characters that other
/// systems refuse, or leading dots (no hidden files, no `..`), at most 200 bytes with the
/// extension kept; `file` if nothing is left.
pub fn safe_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| match c {
            c if c.is_control() => '_',
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim_end_matches(['.', ' ']);
    let name = if trimmed.is_empty() { "file" } else { trimmed };
    shorten(name, MAX_SAVED_NAME_BYTES)
}

/// `name` itself for `n == 0`, else `stem (n).ext`: the names tried in turn so that nothing
/// already there is overwritten.
pub fn numbered_name(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    let (stem, ext) = split_extension(name);
    format!("{stem} ({n}){ext}")
}

/// `name` cut to `max` bytes on a character boundary, its extension kept.
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let (stem, ext) = split_extension(name);
    let ext = if ext.len() > max / 4 { "" } else { ext };
    let mut cut = max - ext.len();
    while !stem.is_char_boundary(cut.min(stem.len())) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut.min(stem.len())])
}

/// `("report", ".pdf")`; a name without a dot, or with only a leading one, has no extension.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    }
}

/// The receiver's count of a transfer's bytes against the offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    offered: u64,
    got: u64,
}

impl Received {
    /// A transfer of `offered` bytes, nothing in yet.
    pub fn new(offered: u64) -> Self {
        Received { offered, got: 0 }
    }

    /// Counts a chunk; more than offered is corrupt at once (the sender lied, or worse).
    pub fn chunk(&mut self, bytes: usize) -> Result<(), FileRefusal> {
        self.got = self.got.saturating_add(bytes as u64);
        match self.got > self.offered {
            true => Err(FileRefusal::Corrupt),
            false => Ok(()),
        }
    }

    /// Bytes in so far.
    pub fn bytes(&self) -> u64 {
        self.got
    }

    /// The end: all bytes in, and the sender's hash the same as ours.
    pub fn finish(&self, ours: &str, theirs: &str) -> Result<(), FileRefusal> {
        match self.got == self.offered && ours == theirs {
            true => Ok(()),
            false => Err(FileRefusal::Corrupt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_names_become_plain_file_names() {
        let cases = [
            ("report.pdf", "report.pdf"),
            ("../../.bashrc", "bashrc"),
            ("/etc/passwd", "passwd"),
            ("C:\\Users\\sam\\Desktop\\notes.txt", "notes.txt"),
            ("..", "file"),
            ("", "file"),
            ("  . ", "file"),
            ("a\u{0}b\u{1b}[2J.txt", "a_b_[2J.txt"),
            ("inv\u{202e}fdp.exe", "inv_fdp.exe"),
            ("what?.txt", "what_.txt"),
            ("trailing dots...", "trailing dots"),
        ];
        for (offered, saved) in cases {
            assert_eq!(safe_file_name(offered), saved, "{offered:?}");
        }
        let long = format!("{}.tar.gz", "é".repeat(300));
        let short = safe_file_name(&long);
        assert!(short.len() <= 200 && short.ends_with(".gz"), "{short}");
    }

    #[test]
    fn names_are_numbered_to_avoid_overwriting() {
        assert_eq!(numbered_name("report.pdf", 0), "report.pdf");
        assert_eq!(numbered_name("report.pdf", 1), "report (1).pdf");
        assert_eq!(numbered_name("archive.tar.gz", 2), "archive.tar (2).gz");
        assert_eq!(numbered_name("Makefile", 3), "Makefile (3)");
    }

    #[test]
    fn offers_are_taken_within_the_policy_and_the_limits() {
        assert_eq!(decide_offer(FilesPolicy::On, "v1", 20 << 20, 0, false), Ok(()));
        assert_eq!(
            decide_offer(FilesPolicy::ViewOnly, "v1", 1, 0, false),
            Err(FileRefusal::ViewOnly)
        );
        assert_eq!(decide_offer(FilesPolicy::Off, "v1", 1, 0, false), Err(FileRefusal::Off));
        let big = MAX_FILE_BYTES + 1;
        assert_eq!(decide_offer(FilesPolicy::On, "v1", big, 0, false), Err(FileRefusal::TooLarge));
        let full = decide_offer(FilesPolicy::On, "v1", 1, MAX_TRANSFERS, false);
        assert_eq!(full, Err(FileRefusal::Busy));
        assert_eq!(decide_offer(FilesPolicy::On, "v1", 1, 0, true), Err(FileRefusal::Busy));
    }

    #[test]
    fn what_arrived_must_be_what_was_offered() {
        let mut r = Received::new(10);
        assert_eq!(r.chunk(6), Ok(()));
        assert_eq!(r.finish("h", "h"), Err(FileRefusal::Corrupt), "short");
        assert_eq!(r.chunk(4), Ok(()));
        assert_eq!(r.finish("h", "other"), Err(FileRefusal::Corrupt), "another hash");
        assert_eq!(r.finish("h", "h"), Ok(()));
        assert_eq!(r.chunk(1), Err(FileRefusal::Corrupt), "one byte too many");
        assert_eq!(Received::new(0).finish("e3b0", "e3b0"), Ok(()), "an empty file");
    }
}
