//! The HTTP side: routes, connection admission, TLS, and a shutdown that tells every peer.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use rand_core::OsRng;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tracing::Instrument;

use tether_proto::{MAX_MESSAGE_BYTES, WS_PATH};

use crate::admission::Admission;
use crate::config::Config;
use crate::connection;
use crate::hub::{Hub, HubMsg};
use crate::listen::{HttpLimits, accept_loop};
use crate::origin::origin_allowed;
use crate::outbox::Budgets;
use crate::rendezvous::ConnId;

/// Most bytes tungstenite may hold queued for one socket it cannot write to: two frames.
const MAX_WRITE_BUFFER: usize = 2 * MAX_MESSAGE_BYTES + 1024;

/// How long shutdown waits for peers to receive their bye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Serving HTTP failed.
    #[error("serving HTTP failed")]
    Io(#[from] std::io::Error),
}

#[derive(Clone)]
struct AppState {
    hub: mpsc::Sender<HubMsg>,
    config: Arc<Config>,
    next_conn: Arc<AtomicU64>,
    admission: Arc<Semaphore>,
    budgets: Budgets,
}

/// Runs the signaling server on `listener` until `shutdown` resolves, then tells every
/// connected peer (`bye` with reason `server_shutdown`) and returns once they are gone.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (hub_tx, hub_rx) = mpsc::channel(1024);
    let hub = tokio::spawn(Hub::new(config.clone(), Box::new(OsRng)).run(hub_rx));
    let tls = config.tls.clone();
    let limits = HttpLimits {
        header_read_timeout: config.header_read_timeout,
        http_timeout: config.http_timeout,
    };
    let admission =
        Admission::new(config.max_connections_per_address, config.max_pending_connections);
    let state = AppState {
        hub: hub_tx.clone(),
        admission: Arc::new(Semaphore::new(config.max_connections)),
        budgets: Budgets::new(config.outbox_bytes, config.outbox_bytes_global),
        config: Arc::new(config),
        next_conn: Arc::new(AtomicU64::new(1)),
    };
    let app = Router::new()
        .route(WS_PATH, get(ws_handler))
        .route("/healthz", get(healthz))
        .merge(crate::web::routes())
        .with_state(state);
    let (stop, stopped) = watch::channel(false);
    let accepting = tokio::spawn(accept_loop(listener, app, tls, limits, admission, stopped));
    shutdown.await;
    tracing::info!("shutting down: telling connected peers");
    let _ = hub_tx.send(HubMsg::Shutdown).await;
    let _ = stop.send(true);
    let served = accepting.await;
    // Upgraded WebSockets outlive the accept loop; the hub ends when the last of them has said
    // goodbye and dropped its sender.
    drop(hub_tx);
    match tokio::time::timeout(SHUTDOWN_GRACE, hub).await {
        Ok(_) => {}
        Err(_) => tracing::warn!("peers still connected after {SHUTDOWN_GRACE:?}; stopping anyway"),
    }
    if let Err(err) = served {
        tracing::warn!(%err, "the accept loop failed");
    }
    Ok(())
}

async fn ws_handler(
    ws: WebSocketUpgrade,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let origin = header(axum::http::header::ORIGIN);
    if !origin_allowed(origin, header(axum::http::header::HOST), &state.config.allowed_origins) {
        tracing::info!(%addr, ?origin, "WebSocket from another site's page refused");
        let sentence = "pages from other sites may not connect here (see --allow-origin)";
        return (axum::http::StatusCode::FORBIDDEN, sentence).into_response();
    }
    let permit = state.admission.clone().try_acquire_owned().ok();
    let conn = ConnId(state.next_conn.fetch_add(1, Ordering::Relaxed));
    // Signaling frames are small and rare: small buffers keep an idle session at a few KiB
    // instead of tungstenite's default 2 x 128 KiB per socket. tungstenite checks a frame's
    // announced length before it reserves room for it, so the protocol's limit set here is
    // what one connection can make the server buffer (not the 1 MiB it was).
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| {
            let span = tracing::debug_span!("conn", id = conn.0, %addr);
            async move {
                match permit {
                    Some(_permit) => {
                        let (hub, config, budgets) = (state.hub, state.config, state.budgets);
                        connection::run(socket, addr, conn, hub, config, budgets).await
                    }
                    None => connection::refuse_full(socket).await,
                }
            }
            .instrument(span)
        })
}

async fn healthz(State(state): State<AppState>) -> Response {
    let (tx, rx) = oneshot::channel();
    if state.hub.send(HubMsg::Counts(tx)).await.is_err() {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    match rx.await {
        Ok(counts) => Json(serde_json::json!({ "status": "ok", "counts": counts })).into_response(),
        Err(_) => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response(),
    }
}
