//! Known quantities: for LOINC codes whose unit matters to rules and models,
//! the canonical unit and the accepted units with their conversion.
//! A known quantity sent in an unknown unit is a validation error; one whose value is
//! physiologically impossible (`Quantity::plausible`) is left out of evaluation and
//! reported as a data-quality notice (issue 17: one monitor artefact must not cost the
//! patient every card).
//!
//! Plausible ranges are the extremes recorded in living patients, widened: core
//! temperature 13.7–46.5 °C survived (accidental hypothermia; heat stroke), heart rates to
//! ~600/min (pre-excited atrial fibrillation), blood glucose to ~150 mmol/L, weight to
//! ~635 kg, height to 272 cm; laboratory ranges cover the analysers' reportable ranges
//! (troponin and natriuretic peptides to 10^6 ng/L). They are the project's choice,
//! meant to catch unit slips and artefacts (a negative rate, 10^6 °C), not to judge values.
//!
//! Conversion factors: creatinine 88.42 µmol/L per mg/dL; cholesterol
//! 38.67 mg/dL per mmol/L; glucose 18.016 mg/dL per mmol/L; lactate
//! 9.008 mg/dL per mmol/L; urea nitrogen 2.801 mg/dL per mmol/L (standard
//! molar masses).

/// A known quantity: its LOINC codes, canonical unit and accepted units.
#[derive(Debug)]
pub struct Quantity {
    pub name: &'static str,
    /// The same in Chinese, for texts a person reads.
    pub name_zh: &'static str,
    pub loinc: &'static [&'static str],
    pub canonical: &'static str,
    /// `(unit, factor, offset)`: canonical = value * factor + offset.
    pub accepts: &'static [(&'static str, f64, f64)],
    /// What is physiologically possible, in the canonical unit (inclusive bounds): not a
    /// normal range but the extremes recorded in living patients, with a margin. A value
    /// outside is left out of evaluation and reported (see [`plausible`]).
    pub plausible: (f64, f64),
}

const ID: f64 = 1.0;

pub static QUANTITIES: &[Quantity] = &[
    Quantity {
        name: "blood pressure",
        name_zh: "血压",
        loinc: &["8480-6", "8462-4", "8478-0"],
        canonical: "mm[Hg]",
        accepts: &[("mm[Hg]", ID, 0.0), ("mmHg", ID, 0.0), ("kPa", 7.500_62, 0.0)],
        plausible: (0.0, 400.0),
    },
    Quantity {
        name: "rate per minute",
        name_zh: "每分钟频率（心率/呼吸）",
        loinc: &["8867-4", "9279-1"],
        canonical: "/min",
        accepts: &[("/min", ID, 0.0), ("{beats}/min", ID, 0.0), ("{breaths}/min", ID, 0.0), ("bpm", ID, 0.0)],
        plausible: (0.0, 600.0),
    },
    Quantity {
        name: "body temperature",
        name_zh: "体温",
        loinc: &["8310-5", "8331-1", "8332-9"],
        canonical: "Cel",
        accepts: &[("Cel", ID, 0.0), ("[degF]", 5.0 / 9.0, -32.0 * 5.0 / 9.0)],
        plausible: (10.0, 47.0),
    },
    Quantity {
        name: "oxygen saturation",
        name_zh: "血氧饱和度",
        loinc: &["59408-5", "2708-6", "2710-2"],
        canonical: "%",
        accepts: &[("%", ID, 0.0)],
        plausible: (0.0, 100.0),
    },
    Quantity {
        name: "body weight",
        name_zh: "体重",
        loinc: &["29463-7", "3141-9", "8335-2"],
        canonical: "kg",
        accepts: &[("kg", ID, 0.0), ("g", 0.001, 0.0), ("[lb_av]", 0.453_592_37, 0.0)],
        plausible: (0.1, 800.0),
    },
    Quantity {
        name: "body height",
        name_zh: "身高",
        loinc: &["8302-2", "8306-3"],
        canonical: "cm",
        accepts: &[("cm", ID, 0.0), ("m", 100.0, 0.0), ("[in_i]", 2.54, 0.0)],
        plausible: (15.0, 280.0),
    },
    Quantity {
        name: "body mass index",
        name_zh: "体重指数",
        loinc: &["39156-5"],
        canonical: "kg/m2",
        accepts: &[("kg/m2", ID, 0.0)],
        plausible: (5.0, 250.0),
    },
    Quantity {
        name: "lactate",
        name_zh: "乳酸",
        loinc: &["2524-7", "32693-4", "2518-9", "19239-3"],
        canonical: "mmol/L",
        accepts: &[("mmol/L", ID, 0.0), ("mg/dL", 1.0 / 9.008, 0.0)],
        plausible: (0.0, 50.0),
    },
    Quantity {
        name: "creatinine",
        name_zh: "肌酐",
        loinc: &["2160-0", "14682-9", "38483-4", "59826-8"],
        canonical: "mg/dL",
        accepts: &[("mg/dL", ID, 0.0), ("umol/L", 1.0 / 88.42, 0.0)],
        plausible: (0.0, 80.0),
    },
    Quantity {
        name: "glucose",
        name_zh: "血糖",
        loinc: &["2345-7", "2339-0", "15074-8"],
        canonical: "mmol/L",
        accepts: &[("mmol/L", ID, 0.0), ("mg/dL", 1.0 / 18.016, 0.0)],
        plausible: (0.0, 200.0),
    },
    Quantity {
        name: "electrolyte",
        name_zh: "电解质",
        loinc: &["2823-3", "6298-4", "2951-2", "2947-0"],
        canonical: "mmol/L",
        accepts: &[("mmol/L", ID, 0.0), ("meq/L", ID, 0.0), ("mEq/L", ID, 0.0)],
        plausible: (0.0, 300.0),
    },
    Quantity {
        name: "cholesterol",
        name_zh: "胆固醇",
        loinc: &["2093-3", "2085-9", "13457-7", "18262-6", "2089-1", "14647-2", "14646-4", "39469-2"],
        canonical: "mg/dL",
        accepts: &[("mg/dL", ID, 0.0), ("mmol/L", 38.67, 0.0)],
        plausible: (0.0, 3000.0),
    },
    Quantity {
        name: "cell count",
        name_zh: "细胞计数",
        loinc: &["777-3", "26515-7", "6690-2", "26464-8"],
        canonical: "10*3/uL",
        accepts: &[("10*3/uL", ID, 0.0), ("10*9/L", ID, 0.0), ("/nL", ID, 0.0)],
        plausible: (0.0, 10000.0),
    },
    Quantity {
        name: "hemoglobin",
        name_zh: "血红蛋白",
        loinc: &["718-7", "20509-6"],
        canonical: "g/dL",
        accepts: &[("g/dL", ID, 0.0), ("g/L", 0.1, 0.0)],
        plausible: (0.0, 30.0),
    },
    Quantity {
        name: "troponin",
        name_zh: "肌钙蛋白",
        loinc: &["89579-7", "6598-7", "10839-9", "42757-5", "67151-1"],
        canonical: "ng/L",
        accepts: &[("ng/L", ID, 0.0), ("pg/mL", ID, 0.0), ("ng/mL", 1000.0, 0.0), ("ug/L", 1000.0, 0.0)],
        plausible: (0.0, 1_000_000.0),
    },
    Quantity {
        name: "natriuretic peptide",
        name_zh: "利钠肽",
        loinc: &["30934-4", "33762-6", "42637-9"],
        canonical: "pg/mL",
        accepts: &[("pg/mL", ID, 0.0), ("ng/L", ID, 0.0)],
        plausible: (0.0, 1_000_000.0),
    },
    Quantity {
        name: "procalcitonin",
        name_zh: "降钙素原",
        loinc: &["33959-8", "75241-0"],
        canonical: "ng/mL",
        accepts: &[("ng/mL", ID, 0.0), ("ug/L", ID, 0.0)],
        plausible: (0.0, 2000.0),
    },
    Quantity {
        name: "urea nitrogen",
        name_zh: "尿素氮",
        loinc: &["3094-0", "6299-2"],
        canonical: "mg/dL",
        accepts: &[("mg/dL", ID, 0.0), ("mmol/L", 2.801, 0.0)],
        plausible: (0.0, 600.0),
    },
    Quantity {
        name: "ejection fraction",
        name_zh: "射血分数",
        loinc: &["10230-1", "18043-0", "8806-2", "18046-3"],
        canonical: "%",
        accepts: &[("%", ID, 0.0)],
        plausible: (1.0, 99.0),
    },
    Quantity {
        name: "INR",
        name_zh: "INR（国际标准化比值）",
        loinc: &["6301-6", "34714-6"],
        canonical: "{INR}",
        accepts: &[("{INR}", ID, 0.0), ("{ratio}", ID, 0.0), ("1", ID, 0.0)],
        plausible: (0.1, 60.0),
    },
];

/// Is `value` (in the canonical unit of `q`) physiologically possible? Non-finite values
/// never are (they are field violations before this is asked).
pub fn plausible(q: &Quantity, value: f64) -> bool {
    value.is_finite() && q.plausible.0 <= value && value <= q.plausible.1
}

/// The known quantity of a LOINC code, if any.
pub fn known(loinc: &str) -> Option<&'static Quantity> {
    QUANTITIES.iter().find(|q| q.loinc.contains(&loinc))
}

/// Convert `value unit` of quantity `q` to its canonical unit; `None` for an unknown unit.
/// Units are matched exactly first, then ASCII case-insensitively (UCUM's
/// case-insensitive form: `mmol/l` and `MMOL/L` are `mmol/L`), with the micro sign
/// (`µ`, `μ`) read as UCUM's `u`.
pub fn to_canonical(q: &Quantity, value: f64, unit: &str) -> Option<f64> {
    accepted(q, unit).map(|(_, factor, offset)| value * factor + offset)
}

/// The accepted unit `unit` stands for (see [`to_canonical`]), with its conversion.
pub fn accepted<'q>(q: &'q Quantity, unit: &str) -> Option<&'q (&'static str, f64, f64)> {
    let unit = unit.trim();
    if let Some(hit) = q.accepts.iter().find(|(u, _, _)| *u == unit) {
        return Some(hit);
    }
    let unit = if unit.contains(['µ', 'μ']) { unit.replace(['µ', 'μ'], "u") } else { unit.to_string() };
    q.accepts
        .iter()
        .find(|(u, _, _)| *u == unit)
        .or_else(|| q.accepts.iter().find(|(u, _, _)| u.eq_ignore_ascii_case(&unit)))
}
