//! The built-in STUN/TURN server (`tether-signal --turn`), on the TURN REST shared secret the
//! signaling server hands out credentials for, so one binary serves a small team.
//!
//! It is webrtc-rs's `turn` crate 0.17 (UDP, RFC 5766 allocations, permissions, channels, and
//! STUN Binding). webrtc-rs 0.21 ships only a TURN client; coturn is the choice for production.
//!
//! Its relays reach only peers on the open internet: no loopback, private, link-local or other
//! special-purpose address and none of the server's own (`turn_filter`, docs/security.md
//! "TURN"), unless [`TurnServerConfig::allowed_peers`] opens a block for a lab.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::turn_filter::FilteredRelays;
pub use crate::turn_filter::{PeerNet, PeerNetError, peer_allowed};
use tether_proto::rest_password;
use tokio::net::UdpSocket;
use turn::auth::{AuthHandler, generate_auth_key};
use turn::relay::relay_static::RelayAddressGeneratorStatic;
use turn::server::Server;
use turn::server::config::{ConnConfig, ServerConfig};

/// Where and how the TURN server runs.
#[derive(Debug, Clone)]
pub struct TurnServerConfig {
    /// UDP address to listen on for STUN and TURN.
    pub listen: SocketAddr,
    /// The address peers reach relays at (the server's public address).
    pub public_ip: IpAddr,
    /// TURN realm.
    pub realm: String,
    /// The REST shared secret (coturn's `static-auth-secret`).
    pub secret: String,
    /// Peer blocks relayed to although [`peer_allowed`] refuses them otherwise (private
    /// ranges in a lab; `--turn-allow-peer`). The server's own addresses stay refused.
    pub allowed_peers: Vec<PeerNet>,
}

/// Why the TURN server could not start.
#[derive(Debug, thiserror::Error)]
pub enum TurnServerError {
    /// The UDP socket could not be bound.
    #[error("cannot listen for TURN on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The turn crate refused the configuration.
    #[error("TURN server: {0}")]
    Turn(#[from] turn::Error),
}

/// Checks REST usernames (`<expiry>:<label>`) against the shared secret.
struct RestAuth {
    secret: String,
}

impl AuthHandler for RestAuth {
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        src_addr: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        match rest_password(self.secret.as_bytes(), username, now.as_secs()) {
            Ok(password) => Ok(generate_auth_key(username, realm, &password)),
            Err(err) => {
                tracing::info!(%src_addr, "TURN refused: {err}");
                Err(turn::Error::Other(err.to_string()))
            }
        }
    }
}

/// A running TURN server; [`TurnServer::stop`] closes it and its allocations.
pub struct TurnServer {
    server: Server,
    /// The address it listens on.
    pub local_addr: SocketAddr,
}

impl TurnServer {
    /// Binds the UDP socket and starts serving. The turn crate spawns its own tasks on the
    /// current tokio runtime; [`TurnServer::stop`] ends them.
    pub async fn start(config: TurnServerConfig) -> Result<Self, TurnServerError> {
        let socket = UdpSocket::bind(config.listen)
            .await
            .map_err(|source| TurnServerError::Bind { addr: config.listen, source })?;
        let local_addr = socket
            .local_addr()
            .map_err(|source| TurnServerError::Bind { addr: config.listen, source })?;
        let relay_bind =
            if config.listen.ip().is_unspecified() { config.listen.ip() } else { config.public_ip };
        let server = Server::new(ServerConfig {
            conn_configs: vec![ConnConfig {
                conn: Arc::new(socket),
                relay_addr_generator: Box::new(FilteredRelays::new(
                    Box::new(RelayAddressGeneratorStatic {
                        relay_address: config.public_ip,
                        address: relay_bind.to_string(),
                        net: Arc::new(webrtc_util::vnet::net::Net::new(None)),
                    }),
                    vec![config.listen.ip(), local_addr.ip(), config.public_ip],
                    config.allowed_peers,
                )),
            }],
            realm: config.realm,
            auth_handler: Arc::new(RestAuth { secret: config.secret }),
            channel_bind_timeout: Duration::ZERO,
            alloc_close_notify: None,
        })
        .await?;
        Ok(TurnServer { server, local_addr })
    }

    /// The `stun:` and `turn:` urls for this server, for peers to use.
    pub fn urls(&self, public_ip: IpAddr) -> (String, String) {
        let host = match public_ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            ip => ip.to_string(),
        };
        let port = self.local_addr.port();
        (format!("stun:{host}:{port}"), format!("turn:{host}:{port}?transport=udp"))
    }

    /// Closes every allocation and stops the server.
    pub async fn stop(self) {
        if let Err(err) = self.server.close().await {
            tracing::warn!(%err, "closing the TURN server");
        }
    }
}
