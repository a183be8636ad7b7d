//! Op attributes: the `{strides = [1, 1], groups = 1}` dictionary of an op.

use crate::ir::types::fmt_f32;
use std::collections::BTreeMap;
use std::fmt;

/// The kind an attribute must have, as declared by the op schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttrKind {
    Int,
    Float,
    Bool,
    Str,
    Ints,
    Floats,
}

impl AttrKind {
    pub fn name(self) -> &'static str {
        match self {
            AttrKind::Int => "integer",
            AttrKind::Float => "float",
            AttrKind::Bool => "boolean",
            AttrKind::Str => "string",
            AttrKind::Ints => "list of integers",
            AttrKind::Floats => "list of floats",
        }
    }
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Int(i64),
    Float(f32),
    Bool(bool),
    Str(String),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
}

impl AttrKind {
    /// The name with its article, for sentences.
    pub fn a_name(self) -> String {
        let n = self.name();
        if n.starts_with(['a', 'e', 'i', 'o', 'u']) {
            format!("an {n}")
        } else {
            format!("a {n}")
        }
    }
}

impl Attr {
    pub fn kind(&self) -> AttrKind {
        match self {
            Attr::Int(_) => AttrKind::Int,
            Attr::Float(_) => AttrKind::Float,
            Attr::Bool(_) => AttrKind::Bool,
            Attr::Str(_) => AttrKind::Str,
            Attr::Ints(_) => AttrKind::Ints,
            Attr::Floats(_) => AttrKind::Floats,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Attr::Int(v) => Some(*v),
            _ => None,
        }
    }
    pub fn as_float(&self) -> Option<f32> {
        match self {
            Attr::Float(v) => Some(*v),
            Attr::Int(v) => Some(*v as f32),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Attr::Bool(v) => Some(*v),
            _ => None,
        }
    }
    pub fn as_ints(&self) -> Option<&[i64]> {
        match self {
            Attr::Ints(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Attr::Str(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_floats(&self) -> Option<&[f32]> {
        match self {
            Attr::Floats(v) => Some(v),
            _ => None,
        }
    }
    /// Converts a value written in the text (where `1` may stand for a float) to `kind`.
    pub fn coerce(self, kind: AttrKind) -> Result<Attr, Attr> {
        match (self, kind) {
            (a, k) if a.kind() == k => Ok(a),
            (Attr::Int(v), AttrKind::Float) => Ok(Attr::Float(v as f32)),
            (Attr::Ints(v), AttrKind::Floats) => {
                Ok(Attr::Floats(v.iter().map(|&x| x as f32).collect()))
            }
            // `[]` parses as an empty integer list.
            (Attr::Floats(v), AttrKind::Ints) if v.is_empty() => Ok(Attr::Ints(vec![])),
            (a, _) => Err(a),
        }
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attr::Int(v) => write!(f, "{v}"),
            Attr::Float(v) => f.write_str(&fmt_f32(*v)),
            Attr::Bool(v) => write!(f, "{v}"),
            Attr::Str(s) => write!(f, "{s:?}"),
            Attr::Ints(v) => {
                let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                write!(f, "[{}]", s.join(", "))
            }
            Attr::Floats(v) => {
                let s: Vec<String> = v.iter().map(|&x| fmt_f32(x)).collect();
                write!(f, "[{}]", s.join(", "))
            }
        }
    }
}

/// An op's attributes, by name. A `BTreeMap` so that iteration (and so printing) never depends on
/// hashing; the printer orders them by the op schema anyway.
pub type Attrs = BTreeMap<String, Attr>;
