//! Risk scoring with ONNX models run by ONNX Runtime (`ort`).
//!
//! `models/<id>/` holds an ONNX graph, a manifest ([`manifest`]) and a model card.
//! [`RiskService`] keeps the [`Registry`] in force in one `ArcSwap` ([`crate::reload::Slot`]):
//! a reload ([`crate::reload::Reload`]: the one watcher, SIGHUP, `ReloadModels`) builds a
//! complete new registry and swaps it in only when every model loaded (all or nothing);
//! at start-up a broken model is listed as FAILED while the others serve. Building the
//! service starts no watcher.
//! Scoring ([`score`]) is synchronous and runs on the caller's blocking thread (the
//! pipeline calls it from `spawn_blocking`); each model has a small pool of sessions
//! because `Session::run` needs `&mut`.

pub mod check;
pub mod error;
pub mod manifest;
pub mod model;
pub mod registry;
pub mod runtime;
pub mod score;
pub mod source;
#[cfg(test)]
mod tests;
pub mod text;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use error::RuntimeError;
pub use registry::Registry;
pub use runtime::{Device, Runtime};

use crate::{
    config::RiskSettings,
    config::Settings,
    diagnostic::Diagnostic,
    evaluation::Evaluation,
    locale::Locale,
    metrics,
    proto::v1 as pb,
    reload::{Cause, Component, Outcome, Reload, Slot},
};

/// The risk models in force.
pub struct RiskService {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    settings: RiskSettings,
    runtime: Runtime,
    registry: Slot<Registry>,
}

impl std::fmt::Debug for RiskService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("RiskService(disabled)"),
            Some(i) => f
                .debug_struct("RiskService")
                .field("runtime", &i.runtime)
                .field("registry", &i.registry.current().version)
                .finish(),
        }
    }
}

/// A text in every locale (ListModels), from its `(locale) -> text` picker.
fn localized(text: impl Fn(Locale) -> String) -> Vec<pb::LocalizedText> {
    Locale::ALL.iter().map(|l| pb::LocalizedText { locale: l.tag().into(), text: text(*l) }).collect()
}

/// The contract's enum value of a device (`device` as an enum).
pub(crate) fn device_kind(d: crate::metrics::ModelDevice) -> pb::Device {
    pb::Device::from_str_name(&format!("DEVICE_{}", d.label().to_ascii_uppercase())).unwrap_or_default()
}

/// What ListModels says of a manifest in every locale: validity, outcome, horizon and
/// feature labels. `outcome` (the field older clients read) stays the English text.
fn describe(m: &manifest::Manifest) -> pb::ModelInfo {
    pb::ModelInfo {
        version: m.version.clone(),
        outcome: m.outcome.en.clone(),
        validity: localized(|l| m.validity.text(l).into()),
        outcome_texts: localized(|l| m.outcome.text(l).into()),
        horizon_texts: localized(|l| m.horizon.text(l).into()),
        feature_labels: m
            .features
            .iter()
            .map(|f| pb::FeatureLabel { name: f.spec.name.clone(), label: localized(|l| f.label.text(l).into()) })
            .collect(),
        ..Default::default()
    }
}

fn load_options(s: &RiskSettings) -> registry::LoadOptions {
    registry::LoadOptions { sessions_per_model: s.sessions_per_model, require_device: s.require_device }
}

impl RiskService {
    /// Loads ONNX Runtime and the models of `settings.risk.dir`. Fails (the daemon does
    /// not start) when the runtime library is missing or too old, when CUDA is required
    /// but unavailable, or when the models directory cannot be read; a broken model is
    /// only reported (FAILED in ListModels).
    pub fn load(settings: &Settings) -> Result<Self, String> {
        Self::from_risk_settings(&settings.risk)
    }

    /// Same as [`RiskService::load`] from the `[risk]` section alone.
    pub fn from_risk_settings(settings: &RiskSettings) -> Result<Self, String> {
        if !settings.enabled {
            return Ok(Self { inner: None });
        }
        let runtime = Runtime::init(settings).map_err(|e| e.to_string())?;
        let reg = Registry::load(&settings.dir, &runtime, load_options(settings)).map_err(|e| e.to_string())?;
        for f in &reg.failed {
            for p in &f.problems {
                tracing::error!(model = %f.id, problem = %p, "model failed to load");
            }
        }
        for m in &reg.models {
            tracing::info!(model = %m.manifest.id, version = %m.manifest.version, device = m.device.label(), "model loaded");
        }
        metrics::models_loaded(reg.models.len(), reg.configured());
        let (version, problems) = (reg.version.clone(), reg.problems());
        let registry = Slot::new(Component::Models, reg, version, problems);
        Ok(Self { inner: Some(Arc::new(Inner { settings: settings.clone(), runtime, registry })) })
    }

    /// The registry in force (empty when risk scoring is disabled).
    pub fn registry(&self) -> Arc<Registry> {
        self.inner.as_ref().map_or_else(|| Arc::new(Registry::default()), |i| i.registry.current())
    }

    /// The device models were configured to run on after the start-up checks.
    pub fn device(&self) -> Option<Device> {
        self.inner.as_ref().map(|i| i.runtime.device)
    }

    /// `/readyz`: not ready while fewer models are loaded than configured (a rolling
    /// update with a broken model never becomes ready; the old instances keep serving).
    pub fn readiness(&self) -> Result<(), String> {
        let reg = self.registry();
        if reg.failed.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = reg.failed.iter().map(|f| f.id.as_str()).collect();
        Err(format!(
            "models loaded {} < configured {} (failed: {}; see ListModels)",
            reg.models.len(),
            reg.configured(),
            ids.join(", ")
        ))
    }

    /// Models in force and models that failed to load, for `ListModels`.
    pub fn list(&self) -> pb::ListModelsResponse {
        let reg = self.registry();
        let mut models: Vec<pb::ModelInfo> = reg
            .models
            .iter()
            .map(|m| pb::ModelInfo {
                id: m.manifest.id.clone(),
                device: m.device.label().to_string(),
                device_kind: device_kind(m.device) as i32,
                status: pb::LoadStatus::Loaded as i32,
                errors: Vec::new(),
                features: m.manifest.feature_names(),
                ..describe(&m.manifest)
            })
            .collect();
        models.extend(reg.failed.iter().map(|f| pb::ModelInfo {
            id: f.id.clone(),
            status: pb::LoadStatus::Failed as i32,
            errors: f.problems.iter().map(Diagnostic::to_proto).collect(),
            ..f.manifest.as_ref().map(describe).unwrap_or_default()
        }));
        models.sort_by(|a, b| a.id.cmp(&b.id));
        let last_reload = self.inner.as_ref().map(|i| i.registry.last().to_proto());
        pb::ListModelsResponse { models, last_reload }
    }
}

impl Reload for RiskService {
    fn component(&self) -> Component {
        Component::Models
    }

    fn sources(&self) -> Vec<PathBuf> {
        self.inner.as_ref().map(|i| vec![i.settings.dir.clone()]).unwrap_or_default()
    }

    /// Reloads every model from disk; swaps the registry only when all loaded.
    fn reload(&self, cause: Cause) -> Outcome {
        match &self.inner {
            None => crate::reload::finish(Outcome::failed(
                Component::Models,
                cause,
                String::new(),
                vec![Diagnostic::file("", "risk scoring is disabled (risk.enabled = false)")],
            )),
            Some(inner) => inner.reload(cause),
        }
    }

    fn last_outcome(&self) -> Outcome {
        match &self.inner {
            None => Outcome::failed(Component::Models, Cause::Startup, String::new(), Vec::new()),
            Some(i) => i.registry.last(),
        }
    }

    fn attempts(&self) -> u64 {
        self.inner.as_ref().map_or(0, |i| i.registry.attempts())
    }
}

impl Inner {
    fn reload(&self, cause: Cause) -> Outcome {
        let compile = || match Registry::load(&self.settings.dir, &self.runtime, load_options(&self.settings)) {
            Err(p) => Err(vec![p]),
            Ok(reg) if !reg.failed.is_empty() => Err(reg.problems()),
            Ok(reg) => Ok(reg),
        };
        self.registry.reload(
            cause,
            compile,
            |reg| reg.version.clone(),
            |_, _| false,
            |_, new| metrics::models_loaded(new.models.len(), new.configured()),
        )
    }
}

/// A configured model that failed to load is never silently absent: an ERROR score (and
/// so a card) wherever it would have applied — everywhere when not even its manifest
/// parsed, since then nobody can tell — or, where it does not apply, NOT_APPLICABLE on
/// request like any other model.
fn failed_score(ev: &Evaluation, f: &registry::FailedModel) -> Option<pb::RiskScore> {
    let named = ev.names_model(&f.id);
    if named == Some(false) {
        return None;
    }
    let locale = ev.text_locale();
    let mut s = f.manifest.as_ref().map_or_else(
        || pb::RiskScore { model_id: f.id.clone(), ..Default::default() },
        |m| score::from_manifest(m, locale),
    );
    if let Some(why) = f.manifest.as_ref().and_then(|m| score::not_applicable_with(m, &ev.encounter, &ev.equivalents)) {
        if named == Some(true) || ev.include_not_applicable {
            s.set_status(pb::RiskStatus::NotApplicable);
            s.message = not_applicable_text(&why, locale);
            return Some(s);
        }
        return None;
    }
    s.set_status(pb::RiskStatus::Error);
    let problem = first_problem(f);
    s.message = match locale {
        Locale::ZhCn => format!("未评分：模型加载失败（{problem}；见 ListModels）"),
        Locale::En => format!("not scored: the model failed to load ({problem}; see ListModels)"),
    };
    if s.outcome.is_empty() {
        s.outcome = format!("{}{}", locale.pick("模型 ", "model "), f.id);
    }
    Some(s)
}

/// The first load problem of a failed model, bounded, for its ERROR score: it names model
/// files and what is wrong with them, never request data.
fn first_problem(f: &registry::FailedModel) -> String {
    let text = f.problems.first().map_or_else(|| "no detail".to_string(), ToString::to_string);
    let more = f.problems.len().saturating_sub(1);
    let text = crate::locale::truncate_chars(&text, 200);
    if more > 0 {
        format!("{text}; +{more} more")
    } else {
        text
    }
}

/// "not applicable: <why>" in `locale`.
fn not_applicable_text(why: &score::NotApplicable, locale: crate::locale::Locale) -> String {
    format!("{}{}", locale.pick("不适用：", "not applicable: "), why.text(locale))
}

/// Scoring a request against one registry: the pipeline takes the registry once per
/// request ([`RiskService::registry`]) and asks both questions of that same snapshot, so a
/// reload between them cannot make a session run on an async thread.
impl Registry {
    /// Whether [`Registry::evaluate`] would run a model session for this request (a
    /// requested model applies to the encounter); when not, it only reports versions and
    /// refusals and may run on any thread.
    pub fn will_run_a_model(&self, ev: &Evaluation) -> bool {
        self.models.iter().any(|m| {
            ev.names_model(&m.manifest.id) != Some(false)
                && score::not_applicable_with(&m.manifest, &ev.encounter, &ev.equivalents).is_none()
        })
    }

    /// Score every applicable model of this registry (or those the request names).
    /// Blocking when [`Registry::will_run_a_model`]: then call off the async threads.
    pub fn evaluate(&self, ev: &Evaluation) -> (Vec<pb::RiskScore>, Vec<pb::ModelVersion>) {
        let reg = self;
        let versions = reg
            .models
            .iter()
            .map(|m| pb::ModelVersion { model_id: m.manifest.id.clone(), version: m.manifest.version.clone() })
            .collect();
        let mut scores = Vec::new();
        let locale = ev.text_locale();
        for model in &reg.models {
            let named = ev.names_model(&model.manifest.id);
            if named == Some(false) {
                continue;
            }
            if let Some(why) = score::not_applicable_with(&model.manifest, &ev.encounter, &ev.equivalents) {
                if named == Some(true) || ev.include_not_applicable {
                    let mut s = score::base(model, locale);
                    s.set_status(pb::RiskStatus::NotApplicable);
                    s.message = not_applicable_text(&why, locale);
                    scores.push(s);
                }
                continue;
            }
            if ev.past_deadline() {
                let mut s = score::base(model, locale);
                s.set_status(pb::RiskStatus::Error);
                s.message = locale
                    .pick("未评分：请求的时间预算已用完", "not scored: the request's time budget was spent")
                    .into();
                scores.push(s);
                continue;
            }
            let _span =
                tracing::debug_span!("model", model_id = %model.manifest.id, device = model.device.label()).entered();
            let t = Instant::now();
            let s = score::score_with(model, &ev.encounter, &ev.equivalents, true, locale);
            let outcome = match s.status() {
                pb::RiskStatus::Ok => metrics::ModelOutcome::Ok,
                pb::RiskStatus::Refused => metrics::ModelOutcome::Refused,
                _ => metrics::ModelOutcome::Error,
            };
            metrics::model_inference(&model.manifest.id, model.device, outcome, t.elapsed());
            for f in s.features.iter().filter(|f| f.imputed) {
                metrics::model_imputed(&model.manifest.id, &f.name);
            }
            scores.push(s);
        }
        // Validity, outcome and horizon come with the manifest (`score::from_manifest`).
        scores.extend(reg.failed.iter().filter_map(|f| failed_score(ev, f)));
        let known = |id: &String| reg.get(id).is_some() || reg.failed.iter().any(|f| f.id == *id);
        for id in ev.models.iter().filter(|id| !known(id)) {
            scores.push(pb::RiskScore {
                model_id: id.clone(),
                status: pb::RiskStatus::Error as i32,
                message: text::no_such_model(locale).into(),
                ..Default::default()
            });
        }
        (scores, versions)
    }
}
