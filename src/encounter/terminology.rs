//! Equivalent codings from the code mapping tables of the rule set in force
//! (`rules/mappings/`: local codes and terminology maps such as RxNorm → ATC or SNOMED CT →
//! ICD-10), in a form every component can read: the rules compile the tables into their
//! value sets, the risk models' feature sources look codings up here, so the same facts
//! count in every coding. Built once per rule set, carried by each `Evaluation`.
use std::borrow::Cow;
use std::collections::HashMap;

use super::model::Code;

/// Comparison form of a code of `system` (canonical name): trimmed, upper case, ICD codes
/// without dots. The one normalisation of value sets, mapping tables and this lookup.
pub fn comparison_form<'a>(system: &str, code: &'a str) -> Cow<'a, str> {
    let strip_dots = system.starts_with("ICD-");
    let code = code.trim();
    let clean = code.chars().all(|c| !(c.is_ascii_lowercase() || strip_dots && c == '.'));
    if clean {
        Cow::Borrowed(code)
    } else {
        Cow::Owned(code.chars().filter(|&c| !(strip_dots && c == '.')).map(|c| c.to_ascii_uppercase()).collect())
    }
}

/// Codings a coding stands for, by (system, comparison form of the code).
#[derive(Debug, Clone, Default)]
pub struct Equivalents {
    map: HashMap<(String, String), Vec<Code>>,
}

impl Equivalents {
    /// Record that `system`/`code` (comparison form) stands for `to`.
    pub fn insert(&mut self, system: &str, code: &str, to: Code) {
        self.map.entry((system.to_string(), code.to_string())).or_default().push(to);
    }

    /// The codings `c` stands for (none when no table maps it).
    pub fn of(&self, c: &Code) -> &[Code] {
        if self.map.is_empty() {
            return &[];
        }
        let system = c.system.name();
        let key = (system.to_string(), comparison_form(system, &c.code).into_owned());
        self.map.get(&key).map_or(&[], Vec::as_slice)
    }

    /// `codes` followed by what each stands for.
    pub fn expand<'a>(&'a self, codes: &'a [Code]) -> impl Iterator<Item = &'a Code> + 'a {
        codes.iter().chain(codes.iter().flat_map(|c| self.of(c).iter()))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
