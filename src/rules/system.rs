//! Canonical names of code systems used in value sets.
//!
//! Short names and FHIR-style URIs map to one canonical short name, so a value set written
//! with `system = "ATC"` matches a coding sent as `http://www.whocc.no/atc`.

/// The canonical short name of a code system, or `None` when unknown.
pub fn canonical_system(system: &str) -> Option<&'static str> {
    let s = system.trim().trim_end_matches('/').to_ascii_lowercase();
    let canon = match s.as_str() {
        "icd-10" | "icd10" | "icd-10-cm" | "icd10cm" | "icd-10-cn" | "http://hl7.org/fhir/sid/icd-10"
        | "http://hl7.org/fhir/sid/icd-10-cm" | "http://hl7.org/fhir/sid/icd-10-cn" => "ICD-10",
        "atc" | "http://www.whocc.no/atc" => "ATC",
        "loinc" | "http://loinc.org" => "LOINC",
        "snomed-ct" | "snomed" | "snomedct" | "sct" | "http://snomed.info/sct" => "SNOMED-CT",
        "rxnorm" | "http://www.nlm.nih.gov/research/umls/rxnorm" => "RXNORM",
        "icd-9-cm-3" | "icd-9-cm" | "icd9cm" | "http://hl7.org/fhir/sid/icd-9-cm" => "ICD-9-CM-3",
        "icd-10-pcs" | "icd10pcs" | "http://www.cms.gov/medicare/coding/icd10" => "ICD-10-PCS",
        "cpt" | "http://www.ama-assn.org/go/cpt" => "CPT",
        "local" => "LOCAL",
        _ => return None,
    };
    Some(canon)
}
