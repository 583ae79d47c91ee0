//! A NAT lab in network namespaces: an "internet" segment with the signaling and STUN/TURN
//! server, and two sites (the agent's and the viewer's), each a host behind its own router
//! whose iptables rules model one kind of NAT. Every address lives inside the lab's own
//! namespaces, which are removed on drop (also when a test panics).
//!
//! ```text
//!  ns A (agent)              ns RA (router)                    ns INET (server)          ns RB            ns B (viewer)
//!  eth0 192.168.1.2 ── lan 192.168.1.1 | wan 203.0.113.1 ── br0 203.0.113.254 ── wan 203.0.113.2 | lan 192.168.2.1 ── eth0 192.168.2.2
//! ```
//!
//! docs/netlab.md explains the rules for each [`Nat`].

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Result, bail};

use crate::process::run;

/// The server's address on the lab's internet segment.
pub const SERVER_IP: &str = "203.0.113.254";

/// How a router maps and filters (RFC 4787 terms in docs/netlab.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Endpoint-independent mapping and filtering: anyone may send to the mapped port.
    FullCone,
    /// Endpoint-independent mapping; inbound only from addresses the host has sent to.
    AddressRestricted,
    /// Endpoint-independent mapping; inbound only from address:port pairs the host has sent to.
    PortRestricted,
    /// A new mapping (random port) for every destination; inbound only as replies.
    Symmetric,
}

impl Nat {
    /// Short name for namespace names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Nat::FullCone => "full-cone",
            Nat::AddressRestricted => "addr-restricted",
            Nat::PortRestricted => "port-restricted",
            Nat::Symmetric => "symmetric",
        }
    }

    /// The iptables commands (arguments after `iptables`) that make a router with WAN `wan`,
    /// LAN `lan` and the one inside host `host` behave as this NAT.
    pub fn rules(self, host: &str) -> Vec<Vec<String>> {
        let mut rules: Vec<&str> = vec![
            "-P FORWARD DROP",
            "-A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-A INPUT -i wan -j DROP",
        ];
        let masquerade = match self {
            Nat::Symmetric => "-t nat -A POSTROUTING -o wan -j MASQUERADE --random-fully",
            _ => "-t nat -A POSTROUTING -o wan -j MASQUERADE",
        };
        rules.push(masquerade);
        let dnat = format!("-t nat -A PREROUTING -i wan -p udp -j DNAT --to-destination {host}");
        let open = format!("-A FORWARD -i wan -o lan -p udp -d {host} -j ACCEPT");
        let by_addr = format!(
            "-A FORWARD -i wan -o lan -p udp -d {host} -m recent --name sent --rcheck --rsource --seconds 300 -j ACCEPT"
        );
        let mut owned: Vec<String> = rules.iter().map(|s| (*s).to_owned()).collect();
        match self {
            Nat::FullCone => owned.extend([dnat, open]),
            Nat::AddressRestricted => owned.extend([
                dnat,
                "-A FORWARD -i lan -o wan -p udp -m recent --name sent --rdest --set".to_owned(),
                by_addr,
            ]),
            Nat::PortRestricted | Nat::Symmetric => {}
        }
        owned.extend([
            "-A FORWARD -i lan -o wan -j ACCEPT".to_owned(),
            "-A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
                .to_owned(),
        ]);
        owned.into_iter().map(|r| r.split_whitespace().map(str::to_owned).collect()).collect()
    }
}

/// One host of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// The agent's host, behind router A.
    Agent,
    /// The viewer's host, behind router B.
    Viewer,
    /// The internet segment, where the servers run (no NAT).
    Internet,
}

/// A running lab; its namespaces are deleted on drop.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
}

static LABS: AtomicU32 = AtomicU32::new(0);

impl Lab {
    /// Builds the namespaces, links, addresses, routes and NAT rules.
    pub fn new(agent_nat: Nat, viewer_nat: Nat) -> Result<Lab> {
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("tl{}-{n}", std::process::id());
        let mut lab = Lab { prefix, namespaces: Vec::new() };
        for name in ["inet", "ra", "a", "rb", "b"] {
            let ns = lab.ns_name(name);
            run(&["ip", "netns", "add", &ns])?;
            lab.namespaces.push(ns.clone());
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        }
        let inet = lab.ns_name("inet");
        run(&["ip", "-n", &inet, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &inet, "addr", "add", &format!("{SERVER_IP}/24"), "dev", "br0"])?;
        run(&["ip", "-n", &inet, "link", "set", "br0", "up"])?;
        for (router, host, site, nat) in [("ra", "a", 1, agent_nat), ("rb", "b", 2, viewer_nat)] {
            lab.site(router, host, site, nat)?;
        }
        Ok(lab)
    }

    fn ns_name(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// A router with its WAN on the internet bridge and one host on its LAN.
    fn site(&self, router: &str, host: &str, site: u8, nat: Nat) -> Result<()> {
        let (inet, r, h) = (self.ns_name("inet"), self.ns_name(router), self.ns_name(host));
        let port = format!("p{router}");
        // Both ends are created inside their namespaces: nothing appears in the root one.
        run(&[
            "ip", "link", "add", "wan", "netns", &r, "type", "veth", "peer", "name", &port,
            "netns", &inet,
        ])?;
        run(&["ip", "-n", &inet, "link", "set", &port, "master", "br0"])?;
        run(&["ip", "-n", &inet, "link", "set", &port, "up"])?;
        run(&[
            "ip", "link", "add", "lan", "netns", &r, "type", "veth", "peer", "name", "eth0",
            "netns", &h,
        ])?;
        let wan_ip = format!("203.0.113.{site}");
        let lan_ip = format!("192.168.{site}.1");
        let host_ip = format!("192.168.{site}.2");
        run(&["ip", "-n", &r, "addr", "add", &format!("{wan_ip}/24"), "dev", "wan"])?;
        run(&["ip", "-n", &r, "addr", "add", &format!("{lan_ip}/24"), "dev", "lan"])?;
        run(&["ip", "-n", &h, "addr", "add", &format!("{host_ip}/24"), "dev", "eth0"])?;
        for (ns, dev) in [(&r, "wan"), (&r, "lan"), (&h, "eth0")] {
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        run(&["ip", "-n", &h, "route", "add", "default", "via", &lan_ip])?;
        run(&["ip", "netns", "exec", &r, "sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        for rule in nat.rules(&host_ip) {
            let mut args = vec!["ip", "netns", "exec", &r, "iptables", "-w"];
            args.extend(rule.iter().map(String::as_str));
            run(&args)?;
        }
        Ok(())
    }

    /// The namespace a site's programs run in.
    pub fn namespace(&self, site: Site) -> String {
        self.ns_name(match site {
            Site::Agent => "a",
            Site::Viewer => "b",
            Site::Internet => "inet",
        })
    }

    /// `ip netns exec <site's namespace> program`: add arguments and spawn it.
    pub fn command(&self, site: Site, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec"]).arg(self.namespace(site)).arg(program);
        command
    }

    /// Drops every UDP packet to `port` on the internet segment's server (e.g. TURN), as a
    /// firewall that blocks it would.
    pub fn block_udp_port(&self, port: u16) -> Result<()> {
        let inet = self.ns_name("inet");
        let port = port.to_string();
        run(&[
            "ip", "netns", "exec", &inet, "iptables", "-w", "-A", "INPUT", "-p", "udp", "--dport",
            &port, "-j", "DROP",
        ])
    }
}

impl Lab {
    /// Cuts (or restores) every UDP packet a site's router forwards, as a network outage or
    /// a Wi-Fi handover does; TCP (signaling) still passes.
    pub fn cut_udp(&self, site: Site, cut: bool) -> Result<()> {
        let router = self.ns_name(match site {
            Site::Agent => "ra",
            Site::Viewer => "rb",
            Site::Internet => bail!("the internet segment has no router"),
        });
        let op = if cut { "-I" } else { "-D" };
        run(&[
            "ip", "netns", "exec", &router, "iptables", "-w", op, "FORWARD", "-p", "udp", "-j",
            "DROP",
        ])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veths in it, and their peers with them.
        for ns in self.namespaces.iter().rev() {
            if let Err(err) = run(&["ip", "netns", "del", ns]) {
                eprintln!("netlab: {err:#}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_nat_has_its_distinguishing_rules() {
        let text = |nat: Nat| -> String {
            nat.rules("192.168.1.2").iter().map(|r| r.join(" ")).collect::<Vec<_>>().join("\n")
        };
        assert!(text(Nat::Symmetric).contains("--random-fully"));
        assert!(!text(Nat::PortRestricted).contains("--random-fully"));
        assert!(!text(Nat::PortRestricted).contains("DNAT"));
        assert!(text(Nat::FullCone).contains("DNAT --to-destination 192.168.1.2"));
        assert!(!text(Nat::FullCone).contains("recent"));
        assert!(text(Nat::AddressRestricted).contains("--rdest --set"));
        assert!(text(Nat::AddressRestricted).contains("--rsource"));
        for nat in [Nat::FullCone, Nat::AddressRestricted, Nat::PortRestricted, Nat::Symmetric] {
            assert!(text(nat).contains("-P FORWARD DROP"), "{nat:?}");
        }
    }
}
