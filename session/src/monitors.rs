//! Which monitor a session shows: the agent's side of the `display` channel, as a plain value.
//!
//! The agent reads the monitor list from the X server and feeds it in with
//! [`MonitorControl::update_list`]; the viewer's `show` / `show_all` go through
//! [`MonitorControl::request`]. Both answer with the [`Shown`] that capture and input must
//! follow. The shown monitor is followed by name across list changes (a monitor plugged in
//! before it shifts its index), and falls back to the primary one when it is unplugged.

use tether_proto::display::{MAX_MONITORS, Monitor, Monitors, ShowRefusal};

/// What the picture is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Monitor `n` of the X server's list (0: the primary).
    Monitor(usize),
    /// All monitors, as the whole screen.
    All,
}

/// The shown monitor and the list it is chosen from.
#[derive(Debug, Clone)]
pub struct MonitorControl {
    monitors: Vec<Monitor>,
    shown: Shown,
    /// The person chose the monitor (`--display`): viewers cannot switch.
    locked: bool,
}

impl MonitorControl {
    /// Shows `initial`; with `locked`, nothing else.
    pub fn new(initial: Shown, locked: bool) -> Self {
        MonitorControl { monitors: Vec::new(), shown: initial, locked }
    }

    /// What capture and input show now.
    pub fn shown(&self) -> Shown {
        self.shown
    }

    /// What the viewer is told: `None` until a list is known.
    pub fn announcement(&self) -> Option<Monitors> {
        if self.monitors.is_empty() {
            return None;
        }
        let showing = match self.shown {
            Shown::Monitor(n) => Some(n.min(self.monitors.len() - 1)),
            Shown::All => None,
        };
        Some(Monitors { monitors: self.monitors.clone(), showing, switchable: !self.locked })
    }

    /// A new list from the X server (at most [`MAX_MONITORS`] kept). Returns whether the
    /// announcement changed. A locked session keeps its index, whatever monitor is there now
    /// (as `--display N` always did); otherwise the shown monitor is followed by name, and
    /// when it is gone the primary (0) is shown.
    pub fn update_list(&mut self, mut monitors: Vec<Monitor>) -> bool {
        monitors.truncate(MAX_MONITORS);
        if monitors == self.monitors {
            return false;
        }
        if let (Shown::Monitor(n), false) = (self.shown, self.locked) {
            let name = self.monitors.get(n).map(|m| m.name.as_str());
            let followed = name.and_then(|name| monitors.iter().position(|m| m.name == name));
            self.shown = match followed {
                Some(index) => Shown::Monitor(index),
                None if n < monitors.len() && self.monitors.is_empty() => Shown::Monitor(n),
                None => Shown::Monitor(0),
            };
        }
        self.monitors = monitors;
        true
    }

    /// The viewer asks for `wanted`; on success capture and input follow the returned value.
    pub fn request(&mut self, wanted: Shown) -> Result<Shown, ShowRefusal> {
        if self.locked {
            return Err(ShowRefusal::Locked);
        }
        if let Shown::Monitor(n) = wanted
            && n >= self.monitors.len()
        {
            return Err(ShowRefusal::NoSuchMonitor);
        }
        self.shown = wanted;
        Ok(wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(name: &str, x: i32) -> Monitor {
        Monitor { name: name.into(), x, y: 0, width: 800, height: 600, primary: x == 0 }
    }

    fn two() -> Vec<Monitor> {
        vec![monitor("DP-1", 0), monitor("HDMI-1", 800)]
    }

    #[test]
    fn the_viewer_switches_between_monitors_and_all() {
        let mut control = MonitorControl::new(Shown::Monitor(0), false);
        assert_eq!(control.announcement(), None, "nothing to say before the list");
        assert!(control.update_list(two()));
        assert!(!control.update_list(two()), "the same list is no news");
        assert_eq!(control.request(Shown::Monitor(1)), Ok(Shown::Monitor(1)));
        let told = control.announcement().unwrap();
        assert_eq!((told.showing, told.switchable, told.monitors.len()), (Some(1), true, 2));
        assert_eq!(control.request(Shown::All), Ok(Shown::All));
        assert_eq!(control.announcement().unwrap().showing, None);
        assert_eq!(control.request(Shown::Monitor(2)), Err(ShowRefusal::NoSuchMonitor));
        assert_eq!(control.shown(), Shown::All, "a refused request changes nothing");
    }

    #[test]
    fn a_locked_session_refuses_and_keeps_its_index() {
        let mut control = MonitorControl::new(Shown::Monitor(1), true);
        control.update_list(two());
        assert_eq!(control.request(Shown::Monitor(0)), Err(ShowRefusal::Locked));
        assert_eq!(control.request(Shown::All), Err(ShowRefusal::Locked));
        control.update_list(vec![monitor("VGA-1", 0), monitor("DP-1", 800), monitor("X", 1600)]);
        assert_eq!(control.shown(), Shown::Monitor(1));
        assert!(!control.announcement().unwrap().switchable);
    }

    #[test]
    fn the_shown_monitor_is_followed_by_name_and_falls_back_to_the_primary() {
        let mut control = MonitorControl::new(Shown::Monitor(0), false);
        control.update_list(two());
        control.request(Shown::Monitor(1)).unwrap();
        // A monitor plugged in on the left shifts HDMI-1 to index 2.
        control.update_list(vec![
            monitor("DP-1", 0),
            monitor("DP-2", 800),
            monitor("HDMI-1", 1600),
        ]);
        assert_eq!(control.shown(), Shown::Monitor(2));
        // HDMI-1 unplugged: back to the primary.
        control.update_list(vec![monitor("DP-1", 0), monitor("DP-2", 800)]);
        assert_eq!(control.shown(), Shown::Monitor(0));
        // All stays all.
        control.request(Shown::All).unwrap();
        control.update_list(two());
        assert_eq!(control.shown(), Shown::All);
    }

    #[test]
    fn the_first_list_keeps_the_initial_index_and_long_lists_are_cut() {
        let mut control = MonitorControl::new(Shown::Monitor(1), false);
        control.update_list(two());
        assert_eq!(control.shown(), Shown::Monitor(1));
        let many: Vec<Monitor> = (0..40).map(|i| monitor(&format!("M{i}"), i * 800)).collect();
        control.update_list(many);
        assert_eq!(control.announcement().unwrap().monitors.len(), MAX_MONITORS);
    }
}
