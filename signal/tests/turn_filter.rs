//! The built-in TURN server relays only to peers on the open internet: a real TURN client
//! (the `turn` crate's) allocates with valid REST credentials and asks for loopback or the
//! server's own address, and nothing arrives there or comes back from there; a peer the
//! allow-list admits (127.0.0.2, standing in for a public address) and another relay of the
//! same server still work, which shows the relay itself does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tether_proto::turn_rest_credentials;
use tether_signal::turn_server::{PeerNet, TurnServer, TurnServerConfig};
use tokio::net::UdpSocket;
use tokio::time::timeout;
use turn::client::{Client, ClientConfig};
use webrtc_util::Conn;

const SECRET: &str = "turn-filter-secret";
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a datagram that should not arrive is waited for.
const QUIET: Duration = Duration::from_millis(700);

async fn turn_server(allowed: &[&str]) -> TurnServer {
    TurnServer::start(TurnServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        public_ip: "127.0.0.1".parse().unwrap(),
        realm: "tether".into(),
        secret: SECRET.into(),
        allowed_peers: allowed.iter().map(|net| net.parse::<PeerNet>().unwrap()).collect(),
    })
    .await
    .expect("TURN server starts")
}

/// A TURN client on `server` with an allocation; returns both (the client must outlive it).
async fn allocate(server: SocketAddr) -> (Client, impl Conn) {
    let expiry = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let creds = turn_rest_credentials(SECRET.as_bytes(), expiry, "test");
    let client = Client::new(ClientConfig {
        stun_serv_addr: server.to_string(),
        turn_serv_addr: server.to_string(),
        username: creds.username,
        password: creds.credential,
        realm: "tether".into(),
        software: String::new(),
        rto_in_ms: 0,
        conn: Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap()),
        vnet: None,
    })
    .await
    .expect("TURN client");
    client.listen().await.expect("client listens");
    let relay = timeout(PATIENCE, client.allocate()).await.expect("allocation in time");
    (client, relay.expect("allocation with valid REST credentials"))
}

async fn recv(socket: &UdpSocket, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = [0u8; 1500];
    let (n, from) = timeout(wait, socket.recv_from(&mut buf)).await.ok()?.unwrap();
    Some((buf[..n].to_vec(), from))
}

async fn relay_recv(relay: &impl Conn) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 1500];
    let (n, from) = timeout(PATIENCE, relay.recv_from(&mut buf)).await.expect("relayed").unwrap();
    (buf[..n].to_vec(), from)
}

/// Sends through the relay to `forbidden` and to `allowed`; `allowed` gets its datagram and
/// `forbidden` none. Then both send to the relay address: only `allowed`'s comes back.
async fn only_allowed_is_relayed(relay: &impl Conn, forbidden: &UdpSocket, allowed: &UdpSocket) {
    let relay_addr = relay.local_addr().unwrap();
    let (bad, good) = (forbidden.local_addr().unwrap(), allowed.local_addr().unwrap());
    // Whether the client reports an error for a peer the server refuses does not matter;
    // what matters is that nothing reaches it.
    let _ = timeout(PATIENCE, relay.send_to(b"to forbidden", bad)).await.expect("send in time");
    relay.send_to(b"to allowed", good).await.expect("send to an allowed peer");

    let (data, from) = recv(allowed, PATIENCE).await.expect("the allowed peer gets its datagram");
    assert_eq!((data.as_slice(), from), (&b"to allowed"[..], relay_addr));
    let leaked = recv(forbidden, QUIET).await;
    assert_eq!(leaked, None, "the relay sent to {bad}");

    forbidden.send_to(b"from forbidden", relay_addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    allowed.send_to(b"from allowed", relay_addr).await.unwrap();
    let (data, from) = relay_recv(relay).await;
    assert_eq!(
        (String::from_utf8_lossy(&data), from),
        ("from allowed".into(), good),
        "the first datagram relayed back must be the allowed peer's"
    );
}

#[tokio::test]
async fn relay_to_loopback_is_dropped_both_ways() {
    let server = turn_server(&["127.0.0.2/32"]).await;
    let (_client, relay) = allocate(server.local_addr).await;
    let forbidden = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let allowed = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    only_allowed_is_relayed(&relay, &forbidden, &allowed).await;
    server.stop().await;
}

/// An allow-list that covers the server's own address does not open it: the server's own
/// addresses are never peers (but its own relays are, next test).
#[tokio::test]
async fn the_servers_own_address_stays_closed_under_an_allow_list() {
    let server = turn_server(&["127.0.0.0/8"]).await;
    let (_client, relay) = allocate(server.local_addr).await;
    let forbidden = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let allowed = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    only_allowed_is_relayed(&relay, &forbidden, &allowed).await;
    server.stop().await;
}

/// Two peers relayed by the same server (both behind symmetric NATs) talk relay to relay:
/// the server's own address with a port of one of its live relays is allowed, with no
/// allow-list.
#[tokio::test]
async fn relay_to_relay_on_the_same_server_works() {
    let server = turn_server(&[]).await;
    let (_a, relay_a) = allocate(server.local_addr).await;
    let (_b, relay_b) = allocate(server.local_addr).await;
    let (addr_a, addr_b) = (relay_a.local_addr().unwrap(), relay_b.local_addr().unwrap());
    // Each side opens a permission for the other's relay address first, as ICE does.
    relay_b.send_to(b"open", addr_a).await.expect("b to a");
    relay_a.send_to(b"hello b", addr_b).await.expect("a to b");
    let (data, from) = relay_recv(&relay_b).await;
    assert_eq!((data.as_slice(), from), (&b"hello b"[..], addr_a));
    relay_b.send_to(b"hello a", addr_a).await.expect("b to a");
    loop {
        let (data, from) = relay_recv(&relay_a).await;
        assert_eq!(from, addr_b);
        if data == b"hello a" {
            break;
        }
        assert_eq!(data, b"open");
    }
    server.stop().await;
}
