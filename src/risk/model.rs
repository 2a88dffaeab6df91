//! One loaded model: its manifest, a pool of ONNX sessions checked against the
//! manifest, and batched inference.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ndarray::Array2;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};
use sha2::{Digest, Sha256};

use super::error::ScoreError;
use super::manifest::{self, ElementType, Manifest, MANIFEST_FILE};
use super::runtime::{Device, Runtime};
use crate::diagnostic::Diagnostic;

/// A model ready to score.
pub struct LoadedModel {
    pub manifest: Manifest,
    /// SHA-256 of the ONNX file.
    pub sha256: String,
    /// Device the sessions run on.
    pub device: Device,
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("id", &self.manifest.id)
            .field("version", &self.manifest.version)
            .field("device", &self.device)
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

fn tensor_type(t: ElementType) -> TensorElementType {
    match t {
        ElementType::Float32 => TensorElementType::Float32,
        ElementType::Float64 => TensorElementType::Float64,
    }
}

fn describe(v: &ValueType) -> String {
    match v {
        ValueType::Tensor { ty, shape, .. } => format!("{ty:?} tensor of shape {:?}", shape.iter().collect::<Vec<_>>()),
        other => format!("{other:?}"),
    }
}

/// Checks the session's actual inputs and outputs against the manifest.
pub fn check_io(m: &Manifest, session: &Session) -> Vec<String> {
    let mut problems = Vec::new();
    let n = m.features.len() as i64;
    let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    match session.inputs().iter().find(|i| i.name() == m.input.name) {
        None => problems.push(format!(
            "input \"{}\" named in the manifest is not an input of the model (its inputs: {})",
            m.input.name,
            inputs.join(", ")
        )),
        Some(input) => match input.dtype() {
            ValueType::Tensor { ty, shape, .. } => {
                if *ty != tensor_type(m.input.element_type) {
                    problems.push(format!(
                        "input \"{}\" has element type {ty:?}, the manifest says {}",
                        m.input.name,
                        m.input.element_type.as_str()
                    ));
                }
                let dims: Vec<i64> = shape.iter().copied().collect();
                let ok = dims.len() == 2 && dims[0] < 0 && (dims[1] < 0 || dims[1] == n);
                if !ok {
                    problems.push(format!(
                        "input \"{}\" has shape {dims:?}; the manifest needs [batch (dynamic), {n} features]",
                        m.input.name
                    ));
                }
            }
            other => problems.push(format!("input \"{}\" is a {}, not a tensor", m.input.name, describe(other))),
        },
    }
    if inputs.len() > 1 {
        problems.push(format!(
            "the model has {} inputs ({}); cdssd feeds exactly one",
            inputs.len(),
            inputs.join(", ")
        ));
    }
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    match session.outputs().iter().find(|o| o.name() == m.output.name) {
        None => problems.push(format!(
            "output \"{}\" named in the manifest is not an output of the model (its outputs: {})",
            m.output.name,
            outputs.join(", ")
        )),
        Some(output) => match output.dtype() {
            ValueType::Tensor { ty, shape, .. } => {
                if *ty != tensor_type(m.output.element_type) {
                    problems.push(format!(
                        "output \"{}\" has element type {ty:?}, the manifest says {}",
                        m.output.name,
                        m.output.element_type.as_str()
                    ));
                }
                let dims: Vec<i64> = shape.iter().copied().collect();
                let col = m.output.column as i64;
                let ok = match dims.len() {
                    1 => col == 0,
                    2 => dims[1] < 0 || col < dims[1],
                    _ => false,
                };
                if !ok {
                    problems.push(format!(
                        "output \"{}\" has shape {dims:?}; column {col} of a [batch] or [batch, columns] tensor is needed",
                        m.output.name
                    ));
                }
            }
            other => problems.push(format!("output \"{}\" is a {}, not a tensor", m.output.name, describe(other))),
        },
    }
    problems
}

/// A row of plausible values for the warm-up run: reference, else impute, else mid-range.
fn warmup_row(m: &Manifest) -> Vec<f64> {
    m.features
        .iter()
        .map(|f| f.spec.reference.or(f.spec.impute).unwrap_or((f.spec.valid_min + f.spec.valid_max) / 2.0))
        .collect()
}

/// The manifest of `dir`, if it reads and parses (problems are [`LoadedModel::load`]'s to report).
pub fn read_manifest(dir: &Path) -> Option<Manifest> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).ok()?;
    manifest::parse(&text, name).ok()
}

impl LoadedModel {
    /// Loads `dir` (named `models/<id>/`): manifest, card, ONNX file, sessions, checks and warm-up.
    /// Problems carry paths relative to the models directory.
    pub fn load(dir: &Path, runtime: &Runtime, sessions: usize, require_device: bool) -> Result<Self, Vec<Diagnostic>> {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let in_dir = |p: Diagnostic| p.in_dir(&name);
        let text = std::fs::read_to_string(dir.join(MANIFEST_FILE))
            .map_err(|e| vec![in_dir(Diagnostic::file(MANIFEST_FILE, format!("cannot read: {e}")))])?;
        let m = manifest::parse(&text, &name).map_err(|ps| ps.into_iter().map(in_dir).collect::<Vec<_>>())?;
        let mut problems = Vec::new();
        if !dir.join(&m.card).is_file() {
            problems.push(in_dir(Diagnostic::file(&m.card, "model card not found")));
        }
        let bytes = match std::fs::read(dir.join(&m.model_file)) {
            Ok(b) => b,
            Err(e) => {
                problems.push(in_dir(Diagnostic::file(&m.model_file, format!("cannot read the model file: {e}"))));
                return Err(problems);
            }
        };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if let Some(want) = &m.model_sha256 {
            if *want != sha256 {
                problems.push(in_dir(Diagnostic::file(
                    &m.model_file,
                    format!("sha256 is {sha256}, the manifest says {want}"),
                )));
                return Err(problems);
            }
        }
        let mut pool = Vec::with_capacity(sessions.max(1));
        let mut device = runtime.device;
        for _ in 0..sessions.max(1) {
            match runtime.session(&bytes, require_device) {
                Ok((s, d)) => {
                    device = d;
                    pool.push(Mutex::new(s));
                }
                Err(e) => {
                    problems.push(in_dir(Diagnostic::file(&m.model_file, format!("ONNX Runtime cannot load it: {e}"))));
                    return Err(problems);
                }
            }
        }
        let io = pool[0].lock().map(|s| check_io(&m, &s)).unwrap_or_else(|_| vec!["session lock poisoned".into()]);
        problems.extend(io.into_iter().map(|e| in_dir(Diagnostic::file(&m.model_file, e))));
        if !problems.is_empty() {
            return Err(problems);
        }
        let model = LoadedModel { manifest: m, sha256, device, sessions: pool, next: AtomicUsize::new(0) };
        // Warm-up: every session once, which also proves the output is readable.
        let row = warmup_row(&model.manifest);
        for i in 0..model.sessions.len() {
            let p = model.run_on(i, std::slice::from_ref(&row)).and_then(|p| match p.first() {
                Some(v) if v.is_finite() => Ok(()),
                other => Err(ScoreError::BadOutput(format!("warm-up probability {other:?}"))),
            });
            if let Err(e) = p {
                return Err(vec![in_dir(Diagnostic::file(
                    &model.manifest.model_file,
                    format!("warm-up run failed: {e}"),
                ))]);
            }
        }
        Ok(model)
    }

    /// Probabilities (the manifest's output column) for each row, in one session run.
    pub fn run(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>, ScoreError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
        // Prefer an idle session; wait for the rotating one otherwise.
        for k in 0..self.sessions.len() {
            let j = (i + k) % self.sessions.len();
            if let Ok(mut s) = self.sessions[j].try_lock() {
                return self.infer(&mut s, rows);
            }
        }
        self.run_on(i, rows)
    }

    fn run_on(&self, i: usize, rows: &[Vec<f64>]) -> Result<Vec<f64>, ScoreError> {
        let mut s = self.sessions[i].lock().unwrap_or_else(|p| p.into_inner());
        self.infer(&mut s, rows)
    }

    fn infer(&self, session: &mut Session, rows: &[Vec<f64>]) -> Result<Vec<f64>, ScoreError> {
        let m = &self.manifest;
        let n = m.features.len();
        if rows.iter().any(|r| r.len() != n) {
            return Err(ScoreError::Inference(format!("every row needs {n} values")));
        }
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let err = |e: ort::Error| ScoreError::Inference(e.to_string());
        let shape = (rows.len(), n);
        let outputs = match m.input.element_type {
            ElementType::Float32 => {
                let a = Array2::from_shape_vec(shape, flat.iter().map(|v| *v as f32).collect())
                    .map_err(|e| ScoreError::Inference(e.to_string()))?;
                let t = TensorRef::from_array_view(&a).map_err(err)?;
                session.run(ort::inputs![m.input.name.as_str() => t]).map_err(err)?
            }
            ElementType::Float64 => {
                let a = Array2::from_shape_vec(shape, flat).map_err(|e| ScoreError::Inference(e.to_string()))?;
                let t = TensorRef::from_array_view(&a).map_err(err)?;
                session.run(ort::inputs![m.input.name.as_str() => t]).map_err(err)?
            }
        };
        let value = outputs
            .get(m.output.name.as_str())
            .ok_or_else(|| ScoreError::BadOutput(format!("no output \"{}\"", m.output.name)))?;
        let (shape, data): (Vec<i64>, Vec<f64>) = match m.output.element_type {
            ElementType::Float32 => {
                let (s, d) = value.try_extract_tensor::<f32>().map_err(|e| ScoreError::BadOutput(e.to_string()))?;
                (s.iter().copied().collect(), d.iter().map(|v| f64::from(*v)).collect())
            }
            ElementType::Float64 => {
                let (s, d) = value.try_extract_tensor::<f64>().map_err(|e| ScoreError::BadOutput(e.to_string()))?;
                (s.iter().copied().collect(), d.to_vec())
            }
        };
        let col = m.output.column;
        let width = match shape.as_slice() {
            [b] if *b as usize == rows.len() && col == 0 => 1,
            [b, w] if *b as usize == rows.len() && col < *w as usize => *w as usize,
            _ => {
                return Err(ScoreError::BadOutput(format!(
                    "output shape {shape:?} for {} rows, column {col}",
                    rows.len()
                )))
            }
        };
        Ok((0..rows.len()).map(|r| data[r * width + col]).collect())
    }
}
