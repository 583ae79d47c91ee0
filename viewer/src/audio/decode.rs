//! The `tether-audio-decode` thread.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::UNIX_EPOCH;

use tether_media::audio::{CHANNELS, OpusDecoder, Placement, ReceiveTimeline, SAMPLE_RATE};
use tether_media::telemetry::AudioOnset;

use super::playback::Playback;
use super::wav::WavDump;
use super::{AudioSettings, AudioStats, Packet};

/// Below this peak a frame counts as quiet (about -50 dBFS).
const QUIET: f32 = 0.003;
/// Above this peak a frame counts as sound (about -30 dBFS).
const LOUD: f32 = 0.03;
/// Sound after at least this much quiet is an onset: 200 ms.
const ONSET_AFTER: u64 = SAMPLE_RATE as u64 / 5;

pub(super) fn run(settings: &AudioSettings, packets: &Receiver<Packet>, stats: &AudioStats) {
    let mut decoder = match OpusDecoder::new() {
        Ok(decoder) => decoder,
        Err(err) => {
            tracing::error!(%err, "no Opus decoder; audio is not played");
            return;
        }
    };
    let mut out = Output::open(settings);
    let mut timeline = ReceiveTimeline::default();
    let mut onsets = OnsetDetector::default();
    while let Ok(packet) = packets.recv() {
        stats.packets.fetch_add(1, Ordering::Relaxed);
        stats.bytes.fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
        let Placement::Play { concealed, silence } =
            timeline.handle(packet.sequence_number, packet.timestamp)
        else {
            stats.late.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        for i in 0..concealed {
            // The packet after a loss carries FEC for the frame just before it.
            let fec = (i + 1 == concealed).then_some(&packet.payload[..]);
            stats.concealed.fetch_add(1, Ordering::Relaxed);
            match decoder.conceal(fec) {
                Ok(pcm) => out.samples(pcm),
                Err(_) => {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if silence > 0 {
            out.silence(silence as usize);
            onsets.silence(u64::from(silence));
        }
        match decoder.decode(&packet.payload) {
            Ok(pcm) => {
                let peak = pcm.iter().fold(0.0f32, |m, s| m.max(s.abs()));
                if peak > 0.0 {
                    let cb = (-20.0 * f64::from(peak).log10() * 100.0).max(0.0) as u64;
                    stats.peak_centibels.fetch_min(cb, Ordering::Relaxed);
                }
                if onsets.frame(peak, (pcm.len() / CHANNELS) as u64) {
                    // The benchmark reads this: tone played -> tone arrived.
                    let ms = packet.arrived.duration_since(UNIX_EPOCH).unwrap_or_default();
                    let unix_ms = u64::try_from(ms.as_millis()).unwrap_or(u64::MAX);
                    println!("{}", AudioOnset { unix_ms });
                }
                out.samples(pcm);
            }
            Err(err) => {
                tracing::debug!(%err, "undecodable audio packet dropped");
                stats.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    out.close();
}

/// Where decoded audio goes: the dump, the speaker, both or neither.
struct Output {
    dump: Option<WavDump>,
    playback: Option<Playback>,
}

impl Output {
    fn open(settings: &AudioSettings) -> Self {
        let dump = settings.dump.as_ref().and_then(|path| match WavDump::create(path) {
            Ok(dump) => {
                println!("audio: dumping to {}", path.display());
                Some(dump)
            }
            Err(err) => {
                tracing::warn!(%err, path = %path.display(), "cannot write the audio dump");
                None
            }
        });
        let playback = settings.play.then(Playback::start).and_then(|p| match p {
            Ok(p) => {
                println!("audio: playing on {}", p.describe());
                Some(p)
            }
            Err(err) => {
                tracing::warn!(%err, "no audio playback; the session goes on");
                None
            }
        });
        Output { dump, playback }
    }

    fn samples(&mut self, pcm: &[f32]) {
        if let Some(dump) = &mut self.dump
            && let Err(err) = dump.write(pcm)
        {
            tracing::warn!(%err, "audio dump stopped");
            self.dump = None;
        }
        if let Some(playback) = &mut self.playback {
            playback.push(pcm);
        }
    }

    fn silence(&mut self, frames: usize) {
        if let Some(dump) = &mut self.dump
            && let Err(err) = dump.write_silence(frames)
        {
            tracing::warn!(%err, "audio dump stopped");
            self.dump = None;
        }
        if let Some(playback) = &mut self.playback {
            playback.push_silence(frames);
        }
    }

    fn close(self) {
        if let Some(dump) = self.dump
            && let Err(err) = dump.finalize()
        {
            tracing::warn!(%err, "the audio dump could not be finalised");
        }
    }
}

/// Sound after a pause: the start of a tone, a notification, a voice.
#[derive(Debug)]
struct OnsetDetector {
    quiet: u64,
}

impl Default for OnsetDetector {
    fn default() -> Self {
        // The first sound of the session counts as an onset.
        OnsetDetector { quiet: ONSET_AFTER }
    }
}

impl OnsetDetector {
    fn silence(&mut self, frames: u64) {
        self.quiet = self.quiet.saturating_add(frames);
    }

    /// A decoded frame with this peak: whether it starts a sound.
    fn frame(&mut self, peak: f32, frames: u64) -> bool {
        if peak < QUIET {
            self.silence(frames);
            return false;
        }
        let onset = peak >= LOUD && self.quiet >= ONSET_AFTER;
        if peak >= LOUD || onset {
            self.quiet = 0;
        }
        onset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onsets_need_a_pause_before_them() {
        let mut d = OnsetDetector::default();
        assert!(d.frame(0.5, 960), "the first sound");
        assert!(!d.frame(0.5, 960), "still the same sound");
        assert!(!d.frame(0.0, 960), "a short pause");
        assert!(!d.frame(0.5, 960), "too short a pause for a new sound");
        d.silence(48_000);
        assert!(!d.frame(0.01, 960), "faint is not an onset");
        assert!(d.frame(0.2, 960), "sound after a second of silence");
    }
}
