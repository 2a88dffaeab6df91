//! Helpers shared by the integration tests: settings, a real server on port 0, clients.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use cdssd::{
    config::{Settings, Sources},
    pipeline::Pipeline,
    proto::v1 as pb,
};
use tokio::sync::oneshot;

/// Repository root (tests run with the package root as cwd, but be explicit).
/// Number of shipped rules: every `rules/<pack>/<rule>.rhai` except the packs' `lib.rhai`.
pub fn shipped_rule_count() -> usize {
    let mut n = 0;
    for pack in std::fs::read_dir(root().join("rules")).expect("rules/ exists").flatten() {
        let Ok(files) = std::fs::read_dir(pack.path()) else { continue };
        for f in files.flatten() {
            let name = f.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".rhai") && name != "lib.rhai" {
                n += 1;
            }
        }
    }
    n
}

/// File names of every example encounter (`examples/encounters/*.json`), sorted.
pub fn example_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("examples/encounters"))
        .expect("examples/encounters exists")
        .map(|e| e.expect("readable entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    files
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Embedded defaults with paths anchored at the repository root, plus `CDSSD__*` overrides.
pub fn settings_with(env: &[(&str, &str)]) -> Settings {
    let mut vars: Vec<(String, String)> = vec![
        ("CDSSD__RULES__DIR".into(), root().join("rules").display().to_string()),
        ("CDSSD__RISK__DIR".into(), root().join("models").display().to_string()),
        ("CDSSD__LLM__KNOWLEDGE_BASE".into(), root().join("kb").display().to_string()),
        ("CDSSD__LLM__PROMPT_TEMPLATE".into(), root().join("prompts/draft.toml").display().to_string()),
        ("CDSSD__LLM__PROMPT_TEMPLATE_ZH".into(), root().join("prompts/draft.zh-CN.toml").display().to_string()),
        ("CDSSD__METRICS__LISTEN".into(), String::new()),
        ("CDSSD__SERVER__LISTEN".into(), "127.0.0.1:0".into()),
    ];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::load(&Sources { file: None, env: vars }).expect("test settings are valid")
}

/// An example encounter as a proto message.
pub fn example(name: &str) -> pb::Encounter {
    let text = std::fs::read_to_string(root().join("examples/encounters").join(name)).expect("example exists");
    cdssd::encounter::encounter_from_json(&text).expect("example parses")
}

/// A request for an example, evaluated at a fixed time after its discharge, without the LLM.
pub fn request(name: &str) -> pb::EvaluateRequest {
    pb::EvaluateRequest {
        encounter: Some(example(name)),
        trigger: pb::Trigger::Discharge as i32,
        options: Some(pb::EvaluateOptions { llm: pb::LlmMode::Skip as i32, ..Default::default() }),
        evaluation_time: Some(pbjson_types::Timestamp { seconds: 1_780_000_000, nanos: 0 }), // 2026-05-28
    }
}

/// A real server on 127.0.0.1:0, stopped by dropping / sending on `stop`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub stop: Option<oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(settings: Settings) -> Self {
        let pipeline = Arc::new(Pipeline::new(Arc::new(settings)).expect("pipeline builds"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            cdssd::server::run(listener, pipeline, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Self { addr, stop: Some(tx), handle }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.url()).unwrap().connect().await.expect("connects")
    }

    /// Ask for shutdown and wait until the server has stopped.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(std::time::Duration::from_secs(30), self.handle)
            .await
            .expect("server stops in time")
            .expect("server task ok");
    }
}

/// Run the cdssd binary with `args` on the shipped rules and models, the audit in `audit_dir`:
/// (exit code, stdout + stderr).
pub fn cdssd_cli(audit_dir: &std::path::Path, args: &[&std::ffi::OsStr]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(args)
        .env("CDSSD__AUDIT__DIR", audit_dir)
        .env("CDSSD__RULES__DIR", root().join("rules"))
        // A copy of the rules elsewhere (`replay --rules`) finds its test cases' encounters.
        .env("CDSSD__RULES__EXAMPLES_DIR", root().join("examples"))
        .env("CDSSD__RISK__DIR", root().join("models"))
        .env_remove("CDSSD_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}
