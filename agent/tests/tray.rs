//! The tray agent under Xvfb with a D-Bus session and `trayer`, an XEmbed system tray (with no
//! StatusNotifierWatcher on the bus, libayatana-appindicator falls back to an XEmbed icon).
//! Screenshots show the icon inside the tray's window in the colour of each state; the consent
//! dialog is clicked with xdotool.

mod common;

use std::time::{Duration, Instant};

use common::{
    Agent, Desktop, PATIENCE, all_lines, count_colour, wait_exit, wait_until_allow_is_armed,
};

// The icons' colours (agent/src/ui/icons.rs).
const WAITING: [u8; 3] = [0x28, 0x6e, 0xe6];
const ASKED: [u8; 3] = [0xf5, 0xaa, 0x14];
const SHARING: [u8; 3] = [0xdc, 0x28, 0x28];

/// The dialog's title (agent/src/ui/tray/dialog.rs).
const DIALOG: &str = "Tether: screen sharing request";

/// The tray agent on a fresh desktop; returns the tray's window too.
fn start(args: &[&str]) -> (Desktop, (i32, i32, i32, i32), Agent) {
    let desktop = Desktop::start(true);
    let tray = desktop.wait_for_window(&["--onlyvisible", "--class", "trayer"]);
    // "tray: up" comes out before the code, which `Agent::start` waits for.
    let agent = Agent::start(args, &desktop.env());
    (desktop, tray, agent)
}

/// Waits until the tray's window shows the icon in `rgb`, and nothing outside it does.
fn wait_for_icon(desktop: &Desktop, tray: (i32, i32, i32, i32), rgb: [u8; 3]) -> usize {
    let deadline = Instant::now() + PATIENCE;
    let mut last = (0, 0);
    while Instant::now() < deadline {
        last = count_colour(&desktop.screenshot(), tray, rgb);
        // The disc is about 500 pixels at 32 px; scaled into a smaller tray, still over 100.
        if last.0 >= 100 && last.1 == 0 {
            return last.0;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no icon in {rgb:?} in the tray at {tray:?}: (inside, outside) = {last:?}");
}

#[derive(Clone, Copy)]
enum Button {
    Allow = 0,
    AllowViewOnly = 1,
    Deny = 2,
}

/// Clicks one of the dialog's three buttons once it takes clicks (the Allows a second after the
/// dialog appears).
fn click(desktop: &Desktop, button: Button) {
    let at = button_centre(desktop, button);
    if !matches!(button, Button::Deny) {
        wait_until_allow_is_armed();
    }
    desktop.click(at.0, at.1);
}

/// Where one of the dialog's three buttons is, once the dialog is drawn: one row of equal
/// widths along the bottom, inside a 16 px margin, 8 px apart.
fn button_centre(desktop: &Desktop, button: Button) -> (i32, i32) {
    let (x, y, w, h) = desktop.wait_for_window(&["--onlyvisible", "--name", DIALOG]);
    let width = (w - 32 - 16) / 3;
    let cx = x + 16 + width / 2 + button as i32 * (width + 8);
    let cy = y + h - 16 - 12;
    // Wait until the dialog is drawn there (the root is black).
    let deadline = Instant::now() + PATIENCE;
    while desktop.screenshot().pixel(cx as u32, cy as u32).is_some_and(|p| p[..3] == [0, 0, 0]) {
        assert!(Instant::now() < deadline, "the dialog is never drawn");
        std::thread::sleep(Duration::from_millis(100));
    }
    (cx, cy)
}

fn wait_until_gone(desktop: &Desktop, search: &[&str]) {
    let deadline = Instant::now() + PATIENCE;
    while desktop.window(search).is_some() {
        assert!(Instant::now() < deadline, "{search:?} stays");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn never_offered(lines: &[String]) -> bool {
    !lines.iter().any(|l| l.starts_with("state: connecting") || l.starts_with("state: connected"))
}

#[test]
#[ignore = "needs Xvfb"]
fn the_icon_shows_each_state_and_allow_starts_the_session() {
    let (desktop, tray, mut agent) = start(&[]);
    let pixels = wait_for_icon(&desktop, tray, WAITING);
    eprintln!("waiting icon: {pixels} pixels inside the tray at {tray:?}");

    // The code's menu item copies it to the clipboard.
    assert_eq!(desktop.clipboard(), None);
    menu(&desktop, tray, &["Down", "Return"]);
    agent.wait_for("tray: code copied");
    assert_eq!(desktop.clipboard().as_deref(), Some(agent.code.as_str()));

    let mut viewer = agent.viewer(None);
    assert_eq!(agent.wait_for("tray: consent dialog for "), "\"Sam\" from 127.0.0.1");
    // The dialog carries the security code the supporter reads out.
    let dialog_sas = agent.wait_for("tray: consent dialog security code ");
    let viewer_sas = viewer.wait_for_line("sas: ", PATIENCE).expect("the viewer shows it");
    assert_eq!(dialog_sas, viewer_sas);
    wait_for_icon(&desktop, tray, ASKED);
    click(&desktop, Button::Allow);
    assert_eq!(agent.wait_for("state: sharing with "), "\"Sam\"");
    viewer.wait_for_line("state: connected", PATIENCE).expect("the viewer connects");
    viewer.wait_for_line("stats: fps=", PATIENCE).expect("the viewer gets video");
    wait_for_icon(&desktop, tray, SHARING);
    wait_until_gone(&desktop, &["--onlyvisible", "--name", DIALOG]);

    // Stop sharing from the menu: the viewer is told why and the icon goes back to waiting.
    // The menu is walked with the keyboard (it grabs it): Code, then Stop sharing (New code
    // is greyed out while sharing).
    menu(&desktop, tray, &["Down", "Down", "Return"]);
    assert_eq!(agent.wait_for("state: waiting ("), "the person stopped sharing)");
    let lines = all_lines(&mut viewer);
    assert!(
        lines.iter().any(|l| l.starts_with("state: ended (the person stopped sharing")),
        "{lines:?}"
    );
    wait_for_icon(&desktop, tray, WAITING);

    // New code, then Quit (Stop sharing is greyed out now).
    menu(&desktop, tray, &["Down", "Down", "Return"]);
    assert_ne!(agent.wait_for("code: "), agent.code);
    menu(&desktop, tray, &["Down", "Down", "Down", "Return"]);
    assert!(wait_exit(&mut agent.process).success(), "Quit ends the agent cleanly");
}

/// Opens the tray icon's menu (the first icon in the tray) and types `keys` into it.
fn menu(desktop: &Desktop, tray: (i32, i32, i32, i32), keys: &[&str]) {
    desktop.click(tray.0 + 16, tray.1 + tray.3 / 2);
    desktop.wait_for_window(&["--onlyvisible", "--class", "tether-agent"]);
    desktop.keys(keys);
}

#[test]
#[ignore = "needs Xvfb"]
fn allow_view_only_in_the_dialog_shares_view_only() {
    let (desktop, _tray, mut agent) = start(&[]);
    let mut viewer = agent.viewer(None);
    agent.wait_for("tray: consent dialog for ");
    click(&desktop, Button::AllowViewOnly);
    assert_eq!(agent.wait_for("state: sharing with "), "\"Sam\" (view only)");
    viewer.wait_for_line("state: connected", PATIENCE).expect("the viewer connects");
}

#[test]
#[ignore = "needs Xvfb"]
fn deny_in_the_dialog_refuses_and_nothing_is_sent() {
    let (desktop, tray, mut agent) = start(&[]);
    let mut viewer = agent.viewer(None);
    agent.wait_for("tray: consent dialog for ");
    click(&desktop, Button::Deny);
    assert_eq!(agent.wait_for("state: waiting ("), "the person declined)");
    let lines = all_lines(&mut viewer);
    assert!(lines.iter().any(|l| l.starts_with("state: ended (the person declined")), "{lines:?}");
    assert!(never_offered(&lines), "{lines:?}");
    assert!(!wait_exit(&mut viewer).success());
    wait_until_gone(&desktop, &["--onlyvisible", "--name", DIALOG]);
    wait_for_icon(&desktop, tray, WAITING);

    // SIGTERM ends the loop on its thread, and GTK's loop on the main thread with it.
    let status = agent.process.terminate(PATIENCE).expect("terminate");
    assert!(status.success(), "SIGTERM ends the tray agent cleanly: {status}");
}

#[test]
#[ignore = "needs Xvfb"]
fn an_unanswered_dialog_times_out_and_nothing_is_sent() {
    let (desktop, _tray, mut agent) = start(&["--consent-timeout", "3s"]);
    let mut viewer = agent.viewer(None);
    agent.wait_for("tray: consent dialog for ");
    desktop.wait_for_window(&["--onlyvisible", "--name", DIALOG]);
    assert_eq!(agent.wait_for("state: waiting ("), "nobody answered the request)");
    let lines = all_lines(&mut viewer);
    assert!(
        lines.iter().any(|l| l.starts_with("state: ended (nobody answered the request")),
        "{lines:?}"
    );
    assert!(never_offered(&lines), "{lines:?}");
    wait_until_gone(&desktop, &["--onlyvisible", "--name", DIALOG]);
}

#[test]
#[ignore = "needs Xvfb"]
fn without_a_dbus_session_the_terminal_takes_over() {
    let desktop = Desktop::start(true);
    let mut agent = Agent::start(&[], &[("DISPLAY", desktop.display())]);
    let mut viewer = agent.viewer(None);
    // stdin is a pipe and --no-tray was not given: nobody can be asked, so the viewer is denied.
    agent.wait_for("state: asked by ");
    assert_eq!(agent.wait_for("state: waiting ("), "the person declined)");
    assert!(never_offered(&all_lines(&mut viewer)));
}

#[test]
#[ignore = "needs Xvfb"]
fn allow_takes_no_click_at_first_and_enter_is_deny() {
    let (desktop, _tray, mut agent) = start(&[]);
    let mut viewer = agent.viewer(None);
    agent.wait_for("tray: consent dialog for ");
    let opened = Instant::now();
    // A click that lands on Allow as the dialog pops up (meant for the window underneath).
    let allow = button_centre(&desktop, Button::Allow);
    desktop.click(allow.0, allow.1);
    let early = opened.elapsed();
    assert_eq!(agent.wait_for("tray: allow armed"), " after 1s");
    // The keyboard's Enter, with the pointer still on Allow, goes to Deny, which has the focus.
    desktop.keys(&["Return"]);
    assert_eq!(agent.wait_for("tray: consent "), "Deny", "the early click was {early:?} in");
    assert_eq!(agent.wait_for("state: waiting ("), "the person declined)");
    assert!(never_offered(&all_lines(&mut viewer)));
}
