//! The certificate made before the peer connection is the one its SDP names: the security
//! code shown before consent is the one the DTLS handshake is then checked against.

use std::time::Duration;
use tether_media::rtc::{DtlsIdentity, PeerLink, PeerOptions, Side};
use tether_proto::{IceConfig, Sas, fingerprint};

fn options(identity: &DtlsIdentity) -> PeerOptions {
    PeerOptions {
        ice: IceConfig::default(),
        udp_bind: vec!["127.0.0.1:0".into()],
        congestion: None,
        identity: Some(identity.clone()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdps_carry_the_certificates_made_before_them() {
    let (agent_id, viewer_id) =
        (DtlsIdentity::generate().unwrap(), DtlsIdentity::generate().unwrap());
    assert_ne!(agent_id.fingerprint(), viewer_id.fingerprint(), "fresh for each session");
    let restart_after = Duration::from_secs(5);
    let mut agent =
        PeerLink::new(&options(&agent_id), Side::Offerer { restart_after }).await.unwrap();
    agent.pc().create_data_channel("input", None).await.unwrap();
    let mut viewer = PeerLink::new(&options(&viewer_id), Side::Answerer).await.unwrap();
    let offer = agent.offer().await.unwrap();
    assert_eq!(fingerprint(&offer.sdp).as_deref(), Some(agent_id.fingerprint()));
    let answer = viewer.answer(offer).await.unwrap();
    assert_eq!(fingerprint(&answer.sdp).as_deref(), Some(viewer_id.fingerprint()));
    agent.apply_answer(answer).await.unwrap();
    let expected = Sas::from_fingerprints(agent_id.fingerprint(), viewer_id.fingerprint());
    assert_eq!(agent.sas(), Some(expected));
    assert_eq!(viewer.sas(), Some(expected));
    agent.close().await;
    viewer.close().await;
}
