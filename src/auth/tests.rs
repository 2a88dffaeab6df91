use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::config::security::IssuerSettings;

const ISS: &str = "https://emr.example/";
const AUD: &str = "https://cdssd.example/";
const NOW: u64 = 1_800_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    key: EncodingKey,
    other: EncodingKey,
    public_pem: Vec<u8>,
    verifier: Verifier,
}

fn settings(keys_file: &str) -> AuthSettings {
    AuthSettings {
        mode: AuthMode::Jwt,
        allow_anonymous: false,
        issuers: vec![IssuerSettings {
            issuer: ISS.into(),
            audience: AUD.into(),
            keys_file: keys_file.into(),
            algorithms: vec!["ES256".into()],
        }],
        leeway_s: 30,
        max_lifetime_s: 3600,
        reject_replayed_jti: true,
        replay_cache_entries: 3,
        evaluate_scope: String::new(),
        audit_scope: "cdssd.audit".into(),
        admin_scope: "cdssd.admin".into(),
    }
}

fn fixture(jwks: bool) -> Fixture {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = if jwks {
        let raw = kp.public_key_raw();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let set = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
            "x": b64.encode(&raw[1..33]), "y": b64.encode(&raw[33..65])}]});
        let p = dir.path().join("jwks.json");
        std::fs::write(&p, set.to_string()).unwrap();
        p
    } else {
        let p = dir.path().join("key.pem");
        std::fs::write(&p, kp.public_key_pem()).unwrap();
        p
    };
    let verifier = Verifier::from_settings(&settings(path.to_str().unwrap())).unwrap().unwrap();
    Fixture {
        key: EncodingKey::from_ec_der(&kp.serialize_der()),
        other: EncodingKey::from_ec_der(&other.serialize_der()),
        public_pem: kp.public_key_pem().into_bytes(),
        verifier,
        _dir: dir,
    }
}

fn claims(jti: &str) -> serde_json::Value {
    json!({"iss": ISS, "aud": AUD, "sub": "emr-1", "tenant": "hosp-a", "iat": NOW - 10, "exp": NOW + 300, "jti": jti,
           "scope": "cdssd.audit"})
}

fn es256(key: &EncodingKey, kid: Option<&str>, c: &serde_json::Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = kid.map(str::to_string);
    format!("Bearer {}", encode(&h, c, key).unwrap())
}

fn check(f: &Fixture, token: &str, access: Access) -> Result<Caller, Refusal> {
    f.verifier.check_at(Some(token), access, NOW)
}

#[test]
fn a_good_token_names_the_caller_for_the_audit() {
    for jwks in [true, false] {
        let f = fixture(jwks);
        let c = check(&f, &es256(&f.key, Some("k1"), &claims("a")), Access::Evaluate).unwrap();
        assert_eq!(c.identity(), "hosp-a/emr-1@https://emr.example/");
        assert_eq!(c.subject, "emr-1");
    }
}

#[test]
fn every_bad_token_is_refused_with_its_reason() {
    let f = fixture(true);
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims(&format!("jti-{k}"));
        c[k] = v;
        c
    };
    let cases: Vec<(&str, String, Refusal)> = vec![
        ("expired", es256(&f.key, None, &with("exp", json!(NOW - 31))), Refusal::Expired),
        ("wrong audience", es256(&f.key, None, &with("aud", json!("https://other/"))), Refusal::Audience),
        ("unknown issuer", es256(&f.key, None, &with("iss", json!("https://evil/"))), Refusal::UnknownIssuer),
        ("not yet valid", es256(&f.key, None, &with("nbf", json!(NOW + 600))), Refusal::NotYetValid),
        ("iat in the future", es256(&f.key, None, &with("iat", json!(NOW + 600))), Refusal::Lifetime),
        ("lifetime too long", es256(&f.key, None, &with("exp", json!(NOW + 7200))), Refusal::Lifetime),
        ("signed by another key", es256(&f.other, None, &claims("x1")), Refusal::Signature),
        ("unknown kid", es256(&f.key, Some("k2"), &claims("x2")), Refusal::UnknownKey),
        ("no jti", es256(&f.key, None, &with("jti", json!(""))), Refusal::MissingJti),
        ("garbage", "Bearer abc.def".into(), Refusal::Malformed),
        ("no bearer", "Basic dXNlcjpwdw==".into(), Refusal::Missing),
    ];
    for (name, token, want) in cases {
        assert_eq!(check(&f, &token, Access::Evaluate).unwrap_err(), want, "{name}");
    }
    assert_eq!(f.verifier.check_at(None, Access::Evaluate, NOW).unwrap_err(), Refusal::Missing);
}

#[test]
fn none_and_hmac_are_refused_even_with_the_public_key_as_secret() {
    let f = fixture(false);
    // Algorithm confusion: HS256 "signed" with the issuer's public key as the shared secret.
    let hs = encode(&Header::new(Algorithm::HS256), &claims("h"), &EncodingKey::from_secret(&f.public_pem)).unwrap();
    assert_eq!(check(&f, &format!("Bearer {hs}"), Access::Evaluate).unwrap_err(), Refusal::Algorithm);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "Bearer {}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims("n").to_string().as_bytes())
    );
    assert_eq!(check(&f, &none, Access::Evaluate).unwrap_err(), Refusal::Algorithm);
}

#[test]
fn a_replayed_jti_is_refused_and_the_cache_is_bounded() {
    let f = fixture(true);
    let t = es256(&f.key, None, &claims("once"));
    assert!(check(&f, &t, Access::Evaluate).is_ok());
    assert_eq!(check(&f, &t, Access::Evaluate).unwrap_err(), Refusal::Replayed);
    assert!(check(&f, &es256(&f.key, None, &claims("two")), Access::Evaluate).is_ok());
    assert!(check(&f, &es256(&f.key, None, &claims("three")), Access::Evaluate).is_ok());
    // Capacity 3: a fourth live jti is refused rather than forgetting one.
    assert_eq!(
        check(&f, &es256(&f.key, None, &claims("four")), Access::Evaluate).unwrap_err(),
        Refusal::ReplayCacheFull
    );
    // Once the first tokens have expired, room comes back.
    let later = NOW + 400;
    let mut c = claims("five");
    c["iat"] = json!(later - 5);
    c["exp"] = json!(later + 100);
    assert!(f.verifier.check_at(Some(&es256(&f.key, None, &c)), Access::Evaluate, later).is_ok());
}

#[test]
fn scopes_gate_audit_reads_and_admin() {
    let f = fixture(true);
    // The fixture's token has cdssd.audit but not cdssd.admin.
    assert!(check(&f, &es256(&f.key, None, &claims("s1")), Access::AuditRead).is_ok());
    assert_eq!(check(&f, &es256(&f.key, None, &claims("s2")), Access::Admin).unwrap_err(), Refusal::Scope);
    let mut c = claims("s3");
    c["scope"] = json!("cdssd.evaluate cdssd.admin");
    assert!(check(&f, &es256(&f.key, None, &c), Access::Admin).is_ok());
    assert!(Refusal::Scope.is_forbidden() && !Refusal::Expired.is_forbidden());
}

#[test]
fn routes_need_the_access_of_their_service() {
    assert_eq!(Access::for_grpc_path("/grpc.health.v1.Health/Check"), Access::Open);
    assert_eq!(Access::for_grpc_path("/cdss.v1.CdsService/Evaluate"), Access::Evaluate);
    assert_eq!(Access::for_grpc_path("/cdss.v1.AdminService/ReloadRules"), Access::Admin);
    assert_eq!(Access::for_grpc_path("/cdss.v1.AuditService/Feedback"), Access::Evaluate);
    assert_eq!(Access::for_grpc_path("/cdss.v1.AuditService/GetDecision"), Access::AuditRead);
    assert_eq!(Access::for_grpc_path("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"), Access::Open);
    assert_eq!(Access::for_grpc_path("/cdss.v1.Unknown/Method"), Access::Evaluate);
}
