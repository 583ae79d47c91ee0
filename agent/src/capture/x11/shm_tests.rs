//! Tests of the capture buffer [`X11Source`](super::X11Source) shares with the X server: no
//! other local user can read it, nothing is left behind, and an image request for a monitor
//! that changed under it is retried. They need Xvfb.

use std::time::{Duration, Instant};

use tether_testkit::paint::Painter;
use tether_testkit::xvfb::Xvfb;

use super::shm_image::Sharing;
use super::{FrameSource, ShownMonitor, X11Source};

/// `SHM_DEST`: the id was removed; the segment lives on only while attached.
const REMOVED: u32 = 0o1000;

/// One line of `/proc/sysvipc/shm`.
#[derive(Debug)]
struct Segment {
    mode: u32,
    size: usize,
    creator: u32,
}

/// The SysV segments this process created.
fn own_segments() -> Vec<Segment> {
    let table = std::fs::read_to_string("/proc/sysvipc/shm").expect("/proc/sysvipc/shm");
    let parse = |line: &str| {
        // key shmid perms size cpid ...; perms in octal.
        let fields: Vec<&str> = line.split_whitespace().collect();
        Segment {
            mode: u32::from_str_radix(fields[2], 8).unwrap(),
            size: fields[3].parse().unwrap(),
            creator: fields[4].parse().unwrap(),
        }
    };
    let segments = table.lines().skip(1).map(parse);
    segments.filter(|s| s.creator == std::process::id()).collect()
}

/// What the capture of an issue-16 agent must never leave: a segment others may open, or one
/// whose id still lets anyone attach it. Other tests of this process may have segments too.
fn assert_no_segment_is_exposed() {
    for segment in own_segments() {
        assert_eq!(segment.mode & 0o077, 0, "readable by others: {segment:?}");
        assert_ne!(segment.mode & REMOVED, 0, "not removed: {segment:?}");
    }
}

fn assert_captures_the_pattern(source: &mut X11Source, painter: &Painter, (w, h): (u32, u32)) {
    let expected = painter.fill_test_pattern(w, h).unwrap();
    let frame = source.capture().unwrap();
    let rgba = frame.rows().flat_map(|r| r.chunks_exact(4)).flat_map(|p| [p[2], p[1], p[0], 255]);
    assert!(rgba.eq(expected.data.iter().copied()), "captured pixels differ from the pattern");
}

#[test]
#[ignore = "needs Xvfb"]
fn x11_memfd_capture_has_no_sysv_segment() {
    // A size no other test uses, to tell this source's segment from theirs.
    let (w, h) = (333, 222);
    let xvfb = Xvfb::start(w, h).unwrap();
    let painter = Painter::connect(xvfb.display()).unwrap();
    let mut source = X11Source::open(Some(xvfb.display()), 0).unwrap();
    assert_eq!(source.image.sharing(), Sharing::Memfd, "Xvfb has MIT-SHM 1.2");
    assert_no_segment_is_exposed();
    let len = (w * h * 4) as usize;
    let mine: Vec<_> = own_segments().into_iter().filter(|s| s.size % len == 0).collect();
    assert!(mine.is_empty(), "a memfd source made SysV segments: {mine:?}");
    assert_captures_the_pattern(&mut source, &painter, (w, h));
}

#[test]
#[ignore = "needs Xvfb"]
fn x11_sysv_segment_is_private_removed_and_gone_after_drop() {
    let (w, h) = (334, 222);
    let xvfb = Xvfb::start(w, h).unwrap();
    let painter = Painter::connect(xvfb.display()).unwrap();
    let mut source =
        X11Source::open_sharing(Some(xvfb.display()), ShownMonitor::fixed(0), Sharing::SysV)
            .unwrap();
    assert_eq!(source.image.sharing(), Sharing::SysV);
    let len = (w * h * 4) as usize;
    let this_source = || own_segments().into_iter().filter(|s| s.size == len).collect::<Vec<_>>();
    let mine = this_source();
    assert_eq!(mine.len(), 1, "one segment of this size: {mine:?}");
    assert_eq!(mine[0].mode & 0o7777, REMOVED | 0o600, "0600 and removed: {mine:?}");
    assert_no_segment_is_exposed();
    assert_captures_the_pattern(&mut source, &painter, (w, h));
    // Dropped: ours is unmapped, and the server lets go of its mapping as the connection closes.
    drop(source);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !this_source().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(this_source().is_empty(), "the segment outlived its source: {:?}", this_source());
}

/// The monitor moved or shrank after the last geometry check: the request no longer fits the
/// screen (BadMatch). The capture re-reads the monitor and asks again instead of failing.
#[test]
#[ignore = "needs Xvfb"]
fn x11_request_for_a_stale_monitor_is_retried() {
    let xvfb = Xvfb::start(320, 240).unwrap();
    let painter = Painter::connect(xvfb.display()).unwrap();
    let mut source = X11Source::open(Some(xvfb.display()), 0).unwrap();
    source.capture().unwrap();
    source.rect.x = 10; // 10 + 320 > 320: what the server would refuse after a change
    assert_captures_the_pattern(&mut source, &painter, (320, 240));
    assert_eq!(source.rect.x, 0, "the monitor was re-read");
}
