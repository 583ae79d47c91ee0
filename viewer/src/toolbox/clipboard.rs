//! The `clipboard` channel on the supporter's side. The native window shares its own X
//! clipboard (`desktop_clipboard`: what is copied here goes to the computer, the computer's
//! copies are put here). The headless viewer has no clipboard of its own: the agent's text is
//! printed (`clipboard: received "…"`) and acknowledged, and
//! `--clipboard-text` is sent as if the supporter had copied it (even after the agent said
//! `off`: the flag is how tests check that the agent refuses). Answers are printed as
//! `clipboard: applied seq=N` or `clipboard: refused seq=N reason=R (why)`, the agent's
//! announcement as `clipboard: off reason=R (why)`.

use std::sync::Arc;

use tether_media::desktop_clipboard::{DesktopClipboard, FromDesktop};
use tether_proto::chat::printable;
use tether_proto::clipboard::{ClipboardError, ClipboardMsg, ClipboardRefusal};
use tether_session::clipboard::{ClipboardPolicy, ClipboardSync, Incoming, Outgoing};
use webrtc::data_channel::{DataChannel, DataChannelEvent};

/// Serves `channel` until it closes, sending `initial` first; with `desktop`, that
/// clipboard is shared both ways.
pub async fn serve(
    channel: Arc<dyn DataChannel>,
    initial: Option<String>,
    mut desktop: Option<DesktopClipboard>,
) {
    if super::opened(&channel).await {
        let mut sync = ClipboardSync::new(ClipboardPolicy::On);
        if let Some(text) = initial {
            share(channel.as_ref(), &mut sync, text).await;
        }
        loop {
            tokio::select! {
                event = channel.poll() => match event {
                    Some(DataChannelEvent::OnMessage(msg)) => {
                        let decoded = super::text_of(&msg).map_or(
                            Err(ClipboardError::Malformed("not text".into())),
                            ClipboardMsg::decode,
                        );
                        received(channel.as_ref(), &mut sync, desktop.as_ref(), decoded).await;
                    }
                    Some(DataChannelEvent::OnClose) | None => break,
                    Some(_) => {}
                },
                Some(event) = next_desktop_event(&mut desktop) => match event {
                    FromDesktop::Changed(text) => share(channel.as_ref(), &mut sync, text).await,
                    FromDesktop::Set { seq, text, ok } => {
                        let answer = sync.applied(seq, text, ok);
                        send(channel.as_ref(), &answer).await;
                    }
                },
            }
        }
    }
    if let Some(desktop) = desktop {
        let _ = tokio::task::spawn_blocking(move || desktop.stop()).await;
    }
}

async fn next_desktop_event(desktop: &mut Option<DesktopClipboard>) -> Option<FromDesktop> {
    match desktop {
        Some(d) => d.events.recv().await,
        None => std::future::pending().await,
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
    desktop: Option<&DesktopClipboard>,
    msg: Result<ClipboardMsg, ClipboardError>,
) {
    match sync.received(msg) {
        Incoming::Apply { seq, text } => {
            println!("clipboard: received {}", printable(&text));
            match desktop {
                // Answered when the desktop has it (FromDesktop::Set).
                Some(desktop) if desktop.set(seq, text.clone()) => {}
                Some(_) => send(channel, &sync.applied(seq, text, false)).await,
                None => send(channel, &sync.applied(seq, text, true)).await,
            }
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
