//! The signaling server inside the agent, for a LAN or a demo with nothing else to run.

use std::net::{IpAddr, SocketAddr};

use tether_signal::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running embedded server; dropping it does not stop it, [`Embedded::stop`] does.
pub struct Embedded {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `ws` or `wss`.
    pub scheme: &'static str,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tether_signal::ServeError>>,
}

impl Embedded {
    /// Binds `bind` (falling back to any free port if that one is taken) and starts serving.
    pub async fn start(bind: &str, config: Config) -> anyhow::Result<Self> {
        let listener = match TcpListener::bind(bind).await {
            Ok(listener) => listener,
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
                let any_port = bind.rsplit_once(':').map(|(host, _)| format!("{host}:0"));
                let any_port = any_port.unwrap_or_else(|| "0.0.0.0:0".into());
                tracing::warn!("{bind} is in use; listening on a free port instead");
                TcpListener::bind(&any_port).await?
            }
            Err(err) => {
                return Err(anyhow::Error::new(err).context(format!("cannot listen on {bind}")));
            }
        };
        let addr = listener.local_addr()?;
        let scheme = if config.tls.is_some() { "wss" } else { "ws" };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tether_signal::serve(listener, config, async {
            let _ = stopped.await;
        }));
        Ok(Embedded { addr, scheme, stop, task })
    }

    /// The address this agent itself connects to.
    pub fn local_url(&self) -> String {
        let host = match self.addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
            ip if ip.is_unspecified() => "[::1]".to_owned(),
            IpAddr::V6(v6) => format!("[{v6}]"),
            ip => ip.to_string(),
        };
        format!("{}://{host}:{}", self.scheme, self.addr.port())
    }

    /// The addresses viewers on other machines can use.
    pub fn lan_urls(&self) -> Vec<String> {
        let port = self.addr.port();
        if !self.addr.ip().is_unspecified() {
            return vec![self.local_url()];
        }
        let mut urls: Vec<String> = if_addrs::get_if_addrs()
            .unwrap_or_default()
            .into_iter()
            .filter(|iface| !iface.is_loopback())
            .filter_map(|iface| match iface.ip() {
                IpAddr::V4(v4) if !v4.is_link_local() => {
                    Some(format!("{}://{v4}:{port}", self.scheme))
                }
                _ => None,
            })
            .collect();
        if urls.is_empty() {
            urls.push(self.local_url());
        }
        urls
    }

    /// The browser viewer's addresses (`http://<lan-ip>:<port>/`), one per LAN address.
    pub fn viewer_urls(&self) -> Vec<String> {
        self.lan_urls().iter().map(|url| viewer_url(url)).collect()
    }

    /// Stops the server, telling any connected peers, and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!("embedded server: {err}"),
            Err(err) => tracing::warn!("embedded server task: {err}"),
        }
    }
}

/// `ws://host:port` -> `http://host:port/` (and `wss` -> `https`): the page is served at `/`.
fn viewer_url(ws_url: &str) -> String {
    let http = match ws_url.strip_prefix("ws") {
        Some(rest) => format!("http{rest}"),
        None => ws_url.to_owned(),
    };
    format!("{}/", http.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_urls_are_http_with_the_same_host_and_port() {
        assert_eq!(viewer_url("ws://192.0.2.4:7878"), "http://192.0.2.4:7878/");
        assert_eq!(viewer_url("wss://[::1]:443"), "https://[::1]:443/");
    }
}
