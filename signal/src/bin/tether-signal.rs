//! `tether-signal`: the shared signaling server.

use anyhow::Context;
use clap::Parser;
use tether_signal::cli::{ServerArgs, shutdown_signal};

/// Pairs Tether agents and viewers by session code and relays their WebRTC signaling.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:7878")]
    bind: String,
    #[command(flatten)]
    server: ServerArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tether_signal::cli::init_logging();
    let cli = Cli::parse();
    let config = cli.server.to_config().context("invalid server options")?;
    let scheme = if config.tls.is_some() { "wss" } else { "ws" };
    let listener = tokio::net::TcpListener::bind(&cli.bind)
        .await
        .with_context(|| format!("cannot listen on {}", cli.bind))?;
    let addr = listener.local_addr()?;
    // Scripts read this line to learn the port when --bind asks for port 0.
    println!("listening on {scheme}://{addr}");
    tether_signal::serve(listener, config, shutdown_signal()).await?;
    Ok(())
}
