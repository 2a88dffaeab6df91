//! Load errors (`path:line:col: message`) and the rules boundary error enum.

use crate::diagnostic::Diagnostic;

/// A problem at a Rhai position (line/column may be absent).
pub fn at_pos(path: impl Into<String>, pos: rhai::Position, message: impl Into<crate::diagnostic::Text>) -> Diagnostic {
    let (line, column) = pos_parts(pos);
    Diagnostic::new(path, line, column, message)
}

/// `(line, column)` of a Rhai position, `(0, 0)` when it has none.
pub fn pos_parts(pos: rhai::Position) -> (u32, u32) {
    let line = pos.line().unwrap_or(0) as u32;
    let column = pos.position().unwrap_or(0) as u32;
    (line, column)
}

/// A rule set that could not be compiled: every problem found, in file order.
#[derive(Debug, Clone, thiserror::Error)]
#[error("rule set rejected with {} error(s):\n{}", .0.len(), join_errors(.0))]
pub struct LoadErrors(pub Vec<Diagnostic>);

fn join_errors(errors: &[Diagnostic]) -> String {
    errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
}

/// Errors at the rules boundary (loading, reloading, running test cases).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(transparent)]
    Load(#[from] LoadErrors),
    #[error("rules directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot watch the rules directory: {0}")]
    Watch(String),
}
