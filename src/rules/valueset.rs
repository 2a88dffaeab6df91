//! Value sets: named code lists in `rules/valuesets/<name>.toml` that QC staff edit
//! without touching scripts, precompiled into hash sets, prefix lists and ranges.
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{line_col, Diagnostic};
use crate::encounter::codes::parse_system;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueSetFile {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    include: Vec<IncludeFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IncludeFile {
    system: Spanned<String>,
    #[serde(default)]
    codes: Vec<String>,
    #[serde(default)]
    prefixes: Vec<String>,
    /// Inclusive ranges "I21.0-I21.3": code >= low and (code <= high or code starts with high).
    #[serde(default)]
    ranges: Vec<Spanned<String>>,
}

/// Codes of one system within a value set.
#[derive(Debug, Default, Clone)]
struct SystemCodes {
    exact: HashSet<String>,
    prefixes: Vec<String>,
    ranges: Vec<(String, String)>,
}

impl SystemCodes {
    fn matches(&self, code: &str) -> bool {
        self.exact.contains(code)
            || self.prefixes.iter().any(|p| code.starts_with(p.as_str()))
            || self
                .ranges
                .iter()
                .any(|(lo, hi)| code >= lo.as_str() && (code <= hi.as_str() || code.starts_with(hi.as_str())))
    }
}

/// One compiled value set.
#[derive(Debug, Clone)]
pub struct ValueSet {
    pub name: String,
    pub description: String,
    pub source: String,
    /// File it came from, relative to the rules directory.
    pub path: String,
    by_system: HashMap<String, SystemCodes>,
}

/// ICD-10 categories whose codes mean different things in ICD-10-CM and in ICD-10 WHO
/// (and the China national clinical edition 2.0, which follows WHO here), as normalised
/// prefixes. R65: WHO R65.0/R65.1 = SIRS of infectious origin without/with organ failure,
/// R65.2/R65.3 = of non-infectious origin; ICD-10-CM R65.1x = non-infectious SIRS,
/// R65.2x = severe sepsis (R65.21 with septic shock). WHO ICD-10 2019 and ICD-10-CM 2025
/// tabular lists.
pub const EDITION_DIVERGENT: &[&str] = &["R65"];

/// Normalised ICD-10 codes compared for `code`: itself, then its parent when it carries
/// a China national clinical edition 2.0 form (GB/T 14396 six-character codes and their
/// extensions): for `ICD-10` codings every character after the 4-character subcategory is
/// a national subdivision, so the parent is the subcategory (`A41900X001`, `A41901` →
/// `A419`), and the `x` placeholder of a category without subcategories is removed
/// (`I10.x00` → `I10`). ICD-10-CM codings keep their characters (a trailing zero is a code
/// of its own, `I50.20`); only an `x` + 3-digit extension is removed.
fn icd10_keys(code: &str, national: bool) -> impl Iterator<Item = &str> {
    let parent = (code.len() > 4).then(|| {
        let rest = &code[3..];
        let base = &code[..3 + crate::encounter::codes::national_base(rest).unwrap_or(rest).len()];
        let mut end = base.len();
        if national {
            end = end.min(4);
            if base.as_bytes()[3] == b'X' {
                end = 3;
            }
        }
        &base[..end]
    });
    std::iter::once(code).chain(parent.filter(|p| p.len() < code.len()))
}

impl ValueSet {
    /// Does a coding (system already canonical, code as sent) belong to the set?
    pub fn matches(&self, system: &str, code: &str) -> bool {
        self.matches_normalized(system, &normalize_code(system, code))
    }

    /// Like [`ValueSet::matches`] for a code already passed through [`normalize_code`].
    /// ICD-10 editions form one family: an `ICD-10` include matches ICD-10-CM codings and
    /// the reverse, except in [`EDITION_DIVERGENT`] categories, where a coding has the CM
    /// meaning when its system is ICD-10-CM or its code has CM's fifth character
    /// (R65.21), and then only `ICD-10-CM` includes match it (WHO meaning: only `ICD-10`).
    pub fn matches_normalized(&self, system: &str, code: &str) -> bool {
        if system == "ICD-10" || system == "ICD-10-CM" {
            let divergent = EDITION_DIVERGENT.iter().any(|p| code.starts_with(p));
            let cm_meaning = divergent && (system == "ICD-10-CM" || code.len() >= 5);
            let national = system == "ICD-10";
            let by =
                |sys: &str| self.by_system.get(sys).is_some_and(|c| icd10_keys(code, national).any(|k| c.matches(k)));
            return (!cm_meaning && by("ICD-10")) || ((!divergent || cm_meaning) && by("ICD-10-CM"));
        }
        self.by_system.get(system).is_some_and(|c| c.matches(code))
    }

    /// For drug-class records (an allergy to "ATC C09"): like [`ValueSet::matches_normalized`],
    /// and for ATC also when the record is a class of a listed member (C09 vs C09AA05) or a
    /// member of a listed class (C09AA05 vs exact C09).
    pub fn matches_class_or_member(&self, system: &str, code: &str) -> bool {
        if self.matches_normalized(system, code) {
            return true;
        }
        system == "ATC"
            && self.by_system.get(system).is_some_and(|c| {
                c.exact.iter().chain(c.prefixes.iter()).any(|e| e.starts_with(code) || code.starts_with(e.as_str()))
            })
    }

    /// Number of exact codes, prefixes and ranges (for listings).
    pub fn size(&self) -> usize {
        self.by_system.values().map(|c| c.exact.len() + c.prefixes.len() + c.ranges.len()).sum()
    }
}

/// Canonical comparison form of a code: trimmed, upper case; ICD codes without dots.
pub fn normalize_code<'a>(system: &str, code: &'a str) -> Cow<'a, str> {
    crate::encounter::terminology::comparison_form(system, code)
}

/// All value sets of a rule set, by name.
#[derive(Debug, Clone, Default)]
pub struct ValueSets {
    sets: BTreeMap<String, ValueSet>,
    /// Every code system some set lists (ICD-10-CM counted as ICD-10: one family).
    systems: HashSet<String>,
    /// The local-code mapping tables compiled into the sets (`rules/mappings/`).
    mappings: super::mapping::Mappings,
}

impl ValueSets {
    /// Does any value set list codes of `system` (canonical name)?
    pub fn uses_system(&self, system: &str) -> bool {
        self.systems.contains(system)
    }

    /// The mapping tables compiled into these sets.
    pub fn mappings(&self) -> &super::mapping::Mappings {
        &self.mappings
    }

    pub(super) fn set_mappings(&mut self, m: super::mapping::Mappings) {
        self.mappings = m;
    }

    /// Add mapped local codes `(system, normalised code)` to set `name` (mapping tables).
    pub(super) fn add_mapped(&mut self, name: &str, codes: Vec<(String, String)>) {
        let Some(set) = self.sets.get_mut(name) else { return };
        for (system, code) in codes {
            self.systems.insert(system.clone());
            set.by_system.entry(system).or_default().exact.insert(code);
        }
    }

    /// Can a rule ever read this local coding (normalised code)? A mapping table maps it or
    /// some value set lists it directly.
    pub fn knows_local(&self, system: &str, code: &str) -> bool {
        self.mappings.knows(system, code) || self.sets.values().any(|s| s.matches_normalized(system, code))
    }

    /// Is this local coding (normalised code) a gap no rule can read because of the tables?
    /// Its system is in no value set or table, or a table covers the system but neither it
    /// nor a value set knows the code. A local system used only by value sets, without a
    /// table, is judged by system like the standard ones (its codes are project-defined;
    /// one no set lists is not needed).
    pub fn local_gap(&self, system: &str, code: &str) -> bool {
        !self.uses_system(system) || (self.mappings.maps_system(system) && !self.knows_local(system, code))
    }

    pub fn get(&self, name: &str) -> Option<&ValueSet> {
        self.sets.get(name)
    }
    pub fn contains(&self, name: &str) -> bool {
        self.sets.contains_key(name)
    }
    pub fn iter(&self) -> impl Iterator<Item = &ValueSet> {
        self.sets.values()
    }
    pub fn len(&self) -> usize {
        self.sets.len()
    }
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Add a compiled set; an error if the name is already taken.
    pub fn insert(&mut self, set: ValueSet) -> Result<(), Diagnostic> {
        if let Some(prev) = self.sets.get(&set.name) {
            return Err(Diagnostic::file(
                set.path.clone(),
                format!("value set '{}' is already defined in {}", set.name, prev.path),
            ));
        }
        for system in set.by_system.keys() {
            self.systems.insert(if system == "ICD-10-CM" { "ICD-10".to_string() } else { system.clone() });
        }
        self.sets.insert(set.name.clone(), set);
        Ok(())
    }
}

/// Parse and compile one value-set file. `path` is relative to the rules directory;
/// `local_systems` are the configured local code systems (`encounter.local_code_systems`).
pub fn parse_value_set(path: &str, src: &str, local_systems: &[String]) -> Result<ValueSet, Vec<Diagnostic>> {
    let file: ValueSetFile = toml::from_str(src).map_err(|e| vec![Diagnostic::toml(path, src, &e)])?;
    let mut errors = Vec::new();
    let at = |span: std::ops::Range<usize>, msg: String| {
        let (l, c) = line_col(src, span.start);
        Diagnostic::new(path, l, c, msg)
    };

    let stem = std::path::Path::new(path).file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let name = file.name.get_ref().trim().to_string();
    if !valid_name(&name) {
        errors.push(at(
            file.name.span(),
            format!("value set name '{name}' must be lower_snake_case (letters, digits, _)"),
        ));
    } else if name != stem {
        errors.push(at(file.name.span(), format!("value set name '{name}' must match the file name '{stem}.toml'")));
    }
    if file.include.is_empty() {
        errors.push(Diagnostic::new(path, 1, 1, "value set has no [[include]] section"));
    }

    let mut by_system: HashMap<String, SystemCodes> = HashMap::new();
    for inc in &file.include {
        let Some(system) = parse_system(inc.system.get_ref(), local_systems) else {
            errors.push(at(
                inc.system.span(),
                format!(
                    "unknown code system '{}' (ICD-10, ICD-10-CM, ICD-10-PCS, ICD-9-CM-3, LOINC, SNOMED-CT, ATC, RXNORM, CPT or a configured local system)",
                    inc.system.get_ref()
                ),
            ));
            continue;
        };
        let system = system.name().to_string();
        let system = system.as_str();
        if inc.codes.is_empty() && inc.prefixes.is_empty() && inc.ranges.is_empty() {
            errors.push(at(inc.system.span(), "include has no codes, prefixes or ranges".to_string()));
        }
        let entry = by_system.entry(system.to_string()).or_default();
        for c in &inc.codes {
            entry.exact.insert(normalize_code(system, c).into_owned());
        }
        for p in &inc.prefixes {
            let p = normalize_code(system, p).into_owned();
            if p.is_empty() {
                errors.push(at(inc.system.span(), "empty prefix".to_string()));
            } else {
                entry.prefixes.push(p);
            }
        }
        for r in &inc.ranges {
            match r.get_ref().split_once('-') {
                Some((lo, hi)) if !lo.trim().is_empty() && !hi.trim().is_empty() => {
                    let lo = normalize_code(system, lo).into_owned();
                    let hi = normalize_code(system, hi).into_owned();
                    if lo > hi {
                        errors.push(at(r.span(), format!("range '{}' is reversed", r.get_ref())));
                    } else {
                        entry.ranges.push((lo, hi));
                    }
                }
                _ => errors.push(at(r.span(), format!("range '{}' must look like \"I21.0-I21.3\"", r.get_ref()))),
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValueSet { name, description: file.description, source: file.source, path: path.to_string(), by_system })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
