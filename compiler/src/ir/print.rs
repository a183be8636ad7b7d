//! The canonical text of a model: weights sorted by name, inputs in signature order, ops in
//! `Model::topo_order`, attributes in schema order, floats that read back to the same bits.
//! `parse(print(m))` rebuilds `m`, and printing that gives the same text again.

use crate::ir::attr::Attr;
use crate::ir::model::{Model, NodeId, NodeKind, WeightData};
use crate::ir::op::Op;
use crate::ir::types::{fmt_f32, fmt_f64};
use runtime::Tensor;
use std::fmt::Write;

/// The model as canonical text.
pub fn print(model: &Model) -> String {
    print_with_weights_file(model, model.weights_file.as_deref())
}

/// The model's text with another `weights "…"` clause (or none): what `save_model` writes.
pub(crate) fn print_with_weights_file(model: &Model, weights_file: Option<&str>) -> String {
    let mut out = format!("model @{}", model.name);
    if let Some(f) = weights_file {
        // `{:?}` escapes exactly what the grammar's string literal unescapes.
        let _ = write!(out, " weights {f:?}");
    }
    out.push_str(" {\n");
    for id in model.weights() {
        let n = model.node(id);
        let _ = write!(out, "  weight @{} : {}", n.name, n.ty);
        if let NodeKind::Weight(WeightData::Inline(t)) = &n.kind {
            let _ = write!(out, " = dense<[{}]>", elements(t));
        }
        out.push('\n');
    }
    for &id in &model.inputs {
        if let Some(n) = model.graph.node_weight(id) {
            let _ = writeln!(out, "  %{} = input : {}", n.name, n.ty);
        }
    }
    for id in model.ops_in_order() {
        let n = model.node(id);
        let NodeKind::Op(op) = &n.kind else { continue };
        let operands: Vec<String> = model
            .operands(id)
            .into_iter()
            .map(|o| value_ref(model, o))
            .collect();
        let _ = write!(
            out,
            "  %{} = {}({})",
            n.name,
            op.kind.name(),
            operands.join(", ")
        );
        let attrs = attrs_in_order(op);
        if !attrs.is_empty() {
            let list: Vec<String> = attrs.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            let _ = write!(out, " {{{}}}", list.join(", "));
        }
        let _ = writeln!(out, " : {}", n.ty);
    }
    let outputs: Vec<String> = model.outputs.iter().map(|&o| value_ref(model, o)).collect();
    let _ = writeln!(out, "  return {}", outputs.join(", "));
    out.push_str("}\n");
    out
}

/// An op's attributes in the order the text shows them: the schema's order first, then any the
/// schema does not know (a pass's bug, which the verifier reports), by name, so that nothing is
/// silently lost.
pub fn attrs_in_order(op: &Op) -> Vec<(&str, &Attr)> {
    let schema = op.kind.schema();
    let mut attrs: Vec<(&str, &Attr)> = schema
        .attrs
        .iter()
        .filter_map(|s| op.attrs.get(s.name).map(|v| (s.name, v)))
        .collect();
    attrs.extend(
        op.attrs
            .iter()
            .filter(|(k, _)| schema.attr(k).is_none())
            .map(|(k, v)| (k.as_str(), v)),
    );
    attrs
}

/// `%x` for inputs and op results, `@w` for weights. A pass that leaves a dangling reference
/// still gets its model printed (the verifier says what is wrong).
fn value_ref(model: &Model, id: NodeId) -> String {
    match model.graph.node_weight(id) {
        Some(n) if n.is_weight() => format!("@{}", n.name),
        Some(n) => format!("%{}", n.name),
        None => "%<removed>".to_string(),
    }
}

/// The elements of a tensor, flat in row-major order.
fn elements(t: &Tensor) -> String {
    let items: Vec<String> = match t {
        Tensor::F32(a) => a.iter().map(|&v| fmt_f32(v)).collect(),
        Tensor::I8(a) => a.iter().map(|v| v.to_string()).collect(),
        Tensor::U8(a) => a.iter().map(|v| v.to_string()).collect(),
        Tensor::I32(a) => a.iter().map(|v| v.to_string()).collect(),
        Tensor::F64(a) => a.iter().map(|&v| fmt_f64(v)).collect(),
        // An f16 is exact as an f32, and parses back through one.
        Tensor::F16(a) => a.iter().map(|&v| fmt_f32(v.to_f32())).collect(),
        Tensor::I16(a) => a.iter().map(|v| v.to_string()).collect(),
        Tensor::U16(a) => a.iter().map(|v| v.to_string()).collect(),
        Tensor::U32(a) => a.iter().map(|v| v.to_string()).collect(),
        Tensor::I64(a) => a.iter().map(|v| v.to_string()).collect(),
        Tensor::U64(a) => a.iter().map(|v| v.to_string()).collect(),
        Tensor::Bool(a) => a.iter().map(|&v| (v as u8).to_string()).collect(),
    };
    items.join(", ")
}
