//! The `cdss.v1` methods Connect serves, with the message types each one's JSON codec
//! converts: one row per method of `proto/cdss/v1/*.proto` (a test checks the table
//! against the service descriptors, so a new RPC cannot be forgotten here).

use prost::Message;
use serde::{de::DeserializeOwned, Serialize};

use crate::{encounter::FieldViolation, proto::v1 as pb};

/// How a method streams, which decides the Connect content types it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One request, one response: `application/json` or `application/proto`.
    Unary,
    /// One request, a stream of responses: `application/connect+json` or `+proto`.
    ServerStream,
}

/// One row of the table.
pub struct Method {
    /// The HTTP path, `/cdss.v1.CdsService/Evaluate`.
    pub path: &'static str,
    pub shape: Shape,
    /// proto3 JSON request → protobuf bytes, or the field that is wrong.
    pub request_from_json: fn(&[u8]) -> Result<Vec<u8>, FieldViolation>,
    /// Protobuf response bytes → proto3 JSON.
    pub response_to_json: fn(&[u8]) -> Result<Vec<u8>, String>,
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Method").field("path", &self.path).field("shape", &self.shape).finish()
    }
}

fn from_json<M: DeserializeOwned + Message>(body: &[u8]) -> Result<Vec<u8>, FieldViolation> {
    crate::server::json::decode::<M>(body).map(|m| m.encode_to_vec())
}

fn to_json<M: Serialize + Message + Default>(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let m = M::decode(bytes).map_err(|e| format!("the server's response did not decode: {e}"))?;
    serde_json::to_vec(&m).map_err(|e| format!("the server's response did not encode as JSON: {e}"))
}

macro_rules! methods {
    ($( $path:literal => $shape:ident ($req:ty, $resp:ty) ),* $(,)?) => {
        /// Every method of the contract, in the order of the proto files.
        pub const METHODS: &[Method] = &[$(
            Method {
                path: $path,
                shape: Shape::$shape,
                request_from_json: from_json::<$req>,
                response_to_json: to_json::<$resp>,
            }
        ),*];
    };
}

methods! {
    "/cdss.v1.CdsService/Evaluate" => Unary(pb::EvaluateRequest, pb::EvaluateResponse),
    "/cdss.v1.CdsService/EvaluateStream" => ServerStream(pb::EvaluateRequest, pb::EvaluateUpdate),
    "/cdss.v1.CdsService/ListRulePacks" => Unary(pb::ListRulePacksRequest, pb::ListRulePacksResponse),
    "/cdss.v1.CdsService/ListModels" => Unary(pb::ListModelsRequest, pb::ListModelsResponse),
    "/cdss.v1.AdminService/ReloadRules" => Unary(pb::ReloadRulesRequest, pb::ReloadResponse),
    "/cdss.v1.AdminService/ReloadModels" => Unary(pb::ReloadModelsRequest, pb::ReloadResponse),
    "/cdss.v1.AdminService/ListUnmappedCodes" => Unary(pb::ListUnmappedCodesRequest, pb::ListUnmappedCodesResponse),
    "/cdss.v1.AuditService/Feedback" => Unary(pb::FeedbackRequest, pb::FeedbackResponse),
    "/cdss.v1.AuditService/GetEncounterHistory" => Unary(pb::GetEncounterHistoryRequest, pb::GetEncounterHistoryResponse),
    "/cdss.v1.AuditService/GetDecision" => Unary(pb::GetDecisionRequest, pb::GetDecisionResponse),
    "/cdss.v1.AuditService/Worklist" => Unary(pb::WorklistRequest, pb::WorklistResponse),
}

/// The row for `path`, if Connect serves it.
pub fn find(path: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table is the contract: every method of every `cdss.v1` service, with its
    /// streaming shape and its input and output types.
    #[test]
    fn the_table_lists_every_method_of_the_contract() {
        let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut seen = Vec::new();
        for file in set.file.iter().filter(|f| f.package() == "cdss.v1") {
            for service in &file.service {
                for m in &service.method {
                    let path = format!("/cdss.v1.{}/{}", service.name(), m.name());
                    let row = find(&path).unwrap_or_else(|| panic!("{path} is not in the Connect table"));
                    assert!(!m.client_streaming(), "{path}: client streaming is not served over Connect");
                    let want = if m.server_streaming() { Shape::ServerStream } else { Shape::Unary };
                    assert_eq!(row.shape, want, "{path}");
                    // The row converts the method's own types: the default request of the
                    // input type round-trips, and `{}` decodes.
                    let bytes = (row.request_from_json)(b"{}").unwrap();
                    assert!(bytes.is_empty(), "{path}: an empty message encodes to no bytes");
                    let json = (row.response_to_json)(&[]).unwrap();
                    assert_eq!(json, b"{}", "{path}");
                    seen.push(path);
                }
            }
        }
        assert_eq!(seen.len(), METHODS.len(), "rows without a method in the contract: {seen:?}");
    }

    #[test]
    fn json_errors_name_the_field_and_responses_use_proto3_json_names() {
        let row = find("/cdss.v1.CdsService/Evaluate").unwrap();
        let v = (row.request_from_json)(br#"{"trigger":"TRIGGER_NOPE"}"#).unwrap_err();
        assert_eq!(v.field, "trigger");
        let resp =
            pb::EvaluateResponse { decision: Some(pb::Decision { encounter_id: "e-1".into(), ..Default::default() }) };
        let json = String::from_utf8((row.response_to_json)(&resp.encode_to_vec()).unwrap()).unwrap();
        assert!(json.contains(r#""encounterId":"e-1""#), "{json}");
        assert!((row.response_to_json)(&[0xff, 0xff]).is_err());
    }
}
