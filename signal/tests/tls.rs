//! `wss://` with a certificate the client is told to trust.

mod common;

use common::{TestServer, next};
use tether_proto::signal::{ClientMsg, Join, Role, ServerMsg};
use tether_signal::Config;
use tether_signal::tls::load_server_config;
use tether_signal_client::client::{ClientOptions, SignalClient};

#[tokio::test]
async fn pairing_over_wss() {
    let dir = std::env::temp_dir().join(format!("tether-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();

    let tls = load_server_config(&cert_path, &key_path).unwrap();
    let server = TestServer::start(Config { tls: Some(tls), ..Config::default() }).await;
    let url = format!("wss://localhost:{}", server.addr.port());
    let options = ClientOptions::default().trust_pem_file(&cert_path).unwrap();

    // Without trusting the certificate the handshake fails with a clear error.
    let untrusted = SignalClient::connect(&url, &ClientOptions::default()).await;
    assert!(untrusted.is_err());

    let mut agent = SignalClient::connect(&url, &options).await.unwrap();
    agent.hello(Role::Agent, "tls-agent").await.unwrap();
    let ServerMsg::Code(issued) = next(&mut agent).await else { panic!("no code") };
    let mut viewer = SignalClient::connect(&url.replace("wss", "https"), &options).await.unwrap();
    viewer.hello(Role::Viewer, "").await.unwrap();
    viewer.send(&ClientMsg::Join(Join::new(issued.code))).await.unwrap();
    assert!(matches!(next(&mut viewer).await, ServerMsg::Joined(_)));
    assert!(matches!(next(&mut agent).await, ServerMsg::PeerJoined(_)));
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unreadable_tls_files_are_clear_errors() {
    let err = load_server_config("/nonexistent/cert.pem".as_ref(), "/nonexistent/key.pem".as_ref())
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
}
