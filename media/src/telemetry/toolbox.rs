//! The agent's `clipboard:` and `chat:` counter lines.

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
    }
}
