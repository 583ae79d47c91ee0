//! Command-line settings shared by `tether-signal` and the agent's embedded server.

use std::path::PathBuf;
use std::time::Duration;

use tether_proto::{IceServer, IceUrlError, TransportPolicy};

use tether_signal_client::process::parse_duration;

use crate::config::{Config, IceSettings};
use crate::tls::{TlsError, load_server_config};

/// Signaling-server options, flattened into each binary's own clap parser.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// How long an unused session code stays valid (e.g. 600, 90s, 10m, 1h; 10 s to 7 days).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_code_ttl)]
    pub code_ttl: Duration,
    /// Failed joins allowed per client address per minute before joins are refused.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub join_failures_per_minute: usize,
    /// Failed joins allowed per IPv6 /48 per minute.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub join_failures_per_site_per_minute: usize,
    /// Failed joins allowed across the whole server per minute; past it every join waits.
    #[arg(long, value_name = "N", default_value_t = 600)]
    pub join_failures_global_per_minute: usize,
    /// Most agents registered from one address (IPv6: one /64) at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_agents_per_address: usize,
    /// Most agents registered at once.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_sessions: usize,
    /// Most TCP connections from one address (IPv6: one /64) at once, finished or not.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_connections_per_address: usize,
    /// A web origin besides this server's own page whose scripts may connect (repeatable),
    /// e.g. https://support.example.org.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// STUN server handed to peers (repeatable), e.g. stun:stun.example.org:3478.
    #[arg(long = "stun-url", value_name = "URL")]
    pub stun_urls: Vec<String>,
    /// TURN server handed to peers (repeatable), e.g. turn:turn.example.org:3478?transport=udp.
    #[arg(long = "turn-url", value_name = "URL")]
    pub turn_urls: Vec<String>,
    /// Shared secret for short-lived TURN REST credentials (coturn's static-auth-secret).
    #[arg(long, value_name = "SECRET", env = "TETHER_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// Fixed TURN username, when no secret is given.
    #[arg(long, value_name = "NAME", requires = "turn_password")]
    pub turn_username: Option<String>,
    /// Fixed TURN password, when no secret is given.
    #[arg(long, value_name = "PASSWORD", env = "TETHER_TURN_PASSWORD", hide_env_values = true)]
    pub turn_password: Option<String>,
    /// Lifetime of TURN REST credentials, made for each session when its viewer pairs.
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = parse_duration)]
    pub turn_credential_ttl: Duration,
    /// Tell peers to use TURN relays only (ICE transport policy "relay").
    #[arg(long)]
    pub relay_only: bool,
    /// PEM certificate chain: serve wss:// and https://.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Longest `--code-ttl`: a code is read out loud and used within minutes.
pub const MAX_CODE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

fn parse_code_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if !(Duration::from_secs(10)..=MAX_CODE_TTL).contains(&ttl) {
        return Err(format!("{text} is outside 10 s to 7 days"));
    }
    Ok(ttl)
}

/// Why the options do not make a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// A STUN/TURN url is wrong.
    #[error(transparent)]
    IceUrl(#[from] IceUrlError),
    /// A `--stun-url` is a TURN url or the other way round.
    #[error(
        "{0:?} given as the wrong kind: --stun-url takes stun:/stuns: urls, --turn-url takes turn:/turns: urls"
    )]
    WrongKind(String),
    /// TLS files are unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl ServerArgs {
    /// The server configuration these options describe.
    pub fn to_config(&self) -> Result<Config, ArgsError> {
        for url in &self.stun_urls {
            IceServer::check_url(url)?;
            if !url.starts_with("stun") {
                return Err(ArgsError::WrongKind(url.clone()));
            }
        }
        for url in &self.turn_urls {
            IceServer::check_url(url)?;
            if !url.starts_with("turn") {
                return Err(ArgsError::WrongKind(url.clone()));
            }
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(load_server_config(cert, key)?),
            _ => None,
        };
        Ok(Config {
            code_ttl: self.code_ttl,
            join_failures_per_window: self.join_failures_per_minute,
            join_failure_window: Duration::from_secs(60),
            join_failures_per_site: self.join_failures_per_site_per_minute,
            join_failures_global: self.join_failures_global_per_minute,
            max_agents_per_address: self.max_agents_per_address,
            max_sessions: self.max_sessions,
            max_connections_per_address: self.max_connections_per_address,
            allowed_origins: self.allowed_origins.clone(),
            ice: IceSettings {
                stun_urls: self.stun_urls.clone(),
                turn_urls: self.turn_urls.clone(),
                turn_secret: self.turn_secret.clone(),
                turn_username: self.turn_username.clone(),
                turn_password: self.turn_password.clone(),
                turn_credential_ttl: self.turn_credential_ttl,
                transport_policy: if self.relay_only {
                    TransportPolicy::Relay
                } else {
                    TransportPolicy::All
                },
            },
            tls,
            ..Config::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    #[test]
    fn flags_make_a_config() {
        let cli = Cli::parse_from([
            "x",
            "--code-ttl",
            "2m",
            "--stun-url",
            "stun:127.0.0.1:3478",
            "--turn-url",
            "turn:127.0.0.1:3478",
            "--turn-secret",
            "s",
            "--relay-only",
        ]);
        let config = cli.server.to_config().unwrap();
        assert_eq!(config.code_ttl, Duration::from_secs(120));
        let ice = config.ice.ice_config(1000);
        assert_eq!(ice.ice_transport_policy, TransportPolicy::Relay);
        assert_eq!(ice.ice_servers.len(), 2);
        assert!(ice.ice_servers[1].username.as_deref().unwrap().ends_with(":tether"));
    }

    #[test]
    fn code_ttls_outside_ten_seconds_to_a_week_are_refused() {
        for bad in ["0", "5s", "169h", "18446744073709551615"] {
            assert!(Cli::try_parse_from(["x", "--code-ttl", bad]).is_err(), "{bad}");
        }
        let cli = Cli::parse_from(["x", "--code-ttl", "168h"]);
        assert_eq!(cli.server.code_ttl, MAX_CODE_TTL);
    }

    #[test]
    fn wrong_urls_are_refused() {
        let cli = Cli::parse_from(["x", "--stun-url", "turn:a"]);
        assert!(matches!(cli.server.to_config(), Err(ArgsError::WrongKind(_))));
        let cli = Cli::parse_from(["x", "--turn-url", "http://a"]);
        assert!(matches!(cli.server.to_config(), Err(ArgsError::IceUrl(_))));
    }
}
