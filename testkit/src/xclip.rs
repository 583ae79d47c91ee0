//! The X clipboard from outside, as other programs see it: `xclip` (Debian's package, installed
//! by `scripts/deps.sh test`) as a real selection owner and a real paster.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Puts `text` on the display's CLIPBOARD with `xclip`, which stays its owner in the
/// background until another program takes the selection.
pub fn xclip_copy(display: &str, text: &str) {
    let mut xclip = Command::new("xclip")
        .args(["-selection", "clipboard", "-in"])
        .env("DISPLAY", display)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("xclip is installed (scripts/deps.sh test)");
    xclip.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    assert!(xclip.wait().unwrap().success());
}

/// What a program pasting from `selection` gets.
pub fn xclip_paste(display: &str, selection: &str) -> Option<String> {
    let out = Command::new("xclip")
        .args(["-selection", selection, "-out"])
        .env("DISPLAY", display)
        .output()
        .expect("xclip runs");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits for `selection` to hold `expected`.
pub fn wait_for_selection(display: &str, selection: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = xclip_paste(display, selection);
        if now.as_deref() == Some(expected) {
            return;
        }
        assert!(Instant::now() < deadline, "{selection} holds {now:?}, not {expected:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
