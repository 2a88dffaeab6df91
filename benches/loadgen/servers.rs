//! The servers under test run as child processes, so that their CPU time and
//! memory are theirs alone (`/proc/<pid>/stat`, `/proc/<pid>/status`):
//! the real `cdssd serve` binary, and this binary re-executed as the echo
//! baseline (`--echo-serve`). The client stays in the parent process.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use cdssd::proto::v1 as pb;

/// A running server child; killed when dropped.
pub struct Server {
    pub name: String,
    pub addr: String,
    child: Child,
}

/// Clock ticks per second of `/proc/*/stat` CPU times (USER_HZ).
fn clk_tck() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// User + system CPU time of a process (all its threads, living and exited).
pub fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / clk_tck())
}

/// (VmRSS, VmHWM) of a process in MiB.
pub fn rss_of(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

/// Threads of a process now.
pub fn threads_of(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:").and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// `cdssd serve` with the given environment on top of the parent's.
    pub fn cdssd(name: &str, root: &Path, env: &[(String, String)], log: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cdssd"));
        cmd.arg("serve").current_dir(root);
        cmd.env("CDSSD__SERVER__LISTEN", &addr).env("CDSSD__METRICS__LISTEN", format!("127.0.0.1:{}", free_port()?));
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Self::spawn(name, addr, cmd, log)
    }

    /// This binary as the echo baseline, answering with the canned responses in `canned`.
    pub fn echo(name: &str, canned: &Path, workers: Option<usize>, log: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("--echo-serve").arg(&addr).arg("--canned").arg(canned);
        if let Some(w) = workers {
            cmd.env("TOKIO_WORKER_THREADS", w.to_string());
        }
        Self::spawn(name, addr, cmd, log)
    }

    fn spawn(name: &str, addr: String, mut cmd: Command, log: &Path) -> anyhow::Result<Self> {
        let out = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let child = cmd.spawn().with_context(|| format!("cannot start {name}"))?;
        Ok(Self { name: name.to_string(), addr, child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait until `ListModels` answers (models loaded, rules compiled).
    pub async fn ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                anyhow::bail!("{} exited with {status} during start-up:\n{}", self.name, last_lines(&tail, 20));
            }
            if let Ok(mut c) = super::client::connect(&self.addr, 1).await {
                if c[0].list_models(pb::ListModelsRequest {}).await.is_ok() {
                    return Ok(());
                }
            }
            anyhow::ensure!(Instant::now() < until, "{} did not become ready within 60 s", self.name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A scratch directory removed at exit.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> anyhow::Result<Self> {
        let p = std::env::temp_dir().join(format!("cdssd-loadgen-{}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("LOADGEN_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
