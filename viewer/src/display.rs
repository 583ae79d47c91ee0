//! The `display` channel on the supporter's side: the computer's monitors are printed as they
//! come (`display: monitors …`, `display: showing N`); `--monitor` asks for one (or `all`) as
//! soon as the list is known, and holds the input script until the computer shows it, so that
//! its clicks land on that monitor.

use std::sync::Arc;

use tether_proto::chat::printable;
use tether_proto::display::{DisplayMsg, Monitors};
use tether_session::monitors::Shown;
use tokio::sync::watch;
use webrtc::data_channel::{DataChannel, DataChannelEvent};

/// Parses `--monitor`: a monitor number (0 is the primary) or `all`.
pub fn parse_shown(s: &str) -> Result<Shown, String> {
    match s {
        "all" => Ok(Shown::All),
        n => n.parse().map(Shown::Monitor).map_err(|_| {
            format!("{s:?} is not a monitor: give its number (0 is the primary) or \"all\"")
        }),
    }
}

/// The request for `shown`.
pub fn show(shown: Shown) -> DisplayMsg {
    match shown {
        Shown::Monitor(monitor) => DisplayMsg::Show { monitor },
        Shown::All => DisplayMsg::ShowAll {},
    }
}

/// What the computer shows, as [`Shown`].
pub fn showing(list: &Monitors) -> Shown {
    list.showing.map_or(Shown::All, Shown::Monitor)
}

/// The `display: monitors …` line.
pub fn monitors_line(list: &Monitors) -> String {
    let monitors: Vec<String> = list
        .monitors
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let primary = if m.primary { " primary" } else { "" };
            let name = printable(&m.name);
            format!("{i} {name} {}x{}+{}+{}{primary}", m.width, m.height, m.x, m.y)
        })
        .collect();
    let switch = if list.switchable { "switchable" } else { "locked" };
    format!("display: monitors {} ({switch})", monitors.join(", "))
}

/// Serves `channel` until it closes. `wanted` is asked for once; `ready` turns true when the
/// computer shows it (at once without `wanted`).
pub async fn serve(
    channel: Arc<dyn DataChannel>,
    wanted: Option<Shown>,
    ready: watch::Sender<bool>,
) {
    let mut asked = false;
    let mut last_showing = None;
    loop {
        let msg = match channel.poll().await {
            Some(DataChannelEvent::OnMessage(msg)) => msg,
            Some(DataChannelEvent::OnClose) | None => return,
            Some(_) => continue,
        };
        let text = msg.is_string.then(|| std::str::from_utf8(&msg.data).ok()).flatten();
        match text.map(DisplayMsg::decode) {
            Some(Ok(DisplayMsg::Monitors(list))) => {
                println!("{}", monitors_line(&list));
                let now = showing(&list);
                if last_showing != Some(now) {
                    println!("display: showing {}", shown_text(now));
                    last_showing = Some(now);
                }
                match wanted {
                    Some(w) if w == now => ready.send_replace(true),
                    Some(w) if !asked => {
                        asked = true;
                        if let Err(err) = channel.send_text(&show(w).encode()).await {
                            println!("display: not sent ({err})");
                        }
                        false
                    }
                    Some(_) => false,
                    None => ready.send_replace(true),
                };
            }
            Some(Ok(DisplayMsg::Refused { reason })) => {
                let reason = serde_json::to_string(&reason).unwrap_or_default();
                println!("display: refused {}", reason.trim_matches('"'));
            }
            _ => tracing::warn!("malformed display message dropped"),
        }
    }
}

fn shown_text(shown: Shown) -> String {
    match shown {
        Shown::Monitor(n) => n.to_string(),
        Shown::All => "all".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_proto::display::Monitor;

    #[test]
    fn monitor_flags_and_lines() {
        assert_eq!(parse_shown("1"), Ok(Shown::Monitor(1)));
        assert_eq!(parse_shown("all"), Ok(Shown::All));
        assert!(parse_shown("-1").unwrap_err().contains("not a monitor"));
        assert_eq!(show(Shown::All).encode(), r#"{"type":"show_all"}"#);
        let list = Monitors {
            monitors: vec![
                Monitor { name: "DP-1".into(), x: 0, y: 0, width: 640, height: 480, primary: true },
                Monitor {
                    name: "\u{202e}X".into(),
                    x: 640,
                    y: 0,
                    width: 320,
                    height: 240,
                    primary: false,
                },
            ],
            showing: None,
            switchable: true,
        };
        assert_eq!(showing(&list), Shown::All);
        assert_eq!(
            monitors_line(&list),
            r#"display: monitors 0 "DP-1" 640x480+0+0 primary, 1 "\u202eX" 320x240+640+0 (switchable)"#
        );
    }
}
