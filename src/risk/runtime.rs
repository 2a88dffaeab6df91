//! The ONNX Runtime: finding and loading the shared library, the environment, the
//! execution device (CPU, or CUDA with fallback) and building sessions.

use std::path::{Path, PathBuf};

use ort::environment::Environment;
use ort::session::{builder::GraphOptimizationLevel, Session};

use super::error::RuntimeError;
use crate::config::RiskSettings;

/// ONNX Runtime version the `ort` crate is built for (feature `api-31`) and that
/// `scripts/setup-onnxruntime.sh` installs.
pub const ORT_VERSION: &str = "1.31.1";
const MIN_VERSION: &str = "1.31";

static ENVIRONMENT: std::sync::Mutex<Option<Environment>> = std::sync::Mutex::new(None);

/// The variable ONNX Runtime reads when it initialises its telemetry (before the
/// environment exists, so `DisableTelemetryEvents` on the environment comes too late: with
/// that alone the library still creates its event store under `$HOME/.cache` and looks up
/// the vendor's collector host; see `tests/it/egress.rs`).
pub const TELEMETRY_SWITCH: &str = "ORT_DISABLE_TELEMETRY";

/// Turns ONNX Runtime's telemetry off for this process. `cli::main` calls it first thing,
/// while the process has one thread (changing the environment is only sound then);
/// [`Runtime::init`] calls it again for library users that did not, before the library loads.
pub fn disable_vendor_telemetry() {
    if std::env::var(TELEMETRY_SWITCH).as_deref() != Ok("1") {
        std::env::set_var(TELEMETRY_SWITCH, "1");
    }
}

/// Where `scripts/setup-onnxruntime.sh` installs the CPU library, relative to the working directory.
pub fn default_library() -> PathBuf {
    PathBuf::from(format!(".cache/onnxruntime/{ORT_VERSION}/onnxruntime/capi/libonnxruntime.so.{ORT_VERSION}"))
}

/// Same for the CUDA build (`scripts/setup-onnxruntime.sh --gpu`).
pub fn default_gpu_library() -> PathBuf {
    PathBuf::from(format!(".cache/onnxruntime-gpu/{ORT_VERSION}/onnxruntime/capi/libonnxruntime.so.{ORT_VERSION}"))
}

/// The library to load and where that choice came from: configuration, then
/// `ORT_DYLIB_PATH`, then the default install location (the GPU one first when
/// `device = "cuda"` and it exists).
pub fn library_path(settings: &RiskSettings) -> (PathBuf, &'static str) {
    if !settings.onnxruntime_lib.trim().is_empty() {
        return (PathBuf::from(settings.onnxruntime_lib.trim()), "from risk.onnxruntime_lib");
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return (PathBuf::from(p), "from ORT_DYLIB_PATH");
    }
    if settings.device == "cuda" && default_gpu_library().exists() {
        return (default_gpu_library(), "default location of scripts/setup-onnxruntime.sh --gpu");
    }
    (default_library(), "default location of scripts/setup-onnxruntime.sh")
}

/// The execution device actually used (its name is the `device` metric label and the
/// `device` field of a risk score).
pub use crate::metrics::ModelDevice as Device;

/// The loaded runtime: environment plus the session settings.
#[derive(Clone)]
pub struct Runtime {
    env: Environment,
    pub library: PathBuf,
    /// Device sessions are created for (after the start-up fallback decision).
    pub device: Device,
    /// Why CUDA is not used although configured (logged once at start-up).
    pub fallback_reason: Option<String>,
    pub intra_op_threads: usize,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.library)
            .field("device", &self.device)
            .field("intra_op_threads", &self.intra_op_threads)
            .finish()
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

impl Runtime {
    /// Loads the library (once per process; later calls reuse it) and decides the device.
    pub fn init(settings: &RiskSettings) -> Result<Runtime, RuntimeError> {
        let (path, source_of_path) = library_path(settings);
        let path = absolute(&path);
        if !path.is_file() {
            return Err(RuntimeError::LibraryMissing { path, source_of_path, wanted: MIN_VERSION });
        }
        // ONNX Runtime allows one library and one environment per process: the first
        // successful init wins and later services (reloads, tests) share it.
        let mut shared = ENVIRONMENT.lock().unwrap_or_else(|p| p.into_inner());
        let env = match &*shared {
            Some(env) => env.clone(),
            None => {
                disable_vendor_telemetry();
                let builder = ort::init_from(&path).map_err(|e| RuntimeError::LibraryLoad {
                    path: path.clone(),
                    source_of_path,
                    wanted: MIN_VERSION,
                    detail: e.to_string(),
                })?;
                // Telemetry off (here too, besides TELEMETRY_SWITCH): the library's default
                // queues events (device id, executable path, model graph names, run counts)
                // in a SQLite file under $HOME and looks up the vendor's collector host. A
                // hospital daemon neither phones home nor writes outside its configured
                // directories (tests/it/egress.rs: empty HOME, every connect traced).
                let env = builder
                    .with_name("cdssd")
                    .with_telemetry(false)
                    .build()
                    .map_err(|e| RuntimeError::Environment(e.to_string()))?;
                *shared = Some(env.clone());
                env
            }
        };
        drop(shared);
        let (device, fallback_reason) = match settings.device.as_str() {
            "cuda" => match cuda_unavailable_reason() {
                None => (Device::Cuda, None),
                Some(reason) if settings.require_device => return Err(RuntimeError::CudaRequired(reason)),
                Some(reason) => {
                    tracing::warn!(%reason, "risk.device = \"cuda\" but CUDA is not available: models run on the CPU");
                    (Device::Cpu, Some(reason))
                }
            },
            _ => (Device::Cpu, None),
        };
        tracing::info!(library = %path.display(), device = device.label(), "ONNX Runtime loaded");
        Ok(Runtime { env, library: path, device, fallback_reason, intra_op_threads: settings.intra_op_threads.max(1) })
    }

    /// A new session for `model_bytes` on the runtime's device. With CUDA, a
    /// registration failure falls back to the CPU (reported as the device used),
    /// unless `require` is set.
    pub fn session(&self, model_bytes: &[u8], require: bool) -> Result<(Session, Device), String> {
        let builder = || -> Result<_, String> {
            Session::builder(&self.env)
                .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::All).map_err(Into::into))
                .and_then(|b| b.with_intra_threads(self.intra_op_threads).map_err(Into::into))
                .map_err(|e| e.to_string())
        };
        if self.device == Device::Cuda {
            match cuda_session(builder()?, model_bytes) {
                Ok(s) => return Ok((s, Device::Cuda)),
                Err(e) if require => return Err(format!("CUDA execution provider: {e}")),
                Err(e) => tracing::warn!(error = %e, "CUDA session failed; using the CPU for this model"),
            }
        }
        let s = builder()?.commit_from_memory(model_bytes).map_err(|e| e.to_string())?;
        Ok((s, Device::Cpu))
    }
}

#[cfg(feature = "cuda")]
fn cuda_unavailable_reason() -> Option<String> {
    use ort::ep::ExecutionProvider;
    match ort::ep::CUDA::is_available() {
        Ok(true) => None,
        Ok(false) => Some(
            "the ONNX Runtime library has no CUDA execution provider (install the onnxruntime-gpu build with \
             `scripts/setup-onnxruntime.sh --gpu`)"
                .into(),
        ),
        Err(e) => Some(format!("cannot query the CUDA execution provider: {e}")),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_unavailable_reason() -> Option<String> {
    Some("cdssd was built without the `cuda` cargo feature".into())
}

#[cfg(feature = "cuda")]
fn cuda_session(builder: ort::session::builder::SessionBuilder, bytes: &[u8]) -> Result<Session, String> {
    let ep = ort::ep::CUDA::default().build().error_on_failure();
    builder
        .with_execution_providers([ep])
        .map_err(|e| e.to_string())?
        .commit_from_memory(bytes)
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "cuda"))]
fn cuda_session(_builder: ort::session::builder::SessionBuilder, _bytes: &[u8]) -> Result<Session, String> {
    Err("cdssd was built without the `cuda` cargo feature".into())
}
