//! The comparison table: Tether and the GStreamer baselines, each into each viewer, measured in
//! the same run on the same painted display, and their ratios.

use super::report::{Measured, show};

/// Who sent the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    Tether,
    Openh264,
    X264,
}

impl Sender {
    pub fn label(self) -> &'static str {
        match self {
            Sender::Tether => "Tether",
            Sender::Openh264 => "GStreamer openh264",
            Sender::X264 => "GStreamer x264",
        }
    }
}

/// Who received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// tether-viewer, or for GStreamer a second gst-launch (RTP over UDP, avdec_h264).
    Native,
    /// Headless Chromium: the agent's page, or for GStreamer a page answering webrtcbin.
    Browser,
}

impl Viewer {
    pub fn label(self) -> &'static str {
        match self {
            Viewer::Native => "native",
            Viewer::Browser => "Chromium",
        }
    }
}

/// One sender into one viewer.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    pub sender: Sender,
    pub viewer: Viewer,
    /// Frames decoded per second.
    pub fps: Option<f64>,
    /// Painted -> decoded (Chromium: handed over by MediaStreamTrackProcessor).
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    /// Percent of one core.
    pub sender_cpu: Option<f64>,
    pub viewer_cpu: Option<f64>,
    /// Chromium's mean jitter-buffer delay (getStats).
    pub jitter_ms: Option<f64>,
    /// Painted -> the frame's last packet in (Chromium's rVFC receiveTime), p50.
    pub received_p50: Option<f64>,
    /// Painted -> displayed (rVFC expectedDisplayTime).
    pub displayed_p50: Option<f64>,
    pub displayed_p99: Option<f64>,
    /// Code entered (Connect) -> first displayed frame (Tether in Chromium only).
    pub first_frame_ms: Option<f64>,
    /// "not run: …" or "failed: …".
    pub note: Option<String>,
    /// For the record under the table.
    pub details: Vec<String>,
}

impl Row {
    pub fn new(scenario: &str, sender: Sender, viewer: Viewer) -> Self {
        Row {
            scenario: scenario.to_owned(),
            sender,
            viewer,
            fps: None,
            p50: None,
            p95: None,
            p99: None,
            sender_cpu: None,
            viewer_cpu: None,
            jitter_ms: None,
            received_p50: None,
            displayed_p50: None,
            displayed_p99: None,
            first_frame_ms: None,
            note: None,
            details: Vec::new(),
        }
    }

    pub fn not_run(scenario: &str, sender: Sender, viewer: Viewer, why: &str) -> Self {
        Row { note: Some(format!("not run: {why}")), ..Row::new(scenario, sender, viewer) }
    }

    fn cells(&self) -> Vec<String> {
        let pct = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.0} %"));
        vec![
            show(self.fps, 1),
            show(self.p50, 1),
            show(self.p95, 1),
            show(self.p99, 1),
            pct(self.sender_cpu),
            pct(self.viewer_cpu),
            show(self.jitter_ms, 1),
            show(self.received_p50, 1),
            format!("{} / {}", show(self.displayed_p50, 1), show(self.displayed_p99, 1)),
            show(self.first_frame_ms, 0),
        ]
    }

    pub fn line(&self) -> String {
        let cells = match &self.note {
            Some(note) => {
                let mut cells = vec!["–".to_owned(); 10];
                cells[0] = one_line(note);
                cells
            }
            None => self.cells(),
        };
        format!(
            "| {} | {} | {} | {} |",
            self.scenario,
            self.sender.label(),
            self.viewer.label(),
            cells.join(" | ")
        )
    }
}

pub const HEADER: &str = "| scenario | sender | viewer | fps | p50 ms | p95 ms | p99 ms | sender CPU | viewer CPU | jitter buffer ms | last packet in p50 ms | displayed p50 / p99 ms | code -> first frame ms |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |";

/// The first line of `text`, without `|` or control characters, for a table cell.
fn one_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    first.chars().filter(|c| !c.is_control()).collect::<String>().replace('|', "/")
}

/// `a / b`, shown as `0.00x`; `n/a` unless both are there and `b` is not zero.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.abs() > f64::EPSILON => format!("{:.2}x", a / b),
        _ => "n/a".to_owned(),
    }
}

/// Tether / GStreamer openh264 per scenario and viewer, for fps, p50, p99, jitter buffer,
/// sender CPU and displayed p50 (the other columns: "–").
pub fn ratio_lines(rows: &[Row]) -> Vec<String> {
    let ran = |r: &&Row| r.note.is_none();
    let mut lines = Vec::new();
    for tether in rows.iter().filter(ran).filter(|r| r.sender == Sender::Tether) {
        let Some(base) = rows.iter().filter(ran).find(|r| {
            r.sender == Sender::Openh264
                && r.viewer == tether.viewer
                && r.scenario == tether.scenario
        }) else {
            continue;
        };
        let dash = "–".to_owned();
        let cells = [
            ratio(tether.fps, base.fps),
            ratio(tether.p50, base.p50),
            dash.clone(),
            ratio(tether.p99, base.p99),
            ratio(tether.sender_cpu, base.sender_cpu),
            dash.clone(),
            ratio(tether.jitter_ms, base.jitter_ms),
            dash.clone(),
            format!("{} / –", ratio(tether.displayed_p50, base.displayed_p50)),
            dash,
        ];
        lines.push(format!(
            "| {} | Tether / openh264 | {} | {} |",
            tether.scenario,
            tether.viewer.label(),
            cells.join(" | ")
        ));
    }
    lines
}

/// Tether into tether-viewer, from its full record.
pub fn from_measured(m: &Measured) -> Row {
    let mut row = Row::new(&m.label, Sender::Tether, Viewer::Native);
    row.fps = m.fps;
    let latency = m.latency_read();
    (row.p50, row.p95, row.p99) =
        (latency.map(|l| l.p50_ms), latency.map(|l| l.p95_ms), latency.map(|l| l.p99_ms));
    row.sender_cpu = m.agent_cpu;
    row.viewer_cpu = m.viewer_cpu;
    row.note = m.failure.as_ref().map(|f| format!("failed: {f}"));
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_ratios_line_up() {
        let mut t = Row::new("1920x1080 motion", Sender::Tether, Viewer::Native);
        t.fps = Some(45.0);
        t.p50 = Some(30.0);
        t.p99 = Some(60.0);
        t.sender_cpu = Some(90.0);
        let mut g = Row::new("1920x1080 motion", Sender::Openh264, Viewer::Native);
        g.fps = Some(60.0);
        g.p50 = Some(20.0);
        g.p99 = Some(30.0);
        g.sender_cpu = Some(60.0);
        let x =
            Row::not_run("1920x1080 motion", Sender::X264, Viewer::Native, "no x264 | bad\nmore");
        let columns = HEADER.lines().next().unwrap().matches('|').count();
        for row in [&t, &g, &x] {
            assert_eq!(row.line().matches('|').count(), columns, "{}", row.line());
        }
        assert!(x.line().contains("not run: no x264 / bad |"), "{}", x.line());
        let ratios = ratio_lines(&[t.clone(), g, x]);
        assert_eq!(ratios.len(), 1);
        assert_eq!(ratios[0].matches('|').count(), columns, "{}", ratios[0]);
        assert!(ratios[0].contains("| 0.75x | 1.50x | – | 2.00x | 1.50x |"), "{}", ratios[0]);
        assert!(ratios[0].contains("n/a / –"), "{}", ratios[0]);
        assert!(ratio_lines(&[t]).is_empty(), "no baseline, no ratio");
    }
}
