//! Layered, fail-closed configuration.
//!
//! Layers, later wins: the embedded defaults (`defaults.toml`, compiled into
//! the binary), an optional TOML file (`--config` / `CDSSD_CONFIG`), then
//! `CDSSD__SECTION__KEY` environment variables. Unknown keys are errors.
//! [`Settings::load`] validates everything and reports *all* problems at once;
//! the CLI exits with code 64 (`EX_USAGE`) when any is found.

use std::{net::SocketAddr, path::PathBuf};

use serde::Deserialize;

pub use http::HttpSettings;
pub use origin::Origin;

pub mod audit;
pub mod http;
mod origin;
pub mod security;
#[cfg(test)]
mod tests;
mod tree;
mod validate;

/// The embedded default configuration.
pub const EMBEDDED_DEFAULTS: &str = include_str!("defaults.toml");

/// Exit code for an invalid configuration (sysexits `EX_USAGE`).
pub const EXIT_INVALID_CONFIG: u8 = 64;

/// Every setting of cdssd. See `defaults.toml` for documentation of each key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub metrics: MetricsSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub encounter: EncounterSettings,
    pub rules: RulesSettings,
    pub risk: RiskSettings,
    pub llm: LlmSettings,
    pub audit: audit::AuditSettings,
    pub tls: security::TlsSettings,
    pub auth: security::AuthSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    pub max_request_bytes: usize,
    pub default_budget_ms: u64,
    pub drain_grace_ms: u64,
    pub concurrency_per_connection: usize,
    pub inline_max_events: usize,
    /// Language of texts when a request names none (BCP-47: "zh-CN" or "en").
    pub default_locale: String,
    /// A new connection must finish its TLS handshake (or, in plaintext, send its first
    /// bytes) within this long, milliseconds; every listener.
    pub handshake_timeout_ms: u64,
    /// A connection that sends nothing for this long is closed, seconds; every listener.
    pub idle_timeout_s: u64,
    /// Open connections per listener at most; beyond it new ones are closed at once (counted).
    pub max_connections: usize,
    /// A request's head (HTTP/1.1 headers) and body must arrive within this long from its
    /// first byte (body: from its head), milliseconds; every listener. Streaming request
    /// bodies (server reflection) are exempt; they are bounded by `idle_timeout_s`.
    pub request_read_timeout_ms: u64,
    /// Largest request header block, bytes: HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE` on the
    /// gRPC port, the HTTP/1.1 request head on the HTTP and metrics listeners.
    pub max_header_bytes: u32,
    /// HTTP/2 streams one connection may have open at once (gRPC port).
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 keepalive PING every this many seconds (gRPC port); 0 = off.
    pub http2_keepalive_interval_s: u64,
    /// A peer that does not answer a keepalive PING within this long is dropped, seconds.
    pub http2_keepalive_timeout_s: u64,
    /// Evaluations (rules and risk) running or waiting for a core at once, every transport
    /// together; beyond it a call is shed at once with RESOURCE_EXHAUSTED (`cdssd serve`).
    pub max_in_flight_evaluations: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub listen: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
    /// OTLP/gRPC collector for request spans, e.g. `http://otel-collector:4317`; "" = off.
    pub otlp_endpoint: String,
    /// Share of new traces (no sampled caller) exported; callers' decisions are kept.
    pub otlp_sample_ratio: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncounterSettings {
    pub hospital_timezone: String,
    pub local_code_systems: Vec<String>,
    pub max_items_per_list: usize,
    pub max_text_bytes: usize,
    pub max_note_bytes: usize,
    pub future_tolerance_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSettings {
    pub dir: PathBuf,
    pub watch: bool,
    pub debounce_ms: u64,
    pub max_operations: u64,
    pub max_rule_ms: u64,
    /// Measure sets whose rules run; empty = every set the rules name.
    pub measure_sets: Vec<String>,
    /// Locales every rule must have its texts in (`rules check` and reloads fail otherwise).
    pub locales: Vec<String>,
    /// A reload whose test cases fail is rejected (turn off only in an emergency).
    pub require_passing_tests: bool,
    /// Where test cases' `base` encounters are looked up first ("" = inside the rules
    /// directory, then its ancestors).
    pub examples_dir: PathBuf,
    /// Budget overruns (operation or time) within `quarantine_window_s` that quarantine a
    /// rule for `quarantine_cool_down_s`; 0 = never (see `rules::quarantine`).
    pub quarantine_after: u32,
    pub quarantine_window_s: u64,
    pub quarantine_cool_down_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSettings {
    pub dir: PathBuf,
    pub enabled: bool,
    pub onnxruntime_lib: String,
    pub device: String,
    pub require_device: bool,
    pub intra_op_threads: usize,
    pub sessions_per_model: usize,
    /// Reload the models when files under `dir` change (all or nothing).
    pub watch: bool,
    /// Quiet time after the last change before reloading.
    pub debounce_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSettings {
    pub enabled: bool,
    pub base_url: String,
    pub model: String,
    pub api_key_env: String,
    pub api_key_file: String,
    pub connect_timeout_ms: u64,
    pub first_token_timeout_ms: u64,
    pub total_timeout_ms: u64,
    pub max_tokens: u32,
    pub temperature: f32,
    pub max_concurrency: usize,
    pub stream: bool,
    pub retries: u32,
    pub retry_backoff_ms: u64,
    pub breaker_failures: u32,
    pub breaker_open_ms: u64,
    pub cache_ttl_s: u64,
    pub cache_max_entries: usize,
    pub prompt_template: String,
    pub prompt_template_zh: String,
    pub knowledge_base: String,
    pub kb_top_k: usize,
    pub kb_min_score: f64,
    pub include_notes: bool,
    pub max_prompt_items_per_list: usize,
}

/// One invalid setting: its dotted key, what is wrong, and where the value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key (`server.listen`); empty for a problem of the file as a whole.
    pub key: String,
    pub message: String,
    /// The layer the offending value came from (filled in by [`Settings::load`]).
    pub origin: Origin,
}

impl ConfigProblem {
    /// A problem of `key`, its origin still unknown.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into(), origin: Origin::Embedded }
    }
}

impl std::fmt::Display for ConfigProblem {
    /// `path:line:col: key: message` for a value from the file, `CDSSD__X__Y (key): message`
    /// for one from the environment, `key: message` otherwise.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Origin::File { path, line, column } => {
                write!(f, "{path}:{}:{}: ", line.max(&1), column.max(&1))?;
                if !self.key.is_empty() {
                    write!(f, "{}: ", self.key)?;
                }
                f.write_str(&self.message)
            }
            Origin::Env(var) => write!(f, "{var} ({}): {}", self.key, self.message),
            Origin::Embedded => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// The configuration could not be loaded; every problem found is listed.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration ({} problem(s)):\n{}", .problems.len(), .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    fn one(key: &str, message: impl Into<String>) -> Self {
        Self { problems: vec![ConfigProblem::new(key, message)] }
    }
}

/// Values that cannot be read, reported before giving up on reading the others.
const MAX_UNREADABLE: usize = 64;

/// The merged layers as a source of their own (for reading them again after a repair).
#[derive(Debug, Clone)]
struct Tree(config::Map<String, config::Value>);

impl config::Source for Tree {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        Ok(self.0.clone())
    }
}

/// The field a `config` "unknown field" error names (its table is the error's key).
fn unknown_field(message: &str) -> Option<&str> {
    message.split_once("unknown field `").and_then(|(_, r)| r.split_once('`')).map(|(f, _)| f)
}

/// The key a `config` error names, where it names one.
fn error_key(e: &config::ConfigError) -> Option<&str> {
    match e {
        config::ConfigError::Type { key: Some(k), .. } | config::ConfigError::At { key: Some(k), .. } => Some(k),
        _ => None,
    }
}

/// Where to read layers from; tests pass their own environment.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// Optional TOML file (must exist when given).
    pub file: Option<PathBuf>,
    /// `(name, value)` pairs; only `CDSSD__*` names are used.
    pub env: Vec<(String, String)>,
}

impl Sources {
    /// The file given on the command line (or `CDSSD_CONFIG`) and the process environment.
    pub fn from_process(file: Option<PathBuf>) -> Self {
        Self { file, env: std::env::vars().collect() }
    }
}

impl Settings {
    /// The embedded defaults alone, validated.
    pub fn embedded() -> Result<Self, ConfigError> {
        Self::load(&Sources::default())
    }

    /// Load the layers and validate the result, reporting every problem, each with the
    /// place its value came from (`path:line:col` in the file, the variable, the defaults).
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        let Some(path) = &sources.file else { return Self::finish(None, sources) };
        if !path.is_file() {
            return Err(ConfigError::one("--config", format!("file {} does not exist", path.display())));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::one("--config", format!("cannot read {}: {e}", path.display())))?;
        Self::finish(Some((&path.display().to_string(), &text)), sources)
    }

    /// The embedded defaults overlaid with `text` as the configuration file (no
    /// environment layer), validated as [`Settings::load`] validates a file: the entry
    /// point of the config fuzz target (`crate::fuzzing`).
    pub fn load_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::finish(Some(("<config>", text)), &Sources::default())
    }

    /// Defaults, then the file `(shown path, text)`, then the environment; deserialisation,
    /// validation, and the origin of each problem.
    fn finish(file: Option<(&str, &str)>, sources: &Sources) -> Result<Self, ConfigError> {
        let env: std::collections::HashMap<String, String> =
            sources.env.iter().filter(|(k, _)| k.starts_with("CDSSD__")).cloned().collect();
        let layers = origin::Layers { file, env: &env };
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(EMBEDDED_DEFAULTS, config::FileFormat::Toml));
        if let Some((path, text)) = file {
            // Syntax first, with the position the TOML parser knows.
            if let Err(e) = toml::de::DeTable::parse(text) {
                let (line, column) = e.span().map_or((1, 1), |s| crate::diagnostic::line_col(text, s.start));
                let origin = Origin::File { path: path.to_string(), line, column };
                return Err(ConfigError {
                    problems: vec![ConfigProblem {
                        key: String::new(),
                        message: e.message().trim().to_string(),
                        origin,
                    }],
                });
            }
            builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("CDSSD")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("encounter.local_code_systems")
                .with_list_parse_key("rules.measure_sets")
                .with_list_parse_key("rules.locales")
                .with_list_parse_key("http.cors_allowed_origins")
                .source(Some(env.clone())),
        );
        let located = |key: &str, message: String| {
            // An unknown field is looked up itself, not the table that holds it.
            let origin = match unknown_field(&message) {
                Some(field) if key != "config" => layers.locate(&format!("{key}.{field}")),
                Some(field) => layers.locate(field),
                None => layers.locate(key),
            };
            ConfigError { problems: vec![ConfigProblem { key: key.to_string(), message, origin }] }
        };
        let raw = builder.build().map_err(|e| located(error_key(&e).unwrap_or("config"), e.to_string()))?;
        // Every value that cannot be read is reported; each is replaced by its embedded default
        // (an unknown key dropped) and the rest read again, so that the other keys are still
        // validated and all problems come out together.
        let mut unreadable = Vec::new();
        let mut tree = config::Source::collect(&raw).map_err(|e| located("config", e.to_string()))?;
        let settings = loop {
            let attempt = config::Config::builder().add_source(Tree(tree.clone())).build();
            let e = match attempt.and_then(|c| c.try_deserialize::<Settings>()) {
                Ok(settings) => break Some(settings),
                Err(e) => e,
            };
            let key = error_key(&e).unwrap_or("config").to_string();
            let message = e.to_string();
            unreadable.extend(located(&key, message.clone()).problems);
            let unknown = unknown_field(&message);
            let path = match unknown {
                Some(field) if key == "config" => field.to_string(),
                Some(field) => format!("{key}.{field}"),
                None => key,
            };
            if unreadable.len() > MAX_UNREADABLE || !tree::repair(&mut tree, &path, unknown.is_some()) {
                break None;
            }
        };
        let Some(settings) = settings else { return Err(ConfigError { problems: unreadable }) };
        let mut problems = validate::validate(&settings);
        if problems.is_empty() && unreadable.is_empty() {
            return Ok(settings);
        }
        for p in &mut problems {
            p.origin = layers.locate(&p.key);
        }
        unreadable.extend(problems);
        Err(ConfigError { problems: unreadable })
    }

    /// The gRPC listen address (validated at load).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.server.listen.parse().expect("validated at load")
    }

    /// The metrics listen address, if enabled (validated at load).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        (!self.metrics.listen.is_empty()).then(|| self.metrics.listen.parse().expect("validated at load"))
    }

    /// The HTTP (JSON) listen address, if enabled (validated at load).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        (!self.http.listen.is_empty()).then(|| self.http.listen.parse().expect("validated at load"))
    }

    /// The hospital time zone (validated at load).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.encounter.hospital_timezone.parse().expect("validated at load")
    }

    /// `server.default_locale` (validated at load).
    pub fn default_locale(&self) -> crate::locale::Locale {
        crate::locale::Locale::parse(&self.server.default_locale).unwrap_or_default()
    }

    /// `rules.locales` (validated at load).
    pub fn rule_locales(&self) -> Vec<crate::locale::Locale> {
        self.rules.locales.iter().filter_map(|l| crate::locale::Locale::parse(l).ok()).collect()
    }
}
