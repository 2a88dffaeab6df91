//! Risk scoring with ONNX models. The registry lands with the risk issue;
//! until then no model is loaded.

use crate::{config::Settings, pipeline::EvalContext, proto::v1 as pb};

/// The models in force.
#[derive(Debug, Default)]
pub struct RiskService {}

impl RiskService {
    /// Load the models configured in `settings.risk`.
    pub fn load(_settings: &Settings) -> Result<Self, String> {
        Ok(Self {})
    }

    /// Score every applicable model (blocking: call off the async threads).
    pub fn evaluate(&self, _ctx: &EvalContext) -> (Vec<pb::RiskScore>, Vec<pb::ModelVersion>) {
        (Vec::new(), Vec::new())
    }

    /// Models in force for `ListModels`.
    pub fn list(&self) -> pb::ListModelsResponse {
        pb::ListModelsResponse::default()
    }
}
