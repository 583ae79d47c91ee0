//! The viewer's session as I/O glue around [`Viewing`]: the signaling connection, the peer
//! connection, the decode and audio threads, the input channel and the printed lines.
//!
//! Every decision (deadlines, re-answers, candidate buffering, the error policy) is
//! `tether_session::viewing`'s; this loop turns what happens into [`Event`]s and carries out
//! the [`Action`]s that come back.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tether_media::files::{Files, FilesCommand, FilesSettings};
use tether_media::rtc::{DtlsIdentity, PeerEvent, PeerLink, PeerOptions, Side, selected_pair};
use tether_proto::chat::CHAT_CHANNEL;
use tether_proto::clipboard::CLIPBOARD_CHANNEL;
use tether_proto::display::DISPLAY_CHANNEL;
use tether_proto::files::{FILES_CHANNEL, transfer_id};
use tether_proto::input::{INPUT_CHANNEL, InputMsg};
use tether_proto::signal::{Role, Sdp, ServerMsg};
use tether_proto::{IceConfig, LocalIce, SessionCode};
use tether_session::LinkState;
use tether_session::files::FilesPolicy;
use tether_session::monitors::Shown;
use tether_session::viewing::{Action, Event, Outcome, PairText, Report, Viewing};
use tether_signal_client::client::{ClientOptions, SignalClient, SignalSender};
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::DataChannel;

use crate::audio::{AudioReceiver, AudioSettings, AudioStatsPrinter};
use crate::display;
use crate::input_script::{self, InputScript};
use crate::stats::{StatsPrinter, latency_line, network_stats};
use crate::toolbox;
use crate::ui::SessionUi;
use crate::video::Decoding;
use crate::video::receive::{read_track, request_keyframes};

/// What the command line asked for.
pub struct ViewerSettings {
    pub name: String,
    pub snapshot: Option<PathBuf>,
    pub duration: Option<Duration>,
    pub latency_probe: bool,
    pub udp_bind: Vec<String>,
    /// The window, if any: it sees every report, stats line and decoded picture.
    pub ui: Option<Arc<dyn SessionUi>>,
    pub input_script: Option<InputScript>,
    /// Give up (ICE failed) if not connected this long after the offer.
    pub connect_timeout: Duration,
    /// ICE servers and policy from flags or a file, merged over the server's.
    pub ice: LocalIce,
    pub audio: AudioSettings,
    /// `--chat`: messages to send once the chat channel opens.
    pub chat: Vec<String>,
    /// `--clipboard-text`: clipboard text to send once the clipboard channel opens.
    pub clipboard_text: Option<String>,
    /// `--send-file`: files to send once the files channel opens.
    pub send_files: Vec<PathBuf>,
    /// Where files from the computer are saved.
    pub downloads: PathBuf,
    /// `--cancel-after-bytes`: cancel the first file sent once this much went (tests).
    pub cancel_after_bytes: Option<u64>,
    /// `--offer-name`: the name the first file is offered under (tests).
    pub offer_name: Option<String>,
    /// `--monitor`: the monitor to ask for once the list is known.
    pub monitor: Option<Shown>,
}

const STATS_EVERY: Duration = Duration::from_secs(1);
/// Longest the stats queries of one `stats:` line may take.
const STATS_BUDGET: Duration = Duration::from_millis(300);

/// The session's I/O: everything [`Action`]s act on.
struct Io<'a> {
    settings: &'a ViewerSettings,
    tx: SignalSender,
    /// The certificate `join` committed to, for the peer connection.
    identity: DtlsIdentity,
    peer: Option<PeerLink>,
    decoding: Decoding,
    audio: AudioReceiver,
    audio_stats: Option<AudioStatsPrinter>,
    input_channel: Option<Arc<dyn DataChannel>>,
    files: Option<Files>,
    tasks: tokio::task::JoinSet<()>,
    /// Whether the monitor `--monitor` asked for is shown: the input script waits for it.
    monitor_ready: watch::Sender<bool>,
}

/// Joins with `code` and receives until the session ends. Messages from `input` go to the
/// agent's `input` channel; its closing hangs up. `Err` means the session could not start
/// (no server, no decode thread); otherwise the [`Outcome`] says how it ended. `resume` is the
/// token to rejoin with (codes are single-use) and, after, the one a later rejoin needs.
pub async fn run(
    server: &str,
    options: &ClientOptions,
    code: SessionCode,
    resume: &mut Option<String>,
    settings: &ViewerSettings,
    mut input: Option<&mut mpsc::Receiver<InputMsg>>,
) -> anyhow::Result<Outcome> {
    // Made first: the join commits to its fingerprint.
    let identity = DtlsIdentity::generate().context("cannot make a DTLS certificate")?;
    let mut client = SignalClient::connect(server, options).await?;
    client.hello(Role::Viewer, &settings.name).await?;
    let (tx, mut rx) = client.split();
    let mut viewing = Viewing::new(code, settings.connect_timeout, settings.ice.clone())
        .resuming(resume.take())
        .with_fingerprint(identity.fingerprint().to_owned());
    let mut io = Io {
        settings,
        tx,
        identity,
        peer: None,
        decoding: Decoding::start(
            settings.snapshot.clone(),
            settings.latency_probe,
            settings.ui.clone(),
        )
        .context("cannot start the decode thread")?,
        audio: AudioReceiver::start(settings.audio.clone())
            .context("cannot start the audio thread")?,
        audio_stats: None,
        input_channel: None,
        files: None,
        tasks: tokio::task::JoinSet::new(),
        monitor_ready: watch::channel(settings.monitor.is_none()).0,
    };
    let mut stats = StatsPrinter::new();
    let mut stats_tick = tokio::time::interval(STATS_EVERY);
    let ending = sleep_until_some(settings.duration.map(|d| tokio::time::Instant::now() + d));
    tokio::pin!(ending);
    let mut actions: VecDeque<Action> = viewing.start(Instant::now()).into();
    let outcome = 'session: loop {
        while let Some(action) = actions.pop_front() {
            if let Action::End(outcome) = action {
                break 'session outcome;
            }
            if let Some(event) = io.perform(action).await {
                actions.extend(viewing.handle(Instant::now(), event));
            }
        }
        let deadline = viewing.next_deadline().map(tokio::time::Instant::from_std);
        let event = tokio::select! {
            () = &mut ending => Event::HangUp,
            () = sleep_until_some(deadline) => Event::Timeout,
            _ = tokio::signal::ctrl_c() => Event::HangUp,
            msg = next_input(&mut input) => match msg {
                Some(msg) => {
                    send_input(io.input_channel.as_deref(), &msg).await;
                    continue;
                }
                None => Event::HangUp,
            },
            msg = rx.recv() => match msg {
                Ok(ServerMsg::Error(error)) => {
                    // Ended on, or ignored if it is about one message of a live session.
                    tracing::warn!(code = %error.code, "server: {}", error.message);
                    Event::Server(ServerMsg::Error(error))
                }
                Ok(msg) => Event::Server(msg),
                Err(err) => Event::SignalingLost(format!("{:#}", anyhow::Error::new(err))),
            },
            Some(event) = next_event(&mut io.peer) => match io.on_peer_event(event).await {
                Some(event) => event,
                None => continue,
            },
            _ = stats_tick.tick() => {
                io.print_stats(&mut stats, viewing.link_name()).await;
                continue;
            }
        };
        actions.extend(viewing.handle(Instant::now(), event));
    };
    io.finish().await;
    *resume = viewing.resume_token().map(str::to_owned);
    Ok(outcome)
}

impl Io<'_> {
    /// Carries out one action; what came of it, if the session must hear.
    async fn perform(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::Send(msg) => match self.tx.send(&msg).await {
                Ok(()) => None,
                Err(err) => Some(Event::SignalingLost(format!("{:#}", anyhow::Error::new(err)))),
            },
            Action::Report(report) => {
                say(self.settings.ui.as_deref(), &report);
                None
            }
            Action::Answer { ice, offer } => Some(match self.answer(&ice, offer).await {
                Ok(sdp) => Event::Answered(sdp),
                Err(err) => Event::AnswerFailed(format!("{err:#}")),
            }),
            Action::Reanswer(offer) => Some(match self.reanswer(offer).await {
                Ok(sdp) => Event::Answered(sdp),
                Err(err) => Event::AnswerFailed(format!("{err:#}")),
            }),
            Action::AddCandidate(candidate) => {
                if let Some(peer) = &mut self.peer {
                    peer.add_candidate(candidate).await;
                }
                None
            }
            // The session loop stops on it before asking.
            Action::End(_) => None,
        }
    }

    /// Makes the peer connection and answers the agent's offer.
    async fn answer(&mut self, ice: &IceConfig, offer: Sdp) -> anyhow::Result<Sdp> {
        let options = PeerOptions {
            ice: ice.clone(),
            udp_bind: self.settings.udp_bind.clone(),
            congestion: None,
            identity: Some(self.identity.clone()),
        };
        let peer = self.peer.insert(PeerLink::new(&options, Side::Answerer).await?);
        // The security code was reported by the session rules, from the fingerprints.
        peer.answer(offer).await.context("the offer could not be applied")
    }

    /// Answers a renegotiation offer (an ICE restart) on the live peer connection.
    async fn reanswer(&mut self, offer: Sdp) -> anyhow::Result<Sdp> {
        let peer = self.peer.as_mut().context("no peer connection to restart")?;
        peer.answer(offer).await.context("the restart offer could not be applied")
    }

    /// Media and channels are handled here; what the session rules need comes back as an event.
    async fn on_peer_event(&mut self, event: PeerEvent) -> Option<Event> {
        match event {
            PeerEvent::LocalCandidate(candidate) => return Some(Event::LocalCandidate(candidate)),
            PeerEvent::Track(track) if track.kind().await == RtpCodecKind::Audio => {
                self.audio_stats = Some(AudioStatsPrinter::new());
                self.tasks.spawn(self.audio.read_track(track));
            }
            PeerEvent::Track(track) => {
                if let Some(feeder) = self.decoding.feeder() {
                    self.tasks.spawn(read_track(track.clone(), feeder));
                    self.tasks.spawn(request_keyframes(track, self.decoding.shared.clone()));
                }
            }
            PeerEvent::State(LinkState::Connected) => {
                let pair = self.peer.as_ref()?.connected_pair().await;
                let pair = pair.map(|p| PairText { description: p.to_string(), kinds: p.kinds() });
                return Some(Event::Connected(pair));
            }
            PeerEvent::State(state) => {
                tracing::info!(?state, "connection state");
                return Some(Event::Link(state));
            }
            PeerEvent::DataChannel(channel) => {
                let label = channel.label().await.unwrap_or_default();
                match label.as_str() {
                    INPUT_CHANNEL => {
                        if let Some(script) = self.settings.input_script.clone() {
                            let ready = self.monitor_ready.subscribe();
                            self.tasks.spawn(input_script::play(channel.clone(), script, ready));
                        }
                        self.input_channel = Some(channel);
                    }
                    CLIPBOARD_CHANNEL => {
                        let text = self.settings.clipboard_text.clone();
                        let desktop = self.settings.ui.as_ref().and_then(|_| own_clipboard());
                        self.tasks.spawn(toolbox::clipboard::serve(channel, text, desktop));
                    }
                    CHAT_CHANNEL => {
                        let initial = self.settings.chat.clone();
                        self.tasks.spawn(toolbox::chat::serve(channel, initial));
                    }
                    FILES_CHANNEL => self.start_files(channel),
                    DISPLAY_CHANNEL => {
                        let (wanted, ready) = (self.settings.monitor, self.monitor_ready.clone());
                        self.tasks.spawn(display::serve(channel, wanted, ready));
                    }
                    _ => match &self.files {
                        Some(files) if transfer_id(&label).is_some() => {
                            files.transfer_channel(channel);
                        }
                        _ => tracing::info!(label, "unknown data channel ignored"),
                    },
                }
            }
        }
        None
    }

    /// File transfer on the agent's `files` channel; `--send-file`s are offered at once.
    fn start_files(&mut self, control: Arc<dyn DataChannel>) {
        let Some(peer) = &self.peer else { return };
        let settings = FilesSettings {
            policy: FilesPolicy::On,
            downloads: self.settings.downloads.clone(),
            id_prefix: 'v',
            peer: "the computer",
            cancel_after_bytes: self.settings.cancel_after_bytes,
            offer_name: self.settings.offer_name.clone(),
        };
        let files = Files::start(control, peer.pc().clone(), settings);
        for path in &self.settings.send_files {
            files.command(FilesCommand::Send(path.clone()));
        }
        self.files = Some(files);
    }

    /// The `stats:` line (and the audio one), once a peer connection exists.
    async fn print_stats(&mut self, stats: &mut StatsPrinter, link: &str) {
        let Some(peer) = &self.peer else { return };
        // Bounded: the stats line must never hold up the session loop.
        let network =
            tokio::time::timeout(STATS_BUDGET, network_stats(peer.pc().as_ref())).await.ok();
        let pair = tokio::time::timeout(STATS_BUDGET, selected_pair(peer.pc().as_ref()))
            .await
            .map_or("?".to_owned(), |pair| pair.map_or("none".to_owned(), |p| p.kinds()));
        if let Some(network) = &network {
            let rtt_us = (network.rtt_ms * 1000.0).max(0.0) as u64;
            self.decoding.shared.rtt_us.store(rtt_us, std::sync::atomic::Ordering::Relaxed);
        }
        let line = stats.line(&self.decoding.shared, network, link, pair);
        println!("{line}");
        if let Some(ui) = &self.settings.ui {
            ui.stats(&line);
        }
        if let Some(printer) = &mut self.audio_stats {
            println!("{}", printer.line(&self.audio.stats));
        }
    }

    /// Closes the connection, stops the threads and prints the latency summary.
    async fn finish(mut self) {
        if let Some(files) = self.files.take() {
            println!("{}", files.stop().await);
        }
        self.tasks.abort_all();
        if let Some(peer) = self.peer.take() {
            peer.close().await;
        }
        let shared = self.decoding.shared.clone();
        let (decoding, audio) = (self.decoding, self.audio);
        tokio::task::spawn_blocking(move || {
            decoding.stop();
            audio.stop();
        })
        .await
        .ok();
        if self.settings.latency_probe {
            println!("{}", latency_line(&shared.latencies()));
            println!("{}", shared.freezes());
        }
    }
}

/// The window's own X clipboard, shared with the computer's; `None` (said) if unreachable.
fn own_clipboard() -> Option<tether_media::desktop_clipboard::DesktopClipboard> {
    match tether_media::desktop_clipboard::DesktopClipboard::start() {
        Ok(clipboard) => Some(clipboard),
        Err(err) => {
            tracing::warn!(%err, "the clipboard is not shared");
            println!("clipboard: off ({err})");
            None
        }
    }
}

/// The run's result for a headless viewer: an error for refusals and failures.
pub fn outcome_result(outcome: Outcome) -> anyhow::Result<()> {
    match outcome.is_error() {
        true => Err(anyhow::anyhow!("{outcome}")),
        false => Ok(()),
    }
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn next_event(peer: &mut Option<PeerLink>) -> Option<PeerEvent> {
    match peer {
        Some(p) => p.next_event().await,
        None => std::future::pending().await,
    }
}

/// Prints a report's line and shows it in the window, if there is one.
fn say(ui: Option<&dyn SessionUi>, report: &Report) {
    println!("{report}");
    if let Some(ui) = ui {
        ui.report(report);
    }
}

async fn next_input(input: &mut Option<&mut mpsc::Receiver<InputMsg>>) -> Option<InputMsg> {
    match input {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Input before the agent opened its channel (or after it closed) is dropped: it would act
/// on a picture the user has not seen.
async fn send_input(channel: Option<&dyn DataChannel>, msg: &InputMsg) {
    let Some(channel) = channel else {
        tracing::debug!(?msg, "no input channel; input dropped");
        return;
    };
    tracing::debug!(?msg, "input");
    if let Err(err) = channel.send_text(&msg.encode()).await {
        tracing::debug!(%err, "input not sent");
    }
}
