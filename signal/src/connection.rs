//! One WebSocket connection: a reader loop that decodes frames for the hub, and a writer task
//! that drains the connection's outbox.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use tether_proto::ErrorCode;
use tether_proto::signal::{ClientMsg, ServerMsg};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, timeout};

use crate::config::Config;
use crate::hub::{HubMsg, OUTBOX_DEPTH, Outbox, Outgoing};
use crate::limits::TokenBucket;
use crate::rendezvous::ConnId;

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

/// Serves one upgraded socket until it closes.
pub(crate) async fn run(
    socket: WebSocket,
    addr: SocketAddr,
    conn: ConnId,
    hub: mpsc::Sender<HubMsg>,
    config: Arc<Config>,
) {
    let (queue, queue_rx) = mpsc::channel(OUTBOX_DEPTH);
    let (kill, kill_rx) = oneshot::channel();
    let outbox = Outbox { queue: queue.clone(), kill };
    if hub.send(HubMsg::Connected { conn, addr: addr.ip(), outbox }).await.is_err() {
        return;
    }
    let (sink, stream) = socket.split();
    let ping_every = config.idle_timeout / 3;
    let mut writer = tokio::spawn(write_loop(sink, queue_rx, kill_rx, ping_every));
    let ending = tokio::select! {
        ending = read_loop(stream, conn, &hub, &queue, &config) => ending,
        _ = &mut writer => Ending::WriterDone,
    };
    tracing::debug!(?ending, "connection ending");
    // A finished JoinHandle must not be polled again.
    let writer_done = matches!(ending, Ending::WriterDone);
    if let Ending::Refused(msg) = ending {
        let _ = queue.try_send(Outgoing::Msg(msg));
        let _ = queue.try_send(Outgoing::Close);
    } else if matches!(ending, Ending::Idle) {
        let _ = queue.try_send(Outgoing::Close);
    }
    let _ = hub.send(HubMsg::Disconnected { conn }).await;
    drop(queue);
    // The writer ends once the hub has dropped its outbox and the queue is drained; do not wait
    // long for a peer that stopped reading.
    if !writer_done && timeout(std::time::Duration::from_secs(2), &mut writer).await.is_err() {
        writer.abort();
    }
}

#[derive(Debug)]
enum Ending {
    /// The peer closed or the socket failed.
    Closed,
    /// Nothing arrived within the idle timeout.
    Idle,
    /// A frame we cannot read past; tell the peer why before closing.
    Refused(ServerMsg),
    /// The writer stopped (socket error, close sent, or cut off as a slow consumer).
    WriterDone,
    /// The hub is gone.
    HubGone,
}

async fn read_loop(
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    conn: ConnId,
    hub: &mpsc::Sender<HubMsg>,
    replies: &mpsc::Sender<Outgoing>,
    config: &Config,
) -> Ending {
    let mut bucket = TokenBucket::new(
        Instant::now().into_std(),
        config.messages_per_second,
        config.message_burst,
    );
    // Errors go through the connection's own outbox and wait for room: a client that floods
    // bad frames only slows itself down (TCP pushes back on it), and it hears about every one.
    let reply = |code: ErrorCode, message: String| {
        replies.send(Outgoing::Msg(ServerMsg::error(code, message)))
    };
    loop {
        let frame = match timeout(config.idle_timeout, stream.next()).await {
            Err(_) => return Ending::Idle,
            Ok(None) => return Ending::Closed,
            Ok(Some(Err(err))) => return ending_for(err),
            Ok(Some(Ok(frame))) => frame,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Binary(_) => {
                let sentence = "binary frames are not part of the protocol; send JSON text";
                if reply(ErrorCode::Malformed, sentence.into()).await.is_err() {
                    return Ending::WriterDone;
                }
                continue;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return Ending::Closed,
        };
        if !bucket.try_take(Instant::now().into_std()) {
            let sentence = format!(
                "more than {} messages a second; message dropped",
                config.messages_per_second
            );
            if reply(ErrorCode::RateLimited, sentence).await.is_err() {
                return Ending::WriterDone;
            }
            continue;
        }
        match ClientMsg::decode(text.as_str()) {
            Ok(msg) => {
                if hub.send(HubMsg::Message { conn, msg }).await.is_err() {
                    return Ending::HubGone;
                }
            }
            Err(err) => {
                if reply(err.code, err.message).await.is_err() {
                    return Ending::WriterDone;
                }
            }
        }
    }
}

fn ending_for(err: axum::Error) -> Ending {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::CapacityError;
    // A frame or message beyond the limit: tungstenite refused it from its header, before
    // buffering it, and cannot read past it.
    match err.into_inner().downcast::<WsError>().map(|err| *err) {
        Ok(WsError::Capacity(CapacityError::MessageTooLong { size, max_size })) => {
            Ending::Refused(ServerMsg::error(
                ErrorCode::TooLarge,
                format!("a frame of {size} bytes; the limit is {max_size}; closing"),
            ))
        }
        _ => Ending::Closed,
    }
}

async fn write_loop(
    mut sink: Sink,
    mut queue: mpsc::Receiver<Outgoing>,
    mut kill: oneshot::Receiver<ServerMsg>,
    ping_every: std::time::Duration,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    loop {
        let item = tokio::select! {
            biased;
            last = &mut kill => {
                if let Ok(last) = last {
                    let _ = sink.send(text(&last)).await;
                    let _ = sink.send(close(close_code::POLICY, "slow consumer")).await;
                }
                break;
            }
            item = queue.recv() => item,
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let sent = match item {
            Some(Outgoing::Msg(msg)) => sink.send(text(&msg)).await,
            Some(Outgoing::Close) => {
                let _ = sink.send(close(close_code::NORMAL, "")).await;
                break;
            }
            None => {
                let _ = sink.send(close(close_code::NORMAL, "")).await;
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}

fn text(msg: &ServerMsg) -> Message {
    Message::Text(Utf8Bytes::from(msg.encode()))
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
}

/// Tells a client the server has no room for another connection, then closes.
pub(crate) async fn refuse_full(socket: WebSocket) {
    let (mut sink, _stream) = socket.split();
    let msg = ServerMsg::error(
        ErrorCode::Full,
        "the server holds all the connections it can; try again later",
    );
    let _ = sink.send(text(&msg)).await;
    let _ = sink.send(close(close_code::AGAIN, "full")).await;
}
