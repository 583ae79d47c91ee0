//! Peer connections from Tether's ICE configuration, with callbacks turned into events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rtc::interceptor::{NackGeneratorBuilder, Slot, TwccSenderBuilder};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RTCRtpHeaderExtensionCapability, RTCRtpParameters, RtpCodecKind,
};
use tether_proto::signal::IceCandidate;
use tether_proto::{IceConfig, TransportPolicy};
use tether_session::LinkState;
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCBundlePolicy, RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceServer,
    RTCIceTransportPolicy, RTCPeerConnectionIceEvent, RTCPeerConnectionState, Registry,
    SettingEngineBuilder, register_default_interceptors,
};

use super::congestion::CongestionSettings;
use super::identity::DtlsIdentity;
use super::keyframe::{KEYFRAME_REQUEST_SLOT, KeyframeRequestForwarder};
use super::runtime::BufferedRuntime;
use super::video_rtp::PLAYOUT_DELAY_URI;

/// The media stream (`a=msid`) of the screen. Audio has a stream of its own: tracks of one
/// stream are lip-synced by browsers, which then hold the video back to match the audio's
/// buffering. A support session wants the screen now; a few tens of ms of skew between what
/// the computer plays and what it shows matter less.
pub const VIDEO_STREAM_ID: &str = "tether-screen";
/// The media stream of the system audio; see [`VIDEO_STREAM_ID`].
pub const AUDIO_STREAM_ID: &str = "tether-audio";

/// The one video codec Tether offers: H.264 constrained baseline, which every browser decodes.
pub fn h264_codec() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_H264.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
                .to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: 102,
    }
}

/// The one audio codec: Opus 48 kHz stereo with in-band FEC, as browsers expect it.
pub fn opus_codec() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: 111,
    }
}

/// Why a peer connection could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum RtcError {
    /// webrtc-rs refused.
    #[error("WebRTC: {0}")]
    Webrtc(#[from] webrtc::error::Error),
}

/// What a peer connection reports, in the order it happened.
#[derive(Clone)]
pub enum PeerEvent {
    /// A local ICE candidate to trickle to the peer.
    LocalCandidate(IceCandidate),
    /// The connection state changed.
    State(LinkState),
    /// The peer's media track arrived (viewer side).
    Track(Arc<dyn TrackRemote>),
    /// The peer opened a data channel.
    DataChannel(Arc<dyn DataChannel>),
}

/// How often one missing packet is asked for again (NACK) before it is given up on.
const NACKS_PER_PACKET: u16 = 2;
/// How often missing packets are looked for and asked for. webrtc-rs's default (100 ms) adds
/// 50 ms on average to every repair; libwebrtc asks as soon as it sees the gap. A loss is
/// repaired in about a round trip plus this, which the viewer's reorder wait must cover.
pub const NACK_INTERVAL: Duration = Duration::from_millis(20);

/// How to build a peer connection.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// STUN/TURN servers and policy, as the signaling server handed them out.
    pub ice: IceConfig,
    /// Local UDP addresses to gather host candidates on. `0.0.0.0:0` means every interface
    /// (not loopback); tests on one machine pass `127.0.0.1:0`.
    pub udp_bind: Vec<String>,
    /// Send-side congestion control, for the peer that sends video (the agent).
    pub congestion: Option<CongestionSettings>,
    /// The certificate whose fingerprint was shown before consent; a fresh one if `None`.
    pub identity: Option<DtlsIdentity>,
}

struct Handler {
    events: mpsc::Sender<PeerEvent>,
    dropped: AtomicU64,
}

impl Handler {
    fn emit(&self, event: PeerEvent) {
        // Callbacks run on webrtc-rs's driver task and must not block: hand the event over or
        // count it. The channel is deep enough that this only happens if the session is stuck.
        if self.events.try_send(event).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(dropped = n, "peer event channel full; event dropped");
        }
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => self.emit(PeerEvent::LocalCandidate(candidate_to_proto(init))),
            Err(err) => tracing::warn!(%err, "local candidate could not be serialised"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let state = match state {
            RTCPeerConnectionState::Connected => LinkState::Connected,
            RTCPeerConnectionState::Disconnected => LinkState::Disconnected,
            RTCPeerConnectionState::Failed => LinkState::Failed,
            RTCPeerConnectionState::Closed => LinkState::Closed,
            _ => LinkState::Connecting,
        };
        self.emit(PeerEvent::State(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        self.emit(PeerEvent::Track(track));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        self.emit(PeerEvent::DataChannel(channel));
    }
}

/// Builds a peer connection that reports to `events`. Must run inside a tokio runtime.
pub async fn build_peer(
    options: &PeerOptions,
    events: mpsc::Sender<PeerEvent>,
) -> Result<Arc<dyn PeerConnection>, RtcError> {
    let mut media = MediaEngine::default();
    media.register_codec(h264_codec(), RtpCodecKind::Video)?;
    media.register_codec(opus_codec(), RtpCodecKind::Audio)?;
    // Zero playout delay: Chromium renders each frame once decoded (see `video_rtp`).
    let playout_delay = RTCRtpHeaderExtensionCapability { uri: PLAYOUT_DELAY_URI.to_owned() };
    media.register_header_extension(playout_delay, RtpCodecKind::Video, None)?;
    // NACK, RTCP sender/receiver reports and TWCC feedback come from webrtc-rs's interceptors;
    // codecs must be registered first so their feedback lines reach the SDP.
    let mut registry = register_default_interceptors(Registry::new(), &mut media)?
        .with(Slot::from(KEYFRAME_REQUEST_SLOT), KeyframeRequestForwarder::default())
        // The default generator asks for every missing packet every 100 ms until it comes: after
        // a loss burst on a full link, that is a storm of retransmissions into the same full
        // queue. Twice per packet, as libwebrtc's NACK module about does, then the decoder gives
        // up and asks for a keyframe. (The registry logs that this replaces the default.)
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new()
                .with_interval(NACK_INTERVAL)
                .with_max_nacks_per_packet(NACKS_PER_PACKET)
                .build(),
        );
    if let Some(congestion) = &options.congestion {
        // The defaults already negotiate transport-cc feedback and its header extension; this
        // numbers the packets we send and turns the feedback into an estimate. No built-in
        // pacer: it paces at 1x the estimate in one queue for audio and video, and the agent
        // paces video itself.
        registry = registry
            .with(Slot::CongestionControl, super::congestion::interceptor(congestion))
            .with(Slot::TwccSender, TwccSenderBuilder::new().build());
    }
    let ice_servers = options
        .ice
        .ice_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect();
    let policy = match options.ice.ice_transport_policy {
        TransportPolicy::All => RTCIceTransportPolicy::All,
        TransportPolicy::Relay => RTCIceTransportPolicy::Relay,
    };
    let certificates = options.identity.iter().map(DtlsIdentity::certificate).collect();
    let config = RTCConfigurationBuilder::new()
        .with_certificates(certificates)
        .with_ice_servers(ice_servers)
        .with_ice_transport_policy(policy)
        // One transport for every media section: one set of candidates to check through NATs.
        .with_bundle_policy(RTCBundlePolicy::MaxBundle)
        .build();
    // mDNS candidates need a multicast socket that containers and network namespaces often
    // cannot open (build() then fails); Tether trickles plain addresses instead.
    let with_turn =
        options.ice.ice_servers.iter().flat_map(|s| &s.urls).any(|u| u.starts_with("turn"));
    let waits = acceptance_waits(options.ice.ice_transport_policy, with_turn);
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_srflx_acceptance_min_wait(Some(waits.srflx))
        .with_prflx_acceptance_min_wait(Some(waits.prflx))
        .with_relay_acceptance_min_wait(Some(waits.relay))
        .build();
    let handler = Arc::new(Handler { events, dropped: AtomicU64::new(0) });
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_runtime(BufferedRuntime::shared())
        .with_handler(handler)
        .with_udp_addrs(options.udp_bind.clone())
        .build()
        .await?;
    Ok(Arc::new(pc))
}

/// How long after ICE starts the controlling side may nominate a pair, by the remote
/// candidate's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptanceWaits {
    pub srflx: Duration,
    pub prflx: Duration,
    pub relay: Duration,
}

/// webrtc-rs waits 0.5 s for server-reflexive and 1 s for peer-reflexive pairs, counted from
/// the start of the checks, in case a better pair succeeds meanwhile. Any direct path is good
/// for a screen, so server-reflexive pairs do not wait. A peer-reflexive one is a browser's
/// address (its mDNS names are left out) and does not wait either, unless TURN is configured:
/// then it may also be the far side's relay, learned from its checks before the relay
/// candidate itself was signaled (behind a NAT that already lets the TURN server's address
/// in), and it waits webrtc-rs's 1 s so that the direct pair that would have worked succeeds
/// first. A relay waits 5 s for a direct pair: hole punching from an address-restricted NAT to
/// a symmetric one took over 3 s on a loaded machine, and the direct path is the better one
/// for the whole session. With the relay policy there is nothing to wait for.
pub fn acceptance_waits(policy: TransportPolicy, with_turn: bool) -> AcceptanceWaits {
    let prflx = if with_turn { Duration::from_secs(1) } else { Duration::ZERO };
    match policy {
        TransportPolicy::All => {
            AcceptanceWaits { srflx: Duration::ZERO, prflx, relay: Duration::from_secs(5) }
        }
        TransportPolicy::Relay => {
            AcceptanceWaits { srflx: Duration::ZERO, prflx: Duration::ZERO, relay: Duration::ZERO }
        }
    }
}

/// A local H.264 track sending with `ssrc`. The agent writes whole RTP packets to it,
/// stamped with each frame's capture time ([`super::VideoPacketizer`]).
pub fn video_track(ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    let track = stream_track(VIDEO_STREAM_ID, "screen", RtpCodecKind::Video, ssrc, h264_codec());
    Arc::new(TrackLocalStaticRTP::new(track))
}

/// A local Opus track sending with `ssrc`. The agent writes whole RTP packets to it: it sets
/// timestamps from the capture clock and leaves DTX frames out (see `tether_media::audio`).
pub fn audio_track(ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    let track =
        stream_track(AUDIO_STREAM_ID, "system-audio", RtpCodecKind::Audio, ssrc, opus_codec());
    Arc::new(TrackLocalStaticRTP::new(track))
}

/// The id the peer accepted for header extension `uri`, if it accepted it.
pub fn negotiated_extension_id(params: &RTCRtpParameters, uri: &str) -> Option<u8> {
    params
        .header_extensions
        .iter()
        .find(|ext| ext.uri == uri)
        .and_then(|ext| u8::try_from(ext.id).ok())
        .filter(|id| (1..=14).contains(id))
}

/// Track `id` of media stream `stream`, sending `codec` with `ssrc`.
fn stream_track(
    stream: &str,
    id: &str,
    kind: RtpCodecKind,
    ssrc: u32,
    codec: RTCRtpCodecParameters,
) -> MediaStreamTrack {
    MediaStreamTrack::new(
        stream.to_owned(),
        id.to_owned(),
        id.to_owned(),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: codec.rtp_codec,
            ..Default::default()
        }],
    )
}

/// webrtc-rs's candidate as it goes on the wire.
pub fn candidate_to_proto(init: RTCIceCandidateInit) -> IceCandidate {
    IceCandidate {
        candidate: init.candidate,
        // webrtc-rs writes an empty mid; browsers reject "" but accept an m-line index alone.
        sdp_mid: init.sdp_mid.filter(|mid| !mid.is_empty()),
        sdp_mline_index: init.sdp_mline_index.or(Some(0)),
        username_fragment: init.username_fragment.filter(|u| !u.is_empty()),
    }
}

/// A candidate from the wire, for `add_ice_candidate`.
pub fn candidate_from_proto(candidate: &IceCandidate) -> RTCIceCandidateInit {
    RTCIceCandidateInit {
        candidate: candidate.candidate.clone(),
        sdp_mid: candidate.sdp_mid.clone(),
        sdp_mline_index: candidate.sdp_mline_index,
        username_fragment: candidate.username_fragment.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_survive_the_wire_and_lose_empty_mids() {
        let init = RTCIceCandidateInit {
            candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some(String::new()),
            sdp_mline_index: Some(0),
            username_fragment: Some("abcd".into()),
            ..Default::default()
        };
        let wire = candidate_to_proto(init);
        assert_eq!(wire.sdp_mid, None);
        assert_eq!(wire.sdp_mline_index, Some(0));
        let back = candidate_from_proto(&wire);
        assert_eq!(back.candidate, "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host");
        assert_eq!(back.username_fragment.as_deref(), Some("abcd"));
    }

    #[test]
    fn the_codec_is_browser_baseline() {
        let codec = h264_codec();
        assert!(codec.rtp_codec.sdp_fmtp_line.contains("packetization-mode=1"));
        assert!(codec.rtp_codec.sdp_fmtp_line.contains("profile-level-id=42e01f"));
    }
}
