//! `tether-agent`: shows a session code and, once support staff join with it, shares the screen.

mod embedded;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tether_proto::signal::{Bye, ByeReason, ClientMsg, Role, ServerMsg};
use tether_signal::cli::{ServerArgs, shutdown_signal};
use tether_signal::client::{ClientOptions, SignalClient};

use crate::embedded::Embedded;

/// Share this computer's screen with support staff who have its session code.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Signaling server to register with (ws://host:port, wss://host, http(s)://...). Without
    /// it the agent runs its own server on --bind.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Where the embedded signaling server listens when no --server is given.
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:7878")]
    bind: String,
    /// The name support staff see for this computer (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Extra CA certificate (PEM) to trust for a wss:// server.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    #[command(flatten, next_help_heading = "Embedded signaling server")]
    embedded: ServerArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut options = ClientOptions::default();
    if let Some(ca) = &cli.ca_cert {
        options = options.trust_pem_file(ca)?;
    }
    let (server_url, embedded) = match &cli.server {
        Some(url) => (url.clone(), None),
        None => {
            let config = cli.embedded.to_config().context("invalid embedded server options")?;
            let embedded = Embedded::start(&cli.bind, config).await?;
            for url in embedded.lan_urls() {
                println!("server: {url}");
            }
            (embedded.local_url(), Some(embedded))
        }
    };
    let name = cli.name.clone().unwrap_or_else(host_name);
    let result = tokio::select! {
        result = run(&server_url, &options, &name) => result,
        () = shutdown_signal() => Ok(()),
    };
    if let Some(embedded) = embedded {
        embedded.stop().await;
    }
    result
}

async fn run(server: &str, options: &ClientOptions, name: &str) -> anyhow::Result<()> {
    let mut client = SignalClient::connect(server, options).await?;
    client.hello(Role::Agent, name).await?;
    loop {
        match client.recv().await? {
            ServerMsg::Code(issued) => {
                // Scripts read this line; it is printed again whenever the code changes.
                println!("code: {}", issued.code);
                std::io::stdout().flush()?;
            }
            ServerMsg::PeerJoined(peer) => {
                tracing::info!(name = %peer.name, addr = %peer.addr, "a viewer asks to connect");
                let bye = Bye {
                    reason: ByeReason::Denied,
                    message: Some("this agent cannot share its screen yet".into()),
                };
                client.send(&ClientMsg::Bye(bye)).await?;
            }
            ServerMsg::Bye(bye) => tracing::info!(reason = ?bye.reason, "session ended"),
            ServerMsg::Error(err) => tracing::warn!(code = %err.code, "server: {}", err.message),
            other => tracing::debug!(?other, "ignored"),
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this computer".into())
}
