//! Repairs of the merged configuration tree: a value that cannot be read is replaced by its
//! embedded default, or dropped (an unknown key, or one without a default), so that
//! [`super::Settings::load`] can read and validate every other key and report all problems.

use config::{Map, Value, ValueKind};

/// Replace the value at dotted `path` (a list index such as `a.b[2]` means the whole list)
/// with its embedded default, or drop it when `drop` is set or there is no default. `false`
/// when nothing at `path` could be changed (the caller stops reading then).
pub(super) fn repair(tree: &mut Map<String, Value>, path: &str, drop: bool) -> bool {
    let path = path.split('[').next().unwrap_or(path);
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let Some((last, parents)) = parts.split_last() else { return false };
    let default = if drop { None } else { embedded_value(&parts) };
    let Some(table) = table_at(tree, parents) else { return false };
    match default {
        Some(v) => {
            let changed = table.get(*last).is_none_or(|old| old.to_string() != v.to_string());
            table.insert((*last).to_string(), v);
            changed
        }
        None => table.remove(*last).is_some(),
    }
}

/// The table at `parents` (the root for none).
fn table_at<'a>(tree: &'a mut Map<String, Value>, parents: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut table = tree;
    for p in parents {
        match &mut table.get_mut(*p)?.kind {
            ValueKind::Table(t) => table = t,
            _ => return None,
        }
    }
    Some(table)
}

/// The embedded default at `parts`, if there is one.
fn embedded_value(parts: &[&str]) -> Option<Value> {
    let defaults = config::Config::builder()
        .add_source(config::File::from_str(super::EMBEDDED_DEFAULTS, config::FileFormat::Toml))
        .build()
        .ok()?;
    let mut tree = config::Source::collect(&defaults).ok()?;
    let (last, parents) = parts.split_last()?;
    table_at(&mut tree, parents)?.remove(*last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(toml: &str) -> Map<String, Value> {
        let c = config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .unwrap();
        config::Source::collect(&c).unwrap()
    }

    #[test]
    fn a_bad_value_takes_its_default_and_an_unknown_key_is_dropped() {
        let mut t = tree("[server]\ndrain_grace_ms = \"soon\"\nlisten_addr = \"x\"\n");
        assert!(repair(&mut t, "server.drain_grace_ms", false));
        let ValueKind::Table(server) = &t["server"].kind else { panic!() };
        let embedded = embedded_value(&["server", "drain_grace_ms"]).unwrap();
        assert_eq!(server["drain_grace_ms"].to_string(), embedded.to_string());
        assert!(repair(&mut t, "server.listen_addr", true));
        assert!(!repair(&mut t, "server.listen_addr", true), "already gone");
        assert!(!repair(&mut t, "nowhere.at.all", false), "no table there");
    }
}
