//! The set of models in force, loaded from `models/<id>/` directories.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::manifest::Manifest;
use super::model::{self, LoadedModel};
use super::runtime::Runtime;
use crate::diagnostic::Diagnostic;

/// A model directory that did not load.
#[derive(Debug, Clone)]
pub struct FailedModel {
    /// Directory name (the intended model id).
    pub id: String,
    pub problems: Vec<Diagnostic>,
    /// Its manifest when that much parsed (the ONNX file, digest or card was the problem):
    /// then requests the model would have applied to get an ERROR score naming it.
    pub manifest: Option<Manifest>,
}

/// Models in force plus the directories that failed (reported by ListModels).
#[derive(Debug, Default)]
pub struct Registry {
    /// Content version: hash of the ids, versions and ONNX digests of the loaded models.
    pub version: String,
    pub models: Vec<Arc<LoadedModel>>,
    pub failed: Vec<FailedModel>,
    pub loaded_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Subdirectories of `dir` that hold a model (sorted by name); hidden ones are skipped.
pub fn model_dirs(dir: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Diagnostic::file("", format!("cannot read the models directory {}: {e}", dir.display())))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with('.')))
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Options for loading.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub sessions_per_model: usize,
    pub require_device: bool,
}

impl Registry {
    /// Loads every model directory. Broken ones are listed in `failed`; the others load.
    pub fn load(dir: &Path, runtime: &Runtime, opts: LoadOptions) -> Result<Registry, Diagnostic> {
        let mut reg = Registry::default();
        for d in model_dirs(dir)? {
            let id = d.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            match LoadedModel::load(&d, runtime, opts.sessions_per_model, opts.require_device) {
                Ok(m) => reg.models.push(Arc::new(m)),
                Err(problems) => reg.failed.push(FailedModel { id, problems, manifest: model::read_manifest(&d) }),
            }
        }
        reg.version = version_of(&reg.models);
        reg.loaded_at = Some(chrono::Utc::now());
        Ok(reg)
    }

    /// Every problem of every failed directory.
    pub fn problems(&self) -> Vec<Diagnostic> {
        self.failed.iter().flat_map(|f| f.problems.iter().cloned()).collect()
    }

    /// Model directories found: loaded plus failed.
    pub fn configured(&self) -> usize {
        self.models.len() + self.failed.len()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<LoadedModel>> {
        self.models.iter().find(|m| m.manifest.id == id)
    }
}

fn version_of(models: &[Arc<LoadedModel>]) -> String {
    let mut h = Sha256::new();
    for m in models {
        h.update(m.manifest.id.as_bytes());
        h.update(b"@");
        h.update(m.manifest.version.as_bytes());
        h.update(b":");
        h.update(m.sha256.as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..6])
}
