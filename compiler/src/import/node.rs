//! One ONNX node as the op converters see it: its name for messages, its opset, and typed access
//! to its attributes (a wrong attribute type is an error naming the node, never a panic).

use crate::diag::Error;
use onnx_protobuf::{AttributeProto, NodeProto, TensorProto};

/// `AttributeProto.AttributeType` codes.
mod attr_type {
    pub const UNDEFINED: i32 = 0;
    pub const FLOAT: i32 = 1;
    pub const INT: i32 = 2;
    pub const STRING: i32 = 3;
    pub const TENSOR: i32 = 4;
    pub const FLOATS: i32 = 6;
    pub const INTS: i32 = 7;
    pub const STRINGS: i32 = 8;
}

/// A node of the ONNX graph being imported.
pub struct OnnxNode<'a> {
    pub proto: &'a NodeProto,
    /// The version of the default ONNX opset the model imports.
    pub opset: i64,
    label: String,
    /// The attributes a converter asked for: any other one would be silently ignored, and an
    /// ignored attribute may change what the op computes.
    read: std::cell::RefCell<Vec<String>>,
}

impl<'a> OnnxNode<'a> {
    pub fn new(proto: &'a NodeProto, opset: i64) -> OnnxNode<'a> {
        // Node names are optional in ONNX; the first output name identifies an unnamed node.
        let name = if !proto.name.is_empty() {
            proto.name.as_str()
        } else {
            proto.output.first().map(String::as_str).unwrap_or("")
        };
        let label = format!("node `{name}` ({})", proto.op_type);
        OnnxNode {
            proto,
            opset,
            label,
            read: Default::default(),
        }
    }

    pub fn op_type(&self) -> &'a str {
        &self.proto.op_type
    }

    /// `node `Conv_0` (Conv)`, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// An error whose sentence starts with the node: `fail("has no input")`.
    pub fn fail(&self, rest: impl std::fmt::Display) -> Error {
        Error::Msg(format!("{} {rest}", self.label))
    }

    /// The name of input `i`, `None` when absent or left empty (ONNX's way to skip an optional input).
    pub fn input_name(&self, i: usize) -> Option<&'a str> {
        self.proto
            .input
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The name of output `i`, `None` when absent or empty.
    pub fn output_name(&self, i: usize) -> Option<&'a str> {
        self.proto
            .output
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The first output, which every supported op has.
    pub fn output(&self) -> Result<&'a str, Error> {
        self.output_name(0)
            .ok_or_else(|| self.fail("has no output"))
    }

    fn attr(&self, name: &str, want: i32, kind: &str) -> Result<Option<&'a AttributeProto>, Error> {
        self.read.borrow_mut().push(name.to_string());
        match self.proto.attribute.iter().find(|a| a.name == name) {
            None => Ok(None),
            Some(a) if a.type_.value() == want || a.type_.value() == attr_type::UNDEFINED => {
                Ok(Some(a))
            }
            Some(_) => Err(self.fail(format!("has an attribute `{name}` that is not {kind}"))),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, Error> {
        Ok(self.attr(name, attr_type::INT, "an integer")?.map(|a| a.i))
    }
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, Error> {
        Ok(self.int(name)?.unwrap_or(default))
    }
    pub fn float(&self, name: &str) -> Result<Option<f32>, Error> {
        Ok(self.attr(name, attr_type::FLOAT, "a float")?.map(|a| a.f))
    }
    pub fn float_or(&self, name: &str, default: f32) -> Result<f32, Error> {
        Ok(self.float(name)?.unwrap_or(default))
    }
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, Error> {
        Ok(self
            .attr(name, attr_type::INTS, "a list of integers")?
            .map(|a| a.ints.clone()))
    }
    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, Error> {
        Ok(self
            .attr(name, attr_type::FLOATS, "a list of floats")?
            .map(|a| a.floats.clone()))
    }
    pub fn string(&self, name: &str) -> Result<Option<String>, Error> {
        Ok(self
            .attr(name, attr_type::STRING, "a string")?
            .map(|a| String::from_utf8_lossy(&a.s).into_owned()))
    }
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, Error> {
        Ok(self
            .attr(name, attr_type::STRINGS, "a list of strings")?
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            }))
    }
    pub fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>, Error> {
        match self.attr(name, attr_type::TENSOR, "a tensor")? {
            None => Ok(None),
            Some(a) => a.t.as_ref().map(Some).ok_or_else(|| {
                self.fail(format!("has a tensor attribute `{name}` without a tensor"))
            }),
        }
    }

    /// Attributes whose value does not change what the converter imports (they are read,
    /// for the record, so that [`OnnxNode::unread_attribute`] does not refuse them).
    pub fn no_effect(&self, names: &[&str]) {
        self.read
            .borrow_mut()
            .extend(names.iter().map(|n| n.to_string()));
    }

    /// Marks as read what another view of this node read: a converter that rewrites a node
    /// (1-D lifted to 2-D) reads the rewritten copy's attributes, which are this node's.
    pub fn read_as(&self, other: &OnnxNode<'_>) {
        let theirs = other.read.borrow().clone();
        self.read.borrow_mut().extend(theirs);
    }

    /// An attribute of the node that its converter never read: refused rather than ignored.
    pub fn unread_attribute(&self) -> Option<&'a str> {
        let read = self.read.borrow();
        self.proto
            .attribute
            .iter()
            .map(|a| a.name.as_str())
            .find(|a| !read.iter().any(|r| r == a))
    }

    /// An attribute that must be absent or hold one particular value (`training_mode = 0`).
    pub fn expect_int(&self, name: &str, allowed: i64, why: &str) -> Result<(), Error> {
        match self.int(name)? {
            Some(v) if v != allowed => Err(self.fail(format!("has {name} = {v}; {why}"))),
            _ => Ok(()),
        }
    }

    /// Normalises an axis of a rank-`rank` value: `-1` is the last axis.
    pub fn axis(&self, axis: i64, rank: usize, what: &str) -> Result<usize, Error> {
        let r = rank as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if a < 0 || a >= r {
            return Err(self.fail(format!(
                "has {what} {axis}, out of range for a value of rank {rank}"
            )));
        }
        Ok(a as usize)
    }

    /// Normalises a list of axes; duplicates are an error.
    pub fn axes(&self, axes: &[i64], rank: usize, what: &str) -> Result<Vec<usize>, Error> {
        let mut out = Vec::with_capacity(axes.len());
        for &a in axes {
            let n = self.axis(a, rank, what)?;
            if out.contains(&n) {
                return Err(self.fail(format!("lists axis {a} twice in its {what}")));
            }
            out.push(n);
        }
        Ok(out)
    }
}
