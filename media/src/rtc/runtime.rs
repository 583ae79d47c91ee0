//! A tokio runtime for webrtc-rs whose UDP sockets get large kernel buffers.
//!
//! A 1080p keyframe leaves as a burst of a few hundred datagrams; with Linux's default 208 KiB
//! receive buffer the kernel drops part of it before the reader runs (crates.md measured it on
//! this kind of machine). webrtc-rs binds its sockets itself, so the buffers are set where it
//! hands each socket to the runtime.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// Socket buffer asked for; Linux caps it at `net.core.rmem_max`/`wmem_max` (4 MiB here).
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

pub(crate) struct BufferedRuntime(TokioRuntime);

impl BufferedRuntime {
    pub(crate) fn shared() -> Arc<dyn Runtime> {
        Arc::new(BufferedRuntime(TokioRuntime))
    }
}

impl fmt::Debug for BufferedRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BufferedRuntime")
    }
}

impl Runtime for BufferedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.0.spawn(future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let sock = socket2::SockRef::from(&socket);
        if let Err(err) = sock.set_recv_buffer_size(SOCKET_BUFFER_BYTES) {
            tracing::warn!(%err, "cannot enlarge the UDP receive buffer");
        }
        if let Err(err) = sock.set_send_buffer_size(SOCKET_BUFFER_BYTES) {
            tracing::warn!(%err, "cannot enlarge the UDP send buffer");
        }
        self.0.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.0.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.0.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.0.resolve_host(host)
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.0.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.0.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.0.block_on(future)
    }

    fn name(&self) -> &'static str {
        "tokio+buffers"
    }
}
