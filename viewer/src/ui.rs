//! What a session tells a user interface besides its printed lines: the window implements
//! this; headless runs have none.

use tether_media::codec::DecodedFrame;
use tether_media::telemetry::ViewerStats;
use tether_session::viewing::Report;

/// Called from the session task (reports, stats) and the decode thread (frames): must not
/// block.
pub trait SessionUi: Send + Sync {
    /// Where the session is; the window matches on the value, headless prints its `Display`.
    fn report(&self, report: &Report);
    /// What the `stats: …` line just printed says.
    fn stats(&self, stats: &ViewerStats);
    /// A newly decoded picture.
    fn frame(&self, frame: &DecodedFrame);
}
