//! The reader of the `input` data channel: decodes each message, counts it, and hands it to
//! the injector thread (or refuses it in view-only mode). Never ends the session, and never
//! waits for the injector: a full queue drops messages, but a dropped release (key or button
//! up) would leave a key held, so then a `release_all` is owed and queued as soon as there is
//! room, before anything else.

use std::sync::Arc;
use std::time::Duration;

use tether_media::telemetry;
use tether_proto::input::{InputError, InputMsg};
use tokio::sync::mpsc::{self, error::TrySendError};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelMessage};

use super::InputStats;

/// How often the counters are printed while they change.
const PRINT_EVERY: Duration = Duration::from_secs(1);

/// A data channel message as an input message: only UTF-8 text that [`InputMsg::decode`]
/// accepts.
pub(super) fn decode(msg: &RTCDataChannelMessage) -> Result<InputMsg, InputError> {
    if !msg.is_string {
        return Err(InputError::Malformed("binary message on the input channel".into()));
    }
    let text = std::str::from_utf8(&msg.data)
        .map_err(|_| InputError::Malformed("text message that is not UTF-8".into()))?;
    InputMsg::decode(text)
}

/// Reads `channel` until it closes. `to_injector` is `None` in view-only mode.
pub(super) async fn read(
    channel: Arc<dyn DataChannel>,
    to_injector: Option<mpsc::Sender<InputMsg>>,
    stats: Arc<InputStats>,
) {
    let mut print_tick = tokio::time::interval(PRINT_EVERY);
    let mut printed = telemetry::InputStats::default();
    let mut forwarder = Forwarder { to_injector, stats: stats.clone(), release_owed: false };
    loop {
        let owed = forwarder.owed_sender();
        let event = tokio::select! {
            event = channel.poll() => event,
            Some(Ok(permit)) = reserve(owed) => {
                permit.send(InputMsg::ReleaseAll);
                forwarder.release_owed = false;
                continue;
            }
            _ = print_tick.tick() => {
                // The same line as at the end of the session, whenever the counters moved.
                let now = stats.snapshot();
                if now != printed {
                    println!("{now}");
                    printed = now;
                }
                continue;
            }
        };
        match event {
            Some(DataChannelEvent::OnOpen) => tracing::info!("input channel open"),
            Some(DataChannelEvent::OnMessage(msg)) => forwarder.accept(&msg),
            Some(DataChannelEvent::OnClose) | None => break,
            Some(_) => {}
        }
    }
    tracing::info!("input channel closed; {}", stats.snapshot());
}

/// Room in the queue for the owed `release_all`, when one is owed (else never).
async fn reserve(
    owed: Option<mpsc::Sender<InputMsg>>,
) -> Option<Result<mpsc::OwnedPermit<InputMsg>, mpsc::error::SendError<()>>> {
    match owed {
        Some(tx) => Some(tx.reserve_owned().await),
        None => std::future::pending().await,
    }
}

/// Passes valid messages on to the injector's queue (`None` in view-only mode), counting each.
struct Forwarder {
    to_injector: Option<mpsc::Sender<InputMsg>>,
    stats: Arc<InputStats>,
    /// A release was dropped: a `release_all` must go in before anything else.
    release_owed: bool,
}

impl Forwarder {
    /// Counts one message and passes it on if it is valid and allowed.
    fn accept(&mut self, msg: &RTCDataChannelMessage) {
        InputStats::add(&self.stats.received);
        let input = match decode(msg) {
            Ok(input) => input,
            Err(err) => {
                let n = InputStats::add(&self.stats.malformed);
                if n <= 3 || n.is_power_of_two() {
                    tracing::warn!(%err, malformed = n, "input message dropped");
                }
                return;
            }
        };
        if self.to_injector.is_none() {
            let n = InputStats::add(&self.stats.refused);
            if n <= 3 || n.is_power_of_two() {
                tracing::warn!(refused = n, "view-only session: input refused");
            }
            return;
        }
        self.forward(input);
    }

    fn forward(&mut self, input: InputMsg) {
        let Some(to_injector) = &self.to_injector else { return };
        if self.release_owed && to_injector.try_send(InputMsg::ReleaseAll).is_ok() {
            self.release_owed = false;
        }
        // While the release is owed nothing may pass it (a key pressed now would be let go).
        let refused = match self.release_owed {
            true => Some(input),
            false => match to_injector.try_send(input) {
                Ok(()) => None,
                Err(TrySendError::Full(input) | TrySendError::Closed(input)) => Some(input),
            },
        };
        let Some(input) = refused else { return };
        if is_release(&input) {
            self.release_owed = true;
        }
        let n = InputStats::add(&self.stats.dropped);
        if n <= 3 || n.is_power_of_two() {
            tracing::warn!(dropped = n, "the desktop cannot keep up; input dropped");
        }
    }

    /// The queue to wait on for room, while a `release_all` is owed.
    fn owed_sender(&self) -> Option<mpsc::Sender<InputMsg>> {
        self.release_owed.then(|| self.to_injector.clone()).flatten()
    }
}

/// A message that lets go of something: losing it would leave a key or button held.
fn is_release(input: &InputMsg) -> bool {
    matches!(
        input,
        InputMsg::Key { down: false, .. }
            | InputMsg::PointerButton { down: false, .. }
            | InputMsg::ReleaseAll
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn text(s: &str) -> RTCDataChannelMessage {
        RTCDataChannelMessage { is_string: true, data: BytesMut::from(s.as_bytes()) }
    }

    #[test]
    fn binary_and_broken_text_are_malformed() {
        let binary = RTCDataChannelMessage { is_string: false, data: BytesMut::from(&b"{}"[..]) };
        assert!(matches!(decode(&binary), Err(InputError::Malformed(_))));
        let not_utf8 =
            RTCDataChannelMessage { is_string: true, data: BytesMut::from(&[0xff, 0xfe][..]) };
        assert!(matches!(decode(&not_utf8), Err(InputError::Malformed(_))));
        assert_eq!(decode(&text(r#"{"type":"release_all"}"#)), Ok(InputMsg::ReleaseAll));
    }

    fn forwarder(to_injector: Option<mpsc::Sender<InputMsg>>) -> Forwarder {
        Forwarder { to_injector, stats: Arc::default(), release_owed: false }
    }

    fn key(down: bool) -> RTCDataChannelMessage {
        text(&format!(r#"{{"type":"key","code":"KeyA","down":{down}}}"#))
    }

    const MOVE: &str = r#"{"type":"pointer_move","x":0.5,"y":0.5}"#;

    #[test]
    fn everything_is_counted_and_nothing_is_fatal() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut f = forwarder(Some(tx));
        for msg in [text("garbage"), key(true), key(false)] {
            f.accept(&msg);
        }
        assert_eq!(rx.try_recv().ok(), Some(InputMsg::Key { code: "KeyA".into(), down: true }));
        assert_eq!(
            f.stats.snapshot().to_string(),
            "input: received=3 injected=0 malformed=1 refused=0 dropped=1 failed=0",
            "the second valid message found the queue of one full"
        );

        let mut view_only = forwarder(None);
        view_only.accept(&text(MOVE));
        view_only.accept(&text("{"));
        assert_eq!(
            view_only.stats.snapshot(),
            telemetry::InputStats { received: 2, malformed: 1, refused: 1, ..Default::default() }
        );
    }

    #[test]
    fn a_release_dropped_on_a_full_queue_is_made_up_for_before_anything_else() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut f = forwarder(Some(tx));
        f.accept(&key(true));
        // The queue is full: the release is dropped, so a release_all is owed.
        f.accept(&key(false));
        assert!(f.owed_sender().is_some());
        // Nothing passes it while it is owed, not even a press.
        f.accept(&text(MOVE));
        assert_eq!(rx.try_recv().ok(), Some(InputMsg::Key { code: "KeyA".into(), down: true }));
        assert!(rx.try_recv().is_err());
        // Room again: the release_all goes first, then input flows.
        f.accept(&key(true));
        assert_eq!(rx.try_recv().ok(), Some(InputMsg::ReleaseAll));
        assert!(f.owed_sender().is_none());
        assert!(rx.try_recv().is_err(), "the press found the queue of one full again");
        f.accept(&text(MOVE));
        assert!(matches!(rx.try_recv(), Ok(InputMsg::PointerMove { .. })));
        assert_eq!(f.stats.snapshot().dropped, 3);
    }

    #[test]
    fn dropped_moves_and_presses_owe_nothing() {
        let (tx, _rx) = mpsc::channel(1);
        let mut f = forwarder(Some(tx));
        for msg in [text(MOVE), text(MOVE), key(true), text(r#"{"type":"wheel","dy":1}"#)] {
            f.accept(&msg);
        }
        assert!(f.owed_sender().is_none());
        assert_eq!(f.stats.snapshot().dropped, 3);
    }

    #[tokio::test]
    async fn the_owed_release_waits_for_room_without_new_messages() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut f = forwarder(Some(tx));
        f.accept(&key(true));
        f.accept(&key(false));
        let owed = f.owed_sender();
        let deliver = tokio::spawn(async move {
            let permit = reserve(owed).await.expect("owed").expect("open");
            permit.send(InputMsg::ReleaseAll);
        });
        assert!(matches!(rx.recv().await, Some(InputMsg::Key { down: true, .. })));
        deliver.await.unwrap();
        assert_eq!(rx.recv().await, Some(InputMsg::ReleaseAll));
    }
}
