//! Session codes: nine decimal digits drawn uniformly from a caller-supplied CSPRNG.

use std::fmt;
use std::str::FromStr;

use rand_core::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of distinct codes: 10^9.
const CODE_SPACE: u32 = 1_000_000_000;
/// Largest multiple of [`CODE_SPACE`] that fits in a `u32`; draws at or above it are rejected so
/// that every code is equally likely.
const UNBIASED_LIMIT: u32 = 4 * CODE_SPACE;

/// A session code such as `482 913 075`.
///
/// `Display` gives the grouped form people read aloud; [`SessionCode::compact`] the nine digits
/// used on the wire. Parsing accepts any spaces or dashes between the digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionCode(u32);

/// Why a string is not a session code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeParseError {
    /// The string held a character other than a digit, a space or a dash.
    #[error("a session code has only digits, spaces and dashes; found {found:?}")]
    InvalidCharacter {
        /// The offending character.
        found: char,
    },
    /// The string did not hold exactly nine digits.
    #[error("a session code has 9 digits; found {digits}")]
    WrongLength {
        /// How many digits there were.
        digits: usize,
    },
}

impl SessionCode {
    /// Draws a code uniformly from the 10^9 possible ones.
    pub fn generate<R: RngCore + ?Sized>(rng: &mut R) -> Self {
        loop {
            let draw = rng.next_u32();
            if draw < UNBIASED_LIMIT {
                return SessionCode(draw % CODE_SPACE);
            }
        }
    }

    /// The code from its numeric value, or `None` if it has more than nine digits.
    pub fn from_value(value: u32) -> Option<Self> {
        (value < CODE_SPACE).then_some(SessionCode(value))
    }

    /// The nine digits with no separators, e.g. `482913075`: the form used on the wire.
    pub fn compact(&self) -> String {
        format!("{:09}", self.0)
    }

    /// The code with its last six digits hidden, e.g. `482 *** ***`: the only form for logs.
    pub fn masked(&self) -> String {
        format!("{:03} *** ***", self.0 / 1_000_000)
    }
}

impl fmt::Display for SessionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(f, "{:03} {:03} {:03}", v / 1_000_000, v / 1_000 % 1_000, v % 1_000)
    }
}

impl fmt::Debug for SessionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug output ends up in logs, so it is masked too.
        write!(f, "SessionCode({})", self.masked())
    }
}

impl FromStr for SessionCode {
    type Err = CodeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut value: u32 = 0;
        let mut digits = 0usize;
        for c in s.chars() {
            match c {
                ' ' | '-' => {}
                '0'..='9' => {
                    digits += 1;
                    if digits <= 9 {
                        value = value * 10 + (c as u32 - '0' as u32);
                    }
                }
                found => return Err(CodeParseError::InvalidCharacter { found }),
            }
        }
        if digits != 9 {
            return Err(CodeParseError::WrongLength { digits });
        }
        Ok(SessionCode(value))
    }
}

impl Serialize for SessionCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.compact())
    }
}

impl<'de> Deserialize<'de> for SessionCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn display_groups_digits_and_keeps_leading_zeros() {
        let code = SessionCode::from_value(482_913_075).unwrap();
        assert_eq!(code.to_string(), "482 913 075");
        assert_eq!(code.compact(), "482913075");
        let small = SessionCode::from_value(7).unwrap();
        assert_eq!(small.to_string(), "000 000 007");
        assert_eq!(small.compact(), "000000007");
    }

    #[test]
    fn parse_accepts_spaces_and_dashes() {
        let expected = SessionCode::from_value(482_913_075).unwrap();
        for text in ["482913075", "482 913 075", "482-913-075", " 48-29 130 75 ", "482--913  075"] {
            assert_eq!(text.parse::<SessionCode>(), Ok(expected), "{text:?}");
        }
    }

    #[test]
    fn parse_rejects_anything_else() {
        assert_eq!(
            "482.913.075".parse::<SessionCode>(),
            Err(CodeParseError::InvalidCharacter { found: '.' })
        );
        assert_eq!(
            "48291307a".parse::<SessionCode>(),
            Err(CodeParseError::InvalidCharacter { found: 'a' })
        );
        assert_eq!(
            "4829130７5".parse::<SessionCode>(),
            Err(CodeParseError::InvalidCharacter { found: '７' })
        );
        assert_eq!("".parse::<SessionCode>(), Err(CodeParseError::WrongLength { digits: 0 }));
        assert_eq!(
            "48291307".parse::<SessionCode>(),
            Err(CodeParseError::WrongLength { digits: 8 })
        );
        assert_eq!(
            "4829130751".parse::<SessionCode>(),
            Err(CodeParseError::WrongLength { digits: 10 })
        );
        // A very long run of digits must not overflow.
        let long = "9".repeat(1000);
        assert_eq!(long.parse::<SessionCode>(), Err(CodeParseError::WrongLength { digits: 1000 }));
    }

    #[test]
    fn errors_read_as_sentences() {
        let err = "12345".parse::<SessionCode>().unwrap_err();
        assert_eq!(err.to_string(), "a session code has 9 digits; found 5");
    }

    #[test]
    fn masked_and_debug_hide_the_secret_part() {
        let code = SessionCode::from_value(482_913_075).unwrap();
        assert_eq!(code.masked(), "482 *** ***");
        assert_eq!(format!("{code:?}"), "SessionCode(482 *** ***)");
    }

    #[test]
    fn from_value_rejects_ten_digits() {
        assert!(SessionCode::from_value(999_999_999).is_some());
        assert!(SessionCode::from_value(1_000_000_000).is_none());
    }

    #[test]
    fn generate_covers_the_space_evenly() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut leading = [0u32; 10];
        for _ in 0..20_000 {
            let code = SessionCode::generate(&mut rng);
            assert!(code.0 < CODE_SPACE);
            leading[(code.0 / 100_000_000) as usize] += 1;
        }
        // Each leading digit should take about 2,000 draws; 1,700..2,300 is > 7 sigma wide.
        for (digit, count) in leading.iter().enumerate() {
            assert!((1_700..2_300).contains(count), "digit {digit}: {count}");
        }
    }

    #[test]
    fn generate_rejects_biased_draws() {
        // A source that first yields values above the unbiased limit must be asked again.
        struct Scripted(Vec<u32>);
        impl RngCore for Scripted {
            fn next_u32(&mut self) -> u32 {
                self.0.remove(0)
            }
            fn next_u64(&mut self) -> u64 {
                u64::from(self.next_u32())
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                dest.fill(0)
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
                dest.fill(0);
                Ok(())
            }
        }
        let mut rng = Scripted(vec![u32::MAX, UNBIASED_LIMIT, 1_482_913_075]);
        assert_eq!(SessionCode::generate(&mut rng).compact(), "482913075");
    }

    #[test]
    fn serde_uses_compact_form_and_parses_loosely() {
        let code = SessionCode::from_value(482_913_075).unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"482913075\"");
        let back: SessionCode = serde_json::from_str("\"482 913-075\"").unwrap();
        assert_eq!(back, code);
        assert!(serde_json::from_str::<SessionCode>("\"abc\"").is_err());
        assert!(serde_json::from_str::<SessionCode>("482913075").is_err());
    }
}
