//! The hub task: owns the [`Rendezvous`] and routes its actions to connection outboxes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand_core::RngCore;
use tether_proto::ErrorCode;
use tether_proto::signal::{ClientMsg, ServerMsg};
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::outbox::{OutboxTx, Outgoing, Overflow};
use crate::rendezvous::{Action, ConnId, Counts, Event, Now, Rendezvous};

/// How the hub reaches one connection: a queue bounded in items and bytes, and a way to cut it
/// off at once with a last error when the queue would overflow.
pub(crate) struct Outbox {
    pub(crate) queue: OutboxTx,
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
                    Action::Send(conn, msg) => (conn, Outgoing::msg(&msg)),
                    Action::Close(conn) => (conn, Outgoing::Close),
                };
                if let Some(conn) = self.deliver(conn, item, now.mono) {
                    pending.push(Event::Disconnected { conn });
                }
            }
        }
    }

    /// Queues `item` for `conn`; returns the connection if it had to be cut off.
    fn deliver(&mut self, conn: ConnId, item: Outgoing, now: Instant) -> Option<ConnId> {
        let outbox = self.outboxes.get(&conn)?;
        match outbox.queue.try_push(item, now) {
            Ok(()) | Err(Overflow::Closed) => None,
            Err(overflow) => {
                self.slow_consumers += 1;
                tracing::warn!(?conn, ?overflow, "outbox full; closing the slow connection");
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
