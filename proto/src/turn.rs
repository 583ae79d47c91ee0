//! TURN REST credentials, computed as coturn's `use-auth-secret` mode checks them.
//!
//! The username is `<expiry unix seconds>:<label>` and the password is
//! `base64(HMAC-SHA1(shared secret, username))`. A TURN server that shares the secret accepts
//! the pair until the expiry, with no per-user database.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

/// A short-lived TURN username and password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnCredentials {
    /// `<expiry>:<label>`.
    pub username: String,
    /// Base64 of the HMAC-SHA1 of the username under the shared secret.
    pub credential: String,
}

/// Credentials valid until `expiry_unix` (seconds since the Unix epoch) for `label` (any text
/// without a colon that names the user, e.g. `tether`). An empty label gives the bare expiry
/// as username, which coturn also accepts.
pub fn turn_rest_credentials(secret: &[u8], expiry_unix: u64, label: &str) -> TurnCredentials {
    let username =
        if label.is_empty() { expiry_unix.to_string() } else { format!("{expiry_unix}:{label}") };
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    TurnCredentials { username, credential }
}

/// Why a TURN server refuses a REST username.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestUsernameError {
    /// The part before the first colon is not a number of seconds.
    #[error("TURN username {0:?} does not start with an expiry time")]
    Malformed(String),
    /// The expiry is in the past.
    #[error("TURN username {0:?} has expired")]
    Expired(String),
}

/// The server side of [`turn_rest_credentials`]: the password `username` must have been given
/// for it to be valid at `unix_now`, as coturn's `use-auth-secret` checks it.
pub fn rest_password(
    secret: &[u8],
    username: &str,
    unix_now: u64,
) -> Result<String, RestUsernameError> {
    let (expiry, label) = username.split_once(':').unwrap_or((username, ""));
    let expiry: u64 =
        expiry.parse().map_err(|_| RestUsernameError::Malformed(username.to_owned()))?;
    if expiry < unix_now {
        return Err(RestUsernameError::Expired(username.to_owned()));
    }
    Ok(turn_rest_credentials(secret, expiry, label).credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed independently with:
    //   printf '%s' '1767225600:tether' | openssl dgst -sha1 -hmac 'north-wind-42' -binary | base64
    #[test]
    fn matches_openssl_vectors() {
        let creds = turn_rest_credentials(b"north-wind-42", 1_767_225_600, "tether");
        assert_eq!(creds.username, "1767225600:tether");
        assert_eq!(creds.credential, "5iF/ANhOJTqSd6xf8ZTKjvpqaYA=");

        let creds = turn_rest_credentials(b"s3cr3t", 1_700_000_000, "alice");
        assert_eq!(creds.username, "1700000000:alice");
        assert_eq!(creds.credential, "81mjszbESz91Gv1n2xG/SVLX+uY=");
    }

    // RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?").
    #[test]
    fn hmac_is_rfc2202() {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn the_server_recomputes_the_password_until_expiry() {
        let creds = turn_rest_credentials(b"north-wind-42", 1_767_225_600, "tether");
        let password = rest_password(b"north-wind-42", &creds.username, 1_767_225_000);
        assert_eq!(password.as_deref(), Ok(creds.credential.as_str()));
        assert_eq!(
            rest_password(b"k", "42", 42),
            Ok(turn_rest_credentials(b"k", 42, "").credential)
        );
        assert!(matches!(
            rest_password(b"north-wind-42", &creds.username, 1_767_225_601),
            Err(RestUsernameError::Expired(_))
        ));
        for bad in ["", "tether", "x:1", ":1", "-5:a", "99999999999999999999999:a"] {
            assert!(
                matches!(rest_password(b"k", bad, 0), Err(RestUsernameError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn empty_label_gives_bare_expiry() {
        let creds = turn_rest_credentials(b"k", 42, "");
        assert_eq!(creds.username, "42");
    }
}
