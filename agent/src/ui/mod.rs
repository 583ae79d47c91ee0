//! The person's side of the agent: the tray icon with its menu and consent dialog, or the
//! terminal. Each is an I/O edge around the loop in `run.rs`: it sends [`Command`]s into the
//! loop and watches the [`View`] the loop publishes, both through bounded channels.

pub mod icons;
pub mod terminal;
pub mod tray;

use std::time::{Duration, Instant};

use tether_proto::SessionCode;
use tether_session::sharing::{Decision, Event, Phase};
use tokio::sync::{mpsc, watch};

/// Depth of the command channel: people click slowly.
const COMMANDS: usize = 16;

/// How long Allow stays out of reach once a consent question appears, so that a click or a
/// key press meant for something else (the person was busy when it popped up) cannot accept.
/// Deny is always within reach.
pub const ALLOW_ARMS_AFTER: Duration = Duration::from_secs(1);

/// Whether Allow may be chosen at `now` for a question that appeared at `shown_at`.
pub fn allow_armed(shown_at: Instant, now: Instant) -> bool {
    now.checked_duration_since(shown_at).is_some_and(|shown_for| shown_for >= ALLOW_ARMS_AFTER)
}

/// What the person asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// An answer to consent request `ask`.
    Consent {
        ask: u64,
        decision: Decision,
    },
    StopSharing,
    NewCode,
    Quit,
    /// A chat message to the viewer.
    Chat(String),
    /// Send this file to the viewer.
    SendFile(std::path::PathBuf),
    /// Cancel every file transfer.
    CancelFiles,
}

/// A command for the session's toolbox rather than the sharing machine.
#[derive(Debug)]
pub enum ToolboxCommand {
    Chat(String),
    Files(tether_media::files::FilesCommand),
}

impl Command {
    /// The sharing machine's event, or (`Err`) a toolbox command, which is not the machine's.
    pub fn into_event(self) -> Result<Event, ToolboxCommand> {
        use tether_media::files::FilesCommand;
        Ok(match self {
            Command::Consent { ask, decision } => Event::Consent { ask, decision },
            Command::StopSharing => Event::StopSharing,
            Command::NewCode => Event::NewCode,
            Command::Quit => Event::Quit,
            Command::Chat(text) => return Err(ToolboxCommand::Chat(text)),
            Command::SendFile(path) => return Err(ToolboxCommand::Files(FilesCommand::Send(path))),
            Command::CancelFiles => return Err(ToolboxCommand::Files(FilesCommand::CancelAll)),
        })
    }
}

/// What the UI shows: the machine's phase, the code and whether the server is away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub code: Option<SessionCode>,
    pub phase: Phase,
    /// The connection to the signaling server was lost: no code until it is back.
    pub reconnecting: bool,
    /// The session's short authentication string, once the viewer's answer is in.
    pub sas: Option<tether_proto::Sas>,
}

/// The loop's end of the UI.
pub struct LoopEnd {
    pub commands: mpsc::Receiver<Command>,
    pub view: watch::Sender<View>,
    /// Whether someone can answer a consent request at all (a tray, a terminal). Without it
    /// every viewer is denied at once.
    pub can_ask: bool,
}

/// The UI's end.
pub struct UiEnd {
    pub commands: mpsc::Sender<Command>,
    pub view: watch::Receiver<View>,
}

impl UiEnd {
    /// Sends a command without blocking the UI; a full channel drops it (and says so).
    pub fn send(&self, command: Command) {
        if let Err(err) = self.commands.try_send(command) {
            tracing::warn!("command dropped: {err:?}");
        }
    }
}

/// A connected pair of ends.
pub fn link(can_ask: bool) -> (LoopEnd, UiEnd) {
    let (commands_tx, commands) = mpsc::channel(COMMANDS);
    let (view, view_rx) =
        watch::channel(View { code: None, phase: Phase::Waiting, reconnecting: false, sas: None });
    (LoopEnd { commands, view, can_ask }, UiEnd { commands: commands_tx, view: view_rx })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_is_armed_a_second_after_the_question_appears() {
        let shown = Instant::now();
        assert!(!allow_armed(shown, shown));
        assert!(!allow_armed(shown, shown + Duration::from_millis(999)));
        assert!(allow_armed(shown, shown + ALLOW_ARMS_AFTER));
        assert!(allow_armed(shown, shown + Duration::from_secs(30)));
        // A clock reading from before the question never arms it.
        assert!(!allow_armed(shown + Duration::from_secs(5), shown));
    }
}
