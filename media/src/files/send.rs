//! Sending one file on its transfer channel: binary chunks as fast as the channel's buffer
//! allows, then the end message with the hash.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use sha2::{Digest, Sha256};
use tether_proto::files::{MAX_CHUNK_BYTES, TransferEnd};
use tokio::io::AsyncReadExt;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelState};

use super::disk::hex;

/// Most bytes handed to the channel and not yet acknowledged: enough to fill a fast link's
/// round trip, little enough that the video and input on the same association are not held
/// behind seconds of file.
pub const MAX_IN_FLIGHT: usize = 1024 * 1024;

/// Below this the sender fills the buffer again.
const LOW_WATER: u32 = 256 * 1024;

/// Why a send stopped.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot read the file: {0}")]
    Read(#[from] std::io::Error),
    #[error("the transfer channel closed")]
    Closed,
    #[error("the file changed while it was sent")]
    Changed,
}

/// Sends `size` bytes of `path` on `channel` (waiting for it to open), counting them in
/// `sent`; returns the SHA-256 sent in the end message.
pub async fn send_file(
    channel: &Arc<dyn DataChannel>,
    path: &Path,
    size: u64,
    sent: &AtomicU64,
) -> Result<String, SendError> {
    wait_open(channel).await?;
    channel.set_buffered_amount_low_threshold(LOW_WATER).await.map_err(|_| SendError::Closed)?;
    let mut file = tokio::fs::File::open(path).await?;
    let mut hash = Sha256::new();
    let mut buf = vec![0; MAX_CHUNK_BYTES];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > size {
            return Err(SendError::Changed);
        }
        hash.update(&buf[..n]);
        while channel.outstanding_bytes().await.map_err(|_| SendError::Closed)? > MAX_IN_FLIGHT {
            wait_low(channel).await?;
        }
        channel.send(BytesMut::from(&buf[..n])).await.map_err(|_| SendError::Closed)?;
        sent.store(total, Ordering::Relaxed);
    }
    if total != size {
        return Err(SendError::Changed);
    }
    let sha256 = hex(&hash.finalize());
    channel.send_text(&TransferEnd::encode(&sha256)).await.map_err(|_| SendError::Closed)?;
    Ok(sha256)
}

async fn wait_open(channel: &Arc<dyn DataChannel>) -> Result<(), SendError> {
    if matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open)) {
        return Ok(());
    }
    loop {
        match channel.poll().await {
            Some(DataChannelEvent::OnOpen) => return Ok(()),
            Some(DataChannelEvent::OnClose) | None => return Err(SendError::Closed),
            Some(_) => {}
        }
    }
}

/// Waits for the buffer to drain below the low-water mark (or a short while, in case the
/// event fired before this wait began).
async fn wait_low(channel: &Arc<dyn DataChannel>) -> Result<(), SendError> {
    let wait = async {
        loop {
            match channel.poll().await {
                Some(DataChannelEvent::OnBufferedAmountLow) => return Ok(()),
                Some(DataChannelEvent::OnClose) | None => return Err(SendError::Closed),
                Some(_) => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_millis(50), wait).await.unwrap_or(Ok(()))
}
