//! Op families: each op added since issue 18 is one [`OpFamily`] implementation in one file of
//! this directory, holding everything the compiler knows about it (schema, type inference and
//! verification, float and integer evaluation, data-free range, cost, sampling for `qcc rules
//! check`, ONNX import and export, backend kernel or refusal), registered once in [`FAMILIES`].
//! The IR knows such an op as [`OpKind::Family`]; every stage's big `match` over `OpKind` has
//! one arm for it that calls the trait. The numerics live in `runtime::ops`, which never sees
//! the IR. ARCHITECTURE.md, "Op families", says how to add one.

use crate::backend::emit::Emitter;
use crate::backend::Step;
use crate::diag::{Error, Result};
use crate::export::graph::Graph;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::attr::Attrs;
use crate::ir::op::{AttrSpec, Op, OpKind, OperandSpec};
use crate::ir::types::TensorType;
use cranelift_module::FuncId;
use runtime::Tensor;

mod bitwise;
mod top_k;

/// A closed interval of real values (data-free ranges).
pub type Interval = (f64, f64);

/// Everything about one IR op (a family of ONNX ops, often told apart by a `fn` attribute).
/// Only the schema, `infer`, `eval`, `onnx_ops`, `import` and `export` must be written; the
/// defaults say what an index or mask op that is never quantized and has no kernel does.
pub trait OpFamily: Sync {
    /// The IR name (`snake_case`), unique across the op table.
    fn name(&self) -> &'static str;
    /// The operands, in order.
    fn operands(&self) -> OperandSpec;
    /// The attributes with their kinds and defaults: the only place a default is written.
    /// Read them with [`Op::int_of`] and its siblings, which take the default from here.
    fn attrs(&self) -> &'static [AttrSpec] {
        &[]
    }
    /// One line for docs/dsl.md's op list and `qcc rules ops`.
    fn doc(&self) -> &'static str;

    /// The result type of `op` on operands of these types, or why they do not type-check. This
    /// is also the op's verification: the verifier and the importer both call it, after the
    /// operand count and the attribute kinds were checked against the schema.
    fn infer(&self, op: &Op, operands: &[&TensorType]) -> std::result::Result<TensorType, String>;

    /// The reference (float interpreter) evaluation, matching ONNX Runtime.
    fn eval(&self, op: &Op, args: &[&Tensor]) -> std::result::Result<Tensor, String>;

    /// The evaluation inside an integer graph (docs/ir.md, "Integer semantics"). The default is
    /// [`OpFamily::eval`]: an op on indices, masks or raw integers has no quantized form, so it
    /// computes the same there; a float op must then be evaluated in one defined order.
    fn eval_int(&self, op: &Op, args: &[&Tensor]) -> std::result::Result<Tensor, String> {
        self.eval(op, args)
    }

    /// The interval holding the result, from the operands' (`range(i)`), for data-free
    /// quantization. The default: none, which is right for results that are never quantized
    /// (not f32); an op with an f32 result must say.
    fn range(
        &self,
        op: &Op,
        range: &dyn Fn(usize) -> Result<Interval>,
        operands: &[&TensorType],
    ) -> Result<Interval> {
        let _ = (range, operands);
        Err(Error::msg(format!(
            "{}: no data-free range is defined for this op",
            op.kind.name()
        )))
    }

    /// The e-graph cost in multiply-accumulates or equivalent work (the bytes written are added
    /// by the caller). The default: one per result element.
    fn cost(&self, op: &Op, operands: &[&TensorType], result: &TensorType) -> f64 {
        let _ = (op, operands);
        result.numel() as f64
    }

    /// The type of a random operand 0 for `qcc rules check` (a rule pattern rooted in or
    /// passing through this op); `c`, `h`, `w` are drawn by the sampler. The default: f32 NCHW.
    fn sample_operand(&self, c: usize, h: usize, w: usize) -> TensorType {
        TensorType::f32(vec![1, c, h, w])
    }

    /// The ONNX ops (default domain) this family imports.
    fn onnx_ops(&self) -> &'static [&'static str];
    /// Converts one ONNX node whose type is in [`OpFamily::onnx_ops`] (use [`emit`] for the
    /// common case of one op on the node's inputs).
    fn import(&self, cx: &mut Importer, n: &OnnxNode) -> Result<()>;
    /// Writes `op` as ONNX nodes computing `out` from `inputs`.
    fn export(
        &self,
        g: &mut Graph,
        op: &Op,
        inputs: Vec<String>,
        out: String,
    ) -> std::result::Result<(), String>;

    /// The backend kernel. The default refuses by name: `qcc run` interprets the op, and a
    /// library holding it is refused before code generation, never miscompiled.
    fn kernel(&self, em: &mut Emitter, name: &str, step: &Step) -> Result<(FuncId, usize)> {
        let _ = (em, name);
        Err(Error::msg(format!(
            "no kernel computes {} yet (`qcc run` interprets it)",
            step.op.kind.name()
        )))
    }
    /// Whether [`OpFamily::kernel`] computes the op (the backend tests list the others).
    fn has_kernel(&self) -> bool {
        false
    }
}

/// The one table of op families; an op's [`crate::ir::FamilyId`] is its index here.
pub static FAMILIES: &[&dyn OpFamily] = &[&bitwise::Bitwise, &top_k::TopK];

/// The IR op of the family named `name`.
pub fn kind(name: &str) -> OpKind {
    OpKind::from_name(name).expect("every family is in the op table")
}

/// The family that imports ONNX op `op_type`, if any.
pub fn importer_of(op_type: &str) -> Option<&'static dyn OpFamily> {
    FAMILIES
        .iter()
        .copied()
        .find(|f| f.onnx_ops().contains(&op_type))
}

/// Emits the family op `name` with `attrs` on inputs `inputs` of node `n` (each read as an
/// operand, constants becoming weights) and binds the node's output to it.
pub fn emit(
    cx: &mut Importer,
    n: &OnnxNode,
    name: &str,
    attrs: Attrs,
    inputs: &[usize],
) -> Result<()> {
    let mut xs = Vec::with_capacity(inputs.len());
    for &i in inputs {
        xs.push(cx.operand(n, i, &format!("input {i}"))?);
    }
    let out = n.output()?;
    let id = cx.emit(n, out, kind(name), attrs, &xs)?;
    cx.define(out, Val::Node(id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_ops_have_one_importer() {
        let mut seen = std::collections::BTreeSet::new();
        for f in FAMILIES {
            for op in f.onnx_ops() {
                assert!(seen.insert(*op), "{op} is imported by two families");
                assert!(
                    !crate::import::imports_builtin(op),
                    "{op} is imported by a family and by import/ops"
                );
            }
        }
    }
}
