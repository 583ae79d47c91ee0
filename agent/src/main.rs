//! `tether-agent`: shows a session code and, once support staff join with it and the person
//! allows them, shares the screen.

mod audio;
mod capture;
mod chat;
mod clipboard;
mod display;
#[cfg(feature = "embedded-server")]
mod embedded;
#[cfg(not(feature = "embedded-server"))]
mod embedded {
    /// A build without the embedded server has none to run: this type has no values.
    pub enum Embedded {}

    impl Embedded {
        pub async fn stop(self) {
            match self {}
        }
    }
}
mod input;
mod run;
mod session;
mod signaling;
mod ui;
mod video;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
#[cfg(feature = "embedded-server")]
use tether_signal::cli::ServerArgs;
use tether_signal_client::client::ClientOptions;
#[cfg(not(feature = "embedded-server"))]
use tether_signal_client::ice_args::PeerIceArgs;
use tether_signal_client::process::{parse_duration, shutdown_signal};

use crate::embedded::Embedded;
use crate::run::AgentSettings;
use crate::ui::terminal::Terminal;
use crate::ui::tray::Tray;
use crate::ui::{LoopEnd, UiEnd};
use crate::video::VideoSettings;

/// Share this computer's screen with support staff who have its session code.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Signaling server to register with (ws://host:port, wss://host, http(s)://...). Without
    /// it the agent runs its own server on --bind.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Where the embedded signaling server listens when no --server is given (default
    /// 127.0.0.1:7878: this computer only; see --lan).
    #[cfg(feature = "embedded-server")]
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "lan")]
    bind: Option<String>,
    /// Let viewers on other machines reach the embedded server: listen on every interface
    /// (0.0.0.0:7878) rather than on this computer only. Without --tls-cert that is plain
    /// ws://, which anyone on the network path can read and tamper with.
    #[cfg(feature = "embedded-server")]
    #[arg(long)]
    lan: bool,
    /// A name for this computer, shown to whoever joins with the code, before you allow them
    /// (default: none; the host name is not sent).
    #[arg(long)]
    name: Option<String>,
    /// Extra CA certificate (PEM) to trust for a wss:// server.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Share only this monitor (0 is the primary). Without it the viewer starts on the primary
    /// and may switch monitors, or show all of them, during the session.
    #[arg(long, value_name = "N")]
    display: Option<usize>,
    /// Allow every viewer without asking (prints a warning). For tests and benchmarks.
    #[arg(long)]
    auto_allow: bool,
    /// Run without a tray icon: the terminal asks and takes commands, reading stdin even when
    /// it is a pipe.
    #[arg(long)]
    no_tray: bool,
    /// How long a consent request waits for an answer; no answer means Deny.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    consent_timeout: Duration,
    /// Share the screen only: inject no input from the viewer (its attempts are counted).
    #[arg(long)]
    view_only: bool,
    /// Do not share the system audio.
    #[arg(long)]
    no_audio: bool,
    /// Do not share the clipboard with the viewer (either way). View-only sessions never do.
    #[arg(long)]
    no_clipboard: bool,
    /// Take no files from the viewer. View-only sessions never do.
    #[arg(long)]
    no_files: bool,
    /// Where files from the viewer are saved (default: your Downloads folder).
    #[arg(long, value_name = "DIR")]
    downloads: Option<PathBuf>,
    /// Highest frame rate to capture and send.
    #[arg(long, value_name = "FPS", default_value_t = 60.0)]
    max_fps: f32,
    /// Video bitrate target, in kbit/s: the most the link's estimate may reach.
    #[arg(long, value_name = "KBPS", default_value_t = 8000)]
    bitrate: u32,
    /// Send at --bitrate whatever the link does: no congestion control (for measurements, or
    /// a link known to be fast).
    #[arg(long)]
    fixed_bitrate: bool,
    /// Local UDP address for media (repeatable); 0.0.0.0:0 gathers on every interface.
    #[arg(long, value_name = "IP:PORT", default_value = "0.0.0.0:0")]
    udp_bind: Vec<String>,
    /// ICE servers and policy as an RTCConfiguration-shaped JSON file, used besides the
    /// signaling server's.
    #[cfg(feature = "embedded-server")]
    #[arg(long, value_name = "FILE")]
    ice_config: Option<PathBuf>,
    #[cfg(feature = "embedded-server")]
    #[command(flatten, next_help_heading = "Embedded signaling server")]
    embedded: ServerArgs,
    #[cfg(not(feature = "embedded-server"))]
    #[command(flatten, next_help_heading = "ICE")]
    ice: PeerIceArgs,
}

fn main() -> anyhow::Result<()> {
    tether_signal_client::process::init_logging();
    let cli = Cli::parse();
    // GTK lives on this (the main) thread; tokio gets its own worker threads.
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    let tray = match cli.no_tray {
        true => None,
        false => Tray::start()
            .inspect_err(|err| tracing::info!("no tray ({err}): the terminal asks and reports"))
            .ok(),
    };
    let terminal = tray.is_none() && (cli.no_tray || std::io::stdin().is_terminal());
    let (loop_end, ui_end) = ui::link(tray.is_some() || terminal);
    match tray {
        Some(tray) => {
            let agent = std::thread::Builder::new()
                .name("agent".into())
                .spawn(move || runtime.block_on(serve(&cli, loop_end, None)))?;
            tray.run(ui_end);
            agent.join().map_err(|_| anyhow::anyhow!("the agent thread panicked"))?
        }
        None => runtime.block_on(serve(&cli, loop_end, terminal.then_some(ui_end))),
    }
}

/// The embedded server (if any), the terminal UI (if given) and the agent loop.
async fn serve(cli: &Cli, loop_end: LoopEnd, terminal: Option<UiEnd>) -> anyhow::Result<()> {
    let mut options = ClientOptions::default();
    if let Some(ca) = &cli.ca_cert {
        options = options.trust_pem_file(ca)?;
    }
    let (server_url, embedded) = match &cli.server {
        Some(url) => (url.clone(), None),
        None => start_embedded(cli).await?,
    };
    let settings = AgentSettings {
        // The server hands the hello's name to any code holder before consent.
        name: cli.name.clone().unwrap_or_default(),
        auto_allow: cli.auto_allow,
        consent_timeout: cli.consent_timeout,
        display: cli.display,
        video: VideoSettings {
            max_fps: cli.max_fps,
            bitrate_bps: cli.bitrate.saturating_mul(1000),
            adaptive: !cli.fixed_bitrate,
        },
        udp_bind: cli.udp_bind.clone(),
        view_only: cli.view_only,
        clipboard: !cli.no_clipboard,
        files: !cli.no_files,
        downloads: match &cli.downloads {
            Some(dir) => dir.clone(),
            None => tether_media::files::disk::downloads_dir()
                .context("no Downloads folder: HOME is unset; pass --downloads DIR")?,
        },
        local_ice: local_ice(cli)?,
        audio: !cli.no_audio,
    };
    let terminal = terminal.map(Terminal::start).transpose()?;
    let result = run::run(&server_url, &options, &settings, loop_end, shutdown_signal()).await;
    if let Some(terminal) = terminal {
        terminal.stop().await;
    }
    if let Some(embedded) = embedded {
        embedded.stop().await;
    }
    result
}

/// Starts the embedded server and prints where viewers reach it; returns the url this agent
/// registers with.
#[cfg(feature = "embedded-server")]
async fn start_embedded(cli: &Cli) -> anyhow::Result<(String, Option<Embedded>)> {
    let config = cli.embedded.to_config().context("invalid embedded server options")?;
    let bind = match (&cli.bind, cli.lan) {
        (Some(bind), _) => bind.clone(),
        (None, true) => "0.0.0.0:7878".to_owned(),
        (None, false) => "127.0.0.1:7878".to_owned(),
    };
    let embedded = Embedded::start(&bind, config).await?;
    if embedded.scheme == "ws" && !embedded.addr.ip().is_loopback() {
        tracing::warn!(
            "the embedded server is plain ws:// on {}: anyone on the network path can read the \
             signaling and sit between this computer and the viewer; give --tls-cert/--tls-key, \
             or keep it to this computer (no --lan, no --bind)",
            embedded.addr
        );
    }
    for url in embedded.lan_urls() {
        println!("server: {url}");
    }
    for url in embedded.viewer_urls() {
        println!("viewer: {url}");
    }
    Ok((embedded.local_url(), Some(embedded)))
}

#[cfg(not(feature = "embedded-server"))]
async fn start_embedded(_: &Cli) -> anyhow::Result<(String, Option<Embedded>)> {
    anyhow::bail!(
        "this tether-agent was built without the embedded signaling server: give --server"
    )
}

/// The agent's own ICE settings: `--ice-config`, and with `--server` also the STUN/TURN and
/// `--relay-only` options (without it they configure the embedded server, which hands them
/// out to both peers).
#[cfg(feature = "embedded-server")]
fn local_ice(cli: &Cli) -> anyhow::Result<tether_proto::LocalIce> {
    let mut local = tether_proto::LocalIce::default();
    if cli.server.is_some() {
        let config = cli.embedded.to_config().context("invalid ICE options")?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        local.add(config.ice.ice_config(now));
    }
    if let Some(path) = &cli.ice_config {
        local.add(tether_signal_client::ice_args::read_ice_file(path)?);
    }
    Ok(local)
}

/// The agent's own ICE settings, from its ICE options (there is no embedded server to hand
/// them out).
#[cfg(not(feature = "embedded-server"))]
fn local_ice(cli: &Cli) -> anyhow::Result<tether_proto::LocalIce> {
    Ok(cli.ice.to_local()?)
}
