//! The hub task: owns the [`Rendezvous`] and routes its actions to connection outboxes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use rand_core::RngCore;
use tether_proto::ErrorCode;
use tether_proto::signal::{ClientMsg, ServerMsg};
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::rendezvous::{Action, ConnId, Counts, Event, Now, Rendezvous};

/// What a connection's writer is told to do.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Msg(ServerMsg),
    Close,
}

/// How the hub reaches one connection: a bounded queue, and a way to cut it off at once with a
/// last error when the queue is full.
pub(crate) struct Outbox {
    pub(crate) queue: mpsc::Sender<Outgoing>,
    pub(crate) kill: oneshot::Sender<ServerMsg>,
}

/// Messages into the hub.
pub(crate) enum HubMsg {
    Connected { conn: ConnId, addr: IpAddr, outbox: Outbox },
    Message { conn: ConnId, msg: ClientMsg },
    Disconnected { conn: ConnId },
    Shutdown,
    Counts(oneshot::Sender<Counts>),
}

/// Depth of every connection's outbox; a peer that falls this far behind is closed.
pub(crate) const OUTBOX_DEPTH: usize = 32;

pub(crate) struct Hub {
    rendezvous: Rendezvous,
    outboxes: HashMap<ConnId, Outbox>,
    shutting_down: bool,
    slow_consumers: u64,
}

impl Hub {
    pub(crate) fn new(config: Config, rng: Box<dyn RngCore + Send>) -> Self {
        Hub {
            rendezvous: Rendezvous::new(config, rng),
            outboxes: HashMap::new(),
            shutting_down: false,
            slow_consumers: 0,
        }
    }

    /// Runs until every sender of `inbox` is gone.
    pub(crate) async fn run(mut self, mut inbox: mpsc::Receiver<HubMsg>) {
        loop {
            let deadline = self.rendezvous.next_deadline();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = inbox.recv() => match msg {
                    Some(msg) => self.handle(msg),
                    None => break,
                },
                () = sleep => self.apply(Event::Tick),
            }
        }
        tracing::debug!(slow_consumers = self.slow_consumers, "hub stopped");
    }

    fn handle(&mut self, msg: HubMsg) {
        match msg {
            HubMsg::Connected { conn, addr, outbox } => {
                self.outboxes.insert(conn, outbox);
                self.apply(Event::Connected { conn, addr });
                if self.shutting_down {
                    self.apply(Event::Shutdown);
                }
            }
            HubMsg::Message { conn, msg } => self.apply(Event::Message { conn, msg }),
            HubMsg::Disconnected { conn } => {
                self.outboxes.remove(&conn);
                self.apply(Event::Disconnected { conn });
            }
            HubMsg::Shutdown => {
                self.shutting_down = true;
                self.apply(Event::Shutdown);
            }
            HubMsg::Counts(reply) => {
                let _ = reply.send(self.rendezvous.counts());
            }
        }
    }

    fn apply(&mut self, event: Event) {
        let mut pending = vec![event];
        while let Some(event) = pending.pop() {
            let now = now();
            for action in self.rendezvous.handle(now, event) {
                let (conn, item) = match action {
                    Action::Send(conn, msg) => (conn, Outgoing::Msg(msg)),
                    Action::Close(conn) => (conn, Outgoing::Close),
                };
                if let Some(conn) = self.deliver(conn, item) {
                    pending.push(Event::Disconnected { conn });
                }
            }
        }
    }

    /// Queues `item` for `conn`; returns the connection if it had to be cut off.
    fn deliver(&mut self, conn: ConnId, item: Outgoing) -> Option<ConnId> {
        let outbox = self.outboxes.get(&conn)?;
        match outbox.queue.try_send(item) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Closed(_)) => None,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.slow_consumers += 1;
                tracing::warn!(?conn, "outbox full; closing the slow connection");
                if let Some(outbox) = self.outboxes.remove(&conn) {
                    let _ = outbox.kill.send(ServerMsg::error(
                        ErrorCode::SlowConsumer,
                        "this connection fell too far behind the messages sent to it",
                    ));
                }
                Some(conn)
            }
        }
    }
}

fn now() -> Now {
    let unix_secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Now { mono: tokio::time::Instant::now().into_std(), unix_secs }
}
