//! Egress: the daemon neither phones home nor writes outside its configured directories.
//! The real `cdssd serve` runs under `strace -f` with an empty `HOME`, scores both shipped
//! models over gRPC and idles long enough for ONNX Runtime's telemetry uploader (whose first
//! lookup of the vendor's host came ~9 s after start-up when it was on); then every
//! `connect`/`sendto`/`sendmsg` of the daemon's threads and every file under `HOME` is checked.

use std::{ffi::OsStr, path::Path, process::Command, time::Duration};

use crate::daemon::{request, Daemon};
use cdssd::proto::v1 as pb;

/// How long the daemon runs (the telemetry uploader's first lookup came at ~9 s).
const OBSERVE: Duration = Duration::from_secs(15);

/// System calls that reach outside the process on their own: a non-loopback address, the DNS
/// port, or the local resolver daemons' sockets.
pub(crate) fn outbound(trace: &str) -> Vec<&str> {
    trace
        .lines()
        .filter(|l| l.contains("connect(") || l.contains("sendto(") || l.contains("sendmsg("))
        .filter(|l| {
            let inet = l.contains("AF_INET");
            let loopback = l.contains("inet_addr(\"127.") || l.contains("\"::1\"") || l.contains("::ffff:127.");
            (inet && !loopback)
                || l.contains("htons(53)")
                || l.contains("nscd/socket")
                || l.contains("systemd/resolve")
                || l.contains("dbus")
        })
        .collect()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        out.push(entry.strip_prefix(dir).unwrap().display().to_string());
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        out.push(e.path());
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

#[tokio::test]
async fn no_telemetry_file_and_no_outbound_lookup() {
    let strace = Command::new("strace").arg("-V").output();
    assert!(
        strace.map(|o| o.status.success()).unwrap_or(false),
        "this test needs strace (Debian package `strace`; scripts/setup.sh installs it when run as root)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let trace = tmp.path().join("trace.txt");
    let wrapper: Vec<&OsStr> = ["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o"]
        .iter()
        .map(OsStr::new)
        .chain([trace.as_os_str(), OsStr::new("--")])
        .collect();
    let home_s = home.display().to_string();
    let xdg = home.join(".cache").display().to_string();
    let started = std::time::Instant::now();
    let daemon = Daemon::start_under(&wrapper, &[("HOME", &home_s), ("XDG_CACHE_HOME", &xdg)]);

    let mut client = daemon.client().await;
    let mut scored = Vec::new();
    for name in ["stemi_primary_pci.json", "outpatient_visit.json"] {
        let d = client
            .evaluate(request(name, pb::Trigger::Discharge))
            .await
            .expect("Evaluate ok")
            .into_inner()
            .decision
            .unwrap();
        scored.extend(d.risks.iter().filter(|r| r.status == pb::RiskStatus::Ok as i32).map(|r| r.model_id.clone()));
    }
    assert!(
        scored.iter().any(|m| m == "ami-1y-mortality") && scored.iter().any(|m| m == "ascvd-pce-10y"),
        "both shipped models ran a session: {scored:?}"
    );
    if let Some(left) = OBSERVE.checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
    let status = daemon.stop();
    assert!(status.success(), "{status}");

    let trace = std::fs::read_to_string(&trace).expect("strace wrote its trace");
    let out = outbound(&trace);
    let files = files_under(&home);
    println!(
        "egress: {} traced network calls, {} outbound; {} files under HOME",
        trace.lines().count(),
        out.len(),
        files.len()
    );
    assert!(out.is_empty(), "the daemon reached outside loopback:\n{}", out.join("\n"));
    assert!(files.is_empty(), "the daemon wrote under HOME: {files:?}");
}

#[test]
fn outbound_recognises_a_lookup() {
    // Lines as strace printed them for the telemetry uploader before it was turned off.
    let trace = "\
13811 connect(23, {sa_family=AF_UNIX, sun_path=\"/var/run/nscd/socket\"}, 110) = -1 ENOENT
13812 connect(22, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr(\"10.255.255.53\")}, 16) = 0
13812 sendto(22, \"\\256<\\1\\0\\0\\1\\0\\0\\0\\0\\0\\0\\6mobile\\6events\"..., 50, MSG_NOSIGNAL, NULL, 0) = 50
13900 connect(9, {sa_family=AF_INET, sin_port=htons(8081), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = 0
13901 sendto(9, \"x\", 1, MSG_NOSIGNAL, NULL, 0) = 1
";
    assert_eq!(outbound(trace).len(), 2);
}
