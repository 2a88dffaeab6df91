//! The evaluation gate (`cdssd llm eval`), run as CI runs it: the real binary over the
//! nine example encounters of `eval/cases.toml` against the REAL tiny demo model
//! (SmolLM2-135M via xllamacpp, scripts/setup-llm.sh). That model's drafts must all be
//! `invalid` with a reason — never `ok` — and retrieval must return each case's
//! expected passages; the command exits non-zero otherwise.

use std::process::Command;

use super::{llm_support::demo_llm_base, support};

#[test]
fn the_tiny_model_gives_no_ok_draft_on_the_nine_examples() {
    let base = demo_llm_base();
    let out = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .current_dir(support::root())
        .args(["llm", "eval", "eval/cases.toml", "--only", "example"])
        .args(["--max-ok", "0", "--all-invalid-with-reason", "--require-retrieval"])
        .env("CDSSD__LLM__BASE_URL", &base)
        // A short prompt and answer: on a 2-core machine shared with builds the tiny model
        // reads prompts at 5-100 tokens/s; a draft that times out would not be `invalid`.
        .env("CDSSD__LLM__FIRST_TOKEN_TIMEOUT_MS", "600000")
        .env("CDSSD__LLM__TOTAL_TIMEOUT_MS", "900000")
        .env("CDSSD__LLM__MAX_TOKENS", "250")
        .env("CDSSD__LLM__MAX_PROMPT_ITEMS_PER_LIST", "2")
        .env("CDSSD__LLM__TEMPERATURE", "0")
        .env("CDSSD__LLM__CACHE_TTL_S", "0")
        .output()
        .expect("cdssd runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the gate fails:\n{stdout}\n{stderr}");
    assert!(stdout.contains("cases 9  ok 0  invalid 9  other 0"), "{stdout}");
    for id in [
        "stemi_primary_pci",
        "stemi_in_progress",
        "stroke_thrombolysis",
        "septic_shock",
        "pneumonia_cap",
        "heart_failure",
        "vte_medical_inpatient",
        "elective_surgery",
        "outpatient_visit",
    ] {
        let line =
            stdout.lines().find(|l| l.starts_with(&format!("{id} "))).unwrap_or_else(|| panic!("{id}: {stdout}"));
        assert!(line.contains(" invalid ") && line.contains("invalid LLM output after"), "{line}");
    }
    assert!(stdout.contains("retrieval as expected 9/9"), "{stdout}");
}

#[test]
fn a_missed_threshold_fails_the_gate_with_its_reason() {
    // No LLM listening: every draft is `unavailable`, so "all invalid" and "ok rate" miss.
    let out = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .current_dir(support::root())
        .args(["llm", "eval", "eval/cases.toml", "--case", "pneumonia_cap", "--case", "outpatient_visit"])
        .args(["--all-invalid-with-reason", "--min-ok-rate", "0.5"])
        .env("CDSSD__LLM__BASE_URL", "http://127.0.0.1:9/v1")
        .env("CDSSD__LLM__RETRIES", "0")
        .output()
        .expect("cdssd runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("cases 2  ok 0  invalid 0  other 2"), "{stdout}");
    assert!(stderr.contains("gate: ok rate 0.00 < 0.50"), "{stderr}");
    assert!(stderr.contains("gate: pneumonia_cap: unavailable (expected invalid with a reason)"), "{stderr}");
    // A cases file that does not parse: path:line:col.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cases.toml");
    std::fs::write(&bad, "[[case]]\nid = \"x\"\nencounter = \"a.json\"\nlocale = \"fr\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cdssd")).args(["llm", "eval"]).arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cases.toml:4:10: language 'fr' is not supported"), "{stderr}");
}
