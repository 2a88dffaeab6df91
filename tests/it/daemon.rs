//! The real `cdssd serve` binary as a test fixture (one process per test, so
//! that counters are not shared with other tests), a plain HTTP client for the
//! metrics port, a parser of the exposition, and request builders.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use cdssd::proto::v1::{self as pb, admin_service_client::AdminServiceClient, cds_service_client::CdsServiceClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `cdssd serve` process with gRPC and metrics on free loopback ports.
pub(crate) struct Daemon {
    child: Child,
    grpc: SocketAddr,
    metrics: SocketAddr,
    /// The HTTP listener, when `CDSSD__HTTP__LISTEN` was given.
    http: Option<SocketAddr>,
    pub(crate) logs: mpsc::Receiver<String>,
    /// The audit store's data directory (SQLite file and keys), removed on drop.
    pub(crate) audit_dir: tempfile::TempDir,
    /// Started under a wrapper: signals go to the wrapper's child, the daemon itself.
    wrapped: bool,
}

impl Daemon {
    /// `env`: `CDSSD__*` overrides of the defaults below (file watchers are off,
    /// so that reloads happen only when a test asks for one).
    pub(crate) fn start(env: &[(&str, &str)]) -> Self {
        Self::start_under(&[], env)
    }

    /// Same, with the binary run by a wrapper command (`wrapper[0] wrapper[1..] cdssd serve`),
    /// e.g. `strace -f -o FILE`; the wrapper must pass stderr through.
    pub(crate) fn start_under(wrapper: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Self {
        let audit_dir = tempfile::Builder::new().prefix("cdssd-audit-").tempdir().unwrap();
        let mut cmd = match wrapper.split_first() {
            None => Command::new(env!("CARGO_BIN_EXE_cdssd")),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_cdssd"));
                c
            }
        };
        cmd.arg("serve")
            .env("CDSSD__AUDIT__DIR", audit_dir.path())
            .env("CDSSD__SERVER__LISTEN", "127.0.0.1:0")
            .env("CDSSD__METRICS__LISTEN", "127.0.0.1:0")
            .env("CDSSD__LOG__FORMAT", "json")
            .env("CDSSD__LOG__LEVEL", "info,ort=warn")
            .env("CDSSD__RULES__DIR", root().join("rules"))
            // Copies of the rules in temporary directories find their test cases' encounters
            // (the test gate); a test about that sets it to "".
            .env("CDSSD__RULES__EXAMPLES_DIR", root().join("examples"))
            .env("CDSSD__RISK__DIR", root().join("models"))
            .env("CDSSD__RULES__WATCH", "false")
            .env("CDSSD__RISK__WATCH", "false")
            .env("CDSSD__LLM__ENABLED", "false")
            .env_remove("RUST_LOG")
            .env_remove("CDSSD_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("cdssd starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, logs) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut grpc, mut metrics, mut http) = (None, None, None);
        let wants_http = env.iter().any(|(k, v)| *k == "CDSSD__HTTP__LISTEN" && !v.is_empty());
        let mut seen = Vec::new();
        while grpc.is_none() || metrics.is_none() || (wants_http && http.is_none()) {
            let line = logs
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("cdssd logs both listen addresses; it printed:\n{}", seen.join("\n")));
            seen.push(line.clone());
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            let addr = v.pointer("/fields/addr").and_then(|a| a.as_str()).and_then(|a| a.parse().ok());
            match v.pointer("/fields/message").and_then(|m| m.as_str()) {
                Some(m) if m.starts_with("Serving gRPC") => grpc = addr,
                Some(m) if m.starts_with("Serving metrics") => metrics = addr,
                Some(m) if m.starts_with("Serving HTTP") => http = addr,
                _ => {}
            }
        }
        Self {
            child,
            grpc: grpc.unwrap(),
            metrics: metrics.unwrap(),
            http,
            logs,
            wrapped: !wrapper.is_empty(),
            audit_dir,
        }
    }

    pub(crate) async fn client(&self) -> CdsServiceClient<tonic::transport::Channel> {
        CdsServiceClient::connect(format!("http://{}", self.grpc)).await.expect("gRPC connects")
    }

    /// The HTTP listener's address (started with `CDSSD__HTTP__LISTEN`).
    pub(crate) fn http_addr(&self) -> SocketAddr {
        self.http.expect("the daemon was started with CDSSD__HTTP__LISTEN")
    }

    pub(crate) fn grpc_addr(&self) -> SocketAddr {
        self.grpc
    }

    /// SIGKILL now (no drain); the process is reaped.
    pub(crate) fn sigkill(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { kill(self.child.id() as i32, 9) };
    }

    /// `http://ADDR` of the gRPC port.
    pub(crate) fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub(crate) async fn admin(&self) -> AdminServiceClient<tonic::transport::Channel> {
        AdminServiceClient::connect(format!("http://{}", self.grpc)).await.expect("gRPC connects")
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String, String) {
        http_get(self.metrics, path).await
    }

    pub(crate) async fn scrape(&self) -> Scrape {
        let (status, headers, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        assert!(headers.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{headers}");
        Scrape::parse(&body)
    }

    /// The daemon's pid: the child's, or the wrapper's child's.
    pub(crate) fn daemon_pid(&self) -> Option<i32> {
        let pid = self.child.id();
        if !self.wrapped {
            return Some(pid as i32);
        }
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        children.split_whitespace().next().and_then(|p| p.parse().ok())
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn stop(self) -> std::process::ExitStatus {
        self.stop_with_logs().0
    }

    /// SIGTERM; fails the test, showing the daemon's log, unless it exits with success.
    pub(crate) fn stop_ok(self) {
        let (status, logs) = self.stop_with_logs();
        assert!(
            status.success(),
            "cdssd exited with {status} on SIGTERM; its log after start-up:\n{}",
            logs.join("\n")
        );
    }

    /// SIGTERM, then the exit status and everything logged after start-up.
    pub(crate) fn stop_with_logs(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.daemon_pid().expect("the wrapper runs cdssd");
        // SAFETY: kill(2) on our own child's (or the wrapper's child's) pid.
        unsafe { kill(pid, 15) };
        let status = self.child.wait().expect("cdssd exits");
        let mut lines = Vec::new();
        while let Ok(line) = self.logs.recv_timeout(Duration::from_secs(2)) {
            lines.push(line);
        }
        (status, lines)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.daemon_pid().filter(|_| self.wrapped) {
            // SAFETY: kill(2) on the wrapper's child (a tracer's death would leave it running).
            unsafe { kill(pid, 9) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        while self.logs.try_recv().is_ok() {}
    }
}

extern "C" {
    pub(crate) fn kill(pid: i32, sig: i32) -> i32;
}

/// A plain HTTP/1.0 GET: status, header block, body.
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("metrics port connects");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status code");
    (status, head.to_string(), body.to_string())
}

/// The exposition, as series -> value ("name{labels}" exactly as rendered).
pub(crate) struct Scrape {
    pub(crate) text: String,
    pub(crate) series: BTreeMap<String, f64>,
}

impl Scrape {
    pub(crate) fn parse(text: &str) -> Self {
        let mut series = BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("malformed line {line:?}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("malformed value in {line:?}"));
            assert!(series.insert(name.to_string(), value).is_none(), "duplicate series {name}");
        }
        Self { text: text.to_string(), series }
    }

    pub(crate) fn get(&self, series: &str) -> f64 {
        self.series.get(series).copied().unwrap_or(0.0)
    }

    /// Family name -> label names, for every `cdssd_` series.
    pub(crate) fn families(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for key in self.series.keys().filter(|k| k.starts_with("cdssd_")) {
            let (name, labels) = match key.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (key.as_str(), ""),
            };
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|suffix| name.strip_suffix(suffix))
                .find(|base| self.text.contains(&format!("# TYPE {base} histogram")))
                .unwrap_or(name);
            let names = out.entry(family.to_string()).or_default();
            for pair in split_labels(labels) {
                let (k, _) = pair.split_once('=').unwrap();
                if k != "le" {
                    names.insert(k.to_string());
                }
            }
        }
        out
    }

    /// Every label value of every series.
    pub(crate) fn label_values(&self) -> Vec<String> {
        self.series
            .keys()
            .filter_map(|k| k.split_once('{'))
            .flat_map(|(_, l)| split_labels(l.trim_end_matches('}')))
            .map(|pair| pair.split_once('=').unwrap().1.trim_matches('"').to_string())
            .collect()
    }
}

/// `a="x",b="y"` -> [`a="x"`, `b="y"`] (values here never contain `",`).
pub(crate) fn split_labels(labels: &str) -> Vec<String> {
    if labels.is_empty() {
        return Vec::new();
    }
    labels.split("\",").map(|p| if p.ends_with('"') { p.to_string() } else { format!("{p}\"") }).collect()
}

/// deploy/metrics.txt: family -> (type, label names).
pub(crate) fn binding_families() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let text = std::fs::read_to_string(root().join("deploy/metrics.txt")).expect("deploy/metrics.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let labels = if f[2] == "-" { BTreeSet::new() } else { f[2].split(',').map(String::from).collect() };
            (f[0].to_string(), (f[1].to_string(), labels))
        })
        .collect()
}

pub(crate) fn example(name: &str) -> pb::Encounter {
    let text = std::fs::read_to_string(root().join("examples/encounters").join(name)).expect("example exists");
    cdssd::encounter::encounter_from_json(&text).expect("example parses")
}

pub(crate) fn request(name: &str, trigger: pb::Trigger) -> pb::EvaluateRequest {
    pb::EvaluateRequest {
        encounter: Some(example(name)),
        trigger: trigger as i32,
        options: Some(pb::EvaluateOptions { llm: pb::LlmMode::Skip as i32, ..Default::default() }),
        // 2026-09-21: after every time in the examples (the outpatient prescriptions run into June).
        evaluation_time: Some(pbjson_types::Timestamp { seconds: 1_790_000_000, nanos: 0 }),
    }
}

/// An encounter that fails validation: discharged before arrival.
pub(crate) fn invalid(mut req: pb::EvaluateRequest) -> pb::EvaluateRequest {
    let enc = req.encounter.as_mut().unwrap();
    let arrival = enc.arrival_time.expect("examples have an arrival time");
    enc.discharge_time = Some(pbjson_types::Timestamp { seconds: arrival.seconds - 3600, nanos: 0 });
    req
}

/// A copy of a directory tree (the shipped rules or models), to change under a running daemon.
pub(crate) fn copy_tree(from: &Path) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    copy(from, tmp.path());
    tmp
}
