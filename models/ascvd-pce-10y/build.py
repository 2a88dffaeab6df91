#!/usr/bin/env python3
"""Build cdssd's 10-year ASCVD risk model: the 2013 ACC/AHA Pooled Cohort Equations as an ONNX graph.

Nothing is fitted: the graph evaluates the published sex- and race-specific Cox models
    risk = 1 - S0(10) ^ exp(sum(beta * x) - mean(beta * x))
with the coefficients of Goff et al. 2013, Table A (see COEFFICIENTS below and MODEL_CARD.md).

Writes into --out (default: this directory):
  model.onnx                 input `x` float64 [N, 9], outputs `risk` and `individual_sum` float64 [N, 1]
  manifest.toml              the cdssd manifest
  MODEL_CARD.md              source, cross-check of the coefficients, worked examples, limitations
  reference_predictions.csv  300 profiles with the closed-form risk computed here in float64,
                             checked against onnxruntime by cdssd's Rust tests

Run with the pinned environment: scripts/setup-models-env.sh --build
"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MODEL_ID = "ascvd-pce-10y"
VERSION = "1.0.0"

# Column order of the input tensor `x`.
INPUTS = ["age", "total_cholesterol", "hdl_cholesterol", "systolic_bp",
          "bp_treated", "smoker", "diabetes", "sex_female", "race_black"]

# Groups, in the column order of the coefficient matrix.
GROUPS = ["white_female", "black_female", "white_male", "black_male"]

# Terms of the equations, in row order of the coefficient matrix.
TERMS = ["ln_age", "ln_age_sq", "ln_tc", "ln_age_x_ln_tc", "ln_hdl", "ln_age_x_ln_hdl",
         "ln_treated_sbp", "ln_age_x_ln_treated_sbp", "ln_untreated_sbp",
         "ln_age_x_ln_untreated_sbp", "smoker", "ln_age_x_smoker", "diabetes"]

# Goff DC Jr et al. 2013 ACC/AHA Guideline on the Assessment of Cardiovascular Risk,
# Appendix 7, Table A "Equation parameters of the Pooled Cohort Equations for estimation of
# 10-year risk of hard ASCVD". 0 where the guideline lists "N/A" (term not in that group's model).
# Cross-checked against (1) Karmali/JAHA 2015 Table 1 and (2) a published calculator's coefficient
# table; the discrepancies found there are listed in MODEL_CARD.md and are resolved by the
# guideline's own worked example (WORKED_EXAMPLES), which this script asserts.
COEFFICIENTS = {
    #                     white_female  black_female  white_male  black_male
    "ln_age":                    (-29.799,   17.114,   12.344,    2.469),
    "ln_age_sq":                 (  4.884,    0.0,      0.0,      0.0),
    "ln_tc":                     ( 13.540,    0.940,   11.853,    0.302),
    "ln_age_x_ln_tc":            ( -3.114,    0.0,     -2.664,    0.0),
    "ln_hdl":                    (-13.578,  -18.920,   -7.990,   -0.307),
    "ln_age_x_ln_hdl":           (  3.149,    4.475,    1.769,    0.0),
    "ln_treated_sbp":            (  2.019,   29.291,    1.797,    1.916),
    "ln_age_x_ln_treated_sbp":   (  0.0,     -6.432,    0.0,      0.0),
    "ln_untreated_sbp":          (  1.957,   27.820,    1.764,    1.809),
    "ln_age_x_ln_untreated_sbp": (  0.0,     -6.087,    0.0,      0.0),
    "smoker":                    (  7.574,    0.691,    7.837,    0.549),
    "ln_age_x_smoker":           ( -1.665,    0.0,     -1.795,    0.0),
    "diabetes":                  (  0.661,    0.874,    0.658,    0.645),
}
# Overall mean of (coefficient x value) and baseline 10-year survival, same table.
MEAN_SUM = (-29.18, 86.61, 61.18, 19.54)
BASELINE_SURVIVAL = (0.9665, 0.9533, 0.9144, 0.8954)

# The guideline's worked example (Appendix 7, Table A): age 55, total cholesterol 213 mg/dL,
# HDL-C 50 mg/dL, untreated systolic BP 120 mm Hg, non-smoker, no diabetes.
# (group, published individual sum, published 10-year risk in %)
WORKED_EXAMPLES = [
    ("white_female", -29.67, 2.1),
    ("black_female", 86.16, 3.0),
    ("white_male", 60.69, 5.3),
    ("black_male", 18.97, 6.1),
]
EXAMPLE_PROFILE = dict(age=55.0, total_cholesterol=213.0, hdl_cholesterol=50.0, systolic_bp=120.0,
                       bp_treated=0.0, smoker=0.0, diabetes=0.0)

# Valid input ranges (the guideline's ranges for the equations; the ACC/AHA estimator's limits).
RANGES = {"age": (40.0, 79.0), "total_cholesterol": (130.0, 320.0),
          "hdl_cholesterol": (20.0, 100.0), "systolic_bp": (90.0, 200.0)}

# Risk bands: 2013 ACC/AHA cholesterol guideline statin-benefit threshold 7.5 %; >= 20 % high.
BAND_MODERATE = 0.075
BAND_HIGH = 0.20

CITATION = (
    "Goff DC Jr, Lloyd-Jones DM, Bennett G, et al. 2013 ACC/AHA Guideline on the Assessment of "
    "Cardiovascular Risk. Circulation. 2014;129(25 Suppl 2):S49-S73 "
    "(doi:10.1161/01.cir.0000437741.48606.98); J Am Coll Cardiol. 2014;63(25 Pt B):2935-2959"
)


def group_index(female, black):
    return {(1, 0): 0, (1, 1): 1, (0, 0): 2, (0, 1): 3}[(int(female), int(black))]


def closed_form(age, tc, hdl, sbp, treated, smoker, diabetes, female, black):
    """The equations in plain float64 Python: (individual sum, risk)."""
    g = group_index(female, black)
    c = {k: v[g] for k, v in COEFFICIENTS.items()}
    la, lt, lh, ls = math.log(age), math.log(tc), math.log(hdl), math.log(sbp)
    s = (c["ln_age"] * la + c["ln_age_sq"] * la * la + c["ln_tc"] * lt + c["ln_age_x_ln_tc"] * la * lt
         + c["ln_hdl"] * lh + c["ln_age_x_ln_hdl"] * la * lh)
    if treated:
        s += c["ln_treated_sbp"] * ls + c["ln_age_x_ln_treated_sbp"] * la * ls
    else:
        s += c["ln_untreated_sbp"] * ls + c["ln_age_x_ln_untreated_sbp"] * la * ls
    if smoker:
        s += c["smoker"] + c["ln_age_x_smoker"] * la
    if diabetes:
        s += c["diabetes"]
    return s, 1.0 - BASELINE_SURVIVAL[g] ** math.exp(s - MEAN_SUM[g])


def const(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float64), name)


def build_graph():
    n = helper.make_node
    beta = np.array([COEFFICIENTS[t] for t in TERMS], dtype=np.float64)  # [13, 4]
    inits = [
        const("beta", beta),
        const("mean_sum", np.array(MEAN_SUM)),
        const("baseline_survival", np.array(BASELINE_SURVIVAL)),
        const("one", np.array(1.0)),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "cont_start"),
        numpy_helper.from_array(np.array([4], dtype=np.int64), "cont_end"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    nodes = [
        # Continuous inputs (columns 0..3) -> logs; indicators (4..8) as they are.
        n("Slice", ["x", "cont_start", "cont_end", "axis1"], ["x_cont"], name="slice_continuous"),
        n("Log", ["x_cont"], ["ln_cont"], name="ln_continuous"),
        n("Split", ["ln_cont"], ["ln_age", "ln_tc", "ln_hdl", "ln_sbp"], axis=1, num_outputs=4,
          name="split_logs"),
        n("Split", ["x", ], ["_a", "_t", "_h", "_s", "treated", "smoker", "diabetes", "female", "black"],
          axis=1, num_outputs=9, name="split_inputs"),
        n("Sub", ["one", "treated"], ["untreated"], name="untreated"),
        n("Mul", ["ln_age", "ln_age"], ["ln_age_sq"], name="ln_age_sq"),
        n("Mul", ["ln_age", "ln_tc"], ["ln_age_x_ln_tc"], name="ln_age_x_ln_tc"),
        n("Mul", ["ln_age", "ln_hdl"], ["ln_age_x_ln_hdl"], name="ln_age_x_ln_hdl"),
        n("Mul", ["ln_sbp", "treated"], ["ln_treated_sbp"], name="ln_treated_sbp"),
        n("Mul", ["ln_age", "ln_treated_sbp"], ["ln_age_x_ln_treated_sbp"], name="ln_age_x_ln_treated_sbp"),
        n("Mul", ["ln_sbp", "untreated"], ["ln_untreated_sbp"], name="ln_untreated_sbp"),
        n("Mul", ["ln_age", "ln_untreated_sbp"], ["ln_age_x_ln_untreated_sbp"],
          name="ln_age_x_ln_untreated_sbp"),
        n("Mul", ["ln_age", "smoker"], ["ln_age_x_smoker"], name="ln_age_x_smoker"),
        n("Concat", TERMS, ["terms"], axis=1, name="terms"),
        # Individual sum for each of the four groups: [N, 13] x [13, 4].
        n("MatMul", ["terms", "beta"], ["sums"], name="group_sums"),
        n("Sub", ["sums", "mean_sum"], ["centred"], name="centred"),
        n("Exp", ["centred"], ["hazard_ratio"], name="hazard_ratio"),
        n("Pow", ["baseline_survival", "hazard_ratio"], ["survival"], name="survival"),
        n("Sub", ["one", "survival"], ["group_risks"], name="group_risks"),
        # One-hot selection of the patient's group from sex_female and race_black.
        n("Sub", ["one", "female"], ["male"], name="male"),
        n("Sub", ["one", "black"], ["white"], name="white"),
        n("Mul", ["female", "white"], ["w_wf"], name="w_white_female"),
        n("Mul", ["female", "black"], ["w_bf"], name="w_black_female"),
        n("Mul", ["male", "white"], ["w_wm"], name="w_white_male"),
        n("Mul", ["male", "black"], ["w_bm"], name="w_black_male"),
        n("Concat", ["w_wf", "w_bf", "w_wm", "w_bm"], ["group_weights"], axis=1, name="group_weights"),
        n("Mul", ["group_risks", "group_weights"], ["weighted_risks"], name="weighted_risks"),
        n("ReduceSum", ["weighted_risks", "axis1"], ["risk"], keepdims=1, name="risk"),
        n("Mul", ["sums", "group_weights"], ["weighted_sums"], name="weighted_sums"),
        n("ReduceSum", ["weighted_sums", "axis1"], ["individual_sum"], keepdims=1, name="individual_sum"),
    ]
    graph = helper.make_graph(
        nodes, MODEL_ID.replace("-", "_"),
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", len(INPUTS)])],
        [helper.make_tensor_value_info("risk", TensorProto.DOUBLE, ["N", 1]),
         helper.make_tensor_value_info("individual_sum", TensorProto.DOUBLE, ["N", 1])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name="cdssd models/ascvd-pce-10y/build.py",
                              producer_version=VERSION, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    model.doc_string = f"cdssd {MODEL_ID} {VERSION}: 2013 ACC/AHA Pooled Cohort Equations"
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(deterministic=True)


def run_onnx(data, rows):
    import onnxruntime as ort
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    risk, sums = sess.run(["risk", "individual_sum"], {"x": np.asarray(rows, dtype=np.float64)})
    return risk[:, 0], sums[:, 0]


def example_row(group):
    female = 1.0 if group.endswith("female") else 0.0
    black = 1.0 if group.startswith("black") else 0.0
    return [EXAMPLE_PROFILE[k] for k in INPUTS[:7]] + [female, black]


def reference_rows():
    rng = np.random.default_rng(2013)
    rows = []
    for i in range(300):
        age = rng.uniform(*RANGES["age"])
        tc = rng.uniform(*RANGES["total_cholesterol"])
        hdl = rng.uniform(*RANGES["hdl_cholesterol"])
        sbp = rng.uniform(*RANGES["systolic_bp"])
        flags = rng.integers(0, 2, size=5).astype(float)
        rows.append([round(age, 1), round(tc, 1), round(hdl, 1), round(sbp, 1), *flags])
    return rows


def fmt(v):
    return repr(float(v))


VALIDITY_EN = "Derived in US cohorts of white and African-American adults aged 40-79; not validated in Chinese patients (it misestimates risk in East Asian populations). China-PAR (Yang X et al., Circulation 2016) is the Chinese equivalent."
VALIDITY_ZH = "由美国白人和非裔美国人成人队列（40–79 岁）推导；未在中国患者中验证（在东亚人群中风险估计有偏差）。中国人群的对应模型为 China-PAR（Yang X 等，Circulation 2016）。"

# What a person reads, in zh-CN and en (models/README.md).
OUTCOME = ("首次硬终点 ASCVD 事件（非致死性心肌梗死、冠心病死亡、致死性或非致死性卒中）",
           "first hard ASCVD event (nonfatal MI, coronary heart disease death, fatal or nonfatal stroke)")
HORIZON = ("10 年", "10 years")
LABELS_ZH = {
    "age": "年龄",
    "total_cholesterol": "总胆固醇",
    "hdl_cholesterol": "高密度脂蛋白胆固醇（HDL-C）",
    "systolic_bp": "收缩压",
    "bp_treated": "正在接受降压治疗",
    "smoker": "目前吸烟",
    "diabetes": "糖尿病",
    "sex_female": "女性",
    "race_black": "黑人或非裔美国人",
}


def texts(zh, en):
    """A text in both locales, as the manifest writes it."""
    return f'{{ zh-CN = "{zh}", en = "{en}" }}'


def write_manifest(path, sha):
    f = []
    add = f.append
    add("# cdssd model manifest (format: models/README.md). Generated by build.py: do not edit by hand.")
    add(f'id = "{MODEL_ID}"')
    add(f'version = "{VERSION}"')
    add('title = "10-year risk of a first hard ASCVD event (2013 ACC/AHA Pooled Cohort Equations)"')
    add(f"outcome = {texts(*OUTCOME)}")
    add(f"horizon = {texts(*HORIZON)}")
    add('model_file = "model.onnx"')
    add(f'model_sha256 = "{sha}"')
    add('card = "MODEL_CARD.md"')
    add(f'citation = "{CITATION}"')
    add("")
    add("[validity]")
    add('# Shown on every risk card of this model and in ListModels (SAFETY.md, "Validity limits").')
    add(f'zh-CN = "{VALIDITY_ZH}"')
    add(f'en = "{VALIDITY_EN}"')
    add("")
    add("[applicability]")
    add("# Primary prevention: outpatient encounters of adults 40-79 without known ASCVD")
    add("# (see exclude_diagnosis_prefixes).")
    add('encounter_classes = ["outpatient"]')
    add("diagnosis_prefixes = []")
    add('exclude_diagnosis_prefixes = ["I20", "I21", "I22", "I23", "I24", "I25", "I63", "I64", "I65", '
        '"I66", "I69", "I70", "G45", "Z95.1", "Z95.5"]')
    add("age_min = 40.0")
    add("age_max = 79.0")
    add("")
    add("[input]")
    add('name = "x"')
    add('element_type = "float64"')
    add("")
    add("[output]")
    add('name = "risk"')
    add('element_type = "float64"')
    add("column = 0")
    add("")
    add("[bands]")
    add("# 2013 ACC/AHA: statin benefit from 7.5 %; 20 % and above is high risk.")
    add(f"moderate = {BAND_MODERATE}")
    add(f"high = {BAND_HIGH}")
    spec = {
        "age": ('Age', "age", "a", 'reference = 55.0'),
        "total_cholesterol": ("Total cholesterol", "last_lab:2093-3", "mg/dL", "reference = 170.0"),
        "hdl_cholesterol": ("HDL cholesterol", "last_lab:2085-9", "mg/dL", "reference = 50.0"),
        "systolic_bp": ("Systolic blood pressure", "last_vital:8480-6", "mm[Hg]", "reference = 110.0"),
    }
    for name in INPUTS[:4]:
        label, source, unit, ref = spec[name]
        lo, hi = RANGES[name]
        add("")
        add("[[features]]")
        add(f'name = "{name}"')
        add(f"label = {texts(LABELS_ZH[name], label)}")
        add(f'source = "{source}"')
        add(f'unit = "{unit}"')
        add(f"valid_min = {fmt(lo)}")
        add(f"valid_max = {fmt(hi)}")
        add('# the equations are not defined outside the range: refuse')
        add('out_of_range = "refuse"')
        add('missing = "refuse"')
        add(ref)
    binaries = [
        ("bp_treated", "On antihypertensive treatment", "has_active_med:ATC:C02,C03,C07,C08,C09", None, "reference = 0.0"),
        ("smoker", "Current smoker", "assessment_text:72166-2",
         'match = ["current every day smoker", "current some day smoker", "current smoker", '
         '"smoker, current status unknown", "heavy tobacco smoker", "light tobacco smoker", "current", "smoker", '
         '"449868002", "428041000124106", "77176002", "428071000124103", "428061000124105", '
         '"LA18976-3", "LA18977-1", "LA18980-5", "LA18981-3", "LA18982-1"]',
         "reference = 0.0"),
        ("diabetes", "Diabetes", "has_diagnosis:E10,E11,E13,E14", None, "reference = 0.0"),
        ("sex_female", "Female sex", "sex_female", None, None),
        ("race_black", "Black or African American", "race:2054-5", None, None),
    ]
    for name, label, source, extra, ref in binaries:
        add("")
        add("[[features]]")
        add(f'name = "{name}"')
        add(f"label = {texts(LABELS_ZH[name], label)}")
        add(f'source = "{source}"')
        if extra:
            add(extra)
        add('unit = "1"')
        add("valid_min = 0.0")
        add("valid_max = 1.0")
        add('out_of_range = "refuse"')
        if name == "smoker":
            add("# no smoking status recorded: assume non-smoker, flagged as imputed")
            add('missing = "impute"')
            add("impute = 0.0")
        elif name == "race_black":
            add("# no race recorded: the equations for white/other (guideline advice for other groups), flagged")
            add('missing = "impute"')
            add("impute = 0.0")
        else:
            add('missing = "refuse"')
        if ref:
            add(ref)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(f) + "\n")


def write_reference(path, rows, risks):
    with open(path, "w") as fh:
        fh.write(",".join(INPUTS + ["risk"]) + "\n")
        for row, r in zip(rows, risks):
            fh.write(",".join([fmt(v) for v in row] + [fmt(r)]) + "\n")


def write_card(path, examples):
    L = []
    add = L.append
    add("# Model card: 10-year ASCVD risk (2013 ACC/AHA Pooled Cohort Equations)")
    add("")
    add(f"`{MODEL_ID}` version {VERSION}. Generated by `build.py`; do not edit by hand.")
    add("")
    add("**Decision support only**: a population estimate to inform a shared decision about primary")
    add("prevention (e.g. statin therapy), not a diagnosis.")
    add("")
    add("## Source")
    add(f"{CITATION}. Appendix 7, Table A (coefficients, overall means, baseline survival, worked example).")
    add("Derived from pooled US community cohorts (ARIC, CHS, CARDIA, Framingham original and offspring);")
    add("not fitted by cdssd: `build.py` writes the published equations as an ONNX graph.")
    add("")
    add("## Outcome and horizon")
    add("First hard atherosclerotic cardiovascular disease event (nonfatal myocardial infarction, coronary")
    add("heart disease death, fatal or nonfatal stroke) within 10 years, in adults 40–79 years without")
    add("clinical ASCVD: risk = 1 − S₀(10)^exp(Σβx − mean Σβx), one Cox model per sex/race group.")
    add("")
    add("## Coefficients")
    add("| term | white women | African-American women | white men | African-American men |")
    add("|---|---|---|---|---|")
    for t in TERMS:
        add(f"| {t} | " + " | ".join(f"{v:g}" if v else "–" for v in COEFFICIENTS[t]) + " |")
    add("| overall mean Σβx | " + " | ".join(f"{v:g}" for v in MEAN_SUM) + " |")
    add("| baseline survival S₀(10) | " + " | ".join(f"{v:g}" for v in BASELINE_SURVIVAL) + " |")
    add("")
    add("### Cross-check of the transcription")
    add("The values were compared with two independent secondary sources; each contains an error that")
    add("the guideline's worked example exposes:")
    add("1. Karmali KN et al., J Am Heart Assoc. 2015;4:e001758 (doi:10.1161/JAHA.114.001758), Table 1:")
    add("   agrees except white women's ln untreated SBP printed as 1.857 (guideline 1.957) and white men's")
    add("   ln age × ln HDL-C as 1.767 (guideline 1.769). With 1.857 the worked example gives 1.3 %, not 2.1 %.")
    add("2. A published ASCVD calculator's coefficient table (the Skyscape/EBMcalc \"ACC/AHA 2013 pooled")
    add("   cohort\" calculators): agrees except white women's ln age × ln TC printed as +3.114 (guideline")
    add("   −3.114) and African-American women's mean given as 86.16 (that is the worked example's")
    add("   *individual sum*; the overall mean is 86.61).")
    add("The guideline values reproduce all four published worked-example results (below); `build.py`")
    add("asserts this on every build, and cdssd's Rust tests check it again through onnxruntime.")
    add("")
    add("## Worked examples (acceptance test)")
    add("Profile: 55 years, total cholesterol 213 mg/dL, HDL-C 50 mg/dL, untreated SBP 120 mm Hg,")
    add("non-smoker, no diabetes.")
    add("")
    add("| group | published Σβx | this graph Σβx | published risk | this graph |")
    add("|---|---|---|---|---|")
    for g, pub_sum, pub_risk, our_sum, our_risk in examples:
        add(f"| {g} | {pub_sum} | {our_sum:.3f} | {pub_risk} % | {100 * our_risk:.2f} % |")
    add("")
    add("The white-male figure is 5.38 % with exact logarithms; the guideline's 5.3 % comes from its")
    add("individual sum rounded to 60.69. The tests accept ±0.1 percentage point and ±0.015 on Σβx.")
    add("")
    add("## Inputs and cdssd sources")
    add("| input | source | unit | valid range | missing |")
    add("|---|---|---|---|---|")
    add("| age | age at arrival | years | 40–79 | refuse |")
    add("| total_cholesterol | last lab LOINC 2093-3 | mg/dL (converted from mmol/L) | 130–320 | refuse |")
    add("| hdl_cholesterol | last lab LOINC 2085-9 | mg/dL (converted from mmol/L) | 20–100 | refuse |")
    add("| systolic_bp | last vital LOINC 8480-6 | mm Hg | 90–200 | refuse |")
    add("| bp_treated | active order with ATC C02, C03, C07, C08 or C09 | 0/1 | | absent = 0 |")
    add("| smoker | latest assessment LOINC 72166-2 whose answer is a *current smoker* code/text | 0/1 | | impute 0, flagged |")
    add("| diabetes | diagnosis ICD-10 E10, E11, E13, E14 | 0/1 | | absent = 0 |")
    add("| sex_female | patient sex | 0/1 | | refuse (unknown/other) |")
    add("| race_black | patient race CDC 2054-5 | 0/1 | | impute 0 (white/other equations), flagged |")
    add("")
    add("Values outside the valid ranges are **refused** (not scored): the equations are not defined there.")
    add("The model applies to outpatient encounters without a coded ASCVD diagnosis (I20–I25, I63–I66,")
    add("I69, I70, G45, Z95.1, Z95.5).")
    add("")
    add("## Risk bands")
    add(f"low < {BAND_MODERATE:.1%} ≤ moderate < {BAND_HIGH:.0%} ≤ high. 7.5 % is the 2013 ACC/AHA")
    add("cholesterol guideline's threshold for statin benefit in primary prevention; the 20 % cut for")
    add("*high* follows the later (2018) ACC/AHA grouping. Low merges the 2018 'low' and 'borderline'.")
    add("")
    add("## Explanations")
    add("For age, lipids, SBP, treatment, smoking and diabetes cdssd reports the change in risk when the")
    add("feature alone is set to a reference: age 55 (the guideline's example profile), total cholesterol")
    add("170 mg/dL, HDL-C 50 mg/dL, SBP 110 mm Hg (levels the cdssd project chose as 'optimal'), untreated,")
    add("non-smoker, no diabetes. Sex and race select the equation and are not explained.")
    add("")
    add("## Limitations")
    add("- Known to over-estimate risk in several contemporary and non-US populations; calibration")
    add("  was not checked by cdssd.")
    add("- Equations exist only for white and African-American adults; other groups get the white")
    add("  equations, which may under- or over-estimate their risk (guideline advice).")
    add("- Not for patients with clinical ASCVD, LDL-C ≥ 190 mg/dL, or outside 40–79 years.")
    add("- Smoking status imputed as non-smoker when not recorded (flagged): the risk may be under-estimated.")
    with open(path, "w") as fh:
        fh.write("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    data = build_graph()
    sha = hashlib.sha256(data).hexdigest()

    # Acceptance: the guideline's worked examples, through onnxruntime and in closed form.
    risk, sums = run_onnx(data, [example_row(g) for g, *_ in WORKED_EXAMPLES])
    examples = []
    for (g, pub_sum, pub_risk), r, s in zip(WORKED_EXAMPLES, risk, sums):
        cs, cr = closed_form(*example_row(g))
        assert abs(s - pub_sum) <= 0.015, (g, s, pub_sum)
        assert abs(100 * r - pub_risk) <= 0.1, (g, r, pub_risk)
        assert abs(cr - r) < 1e-12 and abs(cs - s) < 1e-9, (g, cr, r)
        examples.append((g, pub_sum, pub_risk, s, r))

    rows = reference_rows()
    expected = [closed_form(*row)[1] for row in rows]
    got, _ = run_onnx(data, rows)
    max_diff = float(np.max(np.abs(np.asarray(expected) - got)))
    assert max_diff < 1e-12, max_diff

    with open(os.path.join(args.out, "model.onnx"), "wb") as fh:
        fh.write(data)
    write_manifest(os.path.join(args.out, "manifest.toml"), sha)
    write_reference(os.path.join(args.out, "reference_predictions.csv"), rows, expected)
    write_card(os.path.join(args.out, "MODEL_CARD.md"), examples)

    for g, pub_sum, pub_risk, s, r in examples:
        print(f"{g:13s} sum {s:9.3f} (published {pub_sum})  risk {100 * r:5.2f} % (published {pub_risk} %)")
    print(f"graph vs closed form on {len(rows)} profiles: max |diff| {max_diff:.1e}; model.onnx sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
