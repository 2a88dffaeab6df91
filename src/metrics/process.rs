//! Process metrics read from `/proc/self` at scrape time (Linux; elsewhere
//! nothing is written): resident memory, CPU seconds, open descriptors.

use std::fmt::Write;

/// Clock ticks per second of `/proc/<pid>/stat` times: USER_HZ, which the
/// kernel fixes at 100 for this interface on every mainstream architecture.
const USER_HZ: f64 = 100.0;

/// One reading of the process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub resident_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<u64>,
}

/// Read `/proc/self`.
pub fn sample() -> Sample {
    Sample {
        resident_bytes: std::fs::read_to_string("/proc/self/status").ok().and_then(|s| parse_vm_rss(&s)),
        cpu_seconds: std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| parse_cpu_seconds(&s)),
        open_fds: std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64),
    }
}

/// `VmRSS:  12345 kB` of `/proc/<pid>/status`, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => value.checked_mul(1024),
        _ => None,
    }
}

/// utime + stime (fields 14 and 15) of `/proc/<pid>/stat`, in seconds. The
/// command name (field 2) may contain spaces and parentheses: fields are
/// counted after its closing parenthesis.
pub fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3 (state); utime is field 14 -> index 11.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// Append the process families in the Prometheus text format.
pub fn render(sample: &Sample, out: &mut String) {
    if let Some(v) = sample.resident_bytes {
        family(
            out,
            "cdssd_process_resident_memory_bytes",
            "gauge",
            "Resident memory of the process, bytes.",
            &v.to_string(),
        );
    }
    if let Some(v) = sample.cpu_seconds {
        family(
            out,
            "cdssd_process_cpu_seconds_total",
            "counter",
            "User and system CPU time of the process, seconds.",
            &v.to_string(),
        );
    }
    if let Some(v) = sample.open_fds {
        family(out, "cdssd_process_open_fds", "gauge", "Open file descriptors of the process.", &v.to_string());
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str, value: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n");
}
