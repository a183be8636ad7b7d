//! The cost model extraction minimises: multiply-accumulates plus bytes written, per e-node, so
//! that a fold that removes a pass over an activation wins even when the MACs are unchanged.

use crate::egraph::analysis::{op_of, QGraph};
use crate::egraph::lang::ENode;
use crate::ir::op::OpKind;
use crate::ir::types::TensorType;

/// The cost of one e-node on its own (its operands are paid for separately, once each).
pub fn node_cost(egraph: &QGraph, node: &ENode) -> f64 {
    match node {
        ENode::Meta(_) | ENode::Input(_) => 0.0,
        ENode::Const(c) => c.ty.size_bytes() as f64,
        ENode::Op(kind, _) => {
            let out = match egraph
                .lookup(node.clone())
                .and_then(|id| egraph[id].data.ty.clone())
            {
                Some(t) => t,
                // Not (yet) in the graph or untyped: never preferable.
                None => return f64::INFINITY,
            };
            let ty = |i: usize| {
                node.operands()
                    .get(i)
                    .and_then(|&c| egraph[c].data.ty.clone())
            };
            let out_n = out.numel() as f64;
            // Integer ops cost as their float analog, at a quarter of the price: four times the
            // lanes per vector, a quarter of the bytes.
            let (kind, integer): (OpKind, f64) = match kind.float_analog() {
                Some(f) => (f, 0.25),
                None if kind.declares_result() => (*kind, 0.25),
                None => (*kind, 1.0),
            };
            let macs = integer
                * match kind {
                    OpKind::Family(f) => {
                        let tys: Option<Vec<TensorType>> =
                            (0..node.operands().len()).map(ty).collect();
                        let Some(tys) = tys else {
                            return f64::INFINITY;
                        };
                        let Some(op) = op_of(egraph, node) else {
                            return f64::INFINITY;
                        };
                        let tys: Vec<&TensorType> = tys.iter().collect();
                        f.def().cost(&op, &tys, &out)
                    }
                    OpKind::Conv2d => {
                        let Some(w) = ty(1) else {
                            return f64::INFINITY;
                        };
                        // out[N, O, OH, OW] each sums C/g · kh · kw products.
                        out_n * (w.shape[1] * w.shape[2] * w.shape[3]) as f64
                    }
                    OpKind::ConvTranspose2d => match (ty(0), ty(1)) {
                        (Some(x), Some(w)) => {
                            x.numel() as f64 * (w.shape[1] * w.shape[2] * w.shape[3]) as f64
                        }
                        _ => return f64::INFINITY,
                    },
                    OpKind::Gemm | OpKind::MatMul => match ty(0) {
                        Some(a) => {
                            let trans_a = op_of(egraph, node)
                                .and_then(|o| o.bool("trans_a"))
                                .unwrap_or(false);
                            let k = if kind == OpKind::Gemm && trans_a {
                                a.shape[0]
                            } else {
                                *a.shape.last().unwrap_or(&1)
                            };
                            // α ≠ 1 scales every product sum, β ≠ 1 every bias element: one
                            // more multiply per output each (what moving them into the
                            // constants saves, linear.rules).
                            let scaled = |name: &str| {
                                op_of(egraph, node)
                                    .and_then(|o| o.float(name))
                                    .is_some_and(|v| v != 1.0)
                            };
                            let extra = if kind == OpKind::Gemm {
                                scaled("alpha") as u8 as f64
                                    + (scaled("beta") && node.operands().len() > 2) as u8 as f64
                            } else {
                                // A matmul costs one pass more than the equal gemm
                                // (matmul-as-gemm): the gemm has an integer form that runs at a
                                // quarter of the price once quantized, which a float cost
                                // cannot see; without this the tie could keep the matmul.
                                1.0
                            };
                            out_n * (k as f64 + extra)
                        }
                        None => return f64::INFINITY,
                    },
                    OpKind::MaxPool | OpKind::AvgPool => {
                        let k = op_of(egraph, node)
                            .and_then(|o| o.ints("kernel_shape").map(|v| v.iter().product::<i64>()))
                            .unwrap_or(1);
                        out_n * k as f64
                    }
                    OpKind::GlobalAvgPool | OpKind::ReduceMean | OpKind::Reduce => {
                        ty(0).map(|t| t.numel() as f64).unwrap_or(out_n)
                    }
                    OpKind::BatchNorm => 2.0 * out_n,
                    OpKind::Softmax => 3.0 * out_n,
                    // Pure data movement: only the bytes written count.
                    OpKind::Flatten
                    | OpKind::Reshape
                    | OpKind::Squeeze
                    | OpKind::Unsqueeze
                    | OpKind::Pad
                    | OpKind::Transpose
                    | OpKind::Slice
                    | OpKind::Concat => 0.0,
                    _ => out_n,
                };
            // A reshape moves the codes of an integer graph, a quarter of the f32 bytes: priced
            // at full f32 bytes, the reshapes around a batched linear layer made as a gemm
            // (batched-linear-as-gemm) cost more than the float bias add they remove.
            let moved = match kind {
                OpKind::Flatten | OpKind::Reshape | OpKind::Squeeze | OpKind::Unsqueeze => 0.25,
                _ => 1.0,
            };
            macs + moved * out.size_bytes() as f64
        }
    }
}
