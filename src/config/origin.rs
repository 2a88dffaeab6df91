//! Where a setting's value came from, so that a problem points at the line a person has
//! to change: `path:line:col` in the configuration file, the `CDSSD__…` variable that
//! overrode it, or the embedded defaults.

use std::collections::HashMap;

use toml::de::{DeTable, DeValue};

use crate::diagnostic::line_col;

/// The layer a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origin {
    /// The embedded defaults (or a check across several settings).
    #[default]
    Embedded,
    /// The configuration file, at a 1-based line and column (0 = unknown).
    File { path: String, line: u32, column: u32 },
    /// A `CDSSD__…` environment variable.
    Env(String),
}

/// The layers a loaded configuration was built from, to look keys up in.
pub(super) struct Layers<'a> {
    /// The configuration file as shown to people, and its text.
    pub file: Option<(&'a str, &'a str)>,
    /// The `CDSSD__*` variables.
    pub env: &'a HashMap<String, String>,
}

impl Layers<'_> {
    /// The origin of the value at a dotted `key` such as `server.listen` or
    /// `encounter.local_code_systems[2]`: the environment wins over the file (as when
    /// the layers are merged), the file over the defaults.
    pub fn locate(&self, key: &str) -> Origin {
        let plain: Vec<&str> = key.split('.').map(|s| s.split('[').next().unwrap_or(s)).collect();
        if plain.iter().any(|s| s.is_empty()) {
            return Origin::Embedded;
        }
        let var = format!("CDSSD__{}", plain.iter().map(|s| s.to_uppercase()).collect::<Vec<_>>().join("__"));
        if self.env.keys().any(|k| k.eq_ignore_ascii_case(&var)) {
            return Origin::Env(var);
        }
        let Some((path, text)) = self.file else { return Origin::Embedded };
        let Ok(table) = DeTable::parse(text) else { return Origin::Embedded };
        match offset_of(table.get_ref(), key) {
            Some(offset) => {
                let (line, column) = line_col(text, offset);
                Origin::File { path: path.to_string(), line, column }
            }
            None => Origin::Embedded,
        }
    }
}

/// Byte offset of the value at a dotted key (with optional `[i]` indices) in `table`.
fn offset_of(table: &DeTable<'_>, key: &str) -> Option<usize> {
    let mut here = table;
    let mut segments = key.split('.').peekable();
    while let Some(segment) = segments.next() {
        let (name, indices) = split_indices(segment)?;
        let (k, mut value) = here.iter().find(|(k, _)| k.get_ref().as_ref() == name)?;
        let mut offset = k.span().start;
        for i in indices {
            let DeValue::Array(items) = value.get_ref() else { return Some(offset) };
            let Some(item) = items.get(i) else { return Some(offset) };
            value = item;
            offset = item.span().start;
        }
        if segments.peek().is_none() {
            return Some(offset);
        }
        match value.get_ref() {
            DeValue::Table(t) => here = t,
            // A key below a value that is not a table: point at that value.
            _ => return Some(offset),
        }
    }
    None
}

/// `name[1][2]` → `("name", [1, 2])`.
fn split_indices(segment: &str) -> Option<(&str, Vec<usize>)> {
    let (name, rest) = segment.split_once('[').map_or((segment, ""), |(n, r)| (n, r));
    let mut indices = Vec::new();
    for part in rest.split('[').filter(|p| !p.is_empty()) {
        indices.push(part.strip_suffix(']')?.parse().ok()?);
    }
    Some((name, indices))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[server]\nlisten = \"nowhere\"\n\n[encounter]\nlocal_code_systems = [\"A\", \"\"]\n\
                        [rules.limits]\nmax_operations = 0\n";

    fn at(key: &str, env: &[(&str, &str)]) -> Origin {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Layers { file: Some(("cdssd.toml", FILE)), env: &env }.locate(key)
    }

    fn file(line: u32, column: u32) -> Origin {
        Origin::File { path: "cdssd.toml".into(), line, column }
    }

    #[test]
    fn keys_of_the_file_point_at_their_line_and_column() {
        assert_eq!(at("server.listen", &[]), file(2, 1));
        assert_eq!(at("rules.limits.max_operations", &[]), file(7, 1));
        // An array element: the element itself.
        assert_eq!(at("encounter.local_code_systems[1]", &[]), file(5, 28));
        assert_eq!(at("encounter.local_code_systems", &[]), file(5, 1));
    }

    #[test]
    fn the_environment_wins_and_absent_keys_are_the_defaults() {
        assert_eq!(at("server.listen", &[("CDSSD__SERVER__LISTEN", "x")]), Origin::Env("CDSSD__SERVER__LISTEN".into()));
        assert_eq!(at("server.drain_grace_ms", &[]), Origin::Embedded);
        assert_eq!(at("metrics.listen", &[]), Origin::Embedded);
        assert_eq!(at("", &[]), Origin::Embedded);
        let none = HashMap::new();
        assert_eq!(Layers { file: None, env: &none }.locate("server.listen"), Origin::Embedded);
    }
}
