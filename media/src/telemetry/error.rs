//! Why a line is not the snapshot it was parsed as.

/// A line that [`FromStr`](std::str::FromStr) could not read as the snapshot asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line starts with another kind's prefix (`video:` where `stats:` was expected).
    #[error("expected a `{expected}` line, found `{found}`")]
    WrongKind { expected: &'static str, found: String },
    /// A field the snapshot needs is not on the line.
    #[error("`{kind}` line without `{key}=`")]
    Missing { kind: &'static str, key: &'static str },
    /// A field's value is not what the printer writes there.
    #[error("`{kind}` line: `{key}={value}` is not a valid value")]
    Invalid { kind: &'static str, key: &'static str, value: String },
}
