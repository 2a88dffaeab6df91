//! Risk scoring cost, measured against a bare `Session::run` on the same input in the
//! same run (issue target: in-daemon scoring within 2x of bare, explanations within 10x).
//!
//! Needs the ONNX Runtime library (scripts/setup-onnxruntime.sh). Run:
//!   cargo bench --bench risk
//! Groups, for each shipped model:
//!   bare_session_run      one row through Session::run (tensor in, probability out)
//!   score_no_explain      in-daemon: features from the encounter + checks + run + RiskScore
//!   score_with_explain    the same plus one batched run with one row per explained feature
//!   batch64_bare / batch64_model   64 rows in one run: bare vs LoadedModel::run
//!   model_run_one_row / prepare_features   the two halves of score_no_explain
//!
//! On a shared machine wall time is noisy; instruction counts are not. `RISK_PROBE`
//! (see `probe`) runs one operation n times for callgrind, e.g.
//!   RISK_PROBE=ami-1y-mortality:score:2000 valgrind --tool=callgrind \
//!     --callgrind-out-file=cg.out target/release/deps/risk-<hash>
//!   callgrind_annotate --inclusive=yes cg.out | grep -E 'score::score \[|bare_f(32|64) \['
//! and the inclusive count of `score::score` (or `bare_f32`/`bare_f64`) divided by n is the
//! cost per call.

use std::hint::black_box;
use std::path::Path;

use cdssd::config::Settings;
use cdssd::encounter::{self, Encounter};
use cdssd::risk::model::LoadedModel;
use cdssd::risk::score;
use cdssd::risk::Runtime;
use criterion::{criterion_group, Criterion};
use ndarray::Array2;
use ort::session::Session;
use ort::value::TensorRef;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn example(name: &str) -> Encounter {
    let text = std::fs::read_to_string(format!("{ROOT}/examples/encounters/{name}.json")).unwrap();
    let s = Settings::embedded().unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().to_utc();
    encounter::from_proto(
        &encounter::encounter_from_json(&text).unwrap(),
        &encounter::Limits::from_settings(&s.encounter),
        now,
    )
    .unwrap()
}

fn bare_f32(s: &mut Session, input: &str, output: &str, col: usize, rows: &Array2<f32>) -> f32 {
    let out = s.run(ort::inputs![input => TensorRef::from_array_view(rows).unwrap()]).unwrap();
    let (_, data) = out[output].try_extract_tensor::<f32>().unwrap();
    data[col]
}

fn bare_f64(s: &mut Session, input: &str, output: &str, col: usize, rows: &Array2<f64>) -> f64 {
    let out = s.run(ort::inputs![input => TensorRef::from_array_view(rows).unwrap()]).unwrap();
    let (_, data) = out[output].try_extract_tensor::<f64>().unwrap();
    data[col]
}

fn bench_model(c: &mut Criterion, rt: &Runtime, id: &str, enc: &Encounter) {
    let dir = Path::new(ROOT).join("models").join(id);
    let model = LoadedModel::load(&dir, rt, 1, false).unwrap();
    let m = &model.manifest;
    let (input, output, col) = (m.input.name.clone(), m.output.name.clone(), m.output.column);
    let bytes = std::fs::read(dir.join(&m.model_file)).unwrap();
    let (mut bare, _) = rt.session(&bytes, false).unwrap();
    let row = score::prepare(m, enc).row;
    let n = row.len();
    let batch: Vec<Vec<f64>> = vec![row.clone(); 64];
    let f32_one = Array2::from_shape_vec((1, n), row.iter().map(|v| *v as f32).collect()).unwrap();
    let f64_one = Array2::from_shape_vec((1, n), row.clone()).unwrap();
    let f32_batch = Array2::from_shape_vec((64, n), batch.iter().flatten().map(|v| *v as f32).collect()).unwrap();
    let f64_batch = Array2::from_shape_vec((64, n), batch.iter().flatten().copied().collect()).unwrap();
    let is_f32 = m.input.element_type == cdssd::risk::manifest::ElementType::Float32;
    // Warm both.
    for _ in 0..100 {
        black_box(score::score(&model, enc, true));
    }

    let mut g = c.benchmark_group(id);
    g.bench_function("bare_session_run", |b| {
        if is_f32 {
            b.iter(|| bare_f32(&mut bare, &input, &output, col, black_box(&f32_one)))
        } else {
            b.iter(|| bare_f64(&mut bare, &input, &output, col, black_box(&f64_one)) as f32)
        }
    });
    g.bench_function("model_run_one_row", |b| b.iter(|| model.run(black_box(std::slice::from_ref(&row))).unwrap()));
    g.bench_function("prepare_features", |b| b.iter(|| score::prepare(m, black_box(enc))));
    g.bench_function("score_no_explain", |b| b.iter(|| score::score(&model, black_box(enc), false)));
    g.bench_function("score_with_explain", |b| b.iter(|| score::score(&model, black_box(enc), true)));
    g.bench_function("batch64_bare", |b| {
        if is_f32 {
            b.iter(|| bare_f32(&mut bare, &input, &output, col, black_box(&f32_batch)))
        } else {
            b.iter(|| bare_f64(&mut bare, &input, &output, col, black_box(&f64_batch)) as f32)
        }
    });
    g.bench_function("batch64_model", |b| b.iter(|| model.run(black_box(&batch)).unwrap()));
    g.finish();
}

fn risk(c: &mut Criterion) {
    let mut settings = Settings::embedded().unwrap().risk;
    settings.watch = false;
    let rt = Runtime::init(&settings).expect("run scripts/setup-onnxruntime.sh");
    bench_model(c, &rt, "ami-1y-mortality", &example("stemi_primary_pci"));
    bench_model(c, &rt, "ascvd-pce-10y", &example("outpatient_visit"));
}

/// `RISK_PROBE=<model>:<what>:<n>` runs one operation n times and exits, for instruction
/// counts under `valgrind --tool=callgrind` (load-independent, unlike wall time on a shared
/// machine): cost per call = (count at n - count at 0) / n. `what`: bare, run, prepare,
/// score, explain.
fn probe(spec: &str) {
    let mut parts = spec.split(':');
    let (id, what, n) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap().parse::<usize>().unwrap());
    let mut settings = Settings::embedded().unwrap().risk;
    settings.watch = false;
    let rt = Runtime::init(&settings).unwrap();
    let enc = example(if id == "ami-1y-mortality" { "stemi_primary_pci" } else { "outpatient_visit" });
    let dir = Path::new(ROOT).join("models").join(id);
    let model = LoadedModel::load(&dir, &rt, 1, false).unwrap();
    let m = &model.manifest;
    let bytes = std::fs::read(dir.join(&m.model_file)).unwrap();
    let (mut bare, _) = rt.session(&bytes, false).unwrap();
    let row = score::prepare(m, &enc).row;
    let f32_one = Array2::from_shape_vec((1, row.len()), row.iter().map(|v| *v as f32).collect()).unwrap();
    let f64_one = Array2::from_shape_vec((1, row.len()), row.clone()).unwrap();
    let is_f32 = m.input.element_type == cdssd::risk::manifest::ElementType::Float32;
    for _ in 0..n {
        match what {
            "bare" if is_f32 => {
                black_box(bare_f32(&mut bare, &m.input.name, &m.output.name, m.output.column, &f32_one));
            }
            "bare" => {
                black_box(bare_f64(&mut bare, &m.input.name, &m.output.name, m.output.column, &f64_one));
            }
            "run" => {
                black_box(model.run(std::slice::from_ref(&row)).unwrap());
            }
            "prepare" => {
                black_box(score::prepare(m, black_box(&enc)));
            }
            "score" => {
                black_box(score::score(&model, black_box(&enc), false));
            }
            "explain" => {
                black_box(score::score(&model, black_box(&enc), true));
            }
            other => panic!("unknown probe {other}"),
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(50);
    targets = risk
}
fn main() {
    if let Ok(spec) = std::env::var("RISK_PROBE") {
        probe(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
