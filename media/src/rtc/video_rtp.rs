//! The video track's RTP, written by Tether rather than webrtc-rs's sample packetizer: each
//! access unit's packets carry the frame's **capture time** on the 90 kHz clock.
//!
//! webrtc-rs's `TrackLocalStaticSample` stamps a sample with its running clock and then adds
//! the sample's duration, so a frame's timestamp is the sum of the durations before it. With
//! an irregular frame rate (frames dropped at the gate, encodes of varying length) that clock
//! drifts from the capture instants, and a browser reads the difference as network jitter
//! and holds every frame longer in its jitter buffer. Stamping the capture time is what
//! GStreamer does, and what the design asks for.
//!
//! Every packet also carries the playout-delay extension with min = max = 0 where it was
//! negotiated: Chromium then renders each frame as soon as it is decoded instead of smoothing
//! playback with a jitter-buffer target. Screen sharing wants the newest picture now.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::h264::H264Payloader;
use rtc::rtp::extension::playout_delay_extension::PlayoutDelayExtension;
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use rtc::rtp::packetizer::Payloader;
use rtc::shared::marshal::{Marshal, MarshalSize};

/// Largest RTP payload: a 1200-byte packet fits any path's MTU with room for SRTP and
/// extensions (what webrtc-rs's sample track uses too).
pub const VIDEO_RTP_MTU: usize = 1200;
/// The H.264 RTP clock (RFC 6184).
pub const VIDEO_CLOCK_HZ: u64 = 90_000;
/// The playout-delay header extension (`a=extmap` URI), understood by Chromium.
pub const PLAYOUT_DELAY_URI: &str = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";

/// Why an access unit could not be turned into packets.
#[derive(Debug, thiserror::Error)]
#[error("H.264 packetization failed: {0}")]
pub struct PacketizeError(String);

/// Turns encoded H.264 access units into RTP packets for one SSRC.
#[derive(Debug)]
pub struct VideoPacketizer {
    ssrc: u32,
    payload_type: u8,
    next_sequence: u16,
    /// RTP time of `epoch`; random, as RFC 3550 asks.
    timestamp_base: u32,
    epoch: Instant,
    /// The last frame's RTP time, so that two frames never share a timestamp.
    last_timestamp: Option<u32>,
    /// The negotiated one-byte id of the playout-delay extension, if any.
    playout_delay_id: Option<u8>,
    payloader: H264Payloader,
}

/// Where a packetizer starts: the caller brings the randomness (RFC 3550's random initial
/// sequence number and timestamp) and the clock's zero.
#[derive(Debug, Clone, Copy)]
pub struct PacketizerStart {
    /// The SSRC of the track.
    pub ssrc: u32,
    /// The negotiated H.264 payload type.
    pub payload_type: u8,
    /// First sequence number.
    pub sequence: u16,
    /// RTP time at `epoch`.
    pub timestamp_base: u32,
    /// The instant that maps to `timestamp_base`; no capture may be earlier.
    pub epoch: Instant,
    /// The negotiated playout-delay extension id, or `None` when the peer did not accept it.
    pub playout_delay_id: Option<u8>,
}

impl VideoPacketizer {
    /// A packetizer as `start` describes.
    pub fn new(start: PacketizerStart) -> Self {
        Self {
            ssrc: start.ssrc,
            payload_type: start.payload_type,
            next_sequence: start.sequence,
            timestamp_base: start.timestamp_base,
            epoch: start.epoch,
            last_timestamp: None,
            playout_delay_id: start.playout_delay_id,
            payloader: H264Payloader::default(),
        }
    }

    /// The RTP timestamp of a picture captured at `captured_at`: its distance from the epoch
    /// on the 90 kHz clock, modulo 2^32 as RTP time is.
    pub fn timestamp_of(&self, captured_at: Instant) -> u32 {
        self.timestamp_base.wrapping_add(ticks(captured_at.saturating_duration_since(self.epoch)))
    }

    /// The packets of one access unit (Annex-B), stamped with `captured_at`; the last one has
    /// the marker bit. A picture stamped no later than the previous frame (a keyframe
    /// re-encoded from the last capture) gets the previous timestamp plus one tick, so that a
    /// receiver never sees two frames with one timestamp.
    pub fn packetize(
        &mut self,
        access_unit: &Bytes,
        captured_at: Instant,
    ) -> Result<Vec<Packet>, PacketizeError> {
        let mut timestamp = self.timestamp_of(captured_at);
        if let Some(last) = self.last_timestamp
            && !is_newer(timestamp, last)
        {
            timestamp = last.wrapping_add(1);
        }
        let payloads = self
            .payloader
            .payload(VIDEO_RTP_MTU, access_unit)
            .map_err(|e| PacketizeError(e.to_string()))?;
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        self.last_timestamp = Some(timestamp);
        let extension = self.playout_delay_id.map(|id| (id, zero_playout_delay()));
        let last = payloads.len() - 1;
        let packets = payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| {
                let mut header = Header {
                    version: 2,
                    marker: i == last,
                    payload_type: self.payload_type,
                    sequence_number: self.next_sequence,
                    timestamp,
                    ssrc: self.ssrc,
                    ..Default::default()
                };
                self.next_sequence = self.next_sequence.wrapping_add(1);
                if let Some((id, value)) = &extension
                    && let Err(err) = header.set_extension(*id, value.clone())
                {
                    tracing::debug!(%err, "playout-delay extension not set");
                }
                Packet { header, payload }
            })
            .collect();
        Ok(packets)
    }
}

/// `duration` on the 90 kHz clock, modulo 2^32.
fn ticks(duration: Duration) -> u32 {
    // Truncation to u32 is RTP's own wrap-around.
    (duration.as_nanos() * u128::from(VIDEO_CLOCK_HZ) / 1_000_000_000) as u32
}

/// Whether RTP time `a` is after `b`, allowing for wrap-around (RFC 3550 serial arithmetic).
fn is_newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

/// The extension's payload: no minimum and no maximum delay.
fn zero_playout_delay() -> Bytes {
    let extension = PlayoutDelayExtension { min_delay: 0, max_delay: 0 };
    let mut buf = BytesMut::zeroed(extension.marshal_size());
    match extension.marshal_to(&mut buf) {
        Ok(_) => buf.freeze(),
        Err(_) => Bytes::from_static(&[0, 0, 0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(epoch: Instant) -> PacketizerStart {
        PacketizerStart {
            ssrc: 0x1234_5679,
            payload_type: 102,
            sequence: 65_534,
            timestamp_base: u32::MAX - 1_000,
            epoch,
            playout_delay_id: Some(5),
        }
    }

    /// An access unit with one small NAL unit and one that needs fragmenting.
    fn access_unit() -> Bytes {
        let mut au = vec![0, 0, 0, 1, 0x65];
        au.extend(std::iter::repeat_n(0xab, 3000));
        au.extend([0, 0, 0, 1, 0x41, 1, 2, 3]);
        Bytes::from(au)
    }

    #[test]
    fn timestamps_are_the_capture_times_on_the_90_khz_clock() {
        let epoch = Instant::now();
        let mut rtp = VideoPacketizer::new(start(epoch));
        // Irregular capture spacing, as when frames are dropped or encodes vary.
        let offsets_ms = [0u64, 16, 17, 50, 51, 120, 1_000, 60_000];
        for ms in offsets_ms {
            let captured = epoch + Duration::from_millis(ms);
            let packets = rtp.packetize(&access_unit(), captured).expect("packetized");
            let want = (u32::MAX - 1_000).wrapping_add((ms * 90) as u32);
            assert!(packets.iter().all(|p| p.header.timestamp == want), "at {ms} ms");
        }
    }

    #[test]
    fn a_frame_spans_consecutive_sequence_numbers_and_ends_with_the_marker() {
        let epoch = Instant::now();
        let mut rtp = VideoPacketizer::new(start(epoch));
        let first = rtp.packetize(&access_unit(), epoch).expect("packetized");
        let second =
            rtp.packetize(&access_unit(), epoch + Duration::from_millis(16)).expect("packetized");
        assert!(first.len() > 2, "3000 bytes need fragments");
        let all: Vec<&Packet> = first.iter().chain(&second).collect();
        for pair in all.windows(2) {
            assert_eq!(
                pair[1].header.sequence_number,
                pair[0].header.sequence_number.wrapping_add(1)
            );
        }
        assert_eq!(first[0].header.sequence_number, 65_534, "starts where it was told, wraps");
        for frame in [&first, &second] {
            let markers: Vec<bool> = frame.iter().map(|p| p.header.marker).collect();
            assert_eq!(markers.iter().filter(|m| **m).count(), 1);
            assert!(frame.last().is_some_and(|p| p.header.marker));
            assert!(
                frame.iter().all(|p| p.header.payload_type == 102 && p.header.ssrc == 0x1234_5679)
            );
            assert!(frame.iter().all(|p| p.payload.len() <= VIDEO_RTP_MTU));
        }
    }

    #[test]
    fn a_reencoded_picture_never_repeats_a_timestamp() {
        let epoch = Instant::now();
        let mut rtp = VideoPacketizer::new(start(epoch));
        let captured = epoch + Duration::from_millis(40);
        let a = rtp.packetize(&access_unit(), captured).expect("packetized")[0].header.timestamp;
        let b = rtp.packetize(&access_unit(), captured).expect("packetized")[0].header.timestamp;
        let c = rtp.packetize(&access_unit(), epoch).expect("packetized")[0].header.timestamp;
        assert_eq!(b, a.wrapping_add(1));
        assert_eq!(c, b.wrapping_add(1));
    }

    #[test]
    fn every_packet_asks_for_zero_playout_delay_when_negotiated() {
        let epoch = Instant::now();
        let packets = VideoPacketizer::new(start(epoch)).packetize(&access_unit(), epoch).unwrap();
        for p in &packets {
            let value = p.header.get_extension(5).expect("extension 5 present");
            assert_eq!(&value[..], &[0, 0, 0], "min = max = 0");
        }
        let without = PacketizerStart { playout_delay_id: None, ..start(epoch) };
        let packets = VideoPacketizer::new(without).packetize(&access_unit(), epoch).unwrap();
        assert!(packets.iter().all(|p| !p.header.extension));
    }

    #[test]
    fn serial_arithmetic_wraps() {
        assert!(is_newer(5, u32::MAX - 5));
        assert!(!is_newer(u32::MAX - 5, 5));
        assert!(!is_newer(7, 7));
        assert_eq!(ticks(Duration::from_secs(1)), 90_000);
        assert_eq!(ticks(Duration::from_micros(11_111)), 999);
    }
}
