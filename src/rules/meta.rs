//! Rule metadata returned by a script's `meta()`, validated at load time: identity,
//! the measure implemented (set, item, edition), the texts in every locale and the
//! outcomes the rule declares it can return.
use std::collections::{BTreeMap, BTreeSet};

use rhai::{Dynamic, Map};

use super::finding::{Severity, Status};
use super::lint::find_position;
use crate::diagnostic::Diagnostic;
use crate::evaluation::Trigger;
use crate::locale::Locale;
pub use crate::names::{did_you_mean, MEASURE_SETS};

/// Workflow moments a rule can run on: the labels of [`Trigger::NAMED`], the one trigger
/// vocabulary (metrics, rule metadata, the proto's `Trigger` in lower case).
pub const TRIGGERS: [&str; Trigger::NAMED.len()] = Trigger::NAMED_LABELS;

/// The finding constructors, as named in `outcomes`, and the status each returns.
pub const OUTCOME_KINDS: &[(&str, Status)] = &[
    ("met", Status::Met),
    ("not_met", Status::NotMet),
    ("excluded", Status::Excluded),
    ("not_applicable", Status::NotApplicable),
    ("pending", Status::Pending),
    ("missing_data", Status::MissingData),
];

/// The `meta()` fields: (name, required, what it holds). The guide's table is checked against it.
pub const FIELDS: &[(&str, bool, &str)] = &[
    ("id", true, "`<pack>.<file name>`"),
    ("title", true, "`#{ \"zh-CN\": \"…\", en: \"…\" }` (official Chinese indicator name where the source has one)"),
    ("measure", true, "the citation in words, e.g. \"CMS AMI-8a; NHC-2022 4.1.1.3\""),
    (
        "measure_set",
        true,
        "one of the known sets (`NHC-2022`, `NHC-2020`, `NHC-2015`, `CMS`, `TJC`, `SCIP`, `AHA`, `LOCAL`)",
    ),
    ("measure_id", true, "item within the set, e.g. \"4.1.1.3\", \"AMI-8a\""),
    ("measure_version", true, "edition or specification version followed, e.g. \"2022\", \"v2024a\""),
    ("version", true, "the rule's own version, `1.0.0`"),
    ("severity", true, "`info`, `warning` or `critical`"),
    ("triggers", true, "workflow moments the rule runs on"),
    ("requires", false, "data the rule needs (documentation)"),
    ("outcomes", false, "every outcome the rule can return, by constructor and reason key, with its texts"),
    (
        "overrides",
        false,
        "id of the rule this local variant replaces (one card, not two): same `measure_set` and `measure_id`, its own `measure_version`",
    ),
];

/// A text in each locale it was written in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LocalText(pub BTreeMap<Locale, String>);

impl LocalText {
    /// The text in `locale`; the English one, else any, when that locale is missing.
    pub fn get(&self, locale: Locale) -> &str {
        self.0.get(&locale).or_else(|| self.0.get(&Locale::En)).or_else(|| self.0.values().next()).map_or("", |s| s)
    }
    /// The same text in every locale (legacy single-language rules).
    pub fn untranslated(s: &str) -> Self {
        Self(BTreeMap::from([(Locale::En, s.to_string())]))
    }
}

/// One outcome a rule declares: constructor, reason key and its texts.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredOutcome {
    /// Constructor name from [`OUTCOME_KINDS`].
    pub kind: &'static str,
    pub key: String,
    pub text: LocalText,
    /// `{placeholders}` its texts use.
    pub placeholders: BTreeSet<String>,
    /// Where the key is declared (for "declared but never returned").
    pub line: u32,
    pub column: u32,
}

/// The constructor name (`met`, `missing_data`…) of a status, from [`OUTCOME_KINDS`].
pub fn kind_of(status: Status) -> Option<&'static str> {
    OUTCOME_KINDS.iter().find(|(_, s)| *s == status).map(|(k, _)| *k)
}

impl DeclaredOutcome {
    /// The status its constructor returns.
    pub fn status(&self) -> Option<Status> {
        OUTCOME_KINDS.iter().find(|(k, _)| *k == self.kind).map(|(_, s)| *s)
    }

    /// `status:key` as listed by `ListRulePacks` and `rules test`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.kind, self.key)
    }
}

/// Validated metadata of one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMeta {
    /// `<pack>.<file stem>`.
    pub id: String,
    pub title: LocalText,
    /// Measure and source citation, e.g. "CMS AMI-8a; NHC-2020 STEMI-3".
    pub measure: String,
    /// One of [`MEASURE_SETS`].
    pub measure_set: String,
    pub measure_id: String,
    pub measure_version: String,
    pub version: String,
    pub severity: Severity,
    /// The triggers the rule runs on.
    pub triggers: Vec<Trigger>,
    /// Data the rule needs (documentation).
    pub requires: Vec<String>,
    /// Declared outcomes; empty for a legacy rule whose constructors take free English text.
    pub outcomes: Vec<DeclaredOutcome>,
    /// `overrides`: id of the rule this local variant replaces (see [`super::overrides`]).
    pub overrides: Option<String>,
    /// Where `overrides` is written (line, column), for load errors about it.
    pub overrides_at: (u32, u32),
}

impl RuleMeta {
    pub fn runs_on(&self, trigger: Trigger) -> bool {
        self.triggers.contains(&trigger)
    }
    /// True when the rule declares its outcomes (message keys); false for legacy free text.
    pub fn keyed(&self) -> bool {
        !self.outcomes.is_empty()
    }
    pub fn outcome(&self, kind: &str, key: &str) -> Option<&DeclaredOutcome> {
        self.outcomes.iter().find(|o| o.kind == kind && o.key == key)
    }
    /// Locales of `wanted` some text of the rule lacks, with what lacks it.
    pub fn missing_texts(&self, wanted: &[Locale]) -> Vec<(Locale, String)> {
        let mut out = Vec::new();
        for &l in wanted {
            if !self.title.0.contains_key(&l) {
                out.push((l, "title".to_string()));
            }
            for o in &self.outcomes {
                if !o.text.0.contains_key(&l) {
                    out.push((l, format!("outcomes.{}.{}", o.kind, o.key)));
                }
            }
            if !self.keyed() {
                out.push((l, "outcomes (messages are free text in one language)".to_string()));
            }
        }
        out.dedup();
        out
    }
}

/// The constructor name of an outcome kind, if it is one.
pub fn outcome_kind(name: &str) -> Option<&'static str> {
    OUTCOME_KINDS.iter().find(|(k, _)| *k == name).map(|(k, _)| *k)
}

/// `{name}` placeholders of a text.
pub fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        match after.find('}') {
            Some(j) => {
                let name = &after[..j];
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    out.insert(name.to_string());
                }
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    out
}

/// Validate the map `meta()` returned. `expected_id` is `<pack>.<file stem>`.
pub fn parse_meta(path: &str, src: &str, value: Dynamic, expected_id: &str) -> Result<RuleMeta, Vec<Diagnostic>> {
    let meta_pos = find_position(src, "fn meta");
    let type_name = value.type_name().to_string();
    let Some(map) = value.try_cast::<Map>() else {
        return Err(vec![super::error::at_pos(
            path,
            meta_pos,
            format!("meta() must return an object map #{{ id: ..., ... }}, not {type_name}"),
        )]);
    };
    let mut errors = Vec::new();
    let start = src.find("fn meta").unwrap_or(0);
    // Position of a field (or outcome key) inside the meta() body, falling back to `fn meta`.
    let field_pos = |field: &str| -> (u32, u32) {
        let body = &src[start..];
        let hit = [format!("{field}:"), format!("\"{field}\":"), format!("{field} :")]
            .iter()
            .filter_map(|n| body.find(n.as_str()))
            .min();
        match hit {
            Some(off) => crate::diagnostic::line_col(src, start + off),
            None => super::error::pos_parts(meta_pos),
        }
    };
    let mut err = |field: &str, msg: String| {
        let (l, c) = field_pos(field);
        errors.push(Diagnostic::new(path, l, c, msg));
    };
    let names: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
    for key in map.keys() {
        if !names.contains(&key.as_str()) {
            err(
                key,
                format!("unknown metadata field '{key}' (allowed: {}){}", names.join(", "), did_you_mean(key, &names)),
            );
        }
    }

    let text = |field: &str, errs: &mut dyn FnMut(&str, String)| -> String {
        match map.get(field) {
            None => {
                errs(field, format!("missing metadata field '{field}'"));
                String::new()
            }
            Some(v) => match v.clone().into_immutable_string() {
                Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
                Ok(_) => {
                    errs(field, format!("metadata field '{field}' is empty"));
                    String::new()
                }
                Err(t) => {
                    errs(field, format!("metadata field '{field}' must be a string, not {t}"));
                    String::new()
                }
            },
        }
    };
    let id = text("id", &mut err);
    let title = match map.get("title") {
        Some(v) if v.is_string() => LocalText::untranslated(&text("title", &mut err)),
        Some(v) => local_text(v, "title", &mut err),
        None => {
            err("title", "missing metadata field 'title'".into());
            LocalText::default()
        }
    };
    let measure = text("measure", &mut err);
    let measure_set = text("measure_set", &mut err);
    let measure_id = text("measure_id", &mut err);
    let measure_version = text("measure_version", &mut err);
    let version = text("version", &mut err);
    let severity_s = text("severity", &mut err);

    if !id.is_empty() && id != expected_id {
        err("id", format!("rule id '{id}' must be '{expected_id}' (<pack>.<file name>)"));
    }
    if !measure_set.is_empty() && !MEASURE_SETS.contains(&measure_set.as_str()) {
        err(
            "measure_set",
            format!(
                "unknown measure set '{measure_set}' (known: {}){}",
                MEASURE_SETS.join(", "),
                did_you_mean(&measure_set, MEASURE_SETS)
            ),
        );
    }
    if !version.is_empty() && !valid_version(&version) {
        err("version", format!("version '{version}' must look like 1.0.0"));
    }
    let severity = match Severity::parse(&severity_s) {
        Some(s) => s,
        None => {
            if !severity_s.is_empty() {
                err("severity", format!("severity '{severity_s}' must be info, warning or critical"));
            }
            Severity::Warning
        }
    };
    let mut triggers = Vec::new();
    for t in string_list(&map, "triggers", true, &mut err) {
        match Trigger::from_label(&t) {
            Some(t) => triggers.push(t),
            None => err(
                "triggers",
                format!("unknown trigger '{t}' (allowed: {}){}", TRIGGERS.join(", "), did_you_mean(&t, &TRIGGERS)),
            ),
        }
    }
    let requires = string_list(&map, "requires", false, &mut err);
    let overrides_at = field_pos("overrides");
    let overrides = match map.get("overrides") {
        None => None,
        Some(_) => Some(text("overrides", &mut err)).filter(|t| !t.is_empty()),
    };
    let mut outcomes = Vec::new();
    if let Some(v) = map.get("outcomes") {
        match v.read_lock::<Map>() {
            None => err(
                "outcomes",
                "'outcomes' must be a map #{ met: #{ key: #{ \"zh-CN\": \"…\", en: \"…\" } }, … }".into(),
            ),
            Some(by_kind) => {
                let kinds: Vec<&str> = OUTCOME_KINDS.iter().map(|k| k.0).collect();
                for (kind, keys) in by_kind.iter() {
                    let Some(kind) = outcome_kind(kind) else {
                        err(
                            kind,
                            format!(
                                "outcomes: '{kind}' is not a constructor (one of {}){}",
                                kinds.join(", "),
                                did_you_mean(kind, &kinds)
                            ),
                        );
                        continue;
                    };
                    let Some(keys) = keys.read_lock::<Map>() else {
                        err(kind, format!("outcomes.{kind} must be a map of reason keys to texts"));
                        continue;
                    };
                    for (key, t) in keys.iter() {
                        if !valid_key(key) {
                            err(key, format!("reason key '{key}' must be lower_snake_case (letters, digits, _)"));
                        }
                        let text = local_text(t, &format!("outcomes.{kind}.{key}"), &mut err);
                        let mut sets = text.0.values().map(|s| placeholders(s));
                        let first = sets.next().unwrap_or_default();
                        if sets.any(|s| s != first) {
                            err(key, format!("outcomes.{kind}.{key}: the texts of each language must use the same {{placeholders}}"));
                        }
                        let (line, column) = field_pos(key);
                        outcomes.push(DeclaredOutcome {
                            kind,
                            key: key.to_string(),
                            text,
                            placeholders: first,
                            line,
                            column,
                        });
                    }
                }
                if outcomes.is_empty() {
                    err("outcomes", "'outcomes' declares no outcome".into());
                }
            }
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RuleMeta {
        id,
        title,
        measure,
        measure_set,
        measure_id,
        measure_version,
        version,
        severity,
        triggers,
        requires,
        outcomes,
        overrides,
        overrides_at,
    })
}

/// `#{ "zh-CN": "…", en: "…" }` → a [`LocalText`]; keys must be the canonical tags.
fn local_text(v: &Dynamic, what: &str, err: &mut dyn FnMut(&str, String)) -> LocalText {
    let field = what.rsplit('.').next().unwrap_or(what);
    let Some(m) = v.read_lock::<Map>() else {
        err(field, format!("{what} must be a map of texts #{{ \"zh-CN\": \"…\", en: \"…\" }}"));
        return LocalText::default();
    };
    let mut out = BTreeMap::new();
    for (tag, text) in m.iter() {
        let Some(l) = Locale::ALL.into_iter().find(|l| l.tag() == tag.as_str()) else {
            err(field, format!("{what}: '{tag}' is not a supported language (write \"zh-CN\" or en)"));
            continue;
        };
        match text.clone().into_immutable_string() {
            Ok(s) if !s.trim().is_empty() => {
                out.insert(l, s.trim().to_string());
            }
            Ok(_) => err(field, format!("{what}.{tag} is empty")),
            Err(t) => err(field, format!("{what}.{tag} must be a string, not {t}")),
        }
    }
    LocalText(out)
}

fn valid_key(k: &str) -> bool {
    k.starts_with(|c: char| c.is_ascii_lowercase())
        && k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn string_list(map: &Map, field: &str, required: bool, err: &mut dyn FnMut(&str, String)) -> Vec<String> {
    let Some(v) = map.get(field) else {
        if required {
            err(field, format!("missing metadata field '{field}'"));
        }
        return Vec::new();
    };
    let Some(arr) = v.read_lock::<rhai::Array>() else {
        err(field, format!("metadata field '{field}' must be an array of strings"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in arr.iter() {
        match item.clone().into_immutable_string() {
            Ok(s) => out.push(s.to_string()),
            Err(t) => err(field, format!("'{field}' must hold strings, found {t}")),
        }
    }
    if required && out.is_empty() {
        err(field, format!("metadata field '{field}' must not be empty"));
    }
    out
}

fn valid_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_close_names_only() {
        assert_eq!(did_you_mean("NHC-2021", MEASURE_SETS), " — did you mean 'NHC-2022'?");
        assert_eq!(did_you_mean("cms", MEASURE_SETS), " — did you mean 'CMS'?");
        assert_eq!(did_you_mean("completely_else", MEASURE_SETS), "");
    }

    #[test]
    fn placeholders_are_found() {
        let p = placeholders("门球时间 {minutes} 分钟（{rel}）{ not one }");
        assert_eq!(p.into_iter().collect::<Vec<_>>(), vec!["minutes".to_string(), "rel".to_string()]);
    }
}
