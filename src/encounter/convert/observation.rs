//! Observations (vitals, labs, assessments): values in the canonical unit of
//! their known quantity, and reference ranges converted with them.

use super::{path::Path, Validator};
use crate::{
    encounter::{model::*, units},
    proto::v1 as pb,
};

impl Validator<'_> {
    /// One vital, lab or assessment.
    pub(super) fn observation(&mut self, path: Path<'_>, o: &pb::Observation) -> Option<Observation> {
        let id = self.id(path.field("id"), &o.id);
        let code = self.coding(path.field("code"), o.code.as_ref(), true);
        let time = self.required_time(path.field("effective_time"), o.effective_time.as_ref());
        let issued = self.time(path.field("issued_time"), o.issued_time.as_ref());
        // Looked up once, for the value and for the reference range.
        let known = code.as_ref().filter(|c| c.system == CodeSystem::Loinc).and_then(|c| units::known(&c.code));
        let value = self.obs_value(path, known, o);
        let reference_range = o.reference_range.as_ref().and_then(|r| self.reference_range(path, known, o, r));
        Some(Observation { id, code: code?, value: value?, time: time?, issued, reference_range })
    }

    /// The value; a known quantity (`known`) must be numeric in an accepted unit.
    fn obs_value(&mut self, path: Path<'_>, known: Option<&units::Quantity>, o: &pb::Observation) -> Option<ObsValue> {
        match &o.value {
            None => {
                self.err(path.field("value"), "is required (quantity or text)");
                None
            }
            Some(pb::observation::Value::Text(t)) => {
                if let Some(k) = known {
                    self.err(
                        path.field("text"),
                        format!("{} requires a numeric quantity in {}, not text", k.name, k.canonical),
                    );
                    return None;
                }
                Some(ObsValue::Text(self.text(path.field("text"), t)))
            }
            Some(pb::observation::Value::Quantity(q)) => {
                let qpath = path.field("quantity");
                if !q.value.is_finite() {
                    self.err(qpath.field("value"), "must be a finite number");
                    return None;
                }
                let unit = self.checked(qpath.field("unit"), &q.unit);
                let Some(k) = known else {
                    return Some(ObsValue::Quantity { value: q.value, unit: unit.to_string() });
                };
                match units::to_canonical(k, q.value, unit) {
                    Some(v) => Some(ObsValue::Quantity { value: v, unit: k.canonical.to_string() }),
                    None => {
                        let accepted: Vec<&str> = k.accepts.iter().map(|a| a.0).collect();
                        self.err(
                            qpath.field("unit"),
                            format!("unit `{unit}` is not known for {} (accepted: {})", k.name, accepted.join(", ")),
                        );
                        None
                    }
                }
            }
        }
    }

    /// A reference range in the same canonical unit as its (known-quantity) value.
    fn reference_range(
        &mut self,
        path: Path<'_>,
        known: Option<&units::Quantity>,
        o: &pb::Observation,
        r: &pb::ReferenceRange,
    ) -> Option<ReferenceRange> {
        // Non-finite bounds are field violations (they used to reach rules and the LLM prompt).
        let non_finite: Vec<&str> = [("low", r.low), ("high", r.high)]
            .into_iter()
            .filter(|(_, v)| v.is_some_and(|v| !v.is_finite()))
            .map(|(n, _)| n)
            .collect();
        for bound in &non_finite {
            self.err(path.field("reference_range").field(bound), "must be a finite number");
        }
        if !non_finite.is_empty() {
            return None;
        }
        let (Some(k), Some(pb::observation::Value::Quantity(q))) = (known, &o.value) else {
            return Some(ReferenceRange { low: r.low, high: r.high });
        };
        // An empty unit means the unit of the value.
        let unit = if r.unit.trim().is_empty() { q.unit.trim() } else { r.unit.trim() };
        let convert = |v: Option<f64>| v.map(|v| units::to_canonical(k, v, unit));
        match (convert(r.low), convert(r.high)) {
            (Some(None), _) | (_, Some(None)) => {
                let range = path.field("reference_range");
                self.err(range.field("unit"), format!("unit `{unit}` is not known for {}", k.name));
                None
            }
            (low, high) => Some(ReferenceRange { low: low.flatten(), high: high.flatten() }),
        }
    }
}
