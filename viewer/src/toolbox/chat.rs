//! The `chat` channel on the supporter's side: `--chat` messages go out once it opens
//! (printed as `chat: sent "…"`), the person's are printed as `chat: computer: "…"`.

use std::sync::Arc;

use tether_proto::chat::{ChatMsg, printable};
use webrtc::data_channel::{DataChannel, DataChannelEvent};

/// Serves `channel` until it closes, sending `initial` first.
pub async fn serve(channel: Arc<dyn DataChannel>, initial: Vec<String>) {
    if !super::opened(&channel).await {
        return;
    }
    for text in initial {
        send(channel.as_ref(), &text).await;
    }
    loop {
        match channel.poll().await {
            Some(DataChannelEvent::OnMessage(msg)) => {
                match super::text_of(&msg).map(ChatMsg::decode) {
                    Some(Ok(msg)) => println!("chat: computer: {}", printable(msg.text())),
                    _ => tracing::warn!("malformed chat message dropped"),
                }
            }
            Some(DataChannelEvent::OnClose) | None => return,
            Some(_) => {}
        }
    }
}

async fn send(channel: &dyn DataChannel, text: &str) {
    let msg = match ChatMsg::message(text) {
        Ok(msg) => msg,
        Err(err) => {
            println!("chat: not sent ({err})");
            return;
        }
    };
    match channel.send_text(&msg.encode()).await {
        Ok(_) => println!("chat: sent {}", printable(msg.text())),
        Err(err) => println!("chat: not sent ({err})"),
    }
}
