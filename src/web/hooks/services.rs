//! The CDS Hooks services cdssd offers, one per hook, and what each needs: the domain
//! trigger it evaluates with, its prefetch templates and the context fields it requires.
//!
//! CDS Hooks 2.0 (HL7, cds-hooks.hl7.org, "Discovery", "Prefetch Template", and the hook
//! definitions of patient-view, order-select, order-sign, encounter-start and
//! encounter-discharge) defines the names; the texts are the project's own.

use crate::{evaluation::Trigger, locale::Locale};

/// One prefetch template: its key and the FHIR query a CDS Client fills.
#[derive(Debug, Clone, Copy)]
pub struct Prefetch {
    pub key: &'static str,
    pub template: &'static str,
    /// A FHIR read (one resource, or null) rather than a search (a Bundle).
    pub read: bool,
}

/// Every template a service asks for. All are needed: a measure whose data is simply not sent
/// would otherwise read as "not done" (a false not-met), so a call lacking any key is refused
/// with 412 naming the keys. A key whose value is `null` (the client has no data for it) is
/// an empty result for a search, and missing for a read (the patient and the encounter).
pub const PREFETCH: &[Prefetch] = &[
    Prefetch { key: "patient", template: "Patient/{{context.patientId}}", read: true },
    Prefetch { key: "encounter", template: "Encounter/{{context.encounterId}}", read: true },
    Prefetch { key: "conditions", template: "Condition?patient={{context.patientId}}", read: false },
    Prefetch {
        key: "observations",
        template: "Observation?patient={{context.patientId}}&encounter={{context.encounterId}}",
        read: false,
    },
    Prefetch {
        key: "medicationRequests",
        template: "MedicationRequest?patient={{context.patientId}}&encounter={{context.encounterId}}",
        read: false,
    },
    Prefetch {
        key: "medicationAdministrations",
        template: "MedicationAdministration?patient={{context.patientId}}&context={{context.encounterId}}",
        read: false,
    },
    Prefetch {
        key: "procedures",
        template: "Procedure?patient={{context.patientId}}&encounter={{context.encounterId}}",
        read: false,
    },
    Prefetch { key: "allergies", template: "AllergyIntolerance?patient={{context.patientId}}", read: false },
];

/// One CDS Hooks service.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// The service id (`/cds-services/{id}`): the hook's name.
    pub id: &'static str,
    pub hook: &'static str,
    /// The moment of care the rules are run for.
    pub trigger: Trigger,
    /// `context.draftOrders` is part of the hook (and required by it).
    pub draft_orders: bool,
    title: (&'static str, &'static str),
    description: (&'static str, &'static str),
}

impl Service {
    pub fn title(&self, l: Locale) -> &'static str {
        l.pick(self.title.0, self.title.1)
    }

    pub fn description(&self, l: Locale) -> &'static str {
        l.pick(self.description.0, self.description.1)
    }
}

/// The five services.
pub const SERVICES: &[Service] = &[
    Service {
        id: "patient-view",
        hook: "patient-view",
        trigger: Trigger::PatientView,
        draft_orders: false,
        title: ("单病种质控（打开病历）", "Quality measures (chart opened)"),
        description: (
            "打开病历时，按本院在用的单病种质控规则（国家卫健委单病种、CMS/TJC）与风险模型评估当前就诊，\
             返回未达标、即将到期与待完成的指标卡片。卡片不开具医嘱。",
            "When a chart is opened, evaluates the encounter in context with the hospital's single-disease \
             quality rules (NHC, CMS/TJC) and risk models in force; cards show measures not met, due soon or \
             pending. Cards never propose orders.",
        ),
    },
    Service {
        id: "order-select",
        hook: "order-select",
        trigger: Trigger::OrderSign,
        draft_orders: true,
        title: ("单病种质控（选择医嘱）", "Quality measures (order selected)"),
        description: (
            "选择医嘱时评估当前就诊（含 context.draftOrders 中的草拟医嘱），返回与质控指标相关的卡片。卡片不开具医嘱。",
            "When an order is selected, evaluates the encounter, including the draft orders of \
             context.draftOrders, and returns the quality-measure cards. Cards never propose orders.",
        ),
    },
    Service {
        id: "order-sign",
        hook: "order-sign",
        trigger: Trigger::OrderSign,
        draft_orders: true,
        title: ("单病种质控（签署医嘱）", "Quality measures (orders signed)"),
        description: (
            "签署医嘱前评估当前就诊（含 context.draftOrders 中待签署的医嘱），返回与质控指标相关的卡片。卡片不开具医嘱。",
            "Before orders are signed, evaluates the encounter, including the orders of context.draftOrders, \
             and returns the quality-measure cards. Cards never propose orders.",
        ),
    },
    Service {
        id: "encounter-start",
        hook: "encounter-start",
        trigger: Trigger::Arrival,
        draft_orders: false,
        title: ("单病种质控（就诊开始）", "Quality measures (encounter start)"),
        description: (
            "就诊开始（到院、入院）时评估，返回到院后应完成的质控指标卡片（如到院后时限内的用药与检查）。卡片不开具医嘱。",
            "At the start of an encounter (arrival, admission), evaluates it and returns the cards of measures \
             due after arrival (e.g. medications and tests within a time of arrival). Cards never propose orders.",
        ),
    },
    Service {
        id: "encounter-discharge",
        hook: "encounter-discharge",
        trigger: Trigger::Discharge,
        draft_orders: false,
        title: ("单病种质控（出院）", "Quality measures (discharge)"),
        description: (
            "出院时评估，返回出院带药、出院宣教等出院时判定的质控指标卡片。卡片不开具医嘱。",
            "At discharge, evaluates the encounter and returns the cards of measures judged at discharge \
             (discharge medications, instructions). Cards never propose orders.",
        ),
    },
];

/// The service with this id.
pub fn find(id: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.id == id)
}

/// What a CDS Client must do to use a service (discovery's `usageRequirements`).
pub fn usage_requirements(l: Locale) -> &'static str {
    l.pick(
        "需要 context.patientId 与 context.encounterId，以及全部预取项（尚不从 fhirServer 拉取数据：缺少预取项时返回 412 并列出缺少的键）；\
         每次调用须带 Bearer JWT。不提供 suggestions/actions。",
        "Needs context.patientId and context.encounterId and every prefetch key (cdssd does not yet query \
         fhirServer: a call lacking keys gets 412 naming them); every call carries a bearer JWT. Offers no \
         suggestions or actions.",
    )
}

/// The discovery document in `l`.
pub fn discovery(l: Locale) -> serde_json::Value {
    let prefetch: serde_json::Map<String, serde_json::Value> =
        PREFETCH.iter().map(|p| (p.key.to_string(), p.template.into())).collect();
    let services: Vec<serde_json::Value> = SERVICES
        .iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id,
                "hook": s.hook,
                "title": s.title(l),
                "description": s.description(l),
                "prefetch": prefetch,
                "usageRequirements": usage_requirements(l),
            })
        })
        .collect();
    serde_json::json!({ "services": services })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_service_per_hook_each_with_every_prefetch_template_in_both_languages() {
        let hooks: Vec<&str> = SERVICES.iter().map(|s| s.hook).collect();
        assert_eq!(hooks, ["patient-view", "order-select", "order-sign", "encounter-start", "encounter-discharge"]);
        for l in [Locale::En, Locale::ZhCn] {
            let d = discovery(l);
            let services = d["services"].as_array().unwrap();
            assert_eq!(services.len(), 5);
            for s in services {
                assert_eq!(s["prefetch"].as_object().unwrap().len(), PREFETCH.len());
                assert_eq!(s["prefetch"]["encounter"], "Encounter/{{context.encounterId}}");
                assert!(!s["title"].as_str().unwrap().is_empty());
                assert_eq!(crate::locale::has_chinese(s["description"].as_str().unwrap()), l == Locale::ZhCn);
            }
        }
        assert_eq!(find("encounter-discharge").unwrap().trigger, Trigger::Discharge);
        assert!(find("medication-prescribe").is_none());
    }
}
