//! The `clipboard` channel on the supporter's side. The headless viewer has no clipboard of
//! its own: the agent's text is printed (`clipboard: received "…"`) and acknowledged, and
//! `--clipboard-text` is sent as if the supporter had copied it (even after the agent said
//! `off`: the flag is how tests check that the agent refuses). Answers are printed as
//! `clipboard: applied seq=N` or `clipboard: refused seq=N reason=R (why)`, the agent's
//! announcement as `clipboard: off reason=R (why)`.

use std::sync::Arc;

use tether_proto::chat::printable;
use tether_proto::clipboard::{ClipboardError, ClipboardMsg, ClipboardRefusal};
use tether_session::clipboard::{ClipboardPolicy, ClipboardSync, Incoming, Outgoing};
use webrtc::data_channel::{DataChannel, DataChannelEvent};

/// Serves `channel` until it closes, sending `initial` first.
pub async fn serve(channel: Arc<dyn DataChannel>, initial: Option<String>) {
    if !super::opened(&channel).await {
        return;
    }
    let mut sync = ClipboardSync::new(ClipboardPolicy::On);
    if let Some(text) = initial {
        share(channel.as_ref(), &mut sync, text).await;
    }
    loop {
        match channel.poll().await {
            Some(DataChannelEvent::OnMessage(msg)) => {
                let decoded = super::text_of(&msg).map_or(
                    Err(ClipboardError::Malformed("not text".into())),
                    ClipboardMsg::decode,
                );
                received(channel.as_ref(), &mut sync, decoded).await;
            }
            Some(DataChannelEvent::OnClose) | None => return,
            Some(_) => {}
        }
    }
}

/// Sends this side's clipboard text, unless the agent has it already.
async fn share(channel: &dyn DataChannel, sync: &mut ClipboardSync, text: String) {
    match sync.local_changed(text) {
        Outgoing::Send(msg) => send(channel, &msg).await,
        Outgoing::Echo | Outgoing::NotShared => {}
        Outgoing::Unfit(bytes) => {
            println!("clipboard: not sent ({bytes} bytes: over 30 KiB or not plain text)");
        }
    }
}

async fn received(
    channel: &dyn DataChannel,
    sync: &mut ClipboardSync,
    msg: Result<ClipboardMsg, ClipboardError>,
) {
    match sync.received(msg) {
        Incoming::Apply { seq, text } => {
            println!("clipboard: received {}", printable(&text));
            let answer = sync.applied(seq, text, true);
            send(channel, &answer).await;
        }
        Incoming::Refuse(answer) => send(channel, &answer).await,
        Incoming::Answered { seq, refusal: None } => println!("clipboard: applied seq={seq}"),
        Incoming::Answered { seq, refusal: Some(reason) } => {
            let name = wire_name(reason);
            println!("clipboard: refused seq={seq} reason={name} ({})", reason.explain());
        }
        Incoming::PeerOff(reason) => {
            println!("clipboard: off reason={} ({})", wire_name(reason), reason.explain());
        }
        Incoming::Malformed(err) => tracing::warn!(%err, "clipboard message dropped"),
    }
}

/// `view_only`, `off`, ...: the reason as the protocol names it.
fn wire_name(reason: ClipboardRefusal) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn send(channel: &dyn DataChannel, msg: &ClipboardMsg) {
    if let Err(err) = channel.send_text(&msg.encode()).await {
        tracing::debug!(%err, "clipboard message not sent");
    }
}
