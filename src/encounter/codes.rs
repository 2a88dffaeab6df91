//! Code systems: normalisation of system names/URIs and code format checks.

use super::model::CodeSystem;

/// The names and URIs of the known systems (matched ASCII case-insensitively).
static NAMES: &[(&str, CodeSystem)] = &[
    ("icd-10", CodeSystem::Icd10),
    ("icd10", CodeSystem::Icd10),
    ("icd-10-who", CodeSystem::Icd10),
    ("icd-10-cn", CodeSystem::Icd10),
    ("icd-10-gm", CodeSystem::Icd10),
    ("http://hl7.org/fhir/sid/icd-10", CodeSystem::Icd10),
    ("http://hl7.org/fhir/sid/icd-10-cn", CodeSystem::Icd10),
    // WHO ICD-10 OIDs (HL7 OID registry: 2.16.840.1.113883.6.3).
    ("urn:oid:2.16.840.1.113883.6.3", CodeSystem::Icd10),
    ("2.16.840.1.113883.6.3", CodeSystem::Icd10),
    ("icd-10-cm", CodeSystem::Icd10Cm),
    ("icd10cm", CodeSystem::Icd10Cm),
    ("http://hl7.org/fhir/sid/icd-10-cm", CodeSystem::Icd10Cm),
    ("urn:oid:2.16.840.1.113883.6.90", CodeSystem::Icd10Cm),
    ("icd-10-pcs", CodeSystem::Icd10Pcs),
    ("http://www.cms.gov/medicare/coding/icd10", CodeSystem::Icd10Pcs),
    ("icd-9-cm-3", CodeSystem::Icd9Cm3),
    ("icd-9-cm", CodeSystem::Icd9Cm3),
    ("icd9cm3", CodeSystem::Icd9Cm3),
    ("http://hl7.org/fhir/sid/icd-9-cm", CodeSystem::Icd9Cm3),
    ("loinc", CodeSystem::Loinc),
    ("http://loinc.org", CodeSystem::Loinc),
    ("snomed-ct", CodeSystem::SnomedCt),
    ("snomed", CodeSystem::SnomedCt),
    ("sct", CodeSystem::SnomedCt),
    ("http://snomed.info/sct", CodeSystem::SnomedCt),
    ("atc", CodeSystem::Atc),
    ("http://www.whocc.no/atc", CodeSystem::Atc),
    ("rxnorm", CodeSystem::RxNorm),
    ("http://www.nlm.nih.gov/research/umls/rxnorm", CodeSystem::RxNorm),
    ("cpt", CodeSystem::Cpt),
    ("http://www.ama-assn.org/go/cpt", CodeSystem::Cpt),
    ("cdc-race", CodeSystem::CdcRace),
    ("urn:oid:2.16.840.1.113883.6.238", CodeSystem::CdcRace),
];

/// Map a system URI or short name to a [`CodeSystem`]; `None` when unknown.
/// `local` lists the configured local systems (compared case-insensitively).
/// Allocates nothing for a known system (it runs for every coding received).
pub fn parse_system(raw: &str, local: &[String]) -> Option<CodeSystem> {
    let s = raw.trim();
    if let Some((_, sys)) = NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(s)) {
        return Some(sys.clone());
    }
    local.iter().find(|l| l.trim().eq_ignore_ascii_case(s)).map(|l| CodeSystem::Local(l.trim().to_string()))
}

/// Normalise a code of `system` for storage and matching (ICD-10 and ATC upper-cased).
pub fn normalise_code(system: &CodeSystem, code: &str) -> String {
    let c = code.trim();
    match system {
        CodeSystem::Icd10 | CodeSystem::Icd10Cm | CodeSystem::Atc | CodeSystem::Icd10Pcs => c.to_ascii_uppercase(),
        _ => c.to_string(),
    }
}

/// Check the code's format for systems that have one; `Err` explains the expected form.
pub fn check_format(system: &CodeSystem, code: &str) -> Result<(), &'static str> {
    let b = code.as_bytes();
    let ok = match system {
        // Letter, two digits/letter, optional dot and up to 4 more (I21.0, R65.21, U07.1, I219
        // without dot), optionally a national extension `x` + 3 digits (A41.900x001).
        CodeSystem::Icd10 | CodeSystem::Icd10Cm => {
            b.len() >= 3 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_alphanumeric() && {
                let rest = &code[3..];
                let rest = rest.strip_prefix('.').unwrap_or(rest);
                let base = national_base(rest).unwrap_or(rest);
                base.len() <= 4 && base.bytes().all(|c| c.is_ascii_alphanumeric())
            }
        }
        // 1 to 7 digits, a hyphen, one check digit; answer (LA) and part (LP) codes
        // have their letters before the digits (LA18976-3).
        CodeSystem::Loinc => {
            match code.strip_prefix("LA").or_else(|| code.strip_prefix("LP")).unwrap_or(code).split_once('-') {
                Some((num, check)) => {
                    (1..=7).contains(&num.len())
                        && num.bytes().all(|c| c.is_ascii_digit())
                        && check.len() == 1
                        && check.bytes().all(|c| c.is_ascii_digit())
                }
                None => false,
            }
        }
        // A, A01, A01B, A01BC, A01BC06.
        CodeSystem::Atc => {
            let pat = [1usize, 3, 4, 5, 7];
            pat.contains(&b.len())
                && b.iter().enumerate().all(|(i, c)| match i {
                    0 | 3 | 4 => c.is_ascii_uppercase(),
                    _ => c.is_ascii_digit(),
                })
        }
        CodeSystem::Icd10Pcs => b.len() == 7 && b.iter().all(|c| c.is_ascii_alphanumeric()),
        CodeSystem::SnomedCt | CodeSystem::RxNorm => {
            !b.is_empty() && b.len() <= 18 && b.iter().all(|c| c.is_ascii_digit())
        }
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(match system {
            CodeSystem::Icd10 | CodeSystem::Icd10Cm => "is not an ICD-10 code like I21.0 or A41.900x001",
            CodeSystem::Loinc => "is not a LOINC code like 2524-7 or LA18976-3",
            CodeSystem::Atc => "is not an ATC code like B01AC06",
            CodeSystem::Icd10Pcs => "is not a 7-character ICD-10-PCS code",
            CodeSystem::SnomedCt => "is not a SNOMED CT concept id (digits)",
            CodeSystem::RxNorm => "is not an RxNorm concept id (digits)",
            _ => "has an invalid format",
        })
    }
}

/// The part before a China national clinical edition 2.0 extension (`900X001` → `900`):
/// `Some` when `rest` (what follows the category, dot removed, upper case) ends in `X` and
/// three digits after at least one character.
pub fn national_base(rest: &str) -> Option<&str> {
    let b = rest.as_bytes();
    let n = b.len();
    (n >= 5 && b[n - 4] == b'X' && b[n - 3..].iter().all(u8::is_ascii_digit)).then(|| &rest[..n - 4])
}
