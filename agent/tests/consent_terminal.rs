//! The terminal UI (`--no-tray`): consent answered on stdin through a pipe, and the single-letter
//! commands. A viewer that is denied or not answered gets `bye` and never an offer.

mod common;

use common::{Agent, Desktop, all_lines, wait_exit, wait_until_allow_is_armed};

fn never_offered(lines: &[String]) -> bool {
    !lines.iter().any(|l| l.starts_with("state: connecting") || l.starts_with("state: connected"))
}

#[test]
fn n_on_stdin_denies_and_nothing_is_sent() {
    let mut agent = Agent::start(&["--no-tray"], &[]);
    let mut viewer = agent.viewer(None);
    let asked = agent.wait_for("state: asked by ");
    assert_eq!(asked, "\"Sam\" from 127.0.0.1");
    agent.type_line("n");
    assert_eq!(agent.wait_for("state: waiting ("), "the person declined)");
    let lines = all_lines(&mut viewer);
    assert!(lines.iter().any(|l| l.starts_with("state: ended (the person declined")), "{lines:?}");
    assert!(never_offered(&lines), "{lines:?}");
    assert!(!wait_exit(&mut viewer).success(), "a denied viewer fails");
}

#[test]
fn no_answer_times_out_and_nothing_is_sent() {
    let mut agent = Agent::start(&["--no-tray", "--consent-timeout", "2s"], &[]);
    let mut viewer = agent.viewer(None);
    agent.wait_for("state: asked by ");
    assert_eq!(agent.wait_for("state: waiting ("), "nobody answered the request)");
    let lines = all_lines(&mut viewer);
    assert!(
        lines.iter().any(|l| l.starts_with("state: ended (nobody answered the request")),
        "{lines:?}"
    );
    assert!(never_offered(&lines), "{lines:?}");
    // The code was used: the server issued a new one.
    let new = agent.wait_for("code: ");
    assert_ne!(new, agent.code);
    // A late yes starts nothing: the agent stays waiting.
    agent.type_line("y");
    agent.type_line("c");
    assert_eq!(agent.wait_for("code: "), new);
}

#[test]
fn commands_show_and_replace_the_code_and_quit() {
    let mut agent = Agent::start(&["--no-tray"], &[]);
    agent.type_line("c");
    let shown = agent.wait_for("code: ");
    assert_eq!(shown, agent.code);
    agent.type_line("n");
    let new = agent.wait_for("code: ");
    assert_ne!(new, agent.code, "n asks the server for a new code");
    agent.type_line("x");
    agent.wait_for("commands: s stop sharing");
    agent.type_line("q");
    assert!(wait_exit(&mut agent.process).success(), "q quits cleanly");
}

#[test]
#[ignore = "needs Xvfb"]
fn y_on_stdin_shares_and_s_stops_with_stopped() {
    let desktop = Desktop::start(false);
    let display = [("DISPLAY", desktop.display())];
    let mut agent = Agent::start(&["--no-tray"], &display);
    let mut viewer = agent.viewer(None);
    agent.wait_for("state: asked by ");
    // The security code is on both ends while the person is asked, before any offer.
    let agent_sas = agent.wait_for("sas: ");
    let viewer_sas = viewer.wait_for_line("sas: ", common::PATIENCE).expect("viewer shows it");
    assert_eq!(agent_sas, viewer_sas);
    assert_eq!(agent_sas.len(), 7, "{agent_sas}");
    wait_until_allow_is_armed();
    agent.type_line("y");
    assert_eq!(agent.wait_for("state: sharing with "), "\"Sam\"");
    viewer.wait_for_line("state: connected", common::PATIENCE).expect("viewer connects");
    viewer.wait_for_line("stats: fps=", common::PATIENCE).expect("viewer gets stats");
    agent.type_line("s");
    // Control ends first: the input counters' last line comes before the video's totals.
    let first = agent.wait_for_either("input: ", "video: captured=");
    assert!(first.starts_with("input: "), "the video stopped before the input: {first}");
    assert_eq!(agent.wait_for("state: waiting ("), "the person stopped sharing)");
    let lines = all_lines(&mut viewer);
    assert!(
        lines.iter().any(|l| l.starts_with("state: ended (the person stopped sharing")),
        "{lines:?}"
    );
    // Waiting again: a new code can be had.
    agent.type_line("n");
    assert_ne!(agent.wait_for("code: "), agent.code);
}

#[test]
#[ignore = "needs Xvfb"]
fn v_on_stdin_shares_view_only() {
    let desktop = Desktop::start(false);
    let mut agent = Agent::start(&["--no-tray"], &[("DISPLAY", desktop.display())]);
    let mut viewer = agent.viewer(None);
    agent.wait_for("state: asked by ");
    wait_until_allow_is_armed();
    agent.type_line("v");
    assert_eq!(agent.wait_for("state: sharing with "), "\"Sam\" (view only)");
    viewer.wait_for_line("state: connected", common::PATIENCE).expect("viewer connects");
}

#[test]
fn a_yes_typed_as_the_question_appears_is_not_taken() {
    let mut agent = Agent::start(&["--no-tray"], &[]);
    let _viewer = agent.viewer(None);
    agent.wait_for("state: asked by ");
    // Typed ahead, or meant for something else: too soon to count.
    agent.type_line("y");
    agent.wait_for("too soon: ");
    wait_until_allow_is_armed();
    agent.type_line("y");
    assert_eq!(agent.wait_for("state: sharing with "), "\"Sam\"");
}

#[test]
fn bidi_and_invisible_characters_in_the_viewers_name_are_shown_defused() {
    let mut agent = Agent::start(&["--no-tray"], &[]);
    // Would show as "Samexe.png" with a right-to-left override, and "Admin" with a zero width.
    let _viewer = agent.viewer_named("Sam\u{202E}gnp.exe Ad\u{200B}min", None);
    // The state line (the agent's loop) and the question (the terminal's task) come in
    // either order.
    let (mut state, mut prompt) = (None, None);
    while state.is_none() || prompt.is_none() {
        let line = agent.wait_for_either("state: asked by ", "Sam");
        match line.strip_prefix("state: asked by ") {
            Some(rest) => state = Some(rest.to_owned()),
            None => prompt = Some(line),
        }
    }
    assert_eq!(state.unwrap(), "\"Sam\u{FFFD}gnp.exe Ad\u{FFFD}min\" from 127.0.0.1");
    let prompt = prompt.unwrap();
    assert!(prompt.starts_with("Sam\u{FFFD}gnp.exe Ad\u{FFFD}min (127.0.0.1) asks"), "{prompt:?}");
    agent.type_line("n");
}
