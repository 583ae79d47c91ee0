//! The `clipboard` data channel: clipboard text, both ways, between a controlling viewer and
//! the agent.
//!
//! JSON text messages, one object each, tagged by `"type"`, on an ordered, reliable data
//! channel labelled [`CLIPBOARD_CHANNEL`] that the agent opens beside `input`. Either side
//! sends [`ClipboardMsg::Text`] when its own clipboard changes; the other puts the text on its
//! clipboard and answers [`ClipboardMsg::Applied`] or [`ClipboardMsg::Refused`] with the same
//! `seq`. [`ClipboardMsg::decode`] validates everything; `docs/protocol.md` lists the messages.

use serde::{Deserialize, Serialize};

/// Label of the data channel that carries [`ClipboardMsg`]s.
pub const CLIPBOARD_CHANNEL: &str = "clipboard";

/// Longest clipboard text, in bytes of UTF-8: room for a command, a licence key, a password
/// or a page of a log (a whole log file goes by file transfer). Chosen so that the encoded
/// message stays under [`MAX_CLIPBOARD_MESSAGE_BYTES`] even when every byte is a newline
/// (escaped as two).
pub const MAX_CLIPBOARD_TEXT_BYTES: usize = 30 * 1024;

/// Largest clipboard message, in bytes: one SCTP message that every WebRTC stack accepts.
pub const MAX_CLIPBOARD_MESSAGE_BYTES: usize = 64 * 1024;

/// One clipboard message, either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClipboardMsg {
    /// The sender's clipboard now holds this text; put it on yours.
    Text {
        /// The sender's count of its `text` messages, from 1; answers name it.
        seq: u64,
        /// The text; control characters other than tab, newline and carriage return are
        /// refused.
        text: String,
    },
    /// The text `seq` is on the receiver's clipboard.
    Applied {
        /// The `text` message this answers.
        seq: u64,
    },
    /// The text `seq` was not put on the receiver's clipboard.
    Refused {
        /// The `text` message this answers.
        seq: u64,
        /// Why.
        reason: ClipboardRefusal,
    },
    /// The sender shares no clipboard in this session (sent by the agent as the channel
    /// opens): do not send `text`, it would only be refused.
    Off {
        /// `view_only` or `off`.
        reason: ClipboardRefusal,
    },
}

/// Why a clipboard text was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipboardRefusal {
    /// The session is view-only: no clipboard either way.
    ViewOnly,
    /// The person (or the supporter) turned the clipboard off.
    Off,
    /// Over [`MAX_CLIPBOARD_TEXT_BYTES`].
    TooLarge,
    /// The receiver could not reach its clipboard.
    Failed,
}

impl ClipboardRefusal {
    /// What a viewer tells its user.
    pub fn explain(self) -> &'static str {
        match self {
            ClipboardRefusal::ViewOnly => "the clipboard is off in a view-only session",
            ClipboardRefusal::Off => "the clipboard is turned off on the other side",
            ClipboardRefusal::TooLarge => "clipboard text over 30 KiB is not shared",
            ClipboardRefusal::Failed => "the other side could not reach its clipboard",
        }
    }
}

/// Why a clipboard message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipboardError {
    /// Longer than [`MAX_CLIPBOARD_MESSAGE_BYTES`].
    #[error("clipboard message of {0} bytes is over the {MAX_CLIPBOARD_MESSAGE_BYTES}-byte limit")]
    MessageTooLarge(usize),
    /// Text longer than [`MAX_CLIPBOARD_TEXT_BYTES`]; `seq` is there to answer.
    #[error("clipboard text of {bytes} bytes is over the {MAX_CLIPBOARD_TEXT_BYTES}-byte limit")]
    TextTooLarge {
        /// The message's `seq`.
        seq: u64,
        /// The text's length.
        bytes: usize,
    },
    /// Not JSON, not an object, an unknown `type` or field, or a field of the wrong type.
    #[error("malformed clipboard message: {0}")]
    Malformed(String),
    /// Text with control characters other than tab, newline and carriage return.
    #[error("clipboard text contains control characters")]
    ControlCharacters,
}

impl ClipboardMsg {
    /// A `text` message, checked as [`ClipboardMsg::decode`] would check it on arrival.
    pub fn text(seq: u64, text: String) -> Result<ClipboardMsg, ClipboardError> {
        ClipboardMsg::Text { seq, text }.validated()
    }

    /// Parses and validates one message.
    pub fn decode(text: &str) -> Result<ClipboardMsg, ClipboardError> {
        if text.len() > MAX_CLIPBOARD_MESSAGE_BYTES {
            return Err(ClipboardError::MessageTooLarge(text.len()));
        }
        let msg: ClipboardMsg =
            serde_json::from_str(text).map_err(|e| ClipboardError::Malformed(e.to_string()))?;
        msg.validated()
    }

    /// The message as JSON text.
    pub fn encode(&self) -> String {
        // Plain strings and integers: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    fn validated(self) -> Result<ClipboardMsg, ClipboardError> {
        if let ClipboardMsg::Text { seq, text } = &self {
            if text.len() > MAX_CLIPBOARD_TEXT_BYTES {
                return Err(ClipboardError::TextTooLarge { seq: *seq, bytes: text.len() });
            }
            if !is_clipboard_text(text) {
                return Err(ClipboardError::ControlCharacters);
            }
        }
        Ok(self)
    }
}

/// Whether `text` may travel as clipboard text: no control characters but tab, newline and
/// carriage return (a NUL would cut the text short in C programs; escape sequences could drive
/// a terminal it is pasted into).
pub fn is_clipboard_text(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_the_documented_one() {
        let text = ClipboardMsg::text(1, "ssh admin@host\n".into()).unwrap();
        assert_eq!(text.encode(), r#"{"type":"text","seq":1,"text":"ssh admin@host\n"}"#);
        let applied = ClipboardMsg::Applied { seq: 1 };
        assert_eq!(applied.encode(), r#"{"type":"applied","seq":1}"#);
        let refused = ClipboardMsg::Refused { seq: 2, reason: ClipboardRefusal::ViewOnly };
        assert_eq!(refused.encode(), r#"{"type":"refused","seq":2,"reason":"view_only"}"#);
        let off = ClipboardMsg::Off { reason: ClipboardRefusal::Off };
        assert_eq!(off.encode(), r#"{"type":"off","reason":"off"}"#);
        for msg in [text, applied, refused, off] {
            assert_eq!(ClipboardMsg::decode(&msg.encode()), Ok(msg));
        }
    }

    #[test]
    fn the_largest_text_of_the_worst_characters_fits_one_message() {
        let worst = "\n".repeat(MAX_CLIPBOARD_TEXT_BYTES);
        let encoded = ClipboardMsg::text(u64::MAX, worst).unwrap().encode();
        assert!(encoded.len() <= MAX_CLIPBOARD_MESSAGE_BYTES, "{} bytes", encoded.len());
        assert!(ClipboardMsg::decode(&encoded).is_ok());
    }

    #[test]
    fn hostile_messages_are_refused_not_fatal() {
        let long = "x".repeat(MAX_CLIPBOARD_TEXT_BYTES + 1);
        assert_eq!(
            ClipboardMsg::decode(&format!(r#"{{"type":"text","seq":7,"text":"{long}"}}"#)),
            Err(ClipboardError::TextTooLarge { seq: 7, bytes: long.len() })
        );
        assert!(matches!(
            ClipboardMsg::decode(&" ".repeat(MAX_CLIPBOARD_MESSAGE_BYTES + 1)),
            Err(ClipboardError::MessageTooLarge(_))
        ));
        for bad in [
            "",
            "null",
            "[]",
            r#"{"type":"text","seq":-1,"text":"a"}"#,
            r#"{"type":"text","text":"a"}"#,
            r#"{"type":"text","seq":1,"text":"a","extra":1}"#,
            r#"{"type":"image","seq":1}"#,
            r#"{"type":"refused","seq":1,"reason":"bored"}"#,
        ] {
            assert!(
                matches!(ClipboardMsg::decode(bad), Err(ClipboardError::Malformed(_))),
                "{bad}"
            );
        }
        for control in ["\u{0}", "\u{1b}[2J", "\u{9b}31m", "\u{7f}"] {
            let msg = serde_json::json!({"type": "text", "seq": 1, "text": control}).to_string();
            assert_eq!(ClipboardMsg::decode(&msg), Err(ClipboardError::ControlCharacters));
        }
        assert!(ClipboardMsg::text(1, "tab\tcrlf\r\n ünïcödé 密码".into()).is_ok());
    }
}
