//! Which peers the built-in TURN server relays to and from.
//!
//! Anyone who completes a pairing holds TURN credentials, so without a rule the relay is a
//! door into the server's own network: its loopback services, the LAN behind it, the cloud
//! metadata address. The turn crate 0.17 has no permission hook (`CreatePermission` and
//! `ChannelBind` are granted for any address), so the rule sits on the relay sockets
//! themselves: [`FilteredRelays`] wraps the relay address generator, and every relay socket it
//! hands the turn crate is a [`FilteredConn`] that drops datagrams to a forbidden peer
//! (`send_to` reports them sent, so the allocation lives) and skips datagrams from one
//! (`recv_from` waits for the next).
//!
//! The policy is [`peer_allowed`]: no special-purpose address (loopback, RFC 1918, link-local,
//! CGNAT, `0/8`, multicast, broadcast and the rest of `240/4`, ULA, documentation and
//! benchmarking ranges, in any IPv4-mapped, -compatible, NAT64 or 6to4 form), and never the
//! server's own addresses, except what an explicit allow-list ([`PeerNet`],
//! `--turn-allow-peer`) opens for labs. The server's own address is a peer only at the port of
//! one of its own live relays, so that two peers both relayed by this server reach each other.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use turn::relay::RelayAddressGenerator;
use webrtc_util::Conn;

/// An address block (`10.0.0.0/8`, `2001:db8::/32`, or a bare address for one host), for the
/// TURN server's allow-list. IPv4-mapped IPv6 peers are matched as the IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a [`PeerNet`] did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PeerNetError(String);

impl PeerNet {
    /// The block of `addr` with `prefix` leading bits; refuses a prefix longer than the
    /// address and an address with bits set after the prefix (a typo that would open more
    /// than meant).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, PeerNetError> {
        let bits = bits_of(addr);
        if prefix > bits {
            return Err(PeerNetError(format!("/{prefix} is longer than {addr} ({bits} bits)")));
        }
        let net = PeerNet { addr, prefix };
        let masked = net.masked();
        if masked != addr {
            return Err(PeerNetError(format!(
                "{addr}/{prefix} has host bits set; did you mean {masked}/{prefix}?"
            )));
        }
        Ok(net)
    }

    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        PeerNet { addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Self {
        let [a, b, c, d, e, f, g, h] = segments;
        PeerNet { addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)), prefix }
    }

    fn masked(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(self.prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(self.prefix))),
        }
    }

    /// Whether `ip` (IPv4-mapped and -compatible forms as IPv4) is in this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl FromStr for PeerNet {
    type Err = PeerNetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| PeerNetError(format!("{text:?} is not an address or address/prefix")))?;
        let prefix = match prefix {
            Some(prefix) => prefix.parse().map_err(|_| {
                PeerNetError(format!("{text:?}: {prefix:?} is not a prefix length"))
            })?,
            None => bits_of(addr),
        };
        PeerNet::new(addr, prefix)
    }
}

impl fmt::Display for PeerNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn bits_of(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// IPv4 blocks that are never a peer on the open internet (IANA's special-purpose registry).
const FORBIDDEN_V4: [PeerNet; 14] = [
    PeerNet::v4(0, 0, 0, 0, 8), // "this network", 0.0.0.0 (reaches the host itself)
    PeerNet::v4(10, 0, 0, 0, 8), // RFC 1918
    PeerNet::v4(100, 64, 0, 0, 10), // CGNAT shared space
    PeerNet::v4(127, 0, 0, 0, 8), // loopback
    PeerNet::v4(169, 254, 0, 0, 16), // link-local, 169.254.169.254 cloud metadata
    PeerNet::v4(172, 16, 0, 0, 12), // RFC 1918
    PeerNet::v4(192, 0, 0, 0, 24), // IETF protocol assignments
    PeerNet::v4(192, 0, 2, 0, 24), // TEST-NET-1
    PeerNet::v4(192, 88, 99, 0, 24), // 6to4 relay anycast (deprecated)
    PeerNet::v4(192, 168, 0, 0, 16), // RFC 1918
    PeerNet::v4(198, 18, 0, 0, 15), // benchmarking
    PeerNet::v4(198, 51, 100, 0, 24), // TEST-NET-2
    PeerNet::v4(203, 0, 113, 0, 24), // TEST-NET-3
    PeerNet::v4(224, 0, 0, 0, 3), // multicast 224/4, reserved 240/4, 255.255.255.255
];

/// IPv6 blocks that are never a peer (forms that embed an IPv4 address are judged by it).
const FORBIDDEN_V6: [PeerNet; 12] = [
    PeerNet::v6([0, 0, 0, 0, 0, 0, 0, 0], 128), // unspecified
    PeerNet::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), // loopback
    PeerNet::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), // local-use NAT64
    PeerNet::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), // discard-only
    PeerNet::v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48), // benchmarking
    PeerNet::v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28), // ORCHID
    PeerNet::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    PeerNet::v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation
    PeerNet::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), // unique local
    PeerNet::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link-local
    PeerNet::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), // site-local (deprecated)
    PeerNet::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), // multicast
];

/// IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`, other than `::` and
/// `::1`) addresses as the IPv4 address they are; any other address as it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let bits = u128::from(v6);
            if bits >> 32 == 0 && bits > 1 {
                return IpAddr::V4(Ipv4Addr::from(bits as u32));
            }
            IpAddr::V6(v6)
        }
        ip => ip,
    }
}

/// The IPv4 address an IPv6 address stands for on the way out: NAT64 (`64:ff9b::/96`), 6to4
/// (`2002::/16`) and IPv4-translated (`::ffff:0:a.b.c.d`) forms.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(v6);
    let s = v6.segments();
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 || bits >> 32 == 0xffff_0000 {
        Some(Ipv4Addr::from(bits as u32))
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])))
    } else {
        None
    }
}

/// Whether the TURN server may relay to and from `ip`: never one of `own_addrs` (the server's
/// listen, public and interface addresses), then anything in `allowed`, else anything but
/// the special-purpose blocks above. Pure; unit-tested below.
pub fn peer_allowed(ip: IpAddr, own_addrs: &[IpAddr], allowed: &[PeerNet]) -> bool {
    let ip = canonical(ip);
    let embedded = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    let own = |own: &IpAddr| {
        let own = canonical(*own);
        own == ip || Some(own) == embedded
    };
    if own_addrs.iter().any(own) {
        return false;
    }
    if allowed.iter().any(|net| net.contains(ip)) {
        return true;
    }
    if let Some(v4) = embedded {
        return peer_allowed(v4, own_addrs, allowed);
    }
    let forbidden: &[PeerNet] = if ip.is_ipv4() { &FORBIDDEN_V4 } else { &FORBIDDEN_V6 };
    !forbidden.iter().any(|net| net.contains(ip))
}

/// The machine's interface addresses (and their broadcast addresses) plus `fixed`, without
/// unspecified ones, canonical, sorted and without duplicates.
pub fn own_addrs(fixed: &[IpAddr]) -> Vec<IpAddr> {
    let mut own: Vec<IpAddr> = fixed.to_vec();
    match webrtc_util::ifaces::ifaces() {
        Ok(ifaces) => {
            for iface in ifaces {
                own.extend(iface.addr.map(|addr| addr.ip()));
                if let Some(webrtc_util::ifaces::NextHop::Broadcast(addr)) = iface.hop {
                    own.push(addr.ip());
                }
            }
        }
        Err(err) => tracing::warn!(%err, "TURN: cannot list the interface addresses"),
    }
    let mut own: Vec<IpAddr> =
        own.into_iter().map(canonical).filter(|ip| !ip.is_unspecified()).collect();
    own.sort();
    own.dedup();
    own
}

/// What every relay of one TURN server shares: the allow-list, the addresses that are the
/// server's whatever the interfaces say, and where its live relays can be reached.
struct Shared {
    allowed: Vec<PeerNet>,
    fixed_own: Vec<IpAddr>,
    /// Address and port of every live relay socket (as peers address it), with a count for
    /// sockets that share one.
    relays: Mutex<HashMap<SocketAddr, usize>>,
}

/// A [`RelayAddressGenerator`] whose relay sockets relay only to allowed peers.
pub struct FilteredRelays {
    inner: Box<dyn RelayAddressGenerator + Send + Sync>,
    shared: Arc<Shared>,
}

impl FilteredRelays {
    /// Wraps `inner`; `fixed_own` are the server's listen and public addresses, `allowed` the
    /// allow-list.
    pub fn new(
        inner: Box<dyn RelayAddressGenerator + Send + Sync>,
        fixed_own: Vec<IpAddr>,
        allowed: Vec<PeerNet>,
    ) -> Self {
        let shared = Shared { allowed, fixed_own, relays: Mutex::new(HashMap::new()) };
        FilteredRelays { inner, shared: Arc::new(shared) }
    }
}

#[async_trait]
impl RelayAddressGenerator for FilteredRelays {
    fn validate(&self) -> Result<(), turn::Error> {
        self.inner.validate()
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        let (conn, relay_addr) = self.inner.allocate_conn(use_ipv4, requested_port).await?;
        // The interfaces are read again for every allocation, so addresses added since the
        // start count as the server's own too.
        let own = own_addrs(&self.shared.fixed_own);
        let local = conn.local_addr()?;
        let mut ips = vec![canonical(relay_addr.ip()), canonical(local.ip())];
        if local.ip().is_unspecified() {
            // A wildcard socket owns its port on every address of its family (IPv6 wildcard
            // sockets may be dual-stack).
            ips.extend(own.iter().filter(|ip| local.is_ipv6() || ip.is_ipv4()));
        }
        ips.sort();
        ips.dedup();
        let endpoints: Vec<SocketAddr> =
            ips.into_iter().map(|ip| SocketAddr::new(ip, local.port())).collect();
        {
            let mut relays = self.shared.relays.lock().unwrap_or_else(|e| e.into_inner());
            for endpoint in &endpoints {
                *relays.entry(*endpoint).or_default() += 1;
            }
        }
        let filtered = FilteredConn {
            inner: conn,
            shared: Arc::clone(&self.shared),
            own,
            endpoints,
            refusal_logged: AtomicBool::new(false),
        };
        Ok((Arc::new(filtered), relay_addr))
    }
}

/// A relay socket that neither sends to nor receives from a forbidden peer.
pub struct FilteredConn {
    inner: Arc<dyn Conn + Send + Sync>,
    shared: Arc<Shared>,
    /// The server's own addresses when this relay was made.
    own: Vec<IpAddr>,
    /// Where this relay is reachable, registered in `shared.relays` until drop.
    endpoints: Vec<SocketAddr>,
    refusal_logged: AtomicBool,
}

impl FilteredConn {
    fn allowed(&self, peer: SocketAddr) -> bool {
        if peer_allowed(peer.ip(), &self.own, &self.shared.allowed) {
            return true;
        }
        // The server's own address at one of its own relays: the other side of a
        // relay-to-relay pair.
        let endpoint = SocketAddr::new(canonical(peer.ip()), peer.port());
        let relays = self.shared.relays.lock().unwrap_or_else(|e| e.into_inner());
        if relays.contains_key(&endpoint) {
            return true;
        }
        drop(relays);
        if !self.refusal_logged.swap(true, Ordering::Relaxed) {
            let relay = self.inner.local_addr().ok();
            tracing::info!(%peer, ?relay, "TURN: relaying to/from this peer refused (further refusals on this relay at debug)");
        } else {
            tracing::debug!(%peer, "TURN: peer refused");
        }
        false
    }
}

impl Drop for FilteredConn {
    fn drop(&mut self) {
        let mut relays = self.shared.relays.lock().unwrap_or_else(|e| e.into_inner());
        for endpoint in &self.endpoints {
            if let Some(count) = relays.get_mut(endpoint) {
                *count -= 1;
                if *count == 0 {
                    relays.remove(endpoint);
                }
            }
        }
    }
}

#[async_trait]
impl Conn for FilteredConn {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        if !self.allowed(addr) {
            return Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied).into());
        }
        self.inner.connect(addr).await
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        // Only after connect, which checked the peer.
        self.inner.recv(buf).await
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.inner.recv_from(buf).await?;
            if self.allowed(from) {
                return Ok((n, from));
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.inner.send(buf).await
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if !self.allowed(target) {
            // Dropped as if sent: an error here would only be logged by the turn crate, and
            // a peer's host candidates on private networks are routinely tried.
            return Ok(buf.len());
        }
        self.inner.send_to(buf, target).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.inner.close().await
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn allowed(text: &str) -> bool {
        peer_allowed(ip(text), &[], &[])
    }

    #[test]
    fn special_purpose_ipv4_is_refused() {
        for peer in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.10",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!allowed(peer), "{peer} must be refused");
        }
    }

    #[test]
    fn public_ipv4_is_allowed() {
        for peer in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "169.253.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert!(allowed(peer), "{peer} must be allowed");
        }
    }

    #[test]
    fn special_purpose_ipv6_is_refused() {
        for peer in [
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "2001:2::1",
            "64:ff9b:1::1",
        ] {
            assert!(!allowed(peer), "{peer} must be refused");
        }
    }

    #[test]
    fn ipv4_in_ipv6_forms_are_judged_as_ipv4() {
        for peer in [
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::192.168.0.1",
            "::ffff:0:10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:c0a8:101::",
        ] {
            assert!(!allowed(peer), "{peer} must be refused");
        }
        for peer in ["::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1", "::8.8.8.8"] {
            assert!(allowed(peer), "{peer} must be allowed");
        }
    }

    #[test]
    fn public_ipv6_is_allowed() {
        for peer in ["2001:4860:4860::8888", "2606:4700::1111", "2a00:1450:4001::1"] {
            assert!(allowed(peer), "{peer} must be allowed");
        }
    }

    #[test]
    fn the_servers_own_addresses_are_refused_in_every_form_even_when_allow_listed() {
        let own = [ip("198.51.100.1"), ip("8.8.4.4"), ip("2001:4860::1")];
        let everything = ["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()];
        for peer in
            ["8.8.4.4", "::ffff:8.8.4.4", "64:ff9b::8.8.4.4", "2002:808:404::", "2001:4860::1"]
        {
            assert!(!peer_allowed(ip(peer), &own, &[]), "{peer}");
            assert!(!peer_allowed(ip(peer), &own, &everything), "{peer}");
        }
        assert!(peer_allowed(ip("8.8.8.8"), &own, &[]));
        // Own addresses given in mapped form count as the IPv4 address.
        assert!(!peer_allowed(ip("8.8.8.8"), &[ip("::ffff:8.8.8.8")], &[]));
    }

    #[test]
    fn the_allow_list_opens_only_its_blocks() {
        let lab: Vec<PeerNet> = ["203.0.113.0/24", "192.168.7.0/24", "fd00:1::/64"]
            .iter()
            .map(|net| net.parse().unwrap())
            .collect();
        for peer in ["203.0.113.1", "::ffff:203.0.113.2", "192.168.7.9", "fd00:1::5"] {
            assert!(peer_allowed(ip(peer), &[], &lab), "{peer}");
        }
        for peer in ["198.51.100.1", "192.168.8.1", "127.0.0.1", "10.0.0.1", "fd00:2::5"] {
            assert!(!peer_allowed(ip(peer), &[], &lab), "{peer}");
        }
        // The lab's server address stays closed.
        assert!(!peer_allowed(ip("203.0.113.254"), &[ip("203.0.113.254")], &lab));
    }

    #[test]
    fn peer_nets_parse_and_refuse_typos() {
        assert_eq!("10.0.0.0/8".parse::<PeerNet>().unwrap().to_string(), "10.0.0.0/8");
        assert_eq!("127.0.0.2".parse::<PeerNet>().unwrap().to_string(), "127.0.0.2/32");
        assert_eq!("fd00::/8".parse::<PeerNet>().unwrap().to_string(), "fd00::/8");
        assert_eq!("::1".parse::<PeerNet>().unwrap().to_string(), "::1/128");
        assert!("0.0.0.0/0".parse::<PeerNet>().unwrap().contains(ip("1.2.3.4")));
        assert!(!"0.0.0.0/0".parse::<PeerNet>().unwrap().contains(ip("2001:4860::1")));
        let typo = "10.0.0.1/8".parse::<PeerNet>().unwrap_err();
        assert!(typo.to_string().contains("did you mean 10.0.0.0/8"), "{typo}");
        for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/x", "", "host/8"] {
            assert!(bad.parse::<PeerNet>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_addrs_include_loopback_and_the_fixed_ones() {
        let own = own_addrs(&[ip("203.0.113.9"), ip("0.0.0.0"), ip("::ffff:198.51.100.3")]);
        assert!(own.contains(&ip("127.0.0.1")), "{own:?}");
        assert!(own.contains(&ip("203.0.113.9")), "{own:?}");
        assert!(own.contains(&ip("198.51.100.3")), "{own:?}");
        assert!(!own.iter().any(IpAddr::is_unspecified), "{own:?}");
    }
}
