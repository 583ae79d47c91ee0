//! `tether-signal`: the shared signaling server.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, bail};
use clap::Parser;
use tether_signal::cli::ServerArgs;
use tether_signal::turn_server::{PeerNet, TurnServer, TurnServerConfig};
use tether_signal_client::process::shutdown_signal;

/// Pairs Tether agents and viewers by session code and relays their WebRTC signaling.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:7878")]
    bind: String,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten, next_help_heading = "Built-in STUN/TURN server")]
    turn: TurnArgs,
}

/// The built-in STUN/TURN server.
#[derive(clap::Args)]
struct TurnArgs {
    /// Also run a STUN/TURN server (UDP) on --turn-secret; peers are told of it unless
    /// --turn-url names other servers.
    #[arg(long, requires = "turn_secret")]
    turn: bool,
    /// UDP address the built-in TURN server listens on.
    #[arg(long, value_name = "IP:PORT", default_value = "0.0.0.0:3478")]
    turn_listen: SocketAddr,
    /// The address peers reach the TURN server and its relays at (default: the --turn-listen
    /// address, which must then not be 0.0.0.0).
    #[arg(long, value_name = "IP")]
    turn_public_ip: Option<IpAddr>,
    /// TURN realm.
    #[arg(long, value_name = "REALM", default_value = "tether")]
    turn_realm: String,
    /// Also relay to peers in this block (CIDR or address; repeatable), which the TURN server
    /// refuses otherwise: loopback, private, link-local, CGNAT, documentation and other
    /// special-purpose ranges. For labs; the server's own addresses stay refused.
    #[arg(long, value_name = "CIDR")]
    turn_allow_peer: Vec<PeerNet>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tether_signal_client::process::init_logging();
    let mut cli = Cli::parse();
    let turn = if cli.turn.turn { Some(start_turn(&mut cli).await?) } else { None };
    let config = cli.server.to_config().context("invalid server options")?;
    let scheme = if config.tls.is_some() { "wss" } else { "ws" };
    let listener = tokio::net::TcpListener::bind(&cli.bind)
        .await
        .with_context(|| format!("cannot listen on {}", cli.bind))?;
    let addr = listener.local_addr()?;
    // Scripts read this line to learn the port when --bind asks for port 0.
    println!("listening on {scheme}://{addr}");
    let served = tether_signal::serve(listener, config, shutdown_signal()).await;
    if let Some(turn) = turn {
        turn.stop().await;
    }
    served?;
    Ok(())
}

/// Starts the built-in TURN server and, unless other servers are named, hands it to peers.
async fn start_turn(cli: &mut Cli) -> anyhow::Result<TurnServer> {
    let args = &cli.turn;
    let public_ip = match args.turn_public_ip {
        Some(ip) => ip,
        None if args.turn_listen.ip().is_unspecified() => {
            bail!("--turn-public-ip is needed when --turn-listen is {}", args.turn_listen)
        }
        None => args.turn_listen.ip(),
    };
    let secret = cli.server.turn_secret.clone().context("--turn needs --turn-secret")?;
    let server = TurnServer::start(TurnServerConfig {
        listen: args.turn_listen,
        public_ip,
        realm: args.turn_realm.clone(),
        secret,
        allowed_peers: args.turn_allow_peer.clone(),
    })
    .await?;
    let (stun, turn) = server.urls(public_ip);
    println!("turn: listening on udp {} as {turn}", server.local_addr);
    if cli.server.turn_urls.is_empty() {
        cli.server.turn_urls.push(turn);
        if cli.server.stun_urls.is_empty() {
            cli.server.stun_urls.push(stun);
        }
    }
    Ok(server)
}
