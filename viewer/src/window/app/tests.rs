use super::draw::overlay_lines;
use tether_media::telemetry::NetworkStats;
use tether_media::telemetry::ViewerStats;

#[test]
fn the_overlay_reads_the_stats_line() {
    let stats = ViewerStats {
        fps: 29.8,
        kbps: 1200.0,
        decode_ms: 1.25,
        frames: 9,
        width: 1280,
        height: 720,
        network: Some(NetworkStats { packets: 3, rtt_ms: 0.4, ..NetworkStats::default() }),
        ..ViewerStats::default()
    };
    let lines = overlay_lines(Some(&stats), "host 127.0.0.1:1 -> host 127.0.0.1:2");
    assert_eq!(lines[0], "fps        29.8");
    assert_eq!(lines[1], "bitrate    1200 kbit/s");
    assert_eq!(lines[2], "rtt        0.4 ms");
    assert_eq!(lines[3], "decode     1.25 ms");
    assert_eq!(lines[4], "resolution 1280x720");
    assert!(lines[5].ends_with("-> host 127.0.0.1:2"));
    assert_eq!(overlay_lines(None, "")[0], "fps        ?");
    let timed_out = ViewerStats { network: None, ..stats };
    assert_eq!(overlay_lines(Some(&timed_out), "")[2], "rtt        ? ms");
}
