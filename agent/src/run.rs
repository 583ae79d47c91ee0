//! The agent's main loop: registration, then one loop that drives `tether_session::sharing`.
//!
//! Each turn waits for a server message (or the server link's loss and return), a peer
//! connection event, a command from the UI or the machine's deadline; turns it into one
//! [`Event`]; calls `Sharing::handle` once; and carries out every [`Action`]. Carrying out an
//! action can fail (the session does not start, the video does not open); that failure is the
//! next event. Losing the server is an event too: the agent registers again with a new code
//! (`signaling.rs`) and only the person, or a signal, ends it.

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use tether_media::files::{FilesCommand, FilesSettings};
use tether_media::rtc::{DtlsIdentity, PeerEvent};
use tether_proto::signal::{Bye, ByeReason, Candidate, ClientMsg, Fingerprint, ServerMsg};
use tether_proto::{IceConfig, SessionCode};
use tether_session::LinkState;
use tether_session::clipboard::ClipboardPolicy;
use tether_session::files::FilesPolicy;
use tether_session::monitors::{MonitorControl, Shown};
use tether_session::sharing::{Action, Decision, Event, Phase, Sharing};
use tether_signal_client::client::ClientOptions;

use crate::capture::{self, ShownMonitor};
use crate::input::InputSettings;
use crate::session::Session;
use crate::signaling::{LinkEvent, Registration, ServerLink};
use crate::ui::{LoopEnd, ToolboxCommand, View};
use crate::video::VideoSettings;

/// Everything the loop needs from the command line.
pub struct AgentSettings {
    pub name: String,
    /// Unattended access: every viewer is allowed without asking.
    pub auto_allow: bool,
    pub consent_timeout: Duration,
    /// `--display N`: the monitor shown first; given, it is the only one (viewers cannot
    /// switch).
    pub display: Option<usize>,
    pub video: VideoSettings,
    pub udp_bind: Vec<String>,
    /// `--view-only`: no session may drive the mouse or keyboard.
    pub view_only: bool,
    /// ICE servers and policy of the agent's own, applied over the server's.
    pub local_ice: tether_proto::LocalIce,
    /// Share the system audio (off with `--no-audio`).
    pub audio: bool,
    /// Share the clipboard in sessions that control (off with `--no-clipboard`).
    pub clipboard: bool,
    /// Take files from controlling viewers (off with `--no-files`).
    pub files: bool,
    /// Where received files go (`--downloads`, else the person's Downloads folder).
    pub downloads: std::path::PathBuf,
}

/// How often the loop checks that the capture thread is still alive.
const HEALTH_CHECK: Duration = Duration::from_millis(500);

/// Registers with the server and serves viewers until the person quits or `shutdown`
/// resolves. Only the first registration's failure ends it: later losses are reconnected.
pub async fn run(
    server: &str,
    options: &ClientOptions,
    settings: &AgentSettings,
    mut ui: LoopEnd,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let registration = Registration {
        server: server.to_owned(),
        options: options.clone(),
        name: settings.name.clone(),
    };
    let mut agent = Agent {
        machine: Sharing::new(settings.consent_timeout, settings.auto_allow),
        link: ServerLink::connect(registration).await?,
        ice: IceConfig::default(),
        session: None,
        identity: None,
        settings,
        printed_code: None,
    };
    let mut health = tokio::time::interval(HEALTH_CHECK);
    tokio::pin!(shutdown);
    loop {
        let deadline = [agent.machine.next_deadline(), agent.machine.connect_deadline()];
        let deadline = deadline.into_iter().flatten().min().map(tokio::time::Instant::from_std);
        // A restart's offer goes through the server: none while it is away.
        let online = agent.link.is_up();
        let restart =
            agent.session.as_ref().filter(|_| online).and_then(|s| s.link.restart_deadline());
        // A session that streams on without the server keeps the agent off it until it ends.
        let may_connect = agent.session.is_none();
        let event = tokio::select! {
            () = &mut shutdown => Event::Quit,
            change = agent.link.next(may_connect) => match agent.link_event(change).await {
                Some(event) => event,
                None => continue,
            },
            Some(event) = next_peer_event(&mut agent.session) => match agent.peer_event(event).await {
                Some(event) => event,
                None => continue,
            },
            Some(command) = ui.commands.recv() => match command.into_event() {
                Ok(event) => event,
                Err(ToolboxCommand::Chat(text)) => {
                    agent.chat(&text).await;
                    continue;
                }
                Err(ToolboxCommand::Files(command)) => {
                    agent.files(command);
                    continue;
                }
            },
            () = sleep_until(deadline) => Event::Timeout,
            () = sleep_until(restart.map(tokio::time::Instant::from_std)) => {
                agent.restart_if_due().await;
                continue;
            }
            _ = health.tick() => {
                match &agent.session {
                    Some(s) if s.video_failed() => Event::StreamFailed("screen capture stopped".into()),
                    _ => continue,
                }
            }
        };
        if agent.feed(event, &ui).await {
            agent.link.close().await;
            return Ok(());
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn next_peer_event(session: &mut Option<Session>) -> Option<PeerEvent> {
    match session {
        Some(session) => session.link.next_event().await,
        None => std::future::pending().await,
    }
}

struct Agent<'a> {
    machine: Sharing,
    link: ServerLink,
    ice: IceConfig,
    session: Option<Session>,
    /// The certificate of the request being handled: its fingerprint goes to the viewer before
    /// the question is shown, and the session's peer connection uses it.
    identity: Option<DtlsIdentity>,
    settings: &'a AgentSettings,
    /// The code last printed as `code: …` (after the UI has it, so a `c` typed in answer to
    /// that line shows the same code).
    printed_code: Option<SessionCode>,
}

impl Agent<'_> {
    /// Hands `event` to the machine and carries out what it says, then any event that carrying
    /// it out produced. Returns whether the agent exits.
    async fn feed(&mut self, event: Event, ui: &LoopEnd) -> bool {
        let mut events = VecDeque::from([event]);
        while let Some(event) = events.pop_front() {
            for action in self.machine.handle(Instant::now(), event) {
                match self.act(action, ui).await {
                    Step::Next(Some(event)) => events.push_back(event),
                    Step::Next(None) => {}
                    Step::Exit => return true,
                }
            }
        }
        false
    }

    async fn act(&mut self, action: Action, ui: &LoopEnd) -> Step {
        match action {
            Action::Show => {
                let view = View {
                    code: self.machine.code(),
                    phase: self.machine.phase().clone(),
                    reconnecting: !self.link.is_up(),
                    sas: self
                        .session
                        .as_ref()
                        .and_then(|s| s.link.sas())
                        .or(self.machine.verified().map(|v| v.sas)),
                };
                ui.view.send_replace(view);
                if self.printed_code != self.machine.code() {
                    self.printed_code = self.machine.code();
                    if let Some(code) = self.printed_code {
                        // Scripts read this line; it is printed again whenever the code changes.
                        println!("code: {code}");
                    }
                }
            }
            Action::Ask => {
                let Phase::Asked { ask, peer, .. } = self.machine.phase() else {
                    return Step::Next(None);
                };
                println!("state: asked by {:?} from {}", peer.name, peer.addr);
                if let Some(verified) = self.machine.verified() {
                    // Read aloud against the viewer's before the person answers.
                    println!("sas: {}", verified.sas);
                }
                if !ui.can_ask {
                    tracing::warn!(
                        "a viewer asked to connect, but there is no tray or terminal to ask on; denied (run with --no-tray to answer on stdin, or --auto-allow to allow every viewer)"
                    );
                    return Step::Next(Some(Event::Consent {
                        ask: *ask,
                        decision: Decision::Deny,
                    }));
                }
            }
            Action::StartSession { view_only } => {
                if self.settings.auto_allow {
                    tracing::warn!("--auto-allow: allowing the viewer without asking");
                }
                // View-only if the person chose it at Allow or the agent runs with --view-only.
                let view_only = view_only || self.settings.view_only;
                tracing::info!(view_only, "starting the session");
                let first = Shown::Monitor(self.settings.display.unwrap_or(0));
                let monitors = MonitorControl::new(first, self.settings.display.is_some());
                let input = InputSettings { view_only, shown: ShownMonitor::new(first) };
                let clipboard = match (view_only, self.settings.clipboard) {
                    (true, _) => ClipboardPolicy::ViewOnly,
                    (false, false) => ClipboardPolicy::Off,
                    (false, true) => ClipboardPolicy::On,
                };
                let files = FilesSettings {
                    policy: match (view_only, self.settings.files) {
                        (true, _) => FilesPolicy::ViewOnly,
                        (false, false) => FilesPolicy::Off,
                        (false, true) => FilesPolicy::On,
                    },
                    downloads: self.settings.downloads.clone(),
                    id_prefix: 'a',
                    peer: "the viewer",
                    cancel_after_bytes: None,
                    offer_name: None,
                };
                let controls = crate::session::Controls { input, clipboard, files, monitors };
                let (ice, udp_bind) = (&self.ice, &self.settings.udp_bind);
                let (audio, video) = (self.settings.audio, &self.settings.video);
                let identity = self.identity.take();
                match Session::start(ice, udp_bind, controls, audio, video, identity).await {
                    Ok((started, offer)) => {
                        self.session = Some(started);
                        self.link.send(&ClientMsg::Offer(offer)).await;
                        if let Phase::Allowed { peer, .. } = self.machine.phase() {
                            let mode = if view_only { " (view only)" } else { "" };
                            println!("state: sharing with {:?}{mode}", peer.name);
                        }
                    }
                    Err(err) => {
                        tracing::error!(%err, "cannot start the session");
                        return Step::Next(Some(Event::StartFailed(err.to_string())));
                    }
                }
            }
            Action::StartStream => {
                let Some(s) = &mut self.session else { return Step::Next(None) };
                let shown = s.shown();
                let open = Box::new(move || capture::open_shown(shown));
                if let Err(err) = s.on_connected(open, self.settings.video.clone()).await {
                    tracing::error!(%err, "cannot start the video");
                    return Step::Next(Some(Event::StreamFailed(err)));
                }
            }
            Action::Bye { reason, message } => self.bye(reason, message).await,
            Action::Close(reason) => {
                tracing::info!(?reason, "the viewer ended the session");
                println!("state: ended ({reason:?})");
                if let Some(s) = self.session.take() {
                    s.stop().await;
                    println!("state: waiting (the viewer ended the session)");
                }
            }
            Action::RevealFingerprint => {
                let Some(identity) = &self.identity else {
                    let why = "no certificate for the security check".to_owned();
                    return Step::Next(Some(Event::StartFailed(why)));
                };
                let fingerprint = identity.fingerprint().to_owned();
                self.link.send(&ClientMsg::Fingerprint(Fingerprint { fingerprint })).await;
            }
            Action::RequestNewCode => self.link.send(&ClientMsg::NewCode).await,
            Action::Exit => return Step::Exit,
        }
        Step::Next(None)
    }

    /// Closes the peer connection at once, if there is one, and tells the viewer why (through
    /// the server, if it is there).
    /// Sends the person's chat message, or says why it cannot go.
    async fn chat(&mut self, text: &str) {
        let sent = match &self.session {
            Some(session) => session.send_chat(text).await,
            None => Err("no viewer to chat with".into()),
        };
        if let Err(err) = sent {
            println!("chat: not sent ({err})");
        }
    }

    /// Passes a file command to the session, or says why it cannot go.
    fn files(&mut self, command: FilesCommand) {
        let taken = self.session.as_ref().is_some_and(|s| s.files_command(command));
        if !taken {
            println!("file: not sent (no viewer to send it to)");
        }
    }

    async fn bye(&mut self, reason: ByeReason, message: String) {
        let capture_error = match self.session.take() {
            Some(s) => s.stop().await,
            None => None,
        };
        let message = match capture_error {
            Some(capture_error) => {
                tracing::error!("{capture_error}");
                format!("{message}: {capture_error}")
            }
            None => message,
        };
        println!("state: waiting ({message})");
        self.link.send(&ClientMsg::Bye(Bye { reason, message: Some(message) })).await;
    }

    /// Re-offers with an ICE restart when the connection has stayed disconnected.
    async fn restart_if_due(&mut self) {
        let Some(s) = &mut self.session else { return };
        match s.restart_if_due().await {
            Some(Ok(offer)) => {
                println!("state: reconnecting (ICE restart)");
                self.link.send(&ClientMsg::Offer(offer)).await;
            }
            Some(Err(err)) => tracing::warn!(%err, "ICE restart refused"),
            None => {}
        }
    }

    /// The event a change on the server link means, if any.
    async fn link_event(&mut self, change: LinkEvent) -> Option<Event> {
        match change {
            LinkEvent::Message(msg) => self.server_message(msg).await,
            LinkEvent::Lost { why, retry_in } => {
                tracing::warn!("lost the signaling server: {why}");
                let secs = retry_in.as_secs_f32();
                println!("state: server lost ({why}); reconnecting in {secs:.1} s");
                // The next code is printed whatever it is.
                self.printed_code = None;
                if matches!(self.machine.phase(), Phase::Streaming { .. }) {
                    tracing::info!(
                        "the session goes on without the server (media does not need it); \
                         the agent registers again when it ends"
                    );
                }
                Some(Event::SignalingLost)
            }
            LinkEvent::AttemptFailed { why, retry_in } => {
                let secs = retry_in.as_secs_f32();
                tracing::warn!(
                    "cannot register with the signaling server ({why}); next try in {secs:.1} s"
                );
                None
            }
            LinkEvent::Reconnected => {
                tracing::info!("connected to the signaling server again; waiting for a code");
                None
            }
        }
    }

    /// The event a server message means, if any; SDP and candidates go straight to the session.
    async fn server_message(&mut self, msg: ServerMsg) -> Option<Event> {
        match msg {
            ServerMsg::Code(issued) => {
                self.ice = self.settings.local_ice.apply(issued.ice);
                Some(Event::Code(issued.code))
            }
            ServerMsg::PeerJoined(mut peer) => {
                // TURN credentials come with the pairing, made for this session.
                if let Some(ice) = peer.ice.take() {
                    self.ice = self.settings.local_ice.apply(ice);
                }
                // A certificate for this request alone (a request being handled ignores the
                // server's second peer_joined, so it keeps its own).
                if self.session.is_none() && self.machine.phase() == &Phase::Waiting {
                    match DtlsIdentity::generate() {
                        Ok(identity) => self.identity = Some(identity),
                        Err(err) => tracing::error!(%err, "cannot make a DTLS certificate"),
                    }
                }
                Some(Event::PeerJoined(peer))
            }
            ServerMsg::Fingerprint(Fingerprint { fingerprint }) => {
                let ours = self.identity.as_ref()?.fingerprint().to_owned();
                Some(Event::PeerFingerprint { ours, theirs: fingerprint })
            }
            ServerMsg::Answer(answer) => {
                if !self.machine.answer_matches(&answer.sdp) {
                    let why = "the viewer's answer carries another certificate than it revealed; someone may be in between";
                    tracing::warn!("{why}");
                    return Some(Event::StartFailed(why.to_owned()));
                }
                let verified = self.machine.verified().is_some();
                let s = self.session.as_mut()?;
                match s.apply_answer(answer).await {
                    Ok(()) => {
                        // Read aloud against the viewer's: a server in the middle cannot make
                        // the two match. (A verified viewer's digits were printed with the
                        // question, and are these.)
                        if let Some(sas) = s.link.sas().filter(|_| !verified) {
                            println!("sas: {sas}");
                        }
                        None
                    }
                    Err(err) => {
                        tracing::warn!(%err, "the viewer's answer was refused");
                        Some(Event::PeerFailed)
                    }
                }
            }
            ServerMsg::Candidate(Candidate { candidate: Some(candidate) }) => {
                if let Some(s) = &mut self.session {
                    s.add_candidate(candidate).await;
                }
                None
            }
            ServerMsg::Candidate(Candidate { candidate: None }) => None,
            ServerMsg::Bye(bye) => Some(Event::ViewerLeft(bye.reason)),
            ServerMsg::Error(err) => {
                tracing::warn!(code = %err.code, "server: {}", err.message);
                None
            }
            ServerMsg::Offer(_) | ServerMsg::Joined(_) => {
                tracing::debug!("unexpected message ignored");
                None
            }
        }
    }

    async fn peer_event(&mut self, event: PeerEvent) -> Option<Event> {
        match event {
            PeerEvent::LocalCandidate(candidate) => {
                let msg = ClientMsg::Candidate(Candidate { candidate: Some(candidate) });
                self.link.send(&msg).await;
                None
            }
            PeerEvent::State(LinkState::Connected) => {
                if let Some(s) = &self.session {
                    s.report_connected().await;
                }
                Some(Event::PeerConnected)
            }
            PeerEvent::State(state) if state.is_terminal() => {
                tracing::warn!(?state, "the connection to the viewer failed");
                Some(Event::PeerFailed)
            }
            PeerEvent::State(state) => {
                tracing::info!(?state, "connection state");
                None
            }
            // The viewer opens a channel per file it sends; anything else is closed there.
            PeerEvent::DataChannel(channel) => {
                match &self.session {
                    Some(s) => s.peer_channel(channel),
                    None => drop(tokio::spawn(async move { channel.close().await })),
                }
                None
            }
            PeerEvent::Track(_) => None,
        }
    }
}

/// What carrying out one action led to.
enum Step {
    Next(Option<Event>),
    Exit,
}
