//! The `display` channel of one session: the viewer learns the monitors and picks the one it
//! sees; capture and input follow through the session's [`ShownMonitor`].
//!
//! ```text
//! tether-monitors thread: RandR events / 2 s backstop -> monitor list --watch--> task
//! tokio task:             `display` channel <-> MonitorControl -> ShownMonitor (capture, input)
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tether_proto::display::{DisplayMsg, Monitor, ShowRefusal};
use tether_session::monitors::{MonitorControl, Shown};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelState};

use crate::capture::{MonitorWatch, ShownMonitor};

/// How often the thread looks for RandR events.
const EVENT_POLL: Duration = Duration::from_millis(200);
/// How often it re-reads the list without an event (not every server reports every change).
const LIST_BACKSTOP: Duration = Duration::from_secs(2);

/// What happened on the channel in one session, printed as the `display:` line at the end.
#[derive(Debug, Default)]
struct Counts {
    switches: AtomicU64,
    refused: AtomicU64,
    malformed: AtomicU64,
}

impl Counts {
    fn add(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// One session's monitor choice.
pub struct DisplayService {
    task: JoinHandle<()>,
    counts: Arc<Counts>,
    watcher: Option<std::thread::JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
}

impl DisplayService {
    /// Serves `channel`; `control` decides, `shown` is what capture and input read.
    pub fn start(
        channel: Arc<dyn DataChannel>,
        control: MonitorControl,
        shown: Arc<ShownMonitor>,
    ) -> std::io::Result<Self> {
        let stopping = Arc::new(AtomicBool::new(false));
        let (lists, list) = watch::channel(Vec::new());
        let watcher = std::thread::Builder::new().name("tether-monitors".into()).spawn({
            let stopping = stopping.clone();
            move || watch_monitors(&lists, &stopping)
        })?;
        let counts = Arc::new(Counts::default());
        let task = tokio::spawn(serve(channel, control, shown, list, counts.clone()));
        Ok(DisplayService { task, counts, watcher: Some(watcher), stopping })
    }

    /// Stops; prints the session's `display:` line.
    pub async fn stop(mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.task.abort();
        let _ = (&mut self.task).await;
        if let Some(watcher) = self.watcher.take() {
            let _ = tokio::task::spawn_blocking(move || watcher.join()).await;
        }
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let c = &self.counts;
        println!(
            "display: switches={} refused={} malformed={}",
            get(&c.switches),
            get(&c.refused),
            get(&c.malformed)
        );
    }
}

impl Drop for DisplayService {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.task.abort();
    }
}

/// The `tether-monitors` thread: publishes the list whenever it changes.
fn watch_monitors(lists: &watch::Sender<Vec<Monitor>>, stopping: &AtomicBool) {
    let watch = match MonitorWatch::open(None) {
        Ok(watch) => watch,
        Err(err) => {
            tracing::warn!(%err, "no monitor list for the viewer");
            return;
        }
    };
    let mut listed_at: Option<Instant> = None;
    while !stopping.load(Ordering::Relaxed) && !lists.is_closed() {
        let due = listed_at.is_none_or(|at| at.elapsed() >= LIST_BACKSTOP);
        match watch
            .changed()
            .map(|event| event || due)
            .and_then(|read| if read { watch.list().map(Some) } else { Ok(None) })
        {
            Ok(Some(list)) => {
                listed_at = Some(Instant::now());
                lists.send_if_modified(|old| {
                    let changed = *old != list;
                    *old = list;
                    changed
                });
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(%err, "the monitor list is gone");
                return;
            }
        }
        std::thread::sleep(EVENT_POLL);
    }
}

async fn serve(
    channel: Arc<dyn DataChannel>,
    mut control: MonitorControl,
    shown: Arc<ShownMonitor>,
    mut lists: watch::Receiver<Vec<Monitor>>,
    counts: Arc<Counts>,
) {
    let mut open = matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open));
    loop {
        tokio::select! {
            changed = lists.changed() => {
                if changed.is_err() {
                    // The thread ended: no more list changes, the channel still answers.
                    lists = watch::channel(Vec::new()).1;
                    continue;
                }
                let list = lists.borrow_and_update().clone();
                if !list.is_empty() && control.update_list(list) {
                    follow(&control, &shown);
                    if open {
                        announce(channel.as_ref(), &control).await;
                    }
                }
            }
            event = channel.poll() => match event {
                Some(DataChannelEvent::OnOpen) => {
                    open = true;
                    announce(channel.as_ref(), &control).await;
                }
                Some(DataChannelEvent::OnMessage(msg)) => {
                    let text = msg.is_string.then(|| std::str::from_utf8(&msg.data).ok()).flatten();
                    let wanted = match text.map(DisplayMsg::decode) {
                        Some(Ok(DisplayMsg::Show { monitor })) => Shown::Monitor(monitor),
                        Some(Ok(DisplayMsg::ShowAll {})) => Shown::All,
                        _ => {
                            let n = Counts::add(&counts.malformed);
                            if n <= 3 || n.is_power_of_two() {
                                tracing::warn!(malformed = n, "display message dropped");
                            }
                            continue;
                        }
                    };
                    match control.request(wanted) {
                        Ok(_) => {
                            Counts::add(&counts.switches);
                            follow(&control, &shown);
                            announce(channel.as_ref(), &control).await;
                        }
                        Err(reason) => {
                            Counts::add(&counts.refused);
                            println!("display: refused {reason:?}");
                            refuse(channel.as_ref(), reason).await;
                        }
                    }
                }
                Some(DataChannelEvent::OnClose) | None => break,
                Some(_) => {}
            },
        }
    }
}

/// Points capture and input at the control's choice, and says so when it changed.
fn follow(control: &MonitorControl, shown: &ShownMonitor) {
    let now = control.shown();
    if shown.get() == now {
        return;
    }
    shown.set(now);
    let monitors = control.announcement().map(|a| a.monitors).unwrap_or_default();
    match now_monitor(&monitors, now) {
        Some(m) => println!(
            "display: showing {} {:?} {}x{}+{}+{}",
            index_text(now),
            m.name,
            m.width,
            m.height,
            m.x,
            m.y
        ),
        None => println!("display: showing {}", index_text(now)),
    }
}

fn now_monitor(monitors: &[Monitor], shown: Shown) -> Option<&Monitor> {
    match shown {
        Shown::Monitor(n) => monitors.get(n),
        Shown::All => None,
    }
}

fn index_text(shown: Shown) -> String {
    match shown {
        Shown::Monitor(n) => n.to_string(),
        Shown::All => "all".into(),
    }
}

async fn announce(channel: &dyn DataChannel, control: &MonitorControl) {
    if let Some(list) = control.announcement() {
        send(channel, &DisplayMsg::Monitors(list)).await;
    }
}

async fn refuse(channel: &dyn DataChannel, reason: ShowRefusal) {
    send(channel, &DisplayMsg::Refused { reason }).await;
}

async fn send(channel: &dyn DataChannel, msg: &DisplayMsg) {
    if let Err(err) = channel.send_text(&msg.encode()).await {
        tracing::debug!(%err, "display message not sent");
    }
}
