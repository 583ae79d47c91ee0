//! What the viewer's session tells its user interfaces, and how a session ended.
//!
//! Each [`Report`]'s `Display` is the line `tether-viewer --headless` prints (scripts read
//! them); the window matches on the values, never on the text.

use std::fmt;
use std::time::Duration;

use tether_proto::signal::{Bye, ByeReason};
use tether_proto::{ErrorCode, Sas, SessionCode};

/// The selected candidate pair, as the peer connection describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairText {
    /// Both ends, e.g. `host 10.0.0.2:5000 -> srflx 203.0.113.7:6000`.
    pub description: String,
    /// The candidate types, e.g. `host/srflx`.
    pub kinds: String,
}

/// Something the user should see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// `join` is out.
    Joining(SessionCode),
    /// The computer was found; the person there is being asked.
    Joined {
        /// The name the agent gave.
        agent_name: String,
    },
    /// The person allowed: the connection is being set up.
    Connecting,
    /// The agent restarted ICE and the restart offer was answered.
    Reconnecting,
    /// Media flows, over this pair if known.
    Connected(Option<PairText>),
    /// The session is over.
    Ended(Outcome),
    /// The window joins again after this pause (see [`Reconnect`]).
    Retrying(Duration),
    /// The short authentication string of this connection, for the two people to compare.
    Secured(Sas),
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Joining(code) => write!(f, "state: joining {code}"),
            Report::Joined { agent_name } => {
                write!(f, "state: joined {agent_name:?}; waiting for the person there to allow")
            }
            Report::Connecting => f.write_str("state: connecting"),
            Report::Reconnecting => f.write_str("state: reconnecting (ICE restart)"),
            Report::Connected(Some(pair)) => {
                write!(f, "state: connected ({}, pair={})", pair.description, pair.kinds)
            }
            Report::Connected(None) => f.write_str("state: connected (pair=unknown)"),
            Report::Ended(outcome) => write!(f, "state: ended ({outcome})"),
            Report::Retrying(after) => write!(f, "state: reconnecting in {}s", after.as_secs()),
            Report::Secured(sas) => write!(f, "sas: {sas}"),
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This viewer hung up.
    HungUp,
    /// The other side or the server ended it with `bye`.
    Bye(Bye),
    /// No network path was found (the detail says how it was noticed).
    IceFailed(String),
    /// The server refused (a wrong or expired code, a full server, a rate limit...).
    ServerError {
        /// The typed reason.
        code: ErrorCode,
        /// The server's sentence for people.
        message: String,
    },
    /// The server did not answer the join in time.
    JoinTimeout,
    /// The connection to the signaling server broke.
    SignalingLost(String),
    /// This side could not go on (e.g. the offer could not be answered).
    Failed(String),
}

impl Outcome {
    /// Whether the run should exit with an error: anything but a normal end.
    pub fn is_error(&self) -> bool {
        match self {
            Outcome::HungUp => false,
            Outcome::Bye(bye) => matches!(
                bye.reason,
                ByeReason::Denied | ByeReason::ConsentTimeout | ByeReason::IceFailed
            ),
            Outcome::IceFailed(_)
            | Outcome::ServerError { .. }
            | Outcome::JoinTimeout
            | Outcome::SignalingLost(_)
            | Outcome::Failed(_) => true,
        }
    }

    /// Somebody chose to end it (a refusal, nobody answering, the person stopping, a hang-up):
    /// joining again would go against that choice.
    pub fn is_deliberate(&self) -> bool {
        match self {
            Outcome::HungUp => true,
            Outcome::Bye(bye) => matches!(
                bye.reason,
                ByeReason::Hangup
                    | ByeReason::Stopped
                    | ByeReason::Denied
                    | ByeReason::ConsentTimeout
            ),
            _ => false,
        }
    }

    /// Whether the session prints a `state: ended` line for it. Errors from the server, a
    /// broken signaling connection and local failures come back as the run's error instead.
    pub(crate) fn has_line(&self) -> bool {
        matches!(self, Outcome::HungUp | Outcome::Bye(_) | Outcome::IceFailed(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::HungUp => f.write_str("hung up"),
            Outcome::Bye(bye) => {
                let why = bye_text(bye.reason);
                f.write_str(why)?;
                // The agent's sentence often is the reason's own ("the person declined").
                match &bye.message {
                    Some(message) if message != why => write!(f, ": {message}"),
                    _ => Ok(()),
                }
            }
            Outcome::IceFailed(detail) => {
                write!(f, "no network path to the computer could be found (ICE failed: {detail})")
            }
            Outcome::ServerError { code, message } => write!(f, "{message} ({code})"),
            Outcome::JoinTimeout => {
                f.write_str("the server did not answer in time; try again in a moment")
            }
            Outcome::SignalingLost(why) => write!(f, "signaling connection lost: {why}"),
            Outcome::Failed(why) => f.write_str(why),
        }
    }
}

fn bye_text(reason: ByeReason) -> &'static str {
    match reason {
        ByeReason::Hangup => "the viewer hung up",
        ByeReason::Stopped => "the person stopped sharing",
        ByeReason::Denied => "the person declined",
        ByeReason::ConsentTimeout => "nobody answered the request",
        ByeReason::PeerLeft => "the computer disconnected",
        ByeReason::IceFailed => "no network path could be found",
        ByeReason::ServerShutdown => "the signaling server shut down",
        ByeReason::Other => "ended",
    }
}

/// Whether the window joins the same code again after a session ended: only after a session
/// that had been running was cut off, not after a refusal, a deliberate end or a join that
/// never got anywhere (a wrong code stays wrong), and at most [`Reconnect::TRIES`] times in a
/// row.
#[derive(Debug, Clone, Default)]
pub struct Reconnect {
    tries: u32,
}

impl Reconnect {
    /// Pause before joining again.
    pub const AFTER: Duration = Duration::from_secs(2);
    /// Attempts in a row that may fail to connect before the window gives up.
    pub const TRIES: u32 = 5;

    /// A session ended with `outcome`, having `connected` or not: the pause before joining
    /// again, or `None` to stop.
    pub fn after(&mut self, connected: bool, outcome: &Outcome) -> Option<Duration> {
        self.tries = if connected { 1 } else { self.tries + 1 };
        let was_running = connected || self.tries > 1;
        (was_running && !outcome.is_deliberate() && self.tries <= Self::TRIES)
            .then_some(Self::AFTER)
    }
}
