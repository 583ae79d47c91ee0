//! `tether-linkdelay --queue N --delay-ms D`: holds every packet netfilter queues to NFQUEUE
//! `N` for `D` milliseconds, then lets it through, in order. The link lab's router runs it
//! for round-trip time, because this kernel has no `netem` (see docs/linklab.md).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use nfq::{Queue, Verdict};

/// Most packets held at once; beyond this the oldest are released early rather than the
/// kernel's queue overflowing (which drops).
const MAX_HELD: usize = 50_000;

#[derive(Parser)]
struct Cli {
    /// The NFQUEUE number to serve.
    #[arg(long, default_value_t = 0)]
    queue: u16,
    /// How long each packet is held.
    #[arg(long)]
    delay_ms: u64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let delay = Duration::from_millis(cli.delay_ms);
    let mut queue =
        Queue::open().context("cannot open NFQUEUE (root and CONFIG_NETFILTER_NETLINK_QUEUE)")?;
    queue.bind(cli.queue).with_context(|| format!("cannot bind NFQUEUE {}", cli.queue))?;
    queue.set_queue_max_len(cli.queue, MAX_HELD as u32)?;
    // Only the verdict is needed, not the packet.
    queue.set_copy_range(cli.queue, 0)?;
    queue.set_nonblocking(true);
    let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
    println!("linkdelay: holding packets of queue {} for {} ms", cli.queue, cli.delay_ms);
    loop {
        let mut idle = true;
        while let Ok(mut message) = queue.recv() {
            idle = false;
            message.set_verdict(Verdict::Accept);
            held.push_back((Instant::now() + delay, message));
        }
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) || held.len() > MAX_HELD {
            if let Some((_, message)) = held.pop_front() {
                idle = false;
                queue.verdict(message)?;
            }
        }
        if idle {
            // 0.2 ms: a fraction of any delay the lab uses, and cheap.
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}
