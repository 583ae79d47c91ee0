//! File transfer: the `files` control channel and one data channel per transfer.
//!
//! The sender offers a file on [`FILES_CHANNEL`] ([`FileMsg::Offer`]); the receiver accepts
//! or rejects it; on acceptance the sender opens an ordered, reliable data channel labelled
//! [`transfer_label`]`(id)`, sends the file as binary messages of at most
//! [`MAX_CHUNK_BYTES`] and then one text message, [`TransferEnd`], with the SHA-256 of
//! everything it sent. The receiver answers [`FileMsg::Saved`] or [`FileMsg::Failed`] on the
//! control channel. Either side may [`FileMsg::Cancel`] at any time. `docs/protocol.md`
//! describes the exchange.

use serde::{Deserialize, Serialize};

/// Label of the control channel that carries [`FileMsg`]s.
pub const FILES_CHANNEL: &str = "files";

/// Prefix of a transfer's data channel label: `file:<id>`.
pub const TRANSFER_PREFIX: &str = "file:";

/// Largest binary message on a transfer channel: what every WebRTC stack delivers whole.
pub const MAX_CHUNK_BYTES: usize = 16 * 1024;

/// Largest control message.
pub const MAX_FILE_MESSAGE_BYTES: usize = 4096;

/// Longest transfer id.
pub const MAX_ID_BYTES: usize = 32;

/// Longest file name offered, in bytes (the receiver shortens further for its file system).
pub const MAX_NAME_BYTES: usize = 1024;

/// One control message, either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FileMsg {
    /// I would send you this file.
    Offer {
        /// The sender's name for this transfer, `[a-z0-9-]{1,32}`, unique in the session.
        id: String,
        /// The file's name (never a path: the receiver keeps only a plain name of it).
        name: String,
        /// Its length in bytes.
        size: u64,
    },
    /// Send it: open `file:<id>`.
    Accept {
        /// Which transfer.
        id: String,
    },
    /// Do not send it.
    Reject {
        /// Which transfer.
        id: String,
        /// Why.
        reason: FileRefusal,
    },
    /// The file arrived whole, with the right hash, and is saved as `name`.
    Saved {
        /// Which transfer.
        id: String,
        /// The name it was saved under (made unique: `report (1).pdf`).
        name: String,
    },
    /// The file did not arrive whole; nothing of it was kept.
    Failed {
        /// Which transfer.
        id: String,
        /// Why.
        reason: FileRefusal,
    },
    /// Stop this transfer (either side); the receiver deletes what it has.
    Cancel {
        /// Which transfer.
        id: String,
    },
}

/// Why a transfer was refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileRefusal {
    /// The session is view-only: no files.
    ViewOnly,
    /// File transfer is turned off on the receiving side.
    Off,
    /// Over the receiver's size limit.
    TooLarge,
    /// Too many transfers at once, or a transfer id already used.
    Busy,
    /// The person said no.
    Declined,
    /// More or fewer bytes than offered, or a hash that does not match.
    Corrupt,
    /// The receiver could not write the file.
    Failed,
    /// Cancelled by the other side.
    Cancelled,
}

impl FileRefusal {
    /// What a UI tells its user.
    pub fn explain(self) -> &'static str {
        match self {
            FileRefusal::ViewOnly => "no file transfer in a view-only session",
            FileRefusal::Off => "file transfer is turned off on the other side",
            FileRefusal::TooLarge => "the file is over the other side's size limit",
            FileRefusal::Busy => "too many transfers at once",
            FileRefusal::Declined => "the person said no",
            FileRefusal::Corrupt => "the file arrived damaged and was deleted",
            FileRefusal::Failed => "the other side could not save the file",
            FileRefusal::Cancelled => "cancelled",
        }
    }
}

/// The last message on a transfer channel: a text message after the file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransferEnd {
    /// Everything was sent; its SHA-256, lower-case hex.
    End {
        /// 64 hex digits.
        sha256: String,
    },
}

/// Why a control message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileMsgError {
    /// Longer than [`MAX_FILE_MESSAGE_BYTES`].
    #[error("file message of {0} bytes is over the limit")]
    TooLarge(usize),
    /// Not JSON, an unknown `type` or field, or a field of the wrong type.
    #[error("malformed file message: {0}")]
    Malformed(String),
    /// An id that is not `[a-z0-9-]{1,32}`.
    #[error("transfer id {0:?} is not 1 to 32 of a-z, 0-9 and -")]
    BadId(String),
    /// An empty name, one over [`MAX_NAME_BYTES`], or a hash that is not 64 hex digits.
    #[error("malformed file message field: {0}")]
    BadField(&'static str),
}

impl FileMsg {
    /// Parses and validates one control message.
    pub fn decode(text: &str) -> Result<FileMsg, FileMsgError> {
        if text.len() > MAX_FILE_MESSAGE_BYTES {
            return Err(FileMsgError::TooLarge(text.len()));
        }
        let msg: FileMsg =
            serde_json::from_str(text).map_err(|e| FileMsgError::Malformed(e.to_string()))?;
        if !is_transfer_id(msg.id()) {
            return Err(FileMsgError::BadId(msg.id().to_owned()));
        }
        match &msg {
            FileMsg::Offer { name, .. } | FileMsg::Saved { name, .. }
                if name.is_empty() || name.len() > MAX_NAME_BYTES =>
            {
                Err(FileMsgError::BadField("name"))
            }
            _ => Ok(msg),
        }
    }

    /// The message as JSON text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The transfer it is about.
    pub fn id(&self) -> &str {
        match self {
            FileMsg::Offer { id, .. }
            | FileMsg::Accept { id }
            | FileMsg::Reject { id, .. }
            | FileMsg::Saved { id, .. }
            | FileMsg::Failed { id, .. }
            | FileMsg::Cancel { id } => id,
        }
    }
}

impl TransferEnd {
    /// Parses the end message; `None` for anything else.
    pub fn decode(text: &str) -> Option<String> {
        if text.len() > MAX_FILE_MESSAGE_BYTES {
            return None;
        }
        let TransferEnd::End { sha256 } = serde_json::from_str(text).ok()?;
        let hex =
            sha256.len() == 64 && sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        hex.then_some(sha256)
    }

    /// The end message for `sha256` (lower-case hex).
    pub fn encode(sha256: &str) -> String {
        serde_json::to_string(&TransferEnd::End { sha256: sha256.to_owned() }).unwrap_or_default()
    }
}

/// Whether `id` may name a transfer: 1 to 32 of `a-z`, `0-9`, `-`.
pub fn is_transfer_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

/// The data channel label of transfer `id`.
pub fn transfer_label(id: &str) -> String {
    format!("{TRANSFER_PREFIX}{id}")
}

/// The transfer id in a data channel label, if it is a transfer's.
pub fn transfer_id(label: &str) -> Option<&str> {
    label.strip_prefix(TRANSFER_PREFIX).filter(|id| is_transfer_id(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_the_documented_one() {
        let offer = FileMsg::Offer { id: "v1".into(), name: "report.pdf".into(), size: 1234 };
        assert_eq!(offer.encode(), r#"{"type":"offer","id":"v1","name":"report.pdf","size":1234}"#);
        let reject = FileMsg::Reject { id: "v1".into(), reason: FileRefusal::ViewOnly };
        assert_eq!(reject.encode(), r#"{"type":"reject","id":"v1","reason":"view_only"}"#);
        for msg in [
            offer,
            reject,
            FileMsg::Accept { id: "v1".into() },
            FileMsg::Saved { id: "a-7".into(), name: "report (1).pdf".into() },
            FileMsg::Failed { id: "v1".into(), reason: FileRefusal::Corrupt },
            FileMsg::Cancel { id: "v1".into() },
        ] {
            assert_eq!(FileMsg::decode(&msg.encode()), Ok(msg));
        }
        let hash = "ab".repeat(32);
        assert_eq!(TransferEnd::decode(&TransferEnd::encode(&hash)), Some(hash));
        assert_eq!(transfer_label("v1"), "file:v1");
        assert_eq!(transfer_id("file:v1"), Some("v1"));
    }

    #[test]
    fn hostile_messages_are_refused_not_fatal() {
        for id in ["", "V1", "../x", "a b", &"a".repeat(33), "é"] {
            let msg = format!(r#"{{"type":"accept","id":{}}}"#, serde_json::to_string(id).unwrap());
            assert!(matches!(FileMsg::decode(&msg), Err(FileMsgError::BadId(_))), "{id:?}");
            assert_eq!(transfer_id(&format!("file:{id}")), None);
        }
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        let offer = FileMsg::Offer { id: "v1".into(), name: long, size: 1 }.encode();
        assert!(FileMsg::decode(&offer).is_err());
        let empty = FileMsg::Offer { id: "v1".into(), name: String::new(), size: 1 }.encode();
        assert_eq!(FileMsg::decode(&empty), Err(FileMsgError::BadField("name")));
        for bad in [
            "",
            "{}",
            r#"{"type":"offer","id":"v1","name":"a","size":-1}"#,
            r#"{"type":"accept","id":"v1","extra":true}"#,
        ] {
            assert!(matches!(FileMsg::decode(bad), Err(FileMsgError::Malformed(_))), "{bad}");
        }
        assert!(FileMsg::decode(&" ".repeat(5000)).is_err());
        for end in [r#"{"type":"end","sha256":"AB"}"#, r#"{"type":"end"}"#, "garbage"] {
            assert_eq!(TransferEnd::decode(end), None, "{end}");
        }
        assert_eq!(TransferEnd::decode(&TransferEnd::encode(&"A".repeat(64))), None, "lower case");
    }
}
