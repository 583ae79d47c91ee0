//! `--input-script FILE`: input messages to replay on the `input` data channel, so tests and
//! the benchmark drive remote control from the command line.
//!
//! One JSON object a line, in the form of `docs/protocol.md` ("The `input` data channel"),
//! plus an optional `"delay_ms"`: how long to wait before sending that line. Blank lines and
//! lines starting with `#` are skipped. `{"raw": "..."}` sends its string as it is, unchecked:
//! the way to test how an agent copes with malformed input. Every line is checked when the
//! file is read, before the session starts; a bad one is an error naming its line.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Map, Value};
use tether_media::telemetry::InputSent;
use tether_proto::input::InputMsg;
use tokio::sync::watch;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelState};

/// Longest wait one line may ask for.
const MAX_DELAY_MS: f64 = 3_600_000.0;

/// One message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptLine {
    /// 1-based line number in the file.
    pub line: usize,
    pub delay: Duration,
    /// What goes on the channel.
    pub text: String,
    /// The message's `type`, or `raw`.
    pub kind: String,
}

/// A parsed script.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputScript {
    pub lines: Vec<ScriptLine>,
}

impl InputScript {
    pub fn read(path: &Path) -> anyhow::Result<InputScript> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the input script {}", path.display()))?;
        InputScript::parse(&text).with_context(|| format!("input script {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<InputScript> {
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let parsed = parse_line(trimmed).with_context(|| format!("line {}", i + 1))?;
            lines.push(ScriptLine { line: i + 1, ..parsed });
        }
        Ok(InputScript { lines })
    }
}

fn parse_line(line: &str) -> anyhow::Result<ScriptLine> {
    let mut object: Map<String, Value> = match serde_json::from_str(line) {
        Ok(Value::Object(object)) => object,
        Ok(_) => bail!("not a JSON object"),
        Err(err) => bail!("not JSON: {err}"),
    };
    let delay = match object.remove("delay_ms") {
        None => Duration::ZERO,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(ms) if (0.0..=MAX_DELAY_MS).contains(&ms) => Duration::from_secs_f64(ms / 1000.0),
            _ => bail!("delay_ms must be 0..={MAX_DELAY_MS} milliseconds, not {n}"),
        },
        Some(other) => bail!("delay_ms must be a number of milliseconds, not {other}"),
    };
    if let Some(raw) = object.remove("raw") {
        let Value::String(text) = raw else { bail!("raw must be a string") };
        if !object.is_empty() {
            bail!("a raw line has only \"raw\" and \"delay_ms\"");
        }
        return Ok(ScriptLine { line: 0, delay, text, kind: "raw".into() });
    }
    let msg = InputMsg::decode(&Value::Object(object).to_string())?;
    let text = msg.encode();
    let kind = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    Ok(ScriptLine { line: 0, delay, text, kind })
}

/// Sends the script on `channel` once it is open, printing `input: sent line=N type=T
/// at_us=MICROSECONDS` (wall clock, for the benchmark) for each message and `input: script
/// done (N messages)` at the end. It starts once `ready` is true (the monitor asked for with
/// `--monitor` is shown).
pub async fn play(
    channel: Arc<dyn DataChannel>,
    script: InputScript,
    mut ready: watch::Receiver<bool>,
) {
    if !matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open)) {
        loop {
            match channel.poll().await {
                Some(DataChannelEvent::OnOpen) => break,
                Some(DataChannelEvent::OnClose) | None => {
                    println!("input: channel closed before it opened; script not sent");
                    return;
                }
                Some(_) => {}
            }
        }
    }
    if ready.wait_for(|ready| *ready).await.is_err() {
        println!("input: the session ended before the monitor was shown; script not sent");
        return;
    }
    let mut sent = 0;
    for line in &script.lines {
        tokio::time::sleep(line.delay).await;
        let at_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
        if let Err(err) = channel.send_text(&line.text).await {
            println!("input: channel closed at line {}: {err}", line.line);
            return;
        }
        sent += 1;
        println!("{}", InputSent { line: line.line, kind: line.kind.clone(), at_us });
    }
    println!("input: script done ({sent} messages)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_delays_and_raw() {
        let script = InputScript::parse(
            "# a comment\n\n{\"type\":\"pointer_move\",\"x\":0.5,\"y\":0.25,\"delay_ms\":20}\n\
             {\"type\": \"text\", \"text\": \"Hi!\"}\n\
               # indented comment\n\
             {\"raw\": \"not json {\", \"delay_ms\": 1.5}\n",
        )
        .unwrap();
        let lines = &script.lines;
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].line, 3);
        assert_eq!(lines[0].delay, Duration::from_millis(20));
        assert_eq!(lines[0].kind, "pointer_move");
        assert_eq!(
            InputMsg::decode(&lines[0].text),
            Ok(InputMsg::PointerMove { x: 0.5, y: 0.25 }),
            "delay_ms is not sent"
        );
        assert_eq!(
            (lines[1].line, lines[1].delay, lines[1].kind.as_str()),
            (4, Duration::ZERO, "text")
        );
        assert_eq!(lines[2].text, "not json {");
        assert_eq!(lines[2].kind, "raw");
        assert_eq!(lines[2].delay, Duration::from_micros(1500));
    }

    #[test]
    fn bad_lines_are_errors_with_their_number() {
        let cases = [
            ("{\"type\":\"key\",\"code\":\"KeyA\",\"down\":true}\nnot json", "line 2", "not JSON"),
            ("[1, 2]", "line 1", "not a JSON object"),
            (
                "\n\n{\"type\":\"key\",\"code\":\"Keya\",\"down\":true}",
                "line 3",
                "unknown key code",
            ),
            ("{\"type\":\"pointer_move\",\"x\":0.5}", "line 1", "malformed"),
            ("{\"type\":\"wheel\",\"delay_ms\":-1}", "line 1", "delay_ms must be"),
            ("{\"type\":\"wheel\",\"delay_ms\":\"5\"}", "line 1", "delay_ms must be"),
            ("{\"raw\":\"x\",\"type\":\"wheel\"}", "line 1", "only \"raw\""),
            ("{\"raw\":5}", "line 1", "raw must be a string"),
        ];
        for (text, line, why) in cases {
            let err = format!("{:#}", InputScript::parse(text).unwrap_err());
            assert!(err.starts_with(line) && err.contains(why), "{text:?}: {err}");
        }
    }
}
