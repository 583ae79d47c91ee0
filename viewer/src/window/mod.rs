//! The native viewer window: winit on the main thread, the session on tokio.
//!
//! ```text
//! main thread: winit event loop ── InputMsg (bounded, try_send) ──▶ tokio: session::run
//!      ▲  UiEvent::Frame (coalesced) / Line / Finished (EventLoopProxy)   │
//!      └──────────── tether-decode thread: latest picture in a slot ◀─────┘
//! ```
//!
//! The window shows the picture scaled to fit (or 1:1, panning with the pointer), a code prompt
//! when there is no code, the connection state, and a stats overlay; it sends mouse, wheel and
//! keys while focused and releases everything when focus goes. F10 toggles fit / 1:1, F11
//! fullscreen, F12 the stats overlay: those three stay with the viewer.

mod app;
mod font;
mod layout;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether_media::codec::DecodedFrame;
use tether_media::telemetry::ViewerStats;
use tether_proto::SessionCode;
use tether_proto::input::InputMsg;
use tether_session::viewing::{Outcome, Reconnect, Report};
use tether_signal_client::client::ClientOptions;
use tokio::sync::mpsc;
use winit::event_loop::{EventLoop, EventLoopProxy};

use crate::session::{self, ViewerSettings};
use crate::ui::SessionUi;

/// Input events queued towards the session; beyond this they are dropped (and counted).
const INPUT_QUEUE: usize = 512;

/// What the session side tells the window.
#[derive(Debug)]
pub enum UiEvent {
    /// A new picture is in the slot.
    Frame,
    /// Where the session is.
    Report(Report),
    /// What a `stats:` line said.
    Stats(ViewerStats),
    /// The session ended for good; show the prompt with this message.
    Finished(String),
}

/// The latest decoded picture, handed from the decode thread to the window.
#[derive(Default)]
pub struct FrameSlot {
    frame: Mutex<Option<DecodedFrame>>,
    pending: AtomicBool,
}

impl FrameSlot {
    /// Swaps the newest picture into `into` (its old buffer goes back for reuse).
    pub fn take_into(&self, into: &mut Option<DecodedFrame>) -> bool {
        self.pending.store(false, Ordering::Relaxed);
        match self.frame.lock() {
            Ok(mut slot) if slot.is_some() => {
                std::mem::swap(&mut *slot, into);
                true
            }
            _ => false,
        }
    }
}

/// The session's view of the window.
struct WindowLink {
    proxy: EventLoopProxy<UiEvent>,
    slot: Arc<FrameSlot>,
    /// Whether this attempt connected, for the reconnect decision.
    connected: AtomicBool,
}

impl SessionUi for WindowLink {
    fn report(&self, report: &Report) {
        if matches!(report, Report::Connected(_)) {
            self.connected.store(true, Ordering::Relaxed);
        }
        let _ = self.proxy.send_event(UiEvent::Report(report.clone()));
    }

    fn stats(&self, stats: &ViewerStats) {
        let _ = self.proxy.send_event(UiEvent::Stats(stats.clone()));
    }

    fn frame(&self, frame: &DecodedFrame) {
        if let Ok(mut slot) = self.slot.frame.lock() {
            match &mut *slot {
                Some(kept) => kept.clone_from(frame),
                None => *slot = Some(frame.clone()),
            }
        }
        // One wake-up per batch: the window takes the newest picture whenever it runs.
        if !self.slot.pending.swap(true, Ordering::Relaxed) {
            let _ = self.proxy.send_event(UiEvent::Frame);
        }
    }
}

/// Runs the window until it is closed. `code` may be `None`: the window asks for it.
pub fn run(
    runtime: tokio::runtime::Runtime,
    server: String,
    options: ClientOptions,
    code: Option<SessionCode>,
    mut settings: ViewerSettings,
) -> anyhow::Result<()> {
    let event_loop = EventLoop::<UiEvent>::with_user_event().build()?;
    let slot = Arc::new(FrameSlot::default());
    let link = Arc::new(WindowLink {
        proxy: event_loop.create_proxy(),
        slot: slot.clone(),
        connected: AtomicBool::new(false),
    });
    settings.ui = Some(link.clone());
    let (code_tx, code_rx) = mpsc::channel(4);
    let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE);
    let sessions = runtime.spawn(sessions(server, options, settings, code_rx, input_rx, link));
    let mut app = app::App::new(slot, code_tx, input_tx, code);
    event_loop.run_app(&mut app)?;
    // Closing the window dropped the input sender: the session hangs up on its own.
    drop(app);
    let _ =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(3), sessions).await });
    Ok(())
}

/// One session per code from the prompt, joined again after a dropped connection.
async fn sessions(
    server: String,
    options: ClientOptions,
    settings: ViewerSettings,
    mut codes: mpsc::Receiver<SessionCode>,
    mut input: mpsc::Receiver<InputMsg>,
    link: Arc<WindowLink>,
) {
    while let Some(code) = codes.recv().await {
        let mut reconnect = Reconnect::default();
        // Codes are single-use: a rejoin after a dropped session needs the server's token.
        let mut resume = None;
        loop {
            link.connected.store(false, Ordering::Relaxed);
            let ran =
                session::run(&server, &options, code, &mut resume, &settings, Some(&mut input))
                    .await;
            if input.is_closed() {
                return;
            }
            // A session that could not start (no server) counts as a failure like any other.
            let outcome = ran.unwrap_or_else(|err| Outcome::Failed(format!("{err:#}")));
            if outcome.is_error() {
                tracing::warn!("session ended: {outcome}");
            }
            let connected = link.connected.load(Ordering::Relaxed);
            if let Some(pause) = reconnect.after(connected, &outcome) {
                link.report(&Report::Retrying(pause));
                tokio::time::sleep(pause).await;
                continue;
            }
            let _ = link.proxy.send_event(UiEvent::Finished(finished_message(outcome)));
            break;
        }
    }
}

/// What the prompt shows after the last session: the error, or how it ended.
fn finished_message(outcome: Outcome) -> String {
    match outcome.is_error() {
        true => outcome.to_string(),
        false => Report::Ended(outcome).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_proto::signal::{Bye, ByeReason};

    #[test]
    fn the_prompt_says_how_the_session_ended() {
        let stopped = Outcome::Bye(Bye { reason: ByeReason::Stopped, message: None });
        assert_eq!(finished_message(stopped), "state: ended (the person stopped sharing)");
        let denied = Outcome::Bye(Bye { reason: ByeReason::Denied, message: None });
        assert_eq!(finished_message(denied), "the person declined");
    }
}
