//! cdssd load generator and same-run baselines.
//!
//! `cargo bench --bench loadgen -- --quick` (or `benches/run.sh`). Starts the
//! real `cdssd serve` binary and an echo baseline server as child processes on
//! loopback, drives them with a tonic client from this process, and prints
//! cdssd's figures next to the baselines and as ratios to them. See
//! `benches/README.md` for what each section measures.

mod client;
mod echo;
mod fake_llm;
mod inproc;
mod report;
mod scenarios;
mod sections;
mod servers;
mod workload;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;

/// The daemon's allocator, so that the in-process baselines measure what `cdssd serve` runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Load generator for cdssd with same-run baselines.
#[derive(Debug, Parser, Clone)]
#[command(name = "loadgen")]
pub struct Args {
    /// Short run (about half a minute): 2 s per point, fewer points.
    #[arg(long)]
    pub quick: bool,
    /// Seconds measured per point (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Warm-up seconds per point (not measured).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Connections for the throughput runs.
    #[arg(long, default_value_t = 4)]
    pub conns: usize,
    /// Requests in flight per connection for the throughput runs.
    #[arg(long, default_value_t = 4)]
    pub per_conn: usize,
    /// Open-loop rate for the latency target, requests/s.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Open-loop rate of the EvaluateStream runs, requests/s.
    #[arg(long, default_value_t = 200.0)]
    pub stream_rate: f64,
    /// Latency of the fake LLM, milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub llm_delay_ms: u64,
    /// Client runtime threads.
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// Sections to run (comma-separated): inproc, throughput, openloop, stream, events, workers, rules, models.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "inproc,models,rules,throughput,openloop,stream,events,workers"
    )]
    pub sections: Vec<String>,
    /// Internal: serve the echo baseline on ADDR (used by the run itself).
    #[arg(long, value_name = "ADDR", hide = true)]
    pub echo_serve: Option<String>,
    /// Internal: canned responses for --echo-serve.
    #[arg(long, hide = true)]
    pub canned: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

impl Args {
    pub fn window(&self) -> (Duration, Duration) {
        let (w, d) = if self.quick { (0.5, 2.0) } else { (self.warmup, self.duration) };
        (Duration::from_secs_f64(w), Duration::from_secs_f64(d))
    }

    pub fn wants(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(addr) = &args.echo_serve {
        let canned = args.canned.clone().unwrap_or_default();
        return match echo::serve(addr, &canned) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("echo server: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(args.client_threads).enable_all().build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(scenarios::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
