//! The importer's state while it walks the ONNX graph: what each ONNX value name stands for (a
//! graph node, a constant, or the reason it cannot be used), constants turned into weights on
//! first use by a graph op, and typed op nodes added through one call to the IR's inference.

use crate::diag::Result;
use crate::import::constant::{checked_numel, Const};
use crate::import::names::{sanitize, Namer};
use crate::import::node::OnnxNode;
use crate::import::tensor;
use crate::ir::infer::{check_quant, infer};
use crate::ir::{Attr, Attrs, ElemType, Model, NodeId, Op, OpKind, TensorType, WeightData};
use onnx_protobuf::TensorProto;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Constants with at most this many elements are written inline in the IR.
pub const INLINE_MAX_ELEMENTS: usize = 16;

/// No dimension may exceed this, nor any attribute integer: the IR's arithmetic on shapes then
/// never overflows, whatever a corrupt file says.
pub const MAX_DIM: usize = 1 << 30;

/// No tensor may have more elements than this.
pub const MAX_ELEMENTS: usize = 1 << 40;

/// What an ONNX value name stands for.
#[derive(Clone, Debug)]
pub enum Val {
    /// A value of the IR graph (an input, a weight or an op result).
    Node(NodeId),
    /// A value known at import time, not (yet) in the graph.
    Const(Arc<Const>),
    /// A value that exists in ONNX but cannot be used: the sentence says why.
    Unusable(String),
}

/// The model under construction and everything needed to resolve ONNX names.
pub struct Importer<'a> {
    pub model: Model,
    vals: HashMap<String, Val>,
    /// Initializers are decoded on first use, so that one qcc cannot hold is an error only if used.
    initializers: HashMap<&'a str, &'a TensorProto>,
    namer: Namer,
    /// Weights made from constants, by ONNX name and element type: one weight per constant.
    weights: HashMap<(String, String), NodeId>,
    base_dir: Option<&'a Path>,
}

impl<'a> Importer<'a> {
    pub fn new(model: Model, base_dir: Option<&'a Path>) -> Importer<'a> {
        Importer {
            model,
            vals: HashMap::new(),
            initializers: HashMap::new(),
            namer: Namer::default(),
            weights: HashMap::new(),
            base_dir,
        }
    }

    pub fn add_initializer(&mut self, t: &'a TensorProto) {
        self.initializers.entry(t.name.as_str()).or_insert(t);
    }

    pub fn is_initializer(&self, name: &str) -> bool {
        self.initializers.contains_key(name)
    }

    /// A unique IR identifier for an ONNX name.
    pub fn fresh_name(&mut self, raw: &str) -> String {
        self.namer.fresh(raw)
    }

    /// Gives op `id` the identifier of the ONNX value `raw` when that is still free: a graph
    /// output that an elided op (Identity, Dropout, a folded scale) aliases keeps the name the
    /// model's users know it by, in the header, the JSON and `qcc run -o NAME=…`.
    pub fn name_output(&mut self, id: NodeId, raw: &str) {
        // An input keeps its own name, and an op two outputs alias keeps the first one's.
        if self.model.node(id).op().is_none()
            || self.model.node(id).name == sanitize(raw)
            || self.model.outputs.contains(&id)
        {
            return;
        }
        if let Some(name) = self.namer.claim(raw) {
            self.model.node_mut(id).name = name;
        }
    }

    /// Binds an ONNX value name (a later binding of the same name wins, as in ONNX's SSA it never happens).
    /// Whether `name` already stands for a value (an input, an initializer or a node's output).
    pub fn is_defined(&self, name: &str) -> bool {
        self.vals.contains_key(name) || self.initializers.contains_key(name)
    }

    pub fn define(&mut self, name: &str, v: Val) {
        self.vals.insert(name.to_string(), v);
    }

    /// What `name` stands for, decoding an initializer on first use.
    pub fn lookup(&mut self, name: &str) -> Option<Val> {
        if let Some(v) = self.vals.get(name) {
            return Some(v.clone());
        }
        let t = *self.initializers.get(name)?;
        let v = match tensor::decode(t, &format!("initializer `{name}`"), self.base_dir) {
            Ok(c) => Val::Const(Arc::new(c)),
            Err(m) => Val::Unusable(m),
        };
        self.vals.insert(name.to_string(), v.clone());
        Some(v)
    }

    /// Input `i` of a node, `None` when the node leaves it out.
    pub fn input(&mut self, n: &OnnxNode, i: usize) -> Result<Option<Val>> {
        let Some(name) = n.input_name(i) else {
            return Ok(None);
        };
        match self.lookup(name) {
            None => Err(n.fail(format!(
                "reads `{name}`, which no earlier node, graph input or initializer defines"
            ))),
            Some(Val::Unusable(why)) => Err(n.fail(format!("reads `{name}`, but {why}"))),
            Some(v) => Ok(Some(v)),
        }
    }

    /// Input `i` of a node, which must be there; `what` names it in the message.
    pub fn required(&mut self, n: &OnnxNode, i: usize, what: &str) -> Result<Val> {
        self.input(n, i)?
            .ok_or_else(|| n.fail(format!("lacks its input {i} ({what})")))
    }

    /// Input `i` as a constant (after folding), `None` when left out.
    pub fn constant(&mut self, n: &OnnxNode, i: usize, what: &str) -> Result<Option<Arc<Const>>> {
        match self.input(n, i)? {
            None => Ok(None),
            Some(Val::Const(c)) => Ok(Some(c)),
            Some(_) => Err(n.fail(format!(
                "needs a constant {what} (input {i}, `{}`), but it is computed at run time",
                n.input_name(i).unwrap_or_default()
            ))),
        }
    }

    /// Input `i` as a constant list of integers (shapes, axes, pads), `None` when left out.
    pub fn constant_ints(
        &mut self,
        n: &OnnxNode,
        i: usize,
        what: &str,
    ) -> Result<Option<Vec<i64>>> {
        match self.constant(n, i, what)? {
            None => Ok(None),
            Some(c) => c.ints().map(Some).ok_or_else(|| {
                n.fail(format!(
                    "needs integers for its {what}, got {}",
                    c.ty().name()
                ))
            }),
        }
    }

    /// Input `i` as a value of the graph: a constant becomes a weight of its own type.
    pub fn operand(&mut self, n: &OnnxNode, i: usize, what: &str) -> Result<NodeId> {
        let v = self.required(n, i, what)?;
        self.node_of(n, i, v)
    }

    /// Like `operand`, for an optional input.
    pub fn operand_opt(&mut self, n: &OnnxNode, i: usize) -> Result<Option<NodeId>> {
        match self.input(n, i)? {
            None => Ok(None),
            Some(v) => self.node_of(n, i, v).map(Some),
        }
    }

    fn node_of(&mut self, n: &OnnxNode, i: usize, v: Val) -> Result<NodeId> {
        let name = n.input_name(i).unwrap_or_default();
        match v {
            Val::Node(id) => Ok(id),
            Val::Const(c) => {
                let elem = plain_elem(&c).ok_or_else(|| {
                    n.fail(format!(
                        "uses the {} value `{name}` as a tensor at run time; qcc keeps {} values only as constants that fold away",
                        c.ty().name(),
                        c.ty().name()
                    ))
                })?;
                self.weight(name, &c, elem)
                    .map_err(|m| n.fail(format!("reads `{name}`, but {m}")))
            }
            Val::Unusable(why) => Err(n.fail(format!("reads `{name}`, but {why}"))),
        }
    }

    /// The weight holding constant `c` (named after its ONNX value) with element type `elem`,
    /// made on first request.
    pub fn weight(&mut self, name: &str, c: &Const, elem: ElemType) -> Result<NodeId, String> {
        let key = (name.to_string(), elem.to_string());
        if let Some(&id) = self.weights.get(&key) {
            return Ok(id);
        }
        let t = c.to_tensor().ok_or_else(|| {
            format!(
                "`{name}` is a {} value, which the IR cannot hold",
                c.ty().name()
            )
        })?;
        if t.dtype() != elem.storage() {
            return Err(format!(
                "`{name}` holds {} values where {} are needed",
                t.dtype(),
                elem.storage()
            ));
        }
        check_shape(t.shape()).map_err(|m| format!("the constant `{name}` {m}"))?;
        let ty = TensorType::new(t.shape().to_vec(), elem);
        let data = if t.len() <= INLINE_MAX_ELEMENTS {
            WeightData::Inline(Arc::new(t))
        } else {
            WeightData::Loaded(Arc::new(t))
        };
        let ir_name = self.namer.fresh(name);
        let id = self.model.add_weight(ir_name, ty, data);
        self.weights.insert(key, id);
        Ok(id)
    }

    pub fn ty(&self, id: NodeId) -> &TensorType {
        &self.model.node(id).ty
    }

    /// The shape of a value, whether in the graph or constant.
    pub fn shape(&self, v: &Val) -> Option<Vec<usize>> {
        match v {
            Val::Node(id) => Some(self.ty(*id).shape.clone()),
            Val::Const(c) => Some(c.shape().to_vec()),
            Val::Unusable(_) => None,
        }
    }

    /// Adds op `kind` applied to `operands`, named after the ONNX value `out`, typed by the IR's
    /// inference.
    pub fn emit(
        &mut self,
        n: &OnnxNode,
        out: &str,
        kind: OpKind,
        attrs: Attrs,
        operands: &[NodeId],
    ) -> Result<NodeId> {
        let op = Op::new(kind, attrs);
        check_attrs(&op).map_err(|m| n.fail(m))?;
        let ty = {
            let tys: Vec<&TensorType> = operands.iter().map(|&o| self.ty(o)).collect();
            infer(&op, &tys)
                .map_err(|m| n.fail(format!("does not type-check as {}: {m}", kind.name())))?
        };
        check_shape(&ty.shape).map_err(|m| n.fail(format!("would produce a value that {m}")))?;
        let name = self.namer.fresh(out);
        Ok(self.model.add_op(name, op, operands, ty))
    }

    /// Adds a quantize or dequantize op whose result type is given (it carries the quantization
    /// parameters, which inference cannot know), checked against the operand.
    pub fn emit_quant(
        &mut self,
        n: &OnnxNode,
        out: &str,
        kind: OpKind,
        operand: NodeId,
        ty: TensorType,
    ) -> Result<NodeId> {
        let op = Op::new(kind, Attrs::new());
        check_quant(&op, self.ty(operand), &ty)
            .map_err(|m| n.fail(format!("does not type-check as {}: {m}", kind.name())))?;
        let name = self.namer.fresh(out);
        Ok(self.model.add_op(name, op, &[operand], ty))
    }
}

/// The IR element type of a constant used as a plain weight; `None` for int64 and bool.
fn plain_elem(c: &Const) -> Option<ElemType> {
    c.to_tensor().map(|t| ElemType::from_storage(t.dtype()))
}

/// The bounds every shape of the imported graph keeps (no empty tensors either: no op needs one,
/// and several would divide by their size).
pub fn check_shape(shape: &[usize]) -> Result<(), String> {
    if let Some(axis) = shape.iter().position(|&d| d == 0) {
        return Err(format!("has no elements (axis {axis} of {shape:?} is 0)"));
    }
    if shape.iter().any(|&d| d > MAX_DIM) || checked_numel(shape).is_none_or(|n| n > MAX_ELEMENTS) {
        return Err(format!("has an implausibly large shape {shape:?}"));
    }
    Ok(())
}

fn check_attrs(op: &Op) -> Result<(), String> {
    for (name, a) in &op.attrs {
        let ints: &[i64] = match a {
            Attr::Int(v) => std::slice::from_ref(v),
            Attr::Ints(v) => v,
            _ => continue,
        };
        if let Some(v) = ints.iter().find(|v| v.unsigned_abs() > MAX_DIM as u64) {
            return Err(format!(
                "has an implausible value {v} in attribute `{name}`"
            ));
        }
    }
    Ok(())
}
