//! The `display` data channel: which monitors the computer has, and which one the viewer sees.
//!
//! JSON text messages tagged by `"type"` on an ordered, reliable data channel labelled
//! [`DISPLAY_CHANNEL`] that the agent opens beside `input`. The agent sends [`Monitors`] when the
//! channel opens and again whenever the monitors or the shown one change; the viewer asks with
//! `show` / `show_all`. [`DisplayMsg::decode`] validates; `docs/protocol.md` describes the
//! channel.

use serde::{Deserialize, Serialize};

/// Label of the data channel that carries [`DisplayMsg`]s.
pub const DISPLAY_CHANNEL: &str = "display";

/// Largest message on the channel: a list of [`MAX_MONITORS`] monitors with long names fits.
pub const MAX_DISPLAY_MESSAGE_BYTES: usize = 16 * 1024;

/// Most monitors listed; an X server with more lists only these.
pub const MAX_MONITORS: usize = 16;

/// Longest monitor name, in bytes (RandR output names are short: `DP-1`, `HDMI-A-0`).
pub const MAX_MONITOR_NAME_BYTES: usize = 64;

/// One monitor, in the coordinates of the computer's screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    /// The output's name (`DP-1`), at most [`MAX_MONITOR_NAME_BYTES`], printable.
    pub name: String,
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width in pixels, at least 1.
    pub width: u32,
    /// Height in pixels, at least 1.
    pub height: u32,
    /// The primary monitor (at most one is).
    pub primary: bool,
}

/// What the agent shows: the monitors, which one is shown, and whether the viewer may switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitors {
    /// Every monitor, the primary first; at most [`MAX_MONITORS`], at least one.
    pub monitors: Vec<Monitor>,
    /// The index into `monitors` of the one shown; `None` (`null`): all of them as one picture.
    pub showing: Option<usize>,
    /// Whether `show` / `show_all` may change it (`false`: the person chose the monitor).
    pub switchable: bool,
}

/// Why a `show` or `show_all` was not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShowRefusal {
    /// The person started sharing one monitor (`--display`): the viewer cannot switch.
    Locked,
    /// No monitor has that index (any more).
    NoSuchMonitor,
    /// Switching failed on the computer (the monitor could not be captured).
    Failed,
}

/// One message on the `display` channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DisplayMsg {
    /// Agent → viewer: the monitors and the one shown.
    Monitors(Monitors),
    /// Viewer → agent: show monitor `monitor` (an index into the last `monitors` list).
    Show {
        /// The index.
        monitor: usize,
    },
    /// Viewer → agent: show all monitors as one picture.
    ShowAll {},
    /// Agent → viewer: the last `show` / `show_all` was not followed.
    Refused {
        /// Why.
        reason: ShowRefusal,
    },
}

/// Why a display message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayError {
    /// Longer than [`MAX_DISPLAY_MESSAGE_BYTES`].
    #[error("display message of {0} bytes is over the {MAX_DISPLAY_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not JSON, an unknown `type` or field, or a field of the wrong type.
    #[error("malformed display message: {0}")]
    Malformed(String),
    /// A monitor list that is empty, too long, points past its end, or holds a bad monitor.
    #[error("invalid monitor list: {0}")]
    InvalidList(&'static str),
}

impl DisplayMsg {
    /// Parses and validates one message.
    pub fn decode(text: &str) -> Result<DisplayMsg, DisplayError> {
        if text.len() > MAX_DISPLAY_MESSAGE_BYTES {
            return Err(DisplayError::TooLarge(text.len()));
        }
        let msg: DisplayMsg =
            serde_json::from_str(text).map_err(|e| DisplayError::Malformed(e.to_string()))?;
        if let DisplayMsg::Monitors(list) = &msg {
            list.check()?;
        }
        Ok(msg)
    }

    /// The message as JSON text.
    pub fn encode(&self) -> String {
        // Plain structs and enums: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Monitors {
    /// Whether the list is one a viewer can show: 1..=[`MAX_MONITORS`] monitors with areas and
    /// printable names, `showing` inside it.
    pub fn check(&self) -> Result<(), DisplayError> {
        let invalid = DisplayError::InvalidList;
        if self.monitors.is_empty() {
            return Err(invalid("no monitors"));
        }
        if self.monitors.len() > MAX_MONITORS {
            return Err(invalid("too many monitors"));
        }
        if self.showing.is_some_and(|i| i >= self.monitors.len()) {
            return Err(invalid("showing is past the list"));
        }
        for m in &self.monitors {
            if m.width == 0 || m.height == 0 {
                return Err(invalid("a monitor has no area"));
            }
            if m.name.len() > MAX_MONITOR_NAME_BYTES || m.name.chars().any(char::is_control) {
                return Err(invalid("a monitor name is too long or has control characters"));
            }
        }
        Ok(())
    }
}

/// A monitor name as the X server gives it, made fit for [`Monitor::name`]: control characters
/// dropped, cut to [`MAX_MONITOR_NAME_BYTES`] at a character boundary.
pub fn monitor_name(raw: &str) -> String {
    let mut name = String::new();
    for c in raw.chars().filter(|c| !c.is_control()) {
        if name.len() + c.len_utf8() > MAX_MONITOR_NAME_BYTES {
            break;
        }
        name.push(c);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Monitors {
        Monitors {
            monitors: vec![
                Monitor {
                    name: "DP-1".into(),
                    x: 0,
                    y: 0,
                    width: 1920,
                    height: 1080,
                    primary: true,
                },
                Monitor {
                    name: "HDMI-1".into(),
                    x: 1920,
                    y: 0,
                    width: 1280,
                    height: 1024,
                    primary: false,
                },
            ],
            showing: Some(0),
            switchable: true,
        }
    }

    #[test]
    fn the_wire_form_is_the_documented_one() {
        let json = r#"{"type":"monitors","monitors":[{"name":"DP-1","x":0,"y":0,"width":1920,"height":1080,"primary":true},{"name":"HDMI-1","x":1920,"y":0,"width":1280,"height":1024,"primary":false}],"showing":0,"switchable":true}"#;
        assert_eq!(DisplayMsg::decode(json), Ok(DisplayMsg::Monitors(two())));
        assert_eq!(DisplayMsg::Monitors(two()).encode(), json);
        assert_eq!(
            DisplayMsg::decode(r#"{"type":"show","monitor":1}"#),
            Ok(DisplayMsg::Show { monitor: 1 })
        );
        assert_eq!(DisplayMsg::decode(r#"{"type":"show_all"}"#), Ok(DisplayMsg::ShowAll {}));
        assert_eq!(
            DisplayMsg::Refused { reason: ShowRefusal::NoSuchMonitor }.encode(),
            r#"{"type":"refused","reason":"no_such_monitor"}"#
        );
        let all = Monitors { showing: None, ..two() };
        assert!(DisplayMsg::Monitors(all).encode().contains(r#""showing":null"#));
    }

    #[test]
    fn bad_messages_are_refused() {
        let bad = [
            r#"{"type":"show","monitor":-1}"#,
            r#"{"type":"show","monitor":"1"}"#,
            r#"{"type":"show"}"#,
            r#"{"type":"show_all","extra":1}"#,
            r#"{"type":"refused","reason":"because"}"#,
            r#"{"type":"reboot"}"#,
            "[]",
            "",
        ];
        for text in bad {
            assert!(matches!(DisplayMsg::decode(text), Err(DisplayError::Malformed(_))), "{text}");
        }
        let huge = format!(r#"{{"type":"show","monitor":1,"pad":"{}"}}"#, "x".repeat(20_000));
        assert_eq!(DisplayMsg::decode(&huge), Err(DisplayError::TooLarge(huge.len())));
    }

    #[test]
    fn monitor_lists_are_checked() {
        let cases = [
            Monitors { monitors: vec![], ..two() },
            Monitors { showing: Some(2), ..two() },
            Monitors { monitors: vec![two().monitors[0].clone(); MAX_MONITORS + 1], ..two() },
            {
                let mut m = two();
                m.monitors[1].width = 0;
                m
            },
            {
                let mut m = two();
                m.monitors[0].name = "DP\u{1b}[2J".into();
                m
            },
        ];
        for list in cases {
            let text = DisplayMsg::Monitors(list.clone()).encode();
            assert!(
                matches!(DisplayMsg::decode(&text), Err(DisplayError::InvalidList(_))),
                "{list:?}"
            );
        }
        assert_eq!(two().check(), Ok(()));
    }

    #[test]
    fn names_lose_control_characters_and_length() {
        assert_eq!(monitor_name("DP-1\n"), "DP-1");
        let long = "é".repeat(100);
        let name = monitor_name(&long);
        assert!(name.len() <= MAX_MONITOR_NAME_BYTES && name.chars().all(|c| c == 'é'));
    }
}
