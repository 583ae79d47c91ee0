//! Encoder micro-benchmark: per-frame encode time, bytes and slices for each encoder
//! configuration on screen-like content generated in memory.
//!
//! `cargo run --release -p tether-media --example encode_bench [-- FRAMES [SCENE|CONFIG...]]`
//!
//! Scenes: `motion` (vertical colour bars 120 px wide in 8 mid colours, moved 4 px a frame:
//! what `tether-bench`'s painter draws) and `clock` (a still test pattern where only the
//! 544x32 latency probe of 16 px black and white squares changes each frame), at 1080p and
//! 720p. Colour conversion is done before the clock starts; only `encode` is timed.

use std::time::Instant;

use tether_media::codec::{
    EncoderSettings, H264Encoder, I420Frame, Slicing, VideoEncoder, annexb_nal_units, bgra_to_i420,
};
use tether_media::probe::{ProbeLayout, paint_rgba};
use tether_media::telemetry::Percentiles;

const BAR: usize = 120;
const STEP: usize = 4;
/// RGB, as in testkit/src/bench/motion.rs.
const COLOURS: [u32; 8] =
    [0xc0c0c0, 0xc0c000, 0x00c0c0, 0x00a000, 0xc000c0, 0xc00000, 0x0000c0, 0x505050];

#[derive(Clone, Copy)]
enum Scene {
    Motion,
    Clock,
}

/// The scene's picture number `t`, in BGRX.
fn picture(scene: Scene, width: u32, height: u32, t: usize) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut bgra = vec![0u8; w * h * 4];
    for (i, px) in bgra.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i % w, i / w);
        let rgb = match scene {
            Scene::Motion => COLOURS[((x + BAR * 8 - (t * STEP) % (BAR * 8)) / BAR) % 8],
            Scene::Clock => test_pattern(x, y, w, h),
        };
        px.copy_from_slice(&[rgb as u8, (rgb >> 8) as u8, (rgb >> 16) as u8, 255]);
    }
    // Black and white are the same in RGBA and BGRA. The value changes every frame like the
    // painter's tenths of a millisecond (about 167 per 60 Hz frame).
    paint_rgba((t as u32).wrapping_mul(167), &ProbeLayout::default(), &mut bgra, width, height);
    bgra
}

/// Colour bars over two thirds, a dark band with boxes below (like testkit's test pattern).
fn test_pattern(x: usize, y: usize, w: usize, h: usize) -> u32 {
    const BARS: [u32; 8] =
        [0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x000000];
    if y < h * 2 / 3 {
        return BARS[x * 8 / w];
    }
    if (w / 16..w * 5 / 16).contains(&x) && y > h * 3 / 4 {
        return 0xe0e0e0;
    }
    0x202020
}

struct Config {
    name: &'static str,
    settings: EncoderSettings,
}

fn configs() -> Vec<Config> {
    let base = EncoderSettings::default();
    let with = |slicing, threads| EncoderSettings { slicing, threads, ..base.clone() };
    vec![
        Config { name: "1t-max1100 (old)", settings: with(Slicing::MaxBytes(1100), 1) },
        Config { name: "2t-max1100", settings: with(Slicing::MaxBytes(1100), 2) },
        Config { name: "1t-single", settings: with(Slicing::Single, 1) },
        Config { name: "2t-count2", settings: with(Slicing::Count(2), 2) },
        Config { name: "2t-count4", settings: with(Slicing::Count(4), 2) },
        Config { name: "2t-count8", settings: with(Slicing::Count(8), 2) },
        Config { name: "1t-count2", settings: with(Slicing::Count(2), 1) },
        Config { name: "default", settings: base.clone() },
    ]
}

struct Row {
    /// Process CPU time (all of openh264's threads) per frame.
    cpu_ms: f64,
    encode_ms: Vec<f64>,
    bytes: Vec<usize>,
    slices: Vec<usize>,
}

fn run(settings: &EncoderSettings, frames: &[I420Frame]) -> Row {
    let mut encoder = H264Encoder::new(settings.clone()).expect("settings");
    let mut row = Row { cpu_ms: 0.0, encode_ms: Vec::new(), bytes: Vec::new(), slices: Vec::new() };
    let mut cpu_started = process_cpu_ms();
    // Frame 0 is the IDR; the steady state is what matters, so it is left out of the figures.
    for (n, frame) in frames.iter().enumerate() {
        let started = Instant::now();
        let encoded = encoder.encode(frame, false).expect("encode");
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if n == 0 {
            cpu_started = process_cpu_ms();
        }
        let Some(encoded) = encoded.filter(|_| n > 0) else { continue };
        let slices = annexb_nal_units(&encoded.data).filter(|nal| matches!(nal[0] & 0x1f, 1 | 5));
        row.slices.push(slices.count());
        row.bytes.push(encoded.data.len());
        row.encode_ms.push(ms);
    }
    row.cpu_ms = (process_cpu_ms() - cpu_started) / (frames.len().max(2) - 1) as f64;
    row
}

/// User and system CPU time of this process so far (Linux: /proc/self/stat, in clock ticks
/// of 10 ms; over a run of 100+ frames that resolves well below a millisecond per frame).
fn process_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime, fields 14 and 15 of the line: indexes 11 and 12 after the name.
    (ticks(11) + ticks(12)) * 10.0
}

fn percentile(values: &[f64], p: f64) -> f64 {
    Percentiles::new(values).at(p).unwrap_or(f64::NAN)
}

fn mean(values: impl Iterator<Item = usize>) -> f64 {
    let (sum, n) = values.fold((0, 0), |(s, n), v| (s + v, n + 1));
    sum as f64 / f64::from(n.max(1))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(120);
    let only: Vec<String> = args.collect();
    let scenes = [
        ("1080-motion", Scene::Motion, 1920, 1080),
        ("1080-clock", Scene::Clock, 1920, 1080),
        ("720-motion", Scene::Motion, 1280, 720),
    ];
    println!(
        "| scene | config | encode p50 ms | p95 ms | CPU ms/frame | bytes/frame | slices/frame |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let named = |name: &str| only.iter().any(|o| o == name);
    let any_scene = scenes.iter().any(|(name, ..)| named(name));
    let any_config = configs().iter().any(|c| named(c.name));
    for (scene_name, scene, w, h) in scenes {
        if any_scene && !named(scene_name) {
            continue;
        }
        let frames: Vec<I420Frame> = (0..count)
            .map(|t| {
                let mut yuv = I420Frame::default();
                bgra_to_i420(&picture(scene, w, h, t), w, h, w as usize * 4, &mut yuv).unwrap();
                yuv
            })
            .collect();
        for config in configs() {
            if any_config && !named(config.name) {
                continue;
            }
            let row = run(&config.settings, &frames);
            println!(
                "| {scene_name} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1} |",
                config.name,
                percentile(&row.encode_ms, 0.5),
                percentile(&row.encode_ms, 0.95),
                row.cpu_ms,
                mean(row.bytes.iter().copied()),
                mean(row.slices.iter().copied()),
            );
        }
    }
}
