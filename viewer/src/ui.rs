//! What a session tells a user interface besides its printed lines: the window implements
//! this; headless runs have none.

use tether_media::codec::DecodedFrame;

/// Called from the session task (lines) and the decode thread (frames): must not block.
pub trait SessionUi: Send + Sync {
    /// A `state: …` or `stats: …` line, exactly as printed.
    fn line(&self, line: &str);
    /// A newly decoded picture.
    fn frame(&self, frame: &DecodedFrame);
}
