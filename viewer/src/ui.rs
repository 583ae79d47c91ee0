//! What a session tells a user interface besides its printed lines: the window implements
//! this; headless runs have none.

use tether_media::codec::DecodedFrame;
use tether_session::viewing::Report;

/// Called from the session task (reports, stats) and the decode thread (frames): must not
/// block.
pub trait SessionUi: Send + Sync {
    /// Where the session is; the window matches on the value, headless prints its `Display`.
    fn report(&self, report: &Report);
    /// A `stats: …` line, exactly as printed.
    fn stats(&self, line: &str);
    /// A newly decoded picture.
    fn frame(&self, frame: &DecodedFrame);
}
