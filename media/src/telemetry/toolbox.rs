//! The toolbox's counter lines: `clipboard:`, `chat:` and `files:`.

use std::fmt;
use std::str::FromStr;

use super::ParseError;
use super::fields::Fields;

/// The agent's `clipboard: sent=N received=N applied=N refused=N malformed=N unfit=N`: one
/// session's clipboard texts (printed each second while they change and when the session ends).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClipboardStats {
    /// Texts of this desktop's clipboard sent to the viewer.
    pub sent: u64,
    /// Messages from the viewer.
    pub received: u64,
    /// The viewer's texts put on this desktop's clipboard.
    pub applied: u64,
    /// The viewer's texts refused (view-only, turned off, too large, clipboard unreachable).
    pub refused: u64,
    pub malformed: u64,
    /// Local changes not shared: too large or with control characters.
    pub unfit: u64,
}

impl fmt::Display for ClipboardStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "clipboard: sent={} received={} applied={} refused={} malformed={} unfit={}",
            self.sent, self.received, self.applied, self.refused, self.malformed, self.unfit
        )
    }
}

impl FromStr for ClipboardStats {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "clipboard:")?;
        Ok(ClipboardStats {
            sent: f.get("sent")?,
            received: f.get("received")?,
            applied: f.get("applied")?,
            refused: f.get("refused")?,
            malformed: f.get("malformed")?,
            unfit: f.get("unfit")?,
        })
    }
}

/// The agent's `chat: sent=N received=N malformed=N`, when a session ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatStats {
    pub sent: u64,
    pub received: u64,
    pub malformed: u64,
}

impl fmt::Display for ChatStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "chat: sent={} received={} malformed={}",
            self.sent, self.received, self.malformed
        )
    }
}

impl FromStr for ChatStats {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "chat:")?;
        Ok(ChatStats {
            sent: f.get("sent")?,
            received: f.get("received")?,
            malformed: f.get("malformed")?,
        })
    }
}

/// `files: sent=N received=N rejected=N failed=N cancelled=N malformed=N unexpected=N`, when a
/// session ends (either binary): its file transfers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Files that arrived whole on the other side.
    pub sent: u64,
    /// Files saved here.
    pub received: u64,
    /// Offers refused, either way.
    pub rejected: u64,
    /// Transfers that broke (corrupt, unreadable, unwritable), either way.
    pub failed: u64,
    pub cancelled: u64,
    pub malformed: u64,
    /// Transfer channels the other side opened without an accepted offer (closed at once).
    pub unexpected: u64,
}

impl fmt::Display for FileStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "files: sent={} received={} rejected={} failed={} cancelled={} malformed={} unexpected={}",
            self.sent,
            self.received,
            self.rejected,
            self.failed,
            self.cancelled,
            self.malformed,
            self.unexpected
        )
    }
}

impl FromStr for FileStats {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "files:")?;
        Ok(FileStats {
            sent: f.get("sent")?,
            received: f.get("received")?,
            rejected: f.get("rejected")?,
            failed: f.get("failed")?,
            cancelled: f.get("cancelled")?,
            malformed: f.get("malformed")?,
            unexpected: f.get("unexpected")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let clipboard =
            ClipboardStats { sent: 1, received: 2, applied: 3, refused: 4, malformed: 5, unfit: 6 };
        let line = clipboard.to_string();
        assert_eq!(line, "clipboard: sent=1 received=2 applied=3 refused=4 malformed=5 unfit=6");
        assert_eq!(line.parse(), Ok(clipboard));
        let chat = ChatStats { sent: 1, received: 2, malformed: 3 };
        assert_eq!(chat.to_string().parse(), Ok(chat));
        assert!("chat: hello".parse::<ChatStats>().is_err());
        let files = FileStats {
            sent: 1,
            received: 2,
            rejected: 3,
            failed: 4,
            cancelled: 5,
            malformed: 6,
            unexpected: 7,
        };
        assert_eq!(files.to_string().parse(), Ok(files));
    }
}
