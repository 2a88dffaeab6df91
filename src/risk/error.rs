//! Errors of the risk module.

use std::fmt;
use std::path::PathBuf;

/// A problem found while loading one model directory (mirrors `cdss.v1.LoadError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProblem {
    /// File path relative to the models directory (`<id>/manifest.toml`), or the file name
    /// inside the model directory until [`LoadProblem::in_dir`] prefixes it.
    pub path: String,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
    pub message: String,
}

impl LoadProblem {
    pub fn at(path: impl Into<String>, line: u32, column: u32, message: impl Into<String>) -> Self {
        LoadProblem { path: path.into(), line, column, message: message.into() }
    }

    pub fn file(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::at(path, 0, 0, message)
    }

    /// Prefixes the path with the model directory name.
    pub fn in_dir(mut self, dir: &str) -> Self {
        self.path = if self.path.is_empty() { dir.to_string() } else { format!("{dir}/{}", self.path) };
        self
    }
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.path, self.message),
            (l, 0) => write!(f, "{}:{l}: {}", self.path, self.message),
            (l, c) => write!(f, "{}:{l}:{c}: {}", self.path, self.message),
        }
    }
}

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
