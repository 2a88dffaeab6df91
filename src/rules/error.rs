//! Load errors (`path:line:col: message`) and the rules boundary error enum.
use std::fmt;

/// One problem found while compiling the rule set. Positions are 1-based; 0 means unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// File path relative to the rules directory, with `/` separators.
    pub path: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl LoadError {
    pub fn new(path: impl Into<String>, line: u32, column: u32, message: impl Into<String>) -> Self {
        Self { path: path.into(), line, column, message: message.into() }
    }

    /// An error that concerns a whole file (no position known).
    pub fn file(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(path, 0, 0, message)
    }

    /// An error at a Rhai position (line/column may be absent).
    pub fn at(path: impl Into<String>, pos: rhai::Position, message: impl Into<String>) -> Self {
        let (line, column) = pos_parts(pos);
        Self::new(path, line, column, message)
    }
}

impl From<LoadError> for crate::diagnostic::Diagnostic {
    fn from(e: LoadError) -> Self {
        Self { path: e.path, line: e.line, column: e.column, message: e.message }
    }
}

/// `(line, column)` of a Rhai position, `(0, 0)` when it has none.
pub fn pos_parts(pos: rhai::Position) -> (u32, u32) {
    let line = pos.line().unwrap_or(0) as u32;
    let column = pos.position().unwrap_or(0) as u32;
    (line, column)
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always `path:line:col: message` so editors and CI can jump to it; an unknown
        // position is printed as 1:1 (the file).
        write!(f, "{}:{}:{}: {}", self.path, self.line.max(1), self.column.max(1), self.message)
    }
}

/// A rule set that could not be compiled: every problem found, in file order.
#[derive(Debug, Clone, thiserror::Error)]
#[error("rule set rejected with {} error(s):\n{}", .0.len(), join_errors(.0))]
pub struct LoadErrors(pub Vec<LoadError>);

fn join_errors(errors: &[LoadError]) -> String {
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

/// 1-based `(line, column)` of a byte offset in `src` (column counts characters).
pub fn line_col(src: &str, byte: usize) -> (u32, u32) {
    let byte = byte.min(src.len());
    let before = &src[..src.floor_char_boundary_compat(byte)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line as u32, col as u32)
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// A TOML parse/deserialise error as a [`LoadError`] with its position.
pub fn toml_error(path: &str, src: &str, err: &toml::de::Error) -> LoadError {
    let (line, column) = err.span().map_or((0, 0), |s| line_col(src, s.start));
    LoadError::new(path, line, column, err.message().trim().to_string())
}
