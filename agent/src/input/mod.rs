//! The input stage: the viewer's mouse and keyboard on this desktop.
//!
//! ```text
//! tokio reader task:     `input` data channel -> decode, count -> (view-only: refuse)
//!                          --try_send, bounded (256)--> tether-input thread
//! tether-input thread:   Injector (placement, held keys, actions) -> InputSink (enigo, XTEST)
//! ```
//! Injection blocks (every XTEST request waits for the server), so it runs on its own named
//! thread. Malformed messages, refusals in view-only mode, a full queue and failed injections
//! are counted ([`InputStats`]) and dropped; none ends the session. Whatever is still held when
//! the session ends is released.

mod channel;
mod enigo_sink;
mod held;
mod injector;
mod keys;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tether_media::telemetry;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, RTCDataChannelInit};

use crate::capture::{CaptureError, MonitorRect, ShownMonitor};
use enigo_sink::EnigoSink;
pub use held::MouseButton;
use injector::Injector;
pub use keys::Evdev;

/// Messages waiting for the injector; more than this and the viewer is far ahead of the desktop.
const QUEUE: usize = 256;

/// Where injected input goes: pixel positions on the screen and physical keys.
pub trait InputSink {
    /// The shared monitor's rectangle on the screen the pointer moves on.
    fn monitor(&mut self) -> Result<MonitorRect, InjectError>;
    fn move_to(&mut self, x: i32, y: i32) -> Result<(), InjectError>;
    fn button(&mut self, button: MouseButton, down: bool) -> Result<(), InjectError>;
    /// Whole wheel notches; positive is right and down.
    fn scroll(&mut self, dx: i32, dy: i32) -> Result<(), InjectError>;
    fn key(&mut self, key: Evdev, down: bool) -> Result<(), InjectError>;
    /// Text without newlines or tabs (the injector sends those as keys).
    fn text(&mut self, text: &str) -> Result<(), InjectError>;
}

/// Why input could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("cannot reach the desktop for remote control: {0}")]
    Open(String),
    #[error("cannot place the pointer: {0}")]
    Geometry(#[from] CaptureError),
    #[error("injection failed: {0}")]
    Inject(String),
    #[error("a key or button the desktop does not have")]
    Unsupported,
}

/// Per-session input settings, decided when the person allows the viewer.
#[derive(Debug, Clone)]
pub struct InputSettings {
    /// Inject nothing; refuse (and count) every input message.
    pub view_only: bool,
    /// The monitor the viewer sees, on which pointer positions are placed.
    pub shown: Arc<ShownMonitor>,
}

/// The `input` data channel as the agent creates it: ordered and reliable (a lost or
/// reordered key release would leave a key stuck).
pub fn channel_init() -> RTCDataChannelInit {
    RTCDataChannelInit {
        ordered: true,
        max_packet_life_time: None,
        max_retransmits: None,
        ..Default::default()
    }
}

/// What happened to the messages of one session.
#[derive(Debug, Default)]
pub struct InputStats {
    received: AtomicU64,
    injected: AtomicU64,
    malformed: AtomicU64,
    refused: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

impl InputStats {
    /// The counters now, printed as the `input:` line.
    pub fn snapshot(&self) -> telemetry::InputStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        telemetry::InputStats {
            received: get(&self.received),
            injected: get(&self.injected),
            malformed: get(&self.malformed),
            refused: get(&self.refused),
            dropped: get(&self.dropped),
            failed: get(&self.failed),
        }
    }

    fn add(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// One session's input: the channel reader task and, unless view-only, the injector thread.
pub struct InputService {
    reader: tokio::task::JoinHandle<()>,
    injector: Option<std::thread::JoinHandle<()>>,
    stats: Arc<InputStats>,
    stopping: Arc<AtomicBool>,
}

impl InputService {
    /// Starts reading `channel`; must run inside the tokio runtime.
    pub fn start(channel: Arc<dyn DataChannel>, settings: InputSettings) -> std::io::Result<Self> {
        let stats = Arc::new(InputStats::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let (tx, injector) = if settings.view_only {
            tracing::info!("view-only session: input from the viewer is refused");
            (None, None)
        } else {
            let (tx, rx) = mpsc::channel(QUEUE);
            let (stats, stopping) = (stats.clone(), stopping.clone());
            let thread = std::thread::Builder::new()
                .name("tether-input".into())
                .spawn(move || inject(rx, settings.shown, &stats, &stopping))?;
            (Some(tx), Some(thread))
        };
        let reader = tokio::spawn(channel::read(channel, tx, stats.clone()));
        Ok(InputService { reader, injector, stats, stopping })
    }

    /// Stops reading, releases whatever the viewer still holds and joins the thread. Returns
    /// the session's counters (the last `input:` line).
    pub async fn stop(mut self) -> telemetry::InputStats {
        self.cut();
        // The task is gone once awaited, and with it the queue's sender: the thread sees the
        // end of the queue, releases held keys and returns.
        let _ = (&mut self.reader).await;
        if let Some(thread) = self.injector.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.stats.snapshot()
    }

    /// Injects nothing more: the thread skips what is queued and releases what is held.
    fn cut(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.reader.abort();
    }
}

impl Drop for InputService {
    /// Dropped without `stop` (an error path): the thread still ends, on its own.
    fn drop(&mut self) {
        self.cut();
    }
}

/// The `tether-input` thread: opens the desktop and injects until the queue ends.
fn inject(
    mut rx: mpsc::Receiver<tether_proto::input::InputMsg>,
    shown: Arc<ShownMonitor>,
    stats: &InputStats,
    stopping: &AtomicBool,
) {
    let mut injector = match EnigoSink::open(shown) {
        Ok(sink) => Injector::new(sink),
        Err(err) => {
            tracing::error!(%err, "remote control is unavailable in this session");
            while rx.blocking_recv().is_some() {
                InputStats::add(&stats.failed);
            }
            return;
        }
    };
    while let Some(msg) = rx.blocking_recv() {
        if stopping.load(Ordering::Relaxed) {
            break;
        }
        match injector.handle(msg) {
            Ok(()) => {
                InputStats::add(&stats.injected);
            }
            Err(err) => {
                let n = InputStats::add(&stats.failed);
                if n <= 3 || n.is_power_of_two() {
                    tracing::warn!(%err, failed = n, "input not injected");
                }
            }
        }
    }
    if let Err(err) = injector.release_all() {
        tracing::warn!(%err, "could not release every held key and button");
    }
}
