//! Risk scoring against the real ONNX Runtime (installed by scripts/setup-onnxruntime.sh):
//! shipped models vs their reference predictions, the PCE worked examples, every load
//! and scoring fault, the example encounters, and ListModels/ReloadModels over gRPC.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use cdssd::config::{RiskSettings, Settings};
use cdssd::encounter::{self, Encounter};
use cdssd::locale::Locale;
use cdssd::proto::v1 as pb;
use cdssd::reload::{Cause, Reload, Reloader};
use cdssd::risk::model::LoadedModel;
use cdssd::risk::score::{self, Prepared};
use cdssd::risk::RiskService;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const AMI: &str = "ami-1y-mortality";
const PCE: &str = "ascvd-pce-10y";

fn settings(dir: &Path) -> RiskSettings {
    let mut s = Settings::embedded().unwrap().risk;
    s.dir = dir.to_path_buf();
    s.watch = false;
    s.sessions_per_model = 1;
    s
}

/// A temporary models directory with copies of the shipped models.
fn models_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for id in [AMI, PCE] {
        let to = tmp.path().join(id);
        std::fs::create_dir(&to).unwrap();
        for f in std::fs::read_dir(Path::new(ROOT).join("models").join(id)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    tmp
}

/// `ReloadModels` as the admin RPC runs it, without the transport.
fn reload(svc: &RiskService) -> pb::ReloadResponse {
    svc.reload(Cause::Admin).to_proto()
}

fn edit(path: PathBuf, from: &str, to: &str) {
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn example(name: &str) -> Encounter {
    let text = std::fs::read_to_string(format!("{ROOT}/examples/encounters/{name}.json")).unwrap();
    let settings = Settings::embedded().unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().to_utc();
    encounter::from_proto(
        &encounter::encounter_from_json(&text).unwrap(),
        &encounter::Limits::from_settings(&settings.encounter),
        now,
    )
    .unwrap()
}

fn shipped() -> RiskService {
    RiskService::from_risk_settings(&settings(&Path::new(ROOT).join("models")))
        .expect("run scripts/setup-onnxruntime.sh")
}

fn model(svc: &RiskService, id: &str) -> Arc<LoadedModel> {
    svc.registry().get(id).unwrap_or_else(|| panic!("{id} not loaded: {:?}", svc.list())).clone()
}

fn read_csv(path: &str) -> (Vec<Vec<f64>>, Vec<f64>) {
    let text = std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap();
    let (mut rows, mut expected) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let mut v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        expected.push(v.pop().unwrap());
        rows.push(v);
    }
    (rows, expected)
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn ami_onnx_output_matches_scikit_learn_on_the_training_rows() {
    let svc = shipped();
    let (rows, expected) = read_csv("models/ami-1y-mortality/reference_predictions.csv");
    assert_eq!(rows.len(), 500);
    let got = model(&svc, AMI).run(&rows).unwrap();
    let d = max_diff(&got, &expected);
    assert!(d < 1e-5, "max |onnx - sklearn| = {d}");
}

#[test]
fn pce_graph_matches_the_closed_form_equations() {
    let svc = shipped();
    let (rows, expected) = read_csv("models/ascvd-pce-10y/reference_predictions.csv");
    let got = model(&svc, PCE).run(&rows).unwrap();
    let d = max_diff(&got, &expected);
    assert!(d < 1e-12, "max |onnx - closed form| = {d}");
}

/// Goff et al. 2013, Appendix 7 Table A: 55 years, TC 213 mg/dL, HDL-C 50 mg/dL, untreated
/// SBP 120 mm Hg, non-smoker, no diabetes. (female, black, published sum, published risk %)
const WORKED: [(f64, f64, f64, f64); 4] =
    [(1.0, 0.0, -29.67, 2.1), (1.0, 1.0, 86.16, 3.0), (0.0, 0.0, 60.69, 5.3), (0.0, 1.0, 18.97, 6.1)];

#[test]
fn pce_reproduces_the_guideline_worked_examples() {
    let svc = shipped();
    let rows: Vec<Vec<f64>> =
        WORKED.iter().map(|&(f, b, _, _)| vec![55.0, 213.0, 50.0, 120.0, 0.0, 0.0, 0.0, f, b]).collect();
    let risks = model(&svc, PCE).run(&rows).unwrap();
    for ((_, _, _, published), risk) in WORKED.iter().zip(&risks) {
        assert!((risk * 100.0 - published).abs() <= 0.1, "risk {:.3} % vs published {published} %", risk * 100.0);
    }
    // The individual sums, through the graph's second output.
    let tmp = models_copy();
    edit(tmp.path().join(PCE).join("manifest.toml"), "name = \"risk\"", "name = \"individual_sum\"");
    edit(tmp.path().join(PCE).join("manifest.toml"), "[output]", "[output]\n# test: read the linear predictor");
    let sums_svc = RiskService::from_risk_settings(&settings(tmp.path())).unwrap();
    let sums = model(&sums_svc, PCE).run(&rows).unwrap();
    for ((_, _, published, _), sum) in WORKED.iter().zip(&sums) {
        assert!((sum - published).abs() <= 0.015, "sum {sum} vs published {published}");
    }
}

#[test]
fn pce_worked_example_through_an_encounter() {
    // The outpatient example turned into the guideline's white-female profile.
    let mut enc = example("outpatient_visit");
    enc.vitals.retain(|v| v.code.code != "8480-6" || v.id == "vs-sbp-1");
    enc.vitals
        .iter_mut()
        .filter(|v| v.id == "vs-sbp-1")
        .for_each(|v| v.value = encounter::ObsValue::Quantity { value: 120.0, unit: "mm[Hg]".into() });
    enc.medication_orders.clear();
    enc.assessments.retain(|a| a.code.code != "72166-2");
    let svc = shipped();
    let s = score::score(&model(&svc, PCE), &enc, true);
    assert_eq!(s.status(), pb::RiskStatus::Ok, "{s:?}");
    assert!((s.probability * 100.0 - 2.1).abs() <= 0.1, "{}", s.probability);
    // Smoking status absent: imputed non-smoker, flagged, and said so.
    let smoker = s.features.iter().find(|f| f.name == "smoker").unwrap();
    assert!(smoker.imputed);
    assert!(s.message.contains("Current smoker missing: imputed 0"), "{}", s.message);
    assert_eq!(smoker.label, "Current smoker", "the manifest label, in the score's locale");
}

#[test]
fn stemi_example_gets_ami_mortality_with_band_explanations_and_provenance() {
    let svc = shipped();
    let s = score::score(&model(&svc, AMI), &example("stemi_primary_pci"), true);
    assert_eq!(s.status(), pb::RiskStatus::Ok, "{s:?}");
    assert_eq!((s.model_id.as_str(), s.model_version.as_str(), s.device.as_str()), (AMI, "1.0.0", "cpu"));
    assert_eq!(s.horizon, "1 year");
    assert!(s.citation.contains("Hosmer"));
    assert!(s.probability > 0.0 && s.probability < 1.0);
    let expected_band = if s.probability < 0.15 {
        pb::RiskBand::Low
    } else if s.probability < 0.4 {
        pb::RiskBand::Moderate
    } else {
        pb::RiskBand::High
    };
    assert_eq!(s.band(), expected_band);
    assert_eq!(s.features.len(), 13);
    assert!(s.features.iter().all(|f| !f.imputed && !f.out_of_range));
    let hr = s.features.iter().find(|f| f.name == "heart_rate").unwrap();
    assert_eq!((hr.value, hr.source.as_ref().unwrap().item_id.as_str()), (96.0, "vs-hr-1"));
    // Explanations: sorted by size, each equal to p0 minus the risk with that feature at its reference.
    assert!(!s.contributions.is_empty());
    assert!(s.contributions.windows(2).all(|w| w[0].delta.abs() >= w[1].delta.abs()));
    let m = model(&svc, AMI);
    let base: Vec<f64> = s.features.iter().map(|f| f.value).collect();
    for c in &s.contributions {
        let i = s.features.iter().position(|f| f.name == c.feature).unwrap();
        let mut row = base.clone();
        row[i] = c.reference_value;
        let p = m.run(&[row]).unwrap()[0];
        assert!((s.probability - p - c.delta).abs() < 1e-6, "{c:?}");
    }
    // Age 62 vs the cohort median 72 lowers the risk.
    assert!(s.contributions.iter().any(|c| c.feature == "age" && c.delta < 0.0));
}

#[test]
fn outpatient_example_gets_the_10_year_ascvd_risk() {
    let svc = shipped();
    let ctx_scores = score::score(&model(&svc, PCE), &example("outpatient_visit"), true);
    assert_eq!(ctx_scores.status(), pb::RiskStatus::Ok, "{ctx_scores:?}");
    // Closed form (build.py) for 55 y white woman, TC 213, HDL 50, treated SBP 138, smoker.
    assert!((ctx_scores.probability - 0.08713168001513139).abs() < 1e-12, "{}", ctx_scores.probability);
    assert_eq!(ctx_scores.band(), pb::RiskBand::Moderate);
    let names: Vec<&str> = ctx_scores.contributions.iter().map(|c| c.feature.as_str()).collect();
    assert_eq!(names[0], "smoker");
    assert!(!names.contains(&"age"), "age equals its reference: no contribution row");
    assert!(!names.contains(&"sex_female") && !names.contains(&"race_black"));
}

#[test]
fn service_scores_only_applicable_models_and_reports_versions() {
    let svc = shipped();
    let settings = Arc::new(Settings::embedded().unwrap());
    let pipeline = cdssd::pipeline::Pipeline::from_parts(
        settings.clone(),
        Arc::new(cdssd::rules::RuleService::load(&settings).unwrap()),
        Arc::new(svc),
        Arc::new(cdssd::llm::LlmService::new(&settings).unwrap()),
    );
    let text = std::fs::read_to_string(format!("{ROOT}/examples/encounters/stemi_primary_pci.json")).unwrap();
    let mut req = encounter::request_from_json(&text).unwrap();
    req.trigger = pb::Trigger::PatientView as i32;
    req.evaluation_time = Some(pbjson_types::Timestamp { seconds: 1_800_000_000, nanos: 0 });
    let call = cdssd::pipeline::Call {
        request_id: "t".into(),
        deadline: None,
        budget: cdssd::pipeline::Budget::Decision,
        caller: "test".into(),
    };
    let prepared = pipeline.prepare(&req, call).unwrap();
    let registry = &prepared.snapshot().models;
    let (scores, versions) = registry.evaluate(prepared.evaluation());
    assert_eq!(scores.len(), 1);
    assert_eq!(scores[0].model_id, AMI);
    assert_eq!(versions.len(), 2);
    // Naming a model that does not apply, and one that does not exist.
    let mut ev2 = (**prepared.evaluation()).clone();
    ev2.models = vec![PCE.into(), "nope".into()];
    ev2.locale = Some("en".into());
    let (scores, _) = registry.evaluate(&ev2);
    assert_eq!(scores.len(), 2);
    assert_eq!(scores[0].status(), pb::RiskStatus::NotApplicable);
    assert!(scores[0].message.starts_with("not applicable: encounter class inpatient"), "{}", scores[0].message);
    assert_eq!((scores[1].status(), scores[1].message.as_str()), (pb::RiskStatus::Error, "no such model"));
}

fn status_of(svc: &RiskService, id: &str) -> pb::ModelInfo {
    svc.list().models.into_iter().find(|m| m.id == id).unwrap()
}

/// Loads a models directory with one broken model; the other must load and score.
fn broken(fault: impl FnOnce(&Path)) -> (RiskService, pb::ModelInfo, tempfile::TempDir) {
    let tmp = models_copy();
    fault(&tmp.path().join(AMI));
    let svc = RiskService::from_risk_settings(&settings(tmp.path())).unwrap();
    let info = status_of(&svc, AMI);
    assert_eq!(info.status(), pb::LoadStatus::Failed, "{info:?}");
    let pce = status_of(&svc, PCE);
    assert_eq!(pce.status(), pb::LoadStatus::Loaded);
    let s = score::score(&model(&svc, PCE), &example("outpatient_visit"), true);
    assert_eq!(s.status(), pb::RiskStatus::Ok, "the healthy model is undisturbed");
    (svc, info, tmp)
}

fn first_error(info: &pb::ModelInfo) -> String {
    let e = &info.errors[0];
    format!("{}:{}:{}: {}", e.path, e.line, e.column, e.message)
}

#[test]
fn missing_model_file_is_a_failed_model() {
    let (_, info, _t) = broken(|d| std::fs::remove_file(d.join("model.onnx")).unwrap());
    let e = first_error(&info);
    assert!(e.starts_with("ami-1y-mortality/model.onnx:0:0: cannot read the model file"), "{e}");
}

#[test]
fn corrupt_onnx_is_a_failed_model() {
    let (_, info, _t) = broken(|d| {
        std::fs::write(d.join("model.onnx"), b"this is not a protobuf \x00\x01\x02").unwrap();
        edit(d.join("manifest.toml"), "model_sha256 =", "# model_sha256 =");
    });
    let e = first_error(&info);
    assert!(e.contains("ONNX Runtime cannot load it"), "{e}");
}

#[test]
fn digest_mismatch_is_a_failed_model() {
    let (_, info, _t) = broken(|d| {
        let mut bytes = std::fs::read(d.join("model.onnx")).unwrap();
        bytes.push(0);
        std::fs::write(d.join("model.onnx"), bytes).unwrap();
    });
    assert!(first_error(&info).contains("sha256 is"), "{info:?}");
}

#[test]
fn manifest_naming_a_missing_tensor_is_a_failed_model() {
    let (_, info, _t) = broken(|d| edit(d.join("manifest.toml"), "name = \"probabilities\"", "name = \"probability\""));
    let e = first_error(&info);
    assert!(e.contains("output \"probability\" named in the manifest is not an output of the model (its outputs: label, probabilities)"), "{e}");
}

#[test]
fn wrong_element_type_is_a_failed_model() {
    let (_, info, _t) =
        broken(|d| edit(d.join("manifest.toml"), "element_type = \"float32\"", "element_type = \"float64\""));
    assert!(
        first_error(&info).contains("input \"features\" has element type Float32, the manifest says float64"),
        "{info:?}"
    );
}

#[test]
fn wrong_shape_is_a_failed_model() {
    // Drop the last feature: the model wants 13 columns.
    let (_, info, _t) = broken(|d| {
        let p = d.join("manifest.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        let cut = text.rfind("[[features]]").unwrap();
        std::fs::write(&p, &text[..cut]).unwrap();
    });
    assert!(
        first_error(&info).contains("has shape [-1, 13]; the manifest needs [batch (dynamic), 12 features]"),
        "{info:?}"
    );
}

#[test]
fn output_column_out_of_bounds_is_a_failed_model() {
    let (_, info, _t) = broken(|d| edit(d.join("manifest.toml"), "column = 1", "column = 2"));
    assert!(first_error(&info).contains("column 2"), "{info:?}");
}

#[test]
fn manifest_syntax_error_is_reported_with_line_and_column() {
    let (_, info, _t) = broken(|d| edit(d.join("manifest.toml"), "horizon = {", "horizon = = {"));
    let e = &info.errors[0];
    assert_eq!((e.path.as_str(), e.line), ("ami-1y-mortality/manifest.toml", 6), "{e:?}");
}

#[test]
fn missing_card_is_a_failed_model() {
    let (_, info, _t) = broken(|d| std::fs::remove_file(d.join("MODEL_CARD.md")).unwrap());
    assert!(first_error(&info).contains("model card not found"), "{info:?}");
}

#[test]
fn non_finite_features_and_outputs_give_an_error_not_a_panic() {
    let svc = shipped();
    let m = model(&svc, AMI);
    let mut row = vec![70.0, 0.0, 85.0, 140.0, 80.0, 26.0];
    row.extend([0.0; 7]);
    row[2] = f64::NAN;
    let prepared = Prepared { row, ..Default::default() };
    let s = score::score_prepared(&m, prepared, true, Instant::now(), Locale::En);
    assert_eq!(s.status(), pb::RiskStatus::Error, "{s:?}");
    assert!(s.message.contains("invalid probability"), "{}", s.message);
    // Infinity through the log-based PCE graph (0 x inf = NaN in the group selection).
    let row = vec![55.0, f64::INFINITY, 50.0, 120.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    assert!(model(&svc, PCE).run(std::slice::from_ref(&row)).unwrap()[0].is_nan());
    let s = score::score_prepared(
        &model(&svc, PCE),
        Prepared { row, ..Default::default() },
        true,
        Instant::now(),
        Locale::En,
    );
    assert_eq!(s.status(), pb::RiskStatus::Error, "{s:?}");
    assert!(s.contributions.is_empty());
}

#[test]
fn out_of_range_is_refused_or_flagged_by_policy() {
    let svc = shipped();
    let mut opd = example("outpatient_visit");
    opd.labs
        .iter_mut()
        .filter(|l| l.code.code == "2093-3")
        .for_each(|l| l.value = encounter::ObsValue::Quantity { value: 350.0, unit: "mg/dL".into() });
    let s = score::score(&model(&svc, PCE), &opd, true);
    assert_eq!(s.status(), pb::RiskStatus::Refused);
    assert_eq!(s.message, "not scored: Total cholesterol = 350 mg/dL is outside the valid range 130-320");
    assert!(s.features.iter().find(|f| f.name == "total_cholesterol").unwrap().out_of_range);
    assert_eq!(s.probability, 0.0);

    let mut stemi = example("stemi_primary_pci");
    stemi
        .vitals
        .iter_mut()
        .filter(|v| v.id == "vs-hr-1")
        .for_each(|v| v.value = encounter::ObsValue::Quantity { value: 200.0, unit: "/min".into() });
    let s = score::score(&model(&svc, AMI), &stemi, true);
    assert_eq!(s.status(), pb::RiskStatus::Ok);
    assert!(s.features.iter().find(|f| f.name == "heart_rate").unwrap().out_of_range);
    assert!(s.message.contains("Initial heart rate = 200 /min is outside the valid range 35-186"), "{}", s.message);
}

#[test]
fn encounter_lacking_every_feature_is_refused_or_imputed_and_flagged() {
    let svc = shipped();
    let mut opd = example("outpatient_visit");
    opd.labs.clear();
    opd.vitals.clear();
    opd.medication_orders.clear();
    opd.assessments.clear();
    opd.diagnoses.clear();
    opd.patient.sex = encounter::Sex::Unknown;
    opd.patient.race = None;
    let s = score::score(&model(&svc, PCE), &opd, true);
    assert_eq!(s.status(), pb::RiskStatus::Refused);
    for missing in ["Total cholesterol", "HDL cholesterol", "Systolic blood pressure", "Female sex"] {
        assert!(s.message.contains(&format!("{missing} missing")), "{}", s.message);
    }
    let mut stemi = example("stemi_primary_pci");
    stemi.vitals.clear();
    stemi.patient.sex = encounter::Sex::Other;
    let s = score::score(&model(&svc, AMI), &stemi, true);
    assert_eq!(s.status(), pb::RiskStatus::Ok);
    assert_eq!(s.features.iter().filter(|f| f.imputed).count(), 5, "{s:?}");
}

#[test]
fn reload_is_all_or_nothing_and_startup_reports_failed_models() {
    let tmp = models_copy();
    let svc = RiskService::from_risk_settings(&settings(tmp.path())).unwrap();
    let v1 = svc.registry().version.clone();
    // A broken third model: reload fails, the two models stay in force.
    let bad = tmp.path().join("bad-model");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("manifest.toml"), "id = \"bad-model\"\n").unwrap();
    let r = reload(&svc);
    assert_eq!(r.status(), pb::LoadStatus::Failed);
    assert_eq!(r.version, v1);
    assert!(
        r.errors[0].path.starts_with("bad-model/manifest.toml") && r.errors[0].message.contains("missing field"),
        "{r:?}"
    );
    assert_eq!(svc.registry().models.len(), 2);
    // Starting afresh with the broken directory: FAILED in ListModels, the others LOADED.
    let fresh = RiskService::from_risk_settings(&settings(tmp.path())).unwrap();
    let list = fresh.list();
    let statuses: Vec<(String, pb::LoadStatus)> = list.models.iter().map(|m| (m.id.clone(), m.status())).collect();
    assert_eq!(
        statuses,
        vec![
            (AMI.to_string(), pb::LoadStatus::Loaded),
            (PCE.to_string(), pb::LoadStatus::Loaded),
            ("bad-model".to_string(), pb::LoadStatus::Failed)
        ]
    );
    // Repair and change a version: reload succeeds with a new registry version.
    std::fs::remove_dir_all(&bad).unwrap();
    edit(tmp.path().join(PCE).join("manifest.toml"), "version = \"1.0.0\"", "version = \"1.0.1\"");
    let r = reload(&svc);
    assert_eq!(r.status(), pb::LoadStatus::Loaded, "{r:?}");
    assert_ne!(r.version, v1);
    assert_eq!(svc.registry().get(PCE).unwrap().manifest.version, "1.0.1");
}

#[test]
fn missing_onnxruntime_library_is_a_clear_startup_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(["models", "check"])
        .current_dir(ROOT)
        .env("CDSSD__RISK__ONNXRUNTIME_LIB", "/nonexistent/libonnxruntime.so.1.31.1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "ONNX Runtime library not found at /nonexistent/libonnxruntime.so.1.31.1 (from risk.onnxruntime_lib)"
        ),
        "{err}"
    );
    assert!(err.contains("scripts/setup-onnxruntime.sh"), "{err}");
    // A file that is not a shared library.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(["models", "check"])
        .current_dir(ROOT)
        .env("ORT_DYLIB_PATH", format!("{ROOT}/models/README.md"))
        .env_remove("CDSSD__RISK__ONNXRUNTIME_LIB")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot load the ONNX Runtime library") && err.contains("(from ORT_DYLIB_PATH)"), "{err}");
}

#[test]
fn models_check_cli_validates_offline() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(["models", "check", "models"])
        .current_dir(ROOT)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("ok      ami-1y-mortality 1.0.0") && text.contains("2 loaded, 0 failed"), "{text}");
    let tmp = models_copy();
    edit(tmp.path().join(AMI).join("manifest.toml"), "name = \"features\"", "name = \"input\"");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .args(["models", "check"])
        .arg(tmp.path().join(AMI))
        .current_dir(ROOT)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED  ami-1y-mortality")
            && text.contains("input \"input\" named in the manifest is not an input"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_reload_models_over_grpc() {
    let tmp = models_copy();
    let mut s = Settings::embedded().unwrap();
    s.risk = settings(tmp.path());
    s.metrics.listen = String::new();
    let pipeline = Arc::new(cdssd::pipeline::Pipeline::new(Arc::new(s)).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cdssd::server::run(listener, pipeline, async move {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}");
    let mut cds = pb::cds_service_client::CdsServiceClient::connect(url.clone()).await.unwrap();
    let list = cds.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner();
    let ids: Vec<(&str, &str, &str)> =
        list.models.iter().map(|m| (m.id.as_str(), m.version.as_str(), m.device.as_str())).collect();
    assert_eq!(ids, vec![(AMI, "1.0.0", "cpu"), (PCE, "1.0.0", "cpu")]);
    assert_eq!(list.models[1].features.len(), 9);

    let mut admin = pb::admin_service_client::AdminServiceClient::connect(url).await.unwrap();
    std::fs::write(tmp.path().join(PCE).join("model.onnx"), b"garbage").unwrap();
    let r = admin.reload_models(pb::ReloadModelsRequest {}).await.unwrap().into_inner();
    assert_eq!(r.status(), pb::LoadStatus::Failed);
    assert_eq!(r.errors[0].path, "ascvd-pce-10y/model.onnx");
    // Still serving the previous models.
    let list = cds.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner();
    assert!(list.models.iter().all(|m| m.status() == pb::LoadStatus::Loaded));
    let text = std::fs::read_to_string(format!("{ROOT}/examples/encounters/outpatient_visit.json")).unwrap();
    let mut req = encounter::request_from_json(&text).unwrap();
    req.trigger = pb::Trigger::PatientView as i32;
    req.evaluation_time = Some(pbjson_types::Timestamp { seconds: 1_800_000_000, nanos: 0 });
    req.options.get_or_insert_with(Default::default).llm = pb::LlmMode::Skip as i32;
    let d = cds.evaluate(req).await.unwrap().into_inner().decision.unwrap();
    assert_eq!(d.risks.len(), 1);
    assert_eq!((d.risks[0].model_id.as_str(), d.risks[0].status()), (PCE, pb::RiskStatus::Ok));
    assert!(d.cards.iter().any(|c| c.source.as_ref().is_some_and(|s| s.id == PCE)));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Functional wait (not a timing assertion): up to 20 s for the watcher.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn changed_files_are_reloaded_by_the_one_watcher_and_a_broken_edit_keeps_the_registry() {
    let tmp = models_copy();
    let mut s = settings(tmp.path());
    s.watch = true;
    let svc = Arc::new(RiskService::from_risk_settings(&s).unwrap());
    assert_eq!(svc.attempts(), 1, "the start-up load, and no watcher of its own");
    let _w = Reloader::new().add(svc.clone(), true, std::time::Duration::from_millis(50)).start().unwrap();
    assert_eq!(svc.registry().get(PCE).unwrap().manifest.version, "1.0.0");
    edit(tmp.path().join(PCE).join("manifest.toml"), "version = \"1.0.0\"", "version = \"1.1.0\"");
    eventually("the changed manifest in force", || svc.registry().get(PCE).unwrap().manifest.version == "1.1.0").await;
    assert_eq!(svc.last_outcome().cause, Cause::FileChange);
    // A broken edit is not taken: the reload fails and the 1.1.0 registry stays in force.
    let version = svc.registry().version.clone();
    let attempts = svc.attempts();
    std::fs::write(tmp.path().join(AMI).join("model.onnx"), b"broken").unwrap();
    eventually("a failed reload after the broken write", || svc.attempts() > attempts && !svc.last_outcome().loaded)
        .await;
    let last = svc.list().last_reload.expect("ListModels shows the last outcome");
    assert_eq!(
        (last.status(), last.component(), last.cause()),
        (pb::LoadStatus::Failed, pb::ReloadComponent::Models, pb::ReloadCause::FileChange)
    );
    assert!(last.errors.iter().any(|e| e.path == "ami-1y-mortality/model.onnx"), "{last:?}");
    assert_eq!(last.version, version);
    assert_eq!(svc.registry().version, version);
    assert_eq!(svc.registry().models.len(), 2);
}

/// kubelet's ConfigMap layout: `..<ts>/` holds the model directories, `..data -> ..<ts>`
/// (swapped by an atomic rename) and each model directory is a link into `..data`.
fn configmap_generation(root: &Path, ts: &str, content: &Path) {
    let gen = root.join(ts);
    std::fs::create_dir_all(&gen).unwrap();
    for m in std::fs::read_dir(content).unwrap() {
        let m = m.unwrap();
        std::fs::create_dir_all(gen.join(m.file_name())).unwrap();
        for f in std::fs::read_dir(m.path()).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), gen.join(m.file_name()).join(f.file_name())).unwrap();
        }
    }
    let tmp_link = root.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp_link);
    std::os::unix::fs::symlink(ts, &tmp_link).unwrap();
    std::fs::rename(&tmp_link, root.join("..data")).unwrap();
    for m in std::fs::read_dir(content).unwrap() {
        let link = root.join(m.unwrap().file_name());
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(link.file_name().unwrap()), &link).unwrap();
        }
    }
}

#[tokio::test]
async fn the_one_watcher_follows_a_configmap_data_swap_of_the_models() {
    let mount = tempfile::tempdir().unwrap();
    let first = models_copy();
    configmap_generation(mount.path(), "..2026_12_01_a", first.path());
    let mut s = settings(mount.path());
    s.watch = true;
    let svc = Arc::new(RiskService::from_risk_settings(&s).unwrap());
    assert_eq!(svc.registry().models.len(), 2, "the dot-entries are not models");
    let _w = Reloader::new().add(svc.clone(), true, std::time::Duration::from_millis(50)).start().unwrap();

    let next = models_copy();
    edit(next.path().join(AMI).join("manifest.toml"), "version = \"1.0.0\"", "version = \"2.0.0\"");
    configmap_generation(mount.path(), "..2026_12_02_b", next.path());
    std::fs::remove_dir_all(mount.path().join("..2026_12_01_a")).unwrap();
    eventually("the swapped generation in force", || svc.registry().get(AMI).unwrap().manifest.version == "2.0.0")
        .await;
    assert!(svc.last_outcome().loaded && svc.last_outcome().changed);

    // A broken generation: refused, the 2.0.0 registry keeps serving.
    let broken = models_copy();
    std::fs::write(broken.path().join(PCE).join("model.onnx"), b"garbage").unwrap();
    let attempts = svc.attempts();
    configmap_generation(mount.path(), "..2026_12_03_c", broken.path());
    eventually("the broken generation refused", || svc.attempts() > attempts && !svc.last_outcome().loaded).await;
    assert_eq!(svc.registry().get(AMI).unwrap().manifest.version, "2.0.0");
    assert_eq!(svc.registry().models.len(), 2);
}

#[test]
fn cuda_requested_without_cuda_falls_back_to_cpu_or_refuses_when_required() {
    let mut s = settings(&Path::new(ROOT).join("models"));
    s.device = "cuda".into();
    let svc = RiskService::from_risk_settings(&s).unwrap();
    // Without the `cuda` feature, or with the CPU-only library, the models run (and say they run) on the CPU.
    if svc.device() == Some(cdssd::risk::Device::Cpu) {
        assert!(svc.list().models.iter().all(|m| m.device == "cpu"));
        let sc = score::score(&model(&svc, AMI), &example("stemi_primary_pci"), false);
        assert_eq!(sc.device, "cpu");
        s.require_device = true;
        let err = RiskService::from_risk_settings(&s).unwrap_err();
        assert!(err.starts_with("device \"cuda\" is required (risk.require_device = true) but"), "{err}");
    } else {
        // A CUDA build with the onnxruntime-gpu library on a GPU machine.
        assert!(svc.list().models.iter().all(|m| m.device == "cuda"));
    }
}

/// Rules and models reloaded between prepare and run: the run uses the snapshot taken at
/// prepare (the old rule-set version, the model the new registry no longer has).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_between_prepare_and_run_leaves_the_request_on_its_snapshot() {
    let models = models_copy();
    let rules = crate::daemon::copy_tree(Path::new(&format!("{ROOT}/rules")));
    let mut s = Settings::embedded().unwrap();
    s.risk = settings(models.path());
    s.rules.dir = rules.path().to_path_buf();
    // The copy is outside the source tree: its test cases' encounters (the test gate).
    s.rules.examples_dir = format!("{ROOT}/examples").into();
    s.rules.watch = false;
    s.metrics.listen = String::new();
    let pipeline = cdssd::pipeline::Pipeline::new(Arc::new(s)).unwrap();
    let text = std::fs::read_to_string(format!("{ROOT}/examples/encounters/stemi_primary_pci.json")).unwrap();
    let mut req = encounter::request_from_json(&text).unwrap();
    req.evaluation_time = Some(pbjson_types::Timestamp { seconds: 1_800_000_000, nanos: 0 });
    req.trigger = pb::Trigger::Discharge as i32;
    let call = cdssd::pipeline::Call {
        request_id: "t".into(),
        deadline: None,
        budget: cdssd::pipeline::Budget::Draft,
        caller: "test".into(),
    };
    let prepared = pipeline.prepare(&req, call).unwrap();
    let before = prepared.snapshot().rules.version.clone();

    std::fs::remove_dir_all(models.path().join(AMI)).unwrap();
    assert_eq!(reload(pipeline.risk()).status(), pb::LoadStatus::Loaded);
    assert!(pipeline.risk().registry().get(AMI).is_none());
    let rule = rules.path().join("stemi/aspirin_arrival.rhai");
    let src = std::fs::read_to_string(&rule).unwrap();
    std::fs::write(&rule, format!("{src}\n// edited\n")).unwrap();
    let outcome = pipeline.rules().reload(Cause::Admin);
    assert!(outcome.loaded, "{:?}", outcome.errors);
    assert_ne!(pipeline.rules().current().version, before);

    let fast = pipeline.fast(&prepared).await.unwrap();
    assert_eq!(fast.rule_set_version, before);
    let ami = fast.risks.iter().find(|r| r.model_id == AMI).expect("the snapshot's registry scored AMI");
    assert_eq!(ami.status(), pb::RiskStatus::Ok, "{}", ami.message);
}
