//! The `chat` data channel: short text messages, both ways, in every session (view-only too).
//!
//! JSON text messages tagged by `"type"` on an ordered, reliable data channel labelled
//! [`CHAT_CHANNEL`] that the agent opens beside `input`. [`ChatMsg::decode`] validates;
//! `docs/protocol.md` describes the channel.

use serde::{Deserialize, Serialize};

/// Label of the data channel that carries [`ChatMsg`]s.
pub const CHAT_CHANNEL: &str = "chat";

/// Longest chat text, in bytes of UTF-8: a few sentences.
pub const MAX_CHAT_TEXT_BYTES: usize = 2000;

/// Largest chat message on the wire (the text escaped, with its envelope).
pub const MAX_CHAT_MESSAGE_BYTES: usize = 8 * 1024;

/// One chat message, either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChatMsg {
    /// A line (or a few) from the person or the supporter.
    Message {
        /// Not blank, at most [`MAX_CHAT_TEXT_BYTES`], no control characters but newline.
        text: String,
    },
}

/// Why a chat message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// Longer than [`MAX_CHAT_MESSAGE_BYTES`], or text over [`MAX_CHAT_TEXT_BYTES`].
    #[error("chat message of {0} bytes is over the limit")]
    TooLarge(usize),
    /// Not JSON, an unknown `type` or field, or a field of the wrong type.
    #[error("malformed chat message: {0}")]
    Malformed(String),
    /// Nothing but white space.
    #[error("empty chat message")]
    Empty,
    /// Control characters other than newline.
    #[error("chat text contains control characters")]
    ControlCharacters,
}

impl ChatMsg {
    /// A message with `text`, checked as on arrival; surrounding white space is trimmed.
    pub fn message(text: &str) -> Result<ChatMsg, ChatError> {
        ChatMsg::Message { text: text.trim().to_owned() }.validated()
    }

    /// The text.
    pub fn text(&self) -> &str {
        match self {
            ChatMsg::Message { text } => text,
        }
    }

    /// Parses and validates one message.
    pub fn decode(text: &str) -> Result<ChatMsg, ChatError> {
        if text.len() > MAX_CHAT_MESSAGE_BYTES {
            return Err(ChatError::TooLarge(text.len()));
        }
        let msg: ChatMsg =
            serde_json::from_str(text).map_err(|e| ChatError::Malformed(e.to_string()))?;
        msg.validated()
    }

    /// The message as JSON text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn validated(self) -> Result<ChatMsg, ChatError> {
        let text = self.text();
        if text.len() > MAX_CHAT_TEXT_BYTES {
            return Err(ChatError::TooLarge(text.len()));
        }
        if text.trim().is_empty() {
            return Err(ChatError::Empty);
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ChatError::ControlCharacters);
        }
        Ok(self)
    }
}

/// `text` as one printable line, a JSON string: control characters (C0, DEL, C1), line and
/// paragraph separators and bidirectional overrides escaped as `\uXXXX`, so that a message
/// (or clipboard text) printed on a terminal cannot move its cursor, recolour it, reorder it
/// or forge another line.
pub fn printable(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || is_layout_control(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters that change how a terminal lays out what follows.
fn is_layout_control(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_the_documented_one() {
        let msg = ChatMsg::message("  I'm restarting the printer service now \n").unwrap();
        assert_eq!(
            msg.encode(),
            r#"{"type":"message","text":"I'm restarting the printer service now"}"#
        );
        assert_eq!(ChatMsg::decode(&msg.encode()), Ok(msg));
        assert!(ChatMsg::message("two\nlines").is_ok());
    }

    #[test]
    fn hostile_messages_are_refused_not_fatal() {
        assert_eq!(ChatMsg::message(" \n "), Err(ChatError::Empty));
        assert_eq!(ChatMsg::message("\u{1b}[2J"), Err(ChatError::ControlCharacters));
        assert_eq!(ChatMsg::message("a\rb"), Err(ChatError::ControlCharacters));
        let long = "é".repeat(MAX_CHAT_TEXT_BYTES / 2 + 1);
        assert!(matches!(ChatMsg::message(&long), Err(ChatError::TooLarge(_))));
        assert!(matches!(ChatMsg::decode(&" ".repeat(9000)), Err(ChatError::TooLarge(_))));
        for bad in ["", "{}", r#"{"type":"message"}"#, r#"{"type":"message","text":1}"#] {
            assert!(matches!(ChatMsg::decode(bad), Err(ChatError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn printed_text_cannot_drive_the_terminal() {
        assert_eq!(printable("I'm ok"), r#""I'm ok""#);
        let text = "a\u{1b}[31mred\nfake line \"quoted\" \\ \u{9b}\u{202e}txt.exe";
        let printed = printable(text);
        assert!(!printed.chars().any(|c| c.is_control() || is_layout_control(c)), "{printed}");
        assert_eq!(printed, r#""a\u001b[31mred\nfake line \"quoted\" \\ \u009b\u202etxt.exe""#);
        let back: String = serde_json::from_str(&printed).expect("a JSON string");
        assert_eq!(back, text);
    }
}
