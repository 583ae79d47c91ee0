//! A peer's own ICE options (`tether-viewer --stun-url … --relay-only`, `--ice-config FILE`),
//! applied over what the signaling server hands out.

use std::path::{Path, PathBuf};

use tether_proto::{IceConfig, IceServer, IceUrlError, LocalIce};

/// ICE options for a viewer (the agent's embedded-server options serve it instead).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PeerIceArgs {
    /// STUN server to use besides the signaling server's (repeatable).
    #[arg(long = "stun-url", value_name = "URL")]
    pub stun_urls: Vec<String>,
    /// TURN server to use besides the signaling server's (repeatable).
    #[arg(long = "turn-url", value_name = "URL", requires = "turn_username")]
    pub turn_urls: Vec<String>,
    /// Username for --turn-url.
    #[arg(long, value_name = "NAME", requires = "turn_password")]
    pub turn_username: Option<String>,
    /// Password for --turn-url.
    #[arg(long, value_name = "PASSWORD", env = "TETHER_TURN_PASSWORD", hide_env_values = true)]
    pub turn_password: Option<String>,
    /// Send everything through TURN (ICE transport policy "relay"), for locked-down networks.
    #[arg(long)]
    pub relay_only: bool,
    /// JSON file shaped like RTCConfiguration: {"ice_servers": [...], "ice_transport_policy": "relay"}.
    #[arg(long, value_name = "FILE")]
    pub ice_config: Option<PathBuf>,
}

/// Why the ICE options are unusable.
#[derive(Debug, thiserror::Error)]
pub enum IceArgsError {
    /// A url is not a STUN/TURN url.
    #[error(transparent)]
    Url(#[from] IceUrlError),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an ICE configuration.
    #[error("{path} is not an ICE configuration: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

/// Reads an RTCConfiguration-shaped JSON file.
pub fn read_ice_file(path: &Path) -> Result<IceConfig, IceArgsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| IceArgsError::Read { path: path.to_owned(), source })?;
    let config: IceConfig = serde_json::from_str(&text)
        .map_err(|source| IceArgsError::Parse { path: path.to_owned(), source })?;
    for url in config.ice_servers.iter().flat_map(|s| &s.urls) {
        IceServer::check_url(url)?;
    }
    Ok(config)
}

impl PeerIceArgs {
    /// The local ICE settings these options describe.
    pub fn to_local(&self) -> Result<LocalIce, IceArgsError> {
        for url in self.stun_urls.iter().chain(&self.turn_urls) {
            IceServer::check_url(url)?;
        }
        let mut local = LocalIce { ice_servers: Vec::new(), relay_only: self.relay_only };
        if !self.stun_urls.is_empty() {
            local.ice_servers.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        if !self.turn_urls.is_empty() {
            local.ice_servers.push(IceServer {
                urls: self.turn_urls.clone(),
                username: self.turn_username.clone(),
                credential: self.turn_password.clone(),
            });
        }
        if let Some(path) = &self.ice_config {
            local.add(read_ice_file(path)?);
        }
        Ok(local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use tether_proto::TransportPolicy;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ice: PeerIceArgs,
    }

    #[test]
    fn flags_and_file_make_local_settings() {
        let dir = std::env::temp_dir().join(format!("tether-ice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ice.json");
        std::fs::write(
            &file,
            r#"{"ice_servers":[{"urls":["turn:10.0.0.1:3478"],"username":"u","credential":"p"}],"ice_transport_policy":"relay"}"#,
        )
        .unwrap();
        let cli = Cli::parse_from([
            "x",
            "--stun-url",
            "stun:a:3478",
            "--ice-config",
            file.to_str().unwrap(),
        ]);
        let local = cli.ice.to_local().unwrap();
        assert!(local.relay_only);
        assert_eq!(local.ice_servers.len(), 2);
        assert_eq!(local.apply(IceConfig::default()).ice_transport_policy, TransportPolicy::Relay);

        std::fs::write(&file, "{not json").unwrap();
        let cli = Cli::parse_from(["x", "--ice-config", file.to_str().unwrap()]);
        assert!(matches!(cli.ice.to_local(), Err(IceArgsError::Parse { .. })));
        let cli = Cli::parse_from(["x", "--stun-url", "http://a"]);
        assert!(matches!(cli.ice.to_local(), Err(IceArgsError::Url(_))));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
