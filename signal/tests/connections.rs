//! Connection-level attacks: slowloris (requests that never finish), idle keep-alive
//! connections, and one address opening more connections than its share.

mod common;

use std::time::{Duration, Instant};

use common::{PATIENCE, TestServer};
use tether_signal::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes; how long that took, or `None` if it did not within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // hyper may answer 408 before closing; keep reading to the end.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn requests_that_never_finish_are_closed_within_the_header_timeout() {
    let config = Config { header_read_timeout: Duration::from_secs(1), ..Config::default() };
    let server = TestServer::start(config).await;
    let mut partial = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET /ws HTTP/1.1\r\nHost: tether\r\nUpgrade: web").await.unwrap();
        partial.push(stream);
    }
    // A connection that sends nothing at all, and one that finished a request and idles in
    // keep-alive, are closed the same way.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut kept_alive = TcpStream::connect(server.addr).await.unwrap();
    kept_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: tether\r\n\r\n").await.unwrap();
    for stream in partial.iter_mut().chain([&mut silent, &mut kept_alive]) {
        let took = closed_within(stream, Duration::from_secs(5)).await;
        assert!(took.is_some(), "a connection was still open after 5 s");
    }
    // The server still serves.
    assert_eq!(server.healthz().await["status"], "ok");
    server.shutdown().await;
}

#[tokio::test]
async fn an_address_gets_its_share_of_connections_and_no_more() {
    let config = Config {
        max_connections_per_address: 5,
        header_read_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    // Five unfinished requests hold the share of 127.0.0.1.
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    // Give the accept loop time to count them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The sixth is closed at once, before it is read.
    let mut sixth = TcpStream::connect(server.addr).await.unwrap();
    let _ = sixth.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let took = closed_within(&mut sixth, Duration::from_secs(1)).await;
    assert!(took.is_some(), "the sixth connection was served");
    let mut response = String::new();
    let _ = sixth.read_to_string(&mut response).await;
    assert!(response.is_empty(), "{response}");
    // A WebSocket is refused the same way while the share is used up.
    let url = format!("{}/ws", server.url);
    assert!(tokio_tungstenite::connect_async(&url).await.is_err());
    // When the unfinished requests time out, their places come back.
    for stream in &mut held {
        assert!(closed_within(stream, PATIENCE).await.is_some());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.healthz().await["status"], "ok");
    let (_agent, _viewer, _) = server.pair().await;
    server.shutdown().await;
}
