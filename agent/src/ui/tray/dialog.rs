//! The consent dialog: who asks (name and address), a countdown, and Allow / Allow view-only /
//! Deny. Closing the window is Deny. The three buttons share one row of equal widths at the
//! bottom, which the Xvfb test relies on to click them.

use std::time::Instant;

use gtk::prelude::*;
use tether_proto::signal::PeerJoined;
use tether_session::sharing::Decision;
use tokio::sync::mpsc;

use crate::ui::Command;

/// The window's title; the tests find the window by it.
pub const TITLE: &str = "Tether: screen sharing request";

/// Space around and between the parts, in pixels.
const MARGIN: i32 = 16;

pub struct ConsentDialog {
    ask: u64,
    window: gtk::Window,
    countdown: gtk::Label,
    deadline: Instant,
}

impl ConsentDialog {
    pub fn open(
        ask: u64,
        peer: &PeerJoined,
        deadline: Instant,
        commands: mpsc::Sender<Command>,
    ) -> Self {
        let window = gtk::Window::new(gtk::WindowType::Toplevel);
        window.set_title(TITLE);
        window.set_default_size(460, 170);
        window.set_position(gtk::WindowPosition::Center);
        window.set_keep_above(true);

        let body = gtk::Box::new(gtk::Orientation::Vertical, MARGIN / 2);
        body.set_margin_top(MARGIN);
        body.set_margin_bottom(MARGIN);
        body.set_margin_start(MARGIN);
        body.set_margin_end(MARGIN);
        let name = if peer.name.is_empty() { "A viewer" } else { peer.name.as_str() };
        let question = gtk::Label::new(None);
        question.set_markup(&format!(
            "<b>{}</b> ({}) asks to see this screen.",
            glib_escape(name),
            glib_escape(&peer.addr)
        ));
        question.set_line_wrap(true);
        let countdown = gtk::Label::new(None);
        countdown.set_vexpand(true);
        countdown.set_valign(gtk::Align::Start);
        body.pack_start(&question, false, false, 0);
        body.pack_start(&countdown, true, true, 0);

        let buttons = gtk::Box::new(gtk::Orientation::Horizontal, MARGIN / 2);
        buttons.set_homogeneous(true);
        let choices = [
            ("Allow", Decision::Allow { view_only: false }),
            ("Allow view-only", Decision::Allow { view_only: true }),
            ("Deny", Decision::Deny),
        ];
        for (label, decision) in choices {
            let button = gtk::Button::with_label(label);
            let (commands, window) = (commands.clone(), window.clone());
            button.connect_clicked(move |_| {
                println!("tray: consent {decision:?}");
                send(&commands, Command::Consent { ask, decision });
                window.hide();
            });
            buttons.pack_start(&button, true, true, 0);
        }
        body.pack_end(&buttons, false, false, 0);
        window.add(&body);
        window.connect_delete_event(move |_, _| {
            send(&commands, Command::Consent { ask, decision: Decision::Deny });
            gtk::glib::Propagation::Proceed
        });

        let dialog = ConsentDialog { ask, window, countdown, deadline };
        dialog.tick();
        dialog.window.show_all();
        println!("tray: consent dialog for {name:?} from {}", peer.addr);
        dialog
    }

    /// The request this dialog answers.
    pub fn ask(&self) -> u64 {
        self.ask
    }

    /// Updates the countdown.
    pub fn tick(&self) {
        let left = self.deadline.saturating_duration_since(Instant::now()).as_secs();
        self.countdown.set_text(&format!("Denied automatically in {left} s"));
    }

    /// Takes the dialog away (the request was answered, withdrawn or timed out).
    pub fn close(self) {
        self.window.hide();
        self.window.close();
    }
}

fn send(commands: &mpsc::Sender<Command>, command: Command) {
    if let Err(err) = commands.try_send(command) {
        tracing::warn!(?command, "consent answer dropped: {err}");
    }
}

fn glib_escape(text: &str) -> String {
    gtk::glib::markup_escape_text(text).to_string()
}
