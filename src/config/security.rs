//! The `[tls]` and `[auth]` configuration sections and their validation: transport
//! security of every listener and the callers' bearer JWTs.

use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigProblem;

/// `[tls]`: one server identity for every listener (gRPC, HTTP, metrics).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain of the server ("" = plaintext).
    pub cert_file: String,
    /// PEM private key of the server (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// PEM bundle of the CAs that sign client certificates; "" = no client certificates
    /// asked for; set = mutual TLS on every listener (a client without a valid
    /// certificate is refused at the handshake).
    pub client_ca_file: String,
    /// With mutual TLS: the client identities let in, as DNS names (or IP addresses) that
    /// must appear in the client certificate's subjectAltName; empty = any certificate
    /// the CAs signed.
    pub allowed_clients: Vec<String>,
    /// Serve plaintext on a non-loopback address (behind a TLS-terminating proxy).
    /// Refused at start otherwise; the daemon warns loudly when this is on.
    pub allow_plaintext: bool,
}

impl TlsSettings {
    /// True when the listeners speak TLS.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }
}

/// How callers authenticate.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No caller authentication: only on loopback (the quick start), or with
    /// `auth.allow_anonymous` behind a gateway that authenticates.
    Off,
    /// A bearer JWT on every call (`authorization: Bearer …`).
    Jwt,
}

/// One trusted token issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// The `iss` claim it signs with, exactly.
    pub issuer: String,
    /// The `aud` the token must name (this service's identifier, e.g. its URL).
    pub audience: String,
    /// Its public keys: a JWKS file (`.json`, RSA and EC keys with `kid`) or a PEM public
    /// key / certificate (`.pem`).
    pub keys_file: String,
    /// Accepted algorithms (RS256, RS384, ES256, ES384). `none` and HMAC (HS*) are never
    /// accepted: a shared secret would let any holder mint tokens (CDS Hooks forbids them).
    pub algorithms: Vec<String>,
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// With mode = "off" on a non-loopback address: acknowledge that a gateway in front
    /// authenticates callers. Refused at start otherwise.
    pub allow_anonymous: bool,
    pub issuers: Vec<IssuerSettings>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, seconds.
    pub leeway_s: u64,
    /// Longest token lifetime accepted (`exp` − `iat`), seconds: bounds the replay cache.
    pub max_lifetime_s: u64,
    /// A `jti` seen before (within its token's lifetime) is refused: one token per call,
    /// as CDS Hooks clients send.
    pub reject_replayed_jti: bool,
    /// Most `jti`s remembered; beyond it new tokens are refused until old ones expire.
    pub replay_cache_entries: usize,
    /// Scope a token needs for `CdsService` and `AuditService.Feedback` ("" = any valid token).
    pub evaluate_scope: String,
    /// Scope for reading recorded decisions (`AuditService.GetDecision`, `GetEncounterHistory`).
    pub audit_scope: String,
    /// Scope for `AdminService` (reloads).
    pub admin_scope: String,
}

pub(super) const ALGORITHMS: &[&str] = &["RS256", "RS384", "ES256", "ES384"];

fn is_loopback(addr: &str) -> bool {
    addr.parse::<SocketAddr>().map(|a| a.ip().is_loopback()).unwrap_or(true)
}

/// Every problem of the two sections; `listeners` are the configured addresses
/// (key, address) of the enabled listeners.
pub(super) fn validate(tls: &TlsSettings, auth: &AuthSettings, listeners: &[(&str, &str)]) -> Vec<ConfigProblem> {
    let mut p = Vec::new();
    let mut bad = |key: &str, message: String| p.push(ConfigProblem::new(key, message));
    if tls.enabled() && tls.key_file.is_empty() {
        bad("tls.key_file", "is required with tls.cert_file".into());
    }
    if !tls.enabled() && !tls.key_file.is_empty() {
        bad("tls.cert_file", "is required with tls.key_file".into());
    }
    if !tls.client_ca_file.is_empty() && !tls.enabled() {
        bad("tls.client_ca_file", "mutual TLS needs tls.cert_file and tls.key_file".into());
    }
    if !tls.allowed_clients.is_empty() && tls.client_ca_file.is_empty() {
        bad("tls.allowed_clients", "needs tls.client_ca_file (client certificates)".into());
    }
    for (i, c) in tls.allowed_clients.iter().enumerate() {
        if rustls::pki_types::ServerName::try_from(c.as_str()).is_err() {
            bad(&format!("tls.allowed_clients[{i}]"), format!("`{c}` is not a DNS name or IP address"));
        }
    }
    for (key, addr) in listeners {
        if !tls.enabled() && !tls.allow_plaintext && !is_loopback(addr) {
            bad(
                key,
                format!(
                    "`{addr}` is not a loopback address and TLS is off: set tls.cert_file and tls.key_file, \
                     or tls.allow_plaintext = true behind a TLS-terminating proxy"
                ),
            );
        }
        if auth.mode == AuthMode::Off && !auth.allow_anonymous && !is_loopback(addr) && *key != "metrics.listen" {
            bad(
                key,
                format!(
                    "`{addr}` is not a loopback address and auth.mode = \"off\": set auth.mode = \"jwt\" with \
                     auth.issuers, or auth.allow_anonymous = true behind an authenticating gateway"
                ),
            );
        }
    }
    if auth.mode == AuthMode::Jwt && auth.issuers.is_empty() {
        bad("auth.issuers", "auth.mode = \"jwt\" needs at least one issuer".into());
    }
    for (i, is) in auth.issuers.iter().enumerate() {
        let key = |k: &str| format!("auth.issuers[{i}].{k}");
        if is.issuer.trim().is_empty() {
            bad(&key("issuer"), "must not be empty".into());
        }
        if is.audience.trim().is_empty() {
            bad(&key("audience"), "must not be empty".into());
        }
        if is.keys_file.trim().is_empty() {
            bad(&key("keys_file"), "must name a JWKS (.json) or PEM (.pem) file".into());
        }
        if is.algorithms.is_empty() {
            bad(&key("algorithms"), format!("must name at least one of {}", ALGORITHMS.join(", ")));
        }
        for (j, a) in is.algorithms.iter().enumerate() {
            if !ALGORITHMS.contains(&a.as_str()) {
                let why = if a.eq_ignore_ascii_case("none") || a.to_ascii_uppercase().starts_with("HS") {
                    " (unsigned and shared-secret tokens are never accepted)"
                } else {
                    ""
                };
                bad(
                    &format!("auth.issuers[{i}].algorithms[{j}]"),
                    format!("`{a}` is not one of {}{why}", ALGORITHMS.join(", ")),
                );
            }
        }
    }
    if auth.leeway_s > 300 {
        bad("auth.leeway_s", format!("{} is outside 0..=300", auth.leeway_s));
    }
    if auth.max_lifetime_s == 0 || auth.max_lifetime_s > 86_400 {
        bad("auth.max_lifetime_s", format!("{} is outside 1..=86400", auth.max_lifetime_s));
    }
    if auth.replay_cache_entries == 0 || auth.replay_cache_entries > 10_000_000 {
        bad("auth.replay_cache_entries", format!("{} is outside 1..=10000000", auth.replay_cache_entries));
    }
    p
}
