//! The viewer's session: join by code, answer the agent's offer, trickle candidates, receive
//! and decode the video, print state and stats, end cleanly.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tether_media::rtc::{
    PeerEvent, PeerOptions, PeerState, build_peer, candidate_from_proto, selected_pair,
    settled_pair,
};
use tether_proto::input::{INPUT_CHANNEL, InputMsg};
use tether_proto::signal::{
    Bye, ByeReason, Candidate, ClientMsg, IceCandidate, Join, Role, Sdp, ServerMsg,
};
use tether_proto::{IceConfig, LocalIce, SessionCode};
use tether_signal_client::client::{ClientOptions, SignalClient, SignalSender};
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, RTCSessionDescription, RTCStatsReportEntry, StatsSelector,
};

use crate::audio::{AudioReceiver, AudioSettings, AudioStatsPrinter};
use crate::decode::{Decoding, RtpIn, Shared};
use crate::input_script::{self, InputScript};
use crate::ui::SessionUi;

/// What the command line asked for.
pub struct ViewerSettings {
    pub name: String,
    pub snapshot: Option<PathBuf>,
    pub duration: Option<Duration>,
    pub latency_probe: bool,
    pub udp_bind: Vec<String>,
    /// The window, if any: it sees every printed line and every decoded picture.
    pub ui: Option<Arc<dyn SessionUi>>,
    pub input_script: Option<InputScript>,
    /// Give up (ICE failed) if not connected this long after the offer.
    pub connect_timeout: Duration,
    /// ICE servers and policy from flags or a file, merged over the server's.
    pub ice: LocalIce,
    pub audio: AudioSettings,
}

const STATS_EVERY: Duration = Duration::from_secs(1);
/// Longest the stats queries of one `stats:` line may take.
const STATS_BUDGET: Duration = Duration::from_millis(300);
/// How long `state: connected` waits for the transport to name the selected pair.
const PAIR_PATIENCE: Duration = Duration::from_secs(1);
/// At most one keyframe request per this interval while the decoder waits for one.
const PLI_EVERY: Duration = Duration::from_millis(300);
/// With no frame decoded this long after the track opened, keyframes are asked for anyway.
const FIRST_FRAME_PATIENCE: Duration = Duration::from_secs(1);

struct Peer {
    pc: Arc<dyn PeerConnection>,
    events: mpsc::Receiver<PeerEvent>,
}

/// Joins with `code` and receives until the session ends. Messages from `input` go to the
/// agent's `input` channel; its closing hangs up.
pub async fn run(
    server: &str,
    options: &ClientOptions,
    code: SessionCode,
    settings: &ViewerSettings,
    mut input: Option<&mut mpsc::Receiver<InputMsg>>,
) -> anyhow::Result<()> {
    let say = |line: String| say(settings.ui.as_deref(), line);
    let mut client = SignalClient::connect(server, options).await?;
    client.hello(Role::Viewer, &settings.name).await?;
    client.send(&ClientMsg::Join(Join { code })).await?;
    say(format!("state: joining {code}"));
    let (mut tx, mut rx) = client.split();
    let decoding =
        Decoding::start(settings.snapshot.clone(), settings.latency_probe, settings.ui.clone())
            .context("cannot start the decode thread")?;
    let audio =
        AudioReceiver::start(settings.audio.clone()).context("cannot start the audio thread")?;
    let mut audio_stats: Option<AudioStatsPrinter> = None;
    let mut ice = IceConfig::default();
    let mut peer: Option<Peer> = None;
    let mut early_candidates: Vec<IceCandidate> = Vec::new();
    let mut input_channel: Option<Arc<dyn DataChannel>> = None;
    let mut tasks = tokio::task::JoinSet::new();
    let mut stats = StatsPrinter::new();
    let mut stats_tick = tokio::time::interval(STATS_EVERY);
    let deadline = settings.duration.map(|d| tokio::time::Instant::now() + d);
    let ending = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(ending);
    // Armed when the offer arrives, disarmed on `connected`: nothing waits forever for ICE.
    let mut connect_by: Option<tokio::time::Instant> = None;
    let mut peer_state = "new";
    let outcome: anyhow::Result<()> = loop {
        tokio::select! {
            () = &mut ending => {
                hang_up(&mut tx, settings.ui.as_deref()).await;
                break Ok(());
            }
            () = sleep_until_some(connect_by) => {
                let _ = tx.send(&ClientMsg::Bye(Bye { reason: ByeReason::IceFailed, message: None })).await;
                break Err(ice_failed(&format!("not connected within {:?}", settings.connect_timeout), settings.ui.as_deref()));
            }
            _ = tokio::signal::ctrl_c() => {
                hang_up(&mut tx, settings.ui.as_deref()).await;
                break Ok(());
            }
            msg = next_input(&mut input) => match msg {
                Some(msg) => send_input(input_channel.as_deref(), &msg).await,
                None => {
                    hang_up(&mut tx, settings.ui.as_deref()).await;
                    break Ok(());
                }
            },
            msg = rx.recv() => {
                let msg = match msg {
                    Ok(msg) => msg,
                    Err(err) => break Err(anyhow::Error::new(err).context("signaling connection lost")),
                };
                match msg {
                    ServerMsg::Joined(joined) => {
                        ice = settings.ice.apply(joined.ice);
                        say(format!("state: joined {:?}; waiting for the person there to allow", joined.agent_name));
                    }
                    ServerMsg::Offer(offer) => {
                        if let Some(p) = &peer {
                            // A new offer on a live session is the agent's ICE restart.
                            let sdp = reanswer(p.pc.as_ref(), offer).await?;
                            tx.send(&ClientMsg::Answer(sdp)).await?;
                            say("state: reconnecting (ICE restart)".to_owned());
                            continue;
                        }
                        say("state: connecting".to_owned());
                        connect_by = Some(tokio::time::Instant::now() + settings.connect_timeout);
                        match answer(&ice, &settings.udp_bind, offer).await {
                            Ok((p, sdp)) => {
                                tx.send(&ClientMsg::Answer(sdp)).await?;
                                for c in early_candidates.drain(..) {
                                    add_candidate(p.pc.as_ref(), &c).await;
                                }
                                peer = Some(p);
                            }
                            Err(err) => break Err(err),
                        }
                    }
                    ServerMsg::Candidate(Candidate { candidate: Some(c) }) => match &peer {
                        Some(p) => add_candidate(p.pc.as_ref(), &c).await,
                        None => early_candidates.push(c),
                    },
                    ServerMsg::Bye(bye) => break ended(&bye, settings.ui.as_deref()),
                    ServerMsg::Error(err) => break Err(anyhow::anyhow!("{} ({})", err.message, err.code)),
                    _ => {}
                }
            }
            Some(event) = next_event(&mut peer) => match event {
                PeerEvent::LocalCandidate(c) => {
                    tx.send(&ClientMsg::Candidate(Candidate { candidate: Some(c) })).await?;
                }
                PeerEvent::Track(track) if track.kind().await == RtpCodecKind::Audio => {
                    audio_stats = Some(AudioStatsPrinter::new());
                    tasks.spawn(audio.read_track(track));
                }
                PeerEvent::Track(track) => {
                    if let Some(feeder) = decoding.feeder() {
                        tasks.spawn(read_track(track.clone(), feeder));
                        tasks.spawn(request_keyframes(track, decoding.shared.clone()));
                    }
                }
                PeerEvent::State(PeerState::Connected) => {
                    connect_by = None;
                    peer_state = "connected";
                    let pair = match &peer {
                        Some(p) => settled_pair(p.pc.as_ref(), PAIR_PATIENCE).await,
                        None => None,
                    };
                    match &pair {
                        Some(pair) => say(format!("state: connected ({pair}, pair={})", pair.kinds())),
                        None => say("state: connected (pair=unknown)".to_owned()),
                    }
                }
                PeerEvent::State(PeerState::Failed) => {
                    let _ = tx.send(&ClientMsg::Bye(Bye { reason: ByeReason::IceFailed, message: None })).await;
                    break Err(ice_failed("the connectivity checks failed", settings.ui.as_deref()));
                }
                PeerEvent::State(state) => {
                    tracing::info!(?state, "connection state");
                    peer_state = state_name(state);
                }
                PeerEvent::DataChannel(channel) => {
                    let is_input = channel.label().await.is_ok_and(|l| l == INPUT_CHANNEL);
                    if let Some(script) = settings.input_script.clone().filter(|_| is_input) {
                        tasks.spawn(input_script::play(channel.clone(), script));
                    }
                    if is_input {
                        input_channel = Some(channel);
                    }
                }
            },
            _ = stats_tick.tick() => {
                if let Some(p) = &peer {
                    // Bounded: the stats line must never hold up the session loop.
                    let network = tokio::time::timeout(STATS_BUDGET, network_stats(p.pc.as_ref()))
                        .await
                        .unwrap_or_else(|_| "packets=? (stats timed out)".to_owned());
                    let pair = tokio::time::timeout(STATS_BUDGET, selected_pair(p.pc.as_ref()))
                        .await
                        .map_or("?".to_owned(), |pair| pair.map_or("none".to_owned(), |p| p.kinds()));
                    say(format!("{} {network} ice={peer_state} pair={pair}", stats.line(&decoding.shared)));
                    if let Some(printer) = &mut audio_stats {
                        println!("{}", printer.line(&audio.stats));
                    }
                }
            }
        }
    };
    tasks.abort_all();
    if let Some(p) = peer.take() {
        let _ = p.pc.close().await;
    }
    let shared = decoding.shared.clone();
    tokio::task::spawn_blocking(move || {
        decoding.stop();
        audio.stop();
    })
    .await
    .ok();
    if settings.latency_probe {
        println!("{}", latency_line(&shared.latencies()));
    }
    outcome
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Prints the `state: ended` line for an ICE failure and returns the error to exit with.
fn ice_failed(detail: &str, ui: Option<&dyn SessionUi>) -> anyhow::Error {
    let text = format!("no network path to the computer could be found (ICE failed: {detail})");
    say(ui, format!("state: ended ({text})"));
    anyhow::anyhow!(text)
}

fn state_name(state: PeerState) -> &'static str {
    match state {
        PeerState::Connecting => "connecting",
        PeerState::Connected => "connected",
        PeerState::Disconnected => "disconnected",
        PeerState::Failed => "failed",
        PeerState::Closed => "closed",
    }
}

/// Answers a renegotiation offer (an ICE restart) on the live peer connection.
async fn reanswer(pc: &dyn PeerConnection, offer: Sdp) -> anyhow::Result<Sdp> {
    let offer = RTCSessionDescription::offer(offer.sdp).context("the offer is not valid SDP")?;
    pc.set_remote_description(offer).await.context("the restart offer could not be applied")?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer.clone()).await?;
    Ok(Sdp { sdp: answer.sdp })
}

async fn next_event(peer: &mut Option<Peer>) -> Option<PeerEvent> {
    match peer {
        Some(p) => p.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn answer(ice: &IceConfig, udp_bind: &[String], offer: Sdp) -> anyhow::Result<(Peer, Sdp)> {
    let (events_tx, events) = mpsc::channel(256);
    let options = PeerOptions { ice: ice.clone(), udp_bind: udp_bind.to_vec() };
    let pc = build_peer(&options, events_tx).await?;
    let offer = RTCSessionDescription::offer(offer.sdp).context("the offer is not valid SDP")?;
    pc.set_remote_description(offer).await.context("the offer could not be applied")?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer.clone()).await?;
    Ok((Peer { pc, events }, Sdp { sdp: answer.sdp }))
}

async fn add_candidate(pc: &dyn PeerConnection, candidate: &IceCandidate) {
    if candidate.candidate.is_empty() {
        return;
    }
    if let Err(err) = pc.add_ice_candidate(candidate_from_proto(candidate)).await {
        tracing::warn!(%err, "remote candidate refused");
    }
}

/// Prints a line and shows it in the window, if there is one.
fn say(ui: Option<&dyn SessionUi>, line: String) {
    println!("{line}");
    if let Some(ui) = ui {
        ui.line(&line);
    }
}

async fn next_input(input: &mut Option<&mut mpsc::Receiver<InputMsg>>) -> Option<InputMsg> {
    match input {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Input before the agent opened its channel (or after it closed) is dropped: it would act
/// on a picture the user has not seen.
async fn send_input(channel: Option<&dyn DataChannel>, msg: &InputMsg) {
    let Some(channel) = channel else {
        tracing::debug!(?msg, "no input channel; input dropped");
        return;
    };
    tracing::debug!(?msg, "input");
    if let Err(err) = channel.send_text(&msg.encode()).await {
        tracing::debug!(%err, "input not sent");
    }
}

async fn hang_up(tx: &mut SignalSender, ui: Option<&dyn SessionUi>) {
    let _ = tx.send(&ClientMsg::Bye(Bye { reason: ByeReason::Hangup, message: None })).await;
    say(ui, "state: ended (hung up)".to_owned());
}

fn ended(bye: &Bye, ui: Option<&dyn SessionUi>) -> anyhow::Result<()> {
    let why = match bye.reason {
        ByeReason::Hangup => "the viewer hung up",
        ByeReason::Stopped => "the person stopped sharing",
        ByeReason::Denied => "the person declined",
        ByeReason::ConsentTimeout => "nobody answered the request",
        ByeReason::PeerLeft => "the computer disconnected",
        ByeReason::IceFailed => "no network path could be found",
        ByeReason::ServerShutdown => "the signaling server shut down",
        ByeReason::Other => "ended",
    };
    let text = match &bye.message {
        Some(message) => format!("{why}: {message}"),
        None => why.to_owned(),
    };
    say(ui, format!("state: ended ({text})"));
    match bye.reason {
        ByeReason::Denied | ByeReason::ConsentTimeout | ByeReason::IceFailed => bail!("{text}"),
        _ => Ok(()),
    }
}

/// Moves RTP from webrtc-rs's track queue to the decode thread as fast as it comes: that
/// queue drops packets when full, and such drops are never retransmitted.
async fn read_track(track: Arc<dyn TrackRemote>, feeder: crate::decode::Feeder) {
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let rtp = RtpIn {
                    sequence_number: packet.header.sequence_number,
                    timestamp: packet.header.timestamp,
                    marker: packet.header.marker,
                    payload: packet.payload,
                };
                if !feeder.feed(rtp) {
                    return;
                }
            }
            TrackRemoteEvent::OnEnded => return,
            _ => {}
        }
    }
}

/// Sends a PLI while the decoder waits for a keyframe, at most every [`PLI_EVERY`].
async fn request_keyframes(track: Arc<dyn TrackRemote>, shared: Arc<Shared>) {
    // Not at once: the first keyframe is usually still arriving when the track opens.
    let opened = tokio::time::Instant::now();
    let mut tick = tokio::time::interval_at(opened + PLI_EVERY, PLI_EVERY);
    loop {
        tick.tick().await;
        // A first keyframe lost whole (e.g. sent while a TURN channel was still being bound)
        // leaves no gap for the decoder to notice, and a still screen sends nothing else.
        let nothing_yet = shared.stats.frames.load(Ordering::Relaxed) == 0
            && opened.elapsed() >= FIRST_FRAME_PATIENCE;
        if !shared.wants_keyframe.swap(false, Ordering::Relaxed) && !nothing_yet {
            continue;
        }
        let Some(&ssrc) = track.ssrcs().await.first() else { continue };
        let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: ssrc };
        if let Err(err) = track.write_rtcp(vec![Box::new(pli)]).await {
            tracing::debug!(%err, "PLI not sent");
        }
    }
}

/// RTP-level loss as webrtc-rs counts it: `packets=N packets_lost=N nacks=N plis=N`.
async fn network_stats(pc: &dyn PeerConnection) -> String {
    let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
    let (mut packets, mut lost, mut nacks, mut plis) = (0u64, 0i64, 0u64, 0u64);
    for inbound in report.inbound_rtp_streams() {
        packets += inbound.received_rtp_stream_stats.packets_received;
        lost += inbound.received_rtp_stream_stats.packets_lost;
        nacks += u64::from(inbound.nack_count);
        plis += u64::from(inbound.pli_count);
    }
    let rtt_ms = report
        .transport()
        .and_then(|t| match report.get(&t.selected_candidate_pair_id) {
            Some(RTCStatsReportEntry::IceCandidatePair(pair)) => Some(pair.current_round_trip_time),
            _ => None,
        })
        .unwrap_or(0.0)
        * 1000.0;
    format!("packets={packets} packets_lost={lost} nacks={nacks} plis={plis} rtt_ms={rtt_ms:.1}")
}

/// Turns the decode counters into one `stats:` line a second.
struct StatsPrinter {
    last: Instant,
    frames: u64,
    bytes: u64,
    decode_us: u64,
}

impl StatsPrinter {
    fn new() -> Self {
        StatsPrinter { last: Instant::now(), frames: 0, bytes: 0, decode_us: 0 }
    }

    fn line(&mut self, shared: &Shared) -> String {
        let s = &shared.stats;
        let (frames, bytes, decode_us) = (
            s.frames.load(Ordering::Relaxed),
            s.bytes.load(Ordering::Relaxed),
            s.decode_us.load(Ordering::Relaxed),
        );
        let secs = self.last.elapsed().as_secs_f64().max(0.001);
        let new_frames = frames - self.frames;
        let line = format!(
            "stats: fps={:.1} kbps={:.0} decode_ms={:.2} frames={} lost={} discarded={} dropped={} errors={} size={}x{}",
            new_frames as f64 / secs,
            (bytes - self.bytes) as f64 * 8.0 / 1000.0 / secs,
            (decode_us - self.decode_us) as f64 / 1000.0 / new_frames.max(1) as f64,
            frames,
            s.lost.load(Ordering::Relaxed),
            s.discarded.load(Ordering::Relaxed),
            s.queue_drops.load(Ordering::Relaxed),
            s.decode_errors.load(Ordering::Relaxed),
            s.width.load(Ordering::Relaxed),
            s.height.load(Ordering::Relaxed),
        );
        *self = StatsPrinter { last: Instant::now(), frames, bytes, decode_us };
        line
    }
}

/// `latency: frames=N p50=.. p95=.. p99=.. ms`, from the probe readings.
fn latency_line(latencies: &[f64]) -> String {
    if latencies.is_empty() {
        return "latency: frames=0 (no probe pattern read)".to_owned();
    }
    let mut sorted = latencies.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    format!(
        "latency: frames={} p50={:.1}ms p95={:.1}ms p99={:.1}ms max={:.1}ms",
        sorted.len(),
        pct(0.50),
        pct(0.95),
        pct(0.99),
        pct(1.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let line = latency_line(&samples);
        assert!(line.contains("frames=100"), "{line}");
        assert!(line.contains("p50=51.0ms") || line.contains("p50=50.0ms"), "{line}");
        assert!(line.contains("p99=99.0ms"), "{line}");
        assert_eq!(latency_line(&[]), "latency: frames=0 (no probe pattern read)");
    }

    #[test]
    fn refusals_are_errors_and_normal_ends_are_not() {
        assert!(ended(&Bye { reason: ByeReason::Denied, message: None }, None).is_err());
        assert!(ended(&Bye { reason: ByeReason::Stopped, message: None }, None).is_ok());
    }
}
