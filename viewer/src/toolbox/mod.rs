//! The supporter's toolbox on the agent's data channels: clipboard text (`clipboard`) and chat
//! (`chat`). Each channel gets one task that sends what the user (or a flag) gives it and
//! prints what arrives, escaped so that the agent side cannot drive the terminal.

pub mod chat;
pub mod clipboard;

use std::sync::Arc;

use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelState};

/// Waits until `channel` is open; `false` if it closed first.
async fn opened(channel: &Arc<dyn DataChannel>) -> bool {
    if matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open)) {
        return true;
    }
    loop {
        match channel.poll().await {
            Some(DataChannelEvent::OnOpen) => return true,
            Some(DataChannelEvent::OnClose) | None => return false,
            Some(_) => {}
        }
    }
}

/// A data channel message's text, if it is UTF-8 text.
fn text_of(msg: &webrtc::data_channel::RTCDataChannelMessage) -> Option<&str> {
    msg.is_string.then(|| std::str::from_utf8(&msg.data).ok()).flatten()
}
