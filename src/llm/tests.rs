//! Unit tests of the LLM module's pure parts: SSE parsing, breaker state
//! machine, cache, scrubber, template, prompt de-identification, validation.

use std::time::{Duration, Instant};

use super::{
    breaker::{Breaker, BreakerState},
    cache::TtlCache,
    client::{parse_completion, ApiKey, CallError},
    prompt::{self, age_text, relative, PromptOptions},
    scrub::scrub,
    sse::SseParser,
    template::{PromptTemplate, EMBEDDED_TEMPLATE},
    validate::{self, is_icd10, DraftSchema, InvalidOutput, RefIndex},
};
use crate::{decision::FastPart, encounter, proto::v1 as pb};

fn example(name: &str) -> encounter::Encounter {
    let path = format!("{}/examples/encounters/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("example exists");
    let pb_enc = encounter::encounter_from_json(&text).expect("example parses");
    let now = chrono::DateTime::from_timestamp(1_900_000_000, 0).expect("valid time");
    let limits = encounter::Limits {
        max_items_per_list: 2000,
        max_text_bytes: 1024,
        max_note_bytes: 65536,
        future_tolerance: chrono::Duration::seconds(300),
        local_code_systems: vec!["LOCAL".into()],
    };
    encounter::from_proto(&pb_enc, &limits, now).expect("example is valid")
}

fn valid_draft() -> serde_json::Value {
    serde_json::json!({
        "differential": [
            {"condition": "Acute anterior STEMI", "icd10": "I21.0", "likelihood": "high",
             "supporting": ["labs/1", "diagnoses/1"], "contradicting": [], "citations": ["stemi.reperfusion"]},
            {"condition": "Pericarditis", "icd10": "I30.9", "likelihood": "low",
             "supporting": [], "contradicting": ["labs/99"], "citations": []}
        ],
        "next_steps": [{"step": "Repeat troponin", "citations": []}],
        "red_flags": ["Hypotension"],
        "summary": "Draft."
    })
}

#[test]
fn sse_parser_handles_split_chunks_comments_and_done() {
    let mut p = SseParser::default();
    let mut events = p.push(b": ping\n\ndata: {\"a\"");
    assert!(events.is_empty());
    events.extend(p.push(b":1}\r\n\r\ndata: [DONE]\n"));
    events.extend(p.finish());
    assert_eq!(events, vec!["{\"a\":1}".to_string(), "[DONE]".to_string()]);
}

#[test]
fn sse_parser_joins_multiline_data() {
    let mut p = SseParser::default();
    let events = p.push(b"event: x\ndata: one\ndata: two\n\n");
    assert_eq!(events, vec!["one\ntwo".to_string()]);
}

#[test]
fn breaker_opens_after_threshold_then_half_opens_and_closes() {
    let b = Breaker::new(3, Duration::from_secs(10));
    let t0 = Instant::now();
    for _ in 0..2 {
        b.acquire(t0).expect("closed").failure(t0);
        assert_eq!(b.state(t0), BreakerState::Closed);
    }
    b.acquire(t0).expect("closed").failure(t0);
    assert_eq!(b.state(t0), BreakerState::Open);
    assert!(b.acquire(t0 + Duration::from_secs(5)).is_err());
    let later = t0 + Duration::from_secs(11);
    assert_eq!(b.state(later), BreakerState::HalfOpen);
    let probe = b.acquire(later).expect("one probe");
    assert!(probe.is_probe());
    assert!(b.acquire(later).is_err(), "only one probe at a time");
    probe.success(later);
    assert_eq!(b.state(later), BreakerState::Closed);
}

#[test]
fn breaker_failed_probe_reopens_and_abandoned_probe_frees_the_slot() {
    let b = Breaker::new(1, Duration::from_secs(10));
    let t0 = Instant::now();
    b.acquire(t0).expect("closed").failure(t0);
    let t1 = t0 + Duration::from_secs(11);
    drop(b.acquire(t1).expect("probe"));
    let probe = b.acquire(t1).expect("abandoned probe frees the slot");
    probe.failure(t1);
    assert_eq!(b.state(t1), BreakerState::Open);
    assert_eq!(b.state(t1 + Duration::from_secs(11)), BreakerState::HalfOpen);
}

#[test]
fn breaker_success_resets_the_failure_count() {
    let b = Breaker::new(2, Duration::from_secs(10));
    let t0 = Instant::now();
    b.acquire(t0).unwrap().failure(t0);
    b.acquire(t0).unwrap().success(t0);
    b.acquire(t0).unwrap().failure(t0);
    assert_eq!(b.state(t0), BreakerState::Closed);
}

#[test]
fn cache_expires_and_evicts_oldest() {
    let c = TtlCache::new(Duration::from_secs(10), 2);
    let t0 = Instant::now();
    c.put("a".into(), 1, t0);
    c.put("b".into(), 2, t0 + Duration::from_secs(1));
    c.put("c".into(), 3, t0 + Duration::from_secs(2));
    assert_eq!(c.len(), 2);
    assert_eq!(c.get("a", t0 + Duration::from_secs(2)), None, "oldest evicted");
    assert_eq!(c.get("c", t0 + Duration::from_secs(3)), Some(3));
    assert_eq!(c.get("c", t0 + Duration::from_secs(13)), None, "expired");
    let off: TtlCache<i32> = TtlCache::new(Duration::ZERO, 10);
    off.put("a".into(), 1, t0);
    assert_eq!(off.get("a", t0), None);
}

#[test]
fn api_key_is_never_printed() {
    let k = ApiKey::new(Some("sk-secret-123".into()));
    assert!(k.is_set());
    assert!(!format!("{k:?}").contains("secret"));
    assert!(!ApiKey::new(Some("  ".into())).is_set());
}

#[test]
fn transient_errors_are_classified() {
    let http = |status| CallError::Http { status, body: String::new(), retry_after: None };
    assert!(http(429).is_transient());
    assert!(http(503).is_transient());
    assert!(!http(400).is_transient());
    assert!(!http(401).is_transient());
    assert!(!CallError::Connect("x".into()).is_transient(), "nobody listening: answer at once");
    assert!(CallError::Broken("x".into()).is_transient());
    assert!(!CallError::Timeout("first token").is_transient());
    assert!(!CallError::Protocol("x".into()).is_transient());
}

#[test]
fn non_streaming_body_parses_and_truncation_is_rejected() {
    let ok = br#"{"model":"m","choices":[{"message":{"content":"{}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#;
    let c = parse_completion(ok).expect("parses");
    assert_eq!((c.model.as_str(), c.content.as_str(), c.prompt_tokens), ("m", "{}", Some(5)));
    let cut = br#"{"choices":[{"message":{"content":"{"},"finish_reason":"length"}]}"#;
    assert!(matches!(parse_completion(cut), Err(CallError::Protocol(_))));
    assert!(matches!(parse_completion(b"<html>"), Err(CallError::Protocol(_))));
}

#[test]
fn scrubber_removes_seeded_identifiers() {
    let seeded = [
        ("身份证号：110101199003071234，", "110101199003071234"),
        ("ID card 11010119900307123X noted", "11010119900307123X"),
        ("old id 110101900307123 here", "110101900307123"),
        ("联系电话 13812345678", "13812345678"),
        ("call +86 138-1234-5678 now", "1234-5678"),
        ("landline 010-62345678.", "62345678"),
        ("US phone (415) 555-0134 ok", "555-0134"),
        ("mail zhang.san@example.com please", "zhang.san@example.com"),
        ("seen on 2026-03-02 at 14:30", "2026-03-02"),
        ("admitted 2026年3月2日", "2026年3月2日"),
        ("on March 2, 2026 the patient", "March 2"),
        ("Mr. John Smith came in", "John Smith"),
        ("姓名：张三，男", "张三"),
        ("患者王小明，男，62岁", "王小明"),
        ("lives at 42 Baker Street with wife", "Baker Street"),
        ("住址：北京市海淀区中关村大街27号", "中关村大街27号"),
        ("住在上海市浦东新区世纪大道100号", "世纪大道100号"),
        ("MRN: 00123456", "00123456"),
        ("insurance no. 9876543210123", "9876543210123"),
    ];
    for (text, secret) in seeded {
        let out = scrub(text);
        assert!(!out.contains(secret), "`{secret}` survived in `{out}` (from `{text}`)");
    }
    // Clinical content stays.
    let clinical = "Chest pain 2 h, ST elevation V1-V4, troponin 2.1 ug/L, BP 96/60, HR 104";
    assert_eq!(scrub(clinical), clinical);
}

#[test]
fn template_placeholders_are_checked_with_line_and_column() {
    let t = PromptTemplate::parse("t.toml", EMBEDDED_TEMPLATE).expect("embedded template parses");
    assert!(t.version.starts_with("2.0.0+"));
    let bad = "version = \"1\"\nsystem = \"x\"\nuser = \"\"\"\nhello {{nope}}\"\"\"\n";
    let e = PromptTemplate::parse("t.toml", bad).expect_err("unknown placeholder");
    assert_eq!((e.line, e.column), (4, 7), "{e}");
    assert!(e.to_string().starts_with("t.toml:4:7: unknown placeholder `{{nope}}`"), "{e}");
    let e = PromptTemplate::parse("t.toml", "version = \"1\"\nsystem = 3\nuser = \"\"\n").expect_err("bad type");
    assert_eq!(e.line, 2, "{e}");
    assert_eq!(PromptTemplate::render("a {{ x }} b {{y}}", &[("x", "1"), ("y", "2")]), "a 1 b 2");
}

#[test]
fn template_version_changes_with_content() {
    let a = PromptTemplate::parse("t", "version = \"1\"\nsystem = \"a\"\nuser = \"b\"\n").unwrap();
    let b = PromptTemplate::parse("t", "version = \"1\"\nsystem = \"a!\"\nuser = \"b\"\n").unwrap();
    assert_ne!(a.version, b.version);
    assert!(a.version.starts_with("1+"));
}

#[test]
fn relative_times_and_ages() {
    let a = chrono::DateTime::from_timestamp(1_000_000, 0).unwrap();
    let m = |x: i64| a + chrono::Duration::minutes(x);
    assert_eq!(relative(m(35), a), "T+35 min");
    assert_eq!(relative(m(-90), a), "T-90 min");
    assert_eq!(relative(m(125), a), "T+2 h 5 min");
    assert_eq!(relative(m(3 * 1440 + 240), a), "T+3 d 4 h");
    assert_eq!(age_text(89.9), "89");
    assert_eq!(age_text(90.0), "90+");
    assert_eq!(age_text(104.0), "90+");
}

fn seeded_encounter() -> encounter::Encounter {
    let mut e = example("stemi_primary_pci.json");
    e.id = "ENC-SEED-778899".into();
    e.patient.id = "PT-SEED-445566".into();
    e.patient.age_years = 93.4;
    e.department = "CARDIOLOGY".into();
    e.labs[0].id = "13912345678".into();
    e.labs[0].code.display = "Troponin, drawn by Dr. Wang Fang".into();
    if let Some(n) = e.notes.first_mut() {
        n.text =
            "患者张伟，身份证号110101195001011234，电话13912345678，住址北京市朝阳区建国路88号。Chest pain.".into();
    }
    e
}

fn seeded_identifiers() -> Vec<&'static str> {
    vec![
        "ENC-SEED-778899",
        "PT-SEED-445566",
        "13912345678",
        "110101195001011234",
        "张伟",
        "建国路88号",
        "Wang Fang",
        "2026-",
        "age 93",
        "pt-000101",
        "enc-stemi-001",
    ]
}

#[test]
fn prompt_contains_no_seeded_identifier_with_and_without_notes() {
    let e = seeded_encounter();
    let schema = DraftSchema::new();
    let t = PromptTemplate::embedded(crate::locale::Locale::En);
    for include_notes in [false, true] {
        let opts = PromptOptions { include_notes, ..embedded_prompt_options() };
        let p = prompt::build(&t, &schema, &e, &FastPart::default(), &opts, "(none)");
        let all = format!("{}\n{}", p.system, p.user);
        for id in seeded_identifiers() {
            assert!(!all.contains(id), "identifier `{id}` reached the prompt (notes: {include_notes})");
        }
        assert!(all.contains("age 90+"), "ages over 89 are shown as 90+");
        assert!(all.contains("T+"), "times are relative to arrival");
        assert_eq!(all.contains("Chest pain."), include_notes, "notes only when enabled");
        // Aliases map back to the encounter's ids.
        assert_eq!(p.refs.get("labs/1").map(String::as_str), Some("labs/13912345678"));
        assert!(all.contains("[labs/1]"));
    }
}

#[test]
fn prompt_caps_long_lists_but_keeps_stable_aliases() {
    let e = example("stemi_primary_pci.json");
    let opts = PromptOptions { max_items_per_list: 3, ..embedded_prompt_options() };
    let p = prompt::build(
        &PromptTemplate::embedded(crate::locale::Locale::En),
        &DraftSchema::new(),
        &e,
        &FastPart::default(),
        &opts,
        "(none)",
    );
    let n = e.vitals.len();
    assert!(n > 3);
    assert!(p.refs.contains_key(&format!("vitals/{n}")), "most recent vitals kept");
    assert!(!p.refs.contains_key("vitals/1"));
    assert!(p.user.contains("earlier items not shown"));
}

#[test]
fn prompt_lists_only_findings_that_apply_so_none_is_crowded_out() {
    let e = example("stemi_primary_pci.json");
    let finding = |rule_id: &str, status: pb::FindingStatus| pb::Finding {
        rule_id: rule_id.into(),
        title: format!("title of {rule_id}"),
        status: status as i32,
        ..Default::default()
    };
    // 40 packs' worth of not-applicable findings sorted before the one that applies.
    let mut fast = FastPart {
        findings: (0..40).map(|i| finding(&format!("a{i:02}.rule"), pb::FindingStatus::NotApplicable)).collect(),
        ..Default::default()
    };
    fast.findings.push(finding("vte.risk_assessment_24h", pb::FindingStatus::NotMet));
    let opts = PromptOptions { max_items_per_list: 40, ..embedded_prompt_options() };
    let p = prompt::build(
        &PromptTemplate::embedded(crate::locale::Locale::En),
        &DraftSchema::new(),
        &e,
        &fast,
        &opts,
        "(none)",
    );
    assert_eq!(p.refs.get("findings/1").map(String::as_str), Some("findings/vte.risk_assessment_24h"));
    assert!(p.user.contains("title of vte.risk_assessment_24h — not_met"), "{}", p.user);
    assert!(!p.user.contains("not_applicable"), "{}", p.user);
    assert!(!p.user.contains("more items not shown"), "{}", p.user);
}

#[test]
fn schema_accepts_valid_and_rejects_violations() {
    let s = DraftSchema::new();
    s.check(&valid_draft().to_string()).expect("valid draft");
    assert!(matches!(s.check("not json"), Err(InvalidOutput::NotJson(_))));
    let mut v = valid_draft();
    v["differential"][0]["likelihood"] = "certain".into();
    assert!(matches!(s.check(&v.to_string()), Err(InvalidOutput::Schema(_))));
    let mut v = valid_draft();
    v["differential"][0]["icd10"] = "heart attack".into();
    assert!(matches!(s.check(&v.to_string()), Err(InvalidOutput::Schema(_))));
    let mut v = valid_draft();
    v["summary"] = "x".repeat(801).into();
    assert!(matches!(s.check(&v.to_string()), Err(InvalidOutput::Schema(_))));
    let mut v = valid_draft();
    v["extra"] = 1.into();
    assert!(matches!(s.check(&v.to_string()), Err(InvalidOutput::Schema(_))));
    // Citations are required on every claim and must look like passage ids.
    let mut v = valid_draft();
    v["differential"][0].as_object_mut().unwrap().remove("citations");
    assert!(matches!(s.check(&v.to_string()), Err(InvalidOutput::Schema(_))));
    let mut v = valid_draft();
    v["next_steps"] = serde_json::json!(["Repeat troponin"]);
    assert!(matches!(s.check(&v.to_string()), Err(InvalidOutput::Schema(_))));
    let mut v = valid_draft();
    v["differential"][0]["citations"] = serde_json::json!(["<passage id>"]);
    assert!(matches!(s.check(&v.to_string()), Err(InvalidOutput::Schema(_))));
}

#[test]
fn icd10_format() {
    for ok in ["I21.0", "J18.9", "A41", "C7A.0", "S72.001A"] {
        assert!(is_icd10(ok), "{ok}");
    }
    for bad in ["i21.0", "I2", "I21.", "121.0", "I21.00000", "STEMI"] {
        assert!(!is_icd10(bad), "{bad}");
    }
}

#[test]
fn grounding_drops_and_flags_unknown_references() {
    let raw: validate::RawDraft = serde_json::from_value(valid_draft()).unwrap();
    let refs: RefIndex = [("labs/1", "labs/lab-trop-1"), ("diagnoses/1", "diagnoses/dx-1")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let (dx, flags) = validate::ground(&raw, &refs);
    assert_eq!(dx[0].supporting, vec!["labs/lab-trop-1", "diagnoses/dx-1"]);
    assert!(dx[1].contradicting.is_empty());
    assert_eq!(flags.len(), 1);
    assert!(flags[0].contains("labs/99"));
    // The likelihood string and its enum twin.
    assert_eq!((dx[0].likelihood.as_str(), dx[0].likelihood_level()), ("high", pb::Likelihood::High));
    assert_eq!((dx[1].likelihood.as_str(), dx[1].likelihood_level()), ("low", pb::Likelihood::Low));
}

#[test]
fn cross_checks_flag_missing_principal_and_ignored_high_risk() {
    let raw: validate::RawDraft = serde_json::from_value(valid_draft()).unwrap();
    let high = pb::RiskScore {
        model_id: "ami-1y-mortality".into(),
        outcome: "death within 1 year".into(),
        status: pb::RiskStatus::Ok as i32,
        band: pb::RiskBand::High as i32,
        probability: 0.31,
        ..Default::default()
    };
    let alias = |i: usize| format!("risks/{}", i + 1);
    let flags = validate::cross_check(&raw, &["I21.4".into(), "J18.9".into()], std::slice::from_ref(&high), &alias);
    assert_eq!(flags.len(), 2, "{flags:?}");
    assert!(flags[0].contains("J18.9"), "same 3-character category I21 counts as present");
    assert!(flags[1].contains("ami-1y-mortality"));
    let mut cited = raw.clone();
    cited.differential[0].supporting.push("risks/1".into());
    assert!(validate::cross_check(&cited, &[], &[high], &alias).is_empty());
}

#[test]
#[ignore = "prints the rendered prompt of an example (audit aid): cargo test --lib print_example_prompt -- --ignored --nocapture"]
fn print_example_prompt() {
    let e = example("stemi_primary_pci.json");
    let items = std::env::var("PROMPT_ITEMS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let opts = PromptOptions { max_items_per_list: items, ..embedded_prompt_options() };
    let p = prompt::build(
        &PromptTemplate::embedded(crate::locale::Locale::En),
        &DraftSchema::new(),
        &e,
        &FastPart::default(),
        &opts,
        "(none)",
    );
    println!("--- system ({} chars)\n{}\n--- user ({} chars)\n{}", p.system.len(), p.system, p.user.len(), p.user);
}

/// The prompt options of the embedded configuration (the one source of their defaults).
fn embedded_prompt_options() -> PromptOptions {
    PromptOptions::from_settings(&crate::config::Settings::embedded().unwrap().llm)
}

#[test]
fn prompt_options_of_the_embedded_configuration() {
    let o = embedded_prompt_options();
    assert_eq!((o.include_notes, o.max_items_per_list, o.max_note_chars), (false, 40, prompt::MAX_NOTE_CHARS));
}
