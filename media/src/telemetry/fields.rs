//! The `key=value` words of one line, shared by every snapshot's `FromStr`.

use std::str::FromStr;

use super::ParseError;

/// One line's fields, read against the prefix of the kind expected (`"stats:"`).
pub(super) struct Fields<'a> {
    kind: &'static str,
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Fields<'a> {
    /// Splits `line` into its `key=value` words. The prefix `kind` may be missing; another
    /// kind's prefix (a first word ending in `:`) is an error. Words without `=` are skipped.
    pub(super) fn new(line: &'a str, kind: &'static str) -> Result<Self, ParseError> {
        let mut words = line.split_whitespace().peekable();
        if let Some(first) = words.peek().filter(|w| w.ends_with(':') && !w.contains('=')) {
            if *first != kind {
                return Err(ParseError::WrongKind { expected: kind, found: (*first).to_owned() });
            }
            words.next();
        }
        let pairs = words.filter_map(|word| word.split_once('=')).collect();
        Ok(Fields { kind, pairs })
    }

    /// The raw text after `key=`, if the line has it (the first one if it has two).
    pub(super) fn raw(&self, key: &'static str) -> Result<&'a str, ParseError> {
        self.pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .ok_or(ParseError::Missing { kind: self.kind, key })
    }

    /// The error for `key=value` that the caller found it cannot read.
    pub(super) fn invalid(&self, key: &'static str, value: &str) -> ParseError {
        ParseError::Invalid { kind: self.kind, key, value: value.to_owned() }
    }

    /// An integer (or any [`FromStr`] value other than a float) after `key=`.
    pub(super) fn get<T: FromStr>(&self, key: &'static str) -> Result<T, ParseError> {
        let value = self.raw(key)?;
        value.parse().map_err(|_| self.invalid(key, value))
    }

    /// A finite number after `key=`, with the unit `suffix` (`"ms"`) removed if present.
    pub(super) fn float(&self, key: &'static str, suffix: &str) -> Result<f64, ParseError> {
        let value = self.raw(key)?;
        let number = value.strip_suffix(suffix).unwrap_or(value);
        number.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| self.invalid(key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_words_and_unknown_keys() {
        let f = Fields::new("stats: fps=1.5 (odd words) new=7 fps=2 rtt_ms=3ms", "stats:").unwrap();
        assert_eq!(f.float("fps", "").unwrap(), 1.5, "the first of two keys wins");
        assert_eq!(f.get::<u64>("new").unwrap(), 7);
        assert_eq!(f.float("rtt_ms", "ms").unwrap(), 3.0);
        assert_eq!(f.get::<u64>("gone"), Err(ParseError::Missing { kind: "stats:", key: "gone" }));
        assert!(Fields::new("fps=1", "stats:").is_ok(), "the prefix may be missing");
        assert_eq!(
            Fields::new("video: captured=1", "stats:").err(),
            Some(ParseError::WrongKind { expected: "stats:", found: "video:".into() })
        );
    }

    #[test]
    fn odd_values_are_invalid() {
        let f = Fields::new("x: a=NaN b=inf c=-1 d=12ms", "x:").unwrap();
        for key in ["a", "b"] {
            assert!(matches!(f.float(key, ""), Err(ParseError::Invalid { .. })), "{key}");
        }
        assert!(matches!(f.get::<u64>("c"), Err(ParseError::Invalid { .. })));
        assert!(matches!(f.float("d", ""), Err(ParseError::Invalid { .. })), "unit not expected");
        assert_eq!(
            f.get::<u64>("c").unwrap_err().to_string(),
            "`x:` line: `c=-1` is not a valid value"
        );
    }
}
