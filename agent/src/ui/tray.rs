//! The tray UI: an icon that shows the state, a menu (the code, New code, Stop sharing, Quit)
//! and the consent dialog. Everything here runs on the GTK thread, the process's main thread:
//! [`Tray::start`] and [`Tray::run`] are called there, and the tokio runtime runs elsewhere.
//!
//! The loop's [`View`] is polled from a GTK timer (the watch channel is latest-wins, so a slow
//! poll only skips intermediate states); menu clicks and dialog buttons become [`Command`]s.

mod dialog;

use std::time::Duration;

use gtk::glib;
use tether_session::sharing::Phase;
use tray_icon::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

use crate::ui::icons::{IconState, SIZE};
use crate::ui::{Command, UiEnd, View};

use self::dialog::ConsentDialog;

/// How often the GTK thread looks at the loop's state and the menu's clicks.
const POLL: Duration = Duration::from_millis(100);

/// Why there is no tray; the terminal takes over.
#[derive(Debug, thiserror::Error)]
pub enum TrayError {
    #[error("no display (DISPLAY and WAYLAND_DISPLAY are unset)")]
    NoDisplay,
    #[error("no D-Bus session (DBUS_SESSION_BUS_ADDRESS is unset)")]
    NoDbus,
    #[error("GTK could not start: {0}")]
    Gtk(#[from] glib::BoolError),
    #[error("the tray icon could not be created: {0}")]
    Icon(String),
}

/// The tray icon and its menu, owned by the GTK thread.
pub struct Tray {
    icon: TrayIcon,
    shown: IconState,
    code: MenuItem,
    new_code: MenuItem,
    stop: MenuItem,
    quit: MenuItem,
    dialog: Option<ConsentDialog>,
}

impl Tray {
    /// Brings up GTK and the icon, or says why not.
    pub fn start() -> Result<Self, TrayError> {
        let has = |var| std::env::var_os(var).is_some_and(|v| !v.is_empty());
        if !has("DISPLAY") && !has("WAYLAND_DISPLAY") {
            return Err(TrayError::NoDisplay);
        }
        if !has("DBUS_SESSION_BUS_ADDRESS") {
            return Err(TrayError::NoDbus);
        }
        gtk::init()?;
        let code = MenuItem::new("Code: …", false, None);
        let new_code = MenuItem::new("New code", true, None);
        let stop = MenuItem::new("Stop sharing", false, None);
        let quit = MenuItem::new("Quit", true, None);
        let menu = Menu::new();
        let separator = PredefinedMenuItem::separator();
        for item in [&code as &dyn tray_icon::menu::IsMenuItem, &new_code, &stop, &separator, &quit]
        {
            menu.append(item).map_err(|e| TrayError::Icon(e.to_string()))?;
        }
        // Icons go to a directory of this process's own: parallel agents must not share files.
        let icon_dir = std::env::temp_dir().join(format!("tether-tray-{}", std::process::id()));
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            TrayIconBuilder::new()
                .with_id("tether")
                .with_menu(Box::new(menu))
                .with_icon(icon(IconState::Waiting)?)
                .with_tooltip("Tether")
                .with_title("Tether")
                .with_temp_dir_path(&icon_dir)
                .build()
                .map_err(|e| e.to_string())
        }));
        let icon = match built {
            Ok(Ok(icon)) => icon,
            Ok(Err(err)) => return Err(TrayError::Icon(err)),
            Err(_) => return Err(TrayError::Icon("libayatana-appindicator3 is missing".into())),
        };
        Ok(Tray { icon, shown: IconState::Waiting, code, new_code, stop, quit, dialog: None })
    }

    /// Runs GTK until the loop ends (its view channel closes). Blocks the calling thread.
    pub fn run(mut self, mut ui: UiEnd) {
        println!("tray: up");
        glib::timeout_add_local(POLL, move || {
            while let Ok(event) = MenuEvent::receiver().try_recv() {
                self.clicked(&event.id, &ui);
            }
            match ui.view.has_changed() {
                Ok(true) => {
                    let view = ui.view.borrow_and_update().clone();
                    self.show(&view, &ui);
                }
                Ok(false) => {}
                Err(_) => {
                    gtk::main_quit();
                    return glib::ControlFlow::Break;
                }
            }
            if let Some(dialog) = &self.dialog {
                dialog.tick();
            }
            glib::ControlFlow::Continue
        });
        gtk::main();
    }

    fn clicked(&self, id: &tray_icon::menu::MenuId, ui: &UiEnd) {
        if id == self.code.id() {
            if let Some(code) = ui.view.borrow().code {
                let clipboard = gtk::Clipboard::get(&gtk::gdk::SELECTION_CLIPBOARD);
                clipboard.set_text(&code.to_string());
                println!("tray: code copied");
            }
        } else if id == self.new_code.id() {
            ui.send(Command::NewCode);
        } else if id == self.stop.id() {
            ui.send(Command::StopSharing);
        } else if id == self.quit.id() {
            ui.send(Command::Quit);
        }
    }

    fn show(&mut self, view: &View, ui: &UiEnd) {
        let state = icon_state(view);
        if state != self.shown {
            match icon(state).map(|i| self.icon.set_icon(Some(i)).map_err(|e| e.to_string())) {
                Ok(Ok(())) => {
                    self.shown = state;
                    println!("tray: icon {state:?}");
                }
                Ok(Err(err)) | Err(err) => tracing::warn!("tray icon not changed: {err}"),
            }
        }
        if view.reconnecting {
            self.code.set_text("Reconnecting to the server…");
            self.code.set_enabled(false);
        } else if let (Some(sas), Phase::Streaming { .. }) = (view.sas, &view.phase) {
            // What the supporter must read back: different digits mean someone in between.
            // Enabled like the code it stands in for, so the menu's order does not change.
            self.code.set_text(format!("Security code: {sas}"));
            self.code.set_enabled(true);
        } else if let Some(code) = view.code {
            self.code.set_text(format!("Code: {code} (click to copy)"));
            self.code.set_enabled(true);
        }
        let tooltip =
            if view.reconnecting { "Tether: reconnecting to the server" } else { "Tether" };
        if let Err(err) = self.icon.set_tooltip(Some(tooltip)) {
            tracing::debug!("tray tooltip not changed: {err}");
        }
        let sharing = matches!(view.phase, Phase::Allowed { .. } | Phase::Streaming { .. });
        self.stop.set_enabled(sharing);
        self.new_code.set_enabled(!sharing && !view.reconnecting);

        // The dialog follows the request it shows and goes when that one is over.
        let asked = match &view.phase {
            Phase::Asked { ask, peer, deadline } => Some((*ask, peer, *deadline)),
            _ => None,
        };
        if self.dialog.as_ref().is_some_and(|d| Some(d.ask()) != asked.map(|a| a.0)) {
            if let Some(dialog) = self.dialog.take() {
                dialog.close();
            }
        }
        if let (None, Some((ask, peer, deadline))) = (&self.dialog, asked) {
            let commands = ui.commands.clone();
            self.dialog = Some(ConsentDialog::open(ask, peer, view.sas, deadline, commands));
        }
    }
}

/// A session shows as sharing even without the server (it streams on); otherwise a lost
/// server shows before the phase.
fn icon_state(view: &View) -> IconState {
    match view.phase {
        Phase::Allowed { .. } | Phase::Streaming { .. } => IconState::Sharing,
        _ if view.reconnecting => IconState::Offline,
        // Verifying lasts a round trip and shows nothing yet.
        Phase::Waiting | Phase::Verifying { .. } | Phase::Ended => IconState::Waiting,
        Phase::Asked { .. } => IconState::Asked,
    }
}

fn icon(state: IconState) -> Result<Icon, String> {
    Icon::from_rgba(state.rgba(), SIZE, SIZE).map_err(|e| e.to_string())
}
