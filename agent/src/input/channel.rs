//! The reader of the `input` data channel: decodes each message, counts it, and hands it to
//! the injector thread (or refuses it in view-only mode). Never ends the session.

use std::sync::Arc;
use std::time::Duration;

use tether_media::telemetry;
use tether_proto::input::{InputError, InputMsg};
use tokio::sync::mpsc;
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
    loop {
        let event = tokio::select! {
            event = channel.poll() => event,
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
            Some(DataChannelEvent::OnMessage(msg)) => accept(&msg, to_injector.as_ref(), &stats),
            Some(DataChannelEvent::OnClose) | None => break,
            Some(_) => {}
        }
    }
    tracing::info!("input channel closed; {}", stats.snapshot());
}

/// Counts one message and passes it on if it is valid and allowed.
fn accept(
    msg: &RTCDataChannelMessage,
    to_injector: Option<&mpsc::Sender<InputMsg>>,
    stats: &InputStats,
) {
    InputStats::add(&stats.received);
    let input = match decode(msg) {
        Ok(input) => input,
        Err(err) => {
            let n = InputStats::add(&stats.malformed);
            if n <= 3 || n.is_power_of_two() {
                tracing::warn!(%err, malformed = n, "input message dropped");
            }
            return;
        }
    };
    let Some(to_injector) = to_injector else {
        let n = InputStats::add(&stats.refused);
        if n <= 3 || n.is_power_of_two() {
            tracing::warn!(refused = n, "view-only session: input refused");
        }
        return;
    };
    if to_injector.try_send(input).is_err() {
        let n = InputStats::add(&stats.dropped);
        if n <= 3 || n.is_power_of_two() {
            tracing::warn!(dropped = n, "the desktop cannot keep up; input dropped");
        }
    }
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

    #[test]
    fn everything_is_counted_and_nothing_is_fatal() {
        let stats = InputStats::default();
        let (tx, mut rx) = mpsc::channel(1);
        for msg in [
            text("garbage"),
            text(r#"{"type":"key","code":"KeyA","down":true}"#),
            text(r#"{"type":"key","code":"KeyA","down":false}"#),
        ] {
            accept(&msg, Some(&tx), &stats);
        }
        assert_eq!(rx.try_recv().ok(), Some(InputMsg::Key { code: "KeyA".into(), down: true }));
        assert_eq!(
            stats.snapshot().to_string(),
            "input: received=3 injected=0 malformed=1 refused=0 dropped=1 failed=0",
            "the second valid message found the queue of one full"
        );

        let view_only = InputStats::default();
        accept(&text(r#"{"type":"pointer_move","x":0.5,"y":0.5}"#), None, &view_only);
        accept(&text("{"), None, &view_only);
        assert_eq!(
            view_only.snapshot(),
            telemetry::InputStats { received: 2, malformed: 1, refused: 1, ..Default::default() }
        );
    }
}
