//! `cdssd models check [PATH]`: validate model directories offline, exactly as the
//! daemon would load them (manifest, card, digest, session, inputs/outputs, warm-up).

use std::path::Path;

use super::manifest::MANIFEST_FILE;
use super::model::LoadedModel;
use super::registry::model_dirs;
use super::runtime::Runtime;
use crate::config::RiskSettings;

/// Outcome of a check: one line per model (and per problem).
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub lines: Vec<String>,
    pub loaded: usize,
    pub failed: usize,
}

/// Checks `path`: a single model directory (it has a manifest) or a directory of them.
/// Errors only when ONNX Runtime itself cannot be loaded or the directory cannot be read.
pub fn check(path: &Path, settings: &RiskSettings) -> Result<CheckReport, String> {
    let runtime = Runtime::init(settings).map_err(|e| e.to_string())?;
    let dirs = if path.join(MANIFEST_FILE).is_file() {
        vec![path.to_path_buf()]
    } else {
        model_dirs(path).map_err(|e| e.to_string())?
    };
    let mut report = CheckReport::default();
    if dirs.is_empty() {
        report.lines.push(format!("no model directories under {}", path.display()));
    }
    for d in dirs {
        let name = d.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        match LoadedModel::load(&d, &runtime, 1, settings.require_device) {
            Ok(m) => {
                report.loaded += 1;
                let mf = &m.manifest;
                report.lines.push(format!(
                    "ok      {} {} ({} features, input \"{}\" {}, output \"{}\"[{}], device {}, sha256 {})",
                    mf.id,
                    mf.version,
                    mf.features.len(),
                    mf.input.name,
                    mf.input.element_type.as_str(),
                    mf.output.name,
                    mf.output.column,
                    m.device.label(),
                    &m.sha256[..12]
                ));
            }
            Err(problems) => {
                report.failed += 1;
                report.lines.push(format!("FAILED  {name}"));
                report.lines.extend(problems.iter().map(|p| format!("        {p}")));
            }
        }
    }
    Ok(report)
}
