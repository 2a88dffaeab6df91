//! Target `jwt`: bearer-token parsing and verification ([`crate::auth::Verifier::check`])
//! with one configured ES256 issuer whose key the harness holds, so fuzzed *claims* and
//! *headers* reach the checks behind the signature, and fuzzed raw tokens exercise the
//! parser.

use base64::Engine;
use ring::{
    rand::SystemRandom,
    signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING},
};

use super::Verdict;
use crate::{
    auth::{Access, Verifier},
    config::security::{AuthMode, AuthSettings, IssuerSettings},
};

/// The issuer and audience the harness verifier accepts.
pub const ISSUER: &str = "https://emr.fuzz.example/";
pub const AUDIENCE: &str = "https://cdssd.fuzz.example/";

/// A verifier and the private key of its one issuer.
pub struct JwtHarness {
    verifier: Verifier,
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for JwtHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtHarness").finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl JwtHarness {
    /// A fresh P-256 key; its JWKS is written to a temporary file only while the verifier
    /// reads it. The replay cache is off so that an input replays the same way.
    pub fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key generation");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("own key");
        let public = key.public_key().as_ref();
        let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
            "x": b64(&public[1..33]), "y": b64(&public[33..65])}]});
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("cdssd-fuzz-jwks-{}-{n}.json", std::process::id()));
        std::fs::write(&path, jwks.to_string()).expect("write the temporary JWKS");
        let settings = AuthSettings {
            mode: AuthMode::Jwt,
            allow_anonymous: false,
            issuers: vec![IssuerSettings {
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                keys_file: path.to_string_lossy().into_owned(),
                algorithms: vec!["ES256".into()],
            }],
            leeway_s: 30,
            max_lifetime_s: 3600,
            reject_replayed_jti: false,
            replay_cache_entries: 16,
            evaluate_scope: String::new(),
            audit_scope: "cdssd.audit".into(),
            admin_scope: "cdssd.admin".into(),
        };
        let verifier = Verifier::from_settings(&settings);
        let _ = std::fs::remove_file(&path);
        let verifier = verifier.expect("the harness JWKS loads").expect("mode jwt");
        Self { verifier, key, rng }
    }

    /// `header.claims` signed with the harness key (a JWS compact serialisation).
    pub fn sign(&self, header: &[u8], claims: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let sig = self.key.sign(&self.rng, input.as_bytes()).expect("signing");
        format!("{input}.{}", b64(sig.as_ref()))
    }

    /// The first byte picks the mode: 0–1 the rest is the `authorization` value itself
    /// (never accepted: nothing forges the harness key); 2–3 the rest is the claims JSON
    /// of a correctly signed ES256 token; otherwise the rest is the header JSON of a
    /// token with valid claims. A refusal is a value with a public message; an accepted
    /// token names the configured issuer.
    pub fn check(&self, data: &[u8]) -> Verdict {
        let Some((&mode, rest)) = data.split_first() else { return Verdict::Rejected };
        let access = [Access::Evaluate, Access::AuditRead, Access::Admin][mode as usize % 3];
        let header_value = match mode % 6 {
            0 | 1 => {
                let raw = String::from_utf8_lossy(rest);
                let r = self.verifier.check(Some(&raw), access);
                assert!(r.is_err(), "an unsigned fuzzed token was accepted");
                return Verdict::Rejected;
            }
            2 | 3 => format!("Bearer {}", self.sign(br#"{"alg":"ES256","typ":"JWT","kid":"k1"}"#, rest)),
            _ => {
                let now = chrono::Utc::now().timestamp();
                let claims = serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "fuzz", "iat": now - 5,
                    "exp": now + 300, "jti": "fuzz-1", "scope": "cdssd.audit cdssd.admin"});
                format!("Bearer {}", self.sign(rest, claims.to_string().as_bytes()))
            }
        };
        match self.verifier.check(Some(&header_value), access) {
            Ok(caller) => {
                assert_eq!(caller.issuer, ISSUER, "accepted a token of another issuer");
                Verdict::Accepted
            }
            Err(refusal) => {
                assert!(!refusal.public_message().is_empty(), "a refusal without a public message");
                Verdict::Rejected
            }
        }
    }
}

impl Default for JwtHarness {
    fn default() -> Self {
        Self::new()
    }
}
