//! File-format targets: value sets, mapping tables, model manifests, the configuration
//! file, prompt templates and knowledge-base passages. Each reads UTF-8 text (invalid
//! UTF-8 is refused before the parser, as the loaders' `read_to_string` refuses it) and
//! must answer with a value or with errors that carry a message and a position inside
//! the text.

use super::{check_position, Verdict};
use crate::rules::valueset::ValueSets;

const PATH: &str = "fuzz.toml";

/// The local code systems the targets configure (those of the example mapping tables).
fn local_systems() -> Vec<String> {
    ["LOCAL", "HIS-DRUG", "LIS"].map(String::from).to_vec()
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The position must be inside `src` (a line past the last one is where an unterminated
/// construct ends).
fn check_in(
    what: &str,
    src: &str,
    (expected, path): (&str, &str),
    line: u64,
    column: u64,
    zero_allowed: bool,
    message: &str,
) {
    assert_eq!(path, expected, "{what}: an error names another file");
    check_position(what, line, column, zero_allowed, message);
    let lines = src.split('\n').count() as u64;
    assert!(line <= lines + 1, "{what}: line {line} beyond the {lines} lines of the input");
}

/// A value set's or mapping table's `name` must match its file name: name the file after
/// the document's `name`.
fn named_path(dir: &str, src: &str) -> String {
    let name = toml::from_str::<toml::Table>(src).ok().and_then(|t| t.get("name")?.as_str().map(str::to_string));
    format!("{dir}/{}.toml", name.as_deref().unwrap_or("fuzz").replace(['/', '\\', '.'], "_"))
}

fn verdict<T, E>(r: &Result<T, Vec<E>>, what: &str) -> Verdict {
    match r {
        Ok(_) => Verdict::Accepted,
        Err(errors) => {
            assert!(!errors.is_empty(), "{what}: an error list without errors");
            Verdict::Rejected
        }
    }
}

/// Target `value_set`: [`crate::rules::valueset::parse_value_set`].
pub fn value_set_toml(data: &[u8]) -> Verdict {
    let Some(src) = text(data) else { return Verdict::Rejected };
    let path = named_path("valuesets", src);
    let r = crate::rules::valueset::parse_value_set(&path, src, &local_systems());
    for e in r.as_ref().err().into_iter().flatten() {
        check_in("value set", src, (&path, &e.path), e.line.into(), e.column.into(), false, &e.message);
    }
    verdict(&r, "value set")
}

/// The value sets of `rules_dir/valuesets` (what mapping tables may name); unreadable or
/// invalid files are skipped.
pub fn shipped_value_sets(rules_dir: &std::path::Path) -> ValueSets {
    let mut sets = ValueSets::default();
    let mut paths: Vec<_> = std::fs::read_dir(rules_dir.join("valuesets"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    for p in paths {
        let Ok(src) = std::fs::read_to_string(&p) else { continue };
        let rel = format!("valuesets/{}", p.file_name().unwrap_or_default().to_string_lossy());
        if let Ok(set) = crate::rules::valueset::parse_value_set(&rel, &src, &[]) {
            let _ = sets.insert(set);
        }
    }
    sets
}

/// Target `mapping`: [`crate::rules::mapping::parse_mapping`] against `value_sets`
/// (see [`shipped_value_sets`]).
pub fn mapping_toml(data: &[u8], value_sets: &ValueSets) -> Verdict {
    let Some(src) = text(data) else { return Verdict::Rejected };
    let path = named_path("mappings", src);
    let r = crate::rules::mapping::parse_mapping(&path, src, &local_systems(), value_sets);
    for e in r.as_ref().err().into_iter().flatten() {
        check_in("mapping", src, (&path, &e.path), e.line.into(), e.column.into(), false, &e.message);
    }
    verdict(&r, "mapping")
}

/// Target `manifest`: [`crate::risk::manifest::parse`] (positions may be `0:0`, "unknown",
/// for problems of the whole file).
pub fn model_manifest(data: &[u8]) -> Verdict {
    let Some(src) = text(data) else { return Verdict::Rejected };
    // The id must equal the model directory's name: name the directory after the id.
    let id = toml::from_str::<toml::Table>(src).ok().and_then(|t| t.get("id")?.as_str().map(str::to_string));
    let r = crate::risk::manifest::parse(src, id.as_deref().unwrap_or("fuzz-model"));
    for e in r.as_ref().err().into_iter().flatten() {
        check_in("manifest", src, (PATH, PATH), e.line.into(), e.column.into(), true, &e.message);
    }
    verdict(&r, "manifest")
}

/// Target `config`: the layered settings with `data` as the configuration file
/// ([`crate::config::Settings::load_toml_str`]); every problem has a message and either a
/// key or, for a problem of the file as a whole (a TOML syntax error), a file position.
pub fn config_toml(data: &[u8]) -> Verdict {
    let Some(src) = text(data) else { return Verdict::Rejected };
    match crate::config::Settings::load_toml_str(src) {
        Ok(_) => Verdict::Accepted,
        Err(e) => {
            assert!(!e.problems.is_empty(), "config: an error without problems");
            for p in &e.problems {
                assert!(!p.message.is_empty(), "config: a problem without a message: {p:?}");
                let located =
                    matches!(p.origin, crate::config::Origin::File { line, column, .. } if line > 0 && column > 0);
                assert!(!p.key.is_empty() || located, "config: a problem with neither key nor file position: {p:?}");
            }
            Verdict::Rejected
        }
    }
}

/// Target `prompt_template`: [`crate::llm::template::PromptTemplate::parse`]; an accepted
/// template renders with no variables without panicking.
pub fn prompt_template(data: &[u8]) -> Verdict {
    let Some(src) = text(data) else { return Verdict::Rejected };
    match crate::llm::template::PromptTemplate::parse(PATH, src) {
        Ok(t) => {
            let _ = crate::llm::template::PromptTemplate::render(&t.user, &[]);
            Verdict::Accepted
        }
        Err(e) => {
            check_in("prompt template", src, (PATH, &e.path), e.line as u64, e.column as u64, false, &e.message);
            Verdict::Rejected
        }
    }
}

/// Target `kb_passage`: [`crate::kb::passage::parse_file`]; accepted passages build an index.
pub fn kb_passages(data: &[u8]) -> Verdict {
    let Some(src) = text(data) else { return Verdict::Rejected };
    let r = crate::kb::passage::parse_file(PATH, src, None);
    match &r {
        Ok(passages) => {
            // Duplicate ids are the index's to refuse (a value, not a panic).
            let _ = crate::kb::Index::build(passages.clone(), "fuzz".into());
        }
        Err(errors) => {
            for e in errors {
                check_in("kb passage", src, (PATH, &e.path), e.line.into(), e.column.into(), false, &e.message);
            }
        }
    }
    verdict(&r, "kb passage")
}
