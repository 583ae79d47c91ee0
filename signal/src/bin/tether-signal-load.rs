//! `tether-signal-load`: pairs N agent/viewer couples on a signaling server and keeps them
//! relaying messages, then prints how many sessions held, the relay round trip and the server's
//! memory per session.
//!
//! With no `--server` it starts `tether-signal` (the binary next to this one) on 127.0.0.1 and
//! measures that process. All traffic stays on loopback.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use tether_proto::signal::{ClientMsg, Join, Role, Sdp, ServerMsg};
use tether_signal_client::client::{ClientOptions, SignalClient};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Semaphore;

/// Load-tests a Tether signaling server on loopback.
#[derive(Parser)]
struct Cli {
    /// Agent/viewer couples to pair.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// Round trips each couple makes per second once paired.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// How long to keep relaying after every couple is paired.
    #[arg(long, default_value = "20s", value_parser = tether_signal_client::process::parse_duration)]
    duration: Duration,
    /// An already running server (loopback only); by default one is started.
    #[arg(long)]
    server: Option<String>,
    /// Connections opened at once while ramping up.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    raise_fd_limit(cli.sessions as u64 * 4 + 1000);
    let (url, child) = match &cli.server {
        Some(url) => (url.clone(), None),
        None => {
            let (url, child) = start_server(cli.sessions).await?;
            (url, Some(child))
        }
    };
    let pid = child.as_ref().and_then(|c| c.id());
    let rss_before = pid.and_then(rss_kib);

    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(cli.concurrency));
    let stats = Arc::new(Stats::default());
    // Every couple waits at the barrier until all are paired, so relaying starts together.
    let all_paired = Arc::new(tokio::sync::Barrier::new(cli.sessions + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..cli.sessions {
        let (url, gate, stats, all_paired) =
            (url.clone(), gate.clone(), stats.clone(), all_paired.clone());
        let rate = cli.rate;
        tasks.spawn(async move {
            let couple = {
                let _permit = gate.acquire().await;
                pair(&url).await
            };
            if let Err(err) = &couple {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                eprintln!("pairing failed: {err:#}");
            }
            all_paired.wait().await;
            if let Ok((agent, viewer)) = couple {
                relay(agent, viewer, rate, &stats).await;
            }
        });
    }
    all_paired.wait().await;
    let ramp = started.elapsed();
    let rss_paired = pid.and_then(rss_kib);
    let held = cli.sessions - stats.failed.load(Ordering::Relaxed) as usize;
    println!("paired {held}/{} sessions in {:.1} s", cli.sessions, ramp.as_secs_f64());
    let cpu_before = pid.and_then(cpu_ticks);
    tokio::time::sleep(cli.duration).await;
    stats.stop.store(1, Ordering::Relaxed);
    let rss_end = pid.and_then(rss_kib);
    let cpu = pid.and_then(cpu_ticks).zip(cpu_before).map(|(after, before)| after - before);
    while tasks.join_next().await.is_some() {}

    let mut rtts = stats.rtts.lock().await.clone();
    rtts.sort_unstable();
    let pct = |p: f64| {
        rtts.get(((rtts.len() as f64 * p) as usize).min(rtts.len().saturating_sub(1))).copied()
    };
    println!(
        "round trips: {} in {:.0} s ({:.0}/s relayed messages)",
        rtts.len(),
        cli.duration.as_secs_f64(),
        2.0 * rtts.len() as f64 / cli.duration.as_secs_f64()
    );
    if let (Some(p50), Some(p99), Some(max)) = (pct(0.5), pct(0.99), rtts.last().copied()) {
        println!(
            "relay round trip (viewer -> agent -> viewer): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            p50 as f64 / 1000.0,
            p99 as f64 / 1000.0,
            max as f64 / 1000.0
        );
    }
    println!(
        "errors: {} failed pairings, {} lost round trips",
        stats.failed.load(Ordering::Relaxed),
        stats.lost.load(Ordering::Relaxed)
    );
    if let (Some(before), Some(at_pairing), Some(end)) = (rss_before, rss_paired, rss_end) {
        let per = (at_pairing.saturating_sub(before)) as f64 * 1024.0 / held.max(1) as f64;
        println!(
            "server RSS: {:.1} MiB idle, {:.1} MiB with {held} sessions, {:.1} MiB at the end; {:.1} KiB per session",
            before as f64 / 1024.0,
            at_pairing as f64 / 1024.0,
            end as f64 / 1024.0,
            per / 1024.0
        );
    }
    if let Some(ticks) = cpu {
        let busy = ticks as f64 / 100.0 / cli.duration.as_secs_f64();
        println!("server CPU while relaying: {:.0} % of one core", busy * 100.0);
    }
    if let Some(mut child) = child {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    if held < cli.sessions {
        bail!("{} of {} sessions failed to pair", cli.sessions - held, cli.sessions);
    }
    Ok(())
}

#[derive(Default)]
struct Stats {
    failed: AtomicU64,
    lost: AtomicU64,
    stop: AtomicU64,
    rtts: tokio::sync::Mutex<Vec<u32>>,
}

async fn pair(url: &str) -> anyhow::Result<(SignalClient, SignalClient)> {
    let options = ClientOptions::default();
    let mut agent = SignalClient::connect(url, &options).await?;
    agent.hello(Role::Agent, "load").await?;
    let code = match agent.recv().await? {
        ServerMsg::Code(issued) => issued.code,
        other => bail!("expected a code, got {other:?}"),
    };
    let mut viewer = SignalClient::connect(url, &options).await?;
    viewer.hello(Role::Viewer, "load").await?;
    viewer.send(&ClientMsg::Join(Join::new(code))).await?;
    match viewer.recv().await? {
        ServerMsg::Joined(_) => {}
        other => bail!("expected joined, got {other:?}"),
    }
    match agent.recv().await? {
        ServerMsg::PeerJoined(_) => {}
        other => bail!("expected peer_joined, got {other:?}"),
    }
    Ok((agent, viewer))
}

/// The viewer sends an offer carrying a sequence number; the agent answers with the same text.
async fn relay(mut agent: SignalClient, mut viewer: SignalClient, rate: f64, stats: &Stats) {
    let echo = tokio::spawn(async move {
        while let Ok(ServerMsg::Offer(sdp)) = agent.recv().await {
            if agent.send(&ClientMsg::Answer(sdp)).await.is_err() {
                break;
            }
        }
    });
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    // Spread the couples over the period so the load is even.
    tokio::time::sleep(period.mul_f64(rand_fraction())).await;
    let mut tick = tokio::time::interval(period);
    let mut seq = 0u64;
    let mut local = Vec::new();
    while stats.stop.load(Ordering::Relaxed) == 0 {
        tick.tick().await;
        seq += 1;
        let sent = Instant::now();
        let offer = ClientMsg::Offer(Sdp { sdp: format!("v=0 seq={seq}") });
        if viewer.send(&offer).await.is_err() {
            stats.lost.fetch_add(1, Ordering::Relaxed);
            break;
        }
        match tokio::time::timeout(Duration::from_secs(5), viewer.recv()).await {
            Ok(Ok(ServerMsg::Answer(sdp))) if sdp.sdp.ends_with(&format!("seq={seq}")) => {
                local.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            _ => {
                stats.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    stats.rtts.lock().await.extend(local);
    drop(viewer);
    let _ = echo.await;
}

fn rand_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() % 10_000) as f64 / 10_000.0
}

async fn start_server(sessions: usize) -> anyhow::Result<(String, tokio::process::Child)> {
    let exe = sibling_binary("tether-signal")?;
    let mut child = tokio::process::Command::new(&exe)
        .args(["--bind", "127.0.0.1:0", "--max-sessions", &(sessions + 10).to_string()])
        // Every couple comes from 127.0.0.1.
        .args(["--max-connections-per-address", &(sessions * 2 + 10).to_string()])
        .args(["--max-agents-per-address", &(sessions + 10).to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .context("tether-signal did not say where it listens")??
        .context("tether-signal exited")?;
    let url = line.strip_prefix("listening on ").context("unexpected first line")?.to_owned();
    println!("server: {url} (pid {})", child.id().unwrap_or(0));
    Ok((url, child))
}

fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found; build it with `cargo build --release -p tether-signal`",
            path.display()
        );
    }
    Ok(path)
}

fn raise_fd_limit(want: u64) {
    use rlimit::Resource;
    if rlimit::setrlimit(Resource::NOFILE, want, want).is_err() {
        let _ = rlimit::increase_nofile_limit(want);
    }
    if let Ok((soft, _)) = rlimit::getrlimit(Resource::NOFILE) {
        if soft < want {
            eprintln!("warning: only {soft} file descriptors; {want} wanted");
        }
    }
}

/// Resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}
