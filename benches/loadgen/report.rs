//! Rows of the report and their Markdown tables.

use std::time::Duration;

use crate::client::RunStats;

/// One measured point against one server.
pub struct Row {
    pub label: String,
    pub stats: RunStats,
    /// Server CPU time spent in the measurement window.
    pub server_cpu: Duration,
    /// Highest VmRSS seen in the window, MiB.
    pub rss_mb: f64,
    /// Most server threads seen in the window.
    pub threads: usize,
}

impl Row {
    pub fn cpu_us_per_req(&self) -> f64 {
        if self.stats.ok == 0 {
            return f64::NAN;
        }
        self.server_cpu.as_secs_f64() * 1e6 / self.stats.ok as f64
    }

    /// Server cores busy on average.
    pub fn cores(&self) -> f64 {
        self.server_cpu.as_secs_f64() / self.stats.window.as_secs_f64()
    }

    pub fn q(&self, q: f64) -> f64 {
        self.stats.latency.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn tq(&self, q: f64) -> f64 {
        self.stats.total.value_at_quantile(q) as f64 / 1000.0
    }
}

pub const LATENCY_HEADER: &str = "| run | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU µs/req | server cores | RSS MiB | threads |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

pub fn latency_line(r: &Row) -> String {
    let errs = if r.stats.errors.is_empty() {
        "0".to_string()
    } else {
        r.stats.errors.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
    };
    format!(
        "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.0} | {} |",
        r.label,
        r.stats.throughput(),
        r.q(0.5),
        r.q(0.9),
        r.q(0.99),
        r.q(0.999),
        r.stats.latency.max() as f64 / 1000.0,
        errs,
        r.cpu_us_per_req(),
        r.cores(),
        r.rss_mb,
        r.threads
    )
}

pub fn table(rows: &[&Row]) -> String {
    let mut s = String::from(LATENCY_HEADER);
    for r in rows {
        s.push('\n');
        s.push_str(&latency_line(r));
    }
    s
}

/// "x.xx×" or "n/a".
pub fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.2}×", a / b)
    } else {
        "n/a".into()
    }
}

/// Verdict word for a target.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "MET"
    } else {
        "NOT MET"
    }
}
