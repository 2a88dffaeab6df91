//! SAFETY.md: no LLM draft unless a deployment enables it. With the embedded defaults a
//! request that does not say gets no draft (the LLM is not called); the quick start's
//! `deploy/llm/demo.toml` enables drafts explicitly; a request may still ask. Real binary,
//! `cdssd evaluate`; the configured LLM endpoint is a closed loopback port, so an attempted
//! draft comes back UNAVAILABLE and one never attempted DISABLED.

use std::process::Command;

use crate::daemon::root;

fn suggestion_status(file: &str, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .current_dir(root())
        .args(["evaluate", file, "--format", "json"])
        .args(extra)
        .env_remove("CDSSD_CONFIG")
        .env("CDSSD__LLM__BASE_URL", "http://127.0.0.1:9/v1")
        .env("CDSSD__LLM__RETRIES", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    d["suggestion"]["status"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_embedded_default_drafts_nothing_the_demo_config_enables_drafts_a_request_may_ask() {
    let stemi = "examples/encounters/stemi_primary_pci.json";
    assert_eq!(suggestion_status(stemi, &[]), "SUGGESTION_STATUS_DISABLED", "embedded default: no draft");
    assert_eq!(
        suggestion_status(stemi, &["--config", "deploy/llm/demo.toml"]),
        "SUGGESTION_STATUS_UNAVAILABLE",
        "the quick start's demo config asks the LLM"
    );
    let encounter: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(stemi)).unwrap()).unwrap();
    let req = serde_json::json!({"encounter": encounter, "options": {"llm": "LLM_MODE_REQUEST"}});
    let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    std::fs::write(file.path(), req.to_string()).unwrap();
    let path = file.path().display().to_string();
    assert_eq!(suggestion_status(&path, &[]), "SUGGESTION_STATUS_UNAVAILABLE", "an explicit request asks");
}
