//! A small builder for ONNX models in Rust, so that import fixtures are data written in code one
//! can read (the `.onnx` files beside this one are its output, checked to match).

#![allow(dead_code)]

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_shape_proto::Dimension;
use onnx_protobuf::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use protobuf::{EnumOrUnknown, MessageField};

/// ONNX data type codes.
pub const FLOAT: i32 = 1;
pub const UINT8: i32 = 2;
pub const INT8: i32 = 3;
pub const INT32: i32 = 6;
pub const INT64: i32 = 7;
pub const BOOL: i32 = 9;
pub const FLOAT16: i32 = 10;

/// One dimension of a graph input: a size, or a symbolic name.
#[derive(Clone, Copy)]
pub enum D {
    V(i64),
    P(&'static str),
}

/// An ONNX graph under construction.
pub struct G {
    opset: i64,
    /// Opsets of other domains the model declares besides the default one.
    domains: Vec<(String, i64)>,
    graph: GraphProto,
}

impl G {
    pub fn new(opset: i64) -> G {
        G {
            opset,
            domains: vec![],
            graph: GraphProto {
                name: "test".into(),
                ..GraphProto::default()
            },
        }
    }

    /// An f32 input of a static shape.
    pub fn input(&mut self, name: &str, dims: &[i64]) -> &mut G {
        let d: Vec<D> = dims.iter().map(|&v| D::V(v)).collect();
        self.input_with(name, FLOAT, &d)
    }

    pub fn input_with(&mut self, name: &str, elem_type: i32, dims: &[D]) -> &mut G {
        self.graph
            .input
            .push(value_info(name, elem_type, Some(dims)));
        self
    }

    /// A graph output (its type is left out: qcc infers it).
    pub fn output(&mut self, name: &str) -> &mut G {
        self.graph.output.push(value_info(name, FLOAT, None));
        self
    }

    /// A graph output with its shape, as the ONNX checker's full check wants for ORT.
    pub fn output_shaped(&mut self, name: &str, dims: &[i64]) -> &mut G {
        let d: Vec<D> = dims.iter().map(|&v| D::V(v)).collect();
        self.graph.output.push(value_info(name, FLOAT, Some(&d)));
        self
    }

    pub fn init(&mut self, t: TensorProto) -> &mut G {
        self.graph.initializer.push(t);
        self
    }

    /// An f32 initializer with deterministic, varied values (only its shape matters to a test).
    pub fn weight(&mut self, name: &str, dims: &[i64]) -> &mut G {
        let n: i64 = dims.iter().product();
        let data = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 64.0)
            .collect();
        self.init(f32s(name, dims, data))
    }

    /// An f32 initializer of positive values (variances, scales).
    pub fn positive(&mut self, name: &str, dims: &[i64]) -> &mut G {
        let n: i64 = dims.iter().product();
        let data = (0..n).map(|i| 0.5 + (i % 7) as f32 / 8.0).collect();
        self.init(f32s(name, dims, data))
    }

    /// A node named `{op}_{index}` unless `name` is given.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> &mut G {
        let name = format!("{op}_{}", self.graph.node.len());
        self.named(&name, op, inputs, outputs, attrs)
    }

    pub fn named(
        &mut self,
        name: &str,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> &mut G {
        self.graph.node.push(NodeProto {
            name: name.into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute: attrs,
            ..NodeProto::default()
        });
        self
    }

    /// A node of another domain.
    pub fn custom(&mut self, domain: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> &mut G {
        self.node(op, inputs, outputs, vec![]);
        if let Some(n) = self.graph.node.last_mut() {
            n.domain = domain.into();
        }
        self
    }

    /// Declares an opset of another domain (`ai.onnx.ml`), listed before the default one.
    pub fn declare(&mut self, domain: &str, version: i64) -> &mut G {
        self.domains.push((domain.into(), version));
        self
    }

    pub fn build(&self) -> ModelProto {
        let opset = |domain: &str, version: i64| OperatorSetIdProto {
            domain: domain.into(),
            version,
            ..Default::default()
        };
        let mut opset_import: Vec<OperatorSetIdProto> =
            self.domains.iter().map(|(d, v)| opset(d, *v)).collect();
        opset_import.push(opset("", self.opset));
        ModelProto {
            ir_version: 8,
            producer_name: "qcc-tests".into(),
            opset_import,
            graph: MessageField::some(self.graph.clone()),
            ..ModelProto::default()
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        protobuf::Message::write_to_bytes(&self.build()).expect("a built model serializes")
    }
}

fn value_info(name: &str, elem_type: i32, dims: Option<&[D]>) -> ValueInfoProto {
    let mut t = type_proto::Tensor {
        elem_type,
        ..Default::default()
    };
    if let Some(dims) = dims {
        let mut shape = TensorShapeProto::new();
        for d in dims {
            let mut dim = Dimension::new();
            match d {
                D::V(v) => dim.set_dim_value(*v),
                D::P(p) => dim.set_dim_param(p.to_string()),
            }
            shape.dim.push(dim);
        }
        t.shape = MessageField::some(shape);
    }
    let ty = TypeProto {
        value: Some(type_proto::Value::TensorType(t)),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        type_: MessageField::some(ty),
        ..Default::default()
    }
}

fn tensor(name: &str, data_type: i32, dims: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type,
        dims: dims.to_vec(),
        ..Default::default()
    }
}

pub fn f32s(name: &str, dims: &[i64], v: Vec<f32>) -> TensorProto {
    TensorProto {
        float_data: v,
        ..tensor(name, FLOAT, dims)
    }
}

/// f32 values as raw little-endian bytes, the way most exporters write large tensors.
pub fn f32s_raw(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..tensor(name, FLOAT, dims)
    }
}

pub fn i64s(name: &str, dims: &[i64], v: Vec<i64>) -> TensorProto {
    TensorProto {
        int64_data: v,
        ..tensor(name, INT64, dims)
    }
}

pub fn i32s(name: &str, dims: &[i64], v: Vec<i32>) -> TensorProto {
    TensorProto {
        int32_data: v,
        ..tensor(name, INT32, dims)
    }
}

pub fn i8s(name: &str, dims: &[i64], v: Vec<i8>) -> TensorProto {
    TensorProto {
        int32_data: v.into_iter().map(i32::from).collect(),
        ..tensor(name, INT8, dims)
    }
}

pub fn u8s(name: &str, dims: &[i64], v: Vec<u8>) -> TensorProto {
    TensorProto {
        raw_data: v,
        ..tensor(name, UINT8, dims)
    }
}

pub fn bools(name: &str, dims: &[i64], v: Vec<bool>) -> TensorProto {
    TensorProto {
        raw_data: v.into_iter().map(u8::from).collect(),
        ..tensor(name, BOOL, dims)
    }
}

pub fn f16_zeros(name: &str, dims: &[i64]) -> TensorProto {
    let n: i64 = dims.iter().product();
    TensorProto {
        raw_data: vec![0; 2 * n as usize],
        ..tensor(name, FLOAT16, dims)
    }
}

fn attr(name: &str, ty: AttributeType) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: EnumOrUnknown::new(ty),
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

pub fn floats(name: &str, v: &[f32]) -> AttributeProto {
    AttributeProto {
        floats: v.to_vec(),
        ..attr(name, AttributeType::FLOATS)
    }
}

pub fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        s: v.as_bytes().to_vec(),
        ..attr(name, AttributeType::STRING)
    }
}

pub fn tensor_attr(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        t: MessageField::some(t),
        ..attr(name, AttributeType::TENSOR)
    }
}
