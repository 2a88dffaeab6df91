//! The server's TLS identity (`[tls]`): certificate chain, key and, for mutual TLS,
//! the client CAs and allowed client identities. Built completely from the files, then
//! swapped in one [`ArcSwap`]: a renewed certificate (file change or SIGHUP) takes
//! effect for the next handshake, a broken one keeps the previous identity.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::{
    client::danger::HandshakeSignatureValid,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    server::{
        danger::{ClientCertVerified, ClientCertVerifier},
        WebPkiClientVerifier,
    },
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use crate::config::security::TlsSettings;

/// A TLS file that cannot be used: the file and what is wrong (never key material).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsError {
    pub path: String,
    pub message: String,
}

/// Which protocols a listener speaks (ALPN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// gRPC port: HTTP/2, and HTTP/1.1 for gRPC-Web.
    GrpcPort,
    /// The HTTP and metrics listeners: HTTP/1.1.
    Http1,
}

struct Configs {
    grpc: Arc<ServerConfig>,
    http1: Arc<ServerConfig>,
}

/// The identity in force; see the module documentation.
pub struct ServerTls {
    settings: TlsSettings,
    current: ArcSwap<Configs>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("cert_file", &self.settings.cert_file).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// The identity `[tls]` names; `None` when TLS is off.
    pub fn from_settings(s: &TlsSettings) -> Result<Option<Arc<Self>>, TlsError> {
        if !s.enabled() {
            return Ok(None);
        }
        let configs = build(s)?;
        Ok(Some(Arc::new(Self { settings: s.clone(), current: ArcSwap::from_pointee(configs) })))
    }

    /// Re-read the files; on success the next handshakes use them, on failure the
    /// identity in force stays and the error is returned.
    pub fn reload(&self) -> Result<(), TlsError> {
        let configs = build(&self.settings)?;
        self.current.store(Arc::new(configs));
        Ok(())
    }

    /// The files this identity is built from (what a watcher watches).
    pub fn files(&self) -> Vec<std::path::PathBuf> {
        [&self.settings.cert_file, &self.settings.key_file, &self.settings.client_ca_file]
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from)
            .collect()
    }

    /// An acceptor for one handshake with the identity in force.
    pub fn acceptor(&self, alpn: Alpn) -> tokio_rustls::TlsAcceptor {
        let c = self.current.load();
        tokio_rustls::TlsAcceptor::from(match alpn {
            Alpn::GrpcPort => c.grpc.clone(),
            Alpn::Http1 => c.http1.clone(),
        })
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(s: &TlsSettings) -> Result<Configs, TlsError> {
    let err = |path: &str, message: String| TlsError { path: path.to_string(), message };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&s.cert_file)
        .map_err(|e| err(&s.cert_file, format!("cannot read: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(&s.cert_file, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(err(&s.cert_file, "holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&s.key_file)
        .map_err(|e| err(&s.key_file, format!("not a PEM private key: {e}")))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&s.cert_file, e.to_string()))?;
    let builder = if s.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&s.client_ca_file)
            .map_err(|e| err(&s.client_ca_file, format!("cannot read: {e}")))?
            .collect::<Result<_, _>>()
            .map_err(|e| err(&s.client_ca_file, format!("not a PEM certificate bundle: {e}")))?;
        for ca in cas {
            roots.add(ca).map_err(|e| err(&s.client_ca_file, format!("not a usable CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(err(&s.client_ca_file, "holds no CA certificate".into()));
        }
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| err(&s.client_ca_file, e.to_string()))?;
        let allowed = s
            .allowed_clients
            .iter()
            .filter_map(|c| ServerName::try_from(c.clone()).ok())
            .collect::<Vec<ServerName<'static>>>();
        builder.with_client_cert_verifier(Arc::new(AllowList { inner, allowed }))
    };
    let mut grpc = builder
        .with_single_cert(chain, key)
        .map_err(|e| err(&s.key_file, format!("does not fit the certificate: {e}")))?;
    let mut http1 = grpc.clone();
    grpc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    http1.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Configs { grpc: Arc::new(grpc), http1: Arc::new(http1) })
}

/// Mutual TLS: the CA check, then the client certificate must carry one of the allowed
/// identities in its subjectAltName (any, when the list is empty).
#[derive(Debug)]
struct AllowList {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<ServerName<'static>>,
}

impl ClientCertVerifier for AllowList {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        if self.allowed.is_empty() {
            return Ok(ok);
        }
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::General("client certificate cannot be parsed".into()))?;
        if self.allowed.iter().any(|name| cert.verify_is_valid_for_subject_name(name).is_ok()) {
            Ok(ok)
        } else {
            Err(rustls::Error::General("client identity not allowed".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
