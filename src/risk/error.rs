//! Errors of the risk module.

use std::path::PathBuf;

/// Start-up errors of the ONNX Runtime itself (not of one model).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found at {path} ({source_of_path}). Install it with \
         `scripts/setup-onnxruntime.sh` (it prints the path), or set `risk.onnxruntime_lib` \
         in the configuration or the ORT_DYLIB_PATH environment variable to a \
         libonnxruntime.so of version {wanted} or newer"
    )]
    LibraryMissing { path: PathBuf, source_of_path: &'static str, wanted: &'static str },
    #[error(
        "cannot load the ONNX Runtime library {path} ({source_of_path}): {detail}. cdssd needs \
         onnxruntime {wanted} or newer: run `scripts/setup-onnxruntime.sh` and point \
         `risk.onnxruntime_lib` or ORT_DYLIB_PATH at the path it prints"
    )]
    LibraryLoad { path: PathBuf, source_of_path: &'static str, wanted: &'static str, detail: String },
    #[error("ONNX Runtime environment: {0}")]
    Environment(String),
    #[error("device \"cuda\" is required (risk.require_device = true) but {0}")]
    CudaRequired(String),
}

/// Failure while scoring one encounter with one model (the encounter's RiskScore gets
/// status ERROR with this message; other models are unaffected).
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("the model returned no usable probability: {0}")]
    BadOutput(String),
    #[error("scoring was cancelled: {0}")]
    Cancelled(String),
}
