//! The consent dialog: who asks (name and address), the security code to compare with the
//! supporter's, a countdown, and Allow / Allow view-only / Deny. Closing the window is Deny. Deny has the focus (Enter or Space is Deny), and both
//! Allows stay insensitive for [`ALLOW_ARMS_AFTER`] after the dialog appears, so that a click
//! or key press meant for another window cannot accept. The three buttons share one row of
//! equal widths at the bottom, which the Xvfb test relies on to click them.

use std::time::Instant;

use gtk::prelude::*;
use tether_proto::Sas;
use tether_proto::signal::PeerJoined;
use tether_session::sharing::Decision;
use tokio::sync::mpsc;

use crate::ui::{ALLOW_ARMS_AFTER, Command, allow_armed};

/// The window's title; the tests find the window by it.
pub const TITLE: &str = "Tether: screen sharing request";

/// Space around and between the parts, in pixels.
const MARGIN: i32 = 16;

pub struct ConsentDialog {
    ask: u64,
    window: gtk::Window,
    countdown: gtk::Label,
    deadline: Instant,
    /// Allow and Allow view-only, insensitive until armed.
    allows: Vec<gtk::Button>,
    shown_at: Instant,
}

impl ConsentDialog {
    pub fn open(
        ask: u64,
        peer: &PeerJoined,
        sas: Option<Sas>,
        deadline: Instant,
        commands: mpsc::Sender<Command>,
    ) -> Self {
        let window = gtk::Window::new(gtk::WindowType::Toplevel);
        window.set_title(TITLE);
        window.set_default_size(460, 200);
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
        let check = gtk::Label::new(None);
        check.set_markup(&match sas {
            Some(sas) => format!(
                "Security code <b>{sas}</b>: ask the supporter to read theirs. Allow only if they are the same."
            ),
            None => "This viewer shows no security code: allow only if you know who asks.".into(),
        });
        check.set_line_wrap(true);
        let countdown = gtk::Label::new(None);
        countdown.set_vexpand(true);
        countdown.set_valign(gtk::Align::Start);
        body.pack_start(&question, false, false, 0);
        body.pack_start(&check, false, false, 0);
        body.pack_start(&countdown, true, true, 0);

        let shown_at = Instant::now();
        let buttons = gtk::Box::new(gtk::Orientation::Horizontal, MARGIN / 2);
        buttons.set_homogeneous(true);
        let choices = [
            ("Allow", Decision::Allow { view_only: false }),
            ("Allow view-only", Decision::Allow { view_only: true }),
            ("Deny", Decision::Deny),
        ];
        let (mut allows, mut deny) = (Vec::new(), None);
        for (label, decision) in choices {
            let button = gtk::Button::with_label(label);
            let (commands, window) = (commands.clone(), window.clone());
            button.connect_clicked(move |_| {
                // Insensitive buttons take no clicks; this also holds if one slips through.
                let early = decision != Decision::Deny && !allow_armed(shown_at, Instant::now());
                if early {
                    return;
                }
                println!("tray: consent {decision:?}");
                send(&commands, Command::Consent { ask, decision });
                window.hide();
            });
            buttons.pack_start(&button, true, true, 0);
            match decision {
                Decision::Allow { .. } => {
                    button.set_sensitive(false);
                    allows.push(button);
                }
                Decision::Deny => deny = Some(button),
            }
        }
        body.pack_end(&buttons, false, false, 0);
        window.add(&body);
        window.connect_delete_event(move |_, _| {
            send(&commands, Command::Consent { ask, decision: Decision::Deny });
            gtk::glib::Propagation::Proceed
        });

        let dialog = ConsentDialog { ask, window, countdown, deadline, allows, shown_at };
        dialog.tick();
        dialog.window.show_all();
        if let Some(deny) = deny {
            deny.set_can_default(true);
            dialog.window.set_default(Some(&deny));
            deny.grab_focus();
        }
        println!("tray: consent dialog for {name:?} from {}", peer.addr);
        match sas {
            Some(sas) => println!("tray: consent dialog security code {sas}"),
            None => println!("tray: consent dialog without a security code"),
        }
        dialog
    }

    /// The request this dialog answers.
    pub fn ask(&self) -> u64 {
        self.ask
    }

    /// Updates the countdown, and arms Allow once it has been shown long enough.
    pub fn tick(&self) {
        let now = Instant::now();
        let left = self.deadline.saturating_duration_since(now).as_secs();
        self.countdown.set_text(&format!("Denied automatically in {left} s"));
        let disarmed = self.allows.iter().any(|b| !b.is_sensitive());
        if disarmed && allow_armed(self.shown_at, now) {
            for button in &self.allows {
                button.set_sensitive(true);
            }
            println!("tray: allow armed after {ALLOW_ARMS_AFTER:?}");
        }
    }

    /// Takes the dialog away (the request was answered, withdrawn or timed out).
    pub fn close(self) {
        self.window.hide();
        self.window.close();
    }
}

fn send(commands: &mpsc::Sender<Command>, command: Command) {
    if let Err(err) = commands.try_send(command) {
        tracing::warn!("consent answer dropped: {err:?}");
    }
}

fn glib_escape(text: &str) -> String {
    gtk::glib::markup_escape_text(text).to_string()
}
