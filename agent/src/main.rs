//! `tether-agent`: shows a session code and, once support staff join with it and the person
//! allows them, shares the screen.

mod capture;
mod consent;
mod embedded;
mod input;
mod run;
mod session;
mod video;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tether_signal::cli::{ServerArgs, shutdown_signal};
use tether_signal::client::ClientOptions;

use crate::consent::ConsentMode;
use crate::embedded::Embedded;
use crate::run::AgentSettings;
use crate::video::VideoSettings;

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
    /// Which monitor to share: 0 is the primary (or first) one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    display: usize,
    /// Allow every viewer without asking (prints a warning). For tests and benchmarks.
    #[arg(long)]
    auto_allow: bool,
    /// Run without a tray icon; the terminal asks and reports instead.
    #[arg(long)]
    no_tray: bool,
    /// Share the screen only: inject no input from the viewer (its attempts are counted).
    #[arg(long)]
    view_only: bool,
    /// Do not share the system audio.
    #[arg(long)]
    no_audio: bool,
    /// Highest frame rate to capture and send.
    #[arg(long, value_name = "FPS", default_value_t = 60.0)]
    max_fps: f32,
    /// Video bitrate target, in kbit/s.
    #[arg(long, value_name = "KBPS", default_value_t = 8000)]
    bitrate: u32,
    /// Local UDP address for media (repeatable); 0.0.0.0:0 gathers on every interface.
    #[arg(long, value_name = "IP:PORT", default_value = "0.0.0.0:0")]
    udp_bind: Vec<String>,
    #[command(flatten, next_help_heading = "Embedded signaling server")]
    embedded: ServerArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tether_signal::cli::init_logging();
    let cli = Cli::parse();
    if !cli.no_tray {
        tracing::info!("no tray icon yet: the terminal asks and reports");
    }
    if !cli.no_audio {
        tracing::info!("system audio is not shared yet");
    }
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
            for url in embedded.viewer_urls() {
                println!("viewer: {url}");
            }
            (embedded.local_url(), Some(embedded))
        }
    };
    let settings = AgentSettings {
        name: cli.name.clone().unwrap_or_else(host_name),
        consent: if cli.auto_allow { ConsentMode::AutoAllow } else { ConsentMode::Terminal },
        display: cli.display,
        video: VideoSettings {
            max_fps: cli.max_fps,
            bitrate_bps: cli.bitrate.saturating_mul(1000),
        },
        udp_bind: cli.udp_bind.clone(),
        view_only: cli.view_only,
    };
    let result = run::run(&server_url, &options, &settings, shutdown_signal()).await;
    if let Some(embedded) = embedded {
        embedded.stop().await;
    }
    result
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this computer".into())
}
