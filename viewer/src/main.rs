//! `tether-viewer CODE`: joins the agent that shows CODE.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use tether_proto::SessionCode;
use tether_proto::signal::{Bye, ByeReason, ClientMsg, Join, Role, ServerMsg};
use tether_signal::client::{ClientOptions, SignalClient};

/// Connect to a computer by the session code it shows.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The session code, e.g. "482 913 075" (spaces and dashes are fine).
    code: String,
    /// Signaling server (ws://host:port, wss://host, http(s)://...).
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:7878")]
    server: String,
    /// The name the person at the computer sees when asked to allow you.
    #[arg(long, default_value = "")]
    name: String,
    /// Extra CA certificate (PEM) to trust for a wss:// server.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
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
    let code: SessionCode =
        cli.code.parse().with_context(|| format!("{:?} is not a session code", cli.code))?;
    let mut options = ClientOptions::default();
    if let Some(ca) = &cli.ca_cert {
        options = options.trust_pem_file(ca)?;
    }
    let mut client = SignalClient::connect(&cli.server, &options).await?;
    client.hello(Role::Viewer, &cli.name).await?;
    client.send(&ClientMsg::Join(Join { code })).await?;
    loop {
        tokio::select! {
            msg = client.recv() => match msg? {
                ServerMsg::Joined(joined) => {
                    println!("state: joined {:?}; waiting for the person there to allow", joined.agent_name);
                }
                ServerMsg::Bye(bye) => {
                    println!("state: ended ({})", describe(&bye));
                    return Ok(());
                }
                ServerMsg::Error(err) => bail!("{} ({})", err.message, err.code),
                other => tracing::debug!(?other, "ignored"),
            },
            _ = tokio::signal::ctrl_c() => {
                let bye = Bye { reason: ByeReason::Hangup, message: None };
                let _ = client.send(&ClientMsg::Bye(bye)).await;
                return Ok(());
            }
        }
    }
}

fn describe(bye: &Bye) -> String {
    let reason = match bye.reason {
        ByeReason::Hangup => "the viewer hung up",
        ByeReason::Stopped => "the person stopped sharing",
        ByeReason::Denied => "the person declined",
        ByeReason::ConsentTimeout => "nobody answered the request",
        ByeReason::PeerLeft => "the computer disconnected",
        ByeReason::IceFailed => "no network path could be found",
        ByeReason::ServerShutdown => "the signaling server shut down",
        ByeReason::Other => "ended",
    };
    match &bye.message {
        Some(message) => format!("{reason}: {message}"),
        None => reason.to_owned(),
    }
}
