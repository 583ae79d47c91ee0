//! The client side of the signaling protocol, for agents, viewers and the load command.

use std::sync::Arc;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tether_proto::PROTOCOL_VERSION;
use tether_proto::signal::{ClientMsg, DecodeError, Hello, Role, ServerMsg};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use tether_proto::WS_PATH;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why talking to the signaling server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `--server` is not a usable address.
    #[error(
        "{0:?} is not a server address: use ws://host:port, wss://host, http://host:port or https://host"
    )]
    BadUrl(String),
    /// Connecting or the WebSocket handshake failed.
    #[error("cannot reach the signaling server at {url}")]
    Connect {
        /// The WebSocket url tried.
        url: String,
        /// The cause.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The connection broke.
    #[error("the connection to the signaling server failed")]
    Transport(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    /// The server closed the connection.
    #[error("the signaling server closed the connection")]
    Closed,
    /// The server sent something this client cannot read.
    #[error("the signaling server sent an unreadable message")]
    Decode(#[from] DecodeError),
    /// A CA certificate file could not be used.
    #[error("cannot use the CA certificate {path}: {reason}")]
    CaCert {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

/// How to connect: extra CA certificates to trust for `wss://` besides the public roots.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// DER certificates of extra trusted CAs (e.g. a self-signed server's).
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl ClientOptions {
    /// Adds the certificates of a PEM file to the trusted roots.
    pub fn trust_pem_file(mut self, path: &std::path::Path) -> Result<Self, ClientError> {
        let fail =
            |reason: String| ClientError::CaCert { path: path.display().to_string(), reason };
        let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let before = self.extra_roots.len();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            self.extra_roots.push(cert.map_err(|e| fail(e.to_string()))?);
        }
        if self.extra_roots.len() == before {
            return Err(fail("no PEM certificate in it".into()));
        }
        Ok(self)
    }
}

/// The WebSocket url for a server's base address.
///
/// `ws://h:p` and `http://h:p` mean the same, as do `wss://h` and `https://h`; a bare `h:p`
/// means `ws://h:p`. The WebSocket path is appended unless the address already ends with it,
/// keeping any prefix a reverse proxy adds (`https://example.org/tether` →
/// `wss://example.org/tether/ws`).
pub fn websocket_url(server: &str) -> Result<String, ClientError> {
    let bad = || ClientError::BadUrl(server.to_owned());
    let trimmed = server.trim();
    let (scheme, rest) = match trimmed.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "ws" | "http" => ("ws", rest),
            "wss" | "https" => ("wss", rest),
            _ => return Err(bad()),
        },
        None => ("ws", trimmed),
    };
    let (host, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    if host.is_empty()
        || host.contains(|c: char| c.is_whitespace() || c == '?' || c == '#' || c == '@')
    {
        return Err(bad());
    }
    if path.contains(['?', '#']) {
        return Err(bad());
    }
    let path = path.trim_end_matches('/');
    let path = if path.ends_with(WS_PATH) { path.to_owned() } else { format!("{path}{WS_PATH}") };
    Ok(format!("{scheme}://{host}{path}"))
}

/// A connection to the signaling server.
pub struct SignalClient {
    ws: Ws,
}

impl SignalClient {
    /// Connects to the server at `server` (a base address, see [`websocket_url`]).
    pub async fn connect(server: &str, options: &ClientOptions) -> Result<Self, ClientError> {
        let url = websocket_url(server)?;
        let connector = if options.extra_roots.is_empty() {
            None
        } else {
            Some(Connector::Rustls(Arc::new(tls_config(&options.extra_roots))))
        };
        // Signaling frames are small: modest buffers keep thousands of clients (the load
        // command) from costing 256 KiB each.
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(1 << 20))
            .max_frame_size(Some(1 << 20));
        let (ws, _response) =
            tokio_tungstenite::connect_async_tls_with_config(&url, Some(config), false, connector)
                .await
                .map_err(|e| ClientError::Connect { url: url.clone(), source: Box::new(e) })?;
        Ok(SignalClient { ws })
    }

    /// Sends the opening hello.
    pub async fn hello(&mut self, role: Role, name: &str) -> Result<(), ClientError> {
        self.send(&ClientMsg::Hello(Hello {
            version: PROTOCOL_VERSION,
            role,
            name: name.to_owned(),
        }))
        .await
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        send(&mut self.ws, msg).await
    }

    /// The next message from the server.
    pub async fn recv(&mut self) -> Result<ServerMsg, ClientError> {
        recv(&mut self.ws).await
    }

    /// Splits into halves that can be used from two tasks.
    pub fn split(self) -> (SignalSender, SignalReceiver) {
        let (sink, stream) = self.ws.split();
        (SignalSender { sink }, SignalReceiver { stream })
    }
}

/// The sending half of a [`SignalClient`].
pub struct SignalSender {
    sink: SplitSink<Ws, Message>,
}

impl SignalSender {
    /// Sends one message.
    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        send(&mut self.sink, msg).await
    }

    /// Closes the connection politely.
    pub async fn close(&mut self) {
        let _ = self.sink.close().await;
    }
}

/// The receiving half of a [`SignalClient`].
pub struct SignalReceiver {
    stream: SplitStream<Ws>,
}

impl SignalReceiver {
    /// The next message from the server.
    pub async fn recv(&mut self) -> Result<ServerMsg, ClientError> {
        recv(&mut self.stream).await
    }
}

async fn send<S>(sink: &mut S, msg: &ClientMsg) -> Result<(), ClientError>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    sink.send(Message::text(msg.encode())).await.map_err(|e| ClientError::Transport(Box::new(e)))
}

async fn recv<S>(stream: &mut S) -> Result<ServerMsg, ClientError>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            None | Some(Ok(Message::Close(_))) => return Err(ClientError::Closed),
            Some(Err(e)) => return Err(ClientError::Transport(Box::new(e))),
            Some(Ok(Message::Text(text))) => return Ok(ServerMsg::decode(text.as_str())?),
            Some(Ok(_)) => continue,
        }
    }
}

fn tls_config(extra_roots: &[rustls::pki_types::CertificateDer<'static>]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra_roots {
        // A certificate rustls cannot parse is simply not trusted; the handshake will say so.
        let _ = roots.add(cert.clone());
    }
    rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_map_to_the_websocket_url() {
        let cases = [
            ("ws://127.0.0.1:7878", "ws://127.0.0.1:7878/ws"),
            ("http://127.0.0.1:7878/", "ws://127.0.0.1:7878/ws"),
            ("HTTPS://example.org", "wss://example.org/ws"),
            ("wss://example.org/ws", "wss://example.org/ws"),
            ("https://example.org/tether/", "wss://example.org/tether/ws"),
            ("127.0.0.1:7878", "ws://127.0.0.1:7878/ws"),
            ("ws://[::1]:7878", "ws://[::1]:7878/ws"),
        ];
        for (input, expected) in cases {
            assert_eq!(websocket_url(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn bad_addresses_are_refused_with_a_hint() {
        for input in ["", "ftp://host", "ws://", "ws://host/?x=1", "http://user@host", "ws://a b"] {
            let err = websocket_url(input).unwrap_err();
            assert!(matches!(err, ClientError::BadUrl(_)), "{input}");
            assert!(err.to_string().contains("ws://host:port"));
        }
    }
}
