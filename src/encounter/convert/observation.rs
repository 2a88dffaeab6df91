//! Observations (vitals, labs, assessments): values in the canonical unit of
//! their known quantity, and reference ranges converted with them.

use super::{path::Path, Validator};
use crate::{
    encounter::{model::*, units},
    proto::v1 as pb,
};

impl Validator<'_> {
    /// One vital, lab or assessment; cancelled and entered-in-error ones are
    /// validated, then dropped (no rule, model or prompt sees them), and so is a known
    /// quantity whose value is physiologically impossible (recorded in `implausible`).
    pub(super) fn observation(&mut self, path: Path<'_>, o: &pb::Observation) -> Option<Observation> {
        let id = self.id(path.field("id"), &o.id);
        let codings = self.item_codings(path, ("code", o.code.as_ref()), ("codings", &o.codings));
        let time = self.required_time(path.field("effective_time"), o.effective_time.as_ref());
        let issued = self.time(path.field("issued_time"), o.issued_time.as_ref());
        let status = match pb::ObservationStatus::try_from(o.status) {
            Ok(pb::ObservationStatus::Unspecified) => Some(ObservationStatus::Unspecified),
            Ok(pb::ObservationStatus::Registered) => Some(ObservationStatus::Registered),
            Ok(pb::ObservationStatus::Preliminary) => Some(ObservationStatus::Preliminary),
            Ok(pb::ObservationStatus::Final) => Some(ObservationStatus::Final),
            Ok(pb::ObservationStatus::Amended) => Some(ObservationStatus::Amended),
            Ok(pb::ObservationStatus::Corrected) => Some(ObservationStatus::Corrected),
            Ok(pb::ObservationStatus::Cancelled | pb::ObservationStatus::EnteredInError) => None,
            Err(_) => {
                self.err(path.field("status"), format!("unknown value {}", o.status));
                Some(ObservationStatus::Unspecified)
            }
        };
        // Looked up once, for the value and for the reference range: the first LOINC
        // coding that is a known quantity.
        let known =
            codings.iter().flatten().filter(|c| c.system == CodeSystem::Loinc).find_map(|c| units::known(&c.code));
        let value = self.obs_value(path, known, o);
        let reference_range = o.reference_range.as_ref().and_then(|r| self.reference_range(path, known, o, r));
        let codings = codings?;
        let (value, comparator, answer_codes) = value?;
        if let (Some(k), ObsValue::Quantity { value: v, .. }, Some(_)) = (known, &value, status) {
            if !units::plausible(k, *v) {
                self.implausible.push(Implausible {
                    list: path.list().unwrap_or("observations"),
                    item_id: id,
                    field: path.field("quantity").field("value").to_string(),
                    codings,
                    quantity: k,
                });
                return None;
            }
        }
        Some(Observation {
            id,
            code: codings[0].clone(),
            codings,
            value,
            comparator,
            answer_codes,
            status: status?,
            time: time?,
            issued,
            reference_range,
        })
    }

    /// The value; a known quantity (`known`) must be numeric in an accepted unit.
    /// With the comparator of a quantity and the codings of a coded answer.
    fn obs_value(
        &mut self,
        path: Path<'_>,
        known: Option<&units::Quantity>,
        o: &pb::Observation,
    ) -> Option<(ObsValue, Option<Comparator>, Vec<Code>)> {
        let comparator = match &o.value {
            Some(pb::observation::Value::Quantity(q)) => match pb::QuantityComparator::try_from(q.comparator) {
                Ok(pb::QuantityComparator::Unspecified) => None,
                Ok(pb::QuantityComparator::LessThan) => Some(Comparator::Less),
                Ok(pb::QuantityComparator::LessOrEqual) => Some(Comparator::LessOrEqual),
                Ok(pb::QuantityComparator::GreaterOrEqual) => Some(Comparator::GreaterOrEqual),
                Ok(pb::QuantityComparator::GreaterThan) => Some(Comparator::Greater),
                Err(_) => {
                    self.err(path.field("quantity").field("comparator"), format!("unknown value {}", q.comparator));
                    None
                }
            },
            _ => None,
        };
        if let Some(pb::observation::Value::Coded(c)) = &o.value {
            let cpath = path.field("coded");
            if let Some(k) = known {
                self.err(
                    cpath,
                    format!("{} requires a numeric quantity in {}, not a coded answer", k.name, k.canonical),
                );
                return None;
            }
            let text = self.text(cpath.field("text"), &c.text);
            if c.codings.is_empty() {
                self.err(cpath.field("codings"), "at least one coding is required");
                return None;
            }
            let codes = self.codings(cpath.field("codings"), &c.codings);
            if codes.len() < c.codings.len() {
                return None;
            }
            let shown = if !text.is_empty() {
                text
            } else if !codes[0].display.is_empty() {
                codes[0].display.clone()
            } else {
                codes[0].code.clone()
            };
            return Some((ObsValue::Text(shown), None, codes));
        }
        self.plain_value(path, known, o).map(|v| (v, comparator, Vec::new()))
    }

    /// A quantity or text value.
    fn plain_value(
        &mut self,
        path: Path<'_>,
        known: Option<&units::Quantity>,
        o: &pb::Observation,
    ) -> Option<ObsValue> {
        match &o.value {
            None => {
                self.err(path.field("value"), "is required (quantity, text or coded)");
                None
            }
            Some(pb::observation::Value::Coded(_)) => None,
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
