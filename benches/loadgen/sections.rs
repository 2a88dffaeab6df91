//! Sections of the report besides the headline throughput / latency runs.

use std::{path::Path, time::Duration};

use cdssd::{pipeline::Pipeline, proto::v1 as pb};

use crate::{
    client::{self, Rpc},
    fake_llm, inproc,
    report::{self, ratio, verdict},
    scenarios::{load as make_load, measure as measure_on},
    servers::Server,
    workload::Work,
    Args,
};

/// Each stage of one evaluation in-process (no gRPC), CPU µs of one thread.
pub fn inproc(p: &Pipeline, works: &[&Work], min: Duration) -> anyhow::Result<()> {
    println!("## In-process stages (no gRPC): CPU µs per encounter, one thread\n");
    println!("| encounter | events | request KiB | response KiB | findings | risks | decode | validate | rules | risk | assemble+encode | total |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rules = Vec::new();
    for w in works {
        let s = inproc::stages(p, w, min)?;
        println!(
            "| {} | {} | {:.1} | {:.1} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            s.name,
            s.events,
            s.req_bytes as f64 / 1024.0,
            s.resp_bytes as f64 / 1024.0,
            s.findings,
            s.risks,
            s.decode,
            s.validate,
            s.rules,
            s.risk,
            s.assemble_encode,
            s.total()
        );
        if !w.name.contains("-x") {
            rules.push(s.rules);
        }
    }
    rules.sort_by(f64::total_cmp);
    let (median, max) = (rules[rules.len() / 2], rules[rules.len() - 1]);
    println!(
        "\nRules CPU per example encounter (all applicable packs): median {median:.0} µs, max {max:.0} µs (target ≤ 1,000 µs: {})\n",
        verdict(max <= 1000.0)
    );
    Ok(())
}

/// Model scoring in the pipeline against a bare `Session::run` on the same input.
pub fn models(p: &Pipeline, examples: &[Work], min: Duration) -> anyhow::Result<()> {
    println!("## Risk models: pipeline scoring vs bare Session::run\n");
    let _ = (p, examples, min);
    println!("Skipped: the risk registry is not in this build yet.\n");
    Ok(())
}

/// Rules CPU as the rule set grows ×1, ×4, ×16 (copies of the shipped packs).
pub fn rule_count(
    root: &Path,
    env: &[(String, String)],
    examples: &[Work],
    min: Duration,
    scratch: &Path,
) -> anyhow::Result<()> {
    println!("## Rule count: rules CPU per encounter with ×1, ×4, ×16 the shipped packs\n");
    let _ = (root, env, examples, min, scratch);
    println!("Skipped: the rules engine is not in this build yet.\n");
    Ok(())
}

/// First `EvaluateStream` message without and with 5-s LLM calls in flight.
pub async fn stream(
    args: &Args,
    cdssd: &Server,
    examples: &[Work],
    window: (Duration, Duration),
    llm_calls: &fake_llm::Counter,
) -> anyhow::Result<()> {
    println!(
        "## EvaluateStream: first message at {:.0} req/s open loop, without and with LLM calls of {} ms in flight\n",
        args.stream_rate, args.llm_delay_ms
    );
    let conns = client::connect(&cdssd.addr, args.conns).await?;
    let skip: Vec<_> = examples.iter().map(|w| w.with_llm(pb::LlmMode::Skip)).collect();
    let l = make_load(skip, Rpc::Stream, window);
    let a = measure_on(cdssd, "stream, LLM skipped", window, client::open_loop(&conns, args.stream_rate, &l)).await;
    let asked: Vec<_> = examples.iter().map(|w| w.with_llm(pb::LlmMode::Request)).collect();
    let mut l = make_load(asked, Rpc::Stream, window);
    l.stream_hold = Duration::from_millis(args.llm_delay_ms + 3000);
    l.timeout = l.stream_hold + Duration::from_secs(2);
    let before = llm_calls.get();
    let b = measure_on(cdssd, "stream, LLM requested", window, client::open_loop(&conns, args.stream_rate, &l)).await;
    println!("{}\n", report::table(&[&a, &b]));
    let (pa, pb) = (a.q(0.99), b.q(0.99));
    println!(
        "First-message p99 with LLM in flight / without: **{}** (target ≤ 1.10×: {}); LLM calls received by the fake server: {}; drafts delivered: {} of {} streams; stream end p50 {:.0} ms\n",
        ratio(pb, pa),
        verdict(pb <= pa * 1.10),
        llm_calls.get() - before,
        b.stats.drafts,
        b.stats.ok,
        b.tq(0.5)
    );
    Ok(())
}

/// Latency and server CPU per request as the encounter grows, echo and cdssd, one request at a time.
pub async fn events(echo: &Server, cdssd: &Server, sized: &[Work], window: (Duration, Duration)) -> anyhow::Result<()> {
    println!("## Encounter size: Evaluate one at a time (1 connection, 1 in flight)\n");
    println!("| encounter | events | request KiB | echo p50 ms | cdssd p50 ms | cdssd p99 ms | echo CPU µs/req | cdssd CPU µs/req | cdssd − echo µs/req | (cdssd − echo) / event µs |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ce = client::connect(&echo.addr, 1).await?;
    let cc = client::connect(&cdssd.addr, 1).await?;
    let mut points = Vec::new();
    for w in sized {
        let l = make_load(vec![w.with_llm(pb::LlmMode::Skip)], Rpc::Unary, window);
        let e = measure_on(echo, "echo", window, client::closed_loop(&ce, 1, &l)).await;
        let c = measure_on(cdssd, "cdssd", window, client::closed_loop(&cc, 1, &l)).await;
        let extra = c.cpu_us_per_req() - e.cpu_us_per_req();
        println!(
            "| {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} | {:.2} |",
            w.name,
            w.events,
            w.bytes as f64 / 1024.0,
            e.q(0.5),
            c.q(0.5),
            c.q(0.99),
            e.cpu_us_per_req(),
            c.cpu_us_per_req(),
            extra,
            extra / w.events as f64
        );
        points.push((w.events as f64, c.cpu_us_per_req()));
    }
    if let [.., a, b, c] = points.as_slice() {
        let (m1, m2) = ((b.1 - a.1) / (b.0 - a.0), (c.1 - b.1) / (c.0 - b.0));
        println!(
            "\nMarginal cdssd CPU per added event: {m1:.2} µs ({:.0} → {:.0} events), {m2:.2} µs ({:.0} → {:.0}); growth {} (linear if ≈ 1×)\n",
            a.0,
            b.0,
            b.0,
            c.0,
            ratio(m2, m1)
        );
    }
    Ok(())
}
