//! `measure_sets.toml` at the top of the rules directory: what each measure set is (its
//! source documents, in English and Chinese), for the "By measure set" section. Not part of
//! the rule set: the loader reads only `<pack>/`, `valuesets/` and `mappings/`.
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::names::MEASURE_SETS;

/// The file's name, relative to the rules directory.
pub const FILE: &str = "measure_sets.toml";

/// What one measure set is, in each language.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetNote {
    pub en: String,
    #[serde(rename = "zh-CN")]
    pub zh: String,
}

/// Measure set → its note.
pub type SetNotes = BTreeMap<String, SetNote>;

/// Parse the file; every set it names must be a known one (`names::MEASURE_SETS`), every set
/// in `used` must have a note, and no text may be empty. `Err`: every problem, `FILE: …`.
pub fn parse(src: &str, used: &[&str]) -> Result<SetNotes, Vec<String>> {
    let notes: SetNotes = toml::from_str(src).map_err(|e| vec![format!("{FILE}: {}", e.message())])?;
    let mut errors = Vec::new();
    for (set, note) in &notes {
        if !MEASURE_SETS.contains(&set.as_str()) {
            errors.push(format!(
                "{FILE}: unknown measure set '{set}' (known: {}){}",
                MEASURE_SETS.join(", "),
                crate::names::did_you_mean(set, MEASURE_SETS)
            ));
        }
        if note.en.trim().is_empty() || note.zh.trim().is_empty() {
            errors.push(format!("{FILE}: [\"{set}\"] needs both an en and a zh-CN text"));
        }
    }
    for set in used {
        if !notes.contains_key(*set) {
            errors.push(format!("{FILE}: no [\"{set}\"] note, although rules name that measure set"));
        }
    }
    if errors.is_empty() {
        Ok(notes)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_per_set_the_rules_name_known_sets_only_both_languages() {
        let ok = "[CMS]\nen = \"US measures\"\n\"zh-CN\" = \"美国指标\"\n";
        assert_eq!(parse(ok, &["CMS"]).unwrap()["CMS"].zh, "美国指标");
        let errs = parse(ok, &["CMS", "TJC"]).unwrap_err();
        assert_eq!(errs, ["measure_sets.toml: no [\"TJC\"] note, although rules name that measure set"]);
        let errs = parse("[CSM]\nen = \"x\"\n\"zh-CN\" = \"\"\n", &[]).unwrap_err();
        assert!(errs[0].contains("unknown measure set 'CSM'") && errs[0].contains("did you mean 'CMS'"), "{errs:?}");
        assert!(errs[1].contains("needs both"), "{errs:?}");
        assert!(parse("[CMS]\nen = \"x\"\n", &[]).unwrap_err()[0].contains("zh-CN"), "a missing language");
        assert!(parse("[CMS]\nen = \"x\"\n\"zh-CN\" = \"y\"\nfr = \"z\"\n", &[]).is_err(), "an unknown key");
    }
}
