//! Playback of the received audio on the default output device with cpal, for the native
//! window and for `--play-audio`.
//!
//! The decode thread pushes 48 kHz stereo samples into a short queue (at most
//! [`MAX_QUEUED_MS`]; older samples are dropped so the delay cannot grow); cpal's callback
//! thread takes them, converted to the device's rate and channels, and plays silence when the
//! queue runs dry.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use tether_media::audio::{CHANNELS, Resampler, SAMPLE_RATE};

/// Most audio held for the device: enough to ride out scheduling hiccups on a busy machine.
pub const MAX_QUEUED_MS: usize = 200;

/// Why nothing can be played.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error("no audio output device")]
    NoDevice,
    #[error("audio output: {0}")]
    Device(String),
}

type Queue = Arc<Mutex<VecDeque<f32>>>;

pub struct Playback {
    // Playback stops when the stream is dropped.
    _stream: cpal::Stream,
    queue: Queue,
    device_channels: usize,
    resampler: Resampler,
    scratch: Vec<f32>,
    max_queued: usize,
    name: String,
}

/// The sound server's default sink where one is reachable (Linux), else the default host's.
fn default_output() -> Option<cpal::Device> {
    #[cfg(target_os = "linux")]
    if let Ok(host) = cpal::host_from_id(cpal::HostId::PulseAudio)
        && let Some(device) = host.default_output_device()
    {
        return Some(device);
    }
    cpal::default_host().default_output_device()
}

impl Playback {
    /// Opens the default output device at its own rate and channel count.
    pub fn start() -> Result<Self, PlaybackError> {
        let device = default_output().ok_or(PlaybackError::NoDevice)?;
        let err = |e: cpal::Error| PlaybackError::Device(e.to_string());
        let supported = device.default_output_config().map_err(err)?;
        let config = cpal::StreamConfig {
            channels: supported.channels(),
            sample_rate: supported.sample_rate(),
            // 20 ms: the server's default (seconds of prebuffer on PulseAudio) would swallow
            // the 200 ms this queue holds.
            buffer_size: cpal::BufferSize::Fixed(tether_media::audio::FRAME_SAMPLES as u32),
        };
        let device_channels = usize::from(config.channels.max(1));
        let queue: Queue = Arc::default();
        let feed = queue.clone();
        let on_data = move |out: &mut [f32], _: &cpal::OutputCallbackInfo| {
            let mut q = feed.lock().unwrap_or_else(|p| p.into_inner());
            for s in out.iter_mut() {
                *s = q.pop_front().unwrap_or(0.0);
            }
        };
        // Underruns at start and after pauses are expected; the callback plays silence then.
        let on_error = |e: cpal::Error| tracing::debug!(%e, "audio playback error");
        let stream = device
            .build_output_stream::<f32, _, _>(config, on_data, on_error, None)
            .map_err(err)?;
        stream.play().map_err(err)?;
        let name = device
            .description()
            .map(|d| d.to_string())
            .unwrap_or_else(|_| "the default output".into());
        let rate = config.sample_rate;
        Ok(Playback {
            _stream: stream,
            queue,
            device_channels,
            resampler: Resampler::new(SAMPLE_RATE, rate),
            scratch: Vec::new(),
            max_queued: rate as usize * device_channels * MAX_QUEUED_MS / 1000,
            name,
        })
    }

    pub fn describe(&self) -> &str {
        &self.name
    }

    /// Interleaved 48 kHz stereo samples.
    pub fn push(&mut self, stereo: &[f32]) {
        self.scratch.clear();
        self.resampler.process(stereo, &mut self.scratch);
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        for frame in self.scratch.chunks_exact(CHANNELS) {
            match self.device_channels {
                1 => q.push_back((frame[0] + frame[1]) / 2.0),
                n => {
                    q.push_back(frame[0]);
                    q.push_back(frame[1]);
                    q.extend(std::iter::repeat_n(0.0, n - 2));
                }
            }
        }
        let excess = q.len().saturating_sub(self.max_queued);
        // Whole frames only, so channels stay in place.
        let excess = excess.div_ceil(self.device_channels) * self.device_channels;
        let excess = excess.min(q.len());
        q.drain(..excess);
    }

    pub fn push_silence(&mut self, frames: usize) {
        let silence = vec![0.0; frames.min(SAMPLE_RATE as usize) * CHANNELS];
        self.push(&silence);
    }
}
