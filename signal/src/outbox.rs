//! A connection's outbox: what the hub and the connection's own reader queue for its writer,
//! bounded in items and in bytes, per connection and across the server.
//!
//! A peer is a slow consumer when its queue would pass either bound, or (seen by the writer)
//! when a message waited too long or one write did not finish in time. Counting bytes and time
//! rather than messages lets a burst of small messages through (25 join/bye pairs are 50
//! messages for the agent) while a peer that stops reading is still cut within a bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tether_proto::signal::ServerMsg;
use tokio::sync::mpsc;

/// Most items in one outbox.
pub(crate) const OUTBOX_ITEMS: usize = 256;

/// What a connection's writer is told to do.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// An encoded server message.
    Text(String),
    /// Close the WebSocket after what was queued before.
    Close,
}

impl Outgoing {
    pub(crate) fn msg(msg: &ServerMsg) -> Self {
        Outgoing::Text(msg.encode())
    }

    fn bytes(&self) -> usize {
        match self {
            Outgoing::Text(text) => text.len(),
            Outgoing::Close => 0,
        }
    }
}

/// One queued item and when it was queued.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) item: Outgoing,
    pub(crate) at: Instant,
}

/// Why an item could not be queued at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// The writer is gone.
    Closed,
    /// The queue holds [`OUTBOX_ITEMS`] already.
    Items,
    /// The connection's queued bytes would pass its budget.
    Bytes,
    /// The server's queued bytes would pass the global budget, and this connection is behind.
    Global,
}

/// Byte budgets shared by every outbox of one server.
#[derive(Debug, Clone)]
pub(crate) struct Budgets {
    per_connection: usize,
    global: usize,
    queued: Arc<AtomicUsize>,
}

impl Budgets {
    pub(crate) fn new(per_connection: usize, global: usize) -> Self {
        Budgets { per_connection, global, queued: Arc::new(AtomicUsize::new(0)) }
    }

    /// A new outbox under these budgets.
    pub(crate) fn outbox(&self) -> (OutboxTx, OutboxRx) {
        let (queue, rx) = mpsc::channel(OUTBOX_ITEMS);
        let bytes = Arc::new(AtomicUsize::new(0));
        let tx = OutboxTx { queue, bytes: bytes.clone(), budgets: self.clone() };
        (tx, OutboxRx { queue: rx, bytes, budgets: self.clone() })
    }
}

/// The queuing end; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct OutboxTx {
    queue: mpsc::Sender<Queued>,
    bytes: Arc<AtomicUsize>,
    budgets: Budgets,
}

impl OutboxTx {
    /// Queues `item` now, or says which bound it would pass (the hub's way: it never waits).
    pub(crate) fn try_push(&self, item: Outgoing, now: Instant) -> Result<(), Overflow> {
        let size = item.bytes();
        let own = self.bytes.load(Ordering::Relaxed);
        if own + size > self.budgets.per_connection && own > 0 {
            return Err(Overflow::Bytes);
        }
        if self.budgets.queued.load(Ordering::Relaxed) + size > self.budgets.global && own > 0 {
            return Err(Overflow::Global);
        }
        let permit = self.queue.try_reserve().map_err(|err| match err {
            mpsc::error::TrySendError::Full(()) => Overflow::Items,
            mpsc::error::TrySendError::Closed(()) => Overflow::Closed,
        })?;
        self.count(size);
        permit.send(Queued { item, at: now });
        Ok(())
    }

    /// Queues `item`, waiting for room among the items (the reader's way for its own replies:
    /// a flooder only slows itself down). `Err` once the writer is gone.
    pub(crate) async fn push(&self, item: Outgoing) -> Result<(), Overflow> {
        let permit = self.queue.reserve().await.map_err(|_| Overflow::Closed)?;
        self.count(item.bytes());
        permit.send(Queued { item, at: Instant::now() });
        Ok(())
    }

    fn count(&self, size: usize) {
        self.bytes.fetch_add(size, Ordering::Relaxed);
        self.budgets.queued.fetch_add(size, Ordering::Relaxed);
    }
}

/// The writer's end. Dropping it gives back the bytes still queued.
#[derive(Debug)]
pub(crate) struct OutboxRx {
    queue: mpsc::Receiver<Queued>,
    bytes: Arc<AtomicUsize>,
    budgets: Budgets,
}

impl OutboxRx {
    /// The next item, once every [`OutboxTx`] is gone and the queue is empty `None`.
    pub(crate) async fn recv(&mut self) -> Option<Queued> {
        let queued = self.queue.recv().await?;
        self.uncount(queued.item.bytes());
        Some(queued)
    }

    fn uncount(&self, size: usize) {
        self.bytes.fetch_sub(size, Ordering::Relaxed);
        self.budgets.queued.fetch_sub(size, Ordering::Relaxed);
    }
}

impl Drop for OutboxRx {
    fn drop(&mut self) {
        self.queue.close();
        while let Ok(queued) = self.queue.try_recv() {
            self.uncount(queued.item.bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Outgoing {
        Outgoing::Text("x".repeat(len))
    }

    #[test]
    fn many_small_items_fit_where_few_large_ones_do_not() {
        let now = Instant::now();
        let budgets = Budgets::new(1000, 1_000_000);
        let (tx, _rx) = budgets.outbox();
        // A burst of 50 small messages is fine: it is bytes that count, not messages.
        for _ in 0..50 {
            tx.try_push(text(10), now).unwrap();
        }
        assert_eq!(tx.try_push(text(600), now), Err(Overflow::Bytes));
        let (large, _rx) = budgets.outbox();
        // A single item larger than the budget still goes into an empty queue.
        large.try_push(text(1500), now).unwrap();
        assert_eq!(large.try_push(text(1), now), Err(Overflow::Bytes));
    }

    #[test]
    fn items_are_bounded_too() {
        let now = Instant::now();
        let (tx, _rx) = Budgets::new(usize::MAX, usize::MAX).outbox();
        for _ in 0..OUTBOX_ITEMS {
            tx.try_push(Outgoing::Close, now).unwrap();
        }
        assert_eq!(tx.try_push(Outgoing::Close, now), Err(Overflow::Items));
    }

    #[tokio::test]
    async fn the_global_budget_cuts_connections_that_are_behind() {
        let now = Instant::now();
        let budgets = Budgets::new(1000, 1500);
        let (behind, _rx1) = budgets.outbox();
        let (keeping_up, mut rx2) = budgets.outbox();
        behind.try_push(text(900), now).unwrap();
        keeping_up.try_push(text(550), now).unwrap();
        // Within its own budget (980 of 1000), but the server's 1500 would be passed.
        assert_eq!(behind.try_push(text(80), now), Err(Overflow::Global));
        // A connection with nothing queued still gets its message.
        rx2.recv().await.unwrap();
        keeping_up.try_push(text(700), now).unwrap();
        assert_eq!(budgets.queued.load(Ordering::Relaxed), 1600);
    }

    #[tokio::test]
    async fn a_dropped_writer_gives_its_bytes_back() {
        let budgets = Budgets::new(1000, 10_000);
        let (tx, rx) = budgets.outbox();
        tx.try_push(text(400), Instant::now()).unwrap();
        tx.push(text(100)).await.unwrap();
        drop(rx);
        assert_eq!(budgets.queued.load(Ordering::Relaxed), 0);
        assert_eq!(tx.try_push(text(1), Instant::now()), Err(Overflow::Closed));
    }
}
