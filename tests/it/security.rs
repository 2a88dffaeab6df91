//! Transport security over real sockets: TLS and mutual TLS on the gRPC port, the HTTP
//! listener and the metrics listener; bearer JWTs with scopes; certificate reload;
//! handshake, idle and connection limits.

use std::{path::Path, sync::Arc, time::Duration};

use base64::Engine;
use cdssd::{
    config::{Settings, Sources},
    listen::Security,
    pipeline::Pipeline,
    proto::v1::{self as pb, admin_service_client::AdminServiceClient, cds_service_client::CdsServiceClient},
};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::support::{request, root};

const ISS: &str = "https://emr.test/";
const AUD: &str = "https://cdssd.test/";

/// A CA and what it signed, as PEM.
struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca = p.self_signed(&key).unwrap();
        Self { ca_pem: ca.pem(), issuer: Issuer::new(p, key) }
    }

    /// (certificate PEM, key PEM) for `names` (subjectAltName DNS names).
    fn leaf(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

struct Keys {
    signing: EncodingKey,
}

fn jwt_keys(dir: &Path) -> Keys {
    let kp = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(dir.join("emr.pem"), kp.public_key_pem()).unwrap();
    Keys { signing: EncodingKey::from_ec_der(&kp.serialize_der()) }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn token(keys: &Keys, jti: &str, scope: &str, exp_in: i64) -> String {
    let n = now() as i64;
    let claims = json!({"iss": ISS, "aud": AUD, "sub": "emr-7", "tenant": "hosp-b", "iat": n - 5, "exp": n + exp_in,
                        "jti": jti, "scope": scope});
    encode(&Header::new(Algorithm::ES256), &claims, &keys.signing).unwrap()
}

/// Settings from a config file with `[tls]`/`[auth]` (`extra`), anchored at the repository.
fn settings(dir: &Path, extra: &str) -> Settings {
    let file = dir.join("cdssd.toml");
    std::fs::write(&file, extra).unwrap();
    let env = vec![
        ("CDSSD__RULES__DIR".to_string(), root().join("rules").display().to_string()),
        ("CDSSD__RISK__DIR".into(), root().join("models").display().to_string()),
        ("CDSSD__METRICS__LISTEN".into(), String::new()),
        ("CDSSD__SERVER__LISTEN".into(), "127.0.0.1:0".into()),
        ("CDSSD__AUDIT__BACKEND".into(), "off".into()),
    ];
    Settings::load(&Sources { file: Some(file), env }).expect("valid test settings")
}

struct Running {
    addr: std::net::SocketAddr,
    security: Arc<Security>,
    pipeline: Arc<Pipeline>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(s: Settings) -> Running {
    let s = Arc::new(s);
    let security = Security::from_settings(&s).expect("security files load");
    let pipeline = Arc::new(Pipeline::new(s).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (p, sec) = (pipeline.clone(), security.clone());
    tokio::spawn(async move {
        let _ = cdssd::server::run_secured(listener, p, sec, async {
            let _ = rx.await;
        })
        .await;
    });
    Running { addr, security, pipeline, _stop: tx }
}

async fn tls_channel(
    addr: std::net::SocketAddr,
    ca: &str,
    identity: Option<&(String, String)>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name("localhost");
    if let Some((c, k)) = identity {
        tls = tls.identity(Identity::from_pem(c, k));
    }
    Endpoint::from_shared(format!("https://{addr}")).unwrap().tls_config(tls)?.connect().await
}

fn with_token<T>(msg: T, t: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    r
}

fn server_files(dir: &Path, pki: &Pki) {
    let (c, k) = pki.leaf(&["localhost"]);
    std::fs::write(dir.join("server.crt"), c).unwrap();
    std::fs::write(dir.join("server.key"), k).unwrap();
}

fn tls_and_jwt(dir: &Path, mtls: &str) -> String {
    format!(
        "[tls]\ncert_file = \"{d}/server.crt\"\nkey_file = \"{d}/server.key\"\n{mtls}\n\
         [auth]\nmode = \"jwt\"\n[[auth.issuers]]\nissuer = \"{ISS}\"\naudience = \"{AUD}\"\n\
         keys_file = \"{d}/emr.pem\"\nalgorithms = [\"ES256\"]\n",
        d = dir.display()
    )
}

#[tokio::test]
async fn tls_and_jwt_on_the_grpc_port() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("test server CA");
    server_files(dir.path(), &pki);
    let keys = jwt_keys(dir.path());
    let d = start(settings(dir.path(), &tls_and_jwt(dir.path(), ""))).await;

    // Plaintext to a TLS port: no answer.
    let plain = Endpoint::from_shared(format!("http://{}", d.addr)).unwrap().connect().await;
    if let Ok(ch) = plain {
        assert!(CdsServiceClient::new(ch).evaluate(request("stemi_primary_pci.json")).await.is_err());
    }
    let ch = tls_channel(d.addr, &pki.ca_pem, None).await.expect("TLS connects");
    let mut cds = CdsServiceClient::new(ch.clone());

    // No token, an expired one, one for another audience: UNAUTHENTICATED saying nothing more.
    let e = cds.evaluate(request("stemi_primary_pci.json")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    assert_eq!(e.message(), "authentication required");
    let expired = token(&keys, "j-exp", "", -120);
    let e = cds.evaluate(with_token(request("stemi_primary_pci.json"), &expired)).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (tonic::Code::Unauthenticated, "authentication required"));

    // A good token evaluates; the same token again is a replay.
    let good = token(&keys, "j-1", "", 300);
    let r = cds.evaluate(with_token(request("stemi_primary_pci.json"), &good)).await.expect("evaluates");
    assert!(!r.into_inner().decision.unwrap().findings.is_empty());
    // A reload (renewed keys) does not forget the jtis already used.
    d.security.reload().expect("reloads");
    let e = cds.evaluate(with_token(request("stemi_primary_pci.json"), &good)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);

    // Admin needs its scope.
    let mut admin = AdminServiceClient::new(ch.clone());
    let e = admin
        .reload_rules(with_token(pb::ReloadRulesRequest::default(), &token(&keys, "j-2", "cdssd.audit", 300)))
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.message()), (tonic::Code::PermissionDenied, "not permitted"));
    admin
        .reload_rules(with_token(pb::ReloadRulesRequest::default(), &token(&keys, "j-3", "cdssd.admin", 300)))
        .await
        .expect("admin scope reloads");

    // Health needs no token (probes).
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch);
    let h = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.expect("health");
    assert_eq!(h.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    drop(d.pipeline);
}

#[tokio::test]
async fn mutual_tls_lets_in_only_allowed_client_identities() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Pki::new("server CA");
    let client_ca = Pki::new("client CA");
    server_files(dir.path(), &server_ca);
    std::fs::write(dir.path().join("clients.pem"), &client_ca.ca_pem).unwrap();
    jwt_keys(dir.path());
    let mtls =
        format!("client_ca_file = \"{}/clients.pem\"\nallowed_clients = [\"emr.hosp-b.test\"]", dir.path().display());
    // Auth off on loopback here: this test is about the handshake.
    let cfg = tls_and_jwt(dir.path(), &mtls).replace("mode = \"jwt\"", "mode = \"off\"");
    let d = start(settings(dir.path(), &cfg)).await;

    let call = |ch: tonic::transport::Channel| async move {
        CdsServiceClient::new(ch).evaluate(request("stemi_primary_pci.json")).await
    };
    // No client certificate; one from the right CA with another identity; one from another CA.
    let none = tls_channel(d.addr, &server_ca.ca_pem, None).await;
    assert!(
        match none {
            Ok(ch) => call(ch).await.is_err(),
            Err(_) => true,
        },
        "no client certificate"
    );
    let other = client_ca.leaf(&["billing.hosp-b.test"]);
    let r = tls_channel(d.addr, &server_ca.ca_pem, Some(&other)).await;
    assert!(
        match r {
            Ok(ch) => call(ch).await.is_err(),
            Err(_) => true,
        },
        "identity not allowed"
    );
    let rogue = Pki::new("rogue CA").leaf(&["emr.hosp-b.test"]);
    let r = tls_channel(d.addr, &server_ca.ca_pem, Some(&rogue)).await;
    assert!(
        match r {
            Ok(ch) => call(ch).await.is_err(),
            Err(_) => true,
        },
        "certificate of another CA"
    );
    // The allowed identity gets in.
    let good = client_ca.leaf(&["emr.hosp-b.test"]);
    let ch = tls_channel(d.addr, &server_ca.ca_pem, Some(&good)).await.expect("mTLS connects");
    call(ch).await.expect("allowed client evaluates");
}

#[tokio::test]
async fn a_renewed_certificate_is_served_after_reload_and_a_broken_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let old = Pki::new("old CA");
    server_files(dir.path(), &old);
    jwt_keys(dir.path());
    let cfg = tls_and_jwt(dir.path(), "").replace("mode = \"jwt\"", "mode = \"off\"");
    let d = start(settings(dir.path(), &cfg)).await;
    assert!(tls_channel(d.addr, &old.ca_pem, None).await.is_ok());
    // The one watcher over the TLS files (as `cdssd serve` builds it).
    use cdssd::reload::{Reload, Reloader};
    let _w = Reloader::new().add(d.security.clone(), true, Duration::from_millis(100)).start().unwrap();
    let outcome_after = |n: u64, loaded: bool| {
        let s = d.security.clone();
        async move {
            for _ in 0..400 {
                if s.attempts() > n && s.last_outcome().loaded == loaded {
                    return s.last_outcome();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("no reload with loaded = {loaded} after attempt {n}: {:?}", s.last_outcome());
        }
    };

    // A broken key file: the reload fails and the old identity keeps serving.
    let n = d.security.attempts();
    std::fs::write(dir.path().join("server.key"), "not a key").unwrap();
    let failed = outcome_after(n, false).await;
    assert!(!failed.errors.is_empty() && failed.cause == cdssd::reload::Cause::FileChange, "{failed:?}");
    let ch = tls_channel(d.addr, &old.ca_pem, None).await.expect("old identity still served");
    CdsServiceClient::new(ch).evaluate(request("stemi_primary_pci.json")).await.expect("evaluates");

    // Renewed by another CA: after the reload new handshakes present it.
    let new = Pki::new("new CA");
    let n = d.security.attempts();
    server_files(dir.path(), &new);
    outcome_after(n, true).await;
    let ch = tls_channel(d.addr, &new.ca_pem, None).await.expect("new identity served");
    CdsServiceClient::new(ch).evaluate(request("stemi_primary_pci.json")).await.expect("evaluates");
    let stale = tls_channel(d.addr, &old.ca_pem, None).await;
    assert!(match stale {
        Ok(ch) => CdsServiceClient::new(ch).evaluate(request("stemi_primary_pci.json")).await.is_err(),
        Err(_) => true,
    });
}

#[tokio::test]
async fn handshake_idle_and_connection_limits_close_what_holds_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    let d =
        start(settings(dir.path(), "[server]\nhandshake_timeout_ms = 300\nidle_timeout_s = 1\nmax_connections = 2\n"))
            .await;
    // A connection that sends nothing is closed after the handshake bound.
    let mut silent = tokio::net::TcpStream::connect(d.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let started = std::time::Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await.expect("closed by the server");
    assert!(matches!(n, Ok(0) | Err(_)), "silent connection closed");
    assert!(started.elapsed() >= Duration::from_millis(250), "not before the bound");

    // Two open connections fill the cap: a third is closed at once.
    let mut a = tokio::net::TcpStream::connect(d.addr).await.unwrap();
    let mut b = tokio::net::TcpStream::connect(d.addr).await.unwrap();
    a.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    b.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = tokio::net::TcpStream::connect(d.addr).await.unwrap();
    let n = tokio::time::timeout(Duration::from_millis(250), async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert_eq!(n, Ok(true), "third connection closed while two are open");
    // The preface-only connections go idle and are closed after idle_timeout_s.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match a.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "idle connection closed");
    drop(b);
    // With the slots free, a real client is served again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ch = Endpoint::from_shared(format!("http://{}", d.addr)).unwrap().connect().await.unwrap();
    CdsServiceClient::new(ch).evaluate(request("stemi_primary_pci.json")).await.expect("served");
}

#[tokio::test]
async fn the_http_listener_and_metrics_listener_speak_tls_and_http_checks_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("server CA");
    server_files(dir.path(), &pki);
    let keys = jwt_keys(dir.path());
    let s = settings(dir.path(), &tls_and_jwt(dir.path(), ""));
    let security = Security::from_settings(&s).unwrap();
    let pipeline = Arc::new(Pipeline::new(Arc::new(s)).unwrap());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(cdssd::web::run(l, pipeline, security.clone(), std::future::pending()));

    let mut roots = rustls::RootCertStore::empty();
    for c in
        <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(pki.ca_pem.as_bytes())
    {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = reqwest::Client::builder().tls_backend_preconfigured(tls).build().unwrap();
    let body = serde_json::to_string(&request("stemi_primary_pci.json")).unwrap();
    let url = format!("https://localhost:{}/v1/evaluate", addr.port());
    let post = |t: Option<String>| {
        let mut r = client.post(&url).header("content-type", "application/json").body(body.clone());
        if let Some(t) = t {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let r = post(None).await.expect("TLS connects");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers().get("www-authenticate").unwrap(), "Bearer");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["message"], "authentication required");
    let r = post(Some(token(&keys, "h-1", "", 300))).await.unwrap();
    assert_eq!(r.status(), 200);
    // A token without the evaluate scope, when one is required, is refused: not in this config.
    // HMAC-signed with the public key as the secret: refused.
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": ISS, "aud": AUD, "iat": now(), "exp": now() + 60, "jti": "h-2"}),
        &EncodingKey::from_secret(&std::fs::read(dir.path().join("emr.pem")).unwrap()),
    )
    .unwrap();
    assert_eq!(post(Some(hs)).await.unwrap().status(), 401);
    let none = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"iss": ISS, "aud": AUD, "iat": now(), "exp": now() + 60, "jti": "h-3"}).to_string())
    );
    assert_eq!(post(Some(none)).await.unwrap().status(), 401);

    // The metrics listener: TLS, no token.
    let ml = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let maddr = ml.local_addr().unwrap();
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder().handle();
    let _m = cdssd::metrics::http::MetricsListener::serve(
        ml,
        handle,
        cdssd::metrics::http::Readiness::new(|| Ok(())),
        &security,
    )
    .unwrap();
    let r = client.get(format!("https://localhost:{}/healthz", maddr.port())).send().await.expect("TLS metrics");
    assert_eq!(r.status(), 200);
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{}/healthz", maddr.port())).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "plaintext refused on a TLS listener");
}

#[tokio::test]
async fn connect_calls_on_the_grpc_port_need_tls_and_a_token_like_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("connect CA");
    server_files(dir.path(), &pki);
    let keys = jwt_keys(dir.path());
    let d = start(settings(dir.path(), &tls_and_jwt(dir.path(), ""))).await;
    let mut roots = rustls::RootCertStore::empty();
    for c in
        <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(pki.ca_pem.as_bytes())
    {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = reqwest::Client::builder().tls_backend_preconfigured(tls).build().unwrap();
    let url = format!("https://localhost:{}/cdss.v1.CdsService/Evaluate", d.addr.port());
    let body = serde_json::to_string(&request("stemi_primary_pci.json")).unwrap();
    let post = |t: Option<String>| {
        let mut r = client.post(&url).header("content-type", "application/json").body(body.clone());
        if let Some(t) = t {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let r = post(None).await.expect("TLS connects");
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!((v["code"].as_str(), v["message"].as_str()), (Some("unauthenticated"), Some("authentication required")));
    let r = post(Some(token(&keys, "c-1", "", 300))).await.unwrap();
    assert_eq!(r.status(), 200);
    let resp: pb::EvaluateResponse = r.json().await.unwrap();
    assert!(!resp.decision.unwrap().findings.is_empty());
    // Admin over Connect needs its scope, as over gRPC.
    let admin = format!("https://localhost:{}/cdss.v1.AdminService/ReloadRules", d.addr.port());
    let r = client
        .post(&admin)
        .header("content-type", "application/json")
        .bearer_auth(token(&keys, "c-2", "", 300))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"], "permission_denied");
    drop(d.pipeline);
}
