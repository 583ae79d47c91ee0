//! Two real peer connections on 127.0.0.1: H.264 frames sent on one arrive, reassembled and
//! decoded, on the other, with RTP timestamps that are their capture times and the
//! playout-delay extension; video and audio are offered in separate media streams; a PLI from
//! the receiver reaches the sender's track as a keyframe request (through the forwarding
//! interceptor).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use tether_media::codec::{EncoderSettings, H264Decoder, H264Encoder, I420Frame, VideoEncoder};
use tether_media::rtc::{
    AUDIO_STREAM_ID, FrameAssembler, PLAYOUT_DELAY_URI, PacketizerStart, PeerEvent, PeerOptions,
    VIDEO_STREAM_ID, VideoPacketizer, audio_track, build_peer, candidate_from_proto,
    negotiated_extension_id, video_track,
};
use tether_proto::IceConfig;
use tether_session::LinkState;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::PeerConnection;

const PATIENCE: Duration = Duration::from_secs(20);

fn options() -> PeerOptions {
    PeerOptions {
        ice: IceConfig::default(),
        udp_bind: vec!["127.0.0.1:0".into()],
        congestion: None,
        identity: None,
    }
}

/// A moving gradient, so every frame differs.
fn picture(n: u32) -> I420Frame {
    let mut frame = I420Frame::new(320, 240);
    for y in 0..240u32 {
        for x in 0..320u32 {
            frame.y[(y * 320 + x) as usize] = ((x + y + n * 4) % 256) as u8;
        }
    }
    frame.u.fill(100);
    frame.v.fill(150);
    frame
}

/// Irregular capture instants: 16 or 50 ms apart, as a screen that sometimes skips frames.
fn capture_offset(n: u32) -> Duration {
    Duration::from_millis((0..n).map(|i| if i % 3 == 2 { 50 } else { 16 }).sum())
}

/// The stream id of each `a=msid:` line, in m-line order.
fn msid_streams(sdp: &str) -> Vec<&str> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=msid:"))
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

/// Forwards local candidates to the other peer until `Connected`; returns the other events.
async fn pump(
    mut events: mpsc::Receiver<PeerEvent>,
    other: Arc<dyn PeerConnection>,
    rest: mpsc::Sender<PeerEvent>,
) {
    while let Some(event) = events.recv().await {
        match event {
            PeerEvent::LocalCandidate(c) => {
                other.add_ice_candidate(candidate_from_proto(&c)).await.unwrap();
            }
            other_event => {
                if rest.send(other_event).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn wait_connected(events: &mut mpsc::Receiver<PeerEvent>) -> Option<Arc<dyn TrackRemote>> {
    let mut track = None;
    loop {
        match tokio::time::timeout(PATIENCE, events.recv()).await.expect("connects in time") {
            Some(PeerEvent::State(LinkState::Connected)) => return track,
            Some(PeerEvent::Track(t)) => track = Some(t),
            Some(PeerEvent::State(LinkState::Failed)) => panic!("ICE failed on loopback"),
            Some(_) => {}
            None => panic!("peer events ended"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_frames_arrive_and_keyframe_requests_come_back() {
    let (a_tx, a_events) = mpsc::channel(256);
    let (b_tx, b_events) = mpsc::channel(256);
    let sender_pc = build_peer(&options(), a_tx).await.unwrap();
    let receiver_pc = build_peer(&options(), b_tx).await.unwrap();
    let ssrc = 0x1234_5678;
    let track = video_track(ssrc);
    let rtp_sender = sender_pc.add_track(track.clone()).await.unwrap();
    sender_pc.add_track(audio_track(ssrc + 2)).await.unwrap();

    let offer = sender_pc.create_offer(None).await.unwrap();
    assert_eq!(msid_streams(&offer.sdp), [VIDEO_STREAM_ID, AUDIO_STREAM_ID], "{}", offer.sdp);
    assert!(offer.sdp.contains(PLAYOUT_DELAY_URI), "the offer proposes zero playout delay");
    sender_pc.set_local_description(offer.clone()).await.unwrap();
    receiver_pc.set_remote_description(offer).await.unwrap();
    let answer = receiver_pc.create_answer(None).await.unwrap();
    receiver_pc.set_local_description(answer.clone()).await.unwrap();
    sender_pc.set_remote_description(answer).await.unwrap();

    let (a_rest_tx, mut a_rest) = mpsc::channel(64);
    let (b_rest_tx, mut b_rest) = mpsc::channel(64);
    tokio::spawn(pump(a_events, receiver_pc.clone(), a_rest_tx));
    tokio::spawn(pump(b_events, sender_pc.clone(), b_rest_tx));
    wait_connected(&mut a_rest).await;
    let early_track = wait_connected(&mut b_rest).await;

    let params = rtp_sender.get_parameters().await.unwrap().rtp_parameters;
    let playout_delay_id = negotiated_extension_id(&params, PLAYOUT_DELAY_URI);
    assert!(playout_delay_id.is_some(), "the answer accepts zero playout delay");
    let epoch = Instant::now();
    let start = PacketizerStart {
        ssrc,
        payload_type: params.codecs[0].payload_type,
        sequence: 65_000,
        timestamp_base: u32::MAX - 900_000,
        epoch,
        playout_delay_id,
    };
    let writer_track = track.clone();
    let writer = tokio::spawn(async move {
        let mut encoder = H264Encoder::new(EncoderSettings {
            bitrate_bps: 1_000_000,
            max_fps: 30.0,
            ..EncoderSettings::default()
        })
        .unwrap();
        let mut rtp = VideoPacketizer::new(start);
        for n in 0..300u32 {
            // Frames are sent well after their (irregular) capture instants, as after an encode.
            let captured = epoch + capture_offset(n);
            if let Ok(Some(frame)) = encoder.encode(&picture(n), n == 0) {
                for packet in rtp.packetize(&frame.data, captured).unwrap() {
                    let _ = writer_track.write_rtp(packet).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(33)).await;
        }
    });

    // webrtc-rs announces the remote track with its first RTP packet, so only now.
    let remote = match early_track {
        Some(track) => track,
        None => loop {
            match tokio::time::timeout(PATIENCE, b_rest.recv()).await.expect("a track in time") {
                Some(PeerEvent::Track(track)) => break track,
                Some(_) => {}
                None => panic!("peer events ended before a track"),
            }
        },
    };

    // Receive, reassemble and decode ten frames.
    let mut assembler = FrameAssembler::new(Duration::from_millis(100));
    let mut decoder = H264Decoder::new().unwrap();
    let mut decoded = 0;
    let mut timestamps = Vec::new();
    while decoded < 10 {
        let event = tokio::time::timeout(PATIENCE, remote.poll()).await.expect("RTP in time");
        let event = event.expect("the remote track stays open");
        if let TrackRemoteEvent::OnRtpPacket(p) = event {
            let h = &p.header;
            if h.marker {
                timestamps.push(h.timestamp);
                assert_eq!(
                    h.get_extension(playout_delay_id.unwrap()).as_deref(),
                    Some(&[0u8; 3][..])
                );
            }
            for frame in
                assembler.push(Instant::now(), h.sequence_number, h.timestamp, h.marker, p.payload)
            {
                let picture = decoder.decode(&frame.data).expect("decodes").expect("a picture");
                assert_eq!((picture.width, picture.height), (320, 240));
                decoded += 1;
            }
        }
    }
    assert_eq!(assembler.stats().frames_lost, 0);
    // Each frame's RTP time is its capture offset on the 90 kHz clock (frame n is the n-th).
    for (n, ts) in timestamps.iter().enumerate() {
        let ticks = capture_offset(n as u32).as_micros() as u64 * 9 / 100;
        assert_eq!(*ts, (u32::MAX - 900_000).wrapping_add(ticks as u32), "frame {n}");
    }

    // The receiver asks for a keyframe; the sender's track hears it.
    let media_ssrc = remote.ssrcs().await[0];
    remote
        .write_rtcp(vec![Box::new(PictureLossIndication { sender_ssrc: 0, media_ssrc })])
        .await
        .unwrap();
    let heard = tokio::time::timeout(PATIENCE, async {
        while let Some(event) = track.poll().await {
            if let TrackLocalEvent::OnRtcpPacket(packets) = event {
                return packets.iter().any(|p| p.as_any().is::<PictureLossIndication>());
            }
        }
        false
    })
    .await
    .expect("the PLI arrives in time");
    assert!(heard);
    writer.abort();
    sender_pc.close().await.unwrap();
    receiver_pc.close().await.unwrap();
}
