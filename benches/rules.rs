//! Rule-engine benchmarks (criterion):
//! - `all_packs/<example>`: every rule of `rules/` (all packs, no trigger filter) on one
//!   example encounter, as one request does it (fresh `enc` object and memo each time).
//! - `pack/<pack>`: one pack on the example encounter of its condition.
//! - `reload/full`: a complete reload of `rules/` (read, compile, lint, metadata, and the
//!   load-time probe that runs every rule on its test-case encounters).
//!
//! Target: all >= 35 measures on one encounter in <= 1 ms on one core.
//! Run: `cargo bench --bench rules` (release profile; not part of the test suite).
use std::{path::PathBuf, sync::Arc, time::Duration};

/// The daemon's allocator (`src/main.rs`), so that these figures are what `cdssd serve` spends
/// (with glibc malloc, allocation was ~23 % of the instructions of `all_packs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cdssd::{
    config::{Settings, Sources},
    encounter::{self, Encounter, Limits},
    rules::{api::encounter::EncounterView, eval::EvalOptions, service::compiler_from, RuleSet},
};
use chrono::{DateTime, Utc};
use criterion::{criterion_group, BenchmarkId, Criterion};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn settings() -> Settings {
    // RULES_BENCH_DIR: measure another rules directory (e.g. a variant of a pack).
    let dir = std::env::var("RULES_BENCH_DIR").unwrap_or_else(|_| root().join("rules").display().to_string());
    let mut env = vec![("CDSSD__RULES__DIR".to_string(), dir)];
    // Under valgrind a rule runs ~50x slower: the 50-ms wall-clock budget would stop (and
    // then quarantine) the heaviest rules and make the instruction counts depend on load.
    if std::env::var_os("RULES_BENCH_IR").is_some() {
        env.push(("CDSSD__RULES__MAX_RULE_MS".to_string(), "60000".to_string()));
    }
    Settings::load(&Sources { file: None, env }).expect("default settings")
}

/// Evaluation time after every example's last event.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z").unwrap().with_timezone(&Utc)
}

fn example(name: &str, limits: &Limits) -> Arc<Encounter> {
    let text = std::fs::read_to_string(root().join("examples/encounters").join(name)).unwrap();
    let pb = encounter::encounter_from_json(&text).unwrap();
    Arc::new(encounter::from_proto(&pb, limits, now()).unwrap())
}

const EXAMPLES: [&str; 9] = [
    "stemi_primary_pci.json",
    "stemi_in_progress.json",
    "heart_failure.json",
    "pneumonia_cap.json",
    "stroke_thrombolysis.json",
    "septic_shock.json",
    "vte_medical_inpatient.json",
    "elective_surgery.json",
    "outpatient_visit.json",
];

const PACK_EXAMPLE: [(&str, &str); 7] = [
    ("stemi", "stemi_primary_pci.json"),
    ("heart_failure", "heart_failure.json"),
    ("pneumonia", "pneumonia_cap.json"),
    ("stroke", "stroke_thrombolysis.json"),
    ("sepsis", "septic_shock.json"),
    ("vte", "vte_medical_inpatient.json"),
    ("periop", "elective_surgery.json"),
];

/// On-CPU time of this thread (`/proc/thread-self/schedstat`, ns): what the work costs
/// one core, whatever else the machine is doing (criterion's figures are wall time).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn cpu_us_per_iter(iters: u32, mut f: impl FnMut()) -> f64 {
    f(); // warm
    let t = thread_cpu_ns();
    for _ in 0..iters {
        f();
    }
    (thread_cpu_ns() - t) as f64 / 1000.0 / f64::from(iters)
}

/// The same cases as the criterion groups, as on-CPU microseconds per evaluation.
fn cpu_table(set: &RuleSet, limits: &Limits, compiler: &cdssd::rules::Compiler, dir: &std::path::Path) {
    let all = EvalOptions { now: now(), ..Default::default() };
    println!("\nOn-CPU time per evaluation, one thread (rule set {}, {} rules):", set.version, set.rule_count());
    for name in EXAMPLES {
        let enc = example(name, limits);
        let us = cpu_us_per_iter(2000, || {
            std::hint::black_box(run(set, &enc, &all));
        });
        println!("  all_packs/{:<26} {us:>8.1} us", name.trim_end_matches(".json"));
    }
    for (pack, name) in PACK_EXAMPLE {
        let enc = example(name, limits);
        let opts = EvalOptions { now: now(), packs: vec![pack.to_string()], ..Default::default() };
        let n = set.packs.iter().find(|p| p.id == pack).map_or(0, |p| p.rules.len());
        let us = cpu_us_per_iter(2000, || {
            std::hint::black_box(run(set, &enc, &opts));
        });
        println!("  pack/{pack:<15} ({n:>2} rules) on {:<24} {us:>8.1} us", name.trim_end_matches(".json"));
    }
    let us = cpu_us_per_iter(5, || {
        std::hint::black_box(compiler.compile_dir(dir).expect("compiles").rule_count());
    });
    println!("  reload/full {:>8.1} ms", us / 1000.0);
}

fn run(set: &RuleSet, enc: &Arc<Encounter>, opts: &EvalOptions) -> usize {
    let view = EncounterView::dynamic(enc.clone(), set.value_sets.clone());
    set.evaluate(&view, opts).findings.len()
}

fn benches(c: &mut Criterion) {
    let settings = settings();
    let limits = Limits::from_settings(&settings.encounter);
    let compiler = compiler_from(&settings);
    let set = compiler.compile_dir(&settings.rules.dir).expect("rules/ compiles");
    eprintln!("rule set {}: {} packs, {} rules", set.version, set.packs.len(), set.rule_count());

    let all = EvalOptions { now: now(), ..Default::default() };
    let mut g = c.benchmark_group("all_packs");
    for name in EXAMPLES {
        let enc = example(name, &limits);
        assert_eq!(run(&set, &enc, &all), set.rule_count());
        g.bench_with_input(BenchmarkId::from_parameter(name.trim_end_matches(".json")), &enc, |b, enc| {
            b.iter(|| run(&set, enc, &all))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("pack");
    for (pack, name) in PACK_EXAMPLE {
        let enc = example(name, &limits);
        let opts = EvalOptions { now: now(), packs: vec![pack.to_string()], ..Default::default() };
        g.bench_with_input(BenchmarkId::from_parameter(pack), &enc, |b, enc| b.iter(|| run(&set, enc, &opts)));
    }
    g.finish();

    cpu_table(&set, &limits, &compiler, &settings.rules.dir);

    let mut g = c.benchmark_group("reload");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("full", |b| b.iter(|| compiler.compile_dir(&settings.rules.dir).expect("compiles").rule_count()));
    g.finish();
}

criterion_group! {
    name = rules;
    config = Criterion::default().sample_size(30).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = benches
}
/// `RULES_BENCH_IR=<example>[,<example>...]` (and `RULES_BENCH_ITERS`, default 20): run only
/// `all_packs/<example>` that many times and exit, without criterion — a short, repeatable
/// run for `valgrind --tool=callgrind --toggle-collect='*ir_loop*'` (instruction counts do not
/// depend on machine load).
fn ir_only(names: &str) {
    let settings = settings();
    let limits = Limits::from_settings(&settings.encounter);
    let set = compiler_from(&settings).compile_dir(&settings.rules.dir).expect("rules/ compiles");
    let iters: u32 = std::env::var("RULES_BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let all = EvalOptions { now: now(), ..Default::default() };
    for name in names.split(',') {
        let file = if name.ends_with(".json") { name.to_string() } else { format!("{name}.json") };
        let enc = example(&file, &limits);
        ir_loop(&set, &enc, &all, iters);
    }
}

/// The measured loop (`--toggle-collect='*ir_loop*'` counts only this; one example per run
/// gives that example's instructions).
#[inline(never)]
fn ir_loop(set: &RuleSet, enc: &Arc<Encounter>, opts: &EvalOptions, iters: u32) {
    for _ in 0..iters {
        std::hint::black_box(run(set, enc, opts));
    }
}

/// `RULES_BENCH_PER_RULE=<example>`: mean time per rule that ran (its finding's duration)
/// over `RULES_BENCH_ITERS` evaluations, slowest first.
fn per_rule(name: &str) {
    let settings = settings();
    let limits = Limits::from_settings(&settings.encounter);
    let set = compiler_from(&settings).compile_dir(&settings.rules.dir).expect("rules/ compiles");
    let iters: u32 = std::env::var("RULES_BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let all = EvalOptions { now: now(), ..Default::default() };
    let enc = example(&format!("{}.json", name.trim_end_matches(".json")), &limits);
    let mut total: std::collections::BTreeMap<String, f64> = Default::default();
    for _ in 0..iters {
        let view = EncounterView::dynamic(enc.clone(), set.value_sets.clone());
        for f in set.evaluate(&view, &all).findings {
            *total.entry(format!("{} {}", f.rule_id, f.status)).or_default() += f.duration.as_secs_f64();
        }
    }
    let mut rows: Vec<_> = total.into_iter().collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (rule, t) in rows {
        println!("{:>9.1} us  {rule}", t * 1e6 / f64::from(iters));
    }
}

fn main() {
    if let Ok(name) = std::env::var("RULES_BENCH_PER_RULE") {
        per_rule(&name);
        return;
    }
    if let Ok(names) = std::env::var("RULES_BENCH_IR") {
        ir_only(&names);
        return;
    }
    rules();
    Criterion::default().configure_from_args().final_summary();
}
