//! The agent's main loop: registration, consent, and at most one session at a time.

use std::future::Future;
use std::time::Duration;

use tether_media::rtc::{PeerEvent, PeerState};
use tether_proto::IceConfig;
use tether_proto::signal::{Bye, ByeReason, Candidate, ClientMsg, PeerJoined, Role, ServerMsg};
use tether_signal::client::{ClientOptions, SignalClient, SignalSender};

use crate::capture;
use crate::consent::{self, ConsentMode, Decision};
use crate::input::InputSettings;
use crate::session::{Session, is_terminal};
use crate::video::VideoSettings;

/// Everything the loop needs from the command line.
pub struct AgentSettings {
    pub name: String,
    pub consent: ConsentMode,
    pub display: usize,
    pub video: VideoSettings,
    pub udp_bind: Vec<String>,
    /// `--view-only`: no session may drive the mouse or keyboard.
    pub view_only: bool,
}

/// How often the loop checks that the capture thread is still alive.
const HEALTH_CHECK: Duration = Duration::from_millis(500);

/// Registers with the server and serves viewers until `shutdown` resolves or the server goes.
pub async fn run(
    server: &str,
    options: &ClientOptions,
    settings: &AgentSettings,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut client = SignalClient::connect(server, options).await?;
    client.hello(Role::Agent, &settings.name).await?;
    let (mut tx, mut rx) = client.split();
    let mut ice = IceConfig::default();
    let mut session: Option<Session> = None;
    let mut health = tokio::time::interval(HEALTH_CHECK);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => {
                end_session(&mut session, &mut tx, ByeReason::Stopped, "the person stopped sharing").await;
                tx.close().await;
                return Ok(());
            }
            msg = rx.recv() => {
                let msg = msg?;
                handle_server(msg, &mut ice, &mut session, &mut tx, settings).await?;
            }
            Some(event) = next_peer_event(&mut session) => {
                handle_peer_event(event, &mut session, &mut tx, settings).await?;
            }
            _ = health.tick() => {
                if session.as_ref().is_some_and(Session::video_failed) {
                    end_session(&mut session, &mut tx, ByeReason::Stopped, "screen capture stopped").await;
                }
            }
        }
    }
}

async fn next_peer_event(session: &mut Option<Session>) -> Option<PeerEvent> {
    match session {
        Some(session) => session.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn handle_server(
    msg: ServerMsg,
    ice: &mut IceConfig,
    session: &mut Option<Session>,
    tx: &mut SignalSender,
    settings: &AgentSettings,
) -> anyhow::Result<()> {
    match msg {
        ServerMsg::Code(issued) => {
            *ice = issued.ice;
            // Scripts read this line; it is printed again whenever the code changes.
            println!("code: {}", issued.code);
        }
        ServerMsg::PeerJoined(peer) => {
            if session.is_some() {
                tracing::warn!("a second viewer joined while a session runs; ignored");
                return Ok(());
            }
            admit(peer, ice, session, tx, settings).await?;
        }
        ServerMsg::Answer(answer) => match session {
            Some(s) => {
                if let Err(err) = s.apply_answer(answer).await {
                    tracing::warn!(%err, "the viewer's answer was refused");
                    end_session(session, tx, ByeReason::IceFailed, "the answer could not be used")
                        .await;
                }
            }
            None => tracing::debug!("answer with no session; ignored"),
        },
        ServerMsg::Candidate(Candidate { candidate: Some(candidate) }) => {
            if let Some(s) = session {
                s.add_candidate(candidate).await;
            }
        }
        ServerMsg::Candidate(Candidate { candidate: None }) => {}
        ServerMsg::Bye(bye) => {
            tracing::info!(reason = ?bye.reason, "the viewer ended the session");
            println!("state: ended ({:?})", bye.reason);
            if let Some(s) = session.take() {
                s.stop().await;
            }
        }
        ServerMsg::Error(err) => tracing::warn!(code = %err.code, "server: {}", err.message),
        ServerMsg::Offer(_) | ServerMsg::Joined(_) => tracing::debug!("unexpected message ignored"),
    }
    Ok(())
}

/// Asks for consent and, on Allow, starts the session and sends the offer.
async fn admit(
    peer: PeerJoined,
    ice: &IceConfig,
    session: &mut Option<Session>,
    tx: &mut SignalSender,
    settings: &AgentSettings,
) -> anyhow::Result<()> {
    println!("state: asked by {:?} from {}", peer.name, peer.addr);
    let (reason, message) = match consent::ask(settings.consent, &peer).await {
        Decision::Allow => {
            match Session::start(ice, &settings.udp_bind, input_settings(settings)).await {
                Ok((started, offer)) => {
                    *session = Some(started);
                    tx.send(&ClientMsg::Offer(offer)).await?;
                    println!("state: sharing with {:?}", peer.name);
                    return Ok(());
                }
                Err(err) => {
                    tracing::error!(%err, "cannot start the session");
                    (ByeReason::Other, format!("the agent could not start the session: {err}"))
                }
            }
        }
        Decision::Deny => (ByeReason::Denied, "the person declined".to_owned()),
        Decision::TimedOut => (ByeReason::ConsentTimeout, "nobody answered the request".to_owned()),
    };
    println!("state: waiting ({message})");
    tx.send(&ClientMsg::Bye(Bye { reason, message: Some(message) })).await?;
    Ok(())
}

/// The input settings of a session allowed now.
fn input_settings(settings: &AgentSettings) -> InputSettings {
    InputSettings { view_only: settings.view_only, monitor: settings.display }
}

async fn handle_peer_event(
    event: PeerEvent,
    session: &mut Option<Session>,
    tx: &mut SignalSender,
    settings: &AgentSettings,
) -> anyhow::Result<()> {
    match event {
        PeerEvent::LocalCandidate(candidate) => {
            tx.send(&ClientMsg::Candidate(Candidate { candidate: Some(candidate) })).await?;
        }
        PeerEvent::State(PeerState::Connected) => {
            let Some(s) = session else { return Ok(()) };
            let display = settings.display;
            let open = Box::new(move || capture::open(display));
            if let Err(err) = s.on_connected(open, settings.video.clone()).await {
                tracing::error!(%err, "cannot start the video");
                end_session(session, tx, ByeReason::Other, &err).await;
            }
        }
        PeerEvent::State(state) if is_terminal(state) => {
            tracing::warn!(?state, "the connection to the viewer failed");
            end_session(
                session,
                tx,
                ByeReason::IceFailed,
                "the network connection to the viewer failed",
            )
            .await;
        }
        PeerEvent::State(state) => tracing::info!(?state, "connection state"),
        PeerEvent::Track(_) | PeerEvent::DataChannel(_) => {}
    }
    Ok(())
}

/// Stops the session (if any) and tells the viewer why.
async fn end_session(
    session: &mut Option<Session>,
    tx: &mut SignalSender,
    reason: ByeReason,
    message: &str,
) {
    let Some(s) = session.take() else { return };
    let message = match s.stop().await {
        Some(capture_error) => {
            tracing::error!("{capture_error}");
            format!("{message}: {capture_error}")
        }
        None => message.to_owned(),
    };
    println!("state: waiting ({message})");
    let _ = tx.send(&ClientMsg::Bye(Bye { reason, message: Some(message) })).await;
}
