//! A desktop's clipboard on X11 (the agent's, and the native viewer window's own): the
//! `tether-clipboard` thread watches the `CLIPBOARD`
//! selection's owner (XFixes) and reads the new text; it puts the viewer's text on `CLIPBOARD`
//! and `PRIMARY`. arboard owns the selections and answers other programs' requests (TARGETS,
//! UTF8_STRING, INCR for long texts) for as long as the thread keeps its `Clipboard`.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use arboard::{GetExtLinux, LinuxClipboardKind, SetExtLinux};
use tokio::sync::mpsc;
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xfixes::{self, ConnectionExt as _, SelectionEventMask};
use x11rb::protocol::xproto::ConnectionExt as _;

/// How often the thread looks at X events between commands: an owner change is read at most
/// this late, and several changes in one interval (a program that sets the selection twice)
/// are read once.
const POLL: Duration = Duration::from_millis(50);

/// What the thread reports.
#[derive(Debug)]
pub enum FromDesktop {
    /// `CLIPBOARD` now holds this text (whoever put it there, this thread included).
    Changed(String),
    /// The peer's text `seq` is on the clipboard (`ok`) or could not be put there.
    Set { seq: u64, text: String, ok: bool },
}

/// The running thread; dropping the command sender ends it.
pub struct DesktopClipboard {
    commands: Option<std_mpsc::Sender<(u64, String)>>,
    pub events: mpsc::Receiver<FromDesktop>,
    thread: Option<JoinHandle<()>>,
}

/// Why the clipboard cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum ClipboardUnavailable {
    #[error("cannot open the X display for the clipboard: {0}")]
    Connect(#[from] x11rb::errors::ConnectError),
    #[error("the X server has no XFixes extension: {0}")]
    XFixes(String),
    #[error("cannot open the clipboard: {0}")]
    Arboard(#[from] arboard::Error),
    #[error("cannot start the clipboard thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl DesktopClipboard {
    /// Connects to the display in `DISPLAY` and starts watching.
    pub fn start() -> Result<Self, ClipboardUnavailable> {
        let watcher = Watcher::connect()?;
        let clipboard = arboard::Clipboard::new()?;
        let (commands, command_rx) = std_mpsc::channel();
        let (events_tx, events) = mpsc::channel(4);
        let thread = std::thread::Builder::new()
            .name("tether-clipboard".into())
            .spawn(move || serve(watcher, clipboard, command_rx, events_tx))?;
        Ok(DesktopClipboard { commands: Some(commands), events, thread: Some(thread) })
    }

    /// Puts the peer's text `seq` on the clipboard; the result comes as [`FromDesktop::Set`].
    pub fn set(&self, seq: u64, text: String) -> bool {
        self.commands.as_ref().is_some_and(|c| c.send((seq, text)).is_ok())
    }

    /// Ends the thread and waits for it (it wakes every [`POLL`]).
    pub fn stop(mut self) {
        self.commands = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the clipboard thread panicked");
        }
    }
}

/// An X connection that hears about `CLIPBOARD` owner changes.
struct Watcher {
    conn: x11rb::rust_connection::RustConnection,
}

impl Watcher {
    fn connect() -> Result<Self, ClipboardUnavailable> {
        let (conn, screen) = x11rb::connect(None)?;
        let fail = |e: &dyn std::fmt::Display| ClipboardUnavailable::XFixes(e.to_string());
        conn.xfixes_query_version(5, 0).map_err(|e| fail(&e))?.reply().map_err(|e| fail(&e))?;
        let atom = conn.intern_atom(false, b"CLIPBOARD").map_err(|e| fail(&e))?;
        let atom = atom.reply().map_err(|e| fail(&e))?.atom;
        let root = conn.setup().roots[screen].root;
        let mask = SelectionEventMask::SET_SELECTION_OWNER;
        conn.xfixes_select_selection_input(root, atom, mask).map_err(|e| fail(&e))?;
        conn.flush().map_err(|e| fail(&e))?;
        Ok(Watcher { conn })
    }

    /// Whether the owner changed since the last call; `Err` when the display is gone.
    fn owner_changed(&self) -> Result<bool, x11rb::errors::ConnectionError> {
        let mut changed = false;
        while let Some(event) = self.conn.poll_for_event()? {
            changed |= matches!(event, Event::XfixesSelectionNotify(e)
                if e.subtype == xfixes::SelectionEvent::SET_SELECTION_OWNER);
        }
        Ok(changed)
    }
}

fn serve(
    watcher: Watcher,
    mut clipboard: arboard::Clipboard,
    commands: std_mpsc::Receiver<(u64, String)>,
    events: mpsc::Sender<FromDesktop>,
) {
    loop {
        match commands.recv_timeout(POLL) {
            Ok((seq, text)) => {
                let ok = put(&mut clipboard, &text);
                if events.blocking_send(FromDesktop::Set { seq, text, ok }).is_err() {
                    return;
                }
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        }
        match watcher.owner_changed() {
            Ok(false) => {}
            Ok(true) => {
                let read = clipboard.get().clipboard(LinuxClipboardKind::Clipboard).text();
                match read {
                    Ok(text) => {
                        if events.blocking_send(FromDesktop::Changed(text)).is_err() {
                            return;
                        }
                    }
                    // An image, a file list, or an owner that did not answer: nothing to share.
                    Err(err) => tracing::debug!(%err, "clipboard changed to something not text"),
                }
            }
            Err(err) => {
                tracing::warn!(%err, "the X display for the clipboard went away");
                return;
            }
        }
    }
}

/// Puts `text` on CLIPBOARD (Ctrl+V) and PRIMARY (middle click), out of clipboard managers'
/// histories: it is the other side's, often a password.
fn put(clipboard: &mut arboard::Clipboard, text: &str) -> bool {
    let mut ok = true;
    for kind in [LinuxClipboardKind::Clipboard, LinuxClipboardKind::Primary] {
        let set = clipboard.set().clipboard(kind).exclude_from_history().text(text.to_owned());
        if let Err(err) = set {
            tracing::warn!(%err, ?kind, "cannot put the viewer's text on the clipboard");
            ok &= !matches!(kind, LinuxClipboardKind::Clipboard);
        }
    }
    ok
}
