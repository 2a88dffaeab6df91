//! The one reload path (`cdssd::reload`): no constructor starts a watcher. `cdssd evaluate`
//! builds the whole pipeline (rules and models with `watch = true`, a prompt template from
//! a file) and is looked at, while it waits for its draft, through
//! `/proc/<pid>/task/*/comm`: no file-watcher thread (notify's inotify loop) and none of
//! the former per-component watcher threads.

use std::{io::Read, net::TcpListener, process::Command, time::Duration};

use crate::daemon::root;

/// Thread names of a running process.
fn thread_names(pid: u32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn cdssd_evaluate_starts_no_watcher_thread() {
    // An LLM endpoint that accepts and never answers: `cdssd evaluate` waits for the draft
    // with its pipeline fully built.
    let llm = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", llm.local_addr().unwrap());
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .current_dir(root())
        .args(["evaluate", "examples/encounters/stemi_primary_pci.json", "--format", "json"])
        .env_remove("CDSSD_CONFIG")
        .env("CDSSD__LLM__ENABLED", "true")
        .env("CDSSD__LLM__BASE_URL", &base)
        .env("CDSSD__LLM__RETRIES", "0")
        .env("CDSSD__LLM__FIRST_TOKEN_TIMEOUT_MS", "60000")
        .env("CDSSD__LLM__TOTAL_TIMEOUT_MS", "60000")
        .env("CDSSD__LLM__PROMPT_TEMPLATE", "prompts/draft.toml")
        .env("CDSSD__RULES__WATCH", "true")
        .env("CDSSD__RISK__WATCH", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (mut conn, _) = llm.accept().expect("cdssd evaluate asks the LLM");
    // Read the request head: the draft is under way, every constructor has run.
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).unwrap();
    assert!(n > 0 && buf.starts_with(b"POST "), "{:?}", String::from_utf8_lossy(&buf[..n]));
    let names = thread_names(pid);
    let _ = child.kill();
    let _ = child.wait();
    assert!(names.iter().any(|n| n.starts_with("tokio-")), "the runtime's threads are listed: {names:?}");
    for watcher in ["notify-rs inotify loop", "cdssd-models-watch", "cdssd-llm-assets"] {
        // The kernel keeps 15 bytes of a thread's name.
        let comm = &watcher[..watcher.len().min(15)];
        assert!(!names.iter().any(|n| n == comm), "`cdssd evaluate` started {watcher:?}: {names:?}");
    }
}

/// The control of the test above (so that it can fail): `cdssd serve` with the rules and
/// the models watched runs exactly one file-watcher thread, the one watcher of both.
#[test]
fn cdssd_serve_runs_one_watcher_for_every_component() {
    let daemon = crate::daemon::Daemon::start(&[("CDSSD__RULES__WATCH", "true"), ("CDSSD__RISK__WATCH", "true")]);
    let pid = daemon.daemon_pid().expect("the daemon's pid") as u32;
    let names = thread_names(pid);
    let watchers = names.iter().filter(|n| *n == "notify-rs inoti").count();
    assert_eq!(watchers, 1, "{names:?}");
}
