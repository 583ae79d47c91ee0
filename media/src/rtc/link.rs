//! [`PeerLink`]: one peer connection's lifecycle as both peers use it: the connection and its
//! events, remote candidates held until the remote description is in, offer / answer /
//! re-answer, ICE restarts driven by a deadline (on the offering side) and the selected pair.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tether_proto::Sas;
use tether_proto::signal::{IceCandidate, Sdp};
use tether_session::IceRestart;
use tokio::sync::mpsc;
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

use super::pair::{SelectedPair, settled_pair};
use super::peer::{PeerEvent, PeerOptions, RtcError, build_peer, candidate_from_proto};
use crate::telemetry::Throttle;

/// Depth of the peer event channel; events are small and few.
const PEER_EVENTS: usize = 256;
/// Remote candidates held while there is no remote description: a real peer sends a handful
/// before its answer; the rest of a flood is dropped.
const HELD_CANDIDATES: usize = 64;
/// How long [`PeerLink::connected_pair`] waits for the transport to name the selected pair.
const PAIR_PATIENCE: Duration = Duration::from_secs(1);

/// Which side of the negotiation this peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Makes the offers (the agent: ICE's controlling side); restarts ICE after a lasting
    /// disconnection.
    Offerer {
        /// How long a disconnection lasts before ICE is restarted.
        restart_after: Duration,
    },
    /// Answers offers (the viewer), including restart offers on the live connection.
    Answerer,
}

/// One peer connection and the negotiation state around it.
pub struct PeerLink {
    pc: Arc<dyn PeerConnection>,
    events: mpsc::Receiver<PeerEvent>,
    /// The current negotiation's remote description is in: candidates can be added.
    remote_ready: bool,
    held: Vec<IceCandidate>,
    restart: Option<IceRestart>,
    /// A peer sending bad candidates by the thousand gets one warning a second.
    refused: Throttle,
    /// Our last offer (the offerer's half of the short authentication string).
    offered: Option<String>,
    /// The short authentication string, once an offer and its answer are both in.
    sas: Option<Sas>,
}

impl PeerLink {
    /// Builds the peer connection for `side`.
    pub async fn new(options: &PeerOptions, side: Side) -> Result<Self, RtcError> {
        let (events_tx, events) = mpsc::channel(PEER_EVENTS);
        let pc = build_peer(options, events_tx).await?;
        let restart = match side {
            Side::Offerer { restart_after } => Some(IceRestart::new(restart_after)),
            Side::Answerer => None,
        };
        Ok(PeerLink {
            pc,
            events,
            remote_ready: false,
            held: Vec::new(),
            restart,
            refused: Throttle::new(Duration::from_secs(1)),
            offered: None,
            sas: None,
        })
    }

    /// The short authentication string both people compare (`tether_proto::Sas`), once the
    /// offer and the answer are in.
    pub fn sas(&self) -> Option<Sas> {
        self.sas
    }

    /// The connection, to add tracks and channels or read stats.
    pub fn pc(&self) -> &Arc<dyn PeerConnection> {
        &self.pc
    }

    /// Makes and applies an offer (after tracks and channels were added).
    pub async fn offer(&mut self) -> Result<Sdp, RtcError> {
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer.clone()).await?;
        self.remote_ready = false;
        self.offered = Some(offer.sdp.clone());
        Ok(Sdp { sdp: offer.sdp })
    }

    /// Applies the peer's answer to our offer, then the candidates that came before it.
    pub async fn apply_answer(&mut self, answer: Sdp) -> Result<(), RtcError> {
        if let Some(offer) = &self.offered {
            self.sas = Sas::from_sdps(offer, &answer.sdp);
        }
        self.pc.set_remote_description(RTCSessionDescription::answer(answer.sdp)?).await?;
        self.remote_ready().await;
        Ok(())
    }

    /// Answers an offer: the first one, or a restart offer on the live connection.
    pub async fn answer(&mut self, offer: Sdp) -> Result<Sdp, RtcError> {
        let offered = offer.sdp.clone();
        self.pc.set_remote_description(RTCSessionDescription::offer(offer.sdp)?).await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer.clone()).await?;
        self.sas = Sas::from_sdps(&offered, &answer.sdp);
        self.remote_ready().await;
        Ok(Sdp { sdp: answer.sdp })
    }

    /// Adds a remote candidate, or holds it until the remote description is in. The empty
    /// end-of-candidates marker is dropped.
    pub async fn add_candidate(&mut self, candidate: IceCandidate) {
        if candidate.candidate.is_empty() {
            return;
        }
        if !self.remote_ready {
            if self.held.len() < HELD_CANDIDATES {
                self.held.push(candidate);
            }
            return;
        }
        if let Err(err) = self.pc.add_ice_candidate(candidate_from_proto(&candidate)).await {
            if let Some(suppressed) = self.refused.ready(Instant::now()) {
                tracing::warn!(%err, suppressed, "remote candidate refused");
            }
        }
    }

    async fn remote_ready(&mut self) {
        self.remote_ready = true;
        for candidate in std::mem::take(&mut self.held) {
            self.add_candidate(candidate).await;
        }
    }

    /// The next event; state changes also feed the restart deadline.
    pub async fn next_event(&mut self) -> Option<PeerEvent> {
        let event = self.events.recv().await?;
        if let (PeerEvent::State(state), Some(restart)) = (&event, &mut self.restart) {
            restart.handle_state(Instant::now(), *state);
        }
        Some(event)
    }

    /// When [`PeerLink::restart_if_due`] has work: while disconnected, on the offering side.
    pub fn restart_deadline(&self) -> Option<Instant> {
        self.restart.as_ref().and_then(IceRestart::due)
    }

    /// Restarts ICE if the disconnection has lasted long enough: the new offer to send, with
    /// fresh credentials (remote candidates wait for its answer again).
    pub async fn restart_if_due(&mut self, now: Instant) -> Option<Result<Sdp, RtcError>> {
        let restart = self.restart.as_mut()?;
        if !restart.poll_restart(now) {
            return None;
        }
        tracing::warn!(attempt = restart.count, "connection lost; restarting ICE");
        if let Err(err) = self.pc.restart_ice().await {
            return Some(Err(err.into()));
        }
        Some(self.offer().await)
    }

    /// The selected candidate pair, once the transport names it (a second at most).
    pub async fn connected_pair(&self) -> Option<SelectedPair> {
        settled_pair(self.pc.as_ref(), PAIR_PATIENCE).await
    }

    /// Closes the connection.
    pub async fn close(&self) {
        if let Err(err) = self.pc.close().await {
            tracing::debug!(%err, "closing the peer connection");
        }
    }
}
