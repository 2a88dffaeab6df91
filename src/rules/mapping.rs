//! Code mapping tables: `rules/mappings/<name>.toml` maps the codes of one configured
//! local code system (a hospital drug dictionary, LIS test codes, national insurance drug
//! codes) — or of a standard system, as a terminology map (RxNorm ingredients → ATC,
//! SNOMED CT → ICD-10) — to standard codes and/or value sets. They are part of the rule set: loaded,
//! checked and reloaded with it, all or nothing, and compiled *into* the value sets (a
//! mapped local code becomes a member of every set its targets belong to), so every
//! query, `[applies_to]` gate and data-quality check of the same snapshot sees them.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::valueset::{normalize_code, ValueSets};
use crate::diagnostic::{line_col, Diagnostic};
use crate::encounter::codes::{check_format, parse_system};
use crate::encounter::terminology::Equivalents;
use crate::encounter::{Code, CodeSystem};

/// Longest local code accepted in a table (bytes).
pub const MAX_LOCAL_CODE: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    name: Spanned<String>,
    /// The configured local code system the table's codes belong to.
    system: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    map: Vec<Spanned<EntryFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    code: Spanned<String>,
    #[serde(default)]
    display: String,
    /// Standard codes, `SYSTEM:CODE` (`ATC:B01AC06`, `LOINC:2524-7`, `SNOMED-CT:401303003`).
    #[serde(default)]
    to: Vec<Spanned<String>>,
    /// Value sets the code belongs to directly.
    #[serde(default)]
    value_sets: Vec<Spanned<String>>,
}

/// One standard code a local code stands for (system canonical, code normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub system: String,
    pub code: String,
}

/// One row of a table.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Normalised local code.
    pub code: String,
    pub display: String,
    pub to: Vec<Target>,
    pub value_sets: Vec<String>,
}

/// One compiled mapping table.
#[derive(Debug, Clone)]
pub struct MappingTable {
    pub name: String,
    /// Canonical name of the local system (as configured).
    pub system: String,
    pub description: String,
    pub source: String,
    /// File it came from, relative to the rules directory.
    pub path: String,
    pub entries: Vec<Entry>,
}

/// Every mapping table of a rule set, and the local codes they know per system.
#[derive(Debug, Clone, Default)]
pub struct Mappings {
    pub tables: Vec<MappingTable>,
    known: HashMap<String, HashSet<String>>,
    /// What each mapped code stands for, for components that match codes themselves (risk).
    equivalents: Arc<Equivalents>,
}

impl Mappings {
    /// Does a table of `system` map `code` (normalised)?
    pub fn knows(&self, system: &str, code: &str) -> bool {
        self.known.get(system).is_some_and(|c| c.contains(code))
    }
    /// What each mapped code stands for.
    pub fn equivalents(&self) -> &Arc<Equivalents> {
        &self.equivalents
    }
    /// Does some table map codes of `system`?
    pub fn maps_system(&self, system: &str) -> bool {
        self.known.contains_key(system)
    }
    /// Local systems some table maps.
    pub fn systems(&self) -> impl Iterator<Item = &str> {
        self.known.keys().map(String::as_str)
    }
    /// Number of mapped local codes.
    pub fn len(&self) -> usize {
        self.known.values().map(HashSet::len).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

/// A local code as tables and encounters compare it (see `normalize_code`); `Err` says
/// what is wrong with it.
fn check_local_code(raw: &str) -> Result<String, &'static str> {
    let code = raw.trim();
    if code.is_empty() {
        return Err("is empty");
    }
    if code.len() > MAX_LOCAL_CODE {
        return Err("is longer than 64 bytes");
    }
    if code.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("contains white space or control characters");
    }
    Ok(normalize_code("LOCAL", code).into_owned())
}

/// Parse and check one mapping table. `value_sets` are the set's value sets (names are
/// checked here); `local_systems` the configured local systems.
pub fn parse_mapping(
    path: &str,
    src: &str,
    local_systems: &[String],
    value_sets: &ValueSets,
) -> Result<MappingTable, Vec<Diagnostic>> {
    let file: MappingFile = toml::from_str(src).map_err(|e| vec![Diagnostic::toml(path, src, &e)])?;
    let mut errors = Vec::new();
    let at = |span: std::ops::Range<usize>, msg: String| {
        let (l, c) = line_col(src, span.start);
        Diagnostic::new(path, l, c, msg)
    };
    let stem = std::path::Path::new(path).file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let name = file.name.get_ref().trim().to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        errors
            .push(at(file.name.span(), format!("mapping name '{name}' must be lower_snake_case (letters, digits, _)")));
    } else if name != stem {
        errors.push(at(file.name.span(), format!("mapping name '{name}' must match the file name '{stem}.toml'")));
    }
    // A local system (hospital dictionary), or a standard one whose codes a table maps to
    // another standard system (a terminology map: RxNorm → ATC, SNOMED CT → ICD-10).
    let parsed = parse_system(file.system.get_ref(), local_systems);
    let system = match &parsed {
        Some(CodeSystem::Local(s)) => s.clone(),
        Some(CodeSystem::CdcRace) | None => {
            errors.push(at(
                file.system.span(),
                format!(
                    "unknown code system '{}': a mapping table's system must be a configured local system (encounter.local_code_systems: {}) or a standard one (RXNORM, SNOMED-CT ...)",
                    file.system.get_ref(),
                    local_systems.join(", ")
                ),
            ));
            String::new()
        }
        Some(other) => other.name().to_string(),
    };
    if file.map.is_empty() {
        errors.push(Diagnostic::new(path, 1, 1, "mapping table has no [[map]] rows"));
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut entries = Vec::new();
    for row in &file.map {
        let (row_line, _) = line_col(src, row.span().start);
        let row = row.get_ref();
        let checked = match &parsed {
            Some(CodeSystem::Local(_)) | None | Some(CodeSystem::CdcRace) => check_local_code(row.code.get_ref()),
            Some(standard) => {
                let c = crate::encounter::codes::normalise_code(standard, row.code.get_ref());
                check_format(standard, &c).map(|_| normalize_code(&system, &c).into_owned())
            }
        };
        let code = match checked {
            Ok(c) => c,
            Err(why) => {
                errors.push(at(row.code.span(), format!("code '{}' {why}", row.code.get_ref())));
                continue;
            }
        };
        if let Some(first) = seen.insert(code.clone(), row_line as usize) {
            errors.push(at(row.code.span(), format!("code '{code}' is already mapped at line {first}")));
        }
        if row.to.is_empty() && row.value_sets.is_empty() {
            errors.push(at(row.code.span(), format!("code '{code}' maps to nothing: give `to` and/or `value_sets`")));
        }
        let mut to = Vec::new();
        for t in &row.to {
            match parse_target(t.get_ref(), local_systems) {
                Ok(target) if target.system == system => {
                    errors.push(at(t.span(), format!("target '{}' is in the table's own system {system}", t.get_ref())))
                }
                Ok(target) => to.push(target),
                Err(msg) => errors.push(at(t.span(), msg)),
            }
        }
        let mut sets = Vec::new();
        for v in &row.value_sets {
            let n = v.get_ref().trim();
            if value_sets.contains(n) {
                sets.push(n.to_string());
            } else {
                errors.push(at(v.span(), format!("unknown value set '{n}' (files in rules/valuesets/)")));
            }
        }
        entries.push(Entry { code, display: row.display.clone(), to, value_sets: sets });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(MappingTable {
        name,
        system,
        description: file.description,
        source: file.source,
        path: path.to_string(),
        entries,
    })
}

/// `SYSTEM:CODE` → a standard target with a valid code.
fn parse_target(raw: &str, local_systems: &[String]) -> Result<Target, String> {
    let Some((sys, code)) = raw.split_once(':').filter(|(s, c)| !s.trim().is_empty() && !c.trim().is_empty()) else {
        return Err(format!("target '{raw}' must look like \"ATC:B01AC06\" (SYSTEM:CODE)"));
    };
    // URIs contain ':' too: try the longest system prefix first (http://loinc.org:2524-7).
    let (sys, code) = match raw.rsplit_once(':') {
        Some((s, c)) if parse_system(s, &[]).is_some() => (s, c),
        _ => (sys, code),
    };
    let system = match parse_system(sys, local_systems) {
        None => return Err(format!("unknown code system '{}' in target '{raw}'", sys.trim())),
        Some(CodeSystem::Local(s)) => {
            return Err(format!("target '{raw}' is in local system '{s}': map to standard codes or value sets"))
        }
        Some(s) => s,
    };
    let code = crate::encounter::codes::normalise_code(&system, code);
    check_format(&system, &code).map_err(|why| format!("target code '{code}' {why}"))?;
    let name = system.name().to_string();
    Ok(Target { code: normalize_code(&name, &code).into_owned(), system: name })
}

/// Check the tables of a set together (a local code mapped by two tables of its system is
/// an error), then compile them into `value_sets`: every mapped local code joins each set
/// named in its row or matching one of its targets exactly as an encounter coding would
/// (ICD-10 editions, prefixes, ranges; an ATC class target matches sets that list the
/// class or a prefix of it, not sets of its members: name those in `value_sets`).
pub fn compile_into(tables: Vec<MappingTable>, value_sets: &mut ValueSets) -> Result<Mappings, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut owner: HashMap<(String, String), String> = HashMap::new();
    for t in &tables {
        for e in &t.entries {
            if let Some(prev) = owner.insert((t.system.clone(), e.code.clone()), t.path.clone()) {
                if prev != t.path {
                    errors.push(Diagnostic::file(
                        t.path.clone(),
                        format!("code '{}' of {} is also mapped in {prev}", e.code, t.system),
                    ));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut additions: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for set in value_sets.iter() {
        for t in &tables {
            for e in &t.entries {
                let hit =
                    e.value_sets.contains(&set.name) || e.to.iter().any(|x| set.matches_normalized(&x.system, &x.code));
                if hit {
                    additions.entry(set.name.clone()).or_default().push((t.system.clone(), e.code.clone()));
                }
            }
        }
    }
    for (set, codes) in additions {
        value_sets.add_mapped(&set, codes);
    }
    let mut known: HashMap<String, HashSet<String>> = HashMap::new();
    let mut equivalents = Equivalents::default();
    for t in &tables {
        known.entry(t.system.clone()).or_default().extend(t.entries.iter().map(|e| e.code.clone()));
        for e in &t.entries {
            for x in &e.to {
                if let Some(system) = parse_system(&x.system, &[]) {
                    equivalents.insert(
                        &t.system,
                        &e.code,
                        Code { system, code: x.code.clone(), display: e.display.clone() },
                    );
                }
            }
        }
    }
    Ok(Mappings { tables, known, equivalents: Arc::new(equivalents) })
}

/// Warnings of a compiled set: configured local systems that no mapping table and no value
/// set uses (their codes can reach no rule).
pub fn unused_local_systems(local_systems: &[String], value_sets: &ValueSets) -> Vec<String> {
    local_systems
        .iter()
        .map(|s| s.trim())
        .filter(|s| !value_sets.uses_system(s) && !value_sets.mappings().systems().any(|m| m == *s))
        .map(|s| {
            format!(
                "encounter.local_code_systems: '{s}' is configured but no mapping table (rules/mappings/) or value set lists it: its codes reach no rule"
            )
        })
        .collect()
}
