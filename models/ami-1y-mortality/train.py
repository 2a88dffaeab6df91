#!/usr/bin/env python3
"""Train and export cdssd's one-year mortality model after acute myocardial infarction.

Data: WHAS500 (Worcester Heart Attack Study), bundled with the PyPI package
scikit-survival (sksurv.datasets.load_whas500); nothing is downloaded.
Model: standardised logistic regression (scikit-learn) over the 13 admission-time
features, exported to ONNX with skl2onnx.

Writes into --out (default: this directory):
  model.onnx                 the exported model (byte-identical on re-run)
  manifest.toml              the cdssd manifest (features, sources, ranges, bands)
  MODEL_CARD.md              data, cohort, outcome, cross-validated metrics, limitations
  reference_predictions.csv  the 500 training rows with scikit-learn's probability,
                             checked against onnxruntime by cdssd's Rust tests

Run with the pinned environment: scripts/setup-models-env.sh --build
Check reproducibility:         scripts/setup-models-env.sh --check
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys

import numpy as np
import onnx
import sklearn
import skl2onnx
import sksurv
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.datasets import load_whas500

MODEL_ID = "ami-1y-mortality"
VERSION = "1.0.0"
SEED = 20131
N_SPLITS = 5
N_REPEATS = 10
HORIZON_DAYS = 365
# Risk bands (probability thresholds). Chosen by the cdssd project, not clinically
# validated: see the model card.
BAND_MODERATE = 0.15
BAND_HIGH = 0.40

# Feature order = column order of the ONNX input. Each entry:
# (WHAS500 column, cdssd feature name, label, cdssd source, unit, kind)
FEATURES = [
    ("age", "age", "Age at admission", "age", "a", "continuous"),
    ("gender", "sex_female", "Female sex", "sex_female", "1", "binary"),
    ("hr", "heart_rate", "Initial heart rate", "first_vital:8867-4", "/min", "continuous"),
    ("sysbp", "systolic_bp", "Initial systolic blood pressure", "first_vital:8480-6", "mm[Hg]", "continuous"),
    ("diasbp", "diastolic_bp", "Initial diastolic blood pressure", "first_vital:8462-4", "mm[Hg]", "continuous"),
    ("bmi", "bmi", "Body mass index", "bmi", "kg/m2", "continuous"),
    ("cvd", "history_cvd", "History of cardiovascular disease",
     "has_diagnosis:I25,I69,I70,I73.9,Z86.7,Z95.1,Z95.5", "1", "binary"),
    ("afb", "atrial_fibrillation", "Atrial fibrillation", "has_diagnosis:I48", "1", "binary"),
    ("sho", "cardiogenic_shock", "Cardiogenic shock", "has_diagnosis:R57.0", "1", "binary"),
    ("chf", "heart_failure", "Congestive heart complications", "has_diagnosis:I50", "1", "binary"),
    ("av3", "complete_heart_block", "Complete heart block", "has_diagnosis:I44.2", "1", "binary"),
    ("miord", "recurrent_mi", "Recurrent myocardial infarction", "has_diagnosis:I22,I25.2", "1", "binary"),
    ("mitype", "q_wave_mi", "Q-wave (ST-elevation) myocardial infarction",
     "has_diagnosis:I21.0,I21.1,I21.2,I21.3,I22.0,I22.1,I22.8", "1", "binary"),
]

CITATION = (
    "Hosmer DW, Lemeshow S, May S. Applied Survival Analysis: Regression Modeling of "
    "Time-to-Event Data, 2nd ed. Wiley, 2008 (Worcester Heart Attack Study, WHAS500 data); "
    "model fitted by the cdssd project, see MODEL_CARD.md"
)


def load():
    x_df, y = load_whas500()
    x = np.column_stack([x_df[c].astype(float).to_numpy() for c, *_ in FEATURES])
    died = y["fstat"].astype(bool)
    days = y["lenfol"].astype(float)
    # One-year mortality is fully observed: nobody alive was censored before day 368.
    assert days[~died].min() > HORIZON_DAYS, "censoring before the horizon"
    label = (died & (days <= HORIZON_DAYS)).astype(int)
    return x, label


def make_model():
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))


def logit(p):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def logistic_fit(x, y, iters=50):
    """Unpenalised logistic regression of y on [1, x] by Newton's method (x: 1-D)."""
    design = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(design @ beta)))
        grad = design.T @ (y - p)
        hess = design.T @ (design * (p * (1 - p))[:, None])
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.max(np.abs(step)) < 1e-12:
            break
    return beta


def cross_validate(x, y):
    cv = RepeatedStratifiedKFold(n_splits=N_SPLITS, n_repeats=N_REPEATS, random_state=SEED)
    oof = np.zeros((N_REPEATS, len(y)))
    null = np.zeros((N_REPEATS, len(y)))
    for i, (train, test) in enumerate(cv.split(x, y)):
        rep = i // N_SPLITS
        model = make_model().fit(x[train], y[train])
        oof[rep, test] = model.predict_proba(x[test])[:, 1]
        null[rep, test] = y[train].mean()
    auc = np.array([roc_auc_score(y, oof[r]) for r in range(N_REPEATS)])
    brier = np.array([brier_score_loss(y, oof[r]) for r in range(N_REPEATS)])
    null_brier = np.array([brier_score_loss(y, null[r]) for r in range(N_REPEATS)])
    pooled_y = np.tile(y, N_REPEATS)
    pooled_p = oof.reshape(-1)
    # Calibration intercept with the slope fixed at 1 (calibration-in-the-large) and slope.
    intercept, slope = logistic_fit(logit(pooled_p), pooled_y)
    citl = intercept_only(logit(pooled_p), pooled_y)
    # Deciles of the repeat-averaged out-of-fold prediction.
    mean_p = oof.mean(axis=0)
    order = np.argsort(mean_p, kind="stable")
    deciles = []
    for chunk in np.array_split(order, 10):
        deciles.append((len(chunk), mean_p[chunk].mean(), y[chunk].mean()))
    return {
        "auc": auc, "brier": brier, "null_brier": null_brier,
        "slope": slope, "citl": citl, "deciles": deciles,
        "pooled_auc": roc_auc_score(pooled_y, pooled_p),
    }


def min_censored_days():
    _, y = load_whas500()
    return float(y["lenfol"][~y["fstat"].astype(bool)].min())


def intercept_only(offset, y, iters=50):
    """Calibration-in-the-large: intercept a of logit(P(y)) = a + offset."""
    a = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(a + offset)))
        step = (y - p).sum() / (p * (1 - p)).sum()
        a += step
        if abs(step) < 1e-12:
            break
    return a


def export(model, path):
    onx = to_onnx(
        model,
        initial_types=[("features", FloatTensorType([None, len(FEATURES)]))],
        options={id(model.steps[-1][1]): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    # skl2onnx picks a random graph name; fix it (and everything else that could vary).
    onx.graph.name = MODEL_ID.replace("-", "_")
    onx.doc_string = f"cdssd {MODEL_ID} {VERSION}"
    onx.model_version = 1
    del onx.metadata_props[:]
    onnx.checker.check_model(onx)
    data = onx.SerializeToString(deterministic=True)
    with open(path, "wb") as f:
        f.write(data)
    return data


def fmt(v):
    return repr(float(v))


VALIDITY_EN = "Fitted by the cdssd project on the WHAS500 teaching data set (500 patients from one US city) as a demonstration; not clinically validated and not validated in Chinese patients. GRACE is the validated score for this question."
VALIDITY_ZH = "由 cdssd 项目在 WHAS500 教学数据集（美国一个城市的 500 例患者）上拟合，仅作演示；未经临床验证，也未在中国患者中验证。该问题的已验证评分为 GRACE。"

# What a person reads in zh-CN for each feature (the en label is in FEATURES); the manifest
# carries both (models/README.md).
LABELS_ZH = {
    "age": "入院时年龄",
    "sex_female": "女性",
    "heart_rate": "入院时心率",
    "systolic_bp": "入院时收缩压",
    "diastolic_bp": "入院时舒张压",
    "bmi": "体重指数（BMI）",
    "history_cvd": "心血管病史",
    "atrial_fibrillation": "心房颤动",
    "cardiogenic_shock": "心源性休克",
    "heart_failure": "充血性心力衰竭并发症",
    "complete_heart_block": "完全性房室传导阻滞",
    "recurrent_mi": "再发心肌梗死",
    "q_wave_mi": "Q 波（ST 段抬高型）心肌梗死",
}
OUTCOME = ("入院后 1 年内全因死亡", "death from any cause within 1 year of admission")
HORIZON = ("1 年", "1 year")


def texts(zh, en):
    """A text in both locales, as the manifest writes it."""
    return f'{{ zh-CN = "{zh}", en = "{en}" }}'


def write_manifest(path, x, sha):
    medians = np.median(x, axis=0)
    lines = [
        "# cdssd model manifest (format: models/README.md). Generated by train.py: do not edit by hand.",
        f'id = "{MODEL_ID}"',
        f'version = "{VERSION}"',
        'title = "One-year mortality after acute myocardial infarction (WHAS500 logistic regression)"',
        f"outcome = {texts(*OUTCOME)}",
        f"horizon = {texts(*HORIZON)}",
        'model_file = "model.onnx"',
        f'model_sha256 = "{sha}"',
        'card = "MODEL_CARD.md"',
        f'citation = "{CITATION}"',
        "",
        "[validity]",
        '# Shown on every risk card of this model and in ListModels (SAFETY.md, "Validity limits").',
        f'zh-CN = "{VALIDITY_ZH}"',
        f'en = "{VALIDITY_EN}"',
        "",
        "[applicability]",
        '# Inpatient or emergency encounters with an acute (I21) or subsequent (I22) MI diagnosis.',
        'encounter_classes = ["inpatient", "emergency"]',
        'diagnosis_prefixes = ["I21", "I22"]',
        "age_min = 18.0",
        "age_max = 110.0",
        "",
        "[input]",
        'name = "features"',
        'element_type = "float32"',
        "",
        "[output]",
        'name = "probabilities"',
        'element_type = "float32"',
        "# probability of death = probabilities[row, 1]",
        "column = 1",
        "",
        "[bands]",
        f"moderate = {BAND_MODERATE}",
        f"high = {BAND_HIGH}",
    ]
    for j, (col, name, label, source, unit, kind) in enumerate(FEATURES):
        lo, hi = x[:, j].min(), x[:, j].max()
        lines += ["", "[[features]]", f'name = "{name}"', f"label = {texts(LABELS_ZH[name], label)}",
                  f'source = "{source}"', f'unit = "{unit}"']
        if kind == "continuous":
            lines += [f"valid_min = {fmt(np.floor(lo))}", f"valid_max = {fmt(np.ceil(hi))}",
                      '# outside the training range: scored, flagged as extrapolated',
                      'out_of_range = "flag"']
            if name == "age":
                lines += ['missing = "refuse"']
            else:
                lines += ['missing = "impute"', f"impute = {fmt(medians[j])}"]
            lines += [f"reference = {fmt(medians[j])}"]
        elif name == "sex_female":
            lines += ["valid_min = 0.0", "valid_max = 1.0", 'out_of_range = "refuse"',
                      '# unknown/other sex: the cohort proportion of women, flagged',
                      'missing = "impute"', f"impute = {fmt(round(x[:, j].mean(), 3))}"]
        else:
            lines += ["valid_min = 0.0", "valid_max = 1.0", 'out_of_range = "refuse"',
                      '# a diagnosis list never lacks a code: absent means 0',
                      'missing = "refuse"', "reference = 0.0"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def write_reference(path, x, p):
    header = ",".join([name for _, name, *_ in FEATURES] + ["probability"])
    with open(path, "w") as f:
        f.write(header + "\n")
        for row, prob in zip(x, p):
            f.write(",".join([fmt(v) for v in row] + [fmt(prob)]) + "\n")


def band_counts(p):
    low = int((p < BAND_MODERATE).sum())
    high = int((p >= BAND_HIGH).sum())
    return low, len(p) - low - high, high


def write_card(path, x, y, cv, model, p_train):
    scaler, lr = model.steps[0][1], model.steps[1][1]
    auc, brier, nb = cv["auc"], cv["brier"], cv["null_brier"]
    low, mod, high = band_counts(p_train)
    lines = [
        "# Model card: one-year mortality after acute myocardial infarction",
        "",
        f"`{MODEL_ID}` version {VERSION}. Generated by `train.py`; do not edit by hand.",
        "",
        "**Decision support only.** The estimate describes patients of a 1990s US community",
        "cohort; it is not a prognosis for an individual and must not decide treatment alone.",
        "",
        "## Data",
        "- **Source**: WHAS500, a 500-patient sample of the Worcester Heart Attack Study, shipped",
        f"  with the PyPI package `scikit-survival` {sksurv.__version__} (`sksurv.datasets.load_whas500`).",
        "- **Citation**: Hosmer DW, Lemeshow S, May S. *Applied Survival Analysis: Regression",
        "  Modeling of Time-to-Event Data*, 2nd ed. Hoboken, NJ: Wiley; 2008.",
        "- **Cohort**: patients hospitalised with acute myocardial infarction in Worcester,",
        "  Massachusetts (study years 1997, 1999, 2001); followed from admission.",
        f"- **Size**: {len(y)} patients, {int(y.sum())} deaths within one year "
        f"({100 * y.mean():.1f} %). No missing values.",
        "",
        "## Outcome",
        "Death from any cause within 365 days of admission: `fstat == 1 and lenfol <= 365`.",
        f"Every patient alive at last follow-up was followed for more than {HORIZON_DAYS} days "
        f"(shortest censored follow-up: {cv['min_censored']:g} days),",
        "so the one-year label is fully observed (no censoring before the horizon).",
        "",
        "## Features (admission-time)",
        "| # | feature | WHAS500 column | cdssd source | unit | training range | coefficient (per SD) |",
        "|---|---|---|---|---|---|---|",
    ]
    for j, (col, name, label, source, unit, kind) in enumerate(FEATURES):
        lines.append(
            f"| {j} | `{name}` ({label}) | `{col}` | `{source}` | {unit} | "
            f"{x[:, j].min():g}–{x[:, j].max():g} | {lr.coef_[0][j]:+.3f} |")
    lines += [
        f"| | intercept | | | | | {lr.intercept_[0]:+.3f} |",
        "",
        "The length of stay (`los`) is not used: it is not known at admission.",
        "Diagnosis-based sources are ICD-10 code prefixes. `history_cvd` (WHAS `cvd`, history of",
        "cardiovascular disease) is mapped to chronic ischaemic heart disease (I25), sequelae of",
        "cerebrovascular disease (I69), atherosclerosis (I70), peripheral vascular disease (I73.9),",
        "personal history of circulatory disease (Z86.7), CABG or stent present (Z95.1, Z95.5).",
        "`q_wave_mi` (WHAS `mitype`, Q-wave MI) is approximated by an ST-elevation MI code",
        "(I21.0–I21.3, I22.0/I22.1/I22.8); `recurrent_mi` (`miord`) by I22 or old MI (I25.2).",
        "These mappings are the cdssd project's, not the study's.",
        "",
        "## Model",
        f"`StandardScaler` + `LogisticRegression(C=1.0, L2, lbfgs)` (scikit-learn {sklearn.__version__}),",
        f"exported with skl2onnx {skl2onnx.__version__} (opset 17, `zipmap=False`). Input `features`",
        f"float32 [N, {len(FEATURES)}]; output `probabilities` float32 [N, 2], column 1 = P(death).",
        "Standardisation means: " + ", ".join(f"{m:.4g}" for m in scaler.mean_) + ".",
        "",
        f"## Validation ({N_REPEATS}× repeated stratified {N_SPLITS}-fold cross-validation, seed {SEED})",
        "Metrics of the out-of-fold predictions of each repeat; mean ± SD over the repeats.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| AUC (c-statistic) | {auc.mean():.3f} ± {auc.std():.3f} |",
        f"| Brier score | {brier.mean():.4f} ± {brier.std():.4f} |",
        f"| Null Brier (training-fold prevalence) | {nb.mean():.4f} ± {nb.std():.4f} |",
        f"| Scaled Brier (1 − Brier/null) | {1 - brier.mean() / nb.mean():.3f} |",
        f"| Calibration slope (pooled) | {cv['slope']:.3f} |",
        f"| Calibration-in-the-large (pooled) | {cv['citl']:+.3f} |",
        "",
        "Calibration by decile of the repeat-averaged out-of-fold prediction:",
        "",
        "| decile | n | mean predicted | observed |",
        "|---|---|---|---|",
    ]
    for k, (n, pred, obs) in enumerate(cv["deciles"], start=1):
        lines.append(f"| {k} | {n} | {pred:.3f} | {obs:.3f} |")
    lines += [
        "",
        "## Risk bands",
        f"low < {BAND_MODERATE:.0%} ≤ moderate < {BAND_HIGH:.0%} ≤ high. The thresholds are the cdssd",
        "project's choice for display (high raises a warning card); they are not clinically validated.",
        f"Training rows per band (final model): low {low}, moderate {mod}, high {high}.",
        "",
        "## Limitations",
        "- **Old cohort.** Admissions 1997–2001: before today's routine primary PCI, high-sensitivity",
        "  troponin and current secondary prevention; one-year mortality today is lower, so the",
        "  model likely **over-estimates** absolute risk. Recalibrate locally before relying on it.",
        "- **Possible leakage of in-hospital complications.** In WHAS500, `afb`, `sho`, `chf` and",
        "  `av3` may record complications that arose during the hospital stay rather than findings at",
        "  admission. Used at admission, the model sees them only if already coded; their",
        "  coefficients may overstate what is known on arrival.",
        "- **Small sample** (500 patients, 138 events, 13 features): coefficients are imprecise; no",
        "  external validation was done.",
        "- **Single US region**, mostly white population; sex is the only demographic besides age.",
        "- **Coding approximations**: the mappings of `cvd`, `mitype` and `miord` to ICD-10 above.",
        "- Initial vital signs come from the first value after arrival; BMI is the first recorded BMI",
        "  (LOINC 39156-5) or the first weight over the latest height squared. Missing vitals/BMI are",
        "  imputed with the cohort median and flagged.",
        "",
        "## Explanations",
        "cdssd reports, for each feature with a reference value, the change in predicted risk when",
        "that feature alone is set to its reference (cohort median for measurements, 0 = absent for",
        "diagnoses; sex has none). The contributions are not additive and not causal.",
        "",
        "## Reproducibility",
        "`scripts/setup-models-env.sh --check` re-runs this script in the pinned environment",
        "(`models/requirements.txt`) and compares every output byte for byte.",
        "`reference_predictions.csv` holds scikit-learn's probability for each training row; cdssd's",
        "tests check onnxruntime's output against it.",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return auc, brier, nb


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    x, y = load()
    cv = cross_validate(x, y)
    cv["min_censored"] = min_censored_days()
    model = make_model().fit(x, y)
    p_train = model.predict_proba(x)[:, 1]

    data = export(model, os.path.join(args.out, "model.onnx"))
    sha = hashlib.sha256(data).hexdigest()
    write_manifest(os.path.join(args.out, "manifest.toml"), x, sha)
    write_reference(os.path.join(args.out, "reference_predictions.csv"), x, p_train)
    auc, brier, nb = write_card(os.path.join(args.out, "MODEL_CARD.md"), x, y, cv, model, p_train)

    # Self-check: onnxruntime reproduces scikit-learn on the training rows.
    import onnxruntime as ort
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    p_onnx = sess.run(["probabilities"], {"features": x.astype(np.float32)})[0][:, 1]
    max_diff = float(np.max(np.abs(p_onnx - p_train)))
    assert max_diff < 1e-5, max_diff

    print(f"{MODEL_ID} {VERSION}: n={len(y)} events={int(y.sum())}")
    print(f"CV AUC {auc.mean():.3f} ± {auc.std():.3f}  Brier {brier.mean():.4f} ± {brier.std():.4f}  "
          f"null Brier {nb.mean():.4f}  slope {cv['slope']:.3f}  CITL {cv['citl']:+.3f}")
    print(f"bands low/moderate/high on training rows: {band_counts(p_train)}")
    print(f"onnxruntime vs scikit-learn max |diff| {max_diff:.2e}; model.onnx sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
