//! The accept loop and each connection's HTTP phase, served by hyper with a timer so that
//! every phase has a deadline: the TLS handshake, each request's headers (also while a
//! keep-alive connection waits for its next request), and the whole HTTP phase. Only a
//! WebSocket upgrade leaves it; the WebSocket then has its own idle and write deadlines
//! (`connection.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tower_service::Service;

use crate::admission::{Admission, Admitted, Pending};

/// A TLS handshake may take this long before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// After the HTTP phase's deadline or on shutdown, a request in flight gets this long to finish.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// hyper's read buffer, which bounds a request head. Browsers send a few KiB.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Deadlines and caps of the HTTP phase.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    /// Each request head must arrive within this; it also closes an idle keep-alive connection.
    pub(crate) header_read_timeout: Duration,
    /// A connection that has not become a WebSocket by then is closed.
    pub(crate) http_timeout: Duration,
}

/// Accepts connections until `stop` turns true; each is served on its own task.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<ServerConfig>>,
    limits: HttpLimits,
    admission: Admission,
    mut stop: watch::Receiver<bool>,
) {
    let tls = tls.map(TlsAcceptor::from);
    let mut refused: u64 = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (ticket, pending) = match admission.admit(addr.ip()) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                refused += 1;
                // Not a warning per connection: a flood would flood the log.
                if refused.is_power_of_two() {
                    tracing::warn!(%addr, ?refusal, refused, "connection refused");
                }
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let stream = Admitted::new(stream, ticket);
        let (app, tls, stop) = (app.clone(), tls.clone(), stop.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_http(stream, addr, app, limits, pending, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_http(stream, addr, app, limits, pending, stop).await
                        }
                        Ok(Err(err)) => tracing::debug!(%addr, %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Serves HTTP/1.1 on one connection until it closes, becomes a WebSocket, or runs out of time.
async fn serve_http<S>(
    io: S,
    addr: SocketAddr,
    app: Router,
    limits: HttpLimits,
    pending: Pending,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(addr));
        let mut app = app.clone();
        async move { app.call(request).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let connection = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
    tokio::pin!(connection);
    let finished = tokio::select! {
        served = connection.as_mut() => Some(served),
        () = tokio::time::sleep(limits.http_timeout) => None,
        _ = stop.wait_for(|stop| *stop) => None,
    };
    let served = match finished {
        Some(served) => served,
        None => {
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(CLOSE_GRACE, connection.as_mut()).await {
                Ok(served) => served,
                Err(_) => {
                    tracing::debug!(%addr, "HTTP phase over; closing");
                    Ok(())
                }
            }
        }
    };
    if let Err(err) = served {
        tracing::debug!(%addr, %err, "HTTP connection ended");
    }
    // The upgrade (if any) has taken the socket; the HTTP phase is over.
    drop(pending);
}
