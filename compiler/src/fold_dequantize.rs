//! After lowering: every `dequantize` of a constant becomes the f32 constant it computes, so a
//! float op left in an integer graph reads its weight as floats stored in the library, and no
//! library dequantizes a weight on every run.
//!
//! Why not a rule or the e-graph analysis: the lowering rules must see `dequantize(w)` to build
//! integer ops from it, and a folded f32 copy of every weight in the e-graph would double its
//! memory for the few that end up read by a float op. After extraction the few that are left
//! are known, and folding them is one pass.
//!
//! Before: a verified model. After: the same model, with no dequantize of a weight; the values
//! are bit for bit those the interpreter's `dequantize` computes at run time.

use crate::interp::quant_params;
use crate::ir::model::{Model, WeightData};
use crate::ir::types::TensorType;
use crate::ir::OpKind;
use runtime::Tensor;
use std::sync::Arc;

/// Replaces each `dequantize(@w)` by an f32 weight of the same name holding its values.
/// Returns the names of the folded values.
pub fn fold_constant_dequantize(model: &mut Model) -> Vec<String> {
    let mut folded = vec![];
    for id in model.ops_in_order() {
        if model.node(id).op().map(|o| o.kind) != Some(OpKind::Dequantize) {
            continue;
        }
        // (A weight cannot be a model's output: such a dequantize stays.)
        if model.outputs.contains(&id) {
            continue;
        }
        let src = model.operands(id)[0];
        let (Some(t), Some(q)) = (
            model.node(src).weight().cloned(),
            quant_params(&model.node(src).ty),
        ) else {
            continue;
        };
        let values = Tensor::F32(runtime::ops::dequantize(&t, &q));
        let shape = model.node(id).ty.shape.clone();
        let data = if values.len() <= crate::egraph::convert::INLINE_LIMIT {
            WeightData::Inline(Arc::new(values))
        } else {
            WeightData::Loaded(Arc::new(values))
        };
        // The weight takes the dequantize's name (what the float op's operand was called).
        let name = model.node(id).name.clone();
        model.node_mut(id).name = model.fresh_name(&format!("{name}_folded"));
        let w = model.add_weight(name.clone(), TensorType::f32(shape), data);
        model.replace_all_uses(id, w);
        folded.push(name);
    }
    if !folded.is_empty() {
        model.remove_dead();
    }
    folded
}
