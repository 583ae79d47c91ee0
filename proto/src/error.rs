//! Typed wire errors with stable codes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Every failure the signaling server reports, as the stable `code` string of an `error` message.
///
/// The strings never change once released: clients match on them. `Other` keeps a client that
/// meets a code from a newer server working (it shows the human sentence instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No agent holds that session code.
    UnknownCode,
    /// The code existed but expired unused.
    Expired,
    /// Another viewer is already connected with that code.
    Busy,
    /// Too many failed joins from this address, or too many messages on this connection.
    RateLimited,
    /// The frame was not a JSON object of a known shape (bad JSON, missing or wrong fields,
    /// binary frame).
    Malformed,
    /// The `type` field names no message of this protocol.
    UnknownType,
    /// The frame is larger than [`crate::MAX_MESSAGE_BYTES`].
    TooLarge,
    /// The hello carried a protocol version this server does not speak.
    Version,
    /// The message is valid but not now: before hello, a second hello, a relay with no peer, a
    /// viewer-only message from an agent, ...
    BadState,
    /// The server holds as many sessions or connections as it is configured for.
    Full,
    /// This connection could not keep up with the messages sent to it and is being closed.
    SlowConsumer,
    /// A code this client does not know (sent by a newer server).
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// The stable string sent on the wire, e.g. `unknown_code`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::UnknownCode => "unknown_code",
            ErrorCode::Expired => "expired",
            ErrorCode::Busy => "busy",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Version => "version",
            ErrorCode::BadState => "bad_state",
            ErrorCode::Full => "full",
            ErrorCode::SlowConsumer => "slow_consumer",
            ErrorCode::Other => "other",
        }
    }

    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::UnknownCode,
        ErrorCode::Expired,
        ErrorCode::Busy,
        ErrorCode::RateLimited,
        ErrorCode::Malformed,
        ErrorCode::UnknownType,
        ErrorCode::TooLarge,
        ErrorCode::Version,
        ErrorCode::BadState,
        ErrorCode::Full,
        ErrorCode::SlowConsumer,
    ];

    /// Whether a join that failed this way counts toward the per-address limit on failed joins:
    /// only failures that tell a guesser something about the code space do.
    pub fn counts_as_failed_join(&self) -> bool {
        matches!(self, ErrorCode::UnknownCode | ErrorCode::Expired | ErrorCode::Busy)
    }

    /// Whether the server closes the connection after sending this error
    /// (`docs/protocol.md`): a session cannot go on after it.
    pub fn closes_connection(&self) -> bool {
        matches!(self, ErrorCode::SlowConsumer | ErrorCode::Version | ErrorCode::Full)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_matches_as_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn the_design_codes_are_stable() {
        let strings: Vec<_> = ErrorCode::ALL.iter().map(ErrorCode::as_str).collect();
        for required in ["unknown_code", "expired", "busy", "rate_limited", "malformed", "version"]
        {
            assert!(strings.contains(&required), "{required}");
        }
    }

    #[test]
    fn unknown_codes_from_newer_servers_decode_as_other() {
        assert_eq!(serde_json::from_str::<ErrorCode>("\"quota\"").unwrap(), ErrorCode::Other);
    }
}
