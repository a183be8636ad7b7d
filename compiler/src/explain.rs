//! `--explain`: what the optimizer did (rules fired, e-graph size, why it stopped, cost),
//! for every BatchNorm or per-channel affine left in the model why it could not be folded, and
//! for every float op left in an integer graph why it has no integer form there.

use crate::egraph::saturate::{Report, Stop};
use crate::ir::model::{Model, NodeId, NodeKind};
use crate::ir::op::OpKind;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The ops of an integer model that compute in f32 (the dequantizes feeding them not counted),
/// in order, as `(kind %name, why)`. `reasons` is the quantizer's
/// ([`Report::float_reasons`](crate::pipeline::Report::float_reasons)); an op it does not name
/// was either float in a model that came quantized, or wrapped for an integer form that no
/// lowering rule took.
pub fn float_ops(
    int: &Model,
    reasons: &BTreeMap<String, String>,
    came_quantized: bool,
) -> Vec<(String, String)> {
    int.ops_in_order()
        .into_iter()
        .map(|id| int.node(id))
        .filter(|n| {
            n.ty.elem.quant().is_none() && n.op().is_some_and(|o| o.kind != OpKind::Dequantize)
        })
        .map(|n| {
            let why = match reasons.get(&n.name) {
                Some(why) => why.clone(),
                None if came_quantized => "the model came quantized with it in float (no \
                    quantize/dequantize sandwich around it that a lowering rule takes)"
                    .to_string(),
                None => "wrapped for an integer form, but no lowering rule took it (a missing \
                    rule, or saturation stopped early)"
                    .to_string(),
            };
            (
                format!("{} %{}", n.op().expect("an op").kind.name(), n.name),
                why,
            )
        })
        .collect()
}

/// [`float_ops`] as `--explain` prints it.
pub fn explain_float_ops(ops: &[(String, String)], folded: &[String]) -> String {
    let mut s = String::new();
    if ops.is_empty() {
        let _ = writeln!(s, "no float op is left in the integer graph");
    } else {
        let _ = writeln!(s, "float ops left in the integer graph ({}):", ops.len());
        for (op, why) in ops {
            let _ = writeln!(s, "  {op}: {why}");
        }
    }
    if !folded.is_empty() {
        let _ = writeln!(
            s,
            "{} weight dequantizes folded at compile time (stored as f32)",
            folded.len()
        );
    }
    s
}

/// Why the BatchNorm at `id` is still there; `stop` is why saturation stopped.
fn why_unfolded(model: &Model, id: NodeId, stop: &Stop) -> String {
    let operands = model.operands(id);
    if operands[1..].iter().any(|&o| !model.node(o).is_weight()) {
        return "its statistics are not constants".into();
    }
    let input = operands[0];
    let producer = model.node(input);
    let users: Vec<String> = model
        .users(id)
        .iter()
        .map(|&(u, _)| {
            model
                .node(u)
                .op()
                .map(|o| o.kind.name())
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    let before = match &producer.kind {
        NodeKind::Input => "it reads the model input directly".to_string(),
        NodeKind::Weight(_) => "it reads a weight".to_string(),
        NodeKind::Op(op) => match op.kind {
            OpKind::Conv2d | OpKind::ConvTranspose2d | OpKind::Gemm | OpKind::MatMul
                if model.use_count(input) > 1 =>
            {
                format!(
                    "%{} ({}) has {} users: folding would keep the unfolded layer alive",
                    producer.name,
                    op.kind.name(),
                    model.use_count(input)
                )
            }
            OpKind::ConvTranspose2d if op.int("groups").unwrap_or(1) != 1 => {
                format!("%{} is a grouped conv_transpose2d (groups = {}): no rule scales its weight per group", producer.name, op.int("groups").unwrap_or(1))
            }
            OpKind::Gemm if op.float("alpha") != Some(1.0) || op.float("beta") != Some(1.0) => {
                format!("%{} is a gemm with alpha/beta ≠ 1", producer.name)
            }
            k @ (OpKind::Conv2d | OpKind::ConvTranspose2d | OpKind::Gemm | OpKind::MatMul)
                if model.operands(input)[1..]
                    .iter()
                    .any(|&o| !model.node(o).is_weight()) =>
            {
                format!(
                    "%{} ({}) has weights that are not constants",
                    producer.name,
                    k.name()
                )
            }
            // Constant weights and one user: only a stopped saturation or a guard of the fold
            // (a 2-D gemm bias, a matmul that is not 2-D) can have kept it.
            k @ (OpKind::Conv2d | OpKind::ConvTranspose2d | OpKind::Gemm | OpKind::MatMul)
                if *stop != Stop::Saturated =>
            {
                format!(
                    "saturation stopped at the {stop} before a fold into %{} ({}) fired",
                    producer.name,
                    k.name()
                )
            }
            k @ (OpKind::Conv2d | OpKind::ConvTranspose2d | OpKind::Gemm | OpKind::MatMul) => {
                format!(
                    "no fold rule's guards hold for %{} ({})",
                    producer.name,
                    k.name()
                )
            }
            k => format!(
                "it follows %{} ({}), which is not linear",
                producer.name,
                k.name()
            ),
        },
    };
    let after = if users.is_empty() {
        "and the model returns it".to_string()
    } else if users.iter().all(|u| u == "conv2d") {
        // The forward fold needs the BatchNorm to feed one conv with one group; when that conv
        // pads, the padding must move before the BatchNorm first, which needs every γ ≠ 0 and
        // an explicit pad that the cost model finds cheaper than the BatchNorm.
        let convs: Vec<NodeId> = model.users(id).iter().map(|&(u, _)| u).collect();
        let groups = |c: NodeId| {
            model
                .node(c)
                .op()
                .and_then(|o| o.int("groups"))
                .unwrap_or(1)
        };
        let zero_gamma = model
            .node(operands[1])
            .weight()
            .is_some_and(|g| g.to_f64_vec().contains(&0.0));
        if convs.len() > 1 {
            format!("and it feeds {} convs", convs.len())
        } else if groups(convs[0]) != 1 {
            format!(
                "and the conv after it, %{}, has {} groups",
                model.node(convs[0]).name,
                groups(convs[0])
            )
        } else if *stop != Stop::Saturated {
            format!(
                "and saturation stopped at the {stop} before it folded into %{}",
                model.node(convs[0]).name
            )
        } else if model
            .node(convs[0])
            .op()
            .and_then(|o| o.ints("pads"))
            .is_some_and(|p| p.iter().all(|&v| v == 0))
        {
            format!(
                "and the conv after it, %{}, has weights that are not constants",
                model.node(convs[0]).name
            )
        } else if zero_gamma {
            "and the conv after it pads while some γ is 0".to_string()
        } else {
            "and the conv after it pads: an explicit pad before the BatchNorm would cost more than the BatchNorm".to_string()
        }
    } else {
        format!("and it feeds {}", users.join(", "))
    };
    format!("{before}, {after}")
}

/// The explanation, as printed by `--explain`.
pub fn explain(report: &Report, out: &Model) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "saturation: {} after {} iterations; e-graph {} nodes in {} classes",
        report.stop, report.iterations, report.nodes, report.classes
    );
    let _ = writeln!(
        s,
        "cost (MACs + bytes written): {:.4e} → {:.4e} ({:+.1}%)",
        report.cost_before,
        report.cost_after,
        if report.cost_before > 0.0 {
            100.0 * (report.cost_after / report.cost_before - 1.0)
        } else {
            0.0
        }
    );
    let fired: Vec<(&String, &usize)> = report.fired.iter().filter(|(_, &n)| n > 0).collect();
    let width = fired.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let idle = report.fired.len() - fired.len();
    if fired.is_empty() {
        let _ = writeln!(s, "no rule fired ({idle} rules tried)");
    } else {
        let _ = writeln!(s, "rules fired ({idle} others did not):");
    }
    for (name, n) in fired {
        let _ = writeln!(s, "  {name:<width$}  {n}");
    }
    for (name, why) in &report.refused {
        let _ = writeln!(s, "  refused {name}: {why}");
    }
    let mut left = vec![];
    for id in out.ops_in_order() {
        let node = out.node(id);
        if node.op().map(|o| o.kind) == Some(OpKind::BatchNorm) {
            left.push(format!(
                "  batch_norm %{}: {}",
                node.name,
                why_unfolded(out, id, &report.stop)
            ));
        }
    }
    if left.is_empty() {
        let _ = writeln!(s, "every BatchNorm is folded");
    } else {
        let _ = writeln!(s, "BatchNorms left unfolded ({}):", left.len());
        for l in left {
            let _ = writeln!(s, "{l}");
        }
    }
    s
}
