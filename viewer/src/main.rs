//! `tether-viewer CODE`: joins the agent that shows CODE and receives its screen.

mod audio;
mod display;
mod input_script;
mod private_file;
mod session;
mod stats;
mod toolbox;
mod ui;
mod video;
mod window;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use tether_proto::SessionCode;
use tether_signal_client::client::ClientOptions;
use tether_signal_client::ice_args::PeerIceArgs;
use tether_signal_client::process::parse_duration;

use crate::input_script::InputScript;
use crate::session::ViewerSettings;

/// Connect to a computer by the session code it shows.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The session code, e.g. "482 913 075" (spaces and dashes are fine). Without it the
    /// window asks for it.
    code: Option<String>,
    /// Signaling server (ws://host:port, wss://host, http(s)://...).
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:7878")]
    server: String,
    /// The name the person at the computer sees when asked to allow you.
    #[arg(long, default_value = "")]
    name: String,
    /// Extra CA certificate (PEM) to trust for a wss:// server.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// No window: print the connection state and running stats instead. (In the window, F10
    /// switches fit / 1:1, F11 fullscreen, F12 the stats overlay.)
    #[arg(long)]
    headless: bool,
    /// Write the latest frame to this PNG (at least once a second, and on exit).
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    /// End the session cleanly after this long (e.g. 30, 30s, 2m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Read the benchmark's latency probe from every frame and print glass-to-glass figures.
    #[arg(long)]
    latency_probe: bool,
    /// Send the input messages in FILE (one JSON object a line, with an optional "delay_ms")
    /// on the input channel once it opens; see docs/protocol.md.
    #[arg(long, value_name = "FILE")]
    input_script: Option<PathBuf>,
    /// Local UDP address for media (repeatable); 0.0.0.0:0 gathers on every interface.
    #[arg(long, value_name = "IP:PORT", default_value = "0.0.0.0:0")]
    udp_bind: Vec<String>,
    /// Give up with an ICE failure when not connected this long after the offer.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    connect_timeout: Duration,
    #[command(flatten, next_help_heading = "ICE (used with the signaling server's)")]
    ice: PeerIceArgs,
    /// Write the received system audio to this WAV file (48 kHz stereo), as it arrives.
    #[arg(long, value_name = "FILE")]
    audio_dump: Option<PathBuf>,
    /// Play the received audio on the default output device (also in --headless mode).
    #[arg(long)]
    play_audio: bool,
    /// Send this chat message once connected (repeatable). The person's messages are printed
    /// as `chat: computer: "…"`.
    #[arg(long, value_name = "TEXT")]
    chat: Vec<String>,
    /// Put this text on the computer's clipboard once connected, as if copied here. The
    /// computer's clipboard texts are printed as `clipboard: received "…"`.
    #[arg(long, value_name = "TEXT")]
    clipboard_text: Option<String>,
    /// Send this file to the computer once connected (repeatable); it lands in the person's
    /// Downloads folder.
    #[arg(long, value_name = "PATH")]
    send_file: Vec<PathBuf>,
    /// Where files from the computer are saved (default: your Downloads folder).
    #[arg(long, value_name = "DIR")]
    downloads: Option<PathBuf>,
    /// Cancel the first file sent once this many bytes went (to test cancelling).
    #[arg(long, value_name = "BYTES", hide = true)]
    cancel_after_bytes: Option<u64>,
    /// Show this monitor of the computer (0 is the primary; `all`: every monitor as one
    /// picture) as soon as the computer lists them; an --input-script waits for it.
    #[arg(long, value_name = "N|all", value_parser = display::parse_shown)]
    monitor: Option<tether_session::monitors::Shown>,
    /// Offer the first --send-file under this name, as it is (to test the computer's
    /// handling of names such as `../../.bashrc`).
    #[arg(long, value_name = "NAME", hide = true)]
    offer_name: Option<String>,
}

fn main() -> anyhow::Result<()> {
    tether_signal_client::process::init_logging();
    let cli = Cli::parse();
    let code: Option<SessionCode> = match &cli.code {
        Some(text) => {
            Some(text.parse().with_context(|| format!("{text:?} is not a session code"))?)
        }
        None => None,
    };
    // Checked before joining: a bad line is reported now, not in the middle of a session.
    let input_script = cli.input_script.as_deref().map(InputScript::read).transpose()?;
    let mut options = ClientOptions::default();
    if let Some(ca) = &cli.ca_cert {
        options = options.trust_pem_file(ca)?;
    }
    let settings = ViewerSettings {
        name: cli.name,
        snapshot: cli.snapshot,
        duration: cli.duration,
        latency_probe: cli.latency_probe,
        udp_bind: cli.udp_bind,
        ui: None,
        input_script,
        connect_timeout: cli.connect_timeout,
        ice: cli.ice.to_local().context("invalid ICE options")?,
        audio: audio::AudioSettings { dump: cli.audio_dump, play: cli.play_audio },
        chat: cli.chat,
        clipboard_text: cli.clipboard_text,
        send_files: cli.send_file,
        downloads: match cli.downloads {
            Some(dir) => dir,
            None => tether_media::files::disk::downloads_dir()
                .context("no Downloads folder: HOME is unset; pass --downloads DIR")?,
        },
        cancel_after_bytes: cli.cancel_after_bytes,
        offer_name: cli.offer_name,
        monitor: cli.monitor,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    if !cli.headless {
        // The window needs the main thread; the session runs on the runtime's workers.
        return window::run(runtime, cli.server, options, code, settings);
    }
    let Some(code) = code else { bail!("--headless needs the session code") };
    let outcome =
        runtime.block_on(session::run(&cli.server, &options, code, &mut None, &settings, None))?;
    session::outcome_result(outcome)
}
