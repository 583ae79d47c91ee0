//! Clipboard sharing for one session: the `clipboard` data channel on one side, the desktop's
//! clipboard on the other, `tether_session::clipboard::ClipboardSync` deciding between them.
//!
//! ```text
//! tokio task:          `clipboard` channel -> decode -> ClipboardSync -> set / refuse / answer
//! tether-clipboard:    XFixes owner change -> read CLIPBOARD -> ClipboardSync -> send
//! ```
//! In view-only sessions and with `--no-clipboard` the desktop's clipboard is never opened:
//! every text from the viewer is refused (and counted) and nothing is sent.

use std::sync::Arc;
use std::time::Duration;

use tether_media::telemetry::ClipboardStats;
use tether_proto::clipboard::{ClipboardMsg, ClipboardRefusal};
use tether_session::clipboard::{ClipboardPolicy, ClipboardSync, Incoming, Outgoing};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use webrtc::data_channel::{
    DataChannel, DataChannelEvent, RTCDataChannelMessage, RTCDataChannelState,
};

use tether_media::desktop_clipboard::{DesktopClipboard, FromDesktop};

/// How often the counters are printed while they change.
const PRINT_EVERY: Duration = Duration::from_secs(1);

/// The running clipboard sharing of one session.
pub struct ClipboardService {
    stop: oneshot::Sender<()>,
    task: JoinHandle<(ClipboardStats, Option<DesktopClipboard>)>,
}

impl ClipboardService {
    /// Serves `channel` under `policy`; the desktop's clipboard is opened only if it is `On`.
    pub fn start(channel: Arc<dyn DataChannel>, policy: ClipboardPolicy) -> Self {
        let desktop = match policy {
            ClipboardPolicy::On => match DesktopClipboard::start() {
                Ok(desktop) => Some(desktop),
                Err(err) => {
                    tracing::warn!(%err, "no clipboard sharing in this session");
                    println!("clipboard: off ({err})");
                    None
                }
            },
            ClipboardPolicy::ViewOnly | ClipboardPolicy::Off => None,
        };
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(channel, ClipboardSync::new(policy), desktop, stopped));
        ClipboardService { stop, task }
    }

    /// Stops sharing; the session's counters.
    pub async fn stop(self) -> ClipboardStats {
        let _ = self.stop.send(());
        let Ok((stats, desktop)) = self.task.await else { return ClipboardStats::default() };
        if let Some(desktop) = desktop {
            // Joining waits up to one poll interval of the thread.
            let _ = tokio::task::spawn_blocking(move || desktop.stop()).await;
        }
        stats
    }
}

async fn serve(
    channel: Arc<dyn DataChannel>,
    mut sync: ClipboardSync,
    mut desktop: Option<DesktopClipboard>,
    mut stopped: oneshot::Receiver<()>,
) -> (ClipboardStats, Option<DesktopClipboard>) {
    let mut share = Sharing { channel, stats: ClipboardStats::default() };
    let announcement = sync.announcement();
    if let Some(off) = &announcement
        && matches!(share.channel.ready_state().await, Ok(RTCDataChannelState::Open))
    {
        share.send(off).await;
    }
    let mut print_tick = tokio::time::interval(PRINT_EVERY);
    let mut printed = ClipboardStats::default();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            event = share.channel.poll() => match event {
                Some(DataChannelEvent::OnMessage(msg)) => {
                    share.on_viewer_message(&mut sync, desktop.as_ref(), &msg).await;
                }
                Some(DataChannelEvent::OnOpen) => {
                    if let Some(off) = &announcement {
                        share.send(off).await;
                    }
                }
                Some(DataChannelEvent::OnClose) | None => break,
                Some(_) => {}
            },
            Some(event) = next_desktop_event(&mut desktop) => {
                share.on_desktop_event(&mut sync, event).await;
            }
            _ = print_tick.tick() => {
                if share.stats != printed {
                    println!("{}", share.stats);
                    printed = share.stats;
                }
            }
        }
    }
    (share.stats, desktop)
}

async fn next_desktop_event(desktop: &mut Option<DesktopClipboard>) -> Option<FromDesktop> {
    match desktop {
        Some(d) => d.events.recv().await,
        None => std::future::pending().await,
    }
}

struct Sharing {
    channel: Arc<dyn DataChannel>,
    stats: ClipboardStats,
}

impl Sharing {
    async fn on_viewer_message(
        &mut self,
        sync: &mut ClipboardSync,
        desktop: Option<&DesktopClipboard>,
        msg: &RTCDataChannelMessage,
    ) {
        self.stats.received += 1;
        match sync.received(decode(msg)) {
            Incoming::Apply { seq, text } => {
                let queued = desktop.is_some_and(|d| d.set(seq, text));
                if !queued {
                    self.refuse(ClipboardMsg::Refused { seq, reason: ClipboardRefusal::Failed })
                        .await;
                }
            }
            Incoming::Refuse(answer) => self.refuse(answer).await,
            Incoming::Answered { seq, refusal: None } => tracing::debug!(seq, "viewer applied"),
            Incoming::Answered { seq, refusal: Some(reason) } => {
                tracing::info!(seq, ?reason, "the viewer did not take the clipboard text");
            }
            Incoming::PeerOff(reason) => tracing::info!(?reason, "the viewer shares no clipboard"),
            Incoming::Malformed(err) => {
                self.stats.malformed += 1;
                let n = self.stats.malformed;
                if n <= 3 || n.is_power_of_two() {
                    tracing::warn!(%err, malformed = n, "clipboard message dropped");
                }
            }
        }
    }

    async fn on_desktop_event(&mut self, sync: &mut ClipboardSync, event: FromDesktop) {
        match event {
            FromDesktop::Changed(text) => match sync.local_changed(text) {
                Outgoing::Send(msg) => {
                    self.stats.sent += 1;
                    self.send(&msg).await;
                }
                Outgoing::Echo | Outgoing::NotShared => {}
                Outgoing::Unfit(bytes) => {
                    self.stats.unfit += 1;
                    tracing::info!(bytes, "clipboard text not shared: too long or not plain text");
                }
            },
            FromDesktop::Set { seq, text, ok } => {
                let answer = sync.applied(seq, text, ok);
                match ok {
                    true => self.stats.applied += 1,
                    false => self.stats.refused += 1,
                }
                self.send(&answer).await;
            }
        }
    }

    async fn refuse(&mut self, answer: ClipboardMsg) {
        self.stats.refused += 1;
        let n = self.stats.refused;
        if n <= 3 || n.is_power_of_two() {
            tracing::warn!(?answer, refused = n, "clipboard text refused");
        }
        self.send(&answer).await;
    }

    async fn send(&self, msg: &ClipboardMsg) {
        if let Err(err) = self.channel.send_text(&msg.encode()).await {
            tracing::debug!(%err, "clipboard message not sent");
        }
    }
}

/// A data channel message as a clipboard message: only UTF-8 text.
fn decode(
    msg: &RTCDataChannelMessage,
) -> Result<ClipboardMsg, tether_proto::clipboard::ClipboardError> {
    use tether_proto::clipboard::ClipboardError;
    if !msg.is_string {
        return Err(ClipboardError::Malformed("binary message on the clipboard channel".into()));
    }
    let text = std::str::from_utf8(&msg.data)
        .map_err(|_| ClipboardError::Malformed("text message that is not UTF-8".into()))?;
    ClipboardMsg::decode(text)
}
