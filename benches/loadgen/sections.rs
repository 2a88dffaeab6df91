//! Sections of the report besides the headline throughput / latency runs.

use std::{path::Path, time::Duration};

use cdssd::{
    config::Settings,
    pipeline::Pipeline,
    proto::v1 as pb,
    risk::{
        manifest::{ElementType, Manifest},
        score, Runtime,
    },
    rules::RuleService,
};

use crate::{
    client::{self, Rpc},
    fake_llm,
    inproc::{self, per_call},
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
pub fn models(p: &Pipeline, settings: &Settings, examples: &[Work], min: Duration) -> anyhow::Result<()> {
    println!("## Risk models: in-daemon scoring vs bare Session::run on the same input (CPU µs, one thread)\n");
    let reg = p.risk().registry();
    if reg.models.is_empty() {
        println!("Skipped: no model loaded (risk.enabled = false, or onnxruntime missing).\n");
        return Ok(());
    }
    let rt = Runtime::init(&settings.risk)?;
    println!("| model | encounter | bare Session::run | score (features + run) | ratio | with explanations | ratio | risk.evaluate (all models) |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut worst: (f64, f64) = (0.0, 0.0);
    for model in &reg.models {
        let m = &model.manifest;
        let found = examples.iter().find_map(|w| {
            let ctx = p.prepare(&w.req, inproc::call()).ok()?;
            let enc = &ctx.evaluation().encounter;
            let ok = score::not_applicable(m, enc).is_none() && score::prepare(m, enc).refusals.is_empty();
            ok.then_some((w, ctx))
        });
        let Some((w, ctx)) = found else {
            println!("| {} | (no example encounter applies) | | | | | | |", m.id);
            continue;
        };
        let bytes = std::fs::read(settings.risk.dir.join(&m.id).join(&m.model_file))?;
        let (mut session, _) = rt.session(&bytes, false).map_err(anyhow::Error::msg)?;
        let row = score::prepare(m, &ctx.evaluation().encounter).row;
        let (_, bare) = per_call(min, || {
            std::hint::black_box(bare_run(&mut session, m, &row).ok());
        });
        let (_, plain) = per_call(min, || {
            std::hint::black_box(score::score(model, &ctx.evaluation().encounter, false));
        });
        let (_, explained) = per_call(min, || {
            std::hint::black_box(score::score(model, &ctx.evaluation().encounter, true));
        });
        let (_, all) = per_call(min, || {
            std::hint::black_box(ctx.snapshot().models.evaluate(ctx.evaluation()));
        });
        worst = (worst.0.max(plain / bare), worst.1.max(explained / bare));
        println!(
            "| {} | {} | {bare:.1} | {plain:.1} | {} | {explained:.1} | {} | {all:.1} |",
            m.id,
            w.name,
            ratio(plain, bare),
            ratio(explained, bare)
        );
    }
    println!(
        "\nWorst in-daemon / bare: {:.2}× (target ≤ 2×: {}); with explanations {:.2}× (target ≤ 10×: {})\n",
        worst.0,
        verdict(worst.0 <= 2.0),
        worst.1,
        verdict(worst.1 <= 10.0)
    );
    Ok(())
}

/// One row through a session the way a minimal caller would: tensor in, probability column out.
fn bare_run(session: &mut ort::session::Session, m: &Manifest, row: &[f64]) -> anyhow::Result<f64> {
    let shape = (1, row.len());
    let outputs = match m.input.element_type {
        ElementType::Float32 => {
            let a = ndarray::Array2::from_shape_vec(shape, row.iter().map(|v| *v as f32).collect())?;
            session.run(ort::inputs![m.input.name.as_str() => ort::value::TensorRef::from_array_view(&a)?])?
        }
        ElementType::Float64 => {
            let a = ndarray::Array2::from_shape_vec(shape, row.to_vec())?;
            session.run(ort::inputs![m.input.name.as_str() => ort::value::TensorRef::from_array_view(&a)?])?
        }
    };
    let v = &outputs[m.output.name.as_str()];
    let p = match m.output.element_type {
        ElementType::Float32 => f64::from(*v.try_extract_tensor::<f32>()?.1.get(m.output.column).unwrap_or(&f32::NAN)),
        ElementType::Float64 => *v.try_extract_tensor::<f64>()?.1.get(m.output.column).unwrap_or(&f64::NAN),
    };
    Ok(p)
}

/// Rules CPU as the rule set grows ×1, ×4, ×16 (copies of the shipped packs).
pub fn rule_count(
    p: &Pipeline,
    root: &Path,
    env: &[(String, String)],
    examples: &[Work],
    min: Duration,
    scratch: &Path,
) -> anyhow::Result<()> {
    println!("## Rule count: rules CPU per encounter with ×1, ×4, ×16 the shipped packs (one thread)\n");
    let src = root.join("rules");
    if !src.is_dir() {
        println!("Skipped: no rules/ directory in this build.\n");
        return Ok(());
    }
    println!("| rule set | rules | findings (mix) | mean rules CPU µs per encounter | max µs | per rule-evaluation µs | vs ×1 |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut base = None;
    for n in [1usize, 4, 16] {
        let dir = scratch.join(format!("rules-x{n}"));
        replicate_rules(&src, &dir, n)?;
        let mut env = env.to_vec();
        env.push(("CDSSD__RULES__DIR".into(), dir.display().to_string()));
        env.push(("CDSSD__RULES__WATCH".into(), "false".into()));
        let settings = inproc::settings(&env)?;
        let rules = RuleService::load(&settings).map_err(anyhow::Error::msg)?;
        let count: usize = rules.list().packs.iter().map(|p| p.rules.len()).sum();
        let (mut total, mut max, mut findings) = (0.0, 0.0f64, 0usize);
        for w in examples {
            let ctx = p.prepare(&w.req, inproc::call())?;
            let set = rules.current();
            let (_, cpu) = per_call(min, || {
                std::hint::black_box(cdssd::rules::service::run(&set, ctx.evaluation()));
            });
            findings += cdssd::rules::service::run(&set, ctx.evaluation()).0.len();
            total += cpu;
            max = max.max(cpu);
        }
        let mean = total / examples.len() as f64;
        let per_eval = if findings > 0 { total / findings as f64 } else { f64::NAN };
        let b = *base.get_or_insert(mean);
        println!("| ×{n} | {count} | {findings} | {mean:.0} | {max:.0} | {per_eval:.2} | {} |", ratio(mean, b));
    }
    println!("\n(Linear in the rule count: ×4 ≈ 4×, ×16 ≈ 16×.)\n");
    Ok(())
}

/// Copy `src` to `dst` with every pack (a directory holding `pack.toml`) present `n`
/// times: copy k ≥ 1 is renamed `<pack>_c<k>` (directory, pack id and rule ids) and
/// carries no test cases. Other files and directories (value sets) are copied once.
fn replicate_rules(src: &Path, dst: &Path, n: usize) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(dst);
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if !path.join("pack.toml").is_file() {
            copy_tree(&path, &dst.join(&name), &|_: &str| true, &|t: String| t)?;
            continue;
        }
        for k in 0..n {
            if k == 0 {
                copy_tree(&path, &dst.join(&name), &|_: &str| true, &|t: String| t)?;
                continue;
            }
            let new = format!("{name}_c{k}");
            let (from_id, to_id) = (format!("\"{name}."), format!("\"{new}."));
            copy_tree(&path, &dst.join(&new), &|f: &str| f != "tests", &|t: String| t.replace(&from_id, &to_id))?;
            let pack = dst.join(&new).join("pack.toml");
            let text = std::fs::read_to_string(&pack)?;
            let text = text.replacen(&format!("id = \"{name}\""), &format!("id = \"{new}\""), 1);
            std::fs::write(&pack, text)?;
        }
    }
    Ok(())
}

fn copy_tree(
    src: &Path,
    dst: &Path,
    keep: &dyn Fn(&str) -> bool,
    edit: &dyn Fn(String) -> String,
) -> anyhow::Result<()> {
    if src.is_file() {
        let text = std::fs::read(src)?;
        match String::from_utf8(text) {
            Ok(t) => std::fs::write(dst, edit(t))?,
            Err(e) => std::fs::write(dst, e.into_bytes())?,
        }
        return Ok(());
    }
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if keep(&name) {
            copy_tree(&path, &dst.join(&name), keep, edit)?;
        }
    }
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
