//! The real binaries with a private PulseAudio server: tones played into its null sink (the
//! default output) are captured by the agent from the sink's monitor, sent as Opus, and
//! arrive in the headless viewer's WAV dump with the right frequencies and silence between.

use std::path::Path;
use std::time::Duration;

use tether_media::telemetry::ViewerStats;
use tether_testkit::loopback::{LoopbackAgent, agent_command};
use tether_testkit::process::ChildProcess;
use tether_testkit::pulse::PulseServer;
use tether_testkit::tone::{dominant_frequency, read_wav_mono, rms, sound_spans, write_tone_wav};
use tether_testkit::xvfb::Xvfb;

const PATIENCE: Duration = Duration::from_secs(60);
/// A tone is "there" from this 10 ms RMS up (the tones are played at RMS 0.35).
const SOUND: f32 = 0.05;
/// Silence stays below this RMS (-50 dBFS).
const SILENCE: f32 = 0.003;
/// Edges of each tone left out of the checks: Opus smears a hard start and stop a little.
const EDGE: usize = 48_000 / 20;

struct Session {
    agent: ChildProcess,
    viewer: ChildProcess,
}

fn start_session(display: &str, pulse: &PulseServer, dump: &Path) -> Session {
    let mut agent_cmd = agent_command(display);
    agent_cmd.args(["--max-fps", "10"]);
    pulse.configure(&mut agent_cmd);
    let agent = LoopbackAgent::start(agent_cmd, PATIENCE).expect("agent starts");
    let mut viewer_cmd = agent.viewer_command();
    viewer_cmd.arg("--audio-dump").arg(dump);
    let mut viewer = ChildProcess::spawn(viewer_cmd).expect("viewer starts");
    viewer.wait_for_line("state: connected", PATIENCE).expect("viewer connects");
    Session { agent: agent.process, viewer }
}

#[test]
#[ignore = "needs Xvfb and PulseAudio"]
fn tones_played_on_the_computer_arrive_in_the_viewer() {
    let xvfb = Xvfb::start(640, 480).expect("Xvfb starts");
    let pulse = PulseServer::start().expect("pulseaudio starts");
    let dir = pulse.dir().to_owned();
    let (low, high, quiet) = (dir.join("440.wav"), dir.join("880.wav"), dir.join("quiet.wav"));
    write_tone_wav(&low, 440.0, 1000, 0.5).unwrap();
    write_tone_wav(&high, 880.0, 1000, 0.5).unwrap();
    write_tone_wav(&quiet, 440.0, 1000, 0.0).unwrap();
    let dump = dir.join("dump.wav");
    let mut session = start_session(xvfb.display(), &pulse, &dump);
    // The monitor takes from milliseconds to seconds to deliver its first samples.
    session.agent.wait_for_line("audio: live", PATIENCE).expect("the agent captures audio");

    pulse.play(&low).expect("440 Hz played");
    pulse.play(&quiet).expect("silence played");
    pulse.play(&high).expect("880 Hz played");
    session.viewer.wait_for_line("audio: onset", PATIENCE).expect("first tone arrives");
    session.viewer.wait_for_line("audio: onset", PATIENCE).expect("second tone arrives");
    // Its tail, then silence, reach the viewer long before this second of silence is over.
    pulse.play(&quiet).expect("silence played");
    session.viewer.interrupt(PATIENCE).expect("the viewer ends and finalises the dump");

    let (rate, samples) = read_wav_mono(&dump).expect("the dump is a WAV file");
    assert_eq!(rate, 48_000);
    let spans = sound_spans(&samples, rate, SOUND);
    let secs = |(a, b): (usize, usize)| (b - a) as f32 / rate as f32;
    assert_eq!(spans.len(), 2, "two tones expected, found {spans:?} (samples at 48 kHz)");
    for (span, expected) in spans.iter().zip([440.0, 880.0]) {
        assert!((0.9..1.1).contains(&secs(*span)), "tone {expected} lasted {} s", secs(*span));
        let tone = &samples[span.0 + EDGE..span.1 - EDGE];
        let freq = dominant_frequency(tone, rate, 100.0, 2000.0);
        eprintln!("tone at {:.2} s: {freq:.2} Hz, RMS {:.3}", span.0 as f32 / 48e3, rms(tone));
        assert!((freq - expected).abs() < 3.0, "expected {expected} Hz, got {freq} Hz");
    }
    let between = &samples[spans[0].1 + EDGE..spans[1].0 - EDGE];
    assert!(secs((spans[0].1, spans[1].0)) > 0.8, "the pause between the tones is kept");
    assert!(rms(between) < SILENCE, "silence between the tones: RMS {}", rms(between));
}

#[test]
#[ignore = "needs Xvfb"]
fn no_sound_server_is_a_warning_and_the_video_goes_on() {
    let xvfb = Xvfb::start(640, 480).expect("Xvfb starts");
    let mut agent_cmd = agent_command(xvfb.display());
    // Nothing listens there.
    agent_cmd.env("PULSE_SERVER", "unix:/nonexistent/tether/native").args(["--max-fps", "10"]);
    let started = LoopbackAgent::start(agent_cmd, PATIENCE).expect("agent starts");
    let mut viewer = ChildProcess::spawn(started.viewer_command()).expect("viewer starts");
    let mut agent = started.process;
    viewer.wait_for_line("state: connected", PATIENCE).expect("viewer connects");
    let off = agent.wait_for_line("audio: off", PATIENCE).expect("the agent says why");
    eprintln!("audio: off{off}");
    loop {
        let line = viewer.wait_for_line("stats: ", PATIENCE).expect("stats lines go on");
        let stats: ViewerStats = line.parse().unwrap_or_else(|err| panic!("{err}: {line}"));
        if stats.frames > 0 {
            break;
        }
    }
    assert!(agent.try_wait().unwrap().is_none(), "the agent is still running");
}

#[test]
#[ignore = "needs Xvfb and PulseAudio"]
fn play_audio_plays_what_arrives_on_the_viewers_output() {
    let xvfb = Xvfb::start(640, 480).expect("Xvfb starts");
    let computer = PulseServer::start().expect("the computer's pulseaudio starts");
    let support = PulseServer::start().expect("the viewer's pulseaudio starts");
    let tone = computer.dir().join("660.wav");
    write_tone_wav(&tone, 660.0, 1000, 0.5).unwrap();
    let recording = support.dir().join("speaker.raw");

    let mut agent_cmd = agent_command(xvfb.display());
    agent_cmd.args(["--max-fps", "10"]);
    computer.configure(&mut agent_cmd);
    let started = LoopbackAgent::start(agent_cmd, PATIENCE).expect("agent starts");
    let mut viewer_cmd = started.viewer_command();
    viewer_cmd.arg("--play-audio");
    support.configure(&mut viewer_cmd);
    let mut viewer = ChildProcess::spawn(viewer_cmd).expect("viewer starts");
    let mut agent = started.process;
    viewer.wait_for_line("state: connected", PATIENCE).expect("viewer connects");
    agent.wait_for_line("audio: live", PATIENCE).expect("the agent captures audio");
    let mut recorder = support.spawn_record(&recording).expect("parec starts");

    computer.play(&tone).expect("660 Hz played");
    viewer.wait_for_line("audio: onset", PATIENCE).expect("the tone arrives");
    // The tone's second plays out on the viewer's output while this one plays here.
    computer.play(&tone).expect("660 Hz played again");
    let _ = recorder.kill();
    let _ = recorder.wait();

    let samples = tether_testkit::tone::read_raw_mono(&recording).expect("recording");
    let spans = sound_spans(&samples, 48_000, SOUND);
    let longest = spans.iter().max_by_key(|(a, b)| b - a).copied();
    let (a, b) = longest.unwrap_or_else(|| panic!("nothing played on the viewer's output"));
    assert!(b - a > 48_000 / 2, "at least half a second of the tone was played: {spans:?}");
    let freq = dominant_frequency(&samples[a + EDGE..b - EDGE], 48_000, 100.0, 2000.0);
    assert!((freq - 660.0).abs() < 3.0, "played {freq} Hz");
}
