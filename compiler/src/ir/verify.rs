//! The verifier: what must hold of every model between passes (it runs after parsing, after
//! import and, in tests, after every pass). It reports every problem it finds, per node.

use crate::diag::{Diagnostic, Error, Source, Span};
use crate::ir::infer::expected_type;
use crate::ir::model::{Model, NodeId, NodeKind};
use crate::ir::types::TensorType;
use runtime::DType;
use std::collections::BTreeMap;

/// One broken invariant, attached to the node where it shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub node: Option<NodeId>,
    pub message: String,
}

/// Problems with a type on its own (quantization parameters that make no sense).
pub fn check_type(t: &TensorType) -> Option<String> {
    let q = t.elem.quant()?;
    if !matches!(q.storage, DType::I8 | DType::U8 | DType::I16 | DType::I32) {
        return Some(format!(
            "{t}: a quantized type is stored as i8, u8, i16 or i32, not {}",
            q.storage
        ));
    }
    if q.scales.len() != q.zero_points.len() {
        return Some(format!(
            "{t}: {} scales but {} zero points",
            q.scales.len(),
            q.zero_points.len()
        ));
    }
    if let Some(s) = q.scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Some(format!("{t}: scale {s} is not a positive finite number"));
    }
    // Other storage was refused above, so the range exists.
    let (lo, hi) = runtime::qops::qrange(q.storage);
    let (lo, hi) = (lo as i64, hi as i64);
    if let Some(z) = q
        .zero_points
        .iter()
        .find(|&&z| (z as i64) < lo || (z as i64) > hi)
    {
        return Some(format!(
            "{t}: zero point {z} is outside the range of {}",
            q.storage
        ));
    }
    match q.axis {
        None if q.scales.len() != 1 => {
            Some(format!("{t}: a per-tensor type has exactly one scale"))
        }
        Some(a) if a >= t.rank() => Some(format!(
            "{t}: quantization axis {a} is out of range for rank {}",
            t.rank()
        )),
        Some(a) if q.scales.len() != t.shape[a] => Some(format!(
            "{t}: axis {a} has {} entries but the type has {} scales",
            t.shape[a],
            q.scales.len()
        )),
        _ => None,
    }
}

/// Every broken invariant of the model.
pub fn verify(model: &Model) -> Vec<Problem> {
    let mut out = vec![];
    let mut bad = |node: Option<NodeId>, message: String| out.push(Problem { node, message });
    let g = &model.graph;

    let mut names: BTreeMap<(bool, &str), NodeId> = BTreeMap::new();
    for id in g.node_indices() {
        let n = &g[id];
        let sigil = if n.is_weight() { '@' } else { '%' };
        if let Some(first) = names.insert((n.is_weight(), n.name.as_str()), id) {
            if first != id {
                bad(Some(id), format!("{sigil}{} is defined twice", n.name));
            }
        }
        if let Some(m) = check_type(&n.ty) {
            bad(Some(id), format!("{sigil}{}: {m}", n.name));
        }
    }
    if model.outputs.is_empty() {
        bad(None, "the model returns nothing".into());
    }
    for &o in &model.outputs {
        if !g.contains_node(o) {
            bad(
                None,
                "the model returns a value that no longer exists".into(),
            );
        }
    }
    for &i in &model.inputs {
        if !g.contains_node(i) || g[i].kind != NodeKind::Input {
            bad(
                None,
                "an entry of the input list is not an input node".into(),
            );
        }
    }
    let Some(order) = model.topo_order() else {
        bad(None, "the graph has a cycle".into());
        return out;
    };

    for id in order {
        let n = &g[id];
        let operands = model.operands(id);
        match &n.kind {
            NodeKind::Input => {
                if !operands.is_empty() {
                    bad(Some(id), format!("input %{} has operands", n.name));
                }
                if !model.inputs.contains(&id) {
                    bad(
                        Some(id),
                        format!("input %{} is not in the input list", n.name),
                    );
                }
            }
            NodeKind::Weight(data) => {
                if !operands.is_empty() {
                    bad(Some(id), format!("weight @{} has operands", n.name));
                }
                if let Some(t) = data.tensor() {
                    if t.shape() != n.ty.shape.as_slice() || t.dtype() != n.ty.elem.storage() {
                        bad(
                            Some(id),
                            format!(
                                "weight @{}: declared {} but its data is {} {}",
                                n.name,
                                n.ty,
                                crate::ir::types::fmt_shape(t.shape()),
                                t.dtype()
                            ),
                        );
                    }
                }
            }
            NodeKind::Op(op) => {
                let schema = op.kind.schema();
                let slots: Vec<usize> = {
                    let mut v: Vec<usize> = model
                        .graph
                        .edges_directed(id, petgraph::Direction::Incoming)
                        .map(|e| *e.weight())
                        .collect();
                    v.sort();
                    v
                };
                if slots.iter().enumerate().any(|(i, &s)| i != s) {
                    bad(
                        Some(id),
                        format!(
                            "%{}: operand slots {slots:?} are not 0..{}",
                            n.name,
                            slots.len()
                        ),
                    );
                    continue;
                }
                let (lo, hi) = schema.arity();
                if operands.len() < lo || operands.len() > hi {
                    let want = if hi == usize::MAX {
                        format!("at least {lo}")
                    } else if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo} to {hi}")
                    };
                    bad(
                        Some(id),
                        format!(
                            "{} takes {want} operands, got {}",
                            schema.name,
                            operands.len()
                        ),
                    );
                    continue;
                }
                let mut attrs_ok = true;
                for (name, value) in &op.attrs {
                    match schema.attr(name) {
                        None => {
                            attrs_ok = false;
                            bad(
                                Some(id),
                                format!("{} has no attribute `{name}`", schema.name),
                            );
                        }
                        Some(spec) if spec.kind != value.kind() => {
                            attrs_ok = false;
                            bad(
                                Some(id),
                                format!(
                                    "attribute `{name}` of {} must be {}, got {value}",
                                    schema.name,
                                    spec.kind.a_name()
                                ),
                            );
                        }
                        _ => {}
                    }
                }
                for spec in schema
                    .attrs
                    .iter()
                    .filter(|s| s.required || s.default.is_some())
                {
                    if !op.attrs.contains_key(spec.name) {
                        attrs_ok = false;
                        bad(
                            Some(id),
                            format!(
                                "{} needs attribute `{}` ({})",
                                schema.name, spec.name, spec.doc
                            ),
                        );
                    }
                }
                if !attrs_ok {
                    continue;
                }
                let tys: Vec<&TensorType> = operands.iter().map(|&o| &g[o].ty).collect();
                match expected_type(op, &tys, &n.ty) {
                    Err(m) => bad(Some(id), format!("{}: {m}", schema.name)),
                    Ok(t) if t != n.ty => bad(
                        Some(id),
                        format!(
                            "%{} is declared {} but {} produces {t}",
                            n.name, n.ty, schema.name
                        ),
                    ),
                    Ok(_) => {
                        // What the integer kernels refuse, the verifier refuses: a model that
                        // passes `qcc check` always runs in the interpreter.
                        if op.kind.declares_result() {
                            if let Err(e) = crate::interp_int::check_int_op(op, &tys, &n.ty) {
                                let m = match e {
                                    Error::Msg(m) => m,
                                    other => other.to_string(),
                                };
                                bad(Some(id), format!("%{}: {m}", n.name));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Verifies and turns problems into an error: diagnostics at node spans when the model came from
/// `source`, plain sentences otherwise.
pub fn verify_or_error(model: &Model, source: Option<&Source>) -> Result<(), Error> {
    let problems = verify(model);
    if problems.is_empty() {
        return Ok(());
    }
    if let Some(src) = source {
        let diags = problems
            .iter()
            .map(|p| {
                let span = p
                    .node
                    .and_then(|n| model.graph[n].span)
                    .unwrap_or(Span::new(0, 0));
                Diagnostic::new(&p.message, span, "")
            })
            .collect();
        return Err(Error::source(src.clone(), diags));
    }
    let mut msg = format!("model @{} is not valid:", model.name);
    for p in &problems {
        msg.push_str("\n  ");
        if let Some(n) = p.node.filter(|&n| model.graph.contains_node(n)) {
            msg.push_str(&format!("at %{}: ", model.graph[n].name));
        }
        msg.push_str(&p.message);
    }
    Err(Error::msg(msg))
}
