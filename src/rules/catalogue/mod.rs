//! The data catalogue (`docs/DATA-CATALOGUE.md`, `cdssd rules catalogue`): for each kind
//! of data a rule author needs, the encounter list it arrives in, the codes that identify
//! it, the time field that counts, its canonical unit and the script query that reads it.
//! Generated, never written by hand, from the contract's comments ([`contract`]), the rule
//! API tables ([`api`]), the value sets and mapping tables of a compiled rule set, the
//! queries its scripts make ([`usage`]) and the known quantities
//! (`encounter::units`). `tests/it/catalogue.rs` fails when the committed file differs.
use std::collections::{BTreeMap, BTreeSet};

pub mod api;
pub mod contract;
mod render;
pub mod usage;

#[cfg(test)]
mod tests;

use crate::rules::load::RuleSet;
pub use contract::Contract;

/// Where the catalogue is committed, relative to the repository root.
pub const PATH: &str = "docs/DATA-CATALOGUE.md";

/// One include of a value-set file, as written there.
#[derive(Debug, Clone, Default)]
pub struct Include {
    pub system: String,
    pub codes: Vec<String>,
    pub prefixes: Vec<String>,
    pub ranges: Vec<String>,
}

/// The includes of a value-set file as written (the compiled set holds normalised codes).
fn includes(set: &RuleSet, path: &str) -> Result<Vec<Include>, String> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        include: Vec<Inc>,
    }
    #[derive(serde::Deserialize)]
    struct Inc {
        system: String,
        #[serde(default)]
        codes: Vec<String>,
        #[serde(default)]
        prefixes: Vec<String>,
        #[serde(default)]
        ranges: Vec<String>,
    }
    let full = set.root.join(path);
    let src = std::fs::read_to_string(&full).map_err(|e| format!("{path}: {e}"))?;
    let file: File = toml::from_str(&src).map_err(|e| format!("{path}: {e}"))?;
    Ok(file
        .include
        .into_iter()
        .map(|i| Include { system: i.system, codes: i.codes, prefixes: i.prefixes, ranges: i.ranges })
        .collect())
}

/// `(table, system, code, display)` of the mapping-table rows that join value set `name`.
fn mapped_into(set: &RuleSet, name: &str) -> Vec<(String, String, String, String)> {
    let Some(vs) = set.value_sets.get(name) else { return Vec::new() };
    let mut out = Vec::new();
    for t in &set.value_sets.mappings().tables {
        // Compiled sets hold the mapped codes themselves (`mapping::compile_into`).
        for e in t.entries.iter().filter(|e| vs.matches_normalized(&t.system, &e.code)) {
            out.push((t.name.clone(), t.system.clone(), e.code.clone(), e.display.clone()));
        }
    }
    out
}

/// Check the API tables against the contract: every list, item message and field they name.
fn check_tables(contract: &Contract) -> Vec<String> {
    let mut errors = Vec::new();
    let mut need = |m: &str, f: &str, why: &str| {
        if contract.field(m, f).is_none() {
            errors.push(format!("{why}: the contract has no field {m}.{f}"));
        }
    };
    for q in api::QUERIES {
        for l in q.lists {
            need("Encounter", l, q.call);
        }
        for c in q.codes {
            need(q.message, c, q.call);
        }
        if let Some(t) = q.time {
            need(q.message, t, q.call);
        }
    }
    for (m, f, s) in api::FIELDS {
        need(m, f, s);
    }
    for (m, _) in api::ITEM_MESSAGES {
        if !contract.messages.contains_key(*m) {
            errors.push(format!("catalogue: the contract has no message {m}"));
        }
    }
    errors
}

/// What the catalogue is made of, gathered and checked.
pub struct Inputs<'a> {
    pub contract: &'a Contract,
    pub set: &'a RuleSet,
    pub usage: usage::Usage,
    /// Value set → includes as written.
    pub includes: BTreeMap<String, Vec<Include>>,
    /// Value set → mapping-table rows that join it.
    pub mapped: BTreeMap<String, Vec<(String, String, String, String)>>,
}

/// The catalogue of rule set `set` against `contract`, as Markdown; `Err` lists every
/// table entry, index topic or file the generator could not resolve.
pub fn generate(contract: &Contract, set: &RuleSet) -> Result<String, Vec<String>> {
    let mut errors = check_tables(contract);
    let mut inc = BTreeMap::new();
    let mut mapped = BTreeMap::new();
    for vs in set.value_sets.iter() {
        match includes(set, &vs.path) {
            Ok(i) => {
                inc.insert(vs.name.clone(), i);
            }
            Err(e) => errors.push(e),
        }
        mapped.insert(vs.name.clone(), mapped_into(set, &vs.name));
    }
    let usage = usage::usage(set);
    let unknown: BTreeSet<&str> =
        usage.values().flat_map(|q| q.keys()).copied().filter(|q| api::query(q).is_none()).collect();
    errors.extend(unknown.into_iter().map(|q| format!("catalogue: query '{q}' is not in catalogue::api::QUERIES")));
    let inputs = Inputs { contract, set, usage, includes: inc, mapped };
    errors.extend(render::check_index(&inputs));
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(render::document(&inputs))
}
