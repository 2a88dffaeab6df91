//! A problem at a position in a file: `path:line:col: message`, the shape every loader
//! reports (rules, value sets, manifests, templates, the knowledge base) and the one the
//! reload outcome carries ([`crate::reload::Outcome`]) and `cdss.v1.LoadError` shows.

use std::fmt;

use crate::proto::v1 as pb;

/// One problem found while loading a file. Positions are 1-based; 0 means unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File path relative to the component's directory (or as configured), `/` separators.
    pub path: String,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    /// A problem at `line:column` of `path`.
    pub fn new(path: impl Into<String>, line: u32, column: u32, message: impl Into<String>) -> Self {
        Self { path: path.into(), line, column, message: message.into() }
    }

    /// A problem of a whole file (no position known).
    pub fn file(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(path, 0, 0, message)
    }

    /// As `cdss.v1.LoadError`.
    pub fn to_proto(&self) -> pb::LoadError {
        pb::LoadError { path: self.path.clone(), line: self.line, column: self.column, message: self.message.clone() }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.line, self.column) {
            (true, _, _) => f.write_str(&self.message),
            (false, 0, _) => write!(f, "{}: {}", self.path, self.message),
            (false, l, 0) => write!(f, "{}:{l}: {}", self.path, self.message),
            (false, l, c) => write!(f, "{}:{l}:{c}: {}", self.path, self.message),
        }
    }
}
