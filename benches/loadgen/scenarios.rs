//! The run: in-process baselines, then the gRPC sections against the echo
//! baseline and cdssd, each printed as a Markdown table with ratios and the
//! verdict on the targets of issue 7.

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use cdssd::proto::v1 as pb;

use crate::{
    client::{self, Load, Rpc, RunStats},
    echo, fake_llm, inproc,
    report::{self, ratio, verdict, Row},
    servers::{cpu_of, rss_of, threads_of, Scratch, Server},
    workload::{self, Work},
    Args,
};

/// Configuration of every cdssd of the run (in-process and child), as `CDSSD__*` pairs.
fn base_env(llm_url: &str) -> Vec<(String, String)> {
    [
        // The 10,000-event encounters spread ~2,500 items over each of 4 lists.
        ("CDSSD__ENCOUNTER__MAX_ITEMS_PER_LIST", "10000"),
        ("CDSSD__LLM__BASE_URL", llm_url),
        ("CDSSD__LLM__MODEL", "loadgen-fake"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("{cores} × {cpu}; load average at start {}", load.join(" "))
}

fn git_rev(root: &Path) -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Drive `fut` against `srv`, sampling the server's CPU and RSS over the measurement window.
pub async fn measure(
    srv: &Server,
    label: impl Into<String>,
    (warmup, duration): (Duration, Duration),
    fut: impl Future<Output = RunStats>,
) -> Row {
    let pid = srv.pid();
    let sampler = tokio::spawn(async move {
        tokio::time::sleep(warmup).await;
        let (c0, end) = (cpu_of(pid), Instant::now() + duration);
        let (mut peak, mut threads): (f64, usize) = (0.0, 0);
        while Instant::now() < end {
            peak = peak.max(rss_of(pid).0);
            threads = threads.max(threads_of(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (cpu_of(pid).saturating_sub(c0), peak.max(rss_of(pid).0), threads)
    });
    let stats = fut.await;
    let (server_cpu, rss_mb, threads) = sampler.await.unwrap_or_default();
    Row { label: label.into(), stats, server_cpu, rss_mb, threads }
}

pub fn load(requests: Vec<pb::EvaluateRequest>, rpc: Rpc, window: (Duration, Duration)) -> Load {
    Load {
        requests: Arc::new(requests),
        rpc,
        warmup: window.0,
        duration: window.1,
        timeout: Duration::from_secs(10),
        stream_hold: Duration::ZERO,
    }
}

async fn start_cdssd(
    label: &str,
    root: &Path,
    env: &[(String, String)],
    workers: usize,
    scratch: &Path,
) -> anyhow::Result<Server> {
    let mut env = env.to_vec();
    env.push(("TOKIO_WORKER_THREADS".into(), workers.to_string()));
    let log = scratch.join(format!("cdssd-{workers}.log"));
    let mut s = Server::cdssd(label, root, &env, &log)?;
    s.ready(&log).await?;
    Ok(s)
}

async fn start_echo(label: &str, canned: &Path, workers: usize, scratch: &Path) -> anyhow::Result<Server> {
    let log = scratch.join(format!("echo-{workers}.log"));
    let mut s = Server::echo(label, canned, Some(workers), &log)?;
    s.ready(&log).await?;
    Ok(s)
}

/// One `Evaluate` per work item (LLM skipped): checks that cdssd accepts each
/// encounter and records the responses the echo server will replay.
async fn capture(srv: &Server, works: &[&Work]) -> anyhow::Result<Vec<pb::EvaluateResponse>> {
    let mut c = client::connect(&srv.addr, 1).await?.remove(0);
    let mut out = Vec::new();
    for w in works {
        let r = c
            .evaluate(w.with_llm(pb::LlmMode::Skip))
            .await
            .with_context(|| format!("cdssd refused {} ({} events)", w.name, w.events))?;
        out.push(r.into_inner());
    }
    Ok(out)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scratch = Scratch::new()?;
    let window = args.window();
    let examples = workload::examples(&root.join("examples/encounters"))?;
    let stemi = examples.iter().find(|w| w.name.starts_with("stemi_primary")).unwrap_or(&examples[0]).clone();
    let mut sized: Vec<Work> = [10, 1000, 10_000].iter().map(|&n| workload::scaled(&stemi, n)).collect();
    sized.insert(1, stemi.clone());
    let (llm_url, llm_calls) = fake_llm::start(Duration::from_millis(args.llm_delay_ms)).await?;
    let env = base_env(&llm_url);

    println!("# cdssd load generator\n");
    println!("- date: {} UTC", chrono::Utc::now().format("%Y-%m-%d %H:%M"));
    println!("- machine: {}", machine());
    println!("- commit: {}; mode: {}", git_rev(&root), if args.quick { "--quick" } else { "full" });
    println!(
        "- window per point: {:.1} s warm-up + {:.1} s measured; client: {} runtime threads, same machine",
        window.0.as_secs_f64(),
        window.1.as_secs_f64(),
        args.client_threads
    );
    println!(
        "- mix: {} example encounters, round robin; scaled: `{}` to 10 / 1,000 / 10,000 events\n",
        examples.len(),
        stemi.name
    );

    let stage_min = Duration::from_millis(if args.quick { 40 } else { 150 });
    if args.wants("inproc") || args.wants("models") || args.wants("rules") {
        let settings = inproc::settings(&env)?;
        let s = settings.clone();
        let p = tokio::task::spawn_blocking(move || cdssd::pipeline::Pipeline::new(s))
            .await?
            .map_err(anyhow::Error::msg)?;
        if args.wants("inproc") {
            let all: Vec<&Work> = examples.iter().chain(sized.iter().filter(|w| w.name.contains("-x"))).collect();
            crate::sections::inproc(&p, &all, stage_min)?;
        }
        if args.wants("models") {
            crate::sections::models(&p, &settings, &examples, stage_min)?;
        }
        if args.wants("rules") {
            crate::sections::rule_count(&p, &root, &env, &examples, stage_min, scratch.0.as_path())?;
        }
    }

    if !["throughput", "openloop", "stream", "events", "workers"].iter().any(|s| args.wants(s)) {
        return Ok(());
    }
    let cdssd = start_cdssd("cdssd", &root, &env, 2, &scratch.0).await?;
    let works: Vec<&Work> = examples.iter().chain(sized.iter()).collect();
    let canned = scratch.0.join("canned.bin");
    echo::write_canned(&canned, &capture(&cdssd, &works).await?)?;
    let echo = start_echo("echo", &canned, 2, &scratch.0).await?;
    let mix: Vec<pb::EvaluateRequest> = examples.iter().map(|w| w.with_llm(pb::LlmMode::Skip)).collect();
    let mean_req = examples.iter().map(|w| w.bytes).sum::<usize>() / examples.len();

    let mut tput = None;
    if args.wants("throughput") {
        println!(
            "## Max throughput: Evaluate, {} connections × {} in flight, mix (mean request {:.1} KiB)\n",
            args.conns,
            args.per_conn,
            mean_req as f64 / 1024.0
        );
        let (e, c) = throughput(&args, &echo, &cdssd, &mix, window, "2 workers").await?;
        println!("{}\n", report::table(&[&e, &c]));
        let r = c.stats.throughput() / e.stats.throughput();
        println!(
            "cdssd / echo throughput: **{}** (target ≥ 0.50×: {}); CPU per request {} of echo\n",
            ratio(c.stats.throughput(), e.stats.throughput()),
            verdict(r >= 0.5),
            ratio(c.cpu_us_per_req(), e.cpu_us_per_req())
        );
        tput = Some((e, c));
    }

    if args.wants("openloop") {
        println!("## Open loop: Evaluate at {:.0} req/s, mix, {} connections\n", args.rate, args.conns);
        let l = load(mix.clone(), Rpc::Unary, window);
        let ce = client::connect(&echo.addr, args.conns).await?;
        let e =
            measure(&echo, format!("echo @{:.0}/s", args.rate), window, client::open_loop(&ce, args.rate, &l)).await;
        let cc = client::connect(&cdssd.addr, args.conns).await?;
        let c =
            measure(&cdssd, format!("cdssd @{:.0}/s", args.rate), window, client::open_loop(&cc, args.rate, &l)).await;
        println!("{}\n", report::table(&[&e, &c]));
        println!("cdssd p99 {:.2} ms (target ≤ 10 ms: {}); echo p99 {:.2} ms; ratio {}; peak RSS {:.0} MiB (target ≤ 200: {})\n", c.q(0.99), verdict(c.q(0.99) <= 10.0 && c.stats.error_count() == 0), e.q(0.99), ratio(c.q(0.99), e.q(0.99)), c.rss_mb, verdict(c.rss_mb <= 200.0));
    }

    if args.wants("stream") {
        crate::sections::stream(&args, &cdssd, &examples, window, &llm_calls).await?;
    }
    if args.wants("events") {
        crate::sections::events(&echo, &cdssd, &sized, window).await?;
    }
    if args.wants("workers") {
        println!("## Worker threads: Evaluate max throughput, 1 vs 2 tokio workers (server side)\n");
        let two = match tput {
            Some(t) => t,
            None => throughput(&args, &echo, &cdssd, &mix, window, "2 workers").await?,
        };
        drop((echo, cdssd));
        let cdssd1 = start_cdssd("cdssd", &root, &env, 1, &scratch.0).await?;
        let echo1 = start_echo("echo", &canned, 1, &scratch.0).await?;
        let one = throughput(&args, &echo1, &cdssd1, &mix, window, "1 worker").await?;
        println!("{}\n", report::table(&[&one.0, &one.1, &two.0, &two.1]));
        println!(
            "cdssd 2 / 1 workers: {}; echo 2 / 1 workers: {}; cdssd / echo with 1 worker: {}\n",
            ratio(two.1.stats.throughput(), one.1.stats.throughput()),
            ratio(two.0.stats.throughput(), one.0.stats.throughput()),
            ratio(one.1.stats.throughput(), one.0.stats.throughput())
        );
    }
    Ok(())
}

/// Echo then cdssd, closed loop at `conns × per_conn` in flight.
pub async fn throughput(
    args: &Args,
    echo: &Server,
    cdssd: &Server,
    mix: &[pb::EvaluateRequest],
    window: (Duration, Duration),
    tag: &str,
) -> anyhow::Result<(Row, Row)> {
    let l = load(mix.to_vec(), Rpc::Unary, window);
    let ce = client::connect(&echo.addr, args.conns).await?;
    let e = measure(echo, format!("echo, {tag}"), window, client::closed_loop(&ce, args.per_conn, &l)).await;
    let cc = client::connect(&cdssd.addr, args.conns).await?;
    let c = measure(cdssd, format!("cdssd, {tag}"), window, client::closed_loop(&cc, args.per_conn, &l)).await;
    Ok((e, c))
}
