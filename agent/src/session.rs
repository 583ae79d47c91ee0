//! One viewer's session: the peer connection, trickle ICE, and the video pipeline once
//! connected. The agent makes the offer (it is the ICE controlling side).
//!
//! [`Session::stop`] ends it input first: whoever stops sharing wants control back before
//! anything else. A session dropped without `stop` (an error path, a panic) still ends: every
//! part stops itself on drop and the connection is closed in the background.

use std::sync::Arc;

use tether_media::files::{Files, FilesCommand, FilesSettings};
use tether_media::rtc::{
    CongestionSettings, DtlsIdentity, LinkEstimate, PLAYOUT_DELAY_URI, PacketizerStart, PeerLink,
    PeerOptions, RtcError, Side, negotiated_extension_id, video_track,
};
use tether_proto::IceConfig;
use tether_proto::chat::CHAT_CHANNEL;
use tether_proto::clipboard::CLIPBOARD_CHANNEL;
use tether_proto::display::DISPLAY_CHANNEL;
use tether_proto::files::FILES_CHANNEL;
use tether_proto::input::INPUT_CHANNEL;
use tether_proto::signal::{IceCandidate, Sdp};
use tether_session::RESTART_AFTER;
use tether_session::candidates::{self, EarlyCandidates};
use tether_session::clipboard::ClipboardPolicy;
use tether_session::monitors::MonitorControl;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::rtp_transceiver::RtpSender;

use crate::audio::{self, AudioPipeline, AudioTrack};
use crate::capture::ShownMonitor;
use crate::chat::ChatService;
use crate::clipboard::ClipboardService;
use crate::display::DisplayService;
use crate::input::{self, InputService, InputSettings};
use crate::video::{MIN_BITRATE_BPS, SourceFactory, VideoPipeline, VideoSettings};

/// What the viewer may do in this session, decided at consent time.
pub struct Controls {
    pub input: InputSettings,
    pub clipboard: ClipboardPolicy,
    pub files: FilesSettings,
    /// Which monitors the viewer may see; it follows into `input.shown`.
    pub monitors: MonitorControl,
}

pub struct Session {
    /// The peer connection, its negotiation and its ICE restarts.
    pub link: PeerLink,
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    video: Option<VideoPipeline>,
    input_channel: Arc<dyn DataChannel>,
    input_settings: InputSettings,
    input: Option<InputService>,
    clipboard_channel: Arc<dyn DataChannel>,
    clipboard_policy: ClipboardPolicy,
    clipboard: Option<ClipboardService>,
    chat_channel: Arc<dyn DataChannel>,
    chat: Option<ChatService>,
    files_channel: Arc<dyn DataChannel>,
    files_settings: FilesSettings,
    files: Option<Files>,
    display_channel: Arc<dyn DataChannel>,
    monitors: Option<MonitorControl>,
    display: Option<DisplayService>,
    audio_track: Option<AudioTrack>,
    audio: Option<AudioPipeline>,
    /// What the congestion controller makes of the viewer's feedback; `None` with a fixed
    /// bitrate.
    estimate: Option<Arc<LinkEstimate>>,
    /// The viewer's candidates until its answer (to the first offer or a restart) is in.
    early: EarlyCandidates,
    answered: bool,
    /// [`Session::stop`] ran: nothing is left for drop to do.
    stopped: bool,
}

/// What `Session::start` adds to the peer connection.
struct Media {
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    input_channel: Arc<dyn DataChannel>,
    clipboard_channel: Arc<dyn DataChannel>,
    chat_channel: Arc<dyn DataChannel>,
    files_channel: Arc<dyn DataChannel>,
    display_channel: Arc<dyn DataChannel>,
    audio_track: Option<AudioTrack>,
    offer: Sdp,
}

impl Session {
    /// Builds the peer connection and returns it with the offer to send. `controls` are
    /// decided at consent time (view-only or not) and hold for the whole session.
    pub async fn start(
        ice: &IceConfig,
        udp_bind: &[String],
        controls: Controls,
        with_audio: bool,
        video: &VideoSettings,
        identity: Option<DtlsIdentity>,
    ) -> Result<(Self, Sdp), RtcError> {
        let max_bitrate_bps = video.bitrate_bps;
        let estimate = Arc::new(LinkEstimate::default());
        // GCC starts at the configured bitrate: on a LAN the picture is sharp at once; on a
        // slower link the first second's overuse brings the estimate down.
        let congestion = CongestionSettings {
            initial_bps: max_bitrate_bps,
            min_bps: MIN_BITRATE_BPS.min(max_bitrate_bps),
            max_bps: max_bitrate_bps,
            estimate: estimate.clone(),
        };
        let congestion = video.adaptive.then_some(congestion);
        let options =
            PeerOptions { ice: ice.clone(), udp_bind: udp_bind.to_vec(), congestion, identity };
        let mut link =
            PeerLink::new(&options, Side::Offerer { restart_after: RESTART_AFTER }).await?;
        let media = match add_media(&mut link, with_audio).await {
            Ok(media) => media,
            Err(err) => {
                // Not left to linger: a half-built connection holds sockets and tasks.
                link.close().await;
                return Err(err);
            }
        };
        let session = Session {
            link,
            track: media.track,
            sender: media.sender,
            ssrc: media.ssrc,
            video: None,
            input_channel: media.input_channel,
            input_settings: controls.input,
            input: None,
            clipboard_channel: media.clipboard_channel,
            clipboard_policy: controls.clipboard,
            clipboard: None,
            chat_channel: media.chat_channel,
            chat: None,
            files_channel: media.files_channel,
            files_settings: controls.files,
            files: None,
            display_channel: media.display_channel,
            monitors: Some(controls.monitors),
            display: None,
            audio_track: media.audio_track,
            audio: None,
            estimate: video.adaptive.then_some(estimate),
            early: EarlyCandidates::default(),
            answered: false,
            stopped: false,
        };
        Ok((session, media.offer))
    }

    /// Applies the viewer's answer, then the candidates that came before it.
    pub async fn apply_answer(&mut self, answer: Sdp) -> Result<(), RtcError> {
        self.link.apply_answer(answer).await?;
        self.answered = true;
        for candidate in self.early.take() {
            self.link.add_candidate(candidate).await;
        }
        Ok(())
    }

    /// Adds a candidate of the viewer's, or holds it (bounded) until the answer is in.
    pub async fn add_candidate(&mut self, candidate: IceCandidate) {
        if !self.answered {
            if !self.early.push(candidate) {
                tracing::debug!(dropped = self.early.dropped(), "early candidate dropped");
            }
        } else if candidates::acceptable(&candidate) {
            self.link.add_candidate(candidate).await;
        }
    }

    /// Restarts ICE if the disconnection has lasted: the new offer to send; the viewer's
    /// candidates wait for its answer again.
    pub async fn restart_if_due(&mut self) -> Option<Result<Sdp, RtcError>> {
        let offer = self.link.restart_if_due(std::time::Instant::now()).await;
        if matches!(offer, Some(Ok(_))) {
            self.answered = false;
        }
        offer
    }

    /// Prints the selected candidate pair; called on every (re)connection, e.g. after an ICE
    /// restart picked a new pair.
    pub async fn report_connected(&self) {
        if let Some(pair) = self.link.connected_pair().await {
            tracing::info!(%pair, kinds = %pair.kinds(), relayed = pair.is_relayed(), "connected");
            println!("state: connected ({pair}, pair={})", pair.kinds());
        }
    }

    /// Starts the video once ICE and DTLS are up.
    pub async fn on_connected(
        &mut self,
        open_source: SourceFactory,
        settings: VideoSettings,
    ) -> Result<(), String> {
        if self.video.is_some() {
            return Ok(());
        }
        let params = self.sender.get_parameters().await.map_err(|e| e.to_string())?;
        let payload_type = params
            .rtp_parameters
            .codecs
            .first()
            .map(|c| c.payload_type)
            .ok_or("the viewer accepted no video codec")?;
        let rtp = PacketizerStart {
            ssrc: self.ssrc,
            payload_type,
            sequence: random_u32() as u16,
            timestamp_base: random_u32(),
            epoch: std::time::Instant::now(),
            playout_delay_id: negotiated_extension_id(&params.rtp_parameters, PLAYOUT_DELAY_URI),
        };
        tracing::debug!(playout_delay_id = ?rtp.playout_delay_id, "video RTP");
        let estimate = self.estimate.clone();
        let pipeline =
            VideoPipeline::start(open_source, settings, self.track.clone(), rtp, estimate)
                .map_err(|e| format!("cannot start the video thread: {e}"))?;
        self.video = Some(pipeline);
        if let Some(control) = self.monitors.take() {
            let (channel, shown) = (self.display_channel.clone(), self.shown());
            match DisplayService::start(channel, control, shown) {
                Ok(display) => self.display = Some(display),
                Err(err) => tracing::warn!(%err, "no monitor menu in this session"),
            }
        }
        let input = InputService::start(self.input_channel.clone(), self.input_settings.clone())
            .map_err(|e| format!("cannot start the input thread: {e}"))?;
        self.input = Some(input);
        self.clipboard =
            Some(ClipboardService::start(self.clipboard_channel.clone(), self.clipboard_policy));
        self.chat = Some(ChatService::start(self.chat_channel.clone()));
        let (control, pc) = (self.files_channel.clone(), self.link.pc().clone());
        self.files = Some(Files::start(control, pc, self.files_settings.clone()));
        if let Some(track) = &self.audio_track {
            let open = Box::new(audio::open_system_output);
            match track.start(open, audio::AudioSettings::default()).await {
                Ok(pipeline) => self.audio = pipeline,
                Err(err) => tracing::warn!(%err, "cannot start the audio thread; video only"),
            }
        }
        Ok(())
    }

    /// What the viewer sees: the video source follows it.
    pub fn shown(&self) -> Arc<ShownMonitor> {
        self.input_settings.shown.clone()
    }

    /// Sends the person's chat message to the viewer.
    pub async fn send_chat(&self, text: &str) -> Result<(), String> {
        match &self.chat {
            Some(chat) => chat.send(text).await,
            None => Err("not connected yet".into()),
        }
    }

    /// Passes a file command on; `false` before the session is connected.
    pub fn files_command(&self, command: FilesCommand) -> bool {
        self.files.as_ref().is_some_and(|files| files.command(command))
    }

    /// A data channel the viewer opened: a file it sends, or something to close.
    pub fn peer_channel(&self, channel: Arc<dyn DataChannel>) {
        match &self.files {
            Some(files) => files.transfer_channel(channel),
            None => drop(tokio::spawn(async move { channel.close().await })),
        }
    }

    /// Whether the video stopped on its own (the display went away).
    pub fn video_failed(&self) -> bool {
        self.video.as_ref().is_some_and(VideoPipeline::capture_ended)
    }

    /// Ends the session: input first (the viewer's control ends before anything else), then
    /// the video and the audio, then the peer connection. Returns why the capture stopped, if
    /// it stopped with an error.
    pub async fn stop(mut self) -> Option<String> {
        if let Some(input) = self.input.take() {
            println!("{}", input.stop().await);
        }
        if let Some(clipboard) = self.clipboard.take() {
            println!("{}", clipboard.stop().await);
        }
        if let Some(chat) = self.chat.take() {
            println!("{}", chat.stop().await);
        }
        if let Some(files) = self.files.take() {
            println!("{}", files.stop().await);
        }
        if let Some(display) = self.display.take() {
            display.stop().await;
        }
        let capture_error = match self.video.take() {
            Some(video) => video.stop().await,
            None => None,
        };
        if let Some(audio) = self.audio.take() {
            audio.stop().await;
        }
        self.link.close().await;
        self.stopped = true;
        capture_error
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        tracing::warn!("a session was dropped without being stopped; stopping it");
        // Each part stops itself on drop; input goes first, as in `stop`.
        drop(self.input.take());
        drop(self.clipboard.take());
        drop(self.chat.take());
        drop(self.files.take());
        drop(self.display.take());
        drop(self.video.take());
        drop(self.audio.take());
        let pc = self.link.pc().clone();
        // Without a runtime the process is ending, and the connection with it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = pc.close().await {
                    tracing::debug!(%err, "closing a dropped session's connection");
                }
            });
        }
    }
}

/// Adds the video track, the data channels and the audio track, and makes the offer.
async fn add_media(link: &mut PeerLink, with_audio: bool) -> Result<Media, RtcError> {
    let pc = link.pc().clone();
    let ssrc = rand_ssrc();
    let track = video_track(ssrc);
    let sender = pc.add_track(track.clone()).await?;
    // Created before the offer so that the SDP carries the data channel (SCTP) section.
    let input_channel = pc.create_data_channel(INPUT_CHANNEL, Some(input::channel_init())).await?;
    // Ordered and reliable like input: a clipboard text or a message arrives whole or not at
    // all. The clipboard channel exists in view-only sessions too, to refuse (and count).
    let clipboard_channel =
        pc.create_data_channel(CLIPBOARD_CHANNEL, Some(input::channel_init())).await?;
    let chat_channel = pc.create_data_channel(CHAT_CHANNEL, Some(input::channel_init())).await?;
    let files_channel = pc.create_data_channel(FILES_CHANNEL, Some(input::channel_init())).await?;
    let display_channel =
        pc.create_data_channel(DISPLAY_CHANNEL, Some(input::channel_init())).await?;
    let audio_track = match with_audio {
        true => Some(AudioTrack::add_to(pc.as_ref(), rand_ssrc()).await?),
        false => None,
    };
    let offer = link.offer().await?;
    Ok(Media {
        track,
        sender,
        ssrc,
        input_channel,
        clipboard_channel,
        chat_channel,
        files_channel,
        display_channel,
        audio_track,
        offer,
    })
}

fn rand_ssrc() -> u32 {
    // Unique per session is all an SSRC needs; the low bit keeps it non-zero.
    random_u32() | 1
}

/// RFC 3550's random starting points (SSRC, sequence number, timestamp).
fn random_u32() -> u32 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u32()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};
    use tether_proto::signal::IceCandidate;

    async fn start() -> Session {
        let input = InputSettings { view_only: true, shown: ShownMonitor::fixed(0) };
        let video = VideoSettings { max_fps: 30.0, bitrate_bps: 1_000_000, adaptive: false };
        let udp = ["127.0.0.1:0".to_owned()];
        let files = FilesSettings {
            policy: tether_session::files::FilesPolicy::ViewOnly,
            downloads: std::env::temp_dir(),
            id_prefix: 'a',
            peer: "the viewer",
            cancel_after_bytes: None,
            offer_name: None,
        };
        let monitors = MonitorControl::new(tether_session::monitors::Shown::Monitor(0), false);
        let controls = Controls { input, clipboard: ClipboardPolicy::ViewOnly, files, monitors };
        let (session, _offer) =
            Session::start(&IceConfig::default(), &udp, controls, false, &video, None)
                .await
                .unwrap();
        session
    }

    #[tokio::test]
    async fn a_session_dropped_without_stop_closes_its_connection() {
        let session = start().await;
        let pc = session.link.pc().clone();
        assert!(pc.create_offer(None).await.is_ok(), "open before");
        drop(session);
        let deadline = Instant::now() + Duration::from_secs(10);
        while pc.create_offer(None).await.is_ok() {
            assert!(Instant::now() < deadline, "the dropped session's connection stays open");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn candidates_before_the_answer_are_held_within_bounds() {
        let mut session = start().await;
        let big = "x".repeat(candidates::MAX_CANDIDATE_BYTES - 4);
        for _ in 0..1000 {
            let candidate = IceCandidate {
                candidate: big.clone(),
                sdp_mid: None,
                sdp_mline_index: None,
                username_fragment: None,
            };
            session.add_candidate(candidate).await;
        }
        assert!(session.early.len() <= candidates::MAX_EARLY_BYTES / (big.len()));
        assert!(session.early.dropped() >= 900);
        session.stop().await;
    }
}
