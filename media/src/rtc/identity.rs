//! The DTLS certificate of one session, made before its peer connection so that its
//! fingerprint can be exchanged (and the short authentication string shown) before consent.

use rtc::crypto::{self, SignatureScheme};
use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};
use tether_proto::normalise_fingerprint;

use super::peer::RtcError;

/// A fresh self-signed certificate and its fingerprint as SDPs carry it.
#[derive(Debug, Clone)]
pub struct DtlsIdentity {
    certificate: RTCCertificate,
    fingerprint: String,
}

impl DtlsIdentity {
    /// A new ECDSA P-256 certificate (what webrtc-rs and browsers make by default).
    pub fn generate() -> Result<Self, RtcError> {
        let provider = crypto::default_provider().map_err(|e| identity_error(e.to_string()))?;
        let params = CertificateParams::new(vec!["tether".to_owned()])
            .map_err(|e| identity_error(e.to_string()))?;
        let certificate =
            RTCCertificate::generate(provider.crypto(), SignatureScheme::EcdsaP256Sha256, params)?;
        let fingerprints = certificate.get_fingerprints(provider.crypto())?;
        let fingerprint = fingerprints
            .first()
            .and_then(|f| normalise_fingerprint(&format!("{} {}", f.algorithm, f.value)))
            .ok_or_else(|| identity_error("the certificate has no fingerprint".into()))?;
        Ok(DtlsIdentity { certificate, fingerprint })
    }

    /// `sha-256 AB:CD:…`, normalised as `tether_proto::fingerprint` reads SDPs.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub(super) fn certificate(&self) -> RTCCertificate {
        self.certificate.clone()
    }
}

fn identity_error(message: String) -> RtcError {
    RtcError::Webrtc(webrtc::error::Error::Other(message))
}
