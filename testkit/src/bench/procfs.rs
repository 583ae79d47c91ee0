//! CPU time and peak memory of processes, from `/proc`, sampled on a thread.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// utime + stime of `pid` in clock ticks, or `None` once it is gone.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    parse_stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime from the text of `/proc/<pid>/stat`. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses itself, so fields are counted after the last
/// `)`: there the state is field 3, utime field 14 and stime field 15.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The first child of `parent` whose command name is `comm` (e.g. our Xvfb), from `/proc`.
pub fn child_named(parent: u32, comm: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let (name, rest) = stat.split_once(" (")?.1.rsplit_once(')')?;
        let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent && name == comm).then_some(pid)
    })
}

/// (ppid, utime + stime) of every process, from one pass over `/proc`.
fn all_processes() -> HashMap<u32, (u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return HashMap::new() };
    dir.flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, (ppid, parse_stat_ticks(&stat)?)))
        })
        .collect()
}

/// Every descendant of `root` (not `root` itself) in `procs`.
fn descendants(procs: &HashMap<u32, (u32, u64)>, root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &(ppid, _)) in procs {
        children.entry(ppid).or_default().push(pid);
    }
    let (mut found, mut stack) = (Vec::new(), vec![root]);
    while let Some(pid) = stack.pop() {
        for &child in children.get(&pid).map_or(&[][..], Vec::as_slice) {
            found.push(child);
            stack.push(child);
        }
    }
    found
}

/// What a [`Sampler`] watches: one process, or everything below one (e.g. the browser that
/// node starts, with its renderer, GPU and utility processes).
#[derive(Clone, Copy, Debug)]
pub enum Watch {
    Process(u32),
    /// The descendants of this process, itself left out. A descendant's last seen ticks stay
    /// counted after it exits, so the sum only grows.
    Descendants(u32),
}

/// Peak resident set size (`VmHWM`) of `pid` in KiB; `None` once it is gone (a zombie has none).
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    parse_vm_hwm(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// (busy, total) clock ticks of the whole machine, all cores, from `/proc/stat`.
pub fn system_ticks() -> Option<(u64, u64)> {
    parse_system_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The `cpu` line: user nice system idle iowait irq softirq steal (guest time is already in
/// user and nice).
pub fn parse_system_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> =
        line.split_whitespace().skip(1).take(8).map(|v| v.parse().ok()).collect::<Option<_>>()?;
    let total: u64 = values.iter().sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total.checked_sub(idle)?, total))
}

/// The machine's cores (the `cpuN` lines of `/proc/stat`), whatever this process's affinity
/// (`--pin` narrows that to one).
pub fn machine_cores() -> usize {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let n = stat
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu").is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    n.max(1)
}

/// `getconf CLK_TCK`, or 100 (what Linux uses everywhere) if that cannot be run.
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(100)
}

/// CPU time of each watched process at one moment.
pub struct Sample {
    pub at: Instant,
    pub ticks: Vec<Option<u64>>,
    /// The whole machine: (busy, total) ticks over all cores.
    pub system: Option<(u64, u64)>,
}

/// What a [`Sampler`] saw.
#[derive(Default)]
pub struct Samples {
    pub samples: Vec<Sample>,
    /// The last `VmHWM` read of each process while it was alive (it only grows).
    pub peak_kib: Vec<Option<u64>>,
}

impl Samples {
    /// Percent of one core that process `index` used between the first sample at or after
    /// `from` and the last one at or before `to`; `None` if they are under half a second apart.
    pub fn cpu_percent(&self, index: usize, from: Instant, to: Instant, hz: u64) -> Option<f64> {
        let ticks = |s: &Sample| s.ticks.get(index).copied().flatten();
        let first = self.samples.iter().find(|s| s.at >= from && ticks(s).is_some())?;
        let last = self.samples.iter().rev().find(|s| s.at <= to && ticks(s).is_some())?;
        let secs = last.at.checked_duration_since(first.at)?.as_secs_f64();
        if secs < 0.5 {
            return None;
        }
        let used = ticks(last)?.checked_sub(ticks(first)?)? as f64 / hz.max(1) as f64;
        Some(used / secs * 100.0)
    }

    /// Percent of one core the whole machine was busy (so up to 100 x cores) over the same
    /// samples as [`Samples::cpu_percent`] would pick.
    pub fn system_percent(&self, from: Instant, to: Instant, cores: usize) -> Option<f64> {
        let first = self.samples.iter().find(|s| s.at >= from && s.system.is_some())?;
        let last = self.samples.iter().rev().find(|s| s.at <= to && s.system.is_some())?;
        let ((b0, t0), (b1, t1)) = (first.system?, last.system?);
        let total = t1.checked_sub(t0).filter(|&t| t > 0)?;
        Some(b1.checked_sub(b0)? as f64 / total as f64 * 100.0 * cores.max(1) as f64)
    }
}

/// Reads `/proc` for a few processes every `every` until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Samples>>,
}

impl Sampler {
    pub fn start(pids: Vec<u32>, every: Duration) -> std::io::Result<Self> {
        Self::watch(pids.into_iter().map(Watch::Process).collect(), every)
    }

    /// As [`Sampler::start`], for processes and process trees; index `i` of the samples is
    /// `watches[i]` (a tree has no peak RSS).
    pub fn watch(watches: Vec<Watch>, every: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("bench-sampler".into()).spawn({
            let stop = stop.clone();
            move || {
                let mut out = Samples { samples: Vec::new(), peak_kib: vec![None; watches.len()] };
                let trees = watches.iter().any(|w| matches!(w, Watch::Descendants(_)));
                let mut last: Vec<HashMap<u32, u64>> = vec![HashMap::new(); watches.len()];
                while !stop.load(Ordering::Relaxed) {
                    let procs = if trees { all_processes() } else { HashMap::new() };
                    let ticks = watches
                        .iter()
                        .zip(&mut last)
                        .map(|(watch, last)| match *watch {
                            Watch::Process(pid) => cpu_ticks(pid),
                            Watch::Descendants(root) => {
                                for pid in descendants(&procs, root) {
                                    last.insert(pid, procs[&pid].1);
                                }
                                Some(last.values().sum())
                            }
                        })
                        .collect();
                    let system = system_ticks();
                    out.samples.push(Sample { at: Instant::now(), ticks, system });
                    for (peak, watch) in out.peak_kib.iter_mut().zip(&watches) {
                        if let Watch::Process(pid) = *watch {
                            if let Some(kib) = vm_hwm_kib(pid) {
                                *peak = Some(kib.max(peak.unwrap_or(0)));
                            }
                        }
                    }
                    std::thread::sleep(every);
                }
                out
            }
        })?;
        Ok(Sampler { stop, thread: Some(thread) })
    }

    pub fn stop(mut self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "1234 (tether (a) b) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 9 0";
        assert_eq!(parse_stat_ticks(stat), Some(287));
        assert_eq!(parse_stat_ticks("1234 (x) S 1"), None);
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn trees_add_up_their_descendants() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & sleep 5; wait"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let procs = all_processes();
        let below = descendants(&procs, child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(below.len(), 2, "{below:?}");
        assert!(!below.contains(&child.id()));
        let sampler =
            Sampler::watch(vec![Watch::Descendants(std::process::id())], every()).unwrap();
        std::thread::sleep(Duration::from_millis(120));
        let samples = sampler.stop();
        assert!(samples.samples.iter().all(|s| s.ticks[0].is_some()));
    }

    fn every() -> Duration {
        Duration::from_millis(20)
    }

    #[test]
    fn vm_hwm_is_read_in_kib() {
        let status = "Name:\tx\nVmPeak:\t  99 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(51200));
        assert_eq!(parse_vm_hwm("Name:\tzombie\nState:\tZ\n"), None);
    }

    #[test]
    fn children_are_found_by_name() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let found = child_named(std::process::id(), "sleep");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found, Some(child.id()));
        assert_eq!(child_named(std::process::id(), "no-such-command"), None);
    }

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_some());
        assert!(vm_hwm_kib(me).is_some_and(|k| k > 0));
    }

    #[test]
    fn cpu_percent_uses_the_samples_inside_the_window() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let samples = Samples {
            samples: (0..=10)
                .map(|i| Sample {
                    at: at(i * 500),
                    ticks: vec![Some(i * 25), None],
                    system: Some((i * 60, i * 100)),
                })
                .collect(),
            peak_kib: vec![None, None],
        };
        // 25 ticks per half second at 100 Hz: half a core.
        let pct = samples.cpu_percent(0, at(900), at(4100), 100).unwrap();
        assert!((pct - 50.0).abs() < 1e-9, "{pct}");
        assert_eq!(samples.cpu_percent(1, at(0), at(5000), 100), None);
        assert_eq!(samples.cpu_percent(0, at(1000), at(1200), 100), None);
        let busy = samples.system_percent(at(900), at(4100), 2).unwrap();
        assert!((busy - 120.0).abs() < 1e-9, "{busy}");
    }

    #[test]
    fn system_ticks_leave_out_idle_and_iowait() {
        let stat = "cpu  10 1 5 80 4 0 0 0 7 0\ncpu0 5 0 2 40 2 0 0 0 0 0\nintr 1\n";
        assert_eq!(parse_system_ticks(stat), Some((16, 100)));
        assert_eq!(parse_system_ticks("cpu  1 2\n"), None);
        assert!(system_ticks().is_some());
    }
}
