//! Chat for one session: the viewer's messages are printed (`chat: viewer: "…"`, escaped so
//! that they cannot drive the terminal); the person's go out on the `chat` data channel.
//! View-only sessions chat too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tether_media::telemetry::ChatStats;
use tether_proto::chat::{ChatError, ChatMsg, printable};
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelMessage};

/// One session's chat.
pub struct ChatService {
    channel: Arc<dyn DataChannel>,
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    received: AtomicU64,
    malformed: AtomicU64,
}

impl ChatService {
    /// Reads `channel` and prints each message from the viewer.
    pub fn start(channel: Arc<dyn DataChannel>) -> Self {
        let counts = Arc::new(Counts::default());
        let task = tokio::spawn(read(channel.clone(), counts.clone()));
        ChatService { channel, counts, task }
    }

    /// Sends the person's message; an error says why it was not sent.
    pub async fn send(&self, text: &str) -> Result<(), String> {
        let msg = ChatMsg::message(text).map_err(|e| e.to_string())?;
        self.channel.send_text(&msg.encode()).await.map_err(|e| e.to_string())?;
        self.counts.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Stops reading; the session's counters.
    pub async fn stop(self) -> ChatStats {
        self.task.abort();
        let _ = self.task.await;
        ChatStats {
            sent: self.counts.sent.load(Ordering::Relaxed),
            received: self.counts.received.load(Ordering::Relaxed),
            malformed: self.counts.malformed.load(Ordering::Relaxed),
        }
    }
}

async fn read(channel: Arc<dyn DataChannel>, counts: Arc<Counts>) {
    while let Some(event) = channel.poll().await {
        match event {
            DataChannelEvent::OnMessage(msg) => match decode(&msg) {
                Ok(msg) => {
                    counts.received.fetch_add(1, Ordering::Relaxed);
                    println!("chat: viewer: {}", printable(msg.text()));
                }
                Err(err) => {
                    let n = counts.malformed.fetch_add(1, Ordering::Relaxed) + 1;
                    if n <= 3 || n.is_power_of_two() {
                        tracing::warn!(%err, malformed = n, "chat message dropped");
                    }
                }
            },
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
}

fn decode(msg: &RTCDataChannelMessage) -> Result<ChatMsg, ChatError> {
    if !msg.is_string {
        return Err(ChatError::Malformed("binary message on the chat channel".into()));
    }
    let text = std::str::from_utf8(&msg.data)
        .map_err(|_| ChatError::Malformed("text message that is not UTF-8".into()))?;
    ChatMsg::decode(text)
}
