//! The support toolbox end to end under Xvfb: clipboard text both ways between the agent's X
//! clipboard (a real owner, `xclip`, and a real reader) and the headless viewer, and chat both
//! ways; in view-only sessions and with `--no-clipboard` the clipboard is refused and counted
//! while chat goes on.
//!
//! Build the binaries first: `cargo build --workspace --bins`.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use tether_media::telemetry::{ChatStats, ClipboardStats};
use tether_testkit::loopback::{LoopbackAgent, agent_command};
use tether_testkit::process::ChildProcess;
use tether_testkit::xclip::{wait_for_selection, xclip_copy, xclip_paste};
use tether_testkit::xvfb::Xvfb;

const PATIENCE: Duration = Duration::from_secs(60);

struct Session {
    agent: ChildProcess,
    viewer: ChildProcess,
}

fn start(xvfb: &Xvfb, agent_args: &[&str], viewer_args: &[&str]) -> Session {
    let mut agent_cmd = agent_command(xvfb.display());
    agent_cmd.arg("--no-audio").args(agent_args).stdin(Stdio::piped());
    let agent = LoopbackAgent::start(agent_cmd, PATIENCE).expect("agent starts");
    let mut viewer_cmd = agent.viewer_command();
    viewer_cmd.args(viewer_args);
    let viewer = ChildProcess::spawn(viewer_cmd).expect("viewer starts");
    let mut session = Session { agent: agent.process, viewer };
    session.agent.wait_for_line("state: connected", PATIENCE).expect("connected");
    session
}

impl Session {
    /// Types a line on the agent's terminal.
    fn person_types(&mut self, line: &str) {
        let stdin = self.agent.stdin().expect("stdin is piped");
        writeln!(stdin, "{line}").expect("agent reads stdin");
        stdin.flush().unwrap();
    }

    /// Ends the session from the viewer's side; the agent's last clipboard and chat counters.
    fn end(mut self) -> (ClipboardStats, ChatStats) {
        self.viewer.terminate(Duration::from_secs(5)).expect("viewer ends");
        let clipboard = self.agent.wait_for_line("clipboard: sent=", PATIENCE);
        let mut clipboard: ClipboardStats =
            format!("sent={}", clipboard.expect("clipboard line")).parse().unwrap();
        // The per-second lines may come first; the one printed at the end is last.
        let chat = loop {
            let line = self.agent.wait_for_line("", PATIENCE).expect("chat line");
            if let Some(rest) = line.strip_prefix("clipboard: sent=") {
                clipboard = format!("sent={rest}").parse().unwrap();
            }
            if line.starts_with("chat: sent=") {
                break line.parse().unwrap();
            }
        };
        (clipboard, chat)
    }
}

/// How the binaries print a text: a JSON string.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

#[test]
#[ignore = "needs Xvfb and xclip"]
fn clipboard_text_and_chat_go_both_ways() {
    let xvfb = Xvfb::start(640, 480).expect("Xvfb starts");
    let display = xvfb.display().to_owned();
    // Near the 30 KiB limit: more than one SCTP chunk, far more than a line.
    let pasted = format!("sudo systemctl restart cups # Grüße ✓ {}", "0123456789".repeat(3000));
    let mut session =
        start(&xvfb, &[], &["--clipboard-text", &pasted, "--chat", "I'm looking at the printer"]);

    // The supporter's text is on the computer's CLIPBOARD and PRIMARY.
    session.viewer.wait_for_line("clipboard: applied seq=1", PATIENCE).expect("applied");
    wait_for_selection(&display, "clipboard", &pasted);
    wait_for_selection(&display, "primary", &pasted);

    // Copied on the computer: arrives at the viewer as it is, newlines and all.
    let copied = "journalctl -u cups\nline two\twith a tab";
    xclip_copy(&display, copied);
    let received = session.viewer.wait_for_line("clipboard: received ", PATIENCE).unwrap();
    assert_eq!(received, quoted(copied));

    // Chat, both ways.
    let heard = session.agent.wait_for_line("chat: viewer: ", PATIENCE).unwrap();
    assert_eq!(heard, quoted("I'm looking at the printer"));
    session.person_types("m Thanks, it is the one upstairs");
    let answer = session.viewer.wait_for_line("chat: computer: ", PATIENCE).unwrap();
    assert_eq!(answer, quoted("Thanks, it is the one upstairs"));

    let (clipboard, chat) = session.end();
    assert_eq!(
        (clipboard.sent, clipboard.applied, clipboard.refused, clipboard.malformed),
        (1, 1, 0, 0),
        "one text each way, and the supporter's own text not sent back: {clipboard}"
    );
    assert_eq!(chat, ChatStats { sent: 1, received: 1, malformed: 0 });
}

#[test]
#[ignore = "needs Xvfb and xclip"]
fn view_only_and_a_clipboard_turned_off_share_nothing_but_chat() {
    for (agent_args, reason) in [(&["--view-only"][..], "view_only"), (&["--no-clipboard"], "off")]
    {
        let xvfb = Xvfb::start(640, 480).expect("Xvfb starts");
        let display = xvfb.display().to_owned();
        xclip_copy(&display, "before");
        let mut session =
            start(&xvfb, agent_args, &["--clipboard-text", "from the supporter", "--chat", "hi"]);
        let refused = session.viewer.wait_for_line("clipboard: refused seq=1 ", PATIENCE);
        assert!(refused.unwrap().starts_with(&format!("reason={reason} (")), "{agent_args:?}");
        session.agent.wait_for_line("chat: viewer: \"hi\"", PATIENCE).expect("chat still works");
        assert_eq!(xclip_paste(&display, "clipboard").as_deref(), Some("before"), "not applied");

        // The person's copy does not leave the computer.
        xclip_copy(&display, "the person's password");
        let leaked = session.viewer.wait_for_line("clipboard: received", Duration::from_secs(3));
        assert!(leaked.is_err(), "{agent_args:?}: the computer's clipboard reached the viewer");
        session.person_types("m still here");
        session.viewer.wait_for_line("chat: computer: ", PATIENCE).expect("chat back");
        let (clipboard, _) = session.end();
        assert_eq!(
            (clipboard.sent, clipboard.applied, clipboard.refused),
            (0, 0, 1),
            "{agent_args:?}: {clipboard}"
        );
    }
}
