//! The mapper's one error type, shaped like a FHIR `OperationOutcome`: every issue has a
//! severity, an issue-type code, a FHIRPath-like location and a diagnostic text that never
//! quotes a patient data value (only element names, resource types, code-system names and
//! the allowed values).

use std::fmt;

/// How bad an issue is (FHIR `OperationOutcome.issue.severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The input cannot be processed at all.
    Fatal,
    /// This element (hence the bundle) cannot be mapped.
    Error,
    /// Mapped, but something was left out (reported, never an error).
    Warning,
    /// For the record (e.g. a resource type the mapper does not read).
    Information,
}

impl Severity {
    /// The FHIR code (`fatal`, `error`, `warning`, `information`).
    pub fn code(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// What kind of issue (a subset of FHIR `IssueType`, http://hl7.org/fhir/R4/valueset-issue-type.html).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueCode {
    /// Not a FHIR resource, or JSON of the wrong shape (`structure`).
    Structure,
    /// A required element is missing (`required`).
    Required,
    /// An element has a value of the wrong format or outside its value set (`value`).
    Value,
    /// A reference or the focus names nothing in the input (`not-found`).
    NotFound,
    /// The input is ambiguous (several patients and no focus) (`conflict`).
    Conflict,
    /// Valid FHIR that the mapper does not read or the contract cannot carry (`not-supported`).
    NotSupported,
    /// Something was left out on purpose (`informational`).
    Informational,
}

impl IssueCode {
    /// The FHIR code.
    pub fn code(self) -> &'static str {
        match self {
            IssueCode::Structure => "structure",
            IssueCode::Required => "required",
            IssueCode::Value => "value",
            IssueCode::NotFound => "not-found",
            IssueCode::Conflict => "conflict",
            IssueCode::NotSupported => "not-supported",
            IssueCode::Informational => "informational",
        }
    }
}

/// One problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// How bad it is.
    pub severity: Severity,
    /// What kind of problem.
    pub code: IssueCode,
    /// FHIRPath-like location, e.g. `Bundle.entry[3].resource.valueQuantity.code`.
    pub expression: String,
    /// What is wrong and what is expected; never a patient data value.
    pub diagnostics: String,
}

impl Issue {
    /// An error at `expression`.
    pub fn error(code: IssueCode, expression: impl Into<String>, diagnostics: impl Into<String>) -> Self {
        Issue { severity: Severity::Error, code, expression: expression.into(), diagnostics: diagnostics.into() }
    }

    /// A warning at `expression` (mapped with a loss, or an item left out).
    pub fn warning(code: IssueCode, expression: impl Into<String>, diagnostics: impl Into<String>) -> Self {
        Issue { severity: Severity::Warning, code, expression: expression.into(), diagnostics: diagnostics.into() }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "severity": self.severity.code(),
            "code": self.code.code(),
            "diagnostics": self.diagnostics,
            "expression": [self.expression],
        })
    }
}

/// The input could not be mapped: every problem found (not just the first), OperationOutcome-style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirError {
    /// The issues, in input order; at least one has severity error or fatal.
    pub issues: Vec<Issue>,
}

impl FhirError {
    /// A single-issue error.
    pub fn one(issue: Issue) -> Self {
        FhirError { issues: vec![issue] }
    }

    /// The FHIR R4 `OperationOutcome` resource (JSON) listing the issues.
    pub fn to_operation_outcome(&self) -> serde_json::Value {
        operation_outcome(&self.issues)
    }
}

/// An `OperationOutcome` with these issues (also used for the warnings of a mapping).
pub fn operation_outcome(issues: &[Issue]) -> serde_json::Value {
    let issue: Vec<serde_json::Value> = if issues.is_empty() {
        // OperationOutcome.issue is 1..*: an empty outcome says "all ok".
        vec![serde_json::json!({"severity": "information", "code": "informational", "diagnostics": "no issues"})]
    } else {
        issues.iter().map(Issue::to_json).collect()
    };
    serde_json::json!({"resourceType": "OperationOutcome", "issue": issue})
}

impl fmt::Display for FhirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        write!(f, "the FHIR input cannot be mapped ({n} issue{}):", if n == 1 { "" } else { "s" })?;
        for i in &self.issues {
            write!(f, "\n  {} {}: {}", i.severity.code(), i.expression, i.diagnostics)?;
        }
        Ok(())
    }
}

impl std::error::Error for FhirError {}
