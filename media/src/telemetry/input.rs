//! The `input:` lines: the agent's counters of the viewer's messages, and the viewer's send
//! times of scripted ones.

use std::fmt;
use std::str::FromStr;

use super::ParseError;
use super::fields::Fields;

/// The agent's `input: received=N injected=N malformed=N refused=N dropped=N failed=N`: what
/// happened to one session's input messages (printed each second while they change and when
/// the session ends).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputStats {
    pub received: u64,
    pub injected: u64,
    pub malformed: u64,
    /// Refused in a view-only session.
    pub refused: u64,
    /// The injector's queue was full.
    pub dropped: u64,
    /// The desktop refused the injection.
    pub failed: u64,
}

impl fmt::Display for InputStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "input: received={} injected={} malformed={} refused={} dropped={} failed={}",
            self.received, self.injected, self.malformed, self.refused, self.dropped, self.failed
        )
    }
}

impl FromStr for InputStats {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "input:")?;
        Ok(InputStats {
            received: f.get("received")?,
            injected: f.get("injected")?,
            malformed: f.get("malformed")?,
            refused: f.get("refused")?,
            dropped: f.get("dropped")?,
            failed: f.get("failed")?,
        })
    }
}

/// The viewer's `input: sent line=N type=T at_us=T`: `--input-script` line `N` (a message of
/// type `T`) went out on the data channel at wall-clock microsecond `at_us`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputSent {
    pub line: usize,
    pub kind: String,
    pub at_us: u128,
}

impl fmt::Display for InputSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input: sent line={} type={} at_us={}", self.line, self.kind, self.at_us)
    }
}

impl FromStr for InputSent {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let f = Fields::new(line, "input:")?;
        Ok(InputSent { line: f.get("line")?, kind: f.get("type")?, at_us: f.get("at_us")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: InputStats =
        InputStats { received: 3, injected: 0, malformed: 1, refused: 0, dropped: 1, failed: 0 };

    #[test]
    fn the_lines_are_todays() {
        assert_eq!(
            STATS.to_string(),
            "input: received=3 injected=0 malformed=1 refused=0 dropped=1 failed=0"
        );
        let sent = InputSent { line: 4, kind: "pointer_move".into(), at_us: 1_700_000_000_000_123 };
        assert_eq!(sent.to_string(), "input: sent line=4 type=pointer_move at_us=1700000000000123");
    }

    #[test]
    fn round_trip() {
        assert_eq!(STATS.to_string().parse(), Ok(STATS));
        assert_eq!(InputStats::default().to_string().parse(), Ok(InputStats::default()));
        let rest = "received=3 injected=0 malformed=1 refused=0 dropped=1 failed=0";
        assert_eq!(rest.parse(), Ok(STATS), "as `wait_for_line(\"input: \")` returns it");
        let sent = InputSent { line: 12, kind: "key".into(), at_us: 99 };
        assert_eq!(sent.to_string().parse(), Ok(sent.clone()));
        assert_eq!("sent line=12 type=key at_us=99".parse(), Ok(sent));
        assert!("input: script done (3 messages)".parse::<InputSent>().is_err());
        assert!(STATS.to_string().parse::<InputSent>().is_err());
    }
}
