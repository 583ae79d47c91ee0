//! Server settings, and the ICE configuration handed to peers.

use std::sync::Arc;
use std::time::Duration;

use tether_proto::{IceConfig, IceServer, TransportPolicy, turn_rest_credentials};

/// Everything [`crate::serve`] needs besides the listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long an unused code stays valid.
    pub code_ttl: Duration,
    /// How long an expired code is remembered, so that joins get `expired` rather than
    /// `unknown_code`.
    pub expired_code_memory: Duration,
    /// Failed joins allowed per client address in each `join_failure_window`.
    pub join_failures_per_window: usize,
    /// The window for `join_failures_per_window`.
    pub join_failure_window: Duration,
    /// Failed joins allowed per IPv6 /48 in each window.
    pub join_failures_per_site: usize,
    /// Failed joins allowed across the server in each window; past it every join waits.
    pub join_failures_global: usize,
    /// Most agents registered from one address (IPv6: one /64) at once.
    pub max_agents_per_address: usize,
    /// Consent prompts one agent (or one viewer connection) may cause per minute.
    pub prompts_per_minute: usize,
    /// How long after a session ends its viewer may rejoin with the resume token.
    pub resume_window: Duration,
    /// Most agents registered at once.
    pub max_sessions: usize,
    /// Most WebSocket connections at once.
    pub max_connections: usize,
    /// Sustained messages per second one connection may send.
    pub messages_per_second: f64,
    /// Burst of messages one connection may send at once.
    pub message_burst: u32,
    /// A connection that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    /// Each HTTP request head must arrive within this; an idle keep-alive connection is closed
    /// after it too.
    pub header_read_timeout: Duration,
    /// A connection that has not become a WebSocket within this is closed.
    pub http_timeout: Duration,
    /// Most TCP connections from one address (IPv6: one /64) at once, whatever they are doing.
    pub max_connections_per_address: usize,
    /// Most connections in their HTTP phase (not yet a WebSocket) at once.
    pub max_pending_connections: usize,
    /// A WebSocket write (message, ping, close) the peer's socket does not take within this
    /// closes the connection: the peer stopped reading.
    pub write_timeout: Duration,
    /// A message that waited this long in a connection's outbox closes the connection.
    pub outbox_max_age: Duration,
    /// Most bytes queued for one connection; more make it a slow consumer.
    pub outbox_bytes: usize,
    /// Most bytes queued for all connections; past it, connections that are behind are cut.
    pub outbox_bytes_global: usize,
    /// Web origins besides the server's own page whose scripts may open `/ws`.
    pub allowed_origins: Vec<String>,
    /// STUN/TURN servers to hand out.
    pub ice: IceSettings,
    /// Serve `wss://` and `https://` with this configuration.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            code_ttl: Duration::from_secs(600),
            expired_code_memory: Duration::from_secs(3600),
            join_failures_per_window: 5,
            join_failure_window: Duration::from_secs(60),
            join_failures_per_site: 20,
            join_failures_global: 600,
            max_agents_per_address: 64,
            prompts_per_minute: 6,
            resume_window: Duration::from_secs(120),
            max_sessions: 100_000,
            max_connections: 250_000,
            messages_per_second: 50.0,
            message_burst: 200,
            idle_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
            http_timeout: Duration::from_secs(30),
            max_connections_per_address: 256,
            max_pending_connections: 4096,
            write_timeout: Duration::from_secs(10),
            outbox_max_age: Duration::from_secs(20),
            outbox_bytes: 256 * 1024,
            outbox_bytes_global: 256 * 1024 * 1024,
            allowed_origins: Vec::new(),
            ice: IceSettings::default(),
            tls: None,
        }
    }
}

/// STUN/TURN servers and how TURN credentials are made.
#[derive(Debug, Clone, Default)]
pub struct IceSettings {
    /// `stun:` urls.
    pub stun_urls: Vec<String>,
    /// `turn:`/`turns:` urls.
    pub turn_urls: Vec<String>,
    /// Shared secret for TURN REST credentials (coturn `use-auth-secret`). Takes precedence
    /// over a static username.
    pub turn_secret: Option<String>,
    /// Static TURN username, when no secret is set.
    pub turn_username: Option<String>,
    /// Static TURN password, when no secret is set.
    pub turn_password: Option<String>,
    /// Lifetime of REST credentials.
    pub turn_credential_ttl: Duration,
    /// `relay` forces every peer through TURN.
    pub transport_policy: TransportPolicy,
}

impl IceSettings {
    /// The configuration for one peer, with TURN REST credentials valid from `unix_now`.
    pub fn ice_config(&self, unix_now: u64) -> IceConfig {
        self.session_ice(unix_now, "tether")
    }

    /// What a registered agent gets before any viewer pairs: STUN only, no TURN credentials
    /// (a bare `hello` must not buy a relay).
    pub fn public_ice(&self) -> IceConfig {
        let stun = IceServer { urls: self.stun_urls.clone(), username: None, credential: None };
        let ice_servers = if self.stun_urls.is_empty() { Vec::new() } else { vec![stun] };
        IceConfig { ice_servers, ice_transport_policy: self.transport_policy }
    }

    /// The configuration for the two peers of one session, TURN REST credentials labelled
    /// with it (`<expiry>:<label>`), valid for the credential TTL from `unix_now`.
    pub fn session_ice(&self, unix_now: u64, label: &str) -> IceConfig {
        let mut ice_servers = Vec::new();
        if !self.stun_urls.is_empty() {
            ice_servers.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        if !self.turn_urls.is_empty() {
            let (username, credential) = match (&self.turn_secret, &self.turn_username) {
                (Some(secret), _) => {
                    let ttl = self.turn_credential_ttl.max(Duration::from_secs(60)).as_secs();
                    let creds = turn_rest_credentials(secret.as_bytes(), unix_now + ttl, label);
                    (Some(creds.username), Some(creds.credential))
                }
                (None, Some(user)) => (Some(user.clone()), self.turn_password.clone()),
                (None, None) => (None, None),
            };
            ice_servers.push(IceServer { urls: self.turn_urls.clone(), username, credential });
        }
        IceConfig { ice_servers, ice_transport_policy: self.transport_policy }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// STUN and TURN on one address, credentials from a shared secret for an hour.
    fn rest_settings() -> IceSettings {
        IceSettings {
            stun_urls: vec!["stun:127.0.0.1:3478".into()],
            turn_urls: vec!["turn:127.0.0.1:3478".into()],
            turn_secret: Some("north-wind-42".into()),
            turn_credential_ttl: Duration::from_secs(3600),
            ..IceSettings::default()
        }
    }

    #[test]
    fn rest_credentials_expire_after_the_ttl() {
        let settings = rest_settings();
        let ice = settings.ice_config(1_767_222_000);
        assert_eq!(ice.ice_servers.len(), 2);
        let turn = &ice.ice_servers[1];
        assert_eq!(turn.username.as_deref(), Some("1767225600:tether"));
        assert_eq!(turn.credential.as_deref(), Some("5iF/ANhOJTqSd6xf8ZTKjvpqaYA="));
    }

    #[test]
    fn static_credentials_and_no_servers() {
        let settings = IceSettings {
            turn_urls: vec!["turn:a".into()],
            turn_username: Some("u".into()),
            turn_password: Some("p".into()),
            transport_policy: TransportPolicy::Relay,
            ..IceSettings::default()
        };
        let ice = settings.ice_config(0);
        assert_eq!(ice.ice_servers[0].username.as_deref(), Some("u"));
        assert_eq!(ice.ice_transport_policy, TransportPolicy::Relay);
        assert!(IceSettings::default().ice_config(0).ice_servers.is_empty());
        assert!(settings.public_ice().ice_servers.is_empty(), "no relay before pairing");
    }

    #[test]
    fn before_pairing_stun_only_then_credentials_for_the_session() {
        let settings = rest_settings();
        let public = settings.public_ice();
        assert_eq!(public.ice_servers.len(), 1);
        assert_eq!(public.ice_servers[0].urls, ["stun:127.0.0.1:3478"]);
        let session = settings.session_ice(1_767_222_000, "s-1f2e");
        assert_eq!(session.ice_servers[1].username.as_deref(), Some("1767225600:s-1f2e"));
    }
}
