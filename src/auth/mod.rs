//! Caller authentication and authorisation: a bearer JWT on every call, verified
//! against the configured issuers (`[auth]`), and the scope each RPC needs.
//!
//! Transports only adapt: the gRPC edge (`server/auth.rs`) and the HTTP listener
//! (`web/`) hand the `authorization` header and the [`Access`] of the route to
//! [`Verifier::check`] and map a [`Refusal`] to their status once. Refusals say nothing
//! to the caller beyond "authentication required" / "not permitted"; the reason goes to
//! `cdssd_auth_refusals_total{reason}` and the log (never the token).

mod keys;
mod replay;
#[cfg(test)]
mod tests;

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use crate::config::security::{AuthMode, AuthSettings};

pub use keys::KeyError;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Health checks and reflection: no token (probes, load balancers, the contract).
    Open,
    /// Evaluation and feedback: a valid token with `auth.evaluate_scope` (when set).
    Evaluate,
    /// Reading recorded decisions: `auth.audit_scope`.
    AuditRead,
    /// Reloads and other operations: `auth.admin_scope`.
    Admin,
}

impl Access {
    /// The access a gRPC method path (`/package.Service/Method`) needs.
    pub fn for_grpc_path(path: &str) -> Access {
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let service = parts.next().unwrap_or("");
        let method = parts.next().unwrap_or("");
        match service {
            // Health for probes; reflection serves the published contract (proto/) and
            // nothing else, and tools (grpcurl, buf curl) reflect before each call.
            "grpc.health.v1.Health"
            | "grpc.reflection.v1.ServerReflection"
            | "grpc.reflection.v1alpha.ServerReflection" => Access::Open,
            "cdss.v1.AdminService" => Access::Admin,
            "cdss.v1.AuditService" if method == "Feedback" => Access::Evaluate,
            "cdss.v1.AuditService" => Access::AuditRead,
            _ => Access::Evaluate,
        }
    }
}

/// Why a call was refused: the label of `cdssd_auth_refusals_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted (none, HMAC or not configured)")]
    Algorithm,
    #[error("the token's issuer is not configured")]
    UnknownIssuer,
    #[error("no key of the issuer matches the token")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's lifetime is longer than auth.max_lifetime_s or its iat is in the future")]
    Lifetime,
    #[error("the token is not for this audience")]
    Audience,
    #[error("the token has no jti")]
    MissingJti,
    #[error("the token's jti was used before")]
    Replayed,
    #[error("the replay cache is full")]
    ReplayCacheFull,
    #[error("the token lacks the scope this call needs")]
    Scope,
}

impl Refusal {
    /// Every refusal, for the metric's initial series.
    pub const ALL: [Refusal; 14] = [
        Refusal::Missing,
        Refusal::Malformed,
        Refusal::Algorithm,
        Refusal::UnknownIssuer,
        Refusal::UnknownKey,
        Refusal::Signature,
        Refusal::Expired,
        Refusal::NotYetValid,
        Refusal::Lifetime,
        Refusal::Audience,
        Refusal::MissingJti,
        Refusal::Replayed,
        Refusal::ReplayCacheFull,
        Refusal::Scope,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::Algorithm => "algorithm",
            Refusal::UnknownIssuer => "unknown_issuer",
            Refusal::UnknownKey => "unknown_key",
            Refusal::Signature => "signature",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::Lifetime => "lifetime",
            Refusal::Audience => "audience",
            Refusal::MissingJti => "missing_jti",
            Refusal::Replayed => "replayed",
            Refusal::ReplayCacheFull => "replay_cache_full",
            Refusal::Scope => "scope",
        }
    }

    /// True when the caller is known but not allowed (PERMISSION_DENIED / 403); otherwise
    /// the caller is not authenticated (UNAUTHENTICATED / 401).
    pub fn is_forbidden(self) -> bool {
        self == Refusal::Scope
    }

    /// The one text a refused caller sees.
    pub fn public_message(self) -> &'static str {
        if self.is_forbidden() {
            "not permitted"
        } else {
            "authentication required"
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub issuer: String,
    /// `sub`, else `client_id`.
    pub subject: String,
    /// `tenant` claim (a hospital or site), if any.
    pub tenant: Option<String>,
}

impl Caller {
    /// How the audit records the caller: `tenant/subject@issuer`, bounded and printable.
    pub fn identity(&self) -> String {
        let raw = match &self.tenant {
            Some(t) => format!("{t}/{}@{}", self.subject, self.issuer),
            None => format!("{}@{}", self.subject, self.issuer),
        };
        raw.chars().filter(|c| c.is_ascii_graphic()).take(200).collect()
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    exp: u64,
    iat: u64,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<Vec<String>>,
}

impl Claims {
    fn has_scope(&self, want: &str) -> bool {
        want.is_empty()
            || self.scope.as_deref().is_some_and(|s| s.split_whitespace().any(|x| x == want))
            || self.scp.as_ref().is_some_and(|v| v.iter().any(|x| x == want))
    }
}

struct Issuer {
    iss: String,
    aud: String,
    algorithms: Vec<Algorithm>,
    keys: Vec<keys::Key>,
}

/// Verifies bearer tokens against the configured issuers.
pub struct Verifier {
    issuers: Vec<Issuer>,
    leeway: u64,
    max_lifetime: u64,
    /// Shared by the verifiers a reload builds: a reload never forgets a `jti`.
    replay: Option<std::sync::Arc<replay::ReplayCache>>,
    evaluate_scope: String,
    audit_scope: String,
    admin_scope: String,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("issuers", &self.issuers.len()).finish_non_exhaustive()
    }
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Verifier {
    /// The verifier `[auth]` asks for: `None` with mode = "off". Reads every issuer's
    /// keys file; fails with the first file that cannot be used.
    pub fn from_settings(s: &AuthSettings) -> Result<Option<Self>, KeyError> {
        if s.mode == AuthMode::Off {
            return Ok(None);
        }
        let mut issuers = Vec::with_capacity(s.issuers.len());
        for is in &s.issuers {
            let algorithms: Vec<Algorithm> = is.algorithms.iter().filter_map(|a| a.parse().ok()).collect();
            issuers.push(Issuer {
                iss: is.issuer.clone(),
                aud: is.audience.clone(),
                keys: keys::load(std::path::Path::new(&is.keys_file))?,
                algorithms,
            });
        }
        Ok(Some(Self {
            issuers,
            leeway: s.leeway_s,
            max_lifetime: s.max_lifetime_s,
            replay: s
                .reject_replayed_jti
                .then(|| std::sync::Arc::new(replay::ReplayCache::new(s.replay_cache_entries))),
            evaluate_scope: s.evaluate_scope.clone(),
            audit_scope: s.audit_scope.clone(),
            admin_scope: s.admin_scope.clone(),
        }))
    }

    /// A verifier with the issuers' keys re-read and the same replay cache.
    pub fn reloaded(&self, s: &AuthSettings) -> Result<Option<Self>, KeyError> {
        Ok(Self::from_settings(s)?.map(|mut v| {
            v.replay = self.replay.clone();
            v
        }))
    }

    /// Check the `authorization` header value of a call that needs `access`.
    pub fn check(&self, authorization: Option<&str>, access: Access) -> Result<Caller, Refusal> {
        self.check_at(authorization, access, now_s())
    }

    fn check_at(&self, authorization: Option<&str>, access: Access, now: u64) -> Result<Caller, Refusal> {
        if access == Access::Open {
            return Ok(Caller { issuer: String::new(), subject: "anonymous".into(), tenant: None });
        }
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::Missing)?;
        if token.len() > 16 * 1024 {
            return Err(Refusal::Malformed);
        }
        let (alg, kid, iss) = peek(token)?;
        let issuer = self.issuers.iter().find(|i| i.iss == iss).ok_or(Refusal::UnknownIssuer)?;
        let alg: Algorithm = alg.parse().map_err(|_| Refusal::Algorithm)?;
        if !issuer.algorithms.contains(&alg) {
            return Err(Refusal::Algorithm);
        }
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.leeway = self.leeway;
        validation.set_issuer(&[&issuer.iss]);
        validation.set_audience(&[&issuer.aud]);
        // Times are checked below against one clock (`now`), with one leeway.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        let candidates = issuer.keys.iter().filter(|k| k.fits(alg, kid.as_deref()));
        let mut last = Refusal::UnknownKey;
        let mut claims = None;
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    last = match e.kind() {
                        K::InvalidSignature => Refusal::Signature,
                        K::ExpiredSignature => Refusal::Expired,
                        K::ImmatureSignature => Refusal::NotYetValid,
                        K::InvalidAudience => Refusal::Audience,
                        K::InvalidIssuer => Refusal::UnknownIssuer,
                        K::InvalidAlgorithm => Refusal::Algorithm,
                        _ => Refusal::Malformed,
                    };
                    // Claims problems do not depend on the key: stop at the first.
                    if last != Refusal::Signature {
                        return Err(last);
                    }
                }
            }
        }
        let claims = claims.ok_or(last)?;
        if now > claims.exp + self.leeway {
            return Err(Refusal::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + self.leeway) {
            return Err(Refusal::NotYetValid);
        }
        if claims.iat > now + self.leeway || claims.exp.saturating_sub(claims.iat) > self.max_lifetime {
            return Err(Refusal::Lifetime);
        }
        let needed = match access {
            Access::Open => "",
            Access::Evaluate => self.evaluate_scope.as_str(),
            Access::AuditRead => self.audit_scope.as_str(),
            Access::Admin => self.admin_scope.as_str(),
        };
        if !claims.has_scope(needed) {
            return Err(Refusal::Scope);
        }
        if let Some(cache) = &self.replay {
            let jti = claims.jti.as_deref().filter(|j| !j.is_empty()).ok_or(Refusal::MissingJti)?;
            cache.first_use(&claims.iss, jti, claims.exp + self.leeway, now)?;
        }
        let subject = claims.sub.or(claims.client_id).unwrap_or_else(|| "unknown".into());
        Ok(Caller { issuer: claims.iss, subject, tenant: claims.tenant })
    }
}

/// The header's `alg` and `kid` and the payload's `iss`, read before any key is chosen.
/// `none` and HMAC are refused here, whatever the issuer says.
fn peek(token: &str) -> Result<(String, Option<String>, String), Refusal> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(_sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Refusal::Malformed);
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: serde_json::Value =
        serde_json::from_slice(&b64.decode(h).map_err(|_| Refusal::Malformed)?).map_err(|_| Refusal::Malformed)?;
    let alg = header.get("alg").and_then(|a| a.as_str()).ok_or(Refusal::Malformed)?.to_string();
    if alg.eq_ignore_ascii_case("none") || alg.to_ascii_uppercase().starts_with("HS") {
        return Err(Refusal::Algorithm);
    }
    let kid = header.get("kid").and_then(|k| k.as_str()).map(str::to_string);
    let payload: serde_json::Value =
        serde_json::from_slice(&b64.decode(p).map_err(|_| Refusal::Malformed)?).map_err(|_| Refusal::Malformed)?;
    let iss = payload.get("iss").and_then(|i| i.as_str()).ok_or(Refusal::Malformed)?.to_string();
    Ok((alg, kid, iss))
}
