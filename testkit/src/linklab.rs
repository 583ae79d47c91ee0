//! A link-impairment lab in network namespaces: the agent's host and the viewer's host joined
//! by a router whose link towards the viewer has a capacity (`tc tbf`), random loss (iptables
//! `statistic`) and a round-trip time (`tether-linkdelay` on NFQUEUE, as this kernel has no
//! `netem`). Everything lives in namespaces the lab creates and deletes on drop.
//!
//! ```text
//!  ns A (agent)          ns R (router: tbf on veth-b, loss and delay in FORWARD)          ns B (viewer)
//!  eth0 10.77.1.2 ── veth-a 10.77.1.1 | veth-b 10.77.2.1 ── eth0 10.77.2.2
//! ```
//!
//! docs/linklab.md lists the profiles and what each measures.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{run, workspace_bin};

/// The agent's address in the lab.
pub const AGENT_IP: &str = "10.77.1.2";
/// The viewer's address in the lab.
pub const VIEWER_IP: &str = "10.77.2.2";

/// One end of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The agent's host.
    Agent,
    /// The viewer's host.
    Viewer,
}

/// What the link does, in both directions unless said otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Impairment {
    /// Capacity towards the viewer (the media direction), in kbit/s; `None`: unlimited.
    pub rate_kbit: Option<u32>,
    /// Fraction of packets dropped, each direction.
    pub loss: f64,
    /// Round-trip time added (half each way).
    pub rtt: Duration,
}

impl Impairment {
    /// An unimpaired link.
    pub const CLEAR: Impairment = Impairment { rate_kbit: None, loss: 0.0, rtt: Duration::ZERO };
}

/// A running lab.
pub struct LinkLab {
    prefix: String,
    namespaces: Vec<String>,
    delayer: Option<Child>,
    current: Impairment,
}

static LABS: AtomicU32 = AtomicU32::new(0);

impl LinkLab {
    /// Builds the three namespaces with an unimpaired link.
    pub fn new() -> Result<LinkLab> {
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("tk{}-{n}", std::process::id());
        let mut lab =
            LinkLab { prefix, namespaces: Vec::new(), delayer: None, current: Impairment::CLEAR };
        for name in ["a", "r", "b"] {
            let ns = lab.ns(name);
            run(&["ip", "netns", "add", &ns])?;
            lab.namespaces.push(ns.clone());
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        }
        let r = lab.ns("r");
        for (host, dev, subnet) in [("a", "veth-a", 1), ("b", "veth-b", 2)] {
            let h = lab.ns(host);
            run(&[
                "ip", "link", "add", dev, "netns", &r, "type", "veth", "peer", "name", "eth0",
                "netns", &h,
            ])?;
            let (router_ip, host_ip) = (format!("10.77.{subnet}.1"), format!("10.77.{subnet}.2"));
            run(&["ip", "-n", &r, "addr", "add", &format!("{router_ip}/24"), "dev", dev])?;
            run(&["ip", "-n", &h, "addr", "add", &format!("{host_ip}/24"), "dev", "eth0"])?;
            run(&["ip", "-n", &r, "link", "set", dev, "up"])?;
            run(&["ip", "-n", &h, "link", "set", "eth0", "up"])?;
            run(&["ip", "-n", &h, "route", "add", "default", "via", &router_ip])?;
        }
        run(&["ip", "netns", "exec", &r, "sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        Ok(lab)
    }

    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// `ip netns exec <end's namespace> program`.
    pub fn command(&self, end: End, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec"]).arg(self.namespace(end)).arg(program);
        command
    }

    /// The namespace an end's programs run in.
    pub fn namespace(&self, end: End) -> String {
        self.ns(if end == End::Agent { "a" } else { "b" })
    }

    /// What the link does now.
    pub fn impairment(&self) -> &Impairment {
        &self.current
    }

    /// Changes what the link does; the previous settings are removed first.
    pub fn set(&mut self, impairment: &Impairment) -> Result<()> {
        let r = self.ns("r");
        self.set_rate(&r, impairment.rate_kbit)?;
        // Loss and delay live in FORWARD: flush and rebuild it.
        run(&["ip", "netns", "exec", &r, "iptables", "-w", "-F", "FORWARD"])?;
        if impairment.loss > 0.0 {
            let p = format!("{:.4}", impairment.loss.min(1.0));
            run(&[
                "ip",
                "netns",
                "exec",
                &r,
                "iptables",
                "-w",
                "-A",
                "FORWARD",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &p,
                "-j",
                "DROP",
            ])?;
        }
        self.set_delay(&r, impairment.rtt / 2)?;
        self.current = impairment.clone();
        Ok(())
    }

    fn set_rate(&self, r: &str, rate_kbit: Option<u32>) -> Result<()> {
        // `del` fails when there is no qdisc yet: that is fine.
        let _ = run(&["ip", "netns", "exec", r, "tc", "qdisc", "del", "dev", "veth-b", "root"]);
        let Some(kbit) = rate_kbit else { return Ok(()) };
        // A burst of a few packets and a queue of at most 300 ms at the link's rate, like a
        // modest home router's buffer.
        let rate = format!("{kbit}kbit");
        let burst = format!("{}", (kbit as usize * 1000 / 8 / 100).max(4 * 1514));
        let queue = format!("{}", (kbit as usize * 1000 / 8 * 3 / 10).max(16 * 1514));
        run(&[
            "ip", "netns", "exec", r, "tc", "qdisc", "add", "dev", "veth-b", "root", "tbf", "rate",
            &rate, "burst", &burst, "limit", &queue,
        ])
    }

    fn set_delay(&mut self, r: &str, one_way: Duration) -> Result<()> {
        if let Some(mut old) = self.delayer.take() {
            let _ = old.kill();
            let _ = old.wait();
        }
        if one_way.is_zero() {
            return Ok(());
        }
        let mut delayer = Command::new("ip");
        delayer
            .args(["netns", "exec", r])
            .arg(workspace_bin("tether-linkdelay"))
            .args(["--queue", "0", "--delay-ms", &one_way.as_millis().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        self.delayer = Some(delayer.spawn().context("cannot start tether-linkdelay")?);
        // Packets queue to it from the first rule on; --queue-bypass lets them through should
        // it not be running yet.
        run(&[
            "ip",
            "netns",
            "exec",
            r,
            "iptables",
            "-w",
            "-A",
            "FORWARD",
            "-j",
            "NFQUEUE",
            "--queue-num",
            "0",
            "--queue-bypass",
        ])
    }
}

impl Drop for LinkLab {
    fn drop(&mut self) {
        if let Some(mut delayer) = self.delayer.take() {
            let _ = delayer.kill();
            let _ = delayer.wait();
        }
        for ns in self.namespaces.iter().rev() {
            if let Err(err) = run(&["ip", "netns", "del", ns]) {
                eprintln!("linklab: {err:#}");
            }
        }
    }
}
