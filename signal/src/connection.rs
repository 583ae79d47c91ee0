//! One WebSocket connection: a reader loop that decodes frames for the hub, and a writer task
//! that drains the connection's outbox.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use tether_proto::ErrorCode;
use tether_proto::signal::{ClientMsg, ServerMsg};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, timeout};

use crate::config::Config;
use crate::hub::{HubMsg, Outbox};
use crate::limits::TokenBucket;
use crate::outbox::{Budgets, OutboxRx, OutboxTx, Outgoing};
use crate::rendezvous::ConnId;

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

/// Serves one upgraded socket until it closes.
pub(crate) async fn run(
    socket: WebSocket,
    addr: SocketAddr,
    conn: ConnId,
    hub: mpsc::Sender<HubMsg>,
    config: Arc<Config>,
    budgets: Budgets,
) {
    let (queue, queue_rx) = budgets.outbox();
    let (kill, kill_rx) = oneshot::channel();
    let outbox = Outbox { queue: queue.clone(), kill };
    if hub.send(HubMsg::Connected { conn, addr: addr.ip(), outbox }).await.is_err() {
        return;
    }
    let (sink, stream) = socket.split();
    let deadlines = WriteDeadlines {
        ping_every: config.idle_timeout / 3,
        write: config.write_timeout,
        max_age: config.outbox_max_age,
    };
    let mut writer = tokio::spawn(write_loop(sink, queue_rx, kill_rx, deadlines));
    let ending = tokio::select! {
        ending = read_loop(stream, conn, &hub, &queue, &config) => ending,
        _ = &mut writer => Ending::WriterDone,
    };
    tracing::debug!(?ending, "connection ending");
    // A finished JoinHandle must not be polled again.
    let writer_done = matches!(ending, Ending::WriterDone);
    let now = Instant::now().into_std();
    if let Ending::Refused(msg) = ending {
        let _ = queue.try_push(Outgoing::msg(&msg), now);
        let _ = queue.try_push(Outgoing::Close, now);
    } else if matches!(ending, Ending::Idle) {
        let _ = queue.try_push(Outgoing::Close, now);
    }
    let _ = hub.send(HubMsg::Disconnected { conn }).await;
    drop(queue);
    // The writer ends once the hub has dropped its outbox and the queue is drained; do not wait
    // long for a peer that stopped reading.
    if !writer_done && timeout(Duration::from_secs(2), &mut writer).await.is_err() {
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
    replies: &OutboxTx,
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
        replies.push(Outgoing::msg(&ServerMsg::error(code, message)))
    };
    loop {
        let frame = match timeout(config.idle_timeout, stream.next()).await {
            Err(_) => return Ending::Idle,
            Ok(None) => return Ending::Closed,
            Ok(Some(Err(err))) => return ending_for(err),
            Ok(Some(Ok(frame))) => frame,
        };
        // Every frame a client chooses to send costs a token, binary and pings included; a ping
        // over the rate is dropped unanswered by us (tungstenite keeps one pong at most).
        let allowed = bucket.try_take(Instant::now().into_std());
        let text = match frame {
            Message::Text(text) if allowed => text,
            Message::Binary(_) if allowed => {
                let sentence = "binary frames are not part of the protocol; send JSON text";
                if reply(ErrorCode::Malformed, sentence.into()).await.is_err() {
                    return Ending::WriterDone;
                }
                continue;
            }
            Message::Text(_) | Message::Binary(_) => {
                let sentence = format!(
                    "more than {} messages a second; message dropped",
                    config.messages_per_second
                );
                if reply(ErrorCode::RateLimited, sentence).await.is_err() {
                    return Ending::WriterDone;
                }
                continue;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return Ending::Closed,
        };
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

/// The writer's deadlines: a peer that does not take our bytes is cut by time.
#[derive(Debug, Clone, Copy)]
struct WriteDeadlines {
    ping_every: Duration,
    /// One write (a message, a ping, a close) must be taken by the socket within this.
    write: Duration,
    /// A message that waited in the outbox longer than this means the peer is behind.
    max_age: Duration,
}

async fn write_loop(
    mut sink: Sink,
    mut queue: OutboxRx,
    mut kill: oneshot::Receiver<ServerMsg>,
    deadlines: WriteDeadlines,
) {
    let ping_every = deadlines.ping_every;
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let limit = deadlines.write;
    loop {
        let item = tokio::select! {
            biased;
            last = &mut kill => {
                if let Ok(last) = last {
                    if send_within(limit, &mut sink, text(&last)).await {
                        send_within(limit, &mut sink, close(close_code::POLICY, "slow consumer")).await;
                    }
                }
                break;
            }
            item = queue.recv() => item,
            _ = ping.tick() => {
                if !send_within(limit, &mut sink, Message::Ping(Default::default())).await {
                    tracing::debug!("ping not taken in time; closing");
                    break;
                }
                continue;
            }
        };
        let Some(queued) = item else {
            send_within(limit, &mut sink, close(close_code::NORMAL, "")).await;
            break;
        };
        let waited = queued.at.elapsed();
        if waited > deadlines.max_age {
            tracing::warn!(?waited, "a message waited too long; closing the slow connection");
            break;
        }
        let sent = match queued.item {
            Outgoing::Text(text) => {
                send_within(limit, &mut sink, Message::Text(Utf8Bytes::from(text))).await
            }
            Outgoing::Close => {
                send_within(limit, &mut sink, close(close_code::NORMAL, "")).await;
                break;
            }
        };
        if !sent {
            tracing::debug!("write failed or not taken in time; closing");
            break;
        }
    }
    let _ = timeout(deadlines.write, sink.close()).await;
}

/// Sends `message`; false if the socket failed or did not take it within `limit`.
async fn send_within(limit: Duration, sink: &mut Sink, message: Message) -> bool {
    matches!(timeout(limit, sink.send(message)).await, Ok(Ok(())))
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
