//! ICE server configuration, shaped like the browser's `RTCConfiguration` so that the same JSON
//! feeds webrtc-rs and `new RTCPeerConnection(...)`.

use serde::{Deserialize, Serialize};

/// One STUN or TURN server (`RTCIceServer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp`, `turns:host:port`, ...
    pub urls: Vec<String>,
    /// TURN username (absent for STUN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password (absent for STUN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Which candidates ICE may use (`RTCIceTransportPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportPolicy {
    /// Host, server-reflexive and relay candidates.
    #[default]
    All,
    /// Relay candidates only: every packet goes through TURN.
    Relay,
}

/// The ICE configuration the server hands to both peers of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceConfig {
    /// STUN and TURN servers, in order of preference.
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
    /// Candidate policy.
    #[serde(default)]
    pub ice_transport_policy: TransportPolicy,
}

/// Why a STUN/TURN url was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IceUrlError {
    /// The scheme is not one of `stun:`, `stuns:`, `turn:`, `turns:`.
    #[error("{url:?} is not a STUN/TURN url: it must start with stun:, stuns:, turn: or turns:")]
    Scheme {
        /// The url as given.
        url: String,
    },
    /// Nothing after the scheme.
    #[error("{url:?} names no host")]
    NoHost {
        /// The url as given.
        url: String,
    },
}

impl IceServer {
    /// A STUN server with no credentials.
    pub fn stun(url: impl Into<String>) -> Self {
        IceServer { urls: vec![url.into()], username: None, credential: None }
    }

    /// Checks that `url` is a STUN or TURN url (RFC 7064/7065 schemes) with a host.
    pub fn check_url(url: &str) -> Result<(), IceUrlError> {
        let rest = ["stun:", "stuns:", "turn:", "turns:"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme))
            .ok_or_else(|| IceUrlError::Scheme { url: url.to_owned() })?;
        if rest.trim_start_matches('/').is_empty() || rest.starts_with(':') || rest.starts_with('?')
        {
            return Err(IceUrlError::NoHost { url: url.to_owned() });
        }
        Ok(())
    }

    /// Whether any of this server's urls is a TURN url.
    pub fn is_turn(&self) -> bool {
        self.urls.iter().any(|u| u.starts_with("turn:") || u.starts_with("turns:"))
    }
}

/// ICE settings a peer brings itself (its flags or a config file), applied over what the
/// signaling server hands out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalIce {
    /// Servers tried before the signaling server's.
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
    /// Relay candidates only, whatever the server says.
    #[serde(default)]
    pub relay_only: bool,
}

impl LocalIce {
    /// Adds a configuration file's servers and policy (`relay` forces relay-only).
    pub fn add(&mut self, file: IceConfig) {
        self.ice_servers.extend(file.ice_servers);
        self.relay_only |= file.ice_transport_policy == TransportPolicy::Relay;
    }

    /// The configuration to use: local servers first, then the server's; relay-only if
    /// either side asks for it.
    pub fn apply(&self, from_server: IceConfig) -> IceConfig {
        let mut ice_servers = self.ice_servers.clone();
        ice_servers.extend(from_server.ice_servers);
        let ice_transport_policy =
            if self.relay_only { TransportPolicy::Relay } else { from_server.ice_transport_policy };
        IceConfig { ice_servers, ice_transport_policy }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_rtc_configuration() {
        let config = IceConfig {
            ice_servers: vec![
                IceServer::stun("stun:stun.example.org:3478"),
                IceServer {
                    urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
                    username: Some("1767225600:tether".into()),
                    credential: Some("5iF/ANhOJTqSd6xf8ZTKjvpqaYA=".into()),
                },
            ],
            ice_transport_policy: TransportPolicy::Relay,
        };
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "ice_servers": [
                    {"urls": ["stun:stun.example.org:3478"]},
                    {"urls": ["turn:turn.example.org:3478?transport=udp"],
                     "username": "1767225600:tether", "credential": "5iF/ANhOJTqSd6xf8ZTKjvpqaYA="}
                ],
                "ice_transport_policy": "relay"
            })
        );
        assert_eq!(serde_json::from_value::<IceConfig>(json).unwrap(), config);
        assert_eq!(serde_json::from_str::<IceConfig>("{}").unwrap(), IceConfig::default());
    }

    #[test]
    fn urls_are_checked() {
        for ok in ["stun:a:3478", "stuns:a", "turn:10.0.0.1:3478?transport=tcp", "turns:a:5349"] {
            assert_eq!(IceServer::check_url(ok), Ok(()), "{ok}");
        }
        assert!(matches!(IceServer::check_url("http://a"), Err(IceUrlError::Scheme { .. })));
        assert!(matches!(IceServer::check_url("stun:"), Err(IceUrlError::NoHost { .. })));
        assert!(matches!(IceServer::check_url("turn::3478"), Err(IceUrlError::NoHost { .. })));
    }

    #[test]
    fn local_settings_come_first_and_can_force_relay() {
        let server = IceConfig {
            ice_servers: vec![IceServer::stun("stun:server")],
            ice_transport_policy: TransportPolicy::All,
        };
        let mut local =
            LocalIce { ice_servers: vec![IceServer::stun("stun:local")], relay_only: false };
        let merged = local.apply(server.clone());
        assert_eq!(merged.ice_servers[0].urls, ["stun:local"]);
        assert_eq!(merged.ice_servers[1].urls, ["stun:server"]);
        assert_eq!(merged.ice_transport_policy, TransportPolicy::All);
        local.add(serde_json::from_str(r#"{"ice_transport_policy":"relay"}"#).unwrap());
        assert_eq!(local.apply(server).ice_transport_policy, TransportPolicy::Relay);
        let relay_server =
            IceConfig { ice_servers: vec![], ice_transport_policy: TransportPolicy::Relay };
        assert_eq!(LocalIce::default().apply(relay_server.clone()), relay_server);
    }

    #[test]
    fn is_turn() {
        assert!(!IceServer::stun("stun:a").is_turn());
        assert!(
            IceServer { urls: vec!["turns:a".into()], username: None, credential: None }.is_turn()
        );
    }
}
