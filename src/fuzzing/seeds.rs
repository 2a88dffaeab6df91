//! Seed inputs of every target, read from the repository's own files (examples/, rules/,
//! models/, deploy/, prompts/, kb/): the smoke run mutates them and
//! `scripts/fuzz-corpus.sh` writes them as the cargo-fuzz corpus.

use std::path::Path;

use prost::Message;

/// Every target, by the name of its cargo-fuzz binary.
pub const TARGETS: [&str; 11] = [
    "proto_request",
    "json_request",
    "fhir_bundle",
    "value_set",
    "mapping",
    "manifest",
    "config",
    "prompt_template",
    "kb_passage",
    "jwt",
    "rules",
];

fn files(dir: &Path, ext: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn subdir_files(dir: &Path, name: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join(name)))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// The seeds of `target` under the repository `root`; empty for an unknown target.
pub fn seeds(root: &Path, target: &str) -> Vec<Vec<u8>> {
    let encounters = files(&root.join("examples/encounters"), "json");
    match target {
        "proto_request" => encounters
            .iter()
            .filter_map(|j| crate::encounter::request_from_json(std::str::from_utf8(j).ok()?).ok())
            .map(|mut r| {
                r.trigger = crate::proto::v1::Trigger::Discharge as i32;
                r.encode_to_vec()
            })
            .collect(),
        "json_request" => encounters,
        "fhir_bundle" => {
            let mut v = files(&root.join("examples/fhir"), "json");
            v.extend(files(&root.join("tests/data/fhir/synthetic"), "json").into_iter().filter(|b| b.len() < 20_000));
            v
        }
        "value_set" => files(&root.join("rules/valuesets"), "toml"),
        "mapping" => {
            [files(&root.join("rules/mappings"), "toml"), files(&root.join("examples/mappings"), "toml")].concat()
        }
        "manifest" => subdir_files(&root.join("models"), "manifest.toml"),
        "config" => {
            let mut v = vec![crate::config::EMBEDDED_DEFAULTS.as_bytes().to_vec()];
            for d in ["deploy/systemd", "deploy/llm", "deploy/kubernetes/base"] {
                v.extend(files(&root.join(d), "toml"));
            }
            v
        }
        "prompt_template" => files(&root.join("prompts"), "toml"),
        "kb_passage" => files(&root.join("kb"), "toml"),
        "jwt" => {
            let now = chrono::Utc::now().timestamp();
            let claims = serde_json::json!({"iss": super::jwt::ISSUER, "aud": super::jwt::AUDIENCE, "sub": "emr-1",
                "tenant": "hosp-a", "iat": now - 10, "exp": now + 300, "jti": "seed-1", "scope": "cdssd.admin"});
            let mut v = Vec::new();
            for mode in [2u8, 3, 5] {
                v.push([&[mode][..], claims.to_string().as_bytes()].concat());
            }
            v.push([&[4u8][..], br#"{"alg":"ES256","typ":"JWT","kid":"k1"}"#].concat());
            v.push([&[4u8][..], br#"{"alg":"none"}"#].concat());
            v.push([&[0u8][..], b"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."].concat());
            v.push([&[1u8][..], b"Bearer a.b.c"].concat());
            v
        }
        "rules" => (0..encounters.len() as u8).map(|i| vec![i, i.wrapping_mul(3), i, 7, 1]).collect(),
        _ => Vec::new(),
    }
}
