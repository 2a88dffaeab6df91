//! Known quantities: for LOINC codes whose unit matters to rules and models,
//! the canonical unit and the accepted units with their conversion.
//! A known quantity sent in an unknown unit is a validation error.
//!
//! Conversion factors: creatinine 88.42 µmol/L per mg/dL; cholesterol
//! 38.67 mg/dL per mmol/L; glucose 18.016 mg/dL per mmol/L; lactate
//! 9.008 mg/dL per mmol/L; urea nitrogen 2.801 mg/dL per mmol/L (standard
//! molar masses).

/// A known quantity: its LOINC codes, canonical unit and accepted units.
pub struct Quantity {
    pub name: &'static str,
    pub loinc: &'static [&'static str],
    pub canonical: &'static str,
    /// `(unit, factor, offset)`: canonical = value * factor + offset.
    pub accepts: &'static [(&'static str, f64, f64)],
}

const ID: f64 = 1.0;

pub static QUANTITIES: &[Quantity] = &[
    Quantity {
        name: "blood pressure",
        loinc: &["8480-6", "8462-4", "8478-0"],
        canonical: "mm[Hg]",
        accepts: &[("mm[Hg]", ID, 0.0), ("mmHg", ID, 0.0), ("kPa", 7.500_62, 0.0)],
    },
    Quantity {
        name: "rate per minute",
        loinc: &["8867-4", "9279-1"],
        canonical: "/min",
        accepts: &[("/min", ID, 0.0), ("{beats}/min", ID, 0.0), ("{breaths}/min", ID, 0.0), ("bpm", ID, 0.0)],
    },
    Quantity {
        name: "body temperature",
        loinc: &["8310-5", "8331-1", "8332-9"],
        canonical: "Cel",
        accepts: &[("Cel", ID, 0.0), ("[degF]", 5.0 / 9.0, -32.0 * 5.0 / 9.0)],
    },
    Quantity {
        name: "oxygen saturation",
        loinc: &["59408-5", "2708-6", "2710-2"],
        canonical: "%",
        accepts: &[("%", ID, 0.0)],
    },
    Quantity {
        name: "body weight",
        loinc: &["29463-7", "3141-9", "8335-2"],
        canonical: "kg",
        accepts: &[("kg", ID, 0.0), ("g", 0.001, 0.0), ("[lb_av]", 0.453_592_37, 0.0)],
    },
    Quantity {
        name: "body height",
        loinc: &["8302-2", "8306-3"],
        canonical: "cm",
        accepts: &[("cm", ID, 0.0), ("m", 100.0, 0.0), ("[in_i]", 2.54, 0.0)],
    },
    Quantity { name: "body mass index", loinc: &["39156-5"], canonical: "kg/m2", accepts: &[("kg/m2", ID, 0.0)] },
    Quantity {
        name: "lactate",
        loinc: &["2524-7", "32693-4", "2518-9", "19239-3"],
        canonical: "mmol/L",
        accepts: &[("mmol/L", ID, 0.0), ("mg/dL", 1.0 / 9.008, 0.0)],
    },
    Quantity {
        name: "creatinine",
        loinc: &["2160-0", "14682-9", "38483-4", "59826-8"],
        canonical: "mg/dL",
        accepts: &[("mg/dL", ID, 0.0), ("umol/L", 1.0 / 88.42, 0.0)],
    },
    Quantity {
        name: "glucose",
        loinc: &["2345-7", "2339-0", "15074-8"],
        canonical: "mmol/L",
        accepts: &[("mmol/L", ID, 0.0), ("mg/dL", 1.0 / 18.016, 0.0)],
    },
    Quantity {
        name: "electrolyte",
        loinc: &["2823-3", "6298-4", "2951-2", "2947-0"],
        canonical: "mmol/L",
        accepts: &[("mmol/L", ID, 0.0), ("meq/L", ID, 0.0), ("mEq/L", ID, 0.0)],
    },
    Quantity {
        name: "cholesterol",
        loinc: &["2093-3", "2085-9", "13457-7", "18262-6", "2089-1", "14647-2", "14646-4", "39469-2"],
        canonical: "mg/dL",
        accepts: &[("mg/dL", ID, 0.0), ("mmol/L", 38.67, 0.0)],
    },
    Quantity {
        name: "cell count",
        loinc: &["777-3", "26515-7", "6690-2", "26464-8"],
        canonical: "10*3/uL",
        accepts: &[("10*3/uL", ID, 0.0), ("10*9/L", ID, 0.0), ("/nL", ID, 0.0)],
    },
    Quantity {
        name: "hemoglobin",
        loinc: &["718-7", "20509-6"],
        canonical: "g/dL",
        accepts: &[("g/dL", ID, 0.0), ("g/L", 0.1, 0.0)],
    },
    Quantity {
        name: "troponin",
        loinc: &["89579-7", "6598-7", "10839-9", "42757-5", "67151-1"],
        canonical: "ng/L",
        accepts: &[("ng/L", ID, 0.0), ("pg/mL", ID, 0.0), ("ng/mL", 1000.0, 0.0), ("ug/L", 1000.0, 0.0)],
    },
    Quantity {
        name: "natriuretic peptide",
        loinc: &["30934-4", "33762-6", "42637-9"],
        canonical: "pg/mL",
        accepts: &[("pg/mL", ID, 0.0), ("ng/L", ID, 0.0)],
    },
    Quantity {
        name: "procalcitonin",
        loinc: &["33959-8", "75241-0"],
        canonical: "ng/mL",
        accepts: &[("ng/mL", ID, 0.0), ("ug/L", ID, 0.0)],
    },
    Quantity {
        name: "urea nitrogen",
        loinc: &["3094-0", "6299-2"],
        canonical: "mg/dL",
        accepts: &[("mg/dL", ID, 0.0), ("mmol/L", 2.801, 0.0)],
    },
    Quantity {
        name: "ejection fraction",
        loinc: &["10230-1", "18043-0", "8806-2", "18046-3"],
        canonical: "%",
        accepts: &[("%", ID, 0.0)],
    },
    Quantity {
        name: "INR",
        loinc: &["6301-6", "34714-6"],
        canonical: "{INR}",
        accepts: &[("{INR}", ID, 0.0), ("{ratio}", ID, 0.0), ("1", ID, 0.0)],
    },
];

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
