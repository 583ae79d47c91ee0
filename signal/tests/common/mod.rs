//! Helpers for scenario tests: a real server on 127.0.0.1 and real WebSocket clients.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tether_proto::signal::{ClientMsg, Join, Role, ServerMsg};
use tether_proto::{ErrorCode, SessionCode};
use tether_signal::{Config, serve};
use tether_signal_client::client::{ClientOptions, SignalClient};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Every wait in these tests is bounded so that a bug fails a test instead of hanging CI.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<Result<(), tether_signal::ServeError>>,
}

impl TestServer {
    pub async fn start(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if config.tls.is_some() { "wss" } else { "ws" };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, config, async {
            let _ = stopped.await;
        }));
        TestServer { addr, url: format!("{scheme}://{addr}"), stop: Some(stop), task }
    }

    pub async fn default() -> Self {
        Self::start(Config::default()).await
    }

    /// Asks the server to stop and waits for `serve` to return.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(PATIENCE, &mut self.task).await;
        result.expect("serve returns after shutdown").unwrap().unwrap();
    }

    pub async fn client(&self) -> SignalClient {
        SignalClient::connect(&self.url, &ClientOptions::default()).await.unwrap()
    }

    pub async fn agent(&self) -> (SignalClient, SessionCode) {
        let mut agent = self.client().await;
        agent.hello(Role::Agent, "front-desk").await.unwrap();
        match next(&mut agent).await {
            ServerMsg::Code(issued) => {
                let code = issued.code;
                (agent, code)
            }
            other => panic!("expected a code, got {other:?}"),
        }
    }

    pub async fn viewer(&self) -> SignalClient {
        let mut viewer = self.client().await;
        viewer.hello(Role::Viewer, "Sam").await.unwrap();
        viewer
    }

    /// An agent and a viewer paired, with `peer_joined` and `joined` consumed.
    pub async fn pair(&self) -> (SignalClient, SignalClient, SessionCode) {
        let (mut agent, code) = self.agent().await;
        let mut viewer = self.viewer().await;
        viewer.send(&ClientMsg::Join(Join::new(code))).await.unwrap();
        assert!(matches!(next(&mut viewer).await, ServerMsg::Joined(_)));
        assert!(matches!(next(&mut agent).await, ServerMsg::PeerJoined(_)));
        (agent, viewer, code)
    }

    pub async fn healthz(&self) -> serde_json::Value {
        let response = self.get("/healthz").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let body = response.split("\r\n\r\n").nth(1).unwrap();
        serde_json::from_str(body).unwrap()
    }

    /// The whole HTTP/1.1 response (status line, headers, body) to `GET path`.
    pub async fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(PATIENCE, stream.read_to_string(&mut response))
            .await
            .unwrap()
            .unwrap();
        response
    }

    pub async fn raw(&self) -> RawClient {
        let (ws, _) = tokio_tungstenite::connect_async(format!("{}/ws", self.url)).await.unwrap();
        RawClient { ws }
    }
}

/// The next message, failing the test if none comes.
pub async fn next(client: &mut SignalClient) -> ServerMsg {
    tokio::time::timeout(PATIENCE, client.recv()).await.expect("a message in time").unwrap()
}

/// The next message must be an error with `code`.
pub async fn expect_error(
    client: &mut SignalClient,
    code: ErrorCode,
) -> tether_proto::signal::ErrorMsg {
    match next(client).await {
        ServerMsg::Error(e) if e.code == code => e,
        other => panic!("expected error {code}, got {other:?}"),
    }
}

/// A WebSocket with no protocol knowledge, for sending whatever bytes a test wants.
pub struct RawClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// The receiving half of a [`RawClient`].
pub struct RawStream<'a> {
    pub rx: &'a mut futures_util::stream::SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>,
}

impl RawStream<'_> {
    pub async fn next(&mut self) -> Option<ServerMsg> {
        next_frame(self.rx).await
    }

    pub async fn expect_error(&mut self, code: ErrorCode) {
        match self.next().await {
            Some(ServerMsg::Error(e)) if e.code == code => {}
            other => panic!("expected error {code}, got {other:?}"),
        }
    }
}

async fn next_frame<S>(stream: &mut S) -> Option<ServerMsg>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(PATIENCE, stream.next()).await.expect("a frame in time") {
            Some(Ok(Message::Text(text))) => {
                return Some(ServerMsg::decode(text.as_str()).unwrap());
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

impl RawClient {
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).await.unwrap();
    }

    /// The next server message, or `None` when the server closed the connection.
    pub async fn next(&mut self) -> Option<ServerMsg> {
        next_frame(&mut self.ws).await
    }

    pub async fn expect_error(&mut self, code: ErrorCode) {
        match self.next().await {
            Some(ServerMsg::Error(e)) if e.code == code => {}
            other => panic!("expected error {code}, got {other:?}"),
        }
    }
}
