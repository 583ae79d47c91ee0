//! WebRTC plumbing on webrtc-rs 0.21: building peer connections from Tether's ICE
//! configuration, turning its callbacks into events, H.264 on the wire, and reassembling
//! received RTP into access units.

mod assembler;
mod congestion;
mod identity;
mod keyframe;
mod link;
mod pacer;
mod pair;
mod peer;
mod runtime;
mod video_rtp;

pub use assembler::{AssembledFrame, AssemblerStats, FrameAssembler, reorder_wait};
pub use congestion::{CongestionSettings, EstimateSnapshot, FeedbackWindow, LinkEstimate};
pub use identity::DtlsIdentity;
pub use link::{PeerLink, Side};
pub use pacer::{PACING_FACTOR, Pacer};
pub use pair::{PairEnd, SelectedPair, selected_pair, settled_pair};
pub use peer::{
    AUDIO_STREAM_ID, PeerEvent, PeerOptions, RtcError, VIDEO_STREAM_ID, audio_track, build_peer,
    candidate_from_proto, candidate_to_proto, h264_codec, negotiated_extension_id, opus_codec,
    video_track,
};
pub use video_rtp::{
    PLAYOUT_DELAY_URI, PacketizeError, PacketizerStart, VIDEO_CLOCK_HZ, VIDEO_RTP_MTU,
    VideoPacketizer,
};
