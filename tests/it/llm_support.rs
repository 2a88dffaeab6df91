//! LLM test helpers: the REAL demo server (llama.cpp via xllamacpp, SmolLM2
//! DEMO weights) started once per test binary, and a fault-injecting
//! OpenAI-compatible HTTP server on loopback.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use cdssd::{config::Settings, encounter, proto::v1 as pb};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use super::support;

// ---------------------------------------------------------------- real server

struct Demo {
    base: String,
    _child: Child,
}

static DEMO: OnceLock<Result<Demo, String>> = OnceLock::new();

fn start_demo() -> Result<Demo, String> {
    let root = support::root();
    let python = root.join(".cache/llm/venv/bin/python");
    let model = root.join(".cache/llm/model/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !python.exists() || !model.exists() {
        return Err(format!(
            "the demo LLM server is not installed ({} / {} missing): run scripts/setup-llm.sh (scripts/test.sh does)",
            python.display(),
            model.display()
        ));
    }
    let mut child = Command::new(&python)
        .arg(root.join("deploy/llm/demo_server.py"))
        .args(["--port", "0", "--exit-on-stdin-eof", "--quiet", "--parallel", "2", "--ctx", "16384"])
        .arg("--model")
        .arg(&model)
        .stdin(Stdio::piped()) // closed when this process exits: the server then exits too
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the demo LLM server: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("READY ") {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(120))
        .map_err(|_| "the demo LLM server did not report READY within 120 s".to_string())?;
    // Keep stdin open for the life of the test process (the Child is never dropped).
    Ok(Demo { base, _child: child })
}

/// Base URL (`http://127.0.0.1:PORT/v1`) of the real demo LLM server; FAILS when it is not installed.
pub fn demo_llm_base() -> String {
    match DEMO.get_or_init(start_demo) {
        Ok(d) => format!("{}/v1", d.base),
        Err(e) => panic!("{e}"),
    }
}

// ---------------------------------------------------------------- fault server

/// What the fault server does with a request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Reads the request, never answers.
    Hang,
    /// Waits, then answers like `Ok`.
    SlowFirstByte(Duration),
    /// Resets the connection (RST) after reading the request.
    Reset,
    /// Answers with this HTTP status.
    Status(u16),
    /// 200 with a body (or SSE event) that is not JSON.
    InvalidJson,
    /// 200 with a well-formed completion whose content violates the draft schema.
    SchemaViolating,
    /// 200 SSE that never ends.
    EndlessStream,
    /// 200 with a valid draft (streamed when asked).
    Ok,
    /// 200 with this message content (streamed when asked): canned model answers.
    Content(String),
}

/// A valid draft citing the first diagnosis and an item that does not exist.
pub fn valid_draft() -> serde_json::Value {
    serde_json::json!({
        "differential": [
            {"condition": "Test condition", "icd10": "I21.0", "likelihood": "high",
             "supporting": ["diagnoses/1", "labs/999"], "contradicting": [], "citations": []}
        ],
        "next_steps": [{"step": "Test step", "citations": []}],
        "red_flags": [],
        "summary": "Synthetic draft from the fault server."
    })
}

/// A loopback HTTP server answering chat-completions requests per a script of faults.
pub struct FaultServer {
    pub base: String,
    script: Arc<Mutex<Vec<Fault>>>,
    pub requests: Arc<AtomicUsize>,
    pub open_connections: Arc<AtomicUsize>,
    pub bodies: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultServer {
    /// Start with a script: request n gets `script[n]`, the last entry repeats.
    pub async fn start(script: Vec<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(script));
        let requests = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (s, r, o, b) = (script.clone(), requests.clone(), open.clone(), bodies.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { return };
                let (s, r, o, b) = (s.clone(), r.clone(), o.clone(), b.clone());
                o.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    serve(sock, s, r, b).await;
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { base, script, requests, open_connections: open, bodies, task }
    }

    /// Replace the script (the request counter keeps counting).
    pub fn set(&self, script: Vec<Fault>) {
        *self.script.lock().unwrap() = script;
        self.requests.store(0, Ordering::SeqCst);
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Wait until every connection cdssd opened is closed again.
    pub async fn wait_all_closed(&self) {
        for _ in 0..500 {
            if self.open_connections.load(Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} connection(s) to the fault server still open", self.open_connections.load(Ordering::SeqCst));
    }
}

async fn read_request(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut tmp).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            return Some(String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned());
        }
    }
}

fn sse_chunk(content: &str) -> String {
    let ev = serde_json::json!({"model": "fault-model", "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]});
    format!("data: {ev}\n\n")
}

async fn respond_ok(sock: &mut TcpStream, content: &str, stream: bool) {
    if stream {
        let mut body = String::new();
        for piece in content.as_bytes().chunks(16) {
            body.push_str(&sse_chunk(&String::from_utf8_lossy(piece)));
        }
        let done = serde_json::json!({"model": "fault-model", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
        body.push_str(&format!("data: {done}\n\ndata: [DONE]\n\n"));
        let head =
            format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n", body.len());
        let _ = sock.write_all(head.as_bytes()).await;
        let _ = sock.write_all(body.as_bytes()).await;
    } else {
        let body = serde_json::json!({"model": "fault-model", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}).to_string();
        let head =
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
        let _ = sock.write_all(head.as_bytes()).await;
        let _ = sock.write_all(body.as_bytes()).await;
    }
}

async fn wait_for_close(sock: &mut TcpStream) {
    let mut tmp = [0u8; 1024];
    while let Ok(n) = sock.read(&mut tmp).await {
        if n == 0 {
            return;
        }
    }
}

async fn serve(
    mut sock: TcpStream,
    script: Arc<Mutex<Vec<Fault>>>,
    requests: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<String>>>,
) {
    // One request per connection is enough for these tests (keep-alive reuse is served in a loop).
    while let Some(body) = read_request(&mut sock).await {
        let n = requests.fetch_add(1, Ordering::SeqCst);
        bodies.lock().unwrap().push(body.clone());
        let fault = {
            let s = script.lock().unwrap();
            s.get(n).or(s.last()).cloned().unwrap_or(Fault::Ok)
        };
        let stream = body.contains("\"stream\":true");
        match fault {
            Fault::Hang => return wait_for_close(&mut sock).await,
            Fault::SlowFirstByte(d) => {
                tokio::time::sleep(d).await;
                respond_ok(&mut sock, &valid_draft().to_string(), stream).await;
            }
            Fault::Reset => {
                let _ = sock.set_zero_linger();
                return;
            }
            Fault::Status(code) => {
                let body = r#"{"error":{"message":"injected failure"}}"#;
                let head = format!(
                    "HTTP/1.1 {code} Injected\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
            }
            Fault::InvalidJson => {
                let body =
                    if stream { "data: this is not json\n\n".to_string() } else { "this is not json".to_string() };
                let ctype = if stream { "text/event-stream" } else { "application/json" };
                let head =
                    format!("HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\r\n", body.len());
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
            }
            Fault::SchemaViolating => {
                let content = serde_json::json!({"differential": [{"condition": "x", "icd10": "not a code", "likelihood": "certain"}], "summary": 7}).to_string();
                respond_ok(&mut sock, &content, stream).await;
            }
            Fault::EndlessStream => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                loop {
                    let ev = sse_chunk(" {");
                    let chunk = format!("{:x}\r\n{ev}\r\n", ev.len());
                    if sock.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Fault::Ok => respond_ok(&mut sock, &valid_draft().to_string(), stream).await,
            Fault::Content(content) => respond_ok(&mut sock, &content, stream).await,
        }
    }
}

// ---------------------------------------------------------------- cdssd side

/// Test settings with the LLM pointed at `base` and the given `[llm]` overrides.
/// Without a knowledge base (so the canned drafts, which cite nothing, stay valid) unless
/// `extra` sets `CDSSD__LLM__KNOWLEDGE_BASE` (e.g. to [`kb_dir`]).
pub fn llm_settings(base: &str, extra: &[(&str, &str)]) -> Settings {
    let template = support::root().join("prompts/draft.toml").display().to_string();
    let template_zh = support::root().join("prompts/draft.zh-CN.toml").display().to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("CDSSD__LLM__BASE_URL", base),
        ("CDSSD__LLM__PROMPT_TEMPLATE", template.as_str()),
        ("CDSSD__LLM__PROMPT_TEMPLATE_ZH", template_zh.as_str()),
        ("CDSSD__LLM__KNOWLEDGE_BASE", ""),
        ("CDSSD__LLM__CACHE_TTL_S", "0"),
    ];
    env.extend_from_slice(extra);
    support::settings_with(&env)
}

/// The committed knowledge base (`kb/`), as an absolute path.
pub fn kb_dir() -> String {
    support::root().join("kb").display().to_string()
}

/// A validated example encounter.
pub fn encounter(name: &str) -> encounter::Encounter {
    let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
    let settings = support::settings_with(&[]);
    encounter::from_proto(&support::example(name), &encounter::Limits::from_settings(&settings.encounter), now)
        .expect("example is valid")
}

/// A request for an example that asks for the LLM.
pub fn llm_request(name: &str, budget_ms: u32) -> pb::EvaluateRequest {
    let mut req = support::request(name);
    let o = req.options.get_or_insert_with(Default::default);
    o.llm = pb::LlmMode::Request as i32;
    o.budget_ms = budget_ms;
    req
}
