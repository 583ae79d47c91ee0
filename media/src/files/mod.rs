//! File transfer for one session, the same on both peers: the `files` control channel, one
//! data channel per transfer, the files on disk. The rules (which offers to take, safe names,
//! the length check) are `tether_session::files`; `docs/protocol.md` has the exchange.
//!
//! ```text
//! tokio task (Files):  `files` channel <-> offers, answers, cancels; UI commands; peer-opened
//!                      `file:<id>` channels; a progress line each second
//!   per transfer task: send::send_file (chunks, back-pressure, end+hash)
//!                   or receive (chunks -> disk::IncomingFile -> check -> final name)
//! ```
//! Every line is printed as `file: …` (names as JSON strings), the session's counters as
//! `files: …` when it ends.

pub mod disk;
mod send;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tether_proto::chat::printable;
use tether_proto::files::{FileMsg, FileRefusal, TransferEnd, transfer_id, transfer_label};
use tether_session::files::{FilesPolicy, Received, decide_offer};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::PeerConnection;

use crate::telemetry::FileStats;
use disk::IncomingFile;
pub use send::MAX_IN_FLIGHT;

/// How often running transfers print their progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Commands from the UI waiting for the task.
const COMMANDS: usize = 16;

/// One side's settings.
#[derive(Debug, Clone)]
pub struct FilesSettings {
    /// Whether offers from the other side are taken.
    pub policy: FilesPolicy,
    /// Where received files go.
    pub downloads: PathBuf,
    /// The first letter of this side's transfer ids: `a` (agent) or `v` (viewer).
    pub id_prefix: char,
    /// How the other side is named in printed lines ("the viewer", "the computer").
    pub peer: &'static str,
    /// Cancel the first file this side sends once this many bytes went (for tests).
    pub cancel_after_bytes: Option<u64>,
    /// Offer the first file under this name rather than its own (for tests).
    pub offer_name: Option<String>,
}

/// What the user asks for.
#[derive(Debug)]
pub enum FilesCommand {
    /// Offer this file to the other side.
    Send(PathBuf),
    /// Cancel every running transfer.
    CancelAll,
}

/// The running file transfer of one session.
pub struct Files {
    commands: mpsc::Sender<FilesCommand>,
    channels: mpsc::Sender<Arc<dyn DataChannel>>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<FileStats>,
}

impl Files {
    /// Serves the `files` channel `control`; transfer channels this side sends on are opened
    /// on `pc`.
    pub fn start(
        control: Arc<dyn DataChannel>,
        pc: Arc<dyn PeerConnection>,
        settings: FilesSettings,
    ) -> Self {
        let (commands, commands_rx) = mpsc::channel(COMMANDS);
        let (channels, channels_rx) = mpsc::channel(8);
        let (stop, stopped) = oneshot::channel();
        let endpoint = Endpoint::new(control, pc, settings);
        let task = tokio::spawn(endpoint.run(commands_rx, channels_rx, stopped));
        Files { commands, channels, stop, task }
    }

    /// Passes a command on; `false` if the queue is full or the session over.
    pub fn command(&self, command: FilesCommand) -> bool {
        self.commands.try_send(command).is_ok()
    }

    /// A `file:<id>` channel the other side opened.
    pub fn transfer_channel(&self, channel: Arc<dyn DataChannel>) {
        if let Err(mpsc::error::TrySendError::Full(channel)) = self.channels.try_send(channel) {
            tokio::spawn(async move { channel.close().await });
        }
    }

    /// Stops every transfer (partial files are deleted); the session's counters.
    pub async fn stop(self) -> FileStats {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// A transfer this side sends.
struct Outgoing {
    path: PathBuf,
    name: String,
    size: u64,
    sent: Arc<AtomicU64>,
    started: Option<Instant>,
    /// Its transfer channel, once open: closed when the receiver has answered.
    channel: Option<Arc<dyn DataChannel>>,
}

/// A transfer this side receives.
struct Incoming {
    name: String,
    size: u64,
    received: Arc<AtomicU64>,
    started: Instant,
    /// The channel has come; its task runs.
    running: bool,
}

/// How a transfer task ended.
enum Finished {
    Sent { id: String, result: Result<String, send::SendError> },
    Received { id: String, result: Result<PathBuf, FileRefusal> },
}

struct Endpoint {
    control: Arc<dyn DataChannel>,
    pc: Arc<dyn PeerConnection>,
    settings: FilesSettings,
    next_id: u64,
    outgoing: HashMap<String, Outgoing>,
    incoming: HashMap<String, Incoming>,
    /// Every id the other side used in this session.
    seen_ids: std::collections::HashSet<String>,
    tasks: JoinSet<Finished>,
    aborts: HashMap<String, tokio::task::AbortHandle>,
    stats: FileStats,
}

impl Endpoint {
    fn new(
        control: Arc<dyn DataChannel>,
        pc: Arc<dyn PeerConnection>,
        settings: FilesSettings,
    ) -> Self {
        Endpoint {
            control,
            pc,
            settings,
            next_id: 0,
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
            seen_ids: Default::default(),
            tasks: JoinSet::new(),
            aborts: HashMap::new(),
            stats: FileStats::default(),
        }
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<FilesCommand>,
        mut channels: mpsc::Receiver<Arc<dyn DataChannel>>,
        mut stopped: oneshot::Receiver<()>,
    ) -> FileStats {
        let mut progress = tokio::time::interval(PROGRESS_EVERY);
        let control = self.control.clone();
        // Commands wait (queued) until the channel can carry their offers.
        if !opened(&control).await {
            return self.stats;
        }
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                event = control.poll() => match event {
                    Some(DataChannelEvent::OnMessage(msg)) => self.on_message(&msg.data, msg.is_string).await,
                    Some(DataChannelEvent::OnClose) | None => break,
                    Some(_) => {}
                },
                Some(command) = commands.recv() => self.on_command(command).await,
                Some(channel) = channels.recv() => self.on_channel(channel).await,
                Some(Ok(finished)) = self.tasks.join_next() => self.on_finished(finished).await,
                _ = progress.tick() => self.print_progress(),
            }
        }
        // Aborted tasks drop their IncomingFile: partial files are deleted.
        self.tasks.shutdown().await;
        self.stats
    }

    async fn say(&self, msg: &FileMsg) {
        if let Err(err) = self.control.send_text(&msg.encode()).await {
            tracing::debug!(%err, "file message not sent");
        }
    }

    async fn on_message(&mut self, data: &[u8], is_text: bool) {
        let decoded = match (is_text, std::str::from_utf8(data)) {
            (true, Ok(text)) => FileMsg::decode(text),
            _ => Err(tether_proto::files::FileMsgError::Malformed("not text".into())),
        };
        let msg = match decoded {
            Ok(msg) => msg,
            Err(err) => {
                self.stats.malformed += 1;
                tracing::warn!(%err, "file message dropped");
                return;
            }
        };
        match msg {
            FileMsg::Offer { id, name, size } => self.on_offer(id, name, size).await,
            FileMsg::Accept { id } => self.on_accept(&id).await,
            FileMsg::Reject { id, reason } => {
                if let Some(out) = self.outgoing.remove(&id) {
                    self.stats.rejected += 1;
                    println!(
                        "file: rejected {} reason={} ({})",
                        printable(&out.name),
                        wire(reason),
                        reason.explain()
                    );
                }
            }
            FileMsg::Saved { id, name } => {
                if let Some(out) = self.outgoing.remove(&id) {
                    close(out.channel.as_ref());
                    self.stats.sent += 1;
                    let secs = out.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
                    println!(
                        "file: sent {} ({}, {secs:.1} s, {}/s), saved there as {}",
                        printable(&out.name),
                        size_text(out.size),
                        size_text(rate(out.size, secs)),
                        printable(&name)
                    );
                }
            }
            FileMsg::Failed { id, reason } => {
                if let Some(out) = self.outgoing.remove(&id) {
                    close(out.channel.as_ref());
                    self.stats.failed += 1;
                    self.abort(&id);
                    println!(
                        "file: failed {} reason={} ({})",
                        printable(&out.name),
                        wire(reason),
                        reason.explain()
                    );
                }
            }
            FileMsg::Cancel { id } => self.cancelled(&id, self.settings.peer),
        }
    }

    async fn on_offer(&mut self, id: String, name: String, size: u64) {
        let running = self.outgoing.len() + self.incoming.len();
        let used = !self.seen_ids.insert(id.clone());
        if let Err(reason) = decide_offer(self.settings.policy, &id, size, running, used) {
            self.stats.rejected += 1;
            println!(
                "file: refused {} ({}) from {}: {}",
                printable(&name),
                size_text(size),
                self.settings.peer,
                reason.explain()
            );
            self.say(&FileMsg::Reject { id, reason }).await;
            return;
        }
        println!(
            "file: receiving {} ({}) from {}",
            printable(&name),
            size_text(size),
            self.settings.peer
        );
        let received = Arc::new(AtomicU64::new(0));
        let incoming = Incoming { name, size, received, started: Instant::now(), running: false };
        self.incoming.insert(id.clone(), incoming);
        self.say(&FileMsg::Accept { id }).await;
    }

    async fn on_accept(&mut self, id: &str) {
        let Some(out) = self.outgoing.get_mut(id) else { return };
        out.started = Some(Instant::now());
        let init = RTCDataChannelInit { ordered: true, ..Default::default() };
        let channel = match self.pc.create_data_channel(&transfer_label(id), Some(init)).await {
            Ok(channel) => channel,
            Err(err) => {
                println!("file: failed {} (cannot open its channel: {err})", printable(&out.name));
                self.say(&FileMsg::Cancel { id: id.to_owned() }).await;
                self.outgoing.remove(id);
                self.stats.failed += 1;
                return;
            }
        };
        out.channel = Some(channel.clone());
        let (path, size, sent) = (out.path.clone(), out.size, out.sent.clone());
        let cancel_at = self.settings.cancel_after_bytes.take();
        let id = id.to_owned();
        let task_id = id.clone();
        let abort = self.tasks.spawn(async move {
            let sending = send::send_file(&channel, &path, size, &sent);
            let result = match cancel_at {
                None => sending.await,
                Some(at) => cancel_when(sending, &sent, at).await,
            };
            if result.is_err() {
                let _ = channel.close().await;
            }
            Finished::Sent { id: task_id, result }
        });
        self.aborts.insert(id, abort);
    }

    /// Forgets transfer `id`, stopping its task (a partial file is deleted), and says so.
    fn cancelled(&mut self, id: &str, by: &str) {
        let name = match (self.incoming.remove(id), self.outgoing.remove(id)) {
            (Some(incoming), _) => incoming.name,
            (None, Some(out)) => {
                close(out.channel.as_ref());
                out.name
            }
            (None, None) => return,
        };
        self.abort(id);
        self.stats.cancelled += 1;
        println!("file: cancelled {} by {by}", printable(&name));
    }

    fn abort(&mut self, id: &str) {
        if let Some(abort) = self.aborts.remove(id) {
            abort.abort();
        }
    }

    async fn on_command(&mut self, command: FilesCommand) {
        match command {
            FilesCommand::Send(path) => self.offer(path).await,
            FilesCommand::CancelAll => {
                let ids: Vec<String> =
                    self.outgoing.keys().chain(self.incoming.keys()).cloned().collect();
                for id in ids {
                    self.say(&FileMsg::Cancel { id: id.clone() }).await;
                    self.cancelled(&id, "this side");
                }
            }
        }
    }

    async fn offer(&mut self, path: PathBuf) {
        let size = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(_) => return println!("file: not sent ({} is not a file)", path.display()),
            Err(err) => return println!("file: not sent ({}: {err})", path.display()),
        };
        let own = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name = self.settings.offer_name.take().unwrap_or(own);
        self.next_id += 1;
        let id = format!("{}{}", self.settings.id_prefix, self.next_id);
        println!(
            "file: offering {} ({}) to {}",
            printable(&name),
            size_text(size),
            self.settings.peer
        );
        let sent = Arc::new(AtomicU64::new(0));
        self.say(&FileMsg::Offer { id: id.clone(), name: name.clone(), size }).await;
        self.outgoing.insert(id, Outgoing { path, name, size, sent, started: None, channel: None });
    }

    /// A transfer channel the other side opened: taken only for an offer this side accepted.
    async fn on_channel(&mut self, channel: Arc<dyn DataChannel>) {
        let label = channel.label().await.unwrap_or_default();
        let accepted = transfer_id(&label)
            .map(str::to_owned)
            .filter(|id| self.incoming.get(id).is_some_and(|t| !t.running));
        let Some(id) = accepted else {
            self.stats.unexpected += 1;
            tracing::warn!(label, "unexpected data channel closed");
            let _ = channel.close().await;
            return;
        };
        let Some(transfer) = self.incoming.get_mut(&id) else { return };
        transfer.running = true;
        transfer.started = Instant::now();
        let file = IncomingFile::create(&self.settings.downloads, &transfer.name, &id);
        let (size, received) = (transfer.size, transfer.received.clone());
        let task_id = id.clone();
        let abort = self.tasks.spawn(async move {
            let result = match file {
                Ok(file) => receive(&channel, file, size, &received).await,
                Err(err) => {
                    tracing::warn!(%err, "cannot create the received file");
                    Err(FileRefusal::Failed)
                }
            };
            let _ = channel.close().await;
            Finished::Received { id: task_id, result }
        });
        self.aborts.insert(id, abort);
    }

    async fn on_finished(&mut self, finished: Finished) {
        match finished {
            Finished::Sent { id, result: Ok(sha256) } => {
                self.aborts.remove(&id);
                tracing::info!(id, sha256, "file sent; waiting for the other side's check");
            }
            Finished::Sent { id, result: Err(err) } => {
                self.aborts.remove(&id);
                if self.outgoing.contains_key(&id) {
                    tracing::info!(%err, id, "file not sent");
                    self.say(&FileMsg::Cancel { id: id.clone() }).await;
                    self.cancelled(&id, "this side");
                }
            }
            Finished::Received { id, result } => {
                self.aborts.remove(&id);
                let Some(transfer) = self.incoming.remove(&id) else { return };
                match result {
                    Ok(path) => {
                        self.stats.received += 1;
                        let secs = transfer.started.elapsed().as_secs_f64();
                        let saved = saved_name(&path);
                        println!(
                            "file: saved {} in {} ({}, {secs:.1} s, {}/s, sha256 ok)",
                            printable(&saved),
                            path.parent().unwrap_or(Path::new("")).display(),
                            size_text(transfer.size),
                            size_text(rate(transfer.size, secs))
                        );
                        self.say(&FileMsg::Saved { id, name: saved }).await;
                    }
                    Err(FileRefusal::Cancelled) => {
                        self.stats.cancelled += 1;
                        println!(
                            "file: cancelled {} by {}",
                            printable(&transfer.name),
                            self.settings.peer
                        );
                    }
                    Err(reason) => {
                        self.stats.failed += 1;
                        println!(
                            "file: failed {} reason={} ({})",
                            printable(&transfer.name),
                            wire(reason),
                            reason.explain()
                        );
                        self.say(&FileMsg::Failed { id, reason }).await;
                    }
                }
            }
        }
    }

    fn print_progress(&self) {
        let sending = self
            .outgoing
            .values()
            .filter(|o| o.started.is_some())
            .map(|o| (&o.name, o.sent.load(Ordering::Relaxed), o.size));
        let receiving = self
            .incoming
            .values()
            .filter(|t| t.running)
            .map(|t| (&t.name, t.received.load(Ordering::Relaxed), t.size));
        for (name, done, size) in sending.chain(receiving) {
            if done < size {
                let percent = done * 100 / size.max(1);
                println!(
                    "file: {} {percent}% ({} of {})",
                    printable(name),
                    size_text(done),
                    size_text(size)
                );
            }
        }
    }
}

/// Waits until `channel` is open; `false` if it closed first.
async fn opened(channel: &Arc<dyn DataChannel>) -> bool {
    use webrtc::data_channel::RTCDataChannelState;
    if matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open)) {
        return true;
    }
    loop {
        match channel.poll().await {
            Some(DataChannelEvent::OnOpen) => return true,
            Some(DataChannelEvent::OnClose) | None => return false,
            Some(_) => {}
        }
    }
}

/// Receives one file's bytes and end message on its channel into `file`.
async fn receive(
    channel: &Arc<dyn DataChannel>,
    mut file: IncomingFile,
    size: u64,
    received: &AtomicU64,
) -> Result<PathBuf, FileRefusal> {
    let mut count = Received::new(size);
    while let Some(event) = channel.poll().await {
        let msg = match event {
            DataChannelEvent::OnMessage(msg) => msg,
            DataChannelEvent::OnClose => break,
            _ => continue,
        };
        if !msg.is_string {
            count.chunk(msg.data.len())?;
            file.write(&msg.data).map_err(|_| FileRefusal::Failed)?;
            received.store(count.bytes(), Ordering::Relaxed);
            continue;
        }
        let theirs = std::str::from_utf8(&msg.data).ok().and_then(TransferEnd::decode);
        let theirs = theirs.ok_or(FileRefusal::Corrupt)?;
        count.finish(&file.sha256(), &theirs)?;
        return file.keep().map_err(|err| {
            tracing::warn!(%err, "cannot keep the received file");
            FileRefusal::Failed
        });
    }
    // Closed before the end message: the sender stopped.
    Err(FileRefusal::Cancelled)
}

/// Runs `sending` until `sent` reaches `at` bytes, then cancels it (for tests).
async fn cancel_when(
    sending: impl std::future::Future<Output = Result<String, send::SendError>>,
    sent: &AtomicU64,
    at: u64,
) -> Result<String, send::SendError> {
    let reached = async {
        while sent.load(Ordering::Relaxed) < at {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        result = sending => result,
        () = reached => Err(send::SendError::Closed),
    }
}

/// Closes a transfer channel in the background.
fn close(channel: Option<&Arc<dyn DataChannel>>) {
    if let Some(channel) = channel.cloned() {
        tokio::spawn(async move { channel.close().await });
    }
}

fn saved_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The reason as the protocol names it.
fn wire(reason: FileRefusal) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn rate(bytes: u64, secs: f64) -> u64 {
    if secs <= 0.0 { bytes } else { (bytes as f64 / secs) as u64 }
}

/// `20.0 MiB`, `512 B`.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size_text(512), "512 B");
        assert_eq!(size_text(20 << 20), "20.0 MiB");
        assert_eq!(size_text(1536), "1.5 KiB");
        assert_eq!(size_text(3 << 30), "3.0 GiB");
    }
}
