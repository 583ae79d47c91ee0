//! The system output ("what the speakers play") through cpal.
//!
//! - Linux: cpal's PulseAudio host, which also reaches PipeWire through `pipewire-pulse`:
//!   the monitor source of the default sink. PulseAudio converts it to 48 kHz stereo float for
//!   us, so the resampler is skipped.
//! - Windows: WASAPI loopback: cpal opens an input stream on the default output device.
//! - macOS: the OS offers no loopback to cpal; a virtual device (BlackHole, Loopback) set as
//!   the output, or ScreenCaptureKit audio (macOS 13+, not in cpal), is needed. Not built yet.
//!
//! The callback runs on cpal's thread: it copies the samples into a bounded queue with
//! `try_send` and counts what did not fit.

use std::sync::mpsc::{Receiver, RecvTimeoutError, TrySendError, sync_channel};
use std::time::Duration;

use cpal::traits::{DeviceTrait, StreamTrait};

use super::{AudioError, AudioFormat, AudioSource, Chunk};

/// Chunks waiting for the audio thread: about 1.3 s at PulseAudio's 20 ms fragments.
const CHUNKS: usize = 64;
/// How long opening the stream may take before the server is considered hung.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

struct SystemOutput {
    // Capture stops when the stream is dropped.
    _stream: cpal::Stream,
    chunks: Receiver<Chunk>,
    format: AudioFormat,
    name: String,
}

/// Opens the capture of the system output (on the thread that will read it).
pub fn open_system_output() -> Result<Box<dyn AudioSource>, AudioError> {
    let (device, config, name) = find_device()?;
    let format =
        AudioFormat { sample_rate: config.sample_rate, channels: usize::from(config.channels) };
    let (tx, chunks) = sync_channel(CHUNKS);
    let mut lost = 0u64;
    let channels = format.channels.max(1);
    let on_data = move |data: &[f32], _: &cpal::InputCallbackInfo| match tx
        .try_send(Chunk { samples: data.to_vec(), lost_before: lost })
    {
        Ok(()) => lost = 0,
        Err(TrySendError::Full(_)) => lost += (data.len() / channels) as u64,
        Err(TrySendError::Disconnected(_)) => {}
    };
    let on_error = |err: cpal::Error| tracing::warn!(%err, "audio capture error");
    let stream = device
        .build_input_stream::<f32, _, _>(config, on_data, on_error, Some(OPEN_TIMEOUT))
        .map_err(|e| AudioError::Device(format!("{name}: {e}")))?;
    stream.play().map_err(|e| AudioError::Device(format!("{name}: {e}")))?;
    Ok(Box::new(SystemOutput { _stream: stream, chunks, format, name }))
}

impl AudioSource for SystemOutput {
    fn format(&self) -> AudioFormat {
        self.format
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn next_chunk(&mut self, timeout: Duration) -> Result<Option<Chunk>, AudioError> {
        match self.chunks.recv_timeout(timeout) {
            Ok(chunk) => Ok(Some(chunk)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(AudioError::Ended),
        }
    }
}

#[cfg(target_os = "linux")]
fn find_device() -> Result<(cpal::Device, cpal::StreamConfig, String), AudioError> {
    use cpal::traits::HostTrait;
    let host = cpal::host_from_id(cpal::HostId::PulseAudio)
        .map_err(|e| AudioError::NoDevice(format!("PulseAudio/PipeWire is not reachable ({e})")))?;
    let sink = host
        .default_output_device()
        .ok_or_else(|| AudioError::NoDevice("the sound server has no default output".into()))?;
    let sink_name = sink.id().map_err(|e| AudioError::Device(e.to_string()))?.id().to_owned();
    let monitor = format!("{sink_name}.monitor");
    let device = host
        .input_devices()
        .map_err(|e| AudioError::Device(e.to_string()))?
        .find(|d| d.id().is_ok_and(|id| id.id() == monitor))
        .ok_or_else(|| AudioError::NoDevice(format!("the output {sink_name} has no monitor")))?;
    // The server converts whatever the sink runs at; 20 ms fragments.
    let config = cpal::StreamConfig {
        channels: 2,
        sample_rate: tether_media::audio::SAMPLE_RATE,
        buffer_size: cpal::BufferSize::Fixed(tether_media::audio::FRAME_SAMPLES as u32),
    };
    Ok((device, config, format!("PulseAudio monitor {monitor}")))
}

#[cfg(windows)]
fn find_device() -> Result<(cpal::Device, cpal::StreamConfig, String), AudioError> {
    use cpal::traits::HostTrait;
    let host = cpal::default_host();
    let device = host
        .default_output_device()
        .ok_or_else(|| AudioError::NoDevice("no output device".into()))?;
    let config = device.default_output_config().map_err(|e| AudioError::Device(e.to_string()))?;
    if config.sample_format() != cpal::SampleFormat::F32 {
        return Err(AudioError::Device(format!("unexpected format {}", config.sample_format())));
    }
    // An input stream on an output device is WASAPI loopback.
    Ok((device, config.config(), "WASAPI loopback of the default output".into()))
}

#[cfg(not(any(target_os = "linux", windows)))]
fn find_device() -> Result<(cpal::Device, cpal::StreamConfig, String), AudioError> {
    Err(AudioError::NoDevice(
        "this system offers no loopback capture; set a virtual loopback device as the output"
            .into(),
    ))
}
