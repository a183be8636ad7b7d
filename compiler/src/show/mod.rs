//! `qcc show`: one stage's graph as an SVG drawing. Boxes are the inputs and ops (a dequantize
//! of a weight is folded into its user's hover text), edges are as wide as the log of their
//! tensor's bytes; hovering a box shows its op, attributes, result type with the quantization
//! parameters and its operands. Ops that absorbed others (a folded BatchNorm, a clamp that is a
//! ReLU, a fused SiLU) have a double border, float ops left in an integer graph a dashed orange
//! one; with SQNR per layer each box is coloured from red (≤ 5 dB) to green (≥ 40 dB).

pub mod html;
mod layout;
mod plot;
mod svg;

use crate::interp::is_integer_graph;
use crate::ir::types::{fmt_f32, fmt_shape};
use crate::ir::{Attr, Model, NodeId, NodeKind, OpKind, TensorType};
use runtime::DType;
use std::collections::{BTreeMap, BTreeSet};

/// What a box is drawn as.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxInfo {
    /// First line: the op (or `input`), with what it absorbed.
    pub label: String,
    /// Second line: the result's shape and element type.
    pub detail: String,
    /// The hover text.
    pub title: String,
    pub kind: Look,
    /// The layer's SQNR, when measured.
    pub sqnr_db: Option<f64>,
}

/// How a box looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    Input,
    /// quantize, dequantize, requantize: the boundaries of the integer graph.
    Boundary,
    /// An op of the integer dialect.
    Integer,
    /// A float op in a float or QDQ graph.
    Float,
    /// A float op left in an integer graph (it has no integer form, or was kept float).
    FloatInInteger,
}

/// Draws `model`. `source` is the model as it was read (before any pass): an op whose value
/// had another op's name there absorbed that op (a conv named after the BatchNorm folded into
/// it, a `qconv2d` named `relu.q` after the ReLU that became its clamp). `sqnr` maps the float
/// model's tensor names (as `--report` prints them) to their SQNR; an integer op `X.q` takes
/// the SQNR of `X`.
pub fn render(
    model: &Model,
    source: Option<&Model>,
    sqnr: Option<&BTreeMap<String, f64>>,
) -> String {
    let integer_graph = is_integer_graph(model);
    let order = model.topo_order().unwrap_or_default();
    let constant = constants(model, &order);
    // Drawn nodes: inputs and ops that read some run-time value.
    let drawn: Vec<NodeId> = order
        .iter()
        .copied()
        .filter(|&id| match &model.node(id).kind {
            NodeKind::Input => true,
            NodeKind::Weight(_) => false,
            NodeKind::Op(_) => !constant.contains(&id),
        })
        .collect();
    let index: BTreeMap<NodeId, usize> = drawn.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let mut edges: Vec<(usize, usize)> = vec![];
    let mut edge_bytes: Vec<usize> = vec![];
    for (i, &id) in drawn.iter().enumerate() {
        let mut seen = vec![];
        for o in model.operands(id) {
            if let Some(&j) = index.get(&o) {
                if !seen.contains(&j) {
                    seen.push(j);
                    edges.push((j, i));
                    edge_bytes.push(model.node(o).ty.size_bytes());
                }
            }
        }
    }
    let boxes: Vec<BoxInfo> = drawn
        .iter()
        .map(|&id| describe(model, id, integer_graph, &constant, source, sqnr))
        .collect();
    let edge_titles: Vec<String> = edges
        .iter()
        .map(|&(a, _)| {
            let n = model.node(drawn[a]);
            format!("%{}: {} ({} bytes)", n.name, n.ty, n.ty.size_bytes())
        })
        .collect();
    svg::draw(
        &model.name,
        &boxes,
        &edges,
        &edge_bytes,
        &edge_titles,
        sqnr.is_some(),
    )
}

/// The ops whose operands are all weights or such ops (a weight's dequantize): constants, not
/// steps.
fn constants(model: &Model, order: &[NodeId]) -> BTreeSet<NodeId> {
    let mut out = BTreeSet::new();
    for &id in order {
        if model.node(id).op().is_some() {
            let ops = model.operands(id);
            if !ops.is_empty()
                && ops
                    .iter()
                    .all(|&o| model.node(o).is_weight() || out.contains(&o))
            {
                out.insert(id);
            }
        }
    }
    out
}

fn describe(
    model: &Model,
    id: NodeId,
    integer_graph: bool,
    constant: &BTreeSet<NodeId>,
    source: Option<&Model>,
    sqnr: Option<&BTreeMap<String, f64>>,
) -> BoxInfo {
    let node = model.node(id);
    let detail = short_type(&node.ty);
    // A layer's SQNR belongs to the op computing it: `X` (or `X.q`, its codes), or `X.f` when the
    // layer is a returned value, whose name the output's dequantize keeps (quant/qdq.rs).
    let boundary = node
        .op()
        .is_some_and(|o| matches!(o.kind, OpKind::Quantize | OpKind::Dequantize));
    let sqnr_db = sqnr.filter(|_| !boundary).and_then(|s| {
        s.get(&node.name)
            .or_else(|| {
                let base = node
                    .name
                    .strip_suffix(".q")
                    .or(node.name.strip_suffix(".f"))?;
                s.get(base)
            })
            .copied()
    });
    let Some(op) = node.op() else {
        return BoxInfo {
            label: format!("input %{}", node.name),
            detail,
            title: format!("%{} = input : {}", node.name, node.ty),
            kind: Look::Input,
            sqnr_db,
        };
    };
    let kind = match op.kind {
        OpKind::Quantize | OpKind::Dequantize | OpKind::Requantize => Look::Boundary,
        _ if node.ty.elem.quant().is_some() => Look::Integer,
        _ if integer_graph => Look::FloatInInteger,
        _ => Look::Float,
    };
    let fused = absorbed(model, id, source);
    let mut label = op.kind.name().to_string();
    if op.kind == OpKind::Unary {
        label = format!("unary {}", op.str("fn").unwrap_or_default());
    }
    for f in &fused {
        label.push_str(&format!(" +{f}"));
    }
    let mut title = format!("%{} = {}", node.name, op.kind.name());
    if !fused.is_empty() {
        title.push_str(&format!("  (absorbed: {})", fused.join(", ")));
    }
    if kind == Look::FloatInInteger {
        title.push_str("  (float op in the integer graph)");
    }
    title.push_str(&format!("\nresult: {}", long_type(&node.ty)));
    for (name, a) in &op.attrs {
        title.push_str(&format!("\n{name} = {}", short_attr(a)));
    }
    for (slot, o) in model.operands(id).into_iter().enumerate() {
        let on = model.node(o);
        let sigil = if on.is_weight() { '@' } else { '%' };
        title.push_str(&format!(
            "\noperand {slot}: {sigil}{} : {}",
            on.name,
            long_type(&on.ty)
        ));
        // A weight's dequantize is not drawn: its weight is named here.
        if constant.contains(&o) {
            for w in model.operands(o) {
                let wn = model.node(w);
                title.push_str(&format!("\n  of @{} : {}", wn.name, long_type(&wn.ty)));
            }
        }
    }
    if let Some(db) = sqnr_db {
        title.push_str(&format!("\nSQNR {db:.1} dB"));
    }
    BoxInfo {
        label,
        detail,
        title,
        kind,
        sqnr_db,
    }
}

/// What an op absorbed: the op its value was in the source model (when of another kind), a
/// BatchNorm annotation, a clamp narrower than the storage.
fn absorbed(model: &Model, id: NodeId, source: Option<&Model>) -> Vec<String> {
    let node = model.node(id);
    let Some(op) = node.op() else { return vec![] };
    let mut out: Vec<String> = vec![];
    // A quantize is named after the value it quantizes, which it does not absorb.
    if matches!(
        op.kind,
        OpKind::Quantize | OpKind::Dequantize | OpKind::Requantize
    ) {
        return out;
    }
    let base = node
        .name
        .strip_suffix(".q")
        .or(node.name.strip_suffix(".f"))
        .unwrap_or(&node.name);
    let was = source
        .and_then(|m| m.find(base).map(|s| m.node(s)))
        .and_then(|n| n.op())
        .map(|o| o.kind);
    if let Some(was) = was {
        let same = was == op.kind || Some(was) == op.kind.float_analog();
        let boundary = matches!(was, OpKind::Quantize | OpKind::Dequantize);
        if !same && !boundary {
            out.push(was.name().to_string());
        }
    }
    if op.attr("bn_gamma").is_some() && was != Some(OpKind::BatchNorm) {
        out.push("batch_norm".into());
    }
    if let (Some(lo), Some(hi), Some(q)) = (op.int("lo"), op.int("hi"), node.ty.elem.quant()) {
        let (min, max) = match q.storage {
            DType::I8 => (-128, 127),
            DType::U8 => (0, 255),
            _ => (i64::MIN, i64::MAX),
        };
        if lo > min || hi < max {
            out.push("clamp".into());
        }
    }
    out
}

/// The IR's type, a per-axis quantization cut to its first parameters (a 1280-channel layer
/// would otherwise fill a screen).
fn long_type(ty: &TensorType) -> String {
    const KEEP: usize = 4;
    match ty.elem.quant() {
        Some(q) if q.axis.is_some() && q.scales.len() > KEEP => {
            let s: Vec<String> = q.scales[..KEEP].iter().map(|&v| fmt_f32(v)).collect();
            let z: Vec<String> = q.zero_points[..KEEP]
                .iter()
                .map(|v| v.to_string())
                .collect();
            format!(
                "tensor<{}x!quant<{}, axis {}, [{}, …], [{}, …]>> ({} channels)",
                fmt_shape(&ty.shape),
                q.storage,
                q.axis.unwrap_or_default(),
                s.join(", "),
                z.join(", "),
                q.scales.len()
            )
        }
        _ => ty.to_string(),
    }
}

/// `1x32x16x16 u8`.
fn short_type(ty: &TensorType) -> String {
    let shape = fmt_shape(&ty.shape);
    let elem = ty.elem.storage().name();
    if shape.is_empty() {
        elem.to_string()
    } else {
        format!("{shape} {elem}")
    }
}

/// An attribute, long lists cut to their first values and their length.
fn short_attr(a: &Attr) -> String {
    const KEEP: usize = 6;
    fn list<T: std::fmt::Display>(v: &[T]) -> String {
        let shown: Vec<String> = v.iter().take(KEEP).map(|x| x.to_string()).collect();
        if v.len() > KEEP {
            format!("[{}, … ({} values)]", shown.join(", "), v.len())
        } else {
            format!("[{}]", shown.join(", "))
        }
    }
    match a {
        Attr::Ints(v) => list(v),
        Attr::Floats(v) => list(v),
        Attr::Str(s) => format!("{s:?}"),
        Attr::Int(v) => v.to_string(),
        Attr::Float(v) => v.to_string(),
        Attr::Bool(v) => v.to_string(),
    }
}
