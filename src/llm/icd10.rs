//! ICD-10 chapters and the chapters a named condition may be coded in, to catch
//! a draft whose code contradicts its own condition name ("pneumonia", C10.0).
//!
//! Chapter ranges: WHO ICD-10 (2019 edition), Chapters I–XXII; the same ranges
//! are used by ICD-10-CM and by China's GB/T 14396 national edition (国家临床版).
//! The condition table is the project's own, deliberately short: a condition
//! name that contains one of its words must be coded in one of the listed
//! ranges; names it does not recognise are not judged.

/// One ICD-10 chapter: roman numeral, first and last 3-character category, title.
#[derive(Debug, Clone, Copy)]
pub struct Chapter {
    pub numeral: &'static str,
    pub first: &'static str,
    pub last: &'static str,
    pub title: &'static str,
}

/// WHO ICD-10 chapters (U00–U99: codes for special purposes).
pub const CHAPTERS: &[Chapter] = &[
    Chapter { numeral: "I", first: "A00", last: "B99", title: "Certain infectious and parasitic diseases" },
    Chapter { numeral: "II", first: "C00", last: "D48", title: "Neoplasms" },
    Chapter { numeral: "III", first: "D50", last: "D89", title: "Diseases of the blood and immune mechanism" },
    Chapter { numeral: "IV", first: "E00", last: "E90", title: "Endocrine, nutritional and metabolic diseases" },
    Chapter { numeral: "V", first: "F00", last: "F99", title: "Mental and behavioural disorders" },
    Chapter { numeral: "VI", first: "G00", last: "G99", title: "Diseases of the nervous system" },
    Chapter { numeral: "VII", first: "H00", last: "H59", title: "Diseases of the eye and adnexa" },
    Chapter { numeral: "VIII", first: "H60", last: "H95", title: "Diseases of the ear and mastoid process" },
    Chapter { numeral: "IX", first: "I00", last: "I99", title: "Diseases of the circulatory system" },
    Chapter { numeral: "X", first: "J00", last: "J99", title: "Diseases of the respiratory system" },
    Chapter { numeral: "XI", first: "K00", last: "K93", title: "Diseases of the digestive system" },
    Chapter { numeral: "XII", first: "L00", last: "L99", title: "Diseases of the skin and subcutaneous tissue" },
    Chapter { numeral: "XIII", first: "M00", last: "M99", title: "Diseases of the musculoskeletal system" },
    Chapter { numeral: "XIV", first: "N00", last: "N99", title: "Diseases of the genitourinary system" },
    Chapter { numeral: "XV", first: "O00", last: "O99", title: "Pregnancy, childbirth and the puerperium" },
    Chapter { numeral: "XVI", first: "P00", last: "P96", title: "Conditions originating in the perinatal period" },
    Chapter { numeral: "XVII", first: "Q00", last: "Q99", title: "Congenital malformations" },
    Chapter { numeral: "XVIII", first: "R00", last: "R99", title: "Symptoms, signs and abnormal findings" },
    Chapter { numeral: "XIX", first: "S00", last: "T98", title: "Injury, poisoning and external causes' consequences" },
    Chapter { numeral: "XX", first: "V01", last: "Y98", title: "External causes of morbidity and mortality" },
    Chapter { numeral: "XXI", first: "Z00", last: "Z99", title: "Factors influencing health status" },
    Chapter { numeral: "XXII", first: "U00", last: "U99", title: "Codes for special purposes" },
];

/// The 3-character category of a code (`J18.9` → `J18`), upper case.
pub fn category(code: &str) -> String {
    code.trim().split('.').next().unwrap_or_default().chars().take(3).collect::<String>().to_uppercase()
}

/// The chapter a code belongs to (by its 3-character category).
pub fn chapter_of(code: &str) -> Option<&'static Chapter> {
    let c = category(code);
    if c.len() != 3 {
        return None;
    }
    CHAPTERS.iter().find(|ch| ch.first <= c.as_str() && c.as_str() <= ch.last)
}

/// Conditions the project recognises by name, with the category ranges they may be coded in.
struct Condition {
    name: &'static str,
    words: &'static [&'static str],
    ranges: &'static [(&'static str, &'static str)],
}

// Ranges include the chapter where the condition is usually coded and the other chapters
// where ICD-10 legitimately places it (pregnancy O, perinatal P, infections A/B, R65 SIRS/sepsis).
const CONDITIONS: &[Condition] = &[
    Condition {
        name: "pneumonia",
        words: &["pneumonia", "肺炎"],
        ranges: &[("J09", "J18"), ("J69", "J69"), ("J85", "J86"), ("A00", "B99"), ("P23", "P23"), ("U07", "U07")],
    },
    Condition {
        name: "myocardial infarction",
        words: &["myocardial infarction", "stemi", "nstemi", "心肌梗死", "心梗"],
        ranges: &[("I21", "I25")],
    },
    Condition {
        name: "stroke",
        words: &["stroke", "cerebral infarction", "脑梗死", "卒中", "脑卒中", "中风"],
        ranges: &[("I60", "I69"), ("G45", "G46")],
    },
    Condition {
        name: "sepsis",
        words: &["sepsis", "septic", "脓毒症", "败血症"],
        ranges: &[
            ("A00", "B99"),
            ("R57", "R57"),
            ("R65", "R65"),
            ("O08", "O08"),
            ("O85", "O86"),
            ("P36", "P36"),
            ("T80", "T88"),
        ],
    },
    Condition {
        name: "heart failure",
        words: &["heart failure", "cardiac failure", "心力衰竭", "心衰"],
        ranges: &[("I09", "I13"), ("I42", "I43"), ("I50", "I50"), ("O29", "O29"), ("O75", "O75"), ("P29", "P29")],
    },
    Condition {
        name: "venous thromboembolism",
        words: &[
            "pulmonary embolism",
            "deep vein thrombosis",
            "deep venous thrombosis",
            "venous thromboembolism",
            "肺栓塞",
            "深静脉血栓",
            "静脉血栓栓塞",
        ],
        ranges: &[("I26", "I26"), ("I80", "I82"), ("O08", "O08"), ("O22", "O22"), ("O87", "O88"), ("T80", "T82")],
    },
    Condition {
        name: "neoplasm",
        words: &["cancer", "carcinoma", "malignant", "neoplasm", "tumour", "tumor", "lymphoma", "癌", "肿瘤", "恶性"],
        ranges: &[("C00", "D48")],
    },
    Condition {
        name: "diabetes",
        words: &["diabetes", "diabetic", "糖尿病"],
        ranges: &[("E10", "E14"), ("O24", "O24"), ("P70", "P70")],
    },
    Condition {
        name: "hypertension",
        words: &["hypertension", "hypertensive", "高血压"],
        ranges: &[("I10", "I15"), ("I27", "I27"), ("O10", "O16"), ("K76", "K76")],
    },
    Condition {
        name: "fracture",
        words: &["fracture", "骨折"],
        ranges: &[("S00", "T14"), ("M48", "M48"), ("M80", "M80"), ("M84", "M84")],
    },
    Condition {
        name: "urinary tract infection",
        words: &["urinary tract infection", "pyelonephritis", "cystitis", "尿路感染", "肾盂肾炎"],
        ranges: &[("N10", "N12"), ("N30", "N30"), ("N39", "N39"), ("O23", "O23"), ("A00", "B99")],
    },
    Condition {
        name: "atrial fibrillation",
        words: &["atrial fibrillation", "心房颤动", "房颤"],
        ranges: &[("I48", "I48")],
    },
];

/// Why a code contradicts its condition name, or None when it does not (or the name is not recognised).
pub fn contradiction(condition: &str, code: &str) -> Option<String> {
    let name = condition.to_lowercase();
    let cat = category(code);
    for c in CONDITIONS {
        if !c.words.iter().any(|w| name.contains(w)) {
            continue;
        }
        // "non-small cell carcinoma" etc. carry several words; a match on any one range suffices.
        if c.ranges.iter().any(|(lo, hi)| *lo <= cat.as_str() && cat.as_str() <= *hi) {
            return None;
        }
        let chapter = chapter_of(code)
            .map(|ch| format!("chapter {} ({}, {}–{})", ch.numeral, ch.title, ch.first, ch.last))
            .unwrap_or_else(|| "no ICD-10 chapter".into());
        let expected: Vec<String> =
            c.ranges.iter().map(|(lo, hi)| if lo == hi { lo.to_string() } else { format!("{lo}–{hi}") }).collect();
        return Some(format!("{} is in {chapter}, but a {} is coded in {}", cat, c.name, expected.join(", ")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chapters_cover_the_example_codes() {
        assert_eq!(chapter_of("J18.9").unwrap().numeral, "X");
        assert_eq!(chapter_of("C10.0").unwrap().numeral, "II");
        assert_eq!(chapter_of("D48.1").unwrap().numeral, "II");
        assert_eq!(chapter_of("D50").unwrap().numeral, "III");
        assert_eq!(chapter_of("T81.4").unwrap().numeral, "XIX");
        assert_eq!(chapter_of("U07.1").unwrap().numeral, "XXII");
        assert!(chapter_of("9").is_none());
    }

    #[test]
    fn a_pneumonia_coded_as_a_neoplasm_is_a_contradiction() {
        let why = contradiction("Community-acquired pneumonia", "C10.0").expect("contradiction");
        assert!(why.contains("chapter II") && why.contains("J09–J18"), "{why}");
        assert!(contradiction("社区获得性肺炎", "C10.0").is_some());
        assert!(contradiction("Community-acquired pneumonia", "J18.9").is_none());
        assert!(contradiction("Legionnaires' pneumonia", "A48.1").is_none());
        assert!(contradiction("Acute STEMI", "I21.0").is_none());
        assert!(contradiction("Acute STEMI", "J18.9").is_some());
        assert!(contradiction("Septic shock", "R65.21").is_none());
        assert!(contradiction("Unusual condition", "C10.0").is_none(), "unknown names are not judged");
    }
}
