//! Target `fhir_bundle`: the FHIR R4 mapper ([`crate::fhir::map_bundle`]) on arbitrary bytes,
//! then validation of what it produced. Not JSON is refused before the mapper; the mapper
//! answers with an encounter or with issues that each have a location and a diagnostic, at
//! least one of them an error, and an OperationOutcome; a mapped encounter is validated as
//! the pipeline does (accepted, or field violations).

use super::{check_violations, fixed_now, Verdict};
use crate::{encounter::Limits, fhir};

/// Map `data` (a FHIR Bundle, as `cdssd evaluate --fhir` reads it) and validate the result.
pub fn fhir_bundle(data: &[u8], limits: &Limits) -> Verdict {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return Verdict::Rejected };
    let zone: fhir::Zone = chrono_tz::Asia::Shanghai;
    match fhir::map_bundle(&json, &fhir::Options::new(fhir::Focus::default(), zone)) {
        Ok(mapped) => {
            for w in &mapped.warnings {
                assert!(!w.expression.is_empty() && !w.diagnostics.is_empty(), "a warning without a location: {w:?}");
            }
            match crate::encounter::from_proto(&mapped.encounter, limits, fixed_now()) {
                Ok(_) => Verdict::Accepted,
                Err(e) => {
                    check_violations(&e);
                    Verdict::Rejected
                }
            }
        }
        Err(e) => {
            assert!(!e.issues.is_empty(), "a mapping error without issues");
            assert!(
                e.issues.iter().any(|i| matches!(i.severity, fhir::Severity::Error | fhir::Severity::Fatal)),
                "a mapping error without an error issue: {e:?}"
            );
            for i in &e.issues {
                assert!(!i.expression.is_empty() && !i.diagnostics.is_empty(), "an issue without a location: {i:?}");
            }
            assert_eq!(e.to_operation_outcome()["resourceType"], "OperationOutcome");
            Verdict::Rejected
        }
    }
}
