//! Single-disease quality-control rules (Rhai). The engine lands with the
//! rules issue; until then the rule set is empty and every decision names the
//! empty set's version.

use crate::{config::Settings, pipeline::EvalContext, proto::v1 as pb};

/// The rules in force.
#[derive(Debug, Default)]
pub struct RuleService {}

impl RuleService {
    /// Load the rule set configured in `settings.rules`.
    pub fn load(_settings: &Settings) -> Result<Self, String> {
        Ok(Self {})
    }

    /// Evaluate every applicable rule; returns findings and the rule-set version used.
    pub fn evaluate(&self, _ctx: &EvalContext) -> (Vec<pb::Finding>, String) {
        (Vec::new(), "empty".into())
    }

    /// Rule packs in force for `ListRulePacks`.
    pub fn list(&self) -> pb::ListRulePacksResponse {
        pb::ListRulePacksResponse { rule_set_version: "empty".into(), ..Default::default() }
    }
}
