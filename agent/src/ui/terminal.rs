//! The terminal UI: the consent question and single-letter commands on stdin.
//!
//! Used with `--no-tray` (then stdin is read even when it is a pipe, so scripts and tests can
//! answer) and when no tray can come up but stdin is a terminal.

use std::io::BufRead;
use std::time::Instant;

use tether_session::sharing::{Decision, Phase};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::ui::{Command, UiEnd, View, allow_armed};

/// Printed at start and for `h` or an unknown command.
pub const HELP: &str = "commands: s stop sharing, n new code, c show code, m TEXT chat with the viewer, \
     f PATH send a file to the viewer, x cancel file transfers, q quit (y / v / n answer a request)";

/// The answer to a yes typed within a second of the question (typed ahead, or meant for
/// something else).
const TOO_SOON: &str =
    "too soon: a yes within a second of the question is not taken; answer again (y / v / N)";

/// The answer to `c` and `n` while the server is away.
const RECONNECTING: &str = "no code: reconnecting to the signaling server";

/// Lines read ahead of the UI task.
const LINES: usize = 8;

/// The running terminal UI; [`Terminal::stop`] ends it.
pub struct Terminal {
    task: JoinHandle<()>,
}

impl Terminal {
    /// Starts reading stdin and showing requests. Must be called inside the tokio runtime.
    pub fn start(ui: UiEnd) -> std::io::Result<Self> {
        let (lines_tx, lines) = mpsc::channel(LINES);
        // This thread blocks in read(2) and cannot be woken up: it is left to end with the
        // process (or at end of input); nothing else is owned by it.
        std::thread::Builder::new().name("stdin".into()).spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if lines_tx.blocking_send(line).is_err() {
                    break;
                }
            }
        })?;
        println!("{HELP}");
        Ok(Terminal { task: tokio::spawn(serve(ui, lines)) })
    }

    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn serve(mut ui: UiEnd, mut lines: mpsc::Receiver<String>) {
    let mut input_open = true;
    // The request last put to the person, and when.
    let mut shown: Option<(u64, Instant)> = None;
    loop {
        tokio::select! {
            changed = ui.view.changed() => {
                if changed.is_err() {
                    return;
                }
                let view = ui.view.borrow_and_update().clone();
                if let Phase::Asked { ask, peer, deadline } = &view.phase {
                    if shown.is_none_or(|(shown_ask, _)| shown_ask != *ask) {
                        shown = Some((*ask, Instant::now()));
                    }
                    let name = if peer.name.is_empty() { "A viewer" } else { &peer.name };
                    let secs = deadline.saturating_duration_since(Instant::now()).as_secs();
                    let check = match view.sas {
                        Some(sas) => format!(
                            "Security code {sas}: allow only if the supporter reads the same."
                        ),
                        None => "This viewer shows no security code.".to_owned(),
                    };
                    // A whole line: other state lines may follow before the answer.
                    println!(
                        "{name} ({}) asks to see this screen. {check} Allow? [y]es / [v]iew only / [N]o (no answer in {secs} s means no)",
                        peer.addr
                    );
                }
            }
            line = lines.recv(), if input_open => match line {
                Some(line) => {
                    let view = ui.view.borrow().clone();
                    let armed = armed(&view, shown, Instant::now());
                    match interpret(&view, &line, armed) {
                        Reply::Send(command) => ui.send(command),
                        Reply::Print(text) => println!("{text}"),
                        Reply::Nothing => {}
                    }
                }
                None => input_open = false,
            },
        }
    }
}

/// What one line of input means.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Send(Command),
    Print(String),
    Nothing,
}

/// Whether a yes counts now: the request in `view` was shown (at `shown`) long enough ago.
fn armed(view: &View, shown: Option<(u64, Instant)>, now: Instant) -> bool {
    match (&view.phase, shown) {
        (Phase::Asked { ask, .. }, Some((shown_ask, at))) => {
            *ask == shown_ask && allow_armed(at, now)
        }
        _ => false,
    }
}

/// What `line` means in `view`; a yes counts only if the question is `armed`.
fn interpret(view: &View, line: &str, armed: bool) -> Reply {
    let word = line.trim().to_ascii_lowercase();
    if let Phase::Asked { ask, .. } = view.phase {
        let decision = match word.as_str() {
            "q" | "quit" => return Reply::Send(Command::Quit),
            "y" | "yes" => Decision::Allow { view_only: false },
            "v" | "view" | "view-only" => Decision::Allow { view_only: true },
            // Only an explicit yes allows.
            _ => Decision::Deny,
        };
        if decision != Decision::Deny && !armed {
            return Reply::Print(TOO_SOON.into());
        }
        return Reply::Send(Command::Consent { ask, decision });
    }
    let sharing = matches!(view.phase, Phase::Allowed { .. } | Phase::Streaming { .. });
    if let Some((command, text)) = argument(line) {
        let command = match command {
            "m" | "M" | "chat" => Command::Chat(text.to_owned()),
            "f" | "F" | "file" => Command::SendFile(text.into()),
            _ => return Reply::Print(HELP.into()),
        };
        return match sharing {
            true => Reply::Send(command),
            false => Reply::Print("not sharing: no viewer to send it to".into()),
        };
    }
    match word.as_str() {
        "" => Reply::Nothing,
        "s" | "stop" if sharing => Reply::Send(Command::StopSharing),
        "s" | "stop" => Reply::Print("not sharing".into()),
        "n" | "new" if sharing => Reply::Print("stop sharing first (s)".into()),
        "n" | "new" | "c" | "code" if view.reconnecting => Reply::Print(RECONNECTING.into()),
        "n" | "new" => Reply::Send(Command::NewCode),
        "c" | "code" => match view.code {
            Some(code) => Reply::Print(format!("code: {code}")),
            None => Reply::Print("no code yet".into()),
        },
        "x" | "cancel" if sharing => Reply::Send(Command::CancelFiles),
        "q" | "quit" => Reply::Send(Command::Quit),
        _ => Reply::Print(HELP.into()),
    }
}

/// A command with an argument (`m TEXT`, `f PATH`): the word and the rest, case as typed.
fn argument(line: &str) -> Option<(&str, &str)> {
    let (command, rest) = line.trim_start().split_once(char::is_whitespace)?;
    let text = rest.trim();
    (!text.is_empty()).then_some((command, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tether_proto::SessionCode;
    use tether_proto::signal::PeerJoined;

    fn sam() -> PeerJoined {
        PeerJoined { name: "Sam".into(), addr: "127.0.0.1".into(), ice: None, commit: None }
    }

    fn view(phase: Phase) -> View {
        View {
            code: Some(SessionCode::from_value(482_913_075).unwrap()),
            phase,
            reconnecting: false,
            sas: None,
        }
    }

    #[test]
    fn only_an_explicit_yes_allows() {
        let asked = view(Phase::Asked { ask: 7, peer: sam(), deadline: Instant::now() });
        let consent = |decision| Reply::Send(Command::Consent { ask: 7, decision });
        assert_eq!(interpret(&asked, "y\n", true), consent(Decision::Allow { view_only: false }));
        assert_eq!(interpret(&asked, " YES ", true), consent(Decision::Allow { view_only: false }));
        assert_eq!(interpret(&asked, "v", true), consent(Decision::Allow { view_only: true }));
        for no in ["", "\n", "n", "no", "yep", "sure", "s"] {
            assert_eq!(interpret(&asked, no, true), consent(Decision::Deny), "{no:?}");
        }
        assert_eq!(interpret(&asked, "q", true), Reply::Send(Command::Quit));
    }

    #[test]
    fn letters_are_commands_outside_a_request() {
        let waiting = view(Phase::Waiting);
        let sharing = view(Phase::Streaming { peer: sam(), view_only: false });
        assert_eq!(interpret(&sharing, "s", true), Reply::Send(Command::StopSharing));
        assert_eq!(interpret(&waiting, "s", true), Reply::Print("not sharing".into()));
        assert_eq!(interpret(&waiting, "n", true), Reply::Send(Command::NewCode));
        assert!(matches!(interpret(&sharing, "n", true), Reply::Print(_)));
        assert_eq!(interpret(&waiting, "c", true), Reply::Print("code: 482 913 075".into()));
        assert_eq!(interpret(&waiting, "Q", true), Reply::Send(Command::Quit));
        assert_eq!(interpret(&waiting, "x", true), Reply::Print(HELP.into()));
        assert_eq!(interpret(&waiting, "  ", true), Reply::Nothing);
    }

    #[test]
    fn m_sends_the_rest_of_the_line_as_chat_while_sharing() {
        let sharing = view(Phase::Streaming { peer: sam(), view_only: true });
        let chat = |t: &str| Reply::Send(Command::Chat(t.into()));
        assert_eq!(interpret(&sharing, "m I'm Back, Sam\n", true), chat("I'm Back, Sam"));
        assert_eq!(interpret(&sharing, "chat  two words ", true), chat("two words"));
        assert_eq!(interpret(&sharing, "m", true), Reply::Print(HELP.into()), "no text");
        assert_eq!(interpret(&sharing, "more", true), Reply::Print(HELP.into()));
        assert_eq!(interpret(&sharing, "what is this", true), Reply::Print(HELP.into()));
        assert_eq!(
            interpret(&sharing, "f /home/me/My Report.pdf ", true),
            Reply::Send(Command::SendFile("/home/me/My Report.pdf".into()))
        );
        assert_eq!(interpret(&sharing, "x", true), Reply::Send(Command::CancelFiles));
        let waiting = view(Phase::Waiting);
        assert!(matches!(interpret(&waiting, "m hello", true), Reply::Print(_)));
        // A question is answered first: "m ..." there is a no.
        let asked = view(Phase::Asked { ask: 1, peer: sam(), deadline: Instant::now() });
        let deny = Reply::Send(Command::Consent { ask: 1, decision: Decision::Deny });
        assert_eq!(interpret(&asked, "m yes", true), deny);
    }

    #[test]
    fn a_yes_within_a_second_of_the_question_is_not_taken() {
        let shown = Instant::now();
        let asked = view(Phase::Asked { ask: 7, peer: sam(), deadline: shown });
        assert!(!armed(&asked, None, shown), "not shown yet");
        assert!(!armed(&asked, Some((7, shown)), shown + Duration::from_millis(500)));
        assert!(armed(&asked, Some((7, shown)), shown + Duration::from_secs(1)));
        assert!(
            !armed(&asked, Some((6, shown)), shown + Duration::from_secs(5)),
            "another request"
        );

        for yes in ["y", "yes", "v"] {
            assert_eq!(interpret(&asked, yes, false), Reply::Print(TOO_SOON.into()), "{yes}");
        }
        // No is always taken, and so is quit.
        let deny = Reply::Send(Command::Consent { ask: 7, decision: Decision::Deny });
        assert_eq!(interpret(&asked, "n", false), deny);
        assert_eq!(interpret(&asked, "", false), deny);
        assert_eq!(interpret(&asked, "q", false), Reply::Send(Command::Quit));
    }

    #[test]
    fn without_the_server_there_is_no_code_to_show_or_replace() {
        let offline = View { code: None, phase: Phase::Waiting, reconnecting: true, sas: None };
        assert_eq!(interpret(&offline, "c", true), Reply::Print(RECONNECTING.into()));
        assert_eq!(interpret(&offline, "n", true), Reply::Print(RECONNECTING.into()));
        assert_eq!(interpret(&offline, "q", true), Reply::Send(Command::Quit));
    }
}
