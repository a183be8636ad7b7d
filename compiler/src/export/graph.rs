//! The ONNX graph being written: value names for the IR's nodes, initializers, nodes with their
//! attributes, and the value types Netron shows on each edge.

use crate::import::dtype;
use crate::ir::{ElemType, Model, NodeId, TensorType};
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_shape_proto::{dimension::Value as Dim, Dimension};
use onnx_protobuf::type_proto::{Tensor as TensorTypeProto, Value as TypeValue};
use onnx_protobuf::{
    AttributeProto, GraphProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use runtime::DType;
use std::collections::{BTreeMap, BTreeSet};

/// The ONNX data type code of a storage type.
pub fn onnx_dtype(d: DType) -> i32 {
    match d {
        DType::F32 => dtype::FLOAT,
        DType::U8 => dtype::UINT8,
        DType::I8 => dtype::INT8,
        DType::I32 => dtype::INT32,
        DType::U16 => 4,
        DType::I16 => 5,
        DType::I64 => dtype::INT64,
        DType::Bool => dtype::BOOL,
        DType::F16 => 10,
        DType::F64 => 11,
        DType::U32 => 12,
        DType::U64 => 13,
    }
}

/// A graph under construction. Every IR node has one ONNX value name; the names the exporter
/// adds (parameters, constants, the halves of a split op) are fresh, so nothing is shadowed.
pub struct Graph {
    pub proto: GraphProto,
    names: BTreeMap<NodeId, String>,
    taken: BTreeSet<String>,
}

impl Graph {
    /// Names every node of `model`: inputs and ops keep their IR names; a weight whose name an
    /// op already has (the IR keeps `@w` and `%w` apart, ONNX does not) gets a fresh one.
    pub fn new(model: &Model) -> Graph {
        let mut g = Graph {
            proto: GraphProto {
                name: model.name.clone(),
                ..Default::default()
            },
            names: BTreeMap::new(),
            taken: BTreeSet::new(),
        };
        let order = model.topo_order().unwrap_or_default();
        for &id in order.iter().filter(|&&id| !model.node(id).is_weight()) {
            let name = g.fresh(&model.node(id).name);
            g.names.insert(id, name);
        }
        for &id in order.iter().filter(|&&id| model.node(id).is_weight()) {
            let name = g.fresh(&model.node(id).name);
            g.names.insert(id, name);
        }
        g
    }

    /// The ONNX value of an IR node.
    pub fn value(&self, id: NodeId) -> String {
        self.names[&id].clone()
    }

    /// A name nothing else has, built from `base`.
    pub fn fresh(&mut self, base: &str) -> String {
        let name = if self.taken.contains(base) {
            (1..)
                .map(|i| format!("{base}_{i}"))
                .find(|n| !self.taken.contains(n))
                .expect("some name is free")
        } else {
            base.to_string()
        };
        self.taken.insert(name.clone());
        name
    }

    /// Adds an initializer under a fresh name built from `base`.
    pub fn initializer(
        &mut self,
        base: &str,
        data_type: i32,
        dims: &[usize],
        raw: Vec<u8>,
    ) -> String {
        let name = self.fresh(base);
        self.initializer_named(name.clone(), data_type, dims, raw);
        name
    }

    /// Adds an initializer under a name already reserved.
    pub fn initializer_named(
        &mut self,
        name: String,
        data_type: i32,
        dims: &[usize],
        raw: Vec<u8>,
    ) {
        self.proto.initializer.push(TensorProto {
            name,
            data_type,
            dims: dims.iter().map(|&d| d as i64).collect(),
            raw_data: raw,
            ..Default::default()
        });
    }

    /// A 1-D int64 constant (shapes, axes, pads, slice bounds).
    pub fn ints(&mut self, base: &str, v: &[i64]) -> String {
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.initializer(base, dtype::INT64, &[v.len()], raw)
    }

    /// An f32 constant: a scalar when `dims` is empty.
    pub fn floats(&mut self, base: &str, dims: &[usize], v: &[f32]) -> String {
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.initializer(base, dtype::FLOAT, dims, raw)
    }

    /// Appends a node named after its first output.
    pub fn node(
        &mut self,
        op_type: &str,
        inputs: Vec<String>,
        outputs: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) {
        self.proto.node.push(NodeProto {
            name: outputs.first().cloned().unwrap_or_default(),
            op_type: op_type.to_string(),
            input: inputs,
            output: outputs,
            attribute,
            ..Default::default()
        });
    }

    /// Declares the type of a value (graph inputs and outputs, and every intermediate value, so
    /// a viewer shows shapes without running inference).
    pub fn value_info(name: &str, ty: &TensorType) -> ValueInfoProto {
        let shape = TensorShapeProto {
            dim: ty
                .shape
                .iter()
                .map(|&d| Dimension {
                    value: Some(Dim::DimValue(d as i64)),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        ValueInfoProto {
            name: name.to_string(),
            type_: Some(TypeProto {
                value: Some(TypeValue::TensorType(TensorTypeProto {
                    elem_type: onnx_dtype(ElemType::storage(&ty.elem)),
                    shape: Some(shape).into(),
                    ..Default::default()
                })),
                ..Default::default()
            })
            .into(),
            ..Default::default()
        }
    }
}

fn attr(name: &str, t: AttributeType) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        type_: t.into(),
        ..Default::default()
    }
}

pub fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        i: v,
        ..attr(name, AttributeType::INT)
    }
}

pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        ints: v.to_vec(),
        ..attr(name, AttributeType::INTS)
    }
}

pub fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        f: v,
        ..attr(name, AttributeType::FLOAT)
    }
}

pub fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        s: v.as_bytes().to_vec(),
        ..attr(name, AttributeType::STRING)
    }
}
