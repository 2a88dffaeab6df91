//! Semantic checks of a deserialised [`Settings`]: every problem is collected.

use super::{ConfigProblem, Settings};

pub(super) fn validate(s: &Settings) -> Vec<ConfigProblem> {
    let mut p = Problems::default();
    if s.server.listen.parse::<std::net::SocketAddr>().is_err() {
        p.add("server.listen", format!("`{}` is not a socket address like 127.0.0.1:50051", s.server.listen));
    }
    p.range("server.max_request_bytes", s.server.max_request_bytes as u64, 1024, 256 * 1024 * 1024);
    p.range("server.default_budget_ms", s.server.default_budget_ms, 10, 600_000);
    p.range("server.drain_grace_ms", s.server.drain_grace_ms, 0, 600_000);
    p.range("server.concurrency_per_connection", s.server.concurrency_per_connection as u64, 1, 100_000);
    if !s.metrics.listen.is_empty() && s.metrics.listen.parse::<std::net::SocketAddr>().is_err() {
        p.add("metrics.listen", format!("`{}` is not a socket address (or \"\" to disable)", s.metrics.listen));
    }
    p.0.extend(s.http.validate());
    if tracing_subscriber::EnvFilter::try_new(&s.log.level).is_err() {
        p.add("log.level", format!("`{}` is not a valid filter directive", s.log.level));
    }
    let otlp = &s.log.otlp_endpoint;
    if !(otlp.is_empty() || otlp.starts_with("http://") || otlp.starts_with("https://")) {
        p.add(
            "log.otlp_endpoint",
            format!("`{otlp}` is not an http(s) URL like http://127.0.0.1:4317 (or \"\" for off)"),
        );
    }
    if !(0.0..=1.0).contains(&s.log.otlp_sample_ratio) {
        p.add("log.otlp_sample_ratio", format!("{} is not between 0 and 1", s.log.otlp_sample_ratio));
    }
    if s.encounter.hospital_timezone.parse::<chrono_tz::Tz>().is_err() {
        p.add(
            "encounter.hospital_timezone",
            format!("`{}` is not an IANA time zone like Asia/Shanghai", s.encounter.hospital_timezone),
        );
    }
    for (i, sys) in s.encounter.local_code_systems.iter().enumerate() {
        if sys.trim().is_empty() {
            p.add(&format!("encounter.local_code_systems[{i}]"), "must not be empty".into());
        }
    }
    p.range("encounter.max_items_per_list", s.encounter.max_items_per_list as u64, 1, 1_000_000);
    p.range("encounter.max_text_bytes", s.encounter.max_text_bytes as u64, 16, 1 << 20);
    p.range("encounter.max_note_bytes", s.encounter.max_note_bytes as u64, 0, 16 << 20);
    p.range("encounter.future_tolerance_s", s.encounter.future_tolerance_s, 0, 86_400);
    if s.rules.dir.as_os_str().is_empty() {
        p.add("rules.dir", "must not be empty".into());
    }
    let examples = &s.rules.examples_dir;
    if !examples.as_os_str().is_empty() && !examples.is_dir() {
        p.add(
            "rules.examples_dir",
            format!(
                "`{}` is not a directory: it must hold the test cases' base encounters (examples/encounters/...), or be \"\" to look next to the rules directory",
                examples.display()
            ),
        );
    }
    p.range("server.max_in_flight_evaluations", s.server.max_in_flight_evaluations as u64, 1, 1_000_000);
    // 0 = always the blocking pool; beyond the encounter's own size limits it means "always inline".
    p.range("server.inline_max_events", s.server.inline_max_events as u64, 0, 10_000_000);
    p.range("rules.debounce_ms", s.rules.debounce_ms, 0, 60_000);
    p.range("rules.max_operations", s.rules.max_operations, 1_000, 100_000_000);
    p.range("rules.max_rule_ms", s.rules.max_rule_ms, 1, 60_000);
    p.range("rules.quarantine_after", u64::from(s.rules.quarantine_after), 0, 1_000);
    p.range("rules.quarantine_window_s", s.rules.quarantine_window_s, 1, 86_400);
    p.range("rules.quarantine_cool_down_s", s.rules.quarantine_cool_down_s, 1, 86_400);
    if let Err(e) = crate::locale::Locale::parse(&s.server.default_locale) {
        p.add("server.default_locale", e);
    }
    for (i, m) in s.rules.measure_sets.iter().enumerate() {
        let known = crate::names::MEASURE_SETS;
        if !known.contains(&m.as_str()) {
            p.add(
                &format!("rules.measure_sets[{i}]"),
                format!(
                    "unknown measure set `{m}` (known: {}){}",
                    known.join(", "),
                    crate::names::did_you_mean(m, known)
                ),
            );
        }
    }
    if s.rules.locales.is_empty() {
        p.add("rules.locales", "must name at least one locale (zh-CN, en)".into());
    }
    for (i, l) in s.rules.locales.iter().enumerate() {
        if let Err(e) = crate::locale::Locale::parse(l) {
            p.add(&format!("rules.locales[{i}]"), e);
        }
    }
    if s.risk.dir.as_os_str().is_empty() {
        p.add("risk.dir", "must not be empty".into());
    }
    if !matches!(s.risk.device.as_str(), "cpu" | "cuda") {
        p.add("risk.device", format!("`{}` is not one of \"cpu\", \"cuda\"", s.risk.device));
    }
    p.range("risk.intra_op_threads", s.risk.intra_op_threads as u64, 1, 256);
    p.range("risk.sessions_per_model", s.risk.sessions_per_model as u64, 1, 256);
    p.range("risk.debounce_ms", s.risk.debounce_ms, 10, 60_000);
    if !(s.llm.base_url.starts_with("http://") || s.llm.base_url.starts_with("https://")) {
        p.add("llm.base_url", format!("`{}` is not an http(s) URL", s.llm.base_url));
    }
    if s.llm.model.trim().is_empty() {
        p.add("llm.model", "must not be empty".into());
    }
    p.range("llm.connect_timeout_ms", s.llm.connect_timeout_ms, 1, 600_000);
    p.range("llm.first_token_timeout_ms", s.llm.first_token_timeout_ms, 1, 600_000);
    p.range("llm.total_timeout_ms", s.llm.total_timeout_ms, 1, 3_600_000);
    p.range("llm.max_tokens", u64::from(s.llm.max_tokens), 1, 65_536);
    p.range("llm.kb_top_k", s.llm.kb_top_k as u64, 1, 20);
    if !(s.llm.kb_min_score.is_finite() && s.llm.kb_min_score >= 0.0) {
        p.add("llm.kb_min_score", format!("{} must be a number >= 0", s.llm.kb_min_score));
    }
    if !(0.0..=2.0).contains(&s.llm.temperature) {
        p.add("llm.temperature", format!("{} is outside 0.0..=2.0", s.llm.temperature));
    }
    p.range("llm.max_concurrency", s.llm.max_concurrency as u64, 1, 10_000);
    p.range("llm.retries", u64::from(s.llm.retries), 0, 10);
    p.range("llm.retry_backoff_ms", s.llm.retry_backoff_ms, 1, 60_000);
    p.range("llm.breaker_failures", u64::from(s.llm.breaker_failures), 1, 1_000);
    p.range("llm.breaker_open_ms", s.llm.breaker_open_ms, 1, 3_600_000);
    p.range("llm.cache_max_entries", s.llm.cache_max_entries as u64, 0, 1_000_000);
    p.range("llm.max_prompt_items_per_list", s.llm.max_prompt_items_per_list as u64, 1, 10_000);
    p.0.extend(s.audit.validate());
    let listeners: Vec<(&str, &str)> = [
        ("server.listen", s.server.listen.as_str()),
        ("http.listen", s.http.listen.as_str()),
        ("metrics.listen", s.metrics.listen.as_str()),
    ]
    .into_iter()
    .filter(|(_, a)| !a.is_empty())
    .collect();
    p.0.extend(super::security::validate(&s.tls, &s.auth, &listeners));
    p.range("server.handshake_timeout_ms", s.server.handshake_timeout_ms, 100, 600_000);
    p.range("server.idle_timeout_s", s.server.idle_timeout_s, 1, 86_400);
    p.range("server.max_connections", s.server.max_connections as u64, 1, 1_000_000);
    p.range("server.request_read_timeout_ms", s.server.request_read_timeout_ms, 100, 600_000);
    p.range("server.max_header_bytes", u64::from(s.server.max_header_bytes), 1024, 1_048_576);
    p.range("server.http2_max_concurrent_streams", u64::from(s.server.http2_max_concurrent_streams), 1, 100_000);
    p.range("server.http2_keepalive_interval_s", s.server.http2_keepalive_interval_s, 0, 86_400);
    p.range("server.http2_keepalive_timeout_s", s.server.http2_keepalive_timeout_s, 1, 3_600);
    p.0
}

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, key: &str, message: String) {
        self.0.push(ConfigProblem::new(key, message));
    }
    fn range(&mut self, key: &str, v: u64, lo: u64, hi: u64) {
        if v < lo || v > hi {
            self.add(key, format!("{v} is outside {lo}..={hi}"));
        }
    }
}
