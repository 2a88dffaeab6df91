//! Field paths like `encounter.labs[3].quantity.unit`, built lazily: a path
//! is a chain of borrowed segments on the stack and becomes a `String` only
//! when a violation is recorded.

use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, Copy)]
enum Segment {
    /// A named field (`.name`; the root is written without a dot).
    Field(&'static str),
    /// A list position (`[i]`).
    Index(usize),
}

/// A field path: a segment and the path it extends (a reference to a path on
/// the caller's stack). Small and `Copy`: passing one down costs nothing.
#[derive(Debug, Clone, Copy)]
pub(super) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment,
}

impl Path<'static> {
    /// The root of every path: `encounter`.
    pub fn root() -> Self {
        Path { parent: None, segment: Segment::Field("encounter") }
    }
}

impl<'a> Path<'a> {
    /// `self.name`.
    pub fn field(&'a self, name: &'static str) -> Path<'a> {
        Path { parent: Some(self), segment: Segment::Field(name) }
    }

    /// The list an item path is in: `vitals` for `encounter.vitals[2]`.
    pub fn list(&self) -> Option<&'static str> {
        match (self.segment, self.parent.map(|p| p.segment)) {
            (Segment::Index(_), Some(Segment::Field(name))) => Some(name),
            _ => None,
        }
    }

    /// `self[i]`.
    pub fn index(&'a self, i: usize) -> Path<'a> {
        Path { parent: Some(self), segment: Segment::Index(i) }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match (self.segment, self.parent) {
            (Segment::Field(name), None) => f.write_str(name),
            (Segment::Field(name), Some(_)) => write!(f, ".{name}"),
            (Segment::Index(i), _) => write!(f, "[{i}]"),
        }
    }
}
