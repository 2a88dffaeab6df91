//! An issuer's public keys: a JWKS file (RSA and EC keys) or one PEM public key or
//! certificate.

use std::path::Path;

use jsonwebtoken::{
    jwk::{AlgorithmParameters, JwkSet},
    Algorithm, DecodingKey,
};

/// A keys file that cannot be used (`path`: the file; never key material).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct KeyError {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
}

/// One verification key.
pub(super) struct Key {
    kid: Option<String>,
    family: Family,
    pub(super) decoding: DecodingKey,
}

impl Key {
    /// Whether this key can verify a token signed with `alg` naming `kid`.
    pub(super) fn fits(&self, alg: Algorithm, kid: Option<&str>) -> bool {
        let family = match alg {
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 | Algorithm::PS384 => Family::Rsa,
            Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
            _ => return false,
        };
        family == self.family && (kid.is_none() || self.kid.is_none() || self.kid.as_deref() == kid)
    }
}

/// Read the keys of `path` (`.json`: JWKS; otherwise PEM).
pub(super) fn load(path: &Path) -> Result<Vec<Key>, KeyError> {
    let err = |message: String| KeyError { path: path.display().to_string(), message };
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let keys = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        let set: JwkSet = serde_json::from_slice(&bytes).map_err(|e| err(format!("not a JWKS: {e}")))?;
        let mut keys = Vec::new();
        for (i, jwk) in set.keys.iter().enumerate() {
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Family::Rsa,
                AlgorithmParameters::EllipticCurve(_) => Family::Ec,
                _ => return Err(err(format!("keys[{i}]: only RSA and EC public keys are accepted"))),
            };
            let decoding = DecodingKey::from_jwk(jwk).map_err(|e| err(format!("keys[{i}]: {e}")))?;
            keys.push(Key { kid: jwk.common.key_id.clone(), family, decoding });
        }
        keys
    } else if let Ok(k) = DecodingKey::from_ec_pem(&bytes) {
        vec![Key { kid: None, family: Family::Ec, decoding: k }]
    } else if let Ok(k) = DecodingKey::from_rsa_pem(&bytes) {
        vec![Key { kid: None, family: Family::Rsa, decoding: k }]
    } else {
        return Err(err("not a PEM RSA or EC public key (or a .json JWKS)".into()));
    };
    if keys.is_empty() {
        return Err(err("holds no key".into()));
    }
    Ok(keys)
}
